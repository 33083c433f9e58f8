"""Dataset files get the umask's mode, like any new file (atomic writes used to leave mkstemp's 0600)."""
from __future__ import annotations

import os
import stat

import pytest
from nr_helpers import run_neurender

from neurender.base.atomic import write_json_atomic


@pytest.fixture
def umask():
    """Set the process umask (inherited by subprocesses) for one test; restore it afterwards."""
    saved = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_dataset_files_are_0644_under_umask_022(tmp_path, umask):
    umask(0o022)
    out = tmp_path / "data"
    proc = run_neurender("generate", "objects", "--out", out, "--views", "1", "--res", "16", "--spp", "4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for path in (out / "dataset.json", out / "objects_000" / "000.exr", out / "views.jsonl"):
        assert _mode(path) == 0o644, f"{path.name}: {oct(_mode(path))}"


def test_atomic_write_follows_another_umask(tmp_path, umask):
    umask(0o002)
    write_json_atomic(str(tmp_path / "a.json"), {"x": 1})
    assert _mode(tmp_path / "a.json") == 0o664
