"""Evaluate classic methods against the path-traced reference of a dataset.

Methods (:data:`METHODS`, by effect), plus any training run directory (``neurender train
--out RUN``) of the same effect, named by its folder name:

``ao``:  ``ssao``, ``hbao``, ``gtao`` (:mod:`neurender.baselines`) with the scene's ``ao_radius``
         (the dataset's AO ray length) and the view camera's ``fov_x``; default parameters.
``fog``: ``fog-analytic``: :func:`neurender.baselines.fog` on the fog-free ``R,G,B`` with the
         scene's absolute ``sigma_t`` from the manifest. Airlight: the per-channel mean of the
         fog-free radiance on the background (sky) pixels of the same view (mask 0), an input
         the method may see; 1.0 when the view has no background pixel (closed rooms). It never
         looks at the fogged reference. Background rays get the length
         ``background_distance`` of :class:`neurender.data.GBufferDataset` (an estimate of the
         distance to the boundary of the renderer's fog sphere, from the manifest geometry).
``gi``:  ``gi-ambient``: ``direct + ambient * albedo * ao`` on the mask (``direct`` elsewhere),
         with ``ao`` from ``gtao`` (as above) and ``ambient`` the per-channel mean of the direct
         radiance over the mask pixels of the same view: a one-bounce guess that the light
         arriving indirectly is about the average directly lit radiance of the surroundings.

Metrics: PSNR, SSIM, FLIP and MAE (:mod:`neurender.metrics`) per view. AO is compared as is
(values in [0, 1]). For the HDR effects (fog, gi) prediction and reference are both tone
mapped with :func:`neurender.space.display` (Reinhard + sRGB) first, so
every metric sees display values in [0, 1] (data range 1).

Timing: ``time.perf_counter`` around the method call only (no loading, no metrics), batch of
one view, torch on the CPU, under ``torch.no_grad``; each method runs once untimed on the
first view first (warm-up). Reported as the mean ms per frame.

Path tracer (``path_tracer=True``): the reference pass rendered again at 1, 2, 4, ... spp
(:mod:`neurender.path_tracer`) and scored the same way; summary.json then holds its curve and,
per method, the equal-quality time (ms of path tracing with the method's SSIM) and the
speed-up (equal-quality time / the method's ms per frame).

Outputs in ``out_dir``: ``summary.json`` (written atomically), ``per_view.csv`` and one PNG
grid per view in ``grids/``: inputs | each method | reference | |error| of each method
(mean over channels of the compared values, 0..0.25 mapped to the magma colormap).
"""
from __future__ import annotations

import csv
import math
import os
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from neurender import baselines, metrics, path_tracer, space
from neurender.data import ALBEDO, DEPTH, DIRECT, HDR_EFFECTS, NORMAL, RGB, GBufferDataset, check_effect, input_slice
from neurender.atomic import atomic_path, write_json_atomic
from neurender.errors import InputError

METHODS: dict[str, tuple[str, ...]] = {
    "ao": ("ssao", "hbao", "gtao"),
    "fog": ("fog-analytic",),
    "gi": ("gi-ambient",),
}
METRICS = ("psnr", "ssim", "flip", "mae")
ERROR_SCALE = 0.25  # |error| mapped to the full colormap in the grids


def check_methods(effect: str, methods) -> list[str]:
    """``methods`` as a list (None or empty: every method of ``effect``); InputError for an
    unknown effect or a method that does not apply to it, naming the valid ones."""
    check_effect(effect)
    valid = METHODS[effect]
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods or valid)
    unknown = [m for m in methods if m not in valid and not _is_run(m)]
    if unknown:
        raise InputError(f"unknown method {', '.join(map(repr, unknown))} for effect {effect}; "
                         f"valid methods: {', '.join(valid)} or a training run directory")
    for run in filter(_is_run, methods):
        if _predictor(run).effect != effect:
            raise InputError(f"run {run} predicts {_predictor(run).effect}, not {effect}")
    return list(dict.fromkeys(methods))


def _is_run(method: str) -> bool:
    return os.path.isfile(os.path.join(method, "config.json"))


_PREDICTORS: dict = {}


def _predictor(run: str):
    """The (cached) :class:`neurender.predict.Predictor` of a run directory."""
    if run not in _PREDICTORS:
        from neurender.predict import Predictor

        _PREDICTORS[run] = Predictor(run)
    return _PREDICTORS[run]


def method_label(method: str) -> str:
    """A method's name in tables: its own name, or a run directory's folder name."""
    return os.path.basename(os.path.normpath(method)) if _is_run(method) else method


def _channels(item: dict, effect: str, names: list[str]) -> torch.Tensor:
    return item["input"][:, input_slice(effect, names)]


