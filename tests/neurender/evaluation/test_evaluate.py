"""evaluate() and report() on a tiny generated dataset."""
from __future__ import annotations

import base64
import csv
import json
import math
import os
import re

import pytest
import torch
from nr_helpers import REPO

from neurender.base.errors import InputError
from neurender.effects import EFFECTS
from neurender.evaluation.evaluate import evaluate
from neurender.evaluation.report import report


@pytest.fixture(scope="module")
def dataset_dir(pair_dataset):
    return str(pair_dataset)


@pytest.fixture(scope="module")
def evaluations(dataset_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    return {effect: (str(root / effect), evaluate(dataset_dir, effect, None, str(root / effect),
                                                  path_tracer_curve=True))
            for effect in EFFECTS}


def test_unknown_method(dataset_dir, tmp_path):
    with pytest.raises(InputError, match="valid methods: ssao, hbao, gtao"):
        evaluate(dataset_dir, "ao", ["fog-analytic"], str(tmp_path))
    with pytest.raises(InputError, match="unknown effect"):
        evaluate(dataset_dir, "bloom", None, str(tmp_path))


def test_summary_has_every_method_with_finite_metrics(evaluations):
    for effect, (out_dir, summary) in evaluations.items():
        with open(os.path.join(out_dir, "summary.json")) as handle:
            on_disk = json.load(handle)
        assert on_disk == json.loads(json.dumps(summary))
        assert set(on_disk["methods"]) == set(EFFECTS[effect].baselines)
        for result in on_disk["methods"].values():
            for key in ("psnr", "ssim", "flip", "mae"):
                assert math.isfinite(result["mean"][key])
            assert set(result["per_scene"]) == {"objects_000", "room_000"}
            assert result["ms_per_frame"] > 0
        with open(os.path.join(out_dir, "per_view.csv")) as handle:
            assert len(handle.read().strip().splitlines()) == 1 + 4 * len(EFFECTS[effect].baselines)
        assert len(on_disk["grids"]) == 4
        assert all(os.path.isfile(os.path.join(out_dir, g)) for g in on_disk["grids"])


def test_gtao_beats_ssao_on_objects(evaluations):
    methods = evaluations["ao"][1]["methods"]
    gtao = methods["gtao"]["per_scene"]["objects_000"]["ssim"]
    ssao = methods["ssao"]["per_scene"]["objects_000"]["ssim"]
    assert gtao > ssao


def test_the_report_page_holds_its_images_and_the_markdown_links_existing_ones(evaluations, tmp_path):
    out = tmp_path / "report"
    path = report([d for d, _ in evaluations.values()], str(out))
    assert path == str(out / "index.html")
    text = open(path).read()
    images = re.findall(r"<img src='([^']+)' alt='([^']+)'", text)
    assert sum(alt == "quality against time" for _, alt in images) == len(evaluations)  # one plot per evaluation
    assert len(images) == len(evaluations) * (1 + 4)  # and 4 view grids each
    assert "path tracer 1 spp" in text and "path tracer 2 spp" in text
    for source, _ in images:  # embedded PNGs: the page moved alone still shows them
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "report.md").read_text()
    for source in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown):
        assert (out / source).is_file()


def test_path_tracer_curve_and_equal_quality_time(evaluations):
    summary = evaluations["ao"][1]
    for key in ("path_tracer", "pt_oidn"):
        tracer = summary[key]
        assert [p["spp"] for p in tracer["curve"]] == [1, 2, 4]  # up to the reference's 4 spp
        assert tracer["curve"][1]["ssim"] > tracer["curve"][0]["ssim"]  # more samples, closer to the reference
        assert set(tracer["equal_quality_ms"]) == set(EFFECTS["ao"].baselines)
        for name, ms in tracer["equal_quality_ms"].items():
            mean, last, by_metric = summary["methods"][name]["mean"], tracer["curve"][-1], \
                tracer["equal_quality_ms_by_metric"][name]
            beyond = [m for m, t in by_metric.items() if t is None]
            assert all((mean[m] < last[m]) if m == "flip" else (mean[m] > last[m]) for m in beyond)
            if ms is None:
                assert beyond
            else:
                assert ms == max(by_metric.values())
                assert ms > 0 and tracer["speedup"][name] == pytest.approx(ms / summary["methods"][name]["ms_per_frame"])
    # PT + OIDN costs the render and the denoiser
    assert all(d["ms"] > r["ms"] for d, r in zip(summary["pt_oidn"]["curve"], summary["path_tracer"]["curve"]))


