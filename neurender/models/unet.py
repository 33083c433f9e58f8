"""Conditional denoising U-Net for diffusion (the network only; the maths is in ``diffusion.py``).

``ConditionalUNet(out_channels, cond_channels, config)(x_t, t, cond)`` predicts the noise
(or ``v``) of ``x_t`` (B, out_channels, H, W) at steps ``t`` (B,) given a conditioning image
``cond`` (B, cond_channels, H, W), e.g. the G-buffer. The conditioning is concatenated with
``x_t`` at the input; the step enters every residual block through a sinusoidal embedding
and an MLP (Ho et al. 2020).

Layout with the defaults (base 32, mults (1, 2, 2), one residual block per level,
attention at level 2), for a 64x64 input::

    in conv            (out+cond) -> 32 @ 64x64
    level 0            res 32                @ 64x64   -> down
    level 1            res 64                @ 32x32   -> down
    level 2            res 64 + attn         @ 16x16
    middle             res + attn + res      @ 16x16
    up levels 2, 1, 0  (num_res_blocks + 1) res blocks each, consuming the skips, upsample
    out                GroupNorm, SiLU, conv -> out_channels @ 64x64
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neurender.models.layers import PooledAttention2d


@dataclass
class UNetConfig:
    """Size of a `ConditionalUNet`."""

    base_channels: int = 32
    """Channels of level 0; level i has ``base_channels * channel_mults[i]``."""

    channel_mults: tuple[int, ...] = (1, 2, 2)
    """One multiplier per resolution level; each further level halves H and W."""

    num_res_blocks: int = 1
    """Residual blocks per level on the way down (the way up has one more, for the skips)."""

    attention_levels: tuple[int, ...] = (2,)
    """Level indices with self-attention after their residual blocks (the coarsest by default;
    the middle block has attention when the coarsest level does). ``()`` for none."""

    dropout: float = 0.0
    """Dropout probability inside the residual blocks."""

    time_embed_dim: int | None = None
    """Width of the step embedding MLP; ``None`` means ``4 * base_channels``."""

    patch: int = 1
    """Pixels per side of the cells level 0 works on: the input is pixel-unshuffled into
    ``patch**2``-times the channels and the output shuffled back (2: every level costs a quarter)."""

    def __post_init__(self) -> None:
        self.channel_mults = tuple(self.channel_mults)
        self.attention_levels = tuple(self.attention_levels)
        if not _is_int(self.base_channels) or self.base_channels < 1:
            raise ValueError(f"base_channels must be an int >= 1, got {self.base_channels!r}")
        if not self.channel_mults or not all(_is_int(m) and m >= 1 for m in self.channel_mults):
            raise ValueError(f"channel_mults must be a non-empty tuple of ints >= 1, "
                             f"got {self.channel_mults!r}")
        if not _is_int(self.num_res_blocks) or self.num_res_blocks < 1:
            raise ValueError(f"num_res_blocks must be an int >= 1, got {self.num_res_blocks!r}")
        levels = len(self.channel_mults)
        if not all(_is_int(i) and 0 <= i < levels for i in self.attention_levels):
            raise ValueError(f"attention_levels must be level indices in [0, {levels - 1}], "
                             f"got {self.attention_levels!r}")
        if not _is_int(self.patch) or self.patch < 1:
            raise ValueError(f"patch must be an int >= 1, got {self.patch!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.time_embed_dim is not None and (not _is_int(self.time_embed_dim)
                                                or self.time_embed_dim < 1):
            raise ValueError(f"time_embed_dim must be None or an int >= 1, "
                             f"got {self.time_embed_dim!r}")

    @property
    def num_levels(self) -> int:
        return len(self.channel_mults)

    @property
    def resolved_time_embed_dim(self) -> int:
        return self.time_embed_dim if self.time_embed_dim is not None else 4 * self.base_channels


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def num_groups(channels: int) -> int:
    """GroupNorm groups for ``channels``: the largest divisor <= min(32, channels // 4), >= 1."""
    limit = max(1, min(32, channels // 4))
    return max(g for g in range(1, limit + 1) if channels % g == 0)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of steps (Vaswani et al. 2017): t (B,) -> (B, dim) float32.

    The first half is ``sin(t * f_k)``, the second ``cos(t * f_k)`` with frequencies
    ``f_k = max_period^(-k / (dim//2))``; an odd ``dim`` gets a zero last column.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                            device=t.device) / max(half, 1))
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv, add the projected step embedding, GroupNorm-SiLU-dropout-conv, plus skip.

    x (B, in_ch, H, W), temb (B, time_dim) -> (B, out_ch, H, W).
    """

    def __init__(self, in_ch: int, out_ch: int, time_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups(in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, out_ch)
        self.norm2 = nn.GroupNorm(num_groups(out_ch), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class Downsample(nn.Module):
    """Strided 3x3 conv: (B, C, H, W) -> (B, C, H/2, W/2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then 3x3 conv: (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _Level(nn.Module):
    """Residual blocks, each optionally followed by self-attention."""

    def __init__(self, blocks: list[ResBlock], attention: bool):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attentions = nn.ModuleList(
            PooledAttention2d(b.conv2.out_channels) if attention else nn.Identity() for b in blocks)


class ConditionalUNet(nn.Module):
    """Denoising U-Net conditioned by input concatenation.

    Args:
        out_channels: C, channels of the sample being denoised (and of the prediction).
        cond_channels: C_cond, channels of the conditioning image (0 for unconditional).
        config: sizes, `UNetConfig` defaults if None.

    Attributes: ``out_channels``, ``cond_channels``, ``config``, ``stride``
    (``patch * 2 ** (levels - 1)``: H and W must be multiples of it).

    Shapes: forward(x_t (B, C, H, W), t (B,) long, cond (B, C_cond, H, W)) -> (B, C, H, W).
    """

    def __init__(self, out_channels: int, cond_channels: int, config: UNetConfig | None = None):
        super().__init__()
        if not _is_int(out_channels) or out_channels < 1:
            raise ValueError(f"out_channels must be an int >= 1, got {out_channels!r}")
        if not _is_int(cond_channels) or cond_channels < 0:
            raise ValueError(f"cond_channels must be an int >= 0, got {cond_channels!r}")
        self.config = config = config if config is not None else UNetConfig()
        self.out_channels = out_channels
        self.cond_channels = cond_channels
        self.stride = config.patch * 2 ** (config.num_levels - 1)
        cells = config.patch ** 2

        base, tdim = config.base_channels, config.resolved_time_embed_dim
        self.time_mlp = nn.Sequential(nn.Linear(base, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d((out_channels + cond_channels) * cells, base, 3, padding=1)

        widths = [base * m for m in config.channel_mults]
        last = config.num_levels - 1

        # Down path: remember the width of every skip tensor (conv_in, each res block, each down).
        skip_widths = [base]
        ch = base
        self.down_levels = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        for level, width in enumerate(widths):
            blocks = []
            for _ in range(config.num_res_blocks):
                blocks.append(ResBlock(ch, width, tdim, config.dropout))
                ch = width
                skip_widths.append(ch)
            self.down_levels.append(_Level(blocks, level in config.attention_levels))
            if level != last:
                self.downsamples.append(Downsample(ch))
                skip_widths.append(ch)

        mid_attention = last in config.attention_levels
        self.mid_block1 = ResBlock(ch, ch, tdim, config.dropout)
        self.mid_attention = PooledAttention2d(ch) if mid_attention else nn.Identity()
        self.mid_block2 = ResBlock(ch, ch, tdim, config.dropout)

        # Up path, coarsest level first; each block consumes one skip.
        self.up_levels = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level in reversed(range(config.num_levels)):
            width = widths[level]
            blocks = []
            for _ in range(config.num_res_blocks + 1):
                blocks.append(ResBlock(ch + skip_widths.pop(), width, tdim, config.dropout))
                ch = width
            self.up_levels.append(_Level(blocks, level in config.attention_levels))
            if level != 0:
                self.upsamples.append(Upsample(ch))
        assert not skip_widths

        self.norm_out = nn.GroupNorm(num_groups(ch), ch)
        self.conv_out = nn.Conv2d(ch, out_channels * cells, 3, padding=1)

    def _check_inputs(self, x_t: Tensor, t: Tensor, cond: Tensor | None) -> Tensor:
        if x_t.dim() != 4 or x_t.shape[1] != self.out_channels:
            raise ValueError(f"x_t must have shape (B, {self.out_channels}, H, W), "
                             f"got {tuple(x_t.shape)}")
        B, _, H, W = x_t.shape
        if H % self.stride or W % self.stride:
            raise ValueError(f"H and W must be multiples of the U-Net stride {self.stride}, "
                             f"got {H}x{W}")
        if self.cond_channels:
            if cond is None or cond.dim() != 4 or cond.shape[0] != B \
                    or cond.shape[1] != self.cond_channels or cond.shape[2:] != x_t.shape[2:]:
                got = None if cond is None else tuple(cond.shape)
                raise ValueError(f"cond must have shape ({B}, {self.cond_channels}, {H}, {W}), "
                                 f"got {got}")
        elif cond is not None and cond.numel() and cond.shape[1] != 0:
            raise ValueError(f"this U-Net has cond_channels=0 but got cond of shape "
                             f"{tuple(cond.shape)}")
        if not isinstance(t, Tensor):
            raise ValueError(f"t must be a (B,) integer tensor, got {type(t).__name__}")
        if t.dim() == 0:
            t = t.expand(B)
        if t.shape != (B,):
            raise ValueError(f"t must have shape ({B},), got {tuple(t.shape)}")
        return t

    def forward(self, x_t: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        """x_t (B, C, H, W), t (B,) long (a 0-dim t is broadcast), cond (B, C_cond, H, W)
        -> prediction (B, C, H, W). H and W must be multiples of ``self.stride``."""
        t = self._check_inputs(x_t, t, cond)
        temb = self.time_mlp(timestep_embedding(t, self.config.base_channels).to(x_t.dtype))
        h = torch.cat([x_t, cond], dim=1) if self.cond_channels else x_t
        h = self.conv_in(F.pixel_unshuffle(h, self.config.patch))

        skips = [h]
        for level, down in enumerate(self.down_levels):
            for block, attention in zip(down.blocks, down.attentions):
                h = attention(block(h, temb))
                skips.append(h)
            if level < len(self.downsamples):
                h = self.downsamples[level](h)
                skips.append(h)

        h = self.mid_block2(self.mid_attention(self.mid_block1(h, temb)), temb)

        for i, up in enumerate(self.up_levels):
            for block, attention in zip(up.blocks, up.attentions):
                h = attention(block(torch.cat([h, skips.pop()], dim=1), temb))
            if i < len(self.upsamples):
                h = self.upsamples[i](h)

        return F.pixel_shuffle(self.conv_out(F.silu(self.norm_out(h))), self.config.patch)
