"""View-space reconstruction for the dataset's pinhole camera, shared by the screen-space baselines.

Camera space is +X right, +Y up, +Z forward. A pinhole camera with horizontal field of view
``fov_x_deg`` sees an image of H x W pixels; the centre of pixel (row i, col j) has NDC
``x = 2 (j + 0.5) / W - 1`` and ``y = 1 - 2 (i + 0.5) / H``, and the view-space position of a
pixel with z-depth ``z`` is ``z * (x * tan(fov_x / 2), y * tan(fov_x / 2) * H / W, 1)``.

Continuous pixel coordinates ``(px, py)`` used below put the centre of pixel (i, j) at
``(j + 0.5, i + 0.5)``: ``px`` grows to the right, ``py`` grows downwards.

Besides reconstruction (`view_positions`, `ray_lengths`, `positions_at`) and projection
(`project`), this module holds what the AO baselines share: input checks
(`check_gbuffer`), the slice geometry of horizon-based methods (`slice_frame`) and
the seeded per-pixel noise (`pixel_noise`).
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from neurender.base.dataset import on_surface


def _check_fov(fov_x_deg: float) -> None:
    if not 0.0 < float(fov_x_deg) < 180.0:
        raise ValueError(f"fov_x_deg must be in (0, 180) degrees, got {fov_x_deg}")


def _check_image(name: str, tensor: torch.Tensor, channels: int) -> None:
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() != 4 or tensor.shape[1] != channels:
        raise ValueError(f"{name} must have shape (B, {channels}, H, W), got {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {tensor.dtype}")


def check_gbuffer(depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor,
                  fov_x_deg: float, radius: float) -> None:
    """Raise ValueError unless depth (B,1,H,W), normal (B,3,H,W), mask (B,1,H,W) agree and
    ``fov_x_deg`` and ``radius`` are valid. Used by the AO baselines."""
    _check_image("depth", depth, 1)
    _check_image("normal", normal, 3)
    _check_image("mask", mask, 1)
    if normal.shape[0] != depth.shape[0] or normal.shape[2:] != depth.shape[2:]:
        raise ValueError(f"normal {tuple(normal.shape)} does not match depth {tuple(depth.shape)}")
    if mask.shape != depth.shape:
        raise ValueError(f"mask {tuple(mask.shape)} does not match depth {tuple(depth.shape)}")
    _check_fov(fov_x_deg)
    if not float(radius) > 0.0:
        raise ValueError(f"radius must be positive (world units), got {radius}")


def tan_half_fov(fov_x_deg: float) -> float:
    """tan(fov_x / 2) for a horizontal field of view in degrees."""
    _check_fov(fov_x_deg)
    return math.tan(math.radians(float(fov_x_deg)) / 2.0)


def focal_pixels(width: int, fov_x_deg: float) -> float:
    """Focal length in pixels (the same horizontally and vertically: pixels are square).

    A length ``L`` (world units) facing the camera at z-depth ``z`` covers ``L * f / z`` pixels.
    """
    return width / (2.0 * tan_half_fov(fov_x_deg))


def rays_at(px: torch.Tensor, py: torch.Tensor, height: int, width: int, fov_x_deg: float) -> torch.Tensor:
    """View-space ray directions with z = 1 through continuous pixel coordinates.

    Args:
        px, py: (...) pixel coordinates (pixel centres at j + 0.5, i + 0.5).
        height, width: image size in pixels.
        fov_x_deg: horizontal field of view in degrees.

    Returns:
        (..., 3) directions ``(x * tan, y * tan * H / W, 1)``; a point at z-depth z is ``z * ray``.
    """
    tan = tan_half_fov(fov_x_deg)
    x = (2.0 * px / width - 1.0) * tan
    y = (1.0 - 2.0 * py / height) * tan * height / width
    return torch.stack([x, y, torch.ones_like(x)], dim=-1)


def pixel_grid(height: int, width: int, *, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous coordinates ``(px, py)``, each (H, W), of the pixel centres."""
    py, px = torch.meshgrid(torch.arange(height, device=device, dtype=dtype) + 0.5,
                            torch.arange(width, device=device, dtype=dtype) + 0.5, indexing="ij")
    return px, py