def test_the_noise_floor_is_the_reference_rendered_again(evaluations):
    for effect, (_, summary) in evaluations.items():
        floor = summary["noise_floor"]
        assert floor["spp"] == 4 and floor["views"] == 4
        assert 0 < floor["ssim"] < 1 and 0 < floor["ssim_full"] < 1  # independent noise, not the same image
        assert math.isfinite(floor["psnr"]) and floor["psnr"] < 100
        assert floor["ssim"] == summary["path_tracer"]["curve"][-1]["ssim"]
        assert floor["methods_above"] == [name for name, m in summary["methods"].items()
                                          if m["mean"]["ssim"] > floor["ssim"]], effect


def test_pt_oidn_beats_raw_path_tracing_at_1_spp(evaluations):
    for effect, (_, summary) in evaluations.items():
        raw, denoised = summary["path_tracer"]["curve"][0], summary["pt_oidn"]["curve"][0]
        assert raw["spp"] == denoised["spp"] == 1
        assert denoised["ssim"] > raw["ssim"] and denoised["psnr"] > raw["psnr"], effect


def test_a_run_of_another_effect_is_refused(dataset_dir, tmp_path):
    from neurender.models.acgan import ACGANConfig
    from neurender.run.config import TrainConfig
    from neurender.training.train import train

    config = TrainConfig(model="acgan", effect="fog", data=dataset_dir, iters=1, batch=1, crop=16,
                         acgan=ACGANConfig(base_channels=8, depth=2, attention_levels=(2,), disc_channels=8, disc_layers=2))
    train(config, str(tmp_path / "fog_run"), progress=False)
    with pytest.raises(InputError, match="predicts fog, not ao"):
        evaluate(dataset_dir, "ao", [str(tmp_path / "fog_run")], str(tmp_path / "eval"))
    summary = evaluate(dataset_dir, "fog", ["fog-analytic", str(tmp_path / "fog_run")], str(tmp_path / "eval"))
    assert set(summary["methods"]) == {"fog-analytic", "fog_run"}
    assert all(v is not None for v in summary["methods"]["fog_run"]["mean"].values())


def test_a_method_equal_to_the_reference_has_finite_capped_psnr(dataset_dir, tmp_path, monkeypatch):
    import dataclasses

    from neurender.baselines.methods import METHODS
    from neurender.evaluation.methods import Methods
    from neurender.metrics import PSNR_CAP

    monkeypatch.setitem(METHODS, "copy-reference", METHODS["gtao"])
    monkeypatch.setattr(Methods, "run", lambda self, name, item: (item["target"].clone(), None))
    monkeypatch.setitem(EFFECTS, "ao", dataclasses.replace(EFFECTS["ao"], baselines=("copy-reference",)))
    evaluate(dataset_dir, "ao", None, str(tmp_path))
    text = (tmp_path / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda name: pytest.fail(f"summary.json holds {name}"))
    assert summary["methods"]["copy-reference"]["mean"]["psnr"] == PSNR_CAP
    assert summary["methods"]["copy-reference"]["mean"]["ssim"] == pytest.approx(1.0)  # on the surfaces


def test_surface_figures_see_an_error_the_full_frame_hides():
    from neurender.evaluation.evaluate import score_display

    # a 1 x 32 view: the SSIM window is 1 pixel, so SSIM(x, y) = (2xy + C1) / (x^2 + y^2 + C1), C1 = 0.01^2
    reference = torch.full((1, 1, 1, 32), 0.5)
    mask = torch.zeros(1, 1, 1, 32)
    mask[..., 10:12] = 1.0  # 2 surface pixels of 32
    prediction = torch.where(mask > 0.5, torch.zeros_like(reference), reference)  # wrong only on the mask
    c1 = 0.01**2
    wrong = c1 / (0.25 + c1)
    scores = score_display(prediction, reference, mask)
    assert scores["ssim"] == pytest.approx(wrong, abs=1e-6)
    assert scores["ssim_full"] == pytest.approx((30 + 2 * wrong) / 32, abs=1e-6)
    assert scores["ssim_full"] > 0.9 and scores["ssim"] < 0.01
    assert scores["mae"] == pytest.approx(0.5) and scores["mae_full"] == pytest.approx(2 * 0.5 / 32)
    assert scores["psnr"] == pytest.approx(10 * math.log10(1 / 0.25), abs=1e-4)
    assert scores["psnr_full"] == pytest.approx(10 * math.log10(1 / (2 * 0.25 / 32)), abs=1e-4)


