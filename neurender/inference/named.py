"""Named channels in and out: a dict of numpy arrays or torch tensors <-> one (B, C, H, W) tensor.

What the Python API takes: channel name -> array of any real dtype, (H, W) for one view or (B, H, W)
for a batch, all of one shape and one kind (numpy or torch); what it gives back: the same kind and
shape, float32.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from neurender import effects
from neurender.base.dataset import on_surface, surface_from_depth
from neurender.base.errors import InputError


@dataclass(frozen=True)
class Batch:
    """The stacked channels (B, C, H, W) float32 and how to give results back as they came."""

    tensor: torch.Tensor
    numpy: bool
    batched: bool
    device: torch.device

    def unstack(self, channel: torch.Tensor):
        """One result channel (B, H, W) -> the input's kind and shape, float32."""
        channel = channel if self.batched else channel[0]
        return channel.float().cpu().numpy() if self.numpy else channel.float().to(self.device)


def with_mask(channels: Mapping) -> Mapping:
    """``channels`` with ``mask.Y`` derived from ``depth.Z`` when it is absent (convert's rule,
    `neurender.base.dataset.surface_from_depth`) and the depth made 0 off the surface; as given otherwise."""
    depth = channels.get(effects.DEPTH[0]) if isinstance(channels, Mapping) else None
    if depth is None or effects.MASK in channels:
        return channels
    if isinstance(depth, torch.Tensor):
        on = surface_from_depth(depth)
        return {**channels, effects.MASK: on.float(), effects.DEPTH[0]: depth.where(on, 0.0)}
    on = surface_from_depth(np.asarray(depth))
    return {**channels, effects.MASK: on.astype(np.float32), effects.DEPTH[0]: np.where(on, depth, 0.0)}


def check_contract(channels: Mapping) -> None:
    """InputError, with the count, for a mask value outside [0, 1] or a surface pixel (mask > 0.5) whose
    depth is not positive: the dataset contract (docs/dataset.md) that the classic methods rely on.
    ``channels``: name -> numpy array or tensor."""
    if effects.MASK not in channels:
        return
    mask = torch.as_tensor(channels[effects.MASK])
    outside = int(((mask < 0) | (mask > 1)).sum())
    if outside:
        raise InputError(f"{effects.MASK} has {outside} value(s) outside [0, 1]: give 1 on surfaces, 0 elsewhere")
    depth = channels.get(effects.DEPTH[0])
    behind = 0 if depth is None else int((on_surface(mask) & (torch.as_tensor(depth) <= 0)).sum())
    if behind:
        raise InputError(f"{behind} surface pixel(s) ({effects.MASK} > 0.5) have {effects.DEPTH[0]} <= 0: depth is the "
                         "camera-space z of the surface, positive")


def stack(channels: Mapping, names, who: str) -> Batch:
    """``channels[name]`` for each of ``names`` as one `Batch`; InputError naming what is wrong
    (missing channels and what ``who`` reads, mixed kinds or shapes, non-real dtypes, other ranks,
    non-finite values with their count per channel)."""
    if not isinstance(channels, Mapping):
        raise InputError(f"{who} takes a dict of named channels (name -> array), not {type(channels).__name__}")
    missing = [n for n in names if n not in channels]
    if missing:
        raise InputError(f"missing channels {', '.join(missing)}: {who} reads {', '.join(names)}")
    values = [channels[n] for n in names]
    kinds = {isinstance(v, torch.Tensor) for v in values}
    if len(kinds) > 1:
        raise InputError("channels mix numpy arrays and torch tensors; give one kind")
    is_torch = kinds == {True}
    arrays = [v if is_torch else np.asarray(v) for v in values]
    for name, a in zip(names, arrays):
        real = not (a.dtype.is_complex or a.dtype == torch.bool) if is_torch \
            else np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
        if not real:
            raise InputError(f"channel {name} has dtype {a.dtype}; give real numbers")
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        raise InputError("channels differ in shape: " + ", ".join(f"{n} {tuple(a.shape)}" for n, a in zip(names, arrays)))
    shape = shapes.pop()
    if len(shape) not in (2, 3):
        raise InputError(f"channels must be (H, W) or (B, H, W), got shape {shape}")
    if 0 in shape:
        raise InputError(f"channels are empty: shape {shape}")
    if len(shape) == 3 and shape[-1] == 1:
        raise InputError(f"channels of shape {shape} read as {shape[0]} images of {shape[1]}x1: give (H, W) arrays "
                         "(drop the last axis) or (B, H, W) batches")
    tensors = [a.float() if is_torch else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays]
    tensor = torch.stack(tensors, dim=-3)
    if not bool(torch.isfinite(tensor).all()):
        bad = {n: int((~torch.isfinite(t)).sum()) for n, t in zip(names, tensors)}
        raise InputError("non-finite values (NaN or Inf): " + ", ".join(f"{n} {c}" for n, c in bad.items() if c))
    check_contract(dict(zip(names, tensors)))
    device = tensors[0].device
    return Batch(tensor if len(shape) == 3 else tensor[None], not is_torch, len(shape) == 3, device)
