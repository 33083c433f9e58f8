"""Path tracing + Intel Open Image Denoise (``pt-oidn``): what a renderer's user would pick instead
of a screen-space predictor.

The noisy image is the effect's reference pass rendered at few spp
(`neurender.evaluation.path_tracer.renders`); the denoiser is OIDN's "RT" filter (pyoidn, CPU device,
quality "high") with the G-buffer's normals and albedo as auxiliary images, given as noise-free
(the dataset's G-buffer is anti-aliased and, as for the screen-space methods, free). HDR mode for
HDR effects. An effect that does not read albedo (AO: the irradiance of white surfaces) gets
albedo 1 on the mask; a one-channel target is denoised as gray RGB and averaged back.
"""
from __future__ import annotations

import numpy as np
import pyoidn
import torch

from neurender.effects import ALBEDO, NORMAL


def _hwc(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) -> contiguous (H, W, 3) float32."""
    return np.ascontiguousarray(x[0].permute(1, 2, 0).numpy(), dtype=np.float32)


def denoise(image: torch.Tensor, item: dict, effect) -> torch.Tensor:
    """Denoised linear ``image`` (1, C, H, W), C = 1 or 3, of a dataset ``item`` (unbatched) of
    ``effect``; (1, C, H, W) with the contract's off-mask value."""
    inputs, mask = item["input"][None], item["mask"][None]
    albedo = effect.pick(inputs, ALBEDO) if set(ALBEDO) <= set(effect.inputs) else mask.expand(-1, 3, -1, -1)
    color = image.expand(-1, 3, -1, -1).clamp_min(0.0)
    out = pyoidn.denoise(_hwc(color), albedo=_hwc(albedo.clamp(0.0, 1.0)), normal=_hwc(effect.pick(inputs, NORMAL)),
                         hdr=effect.hdr, clean_aux=True)
    out = torch.from_numpy(out).permute(2, 0, 1)[None].to(image.dtype)
    return effect.apply_off_mask(out.mean(dim=1, keepdim=True) if image.shape[1] == 1 else out, mask)
