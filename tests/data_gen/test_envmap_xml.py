"""An XML scene lit by an envmap from an EXR file renders with as many workers as cores (it used to hang)."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from nr_helpers import load_records, read_view, run_in_new_session, run_neurender, wait_session_gone

from neurender.base.exr import write_exr

SCENE = """<scene version="3.0.0">
    <sensor type="perspective">
        <float name="fov" value="40"/>
        <transform name="to_world"><lookat origin="0, 0, 4" target="0, 0, 0" up="0, 1, 0"/></transform>
        <film type="hdrfilm"><integer name="width" value="16"/><integer name="height" value="16"/></film>
    </sensor>
    <emitter type="envmap"><string name="filename" value="sky.exr"/></emitter>
    <shape type="sphere"><bsdf type="diffuse"/></shape>
</scene>
"""


def write_envmap_scene(folder) -> str:
    """A sphere under an 8x4 EXR sky (brighter at the top); returns the XML path."""
    sky = np.repeat(np.linspace(2.0, 0.2, 4, dtype=np.float32)[:, None], 8, axis=1)
    write_exr(str(folder / "sky.exr"), {"R": sky, "G": sky, "B": sky})
    (folder / "envmap.xml").write_text(SCENE)
    return str(folder / "envmap.xml")


def test_envmap_from_exr_with_a_worker_per_core(tmp_path):
    # one Dr.Jit thread per worker: at least as many workers as cores (only 2 start: there are 2 views)
    workers = max(2, os.cpu_count() or 1)
    out = tmp_path / "data"
    try:
        proc, session = run_in_new_session("generate", write_envmap_scene(tmp_path), "--out", out, "--views", "2",
                                           "--res", "16", "--spp", "4", "--workers", workers, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail("generate of an XML scene with an EXR envmap did not finish in 180 s (Mitsuba's EXR reader "
                    "waits forever with one Dr.Jit thread)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert wait_session_gone(session) == []
    assert sorted(r["view"] for r in load_records(out)) == [0, 1]
    view = read_view(out, "envmap", 0)
    background = view["mask.Y"] < 0.5
    assert background.any() and (view["env.R"][background] > 0.1).all(), "the sky is not in the env pass"
    assert run_neurender("validate", out).returncode == 0
