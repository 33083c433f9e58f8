"""The trainer and predictor on a tiny generated dataset: learning, exact resume, DDP, save/load, CLI errors."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from nr_helpers import BASE_ENV, error_lines, predict_item, run_neurender

from neurender import effects, metrics, space
from neurender.base.exr import read_exr, write_exr
from neurender.device import Precision
from neurender.inference.predictor import Predictor
from neurender.inference.sampling import SamplingOptions
from neurender.models.acgan import ACGANConfig
from neurender.models.unet import UNetConfig
from neurender.run import runs
from neurender.run.checkpoint import read_checkpoint
from neurender.run.config import TrainConfig
from neurender.training.checkpoint import save_checkpoint
from neurender.training.tasks import build_task
from neurender.training.train import Batches, crop_to_model_space, prepared, train

TINY_GAN = ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8, disc_layers=2)
TINY_UNET = UNetConfig(base_channels=8, channel_mults=(1, 2), attention_levels=(1,))


@pytest.fixture(scope="module")
def train_data(pair_dataset) -> Path:
    return pair_dataset


def tiny_config(data, model="acgan", effect="ao", **changes) -> TrainConfig:
    config = TrainConfig(model=model, effect=effect, data=str(data), iters=6, batch=2, crop=16, log_every=2,
                         sample_every=1000, checkpoint_every=3, sample_steps=2, acgan=TINY_GAN, unet=TINY_UNET)
    return dataclasses.replace(config, **changes)


def train_ssim(run: str, data: Path, effect: str) -> float:
    """Mean SSIM of the run's predictions on its training views (the non-held-out scene)."""
    from neurender.data import GBufferDataset

    predictor = Predictor(run, SamplingOptions(steps=4))
    dataset = GBufferDataset(str(data), effect, split="train", seed=0)
    scores = []
    for i in range(len(dataset)):
        item = dataset[i]
        prediction = predict_item(predictor, item)
        hdr = effects.get(effect).hdr
        scores.append(float(metrics.ssim(space.display(prediction, hdr), space.display(item["target"][None], hdr))[0]))
    return float(np.mean(scores))


@pytest.mark.parametrize("model,inputs,gain", [("acgan", "gbuffer", 0.1), ("acgan", "scaled", 0.005),
                                               ("diffusion", "gbuffer", 0.1)])
def test_overfitting_raises_train_ssim(train_data, tmp_path, model, inputs, gain):
    """A few hundred steps on two views drive their SSIM clearly above the starting value: a random
    network's for G-buffer runs, the classic first guess's for scaled runs (and, for diffusion, the
    denoising loss falls)."""
    config = tiny_config(train_data, model=model, inputs=inputs, crop=16, iters=1, ema=0.0, log_every=10,
                         lr=2e-3 if model == "diffusion" else 5e-4)
    train(config, str(tmp_path / "start"), progress=False)
    train(dataclasses.replace(config, iters=150), str(tmp_path / "end"), progress=False)
    start, end = train_ssim(str(tmp_path / "start"), train_data, "ao"), train_ssim(str(tmp_path / "end"), train_data, "ao")
    assert end > start + gain, (start, end)
    if model == "diffusion":
        losses = [json.loads(line)["loss"] for line in (tmp_path / "end" / "log.jsonl").read_text().splitlines()
                  if "loss" in line]
        # each logged loss is one batch's (it swings by 2x between logs): compare five with five
        assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses


