"""Evaluate classic methods against the path-traced reference of a dataset.

Methods: the classic methods of the effect's record (``baselines``, see
:mod:`neurender.baselines.methods`) and any training run directory (``neurender train --out
RUN``) of the same effect, named by its folder name.

Metrics: PSNR, SSIM, FLIP and MAE (:mod:`neurender.metrics`) per view, twice: on the surfaces
only (``mask.Y > 0.5``; the headline figures, keys ``psnr`` ...) and on the full frame (keys
``psnr_full`` ...). Off the mask every method is given the same values (AO is 1 there by contract,
GI passes the environment through), so full-frame figures mostly reward how much background a view
shows. A view with an empty mask has no surface figures; it is skipped in their means and listed.
Effects in [0, 1] (AO) are compared as is; for the HDR effects (fog, gi) prediction and reference are
both tone mapped with :func:`neurender.space.display` (Reinhard + sRGB) first, so every metric sees
display values in [0, 1] (data range 1). PSNR is capped at :data:`neurender.metrics.PSNR_CAP` dB (a
prediction equal to the reference), so every figure is finite.

Timing: ``time.perf_counter`` around the method call only (no loading, no metrics), batch of
one view, torch on the CPU, under ``torch.no_grad``; each method runs once untimed on the
first view first (warm-up). Reported as the mean ms per frame.

Path tracer (``path_tracer_curve=True``): the reference pass rendered again at 1, 2, 4, ... spp up to
the reference's spp (:mod:`neurender.path_tracer`) and scored the same way, raw (``path_tracer``)
and denoised by OIDN (``pt_oidn``, :mod:`neurender.baselines.pt_oidn`; its time is render +
denoise, the denoiser timed after one untimed call). summary.json then holds both curves and, per
method, the equal-quality time on each (ms with the method's surface SSIM) and the speed-up
(equal-quality time / the method's ms per frame). The raw curve's last level, an independent copy
of the reference at its own spp on every view, is the reference's ``noise_floor``: a method scored
above it is beyond what the reference can tell.

Outputs in ``out_dir``: ``summary.json`` (written atomically; every key is described in the
README), ``per_view.csv`` (surface metrics empty for a view with an empty mask) and one PNG
grid per view in ``grids/``: inputs | each method | reference | |error| of each method
(mean over channels of the compared values, 0..0.25 mapped to the magma colormap).
"""
from __future__ import annotations

import csv
import os
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from core.atomic import atomic_path, write_json_atomic
from core.dataset import load_manifest
from core.errors import InputError
from neurender import effects, metrics, path_tracer, pretrained, space
from neurender.baselines import pt_oidn
from neurender.baselines.methods import METHODS
from neurender.data import GBufferDataset

METRICS = ("psnr", "ssim", "flip", "mae")  # on the surfaces (mask.Y > 0.5)
METRICS_FULL = tuple(f"{key}_full" for key in METRICS)  # on the full frame
ERROR_SCALE = 0.25  # |error| mapped to the full colormap in the grids


def check_methods(effect: str, methods) -> list[str]:
    """``methods`` as a list (None or empty: every baseline of ``effect``); InputError for an
    unknown effect or a method that does not apply to it, naming the valid ones."""
    valid = effects.get(effect).baselines
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods or valid)
    unknown = [m for m in methods if m not in valid and not _is_run(m)]
    if unknown:
        raise InputError(f"unknown method {', '.join(map(repr, unknown))} for effect {effect}; "
                         f"valid methods: {', '.join(valid) or 'none'} or a training run directory")
    for run in filter(_is_run, methods):
        if _predictor(run).effect.name != effect:
            raise InputError(f"run {run} predicts {_predictor(run).effect.name}, not {effect}")
    return list(dict.fromkeys(methods))


def _is_run(method: str) -> bool:
    """A run folder or a shipped model (``pretrained:NAME``; an unknown name is an InputError)."""
    return os.path.isfile(os.path.join(pretrained.resolve(method), "config.json"))


_PREDICTORS: dict = {}


def _predictor(run: str, steps: int | None = None, samples: int = 1, seed: int = 0, sampler: str | None = None):
    """The (cached) :class:`neurender.predict.Predictor` of a run directory, sampling with these options."""
    key = (run, steps, samples, seed, sampler)
    if key not in _PREDICTORS:
        from neurender.predict import Predictor

        _PREDICTORS[key] = Predictor(run, steps, samples, seed, sampler=sampler)
    return _PREDICTORS[key]


