"""Scaled inputs: the derived channels against hand-worked values, the first guess as the untrained
answer, one scale for every resolution, and the parameters a prediction needs."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from nr_helpers import error_lines, run_main

from neurender import effects, space
from neurender.base.errors import InputError
from neurender.base.view import ViewParameters
from neurender.baselines.methods import METHODS
from neurender.data import GBufferDataset
from neurender.inference.predictor import Predictor
from neurender.models.acgan import ACGANConfig
from neurender.models.fast import FastConfig
from neurender.run.config import TrainConfig
from neurender.run.inputs import DERIVED, scaled_channels
from neurender.training.train import train

AO, FOG = effects.get("ao"), effects.get("fog")


def plane(height: int, width: int, depth: float, effect=AO) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear inputs of ``effect`` for a plane facing the camera at z-depth ``depth`` (colours 0.5), mask 1."""
    values = {"normal.Z": -1.0, "depth.Z": depth}
    inputs = torch.stack([torch.full((height, width), values.get(n, 0.5 if not n.startswith("normal") else 0.0))
                          for n in effect.inputs])[None]
    return inputs, torch.ones(1, 1, height, width)


def test_radius_in_pixels_of_a_plane_at_known_depth_and_fov():
    # fov 90 deg at 64 px: f = 32 / tan(45 deg) = 32 px; R = 0.5 at z = 2 spans 0.5 * 32 / 2 = 8 px
    inputs, mask = plane(4, 64, 2.0)
    got = DERIVED["radius_px"](inputs, mask, ViewParameters(fov_x=90.0, ao_radius=0.5), AO)
    assert torch.allclose(got, torch.full_like(got, math.log2(8) / 4))
    assert (DERIVED["radius_px"](inputs, torch.zeros_like(mask), ViewParameters(90.0, 0.5), AO) == 0).all()


def test_optical_depth_and_transmittance_of_a_known_ray():
    # a 1x1 image: its one ray is the optical axis, so the ray length is the z-depth (2); sigma_t 0.5 -> tau 1
    inputs, mask = plane(1, 1, 2.0, FOG)
    view = ViewParameters(fov_x=60.0, sigma_t=0.5)
    assert float(DERIVED["optical_depth"](inputs, mask, view, FOG)) == pytest.approx(2 * 1 / 2 - 1)
    assert float(DERIVED["transmittance"](inputs, mask, view, FOG)) == pytest.approx(2 * math.exp(-1) - 1)
    background = torch.zeros_like(mask)  # an infinite background ray: tau = inf, T = 0; no fog: T = 1
    assert float(DERIVED["optical_depth"](inputs, background, view, FOG)) == 1.0
    assert float(DERIVED["transmittance"](inputs, background, view, FOG)) == -1.0
    assert float(DERIVED["transmittance"](inputs, background, ViewParameters(60.0, sigma_t=0.0), FOG)) == 1.0


def test_a_missing_parameter_is_named_with_its_option():
    inputs, mask = plane(8, 8, 2.0)
    with pytest.raises(InputError, match=r"ao_radius \(--ao-radius\)"):
        scaled_channels(inputs, mask, ViewParameters(fov_x=60.0), AO)


@pytest.fixture(scope="module")
def untrained(pair_dataset, tmp_path_factory) -> str:
    """A scaled AO GAN after 0 effective steps (lr 1e-12): the residual is still 0."""
    out = str(tmp_path_factory.mktemp("scaled") / "run")
    train(TrainConfig(model="acgan", effect="ao", data=str(pair_dataset), iters=1, batch=1, crop=32, lr=1e-12,
                      ema=0.0, sample_every=1000, checkpoint_every=1,
                      acgan=ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8,
                                        disc_layers=2)), out, progress=False)
    return out


@pytest.fixture(scope="module")
def untrained_fast(pair_dataset, tmp_path_factory) -> str:
    """A scaled AO fast-tier run after 0 effective steps: its residual too is still 0."""
    out = str(tmp_path_factory.mktemp("scaled_fast") / "run")
    train(TrainConfig(model="fast", effect="ao", data=str(pair_dataset), iters=1, batch=1, crop=32, lr=1e-12,
                      ema=0.0, sample_every=1000, checkpoint_every=1,
                      fast=FastConfig(channels=8, blocks=1, context_blocks=1)), out, progress=False)
    return out


@pytest.mark.parametrize("run", ["untrained", "untrained_fast"])
def test_an_untrained_scaled_network_predicts_its_classic_first_guess(run, request):
    predictor = Predictor(request.getfixturevalue(run), backend="torch")
    assert predictor.channels == AO.network_inputs + ("radius_px", "guess.ao.Y")
    inputs, mask = plane(32, 48, 3.0)
    inputs[:, 3, 8:20, 10:30] = 2.0  # a box in front of the plane: occlusion around it
    view = ViewParameters(fov_x=60.0, ao_radius=0.5)
    gtao = METHODS["gtao"](inputs, mask, view, AO)
    assert float(gtao.min()) < 0.9, "the scene must have occlusion for this test to mean anything"
    assert torch.allclose(predictor.predict(inputs, mask, view)[0], gtao, atol=2e-6)


