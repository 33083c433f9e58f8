"""A trust gate: where a residual network's correction of its classic first guess is kept.

A network that reads a classic method's answer (the guess, among its input channels) predicts a
correction ``d = prediction - guess``. The gate shrinks it per pixel and target channel:
``guess + g * d`` with ``g`` in [0, 1], so ``g = 0`` is the classic method's answer exactly. ``g``
is a small convolutional network's sigmoid, reading the network input and ``d``, fitted on
scenes the network was not trained on (`neurender.inference.gate`), times an input-range
guard: a pixel any of whose input channels lies outside the range seen while fitting (widened by
`RANGE_MARGIN` of its span) keeps the guess. A gate with a ``scale_index`` (GI's) also multiplies
``g`` by min(albedo / `ALBEDO_FULL`, 1), per colour: light a diffuse surface reflects is proportional to
its albedo, so on a black surface the guess is kept exactly, and the correction fades out on surfaces
that reflect almost nothing. Everything happens in the model's [-1, 1] space.
"""
from __future__ import annotations

import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from neurender.base.atomic import atomic_path
from neurender.base.dataset import on_surface
from neurender.base.errors import InputError

FILE = "gate.safetensors"
"""The gate's file in a run folder (or a shipped model's)."""
RANGE_MARGIN = 0.1
"""The input-range guard widens each channel's fitted range by this share of its span on both sides."""
GUARD_ONLY_BIAS = 40.0
"""The last bias of a guard-only gate (`TrustGate.trust_inside_range`): sigmoid(40) is 1 in float32."""
ALBEDO_FULL = 0.05
"""An albedo-scaled gate keeps its whole weight from this albedo up (below, the weight falls linearly to 0):
scaling by the albedo itself would shrink corrections that are already proportional to it."""
WORK_SIDE = 128
"""Largest short side the gate's network reads (the fitting views' size): larger images are averaged
down to it, so its cost stays that of a small image (what the gate adds at 1080p: docs/models.md)."""


class TrustGate(nn.Module):
    """``guess + g * (prediction - guess)``, g = sigmoid(net([x, d])) * inside(x) [* albedo].

    Shapes: x (B, C_in, H, W) the network input holding the guess at ``guess_index`` and, with
    ``scale_index``, the albedo (one channel per output channel, in [-1, 1]); prediction
    (B, C_out, H, W); both in model space. ``low``/``high`` (C_in,): the input-range guard.
    """

    def __init__(self, in_channels: int, guess_index: list[int], width: int = 16,
                 scale_index: list[int] | None = None):
        super().__init__()
        out = len(guess_index)
        if scale_index is not None and len(scale_index) != out:
            raise ValueError(f"scale_index needs one channel per output channel ({out}), got {scale_index}")
        self.guess_index = list(guess_index)
        self.scale_index = list(scale_index) if scale_index else None
        self.net = nn.Sequential(
            nn.Conv2d(in_channels + out, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=4, dilation=4), nn.ReLU(),
            nn.Conv2d(width, out, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.constant_(self.net[-1].bias, 2.0)  # starts trusting the network (g = 0.88)
        self.register_buffer("low", torch.full((in_channels,), -torch.inf))
        self.register_buffer("high", torch.full((in_channels,), torch.inf))

    def weight(self, x: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """g (B, C_out, H, W) in [0, 1]: how much of the correction to keep. On images whose short side
        exceeds `WORK_SIDE` the network reads them averaged over k x k blocks (k the smallest
        integer that brings the short side to WORK_SIDE or less) and its weight is upsampled bilinearly;
        the input-range guard is always per pixel."""
        k = math.ceil(min(x.shape[-2:]) / WORK_SIDE)
        if k > 1:  # pooled apart: the block mean of the correction is that of the prediction minus the guess's
            x_small, prediction_small = (F.avg_pool2d(t, k, ceil_mode=True) for t in (x, prediction))
            g = torch.sigmoid(self.net(torch.cat([x_small, prediction_small - x_small[:, self.guess_index]], 1)))
            g = F.interpolate(g, size=x.shape[-2:], mode="bilinear", align_corners=False)
        else:
            g = torch.sigmoid(self.net(torch.cat([x, prediction - x[:, self.guess_index]], 1)))
        span = (self.high - self.low) * RANGE_MARGIN
        low, high = (self.low - span)[:, None, None], (self.high + span)[:, None, None]
        inside = ((x >= low) & (x <= high)).all(dim=1, keepdim=True)
        if self.scale_index:
            g = g * x[:, self.scale_index].add(1).div_(2 * ALBEDO_FULL).clamp_(0, 1)
        return g * inside

    def trust_inside_range(self) -> None:
        """Make g = 1 inside the input range and 0 outside: the range guard alone, no learned weight."""
        nn.init.zeros_(self.net[-1].weight)
        nn.init.constant_(self.net[-1].bias, GUARD_ONLY_BIAS)

    def forward(self, x: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        guess = x[:, self.guess_index]
        return guess + self.weight(x, prediction) * (prediction - guess)

    def fit_range(self, x: torch.Tensor, mask: torch.Tensor, quantile: float = 0.001) -> None:
        """Set the guard to the [quantile, 1 - quantile] range of each channel of x (B, C_in, H, W) on the
        surface pixels of ``mask`` (B, 1, H, W)."""
        values = x.permute(1, 0, 2, 3)[:, on_surface(mask[:, 0])]
        if values.shape[1] == 0:
            raise InputError("no surface pixel to fit the gate's input range on")
        sample = values[:, torch.linspace(0, values.shape[1] - 1, min(values.shape[1], 1_000_000)).long()]
        self.low.copy_(torch.quantile(sample, quantile, dim=1))
        self.high.copy_(torch.quantile(sample, 1 - quantile, dim=1))

    def save(self, folder: str) -> None:
        """Write ``folder``/`FILE` (atomically: a reader sees the old gate or the new one)."""
        with atomic_path(os.path.join(folder, FILE), ".safetensors") as tmp:
            save_file({k: v.contiguous() for k, v in self.state_dict().items()}, tmp,
                      metadata={"guess_index": ",".join(map(str, self.guess_index)),
                                "scale_index": ",".join(map(str, self.scale_index or []))})


def load_gate(folder: str) -> TrustGate | None:
    """The gate of a run folder, or None when it has none; InputError when the file is unreadable."""
    path = os.path.join(folder, FILE)
    if not os.path.isfile(path):
        return None
    try:
        with safe_open(path, "pt") as handle:
            metadata = handle.metadata()
        guess_index = [int(i) for i in metadata["guess_index"].split(",")]
        scale_index = [int(i) for i in metadata.get("scale_index", "").split(",") if i]  # gates before it: none
        tensors = load_file(path)
        gate = TrustGate(tensors["low"].numel(), guess_index, width=tensors["net.0.weight"].shape[0],
                         scale_index=scale_index or None)
        gate.load_state_dict(tensors)
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path} is not a valid gate: {' '.join(str(exc).split())[:200]}") from None
    return gate.eval()
