"""The model families as training needs them (`TASKS`): what one training step does.

Every task is built from a TrainConfig and an `neurender.effects.Effect` around the predicting
model of `neurender.run.families` (``model``: its network, stride and sampling), and holds
``networks`` (the predicting one under ``main``, and an adversary where there is one), ``optimizers``
and ``ema``; ``step(x, y, generator, wrapped, precision)`` (precision: a `neurender.device.Precision`
record: autocast and gradient scaler) and ``sample(x, **options)`` -> (draws, B, C_out, H, W) with the
EMA network when there is one. All work in the normalised space of `neurender.space`: x (B, C_in,
H, W) network inputs, y (B, C_out, H, W) targets in [-1, 1].
"""
from __future__ import annotations

import copy

import torch

from neurender import effects
from neurender.device import Precision
from neurender.models import acgan
from neurender.run import families, inputs


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


class _Task:
    """What every task shares: the predicting model, its network under ``main``, its optimiser and EMA."""

    def __init__(self, config, effect, extra: dict | None = None):
        family = families.FAMILIES[config.model]
        self.model = family.build(config, effect)
        self.main, self.stride = family.main, self.model.stride
        self.networks = {family.main: self.model.network, **(extra or {})}
        self.optimizers = {name: _adam(net, config.lr, config.betas) for name, net in self.networks.items()}
        self.ema = EMA(self.model.network, config.ema) if config.ema > 0 else None

    def sample(self, x: torch.Tensor, **options) -> torch.Tensor:
        """Draws (draws, B, C_out, H, W) of the EMA network, else of the live one in eval mode."""
        network = self.ema.module if self.ema else self.model.network.eval()
        draws = self.model.with_network(network).sample(x, **options)
        self.model.network.train()
        return draws


class ACGANTask(_Task):
    """Attention cGAN: generator G(x) -> y, PatchGAN D(x, y); pix2pix alternating updates."""

    def __init__(self, config, effect):
        adversary = acgan.PatchDiscriminator(len(inputs.channels(effect, config.inputs)), len(effect.targets),
                                             config.acgan)
        super().__init__(config, effect, {"discriminator": adversary})
        self.config = config.acgan

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


class DiffusionTask(_Task):
    """Conditional DDPM: the U-Net of `neurender.run.families.Diffusion` learns to predict eps (or v)
    of the residual ``target - base`` from (x_t, t, conditioning)."""

    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, wrapped: dict,
             precision: Precision) -> dict:
        model = self.model
        cond, base = families.condition(x, model.first_guess, model.residual_index)
        x0 = (y - base) * model.scale
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        t = model.scheduler.sample_timesteps(x0.shape[0], generator=generator).to(x0.device)
        with precision.autocast():
            prediction = wrapped["unet"](model.scheduler.add_noise(x0, noise, t), t, cond)
        loss = torch.mean((prediction.float() - model.scheduler.training_target(x0, noise, t)) ** 2)
        self.optimizers["unet"].zero_grad(set_to_none=True)
        precision.scaler.scale(loss).backward()
        precision.scaler.step(self.optimizers["unet"])
        precision.scaler.update()
        return {"loss": float(loss.detach())}


class FastTask(_Task):
    """The fast tier: one small network (`neurender.run.families.fast_network`) trained by regression
    on the targets, ``lambda_l1 * L1 + beta_ssim * (1 - SSIM)`` (`neurender.models.acgan.generator_objective`
    without the adversary, with the weights of the run's ``fast`` config)."""

    def __init__(self, config, effect):
        super().__init__(config, effect)
        self.config = config.fast

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


TASKS = {"acgan": ACGANTask, "diffusion": DiffusionTask, "fast": FastTask}
"""One task per model family of `neurender.run.config.MODELS`."""


def build_task(config):
    """The task (networks, optimizers, EMA) of a TrainConfig."""
    return TASKS[config.model](config, effects.get(config.effect))


def to_device(task, device: torch.device):
    """``task`` with every network (EMA and a first guess too) on ``device``; returns it."""
    for network in task.networks.values():
        network.to(device)
    if task.ema:
        task.ema.module.to(device)
    if getattr(task.model, "first_guess", None) is not None:
        task.model.first_guess.to(device)
    return task