def test_a_view_with_an_empty_mask_is_left_out_of_the_surface_figures(dataset_dir, tmp_path, monkeypatch):
    from neurender.data import GBufferDataset

    read = GBufferDataset.__getitem__

    def without_surfaces(self, index):
        item = read(self, index)
        if (item["scene"], item["view"]) == ("objects_000", 1):
            item["mask"] = torch.zeros_like(item["mask"])
        return item

    monkeypatch.setattr(GBufferDataset, "__getitem__", without_surfaces)
    summary = evaluate(dataset_dir, "ao", ["gtao"], str(tmp_path))
    assert summary["views"] == 4 and summary["views_masked"] == 3
    assert summary["empty_mask_views"] == ["objects_000/001"]
    with open(tmp_path / "per_view.csv") as handle:
        rows = list(csv.DictReader(handle))
    empty = next(r for r in rows if (r["scene"], r["view"]) == ("objects_000", "1"))
    assert empty["ssim"] == "" and float(empty["ssim_full"]) > 0
    others = [float(r["ssim"]) for r in rows if r is not empty]
    assert summary["methods"]["gtao"]["mean"]["ssim"] == pytest.approx(sum(others) / 3)
    assert summary["methods"]["gtao"]["mean_full"]["ssim"] == pytest.approx(
        sum(float(r["ssim_full"]) for r in rows) / 4)
    assert summary["methods"]["gtao"]["per_scene"]["objects_000"]["ssim"] == pytest.approx(
        next(float(r["ssim"]) for r in rows if (r["scene"], r["view"]) == ("objects_000", "0")))


NAMED = ("methods", "per_scene", "per_scene_full", "equal_quality_ms", "equal_quality_ms_by_metric",
         "speedup")  # keys are names, not fields


def _keys(value, named: bool = False) -> set[str]:
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    if not isinstance(value, dict):
        return set()
    keys = set() if named else set(value)
    return keys.union(*(_keys(v, k in NAMED and not named) for k, v in value.items()))


def test_every_summary_key_is_in_the_docs(evaluations):
    readme = (REPO / "docs" / "evaluation.md").read_text()
    section = readme[readme.index("## summary.json"):]
    keys = set().union(*(_keys(summary) for _, summary in evaluations.values()))
    assert {"mean", "mean_full", "curve", "empty_mask_views", "pt_oidn", "noise_floor", "methods_above"} <= keys
    assert not [k for k in keys if f"`{k}`" not in section]


def test_curve_times_are_warm_medians():
    """A stub renderer whose first call compiles (slow) is timed by the median of the calls after it;
    a call longer than the compile-dominated range is kept as it is."""
    from neurender.evaluation.timing import KEEP_FIRST_CALL_ABOVE_S, REPEAT_WARM_CALLS_BELOW_S, warm_seconds

    times = iter([0.9, 0.10, 0.14, 0.12])
    result, seconds = warm_seconds(lambda: ("image", next(times)))
    assert result == "image" and seconds == pytest.approx(0.12)
    long = [KEEP_FIRST_CALL_ABOVE_S + 1]
    assert warm_seconds(lambda: ("image", long.pop()))[1] == KEEP_FIRST_CALL_ABOVE_S + 1  # one call only
    warm = iter([0.10, 0.30, 0.12])  # already compiled: the first call counts
    assert warm_seconds(lambda: ("image", next(warm)), warm=True)[1] == pytest.approx(0.12)
    slow = [REPEAT_WARM_CALLS_BELOW_S + 0.1]
    assert warm_seconds(lambda: ("image", slow.pop()), warm=True)[1] == REPEAT_WARM_CALLS_BELOW_S + 0.1


