"""Benchmarks. `bench generate`: generation speed, pipeline overhead and the 2-worker speed-up;
`bench generate-long`: memory of recycled workers over a long run; `bench baselines`, `bench predict`.

Figures come from one run on this machine; compare ratios, not absolute times.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import torch
import tyro

from data_gen.executors import RECYCLE_AFTER
from data_gen.generator import GenerateOptions, generate
from data_gen.options import RenderOptions
from neurender import effects
from neurender.base.atomic import write_json_atomic
from neurender.base.dataset import read_views
from neurender.base.errors import InputError
from neurender.base.paths import check_output_file
from neurender.base.variant import RenderVariant, use_variant
from neurender.baselines.kernels import torch_references
from neurender.commands.arguments import check_given, check_sizes, parse_size
from neurender.data import GBufferDataset, held_out_split
from neurender.device import DeviceOptions, device_label, resolve_device
from neurender.evaluation import path_tracer
from neurender.evaluation.compare import PathTracerFrames, equal_quality_spp
from neurender.evaluation.evaluate import evaluate
from neurender.evaluation.methods import Methods
from neurender.evaluation.report import load_summary
from neurender.evaluation.scoring import score
from neurender.evaluation.timing import measure_in_child, resized_item, time_ms
from neurender.inference.predictor import Predictor
from neurender.inference.sampling import SamplingOptions
from neurender.run import runs


def bench_generate(scene: str = "objects", views: int = 8, res: int = 128, spp: int = 32) -> dict:
    """Generate ``views`` views of ``scene`` with 1 then 2 workers; print and return the figures.

    overhead: wall time of the 1-worker run / seconds spent inside Mitsuba's render calls
    (target <= 1.10); speed-up: views/min with 2 workers / views/min with 1.
    """
    options = GenerateOptions((scene,), count=1, views=views, seed=0,
                              render=RenderOptions(res=res, spp=spp))
    results = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            results[workers] = generate(options, out, workers=workers, progress=False)
    rate = {w: 60 * s["views_rendered"] / s["wall_seconds"] for w, s in results.items()}
    figures = {
        "views_per_min_1_worker": rate[1],
        "views_per_min_2_workers": rate[2],
        "overhead_ratio": results[1]["wall_seconds"] / results[1]["render_seconds"],
        "speedup_2_workers": rate[2] / rate[1],
    }
    print(f"bench generate: {scene}, {views} views, {res}x{res}, {spp} spp")
    print(f"  views/min, 1 worker:   {figures['views_per_min_1_worker']:.1f}")
    print(f"  views/min, 2 workers:  {figures['views_per_min_2_workers']:.1f}")
    print(f"  overhead (wall / time in Mitsuba render calls, 1 worker): {figures['overhead_ratio']:.2f} (target <= 1.10)")
    print(f"  speed-up of 2 workers over 1: {figures['speedup_2_workers']:.2f}x")
    return figures


def bench_generate_long(scene: str = "objects", count: int = 5, views: int = 100, res: int = 16, spp: int = 4,
                        workers: int = 2) -> list[dict]:
    """Generate ``count`` x ``views`` small views with worker recycling; print and return, per worker
    process in start order, its views and its peak resident memory (MB) after its first and last view.

    The peak comes from each record's ``peak_rss_mb`` (getrusage in the worker, i.e. VmHWM).
    """
    options = GenerateOptions((scene,), count=count, views=views, seed=0,
                              render=RenderOptions(res=res, spp=spp))
    with tempfile.TemporaryDirectory() as out:
        stats = generate(options, out, workers=workers, progress=False)
        records = read_views(out)
    by_worker: dict[int, list[dict]] = {}
    for record in records:  # views.jsonl is in finishing order
        by_worker.setdefault(record["pid"], []).append(record)
    rows = [{"views": len(rs), "start_mb": rs[0]["peak_rss_mb"], "end_mb": rs[-1]["peak_rss_mb"]}
            for rs in by_worker.values()]
    print(f"bench generate-long: {scene} x{count}, {views} views each ({len(records)}), {res}x{res}, {spp} spp, "
          f"{workers} workers, a worker replaced after {RECYCLE_AFTER} views; {stats['wall_seconds']:.0f} s")
    print(f"  {'worker':>6s}{'views':>7s}{'peak RSS MB, first view':>25s}{'last view':>11s}")
    for index, row in enumerate(rows):
        print(f"  {index:6d}{row['views']:7d}{row['start_mb']:25.0f}{row['end_mb']:11.0f}")
    return rows


def bench_baselines(data: str, sizes=("256", "512"), repeats: int = 5) -> dict:
    """ms/frame of every baseline at ``sizes`` (tokens of `parse_size`) as it runs (the compiled
    kernels of `neurender.baselines.kernels`) and with the kernels' torch references, and each one's
    scores (on the surfaces) on the dataset ``data``; then path tracing + OIDN at each spp level (ms: render
    + denoise at the dataset's resolution, mean over its views)."""
    figures = {}
    shapes = {token: parse_size(str(token)) for token in sizes}
    print(f"bench baselines on {data} (CPU, {torch.get_num_threads()} torch threads; median of {repeats}; "
          f"torch: the kernels' torch references)")
    print(f"  {'method':14s}" + "".join(f"{f'ms@{s}':>10s}" for s in sizes) + "".join(f"{f'torch@{s}':>12s}" for s in sizes)
          + f"{'SSIM':>8s}{'PSNR':>8s}{'FLIP':>8s}")
    for effect, record in effects.EFFECTS.items():
        if not record.baselines:
            continue
        methods = Methods(effect, record.baselines)
        dataset = GBufferDataset(data, effect)
        items = {token: resized_item(dataset, 0, *shape) for token, shape in shapes.items()}
        with tempfile.TemporaryDirectory() as out:
            summary = evaluate(data, effect, list(record.baselines), out, path_tracer_curve=True)
        for name in methods.names:
            with torch.no_grad():
                ms = {s: time_ms(lambda: methods.run(name, items[s]), repeats) for s in sizes}
                with torch_references():
                    reference_ms = {s: time_ms(lambda: methods.run(name, items[s]), repeats) for s in sizes}
            scores = summary["methods"][name]["mean"]
            figures[name] = {"effect": effect, "ms": ms, "torch_ms": reference_ms, **scores}
            print(f"  {name:14s}" + "".join(f"{ms[s]:10.1f}" for s in sizes)
                  + "".join(f"{reference_ms[s]:12.1f}" for s in sizes)
                  + f"{scores['ssim']:8.3f}{scores['psnr']:8.2f}{scores['flip']:8.3f}")
        native = dataset[0]["mask"].shape[-1]
        for point in summary["pt_oidn"]["curve"]:
            label = f"pt-oidn {point['spp']}spp"
            figures[f"{effect} {label}"] = {"effect": effect, "ms": {native: point["ms"]},
                                            **{key: point[key] for key in ("psnr", "ssim", "flip", "mae")}}
            timing = f"{point['ms']:.1f} @{native}px"
            print(f"  {label:14s}{timing:>{22 * len(sizes)}s}"
                  + f"{point['ssim']:8.3f}{point['psnr']:8.2f}{point['flip']:8.3f}  ({effect})")
    return figures


def _mean_ssim(predictor, dataset) -> float:
    """Mean SSIM on the surfaces (mask) of ``predictor`` over ``dataset``; NaN when every mask is empty."""
    scores = []
    for i in range(len(dataset)):
        item = dataset[i]
        with torch.no_grad():
            prediction = predictor.predict(item["input"][None], item["mask"][None], item["parameters"])[0]
        ssim = score(prediction, item["target"][None], dataset.effect, item["mask"][None])["ssim"]
        if ssim is not None:
            scores.append(ssim)
    return float(np.mean(scores)) if scores else math.nan


def bench_predict(checkpoints: list[str], data: str, eval_dirs: list[str] = (), sizes=("128", "256", "512"),
                  ddim_steps=(1, 2, 4, 8, 16, 50), repeats: int = 3, devices: DeviceOptions = DeviceOptions()) -> dict:
    """Held-out SSIM and ms/frame at the dataset's resolution of each run (for diffusion one row per
    DDIM step count), then the scaling table: ms/frame, ms per megapixel and peak RSS of each run
    and of GTAO at each of ``sizes`` (tokens of `parse_size`), each in a fresh process.

    With ``eval_dirs`` (evaluations with the path tracer's curve; the one of the run's effect
    is used), the speed-up column is the path tracer's equal-quality time over the run's
    ms/frame at the dataset's resolution. Runs predict on ``devices``.
    """
    device = resolve_device(devices.device)
    shapes = {token: parse_size(str(token)) for token in sizes}
    curves = {}
    for eval_dir in eval_dirs:
        summary = load_summary(eval_dir)
        curves[summary["effect"]] = summary.get("path_tracer", {}).get("curve", [])
    figures = {}
    print(f"bench predict on {data} ({device_label(device)}, {torch.get_num_threads()} CPU threads; warm median of "
          f"{repeats} frames, a first frame over 5 s kept; PT ms at equal SSIM)")
    print(f"  {'run':24s}{'steps':>6s}{'ms@data':>10s}{'SSIM':>8s}{'PT ms':>9s}{'speed-up':>10s}")
    methods = []
    for run in checkpoints:
        base = Predictor(run, devices=devices)
        dataset = GBufferDataset(data, base.effect.name, split=held_out_split(data))
        curve = curves.get(base.effect.name, [])
        item = dataset[0]
        for steps in ddim_steps if base.model.stochastic else (None,):
            predictor = Predictor(run, SamplingOptions(steps=steps), devices=devices) if steps else base
            with torch.no_grad():
                ms = time_ms(lambda: predictor.predict(item["input"][None], item["mask"][None], item["parameters"])[0],
                             repeats)
            ssim = _mean_ssim(predictor, dataset)
            equal = path_tracer.curve_at_quality(curve, ssim) if curve else None
            speedup = equal / ms if equal else None
            label = os.path.basename(os.path.normpath(run))
            figures[f"{label}@{steps}" if steps else label] = {"ms": ms, "ssim": ssim, "equal_quality_ms": equal,
                                                                "speedup": speedup}
            print(f"  {label:24s}{steps or '-':>6}{ms:10.1f}{ssim:8.3f}"
                  + (f"{equal:9.1f}{speedup:9.2f}x" if equal else f"{'n/a':>9s}{'n/a':>10s}"))
        methods += [run] + (["gtao"] if "gtao" in base.effect.baselines and "gtao" not in methods else [])
    print(f"scaling (each size in a fresh process, median of {repeats}; diffusion at its run's sample_steps)")
    print(f"  {'method':24s}{'size':>11s}{'ms/frame':>11s}{'ms/MP':>9s}{'peak RSS MB':>13s}")
    scaling = {}
    for method in methods:
        label = os.path.basename(os.path.normpath(method))
        for token, (height, width) in shapes.items():
            row = measure_in_child(method, data, height, width, repeats, str(device))
            scaling[f"{label}@{token}"] = row
            size = f"{width}x{height}"
            if "error" in row:
                print(f"  {label:24s}{size:>11s}  {row['error'][:60]}")
            else:
                print(f"  {label:24s}{size:>11s}{row['ms']:11.1f}{row['ms_per_mp']:9.1f}{row['peak_rss_mb']:13.0f}")
    figures["scaling"] = scaling
    return figures


def bench_compare(eval_dirs: list[str], sizes=("256", "1080p"), methods: list[str] = (), repeats: int = 3,
                  devices: DeviceOptions = DeviceOptions(), out: str | None = None) -> dict:
    """Per evaluation, size and method: the method's ms/frame, and the path tracer's and PT + OIDN's
    at the spp that matches the method on all three metrics (`neurender.evaluation.compare`),
    with the speed-ups. ``methods``: baselines, runs or pretrained:NAME of the evaluations (default:
    their baselines and shipped models; a run folder is named by its path). ``out``: also write the rows
    as JSON there (`neurender report --bench` reads them)."""
    if out:
        check_output_file(out, "JSON")
    device = resolve_device(devices.device)
    print(f"bench compare ({device_label(device)} for the methods, {torch.get_num_threads()} CPU threads; warm "
          f"medians of {repeats}; the path tracer and OIDN on the CPU)")
    print(f"  {'method':24s}{'size':>11s}{'ms':>9s}{'PT spp':>8s}{'PT ms':>9s}{'x':>9s}"
          f"{'OIDN spp':>9s}{'PT+OIDN ms':>11s}{'x':>9s}")
    figures = {}
    for eval_dir in eval_dirs:
        summary = load_summary(eval_dir)
        if "path_tracer" not in summary:
            raise InputError(f"{eval_dir} has no path tracer curves (evaluate without --no-path-tracer)")
        names = {(runs.open_run(m).label if runs.is_run(m) else m): m for m in methods} or \
            {name: name for name in summary["methods"] if name in effects.get(summary["effect"]).baselines
             or name.startswith(runs.PREFIX)}
        missing = [label for label in names if label not in summary["methods"]]
        if missing:
            raise InputError(f"{eval_dir} did not evaluate {', '.join(missing)}")
        frames, cache = PathTracerFrames(summary["data_dir"], summary["effect"]), {}
        for token in sizes:
            height, width = parse_size(token)
            for label, method in names.items():
                mean = summary["methods"][label]["mean"]
                measured = measure_in_child(method, summary["data_dir"], height, width, repeats, str(device))
                row = {"method_ms": measured.get("ms")} | ({"error": measured["error"]} if "error" in measured else {})
                for key in ("path_tracer", "pt_oidn"):
                    spp = equal_quality_spp(summary[key]["curve"], mean)
                    if spp is not None and (token, spp) not in cache:
                        cache[token, spp] = frames.times(height, width, spp)
                    times = cache.get((token, spp))
                    ms = None if times is None else times["render_ms"] + (times["oidn_ms"] if key == "pt_oidn" else 0)
                    row[key] = {"spp": times and times["spp"], "ms": ms,
                                "speedup": ms / row["method_ms"] if ms and row["method_ms"] else None}
                figures[f"{summary['effect']}:{label}@{token}"] = row | {
                    "effect": summary["effect"], "method": label, "size": token, "frame": [height, width]}
                cells = "".join(f"{row[k]['spp'] or '> curve':>{w1}}{_ms(row[k]['ms']):>{w2}}"
                                f"{_ms(row[k]['speedup'], 'x'):>9s}" for k, w1, w2 in (("path_tracer", 8, 9),
                                                                                        ("pt_oidn", 9, 11)))
                print(f"  {label:24s}{f'{width}x{height}':>11s}{_ms(row['method_ms']):>9s}{cells}")
    if out:
        write_json_atomic(out, {"device": device_label(device), "threads": torch.get_num_threads(),
                                "repeats": repeats, "rows": list(figures.values())})
        print(f"rows written to {out}")
    return figures


def _ms(value, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.1f}{unit}"


@dataclass(kw_only=True)
class BenchCompare:
    """Methods against the path tracer and PT + OIDN at equal quality, timed at the sizes users render."""

    eval: Annotated[tuple[str, ...], tyro.conf.arg(metavar="EVAL_DIR")]
    """Evaluations with the path tracer's curves (neurender evaluate): their quality figures are matched."""
    sizes: tuple[str, ...] = ("256", "1080p")
    """Sizes timed: N (N x N pixels), WxH or 720p, 1080p, 1440p, 2160p."""
    method: Annotated[tuple[str, ...], tyro.conf.arg(metavar="NAME_OR_RUN", help_behavior_hint="(default: none)")] = ()
    """Methods of the evaluations (none: their baselines and shipped models; give run folders by path)."""
    out: Annotated[str | None, tyro.conf.arg(metavar="FILE")] = None
    """Also write the rows as JSON to this file (neurender report --bench FILE adds a budget table per size)."""
    devices: Annotated[DeviceOptions, tyro.conf.arg(name="")] = field(default_factory=DeviceOptions)
    """Where the methods' networks run."""
    rendering: Annotated[RenderVariant, tyro.conf.arg(name="")] = field(default_factory=RenderVariant)
    """Where Mitsuba renders."""

    def __post_init__(self) -> None:
        check_given("--eval", self.eval)
        check_sizes("--sizes", self.sizes)


@dataclass(kw_only=True)
class BenchGenerate:
    """Generation speed: views/min with 1 and 2 workers, pipeline overhead, 2-worker speed-up."""

    scene: str = "objects"
    """Scene rendered (a built-in name or an XML file)."""
    views: int = 8
    """Views rendered."""
    res: int = 128
    """Image size in pixels."""
    spp: int = 32
    """Samples per pixel."""
    rendering: Annotated[RenderVariant, tyro.conf.arg(name="")] = field(default_factory=RenderVariant)
    """Where Mitsuba renders."""


@dataclass(kw_only=True)
class BenchGenerateLong(BenchGenerate):
    """Peak RSS of each recycled worker over a long run of small views."""

    count: int = 5
    """Scene instances."""
    views: int = 100
    """Views per instance."""
    res: int = 16
    """Image size in pixels."""
    spp: int = 4
    """Samples per pixel."""
    workers: int = 2
    """Parallel render processes."""


@dataclass(kw_only=True)
class BenchBaselines:
    """ms/frame of each baseline (compiled kernels and their torch references) per size, and their scores;
    PT + OIDN per spp level."""

    data: str
    """Dataset to score on (e.g. demo_out/dataset)."""
    sizes: tuple[str, ...] = ("256", "512")
    """Sizes timed: N (N x N pixels), WxH or 720p, 1080p, 1440p, 2160p (16:9)."""

    def __post_init__(self) -> None:
        check_sizes("--sizes", self.sizes)


@dataclass(kw_only=True)
class BenchPredict:
    """ms/frame, ms per megapixel and peak RSS of runs and GTAO per size; held-out SSIM; DDIM step table."""

    checkpoint: tuple[str, ...]
    """Runs or pretrained:NAME timed."""
    data: str
    """Dataset whose held-out views are scored."""
    sizes: tuple[str, ...] = ("128", "256", "512")
    """Sizes timed: N (N x N pixels), WxH or 720p, 1080p, 1440p, 2160p (16:9)."""
    eval: Annotated[tuple[str, ...], tyro.conf.arg(metavar="EVAL_DIR", help_behavior_hint="(default: none)")] = ()
    """Evaluation folders with the path tracer's curve (speed-up column)."""
    devices: Annotated[DeviceOptions, tyro.conf.arg(name="")] = field(default_factory=DeviceOptions)
    """Where the runs predict."""

    def __post_init__(self) -> None:
        check_given("--checkpoint", self.checkpoint)
        check_sizes("--sizes", self.sizes)


def _failed_rows(figures) -> list[str]:
    """The ``error`` of every row, at any depth, of a bench function's figures."""
    if not isinstance(figures, dict):
        return []
    return ([figures["error"]] if "error" in figures else []) + [e for v in figures.values() for e in _failed_rows(v)]


def _figures_printed(function):
    """A bench function as a command: it prints its figures; exit status 1 (and one line) when a row failed.
    A command with a ``rendering`` option sets Mitsuba's variant first."""
    def command(options) -> int:
        if isinstance(getattr(options, "rendering", None), RenderVariant):
            use_variant(options.rendering.variant)
        failed = _failed_rows(function(options))
        if failed:
            print(f"error: {len(failed)} row(s) failed, the first: {failed[0]}", file=sys.stderr)
        return 1 if failed else 0
    return command


COMMANDS = {
    "bench generate": (BenchGenerate, _figures_printed(
        lambda o: bench_generate(o.scene, views=o.views, res=o.res, spp=o.spp))),
    "bench generate-long": (BenchGenerateLong, _figures_printed(
        lambda o: bench_generate_long(o.scene, o.count, o.views, o.res, o.spp, o.workers))),
    "bench baselines": (BenchBaselines, _figures_printed(lambda o: bench_baselines(o.data, o.sizes))),
    "bench compare": (BenchCompare, _figures_printed(
        lambda o: bench_compare(list(o.eval), o.sizes, list(o.method), devices=o.devices, out=o.out))),
    "bench predict": (BenchPredict, _figures_printed(
        lambda o: bench_predict(list(o.checkpoint), o.data, list(o.eval), sizes=o.sizes, devices=o.devices))),
}