@pytest.mark.parametrize("model,effect", [("acgan", "ao"), ("acgan", "gi"), ("diffusion", "fog")])
def test_resume_matches_an_uninterrupted_run(train_data, tmp_path, model, effect):
    config = tiny_config(train_data, model=model, effect=effect)
    train(config, str(tmp_path / "straight"), progress=False)
    train(dataclasses.replace(config, iters=3), str(tmp_path / "resumed"), progress=False)
    train(config, str(tmp_path / "resumed"), resume=True, progress=False)
    a, meta_a = read_checkpoint(runs.path(str(tmp_path / "straight"), runs.CHECKPOINT))
    b, meta_b = read_checkpoint(runs.path(str(tmp_path / "resumed"), runs.CHECKPOINT))
    assert meta_a["step"] == meta_b["step"] == "6"
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("model,effect", [("acgan", "fog"), ("diffusion", "gi")])
def test_save_load_predict_is_identical(train_data, tmp_path, model, effect):
    config = tiny_config(train_data, model=model, effect=effect)
    task = build_task(config)
    generator = torch.Generator().manual_seed(0)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config.to_json()))
    from neurender.data import GBufferDataset

    whole = GBufferDataset(str(train_data), effect)[0]
    raw = whole | {k: whole[k][:, :16, :16] for k in ("input", "target", "mask")}
    item = prepared(raw, effects.get(effect), config)
    assert item["light"] is not None  # fog and GI runs balance the light by default
    x, y = crop_to_model_space(item, 0, 0, 16, 16, effects.get(effect))
    task.step(x, y, generator, dict(task.networks), Precision())
    task.ema.update(task.networks[task.main], 1)
    save_checkpoint(runs.path(str(run), runs.CHECKPOINT), task, 1, config, generator)
    expected = space.from_model_space(task.sample(x, steps=3, seed=5), effects.get(effect)).mean(0) * item["light"]
    loaded = Predictor(str(run), SamplingOptions(steps=3, seed=5))
    got = predict_item(loaded, raw)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-7)


def test_training_flips_mirror_views_and_negate_normal_x(train_data):
    """Batches with flips on give, for the same draws, the mirror image of the unflipped batch with
    normal.X negated (camera space +X right) and every other channel only mirrored."""
    from neurender.data import GBufferDataset

    effect = effects.get("fog")
    dataset = GBufferDataset(str(train_data), "fog", split="train")
    config = tiny_config(train_data, effect="fog", batch=1, crop=16)
    flipped_seen = False
    for seed in range(8):
        plain = Batches([dataset], dataclasses.replace(config, flip=False), torch.Generator().manual_seed(seed)).next()
        maybe = Batches([dataset], config, torch.Generator().manual_seed(seed)).next()
        if torch.equal(maybe[0], plain[0]):
            continue
        flipped_seen = True
        nx, ny = effect.index(["normal.X", "normal.Y"])
        assert torch.equal(maybe[0][:, nx], -plain[0][:, nx].flip(-1))
        assert torch.equal(maybe[0][:, ny], plain[0][:, ny].flip(-1))
        assert torch.equal(maybe[1], plain[1].flip(-1))
    assert flipped_seen, "a flip has probability 1/2 per view: 8 seeds must see one"


def test_two_process_ddp_trains(train_data, tmp_path):
    """torchrun -m neurender train (docs/training.md): two gloo processes, rank 0 writes and locks."""
    run = tmp_path / "ddp"
    torchrun = Path(sys.executable).parent / "torchrun"
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29637", "-m", "neurender", "train",
                           "--model", "acgan", "--effect", "ao", "--data", str(train_data), "--out", str(run),
                           "--iters", "4", "--crop", "32", "--batch", "1", "--width", "8"],
                          capture_output=True, text=True, env=dict(BASE_ENV), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    tensors, metadata = read_checkpoint(runs.path(str(run), runs.CHECKPOINT))
    assert metadata["step"] == "4"
    log = (run / "log.jsonl").read_text().splitlines()
    assert log, "rank 0 writes the log"
    assert proc.stdout.count("trained acgan/ao") == 1, "only rank 0 reports"


def test_predict_cli_writes_target_channels_and_rejects_bad_input(train_data, tmp_path, capsys):
    run = tmp_path / "run"
    result = run_neurender("train", "--model", "acgan", "--effect", "fog", "--data", train_data, "--out", run,
                           "--iters", "2", "--crop", "32", "--batch", "1", "--width", "8")
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp_path / "pred"
    result = run_neurender("predict", "--checkpoint", run, "--input", train_data, "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    files = sorted(out.rglob("*.exr"))
    assert len(files) == 4
    channels = read_exr(str(files[0]))
    assert sorted(channels) == ["fog.B", "fog.G", "fog.R"]
    assert channels["fog.R"].shape == (32, 32) and all(np.isfinite(c).all() and (c >= 0).all() for c in channels.values())

    view = read_exr(str(next(train_data.rglob("000.exr"))))
    missing = {k: v for k, v in view.items() if k != "depth.Z"}
    write_exr(str(tmp_path / "missing.exr"), missing)
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "config.json").write_text((run / "config.json").read_text())
    (tmp_path / "corrupt" / "checkpoint.safetensors").write_bytes(b"\x00" * 64)
    cases = {
        "depth.Z": ("predict", "--checkpoint", run, "--input", tmp_path / "missing.exr", "--out", tmp_path / "o2"),
        "corrupt checkpoint": ("predict", "--checkpoint", tmp_path / "corrupt", "--input", train_data, "--out", tmp_path / "o3"),
        "made with other options (model": ("train", "--model", "diffusion", "--effect", "fog", "--data", train_data, "--out", run,
                              "--resume"),
        "made with other options (batch, crop": ("train", "--model", "acgan", "--effect", "fog", "--data", train_data,
                                                 "--out", run),
    }
    from neurender.commands.cli import main

    for expected, args in cases.items():  # in this process: the command line without a fresh interpreter
        status = main([str(a) for a in args])
        lines = error_lines(capsys.readouterr().err)
        assert status == 2, (expected, lines)
        assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], (expected, lines)


