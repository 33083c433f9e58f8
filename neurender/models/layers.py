"""Shared building blocks of the neurender models."""
from __future__ import annotations

import torch
import torch.nn.functional as F
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


_BILINEAR_ROWS = torch.tensor([[[0.75, 0.25, 0.0], [0.25, 0.75, 0.0], [0.0, 0.75, 0.25]],
                               [[0.25, 0.75, 0.0], [0.0, 0.75, 0.25], [0.0, 0.25, 0.75]]])
"""[a, t, k]: row ``2 i + a + t - 1`` of a 2x bilinear upsampling (``align_corners=False``) as weights of the low
rows ``i - 1, i, i + 1`` (k): what tap t of a 3x3 convolution reads at output row ``2 i + a``."""


class UpsampledConv2d(nn.Conv2d):
    """A 3x3 convolution (stride 1, padding 1) of the 2x bilinear upsampling (``align_corners=False``) of its
    input, computed at the input's resolution: its weights mixed with the upsampling's into one convolution
    per output phase (2 x 2 phases, 4x the output channels) over the input padded by its edge values, then
    `pixel_shuffle`. The outermost ring of outputs reads the convolution's zero padding, which no input value
    makes: it comes from the two ops on 2-pixel strips of the input. The same values as ``nn.Upsample``
    then ``nn.Conv2d`` (to float rounding), with no upsampled input made: a quarter of the memory traffic.

    Shapes: x (B, C_in, h, w) -> (B, C_out, 2 h, 2 w).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = _BILINEAR_ROWS.to(self.weight)
        kernel = torch.einsum("ayp,bxq,ocyx->oabcpq", rows, rows, self.weight).flatten(0, 2)  # (4 C_out, C_in, 3, 3)
        bias = None if self.bias is None else self.bias.repeat_interleave(4)
        out = F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, bias), 2)

        def ring(strip: torch.Tensor) -> torch.Tensor:
            up = F.interpolate(strip, scale_factor=2, mode="bilinear", align_corners=False)
            return F.conv2d(up, self.weight, self.bias, padding=1)

        top, bottom = ring(x[..., :2, :])[..., :1, :], ring(x[..., -2:, :])[..., -1:, :]
        left, right = ring(x[..., :, :2])[..., 1:-1, :1], ring(x[..., :, -2:])[..., 1:-1, -1:]
        return torch.cat([top, torch.cat([left, out[..., 1:-1, 1:-1], right], dim=3), bottom], dim=2)


def fuse_upsampling(module: nn.Module) -> nn.Module:
    """Replace, in place, each 2x bilinear ``nn.Upsample`` followed in an ``nn.Sequential`` by a 3x3 convolution
    (stride 1, padding 1) with an ``nn.Identity`` and an `UpsampledConv2d` sharing the convolution's
    parameters (state dict keys unchanged). Returns ``module``."""
    for sequential in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(sequential) - 1):
            up, conv = sequential[i], sequential[i + 1]
            if (type(up) is nn.Upsample and up.scale_factor in (2, 2.0) and up.mode == "bilinear"
                    and not up.align_corners and type(conv) is nn.Conv2d and conv.kernel_size == (3, 3)
                    and conv.stride == (1, 1) and conv.padding == (1, 1) and conv.dilation == (1, 1)
                    and conv.groups == 1 and conv.padding_mode == "zeros"):
                fused = UpsampledConv2d(conv.in_channels, conv.out_channels, 3, padding=1, bias=conv.bias is not None,
                                        device="meta")
                fused.weight, fused.bias = conv.weight, conv.bias
                sequential[i], sequential[i + 1] = nn.Identity(), fused
    return module
