"""One writer per output folder: an OS lock (``fcntl.flock``) on ``FOLDER/.neurender.lock``, held
for the whole command and released by the kernel when the process ends, however it ends, so a
crash never leaves a stale lock. A second process gets an InputError naming the holder."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import time

from neurender.base.errors import InputError

LOCK = ".neurender.lock"
"""The lock file's name inside a locked folder (datasets, runs, evaluations, shipped models)."""


def _holder(handle, wait_s: float = 1.0) -> dict:
    """The record the lock's holder writes just after taking it: read again for up to ``wait_s``
    seconds while it is still empty or half written ({} if it never appears)."""
    deadline = time.monotonic() + wait_s
    while True:
        handle.seek(0)
        try:
            return json.loads(handle.read())
        except ValueError:
            if time.monotonic() > deadline:
                return {}
            time.sleep(0.02)


@contextlib.contextmanager
def folder_lock(folder: str, command: str):
    """Hold the lock of ``folder`` (created if missing) while the block runs. InputError when another
    process holds it, naming that process. A folder this call created is removed again when the block
    fails and nothing but the lock was written into it."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"{folder} exists and is not a directory")
    created = not os.path.exists(folder)
    path = os.path.join(folder, LOCK)
    try:
        os.makedirs(folder, exist_ok=True)
        # never through a link (it would truncate the link's target) and only a regular file
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if os.path.islink(path):
            raise InputError(f"{path} is a symbolic link; remove it (the lock is never written through a "
                             f"link)") from None
        raise InputError(f"cannot write into {folder}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{path} is not a regular file; remove it")
    handle = os.fdopen(fd, "r+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            raise InputError(f"{folder} is in use by another process ({holder.get('command', 'neurender')}, "
                             f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, "
                             f"since {holder.get('since', '?')}); wait for it or use another output") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"command": command, "pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        try:
            yield
        except BaseException:
            if created and os.listdir(folder) == [LOCK]:
                os.unlink(os.path.join(folder, LOCK))
                os.rmdir(folder)
            raise
    finally:
        handle.close()
