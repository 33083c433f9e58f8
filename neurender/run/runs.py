"""The run folder: the one module that knows its file names and how to read them.

A run folder (``neurender train --out RUN``, pix2pix style) holds::

    RUN/config.json              the resolved TrainConfig
    RUN/checkpoint.safetensors   weights, EMA, optimizer state, step and RNG state (one atomic file)
    RUN/log.jsonl                losses every log_every steps; sample metrics every sample_every steps
    RUN/samples/step_NNNNNN.png  prediction | target of a few fixed views (TensorBoard shows them too)
    RUN/calibration.json         a diffusion run's fitted uncertainty scale (``neurender calibrate``)
    RUN/MODEL_CARD.md            a shipped model's card (``neurender export --format shipped``)
    RUN/figures.json             a shipped model's measured quality and 1080p time (`neurender.run.catalog`)

A shipped model (``pretrained:NAME``) is such a folder inside the package (``neurender/pretrained/``)
reduced to what prediction needs. Wherever a run is accepted, `open_run` takes a folder or
``pretrained:NAME``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from neurender.base.atomic import write_json_atomic
from neurender.base.errors import InputError
from neurender.run.checkpoint import read_checkpoint
from neurender.run.config import TrainConfig

CONFIG = "config.json"
CHECKPOINT = "checkpoint.safetensors"
LOG = "log.jsonl"
SAMPLES = "samples"
TENSORBOARD = "tensorboard"
CALIBRATION = "calibration.json"
MODEL_CARD = "MODEL_CARD.md"
FIGURES = "figures.json"

PREFIX = "pretrained:"
SHIPPED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pretrained")
"""The folder of the shipped models (one run folder per name)."""


def path(folder: str, name: str) -> str:
    """The path of file ``name`` (one of this module's constants) in run folder ``folder``."""
    return os.path.join(folder, name)


def _shipped_folders() -> list[str]:
    """The folder names under `SHIPPED` that hold a run config, sorted."""
    if not os.path.isdir(SHIPPED):
        return []
    return sorted(n for n in os.listdir(SHIPPED) if os.path.isfile(os.path.join(SHIPPED, n, CONFIG)))


def shipped(effect: str | None = None) -> list[str]:
    """The shipped models as ``pretrained:NAME``, sorted (those that predict ``effect`` only, when given)."""
    return [PREFIX + n for n in _shipped_folders()
            if effect is None or load_config(os.path.join(SHIPPED, n)).effect == effect]


def resolve(name: str) -> str:
    """The folder of run ``name``: itself, or the shipped folder of ``pretrained:NAME`` (InputError
    for an unknown shipped name)."""
    if not name.startswith(PREFIX):
        return name
    model = name[len(PREFIX):]
    if model not in _shipped_folders():
        raise InputError(f"no shipped model {model!r}; shipped: {', '.join(_shipped_folders()) or 'none'}")
    return os.path.join(SHIPPED, model)


def is_run(name: str) -> bool:
    """Whether ``name`` is a run folder or ``pretrained:NAME`` (an unknown shipped name is an InputError)."""
    return os.path.isfile(path(resolve(name), CONFIG))


def load_config(folder: str) -> TrainConfig:
    """The TrainConfig of run folder ``folder``; InputError when missing or invalid."""
    file = path(folder, CONFIG)
    try:
        with open(file) as handle:
            return TrainConfig.from_json(json.load(handle))
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{folder} is not a training run ({CONFIG} missing)") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{file} is not a valid run config: {exc}") from None


def save_config(folder: str, config: TrainConfig) -> None:
    """Write ``config`` as the run's config.json (atomically)."""
    write_json_atomic(path(folder, CONFIG), config.to_json())


def read_calibration(folder: str) -> dict | None:
    """The content of the run's calibration.json, or None when it has none (InputError when invalid)."""
    file = path(folder, CALIBRATION)
    if not os.path.isfile(file):
        return None
    try:
        with open(file) as handle:
            calibration = json.load(handle)
        float(calibration["std_scale"]), int(calibration["steps"]), int(calibration["samples"]), calibration["sampler"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{file} is not a valid calibration: {exc}") from None
    return calibration


@dataclass(frozen=True)
class Run:
    """A run as given (``name``: a folder or ``pretrained:NAME``), its ``folder`` and its ``config``."""

    name: str
    folder: str
    config: TrainConfig

    @property
    def label(self) -> str:
        """Its name in tables: ``pretrained:NAME``, or the folder's own name."""
        return self.name if self.name.startswith(PREFIX) else os.path.basename(os.path.normpath(self.folder))

    @property
    def checkpoint_path(self) -> str:
        return path(self.folder, CHECKPOINT)

    def read_checkpoint(self) -> tuple[dict, dict]:
        """(tensors, metadata) of its checkpoint; InputError when missing or corrupt."""
        return read_checkpoint(self.checkpoint_path)

    def calibration(self) -> dict | None:
        return read_calibration(self.folder)


def same_inputs(run: Run, config: TrainConfig, flag: str, *, same_kind: bool = True) -> None:
    """InputError unless ``run`` (given with ``flag``) reads what a run of ``config`` reads: the light
    balanced or not alike and, when ``same_kind``, the same input kind (``--init`` passes False when the
    two kinds read the same channels)."""
    if same_kind and run.config.inputs != config.inputs:
        raise InputError(f"{flag} {run.name} reads {run.config.inputs} inputs, this run {config.inputs}: give "
                         f"--inputs {run.config.inputs}")
    if run.config.balances_light != config.balances_light:
        raise InputError(f"{flag} {run.name} {'balances' if run.config.balances_light else 'does not balance'} the "
                         f"light, this run {'does' if config.balances_light else 'does not'}: give "
                         f"{'--balance' if run.config.balances_light else '--no-balance'}")


def open_run(name: str) -> Run:
    """The `Run` of a run folder or ``pretrained:NAME``; InputError when it is neither."""
    folder = resolve(name)
    return Run(name, folder, load_config(folder))