def _ao(name: str, item: dict, effect: str) -> torch.Tensor:
    function = {"ssao": baselines.ssao, "hbao": baselines.hbao, "gtao": baselines.gtao}[name]
    return function(_channels(item, effect, DEPTH), _channels(item, effect, NORMAL), item["mask"],
                    float(item["fov_x"]), float(item["ao_radius"]))


def _fog_analytic(item: dict, effect: str) -> torch.Tensor:
    rgb, mask = _channels(item, effect, RGB), item["mask"]
    background = (mask < 0.5).expand_as(rgb)
    count = background[:, :1].sum(dim=(1, 2, 3))
    sums = torch.where(background, rgb, torch.zeros_like(rgb)).sum(dim=(2, 3))
    airlight = torch.where(count[:, None] > 0, sums / count.clamp_min(1)[:, None], torch.ones_like(sums))
    distance = float(item["background_distance"])
    return baselines.fog(rgb, _channels(item, effect, DEPTH), mask, float(item["fov_x"]),
                         float(item["fog"]["sigma_t"]), airlight,
                         background_distance=distance if distance > 0 else math.inf)


def _gi_ambient(item: dict, effect: str) -> torch.Tensor:
    direct, albedo, mask = _channels(item, effect, DIRECT), _channels(item, effect, ALBEDO), item["mask"]
    ao = baselines.gtao(_channels(item, effect, DEPTH), _channels(item, effect, NORMAL), mask,
                        float(item["fov_x"]), float(item["ao_radius"]))
    on = (mask > 0.5).to(direct.dtype)
    ambient = (direct * on).sum(dim=(2, 3), keepdim=True) / on.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    return torch.where(mask > 0.5, direct + ambient * albedo * ao, direct)


def run_method(name: str, item: dict, effect: str) -> torch.Tensor:
    """Prediction (1, C_target, H, W) of method ``name`` for a batched item (batch of one)."""
    if name in ("ssao", "hbao", "gtao"):
        return _ao(name, item, effect)
    if name == "fog-analytic":
        return _fog_analytic(item, effect)
    if name == "gi-ambient":
        return _gi_ambient(item, effect)
    if _is_run(name):
        predictor = _predictor(name)
        predictor.check_size(*item["mask"].shape[-2:], f"view {item['scene']}/{item['view']}")
        return predictor(item["input"], item["mask"])
    raise InputError(f"unknown method {name!r}")


def _batch(item: dict) -> dict:
    out = dict(item)
    for key in ("input", "target", "mask"):
        out[key] = item[key][None]
    return out


def _ssim_window(height: int, width: int) -> int:
    window = min(11, height, width)
    return window if window % 2 else window - 1


