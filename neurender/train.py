"""One trainer for both model families: config, data batches, loop, logs, checkpoints, resume, DDP.

A run folder (pix2pix style) holds:
    RUN/config.json              the resolved TrainConfig
    RUN/checkpoint.safetensors   weights, EMA, optimizer state, step and RNG state (one atomic file)
    RUN/log.jsonl                losses every log_every steps; sample metrics every sample_every steps
    RUN/samples/step_NNNNNN.png  inputs | prediction | target of a few fixed views
    RUN/index.html               the sample images, newest first

Distributed: launched by ``torchrun`` (WORLD_SIZE set), each process trains on its own
batches and DDP averages gradients (gloo on the CPU, NCCL on GPUs); rank 0 writes.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from neurender import space
from neurender.data import EFFECTS, MASK, GBufferDataset, held_out_split
from neurender.atomic import atomic_path, write_json_atomic
from neurender.errors import InputError
from neurender.models.acgan import ACGANConfig
from neurender.models.diffusion import DiffusionConfig
from neurender.models.unet import UNetConfig
from neurender.tasks import ACGANTask, DiffusionTask

MODELS = ("acgan", "diffusion")
CHECKPOINT, CONFIG, LOG = "checkpoint.safetensors", "config.json", "log.jsonl"


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as RUN/config.json)."""

    model: str = "acgan"          # "acgan" or "diffusion"
    effect: str = "ao"            # "fog", "ao" or "gi"
    data: str = ""                # dataset directory
    iters: int = 2000             # optimisation steps
    batch: int = 4                # views per step (per process under DDP)
    res: int = 64                 # random crop size in pixels (a multiple of the network's stride)
    lr: float = 2e-4              # Adam learning rate (pix2pix)
    betas: tuple = (0.5, 0.999)   # Adam betas (pix2pix)
    seed: int = 0                 # seeds weights, batches, crops, flips and noise
    ema: float = 0.999            # decay of the EMA weights used for prediction; 0 turns EMA off
    flip: bool = True             # random horizontal flips (normal.X negated)
    test_fraction: float = 0.2    # share of scenes held out (split by scene)
    log_every: int = 25           # steps between loss lines in log.jsonl
    sample_every: int = 250       # steps between sample grids and their metrics
    checkpoint_every: int = 250   # steps between checkpoints (and at the end)
    sample_steps: int = 16        # DDIM steps for diffusion samples during training
    acgan: ACGANConfig = field(default_factory=ACGANConfig)
    unet: UNetConfig = field(default_factory=UNetConfig)
    # v-prediction and the cosine schedule: with epsilon prediction, x0 estimates at large t
    # amplify eps errors by 1/sqrt(abar_t), and short CPU runs sampled poorly (demo AO SSIM 0.28 vs 0.74)
    diffusion: DiffusionConfig = field(default_factory=lambda: DiffusionConfig(schedule="cosine", prediction="v"))

    def check(self) -> None:
        if self.model not in MODELS:
            raise InputError(f"unknown model {self.model!r}; use one of {', '.join(MODELS)}")
        if self.effect not in EFFECTS:
            raise InputError(f"unknown effect {self.effect!r}; use one of {', '.join(EFFECTS)}")
        for name in ("iters", "batch", "res", "log_every", "sample_every", "checkpoint_every", "sample_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and 0 <= self.ema < 1):
            raise InputError(f"need lr > 0 and 0 <= ema < 1, got lr={self.lr}, ema={self.ema}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TrainConfig":
        nested = {"acgan": ACGANConfig, "unet": UNetConfig, "diffusion": DiffusionConfig}
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in nested:
                value = nested[f.name](**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[f.name] = value
        return cls(**kwargs)


def channels(effect: str) -> tuple[list[str], list[str]]:
    """(network input channels, target channels) of ``effect``; GI also sees the mask."""
    spec = EFFECTS[effect]
    inputs = list(spec["inputs"]) + ([MASK] if effect == "gi" and MASK not in spec["inputs"] else [])
    return inputs, list(spec["target"])


def build_task(config: TrainConfig):
    """The task (networks, optimizers, EMA) of ``config``."""
    inputs, targets = channels(config.effect)
    direct = [inputs.index(f"direct.{c}") for c in "RGB"] if config.effect == "gi" else None
    if config.model == "acgan":
        index = None
        if config.effect == "gi":
            index = {"direct": direct, "normal": [inputs.index(f"normal.{a}") for a in "XYZ"],
                     "depth": inputs.index("depth.Z"), "mask": inputs.index(MASK)}
        return ACGANTask(config, len(inputs), len(targets), index)
    return DiffusionTask(config, len(inputs), len(targets), direct)


def to_model_space(item_input: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, effect: str):
    """Linear dataset tensors (B, ., H, W) -> network inputs x and targets y."""
    inputs, _ = channels(effect)
    if item_input.shape[1] == len(inputs) - 1:  # GI: append the mask
        item_input = torch.cat([item_input, mask], dim=1)
    return space.inputs_to_model_space(item_input, inputs, mask), space.target_to_model_space(target, effect)


class Batches:
    """Random crops (and flips) of the training views, drawn from one seeded torch.Generator.

    All views are read once and kept in memory (the datasets this trains on are small).
    """

    def __init__(self, dataset: GBufferDataset, config: TrainConfig, generator: torch.Generator):
        self.items = [dataset[i] for i in range(len(dataset))]
        self.config, self.generator = config, generator
        height, width = self.items[0]["mask"].shape[-2:]
        if config.res > min(height, width):
            raise InputError(f"--res {config.res} is larger than the {height}x{width} views of {config.data}")
        self.normal_x = channels(config.effect)[0].index("normal.X")

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """x, y: (batch, C, res, res) in model space."""
        g, r = self.generator, self.config.res
        xs, ys = [], []
        for _ in range(self.config.batch):
            item = self.items[int(torch.randint(len(self.items), (1,), generator=g))]
            height, width = item["mask"].shape[-2:]
            top = int(torch.randint(height - r + 1, (1,), generator=g))
            left = int(torch.randint(width - r + 1, (1,), generator=g))
            crop = [t[None, :, top:top + r, left:left + r] for t in (item["input"], item["target"], item["mask"])]
            x, y = to_model_space(*crop, self.config.effect)
            if self.config.flip and float(torch.rand((1,), generator=g)) < 0.5:
                x, y = x.flip(-1), y.flip(-1)
                x[:, self.normal_x] = -x[:, self.normal_x]
            xs.append(x)
            ys.append(y)
        return torch.cat(xs), torch.cat(ys)


# --- checkpoints -------------------------------------------------------------------------------

def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict) -> dict:
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.{index}.{key}"] = torch.as_tensor(value).clone()
    return state["param_groups"]


def _restore_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, groups: list) -> None:
    state = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            index, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(run: str, task, step: int, config: TrainConfig, generator: torch.Generator) -> None:
    """Write RUN/checkpoint.safetensors atomically (temporary file, then rename)."""
    tensors, groups = {}, {}
    for name, net in task.networks.items():
        tensors.update({f"net.{name}.{k}": v.detach().contiguous().clone() for k, v in net.state_dict().items()})
    if task.ema:
        tensors.update({f"ema.{k}": v.detach().contiguous().clone() for k, v in task.ema.module.state_dict().items()})
    for name, optimizer in task.optimizers.items():
        groups[name] = _flatten_optimizer(f"optim.{name}", optimizer, tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.batches"] = generator.get_state()
    metadata = {"format": "neurender-run/1", "step": str(step), "model": config.model, "effect": config.effect,
                "param_groups": json.dumps(groups), "python_random": json.dumps(random.getstate()[1]),
                "numpy_random": json.dumps(np.random.get_state()[1].tolist())}
    with atomic_path(os.path.join(run, CHECKPOINT), ".safetensors") as tmp:
        save_file(tensors, tmp, metadata=metadata)


def read_checkpoint(run: str) -> tuple[dict, dict]:
    """(tensors, metadata) of RUN's checkpoint; InputError when missing or corrupt."""
    path = os.path.join(run, CHECKPOINT)
    if not os.path.isfile(path):
        raise InputError(f"no checkpoint in {run} ({CHECKPOINT} missing)")
    try:
        from safetensors import safe_open
        with safe_open(path, "pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"corrupt checkpoint {path}: {' '.join(str(exc).split())[:160]}") from None
    if metadata.get("format") != "neurender-run/1":
        raise InputError(f"{path} is not a neurender checkpoint")
    return tensors, metadata


def load_weights(task, tensors: dict, path: str) -> None:
    try:
        for name, net in task.networks.items():
            prefix = f"net.{name}."
            net.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        if task.ema:
            task.ema.module.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    except RuntimeError as exc:
        raise InputError(f"checkpoint {path} does not fit this model: {str(exc).splitlines()[0]}") from None


def load_config(run: str) -> TrainConfig:
    path = os.path.join(run, CONFIG)
    try:
        with open(path) as handle:
            return TrainConfig.from_json(json.load(handle))
    except FileNotFoundError:
        raise InputError(f"{run} is not a training run ({CONFIG} missing)") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path} is not a valid run config: {exc}") from None


# --- the loop ---------------------------------------------------------------------------------

def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))  # processes share the cores
    return (torch.distributed.get_rank() if world > 1 else 0), world


