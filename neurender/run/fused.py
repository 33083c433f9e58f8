"""A whole view's network input, and a network's output back to linear values, as one Dr.Jit kernel each.

Built from torch, `neurender.run.inputs.view_input` makes a 1080p network input in about four passes over
each of its channels (a fast network's input then costs as much as the network) and
`neurender.space.from_model_space` returns in eight passes. Here each is one pass per pixel, in row order
(`neurender.baselines.kernels.Lanes`), with the same formulas (`neurender.space`,
`neurender.run.inputs`): `network_input` and `to_linear` give what their torch references give (the
tests hold them within 1e-5), and run where the classic kernels run (`neurender.baselines.kernels.backend`).
"""
from __future__ import annotations

from types import ModuleType

import torch

from neurender import space
from neurender.base.dataset import ALBEDO, DEPTH, on_surface
from neurender.base.mitsuba import dr
from neurender.base.view import ViewParameters
from neurender.baselines.camera import focal_pixels
from neurender.baselines.kernels import Lanes, Rays, batch

CHANNEL_KINDS = ("radiance", "albedo", "depth", "as is")
"""How a G-buffer channel enters the network (`neurender.space`): Reinhard to [-1, 1), [0, 1] to [-1, 1],
divided by the image's mean depth on the mask and shifted by 1, or as it is; then times the mask."""


def channel_kind(name: str) -> str:
    """The `CHANNEL_KINDS` entry of dataset channel ``name`` (``mask.Y`` and normals: as is)."""
    if space.is_radiance(name):
        return "radiance"
    return "albedo" if name in ALBEDO else "depth" if name in DEPTH else "as is"


def _tone_map(x):
    """1 - 2 / (1 + max(x, 0)): `neurender.space`'s Reinhard to [-1, 1)."""
    return 1.0 - 2.0 / (dr.maximum(x, 0.0) + 1.0)


def _derived(jit: ModuleType, name: str, lanes: Lanes, depth, on, view: ViewParameters):
    """Derived channel ``name`` (`neurender.run.inputs.DERIVED`) on the lanes, from their depth and mask."""
    Float = jit.Float
    if name == "radius_px":
        scale = dr.opaque(Float, view.ao_radius * focal_pixels(lanes.shape[1], view.fov_x))
        pixels = scale / dr.maximum(depth, 1e-8)
        return dr.select(on, dr.log2(dr.maximum(pixels, 1 / 16)) / 4, 0.0)
    x, y = Rays(jit, *lanes.shape, view.fov_x)(Float(lanes.j) + 0.5, Float(lanes.i) + 0.5)
    sigma = view.sigma_t if view.sigma_t > 0 else 0.0
    background = sigma * view.background_distance if sigma > 0 else 0.0  # sigma 0, distance inf: 0
    tau = dr.select(on, dr.opaque(Float, sigma) * depth * dr.sqrt(1.0 + x * x + y * y), dr.opaque(Float, background))
    if name == "optical_depth":
        return dr.select(dr.isinf(tau), 1.0, 1.0 - 2.0 / (tau + 1.0))
    if name == "transmittance":
        return 2.0 * dr.exp(-tau) - 1.0
    raise ValueError(f"no kernel for derived channel {name!r}")


def _network_input(jit: ModuleType, inputs: torch.Tensor, mask: torch.Tensor, kinds: tuple[str, ...],
                   sees_mask: bool, mean_depth: float, depth_index: int, derived: tuple[str, ...],
                   view: ViewParameters, guess: torch.Tensor | None, hdr: bool) -> torch.Tensor:
    """One image of `network_input`: inputs (C_in, H, W), mask (1, H, W), guess (C_t, H, W) or None -> (1, C, H, W)."""
    lanes = Lanes(jit, *mask.shape[-2:], tiled=False)
    m = lanes.read(mask[0])
    out = []
    for c, kind in enumerate(kinds):
        value = lanes.read(inputs[c])
        if kind == "radiance":
            value = _tone_map(value)
        elif kind == "albedo":
            value = dr.clip(value, 0.0, 1.0) * 2.0 - 1.0
        elif kind == "depth":
            value = value / dr.opaque(jit.Float, max(mean_depth, 1e-8)) - 1.0
        out.append(value * m)
    if sees_mask:
        out.append(m * m)
    if derived:
        depth, on = lanes.read(inputs[depth_index]), on_surface(m)
        out += [_derived(jit, name, lanes, depth, on, view) for name in derived]
    if guess is not None:
        values = [lanes.read(g) for g in guess]
        out += [_tone_map(v) if hdr else dr.clip(v, 0.0, 1.0) * 2.0 - 1.0 for v in values]
    return lanes.write(out)


def network_input(jit: ModuleType, inputs: torch.Tensor, mask: torch.Tensor, effect, derived: tuple[str, ...] = (),
                  view: ViewParameters = ViewParameters(), guess: torch.Tensor | None = None) -> torch.Tensor:
    """`neurender.space.network_input` of linear ``inputs`` (B, len(effect.inputs), H, W) and ``mask``
    (B, 1, H, W), then the ``derived`` channels of the view (`neurender.run.inputs.DERIVED`) and the linear
    ``guess`` (B, C_target, H, W) in the target's model space: (B, C, H, W), as
    `neurender.run.inputs.view_input` lays it out. ``jit``: `neurender.baselines.kernels.backend`'s module."""
    kinds = tuple(channel_kind(name) for name in effect.inputs)
    depth_index = effect.inputs.index(DEPTH[0])
    depth = inputs[:, depth_index:depth_index + 1]
    means = ((depth * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3)).clamp_min(1)).flatten().tolist()
    return batch([_network_input(jit, inputs[b], mask[b], kinds, effect.sees_mask, means[b], depth_index, derived,
                                 view, None if guess is None else guess[b], effect.hdr)
                  for b in range(inputs.shape[0])], inputs.dtype)


def _to_linear(jit: ModuleType, raw: torch.Tensor, light: list[float] | None, mask: torch.Tensor | None,
               off_mask: float | None, hdr: bool) -> torch.Tensor:
    """One image of `to_linear`: raw (C, H, W), mask (1, H, W) or None -> (1, C, H, W)."""
    lanes = Lanes(jit, *raw.shape[-2:], tiled=False)
    off = None if mask is None or off_mask is None else ~on_surface(lanes.read(mask[0]))
    out = []
    for c in range(raw.shape[0]):
        u = dr.clip((lanes.read(raw[c]) + 1.0) * 0.5, 0.0, 1.0)
        value = 1.0 / (1.0 - dr.minimum(u, 0.999)) - 1.0 if hdr else u
        if light is not None:
            value = value * dr.opaque(jit.Float, light[c])
        out.append(value if off is None else dr.select(off, off_mask, value))
    return lanes.write(out)


def to_linear(jit: ModuleType, raw: torch.Tensor, effect, light: torch.Tensor | None = None,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """`neurender.space.from_model_space` of network output ``raw`` (B, C, H, W), times the view's ``light``
    (B, 3, 1, 1) when given, with the effect's off-mask value where ``mask`` (B, 1, H, W) marks no surface
    when given: (B, C, H, W) linear, float32."""
    lights = None if light is None else light.reshape(light.shape[0], -1).tolist()
    return batch([_to_linear(jit, raw[b], None if lights is None else lights[b], None if mask is None else mask[b],
                             effect.off_mask, effect.hdr) for b in range(raw.shape[0])], torch.float32)
