"""The README's one-minute quickstart, run as written (its bash block, then its Python block)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from nr_helpers import BASE_ENV, REPO

SECTION = "### A shipped model in one minute"


def _blocks(kind: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n#", 1)]
    return re.findall(rf"```{kind}\n(.*?)```", section, flags=re.S)


def test_the_quickstart_runs_as_written(tmp_path):
    (shell,), (python,) = _blocks("bash"), _blocks("python")
    env = dict(BASE_ENV, PATH=os.path.dirname(sys.executable) + os.pathsep + BASE_ENV.get("PATH", ""))
    subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path, env=env, check=True, timeout=300,
                   capture_output=True)
    assert (tmp_path / "quick/ao/objects_000/000.exr").is_file()
    check = python + "\nassert ao.shape == (64, 64) and str(ao.dtype) == 'float32' and 0 <= ao.min() <= ao.max() <= 1\n"
    proc = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_shipped_model_table_is_the_figures_each_model_holds():
    """The README's table is what `scripts/model_figures.py --markdown` prints from the figures.json files."""
    proc = subprocess.run([sys.executable, "scripts/model_figures.py", "--markdown"], cwd=REPO, env=BASE_ENV,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = proc.stdout.splitlines()
    assert len(rows) == 2 + len(list((REPO / "neurender" / "pretrained").glob("*/config.json")))
    readme = (REPO / "README.md").read_text()
    assert "\n".join(rows) in readme
