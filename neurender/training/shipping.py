"""Pack a run folder into a shipped model: what prediction needs, and nothing else.

A shipped model is a run folder (:mod:`neurender.training.runs`) holding ``config.json`` (no EMA,
no data paths) and a checkpoint with only the predicting network's weights, taken from the EMA
when there is one, in fp16. Its model card is written by :mod:`neurender.evaluation.model_card`.
"""
from __future__ import annotations

import dataclasses
import os

import torch
from safetensors.torch import save_file

from neurender.base.atomic import atomic_path
from neurender.training import runs
from neurender.training.checkpoint import FORMAT
from neurender.training.tasks import prediction_task


def pack(name: str, out_dir: str) -> str:
    """Reduce run ``name`` (a folder or ``pretrained:NAME``) to a shipped model in ``out_dir``;
    returns the weights' path."""
    run = runs.open_run(name)
    _, metadata = run.read_checkpoint()
    task = prediction_task(run)
    os.makedirs(out_dir, exist_ok=True)
    weights = {f"net.{task.main}.{k}": v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
               for k, v in task.networks[task.main].state_dict().items()}
    path = runs.path(out_dir, runs.CHECKPOINT)
    with atomic_path(path, ".safetensors") as tmp:
        save_file(weights, tmp, metadata={"format": FORMAT, "step": metadata["step"], "model": run.config.model,
                                          "effect": run.config.effect, "weights_only": "1"})
    runs.save_config(out_dir, dataclasses.replace(run.config.for_prediction(), data=()))
    return path
