"""TensorBoard beside log.jsonl: the loss scalars, the sample views' SSIM and PSNR, and their grid.

Written by rank 0 into ``RUN/tensorboard/`` (``tensorboard --logdir RUN``); a resumed run drops
the events after its checkpoint's step, as log.jsonl is cut there.
"""
from __future__ import annotations

import os
import time

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from neurender.run import runs


def _after_last_events(folder: str) -> None:
    """Wait until the clock is past the second of the newest event file in ``folder``: TensorBoard reads the
    files in name order, and names of one second and process differ only by a counter (".10" before ".9")."""
    names = os.listdir(folder) if os.path.isdir(folder) else []
    seconds = [int(name.split(".")[3]) for name in names if name.startswith("events.out.tfevents.")]
    wait = max(seconds, default=0) + 1 - time.time()
    if wait > 0:
        time.sleep(wait)


class Monitor:
    """TensorBoard events of the run folder ``run`` after ``step`` (the step training starts from; later
    events already there are dropped); does nothing when not ``enabled``."""

    def __init__(self, run: str, step: int, enabled: bool):
        folder = runs.path(run, runs.TENSORBOARD)
        if enabled:
            _after_last_events(folder)
        self.writer = SummaryWriter(folder, purge_step=step + 1) if enabled else None

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
