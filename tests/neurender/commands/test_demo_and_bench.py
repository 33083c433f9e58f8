"""`neurender demo` end to end on tiny settings, and the benchmarks print their figures."""
from __future__ import annotations

import json
import re

import pytest
from nr_helpers import run_neurender

from neurender.base.errors import InputError
from neurender.effects import EFFECTS
from neurender.run import runs


def test_demo_runs_the_whole_flow(tmp_path):
    out = tmp_path / "demo"
    result = run_neurender("demo", "--out", out, "--res", "32", "--spp", "2", "--views", "2", "--count", "2",
                           "--iters", "4", "--workers", "2", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((out / "sheets").glob("*.png"))) == 6
    for run in ("acgan_fog", "acgan_ao", "diffusion_ao"):
        assert (out / "runs" / run / "checkpoint.safetensors").is_file()
    ao = json.loads((out / "eval" / "ao" / "summary.json").read_text())
    assert set(ao["methods"]) == {*EFFECTS["ao"].baselines, *runs.shipped("ao"), "acgan_ao", "diffusion_ao"}
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
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "acgan_fog" in page and "gi-ambient" in page


def test_bench_generate_prints_its_figures():
    result = run_neurender("bench", "generate", "--scene", "objects", "--views", "2", "--res", "16", "--spp", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    for label in ("views/min, 1 worker", "views/min, 2 workers", "overhead", "speed-up of 2 workers"):
        line = next(line for line in result.stdout.splitlines() if label in line)
        assert re.search(r"\d+\.\d+", line), line


def test_bench_compare_times_methods_and_the_path_tracer_at_equal_quality(dataset, tmp_path):
    """A row per method and size, with the path tracer's and PT + OIDN's spp and time at equal quality."""
    from neurender.evaluation.compare import equal_quality_spp

    eval_dir = tmp_path / "eval"
    assert run_neurender("evaluate", "--data", dataset, "--effect", "ao", "--method", "gtao", "ssao",
                         "--out", eval_dir).returncode == 0
    result = run_neurender("bench", "compare", "--eval", eval_dir, "--sizes", "16", "24x20", "--out", tmp_path / "b.json")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[1:2] in (["16x16"], ["24x20"])]
    assert [(r[0], r[1]) for r in rows] == [("gtao", "16x16"), ("ssao", "16x16"), ("gtao", "24x20"), ("ssao", "24x20")]
    assert all(float(r[2]) > 0 for r in rows), "each method timed"
    written = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert [(r["method"], r["frame"]) for r in written][-1] == ("ssao", [20, 24])
    assert [float(r[2]) for r in rows] == pytest.approx([r["method_ms"] for r in written], abs=0.051)
    # the report adds a budget table per size the bench timed, from those times
    from neurender.evaluation.report import load_summary, report, sized_candidates

    assert run_neurender("report", eval_dir, "--bench", tmp_path / "b.json", "--out", tmp_path / "r").returncode == 0
    page = (tmp_path / "r" / "report.md").read_text()
    assert "Which method at your budget at 16x16" in page and "Which method at your budget at 24x20" in page
    found = {name: ms for name, _, ms in sized_candidates(load_summary(str(eval_dir)), written[2:])}
    assert found["gtao"] == written[2]["method_ms"] and found["ssao"] == written[3]["method_ms"]
    with pytest.raises(InputError, match="not a bench compare file"):
        (tmp_path / "bad.json").write_text('{"rows": [{"method": "gtao"}]}')
        report([str(eval_dir)], str(tmp_path / "r2"), [str(tmp_path / "bad.json")])
    curve = [{"spp": 1, "ms": 1.0, "ssim": 0.5, "psnr": 20.0, "flip": 0.4},
             {"spp": 4, "ms": 3.0, "ssim": 0.9, "psnr": 30.0, "flip": 0.2}]
    assert equal_quality_spp(curve, {"ssim": 0.7, "psnr": 20.0, "flip": 0.2}) == pytest.approx(4.0)  # FLIP decides
    assert equal_quality_spp(curve, {"ssim": 0.95, "psnr": 20.0, "flip": 0.4}) is None
