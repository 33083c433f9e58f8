"""`neurender demo` end to end on tiny settings, and the benchmarks print their figures."""
from __future__ import annotations

import json
import re

from nr_helpers import run_neurender


def test_demo_runs_the_whole_flow(tmp_path):
    out = tmp_path / "demo"
    result = run_neurender("demo", "--out", out, "--res", "32", "--spp", "2", "--views", "2", "--count", "2",
                           "--iters", "4", "--workers", "2", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((out / "sheets").glob("*.png"))) == 6
    for run in ("acgan_fog", "acgan_ao", "diffusion_ao"):
        assert (out / "runs" / run / "checkpoint.safetensors").is_file()
    ao = json.loads((out / "eval" / "ao" / "summary.json").read_text())
    assert set(ao["methods"]) == {"ssao", "hbao", "gtao", "pretrained:ao", "pretrained:ao-diffusion", "acgan_ao",
                                "diffusion_ao"}
    # evaluated on the held-out scene rendered again at 64 x the training spp on half its views, with its floor
    test_manifest = json.loads((out / "test_dataset" / "dataset.json").read_text())
    held_out = json.loads((out / "dataset" / "dataset.json").read_text())["scenes"]
    assert [s["id"] for s in test_manifest["scenes"]] == ao["scenes"] == ["room_000"]
    assert test_manifest["scenes"][0]["seed"] == next(s["seed"] for s in held_out if s["id"] == "room_000")
    from data_gen.options import rendered_spp

    render = test_manifest["generation"]["render"]
    assert render["spp"] == 128 and ao["noise_floor"]["spp"] == rendered_spp(render["sampler"], 128)  # 132 samples
    assert test_manifest["generation"]["views"] == ao["views"] == 1
    assert ao["path_tracer"]["curve"] and ao["pt_oidn"]["curve"]
    page = (out / "report" / "index.html").read_text()
    sources = re.findall(r"<img src='([^']+)'", page)
    assert sources and all((out / "report" / s).is_file() for s in sources)
    assert "acgan_fog" in page and "gi-ambient" in page


def test_bench_generate_prints_its_figures():
    result = run_neurender("bench", "generate", "--scene", "objects", "--views", "2", "--res", "16", "--spp", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    for label in ("views/min, 1 worker", "views/min, 2 workers", "overhead", "speed-up of 2 workers"):
        line = next(line for line in result.stdout.splitlines() if label in line)
        assert re.search(r"\d+\.\d+", line), line
