"""Atomic file writes: a temporary file in the same folder, flushed, then renamed into place."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        # after the write (some writers, e.g. safetensors, create the file anew): mkstemp's 0600
        # becomes the mode any new file would get
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(path: str, data) -> None:
    """Write ``data`` as indented JSON (no NaN) to ``path`` atomically."""
    with atomic_path(path, ".json") as tmp, open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, allow_nan=False)
