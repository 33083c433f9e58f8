"""Load a training run and predict its effect: from tensors, from EXR files, or for evaluation."""
from __future__ import annotations

import dataclasses
import glob
import os

import numpy as np
import torch

from core.errors import InputError
from core.exr import read_exr, write_exr
from neurender import effects, pretrained, space
from neurender.checkpoint import load_prediction_weights, read_checkpoint
from neurender.config import load_config
from neurender.tasks import build_task

BACKENDS = ("torch", "onnxruntime")


class Predictor:
    """A trained run as a function: linear G-buffer inputs -> linear effect.

    ``run`` is a run folder or ``pretrained:NAME``. ``effect`` is the run's
    :class:`neurender.effects.Effect`: it names the channels read (``effect.inputs``) and written
    (``effect.targets``). Stochastic models (diffusion) sample with ``steps`` steps, averaging
    ``samples`` draws from ``seed``. ``backend="onnxruntime"`` runs a GAN's generator exported to
    ONNX (:mod:`neurender.export`) instead of torch.
    """

    def __init__(self, run: str, steps: int = 16, samples: int = 1, seed: int = 0, backend: str = "torch"):
        if steps < 1 or samples < 1:
            raise InputError(f"--steps and --samples must be at least 1, got {steps} and {samples}")
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        run = pretrained.resolve(run)
        self.config = load_config(run)
        tensors, _ = read_checkpoint(run)
        self.task = build_task(dataclasses.replace(self.config, ema=0.0))  # the EMA weights load into the network
        load_prediction_weights(self.task, tensors, run)
        self.run, self.model, self.effect = run, self.config.model, effects.get(self.config.effect)
        self.network = self.task.networks[self.task.main].eval()
        if backend == "onnxruntime":
            self.network = _onnx_network(self)
        self.stride = self.task.networks[self.task.main].stride
        self.options = {"steps": steps, "samples": samples, "seed": seed}

    def check_size(self, height: int, width: int, where: str) -> None:
        if height % self.stride or width % self.stride:
            raise InputError(f"{where} is {width}x{height}; this {self.model} needs sizes divisible by {self.stride}")

    @torch.no_grad()
    def __call__(self, inputs: torch.Tensor, mask: torch.Tensor, return_std: bool = False):
        """inputs (B, C_in, H, W) linear in ``effect.inputs`` order, mask (B, 1, H, W)
        -> prediction (B, C_out, H, W) linear, the mean of the draws (with ``return_std`` also their
        per-pixel standard deviation, 0 for a GAN or a single draw)."""
        x = space.network_input(inputs, mask, self.effect)
        raw = self.task.sample(x, **self.options) if self.task.stochastic else self.network(x)[None]
        draws = self.effect.apply_off_mask(space.from_model_space(raw, self.effect), mask)
        prediction = draws.mean(0)
        return (prediction, draws.std(0, unbiased=False)) if return_std else prediction


def _onnx_network(predictor: Predictor):
    """The predictor's GAN generator run by onnxruntime (exported per image size to a temporary folder)."""
    import tempfile

    from neurender.export import OnnxNetwork

    if predictor.task.stochastic:
        raise InputError(f"the onnxruntime backend runs GANs only; {predictor.run} is a {predictor.model} run")
    predictor.onnx_dir = tempfile.TemporaryDirectory(prefix="neurender-onnx-")
    return OnnxNetwork(predictor.network, len(predictor.effect.network_inputs), predictor.onnx_dir.name)


def _exr_files(path: str) -> list[tuple[str, str]]:
    """(file, path relative to the input) of an EXR or of every EXR under a directory."""
    if os.path.isfile(path):
        return [(path, os.path.basename(path))]
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "**", "*.exr"), recursive=True))
        files = [f for f in files if not os.path.basename(f).startswith(".tmp-")]
        if not files:
            raise InputError(f"no EXR files under {path}")
        return [(f, os.path.relpath(f, path)) for f in files]
    raise InputError(f"input not found: {path}")


def predict_files(run: str, input_path: str, out_dir: str, steps: int = 16, samples: int = 1, seed: int = 0,
                  progress: bool = True, backend: str = "torch") -> list[str]:
    """Predict every EXR of ``input_path`` into ``out_dir`` (same relative paths); returns the files written.

    Output channels are the dataset's target names (``fog.R/G/B``, ``ao.Y`` or ``R,G,B``); with
    diffusion and ``samples`` > 1 also ``std.<name>``, the per-pixel spread of the samples.
    """
    predictor = Predictor(run, steps, samples, seed, backend)
    effect = predictor.effect
    written = []
    from tqdm import tqdm

    for path, relative in tqdm(_exr_files(input_path), unit="view", disable=None if progress else True):
        data = read_exr(path, list(effect.inputs) + [effects.MASK])
        mask = torch.from_numpy(data[effects.MASK])[None, None]
        predictor.check_size(*mask.shape[-2:], path)
        inputs = torch.from_numpy(np.stack([data[c] for c in effect.inputs]))[None]
        prediction, std = predictor(inputs, mask, return_std=True)
        out = {name: prediction[0, i].numpy() for i, name in enumerate(effect.targets)}
        if predictor.task.stochastic and samples > 1:
            out.update({f"std.{name}": std[0, i].numpy() for i, name in enumerate(effect.targets)})
        target = os.path.join(out_dir, relative)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        write_exr(target, out)
        written.append(target)
    return written
