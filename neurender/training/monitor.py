"""TensorBoard beside log.jsonl: the loss scalars, the sample views' SSIM and PSNR, and their grid.

Written by rank 0 into ``RUN/tensorboard/`` (``tensorboard --logdir RUN``); a resumed run drops
the events after its checkpoint's step, as log.jsonl is cut there.
"""
from __future__ import annotations

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from neurender.training import runs


class Monitor:
    """TensorBoard events of the run folder ``run`` after ``step`` (the step training starts from; later
    events already there are dropped); does nothing when not ``enabled``."""

    def __init__(self, run: str, step: int, enabled: bool):
        self.writer = SummaryWriter(runs.path(run, runs.TENSORBOARD), purge_step=step + 1) if enabled else None

    def losses(self, step: int, losses: dict[str, float]) -> None:
        if self.writer:
            for name, value in losses.items():
                self.writer.add_scalar(f"loss/{name}", value, step)

    def samples(self, step: int, figures: dict[str, float], grid: np.ndarray) -> None:
        """The sample views' mean ``figures`` and their ``grid`` (H, W, 3) uint8 (prediction | target)."""
        if self.writer:
            for name, value in figures.items():
                self.writer.add_scalar(f"samples/{name}", value, step)
            self.writer.add_image("samples/prediction | target", grid, step, dataformats="HWC")
            self.writer.flush()

    def close(self) -> None:
        if self.writer:
            self.writer.close()
