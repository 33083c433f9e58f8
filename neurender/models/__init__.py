"""Neural network models of neurender: torch modules and their configs, nothing else of the project
(they import only each other).

Submodules (import them directly; this package imports none of them):

- `neurender.models.layers`: shared building blocks (``PooledAttention2d``).
- `neurender.models.acgan`: the (attentional) conditional GANs of Abbas & Babahenini
  for fog, ambient occlusion and global illumination.
- `neurender.models.unet`, `neurender.models.diffusion`: the conditional diffusion model.
- `neurender.models.fast`: the fast tier's network (reduced resolution, separable convolutions).
"""
