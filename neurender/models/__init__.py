"""Neural network models of neurender: torch modules and their configs, nothing else of the project
(they import only each other).

Submodules (import them directly; this package imports none of them):

- :mod:`neurender.models.layers`: shared building blocks (``PooledAttention2d``).
- :mod:`neurender.models.acgan`: the (attentional) conditional GANs of Abbas & Babahenini
  for fog, ambient occlusion and global illumination.
- :mod:`neurender.models.unet`, :mod:`neurender.models.diffusion`: the conditional diffusion model.
- :mod:`neurender.models.fast`: the fast tier's network (reduced resolution, separable convolutions).
"""
