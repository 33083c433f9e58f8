"""`neurender bench generate`: generation speed, pipeline overhead and the 2-worker speed-up.

Figures come from one run on this machine; compare ratios, not absolute times.
"""
from __future__ import annotations

import tempfile

from data_gen.generator import GenerateOptions, generate
from data_gen.options import RenderOptions


def bench_generate(scene: str = "objects", views: int = 8, res: int = 128, spp: int = 32) -> dict:
    """Generate ``views`` views of ``scene`` with 1 then 2 workers; print and return the figures.

    overhead: wall time of the 1-worker run / seconds spent inside Mitsuba's render calls
    (target <= 1.10); speed-up: views/min with 2 workers / views/min with 1.
    """
    options = GenerateOptions((scene,), count=1, views=views, seed=0,
                              render=RenderOptions(res=res, spp=spp, spp_direct=max(1, spp // 4), spp_ao=spp))
    runs = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            runs[workers] = generate(options, out, workers=workers, progress=False)
    rate = {w: 60 * s["views_rendered"] / s["wall_seconds"] for w, s in runs.items()}
    figures = {
        "views_per_min_1_worker": rate[1],
        "views_per_min_2_workers": rate[2],
        "overhead_ratio": runs[1]["wall_seconds"] / runs[1]["render_seconds"],
        "speedup_2_workers": rate[2] / rate[1],
    }
    print(f"bench generate: {scene}, {views} views, {res}x{res}, {spp} spp")
    print(f"  views/min, 1 worker:   {figures['views_per_min_1_worker']:.1f}")
    print(f"  views/min, 2 workers:  {figures['views_per_min_2_workers']:.1f}")
    print(f"  overhead (wall / time in Mitsuba render calls, 1 worker): {figures['overhead_ratio']:.2f} (target <= 1.10)")
    print(f"  speed-up of 2 workers over 1: {figures['speedup_2_workers']:.2f}x")
    return figures
