"""The shipped models' catalog (`neurender models`, `neurender.pretrained_models`) and their figures."""
from __future__ import annotations

import json
import math
import shutil

import pytest

from neurender.base.errors import InputError
from neurender.run import catalog, runs


def test_every_shipped_model_is_described_with_measured_figures():
    models = catalog.pretrained_models()
    assert [m.name for m in models] == runs.shipped()
    for model in models:
        assert model.figures is not None, f"{model.name} has no {runs.FIGURES}: scripts/model_figures.py"
        figures = model.figures
        assert figures.classic_method == {"ao": "gtao", "fog": "fog-analytic", "gi": "gi-ambient"}[model.effect]
        assert 0 < figures.model.ssim <= 1 and 0 < figures.model.flip < 1 and figures.ms_1080p > 0
    assert [m.name for m in catalog.pretrained_models("fog")] == runs.shipped("fog")
    with pytest.raises(InputError, match="unknown effect"):
        catalog.pretrained_models("haze")


def test_the_models_command_prints_quality_beside_the_classic_method_and_the_1080p_time(capsys):
    from neurender.commands.cli import main

    assert main(["models", "--effect", "ao"]) == 0
    out = capsys.readouterr().out
    figures = catalog.describe("pretrained:ao").figures
    row = next(line for line in out.splitlines() if line.startswith("pretrained:ao "))
    assert figures.model.text() in row and f"gtao {figures.classic.text()}" in row
    assert row.split()[-1] == f"{figures.ms_1080p:.0f}"
    assert f"quality: surface means on {figures.suite}" in out


@pytest.mark.parametrize("damage", [{"ms_1080p": math.nan}, {"ms_1080p": 0}, {"views": 0}, {"model": {"ssim": 1}}])
def test_a_malformed_figures_record_is_refused(damage):
    quality = catalog.Quality(ssim=0.8, psnr=25.0, flip=0.1)
    valid = catalog.Figures(suite="views", views=2, model=quality, classic_method="gtao", classic=quality, ms_1080p=9.5,
                            timing="cpu", command="pytest", measured="2026-12-07").to_json()
    assert catalog.Figures.from_json(valid, "figures.json").classic == quality
    record = valid | damage
    with pytest.raises(InputError, match="figures"):
        catalog.Figures.from_json(json.loads(json.dumps(record)), "figures.json")


def test_figures_are_written_from_an_evaluation_and_read_back(dataset, tmp_path, monkeypatch):
    """write_figures takes the model's and the classic method's means from the evaluation as they are,
    times a frame, and the catalog reads them back; a model the evaluation did not score is refused."""
    from neurender.evaluation.evaluate import evaluate
    from neurender.evaluation.shipping import write_figures

    source = runs.resolve("pretrained:ao-fast")
    monkeypatch.setattr(runs, "SHIPPED", str(tmp_path / "pretrained"))
    shutil.copytree(source, tmp_path / "pretrained" / "ao-fast")
    summary = evaluate(str(dataset), "ao", ["gtao", "pretrained:ao-fast"], str(tmp_path / "eval"), split="all")
    figures = write_figures("pretrained:ao-fast", str(tmp_path / "eval"), "the test views", "pytest", frame=(32, 48),
                            repeats=1)
    assert catalog.read_figures(str(tmp_path / "pretrained" / "ao-fast")) == figures
    assert figures.model.ssim == summary["methods"]["pretrained:ao-fast"]["mean"]["ssim"]
    assert figures.classic.psnr == summary["methods"]["gtao"]["mean"]["psnr"]
    assert figures.views == summary["views_masked"] and figures.timing.startswith("48x32, cpu")
    shutil.copytree(source, tmp_path / "pretrained" / "ao")
    with pytest.raises(InputError, match="did not score pretrained:ao"):
        write_figures("pretrained:ao", str(tmp_path / "eval"), "the test views", "pytest", frame=(32, 48))
    with pytest.raises(InputError, match="not a shipped model"):
        write_figures(str(tmp_path / "pretrained" / "ao"), str(tmp_path / "eval"), "the test views", "pytest")