def test_scaled_inputs_are_the_same_at_any_resolution():
    """The same view at 64 and 128 px: the derived channel is the same function of the view (the
    radius spans twice the pixels: log2 grows by exactly 1/4) and the first guess agrees once averaged."""
    low, low_mask = plane(64, 64, 3.0)
    low[:, 3, 16:40, 20:44] = 2.0
    high, high_mask = (F.interpolate(t, scale_factor=2, mode="nearest") for t in (low, low_mask))
    view = ViewParameters(fov_x=60.0, ao_radius=0.4)
    a, b = scaled_channels(low, low_mask, view, AO), scaled_channels(high, high_mask, view, AO)
    assert torch.allclose(F.avg_pool2d(b[:, :1], 2), a[:, :1] + 0.25, atol=1e-6)
    guess_low, guess_high = (space.from_model_space(t[:, 1:], AO) for t in (a, b))
    assert (F.avg_pool2d(guess_high, 2) - guess_low).abs().mean() < 0.03


def test_a_gbuffer_only_run_needs_no_view(gbuffer_run):
    predictor = Predictor(gbuffer_run)
    assert predictor.config.inputs == "gbuffer" and predictor.channels == AO.network_inputs
    inputs, mask = plane(16, 16, 2.0)
    assert predictor.predict(inputs, mask)[0].shape == (1, 1, 16, 16)  # no view parameters needed


def test_predict_takes_the_view_from_its_dataset_or_from_options(untrained, pair_dataset, tmp_path):
    exr = next(pair_dataset.rglob("000.exr"))
    in_dataset = run_main("predict", "--checkpoint", untrained, "--input", exr, "--out", tmp_path / "a")
    assert in_dataset.returncode == 0, in_dataset.stderr[-2000:]
    alone = tmp_path / "alone.exr"
    alone.write_bytes(exr.read_bytes())
    refused = run_main("predict", "--checkpoint", untrained, "--input", alone, "--out", tmp_path / "b")
    lines = error_lines(refused.stderr)
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr
    assert lines[0].startswith("error: ") and "--fov-deg" in lines[0] and "--ao-radius" in lines[0]
    given = run_main("predict", "--checkpoint", untrained, "--input", alone, "--out", tmp_path / "b",
                     "--fov-deg", "50", "--ao-radius", "0.3")
    assert given.returncode == 0, given.stderr[-2000:]


GI = effects.get("gi")


def test_light_scale_is_the_frame_mean_per_channel_with_a_floor():
    inputs, mask = plane(4, 6, 2.0, GI)
    for channel, value in zip(effects.DIRECT, (0.5, 0.1, 0.0)):
        inputs[:, GI.inputs.index(channel)] = value
    scale = space.light_scale(inputs, GI)
    expected = torch.tensor([0.5, 0.1, 0.5e-3]) / space.BALANCE_LEVEL  # blue floored at 1e-3 of red
    assert torch.allclose(scale.flatten(), expected)
    balanced = space.divide_light(inputs, scale, GI)
    assert torch.allclose(balanced[:, GI.inputs.index("direct.R")], torch.full((1, 4, 6), space.BALANCE_LEVEL))
    assert torch.equal(balanced[:, GI.inputs.index("albedo.R")], inputs[:, GI.inputs.index("albedo.R")])


@pytest.mark.parametrize("effect", ["gi", "fog"])
def test_a_balanced_run_scales_with_the_light_colour_exactly(pair_dataset, tmp_path, effect):
    """RGB light transport is linear per colour channel: lamps k times brighter in red (another k in
    green, blue) give every radiance k times brighter in that channel. A balanced run's prediction
    follows, whatever its weights; without balance it does not."""
    record = effects.get(effect)
    predictions = {}
    for balance in (True, False):
        out = str(tmp_path / f"run_{balance}")
        train(TrainConfig(model="acgan", effect=effect, data=str(pair_dataset), iters=2, batch=1, crop=32,
                          balance=balance, ema=0.0, sample_every=1000, checkpoint_every=2,
                          acgan=ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8,
                                            disc_layers=2)), out, progress=False)
        predictor = Predictor(out)
        assert predictor.config.balances_light is balance
        item = GBufferDataset(str(pair_dataset), effect)[0]
        k = torch.tensor([3.0, 0.5, 10.0])
        brighter = item["input"].clone()
        for i, name in enumerate(record.inputs):
            if space.is_radiance(name):
                brighter[i] *= k["RGB".index(name[-1])]
        base = predictor.predict(item["input"][None], item["mask"][None], item["parameters"])[0]
        lit = predictor.predict(brighter[None], item["mask"][None], item["parameters"])[0]
        predictions[balance] = (lit - base * k[None, :, None, None]).abs().max() / base.abs().max()
    assert predictions[True] < 1e-4
    assert predictions[False] > 1e-2


def test_runs_written_before_balance_do_not_balance_and_init_must_match(pair_dataset, tmp_path):
    gi = TrainConfig(model="acgan", effect="gi", data=("d",))
    old = gi.to_json()
    del old["balance"]
    assert TrainConfig.from_json(old).balance is False and gi.balances_light
    assert not replace(gi, effect="ao").balances_light  # AO has no light to balance
    assert Predictor("pretrained:gi").config.balances_light
    refused = run_main("train", "--model", "acgan", "--effect", "gi", "--no-balance", "--data", pair_dataset,
                       "--out", tmp_path / "run", "--init", "pretrained:gi", "--iters", "1", "--crop", "32")
    lines = error_lines(refused.stderr)
    assert refused.returncode == 2 and len(lines) == 1 and "give --balance" in lines[0], refused.stderr


def test_every_input_kind_has_one_record():
    """The kinds a config accepts and the table that says what each reads are the same set."""
    from neurender.run.config import INPUTS
    from neurender.run.inputs import INPUT_KINDS

    assert set(INPUT_KINDS) == set(INPUTS)
    assert [k for k, v in INPUT_KINDS.items() if not v.reads_view] == ["gbuffer"]
