"""A shipped GAN's network at 1920x1080 with its upsamplings fused into their convolutions and without
(`neurender.models.layers.fuse_upsampling`), alternated in one process: torch fp32, torch bf16 (where the
CPU computes it natively) and onnxruntime.

Usage: .venv/bin/python scripts/upsampling_ab.py [pretrained:NAME] (default pretrained:ao). Random inputs at
1088x1920 (the network's stride), 2 threads; after one warm call each, 3 rounds of 3 calls per variant;
prints the largest difference of the two and, per backend, the median, min and max ms. Run it with nothing
else on the CPU.
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time

import torch

from neurender import effects
from neurender.device import cpu_bf16
from neurender.inference.onnx import export_onnx, session
from neurender.run import families, inputs, runs

SIZE = (1088, 1920)


def networks(name: str) -> dict[str, torch.nn.Module]:
    """The run's predicting network with its upsamplings left as they train ("plain") and as shipped ("fused")."""
    run = runs.open_run(name)
    return {"plain": families.predicting(run, fuse=False).network, "fused": families.predicting(run).network}


def torch_call(network: torch.nn.Module, x: torch.Tensor, bf16: bool):
    def call():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            network(x)
    return call


def main(name: str) -> None:
    torch.set_num_threads(2)
    nets = networks(name)
    run = runs.open_run(name)
    x = torch.rand(1, len(inputs.channels(effects.get(run.config.effect), run.config.inputs)), *SIZE)
    with torch.inference_mode():
        print(f"{name}: max |fused - plain| {(nets['fused'](x) - nets['plain'](x)).abs().max().item():.2g}")
    folder = tempfile.mkdtemp(prefix="neurender-ab-")
    sessions = {k: session(export_onnx(n, x.shape[1], os.path.join(folder, f"{k}.onnx"), *SIZE)) for k, n in nets.items()}
    cases = {"torch fp32": {k: torch_call(n, x, False) for k, n in nets.items()}}
    if cpu_bf16():
        cases["torch bf16"] = {k: torch_call(n, x, True) for k, n in nets.items()}
    cases["onnxruntime"] = {k: functools.partial(s.run, None, {"x": x.numpy()}) for k, s in sessions.items()}
    for case, calls in cases.items():
        times: dict[str, list[float]] = {k: [] for k in calls}
        for call in calls.values():
            call()
        for _ in range(3):
            for k, call in calls.items():
                for _ in range(3):
                    start = time.perf_counter()
                    call()
                    times[k].append(1000 * (time.perf_counter() - start))
        print(f"{case}: " + "; ".join(f"{k} median {statistics.median(v):.0f} ms (min {min(v):.0f}, max {max(v):.0f})"
                                      for k, v in times.items()), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", default="pretrained:ao")
    main(parser.parse_args().name)
