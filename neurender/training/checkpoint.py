"""A run's checkpoint file: weights, EMA weights, optimizer state, step and RNG states in one
safetensors file, written atomically (no pickle). Where it lives: `neurender.run.runs`."""
from __future__ import annotations

import json
import random

import numpy as np
import torch
from safetensors.torch import save_file

from neurender.base.atomic import atomic_path
from neurender.base.errors import InputError
from neurender.run.checkpoint import EMA, FORMAT, NETWORK


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
        tensors.update({f"{NETWORK}{name}.{k}": v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()})
    if task.ema:
        tensors.update({f"{EMA}{k}": v.detach().cpu().contiguous().clone() for k, v in task.ema.module.state_dict().items()})
    for name, optimizer in task.optimizers.items():
        groups[name] = _flatten_optimizer(f"optim.{name}", optimizer, tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.batches"] = generator.get_state()
    metadata = {"format": FORMAT, "step": str(step), "model": config.model, "effect": config.effect,
                "param_groups": json.dumps(groups), "python_random": json.dumps(random.getstate()[1]),
                "numpy_random": json.dumps(np.random.get_state()[1].tolist())}
    with atomic_path(path, ".safetensors") as tmp:
        save_file(tensors, tmp, metadata=metadata)


def load_weights(task, tensors: dict, path: str) -> None:
    """The networks' and EMA weights of a checkpoint into ``task``; InputError when they do not fit."""
    try:
        for name, net in task.networks.items():
            prefix = f"{NETWORK}{name}."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        if task.ema:
            task.ema.module.load_state_dict({k[len(EMA):]: v for k, v in tensors.items() if k.startswith(EMA)})
    except RuntimeError as exc:
        raise InputError(f"checkpoint {path} does not fit this model: {' '.join(str(exc).split())[:300]}") from None


def restore_training_state(task, tensors: dict, metadata: dict, generator: torch.Generator) -> int:
    """Optimizers and RNG states of a checkpoint (weights: `load_weights`); returns its step."""
    groups = json.loads(metadata["param_groups"])
    for name, optimizer in task.optimizers.items():
        _restore_optimizer(f"optim.{name}", optimizer, tensors, groups[name])
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.batches"])
    random.setstate((3, tuple(json.loads(metadata["python_random"])), None))
    key = np.array(json.loads(metadata["numpy_random"]), dtype=np.uint32)
    np.random.set_state(("MT19937", key, len(key)))  # position at the key's end: the next draw regenerates it
    return int(metadata["step"])
