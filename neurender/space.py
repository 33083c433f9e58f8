"""The normalised space networks see, and the way back to linear HDR values.

Radiance (RGB, direct, fog, env) is tone-mapped with Reinhard, u = x / (1 + x), then
mapped to [-1, 1); AO to [-1, 1]; normals stay in [-1, 1]; albedo is mapped to
[-1, 1]; depth is divided by the image's mean depth on the mask (scale-free:
scenes of any size look alike), then shifted to centre it. Off the mask inputs are 0.
Evaluation always happens on linear values after `from_model_space`.

Runs with ``balance`` (HDR effects) first divide every radiance channel, input and target, by the
view's light (`light_scale`: per colour channel, the frame's mean of the effect's
``balance_from`` channels over `BALANCE_LEVEL`) and multiply the prediction back. In RGB
rendering every colour channel's light transport is linear in the light's intensity in that channel,
so this is exact: the network sees every scene white-balanced and exposed alike, whatever its lamps.
"""
from __future__ import annotations

import torch

from neurender.base.dataset import ALBEDO, DEPTH

RADIANCE_PREFIXES = ("direct.", "env.", "fog.")
BALANCE_LEVEL = 0.25
"""The mean of a balanced view's ``balance_from`` channels, per colour (about that of the training scenes)."""


def is_radiance(name: str) -> bool:
    """Whether dataset channel ``name`` holds linear HDR radiance."""
    return name in ("R", "G", "B") or name.startswith(RADIANCE_PREFIXES)


def reinhard(x: torch.Tensor) -> torch.Tensor:
    """x / (1 + x) of x clamped at 0 (a new tensor; differentiable)."""
    x = x.clamp_min(0)
    return x / (x + 1)


def light_scale(inputs: torch.Tensor, effect) -> torch.Tensor:
    """The light of each view of linear ``inputs`` (B, len(effect.inputs), H, W): (B, 3, 1, 1), the
    per-channel mean over the frame of ``effect.balance_from`` over `BALANCE_LEVEL`; a channel at
    most 1e-3 of the brightest one (or a black frame) is floored there, so no channel is divided by 0."""
    mean = effect.pick(inputs, effect.balance_from).mean(dim=(2, 3), keepdim=True)
    return mean.clamp_min(1e-3 * mean.amax(dim=1, keepdim=True).clamp_min(1e-6)) / BALANCE_LEVEL


def divide_light(inputs: torch.Tensor, scale: torch.Tensor, effect, out: torch.Tensor | None = None) -> torch.Tensor:
    """Linear ``inputs`` (B, len(effect.inputs), H, W) with each radiance channel (``X.R`` etc.)
    divided by its colour's ``scale`` (B, 3, 1, 1) of `light_scale`, written into ``out`` if given."""
    colour = [("R", "G", "B").index(name[-1]) if is_radiance(name) else None for name in effect.inputs]
    divisor = torch.cat([scale[:, c:c + 1] if c is not None else torch.ones_like(scale[:, :1]) for c in colour], 1)
    return torch.div(inputs, divisor, out=out)


def _tone_map_(x: torch.Tensor) -> torch.Tensor:
    """Radiance ``x`` -> 2 reinhard(x) - 1 = 1 - 2 / (1 + x) of x clamped at 0, in place (no new image)."""
    return x.clamp_(min=0).add_(1).reciprocal_().mul_(-2).add_(1)


def _to_model_space(c: torch.Tensor, name: str, mask: torch.Tensor, out: torch.Tensor) -> None:
    """One G-buffer channel ``c`` (B, 1, H, W) named ``name`` -> its network input channel, written into
    ``out`` (B, 1, H, W) in place (a few passes over one channel, no new image)."""
    if is_radiance(name):
        _tone_map_(out.copy_(c))
    elif name in ALBEDO:
        torch.clamp(c, 0, 1, out=out).mul_(2).sub_(1)
    elif name in DEPTH:
        mean = (c * mask).sum(dim=(2, 3), keepdim=True) / mask.sum(dim=(2, 3), keepdim=True).clamp_min(1)
        torch.div(c, mean.clamp_min(1e-8), out=out).sub_(1)
    else:
        out.copy_(c)
    out.mul_(mask)


def network_input(inputs: torch.Tensor, mask: torch.Tensor, effect, extra: torch.Tensor | None = None,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """Linear ``inputs`` (B, len(effect.inputs), H, W) and ``mask`` (B, 1, H, W) -> the network's
    input x (B, len(effect.network_inputs) [+ C_extra], H, W): the mask appended when the effect sees
    it, then ``extra`` (B, C_extra, H, W) as it is; written into ``out`` if given (each channel straight
    into its place: it matters at 1080p)."""
    names = list(effect.network_inputs)
    sources = [inputs[:, i:i + 1] for i in range(inputs.shape[1])] + ([mask] if effect.sees_mask else [])
    if len(sources) != len(names):
        raise ValueError(f"{inputs.shape[1]} input channels but {len(effect.inputs)} names")
    shape = (inputs.shape[0], len(names) + (0 if extra is None else extra.shape[1]), *inputs.shape[2:])
    out = inputs.new_empty(shape) if out is None else out
    for i, (c, name) in enumerate(zip(sources, names)):
        _to_model_space(c, name, mask, out[:, i:i + 1])
    if extra is not None:
        out[:, len(names):].copy_(extra)
    return out


def target_to_model_space(y: torch.Tensor, effect, out: torch.Tensor | None = None) -> torch.Tensor:
    """Linear target (B, C, H, W) of ``effect`` -> [-1, 1] space (radiance through Reinhard), written
    into ``out`` if given (``out=y``: in place)."""
    if effect.hdr:
        return _tone_map_(out.copy_(y) if out is not None else y.clone())
    return torch.clamp(y, 0, 1, out=out).mul_(2).sub_(1)


def from_model_space(y: torch.Tensor, effect, out: torch.Tensor | None = None) -> torch.Tensor:
    """Network output in [-1, 1] space -> linear values of ``effect`` (radiance >= 0 through the inverse
    of Reinhard, u / (1 - u) = 1 / (1 - u) - 1 with u <= 0.999; else [0, 1]). For evaluation, not for
    gradients: written into ``out`` if given (``out=y``: in place; no other image is made)."""
    u = torch.add(y, 1, out=out).mul_(0.5).clamp_(0, 1)
    return u.clamp_(max=0.999).neg_().add_(1).reciprocal_().sub_(1) if effect.hdr else u


def display(x: torch.Tensor, hdr: bool) -> torch.Tensor:
    """Linear values -> display values in [0, 1] for image metrics and pictures.

    HDR radiance: Reinhard then the sRGB curve (the one tone map of pictures and metrics);
    otherwise (AO, albedo) clamped as is.
    """
    if not hdr:
        return x.clamp(0, 1)
    u = reinhard(x)
    return torch.where(u <= 0.0031308, 12.92 * u, 1.055 * u.clamp_min(1e-12) ** (1 / 2.4) - 0.055).clamp(0, 1)
