"""Timing of methods on one frame: warm medians, and a frame of a dataset at any size.

Every figure is the median of several timed calls after one untimed call (kernels, caches and
allocations warm; a first call over `KEEP_FIRST_CALL_ABOVE_S` is kept as it is).
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from neurender import effects
from neurender.data import GBufferDataset, held_out_split
from neurender.device import DeviceOptions
from neurender.evaluation.methods import Methods
from neurender.run import runs

KEEP_FIRST_CALL_ABOVE_S = 5.0
"""A first call this long is timed as it is: kernel compilation (about 0.4 s on this CPU) is then
under a tenth of it, and repeating a long render would double the cost of a curve."""


REPEAT_WARM_CALLS_BELOW_S = 0.5
"""A call already warm is repeated (for a median) only when it is this short: cheap to repeat, and
noisy on a shared CPU."""


def warm_seconds(call, repeats: int = 3, warm: bool = False) -> tuple[object, float]:
    """(result, seconds) of ``call() -> (result, seconds)`` timed warm, as the median of ``repeats``
    timed calls. A first call that is not ``warm`` (it compiles kernels for a new spp or size) is a
    warm-up, unless it took longer than `KEEP_FIRST_CALL_ABOVE_S`; a ``warm`` first call counts,
    and is the only one when longer than `REPEAT_WARM_CALLS_BELOW_S`."""
    result, first = call()
    if first > KEEP_FIRST_CALL_ABOVE_S or (warm and first > REPEAT_WARM_CALLS_BELOW_S):
        return result, first
    times = [call()[1] for _ in range(repeats - warm)] + ([first] if warm else [])
    return result, float(np.median(times))


def wall_clock(function):
    """``function`` as a call for `warm_seconds`: () -> (its result, wall seconds of the call)."""
    def call():
        start = time.perf_counter()
        result = function()
        return result, time.perf_counter() - start
    return call


def time_ms(function, repeats: int = 3) -> float:
    """Warm milliseconds of ``function()`` (`warm_seconds` of its wall-clock time)."""
    return 1000 * warm_seconds(wall_clock(function), repeats)[1]


def resized_item(dataset, index: int, height: int, width: int) -> dict:
    """A dataset view scaled to ``height`` x ``width`` (nearest, so G-buffer values stay valid; for
    timing only), batched."""
    item = dict(dataset[index])
    for key in ("input", "target", "mask"):
        item[key] = F.interpolate(item[key][None], size=(height, width), mode="nearest-exact")
    return item


def effect_of(method: str) -> str:
    """The effect of a run or ``pretrained:NAME`` (its config) or of a baseline (the first effect that lists it)."""
    if runs.is_run(method):
        return runs.open_run(method).config.effect
    return next(e.name for e in effects.EFFECTS.values() if method in e.baselines)


def measure_frame(method: str, data: str, height: int, width: int, repeats: int, device: str = "cpu",
                  warm_up: bool = False) -> dict:
    """ms/frame (`time_ms`: median of ``repeats`` after a warm-up call, a first call over
    `KEEP_FIRST_CALL_ABOVE_S` kept as it is; with ``warm_up``, one untimed call and then the median of
    ``repeats`` timed ones, however long) and peak RSS of ``method`` (a run or a baseline name) on
    held-out view 0 of ``data`` scaled to height x width. Run it in a fresh process (``neurender bench
    predict`` does): the peak RSS is the process's own. Runs predict on ``device``; their output comes
    back to the CPU inside the timed call (a GPU's work is complete)."""
    effect = effect_of(method)
    dataset = GBufferDataset(data, effect, split=held_out_split(data))
    item = resized_item(dataset, 0, height, width)
    methods = Methods(effect, [method], devices=DeviceOptions(device=device))
    with torch.no_grad():
        if warm_up:
            methods.run(method, item)
            ms = 1000 * float(np.median([wall_clock(lambda: methods.run(method, item))()[1] for _ in range(repeats)]))
        else:
            ms = time_ms(lambda: methods.run(method, item), repeats)
    return {"ms": ms, "ms_per_mp": ms / (height * width / 1e6),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure_in_child(method: str, data: str, height: int, width: int, repeats: int = 3, device: str = "cpu",
                     warm_up: bool = False) -> dict:
    """`measure_frame` in a fresh Python process (its peak RSS is the method's own; no warm state of an
    earlier method); ``{"error": last line of its stderr}`` when it fails."""
    code = ("import json, sys; from neurender.evaluation.timing import measure_frame; "
            "print(json.dumps(measure_frame(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), "
            "int(sys.argv[5]), sys.argv[6], sys.argv[7] == 'warm')))")
    result = subprocess.run([sys.executable, "-c", code, method, data, str(height), str(width), str(repeats),
                             device, "warm" if warm_up else "as-is"], capture_output=True, text=True)
    if result.returncode:
        return {"error": (result.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])
