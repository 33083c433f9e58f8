"""Write each shipped model's figures.json (`neurender models`, `neurender.pretrained_models`): its
surface SSIM / PSNR / FLIP beside its effect's classic method in an evaluation, and its 1080p time.

Usage: python scripts/model_figures.py EVAL_DIR... --suite TEXT [--models pretrained:NAME...]
       python scripts/model_figures.py --markdown   (the README's table of the figures written)
EVAL_DIR: `neurender evaluate --data SUITE --effect E --split all --no-path-tracer --method CLASSIC
pretrained:NAME... --out EVAL_DIR`; every shipped model it scored (or those of --models) gets its
figures, timed one at a time in a fresh process (run it with nothing else on the CPU).
The shipped figures: scripts/ood_suite.sh's report suite (docs/evaluation.md), never chosen on.
"""
from __future__ import annotations

import argparse
import os

from neurender.evaluation.report import load_summary
from neurender.evaluation.shipping import write_figures
from neurender.run import runs
from neurender.run.catalog import pretrained_models

ABOUT = {"acgan": "attention cGAN over {reads}", "diffusion": "diffusion refiner of {reads}, with uncertainty",
         "fast": "fast tier over {reads}"}
"""What each model family is, in the README's table."""


def recipe(summary: dict) -> str:
    """The commands that made an evaluation's figures (its dataset named by its last two folders)."""
    data = os.path.join(*os.path.normpath(summary["data_dir"]).split(os.sep)[-2:])
    return (f"neurender evaluate --data {data} --effect {summary['effect']} --split {summary['split']} "
            f"--no-path-tracer --method {' '.join(summary['methods'])} --out EVAL; "
            f"python scripts/model_figures.py EVAL... --suite TEXT")


def markdown() -> None:
    """Print the README's table: every shipped model's figures beside its classic method's (bold: better)."""
    print("| model | what it is | SSIM / PSNR / FLIP | its classic method | ms per 1080p frame |")
    print("|---|---|---|---|---|")
    for model in pretrained_models():
        figures = model.figures
        about = ABOUT[model.family].format(reads=model.reads)
        quality = figures.model.text()
        if figures.model.beats(figures.classic):
            quality = f"**{quality}**"
        print(f"| `{model.name}` | {about} | {quality} | {figures.classic_method} {figures.classic.text()} | "
              f"{figures.ms_1080p:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_dirs", nargs="*", metavar="EVAL_DIR")
    parser.add_argument("--suite", help="the views, for a reader (what the figures average)")
    parser.add_argument("--models", nargs="*", default=None, help="only these pretrained:NAME")
    parser.add_argument("--markdown", action="store_true", help="print the README's table and stop")
    args = parser.parse_args()
    if args.markdown:
        return markdown()
    if not args.eval_dirs or not args.suite:
        parser.error("give EVAL_DIR... and --suite (or --markdown)")
    for eval_dir in args.eval_dirs:
        summary = load_summary(eval_dir)
        names = [m for m in summary["methods"] if m.startswith(runs.PREFIX) and m in (args.models or [m])]
        command = recipe(summary)
        for name in names:
            figures = write_figures(name, eval_dir, args.suite, command)
            print(f"{name}: {figures.model.text()} ({figures.classic_method} {figures.classic.text()}), "
                  f"{figures.ms_1080p:.0f} ms at 1080p")


if __name__ == "__main__":
    main()
