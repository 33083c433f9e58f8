"""Every notebook runs top to bottom on tiny settings and produces a valid dataset."""
from pathlib import Path

import nbclient
import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    out = tmp_path / "data"
    monkeypatch.setenv("NB_RES", "16")
    monkeypatch.setenv("NB_SPP", "2")
    monkeypatch.setenv("NB_VIEWS", "1")
    monkeypatch.setenv("NB_OUT", str(out))
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (out / "dataset.json").is_file()
    assert (out / "sheet.png").stat().st_size > 0
    assert len((out / "views.jsonl").read_text().splitlines()) == 1
