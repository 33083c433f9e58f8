"""Pack a run folder into a shipped model: what prediction needs, and nothing else.

A shipped model is a run folder (`neurender.run.runs`) holding ``config.json`` (no EMA,
no data paths) and a checkpoint with only the predicting network's weights, taken from the EMA
when there is one, in fp16. Its model card is written by `neurender.evaluation.model_card`.
"""
from __future__ import annotations

import dataclasses
import os

import torch
from safetensors.torch import save_file

from neurender.base.atomic import atomic_path
from neurender.run import runs
from neurender.run.checkpoint import FORMAT, NETWORK
from neurender.run.families import FAMILIES, predicting


def pack(name: str, out_dir: str) -> str:
    """Reduce run ``name`` (a folder or ``pretrained:NAME``) to a shipped model in ``out_dir``;
    returns the weights' path."""
    run = runs.open_run(name)
    _, metadata = run.read_checkpoint()
    main = FAMILIES[run.config.model].main
    os.makedirs(out_dir, exist_ok=True)
    weights = {f"{NETWORK}{main}.{k}": v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
               for k, v in predicting(run).network.state_dict().items()}
    path = runs.path(out_dir, runs.CHECKPOINT)
    with atomic_path(path, ".safetensors") as tmp:
        save_file(weights, tmp, metadata={"format": FORMAT, "step": metadata["step"], "model": run.config.model,
                                          "effect": run.config.effect})
    runs.save_config(out_dir, dataclasses.replace(run.config.for_prediction(), data=()))
    return path
