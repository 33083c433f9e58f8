"""Depth- and normal-guided joint bilateral upsampling (Kopf et al. 2007), as real-time engines
upsample half-resolution AO: a low-resolution image is resampled at full resolution, each output
pixel averaging the 3x3 nearest low-resolution pixels weighted by distance, by how close their
depth is and by how aligned their normal is to the full-resolution pixel's own. Edges of the
G-buffer therefore stay edges in the output; a plain bilinear upsampling would blur across them.
"""
from __future__ import annotations

import torch

SPATIAL_SIGMA = 1.0
"""Spatial Gaussian, in low-resolution pixels."""
DEPTH_SIGMA = 0.05
"""Depth Gaussian on the relative difference ``|d_p - d_q| / max(d_p, d_q)`` (scale-free)."""
NORMAL_POWER = 8.0
"""Normal weight ``max(n_p . n_q, 0) ** NORMAL_POWER``."""
FLOOR = 1e-6
"""Share of the purely spatial weight kept, so a pixel unlike all its neighbours still gets a value."""


def nearest_downsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Point-sample x (B, C, H, W) at ``size`` (h, w): G-buffer values are never averaged across edges.
    ``interpolate``'s "nearest-exact"; where (h, w) divides (H, W) by one integer d, that is every d-th
    pixel from d // 2, taken as a strided copy."""
    (height, width), d = x.shape[-2:], x.shape[-1] // size[1]
    if d * size[1] == width and d * size[0] == height:
        return x[..., d // 2::d, d // 2::d].contiguous()
    return torch.nn.functional.interpolate(x, size=size, mode="nearest-exact")


def neighbours(n_out: int, n_in: int, offset: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-resolution index (n_out,) of neighbour ``offset`` of every output row/column, and its
    distance (n_out,) in low-resolution pixels from the output pixel's centre."""
    centre = (torch.arange(n_out, device=device, dtype=torch.float32) + 0.5) * n_in / n_out - 0.5
    index = (centre.round() + offset).clamp(0, n_in - 1)
    return index.long(), index - centre


def check_guides(low: torch.Tensor, low_depth: torch.Tensor, low_normal: torch.Tensor, depth: torch.Tensor,
                 normal: torch.Tensor) -> None:
    """Raise ValueError unless the guides' shapes fit ``low`` (B, C, h, w), as `joint_bilateral_upsample` takes them."""
    b, _, h, w = low.shape
    big_h, big_w = depth.shape[-2:]
    if low_depth.shape != (b, 1, h, w) or low_normal.shape != (b, 3, h, w):
        raise ValueError(f"low guides {tuple(low_depth.shape)}, {tuple(low_normal.shape)} do not match "
                         f"low {tuple(low.shape)}")
    if depth.shape != (b, 1, big_h, big_w) or normal.shape != (b, 3, big_h, big_w):
        raise ValueError(f"guides {tuple(depth.shape)}, {tuple(normal.shape)} must be (B, 1, H, W), (B, 3, H, W)")


def joint_bilateral_upsample(low: torch.Tensor, low_depth: torch.Tensor, low_normal: torch.Tensor,
                             depth: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """Upsample ``low`` (B, C, h, w) to the guide's (H, W).

    Args:
        low: values at low resolution, any units.
        low_depth, low_normal: the G-buffer (B, 1, h, w) and (B, 3, h, w) the low image was made from
            (camera-space depth, > 0 on surfaces and 0 off them; unit normals on
            surfaces, 0 off them: background pixels average background pixels only).
        depth, normal: the full-resolution G-buffer (B, 1, H, W) and (B, 3, H, W).

    Returns: (B, C, H, W), a weighted mean of the 3x3 low-resolution pixels nearest each output pixel.
    """
    check_guides(low, low_depth, low_normal, depth, normal)
    b, c, h, w = low.shape
    big_h, big_w = depth.shape[-2:]
    total = torch.zeros(b, c, big_h, big_w, dtype=low.dtype, device=low.device)
    weights = torch.zeros(b, 1, big_h, big_w, dtype=low.dtype, device=low.device)
    for dy in (-1, 0, 1):
        rows, dist_y = neighbours(big_h, h, dy, low.device)
        for dx in (-1, 0, 1):
            cols, dist_x = neighbours(big_w, w, dx, low.device)

            def gather(t: torch.Tensor) -> torch.Tensor:
                return t[:, :, rows][:, :, :, cols]                  # (B, C, H, W)

            spatial = torch.exp(-(dist_y[:, None] ** 2 + dist_x[None, :] ** 2) / (2 * SPATIAL_SIGMA ** 2))
            q_depth = gather(low_depth)
            relative = (depth - q_depth).abs() / torch.maximum(depth, q_depth).clamp_min(1e-12)
            similar = torch.exp(-0.5 * (relative / DEPTH_SIGMA) ** 2)
            aligned = (normal * gather(low_normal)).sum(1, keepdim=True).clamp_min(0) ** NORMAL_POWER
            both_off = ((depth == 0) & (q_depth == 0)).to(low.dtype)   # background next to background
            similar = similar * (aligned + both_off)
            weight = spatial * (similar + FLOOR)
            total += weight * gather(low)
            weights += weight
    return total / weights
