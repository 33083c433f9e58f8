"""Load a training run and predict its effect: from tensors, from EXR files, or for evaluation.

Any image size is predicted: the network input is padded (replicating the border) to the
network's stride and the output cropped back. Large images are predicted in overlapping tiles
(:mod:`neurender.tiling`); with ``internal_res`` the network runs at a fixed internal size and
its output is upsampled guided by the full-resolution depth and normals (:mod:`neurender.upsample`).
"""
from __future__ import annotations

import dataclasses
import glob
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import InputError
from core.exr import read_exr, write_exr
from neurender import effects, pretrained, space
from neurender.calibrate import read_calibration
from neurender.config import load_config
from neurender.export import OnnxNetwork
from neurender.tasks import SAMPLERS, build_task
from neurender.tiling import tiled
from neurender.upsample import joint_bilateral_upsample, nearest_downsample

BACKENDS = ("torch", "onnxruntime")
MARGIN = 64
"""Pixels of context around each tile's kept core (the network's stride if larger)."""
AUTO_TILE = 1024
"""Tile size used without ``tile`` for images of more than :data:`AUTO_TILE_PIXELS` pixels."""
AUTO_TILE_PIXELS = 3840 * 2160
"""Larger images are tiled automatically (measured: see README, "Prediction at any size")."""


