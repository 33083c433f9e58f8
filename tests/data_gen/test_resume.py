"""A run killed with SIGKILL resumes: finished views are kept, the rest is rendered, no process survives."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from nr_helpers import (
    BASE_ENV,
    MAIN_SCENES,
    REPO,
    SMALL,
    copy_dataset,
    kill_after_first_view,
    load_records,
    neurender_command,
    run_in_new_session,
    run_neurender,
    wait_session_gone,
)

VIEWS = 6
# heavy enough per view (~0.5 s here) that the kill lands between the first and the last view
RESUME_ARGS = ["generate", "objects", "--views", str(VIEWS), "--res", "32", "--spp", "128", "--workers", "1"]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find leftover processes")
def test_resume_after_kill(tmp_path):
    out = tmp_path / "data"
    log = out / "views.jsonl"
    first = kill_after_first_view(RESUME_ARGS, out)
    assert wait_session_gone(first.pid) == [], "processes of the killed run survive SIGKILL of its group"

    before = _lines(log)
    recorded = [json.loads(line) for line in before if line.strip()]
    assert 1 <= len(recorded) < VIEWS, f"the kill came too late to test resuming: {len(recorded)} views recorded"
    files_before = {r["file"]: os.stat(out / r["file"]) for r in recorded}

    second, session = run_in_new_session(*RESUME_ARGS, "--out", out)
    stdout = second.stdout
    assert second.returncode == 0, stdout + second.stderr[-3000:]
    # the pool's worker processes (and anything else of the run) are gone once it has finished
    assert wait_session_gone(session) == [], "worker processes survive a finished run"

    match = re.search(r"(\d+) views rendered, (\d+) in", stdout)
    assert match, stdout
    assert (int(match.group(1)), int(match.group(2))) == (VIEWS - len(recorded), VIEWS)

    after = _lines(log)
    assert after[: len(before)] == before, "views.jsonl lines from before the kill were rewritten"
    records = [json.loads(line) for line in after]
    assert sorted(r["view"] for r in records) == list(range(VIEWS)), "each view exactly once"
    # views finished before the kill were not rendered again
    for relative, stat in files_before.items():
        now = os.stat(out / relative)
        assert (now.st_ino, now.st_mtime_ns, now.st_size) == (stat.st_ino, stat.st_mtime_ns, stat.st_size), relative
    assert {r["pid"] for r in records[len(recorded):]}.isdisjoint({r["pid"] for r in recorded})

    assert run_neurender("validate", out).returncode == 0
    # a third run has nothing left to do
    proc = run_neurender(*RESUME_ARGS, "--out", out)
    assert proc.returncode == 0 and proc.stdout.startswith("0 views rendered"), proc.stdout + proc.stderr[-2000:]
    assert _lines(log) == after


def test_resume_fills_in_a_deleted_view(dataset, tmp_path):
    """A view whose record is gone is rendered again; the others are left alone and validate passes."""
    out = copy_dataset(dataset, tmp_path / "data")
    log = out / "views.jsonl"
    lines = log.read_text().splitlines()
    dropped = json.loads(lines[-1])
    log.write_text("\n".join(lines[:-1]) + "\n")
    os.remove(out / dropped["file"])
    kept = {json.loads(line)["file"]: os.stat(out / json.loads(line)["file"]).st_mtime_ns for line in lines[:-1]}
    proc = run_neurender("generate", *MAIN_SCENES, "--out", out, *SMALL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("1 views rendered, 6 in"), proc.stdout
    assert {f: os.stat(out / f).st_mtime_ns for f in kept} == kept
    records = load_records(out)
    assert sorted((r["scene"], r["view"]) for r in records) == sorted(
        (f"{name}_000", v) for name in MAIN_SCENES for v in range(2))
    assert run_neurender("validate", out).returncode == 0


def test_resume_after_a_torn_last_line(dataset, tmp_path):
    out = copy_dataset(dataset, tmp_path / "data")
    log = out / "views.jsonl"
    lines = log.read_text().splitlines()
    # the run died while writing the last record: half a line, no newline
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    os.remove(out / json.loads(lines[-1])["file"])
    proc = run_neurender("generate", *MAIN_SCENES, "--out", out, *SMALL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("1 views rendered"), proc.stdout
    check = run_neurender("validate", out)
    assert check.returncode == 0, check.stdout


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find leftover processes")
def test_ctrl_c_stops_cleanly_and_resumes(tmp_path):
    """SIGINT to the whole process group (Ctrl-C): exit 130 with one hint line, no traceback, no survivors."""
    out = tmp_path / "data"
    log = out / "views.jsonl"
    command = neurender_command() + RESUME_ARGS + ["--out", str(out)]
    # SIGINT as a terminal gives it, even when the suite runs as a background job (which ignores SIGINT)
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=BASE_ENV, cwd=str(REPO),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while len(_lines(log)) < 1 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "generate ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert stderr.splitlines()[-1].startswith("interrupted:"), stderr[-2000:]
    assert wait_session_gone(proc.pid) == [], "processes survive Ctrl-C"
    done = len(_lines(log))
    assert 1 <= done < VIEWS

    resumed, _ = run_in_new_session(*RESUME_ARGS, "--out", out)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.startswith(f"{VIEWS - done} views rendered, {VIEWS} in"), resumed.stdout
    assert sorted(json.loads(line)["view"] for line in _lines(log)) == list(range(VIEWS))
    assert run_neurender("validate", out).returncode == 0


def test_two_generates_on_one_folder_record_each_view_once(tmp_path):
    """Started together, one renders and the other is refused (exit 2, naming the holder) or finds
    the work done; views.jsonl holds every view once."""
    out = tmp_path / "data"
    command = neurender_command() + ["generate", "objects", "--views", "2", "--res", "16", "--spp", "2",
                                     "--out", str(out)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=BASE_ENV,
                              cwd=str(REPO)) for _ in range(2)]
    results = [(p.wait(timeout=240), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) in ([0, 0], [0, 2]), results
    for code, stderr in results:
        if code == 2:
            assert "is in use by another process (neurender generate, pid" in stderr, stderr
    records = [json.loads(line) for line in (out / "views.jsonl").read_text().splitlines()]
    assert sorted((r["scene"], r["view"]) for r in records) == [("objects_000", 0), ("objects_000", 1)]


def test_a_damaged_recorded_view_is_rendered_again(dataset, tmp_path):
    """A recorded EXR cut short (a disk that filled up, a copy that stopped) is named in one warning
    line and rendered again; the dataset is then valid, with the same pixels as before and each view once."""
    out = copy_dataset(dataset, tmp_path / "data")
    path = out / "room_000" / "001.exr"
    original = path.read_bytes()
    path.write_bytes(original[: len(original) // 3])
    proc = run_neurender("generate", *MAIN_SCENES, "--out", out, *SMALL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "room_000/001.exr" in warnings[0], proc.stderr
    assert proc.stdout.startswith("1 views rendered"), proc.stdout
    assert run_neurender("validate", out).returncode == 0
    from neurender.base.exr import read_exr

    again, before = read_exr(str(path)), read_exr(str(dataset / "room_000" / "001.exr"))
    assert all(np.array_equal(again[c], before[c]) for c in before), "same seed, same pixels"


def test_sigterm_stops_with_one_line_and_resumes(tmp_path):
    """SIGTERM to the command (as a scheduler or `kill` sends it): exit 143, one line saying how to
    resume, no traceback; the same command then finishes a valid dataset."""
    out = tmp_path / "data"
    log = out / "views.jsonl"
    proc = subprocess.Popen(neurender_command() + RESUME_ARGS + ["--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=BASE_ENV, cwd=str(REPO))
    deadline = time.monotonic() + 240
    while not (log.exists() and log.read_text().strip()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
        time.sleep(0.01)
    proc.terminate()
    _, stderr = proc.communicate(timeout=60)
    lines = [line for line in stderr.splitlines() if line.strip() and "%|" not in line]
    assert proc.returncode == 143 and lines == ["terminated: run the same command again to resume"], stderr
    assert run_neurender(*RESUME_ARGS, "--out", out).returncode == 0
    assert run_neurender("validate", out).returncode == 0


def test_a_finished_run_with_ranged_options_resumes(tmp_path):
    """Options stored as JSON lists (--fov-deg LOW:HIGH) compare equal to the same options given again."""
    args = ["generate", "objects", "--views", "1", "--res", "8", "--spp", "1", "--fov-deg", "40:60",
            "--distance-scale", "0.8:1.2", "--out", tmp_path / "data"]
    assert run_neurender(*args).returncode == 0
    again = run_neurender(*args)
    assert again.returncode == 0 and again.stdout.startswith("0 views rendered"), again.stdout + again.stderr
    other = run_neurender(*args[:-6], "--fov-deg", "40:61", *args[-4:])
    assert other.returncode == 2 and "other options (rig)" in other.stderr, other.stderr
