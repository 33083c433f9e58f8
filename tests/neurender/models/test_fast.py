"""The fast tier: FastNet's shapes and cost, derived inputs with only a cheap guess, regression
training that learns, resumption, and ONNX export matching torch."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from nr_helpers import predict_item

from neurender import effects
from neurender.baselines.methods import METHODS
from neurender.data import GBufferDataset
from neurender.inference.onnx import OnnxNetwork
from neurender.inference.predictor import Predictor
from neurender.models.fast import FastConfig, FastNet
from neurender.run.config import TrainConfig
from neurender.run.inputs import channels, guess_method
from neurender.training.train import train

AO, GI = effects.get("ao"), effects.get("gi")


def _config(data, **changes) -> TrainConfig:
    config = TrainConfig(model="fast", effect="ao", inputs="derived", data=str(data), iters=6, batch=2, crop=16,
                         log_every=2, sample_every=1000, checkpoint_every=3, ema=0.0,
                         fast=FastConfig(channels=8, blocks=2, context_blocks=1, attention_pool=4))
    return dataclasses.replace(config, **changes)


def test_fast_net_keeps_the_size_starts_at_zero_and_costs_little_per_pixel():
    net = FastNet(6, 1, FastConfig())
    assert net.stride == 8
    x = torch.randn(2, 6, 24, 40)
    assert net(x).shape == (2, 1, 24, 40)
    assert torch.count_nonzero(net(x)) == 0  # zero-initialised head: the mid value before training
    with pytest.raises(ValueError, match="channels, scale and blocks"):
        FastConfig(blocks=0)
    # multiply-adds per output pixel: each weight once per cell of 4 x 4 pixels (the context's per 8 x 8)
    weights = {name: p.numel() for name, p in net.named_parameters() if name.endswith("weight")}
    per_pixel = sum(n / (64 if name.startswith("context") else 16) for name, n in weights.items())
    assert per_pixel < 1000, per_pixel


def test_derived_inputs_are_the_gbuffer_and_the_scaled_channels_and_only_a_cheap_guess():
    for effect in (AO, GI):
        assert channels(effect, "derived") == effect.network_inputs + effect.derived + effect.guess_channels
    assert (guess_method(AO, "derived"), guess_method(AO, "scaled")) == ("gtao-half", "gtao")
    assert (guess_method(GI, "derived"), guess_method(GI, "scaled")) == ("gi-flat", "gi-ambient")


def test_an_untrained_derived_gi_run_predicts_direct_light_plus_flat_ambient(pair_dataset, tmp_path):
    config = _config(pair_dataset, effect="gi", iters=1, crop=32, lr=1e-12, checkpoint_every=1)
    train(config, str(tmp_path / "gi"), progress=False)
    item = GBufferDataset(str(pair_dataset), "gi")[0]
    inputs, mask = item["input"][None], item["mask"][None]
    flat = METHODS["gi-flat"](inputs, mask, item["parameters"], GI)
    ambient = METHODS["gi-ambient"](inputs, mask, item["parameters"], GI)
    assert (flat - ambient).abs().max() > 1e-2, "occlusion must matter for this test to mean anything"
    prediction = Predictor(str(tmp_path / "gi"), backend="torch").predict(inputs, mask, item["parameters"])[0]
    torch.testing.assert_close(prediction, flat, rtol=1e-4, atol=1e-5)


def test_a_fast_run_learns_resumes_and_exports_to_onnx_matching_torch(pair_dataset, tmp_path):
    config = _config(pair_dataset, crop=32, lr=3e-3)
    train(dataclasses.replace(config, iters=1), str(tmp_path / "start"), progress=False)
    train(dataclasses.replace(config, iters=200, checkpoint_every=100), str(tmp_path / "end"), progress=False)
    dataset = GBufferDataset(str(pair_dataset), "ao", split="train")
    items = [dataset[i] for i in range(len(dataset))]

    def l1(run: str) -> float:
        predictor = Predictor(run, backend="torch")
        return float(np.mean([(predict_item(predictor, item) - item["target"][None]).abs().mean() for item in items]))

    start, end = l1(str(tmp_path / "start")), l1(str(tmp_path / "end"))
    assert end < 0.7 * start, (start, end)

    half = tmp_path / "half"
    train(dataclasses.replace(config, iters=100, checkpoint_every=100), str(half), progress=False)
    train(dataclasses.replace(config, iters=200, checkpoint_every=100), str(half), progress=False)
    resumed, straight = (Predictor(str(run), backend="torch").network for run in (half, tmp_path / "end"))
    for a, b in zip(resumed.parameters(), straight.parameters()):
        torch.testing.assert_close(a, b)  # resumed = uninterrupted

    torch_out = predict_item(Predictor(str(tmp_path / "end"), backend="torch"), items[0])
    automatic = Predictor(str(tmp_path / "end"))
    assert isinstance(automatic.network, OnnxNetwork)  # auto: onnxruntime for a fast run on the CPU
    assert (torch_out - predict_item(automatic, items[0])).abs().max() < 1e-4