def _score(pred: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    window = _ssim_window(*ref.shape[-2:])
    return {"psnr": float(metrics.psnr(pred, ref)[0]), "ssim": float(metrics.ssim(pred, ref, window=window)[0]),
            "flip": float(metrics.flip(pred, ref)[0]), "mae": float(metrics.mae(pred, ref)[0])}


def _to_rgb8(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) display values in [0, 1] -> (H, W, 3) uint8."""
    image = x.clamp(0.0, 1.0).expand(3, -1, -1) if x.shape[0] == 1 else x.clamp(0.0, 1.0)
    return (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def _error_rgb8(err: torch.Tensor) -> np.ndarray:
    from matplotlib import colormaps

    value = (err.mean(dim=0) / ERROR_SCALE).clamp(0.0, 1.0).numpy()
    return (colormaps["magma"](value)[..., :3] * 255 + 0.5).astype(np.uint8)


def _input_tiles(item: dict, effect: str) -> list[tuple[str, np.ndarray]]:
    tiles = []
    mask = item["mask"][0]
    if effect == "fog":
        tiles.append(("rgb (no fog)", _to_rgb8(space.display(_channels(item, effect, RGB), True)[0])))
    if effect == "gi":
        tiles.append(("direct", _to_rgb8(space.display(_channels(item, effect, DIRECT), True)[0])))
        tiles.append(("albedo", _to_rgb8(_channels(item, effect, ALBEDO)[0])))
    tiles.append(("normal", _to_rgb8(_channels(item, effect, NORMAL)[0] * 0.5 + 0.5)))
    depth = _channels(item, effect, DEPTH)[0, 0]
    on = (mask[0] > 0.5) & (depth > 0)
    near, far = (float(depth[on].min()), float(depth[on].max())) if bool(on.any()) else (0.0, 1.0)
    shade = torch.where(on, 1 - (depth - near) / max(far - near, 1e-6) * 0.85, torch.zeros_like(depth))
    tiles.append(("depth", _to_rgb8(shade[None])))
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


def _finite(value: float):
    return value if math.isfinite(value) else None


def _means(rows: list[dict]) -> dict:
    out = {}
    for key in METRICS:
        values = [r[key] for r in rows if math.isfinite(r[key])]
        out[key] = _finite(float(np.mean(values))) if values else None
    return out


def score(prediction: torch.Tensor, reference: torch.Tensor, effect: str) -> dict[str, float]:
    """Metrics of linear ``prediction`` against linear ``reference`` (1, C, H, W), in display space."""
    hdr = effect in HDR_EFFECTS
    return _score(space.display(prediction, hdr), space.display(reference, hdr))


def evaluate(data_dir: str, effect: str, methods=None, out_dir: str = "eval_out", split: str = "all",
             path_tracer_curve: bool = False) -> dict:
    """Run ``methods`` (None: all of ``effect``'s) on every view of ``split`` of the dataset in
    ``data_dir`` and score them against the reference; writes ``out_dir`` (see the module
    docstring) and returns the summary dict (the content of summary.json).

    Raises InputError for an unknown effect, method or split, an empty split, or a dataset
    lacking a needed channel.
    """
    methods = check_methods(effect, methods)
    dataset = GBufferDataset(data_dir, effect, split)
    hdr = effect in HDR_EFFECTS
    grid_dir = os.path.join(out_dir, "grids")
    os.makedirs(grid_dir, exist_ok=True)
    rows, grids, seconds = [], [], {m: 0.0 for m in methods}
    with torch.no_grad():
        for index in range(len(dataset)):
            item = _batch(dataset[index])
            if index == 0:
                for name in methods:  # warm-up, untimed
                    run_method(name, item, effect)
            reference = space.display(item["target"], hdr)
            predictions = {}
            for name in methods:
                start = time.perf_counter()
                pred = run_method(name, item, effect)
                elapsed = time.perf_counter() - start
                seconds[name] += elapsed
                predictions[name] = space.display(pred.to(item["target"].dtype), hdr)
                rows.append({"method": method_label(name), "scene": item["scene"], "view": item["view"],
                             **_score(predictions[name], reference), "ms": elapsed * 1000.0})
            tiles = _input_tiles(item, effect)
            tiles += [(method_label(name), _to_rgb8(predictions[name][0])) for name in methods]
            tiles.append(("reference", _to_rgb8(reference[0])))
            tiles += [(f"|err| {method_label(name)}", _error_rgb8((predictions[name][0] - reference[0]).abs()))
                      for name in methods]
            grid_name = f"{item['scene']}_{item['view']:03d}.png"
            _save_grid(os.path.join(grid_dir, grid_name), tiles,
                       f"{effect} {item['scene']} view {item['view']} ({'tone-mapped' if hdr else 'linear'})")
            grids.append(f"grids/{grid_name}")

    summary = {
        "effect": effect, "data_dir": os.path.abspath(data_dir), "split": split, "views": len(dataset),
        "scenes": dataset.scene_ids, "metric_space": "tonemapped (Reinhard + sRGB)" if hdr else "linear",
        "methods": {}, "grids": grids,
    }
    for name in methods:
        mine = [r for r in rows if r["method"] == method_label(name)]
        summary["methods"][method_label(name)] = {
            "mean": _means(mine),
            "per_scene": {s: _means([r for r in mine if r["scene"] == s]) for s in dataset.scene_ids},
            "ms_per_frame": 1000.0 * seconds[name] / len(dataset),
        }
    if path_tracer_curve:
        summary["path_tracer"] = _path_tracer_summary(data_dir, dataset, effect, summary["methods"])
    with open(os.path.join(out_dir, "per_view.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["method", "scene", "view", *METRICS, "ms"])
        writer.writeheader()
        writer.writerows(rows)
    write_json_atomic(os.path.join(out_dir, "summary.json"), summary)
    return summary


def _path_tracer_summary(data_dir: str, dataset: GBufferDataset, effect: str, methods: dict) -> dict:
    """The path tracer's quality/time curve on the same views, and each method's equal-quality time."""
    from neurender.data import load_manifest

    items = [dataset[i] for i in range(len(dataset))]
    curve = path_tracer.quality_curve(load_manifest(data_dir), dataset.records, effect,
                                      [item["target"][None] for item in items], [item["mask"][None] for item in items],
                                      lambda prediction, reference: score(prediction, reference, effect))
    equal = {name: path_tracer.equal_quality_ms(curve, m["mean"]["ssim"]) for name, m in methods.items()}
    return {"curve": curve, "equal_quality_ms": equal,
            "speedup": {name: (ms / methods[name]["ms_per_frame"] if ms else None) for name, ms in equal.items()}}
