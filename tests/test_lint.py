"""The linter's verdict on the whole tree (rules and their reasons: pyproject.toml, [tool.ruff])."""
import re
import subprocess
import sys

from nr_helpers import REPO


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "neurender", "data_gen", "scenes", "tests",
                             "scripts"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_every_noqa_says_why_on_its_line():
    bare = [f"{path.relative_to(REPO)}:{number}" for folder in ("neurender", "data_gen", "scenes", "tests", "scripts")
            for path in (REPO / folder).rglob("*.py")
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"# noqa(: [A-Z0-9, ]+)?\s*$", line)]
    assert not bare, "a noqa without its reason after it: " + ", ".join(bare)
