"""Image quality metrics, one value per image of a batch: PSNR, SSIM, MAE and FLIP.

Every metric takes ``pred`` and ``target`` of the same shape (B, C, H, W), floating point, and
returns a (B,) tensor on their device and in their dtype. With ``mask`` (B, 1, H, W) it is
computed on the pixels where ``mask > 0.5`` only: PSNR from the MSE over them, MAE over them,
SSIM and FLIP as the mean of their per-pixel maps (`ssim_map`, `flip_map`, computed on
the full images) over them; an image with no such pixel gets NaN.
"""
from __future__ import annotations

import flip_evaluator
import kornia
import numpy as np
import torch

from neurender.base.dataset import on_surface

PSNR_CAP = 100.0  # dB: the PSNR of an image equal to its target (so every figure is finite)


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    for name, tensor in (("pred", pred), ("target", target)):
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dim() != 4:
            raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(tensor.shape)}")
        if not tensor.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {tensor.dtype}")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")


def _check_range(data_range: float) -> None:
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per image of ``values`` (B, C, H, W) over channels and the pixels where ``mask`` (B, 1, H, W)
    is > 0.5 (every pixel without a mask): (B,); NaN for an image with an empty mask."""
    if mask is None:
        return values.mean(dim=(1, 2, 3))
    if mask.shape != (values.shape[0], 1, *values.shape[2:]):
        raise ValueError(f"mask must have shape {(values.shape[0], 1, *values.shape[2:])}, got {tuple(mask.shape)}")
    on = on_surface(mask).to(values.dtype).expand_as(values)
    return (values * on).sum(dim=(1, 2, 3)) / on.sum(dim=(1, 2, 3))


def mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute error per image (on ``mask``): (B, C, H, W) x 2 -> (B,)."""
    _check_pair(pred, target)
    return masked_mean((pred - target).abs(), mask)


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio per image in dB: ``10 log10(data_range^2 / MSE)``, at most `PSNR_CAP`.

    Args:
        pred, target: (B, C, H, W).
        data_range: the value range of a perfect signal (1 for images in [0, 1]).
        mask: (B, 1, H, W) or None; the MSE is taken over the pixels where it is > 0.5.

    Returns:
        (B,) PSNR in dB; `PSNR_CAP` for an image identical (or nearly) to its target.
    """
    _check_pair(pred, target)
    _check_range(data_range)
    mse = masked_mean((pred - target).square(), mask)
    return (10.0 * torch.log10(data_range**2 / mse)).clamp(max=PSNR_CAP)


def ssim(pred: torch.Tensor, target: torch.Tensor, window: int = 11, data_range: float = 1.0,
         mask: torch.Tensor | None = None) -> torch.Tensor:
    """Structural similarity per image: the mean of `ssim_map` over channels and pixels (on ``mask``).

    Returns:
        (B,) mean SSIM (1 for identical images).
    """
    return masked_mean(ssim_map(pred, target, window, data_range), mask)


def ssim_map(pred: torch.Tensor, target: torch.Tensor, window: int = 11, data_range: float = 1.0) -> torch.Tensor:
    """Per-pixel structural similarity, `kornia.metrics.ssim`'s map.

    Args:
        pred, target: (B, C, H, W).
        window: side of the Gaussian window in pixels (odd, at most min(H, W)).
        data_range: the value range of a perfect signal (1 for images in [0, 1]).

    Returns:
        (B, C, H, W) SSIM of the window around each pixel (reflect padding at the borders).
    """
    _check_pair(pred, target)
    _check_range(data_range)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number, got {window}")
    if window > min(pred.shape[-2:]):
        raise ValueError(f"window {window} is larger than the image {tuple(pred.shape[-2:])}")
    return kornia.metrics.ssim(pred, target, window, max_val=data_range)


def flip(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean LDR-FLIP error per image: the mean of `flip_map` (on ``mask``); (B,) in [0, 1], 0 for identical images."""
    return masked_mean(flip_map(pred, target), mask)


def flip_map(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel LDR-FLIP error (Andersson et al. 2020), with the ``flip_evaluator`` package.

    Tone mapping: none. Both images are clamped to [0, 1] and treated as display-referred,
    sRGB-encoded values (LDR-FLIP, default viewing condition of 67 pixels per degree); pass
    images that are already tone mapped and encoded for display. Single-channel images are
    replicated to 3 channels (gray). Computed on the CPU in float32, not differentiable.

    Args:
        pred, target: (B, C, H, W) with C = 1 or 3; ``target`` is FLIP's reference.

    Returns:
        (B, 1, H, W) FLIP error in [0, 1] (0 for identical images).
    """
    _check_pair(pred, target)
    if pred.shape[1] not in (1, 3):
        raise ValueError(f"flip needs 1 or 3 channels, got {pred.shape[1]}")

    def to_numpy(images: torch.Tensor) -> np.ndarray:
        images = images.detach().clamp(0.0, 1.0).expand(-1, 3, -1, -1)
        return images.permute(0, 2, 3, 1).to("cpu", torch.float32).contiguous().numpy()

    references, tests = to_numpy(target), to_numpy(pred)
    errors = np.stack([flip_evaluator.evaluate(reference, test, "LDR", applyMagma=False)[0][..., 0]
                       for reference, test in zip(references, tests)])
    return torch.from_numpy(errors)[:, None].to(pred.device, pred.dtype)


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks (0-based, float64) of 1-D ``values``, ties given their average rank."""
    order = torch.argsort(values)
    _, inverse, counts = torch.unique_consecutive(values[order], return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    average = ends - (counts.double() + 1) / 2
    ranks = torch.empty(values.shape, dtype=torch.float64)
    ranks[order] = average[inverse]
    return ranks


def calibration(std: torch.Tensor, error: torch.Tensor) -> dict[str, float | None]:
    """How well a predicted per-pixel standard deviation ``std`` explains the error ``error``
    (same shape, any): ``spearman``, the Spearman rank correlation of std and |error| (None when
    either is constant, e.g. a single draw), and ``coverage_2std``, the fraction of values with
    |error| <= 2 std (0.954 for a calibrated Gaussian)."""
    if std.shape != error.shape or std.numel() == 0:
        raise ValueError(f"std {tuple(std.shape)} and error {tuple(error.shape)} must have the same, non-empty shape")
    std, error = std.reshape(-1).double(), error.reshape(-1).abs().double()
    coverage = float((error <= 2 * std).double().mean())
    a, b = _ranks(std), _ranks(error)
    a, b = a - a.mean(), b - b.mean()
    norm = float(a.norm() * b.norm())
    return {"spearman": float((a * b).sum()) / norm if norm > 0 else None, "coverage_2std": coverage}
