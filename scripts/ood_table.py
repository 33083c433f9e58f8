"""The table of an out-of-distribution suite: each method's surface SSIM / PSNR / FLIP against its effect's
classic method (the effect's first guess), bold where it beats it on all three; the suite as a whole,
then per kind of ground (open floor, backdrop, closed interior: their light differs most).

Usage: python scripts/ood_table.py EVAL... (evaluation folders of `neurender evaluate` on one suite; those
of one effect are put together, so methods evaluated apart share a table)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from neurender import effects

METRICS = ("ssim", "psnr", "flip")


def beats(mean: dict, classic: dict) -> bool:
    """Higher SSIM and PSNR and lower FLIP than ``classic``."""
    return mean["ssim"] > classic["ssim"] and mean["psnr"] > classic["psnr"] and mean["flip"] < classic["flip"]


def groups(summary: dict) -> dict[str, list[str]]:
    """'all' and each ground kind -> the scene ids evaluated (from the dataset's manifest)."""
    manifest = json.loads((Path(summary["data_dir"]) / "dataset.json").read_text())
    ground = {s["id"]: s.get("params", {}).get("ground", "?") for s in manifest["scenes"]}
    scenes = sorted(summary["methods"][next(iter(summary["methods"]))]["per_scene"])
    out = {"all": scenes}
    for kind in sorted({ground[s] for s in scenes}):
        out[kind] = [s for s in scenes if ground[s] == kind]
    return out


def mean_of(record: dict, scenes: list[str]) -> dict:
    """The scene-averaged figures (each scene has the same number of views in the suites)."""
    return {m: float(np.mean([record["per_scene"][s][m] for s in scenes])) for m in METRICS}


def rows(summaries: list[dict]) -> list[str]:
    """The rows of one effect's evaluations of the same views (their methods together)."""
    classic_name = effects.get(summaries[0]["effect"]).first_guess
    methods = {name: record for summary in summaries for name, record in summary["methods"].items()}
    parts = groups(summaries[0])
    out = []
    for name, record in methods.items():
        cells = []
        for scenes in parts.values():
            mean, classic = mean_of(record, scenes), mean_of(methods[classic_name], scenes)
            cell = f"{mean['ssim']:.3f} / {mean['psnr']:.2f} / {mean['flip']:.3f}"
            cells.append(f"**{cell}**" if name != classic_name and beats(mean, classic) else cell)
        out.append(f"| {summaries[0]['effect']} | {name} | {' | '.join(cells)} | {record['ms_per_frame']:.0f} |")
    return out


def main(folders: list[str]) -> None:
    summaries = [json.loads((Path(f) / "summary.json").read_text()) for f in folders]
    parts = groups(summaries[0])
    print("| effect | method | " + " | ".join(f"{k} ({len(v)} scenes)" for k, v in parts.items()) + " | ms |")
    print("|---|---|" + "---|" * len(parts) + "---|")
    for effect in dict.fromkeys(s["effect"] for s in summaries):
        print("\n".join(rows([s for s in summaries if s["effect"] == effect])))


if __name__ == "__main__":
    main(sys.argv[1:])
