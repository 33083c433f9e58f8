"""Analytic single-scattering fog in a homogeneous medium (the classic "airlight" model)."""
from __future__ import annotations

import math

import torch

from neurender.base.dataset import on_surface
from neurender.baselines.camera import ray_lengths


def check_arguments(rgb: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor, sigma_t, airlight,
                    background_distance: float) -> tuple[torch.Tensor, torch.Tensor]:
    """`fog`'s arguments checked (ValueError naming the bad one) -> sigma_t as (B,) and the airlight as (B, 3)
    tensors of ``rgb``'s dtype and device."""
    if not isinstance(rgb, torch.Tensor) or rgb.dim() != 4 or rgb.shape[1] != 3 or not rgb.is_floating_point():
        raise ValueError(f"rgb must be a float tensor of shape (B, 3, H, W), got {getattr(rgb, 'shape', type(rgb))}")
    expected = (rgb.shape[0], 1, *rgb.shape[2:])
    for name, tensor in (("depth", depth), ("mask", mask)):
        if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != expected:
            raise ValueError(f"{name} must have shape {expected}, got {getattr(tensor, 'shape', type(tensor))}")
    if not background_distance > 0:
        raise ValueError(f"background_distance must be > 0, got {background_distance}")
    batch = rgb.shape[0]
    sigma = torch.as_tensor(sigma_t, device=rgb.device, dtype=rgb.dtype)
    sigma = sigma.expand(batch) if sigma.dim() == 0 else sigma
    if sigma.shape != (batch,):
        raise ValueError(f"sigma_t must be a float or a ({batch},) tensor, got shape {tuple(sigma.shape)}")
    if (sigma < 0).any():
        raise ValueError(f"sigma_t must be >= 0, got {sigma_t}")
    light = torch.as_tensor(airlight, device=rgb.device, dtype=rgb.dtype)
    light = light.expand(3) if light.dim() == 0 else light
    light = light.expand(batch, 3) if light.shape == (3,) else light
    if light.shape != (batch, 3):
        raise ValueError(f"airlight must be a float, a (3,) or a ({batch}, 3) tensor, got shape {tuple(light.shape)}")
    return sigma, light


def fog(rgb: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, sigma_t,
        airlight=1.0, *, background_distance: float = math.inf) -> torch.Tensor:
    """Add homogeneous fog: ``rgb * T + airlight * (1 - T)`` with ``T = exp(-sigma_t * d)``.

    d is the length of the camera ray to the surface (the norm of the view-space position, not
    the z-depth) on the mask and ``background_distance`` off it; with the default infinity the
    background becomes pure airlight (T = 0), except at ``sigma_t = 0`` where T = 1 everywhere.
    Single scattering only, with the in-scattered light ``airlight`` constant along the ray.

    Args:
        rgb: (B, 3, H, W) linear radiance without fog.
        depth: (B, 1, H, W) camera-space z-depth, world units.
        mask: (B, 1, H, W) 1 on surfaces, 0 on background.
        fov_x_deg: horizontal field of view, degrees.
        sigma_t: extinction coefficient, 1 / world unit, >= 0: a float or a (B,) tensor.
        airlight: fog radiance: a float, an RGB (3,) or a (B, 3) tensor.
        background_distance: ray length assumed off the mask, world units (> 0, may be inf).

    Returns:
        (B, 3, H, W) fogged radiance.
    """
    sigma, light = check_arguments(rgb, depth, mask, sigma_t, airlight, background_distance)
    batch = rgb.shape[0]
    sigma, light = sigma.reshape(batch, 1, 1, 1), light.reshape(batch, 3, 1, 1)
    distance = ray_lengths(depth.to(rgb.dtype), fov_x_deg).masked_fill_(on_surface(mask).logical_not(), background_distance)
    transmittance = distance.mul_(sigma).nan_to_num_(nan=0.0, posinf=torch.inf).neg_().exp_()  # 0 inf: 0
    return (rgb - light).mul_(transmittance).add_(light)  # light + T (rgb - light): one new image


def background_airlight(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Airlight estimate (B, 3): the per-channel mean of the fog-free radiance ``rgb`` (B, 3, H, W)
    on the background pixels (``mask`` (B, 1, H, W) is 0) of the same view, 1.0 when the view has
    none (closed rooms). It never looks at a fogged image."""
    background = on_surface(mask).logical_not_().to(rgb.dtype)
    count = background.sum(dim=(1, 2, 3))
    sums = torch.einsum("bchw,bkhw->bc", rgb, background)  # (rgb * background).sum(dim=(2, 3)), no new image
    return torch.where(count[:, None] > 0, sums / count.clamp_min(1)[:, None], torch.ones_like(sums))
