"""Scores of a prediction against the path-traced reference: surface and full-frame metrics.

PSNR, SSIM, FLIP and MAE (`neurender.metrics`) per view, twice: on the surfaces only
(``mask.Y > 0.5``; the headline figures, keys ``psnr`` ...) and on the full frame (keys
``psnr_full`` ...). Effects in [0, 1] (AO) are compared as is; for the HDR effects (fog, gi)
prediction and reference are both tone mapped with `neurender.space.display` (Reinhard +
sRGB) first, so every metric sees display values in [0, 1] (data range 1). PSNR is capped at
`neurender.metrics.PSNR_CAP` dB (a prediction equal to the reference), so every figure is finite.
"""
from __future__ import annotations

import numpy as np
import torch

from neurender import metrics, space
from neurender.base.dataset import on_surface

METRICS = ("psnr", "ssim", "flip", "mae")  # on the surfaces (mask.Y > 0.5)
METRICS_FULL = tuple(f"{key}_full" for key in METRICS)  # on the full frame


def _ssim_window(height: int, width: int) -> int:
    window = min(11, height, width)
    return window if window % 2 else window - 1


def score_display(pred: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> dict[str, float | None]:
    """Metrics of display values ``pred`` against ``ref`` (1, C, H, W) in [0, 1]: `METRICS` on
    the pixels where ``mask`` (1, 1, H, W) > 0.5 (None when there is none) and `METRICS_FULL`."""
    ssim_map = metrics.ssim_map(pred, ref, window=_ssim_window(*ref.shape[-2:]))
    flip_map = metrics.flip_map(pred, ref)
    full = {"psnr": metrics.psnr(pred, ref), "ssim": metrics.masked_mean(ssim_map),
            "flip": metrics.masked_mean(flip_map), "mae": metrics.mae(pred, ref)}
    scores = {f"{key}_full": float(value[0]) for key, value in full.items()}
    if not bool(on_surface(mask).any()):
        return {**dict.fromkeys(METRICS), **scores}
    on = {"psnr": metrics.psnr(pred, ref, mask=mask), "ssim": metrics.masked_mean(ssim_map, mask),
          "flip": metrics.masked_mean(flip_map, mask), "mae": metrics.mae(pred, ref, mask=mask)}
    return {**{key: float(value[0]) for key, value in on.items()}, **scores}


def score(prediction: torch.Tensor, reference: torch.Tensor, effect, mask: torch.Tensor) -> dict[str, float | None]:
    """`score_display` of linear ``prediction`` against linear ``reference`` (1, C, H, W) of
    ``effect`` on ``mask`` (1, 1, H, W), in display space."""
    return score_display(space.display(prediction, effect.hdr), space.display(reference, effect.hdr), mask)


def means(rows: list[dict]) -> dict:
    """Mean of each metric over ``rows`` (views without a surface figure skipped; None if none has one)."""
    out = {}
    for key in METRICS + METRICS_FULL:
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = float(np.mean(values)) if values else None
    return out
