"""Tiled evaluation of a network (a GAN generator, a diffusion run's one-evaluation estimate) with the
whole image's statistics, so an image of any size is predicted with the memory of one tile and
(nearly) the output of an untiled call.

Three kinds of layer see the whole image: instance and group norm (per-channel or per-group mean and
variance) and `PooledAttention2d` (keys and values pooled from the whole map). Tiles alone would each use
their own statistics (measured on a 1080p frame: up to 0.6 AO off). So the layers are visited in
call order: for each, every tile runs up to it (earlier ones frozen at their whole-image values)
and adds its core's share to that layer's statistics, which are then frozen in turn. A last pass
runs every tile through and keeps its core. What remains is the convolutions' zero padding at tile
edges, kept out of the cores by the ``margin``.
"""
from __future__ import annotations

import torch
from torch import nn

from neurender.models.layers import PooledAttention2d, pooling_cells


class _Stop(Exception):
    """Ends a tile's forward pass once the layer being measured has seen its input."""


def _spans(size: int, core: int, margin: int) -> list[tuple[int, int, int, int]]:
    """(tile start, tile end, core start, core end) along one axis: cores of ``core`` pixels
    partition [0, size), tiles add ``margin`` pixels on each side (clipped to the image)."""
    return [(max(0, c - margin), min(size, c + core + margin), c, min(size, c + core))
            for c in range(0, size, core)]


def _global_layers(net: nn.Module, x: torch.Tensor) -> list[nn.Module]:
    """Instance and group norms and pooled attentions of ``net`` in the order a call on x (a small
    input) reaches them."""
    order = []
    hooks = [m.register_forward_pre_hook(lambda m, _: order.append(m)) for m in net.modules()
             if isinstance(m, (nn.InstanceNorm2d, nn.GroupNorm, PooledAttention2d))]
    try:
        net(x)
    finally:
        for hook in hooks:
            hook.remove()
    return order


class _Statistics:
    """Whole-image statistics of one layer, summed from the tiles' cores (float64)."""

    def __init__(self, layer: nn.Module, height: int, width: int):
        self.layer, self.height, self.width = layer, height, width
        self.sums = self.rows = self.cols = None
        self.scale = 1

    def add(self, feature: torch.Tensor, tile: tuple, core: tuple) -> None:
        """feature (B, C, h, w): the layer's input on a tile; tile, core: (rows, cols) slices of the
        tile and of its core in pixels of the image."""
        self.scale = s = (tile[0].stop - tile[0].start) // feature.shape[-2]        # pixels per feature cell
        rows, cols = (slice(c.start // s, c.stop // s) for c in core)                # in the whole feature map
        core = feature[..., rows.start - tile[0].start // s:rows.stop - tile[0].start // s,
                       cols.start - tile[1].start // s:cols.stop - tile[1].start // s].double()
        if isinstance(self.layer, (nn.InstanceNorm2d, nn.GroupNorm)):
            part = torch.stack([core.sum((2, 3)), (core ** 2).sum((2, 3))])          # (2, B, C)
        else:
            if self.rows is None:
                cells = self.layer.pooled_size(self.height // s, self.width // s)
                self.rows, self.cols = pooling_cells(self.height // s, cells[0]), pooling_cells(self.width // s, cells[1])
            part = torch.einsum("pr,bcrw,qw->bcpq", self.rows[:, rows], core, self.cols[:, cols])
        self.sums = part if self.sums is None else self.sums + part

    def frozen_forward(self):
        """The layer's forward with these whole-image statistics in place of the tile's own."""
        layer = self.layer
        if isinstance(layer, nn.InstanceNorm2d):
            count = self.height * self.width / self.scale ** 2
            mean = self.sums[0] / count
            var = (self.sums[1] / count - mean ** 2).clamp_min(0)
            mean, inv = mean.float()[..., None, None], torch.rsqrt(var.float() + layer.eps)[..., None, None]
            if layer.affine:
                return lambda x: (x - mean) * inv * layer.weight[:, None, None] + layer.bias[:, None, None]
            return lambda x: (x - mean) * inv
        if isinstance(layer, nn.GroupNorm):  # the channels' sums pooled per group
            b, c = self.sums.shape[1:]
            sums = self.sums.reshape(2, b, layer.num_groups, c // layer.num_groups).sum(-1)
            count = self.height * self.width / self.scale ** 2 * (c // layer.num_groups)
            mean = sums[0] / count
            inv = torch.rsqrt((sums[1] / count - mean ** 2).clamp_min(0) + layer.eps)
            mean, inv = (v.float().repeat_interleave(c // layer.num_groups, 1)[..., None, None] for v in (mean, inv))
            if layer.affine:
                return lambda x: (x - mean) * inv * layer.weight[:, None, None] + layer.bias[:, None, None]
            return lambda x: (x - mean) * inv
        pooled = (self.sums / (self.rows.sum(1)[:, None] * self.cols.sum(1)[None, :])).float()
        return lambda x: layer.attend(x, pooled)


@torch.no_grad()
def tiled(net: nn.Module, x: torch.Tensor, tile: int, margin: int, stride: int) -> torch.Tensor:
    """``net`` (instance or group norms, pooled attention, convolutions) on x (B, C, H, W)
    in tiles of at most ``tile`` pixels a side -> (B, C_out, H, W).

    H, W, ``tile`` and ``margin`` must be multiples of ``stride`` (the network's), with
    ``tile > 2 * margin``; each tile's output is kept on its core, ``tile - 2 * margin`` pixels.
    """
    height, width = x.shape[-2:]
    if any(v % stride for v in (height, width, tile, margin)) or tile <= 2 * margin:
        raise ValueError(f"tiled needs H={height}, W={width}, tile={tile}, margin={margin} multiples of "
                         f"{stride} and tile > 2 * margin")
    core = tile - 2 * margin
    tiles = [((slice(t0, t1), slice(u0, u1)), (slice(c0, c1), slice(d0, d1)))
             for t0, t1, c0, c1 in _spans(height, core, margin) for u0, u1, d0, d1 in _spans(width, core, margin)]
    frozen: list[nn.Module] = []
    try:
        for layer in _global_layers(net, x[..., :stride, :stride]):
            statistics = _Statistics(layer, height, width)
            for tile_at, core_at in tiles:
                def measure(_, args, tile_at=tile_at, core_at=core_at):
                    statistics.add(args[0], tile_at, core_at)
                    raise _Stop

                hook = layer.register_forward_pre_hook(measure)
                try:
                    net(x[(...,) + tile_at])
                except _Stop:
                    pass
                finally:
                    hook.remove()
            layer.forward = statistics.frozen_forward()
            frozen.append(layer)
        out = None
        for (rows, cols), (core_rows, core_cols) in tiles:
            y = net(x[..., rows, cols])
            if out is None:
                out = y.new_empty(y.shape[:2] + (height, width))
            out[..., core_rows, core_cols] = y[..., core_rows.start - rows.start:core_rows.stop - rows.start,
                                               core_cols.start - cols.start:core_cols.stop - cols.start]
    finally:
        for layer in frozen:
            del layer.forward
    return out
