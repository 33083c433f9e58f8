"""The model families (:data:`TASKS`): what one training step does and how a task predicts.

Every task is built from a TrainConfig and an :class:`neurender.effects.Effect`, holds
``networks``, ``optimizers``, ``ema``, ``main`` (the network that predicts) and ``stride`` (H and W
of its inputs must be multiples), and has ``step(x, y, generator, wrapped, precision)`` (precision: a
:class:`neurender.device.Precision` record: autocast and gradient scaler) and
``sample(x, **options)`` -> (draws, B, C_out, H, W).
All work in the normalised space of :mod:`neurender.space`: x (B, C_in, H, W) network
inputs, y (B, C_out, H, W) targets in [-1, 1].
"""
from __future__ import annotations

import copy

import torch

from neurender.base.errors import InputError
from neurender.device import Precision
from neurender import effects
from neurender.effects import DEPTH, MASK, NORMAL
from neurender.models import acgan, diffusion, fast, unet
from neurender.training import inputs, runs
from neurender.training.config import TrainConfig


def _adam(module: torch.nn.Module, lr: float, betas) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=tuple(betas))


class EMA:
    """Exponential moving average of a network's weights (used for prediction).

    The decay warms up as min(decay, (1 + step) / (10 + step)), so a short run's average is
    not dominated by the initial weights.
    """

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay, self.module = decay, copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        """Blend in ``module``'s weights after optimisation step ``step`` (1-based)."""
        decay = min(self.decay, (1 + step) / (10 + step))
        for ema, live in zip(self.module.state_dict().values(), module.state_dict().values()):
            if ema.dtype.is_floating_point:
                ema.lerp_(live, 1 - decay)
            else:
                ema.copy_(live)


class ACGANTask:
    """Attention cGAN: generator G(x) -> y, PatchGAN D(x, y); pix2pix alternating updates."""

    stochastic = False

    def __init__(self, config, effect):
        self.config = config.acgan
        names = inputs.channels(effect, config.inputs)
        index = None
        composite = effect.composite if config.inputs == "gbuffer" else None
        if composite:
            index = {"direct": effect.index(effect.residual_over), "normal": effect.index(NORMAL),
                     "depth": effect.index(DEPTH), "mask": effect.index([MASK])}
        generator, discriminator = acgan.build_acgan(len(names), len(effect.targets), config.acgan, composite,
                                                     index, inputs.guess_index(effect, config.inputs))
        self.networks = {"generator": generator, "discriminator": discriminator}
        self.optimizers = {name: _adam(net, config.lr, config.betas) for name, net in self.networks.items()}
        self.ema = EMA(generator, config.ema) if config.ema > 0 else None
        self.main, self.stride = "generator", generator.stride

    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, wrapped: dict,
             precision: Precision) -> dict:
        G, D = wrapped["generator"], wrapped["discriminator"]
        with precision.autocast():
            fake = G(x)
            d_loss = acgan.discriminator_objective(D(x, y), D(x, fake.detach()), self.config.gan_loss)
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        precision.scaler.scale(d_loss).backward()
        precision.scaler.step(self.optimizers["discriminator"])
        for p in self.networks["discriminator"].parameters():
            p.requires_grad_(False)
        with precision.autocast():
            g_loss, parts = acgan.generator_objective(D(x, fake), fake.float(), y, self.config)
        for p in self.networks["discriminator"].parameters():
            p.requires_grad_(True)
        self.optimizers["generator"].zero_grad(set_to_none=True)
        precision.scaler.scale(g_loss).backward()
        precision.scaler.step(self.optimizers["generator"])
        precision.scaler.update()
        return {"g_" + k: v for k, v in parts.items()} | {"d_loss": float(d_loss.detach())}

    def sample(self, x: torch.Tensor, **_) -> torch.Tensor:
        return _one_draw(self, x)


