"""The path tracer's and PT + OIDN's quality/time curves on an evaluation's views, and each method's
equal-quality time on them.

The effect's reference pass is rendered again at 1, 2, 4, ... spp (`neurender.evaluation.path_tracer`)
and scored like any method, raw (``path_tracer``) and denoised by OIDN (``pt_oidn``,
`neurender.baselines.pt_oidn`; its time is render + denoise). Every time is warm
(`neurender.evaluation.timing.warm_seconds` on the first view: the first render of a level
compiles its kernel; the first denoise allocates).
Per method: the equal-quality time on each curve for SSIM, PSNR and FLIP separately, the time at
which the curve matches it on all three (the longest of them) and the speed-up (that time / the
method's ms per frame). The raw curve's last level, an
independent copy of the reference at its own spp on every view, is the reference's ``noise_floor``:
a method scored above it is beyond what the reference can tell. On a camera path every level also
has its temporal figures (the floor's are the reference's own flicker).
"""
from __future__ import annotations

import numpy as np

from neurender import space
from neurender.base.dataset import load_manifest
from neurender.baselines import pt_oidn
from neurender.data import GBufferDataset
from neurender.evaluation import path_tracer
from neurender.evaluation.scoring import means, score
from neurender.evaluation.temporal import Sequence
from neurender.evaluation.timing import wall_clock, warm_seconds


def curve(levels: dict[int, list[dict]], temporal: dict[int, dict] | None = None) -> list[dict]:
    """Per spp level (ascending): ``spp``, the mean metrics over its views and the mean ``ms``, and
    its ``temporal`` figures when ``temporal`` (spp -> figures) has them."""
    return [{"spp": spp, **means(rows), "ms": float(np.mean([r["ms"] for r in rows])),
             **({"temporal": temporal[spp]} if temporal else {})}
            for spp, rows in sorted(levels.items())]


def equal_quality(points: list[dict], methods: dict) -> dict:
    """Each method's equal-quality time on the curve ``points``: per metric of
    `neurender.evaluation.path_tracer.HIGHER_IS_BETTER` (surface figures), and on all of them
    (the most demanding: the longest; None when the curve does not reach one), with the speed-up."""
    by_metric = {name: {metric: path_tracer.curve_at_quality(points, m["mean"][metric], metric)
                        for metric in path_tracer.HIGHER_IS_BETTER} for name, m in methods.items()}
    equal = {name: None if None in times.values() else max(times.values()) for name, times in by_metric.items()}
    return {"curve": points, "equal_quality_ms": equal, "equal_quality_ms_by_metric": by_metric,
            "speedup": {name: (ms / methods[name]["ms_per_frame"] if ms else None) for name, ms in equal.items()}}


def path_tracer_summary(dataset: GBufferDataset, methods: dict, sequence: Sequence) -> dict:
    """The summary.json keys ``path_tracer``, ``pt_oidn`` and ``noise_floor`` for the views of
    ``dataset`` and the summarised ``methods``; each level's temporal figures over the frame pairs of
    ``sequence`` (its frames added by the evaluation; the noise floor's: the reference's own)."""
    items = [dataset[i] for i in range(len(dataset))]
    effect = dataset.effect
    raw, denoised = {}, {}
    images = {"raw": {}, "denoised": {}}  # spp -> view index -> display image, for the frame pairs
    for index, spp, image, seconds in path_tracer.renders(load_manifest(dataset.root), dataset.records, effect,
                                                          [item["mask"][None] for item in items]):
        item = items[index]
        reference, mask = item["target"][None], item["mask"][None]
        raw.setdefault(spp, []).append({**score(image, reference, effect, mask), "ms": 1000.0 * seconds})
        denoise = wall_clock(lambda: pt_oidn.denoise(image, item, effect))
        clean, denoise_seconds = warm_seconds(denoise, warm=bool(denoised))  # warm after the first image
        total = seconds + denoise_seconds
        denoised.setdefault(spp, []).append({**score(clean, reference, effect, mask), "ms": 1000.0 * total})
        if sequence.pairs:
            images["raw"].setdefault(spp, {})[index] = space.display(image, effect.hdr)
            images["denoised"].setdefault(spp, {})[index] = space.display(clean, effect.hdr)
    references = {i: space.display(items[i]["target"][None], effect.hdr) for i in sequence.in_pairs}
    temporal = {kind: {spp: sequence.figures(shown, references) for spp, shown in levels.items()}
                for kind, levels in images.items()}
    raw_curve = curve(raw, temporal["raw"])
    floor = {**raw_curve[-1], "views": len(items)}
    floor["methods_above"] = [name for name, m in methods.items()
                              if None not in (m["mean"]["ssim"], floor["ssim"]) and m["mean"]["ssim"] > floor["ssim"]]
    return {"path_tracer": equal_quality(raw_curve, methods),
            "pt_oidn": equal_quality(curve(denoised, temporal["denoised"]), methods),
            "noise_floor": floor}
