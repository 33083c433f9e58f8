"""Where a frame's time goes: cProfile of one warm ``Predictor.predict`` on random inputs.

Usage: .venv/bin/python scripts/profile_predict.py RUN_OR_pretrained:NAME [HEIGHT WIDTH] (default 1080 1920),
2 torch threads; prints the median wall time and page faults of 5 warm calls, then the 20 most
expensive calls of one more (cumulative).
"""
import cProfile
import pstats
import resource
import statistics
import sys
import time

import torch

from neurender.base.view import ViewParameters
from neurender.inference.predictor import Predictor

torch.set_num_threads(2)
predictor = Predictor(sys.argv[1])
height, width = (int(v) for v in sys.argv[2:4]) if len(sys.argv) > 3 else (1080, 1920)
inputs = torch.rand(1, len(predictor.effect.inputs), height, width) + 0.5
mask = torch.ones(1, 1, height, width)
view = ViewParameters(fov_x=60, ao_radius=0.5, sigma_t=0.1, background_distance=100)
with torch.no_grad():
    predictor.predict(inputs, mask, view)  # warm-up: an ONNX export per size, allocations
    times, faults = [], []
    for _ in range(5):
        start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        predictor.predict(inputs, mask, view)
        times.append(1000 * (time.perf_counter() - start))
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(f"warm predict {statistics.median(times):.1f} ms at {width}x{height} (median of 5; "
          f"page faults per call {statistics.median(faults):.0f})")
    profile = cProfile.Profile()
    profile.enable()
    predictor.predict(inputs, mask, view)
    profile.disable()
pstats.Stats(profile).sort_stats("cumulative").print_stats(20)