class DiffusionTask:
    """Conditional DDPM: U-Net predicts eps (or v) from (x_t, t, G-buffer); DDIM for sampling.

    The U-Net learns the residual ``target - base``. The base is, in order of precedence:

    * the prediction of a frozen first guess (``config.first_guess``, a GAN run or
      ``pretrained:NAME`` of the same effect), which is also appended to the U-Net's conditioning:
      the diffusion model only refines it and samples what the first guess cannot know, so a few
      DDIM steps suffice (ResShift / Palette-style residual refinement);
    * the effect's ``residual_over`` channels (GI: direct light, in the target's space);
    * nothing (0).
    """

    stochastic = True

    def __init__(self, config, effect):
        in_channels, out_channels = len(inputs.channels(effect, config.inputs)), len(effect.targets)
        self.first_guess = _first_guess(config.first_guess, effect, config) if config.first_guess else None
        cond_channels = in_channels + (out_channels if self.first_guess else 0)
        self.residual_index = effect.index(effect.residual_over) if effect.residual_over else None
        self.scheduler = diffusion.NoiseScheduler(config.diffusion)
        self.scale = config.diffusion.data_scale
        unet_ = unet.ConditionalUNet(out_channels, cond_channels, config.unet)
        self.networks = {"unet": unet_}
        self.optimizers = {"unet": _adam(unet_, config.lr, config.betas)}
        self.ema = EMA(unet_, config.ema) if config.ema > 0 else None
        self.main = "unet"
        self.stride = max(unet_.stride, self.first_guess.stride if self.first_guess else 1)

    def _condition(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | float]:
        """(U-Net conditioning, base of the residual) for network inputs x (B, C_in, H, W)."""
        return condition(x, self.first_guess, self.residual_index)

    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, wrapped: dict,
             precision: Precision) -> dict:
        cond, base = self._condition(x)
        x0 = (y - base) * self.scale
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        t = self.scheduler.sample_timesteps(x0.shape[0], generator=generator).to(x0.device)
        with precision.autocast():
            prediction = wrapped["unet"](self.scheduler.add_noise(x0, noise, t), t, cond)
        loss = torch.mean((prediction.float() - self.scheduler.training_target(x0, noise, t)) ** 2)
        self.optimizers["unet"].zero_grad(set_to_none=True)
        precision.scaler.scale(loss).backward()
        precision.scaler.step(self.optimizers["unet"])
        precision.scaler.update()
        return {"loss": float(loss.detach())}

    @torch.no_grad()
    def sample(self, x: torch.Tensor, steps: int = 16, seed: int = 0, samples: int = 1, eta: float = 0.0,
               estimate: bool = False) -> torch.Tensor:
        """``samples`` DDIM draws with ``steps`` network evaluations each, all noise from ``seed`` (the
        first guess runs once): (samples, B, C_out, H, W). With ``estimate`` the model's one-evaluation
        estimate of E[target | x] comes first, (1 + samples, ...): its x0 prediction at the last step
        from the prior's mean x_T = 0, without the noise a draw carries."""
        net = self.ema.module if self.ema else self.networks["unet"].eval()
        generator = torch.Generator(device=x.device).manual_seed(seed)
        cond, base = self._condition(x)
        clip = (-self.scale, self.scale) if isinstance(base, float) else None  # a residual spans [-2, 2]
        outputs = [diffusion.sample_ddim(net, cond, self.scheduler, steps, eta=eta, generator=generator, clip=clip)
                   for _ in range(samples)]
        if estimate:
            outputs.insert(0, one_evaluation(net, self.scheduler, cond))
        self.networks["unet"].train()
        return (torch.stack(outputs) / self.scale + base).clamp(-1, 1)

    def estimator(self) -> "Estimate":
        """The one-evaluation estimate of :meth:`sample` as one network (prediction weights)."""
        net = self.ema.module if self.ema else self.networks["unet"]
        return Estimate(net, self.first_guess, self.residual_index, self.scheduler, self.scale).eval()


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


class FastTask:
    """The fast tier: one small network (:class:`neurender.models.fast.FastNet`) trained by regression on
    the targets, ``lambda_l1 * L1 + beta_ssim * (1 - SSIM)`` (:func:`neurender.models.acgan.generator_objective`
    without the adversary, with the weights of the run's ``fast`` config). When its inputs have a guess
    (:func:`neurender.training.inputs.guess_method`) it predicts a residual over it
    (:class:`neurender.models.acgan.ResidualGenerator`)."""

    stochastic = False

    def __init__(self, config, effect):
        self.config = config.fast
        names = inputs.channels(effect, config.inputs)
        network = fast.FastNet(len(names), len(effect.targets), config.fast)
        guess = inputs.guess_index(effect, config.inputs)
        if guess:  # a residual over the classic answer
            network = acgan.ResidualGenerator(network, guess)
        self.networks = {"network": network}
        self.optimizers = {"network": _adam(network, config.lr, config.betas)}
        self.ema = EMA(network, config.ema) if config.ema > 0 else None
        self.main, self.stride = "network", network.stride

    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, wrapped: dict,
             precision: Precision) -> dict:
        with precision.autocast():
            prediction = wrapped["network"](x)
        loss, parts = acgan.generator_objective(None, prediction.float(), y, self.config)  # no adversary
        self.optimizers["network"].zero_grad(set_to_none=True)
        precision.scaler.scale(loss).backward()
        precision.scaler.step(self.optimizers["network"])
        precision.scaler.update()
        return {k: v for k, v in parts.items() if k != "adv"}

    def sample(self, x: torch.Tensor, **_) -> torch.Tensor:
        return _one_draw(self, x)


@torch.no_grad()
def _one_draw(task, x: torch.Tensor) -> torch.Tensor:
    """A deterministic task's prediction (its EMA network's when it has one) as one draw: (1, B, C_out, H, W)."""
    net = task.ema.module if task.ema else task.networks[task.main].eval()
    out = net(x)
    task.networks[task.main].train()
    return out[None]


def _first_guess(name: str, effect, config: TrainConfig) -> torch.nn.Module:
    """The frozen predicting network (model space -> model space) of GAN run or ``pretrained:NAME``
    ``name``, which must predict ``effect`` from the inputs of ``config``; InputError otherwise."""
    run = runs.open_run(name)
    if run.config.model != "acgan" or run.config.effect != effect.name:
        raise InputError(f"--first-guess {name} must be an acgan run of effect {effect.name}, "
                         f"not a {run.config.model} run of {run.config.effect}")
    runs.same_inputs(run, config, "--first-guess")
    task = ACGANTask(run.config.for_prediction(), effect)
    run.load_prediction_weights(task)
    return task.networks[task.main].eval().requires_grad_(False)


TASKS = {"acgan": ACGANTask, "diffusion": DiffusionTask, "fast": FastTask}
"""One task per model family of :data:`neurender.training.config.MODELS`."""


def build_task(config):
    """The task (networks, optimizers, EMA) of a TrainConfig."""
    return TASKS[config.model](config, effects.get(config.effect))


def to_device(task, device: torch.device):
    """``task`` with every network (EMA and a first guess too) on ``device``; returns it."""
    for network in task.networks.values():
        network.to(device)
    if task.ema:
        task.ema.module.to(device)
    if getattr(task, "first_guess", None) is not None:
        task.first_guess.to(device)
    return task


def prediction_task(run: runs.Run, device: torch.device = torch.device("cpu")):
    """The task of ``run`` with its prediction weights in the predicting network (no EMA, no training),
    on ``device``."""
    task = build_task(run.config.for_prediction())
    run.load_prediction_weights(task)
    task.networks[task.main].eval()
    return to_device(task, device)
