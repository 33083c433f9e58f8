"""The model families as prediction needs them (`FAMILIES`): from a run's config, the network that
predicts and how it draws. Training (`neurender.training.tasks`) adds losses, adversary, optimisers
and EMA around the same networks; inference builds only these.

A predicting model has ``network`` (the module whose weights a checkpoint holds under ``net.{main}.``),
``stride`` (H and W of its inputs must be multiples), ``stochastic`` and ``sample(x, **options)`` ->
(draws, B, C_out, H, W), all in the normalised space of `neurender.space`: x (B, C_in, H, W)
network inputs, predictions in [-1, 1].
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch

from neurender import effects
from neurender.base.errors import InputError
from neurender.effects import ALBEDO, DEPTH, MASK, NORMAL, Effect
from neurender.models import acgan, diffusion, fast, unet
from neurender.models.layers import fuse_upsampling
from neurender.run import inputs, runs
from neurender.run.checkpoint import load_prediction_weights
from neurender.run.config import TrainConfig


class Deterministic:
    """A family whose network is its prediction (the GAN's generator, the fast tier's network)."""

    stochastic = False

    def __init__(self, network: torch.nn.Module):
        self.network, self.stride = network, network.stride

    @torch.no_grad()
    def sample(self, x: torch.Tensor, **_) -> torch.Tensor:
        """Its one draw, (1, B, C_out, H, W)."""
        return self.network(x)[None]

    def with_network(self, network: torch.nn.Module) -> Deterministic:
        """The same family predicting with another network of the same shape (training: its EMA)."""
        return Deterministic(network)

    def estimator(self) -> torch.nn.Module:
        """The network that gives its prediction in one call (its own)."""
        return self.network


class Diffusion:
    """A conditional DDPM's U-Net, sampled with DDIM, predicting the residual ``target - base``. The base
    is the prediction of a frozen first guess (a GAN of the same effect, whose output also conditions the
    U-Net), else the effect's ``residual_over`` input channels, else 0."""

    stochastic = True

    def __init__(self, network: torch.nn.Module, first_guess: torch.nn.Module | None,
                 residual_index: list[int] | None, scheduler: diffusion.NoiseScheduler, scale: float):
        self.network, self.first_guess, self.residual_index = network, first_guess, residual_index
        self.scheduler, self.scale = scheduler, scale
        self.stride = max(network.stride, first_guess.stride if first_guess else 1)

    def with_network(self, network: torch.nn.Module) -> Diffusion:
        """The same model drawing with another U-Net of the same shape (training: its EMA)."""
        other = copy.copy(self)
        other.network = network
        return other

    @torch.no_grad()
    def sample(self, x: torch.Tensor, steps: int = 16, seed: int = 0, samples: int = 1, eta: float = 0.0,
               estimate: bool = False) -> torch.Tensor:
        """``samples`` DDIM draws with ``steps`` network evaluations each, all noise from ``seed`` (the
        first guess runs once): (samples, B, C_out, H, W). With ``estimate`` the model's one-evaluation
        estimate of E[target | x] comes first, (1 + samples, ...): its x0 prediction at the last step
        from the prior's mean x_T = 0, without the noise a draw carries."""
        generator = torch.Generator(device=x.device).manual_seed(seed)
        cond, base = condition(x, self.first_guess, self.residual_index)
        clip = (-self.scale, self.scale) if isinstance(base, float) else None  # a residual spans [-2, 2]
        outputs = [diffusion.sample_ddim(self.network, cond, self.scheduler, steps, eta=eta, generator=generator,
                                         clip=clip) for _ in range(samples)]
        if estimate:
            outputs.insert(0, one_evaluation(self.network, self.scheduler, cond))
        return (torch.stack(outputs) / self.scale + base).clamp(-1, 1)

    def estimator(self) -> Estimate:
        """The one-evaluation estimate of `sample` as one network."""
        return Estimate(self.network, self.first_guess, self.residual_index, self.scheduler, self.scale).eval()


def condition(x: torch.Tensor, first_guess: torch.nn.Module | None, residual_index: list[int] | None
              ) -> tuple[torch.Tensor, torch.Tensor | float]:
    """(U-Net conditioning, base of the residual) of a diffusion model for network inputs x (B, C_in, H, W):
    x and the first guess's prediction, or x and its ``residual_index`` channels, or x and 0."""
    if first_guess is not None:
        with torch.no_grad():
            guess = first_guess(x)
        return torch.cat([x, guess], 1), guess
    return x, (x[:, residual_index] if residual_index else 0.0)


def one_evaluation(net: torch.nn.Module, scheduler, cond: torch.Tensor) -> torch.Tensor:
    """The U-Net's estimate of the clean (scaled) residual x0 (B, C_out, H, W) in one evaluation: its x0
    prediction at the last step from the prior's mean x_T = 0, without the noise a draw carries."""
    last = scheduler.num_train_steps - 1
    x_t = torch.zeros((cond.shape[0], net.out_channels, *cond.shape[-2:]), dtype=cond.dtype, device=cond.device)
    step = torch.full((cond.shape[0],), last, device=cond.device)
    return scheduler.predict_x0_eps(net(x_t, step, cond), x_t, last)[0]


