"""Networks on the requested device: training steps, predictions, checkpoints across devices,
precision fallbacks. Runs on the CPU here; the same tests take ``cuda`` where torch sees a GPU."""
from __future__ import annotations

import pytest
import torch

from neurender import effects
from neurender.data import GBufferDataset
from neurender.device import DeviceOptions, Precision, cpu_bf16, resolve_device
from neurender.inference.predictor import Predictor
from neurender.inference.sampling import SamplingOptions
from neurender.models.acgan import ACGANConfig
from neurender.models.unet import UNetConfig
from neurender.run import runs
from neurender.run.config import TrainConfig
from neurender.run.inputs import channels
from neurender.training.tasks import build_task, to_device
from neurender.training.train import train

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
TINY = dict(effect="ao", iters=2, batch=1, crop=32, sample_every=1000, checkpoint_every=2, sample_steps=2,
            acgan=ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8, disc_layers=2),
            unet=UNetConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(1,)))


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return resolve_device(request.param)


@pytest.mark.parametrize("model", ["acgan", "diffusion"])
def test_a_training_step_keeps_everything_on_the_device(pair_dataset, device, model):
    config = TrainConfig(model=model, data=str(pair_dataset), **TINY)
    task = to_device(build_task(config), device)
    x = torch.rand(1, len(channels(effects.get("ao"), config.inputs)), 32, 32, device=device) * 2 - 1
    y = torch.rand(1, 1, 32, 32, device=device) * 2 - 1
    losses = task.step(x, y, torch.Generator().manual_seed(0), dict(task.networks), Precision("auto", device))
    assert all(isinstance(v, float) for v in losses.values())
    for network in task.networks.values():
        assert {t.device.type for t in [*network.parameters(), *network.buffers()]} == {device.type}
    for optimizer in task.optimizers.values():
        states = [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v) and v.dim()]
        assert states and {t.device.type for t in states} == {device.type}


@pytest.mark.parametrize("model", ["acgan", "diffusion"])
def test_a_checkpoint_written_on_one_device_predicts_the_same_on_the_cpu(pair_dataset, tmp_path, device, model):
    run = str(tmp_path / model)
    train(TrainConfig(model=model, data=str(pair_dataset), **TINY), run, progress=False, devices=DeviceOptions(str(device)))
    tensors, _ = runs.open_run(run).read_checkpoint()
    assert {t.device.type for t in tensors.values()} == {"cpu"}, "checkpoints are device-independent"
    item = GBufferDataset(str(pair_dataset), "ao")[0]
    inputs, mask = item["input"][None], item["mask"][None]
    sampling = SamplingOptions(steps=2, samples=2, seed=3)
    here = Predictor(run, sampling, devices=DeviceOptions(device=str(device), precision="fp32"))
    assert {p.device.type for p in here.network.parameters()} == {device.type}
    view = item["parameters"]
    prediction, std = here.predict(inputs, mask, view)
    assert prediction.device.type == std.device.type == "cpu", "results come back on the inputs' device"
    on_cpu = Predictor(run, sampling, devices=DeviceOptions(device="cpu")).predict(inputs, mask, view)[0]
    assert (prediction - on_cpu).abs().max() < 1e-4


def test_mixed_precision_falls_back_on_the_cpu_with_a_warning(capsys):
    assert Precision("auto", torch.device("cpu")).name == "fp32" and not capsys.readouterr().err
    fallback = Precision("fp16", torch.device("cpu"))
    assert fallback.name == "fp32" and not fallback.scaler.is_enabled()
    assert capsys.readouterr().err.startswith("warning: --precision fp16 is for CUDA devices")
    bf16 = Precision("bf16", torch.device("cpu"))  # runs where the CPU has native bf16, else falls back
    assert bf16.name == ("bf16" if cpu_bf16() else "fp32") and not bf16.scaler.is_enabled()
    assert bool(capsys.readouterr().err) != cpu_bf16()


@pytest.mark.skipif(not cpu_bf16(), reason="this CPU has no native bf16")
def test_bf16_on_a_cpu_with_native_bf16_predicts_close_to_fp32(pair_dataset):
    item = GBufferDataset(str(pair_dataset), "ao")[0]
    inputs, mask, view = item["input"][None], item["mask"][None], item["parameters"]
    full, half = (Predictor("pretrained:ao", devices=DeviceOptions(device="cpu", precision=p)).predict(inputs, mask, view)[0]
                  for p in ("fp32", "bf16"))
    assert half.dtype == torch.float32 and 0 < (half - full).abs().max() < 0.05 and (half - full).abs().mean() < 5e-3


def test_shipped_fp16_weights_predict_on_the_device(pair_dataset, device):
    item = GBufferDataset(str(pair_dataset), "ao")[0]
    predictor = Predictor("pretrained:ao", devices=DeviceOptions(device=str(device), precision="fp32"))
    out = predictor.predict(item["input"][None], item["mask"][None], item["parameters"])[0]
    assert out.dtype == torch.float32 and torch.isfinite(out).all() and out.device.type == "cpu"


def test_prediction_makes_no_gradient_scaler():
    """Issue 49, item 7: building a predictor built a GradScaler, a training object."""
    from neurender import Predictor

    predictor = Predictor("pretrained:ao-fast")
    assert "scaler" not in vars(predictor.precision)
