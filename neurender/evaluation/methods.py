"""The methods an evaluation compares: classic baselines by name, and runs (folders or ``pretrained:NAME``).

A baseline is a name of `neurender.baselines.methods.METHODS` listed in the effect's
``baselines``; anything else must be a run of the same effect. `Methods` resolves the names
once, keeps one `neurender.inference.predictor.Predictor` per run, and runs a method on a
batched dataset item. With temporal blends, every method also runs as ``NAME + blend W`` for each weight
W: its frames along each camera path through `neurender.inference.temporal.TemporalBlend`.
"""
from __future__ import annotations

import torch

from neurender import effects
from neurender.base.camera import Camera
from neurender.base.errors import InputError
from neurender.baselines.methods import METHODS
from neurender.device import DeviceOptions
from neurender.inference.predictor import Predictor
from neurender.inference.sampling import SamplingOptions
from neurender.inference.temporal import TemporalBlend
from neurender.run import runs


class Methods:
    """``names`` (None or empty: every baseline of ``effect``) resolved for ``effect``; runs predict
    with ``sampling`` on ``devices`` (baselines run on the CPU, where the dataset's tensors are); with
    ``temporal_blends`` (weights), each also as ``NAME + blend W`` per weight (module docstring).
    InputError for an unknown effect, a method that does not apply to it, or a weight outside (0, 1]."""

    def __init__(self, effect: str, names=None, sampling: SamplingOptions = SamplingOptions(),
                 devices: DeviceOptions = DeviceOptions(), temporal_blends=()):
        self.effect = effects.get(effect)
        valid = self.effect.baselines
        names = [names] if isinstance(names, str) else list(names or valid)
        unknown = [m for m in names if m not in valid and not runs.is_run(m)]
        if unknown:
            raise InputError(f"unknown method {', '.join(map(repr, unknown))} for effect {effect}; "
                             f"valid methods: {', '.join(valid) or 'none'} or a training run directory")
        self.names = list(dict.fromkeys(names))
        self.predictors = {name: Predictor(name, sampling, devices=devices)
                           for name in self.names if name not in valid}
        for name, predictor in self.predictors.items():
            if predictor.effect.name != effect:
                raise InputError(f"run {name} predicts {predictor.effect.name}, not {effect}")
        try:
            self.blends = {f"{self.label(name)} + blend {weight:g}": (name, TemporalBlend(weight))
                           for weight in dict.fromkeys(temporal_blends) for name in self.names}
        except ValueError as exc:  # the blend's own check of its weight
            raise InputError(f"--temporal-blend: {exc}") from None
        self.blended_frame: dict[str, tuple] = {}
        self.names += list(self.blends)

    def label(self, name: str) -> str:
        """A method's name in tables: a baseline's or ``pretrained:NAME`` as is, a run folder's own name."""
        return self.predictors[name].run.label if name in self.predictors else name

    def run(self, name: str, item: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(linear prediction, uncertainty) of method ``name`` for a batched item (batch of one), both
        (1, C_target, H, W); the uncertainty is None but for diffusion runs drawing several samples.
        A blended method needs the item's views.jsonl ``record`` (its camera, its frame on a path); its
        history restarts unless the item is the next frame of the one before."""
        if name in self.blends:
            return self._blended(name, item), None
        view = item["parameters"]
        if name not in self.predictors:
            return METHODS[name](item["input"], item["mask"], view, self.effect), None
        predictor = self.predictors[name]
        prediction, std = predictor.predict(item["input"], item["mask"], view)
        return prediction, (std if predictor.model.stochastic and predictor.sampling.samples > 1 else None)

    def _blended(self, name: str, item: dict) -> torch.Tensor:
        method, blend = self.blends[name]
        record = item["record"]
        frame = (record["scene"], record["sequence"]["frame"]) if "sequence" in record else None
        last = self.blended_frame.get(name)
        if frame is None or last is None or frame != (last[0], last[1] + 1):
            blend.reset()
        self.blended_frame[name] = frame
        depth = self.effect.pick(item["input"], effects.DEPTH)
        return blend(self.run(method, item)[0], depth, item["mask"], Camera.from_json(record["camera"]))