class Estimate(torch.nn.Module):
    """A diffusion model's one-evaluation estimate of E[target | x] (the ``mean`` sampler without draws)
    as one deterministic network, x (B, C_in, H, W) -> (B, C_out, H, W) in model space, the first-guess
    GAN inside: it runs in tiles and exports to ONNX like a GAN."""

    def __init__(self, unet_: torch.nn.Module, first_guess: torch.nn.Module | None, residual_index, scheduler,
                 scale: float):
        super().__init__()
        self.unet, self.first_guess = unet_, first_guess
        self.residual_index, self.scheduler, self.scale = residual_index, scheduler, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cond, base = condition(x, self.first_guess, self.residual_index)
        return (one_evaluation(self.unet, self.scheduler, cond) / self.scale + base).clamp(-1, 1)


def generator(config: TrainConfig, effect: Effect) -> torch.nn.Module:
    """The attention cGAN's generator (`neurender.models.acgan.build_generator`) for ``config``."""
    names = inputs.channels(effect, config.inputs)
    composite = None if config.reads_view else effect.composite
    index = None
    if composite:
        index = {"direct": effect.index(effect.residual_over), "normal": effect.index(NORMAL),
                 "depth": effect.index(DEPTH), "mask": effect.index([MASK])}
    return acgan.build_generator(len(names), len(effect.targets), config.acgan, composite, index,
                                 inputs.guess_index(effect, config.inputs), scale_index(config, effect))


def fast_network(config: TrainConfig, effect: Effect) -> torch.nn.Module:
    """The fast tier's network; a residual over its inputs' guess when they have one."""
    network = fast.FastNet(len(inputs.channels(effect, config.inputs)), len(effect.targets), config.fast)
    guess = inputs.guess_index(effect, config.inputs)
    return acgan.ResidualGenerator(network, guess, scale_index(config, effect)) if guess else network


def scale_index(config: TrainConfig, effect: Effect) -> list[int] | None:
    """Positions of the albedo among the network's inputs when ``config.albedo_scaled``, else None."""
    if not config.albedo_scaled:
        return None
    names = inputs.channels(effect, config.inputs)
    return [names.index(name) for name in ALBEDO]


def diffusion_model(config: TrainConfig, effect: Effect) -> Diffusion:
    """The U-Net (conditioned on the inputs and the first guess's prediction), its scheduler and first guess."""
    in_channels, out_channels = len(inputs.channels(effect, config.inputs)), len(effect.targets)
    guess = first_guess(config.first_guess, effect, config) if config.first_guess else None
    network = unet.ConditionalUNet(out_channels, in_channels + (out_channels if guess else 0), config.unet)
    return Diffusion(network, guess, effect.index(effect.residual_over) if effect.residual_over else None,
                     diffusion.NoiseScheduler(config.diffusion), config.diffusion.data_scale)


@dataclass(frozen=True)
class Family:
    """A model family: the name of its predicting network in checkpoints, the kind of model it builds
    (``kind.stochastic``: whether it draws samples), how a config builds it, and
    whether its network runs faster on onnxruntime than on torch on the CPU (measured: docs/models.md,
    "Fast tier"; the ``auto`` backend follows it)."""

    main: str
    kind: type[Deterministic] | type[Diffusion]
    build: Callable[[TrainConfig, Effect], Deterministic | Diffusion]
    onnx_on_cpu: bool = False
    first_guess: bool = False
    """Whether its runs can be a refiner's ``--first-guess``."""


FAMILIES = {
    "acgan": Family("generator", Deterministic, lambda config, effect: Deterministic(generator(config, effect)),
                    first_guess=True),
    "diffusion": Family("unet", Diffusion, diffusion_model),
    "fast": Family("network", Deterministic, lambda config, effect: Deterministic(fast_network(config, effect)),
                   onnx_on_cpu=True),
}
"""One family per name of `neurender.run.config.MODELS`."""


def first_guess(name: str, effect: Effect, config: TrainConfig) -> torch.nn.Module:
    """The frozen predicting network (model space -> model space) of GAN run or ``pretrained:NAME``
    ``name``, which must predict ``effect`` from the inputs of ``config``; InputError otherwise."""
    run = runs.open_run(name)
    if not FAMILIES[run.config.model].first_guess or run.config.effect != effect.name:
        raise InputError(f"--first-guess {name} must be an acgan run of effect {effect.name}, "
                         f"not a {run.config.model} run of {run.config.effect}")
    runs.same_inputs(run, config, "--first-guess")
    return predicting(run).network.requires_grad_(False)


def predicting(run: runs.Run, device: torch.device = torch.device("cpu"), *,
               fuse: bool = True) -> Deterministic | Diffusion:
    """The predicting model of ``run``, its prediction weights loaded, in eval mode on ``device``; with ``fuse``
    its upsamplings fused into their convolutions (`neurender.models.layers.fuse_upsampling`: the same values,
    faster; False leaves the layers as they train, for comparisons)."""
    config = run.config.for_prediction()
    family = FAMILIES[config.model]
    model = family.build(config, effects.get(config.effect))
    tensors, _ = run.read_checkpoint()
    load_prediction_weights(model.network, family.main, tensors, run.checkpoint_path)
    if fuse:
        fuse_upsampling(model.network)
    model.network.eval().to(device)
    if getattr(model, "first_guess", None) is not None:
        model.first_guess.to(device)
    return model
