"""Keeping freed memory in the process, so that frame after frame of a large image reuses it.

glibc returns freed memory at the top of its heap to the system once more than a threshold is free,
and serves large requests with fresh mappings; both thresholds adapt to the sizes freed. A 1080p
frame allocates and frees some hundred megabytes of tensors, so each frame pays again for the page
faults of memory it just gave back: measured at 1080p on this CPU (2 threads), ``pretrained:fog-fast``
takes 100 ms a frame without them and 115-170 ms with 10k-30k page faults a frame. What PyTorch's
CPU tuning guide does with jemalloc or tcmalloc, :func:`keep_freed_memory` does with glibc's own
``mallopt``: freed memory up to :data:`TRIM_THRESHOLD` stays in the heap, and requests under
:data:`MMAP_THRESHOLD` come from it. Elsewhere (another C library) it does nothing.
"""
from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (malloc.h)."""
TRIM_THRESHOLD = 1 << 30
"""Free memory (bytes) the heap keeps before returning it to the system: 1 GiB."""
MMAP_THRESHOLD = 32 << 20
"""Requests (bytes) below this come from the heap, not from fresh mappings: glibc's largest, 32 MiB."""


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's trim and mmap thresholds for this process (module docstring), once; whether it could."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