def train(config: TrainConfig, run: str, resume: bool = False, progress: bool = True) -> dict:
    """Train ``config`` into the run folder ``run``; with ``resume`` continue from its checkpoint."""
    config.check()
    rank, world = _distributed()
    os.makedirs(run, exist_ok=True)
    config_path = os.path.join(run, CONFIG)
    if resume:
        saved = load_config(run)
        if (saved.model, saved.effect) != (config.model, config.effect):
            raise InputError(f"{run} holds a {saved.model}/{saved.effect} run, not {config.model}/{config.effect}")
        config = dataclasses.replace(saved, iters=config.iters)
    elif os.path.exists(os.path.join(run, CHECKPOINT)):
        raise InputError(f"{run} already holds a run; pass --resume to continue it or choose another --out")
    torch.manual_seed(config.seed + rank)
    random.seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    generator = torch.Generator().manual_seed(config.seed + 1000 * rank)
    train_set = GBufferDataset(config.data, config.effect, split="train" if held_out_split(config.data) == "test" else "all",
                               test_fraction=config.test_fraction, seed=config.seed)
    batches = Batches(train_set, config, generator)
    task = build_task(config)
    stride = task.networks[task.main].stride
    if config.res % stride:
        raise InputError(f"--res {config.res} must be a multiple of the network's stride {stride}")
    min_size = getattr(task.networks.get("discriminator"), "min_size", 1)
    if config.res < min_size:
        raise InputError(f"--res {config.res} is below the discriminator's minimum {min_size}")
    step = 0
    if resume:
        tensors, metadata = read_checkpoint(run)
        load_weights(task, tensors, run)
        groups = json.loads(metadata["param_groups"])
        for name, optimizer in task.optimizers.items():
            _restore_optimizer(f"optim.{name}", optimizer, tensors, groups[name])
        torch.set_rng_state(tensors["rng.torch"])
        generator.set_state(tensors["rng.batches"])
        random.setstate((3, tuple(json.loads(metadata["python_random"])), None))
        np.random.set_state(("MT19937", np.array(json.loads(metadata["numpy_random"]), dtype=np.uint32), 624))
        step = int(metadata["step"])
    if rank == 0:
        write_json_atomic(config_path, config.to_json())
    wrapped = dict(task.networks)
    if world > 1:
        wrapped = {k: torch.nn.parallel.DistributedDataParallel(v) for k, v in task.networks.items()}
    samples = _SampleViews(config, rank) if rank == 0 else None
    from tqdm import tqdm

    bar = tqdm(total=config.iters, initial=step, unit="step", disable=None if progress and rank == 0 else True, dynamic_ncols=True)
    start = time.perf_counter()
    with bar, open(os.path.join(run, LOG), "a") if rank == 0 else contextlib.nullcontext() as log:
        while step < config.iters:
            x, y = batches.next()
            losses = task.step(x, y, generator, wrapped)
            step += 1
            if task.ema:
                task.ema.update(task.networks[task.main], step)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            if rank != 0:
                continue
            if step % config.log_every == 0 or step == config.iters:
                log.write(json.dumps({"step": step, "time": round(time.perf_counter() - start, 3), **losses}) + "\n")
                log.flush()
            if step % config.sample_every == 0 or step == config.iters:
                metrics = samples.write(task, run, step)
                log.write(json.dumps({"step": step, "samples": metrics}) + "\n")
                log.flush()
            if step % config.checkpoint_every == 0 or step == config.iters:
                save_checkpoint(run, task, step, config, generator)
    if world > 1:
        torch.distributed.barrier()
    return {"step": step, "seconds": time.perf_counter() - start, "rank": rank}


