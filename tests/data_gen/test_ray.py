"""--executor ray end to end: 2 local Ray workers, the run killed part way and resumed, no Ray process left."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from nr_helpers import kill_after_first_view, run_in_new_session, run_neurender, wait_session_gone

pytest.importorskip("ray")

VIEWS = 6
RAY_ARGS = ["generate", "objects", "--views", str(VIEWS), "--res", "16", "--spp", "16",
            "--workers", "2", "--executor", "ray"]
# Ray's workers run in process groups of their own: after their driver's group is killed they notice
# that the raylet is gone and exit, within this many seconds
RAY_CLEANUP_SECONDS = 120


def _records(out: Path) -> list[dict]:
    log = out / "views.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find leftover processes")
def test_ray_run_killed_and_resumed(tmp_path):
    out = tmp_path / "data"
    first = kill_after_first_view(RAY_ARGS, out, timeout=300)
    assert wait_session_gone(first.pid, RAY_CLEANUP_SECONDS) == [], "Ray processes survive the killed run"
    done = len(_records(out))
    assert 1 <= done < VIEWS, f"the kill came too late to test resuming: {done} views recorded"

    second, session = run_in_new_session(*RAY_ARGS, "--out", out, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"{VIEWS - done} views rendered, {VIEWS} in" in second.stdout, second.stdout
    assert wait_session_gone(session, RAY_CLEANUP_SECONDS) == [], "Ray processes survive a finished run"
    assert sorted(r["view"] for r in _records(out)) == list(range(VIEWS)), "each view exactly once"
    check = run_neurender("validate", out)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_missing_ray_is_refused_before_any_folder(monkeypatch, tmp_path, mitsuba):
    from data_gen import executors
    from data_gen.generator import GenerateOptions, generate
    from data_gen.options import RenderOptions
    from neurender.base.errors import InputError

    monkeypatch.setattr(executors.importlib.util, "find_spec", lambda name: None)
    options = GenerateOptions(("objects",), views=1, render=RenderOptions(res=8, spp=1))
    with pytest.raises(InputError, match="needs Ray"):
        generate(options, str(tmp_path / "out"), executor="ray", progress=False)
    assert not (tmp_path / "out").exists()
