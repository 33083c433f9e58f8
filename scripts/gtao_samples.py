"""GTAO's quality and 1080p time against its sample count, at full, half and quarter resolution (issue 48).

Usage: .venv/bin/python scripts/gtao_samples.py VAL REPORT
Prints a Markdown row per variant: slices x steps, samples a pixel (2 sides), surface SSIM / PSNR / FLIP
over every view of VAL against its path-traced AO (as `neurender evaluate --split all` scores them), and
the median ms of 5 warm calls on view 0 of REPORT scaled to 1920x1080 (2 threads).
"""
from __future__ import annotations

import functools
import sys

import numpy as np
import torch

from neurender import effects
from neurender.baselines import kernels
from neurender.baselines.methods import _screen_ao, reduced_resolution
from neurender.data import GBufferDataset
from neurender.evaluation.scoring import score
from neurender.evaluation.timing import resized_item, time_ms

VARIANTS = [(4, 8, 1), (3, 3, 1), (2, 4, 1), (2, 2, 1), (2, 4, 2), (3, 3, 2), (4, 8, 4), (3, 3, 4), (2, 4, 4)]
"""(slices, steps, resolution divisor): GTAO's default, XeGTAO's "high" preset (3 x 3), and 2 x 4 (gtao-half's before 3 x 3)."""
RESOLUTIONS = {1: "", 2: ", half resolution", 4: ", quarter resolution"}


def main(val: str, report: str) -> None:
    torch.set_num_threads(2)
    ao = effects.get("ao")
    dataset = GBufferDataset(val, "ao", split="all")
    items = [dataset[i] for i in range(len(dataset))]
    frame = resized_item(GBufferDataset(report, "ao", split="all"), 0, 1080, 1920)
    print("| GTAO | samples a pixel | val SSIM / PSNR / FLIP | ms at 1920x1080 |\n|---|---|---|---|")
    for slices, steps, divisor in VARIANTS:
        method = _screen_ao("gtao", functools.partial(kernels.gtao, slices=slices, steps=steps))
        method = reduced_resolution(method, divisor) if divisor > 1 else method
        scores = [score(method(item["input"][None], item["mask"][None], item["parameters"], ao), item["target"][None],
                        ao, item["mask"][None]) for item in items]
        mean = np.mean([[s["ssim"], s["psnr"], s["flip"]] for s in scores if s["ssim"] is not None], axis=0)
        ms = time_ms(lambda: method(frame["input"], frame["mask"], frame["parameters"], ao), 5)  # after a warm-up call
        label = f"{slices} x {steps}{RESOLUTIONS[divisor]}"
        print(f"| {label} | {2 * slices * steps} | {mean[0]:.3f} / {mean[1]:.2f} / {mean[2]:.3f} | "
              f"{ms:.0f} |", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
