"""The effect registry: a new effect registered alone trains, predicts and evaluates end to end;
the value space round-trips; the records are consistent with the dataset contract."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from neurender import effects, space
from neurender.base.exr import read_exr
from neurender.effects import ALBEDO, DEPTH, DIRECT, NORMAL, Effect


@pytest.fixture
def toy_effect():
    """Direct light from normals, depth and albedo: an effect no module knows by name."""
    record = effects.register(Effect("toy-direct", inputs=NORMAL + DEPTH + ALBEDO, targets=DIRECT, hdr=True,
                                     reference_pass="direct", sees_mask=True, off_mask=0.0))
    yield record
    del effects.EFFECTS[record.name]


def test_a_registered_effect_trains_predicts_and_evaluates(toy_effect, pair_dataset, tmp_path):
    from neurender.evaluation.evaluate import evaluate
    from neurender.inference.files import predict_files
    from neurender.inference.predictor import Predictor
    from neurender.models.acgan import ACGANConfig
    from neurender.run.config import TrainConfig
    from neurender.training.train import train

    run = str(tmp_path / "run")
    config = TrainConfig(model="acgan", effect="toy-direct", data=str(pair_dataset), iters=2, batch=1, crop=32,
                         sample_every=2, checkpoint_every=2,
                         acgan=ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8,
                                           disc_layers=2))
    assert train(config, run, progress=False)["step"] == 2
    view = next((pair_dataset / "room_000").glob("*.exr"))
    [written] = predict_files(Predictor(run), str(view), str(tmp_path / "pred"), progress=False)
    out = read_exr(written)
    assert sorted(out) == sorted(DIRECT)
    mask = read_exr(str(view))["mask.Y"]
    assert all((out[c][mask < 0.5] == 0).all() for c in DIRECT), "off-mask value of the record"
    summary = evaluate(str(pair_dataset), "toy-direct", [run], str(tmp_path / "eval"), split="test",
                       path_tracer_curve=True)
    assert summary["metric_space"].startswith("tonemapped")
    assert -1 <= summary["methods"]["run"]["mean"]["ssim"] <= 1  # 2 steps: any structure
    curve = summary["path_tracer"]["curve"]
    assert curve[0]["spp"] == 1 and all(0 < row["ssim"] <= 1 for row in curve)


@pytest.mark.parametrize("name", sorted(effects.EFFECTS))
def test_model_space_round_trip(name):
    record = effects.EFFECTS[name]
    generator = torch.Generator().manual_seed(0)
    shape = (2, len(record.targets), 8, 8)
    linear = torch.rand(shape, generator=generator) * (20.0 if record.hdr else 1.0)
    back = space.from_model_space(space.target_to_model_space(linear, record), record)
    assert torch.allclose(back, linear, rtol=1e-4, atol=1e-5)
    assert space.target_to_model_space(linear, record).abs().max() <= 1


def test_network_input_appends_the_mask_only_when_the_effect_sees_it():
    ao, fog = effects.get("ao"), effects.get("fog")
    mask = (torch.rand(1, 1, 8, 8) > 0.5).float()
    x_ao = space.network_input(torch.rand(1, len(ao.inputs), 8, 8) + 0.5, mask, ao)
    assert x_ao.shape[1] == len(ao.network_inputs) == len(ao.inputs) + 1
    assert torch.equal(x_ao[:, -1:], mask)
    assert space.network_input(torch.rand(1, len(fog.inputs), 8, 8), mask, fog).shape[1] == len(fog.inputs)


def test_records_follow_the_contract():
    from neurender.baselines.methods import METHODS

    for record in effects.EFFECTS.values():
        assert set(record.baselines) <= set(METHODS)
        assert set(record.residual_over) <= set(record.inputs)
        assert effects.MASK not in record.inputs
    with pytest.raises(Exception, match="unknown effect 'bloom'"):
        effects.get("bloom")
    prediction, mask = torch.full((1, 1, 2, 2), 0.25), torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert torch.equal(effects.get("ao").apply_off_mask(prediction, mask),
                       torch.tensor([[[[0.25, 1.0], [1.0, 0.25]]]])), "AO is 1 off the mask, untouched on it"
    no_rule = dataclasses.replace(effects.get("ao"), off_mask=None)
    assert torch.equal(no_rule.apply_off_mask(prediction, mask), prediction)
