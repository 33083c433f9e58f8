"""Horizon-based ambient occlusion (Bavoil, Sainz and Dimitrov, "Image-Space Horizon-Based
Ambient Occlusion", SIGGRAPH 2008 talk)."""
from __future__ import annotations

import math

import torch

from neurender.base.dataset import on_surface
from neurender.baselines.camera import check_gbuffer, positions_at, screen_march, slice_frame


def check_options(directions: int, steps: int) -> None:
    """Raise ValueError unless ``directions, steps >= 1``."""
    if directions < 1 or steps < 1:
        raise ValueError(f"directions and steps must be >= 1, got {directions} and {steps}")


def hbao(depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, radius: float,
         *, directions: int = 8, steps: int = 8, seed: int = 0) -> torch.Tensor:
    """Horizon-based ambient occlusion from a G-buffer.

    For each pixel P and each of ``directions`` screen directions (evenly spaced, rotated by a
    per-pixel random angle), march ``steps`` samples (per-pixel jittered) along the screen
    projection of a view-space disc of radius ``radius``. In the slice of that direction
    (see `slice_frame`) elevation angles are measured from
    the plane orthogonal to the view vector: the tangent angle t comes from the normal, the
    horizon angle h starts at t and rises to the highest sample S with ``|S - P| < radius``.
    Each rise of the horizon adds ``W(r) (sin h_new - sin h_old)`` with the falloff
    ``W(r) = 1 - r^2 / radius^2``, so without falloff a direction adds ``sin h - sin t``.
    AO = 1 - mean over directions, clamped to [0, 1].

    Samples are reconstructed with bilinear inverse depth, exact on planes, so a flat surface
    does not occlude itself and no angle bias is needed.

    Args:
        depth: (B, 1, H, W) camera-space z-depth, world units.
        normal: (B, 3, H, W) camera-space unit normals facing the camera.
        mask: (B, 1, H, W) 1 on surfaces, 0 on background.
        fov_x_deg: horizontal field of view, degrees.
        radius: occlusion radius, world units.
        directions: number of screen directions.
        steps: samples per direction.
        seed: seed of the per-pixel rotation and jitter pattern (same on every device).

    Returns:
        (B, 1, H, W) ambient occlusion (visibility) in [0, 1], 1 off the mask.
    """
    check_gbuffer(depth, normal, mask, fov_x_deg, radius)
    check_options(directions, steps)
    positions, inv_depth, px, py, noise, radius_px = screen_march(depth, mask, fov_x_deg, radius, seed)

    occlusion = torch.zeros_like(depth)
    for k in range(directions):
        phi = 2.0 * math.pi * (k + noise[0]) / directions
        view, _, gamma = slice_frame(positions, normal, phi)
        sin_horizon = -torch.sin(gamma)  # starts at the tangent angle t = -gamma
        for s in range(steps):
            offset = radius_px * (s + 1.0 - noise[1]) / steps
            samples, valid = positions_at(inv_depth, px + torch.cos(phi) * offset,
                                          py + torch.sin(phi) * offset, fov_x_deg)
            vector = samples - positions
            distance = vector.norm(dim=1, keepdim=True)
            sin_elevation = (vector * view).sum(1, keepdim=True) / distance.clamp_min(1e-12)
            rises = valid & (distance < radius) & (distance > 1e-6 * radius) & (sin_elevation > sin_horizon)
            falloff = 1.0 - (distance / radius) ** 2
            occlusion = occlusion + torch.where(rises, falloff * (sin_elevation - sin_horizon), 0.0)
            sin_horizon = torch.where(rises, sin_elevation, sin_horizon)

    ao = (1.0 - occlusion / directions).clamp(0.0, 1.0)
    return torch.where(on_surface(mask), ao, torch.ones_like(ao))
