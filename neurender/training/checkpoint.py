"""A run's checkpoint file: weights, EMA weights, optimizer state, step and RNG states in one
safetensors file, written atomically (no pickle). Where it lives: :mod:`neurender.training.runs`."""
from __future__ import annotations

import json
import os
import random

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from neurender.base.atomic import atomic_path
from neurender.base.errors import InputError

FORMAT = "neurender-run/1"


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict) -> dict:
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.{index}.{key}"] = torch.as_tensor(value).detach().cpu().clone()
    return state["param_groups"]


def _restore_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, groups: list) -> None:
    state = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(path: str, task, step: int, config, generator: torch.Generator) -> None:
    """Write the checkpoint file ``path`` atomically (temporary file, then rename)."""
    tensors, groups = {}, {}
    for name, net in task.networks.items():
        tensors.update({f"net.{name}.{k}": v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()})
    if task.ema:
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous().clone() for k, v in task.ema.module.state_dict().items()})
    for name, optimizer in task.optimizers.items():
        groups[name] = _flatten_optimizer(f"optim.{name}", optimizer, tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.batches"] = generator.get_state()
    metadata = {"format": FORMAT, "step": str(step), "model": config.model, "effect": config.effect,
                "param_groups": json.dumps(groups), "python_random": json.dumps(random.getstate()[1]),
                "numpy_random": json.dumps(np.random.get_state()[1].tolist())}
    with atomic_path(path, ".safetensors") as tmp:
        save_file(tensors, tmp, metadata=metadata)


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


def load_weights(task, tensors: dict, path: str) -> None:
    """The networks' and EMA weights of a checkpoint into ``task``; InputError when they do not fit."""
    try:
        for name, net in task.networks.items():
            prefix = f"net.{name}."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        if task.ema:
            task.ema.module.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    except RuntimeError as exc:
        raise InputError(f"checkpoint {path} does not fit this model: {str(exc).splitlines()[0]}") from None


def restore_training_state(task, tensors: dict, metadata: dict, generator: torch.Generator) -> int:
    """Optimizers and RNG states of a checkpoint (weights: :func:`load_weights`); returns its step."""
    groups = json.loads(metadata["param_groups"])
    for name, optimizer in task.optimizers.items():
        _restore_optimizer(f"optim.{name}", optimizer, tensors, groups[name])
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.batches"])
    random.setstate((3, tuple(json.loads(metadata["python_random"])), None))
    np.random.set_state(("MT19937", np.array(json.loads(metadata["numpy_random"]), dtype=np.uint32), 624))
    return int(metadata["step"])


def load_prediction_weights(task, tensors: dict, path: str) -> None:
    """The weights prediction uses into ``task.networks[task.main]``: the EMA weights when the
    checkpoint has them, else the network's own (shipped fp16 weights are cast to float32).
    InputError when they do not fit."""
    prefix = "ema." if any(k.startswith("ema.") for k in tensors) else f"net.{task.main}."
    state = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
    try:
        task.networks[task.main].load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"checkpoint {path} does not fit this model: {str(exc).splitlines()[0]}") from None