def view_positions(depth: torch.Tensor, fov_x_deg: float) -> torch.Tensor:
    """View-space positions of the pixel centres from a z-depth buffer.

    Args:
        depth: (B, 1, H, W) camera-space z-depth, world units (0 off the mask gives position 0).
        fov_x_deg: horizontal field of view in degrees.

    Returns:
        (B, 3, H, W) positions (X right, Y up, Z forward), world units.
    """
    _check_image("depth", depth, 1)
    _check_fov(fov_x_deg)
    height, width = depth.shape[-2:]
    px, py = pixel_grid(height, width, device=depth.device, dtype=depth.dtype)
    rays = rays_at(px, py, height, width, fov_x_deg).permute(2, 0, 1)  # (3, H, W)
    return depth * rays


def ray_lengths(depth: torch.Tensor, fov_x_deg: float) -> torch.Tensor:
    """Length of the camera ray to each pixel centre's point, the norm of `view_positions` (world
    units), (B, 1, H, W) from a z-depth buffer (B, 1, H, W): z |ray|, with |ray|^2 = 1 + x^2 + y^2 summed
    from a row and a column (one pass over the image, not three)."""
    _check_image("depth", depth, 1)
    return depth * _ray_norms(*depth.shape[-2:], float(fov_x_deg), depth.device, depth.dtype)


