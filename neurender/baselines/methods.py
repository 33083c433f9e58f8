"""The classic methods as evaluation methods and first guesses (`METHODS`): each maps linear
G-buffer ``inputs`` (B, len(effect.inputs), H, W), ``mask`` (B, 1, H, W), the view's
`neurender.base.view.ViewParameters` and the effect to a linear prediction (B, C_target, H, W).
An effect lists the ones that predict it in its ``baselines`` field.

AO methods use the view's ``ao_radius`` and ``fov_x``, default parameters; ``gtao-half`` is GTAO at half
resolution with 3 slices x 3 steps (`reduced_resolution`), the fast tier's AO guess. ``fog-analytic`` uses
``sigma_t``, the airlight of `neurender.baselines.fog.background_airlight` and, for
background rays, ``background_distance``. ``gi-ambient`` is `neurender.baselines.gi.gi_ambient`
with AO from ``gtao``; ``gi-flat`` the same with no occlusion (AO = 1: direct light plus a flat
ambient term, a few operations per pixel). Each raises InputError when a parameter it needs is unset.
"""
from __future__ import annotations

import functools

import torch

from neurender.base.dataset import on_surface
from neurender.base.view import ViewParameters
from neurender.baselines.fog import background_airlight
from neurender.baselines.gi import gi_ambient
from neurender.baselines.kernels import fog, gtao, hbao, joint_bilateral_upsample, ssao
from neurender.baselines.upsample import nearest_downsample
from neurender.effects import ALBEDO, DEPTH, DIRECT, NORMAL, RGB


def _screen_ao(name: str, function):
    def method(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect) -> torch.Tensor:
        view.require(("fov_x", "ao_radius"), name)
        return function(effect.pick(inputs, DEPTH), effect.pick(inputs, NORMAL), mask, view.fov_x, view.ao_radius)
    return method


def reduced_resolution(method, divisor: int = 2):
    """``method`` run on every ``divisor``-th pixel of each row and column (point-sampled G-buffer: 1 /
    divisor^2 of the pixels), its answer upsampled to the full size guided by depth and normals
    (`joint_bilateral_upsample`), as games run XeGTAO at half resolution; the effect's
    off-mask value off the mask."""
    if divisor < 2:
        raise ValueError(f"divisor must be at least 2, got {divisor}")

    def run(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect) -> torch.Tensor:
        size = tuple(max(1, -(-n // divisor)) for n in mask.shape[-2:])
        low_inputs, low_mask = nearest_downsample(inputs, size), nearest_downsample(mask, size)
        low = effect.pick(low_inputs, DEPTH + NORMAL) * on_surface(low_mask)
        up = joint_bilateral_upsample(method(low_inputs, low_mask, view, effect), low[:, :1], low[:, 1:],
                                      effect.pick(inputs, DEPTH), effect.pick(inputs, NORMAL), mask)
        return effect.apply_off_mask(up, mask, in_place=True)
    return run


def fog_analytic(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect) -> torch.Tensor:
    view.require(("fov_x", "sigma_t"), "fog-analytic")
    rgb = effect.pick(inputs, RGB)
    return fog(rgb, effect.pick(inputs, DEPTH), mask, view.fov_x, view.sigma_t, background_airlight(rgb, mask),
               background_distance=view.background_distance)


def gi_ambient_gtao(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect) -> torch.Tensor:
    ao = METHODS["gtao"](inputs, mask, view, effect)
    return gi_ambient(effect.pick(inputs, DIRECT), effect.pick(inputs, ALBEDO), ao, mask)


def gi_flat(inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters, effect) -> torch.Tensor:
    return gi_ambient(effect.pick(inputs, DIRECT), effect.pick(inputs, ALBEDO), None, mask)


METHODS = {"ssao": _screen_ao("ssao", ssao), "hbao": _screen_ao("hbao", hbao), "gtao": _screen_ao("gtao", gtao),
           "gtao-half": reduced_resolution(_screen_ao("gtao-half", functools.partial(gtao, slices=3, steps=3))),
           "fog-analytic": fog_analytic, "gi-ambient": gi_ambient_gtao, "gi-flat": gi_flat}
