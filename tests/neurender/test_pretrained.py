"""Shipped models and export: packing a run keeps its predictions, ONNX matches torch."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from neurender import pretrained
from neurender.config import TrainConfig
from neurender.models.acgan import ACGANConfig

TINY_GAN = ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8, disc_layers=2)


@pytest.fixture(scope="module")
def gan_run(pair_dataset, tmp_path_factory) -> str:
    from neurender.train import train

    run = str(tmp_path_factory.mktemp("gan") / "run")
    train(TrainConfig(model="acgan", effect="ao", data=str(pair_dataset), iters=3, batch=1, res=32, sample_every=3,
                      checkpoint_every=3, acgan=TINY_GAN), run, progress=False)
    return run


def _view(pair_dataset, effect):
    from neurender.data import GBufferDataset

    item = GBufferDataset(str(pair_dataset), effect)[0]
    return item["input"][None], item["mask"][None]


def test_a_packed_run_predicts_what_the_run_predicts(gan_run, pair_dataset, tmp_path):
    from neurender.predict import Predictor

    shipped = str(tmp_path / "shipped")
    pretrained.pack(gan_run, shipped)
    inputs, mask = _view(pair_dataset, "ao")
    expected, got = Predictor(gan_run)(inputs, mask), Predictor(shipped)(inputs, mask)
    assert (expected - got).abs().max() < 2e-2, "fp16 weights: close, not equal"
    assert not torch.equal(expected, torch.ones_like(expected)), "a real prediction, not the off-mask value"
    card = pretrained.write_card(shipped, gan_run, [])
    text = open(card).read()
    assert "3 steps" in text and "pretrained:shipped" in text and "1920x1080" in text


def test_unknown_pretrained_name_is_an_input_error():
    from core.errors import InputError

    with pytest.raises(InputError, match="no shipped model 'bloom'"):
        pretrained.resolve("pretrained:bloom")
    assert pretrained.resolve("some/run") == "some/run"


def test_onnx_export_matches_torch(gan_run, pair_dataset, tmp_path):
    from neurender import export, space
    from neurender.predict import Predictor

    predictor = Predictor(gan_run)
    inputs, mask = _view(pair_dataset, "ao")
    path = export.export_run(gan_run, str(tmp_path / "g.onnx"), *inputs.shape[-2:])
    x = space.network_input(inputs, mask, predictor.effect)
    with torch.no_grad():
        reference = predictor.network(x)
    y = export.session(path).run(None, {"x": x.numpy()})[0]
    difference = (torch.from_numpy(y) - reference).abs().max()
    assert difference < 1e-4, difference
    on_onnx = Predictor(gan_run, backend="onnxruntime")(inputs, mask)
    assert (on_onnx - predictor(inputs, mask)).abs().max() < 1e-4


def test_diffusion_runs_do_not_export(pair_dataset, tmp_path):
    from core.errors import InputError
    from neurender import export
    from neurender.models.unet import UNetConfig
    from neurender.train import train

    run = str(tmp_path / "diffusion")
    config = TrainConfig(model="diffusion", effect="ao", data=str(pair_dataset), iters=1, batch=1, res=32,
                         sample_every=1, checkpoint_every=1, sample_steps=1,
                         unet=UNetConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(1,)))
    train(dataclasses.replace(config), run, progress=False)
    with pytest.raises(InputError, match="only GAN runs export"):
        export.export_run(run, str(tmp_path / "d.onnx"))