@functools.lru_cache(maxsize=8)
def _ray_norms(height: int, width: int, fov_x_deg: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """|ray| (H, W) of each pixel centre (z = 1), kept for the next frame of this size (do not write into it)."""
    tan = tan_half_fov(fov_x_deg)
    px, py = (torch.arange(n, device=device, dtype=dtype) + 0.5 for n in (width, height))
    x2 = ((2.0 * px / width - 1.0) * tan) ** 2
    y2 = ((1.0 - 2.0 * py / height) * tan * height / width) ** 2
    return (1.0 + x2 + y2[:, None]).sqrt()


def inverse_depth(depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 / depth on the mask, 0 (a point at infinity) elsewhere. Shapes (B, 1, H, W)."""
    hit = on_surface(mask) & (depth > 0)
    return torch.where(hit, 1.0 / torch.where(hit, depth, torch.ones_like(depth)),
                       torch.zeros_like(depth))


def positions_at(inv_depth: torch.Tensor, px: torch.Tensor, py: torch.Tensor,
                 fov_x_deg: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruct view-space points at continuous pixel coordinates.

    Inverse depth is interpolated bilinearly: it is affine in screen space on a plane, so the
    reconstructed points of a planar surface lie exactly on that plane, and every point lies on
    the camera ray through ``(px, py)``. Outside the image the inverse depth fades to 0.

    Args:
        inv_depth: (B, 1, H, W) inverse z-depth (0 = nothing there), see `inverse_depth`.
        px, py: (B, H', W') continuous pixel coordinates to sample at.
        fov_x_deg: horizontal field of view in degrees.

    Returns:
        points (B, 3, H', W') in world units (0 where invalid) and valid (B, 1, H', W') bool,
        False where the interpolated inverse depth is (almost) 0, i.e. background or off screen.
    """
    height, width = inv_depth.shape[-2:]
    grid = torch.stack([2.0 * px / width - 1.0, 2.0 * py / height - 1.0], dim=-1)
    inv = F.grid_sample(inv_depth, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    valid = inv > 1e-6 * inv_depth.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-30)
    z = torch.where(valid, 1.0 / torch.where(valid, inv, torch.ones_like(inv)), torch.zeros_like(inv))
    rays = rays_at(px, py, height, width, fov_x_deg).permute(0, 3, 1, 2)  # (B, 3, H', W')
    return z * rays, valid


def project(points: torch.Tensor, height: int, width: int, fov_x_deg: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous pixel coordinates ``(px, py)`` of view-space points (inverse of `rays_at`).

    Args:
        points: (B, 3, H', W') view-space points with z > 0.
        height, width: image size in pixels.
        fov_x_deg: horizontal field of view in degrees.

    Returns:
        px, py: (B, H', W') each.
    """
    tan = tan_half_fov(fov_x_deg)
    z = points[:, 2].clamp_min(1e-12)
    px = (points[:, 0] / (z * tan) + 1.0) * width / 2.0
    py = (1.0 - points[:, 1] / (z * tan * height / width)) * height / 2.0
    return px, py


def slice_frame(positions: torch.Tensor, normal: torch.Tensor,
                phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The view-space slice of a screen direction, as used by HBAO and GTAO.

    The slice through a pixel along the screen direction ``(cos phi, sin phi)`` (pixel
    coordinates, y down) is the plane through the camera that holds the pixel's ray and the
    view-space direction ``(cos phi, -sin phi, 0)``; every point reconstructed on that screen
    line lies in it. Angles in the slice are measured from the view vector V (towards the
    camera), positive towards the ``+phi`` side.

    Args:
        positions: (B, 3, H, W) view-space positions.
        normal: (B, 3, H, W) unit normals.
        phi: (H, W) or (B, H, W) screen direction angles, radians.

    Returns:
        view (B, 3, H, W) unit V, normal_length (B, 1, H, W) length of the normal projected into
        the slice, gamma (B, 1, H, W) signed angle of that projected normal from V, radians.
    """
    view = -positions / positions.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos_phi, sin_phi = torch.cos(phi), torch.sin(phi)
    direction = torch.stack([cos_phi, -sin_phi, torch.zeros_like(phi)], dim=-3).expand_as(view)
    ortho = direction - (direction * view).sum(1, keepdim=True) * view
    ortho = ortho / ortho.norm(dim=1, keepdim=True).clamp_min(1e-12)
    axis = torch.cross(view, ortho, dim=1)
    projected = normal - (normal * axis).sum(1, keepdim=True) * axis
    normal_length = projected.norm(dim=1, keepdim=True)
    cos_gamma = ((projected * view).sum(1, keepdim=True) / normal_length.clamp_min(1e-12)).clamp(-1.0, 1.0)
    sign = torch.where((projected * ortho).sum(1, keepdim=True) < 0, -1.0, 1.0).to(positions.dtype)
    return view, normal_length, sign * torch.acos(cos_gamma)


def pixel_noise(channels: int, height: int, width: int, seed: int, *, device=None, dtype=None) -> torch.Tensor:
    """(channels, H, W) uniform values in [0, 1) from a seeded CPU generator, so every device
    gets the same pattern."""
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((channels, height, width), generator=generator, dtype=torch.float64).to(device, dtype)


class ScreenMarch(NamedTuple):
    """What the horizon-marching baselines (HBAO, GTAO) set up for a G-buffer.

    positions (B, 3, H, W) view-space points; inv_depth (B, 1, H, W) (0 off the mask);
    px, py (H, W) pixel centres; noise (2, H, W) per-pixel rotation and jitter in [0, 1);
    radius_px (B, H, W) the occlusion radius projected to pixels at each point.
    """

    positions: torch.Tensor
    inv_depth: torch.Tensor
    px: torch.Tensor
    py: torch.Tensor
    noise: torch.Tensor
    radius_px: torch.Tensor


def screen_march(depth: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, radius: float, seed: int) -> ScreenMarch:
    """The `ScreenMarch` of a (checked) G-buffer."""
    height, width = depth.shape[-2:]
    device, dtype = depth.device, depth.dtype
    inv_depth = inverse_depth(depth, mask)
    px, py = pixel_grid(height, width, device=device, dtype=dtype)
    return ScreenMarch(view_positions(depth, fov_x_deg), inv_depth, px, py,
                       pixel_noise(2, height, width, seed, device=device, dtype=dtype),
                       (radius * focal_pixels(width, fov_x_deg) * inv_depth)[:, 0])
