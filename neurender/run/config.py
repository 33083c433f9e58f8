"""The configuration of a training run (nerfstudio style: a dataclass, a docstring per field).

The run folder (`neurender.run.runs`) saves it as ``config.json``; the command line
derives ``neurender train``'s flags from it (`neurender.commands.arguments`).
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import asdict, dataclass, field
from typing import Literal

from neurender import effects
from neurender.base.errors import InputError
from neurender.models.acgan import ACGANConfig
from neurender.models.diffusion import DiffusionConfig
from neurender.models.fast import FastConfig
from neurender.models.unet import UNetConfig
from neurender.run.inputs import INPUT_KINDS, guess_method

Model = Literal["acgan", "diffusion", "fast"]
"""The model families (`neurender.run.families.FAMILIES` has one per name)."""
MODELS = typing.get_args(Model)
Sampler = Literal["ddim", "mean"]
"""What a diffusion run predicts: the mean of its DDIM draws, or its one-evaluation estimate of the mean."""
SAMPLERS = typing.get_args(Sampler)
Inputs = Literal["scaled", "gbuffer", "derived"]
"""What a network reads (`neurender.run.inputs`)."""
INPUTS = typing.get_args(Inputs)
RENAMED = {"res": "crop"}
"""Fields renamed since a run folder's config.json was written: old name -> new name."""
REFINERS = ("diffusion",)
"""The models that take ``--first-guess`` (a GAN run whose prediction they refine)."""


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as RUN/config.json)."""

    model: Model
    """Model family."""
    effect: effects.EffectName
    """Effect predicted (a key of the effect registry)."""
    data: tuple[str, ...]
    """Dataset directories (one or several; each is split by scene on its own)."""
    inputs: Inputs = "scaled"
    """``scaled``: the G-buffer, physically scaled channels and the classic method's answer, predicting a
    residual over it; ``derived``: the G-buffer, the scaled channels and only a classic method cheaper than
    the network, if the effect has one (the fast tier's: `neurender.run.inputs.guess_method`); ``gbuffer``: the
    G-buffer only (runs written before this field read so)."""
    albedo_scaled: bool = False
    """Multiply the learnt correction of the first guess by the albedo, per colour channel (GI: light a
    diffuse surface reflects is proportional to its albedo, so a black surface keeps its first guess
    exactly); for GANs and the fast tier over a guess, of effects with an RGB target."""
    balance: bool = True
    """Divide the view's light out of every radiance channel, input and target, and multiply the
    prediction back (fog and GI: exact in RGB rendering, `neurender.space`); runs written before
    this field did not."""
    iters: int = 2000
    """Optimisation steps."""
    batch: int = 4
    """Views per step (per process under DDP)."""
    crop: int = 64
    """Random crop size in pixels (a multiple of the network's stride)."""
    downscale: tuple[int, ...] = (1,)
    """Train on every view at each of these integer downscale factors too (several pixel footprints
    per scene: one network for every resolution); copies smaller than the crop are left out."""
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
    sampler: Sampler = "ddim"
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
    fast: FastConfig = field(default_factory=FastConfig)
    """The fast tier's network and its regression loss."""
    diffusion: DiffusionConfig = field(default_factory=lambda: DiffusionConfig(schedule="cosine", prediction="v"))
    """Diffusion process. v-prediction and the cosine schedule: with epsilon prediction, x0 estimates
    at large t amplify eps errors by 1/sqrt(abar_t), and short CPU runs sampled poorly (demo AO SSIM
    0.28 vs 0.74)."""

    def __post_init__(self) -> None:
        self.data = (self.data,) if isinstance(self.data, str) else tuple(self.data)  # one directory, or several

    def check(self) -> None:
        if not self.data:
            raise InputError("give at least one dataset directory (--data)")
        try:
            from_json(TrainConfig, self.to_json())  # every value of its field's type, every number finite
        except TypeError as exc:
            raise InputError(f"bad option: {exc}") from None
        if self.model not in MODELS:
            raise InputError(f"unknown model {self.model!r}; use one of {', '.join(MODELS)}")
        effect = effects.get(self.effect)
        if self.inputs not in INPUTS:
            raise InputError(f"unknown inputs {self.inputs!r}; use one of {', '.join(INPUTS)}")
        if self.sampler not in SAMPLERS:
            raise InputError(f"unknown sampler {self.sampler!r}; use one of {', '.join(SAMPLERS)}")
        if self.albedo_scaled and (self.model in REFINERS or not guess_method(effect, self.inputs)
                                   or effect.targets != effects.RGB):
            raise InputError(f"--albedo-scaled is for GANs and fast models over a first guess of an RGB "
                             f"effect, not {self.model} on {self.effect} with {self.inputs} inputs")
        if self.first_guess and self.model not in REFINERS:
            raise InputError(f"--first-guess is for diffusion models, not {self.model}")
        for name in ("iters", "batch", "crop", "log_every", "sample_every", "checkpoint_every", "sample_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not self.downscale or any(k < 1 for k in self.downscale):
            raise InputError(f"--downscale takes factors of at least 1, got {self.downscale}")
        if not (0 < self.lr <= 1 and 0 <= self.ema < 1):
            raise InputError(f"need 0 < lr <= 1 and 0 <= ema < 1, got lr={self.lr}, ema={self.ema}")

    @property
    def reads_view(self) -> bool:
        """Whether the network reads more than the G-buffer: channels derived from the view's parameters
        (field of view, AO radius, fog density) and a classic guess, made from the whole view."""
        return INPUT_KINDS[self.inputs].reads_view

    @property
    def balances_light(self) -> bool:
        """Whether this run divides the view's light out (``balance``, and the effect has light)."""
        return self.balance and bool(effects.get(self.effect).balance_from)

    def for_prediction(self) -> TrainConfig:
        """This config without EMA: the prediction weights (EMA ones when trained with it) load
        straight into the predicting network."""
        return dataclasses.replace(self, ema=0.0)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainConfig:
        """The config of a config.json (fields renamed since, `RENAMED`, read under their new name;
        one written before ``inputs`` existed reads the G-buffer only, one before ``balance`` does not balance)."""
        if not isinstance(data, dict):
            raise TypeError(f"a run config is a JSON object, not {type(data).__name__}")
        renamed = {RENAMED.get(key, key): value for key, value in data.items()}
        return from_json(cls, {"inputs": "gbuffer", "balance": False} | renamed)


def from_json(cls, data: dict):
    """An instance of dataclass ``cls`` from its `dataclasses.asdict` form (lists back to tuples,
    nested dataclasses rebuilt); fields missing from ``data`` keep their defaults. TypeError for a value
    that is not of its field's type (a number: finite; an int: not a float)."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} is a JSON object, not {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
            if dataclasses.is_dataclass(hints[f.name]):
                value = from_json(hints[f.name], value)
            else:
                _check_type(f"{cls.__name__}.{f.name}", value, hints[f.name])
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def _check_type(name: str, value, hint) -> None:
    """TypeError unless ``value`` (from JSON) fits ``hint``: int, float (finite), bool, str, a Literal, an
    optional one, or a tuple of them."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        if value not in args:
            raise TypeError(f"{name} is {value!r}, not one of {', '.join(map(repr, args))}")
    elif origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} is {value!r}, not a list")
        for item in value:
            _check_type(name, item, args[0])
    elif origin in (typing.Union, types.UnionType):
        if value is not None:
            _check_type(name, value, next(a for a in args if a is not type(None)))
    elif hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TypeError(f"{name} is {value!r}, not a finite number")
    elif hint in (int, bool, str) and (not isinstance(value, hint) or hint is int and isinstance(value, bool)):
        raise TypeError(f"{name} is {value!r}, not {'an' if hint is int else 'a'} {hint.__name__}")
