"""The path tracer as a method: quality against time at increasing spp, and equal-quality time.

For each evaluated view, the effect's reference pass is rendered again (another seed) at
1, 2, 4, ... spp, below the reference's own spp, and scored against the reference like any
method. The curve answers: how many milliseconds of path tracing buy the quality a
method reaches? (:func:`equal_quality_ms`).
"""
from __future__ import annotations

import math

import numpy as np
import torch

SEED_OFFSET = 1_000_003  # other noise than the reference's


def spp_levels(reference_spp: int) -> list[int]:
    """1, 2, 4, ... below ``reference_spp`` (at least [1])."""
    levels, spp = [], 1
    while spp < reference_spp or not levels:
        levels.append(spp)
        spp *= 2
    return levels


def quality_curve(manifest: dict, records: list[dict], effect, references: list[torch.Tensor],
                  masks: list[torch.Tensor], score) -> list[dict]:
    """Mean metrics and ms per frame of the path tracer at each spp level.

    effect: the :class:`neurender.effects.Effect` (its ``reference_pass`` is rendered);
    records: the views.jsonl records of the evaluated views; references: their linear targets
    (1, C, H, W); masks (1, 1, H, W); score(pred, ref) -> dict of metrics on linear tensors.
    """
    from data_gen.variant import init_mitsuba

    init_mitsuba()
    import scenes
    from core.camera import Camera
    from data_gen.options import RenderOptions
    from data_gen.passes import ViewRenderer

    options = RenderOptions(**manifest["generation"]["render"])
    scene_entries = {s["id"]: s for s in manifest["scenes"]}
    name = effect.reference_pass
    renderers, rows = {}, {}
    for record, reference, mask in zip(records, references, masks):
        entry = scene_entries[record["scene"]]
        if record["scene"] not in renderers:
            ref = scenes.SceneRef(entry["id"], entry["source"], entry["seed"])
            renderers[record["scene"]] = ViewRenderer(scenes.load(ref, options.res), options)
        renderer = renderers[record["scene"]]
        camera = Camera.from_json(record["camera"])
        renderer.render_pass(camera, name, record["seed"] + SEED_OFFSET, spp=1)  # compile the kernel, untimed
        for spp in spp_levels(renderer.spp(name)):
            channels, seconds = renderer.render_pass(camera, name, record["seed"] + SEED_OFFSET, spp=spp)
            prediction = torch.from_numpy(np.stack([channels[c] for c in effect.targets]))[None]
            prediction = effect.apply_off_mask(prediction, mask)  # as in the dataset
            rows.setdefault(spp, []).append({**score(prediction, reference), "ms": 1000.0 * seconds})
    return [{"spp": spp, **{k: float(np.mean([r[k] for r in values])) for k in values[0]}}
            for spp, values in sorted(rows.items())]


def equal_quality_ms(curve: list[dict], ssim: float) -> float | None:
    """Milliseconds of path tracing whose SSIM equals ``ssim`` (log-linear between levels).

    The 1-spp time when 1 spp already reaches it (an upper bound); None when no level tried does.
    """
    if not curve or ssim is None or not math.isfinite(ssim):
        return None
    if ssim <= curve[0]["ssim"]:
        return curve[0]["ms"]
    for low, high in zip(curve, curve[1:]):
        if low["ssim"] < ssim <= high["ssim"]:
            t = (ssim - low["ssim"]) / (high["ssim"] - low["ssim"])
            return math.exp(math.log(low["ms"]) + t * (math.log(high["ms"]) - math.log(low["ms"])))
    return None