class Predictor:
    """A trained run as a function: linear G-buffer inputs -> linear effect.

    ``run`` is a run folder or ``pretrained:NAME``. ``effect`` is the run's
    :class:`neurender.effects.Effect`: it names the channels read (``effect.inputs``) and written
    (``effect.targets``). Stochastic models (diffusion) sample with ``steps`` steps (None: the
    run's ``sample_steps``), averaging ``samples`` draws from ``seed``; their spread is scaled by the
    run's ``calibration.json`` (:mod:`neurender.calibrate`) when it was fitted for the same steps and
    samples (``calibrated``, ``std_scale``; 1 otherwise). ``sampler`` (None: the run's) picks what a
    diffusion model predicts (:data:`neurender.tasks.SAMPLERS`, :meth:`predict`).
    ``backend="onnxruntime"`` runs a GAN's generator exported to ONNX (:mod:`neurender.export`).

    ``tile``: predict a GAN in tiles of at most this many pixels a side (:mod:`neurender.tiling`,
    context :data:`MARGIN`); None tiles a GAN automatically above :data:`AUTO_TILE_PIXELS`.
    ``internal_res``: predict at this many pixels on the short side (when the image is larger) and
    upsample with the G-buffer's depth and normals as guide (:mod:`neurender.upsample`).
    """

    def __init__(self, run: str, steps: int | None = None, samples: int = 1, seed: int = 0, backend: str = "torch",
                 tile: int | None = None, internal_res: int | None = None, sampler: str | None = None):
        if (steps is not None and steps < 1) or samples < 1:
            raise InputError(f"--steps and --samples must be at least 1, got {steps} and {samples}")
        if tile is not None and tile <= 2 * MARGIN:
            raise InputError(f"--tile must be more than {2 * MARGIN} pixels (twice the margin), got {tile}")
        if internal_res is not None and internal_res < 1:
            raise InputError(f"--internal-res must be at least 1, got {internal_res}")
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        run = pretrained.resolve(run)
        self.config = load_config(run)
        self.task = build_task(dataclasses.replace(self.config, ema=0.0))  # the EMA weights load into the network
        pretrained.load_prediction_weights_of(self.task, run)
        self.run, self.model, self.effect = run, self.config.model, effects.get(self.config.effect)
        self.network = self.task.networks[self.task.main].eval()
        self.stride = self.task.stride
        if backend == "onnxruntime":
            if self.task.stochastic:
                raise InputError(f"the onnxruntime backend runs GANs only; {run} is a {self.model} run")
            self.network = OnnxNetwork(self.network, len(self.effect.network_inputs))
        self.options = {"steps": steps or self.config.sample_steps, "samples": samples, "seed": seed}
        self.sampler = sampler or self.config.sampler
        if self.sampler not in SAMPLERS:
            raise InputError(f"unknown sampler {self.sampler!r}; use one of {', '.join(SAMPLERS)}")
        calibration = read_calibration(run)
        self.calibrated = bool(calibration) and (calibration["sampler"], calibration["steps"],
                                                 calibration["samples"]) == (self.sampler, self.options["steps"], samples)
        self.std_scale = calibration["std_scale"] if self.calibrated else 1.0
        if tile is not None and (self.task.stochastic or backend != "torch"):
            raise InputError(f"--tile runs GANs with the torch backend only; {run} is a {self.model} run "
                             f"on {backend}")
        self.tile, self.internal_res = tile, internal_res

    def _network(self, x: torch.Tensor, sample=None) -> torch.Tensor:
        """Network input x (B, C, h, w), any size -> draws (S, B, C_out, h, w) in the model's space:
        padded at the bottom and right by replicating the border to the stride, then cropped back;
        ``sample`` (padded x -> draws) replaces the network's own call; a torch GAN runs in tiles when
        asked or when the image is large."""
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % self.stride, 0, -h % self.stride), mode="replicate")
        tileable = not self.task.stochastic and isinstance(self.network, torch.nn.Module)
        tile = self.tile or (AUTO_TILE if tileable and h * w > AUTO_TILE_PIXELS else None)
        if sample is not None:
            raw = sample(x)
        elif tile is not None and (h > tile or w > tile):
            raw = tiled(self.network, x, tile - tile % self.stride, max(MARGIN, self.stride), self.stride)[None]
        else:
            raw = self.network(x)[None]
        return raw[..., :h, :w]

    @torch.no_grad()
    def _linear(self, inputs: torch.Tensor, mask: torch.Tensor, sample=None) -> torch.Tensor:
        """:meth:`_network` from linear G-buffer inputs to linear draws (S, B, C_out, H, W), at
        ``internal_res`` when asked, with the off-mask value."""
        height, width = mask.shape[-2:]
        low_inputs, low_mask = inputs, mask
        scale = self.internal_res / min(height, width) if self.internal_res else 1.0
        if scale < 1:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            low_inputs, low_mask = nearest_downsample(inputs, size), nearest_downsample(mask, size)
        x = space.network_input(low_inputs, low_mask, self.effect)
        draws = space.from_model_space(self._network(x, sample), self.effect)
        if scale < 1:
            low, full = (self.effect.pick(t, effects.DEPTH + effects.NORMAL) for t in (low_inputs, inputs))
            draws = torch.stack([joint_bilateral_upsample(d, low[:, :1], low[:, 1:], full[:, :1], full[:, 1:])
                                 for d in draws])
        return self.effect.apply_off_mask(draws, mask)

    def draws(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """inputs (B, C_in, H, W) linear in ``effect.inputs`` order, mask (B, 1, H, W)
        -> draws (S, B, C_out, H, W) linear: ``samples`` DDIM draws of a diffusion model, one of a GAN."""
        if not self.task.stochastic:
            return self._linear(inputs, mask)
        return self._linear(inputs, mask, lambda x: self.task.sample(x, **self.options))

    def predict(self, inputs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, uncertainty), both (B, C_out, H, W) linear. The prediction is the mean of
        :meth:`draws`, or with the ``mean`` sampler the model's one-evaluation estimate of the mean
        (:meth:`neurender.tasks.DiffusionTask.estimate`). The uncertainty is the per-pixel standard
        deviation of ``samples`` draws times ``std_scale``; 0 for a GAN or fewer than 2 draws."""
        if self.task.stochastic and self.sampler == "mean":  # the estimate, then the draws (if any)
            samples = self.options["samples"] if self.options["samples"] > 1 else 0
            outputs = self._linear(inputs, mask, lambda x: self.task.sample(x, **{**self.options, "samples": samples},
                                                                           estimate=True))
            prediction, draws = outputs[0], outputs[1:] if samples else outputs
        else:
            draws = self.draws(inputs, mask)
            prediction = draws.mean(0)
        return prediction, self.std_scale * draws.std(0, unbiased=False)

    def __call__(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The prediction of :meth:`predict`: (B, C_out, H, W) linear."""
        return self.predict(inputs, mask)[0]


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


def predict_files(run: str, input_path: str, out_dir: str, steps: int | None = None, samples: int = 1, seed: int = 0,
                  progress: bool = True, backend: str = "torch", tile: int | None = None,
                  internal_res: int | None = None, sampler: str | None = None) -> list[str]:
    """Predict every EXR of ``input_path`` into ``out_dir`` (same relative paths); returns the files written.

    Output channels are the dataset's target names (``fog.R/G/B``, ``ao.Y`` or ``R,G,B``); a
    diffusion model also writes ``std.<name>``, the per-pixel standard deviation of its ``samples``
    draws (its uncertainty; 0 with one draw).
    ``tile`` and ``internal_res`` as in :class:`Predictor`.
    """
    predictor = Predictor(run, steps, samples, seed, backend, tile, internal_res, sampler)
    effect = predictor.effect
    if predictor.task.stochastic and samples > 1 and not predictor.calibrated:
        print(f"note: std.* is the raw spread of the draws: {run} has no calibration for the {predictor.sampler} "
              f"sampler, {predictor.options['steps']} steps and {samples} samples (neurender calibrate)", file=sys.stderr)
    written = []
    from tqdm import tqdm

    for path, relative in tqdm(_exr_files(input_path), unit="view", disable=None if progress else True):
        data = read_exr(path, list(effect.inputs) + [effects.MASK])
        mask = torch.from_numpy(data[effects.MASK])[None, None]
        inputs = torch.from_numpy(np.stack([data[c] for c in effect.inputs]))[None]
        prediction, std = predictor.predict(inputs, mask)
        out = {name: prediction[0, i].numpy() for i, name in enumerate(effect.targets)}
        if predictor.task.stochastic:
            out.update({f"std.{name}": std[0, i].numpy() for i, name in enumerate(effect.targets)})
        target = os.path.join(out_dir, relative)
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        write_exr(target, out)
        written.append(target)
    return written
