"""Which Mitsuba sampler gives the least noise per sample: relative RMSE against a high-spp render.

Usage: .venv/bin/python scripts/measure_samplers.py [SCENE RES REFERENCE_SPP]   (default: objects 48 4096)

For one view of a built-in scene, every pass (rgb, direct, fog, ao) is rendered at 4, 16 and 64
spp (squares and powers of two: every sampler honours them, except orthogonal, which rounds
16 -> 25 and 64 -> 121) with each sampler and 3 seeds, and compared with the same pass at
REFERENCE_SPP with the independent sampler. Printed: RMSE / mean |reference|, mean of the seeds,
and each sampler's figure relative to independent.
"""
import sys

import numpy as np

import scenes
from data_gen.options import MITSUBA_SAMPLERS, RenderOptions
from data_gen.passes import ViewRenderer

SCENE, RES, REFERENCE_SPP = sys.argv[1:4] if len(sys.argv) == 4 else ("objects", "48", "4096")
RES, REFERENCE_SPP, LEVELS, SEEDS, PASSES = int(RES), int(REFERENCE_SPP), (4, 16, 64), 3, ("rgb", "direct", "fog", "ao")

loaded = scenes.load(scenes.resolve([SCENE], 1, 0)[0], RES)
renderers = {kind: ViewRenderer(loaded, RenderOptions(res=RES, sampler=kind)) for kind in MITSUBA_SAMPLERS}


def image(kind: str, name: str, seed: int, spp: int) -> np.ndarray:
    return np.stack(list(renderers[kind].render_pass(loaded.camera, name, seed, spp=spp)[0].values()))


error = {}
for name in PASSES:
    reference = image("independent", name, 12345, REFERENCE_SPP)
    for kind in MITSUBA_SAMPLERS:
        for spp in LEVELS:
            rmse = [np.sqrt(np.mean((image(kind, name, 100 + s, spp) - reference) ** 2)) for s in range(SEEDS)]
            error[name, kind, spp] = float(np.mean(rmse)) / max(float(np.mean(np.abs(reference))), 1e-9)
print(f"{SCENE} view 0, {RES}x{RES}; relative RMSE against {REFERENCE_SPP} spp (independent), mean of {SEEDS} seeds")
print(f"{'pass':7s}{'spp':>4s}" + "".join(f"{k:>13s}" for k in MITSUBA_SAMPLERS) + "   (relative to independent)")
for name in PASSES:
    for spp in LEVELS:
        base = error[name, "independent", spp]
        cells = "".join(f"{error[name, k, spp]:8.4f}{error[name, k, spp] / base:5.2f}" for k in MITSUBA_SAMPLERS)
        print(f"{name:7s}{spp:4d}" + cells)
