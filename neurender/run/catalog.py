"""The shipped models as a user chooses among them: what each predicts and reads, and, when measured,
its quality beside its classic method and its time per 1080p frame.

A shipped model's folder may hold `runs.FIGURES` (``figures.json``, written by
``scripts/model_figures.py`` through `neurender.evaluation.shipping.write_figures`)::

    {"suite": "the views scored", "views": 24,
     "model": {"ssim": ..., "psnr": ..., "flip": ...},         surface means on those views
     "classic": {"method": "gtao", "ssim": ..., "psnr": ..., "flip": ...},
     "ms_1080p": 3479.1, "timing": "1920x1080, cpu, 2 threads, ...",  median of warm 1920x1080 frames
     "command": "how it was measured", "measured": "YYYY-MM-DD"}
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from neurender import effects
from neurender.base.errors import InputError
from neurender.models import gate
from neurender.run import runs
from neurender.run.inputs import guess_method

METRICS = ("ssim", "psnr", "flip")
"""The figures' metrics, in the order they print (surface SSIM, PSNR in dB, FLIP)."""


@dataclass(frozen=True)
class Quality:
    """Surface SSIM, PSNR (dB) and FLIP (lower is better) averaged over a suite's views."""

    ssim: float
    psnr: float
    flip: float

    def text(self) -> str:
        """``"SSIM / PSNR / FLIP"`` as the docs write them."""
        return f"{self.ssim:.3f} / {self.psnr:.2f} / {self.flip:.3f}"

    def beats(self, other: Quality) -> bool:
        """Better than ``other`` on all three metrics."""
        return self.ssim > other.ssim and self.psnr > other.psnr and self.flip < other.flip


@dataclass(frozen=True)
class Figures:
    """A shipped model's measured figures (the module docstring's ``figures.json``)."""

    suite: str
    views: int
    model: Quality
    classic_method: str
    classic: Quality
    ms_1080p: float
    timing: str
    command: str
    measured: str

    def to_json(self) -> dict:
        """The ``figures.json`` record."""
        return {"suite": self.suite, "views": self.views, "model": _metrics(self.model),
                "classic": {"method": self.classic_method} | _metrics(self.classic), "ms_1080p": self.ms_1080p,
                "timing": self.timing, "command": self.command, "measured": self.measured}

    @classmethod
    def from_json(cls, record: dict, where: str) -> Figures:
        """The figures of a ``figures.json`` record; InputError naming ``where`` when it is malformed."""
        try:
            figures = cls(suite=str(record["suite"]), views=int(record["views"]), model=_quality(record["model"]),
                          classic_method=str(record["classic"]["method"]), classic=_quality(record["classic"]),
                          ms_1080p=float(record["ms_1080p"]), timing=str(record["timing"]),
                          command=str(record["command"]), measured=str(record["measured"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where} is not a valid figures record: {type(exc).__name__} {exc}") from None
        numbers = [figures.ms_1080p, *_metrics(figures.model).values(), *_metrics(figures.classic).values()]
        if not all(math.isfinite(v) for v in numbers) or figures.ms_1080p <= 0 or figures.views < 1:
            raise InputError(f"{where} holds a non-finite or non-positive figure")
        return figures


def _metrics(quality: Quality) -> dict[str, float]:
    return {name: getattr(quality, name) for name in METRICS}


def _quality(record: dict) -> Quality:
    return Quality(**{name: float(record[name]) for name in METRICS})


def read_figures(folder: str) -> Figures | None:
    """The figures of the run folder ``folder`` (None when it has no `runs.FIGURES`)."""
    path = runs.path(folder, runs.FIGURES)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as handle:
            record = json.load(handle)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not readable JSON: {exc}") from None
    return Figures.from_json(record, path)


@dataclass(frozen=True)
class ShippedModel:
    """One shipped model: ``name`` (``pretrained:NAME``, what every ``--checkpoint`` takes), its
    effect and model family, the classic answer (or model) it reads, whether it has a trust gate,
    its weights' size in bytes and its measured `Figures` (None when not measured)."""

    name: str
    effect: str
    family: str
    reads: str
    gate: bool
    weights_bytes: int
    figures: Figures | None


def describe(name: str) -> ShippedModel:
    """The `ShippedModel` of ``pretrained:NAME`` (InputError for an unknown name)."""
    run = runs.open_run(name)
    config = run.config
    reads = config.first_guess or guess_method(effects.get(config.effect), config.inputs) or "the G-buffer only"
    return ShippedModel(name=name, effect=config.effect, family=config.model, reads=reads,
                        gate=os.path.isfile(runs.path(run.folder, gate.FILE)),
                        weights_bytes=os.path.getsize(run.checkpoint_path), figures=read_figures(run.folder))


def pretrained_models(effect: str | None = None) -> list[ShippedModel]:
    """Every shipped model (of ``effect`` only, when given), by name."""
    if effect is not None:
        effects.get(effect)  # InputError for an unknown effect
    return [describe(name) for name in runs.shipped(effect)]
