"""The configuration of a training run (nerfstudio style: a dataclass, a docstring per field),
saved as RUN/config.json, and the command-line flags derived from it."""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import os
import types
import typing
from dataclasses import asdict, dataclass, field

from core.errors import InputError
from neurender import effects
from neurender.models.acgan import ACGANConfig
from neurender.models.diffusion import DiffusionConfig
from neurender.models.unet import UNetConfig
from neurender.tasks import SAMPLERS, TASKS

CONFIG = "config.json"


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as RUN/config.json)."""

    model: str = "acgan"
    """Model family: a key of :data:`neurender.tasks.TASKS` (acgan, diffusion)."""
    effect: str = "ao"
    """Effect predicted: a key of :data:`neurender.effects.EFFECTS`."""
    data: tuple[str, ...] = ()
    """Dataset directories (one or several; each is split by scene on its own)."""
    iters: int = 2000
    """Optimisation steps."""
    batch: int = 4
    """Views per step (per process under DDP)."""
    res: int = 64
    """Random crop size in pixels (a multiple of the network's stride)."""
    lr: float = 2e-4
    """Adam learning rate (pix2pix)."""
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas (pix2pix)."""
    seed: int = 0
    """Seeds weights, batches, crops, flips and noise."""
    ema: float = 0.999
    """Decay of the EMA weights used for prediction; 0 turns EMA off."""
    flip: bool = True
    """Random horizontal flips (normal.X negated)."""
    test_fraction: float = 0.2
    """Share of scenes held out (split by scene)."""
    log_every: int = 25
    """Steps between loss lines in log.jsonl."""
    sample_every: int = 250
    """Steps between sample grids and their metrics."""
    checkpoint_every: int = 250
    """Steps between checkpoints (and at the end)."""
    sample_steps: int = 16
    """DDIM steps of diffusion samples during training, and the run's default when it predicts."""
    sampler: str = "ddim"
    """What a diffusion run predicts by default: ``ddim`` (the mean of DDIM draws) or ``mean`` (its
    one-evaluation estimate of the mean; draws then only give the uncertainty)."""
    init: str = ""
    """Start from the prediction weights of this run or ``pretrained:NAME`` (fine-tuning; same model)."""
    first_guess: str = ""
    """Diffusion: refine the prediction of this GAN run or ``pretrained:NAME`` (same effect, kept
    frozen): the U-Net sees it and learns target - first guess, so 1-4 DDIM steps suffice."""
    acgan: ACGANConfig = field(default_factory=ACGANConfig)
    """Attention cGAN networks and losses."""
    unet: UNetConfig = field(default_factory=UNetConfig)
    """Diffusion U-Net size."""
    diffusion: DiffusionConfig = field(default_factory=lambda: DiffusionConfig(schedule="cosine", prediction="v"))
    """Diffusion process. v-prediction and the cosine schedule: with epsilon prediction, x0 estimates
    at large t amplify eps errors by 1/sqrt(abar_t), and short CPU runs sampled poorly (demo AO SSIM
    0.28 vs 0.74)."""

    def __post_init__(self) -> None:
        self.data = (self.data,) if isinstance(self.data, str) else tuple(self.data)  # one directory, or several

    def check(self) -> None:
        if not self.data:
            raise InputError("give at least one dataset directory (--data)")
        if self.model not in TASKS:
            raise InputError(f"unknown model {self.model!r}; use one of {', '.join(TASKS)}")
        effects.get(self.effect)
        if self.sampler not in SAMPLERS:
            raise InputError(f"unknown sampler {self.sampler!r}; use one of {', '.join(SAMPLERS)}")
        if self.first_guess and self.model != "diffusion":
            raise InputError(f"--first-guess is for diffusion models, not {self.model}")
        for name in ("iters", "batch", "res", "log_every", "sample_every", "checkpoint_every", "sample_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not (self.lr > 0 and 0 <= self.ema < 1):
            raise InputError(f"need lr > 0 and 0 <= ema < 1, got lr={self.lr}, ema={self.ema}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TrainConfig":
        return _from_json(cls, data)


def _from_json(cls, data: dict):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
            if dataclasses.is_dataclass(hints[f.name]):
                value = _from_json(hints[f.name], value)
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def load_config(run: str) -> TrainConfig:
    """The TrainConfig of run folder ``run``; InputError when missing or invalid."""
    path = os.path.join(run, CONFIG)
    try:
        with open(path) as handle:
            return TrainConfig.from_json(json.load(handle))
    except FileNotFoundError:
        raise InputError(f"{run} is not a training run ({CONFIG} missing)") from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path} is not a valid run config: {exc}") from None


# --- command-line flags from the dataclasses ----------------------------------------------------

def field_docs(cls) -> dict[str, str]:
    """Field name -> its docstring (the string literal right after the field), first sentence-ish line."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def _argument(hint):
    """argparse keyword arguments for a field of type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is tuple:
        item = args[0]
        return {"type": item, "nargs": "*" if args[-1] is Ellipsis else len(args), "metavar": item.__name__.upper()}
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        return {"type": inner, "metavar": inner.__name__.upper()}
    return {"type": hint, "metavar": hint.__name__.upper()}


def add_config_arguments(parser: argparse.ArgumentParser, cls=TrainConfig, prefix: str = "",
                         skip: tuple[str, ...] = ()) -> None:
    """One flag per field of ``cls`` (``--field-name``; nested configs as ``--nested.field-name``),
    with the field's docstring as help. Flags left out keep the config's default (argparse.SUPPRESS)."""
    hints, docs, defaults = typing.get_type_hints(cls), field_docs(cls), cls()
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            add_config_arguments(parser, hint, f"{prefix}{f.name}.")
            continue
        default = getattr(defaults, f.name)
        flag = "--" + prefix + f.name.replace("_", "-")
        parser.add_argument(flag, dest=prefix + f.name, default=argparse.SUPPRESS,
                            help=f"{docs.get(f.name, '')} (default: {default})", **_argument(hint))


def config_from_args(args: argparse.Namespace, config: TrainConfig) -> TrainConfig:
    """``config`` with every flag of :func:`add_config_arguments` given in ``args``; InputError when a
    value is invalid for its config."""
    given = vars(args)

    def update(obj, prefix: str):
        changes = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                changes[f.name] = update(value, f"{prefix}{f.name}.")
            elif prefix + f.name in given:
                new = given[prefix + f.name]
                changes[f.name] = tuple(new) if isinstance(new, list) else new
        try:
            return dataclasses.replace(obj, **changes)
        except ValueError as exc:
            raise InputError(f"{prefix.rstrip('.') or 'train'}: {exc}") from None

    return update(config, "")
