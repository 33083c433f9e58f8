"""Multi-channel OpenEXR files: atomic writes, checked reads (numpy only, no torch)."""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import OpenEXR

from neurender.base.atomic import atomic_path
from neurender.base.errors import InputError


def write_exr(path: str, channels: dict[str, np.ndarray]) -> None:
    """Write ``channels`` (name -> (H, W) float32) to ``path`` atomically (temp file, fsync, rename)."""
    shapes = {v.shape for v in channels.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"channels must share one (H, W) shape, got {sorted(shapes)}")
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    data = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in channels.items()}
    with atomic_path(path, ".exr") as tmp, OpenEXR.File(header, data) as exr:
        exr.write(tmp)


@contextlib.contextmanager
def _silenced_output():
    """Mute file descriptors 1 and 2: the OpenEXR library prints its own lines about corrupt files."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [devnull]:
            os.close(fd)


def read_exr(path: str, required: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read every channel of ``path`` as name -> (H, W) float32.

    Raises InputError for a missing or unreadable file, or when a ``required`` channel is absent or
    holds NaN or infinite values (message: the file, each such channel and its count).
    """
    if not os.path.isfile(path):
        raise InputError(f"EXR file not found: {path}")
    try:
        with _silenced_output(), OpenEXR.File(path, separate_channels=True) as exr:
            channels = {name: np.asarray(ch.pixels, dtype=np.float32) for name, ch in exr.channels().items()}
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises several types on corrupt files
        raise InputError(f"cannot read EXR {path}: {' '.join(str(exc).split())[:200]}") from None
    missing = [name for name in (required or []) if name not in channels]
    if missing:
        raise InputError(f"{path} lacks channels {', '.join(missing)}")
    bad = {name: int((~np.isfinite(channels[name])).sum()) for name in required or []}
    bad = {name: count for name, count in bad.items() if count}
    if bad:
        listed = ", ".join(f"{name} has {count}" for name, count in bad.items())
        raise InputError(f"{path}: non-finite values (NaN or Inf): {listed}")
    return channels
