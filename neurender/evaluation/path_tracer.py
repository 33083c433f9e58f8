"""The path tracer as a method: quality against time at increasing spp, and equal-quality time.

For each evaluated view, the effect's reference pass is rendered again (another seed) at
1, 2, 4, ... spp up to the reference's own spp, and scored against the reference like any
method. The curve answers: how many milliseconds of path tracing buy the quality a
method reaches? (`curve_at_quality`). Its last level, an independent copy of the
reference at the reference's spp, is the reference's noise floor: no method can be shown to be
better than that copy.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from tqdm import tqdm

import scenes
from data_gen.options import RenderOptions, rendered_spp
from data_gen.passes import ViewRenderer
from neurender.base.camera import Camera
from neurender.evaluation.timing import warm_seconds

SEED_OFFSET = 1_000_003  # other noise than the reference's


def spp_levels(reference_spp: int) -> list[int]:
    """1, 2, 4, ... below ``reference_spp``, then ``reference_spp`` itself."""
    levels, spp = [], 1
    while spp < reference_spp:
        levels.append(spp)
        spp *= 2
    return levels + [reference_spp]


def render_options(manifest: dict) -> RenderOptions:
    """The render options a dataset was made with (datasets made before the sampler option used ``independent``)."""
    return RenderOptions(**{"sampler": "independent", **manifest["generation"]["render"]})


def view_renderer(manifest: dict, scene_id: str) -> ViewRenderer:
    """A renderer of scene ``scene_id`` of a dataset, with the dataset's render options."""
    entry = next(s for s in manifest["scenes"] if s["id"] == scene_id)
    options = render_options(manifest)
    return ViewRenderer(scenes.load(scenes.SceneRef(entry["id"], entry["source"], entry["seed"]), options.res), options)


def renders(manifest: dict, records: list[dict], effect, masks: list[torch.Tensor]):
    """The effect's ``reference_pass`` rendered again for each view at each level of `spp_levels`.

    records: the views.jsonl records of the views; masks: their ``mask.Y`` (1, 1, H, W).
    Yields (view index, spp, linear image (1, C_target, H, W) with the contract's off-mask value,
    seconds inside Mitsuba), views in order, levels ascending. Warm: the first view of a scene at a level
    compiles its kernel, later ones reuse it (`neurender.evaluation.timing.warm_seconds`).
    """
    sampler, name = render_options(manifest).sampler, effect.reference_pass
    renderers, warm = {}, set()
    views = tqdm(zip(records, masks), total=len(records), unit="view", desc=f"path tracer ({name})", disable=None)
    for index, (record, mask) in enumerate(views):
        if record["scene"] not in renderers:
            renderers[record["scene"]] = view_renderer(manifest, record["scene"])
        renderer = renderers[record["scene"]]
        camera = Camera.from_json(record["camera"])
        for spp in sorted({rendered_spp(sampler, level) for level in spp_levels(renderer.spp(name))}):
            def render():
                return renderer.render_pass(camera, name, record["seed"] + SEED_OFFSET, spp=spp)
            channels, seconds = warm_seconds(render, warm=(record["scene"], spp) in warm)
            warm.add((record["scene"], spp))
            image = torch.from_numpy(np.stack([channels[c] for c in effect.targets]))[None]
            yield index, spp, effect.apply_off_mask(image, mask), seconds  # off-mask value as in the dataset


HIGHER_IS_BETTER = {"ssim": True, "psnr": True, "flip": False}
"""The metrics equal quality is matched on, and their direction."""


def curve_at_quality(curve: list[dict], value: float | None, metric: str = "ssim", key: str = "ms") -> float | None:
    """Milliseconds (or another ``key`` of the curve's points, such as ``spp``) of path tracing whose
    ``metric`` (a key of `HIGHER_IS_BETTER`) equals ``value`` (log-linear between levels).

    The first level's when it already reaches it (an upper bound); None when no level tried does.
    """
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    if not curve or value is None or curve[0][metric] is None or not math.isfinite(value):
        return None
    target, points = sign * value, [(sign * p[metric], p[key]) for p in curve]
    if target <= points[0][0]:
        return points[0][1]
    for (low, low_at), (high, high_at) in zip(points, points[1:]):
        if low < target <= high:
            t = (target - low) / (high - low)
            return math.exp(math.log(low_at) + t * (math.log(high_at) - math.log(low_at)))
    return None
