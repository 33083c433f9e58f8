"""Shared building blocks of the neurender models."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


class SelfAttention2d(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019) over all H*W positions of a feature map.

    ``query`` and ``key`` are 1x1 convolutions to ``max(1, channels // 8)`` channels,
    ``value`` a 1x1 convolution to ``channels``. Every position attends to every position
    (softmax over the H*W keys); the result is ``x + gamma * out`` with ``gamma`` a learnable
    scalar initialised at 0, so the block is exactly the identity at initialisation and the
    network learns how much long-range context to mix in.

    Cost is O((H*W)^2) in time and memory: use it on coarse feature maps (e.g. 16x16).

    Args:
        channels: C, the channel count of the input (and output).
        spectral_norm: wrap the three 1x1 convolutions in spectral normalisation (as in
            SAGAN discriminators). Off by default.

    Shapes: x (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, spectral_norm: bool = False):
        super().__init__()
        if channels < 1:
            raise ValueError(f"SelfAttention2d needs channels >= 1, got {channels}")
        inner = max(1, channels // 8)
        wrap = _spectral_norm if spectral_norm else (lambda m: m)
        self.channels = channels
        self.query = wrap(nn.Conv2d(channels, inner, 1))
        self.key = wrap(nn.Conv2d(channels, inner, 1))
        self.value = wrap(nn.Conv2d(channels, channels, 1))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> x + gamma * attention(x), (B, C, H, W)."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SelfAttention2d({self.channels}) expects (B, {self.channels}, H, W), "
                             f"got {tuple(x.shape)}")
        b, c, h, w = x.shape
        q = self.query(x).flatten(2)                                 # (B, C', N)
        k = self.key(x).flatten(2)                                   # (B, C', N)
        v = self.value(x).flatten(2)                                 # (B, C, N)
        attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)     # (B, N query, N key)
        out = (v @ attention.transpose(1, 2)).view(b, c, h, w)       # (B, C, N) -> (B, C, H, W)
        return x + self.gamma * out
