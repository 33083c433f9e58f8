"""Every notebook runs top to bottom on tiny settings and writes what it shows."""
import json
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "notebooks").glob("*.ipynb"))


def _dataset(out: Path) -> None:
    assert (out / "dataset.json").is_file()
    assert (out / "sheet.png").stat().st_size > 0
    assert len((out / "views.jsonl").read_text().splitlines()) == 1


def _training(out: Path) -> None:
    log = [json.loads(line) for line in (out / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and (out / "losses.png").stat().st_size > 0
    assert any((out / "run" / "tensorboard").iterdir())


def _evaluation(out: Path) -> None:
    summary = json.loads((out / "eval" / "summary.json").read_text())
    assert set(summary["methods"]) == {"ssao", "gtao", "pretrained:ao"}
    assert (out / "report" / "images" / "00_ao_quality_time.png").is_file()


def _shipped(out: Path) -> None:
    assert (out / "shipped.png").stat().st_size > 0


def _own_gbuffer(out: Path) -> None:
    assert (out / "converted" / "dataset.json").is_file() and (out / "converted.png").stat().st_size > 0
    assert (out / "ao_preview.png").stat().st_size > 0


CHECKS = {"01_dataset": _dataset, "02_training": _training, "03_evaluation": _evaluation,
          "04_shipped_models": _shipped, "05_your_gbuffer": _own_gbuffer}


def test_every_notebook_is_checked_and_saved_with_its_outputs():
    assert sorted(CHECKS) == [p.stem for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert outputs, f"{path.name} is saved without outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    out = tmp_path / "out"
    for name, value in {"NB_RES": "32", "NB_SPP": "2", "NB_VIEWS": "1", "NB_ITERS": "4", "NB_DRAWS": "2",
                        "NB_OUT": str(out)}.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    CHECKS[path.stem](out)