def test_equal_quality_on_every_metric_on_a_hand_made_curve():
    """SSIM and PSNR rise with time, FLIP falls; the headline time is where the curve matches all three."""
    from neurender.evaluation.curves import equal_quality
    from neurender.evaluation.path_tracer import curve_at_quality

    curve = [{"spp": 1, "ms": 10.0, "ssim": 0.5, "psnr": 20.0, "flip": 0.4},
             {"spp": 2, "ms": 100.0, "ssim": 0.9, "psnr": 30.0, "flip": 0.2}]
    assert curve_at_quality(curve, 0.7, "ssim") == pytest.approx(10 ** 1.5)
    assert curve_at_quality(curve, 0.3, "flip") == pytest.approx(10 ** 1.5)  # lower FLIP is better
    assert curve_at_quality(curve, 0.1, "flip") is None and curve_at_quality(curve, 0.6, "flip") == 10.0
    methods = {"a": {"mean": {"ssim": 0.7, "psnr": 25.0, "flip": 0.2}, "ms_per_frame": 1.0},
               "b": {"mean": {"ssim": 0.6, "psnr": 31.0, "flip": 0.3}, "ms_per_frame": 1.0}}
    summary = equal_quality(curve, methods)
    assert summary["equal_quality_ms_by_metric"]["a"] == pytest.approx({"ssim": 10 ** 1.5, "psnr": 10 ** 1.5,
                                                                        "flip": 100.0})
    assert summary["equal_quality_ms"]["a"] == pytest.approx(100.0) and summary["speedup"]["a"] == pytest.approx(100)
    assert summary["equal_quality_ms"]["b"] is None, "PSNR beyond the curve: no equal-quality time on all three"


def test_the_report_answers_which_method_at_each_budget(evaluations, tmp_path):
    """Issue 50, item 1: per budget the method within it with the lowest FLIP, path tracing included;
    the frame size and machine stated; ms with their spread; no tWE column without camera paths."""
    from neurender.evaluation.report import BUDGETS_MS, budget_rows, candidates

    summary = evaluations["ao"][1]
    assert summary["timing"]["frame"] == list(summary["timing"]["frame"]) and summary["timing"]["threads"] >= 1
    rows = budget_rows(summary)
    assert [r[0] for r in rows] == [label for _, label in BUDGETS_MS]
    for (budget, _), row in zip(BUDGETS_MS, rows):
        fitting = [c for c in candidates(summary) if c[2] <= budget]
        if fitting:
            assert float(row[4]) == pytest.approx(min(c[1]["flip"] for c in fitting), abs=5e-4) and float(row[5]) <= budget
        else:
            assert row[1] == "none this fast"
    names = {c[0] for c in candidates(summary)}
    assert set(summary["methods"]) < names and "PT + OIDN 1 spp" in names
    report([evaluations["ao"][0]], str(tmp_path / "r"))
    text = (tmp_path / "r" / "report.md").read_text()
    height, width = summary["timing"]["frame"]
    assert "### Which method at your budget" in text and f"at {width}x{height} px on cpu" in text
    assert "tWE" not in text and "pt-oidn" not in text
    ms, (low, high) = summary["methods"]["gtao"]["ms_per_frame"], summary["methods"]["gtao"]["ms_quartiles"]
    assert f"{ms:.1f} ({low:.1f}-{high:.1f})" in text


def test_grid_captions_wrap_inside_their_tiles_and_the_error_scale_is_shown(evaluations):
    """Issue 50, item 1: captions ran into each other and error maps had no colour scale."""
    import numpy as np
    from PIL import Image, ImageDraw

    from neurender.evaluation.pictures import _wrapped

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for text in ("|err| pretrained:ao-diffusion", "x" * 90, "a b c", ""):
        lines = _wrapped(draw, text, 120)
        assert all(draw.textlength(line) <= 120 for line in lines), lines
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost
    out_dir, summary = evaluations["ao"]
    grid = np.asarray(Image.open(os.path.join(out_dir, summary["grids"][0])).convert("RGB")).astype(int)
    tiles = 2 + 2 * len(summary["methods"]) + 1 + 1  # normal, depth | methods | reference | errors | scale
    assert grid.shape[1] % tiles == 0
    scale = grid[-2, -grid.shape[1] // tiles:]  # the scale tile's bottom row: dark to bright
    assert scale[:4].sum() < scale[-4:].sum()


def test_the_report_folds_the_path_tracer_curves_and_writes_slow_methods_as_slower(evaluations):
    """Issue 50, item 1: 22 curve rows sat among the methods, and speed-ups below 1 read "0.0x"."""
    from neurender.evaluation.report import _speedup, markdown_section

    lines = markdown_section(evaluations["ao"][1])
    start, end = next(i for i, line in enumerate(lines) if line.startswith("<details")), lines.index("</details>")
    curve_rows = [i for i, line in enumerate(lines) if line.startswith(("| path tracer ", "| PT + OIDN "))]
    assert curve_rows and all(start < i < end for i in curve_rows)
    assert sum(line.startswith("| noise floor") for line in lines) == 1
    assert (_speedup(4.0), _speedup(0.25)) == ("4.0x", "4.0x slower")
