"""A classic global-illumination guess: direct light plus an ambient term shaded by AO."""
from __future__ import annotations

import torch

from neurender.base.dataset import on_surface


def gi_ambient(direct: torch.Tensor, albedo: torch.Tensor, ao: torch.Tensor | None, mask: torch.Tensor
               ) -> torch.Tensor:
    """``direct + ambient * albedo * ao`` on the mask, ``direct`` elsewhere.

    ``ambient`` is the per-channel mean of the direct radiance over the mask pixels of the same
    view: a one-bounce guess that the light arriving indirectly is about the average directly
    lit radiance of the surroundings.

    Shapes: direct, albedo (B, 3, H, W) linear; ao (None: no occlusion), mask (B, 1, H, W) -> (B, 3, H, W).
    """
    on = on_surface(mask).to(direct.dtype)
    ambient = torch.einsum("bchw,bkhw->bc", direct, on) / on.sum(dim=(1, 2, 3)).clamp_min(1.0)[:, None]
    return (albedo * ambient[..., None, None]).mul_(on if ao is None else ao * on).add_(direct)  # one new colour image
