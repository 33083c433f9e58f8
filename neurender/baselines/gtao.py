"""Ground-truth ambient occlusion (Jimenez, Wu, Pesce and Jarabo, "Practical Realtime Strategies
for Accurate Indirect Occlusion", SIGGRAPH 2016 course)."""
from __future__ import annotations

import math

import torch

from neurender.base.dataset import on_surface
from neurender.baselines.camera import check_gbuffer, positions_at, screen_march, slice_frame


def _arc(h: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Cosine-weighted visibility of the slice between the view vector and horizon angle h."""
    return 0.25 * (-torch.cos(2.0 * h - gamma) + torch.cos(gamma) + 2.0 * h * torch.sin(gamma))


def check_options(slices: int, steps: int, falloff: float) -> None:
    """Raise ValueError unless ``slices, steps >= 1`` and ``falloff`` is in [0, 1]."""
    if slices < 1 or steps < 1:
        raise ValueError(f"slices and steps must be >= 1, got {slices} and {steps}")
    if not 0.0 <= falloff <= 1.0:
        raise ValueError(f"falloff must be in [0, 1], got {falloff}")


def gtao(depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, radius: float,
         *, slices: int = 4, steps: int = 8, falloff: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Ground-truth ambient occlusion (GTAO) from a G-buffer.

    For each pixel P and each of ``slices`` screen directions in [0, pi) (rotated by a per-pixel
    random angle), march ``steps`` samples (per-pixel jittered) both ways along the screen
    projection of a view-space disc of radius ``radius``, so each slice covers two opposite
    directions (the default 4 slices x 8 steps is 8 directions x 8 steps). On each side the
    horizon is the sample S with the largest ``cos`` of its angle from the view vector V; a
    sample's cosine is blended towards the lowest possible one (the tangent plane) with the
    falloff weight ``w = clamp((radius - |S - P|) / (falloff * radius), 0, 1)``: full up to
    ``(1 - falloff) * radius``, none beyond ``radius`` (the default ``falloff = 0`` is a hard
    cut, like the dataset's AO rays of length ``radius``). With gamma the angle of the normal
    projected into the slice, the horizon angles h1 <= 0 <= h2 are clamped to the hemisphere
    [gamma - pi/2, gamma + pi/2] and the cosine-weighted visibility is integrated analytically::

        a(h1, h2, gamma) = 1/4 (-cos(2 h1 - gamma) + cos(gamma) + 2 h1 sin(gamma))
                         + 1/4 (-cos(2 h2 - gamma) + cos(gamma) + 2 h2 sin(gamma))

    weighted by the length of the projected normal; AO is the mean over slices, clamped to
    [0, 1]. An unoccluded pixel gets exactly 1 in the limit of many slices.

    Args:
        depth: (B, 1, H, W) camera-space z-depth, world units.
        normal: (B, 3, H, W) camera-space unit normals facing the camera.
        mask: (B, 1, H, W) 1 on surfaces, 0 on background.
        fov_x_deg: horizontal field of view, degrees.
        radius: occlusion radius, world units.
        slices: number of slices (screen directions, each sampled both ways).
        steps: samples per side of a slice.
        falloff: fraction of ``radius`` over which occluders fade out, in [0, 1].
        seed: seed of the per-pixel rotation and jitter pattern (same on every device).

    Returns:
        (B, 1, H, W) ambient occlusion (visibility) in [0, 1], 1 off the mask.
    """
    check_gbuffer(depth, normal, mask, fov_x_deg, radius)
    check_options(slices, steps, falloff)
    positions, inv_depth, px, py, noise, radius_px = screen_march(depth, mask, fov_x_deg, radius, seed)
    fade = max(falloff, 1e-6) * radius

    visibility = torch.zeros_like(depth)
    for k in range(slices):
        phi = math.pi * (k + noise[0]) / slices
        view, normal_length, gamma = slice_frame(positions, normal, phi)
        lowest = {1: torch.cos(gamma + math.pi / 2), -1: torch.cos(gamma - math.pi / 2)}
        horizon_cos = dict(lowest)
        for s in range(steps):
            offset = radius_px * (s + 1.0 - noise[1]) / steps
            for side in (1, -1):
                samples, valid = positions_at(inv_depth, px + side * torch.cos(phi) * offset,
                                              py + side * torch.sin(phi) * offset, fov_x_deg)
                vector = samples - positions
                distance = vector.norm(dim=1, keepdim=True)
                sample_cos = (vector * view).sum(1, keepdim=True) / distance.clamp_min(1e-12)
                weight = ((radius - distance) / fade).clamp(0.0, 1.0)
                weight = torch.where(valid & (distance > 1e-6 * radius), weight, 0.0)
                blended = lowest[side] + weight * (sample_cos - lowest[side])
                horizon_cos[side] = torch.maximum(horizon_cos[side], blended)
        h2 = torch.acos(horizon_cos[1].clamp(-1.0, 1.0))
        h1 = -torch.acos(horizon_cos[-1].clamp(-1.0, 1.0))
        h2 = gamma + (h2 - gamma).clamp_max(math.pi / 2)
        h1 = gamma + (h1 - gamma).clamp_min(-math.pi / 2)
        visibility = visibility + normal_length * (_arc(h1, gamma) + _arc(h2, gamma))

    ao = (visibility / slices).clamp(0.0, 1.0)
    return torch.where(on_surface(mask), ao, torch.ones_like(ao))
