"""Gaussian diffusion: noise schedule, training targets and sampling loops (no network code).

The scheduler is independent of the network, as in diffusers. A denoising model is any
callable ``model(x_t, t, cond) -> prediction`` with

* ``x_t``:  (B, C, H, W) noisy sample at step ``t``
* ``t``:    (B,) long, step indices in ``[0, num_train_steps)``
* ``cond``: (B, C_cond, H, W) conditioning (for neurender: the G-buffer)
* prediction: (B, C, H, W), either the noise ``eps`` or ``v`` (see `DiffusionConfig`).

Conventions: step ``t`` (0-based) has ``abar_t = alphas_cumprod[t]``; ``abar_{-1} = 1``
(the clean image). ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``.

Training (L_simple)::

    t = scheduler.sample_timesteps(x0.shape[0], generator)
    noise = torch.randn_like(x0)
    x_t = scheduler.add_noise(x0, noise, t)
    loss = F.mse_loss(model(x_t, t, cond), scheduler.training_target(x0, noise, t))

Sampling: `sample_ddpm` (ancestral, all ``num_train_steps`` steps) or
`sample_ddim` (``steps`` steps, ``eta=0`` is deterministic given the start noise).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

Schedule = Literal["linear", "cosine"]
Prediction = Literal["epsilon", "v"]
SCHEDULES = get_args(Schedule)
PREDICTIONS = get_args(Prediction)

#: Largest beta of the cosine schedule (Nichol & Dhariwal 2021): avoids a singularity at t = T.
MAX_BETA = 0.999

Model = Callable[[Tensor, Tensor, Tensor], Tensor]
Clip = tuple[float, float]


@dataclass
class DiffusionConfig:
    """Settings of the forward (noising) process and of what the network predicts."""

    num_train_steps: int = 1000
    """Number of diffusion steps T; step indices run over ``0 .. T-1``."""

    schedule: Schedule = "linear"
    """Beta schedule: ``"linear"`` (Ho et al. 2020) or ``"cosine"`` (Nichol & Dhariwal 2021)."""

    beta_start: float = 1e-4
    """Linear schedule: beta of the first step (t = 0)."""

    beta_end: float = 0.02
    """Linear schedule: beta of the last step (t = T-1)."""

    cosine_s: float = 0.008
    """Cosine schedule: small offset s so that beta_0 is not vanishingly small."""

    prediction: Prediction = "epsilon"
    """Network target: ``"epsilon"`` (the noise) or ``"v"`` (``sqrt(abar) eps - sqrt(1-abar) x0``)."""

    data_scale: float = 1.0
    """The diffused sample is ``data_scale`` times the data (the target, or its residual over a base):
    a small residual brought to about unit spread keeps the noise levels meaningful."""

    def __post_init__(self) -> None:
        if isinstance(self.num_train_steps, bool) or not isinstance(self.num_train_steps, int) \
                or self.num_train_steps < 1:
            raise ValueError(f"num_train_steps must be an int >= 1, got {self.num_train_steps!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        if self.schedule == "linear" and not 0.0 < self.beta_start <= self.beta_end < 1.0:
            raise ValueError("linear schedule needs 0 < beta_start <= beta_end < 1, got "
                             f"beta_start={self.beta_start!r}, beta_end={self.beta_end!r}")
        if not (math.isfinite(self.data_scale) and self.data_scale > 0):
            raise ValueError(f"data_scale must be > 0, got {self.data_scale!r}")
        if self.schedule == "cosine" and not (math.isfinite(self.cosine_s) and self.cosine_s >= 0.0):
            raise ValueError(f"cosine_s must be >= 0, got {self.cosine_s!r}")


def cosine_alpha_bar(t: Tensor, num_steps: int, s: float) -> Tensor:
    """Closed form of the cosine schedule, ``f(t) / f(0)`` with ``f(t) = cos(((t/T + s)/(1+s)) pi/2)^2``.

    ``t`` is continuous time in ``[0, T]`` (any shape); float64 result of the same shape.
    Step index ``i`` of `NoiseScheduler` corresponds to ``t = i + 1`` (before clipping).
    """
    def f(x: Tensor) -> Tensor:
        return torch.cos((x / num_steps + s) / (1 + s) * (math.pi / 2)) ** 2

    t = t.to(torch.float64)
    return f(t) / f(torch.zeros((), dtype=torch.float64))


class NoiseScheduler:
    """Schedule tensors and the per-step maths of DDPM / DDIM.

    Attributes (float64, shape (T,), on the CPU): ``betas``, ``alphas = 1 - betas``,
    ``alphas_cumprod`` (``abar_t``). Values used on samples are cast to the sample's
    dtype and device.
    """

    def __init__(self, config: DiffusionConfig | None = None) -> None:
        self.config = config if config is not None else DiffusionConfig()
        cfg = self.config
        T = cfg.num_train_steps
        if cfg.schedule == "linear":
            betas = torch.linspace(cfg.beta_start, cfg.beta_end, T, dtype=torch.float64)
        else:
            abar = cosine_alpha_bar(torch.arange(T + 1, dtype=torch.float64), T, cfg.cosine_s)
            betas = (1.0 - abar[1:] / abar[:-1]).clamp(max=MAX_BETA)
        self.betas: Tensor = betas
        self.alphas: Tensor = 1.0 - betas
        self.alphas_cumprod: Tensor = torch.cumprod(self.alphas, dim=0)

    # ------------------------------------------------------------------ helpers

    @property
    def num_train_steps(self) -> int:
        return self.config.num_train_steps

    @property
    def prediction(self) -> str:
        return self.config.prediction

    def __repr__(self) -> str:
        return f"NoiseScheduler({self.config!r})"

    def _check_step(self, t: int, name: str = "t", allow_minus_one: bool = False) -> int:
        if isinstance(t, Tensor):
            if t.numel() != 1:
                raise ValueError(f"{name} must be a single step index, got a tensor of shape "
                                 f"{tuple(t.shape)}")
            t = int(t.item())
        if isinstance(t, bool) or not isinstance(t, int):
            raise ValueError(f"{name} must be an int, got {type(t).__name__}")
        low = -1 if allow_minus_one else 0
        if not low <= t < self.num_train_steps:
            raise ValueError(f"{name} must be in [{low}, {self.num_train_steps - 1}], got {t}")
        return t

    def _abar(self, t: int) -> float:
        """abar_t as a Python float; ``abar_{-1} = 1``."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def _abar_like(self, t: Tensor | int, x: Tensor) -> Tensor:
        """abar_t gathered for a batch and shaped to broadcast against ``x`` (B, ...)."""
        if isinstance(t, int) and not isinstance(t, bool):
            t = self._check_step(t)
            return torch.tensor(self._abar(t), dtype=x.dtype, device=x.device)
        if not isinstance(t, Tensor):
            raise ValueError(f"t must be an int or a (B,) long tensor, got {type(t).__name__}")
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"t must be an integer tensor, got dtype {t.dtype}")
        if t.dim() != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t must have shape (B,) = ({x.shape[0]},), got {tuple(t.shape)}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_train_steps):
            raise ValueError(f"t must be in [0, {self.num_train_steps - 1}], got values in "
                             f"[{int(t.min())}, {int(t.max())}]")
        abar = self.alphas_cumprod[t.cpu()].to(device=x.device, dtype=x.dtype)
        return abar.reshape(-1, *([1] * (x.dim() - 1)))

    @staticmethod
    def _check_same_shape(**tensors: Tensor) -> None:
        shapes = {name: tuple(int(n) for n in v.shape) for name, v in tensors.items()}  # ints, traced too
        if len(set(shapes.values())) != 1:
            raise ValueError(f"shapes must match, got {shapes}")

    @staticmethod
    def _check_clip(clip: Clip | None) -> Clip | None:
        if clip is None:
            return None
        try:
            low, high = (float(v) for v in clip)
        except (TypeError, ValueError):
            raise ValueError(f"clip must be None or a pair (low, high), got {clip!r}") from None
        if not low < high:
            raise ValueError(f"clip needs low < high, got {clip!r}")
        return low, high

    # ----------------------------------------------------------------- training

    def sample_timesteps(self, batch_size: int, generator: torch.Generator | None = None,
                         device: torch.device | str | None = None) -> Tensor:
        """Uniform random training steps: (batch_size,) long in ``[0, T)``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        gen_device = generator.device if generator is not None else device
        t = torch.randint(0, self.num_train_steps, (batch_size,), generator=generator,
                          device=gen_device)
        return t.to(device) if device is not None else t

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """Forward process ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``.

        x0, noise: (B, ...) same shape; t: (B,) long. Returns (B, ...).
        """
        self._check_same_shape(x0=x0, noise=noise)
        abar = self._abar_like(t, x0)
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def training_target(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """What the network should output for ``add_noise(x0, noise, t)``.

        ``eps`` for ``prediction="epsilon"``, ``v = sqrt(abar_t) eps - sqrt(1-abar_t) x0``
        for ``prediction="v"``. x0, noise: (B, ...); t: (B,) long. Returns (B, ...).
        """
        self._check_same_shape(x0=x0, noise=noise)
        if self.prediction == "epsilon":
            self._abar_like(t, x0)  # validates t
            return noise
        abar = self._abar_like(t, x0)
        return abar.sqrt() * noise - (1.0 - abar).sqrt() * x0

    def predict_x0_eps(self, model_output: Tensor, x_t: Tensor,
                       t: Tensor | int) -> tuple[Tensor, Tensor]:
        """Turn a network output into estimates of the clean sample and of the noise.

        model_output, x_t: (B, ...); t: (B,) long or an int for the whole batch.
        Returns ``(x0_hat, eps_hat)``, both (B, ...).
        """
        self._check_same_shape(model_output=model_output, x_t=x_t)
        abar = self._abar_like(t, x_t)
        sqrt_a, sqrt_1ma = abar.sqrt(), (1.0 - abar).sqrt()
        if self.prediction == "epsilon":
            eps = model_output
            x0 = (x_t - sqrt_1ma * eps) / sqrt_a
        else:
            v = model_output
            x0 = sqrt_a * x_t - sqrt_1ma * v
            eps = sqrt_1ma * x_t + sqrt_a * v
        return x0, eps

    def _x0_eps(self, model_output: Tensor, x_t: Tensor, t: int,
                clip: Clip | None) -> tuple[Tensor, Tensor]:
        """predict_x0_eps, then optionally clamp x0_hat and make eps_hat consistent with it."""
        x0, eps = self.predict_x0_eps(model_output, x_t, t)
        if clip is not None:
            abar = self._abar(t)
            x0 = x0.clamp(*clip)
            eps = (x_t - math.sqrt(abar) * x0) / math.sqrt(1.0 - abar)
        return x0, eps

    @staticmethod
    def _noise_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
        return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)

    # ----------------------------------------------------------------- sampling

    def ddpm_step(self, model_output: Tensor, t: int, x_t: Tensor,
                  generator: torch.Generator | None = None, clip: Clip | None = None) -> Tensor:
        """One ancestral DDPM step ``x_t -> x_{t-1}``.

        ``x_{t-1} = mu(x_t, x0_hat) + sigma_t z`` with the posterior mean
        ``mu = sqrt(abar_{t-1}) beta_t / (1-abar_t) x0_hat + sqrt(alpha_t) (1-abar_{t-1}) / (1-abar_t) x_t``
        and ``sigma_t^2 = beta_t (1 - abar_{t-1}) / (1 - abar_t)``; no noise at ``t = 0``.

        model_output, x_t: (B, C, H, W); t: int in ``[0, T)``; clip: optional (low, high)
        range for x0_hat. Returns x_{t-1}: (B, C, H, W).
        """
        t = self._check_step(t)
        clip = self._check_clip(clip)
        x0, _ = self._x0_eps(model_output, x_t, t, clip)
        abar, abar_prev = self._abar(t), self._abar(t - 1)
        beta, alpha = float(self.betas[t]), float(self.alphas[t])
        coef_x0 = math.sqrt(abar_prev) * beta / (1.0 - abar)
        coef_xt = math.sqrt(alpha) * (1.0 - abar_prev) / (1.0 - abar)
        mean = coef_x0 * x0 + coef_xt * x_t
        if t == 0:
            return mean
        variance = beta * (1.0 - abar_prev) / (1.0 - abar)
        return mean + math.sqrt(variance) * self._noise_like(x_t, generator)

    def ddim_timesteps(self, num_steps: int) -> list[int]:
        """``num_steps`` step indices for DDIM, evenly spaced and descending from ``T-1`` to ``0``.

        ``num_steps`` in ``[1, T]``; with one step the result is ``[T-1]``.
        """
        T = self.num_train_steps
        if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= T:
            raise ValueError(f"num_steps must be an int in [1, {T}], got {num_steps!r}")
        if num_steps == 1:
            return [T - 1]
        steps = torch.linspace(T - 1, 0, num_steps, dtype=torch.float64).round().long()
        return [int(s) for s in steps]

    def ddim_step(self, model_output: Tensor, t: int, t_prev: int, x_t: Tensor, eta: float = 0.0,
                  generator: torch.Generator | None = None, clip: Clip | None = None) -> Tensor:
        """One DDIM step ``x_t -> x_{t_prev}`` (Song et al. 2021, eq. 12).

        ``x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma z`` with
        ``sigma = eta sqrt((1-abar_prev)/(1-abar_t)) sqrt(1 - abar_t/abar_prev)``.
        ``eta = 0`` is deterministic, ``eta = 1`` is DDPM-like.

        model_output, x_t: (B, C, H, W); t: int in ``[0, T)``; t_prev: int in ``[-1, t)``
        (``-1`` means the clean sample, ``abar_prev = 1``); clip: optional (low, high) range
        for x0_hat. Returns x_{t_prev}: (B, C, H, W).
        """
        t = self._check_step(t)
        t_prev = self._check_step(t_prev, "t_prev", allow_minus_one=True)
        if t_prev >= t:
            raise ValueError(f"t_prev must be smaller than t, got t={t}, t_prev={t_prev}")
        if not (math.isfinite(eta) and eta >= 0.0):
            raise ValueError(f"eta must be >= 0, got {eta!r}")
        clip = self._check_clip(clip)
        x0, eps = self._x0_eps(model_output, x_t, t, clip)
        abar, abar_prev = self._abar(t), self._abar(t_prev)
        sigma = eta * math.sqrt((1.0 - abar_prev) / (1.0 - abar) * (1.0 - abar / abar_prev))
        dir_coef = math.sqrt(max(1.0 - abar_prev - sigma**2, 0.0))
        x_prev = math.sqrt(abar_prev) * x0 + dir_coef * eps
        if sigma > 0.0:
            x_prev = x_prev + sigma * self._noise_like(x_t, generator)
        return x_prev


# ---------------------------------------------------------------------- loops

def _initial_noise(model: Model, cond: Tensor, shape: Sequence[int] | None,
                   generator: torch.Generator | None) -> Tensor:
    """x_T ~ N(0, I) of shape ``shape`` or (B, model.out_channels, H, W) from ``cond``."""
    if cond.dim() != 4:
        raise ValueError(f"cond must have shape (B, C_cond, H, W), got {tuple(cond.shape)}")
    B, _, H, W = cond.shape
    if shape is None:
        out_channels = getattr(model, "out_channels", None)
        if not isinstance(out_channels, int):
            raise ValueError("pass shape=(B, C, H, W) when the model has no int attribute "
                             "'out_channels'")
        shape = (B, out_channels, H, W)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or shape[0] != B or shape[2:] != (H, W) or shape[1] < 1:
        raise ValueError(f"shape must be (B, C, H, W) = ({B}, C, {H}, {W}) with C >= 1 to match "
                         f"cond, got {shape}")
    return torch.randn(shape, generator=generator, dtype=cond.dtype, device=cond.device)


def _timestep_batch(t: int, x: Tensor) -> Tensor:
    return torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)


@torch.no_grad()
def sample_ddpm(model: Model, cond: Tensor, scheduler: NoiseScheduler,
                generator: torch.Generator | None = None, clip: Clip | None = None,
                shape: Sequence[int] | None = None) -> Tensor:
    """Ancestral DDPM sampling over all ``T`` steps.

    model: ``model(x_t (B,C,H,W), t (B,) long, cond) -> prediction (B,C,H,W)`` of the
    scheduler's prediction type; put a ``nn.Module`` in eval mode first (dropout).
    cond: (B, C_cond, H, W). generator: draws all noise (the start and every step), so a
    seeded generator fixes the result; it must live on ``cond.device``. clip: optional
    (low, high) range for x0_hat at every step. shape: (B, C, H, W) of the sample; by
    default ``(B, model.out_channels, H, W)``. Returns x_0: (B, C, H, W), dtype of cond.
    """
    clip = NoiseScheduler._check_clip(clip)
    x = _initial_noise(model, cond, shape, generator)
    for t in reversed(range(scheduler.num_train_steps)):
        model_output = model(x, _timestep_batch(t, x), cond)
        x = scheduler.ddpm_step(model_output, t, x, generator=generator, clip=clip)
    return x


@torch.no_grad()
def sample_ddim(model: Model, cond: Tensor, scheduler: NoiseScheduler, steps: int,
                eta: float = 0.0, generator: torch.Generator | None = None,
                clip: Clip | None = None, shape: Sequence[int] | None = None) -> Tensor:
    """DDIM sampling with ``steps`` model evaluations (`NoiseScheduler.ddim_timesteps`).

    Arguments as in `sample_ddpm`; steps: int in ``[1, T]``; eta: 0 (deterministic
    given the start noise) to 1 (DDPM-like). Returns x_0: (B, C, H, W), dtype of cond.
    """
    clip = NoiseScheduler._check_clip(clip)
    if not (math.isfinite(eta) and eta >= 0.0):
        raise ValueError(f"eta must be >= 0, got {eta!r}")
    timesteps = scheduler.ddim_timesteps(steps)
    x = _initial_noise(model, cond, shape, generator)
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        model_output = model(x, _timestep_batch(t, x), cond)
        x = scheduler.ddim_step(model_output, t, t_prev, x, eta=eta, generator=generator,
                                clip=clip)
    return x
