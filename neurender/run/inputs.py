"""What a network reads: the G-buffer in model space, and for scaled runs the physically scaled
channels and the classic method's answer.

A run's ``inputs`` field (`neurender.run.config.TrainConfig`) says which:

* ``gbuffer``: the effect's `network_inputs` in the space of
  `neurender.space.network_input` (depth divided by the image's mean depth: nothing tells the
  network the scene's size, the field of view or the fog's density);
* ``scaled``: those, then the effect's ``derived`` channels (`DERIVED`), then its
  ``first_guess`` (the classic method, in the target's model space). The generator predicts a
  residual over the first guess (`neurender.models.acgan.ResidualGenerator`);
* ``derived``: the G-buffer, the derived channels and the effect's ``cheap_guess`` (the fast tier's:
  AO's is ``gtao-half``, GTAO at half resolution with 3 x 3 samples; fog's the analytic fog; GI's
  ``gi-flat``, GI's first guess without GTAO).

The derived channels, each (B, 1, H, W) from linear ``inputs``, ``mask`` and the view's
`ViewParameters`, with z the z-depth, d the camera ray length
(world units), f = (W / 2) / tan(fov_x / 2) the focal length in pixels and R the AO radius:

    radius_px      log2(max(R f / z, 1/16)) / 4: how many pixels the AO radius spans (0 off the mask)
    optical_depth  2 tau / (1 + tau) - 1 with tau = sigma_t d (d = background_distance off the mask)
    transmittance  2 exp(-tau) - 1
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from neurender import space
from neurender.base.dataset import on_surface
from neurender.base.view import ViewParameters
from neurender.baselines.camera import focal_pixels, ray_lengths
from neurender.baselines.methods import METHODS
from neurender.effects import DEPTH, Effect


def _depth(inputs: torch.Tensor, effect: Effect) -> torch.Tensor:
    return effect.pick(inputs, DEPTH)


def radius_px(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect: Effect) -> torch.Tensor:
    """The AO radius in pixels at each pixel's depth, R f / z, as log2(max(., 1/16)) / 4; 0 off the mask."""
    depth = _depth(inputs, effect)
    pixels = depth.clamp_min(1e-8).reciprocal_().mul_(view.ao_radius * focal_pixels(depth.shape[-1], view.fov_x))
    return pixels.clamp_min_(1 / 16).log2_().div_(4).masked_fill_(on_surface(mask).logical_not_(), 0.0)


def _optical_depth(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect: Effect) -> torch.Tensor:
    """tau = sigma_t * camera ray length (the background's distance off the mask; may be inf)."""
    depth = _depth(inputs, effect)
    distance = ray_lengths(depth, view.fov_x).masked_fill_(on_surface(mask).logical_not(), view.background_distance)
    return distance.mul_(view.sigma_t) if view.sigma_t > 0 else distance.zero_()


def optical_depth(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect: Effect) -> torch.Tensor:
    """The optical depth tau along the camera ray as 2 tau / (1 + tau) - 1 (1 for an infinite one)."""
    tau = _optical_depth(inputs, mask, view, effect)
    return tau.add_(1).reciprocal_().mul_(-2).add_(1)  # = 1 - 2 / (1 + tau), in place; tau = inf: 1


def transmittance(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect: Effect) -> torch.Tensor:
    """The transmittance exp(-tau) of the camera ray, as 2 exp(-tau) - 1."""
    return _optical_depth(inputs, mask, view, effect).neg_().exp_().mul_(2).sub_(1)


DERIVED = {"radius_px": radius_px, "optical_depth": optical_depth, "transmittance": transmittance}
"""Derived channel name -> function (inputs, mask, view, effect) -> (B, 1, H, W), see the module docstring."""


def scaled_channels(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect: Effect,
                    kind: str = "scaled", out: torch.Tensor | None = None) -> torch.Tensor:
    """The derived channels and the guess (`guess_method`, if any) of a run reading ``kind`` inputs
    (B, len(derived) [+ C_target], H, W), from a whole view (the classic methods need the whole image:
    compute this before cropping or tiling); written into ``out`` if given. InputError when ``view``
    lacks a parameter the effect needs."""
    view.require(effect.parameters, f"effect {effect.name}")
    method = guess_method(effect, kind)
    if out is None:
        count = len(effect.derived) + (len(effect.guess_channels) if method else 0)
        out = mask.new_empty((mask.shape[0], count, *mask.shape[2:]))  # may have no channel
    for i, name in enumerate(effect.derived):
        out[:, i:i + 1].copy_(DERIVED[name](inputs, mask, view, effect))
    if method:  # the guess goes straight into its place (no copy of a 1080p image)
        space.target_to_model_space(METHODS[method](inputs, mask, view, effect), effect,
                                    out=out[:, len(effect.derived):])
    return out


def balanced(inputs: torch.Tensor, effect: Effect, balances: bool, out: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(inputs, light) of a whole view: with ``balances`` (a run's ``balances_light``) its light (B, 3, 1, 1)
    (`neurender.space.light_scale`) divided out of the radiance inputs (into ``out`` if given), else
    the inputs as they are and None."""
    if not balances:
        return inputs, None
    light = space.light_scale(inputs, effect)
    return space.divide_light(inputs, light, effect, out=out), light


def view_input(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect: Effect, kind: str,
               out: torch.Tensor | None = None) -> torch.Tensor:
    """The network input x (B, len(`channels`), H, W) of a whole view for a run reading ``kind`` inputs:
    the G-buffer channels in model space, then (unless "gbuffer") the derived channels and the guess;
    written into ``out`` if given. What training crops and prediction tiles: both build it here."""
    gbuffer = len(effect.network_inputs)
    if out is None:
        out = inputs.new_empty((inputs.shape[0], len(channels(effect, kind)), *inputs.shape[2:]))
    space.network_input(inputs, mask, effect, out=out[:, :gbuffer])
    if INPUT_KINDS[kind].reads_view:
        scaled_channels(inputs, mask, view, effect, kind, out[:, gbuffer:])
    return out


@dataclass(frozen=True)
class InputKind:
    """What a run's ``inputs`` reads besides the G-buffer: the view (derived channels) or not, and the
    `Effect` field naming the classic method whose answer it reads (None: none)."""

    reads_view: bool
    guess: str | None


INPUT_KINDS = {"gbuffer": InputKind(False, None), "scaled": InputKind(True, "first_guess"),
               "derived": InputKind(True, "cheap_guess")}
"""One record per value of a run's ``inputs`` (`neurender.run.config.INPUTS`)."""


def guess_method(effect: Effect, kind: str) -> str | None:
    """The classic method whose answer a run reading ``kind`` inputs reads and predicts a residual over:
    the effect's ``first_guess`` for "scaled", its ``cheap_guess`` for "derived", None for "gbuffer"."""
    field = INPUT_KINDS[kind].guess
    return getattr(effect, field) if field else None


def channels(effect: Effect, kind: str) -> tuple[str, ...]:
    """The input channel names of a network of run inputs ``kind`` ("gbuffer", "derived" or "scaled"):
    `network_inputs`, then (unless "gbuffer") the derived channels
    and the guess's channels, if any."""
    if not INPUT_KINDS[kind].reads_view:
        return effect.network_inputs
    return effect.network_inputs + effect.derived + (effect.guess_channels if guess_method(effect, kind) else ())


def guess_index(effect: Effect, kind: str) -> list[int] | None:
    """Positions of the guess's channels in `channels`; None when a run reading ``kind`` has no guess."""
    names = channels(effect, kind)
    return [names.index(n) for n in effect.guess_channels] if guess_method(effect, kind) else None

