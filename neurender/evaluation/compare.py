"""Time at the sizes users render: each method against the path tracer and PT + OIDN at equal quality.

For an evaluation with the path tracer's curves (``neurender evaluate``), each method's quality
(surface SSIM, PSNR and FLIP) is matched on both curves: the spp at which the curve reaches all three
(log-linear between levels, the most demanding metric, rounded up to what the sampler renders).
Then, at every size asked, view 0 of the evaluated dataset is rendered again at that spp and size
(the reference pass; warm, `neurender.evaluation.timing.warm_seconds`), denoised by OIDN with its
G-buffer scaled to that size, and the method runs on the same scaled G-buffer (in a fresh process,
as ``bench predict`` times it). Quality comes from the evaluation at its own resolution; the sizes
change only the time.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch

from data_gen.options import rendered_spp
from neurender.base.camera import Camera
from neurender.base.dataset import load_manifest
from neurender.baselines import pt_oidn
from neurender.data import GBufferDataset
from neurender.evaluation.path_tracer import HIGHER_IS_BETTER, SEED_OFFSET, curve_at_quality, view_renderer
from neurender.evaluation.timing import resized_item, wall_clock, warm_seconds


def equal_quality_spp(curve: list[dict], mean: dict) -> float | None:
    """The spp at which ``curve`` matches the surface figures ``mean`` on every metric (None beyond it)."""
    spps = [curve_at_quality(curve, mean[metric], metric, key="spp") for metric in HIGHER_IS_BETTER]
    return None if None in spps else max(spps)


class PathTracerFrames:
    """The reference pass of view 0 of an evaluated dataset, rendered and denoised at any size and spp."""

    def __init__(self, data_dir: str, effect: str):
        manifest = load_manifest(data_dir)
        self.dataset = GBufferDataset(data_dir, effect)
        self.record = self.dataset.records[0]
        self.renderer = view_renderer(manifest, self.record["scene"])

    def times(self, height: int, width: int, spp: float) -> dict:
        """Warm seconds of rendering at ``spp`` (rounded up) and of denoising that render, at height x width."""
        spp = rendered_spp(self.renderer.options.sampler, max(1, math.ceil(spp - 1e-9)))
        camera = replace(Camera.from_json(self.record["camera"]), width=width, height=height)
        name, effect = self.dataset.effect.reference_pass, self.dataset.effect
        channels, render = warm_seconds(lambda: self.renderer.render_pass(camera, name, self.record["seed"] + SEED_OFFSET,
                                                                          spp=spp))
        item = {key: value[0] for key, value in resized_item(self.dataset, 0, height, width).items()
                if key in ("input", "mask")}
        image = torch.from_numpy(np.stack([channels[c] for c in effect.targets]))[None]
        _, denoise = warm_seconds(wall_clock(lambda: pt_oidn.denoise(image, item, effect)))
        return {"spp": spp, "render_ms": 1000 * render, "oidn_ms": 1000 * denoise}
