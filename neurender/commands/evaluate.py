"""The evaluation side's commands: evaluate, report."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated, Literal

import tyro

from neurender import effects
from neurender.base.variant import RenderVariant, use_variant
from neurender.commands.arguments import check_given
from neurender.device import DeviceOptions
from neurender.evaluation.evaluate import evaluate
from neurender.evaluation.report import report
from neurender.inference.sampling import SamplingOptions


@dataclass(kw_only=True)
class EvaluateCommand:
    """Score methods (classic baselines, runs, shipped models) against the path-traced reference."""

    data: str
    """Dataset directory."""
    effect: effects.EffectName
    """Effect evaluated."""
    method: Annotated[tuple[str, ...], tyro.conf.arg(metavar="NAME_OR_RUN", help_behavior_hint="(default: none)")] = ()
    """Baseline names, run directories or pretrained:NAME (none: every baseline of the effect)."""
    split: Literal["all", "train", "test"] = "all"
    """Views of which scenes."""
    out: str
    """Evaluation folder."""
    path_tracer: bool = True
    """Render the path tracer's and PT + OIDN's quality/time curves (--no-path-tracer skips them)."""
    temporal_blend: Annotated[tuple[float, ...], tyro.conf.arg(metavar="W", help_behavior_hint="(default: none)")] = ()
    """Also score every method as 'NAME + blend W' for each W: along each camera path, its frame
    blended with its reprojected history, W on the current frame, in (0, 1] (none: single frames)."""
    sampling: Annotated[SamplingOptions, tyro.conf.arg(name="")] = field(default_factory=SamplingOptions)
    """Sampling of diffusion runs (more than one sample also scores the calibration of their spread)."""
    devices: Annotated[DeviceOptions, tyro.conf.arg(name="")] = field(default_factory=DeviceOptions)
    """Where the networks run."""
    rendering: Annotated[RenderVariant, tyro.conf.arg(name="")] = field(default_factory=RenderVariant)
    """Where Mitsuba renders."""


def run_evaluate(command: EvaluateCommand) -> int:
    use_variant(command.rendering.variant)  # the path tracer's
    summary = evaluate(command.data, command.effect, list(command.method), command.out, command.split,
                       path_tracer_curve=command.path_tracer, sampling=command.sampling,
                       devices=command.devices, temporal_blends=command.temporal_blend)
    print(f"{'':36s}{'surfaces (mask)':>22s}{'full frame':>22s}")
    print(f"{'method':36s}{'SSIM':>8s}{'PSNR':>8s}{'FLIP':>6s}{'SSIM':>10s}{'PSNR':>8s}{'FLIP':>6s}{'ms/frame':>10s}")
    for name, m in summary["methods"].items():
        masked, full = m["mean"], m["mean_full"]
        surfaces = (f"{masked['ssim']:8.3f}{masked['psnr']:8.2f}{masked['flip']:6.3f}" if masked["ssim"] is not None
                    else f"{'n/a':>22s}")
        print(f"{name:36s}{surfaces}{full['ssim']:10.3f}{full['psnr']:8.2f}{full['flip']:6.3f}{m['ms_per_frame']:10.1f}")
    for name, m in summary["methods"].items():
        if "uncertainty" in m:
            u = m["uncertainty"]
            spearman = "n/a" if u["spearman"] is None else f"{u['spearman']:.3f}"
            print(f"{name}: uncertainty of {u['samples']} draws: Spearman(std, |error|) {spearman}, "
                  f"2-std coverage {u['coverage_2std']:.3f}")
    if summary["empty_mask_views"]:
        print(f"{len(summary['empty_mask_views'])} view(s) with an empty mask left out of the surface figures: "
              f"{', '.join(summary['empty_mask_views'])}")
    print(f"summary: {os.path.join(command.out, 'summary.json')}")
    return 0


@dataclass(kw_only=True)
class ReportCommand:
    """One page from evaluation folders: for each effect the best method at each time budget, then every
    method. index.html is self-contained (its images embedded); report.md links copies in images/."""

    eval_dirs: Annotated[tuple[str, ...], tyro.conf.Positional,
                          tyro.conf.arg(metavar="EVAL_DIR", help_behavior_hint="(required)")]
    """Evaluation folders (neurender evaluate --out)."""
    out: str
    """Report folder."""
    bench: Annotated[tuple[str, ...], tyro.conf.arg(metavar="FILE", help_behavior_hint="(default: none)")] = ()
    """Files of neurender bench compare --out: a budget table per frame size they timed (1080p...)."""

    def __post_init__(self) -> None:
        check_given("EVAL_DIR", self.eval_dirs)


def run_report(command: ReportCommand) -> int:
    print(f"report: {report(list(command.eval_dirs), command.out, list(command.bench))}")
    return 0


COMMANDS = {"evaluate": (EvaluateCommand, run_evaluate), "report": (ReportCommand, run_report)}