def test_diffusion_predict_samples_write_their_spread(train_data, tmp_path):
    run = tmp_path / "run"
    train(tiny_config(train_data, model="diffusion", iters=2), str(run), progress=False)
    out = tmp_path / "pred"
    result = run_neurender("predict", "--checkpoint", run, "--input", train_data, "--out", out, "--steps", "2",
                           "--samples", "3")
    assert result.returncode == 0, result.stderr[-2000:]
    channels = read_exr(str(sorted(out.rglob("*.exr"))[0]))
    assert set(channels) == {"ao.Y", "std.ao.Y"}
    assert (channels["std.ao.Y"] > 0).any() and (channels["ao.Y"] >= 0).all() and (channels["ao.Y"] <= 1).all()


def test_training_reads_several_datasets(train_data, tmp_path):
    """--data A B trains on the training scenes of both; config.json records both; a plain string still works."""
    run = tmp_path / "two"
    config = tiny_config(train_data, iters=1, checkpoint_every=1)
    config = dataclasses.replace(config, data=(str(train_data), str(train_data)))
    train(config, str(run), progress=False)
    assert json.loads((run / "config.json").read_text())["data"] == [str(train_data)] * 2
    from neurender.data import GBufferDataset

    single = GBufferDataset(str(train_data), "ao", split="train")
    assert len(Batches([single, single], config, torch.Generator()).items) == 2 * len(single)
    assert TrainConfig(model="acgan", effect="ao", data=str(train_data)).data == (str(train_data),)


def test_an_interrupted_run_continues_with_each_step_logged_once(train_data, tmp_path, monkeypatch):
    """Stopped after step 5 (checkpoint at 3), the same call continues from step 3: log.jsonl holds
    every step once, and the weights equal an uninterrupted run's. Other options are refused by name."""
    from neurender.base.errors import InputError
    from neurender.training import train as train_module

    config = tiny_config(train_data, iters=8, log_every=1)
    train(config, str(tmp_path / "straight"), progress=False)
    calls = {"n": 0}
    original = train_module.Batches.next

    def stop_at_sixth(self):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt  # Ctrl-C (or kill -9) after step 5 was logged
        return original(self)

    monkeypatch.setattr(train_module.Batches, "next", stop_at_sixth)
    with pytest.raises(KeyboardInterrupt):
        train(config, str(tmp_path / "run"), progress=False)
    monkeypatch.setattr(train_module.Batches, "next", original)
    logged = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4, 5]
    with pytest.raises(InputError, match=r"other options \(batch, lr\)"):
        train(dataclasses.replace(config, lr=1e-3, batch=1), str(tmp_path / "run"), progress=False)
    train(config, str(tmp_path / "run"), progress=False)  # the same call again, no resume flag
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
             if "samples" not in line]
    assert steps == list(range(1, 9))
    a, _ = read_checkpoint(runs.path(str(tmp_path / "straight"), runs.CHECKPOINT))
    b, _ = read_checkpoint(runs.path(str(tmp_path / "run"), runs.CHECKPOINT))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("net."))
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert all(os.path.isabs(d) for d in saved["data"]), "data paths resolve from any working directory"


def test_a_second_trainer_on_the_same_run_is_refused(train_data, tmp_path):
    from neurender.base.lock import folder_lock

    run = tmp_path / "run"
    with folder_lock(str(run), "neurender train"):
        result = run_neurender("train", "--model", "acgan", "--effect", "ao", "--data", train_data, "--out", run,
                               "--iters", "1", "--crop", "16", "--width", "8")
    assert result.returncode == 2 and f"pid {os.getpid()}" in result.stderr and not (run / "log.jsonl").exists()


