"""The linter's verdict on the whole tree (rules and their reasons: pyproject.toml, [tool.ruff])."""
import subprocess
import sys

from nr_helpers import REPO


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "neurender", "data_gen", "scenes", "tests",
                             "scripts"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
