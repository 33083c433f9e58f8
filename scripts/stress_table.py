"""The table of issue 46's stress sets (scripts/stress_suite.sh, scripts/stress_eval.sh): per model, per set,
its surface SSIM / PSNR / FLIP over all scenes, bold where it does no worse than its effect's classic
method on all three (the issue's rule: an error no larger), else the metrics on which it does worse named.

Usage: python scripts/stress_table.py STRESS_EVAL (the OUT of scripts/stress_eval.sh)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ood_table import METRICS, mean_of

from neurender import effects

SETS = ("scale10", "scale0.1", "ao-1px", "ao-40px", "fog-x20", "white", "black")


def losses(mean: dict, classic: dict) -> list[str]:
    """The metrics on which ``mean`` does worse than ``classic`` (lower SSIM or PSNR, higher FLIP)."""
    return [m for m in METRICS if (mean[m] > classic[m] if m == "flip" else mean[m] < classic[m])]


def main(root: str) -> None:
    cells: dict[tuple[str, str], dict[str, str]] = {}
    present = [s for s in SETS if (Path(root) / s).is_dir()]
    for name in present:
        for summary_path in sorted((Path(root) / name).glob("*/summary.json")):
            summary = json.loads(summary_path.read_text())
            methods = summary["methods"]
            classic_name = effects.get(summary["effect"]).first_guess
            scenes = sorted(methods[classic_name]["per_scene"])
            classic = mean_of(methods[classic_name], scenes)
            for method, record in methods.items():
                mean = mean_of(record, scenes)
                text = f"{mean['ssim']:.3f} / {mean['psnr']:.2f} / {mean['flip']:.3f}"
                lost = losses(mean, classic)
                cell = text if method == classic_name else (f"**{text}**" if not lost else f"{text} (worse {', '.join(lost)})")
                cells.setdefault((summary["effect"], method), {})[name] = cell
    print("| effect | method | " + " | ".join(present) + " |")
    print("|---|---|" + "---|" * len(present))
    for (effect, method), row in cells.items():
        print(f"| {effect} | {method} | " + " | ".join(row.get(s, "-") for s in present) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
