"""Evaluate classic methods against the path-traced reference of a dataset.

Methods: the classic methods of the effect's record (``baselines``, see
`neurender.baselines.methods`) and any training run directory (``neurender train --out
RUN``) of the same effect, named by its folder name.

Metrics: `neurender.evaluation.scoring` (surface figures are the headline; off the mask every
method is given the same values, AO 1 by contract and GI the environment, so full-frame figures
mostly reward how much background a view shows). A view with an empty mask has no surface
figures; it is skipped in their means and listed.

Timing: ``time.perf_counter`` around the method call only (no loading, no metrics), batch of
one view, torch on the CPU, under ``torch.no_grad``; each method runs once untimed on the
first view first (warm-up). Reported as the mean ms per frame.

Temporal stability (views on a camera path, ``generate --path``): per method ``temporal`` with the
temporal warped error and flicker over consecutive frames (`neurender.evaluation.temporal`),
the same per level of the path tracer's curves, and a strip of consecutive frames per scene.

Path tracer (``path_tracer_curve=True``): the quality/time curves of the path tracer and of PT +
OIDN on the same views, and each method's equal-quality time on them
(`neurender.evaluation.curves`).

Outputs in ``out_dir``: ``summary.json`` (written atomically; every key is described in the
docs/evaluation.md), ``per_view.csv`` (surface metrics empty for a view with an empty mask) and one PNG
grid per view in ``grids/``: inputs | each method | reference | |error| of each method
(mean over channels of the compared values, 0..0.25 mapped to the magma colormap).
"""
from __future__ import annotations

import csv
import os
import time

import numpy as np
import torch

from neurender import metrics, space
from neurender.base.atomic import atomic_path, write_json_atomic
from neurender.base.dataset import MANIFEST, on_surface
from neurender.base.errors import InputError
from neurender.base.lock import folder_lock
from neurender.base.paths import check_apart
from neurender.data import GBufferDataset
from neurender.device import DeviceOptions, machine, resolve_device
from neurender.evaluation.curves import path_tracer_summary
from neurender.evaluation.methods import Methods
from neurender.evaluation.pictures import evaluation_grid, frame_strip
from neurender.evaluation.scoring import METRICS, METRICS_FULL, means, score_display
from neurender.evaluation.temporal import Sequence
from neurender.inference.sampling import SamplingOptions
from neurender.inference.temporal import DEPTH_TOLERANCE
from neurender.run import runs


def _batch(item: dict) -> dict:
    out = dict(item)
    for key in ("input", "target", "mask"):
        out[key] = item[key][None]
    return out


def _run(dataset: GBufferDataset, methods: Methods):
    """Run: yields (batched item, {method: (linear prediction, uncertainty or None)}, {method: seconds})
    per view; every method runs once untimed on the first view first (warm-up)."""
    with torch.no_grad():
        for index in range(len(dataset)):
            item = _batch(dataset[index]) | {"record": dataset.records[index]}
            if index == 0:
                for name in methods.names:
                    methods.run(name, item)
            predictions, seconds = {}, {}
            for name in methods.names:
                start = time.perf_counter()
                predictions[name] = methods.run(name, item)
                seconds[name] = time.perf_counter() - start
            yield item, predictions, seconds


STRIP_FRAMES = 8
"""Frames of a camera path shown in its strip."""


def _frame_strips(out_dir: str, dataset: GBufferDataset, frames: dict, methods: Methods, effect) -> list[str]:
    """One picture per scene of a camera path (``grids/frames_<scene>.png``): its first
    `STRIP_FRAMES` frames, a row for the reference and each method; returns their paths."""
    by_scene = {}
    for index in sorted(frames, key=lambda i: dataset.records[i]["sequence"]["frame"]):
        by_scene.setdefault(dataset.records[index]["scene"], []).append(index)
    written = []
    for scene, indices in by_scene.items():
        shown = [frames[i] for i in indices[:STRIP_FRAMES]]
        rows = {"reference": [reference for reference, _ in shown]}
        rows |= {methods.label(name): [images[name] for _, images in shown] for name in methods.names}
        grid = f"grids/frames_{scene}.png"
        frame_strip(os.path.join(out_dir, grid), rows, f"{effect.name} {scene}: consecutive frames "
                                                       f"({'tone-mapped' if effect.hdr else 'linear'})")
        written.append(grid)
    return written


def _summarise(rows: list[dict], dataset: GBufferDataset, methods: Methods, spread: dict) -> dict:
    """Summarise: per method the mean metrics (surfaces, full frame), per scene and ms per frame; for
    a method with an uncertainty, its calibration (``spread``: method -> [(std, error)] of the surface
    pixels of each view)."""
    out = {}
    for name in methods.names:
        label = methods.label(name)
        mine = [r for r in rows if r["method"] == label]
        scenes = {s: means([r for r in mine if r["scene"] == s]) for s in dataset.scene_ids}
        overall = means(mine)
        out[label] = {
            "mean": {key: overall[key] for key in METRICS},
            "mean_full": {key: overall[f"{key}_full"] for key in METRICS},
            "per_scene": {s: {key: m[key] for key in METRICS} for s, m in scenes.items()},
            "per_scene_full": {s: {key: m[f"{key}_full"] for key in METRICS} for s, m in scenes.items()},
            "ms_per_frame": float(np.mean([r["ms"] for r in mine])),
            "ms_quartiles": [float(q) for q in np.percentile([r["ms"] for r in mine], [25, 75])],
        }
        if spread.get(name):
            std, error = (torch.cat(parts) for parts in zip(*spread[name]))
            predictor = methods.predictors[name]
            out[label]["uncertainty"] = {**metrics.calibration(std, error), "sampler": predictor.sampling.sampler,
                                         "steps": predictor.sampling.steps, "samples": predictor.sampling.samples,
                                         "std_scale": predictor.std_scale}
    return out


