"""Shared building blocks of the neurender models."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

POOL = 16
"""Side of the pooled key/value grid of `PooledAttention2d` (16x16 = 256 keys)."""


def pooling_cells(size: int, cells: int) -> torch.Tensor:
    """(cells, size) 0/1 membership of adaptive average pooling's cells (PyTorch's floor/ceil bounds), float64."""
    index = torch.arange(size)
    starts = torch.tensor([i * size // cells for i in range(cells)])
    ends = torch.tensor([-(-(i + 1) * size // cells) for i in range(cells)])
    return ((index[None] >= starts[:, None]) & (index[None] < ends[:, None])).double()


def adaptive_average(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, size)`` as two products with cell-membership matrices:
    the same values, and it exports to ONNX at any input size (the ONNX exporter refuses
    adaptive pooling to a size that does not divide the input). x (B, C, H, W) -> (B, C, h, w)."""
    rows = pooling_cells(x.shape[-2], size[0])
    cols = pooling_cells(x.shape[-1], size[1])
    return (rows / rows.sum(1, keepdim=True)).to(x) @ x @ (cols / cols.sum(1, keepdim=True)).to(x).T


class PooledAttention2d(nn.Module):
    """SAGAN-style self-attention (Zhang et al. 2019) at a cost linear in pixels.

    Queries stay at full resolution; keys and values come from the feature map average-pooled
    (``adaptive_avg_pool2d``) to at most ``pool x pool`` cells, so every position still sees
    the whole image, as a coarse summary. A map no larger than ``pool`` on a side is not
    pooled: there the block is exactly SAGAN's all-pairs attention.

    ``query_conv`` and ``key_conv`` are 1x1 convolutions to ``max(1, channels // 8)``
    channels, ``value_conv`` a 1x1 convolution to ``channels``. The result is
    ``x + gate * out`` with ``gate`` a learnable scalar initialised at 0, so the block is the
    identity at initialisation. (The names differ from the former all-pairs block's
    ``query/key/value/gamma`` on purpose: its checkpoints are refused, not misread.)

    Cost: O(H * W * pool^2 * channels) time, O(H * W * pool^2) memory.

    Args:
        channels: C, the channel count of the input (and output).
        pool: side of the pooled key/value grid.
        spectral_norm: wrap the three 1x1 convolutions in spectral normalisation (as in
            SAGAN discriminators). Off by default.

    Shapes: x (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, pool: int = POOL, spectral_norm: bool = False):
        super().__init__()
        if channels < 1 or pool < 1:
            raise ValueError(f"PooledAttention2d needs channels >= 1 and pool >= 1, got {channels} and {pool}")
        inner = max(1, channels // 8)
        wrap = _spectral_norm if spectral_norm else (lambda m: m)
        self.channels, self.pool = channels, pool
        self.query_conv = wrap(nn.Conv2d(channels, inner, 1))
        self.key_conv = wrap(nn.Conv2d(channels, inner, 1))
        self.value_conv = wrap(nn.Conv2d(channels, channels, 1))
        self.gate = nn.Parameter(torch.zeros(1))

    def pooled_size(self, height: int, width: int) -> tuple[int, int]:
        """The key/value grid (h, w) of a (height, width) feature map."""
        return min(height, self.pool), min(width, self.pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> x + gate * attention(x), (B, C, H, W)."""
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"PooledAttention2d({self.channels}) expects (B, {self.channels}, H, W), "
                             f"got {tuple(x.shape)}")
        return self.attend(x, adaptive_average(x, self.pooled_size(*x.shape[-2:])))

    def attend(self, x: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) attending to keys and values from ``pooled`` (B, C, h, w), the pooled map
        (of x itself, or of the whole image x is a tile of) -> (B, C, H, W)."""
        b, c, h, w = x.shape
        q = self.query_conv(x).flatten(2).transpose(1, 2)            # (B, N, C')
        k = self.key_conv(pooled).flatten(2).transpose(1, 2)         # (B, M, C'), M <= pool^2
        v = self.value_conv(pooled).flatten(2).transpose(1, 2)       # (B, M, C)
        attention = torch.softmax(q @ k.transpose(1, 2), dim=-1)     # (B, N query, M key)
        out = (attention @ v).transpose(1, 2).reshape(b, c, h, w)    # (B, N, C) -> (B, C, H, W)
        return x + self.gate * out
