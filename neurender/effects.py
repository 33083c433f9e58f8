"""The effect registry: what an effect reads, predicts and is compared with, written once.

Every module that needs to know something about an effect (data loading, the networks'
value space, the model families, prediction, the path tracer, evaluation, the CLI) reads
its `Effect` record from `EFFECTS`; no other module compares an effect name.
Adding an effect is one `register` call (plus its baselines, if any, in
`neurender.baselines`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
import tyro

from neurender.base.dataset import ALBEDO, AO, DEPTH, DIRECT, MASK, NORMAL, RGB, colour, on_surface
from neurender.base.errors import InputError

GUESS = "guess."
"""Prefix of a first-guess channel: ``guess.ao.Y`` is the classic method's ``ao.Y``."""


@dataclass(frozen=True)
class Effect:
    """One screen-space effect.

    inputs:      G-buffer channels the predictors read (dataset names, without ``mask.Y``).
    targets:     the path-traced channels they predict.
    hdr:         targets are linear HDR radiance: Reinhard in the networks' space, tone-mapped
                 (Reinhard + sRGB) for metrics and pictures; otherwise values in [0, 1] as is.
    sees_mask:   the networks get ``mask.Y`` as their last input channel.
    off_mask:    the value the dataset contract fixes where no surface is hit (predictions
                 are set to it there); None when the target is predicted everywhere.
    reference_pass: the data_gen pass that renders the targets (the path tracer as a method).
    baselines:   classic methods of `neurender.baselines.METHODS` that predict it.
    residual_over: input channels the target is a residual over (diffusion predicts
                 ``target - these``); they must live in the target's value space.
    composite:   the GAN generator of runs that read the G-buffer only (``inputs="gbuffer"``): None
                 for a plain attention U-Net, "direct-env-ao" for ``direct + mask * env * ao +
                 (1 - mask) * env`` (reads direct, normal, depth, mask).
    first_guess: the classic method (a key of `neurender.baselines.methods.METHODS`) whose answer
                 scaled runs (``inputs="scaled"``) read and predict a residual over.
    cheap_guess: the classic method, cheaper than a fast network, whose answer runs reading ``derived``
                 inputs (the fast tier's) read and predict a residual over; None when there is none.
    derived:     the physically scaled channels scaled runs read (keys of
                 `neurender.run.inputs.DERIVED`).
    parameters:  the `ViewParameters` fields the first guess and derived channels need.
    balance_from: the three radiance inputs whose frame mean is the view's light, divided out by runs
                 with ``balance`` (`neurender.space.light_scale`); () for effects without light.
    """

    name: str
    inputs: tuple[str, ...]
    targets: tuple[str, ...]
    hdr: bool
    reference_pass: str
    sees_mask: bool = False
    off_mask: float | None = None
    baselines: tuple[str, ...] = ()
    residual_over: tuple[str, ...] = ()
    composite: str | None = None
    first_guess: str | None = None
    cheap_guess: str | None = None
    derived: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    balance_from: tuple[str, ...] = ()

    @property
    def guess_channels(self) -> tuple[str, ...]:
        """A first guess's channels in a network's input (``guess.`` + each target)."""
        return tuple(GUESS + t for t in self.targets)

    @property
    def network_inputs(self) -> tuple[str, ...]:
        """The channels of a network input tensor, in order (``mask.Y`` last when it sees the mask)."""
        return self.inputs + ((MASK,) if self.sees_mask else ())

    @property
    def required(self) -> tuple[str, ...]:
        """Every channel a dataset view needs for this effect (inputs, targets, mask)."""
        return tuple(dict.fromkeys(self.inputs + self.targets + (MASK,)))

    def index(self, names) -> list[int]:
        """Positions of channels ``names`` in `network_inputs`."""
        return [self.network_inputs.index(n) for n in names]

    def pick(self, inputs: torch.Tensor, names) -> torch.Tensor:
        """Channels ``names`` of an ``inputs`` tensor (B, len(inputs), H, W) in `inputs` order: a view
        when they are consecutive there (no copy of a 1080p image: do not write into it), else a copy."""
        index = [self.inputs.index(n) for n in names]
        if index == list(range(index[0], index[0] + len(index))):
            return inputs[:, index[0]:index[0] + len(index)]
        return inputs[:, index]

    def apply_off_mask(self, prediction: torch.Tensor, mask: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        """``prediction`` (..., C, H, W) with the contract's off-mask value where ``mask`` (B, 1, H, W) is 0
        (written into ``prediction`` itself when ``in_place``)."""
        if self.off_mask is None:
            return prediction
        out = prediction if in_place else prediction.clone()
        return out.masked_fill_(on_surface(mask).logical_not_(), self.off_mask)


EFFECTS: dict[str, Effect] = {}


def register(effect: Effect) -> Effect:
    """Add ``effect`` to `EFFECTS` (replacing one of the same name) and return it."""
    EFFECTS[effect.name] = effect
    return effect


def get(name: str) -> Effect:
    """The record of effect ``name``; InputError naming the valid effects otherwise."""
    if name not in EFFECTS:
        raise InputError(f"unknown effect {name!r}; valid effects: {', '.join(EFFECTS)}")
    return EFFECTS[name]


register(Effect("fog", inputs=NORMAL + DEPTH + ALBEDO + RGB, targets=colour("fog"), hdr=True,
                reference_pass="fog", baselines=("fog-analytic",), first_guess="fog-analytic",
                cheap_guess="fog-analytic", derived=("optical_depth", "transmittance"), parameters=("fov_x", "sigma_t"),
                balance_from=RGB))
register(Effect("ao", inputs=NORMAL + DEPTH, targets=(AO,), hdr=False, reference_pass="ao",
                sees_mask=True, off_mask=1.0, baselines=("ssao", "hbao", "gtao", "gtao-half"), first_guess="gtao",
                cheap_guess="gtao-half", derived=("radius_px",), parameters=("fov_x", "ao_radius")))
register(Effect("gi", inputs=NORMAL + DEPTH + ALBEDO + DIRECT, targets=RGB, hdr=True, reference_pass="rgb",
                sees_mask=True, baselines=("gi-ambient", "gi-flat"), residual_over=DIRECT,
                composite="direct-env-ao", first_guess="gi-ambient", cheap_guess="gi-flat", derived=("radius_px",),
                parameters=("fov_x", "ao_radius"), balance_from=DIRECT))

EffectName = Annotated[str, tyro.conf.arg(constructor_factory=lambda: Literal[tuple(EFFECTS)])]
"""The name of a registered effect: on the command line, one of those registered when it is parsed."""