def evaluate(data_dir: str, effect: str, methods=None, out_dir: str = "eval_out", split: str = "all",
             path_tracer_curve: bool = False, sampling: SamplingOptions = SamplingOptions(),
             devices: DeviceOptions = DeviceOptions(), temporal_blends=()) -> dict:
    """Run ``methods`` (None: the effect's baselines) on every view of ``split`` of the dataset in
    ``data_dir``, score them against the reference, draw the grids and summarise; writes ``out_dir``
    (see the module docstring) and returns the summary dict (the content of summary.json).
    Runs predict on ``devices`` (their outputs come back to the CPU before the clock is read, so GPU
    times are complete). Diffusion runs predict as ``sampling`` says (`neurender.inference.sampling.SamplingOptions`);
    with several samples their summary also gives the calibration of their uncertainty against the
    error of their prediction (``uncertainty``, on linear values). With ``temporal_blends`` (weights) every
    method is also scored as ``NAME + blend W`` per weight (`neurender.evaluation.methods.Methods`).

    Raises InputError for an unknown effect, method or split, an empty split, or a dataset
    lacking a needed channel.
    """
    resolve_device(devices.device)  # a bad device is refused even when only baselines run
    methods = Methods(effect, methods, sampling, devices, temporal_blends)
    check_apart(out_dir, [data_dir] + [runs.resolve(name) for name in methods.names if runs.is_run(name)])
    if os.path.isfile(os.path.join(out_dir, MANIFEST)) or runs.is_run(out_dir):
        raise InputError(f"--out {out_dir} is a dataset or a run folder; write the evaluation elsewhere")
    dataset = GBufferDataset(data_dir, effect, split)
    record = dataset.effect
    with folder_lock(out_dir, "neurender evaluate"):
        os.makedirs(os.path.join(out_dir, "grids"), exist_ok=True)
        sequence = Sequence(dataset.records, record)
        rows, grids, empty, spread, frames = [], [], [], {}, {}
        for index, (item, outputs, seconds) in enumerate(_run(dataset, methods)):
            reference = space.display(item["target"], record.hdr)
            shown = {name: space.display(prediction, record.hdr) for name, (prediction, _) in outputs.items()}
            sequence.add(index, item)
            if sequence.pairs:
                frames[index] = (reference, shown)
            on = on_surface(item["mask"]).expand_as(reference)
            for name, (prediction, std) in outputs.items():
                if std is not None:
                    spread.setdefault(name, []).append((std[on], (prediction - item["target"])[on]))
            rows += [{"method": methods.label(name), "scene": item["scene"], "view": item["view"],
                      **score_display(shown[name], reference, item["mask"]), "ms": seconds[name] * 1000.0}
                     for name in methods.names]
            if not bool(on_surface(item["mask"]).any()):
                empty.append(f"{item['scene']}/{item['view']:03d}")
            grid = f"grids/{item['scene']}_{item['view']:03d}.png"
            evaluation_grid(os.path.join(out_dir, grid), item, record,
                            {methods.label(name): picture for name, picture in shown.items()}, reference)
            grids.append(grid)
        summary = {
            "effect": effect, "data_dir": os.path.abspath(data_dir), "split": split, "views": len(dataset),
            "views_masked": len(dataset) - len(empty), "empty_mask_views": empty, "scenes": dataset.scene_ids,
            "metric_space": "tonemapped (Reinhard + sRGB)" if record.hdr else "linear",
            "timing": {"frame": list(item["mask"].shape[-2:]), **machine(resolve_device(devices.device))},
            "methods": _summarise(rows, dataset, methods, spread), "grids": grids,
        }
        if sequence.pairs:
            references = {index: reference for index, (reference, _) in frames.items()}
            for name in methods.names:
                images = {index: shown[name] for index, (_, shown) in frames.items()}
                summary["methods"][methods.label(name)]["temporal"] = sequence.figures(images, references)
            summary["temporal"] = {"frame_pairs": len(sequence.pairs), "depth_tolerance": DEPTH_TOLERANCE}
            summary["grids"] += _frame_strips(out_dir, dataset, frames, methods, record)
        if path_tracer_curve:
            summary.update(path_tracer_summary(dataset, summary["methods"], sequence))
        with atomic_path(os.path.join(out_dir, "per_view.csv"), ".csv") as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["method", "scene", "view", *METRICS, *METRICS_FULL, "ms"])
            writer.writeheader()
            writer.writerows(rows)
        write_json_atomic(os.path.join(out_dir, "summary.json"), summary)
    return summary
