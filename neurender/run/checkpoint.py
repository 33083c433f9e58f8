"""Reading a run's checkpoint file for prediction (one safetensors file; writing and resuming it:
`neurender.training.checkpoint`). Where it lives: `neurender.run.runs`."""
from __future__ import annotations

import os

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from neurender.base.errors import InputError

FORMAT = "neurender-run/1"
NETWORK, EMA = "net.", "ema."
"""Key prefixes of a network's weights, ``net.{name}.{parameter}``, and of the predicting network's
moving average, ``ema.{parameter}``."""


def read_checkpoint(path: str) -> tuple[dict, dict]:
    """(tensors, metadata) of the checkpoint file ``path``; InputError when missing or corrupt."""
    if not os.path.isfile(path):
        raise InputError(f"no checkpoint in {os.path.dirname(path) or '.'} ({os.path.basename(path)} missing)")
    try:
        with safe_open(path, "pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"corrupt checkpoint {path}: {' '.join(str(exc).split())[:160]}") from None
    if metadata.get("format") != FORMAT:
        raise InputError(f"{path} is not a neurender checkpoint")
    return tensors, metadata


def load_prediction_weights(network: torch.nn.Module, main: str, tensors: dict, path: str) -> None:
    """The weights prediction uses into ``network`` (held as ``net.{main}.``): the EMA weights when the
    checkpoint has them, else the network's own (shipped fp16 weights are cast to float32).
    InputError when they do not fit."""
    prefix = EMA if any(k.startswith(EMA) for k in tensors) else f"{NETWORK}{main}."
    state = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"checkpoint {path} does not fit this model: {' '.join(str(exc).split())[:300]}") from None
