"""The fast tier's network: most of the work at reduced resolution, few channels, separable convolutions.

``FastNet`` reads its input in cells of ``scale x scale`` pixels (a pixel-unshuffle and a 1x1
convolution, computed as one stride-``scale`` convolution: no input pixel is dropped), runs residual
depthwise-separable blocks on those cells and on cells pooled 2x more (context), and pixel-shuffles
its output back to full resolution (each cell predicts its ``scale x scale`` pixels). No attention at
full resolution (optionally a pooled one on the coarsest cells), no normalisation: under a thousand
multiply-adds per pixel, whatever the image size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from neurender.models.layers import PooledAttention2d


@dataclass
class FastConfig:
    """Size of the fast tier's network (the defaults were chosen by measurement: docs/models.md, "Fast tier")."""

    channels: int = 32
    """Features per cell."""
    scale: int = 4
    """Pixel-unshuffle factor: the network works on cells of scale x scale pixels."""
    blocks: int = 4
    """Residual separable blocks at the cells' resolution."""
    context_blocks: int = 2
    """Residual separable blocks on cells pooled 2x (a wider receptive field for little cost)."""
    attention_pool: int = 0
    """0: none; N: a pooled attention (keys and values pooled to N x N cells) after the context blocks,
    giving every cell a coarse summary of the whole frame (16 keys per cell for N = 4)."""
    lambda_l1: float = 100.0
    """Weight of the L1 term of the regression loss (as the GAN's generator)."""
    beta_ssim: float = 10.0
    """Weight of the ``1 - SSIM`` term (as the GAN's generator)."""

    def __post_init__(self):
        if min(self.channels, self.scale, self.blocks) < 1 or min(self.context_blocks, self.attention_pool) < 0:
            raise ValueError(f"channels, scale and blocks must be >= 1, context_blocks and attention_pool >= 0, "
                             f"got {self}")
        if self.attention_pool and not self.context_blocks:
            raise ValueError("attention_pool needs context_blocks >= 1 (it runs on the context cells)")


class SeparableBlock(nn.Module):
    """x + pointwise(relu(depthwise 3x3(x))): (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.pointwise = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pointwise(F.relu(self.depthwise(x)))


class FastNet(nn.Module):
    """(B, in_channels, H, W) network inputs -> (B, out_channels, H, W) in the targets' [-1, 1] space;
    H and W multiples of `stride`."""

    def __init__(self, in_channels: int, out_channels: int, config: FastConfig):
        super().__init__()
        s, c = config.scale, config.channels
        self.scale, self.in_channels, self.out_channels = s, in_channels, out_channels
        self.stride = s * (2 if config.context_blocks else 1)
        self.embed = nn.Conv2d(in_channels, c, s, stride=s)  # = pixel-unshuffle + 1x1, without the transpose
        self.blocks = nn.Sequential(*(SeparableBlock(c) for _ in range(config.blocks)))
        self.context = nn.Sequential(*(SeparableBlock(c) for _ in range(config.context_blocks)),
                                     *([PooledAttention2d(c, config.attention_pool)] if config.attention_pool else []))
        self.head = nn.Conv2d(c, out_channels * s * s, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def last(self) -> nn.Conv2d:
        """The output convolution."""
        return self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.embed(x))
        h = self.blocks(h)
        if len(self.context):
            h = h + F.interpolate(self.context(F.avg_pool2d(h, 2)), scale_factor=2, mode="bilinear",
                                  align_corners=False)
        return F.pixel_shuffle(self.head(F.relu(h)), self.scale)