def method_label(method: str) -> str:
    """A method's name in tables: its own name (``pretrained:NAME`` too), or a run directory's folder name."""
    return os.path.basename(os.path.normpath(method)) if _is_run(method) and method == pretrained.resolve(method) \
        else method


def run_method(name: str, item: dict, effect, **options) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(linear prediction, uncertainty) of method ``name`` for a batched item (batch of one), both
    (1, C_target, H, W); the uncertainty is None but for diffusion runs with ``samples`` > 1.
    ``options``: steps, samples, seed, sampler of :class:`neurender.predict.Predictor`."""
    if _is_run(name):
        predictor = _predictor(name, **options)
        prediction, std = predictor.predict(item["input"], item["mask"])
        return prediction, (std if predictor.task.stochastic and predictor.options["samples"] > 1 else None)
    if name in effect.baselines:
        return METHODS[name](item, effect), None
    raise InputError(f"unknown method {name!r}")


def _batch(item: dict) -> dict:
    out = dict(item)
    for key in ("input", "target", "mask"):
        out[key] = item[key][None]
    return out


def _ssim_window(height: int, width: int) -> int:
    window = min(11, height, width)
    return window if window % 2 else window - 1


def score_display(pred: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> dict[str, float | None]:
    """Metrics of display values ``pred`` against ``ref`` (1, C, H, W) in [0, 1]: :data:`METRICS` on
    the pixels where ``mask`` (1, 1, H, W) > 0.5 (None when there is none) and :data:`METRICS_FULL`."""
    ssim_map = metrics.ssim_map(pred, ref, window=_ssim_window(*ref.shape[-2:]))
    flip_map = metrics.flip_map(pred, ref)
    full = {"psnr": metrics.psnr(pred, ref), "ssim": metrics.masked_mean(ssim_map),
            "flip": metrics.masked_mean(flip_map), "mae": metrics.mae(pred, ref)}
    scores = {f"{key}_full": float(value[0]) for key, value in full.items()}
    if not bool((mask > 0.5).any()):
        return {**dict.fromkeys(METRICS), **scores}
    on = {"psnr": metrics.psnr(pred, ref, mask=mask), "ssim": metrics.masked_mean(ssim_map, mask),
          "flip": metrics.masked_mean(flip_map, mask), "mae": metrics.mae(pred, ref, mask=mask)}
    return {**{key: float(value[0]) for key, value in on.items()}, **scores}


def score(prediction: torch.Tensor, reference: torch.Tensor, effect, mask: torch.Tensor) -> dict[str, float | None]:
    """:func:`score_display` of linear ``prediction`` against linear ``reference`` (1, C, H, W) of
    ``effect`` on ``mask`` (1, 1, H, W), in display space."""
    return score_display(space.display(prediction, effect.hdr), space.display(reference, effect.hdr), mask)


def _to_rgb8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) display values in [0, 1] -> (H, W, 3) uint8."""
    image = x.clamp(0.0, 1.0).expand(3, -1, -1) if x.shape[0] == 1 else x.clamp(0.0, 1.0)
    return (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _error_rgb8(err: torch.Tensor) -> np.ndarray:
    from matplotlib import colormaps

    value = (err.mean(dim=0) / ERROR_SCALE).clamp(0.0, 1.0).numpy()
    return (colormaps["magma"](value)[..., :3] * 255 + 0.5).astype(np.uint8)


def _input_tiles(item: dict, effect) -> list[tuple[str, np.ndarray]]:
    """Pictures of the inputs: radiance and albedo groups, normals, depth."""
    tiles = []
    groups = dict.fromkeys(name.split(".")[0] if "." in name else "rgb" for name in effect.inputs)
    for group in groups:
        names = [n for n in effect.inputs if (n.split(".")[0] if "." in n else "rgb") == group]
        values = effect.pick(item["input"], names)[0]
        if group == "depth":
            on = (item["mask"][0, 0] > 0.5) & (values[0] > 0)
            near, far = (float(values[0][on].min()), float(values[0][on].max())) if bool(on.any()) else (0.0, 1.0)
            values = torch.where(on, 1 - (values[0] - near) / max(far - near, 1e-6) * 0.85, torch.zeros_like(on, dtype=values.dtype))[None]
        elif group == "normal":
            values = values * 0.5 + 0.5
        elif space.is_radiance(names[0]):
            values = space.display(values, True)
        tiles.append((group, _to_rgb8(values)))
    return tiles


def _save_grid(path: str, tiles: list[tuple[str, np.ndarray]], title: str, min_tile: int = 128) -> None:
    height, width = tiles[0][1].shape[:2]
    scale = max(1, -(-min_tile // width))
    tile_w, tile_h, label_h = width * scale, height * scale, 16
    sheet = Image.new("RGB", (tile_w * len(tiles), tile_h + 2 * label_h), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 2), title, fill="black")
    for i, (label, image) in enumerate(tiles):
        sheet.paste(Image.fromarray(image).resize((tile_w, tile_h), Image.NEAREST), (i * tile_w, 2 * label_h))
        draw.text((i * tile_w + 4, label_h + 2), label, fill="black")
    with atomic_path(path, ".png") as tmp:
        sheet.save(tmp, format="PNG")


def _run(dataset: GBufferDataset, methods: list[str], options: dict):
    """Run: yields (batched item, {method: (linear prediction, uncertainty or None)}, {method: seconds})
    per view; every method runs once untimed on the first view first (warm-up)."""
    with torch.no_grad():
        for index in range(len(dataset)):
            item = _batch(dataset[index])
            if index == 0:
                for name in methods:
                    run_method(name, item, dataset.effect, **options)
            predictions, seconds = {}, {}
            for name in methods:
                start = time.perf_counter()
                predictions[name] = run_method(name, item, dataset.effect, **options)
                seconds[name] = time.perf_counter() - start
            yield item, predictions, seconds


def _draw(path: str, item: dict, effect, shown: dict, reference: torch.Tensor) -> None:
    """Draw: the grid of one view, inputs | each method | reference | |error| of each method."""
    tiles = _input_tiles(item, effect)
    tiles += [(method_label(name), _to_rgb8(pred[0])) for name, pred in shown.items()]
    tiles.append(("reference", _to_rgb8(reference[0])))
    tiles += [(f"|err| {method_label(name)}", _error_rgb8((pred[0] - reference[0]).abs()))
              for name, pred in shown.items()]
    _save_grid(path, tiles, f"{effect.name} {item['scene']} view {item['view']} "
                            f"({'tone-mapped' if effect.hdr else 'linear'})")


def _means(rows: list[dict]) -> dict:
    """Mean of each metric over ``rows`` (views without a surface figure skipped; None if none has one)."""
    means = {}
    for key in METRICS + METRICS_FULL:
        values = [r[key] for r in rows if r[key] is not None]
        means[key] = float(np.mean(values)) if values else None
    return means


def _summarise(rows: list[dict], dataset: GBufferDataset, methods: list[str], spread: dict, options: dict) -> dict:
    """Summarise: per method the mean metrics (surfaces, full frame), per scene and ms per frame; for
    a method with an uncertainty, its calibration (``spread``: method -> [(std, error)] of the surface
    pixels of each view)."""
    out = {}
    for name in methods:
        mine = [r for r in rows if r["method"] == method_label(name)]
        scenes = {s: _means([r for r in mine if r["scene"] == s]) for s in dataset.scene_ids}
        means = _means(mine)
        out[method_label(name)] = {
            "mean": {key: means[key] for key in METRICS},
            "mean_full": {key: means[f"{key}_full"] for key in METRICS},
            "per_scene": {s: {key: m[key] for key in METRICS} for s, m in scenes.items()},
            "per_scene_full": {s: {key: m[f"{key}_full"] for key in METRICS} for s, m in scenes.items()},
            "ms_per_frame": float(np.mean([r["ms"] for r in mine])),
        }
        if spread.get(name):
            std, error = (torch.cat(parts) for parts in zip(*spread[name]))
            predictor = _predictor(name, **options)
            out[method_label(name)]["uncertainty"] = {**metrics.calibration(std, error), "sampler": predictor.sampler,
                                                      "steps": predictor.options["steps"],
                                                      "samples": options["samples"], "std_scale": predictor.std_scale}
    return out


def evaluate(data_dir: str, effect: str, methods=None, out_dir: str = "eval_out", split: str = "all",
             path_tracer_curve: bool = False, steps: int | None = None, samples: int = 1, seed: int = 0,
             sampler: str | None = None) -> dict:
    """Run ``methods`` (None: the effect's baselines) on every view of ``split`` of the dataset in
    ``data_dir``, score them against the reference, draw the grids and summarise; writes ``out_dir``
    (see the module docstring) and returns the summary dict (the content of summary.json).
    Diffusion runs predict with ``sampler``, ``steps`` DDIM steps (None: each run's own) and ``samples``
    draws from ``seed`` (:class:`neurender.predict.Predictor`); with ``samples`` > 1 their summary also
    gives the calibration of their uncertainty against the error of their prediction (``uncertainty``,
    on linear values).

    Raises InputError for an unknown effect, method or split, an empty split, or a dataset
    lacking a needed channel.
    """
    methods = check_methods(effect, methods)
    options = {"steps": steps, "samples": samples, "seed": seed, "sampler": sampler}
    dataset = GBufferDataset(data_dir, effect, split)
    record = dataset.effect
    os.makedirs(os.path.join(out_dir, "grids"), exist_ok=True)
    rows, grids, empty, spread = [], [], [], {}
    for item, outputs, seconds in _run(dataset, methods, options):
        reference = space.display(item["target"], record.hdr)
        shown = {name: space.display(prediction, record.hdr) for name, (prediction, _) in outputs.items()}
        on = (item["mask"] > 0.5).expand_as(reference)
        for name, (prediction, std) in outputs.items():
            if std is not None:
                spread.setdefault(name, []).append((std[on], (prediction - item["target"])[on]))
        rows += [{"method": method_label(name), "scene": item["scene"], "view": item["view"],
                  **score_display(shown[name], reference, item["mask"]), "ms": seconds[name] * 1000.0}
                 for name in methods]
        if not bool((item["mask"] > 0.5).any()):
            empty.append(f"{item['scene']}/{item['view']:03d}")
        grid = f"grids/{item['scene']}_{item['view']:03d}.png"
        _draw(os.path.join(out_dir, grid), item, record, shown, reference)
        grids.append(grid)
    summary = {
        "effect": effect, "data_dir": os.path.abspath(data_dir), "split": split, "views": len(dataset),
        "views_masked": len(dataset) - len(empty), "empty_mask_views": empty, "scenes": dataset.scene_ids,
        "metric_space": "tonemapped (Reinhard + sRGB)" if record.hdr else "linear",
        "methods": _summarise(rows, dataset, methods, spread, options), "grids": grids,
    }
    if path_tracer_curve:
        summary.update(_path_tracer_summary(data_dir, dataset, summary["methods"]))
    with atomic_path(os.path.join(out_dir, "per_view.csv"), ".csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["method", "scene", "view", *METRICS, *METRICS_FULL, "ms"])
        writer.writeheader()
        writer.writerows(rows)
    write_json_atomic(os.path.join(out_dir, "summary.json"), summary)
    return summary


def _curve(levels: dict[int, list[dict]]) -> list[dict]:
    """Per spp level (ascending): ``spp``, the mean metrics over its views and the mean ``ms``."""
    return [{"spp": spp, **_means(rows), "ms": float(np.mean([r["ms"] for r in rows]))}
            for spp, rows in sorted(levels.items())]


def _equal_quality(curve: list[dict], methods: dict) -> dict:
    """Each method's equal-quality time on ``curve`` (matched on surface SSIM) and speed-up."""
    equal = {name: path_tracer.equal_quality_ms(curve, m["mean"]["ssim"]) for name, m in methods.items()}
    return {"curve": curve, "equal_quality_ms": equal,
            "speedup": {name: (ms / methods[name]["ms_per_frame"] if ms else None) for name, ms in equal.items()}}


def _path_tracer_summary(data_dir: str, dataset: GBufferDataset, methods: dict) -> dict:
    """The path tracer's and PT + OIDN's quality/time curves on the same views, each method's
    equal-quality time on both, and the reference's noise floor (summary.json keys ``path_tracer``,
    ``pt_oidn``, ``noise_floor``)."""
    items = [dataset[i] for i in range(len(dataset))]
    effect = dataset.effect
    raw, denoised = {}, {}
    for index, spp, image, seconds in path_tracer.renders(load_manifest(data_dir), dataset.records, effect,
                                                          [item["mask"][None] for item in items]):
        item = items[index]
        reference, mask = item["target"][None], item["mask"][None]
        raw.setdefault(spp, []).append({**score(image, reference, effect, mask), "ms": 1000.0 * seconds})
        if not denoised:
            pt_oidn.denoise(image, item, effect)  # warm-up, untimed
        start = time.perf_counter()
        clean = pt_oidn.denoise(image, item, effect)
        total = seconds + time.perf_counter() - start
        denoised.setdefault(spp, []).append({**score(clean, reference, effect, mask), "ms": 1000.0 * total})
    curve = _curve(raw)
    floor = {**curve[-1], "views": len(items)}
    floor["methods_above"] = [name for name, m in methods.items()
                              if None not in (m["mean"]["ssim"], floor["ssim"]) and m["mean"]["ssim"] > floor["ssim"]]
    return {"path_tracer": _equal_quality(curve, methods), "pt_oidn": _equal_quality(_curve(denoised), methods),
            "noise_floor": floor}
