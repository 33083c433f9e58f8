"""The GPU check: figures of training, prediction and rendering on a CUDA device, as one JSON.

Usage: python scripts/gpu_check.py OUT_JSON [DEVICE [SIZES]]   (DEVICE default cuda, cpu runs the same
steps here; SIZES default 256,1080p,2160p)

1. ms/frame and peak GPU memory of every shipped GAN at 256x256, 1920x1080 and 3840x2160, in fp32
   and bf16 (warm medians, the device synchronised by bringing the output back), and max |difference|
   from the CPU's prediction of the same frame (256 and 1080p);
2. 200 training steps of a small AO GAN on a dataset rendered on the spot (when Mitsuba loads), s/step;
3. a 4-view generation with Mitsuba's CUDA variant against llvm, when the CUDA variant loads.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

from neurender.base.view import SYNTHETIC_VIEW
from neurender.commands.arguments import parse_size
from neurender.device import DeviceOptions, device_label, resolve_device
from neurender.evaluation.timing import time_ms
from neurender.inference.predictor import Predictor
from neurender.run import runs

OUT, DEVICE = sys.argv[1], resolve_device(sys.argv[2] if len(sys.argv) > 2 else "cuda")
SIZES = {token: parse_size(token) for token in (sys.argv[3] if len(sys.argv) > 3 else "256,1080p,2160p").split(",")}
figures = {"device": device_label(DEVICE), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
           "predict": {}, "train": {}, "generate": {}}


def frame(predictor, height, width):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(1, len(predictor.effect.inputs), height, width, generator=generator) + 0.5
    return inputs, torch.ones(1, 1, height, width)


for name in runs.shipped():
    if runs.open_run(name).config.model != "acgan":
        continue
    cpu = Predictor(name, devices=DeviceOptions(device="cpu"))
    for precision in ("fp32", "bf16"):
        predictor = Predictor(name, devices=DeviceOptions(device=str(DEVICE), precision=precision))
        for size, (height, width) in SIZES.items():
            inputs, mask = frame(predictor, height, width)
            if DEVICE.type == "cuda":
                torch.cuda.reset_peak_memory_stats(DEVICE)
            with torch.no_grad():
                ms = time_ms(lambda: predictor.predict(inputs, mask, SYNTHETIC_VIEW)[0], repeats=5)
                row = {"ms": ms, "precision": predictor.precision.name}
                if DEVICE.type == "cuda":
                    row["peak_gpu_mb"] = torch.cuda.max_memory_allocated(DEVICE) / 2**20
                if height * width <= 1080 * 1920:
                    on_device = predictor.predict(inputs, mask, SYNTHETIC_VIEW)[0]
                    row["max_abs_diff_vs_cpu"] = float((on_device - cpu.predict(inputs, mask, SYNTHETIC_VIEW)[0]).abs().max())
            figures["predict"][f"{name}@{size}@{precision}"] = row
            print(name, size, precision, row, flush=True)

with tempfile.TemporaryDirectory() as tmp:
    nr = [sys.executable, "-m", "neurender"]
    data = os.path.join(tmp, "data")
    made = subprocess.run(nr + ["generate", "objects", "room", "--views", "2", "--res", "64", "--spp", "8",
                                "--out", data], capture_output=True, text=True)
    if made.returncode == 0:
        start = time.perf_counter()
        trained = subprocess.run(nr + ["train", "--model", "acgan", "--effect", "ao", "--data", data, "--out",
                                       os.path.join(tmp, "run"), "--iters", "200", "--crop", "64", "--batch", "8",
                                       "--sample-every", "1000", "--device", str(DEVICE)],
                                 capture_output=True, text=True)
        figures["train"] = {"steps": 200, "seconds": time.perf_counter() - start, "exit": trained.returncode,
                            "error": trained.stderr.strip().splitlines()[-1:] if trained.returncode else []}
    else:
        figures["train"] = {"skipped": "generate failed: " + " ".join(made.stderr.strip().splitlines()[-1:])}
    print("train", figures["train"], flush=True)
    for variant in ("llvm_ad_rgb", "cuda_ad_rgb"):
        start = time.perf_counter()
        result = subprocess.run(nr + ["generate", "objects", "--views", "4", "--res", "256", "--spp", "64", "--out",
                                      os.path.join(tmp, variant), "--variant", variant], capture_output=True, text=True)
        figures["generate"][variant] = {"seconds": time.perf_counter() - start, "exit": result.returncode}
    print("generate", figures["generate"], flush=True)

with open(OUT, "w") as handle:
    json.dump(figures, handle, indent=2)
print(f"figures: {OUT}")
