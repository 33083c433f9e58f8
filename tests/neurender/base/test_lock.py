"""One writer per output folder: a second process is refused naming the holder; a dead holder's lock is free."""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from neurender.base.errors import InputError
from neurender.base.lock import LOCK, folder_lock

HOLD = ("import sys, time; from neurender.base.lock import folder_lock\n"
        "with folder_lock(sys.argv[1], 'test holder'):\n    print('held', flush=True); time.sleep(60)")


def _holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_naming_the_holder(tmp_path):
    holder = _holder(tmp_path / "out")
    try:
        with pytest.raises(InputError, match=rf"in use by another process \(test holder, pid {holder.pid} on "):
            with folder_lock(str(tmp_path / "out"), "second"):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_a_holder_that_has_not_written_its_record_yet_is_still_named(tmp_path):
    """The holder writes its record just after taking the lock: a process refused in between waits for it."""
    folder = tmp_path / "out"
    folder.mkdir()
    with open(folder / LOCK, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held, nothing written yet
        record = '{"command": "late holder", "pid": 7, "host": "h", "since": "now"}'
        writer = threading.Timer(0.2, lambda: (held.write(record), held.flush()))
        writer.start()
        with pytest.raises(InputError, match=r"in use by another process \(late holder, pid 7 on h"):
            with folder_lock(str(folder), "second"):
                pass
        writer.join()


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    holder = _holder(tmp_path / "out")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with folder_lock(str(tmp_path / "out"), "after"):
        assert (tmp_path / "out" / LOCK).read_text().count(str(os.getpid())) == 1


def test_a_failed_command_leaves_no_folder_it_created(tmp_path):
    with pytest.raises(ValueError):
        with folder_lock(str(tmp_path / "new"), "failing"):
            raise ValueError("bad input found after the lock")
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is not a directory"):
        with folder_lock(str(tmp_path / "file"), "x"):
            pass


@pytest.mark.parametrize("command", [["generate", "objects", "--views", "1", "--res", "8", "--spp", "1"],
                                     ["evaluate", "--effect", "ao", "--no-path-tracer"]])
def test_commands_refuse_a_locked_output(tmp_path, dataset, command):
    from nr_helpers import error_lines, run_neurender

    out = tmp_path / "out"
    holder = _holder(out)
    try:
        extra = ["--data", dataset] if command[0] == "evaluate" else []
        start = time.monotonic()
        proc = run_neurender(*command, *extra, "--out", out)
        assert proc.returncode == 2 and len(error_lines(proc.stderr)) == 1, proc.stderr
        assert f"pid {holder.pid}" in proc.stderr and time.monotonic() - start < 60
        assert sorted(os.listdir(out)) == [LOCK], "the refused command wrote nothing"
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_that_is_a_symbolic_link_is_refused_and_its_target_untouched(tmp_path):
    """Issue 47, item 3: the lock was opened through a link and truncated the link's target."""
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK).symlink_to(target)
    with pytest.raises(InputError, match=r"\.neurender\.lock is a symbolic link; remove it"):
        with folder_lock(str(out), "evaluate"):
            pass
    assert target.read_text() == "keep me"
    (out / LOCK).unlink()
    os.mkfifo(out / LOCK)
    with pytest.raises(InputError, match="is not a regular file"):
        with folder_lock(str(out), "evaluate"):
            pass