def test_downscaled_views_pick_the_gbuffer_and_average_the_target(train_data):
    """--downscale 2: every view also at half size, G-buffer and mask at every second pixel (the
    block's centre neighbour), the path-traced target averaged over each 2x2 block."""
    from neurender.data import GBufferDataset
    from neurender.training.train import downscaled

    item = GBufferDataset(str(train_data), "ao")[0]
    half = downscaled(item, 2)
    assert half["input"].shape[-2:] == (16, 16) and half["mask"].shape == (1, 16, 16)
    assert torch.equal(half["input"][:, 3, 5], item["input"][:, 7, 11])
    assert torch.allclose(half["target"][:, 3, 5], item["target"][:, 6:8, 10:12].mean(dim=(1, 2)))
    config = tiny_config(train_data, crop=16, downscale=(1, 2, 4))  # 32 px views: 8 px copies are left out
    assert len(Batches([GBufferDataset(str(train_data), "ao", split="train")], config,
                       torch.Generator().manual_seed(0)).items) == 2 * 2


def test_tensorboard_holds_the_logged_losses_and_the_sample_grid_and_resumes_without_repeats(train_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "board"
    config = tiny_config(train_data, sample_every=3)
    train(dataclasses.replace(config, iters=3), str(run), progress=False)
    train(config, str(run), progress=False)  # continues from the checkpoint at step 3
    events = EventAccumulator(str(run / "tensorboard")).Reload()
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    losses = {k: [(r["step"], v) for r in logged if "samples" not in r for k2, v in r.items() if k2 == k]
              for k in logged[0] if k not in ("step", "time")}
    for name, points in losses.items():
        scalars = [(e.step, e.value) for e in events.Scalars(f"loss/{name}")]
        assert [s for s, _ in scalars] == [s for s, _ in points]
        np.testing.assert_allclose([v for _, v in scalars], [v for _, v in points], rtol=1e-6)
    assert [e.step for e in events.Scalars("samples/ssim")] == [3, 6]
    assert [e.step for e in events.Images("samples/prediction | target")] == [3, 6]
    quiet = tmp_path / "quiet"
    train(dataclasses.replace(config, iters=1), str(quiet), progress=False, tensorboard=False)
    assert not (quiet / "tensorboard").exists()


@pytest.mark.parametrize("model", ["acgan", "diffusion", "fast"])
def test_a_batch_that_cannot_fit_is_refused_with_the_figures(train_data, tmp_path, model):
    """Issue 47, item 9: train --batch 100000 on two views grew to 23 GB and was killed by the kernel."""
    from neurender.base.errors import InputError

    with pytest.raises(InputError, match=r"--batch 10000000 of 16 px crops needs about [\d.]+ GB a step, more than "
                                         r"the [\d.]+ GB free on cpu; use --batch \d+ or less"):
        train(tiny_config(train_data, model, batch=10_000_000), str(tmp_path / "run"))
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()
    train(tiny_config(train_data, model, iters=1), str(tmp_path / "fits"))  # a batch that fits still trains


def test_a_diverged_step_stops_the_run_and_writes_nothing_of_it(train_data, tmp_path, monkeypatch):
    """Issue 47: a loss that is not finite stops training with one clear error; the checkpoint and the log
    keep the last finite steps, and --resume goes on from there."""
    from neurender.base.errors import InputError
    from neurender.training import tasks

    run = tmp_path / "run"
    real_step = tasks.FastTask.step
    calls = []

    def diverging(self, *args, **kwargs):
        losses = real_step(self, *args, **kwargs)
        calls.append(1)
        return {name: (float("nan") if len(calls) == 4 else value) for name, value in losses.items()}

    monkeypatch.setattr(tasks.FastTask, "step", diverging)
    with pytest.raises(InputError, match=r"training diverged at step 4 .*lower --lr"):
        train(tiny_config(train_data, model="fast"), str(run), progress=False)
    assert int(read_checkpoint(str(run / "checkpoint.safetensors"))[1]["step"]) == 3
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "samples" not in r] == [2]
    assert all(np.isfinite(v) for r in logged for k, v in r.items() if isinstance(v, float))
    monkeypatch.setattr(tasks.FastTask, "step", real_step)
    train(tiny_config(train_data, model="fast"), str(run), resume=True, progress=False)
    assert int(read_checkpoint(str(run / "checkpoint.safetensors"))[1]["step"]) == 6
