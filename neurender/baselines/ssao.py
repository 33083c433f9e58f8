"""Screen-space ambient occlusion with a normal-oriented hemisphere kernel (Crytek-style SSAO
as refined by Bavoil and Sainz, "Screen Space Ambient Occlusion", NVIDIA 2008)."""
from __future__ import annotations

import math

import torch

from neurender.base.dataset import on_surface
from neurender.baselines.camera import check_gbuffer, inverse_depth, pixel_noise, positions_at, project, view_positions


def hemisphere_kernel(samples: int, seed: int) -> torch.Tensor:
    """(samples, 3) points in the unit hemisphere z > 0: cosine-distributed directions, lengths
    growing from 0.1 to 1 quadratically so samples cluster near the centre."""
    generator = torch.Generator().manual_seed(seed)
    u = torch.rand((samples, 2), generator=generator, dtype=torch.float64)
    r, phi = torch.sqrt(u[:, 0]), 2.0 * math.pi * u[:, 1]
    directions = torch.stack([r * torch.cos(phi), r * torch.sin(phi), torch.sqrt(1.0 - u[:, 0])], dim=1)
    scale = 0.1 + 0.9 * (torch.arange(1, samples + 1, dtype=torch.float64) / samples) ** 2
    return directions * scale[:, None]


def _tangent_frame(normal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two unit tangents (B, 3, H, W) completing unit normals to an orthonormal frame
    (Duff et al., "Building an Orthonormal Basis, Revisited", 2017)."""
    nx, ny, nz = normal.unbind(1)
    sign = torch.where(nz < 0, -1.0, 1.0).to(normal.dtype)
    a = -1.0 / (sign + nz)
    b = nx * ny * a
    tangent = torch.stack([1.0 + sign * nx * nx * a, sign * b, -sign * nx], dim=1)
    bitangent = torch.stack([b, sign + ny * ny * a, -ny], dim=1)
    return tangent, bitangent


def check_options(samples: int, bias: float) -> None:
    """Raise ValueError unless ``samples >= 1`` and ``bias >= 0``."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if bias < 0:
        raise ValueError(f"bias must be >= 0, got {bias}")


def ssao(depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, radius: float,
         *, samples: int = 16, bias: float = 0.02, seed: int = 0) -> torch.Tensor:
    """Screen-space ambient occlusion from a G-buffer.

    Each pixel P places ``samples`` kernel points Q in the hemisphere of radius ``radius``
    around its normal (cosine-distributed directions, a fixed kernel rotated about the normal by
    a per-pixel random angle), projects them to the screen and reads the depth buffer there.
    Q counts as occluded when the surface seen at its pixel is nearer than Q by more than
    ``bias * radius``; the range check ``smoothstep(0, 1, radius / |z_P - z_scene|)`` fades out
    occluders far from P in depth. AO = 1 - occluded fraction.

    The depth buffer is read as bilinear inverse depth, exact on planes, so a flat surface
    does not occlude itself.

    Args:
        depth: (B, 1, H, W) camera-space z-depth, world units.
        normal: (B, 3, H, W) camera-space unit normals facing the camera.
        mask: (B, 1, H, W) 1 on surfaces, 0 on background.
        fov_x_deg: horizontal field of view, degrees.
        radius: kernel radius, world units.
        samples: kernel size.
        bias: depth tolerance as a fraction of ``radius``.
        seed: seed of the kernel and the per-pixel rotations (same on every device).

    Returns:
        (B, 1, H, W) ambient occlusion (visibility) in [0, 1], 1 off the mask.
    """
    check_gbuffer(depth, normal, mask, fov_x_deg, radius)
    check_options(samples, bias)
    height, width = depth.shape[-2:]
    device, dtype = depth.device, depth.dtype
    positions = view_positions(depth, fov_x_deg)
    inv_depth = inverse_depth(depth, mask)
    kernel = hemisphere_kernel(samples, seed).to(device, dtype)
    angle = 2.0 * math.pi * pixel_noise(1, height, width, seed, device=device, dtype=dtype)
    tangent, bitangent = _tangent_frame(normal)
    tangent, bitangent = (torch.cos(angle) * tangent + torch.sin(angle) * bitangent,
                          -torch.sin(angle) * tangent + torch.cos(angle) * bitangent)

    occlusion = torch.zeros_like(depth)
    for kx, ky, kz in kernel:
        points = positions + radius * (kx * tangent + ky * bitangent + kz * normal)
        px, py = project(points, height, width, fov_x_deg)
        scene, valid = positions_at(inv_depth, px, py, fov_x_deg)
        point_z, scene_z = points[:, 2:3], scene[:, 2:3]
        occluded = valid & (point_z > 0) & (scene_z < point_z - bias * radius)
        x = (radius / (positions[:, 2:3] - scene_z).abs().clamp_min(1e-12)).clamp(0.0, 1.0)
        occlusion = occlusion + torch.where(occluded, x * x * (3.0 - 2.0 * x), 0.0)

    ao = 1.0 - occlusion / samples
    return torch.where(on_surface(mask), ao, torch.ones_like(ao))
