"""Are the path tracer's curve times warm? Two passes of the curve over the same views, in one process:
per spp level, the mean ms of each pass and their ratio (near 1 when the first pass is not inflated by
kernel compilation).

Usage: .venv/bin/python scripts/warm_curve_check.py DATA EFFECT
(the issue 25 figures: DATA from `neurender generate objects --views 2 --res 128 --spp 16 --seed 1000 --out DATA`)
"""
import sys

import torch

from neurender.base.dataset import load_manifest
from neurender.data import GBufferDataset
from neurender.evaluation import path_tracer

data, effect = sys.argv[1], sys.argv[2]
dataset = GBufferDataset(data, effect)
masks = [dataset[i]["mask"][None] for i in range(len(dataset))]
runs = []
for _ in range(2):
    levels = {}
    for _, spp, _, seconds in path_tracer.renders(load_manifest(data), dataset.records, dataset.effect, masks):
        levels.setdefault(spp, []).append(1000 * seconds)
    runs.append({spp: sum(v) / len(v) for spp, v in levels.items()})
print(f"{effect}: threads {torch.get_num_threads()}")
for spp in runs[0]:
    a, b = runs[0][spp], runs[1][spp]
    print(f"  {spp:5d} spp  first {a:8.1f} ms  second {b:8.1f} ms  ratio {b / a:.3f}")
