"""The classic methods as evaluation methods (:data:`METHODS`): each maps a batched dataset item
(see :class:`neurender.data.GBufferDataset`, batch of one) and its effect to a linear prediction
(1, C_target, H, W). An effect lists the ones that predict it in its ``baselines`` field.

AO methods use the scene's ``ao_radius`` (the dataset's AO ray length) and the view camera's
``fov_x``, default parameters. ``fog-analytic`` uses the scene's absolute ``sigma_t``, the
airlight of :func:`neurender.baselines.fog.background_airlight` and, for background rays, the
item's ``background_distance`` (the distance to the renderer's fog volume boundary).
``gi-ambient`` is :func:`neurender.baselines.gi.gi_ambient` with AO from ``gtao``.
"""
from __future__ import annotations

import math

import torch

from neurender.baselines.fog import background_airlight, fog
from neurender.baselines.gi import gi_ambient
from neurender.baselines.gtao import gtao
from neurender.baselines.hbao import hbao
from neurender.baselines.ssao import ssao
from neurender.effects import ALBEDO, DEPTH, DIRECT, NORMAL, RGB


def _screen_ao(function):
    def method(item: dict, effect) -> torch.Tensor:
        inputs = item["input"]
        return function(effect.pick(inputs, DEPTH), effect.pick(inputs, NORMAL), item["mask"],
                        float(item["fov_x"]), float(item["ao_radius"]))
    return method


def fog_analytic(item: dict, effect) -> torch.Tensor:
    rgb, mask = effect.pick(item["input"], RGB), item["mask"]
    distance = float(item["background_distance"])
    return fog(rgb, effect.pick(item["input"], DEPTH), mask, float(item["fov_x"]), float(item["fog"]["sigma_t"]),
               background_airlight(rgb, mask), background_distance=distance if distance > 0 else math.inf)


def gi_ambient_gtao(item: dict, effect) -> torch.Tensor:
    ao = _screen_ao(gtao)(item, effect)
    return gi_ambient(effect.pick(item["input"], DIRECT), effect.pick(item["input"], ALBEDO), ao, item["mask"])


METHODS = {"ssao": _screen_ao(ssao), "hbao": _screen_ao(hbao), "gtao": _screen_ao(gtao),
           "fog-analytic": fog_analytic, "gi-ambient": gi_ambient_gtao}
