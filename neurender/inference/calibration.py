"""Calibrate a diffusion run's uncertainty: one factor on the spread of its draws, fitted on held-out views.

Few DDIM steps give draws that scatter far less than the model's error on unseen scenes (they
collapse towards the mean), so their standard deviation ranks pixels by error but understates it.
`calibrate` fits ``std_scale`` such that 95.4 % of the surface values of a validation dataset
have ``|error of the prediction| <= 2 * std_scale * std`` (linear values), the share a calibrated
Gaussian has, and writes it into the run folder (``calibration.json``) for the ``sampler``, ``steps`` and ``samples``
it was fitted with; `neurender.inference.predictor.Predictor` applies it when it predicts with the same
three. Fit on scenes that are neither training nor test scenes.
"""
from __future__ import annotations

import os

import torch
from tqdm import tqdm

from neurender import metrics
from neurender.base.atomic import write_json_atomic
from neurender.base.dataset import on_surface
from neurender.base.errors import InputError
from neurender.data import GBufferDataset
from neurender.device import DeviceOptions
from neurender.inference.predictor import Predictor
from neurender.inference.sampling import SamplingOptions
from neurender.run import runs

GAUSSIAN_2STD = 0.9545
"""Share of a Gaussian within 2 standard deviations: the coverage the fitted scale gives."""


def calibrate(run: str, data_dir: str, sampling: SamplingOptions = SamplingOptions(samples=8),
              progress: bool = True, devices: DeviceOptions = DeviceOptions()) -> dict:
    """Fit ``std_scale`` of diffusion run folder ``run`` (not ``pretrained:NAME``) on every view of the
    dataset ``data_dir``, sampling as ``sampling`` says (at least 2 draws); writes the run's
    calibration.json and returns its content (also the raw and calibrated Spearman and coverage on
    these views)."""
    if run.startswith(runs.PREFIX):
        raise InputError("calibrate writes into the run folder: give the folder of a shipped model, not pretrained:NAME")
    if sampling.samples < 2:
        raise InputError(f"calibration needs --samples of at least 2 (the spread of one draw is 0), got {sampling.samples}")
    predictor = Predictor(run, sampling, devices=devices)
    if not predictor.model.stochastic:
        raise InputError(f"{run} is a {predictor.config.model} run: only diffusion runs draw samples to calibrate")
    predictor.std_scale = 1.0  # fit on the raw spread
    dataset = GBufferDataset(data_dir, predictor.effect.name)
    stds, errors = [], []
    for index in tqdm(range(len(dataset)), unit="view", disable=None if progress else True):
        item = dataset[index]
        prediction, std = predictor.predict(item["input"][None], item["mask"][None], item["parameters"])
        on = on_surface(item["mask"][None]).expand_as(prediction)
        stds.append(std[on])
        errors.append((prediction - item["target"][None])[on])
    std, error = torch.cat(stds), torch.cat(errors)
    if not bool((std > 0).any()):
        raise InputError(f"the draws of {run} do not spread on {data_dir}: nothing to calibrate")
    ratio = error.abs().double() / std.double().clamp_min(1e-12)
    scale = float(ratio.quantile(GAUSSIAN_2STD)) / 2
    result = {"std_scale": scale, "sampler": predictor.sampling.sampler, "steps": predictor.sampling.steps,
              "samples": predictor.sampling.samples, "seed": predictor.sampling.seed,
              "data_dir": os.path.abspath(data_dir), "views": len(dataset),
              "raw": metrics.calibration(std, error), "calibrated": metrics.calibration(scale * std, error)}
    write_json_atomic(runs.path(run, runs.CALIBRATION), result)
    return result
