"""How a diffusion run samples when it predicts: one record, passed as one object everywhere."""
from __future__ import annotations

from dataclasses import dataclass

from neurender.base.errors import InputError
from neurender.run.config import SAMPLERS, Sampler


@dataclass(frozen=True)
class SamplingOptions:
    """Sampling of a diffusion run's prediction (a GAN ignores it)."""

    steps: int | None = None
    """DDIM steps of each draw (none: the run's sample_steps)."""
    samples: int = 1
    """Draws averaged; with more than one, their per-pixel spread is the uncertainty (std.<channel>)."""
    seed: int = 0
    """Noise seed of the draws."""
    sampler: Sampler | None = None
    """The prediction: ``ddim`` the mean of the draws, ``mean`` the model's one-evaluation estimate of
    the mean (the draws then give only the uncertainty); none: the run's."""

    @property
    def estimates(self) -> bool:
        """Whether the prediction is the model's one-evaluation estimate (the ``mean`` sampler), not a mean
        of draws."""
        return self.sampler == "mean"

    def check(self) -> None:
        if (self.steps is not None and self.steps < 1) or self.samples < 1:
            raise InputError(f"--steps and --samples must be at least 1, got {self.steps} and {self.samples}")
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise InputError(f"unknown sampler {self.sampler!r}; use one of {', '.join(SAMPLERS)}")
