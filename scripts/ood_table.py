"""The table of an out-of-distribution suite: each method's surface SSIM / PSNR / FLIP against its effect's
classic method (the effect's first guess), bold where it beats it on all three.

Usage: python scripts/ood_table.py EVAL... (evaluation folders of `neurender evaluate`, one per effect)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from neurender import effects


def beats(mean: dict, classic: dict) -> bool:
    """Higher SSIM and PSNR and lower FLIP than ``classic``."""
    return mean["ssim"] > classic["ssim"] and mean["psnr"] > classic["psnr"] and mean["flip"] < classic["flip"]


def rows(folder: Path) -> list[str]:
    summary = json.loads((folder / "summary.json").read_text())
    classic_name = effects.get(summary["effect"]).first_guess
    methods = summary["methods"]
    classic = methods[classic_name]["mean"]
    out = []
    for name, record in methods.items():
        mean = record["mean"]
        cell = f"{mean['ssim']:.3f} / {mean['psnr']:.2f} / {mean['flip']:.3f}"
        if name != classic_name and beats(mean, classic):
            cell = f"**{cell}**"
        out.append(f"| {summary['effect']} | {name} | {cell} | {record['ms_per_frame']:.0f} |")
    return out


def main(folders: list[str]) -> None:
    print(f"views: {', '.join(str(json.loads((Path(f) / 'summary.json').read_text())['views_masked']) for f in folders)}")
    print("| effect | method | SSIM / PSNR / FLIP | ms |\n|---|---|---|---|")
    for folder in folders:
        print("\n".join(rows(Path(folder))))


if __name__ == "__main__":
    main(sys.argv[1:])