class _SampleViews:
    """A few fixed views (held-out scenes when there are any), predicted at every sample step."""

    def __init__(self, config: TrainConfig, rank: int, count: int = 3):
        dataset = GBufferDataset(config.data, config.effect, split=held_out_split(config.data),
                                 test_fraction=config.test_fraction,
                                 seed=config.seed)
        self.items = [dataset[i] for i in range(min(count, len(dataset)))]
        self.config = config

    def write(self, task, run: str, step: int) -> dict:
        from PIL import Image

        from neurender import metrics

        rows, ssims, psnrs = [], [], []
        for item in self.items:
            stride = task.networks[task.main].stride
            h, w = (s // stride * stride for s in item["mask"].shape[-2:])
            crop = [t[None, :, :h, :w] for t in (item["input"], item["target"], item["mask"])]
            x, _ = to_model_space(*crop, self.config.effect)
            kwargs = {"steps": self.config.sample_steps} if self.config.model == "diffusion" else {}
            prediction = space.from_model_space(task.sample(x, **kwargs)[0], self.config.effect)
            target = crop[1]
            shown = [space.display(t, self.config.effect != "ao") for t in (prediction, target)]
            ssims.append(float(metrics.ssim(*shown)[0]))
            psnrs.append(float(metrics.psnr(*shown)[0]))
            row = [s[0].permute(1, 2, 0).expand(-1, -1, 3).numpy() for s in shown]
            rows.append(np.concatenate(row, axis=1))
        os.makedirs(os.path.join(run, "samples"), exist_ok=True)
        name = f"step_{step:06d}.png"
        image = (np.concatenate(rows, axis=0) * 255 + 0.5).astype(np.uint8)
        Image.fromarray(image).resize((image.shape[1] * 2, image.shape[0] * 2), Image.NEAREST).save(
            os.path.join(run, "samples", name))
        pages = sorted(os.listdir(os.path.join(run, "samples")), reverse=True)
        html = "".join(f"<h3>{p}</h3><img src='samples/{p}'>" for p in pages if p.endswith(".png"))
        with open(os.path.join(run, "index.html"), "w") as handle:
            handle.write(f"<html><body><h1>{self.config.model} / {self.config.effect}</h1>"
                         f"<p>prediction | path-traced target</p>{html}</body></html>")
        return {"ssim": float(np.mean(ssims)), "psnr": float(np.mean(psnrs))}
