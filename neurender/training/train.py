"""One trainer for both model families: data batches, loop, logs, checkpoints, resume, DDP.

It writes a run folder (`neurender.run.runs` says what it holds).

Distributed: launched by ``torchrun`` (WORLD_SIZE set), each process trains on its own
batches and DDP averages gradients (gloo on the CPU, NCCL on GPUs); rank 0 writes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from neurender import effects, metrics, space
from neurender.base.atomic import atomic_path
from neurender.base.dataset import NORMAL
from neurender.base.errors import InputError
from neurender.base.lock import folder_lock
from neurender.base.paths import check_apart
from neurender.data import GBufferDataset, held_out_split
from neurender.device import DeviceOptions, Precision, resolve_device
from neurender.run import runs
from neurender.run.checkpoint import load_prediction_weights, read_checkpoint
from neurender.run.config import TrainConfig
from neurender.run.inputs import balanced, channels, view_input
from neurender.training.checkpoint import load_weights, restore_training_state, save_checkpoint
from neurender.training.monitor import Monitor
from neurender.training.tasks import build_task, to_device


def _initialise(task, init: str, config: TrainConfig) -> None:
    """The predicting network (and its EMA) of ``task`` from the prediction weights of run ``init``,
    which must read the same channels as ``config`` (its guess may be another classic method's: a GAN
    over GTAO can start one over gtao-half)."""
    run = runs.open_run(init)
    effect = effects.get(config.effect)
    runs.same_inputs(run, config, "--init", same_kind=channels(effect, run.config.inputs) != channels(effect, config.inputs))
    tensors, _ = run.read_checkpoint()
    load_prediction_weights(task.networks[task.main], task.main, tensors, run.checkpoint_path)
    if task.ema:
        task.ema.module.load_state_dict(task.networks[task.main].state_dict())


def downscaled(item: dict, factor: int) -> dict:
    """A dataset item as if rendered ``factor`` times smaller: the G-buffer and mask at every
    ``factor``-th pixel (the centre's neighbour), the path-traced target averaged over each block."""
    if factor == 1:
        return item
    h, w = (s // factor * factor for s in item["mask"].shape[-2:])
    pick = slice(factor // 2, h, factor)
    target = torch.nn.functional.avg_pool2d(item["target"][None, :, :h, :w], factor)[0]
    return item | {"input": item["input"][:, pick, pick].contiguous(), "mask": item["mask"][:, pick, pick].contiguous(),
                   "target": target}


def prepared(item: dict, effect, config: TrainConfig) -> dict:
    """A dataset ``item`` ready to crop: ``x`` (C, H, W), the network input of the whole view as prediction
    builds it (`neurender.run.inputs.view_input`, the light divided out first when the run balances it),
    the target in that light and ``light`` (1, 3, 1, 1; None when the run does not balance)."""
    inputs, light = balanced(item["input"][None], effect, config.balances_light)
    x = view_input(inputs, item["mask"][None], item["parameters"], effect, config.inputs)[0]
    return item | {"x": x, "target": item["target"] if light is None else item["target"] / light[0], "light": light}


def crop_to_model_space(item: dict, top: int, left: int, height: int, width: int, effect):
    """Network inputs x and targets y (1, C, height, width) of a crop of a `prepared` item."""
    x, target = (item[k][None, :, top:top + height, left:left + width] for k in ("x", "target"))
    return x, space.target_to_model_space(target, effect)


class Batches:
    """Random crops (and flips) of the training views, drawn from one seeded torch.Generator.

    All views are read once and kept in memory (the datasets this trains on are small), each at
    every factor of ``config.downscale`` (several pixel footprints per scene; copies smaller than
    the crop are left out), with the derived channels and first guess of scaled runs computed on the
    whole view.
    """

    def __init__(self, datasets: list[GBufferDataset], config: TrainConfig, generator: torch.Generator):
        self.effect = effects.get(config.effect)
        views = [dataset[i] for dataset in datasets for i in range(len(dataset))]
        if any(min(v["mask"].shape[-2:]) < config.crop for v in views):
            height, width = min(v["mask"].shape[-2] for v in views), min(v["mask"].shape[-1] for v in views)
            raise InputError(f"--crop {config.crop} is larger than the smallest views ({height}x{width}) of "
                             f"{', '.join(config.data)}")
        copies = [downscaled(item, k) for item in views for k in config.downscale]
        self.items = [prepared(c, self.effect, config) for c in copies
                      if min(c["mask"].shape[-2:]) >= config.crop]
        self.config, self.generator = config, generator
        names = channels(self.effect, config.inputs)
        self.negated = [i for i, name in enumerate(names) if name == NORMAL[0]]  # mirrored

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y: (batch, C, res, res) in model space."""
        g, r = self.generator, self.config.crop
        xs, ys = [], []
        for _ in range(self.config.batch):
            item = self.items[int(torch.randint(len(self.items), (1,), generator=g))]
            height, width = item["mask"].shape[-2:]
            top = int(torch.randint(height - r + 1, (1,), generator=g))
            left = int(torch.randint(width - r + 1, (1,), generator=g))
            x, y = crop_to_model_space(item, top, left, r, r, self.effect)
            if self.config.flip and float(torch.rand((1,), generator=g)) < 0.5:
                x, y = x.flip(-1), y.flip(-1)
                x[:, self.negated] = -x[:, self.negated]
            xs.append(x)
            ys.append(y)
        return torch.cat(xs), torch.cat(ys)


# --- the loop ---------------------------------------------------------------------------------

TRAINING_FACTOR = 4
"""Bytes a training step holds per byte of activations of a prediction (their gradients, the adversary's
pass, temporaries): a coarse guard against a batch that cannot fit, not a budget."""


def _available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device`` in bytes (the CPU's MemAvailable; None where /proc/meminfo is missing)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None


def _check_memory(task, batches: Batches, config: TrainConfig, device: torch.device) -> None:
    """InputError, with the figures, when a step of ``config.batch`` crops would not fit in the free memory:
    the activations of one prediction of one crop (counted at the leaf modules), times
    `TRAINING_FACTOR`, times the batch."""
    available = _available_bytes(device)
    if available is None:
        return
    x, _ = crop_to_model_space(batches.items[0], 0, 0, config.crop, config.crop, batches.effect)
    floats = 0

    def count(module, inputs, output):
        nonlocal floats
        floats += sum(t.numel() for t in (output if isinstance(output, (tuple, list)) else (output,))
                      if isinstance(t, torch.Tensor))

    networks = [*task.networks.values(), *([task.ema.module] if task.ema else [])]  # a prediction runs the EMA copy
    leaves = [m for net in networks for m in net.modules() if not next(m.children(), None)]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        with torch.no_grad():
            task.sample(x.to(device), steps=1)
    finally:
        for hook in hooks:
            hook.remove()
    need = 4 * floats * TRAINING_FACTOR * config.batch
    if need > available:
        fits = max(1, int(config.batch * available / need))
        raise InputError(f"--batch {config.batch} of {config.crop} px crops needs about {need / 1e9:.1f} GB a step, "
                         f"more than the {available / 1e9:.1f} GB free on {device}; use --batch {fits} or less, "
                         "or a smaller --crop")

def _distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, this process's device); under torchrun it initialises the process group:
    NCCL with one GPU per process (``cuda:LOCAL_RANK``) when ``device`` is a GPU, else gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))  # processes share the cores
    return torch.distributed.get_rank(), world, device


def _resumed_config(config: TrainConfig, run: str, resume: bool) -> tuple[TrainConfig, bool]:
    """(the config to train, whether it continues the run in ``run``). A run folder holding a
    checkpoint is continued when its config equals ``config`` but for ``iters``; InputError names the
    options that differ, or says there is nothing to resume when ``resume`` is asked for in vain."""
    if not os.path.exists(runs.path(run, runs.CHECKPOINT)):
        if resume:
            raise InputError(f"{run} holds no checkpoint to resume; leave out --resume to start the run")
        return config, False
    saved = runs.load_config(run)
    saved = dataclasses.replace(saved, data=tuple(os.path.abspath(d) for d in saved.data))  # runs before absolute paths
    differing = [f.name for f in dataclasses.fields(TrainConfig)
                 if f.name != "iters" and getattr(saved, f.name) != getattr(config, f.name)]
    if differing:
        raise InputError(f"{run} holds a run made with other options ({', '.join(differing)}); give the same "
                         "options to continue it, or another --out")
    if saved.iters != config.iters:
        print(f"note: continuing {run} to {config.iters} steps (it was set to {saved.iters})", file=sys.stderr)
    return config, True


def _cut_log(run: str, step: int) -> None:
    """Keep the log lines of steps up to ``step`` (the checkpoint's): a resumed run logs each step once."""
    path = runs.path(run, runs.LOG)
    if not os.path.exists(path):
        return
    with open(path) as handle:
        lines = handle.read().splitlines()
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line
    with atomic_path(path, ".jsonl") as tmp, open(tmp, "w") as handle:
        handle.write("".join(line + "\n" for line in kept))


def train(config: TrainConfig, run: str, resume: bool = False, progress: bool = True,
          devices: DeviceOptions = DeviceOptions(), tensorboard: bool = True) -> dict:
    """Train ``config`` into the run folder ``run`` on ``devices``, continuing the run already there when
    it was made with the same config (but for ``iters``); ``resume`` insists that there is one. The folder
    is locked for the whole run (a second trainer on it is refused). ``tensorboard``: TensorBoard events
    beside log.jsonl (`neurender.training.monitor`)."""
    config.check()
    check_apart(run, config.data)
    config = dataclasses.replace(config, data=tuple(os.path.abspath(d) for d in config.data))
    rank, world, where = _distributed(resolve_device(devices.device))
    mixed = Precision(devices.precision, where)
    config, resume = _resumed_config(config, run, resume)  # before the lock: a refused run folder is not touched
    with folder_lock(run, "neurender train") if rank == 0 else contextlib.nullcontext():
        return _train(config, run, resume, progress, rank, world, mixed, tensorboard)


def _train(config: TrainConfig, run: str, resume: bool, progress: bool, rank: int, world: int,
           precision: Precision, tensorboard: bool) -> dict:
    device = precision.device
    checkpoint = runs.path(run, runs.CHECKPOINT)
    torch.manual_seed(config.seed + rank)
    random.seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    generator = torch.Generator().manual_seed(config.seed + 1000 * rank)
    train_sets = [GBufferDataset(data, config.effect, split="train" if held_out_split(data) == "test" else "all",
                                 test_fraction=config.test_fraction, seed=config.seed) for data in config.data]
    batches = Batches(train_sets, config, generator)
    task = to_device(build_task(config), device)
    if config.init and not resume:
        _initialise(task, config.init, config)
    stride = task.stride
    if config.crop % stride:
        raise InputError(f"--crop {config.crop} must be a multiple of the network's stride {stride}")
    min_size = getattr(task.networks.get("discriminator"), "min_size", 1)
    if config.crop < min_size:
        raise InputError(f"--crop {config.crop} is below the discriminator's minimum {min_size}")
    _check_memory(task, batches, config, device)
    step = 0
    if resume:
        tensors, metadata = read_checkpoint(checkpoint)
        load_weights(task, tensors, checkpoint)
        step = restore_training_state(task, tensors, metadata, generator)
    if rank == 0:
        _cut_log(run, step)
        runs.save_config(run, config)
    wrapped = dict(task.networks)
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        wrapped = {k: torch.nn.parallel.DistributedDataParallel(v, device_ids=ids) for k, v in task.networks.items()}
    samples = _SampleViews(config, rank) if rank == 0 else None
    monitor = Monitor(run, step, tensorboard and rank == 0)  # events after the checkpoint's step are dropped
    bar = tqdm(total=config.iters, initial=step, unit="step", disable=None if progress and rank == 0 else True,
               dynamic_ncols=True)
    start = time.perf_counter()
    with bar, open(runs.path(run, runs.LOG), "a") if rank == 0 else contextlib.nullcontext() as log:
        while step < config.iters:
            x, y = (t.to(device, non_blocking=True) for t in batches.next())
            losses = task.step(x, y, generator, wrapped, precision)
            step += 1
            if not all(math.isfinite(value) for value in losses.values()):
                raise InputError(f"training diverged at step {step} ({', '.join(f'{k} {v}' for k, v in losses.items())}); "
                                 f"nothing of this step is written: lower --lr (now {config.lr})")
            if task.ema:
                task.ema.update(task.networks[task.main], step)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            if rank != 0:
                continue
            if step % config.log_every == 0 or step == config.iters:
                log.write(json.dumps({"step": step, "time": round(time.perf_counter() - start, 3), **losses}) + "\n")
                log.flush()
                monitor.losses(step, losses)
            if step % config.sample_every == 0 or step == config.iters:
                metrics, grid = samples.write(task, run, step)
                log.write(json.dumps({"step": step, "samples": metrics}) + "\n")
                log.flush()
                monitor.samples(step, metrics, grid)
            if step % config.checkpoint_every == 0 or step == config.iters:
                save_checkpoint(checkpoint, task, step, config, generator)
    monitor.close()
    if world > 1:
        torch.distributed.barrier()
    return {"step": step, "seconds": time.perf_counter() - start, "rank": rank}


class _SampleViews:
    """A few fixed views (held-out scenes when there are any), predicted at every sample step."""

    def __init__(self, config: TrainConfig, rank: int, count: int = 3):
        dataset = GBufferDataset(config.data[0], config.effect, split=held_out_split(config.data[0]),
                                 test_fraction=config.test_fraction,
                                 seed=config.seed)
        self.items = [prepared(dataset[i], dataset.effect, config) for i in range(min(count, len(dataset)))]
        self.config, self.effect = config, dataset.effect

    def write(self, task, run: str, step: int) -> tuple[dict, np.ndarray]:
        """Predict the views and write their grid PNG; returns their mean SSIM and PSNR and the grid (H, W, 3)
        uint8 (prediction | target per row)."""
        rows, ssims, psnrs = [], [], []
        for item in self.items:
            stride = task.stride
            h, w = (s // stride * stride for s in item["mask"].shape[-2:])
            x, _ = crop_to_model_space(item, 0, 0, h, w, self.effect)
            target = item["target"][None, :, :h, :w]
            device = next(task.networks[task.main].parameters()).device
            prediction = space.from_model_space(task.sample(x.to(device), steps=self.config.sample_steps)[0].cpu(),
                                                self.effect)
            if item["light"] is not None:  # back to the view's light
                prediction, target = prediction * item["light"], target * item["light"]
            shown = [space.display(t, self.effect.hdr) for t in (prediction, target)]
            ssims.append(float(metrics.ssim(*shown)[0]))
            psnrs.append(float(metrics.psnr(*shown)[0]))
            row = [s[0].permute(1, 2, 0).expand(-1, -1, 3).numpy() for s in shown]
            rows.append(np.concatenate(row, axis=1))
        folder = runs.path(run, runs.SAMPLES)
        os.makedirs(folder, exist_ok=True)
        name = f"step_{step:06d}.png"
        image = (np.concatenate(rows, axis=0) * 255 + 0.5).astype(np.uint8)
        Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2), Image.NEAREST).save(
            os.path.join(folder, name))
        return {"ssim": float(np.mean(ssims)), "psnr": float(np.mean(psnrs))}, image
