"""What a view-level guard would do to a model's figures (issue 46; measured, not shipped: docs/evaluation.md).

The guard: a view where the median (over its surface pixels) of any of the model's network input channels
lies outside the range of those medians over the model's training views, widened by 10 % of that range on
both sides, gets the classic method's answer instead of the model's.

Usage: python scripts/view_guard.py RUN --classic METHOD --train DATA... --eval EVAL... [--channels NAME...]
EVAL: folders written by `neurender evaluate --data SET --split all --method METHOD RUN ...` (their
summary.json names SET). For each, prints how many views fall outside and the set's surface SSIM / PSNR /
FLIP (the mean over views, as `evaluate` reports them) with and without the guard, beside the classic
method's: the guarded figures take the classic method's per-view figures (per_view.csv) on the views outside.
"""
from __future__ import annotations

import argparse
import csv
import os

import torch

from neurender.base.dataset import on_surface
from neurender.data import GBufferDataset
from neurender.evaluation.report import load_summary
from neurender.inference.predictor import Predictor
from neurender.run.inputs import balanced, channels, view_input

METRICS = ("ssim", "psnr", "flip")
MARGIN = 0.1


def medians(predictor: Predictor, data: str) -> dict[tuple[str, int], torch.Tensor]:
    """(scene, view) -> the per-channel median (C_in,) of the network input over the view's surface pixels."""
    effect, kind = predictor.effect, predictor.config.inputs
    dataset, out = GBufferDataset(data, effect.name, split="all"), {}
    for i in range(len(dataset)):
        item = dataset[i]
        x, mask = item["input"][None], item["mask"][None]
        on = on_surface(mask)[0, 0]
        if on.any():
            with torch.no_grad():
                scaled, _ = balanced(x, effect, predictor.config.balances_light)
                network_input = view_input(scaled, mask, item["parameters"], effect, kind)[0]
            out[item["scene"], item["view"]] = network_input[:, on].median(1).values
    return out


def mean(rows: list[dict]) -> str:
    return " / ".join(f"{sum(float(r[m]) for r in rows) / len(rows):.{5 if m == 'ssim' else 3}f}" for m in METRICS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("--classic", required=True, help="the classic method's name in the evaluations")
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--eval", nargs="+", required=True)
    parser.add_argument("--channels", nargs="*", help="only these input channels (default: all)")
    args = parser.parse_args()
    predictor = Predictor(args.run)
    names = channels(predictor.effect, predictor.config.inputs)
    picked = [names.index(n) for n in args.channels] if args.channels else list(range(len(names)))
    seen = torch.stack([m for data in args.train for m in medians(predictor, data).values()])[:, picked]
    low, high = seen.min(0).values, seen.max(0).values
    low, high = low - MARGIN * (high - low), high + MARGIN * (high - low)
    for folder in args.eval:
        summary = load_summary(folder)
        views = medians(predictor, summary["data_dir"])
        outside = {key for key, m in views.items() if ((m[picked] < low) | (m[picked] > high)).any()}
        with open(os.path.join(folder, "per_view.csv"), newline="") as handle:
            rows = list(csv.DictReader(handle))
        model, classic = ({(r["scene"], int(r["view"])): r for r in rows if r["method"] == name}
                          for name in (args.run, args.classic))
        guarded = [classic[key] if key in outside else row for key, row in model.items()]
        print(f"{summary['data_dir']}: {len(outside & model.keys())} of {len(model)} views outside; "
              f"{args.run} {mean(list(model.values()))}, guarded {mean(guarded)}; {args.classic} {mean(list(classic.values()))}")


if __name__ == "__main__":
    main()
