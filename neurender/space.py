"""The normalised space networks see, and the way back to linear HDR values.

Radiance (RGB, direct, fog, env) is tone-mapped with Reinhard, u = x / (1 + x), then
mapped to [-1, 1); AO to [-1, 1]; normals stay in [-1, 1]; albedo is mapped to
[-1, 1]; depth is divided by the image's mean depth on the mask (scale-free:
scenes of any size look alike), then shifted to centre it. Off the mask inputs are 0.
Evaluation always happens on linear values after :func:`from_model_space`.

Runs with ``balance`` (HDR effects) first divide every radiance channel, input and target, by the
view's light (:func:`light_scale`: per colour channel, the frame's mean of the effect's
``balance_from`` channels over :data:`BALANCE_LEVEL`) and multiply the prediction back. In RGB
rendering every colour channel's light transport is linear in the light's intensity in that channel,
so this is exact: the network sees every scene white-balanced and exposed alike, whatever its lamps.
"""
from __future__ import annotations

import torch

RADIANCE_PREFIXES = ("direct.", "env.", "fog.")
BALANCE_LEVEL = 0.25
"""The mean of a balanced view's ``balance_from`` channels, per colour (about that of the training scenes)."""


def is_radiance(name: str) -> bool:
    """Whether dataset channel ``name`` holds linear HDR radiance."""
    return name in ("R", "G", "B") or name.startswith(RADIANCE_PREFIXES)


def reinhard(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp_min(0)
    return x / (1 + x)


def inverse_reinhard(u: torch.Tensor) -> torch.Tensor:
    u = u.clamp(0, 0.999)
    return u / (1 - u)


def light_scale(inputs: torch.Tensor, effect) -> torch.Tensor:
    """The light of each view of linear ``inputs`` (B, len(effect.inputs), H, W): (B, 3, 1, 1), the
    per-channel mean over the frame of ``effect.balance_from`` over :data:`BALANCE_LEVEL`; a channel at
    most 1e-3 of the brightest one (or a black frame) is floored there, so no channel is divided by 0."""
    mean = effect.pick(inputs, effect.balance_from).mean(dim=(2, 3), keepdim=True)
    return mean.clamp_min(1e-3 * mean.amax(dim=1, keepdim=True).clamp_min(1e-6)) / BALANCE_LEVEL


def divide_light(inputs: torch.Tensor, scale: torch.Tensor, effect) -> torch.Tensor:
    """Linear ``inputs`` (B, len(effect.inputs), H, W) with each radiance channel (``X.R`` etc.)
    divided by its colour's ``scale`` (B, 3, 1, 1) of :func:`light_scale`."""
    colour = [("R", "G", "B").index(name[-1]) if is_radiance(name) else None for name in effect.inputs]
    divisor = torch.cat([scale[:, c:c + 1] if c is not None else torch.ones_like(scale[:, :1]) for c in colour], 1)
    return inputs / divisor


def _to_model_space(c: torch.Tensor, name: str, mask: torch.Tensor) -> torch.Tensor:
    """One G-buffer channel ``c`` (B, 1, H, W) named ``name`` -> its network input channel."""
    if is_radiance(name):
        c = 2 * reinhard(c) - 1
    elif name.startswith("albedo."):
        c = 2 * c.clamp(0, 1) - 1
    elif name == "depth.Z":
        mean = (c * mask).sum(dim=(2, 3), keepdim=True) / mask.sum(dim=(2, 3), keepdim=True).clamp_min(1)
        c = c / mean.clamp_min(1e-8) - 1
    return c * mask


def network_input(inputs: torch.Tensor, mask: torch.Tensor, effect, extra: torch.Tensor | None = None) -> torch.Tensor:
    """Linear ``inputs`` (B, len(effect.inputs), H, W) and ``mask`` (B, 1, H, W) -> the network's
    input x (B, len(effect.network_inputs) [+ C_extra], H, W): the mask appended when the effect sees
    it, then ``extra`` (B, C_extra, H, W) as it is. One copy of the whole input (it matters at 1080p)."""
    names = list(effect.network_inputs)
    sources = [inputs[:, i:i + 1] for i in range(inputs.shape[1])] + ([mask] if effect.sees_mask else [])
    if len(sources) != len(names):
        raise ValueError(f"{inputs.shape[1]} input channels but {len(effect.inputs)} names")
    channels = [_to_model_space(c, name, mask) for c, name in zip(sources, names)]
    return torch.cat(channels + ([] if extra is None else [extra]), dim=1)


def target_to_model_space(y: torch.Tensor, effect) -> torch.Tensor:
    """Linear target (B, C, H, W) of ``effect`` -> [-1, 1] space (radiance through Reinhard)."""
    return 2 * reinhard(y) - 1 if effect.hdr else 2 * y.clamp(0, 1) - 1


def from_model_space(y: torch.Tensor, effect) -> torch.Tensor:
    """Network output in [-1, 1] space -> linear values of ``effect`` (radiance >= 0, else [0, 1])."""
    u = ((y + 1) / 2).clamp(0, 1)
    return inverse_reinhard(u) if effect.hdr else u


def display(x: torch.Tensor, hdr: bool) -> torch.Tensor:
    """Linear values -> display values in [0, 1] for image metrics and pictures.

    HDR radiance: Reinhard then the sRGB curve (the one tone map of pictures and metrics);
    otherwise (AO, albedo) clamped as is.
    """
    if not hdr:
        return x.clamp(0, 1)
    u = reinhard(x)
    return torch.where(u <= 0.0031308, 12.92 * u, 1.055 * u.clamp_min(1e-12) ** (1 / 2.4) - 0.055).clamp(0, 1)
