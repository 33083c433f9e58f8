"""The per-view watchdog: a hung view's worker is killed and replaced, the view retried once, then the run stops."""
from __future__ import annotations

import subprocess
import time

import pytest
from nr_helpers import error_lines, run_in_new_session, run_neurender, wait_session_gone

from data_gen.executors import FIRST_VIEWS_TIMEOUT, HANG_HOOK, MIN_VIEW_TIMEOUT, ViewTimeout

TIMEOUT = 4.0  # s; the hung view is the first one, so no view needs to finish within it


def test_hung_view_is_retried_once_then_the_run_stops_naming_it(tmp_path):
    out = tmp_path / "data"
    start = time.monotonic()
    try:
        proc, session = run_in_new_session("generate", "objects", "--out", out, "--views", "2", "--res", "16",
                                           "--spp", "4", "--workers", "1", "--view-timeout", TIMEOUT,
                                           env={HANG_HOOK: "objects_000/0"}, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("generate with a hung view did not stop within 120 s")
    elapsed = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = error_lines(proc.stderr)
    warnings = [line for line in lines if line.startswith("warning: scene objects_000, view 0")]
    assert len(warnings) == 1 and "retrying" in warnings[0], lines
    assert lines[-1].startswith("error: scene objects_000, view 0 failed twice"), lines
    assert "not finished after 4 s (--view-timeout), worker killed" in lines[-1], lines
    assert elapsed >= 2 * TIMEOUT, "the view was not given its full timeout twice"
    assert wait_session_gone(session) == [], "a hung worker survives the run"
    assert not (out / "objects_000" / "000.exr").exists()


def test_view_timeout_must_be_positive(tmp_path):
    proc = run_neurender("generate", "objects", "--out", tmp_path / "data", "--view-timeout", "0")
    assert proc.returncode == 2 and error_lines(proc.stderr) == [
        "error: --view-timeout must be a positive number of seconds, got 0.0"], proc.stderr


def test_default_timeout_follows_the_slowest_finished_view():
    timeout = ViewTimeout()
    assert timeout.seconds == FIRST_VIEWS_TIMEOUT
    timeout.finished(1.0)
    assert timeout.seconds == MIN_VIEW_TIMEOUT
    timeout.finished(30.0)
    timeout.finished(2.0)
    assert timeout.seconds == 600.0  # 20 x 30 s
    assert ViewTimeout(fixed=5.0).seconds == 5.0
