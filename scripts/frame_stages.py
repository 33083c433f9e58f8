"""Where a 1080p frame's time goes, stage by stage, for each shipped model (issue 48).

Usage: .venv/bin/python scripts/frame_stages.py DATA [--backend torch|onnxruntime] [--precision fp32|bf16]
[pretrained:NAME...] (default: every shipped model, each on `Predictor`'s default backend, fp32).
View 0 of DATA's held-out views, scaled to 1920x1080 (nearest), 2 torch threads, median of 3 warm calls
per stage; prints a Markdown table (ms). The stages are those `Predictor.predict` runs: the network
input (the G-buffer in the network's space, the derived channels and the classic guess, written into a
tensor kept from the call before, as `Predictor` keeps it; the guess alone beside it), the network (or
a refiner's one-evaluation estimate), the trust gate, the way back to linear values; then the whole
call, which also divides the light out and back and fills the background.
Reading and writing EXRs is not in it (`neurender bench predict` times frames in memory too).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from neurender import space
from neurender.baselines.methods import METHODS
from neurender.data import GBufferDataset, held_out_split
from neurender.device import DeviceOptions
from neurender.evaluation.timing import resized_item
from neurender.inference.predictor import BACKENDS, Predictor
from neurender.run import runs
from neurender.run.inputs import balanced, guess_method, view_input


def ms(function, repeats: int = 3) -> float:
    """Median wall milliseconds of ``repeats`` calls after one untimed call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def stages(name: str, data: str, backend: str, precision: str) -> list[str]:
    """The table cells of model ``name`` on view 0 of ``data`` at 1920x1080."""
    predictor = Predictor(name, backend=backend, devices=DeviceOptions(device="cpu", precision=precision))
    effect, kind = predictor.effect, predictor.config.inputs
    item = resized_item(GBufferDataset(data, effect.name, split=held_out_split(data)), 0, 1080, 1920)
    inputs, mask, view = item["input"], item["mask"], item["parameters"]
    with torch.no_grad():
        scaled, _ = balanced(inputs, effect, predictor.config.balances_light)
        method = guess_method(effect, kind)
        x = view_input(scaled, mask, view, effect, kind)
        raw = network(predictor, x).float()
        label = f"`{name}`" + "".join(f" ({option})" for option in (backend, precision) if option not in ("auto", "fp32"))
        cells = [label, f"{method}: {ms(lambda: METHODS[method](scaled, mask, view, effect)):.0f}" if method else "-",
                 f"{ms(lambda: view_input(scaled, mask, view, effect, kind, out=x)):.0f}",
                 f"{ms(lambda: network(predictor, x)):.0f}",
                 f"{ms(lambda: predictor.gate(x, raw[0])):.0f}" if predictor.gate is not None else "-",
                 f"{ms(lambda: space.from_model_space(raw.clone(), effect)):.0f}",
                 f"{ms(lambda: predictor.predict(inputs, mask, view)):.0f}"]
    return cells


def network(predictor: Predictor, x: torch.Tensor) -> torch.Tensor:
    """The predictor's network (or one-evaluation estimate) on ``x``, in its precision."""
    with predictor.precision.autocast():
        return predictor._network(x)


def main(data: str, names: list[str], backend: str = "auto", precision: str = "fp32") -> None:
    torch.set_num_threads(2)
    print("| model | classic guess | network input (with the guess) | network | gate | to linear | whole predict |")
    print("|---|---|---|---|---|---|---|")
    for name in names or runs.shipped():
        print("| " + " | ".join(stages(name, data, backend, precision)) + " |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data")
    parser.add_argument("names", nargs="*", help="pretrained:NAME... (default: every shipped model)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16 runs where the CPU computes it natively (neurender.device.cpu_bf16)")
    arguments = parser.parse_intermixed_args()
    main(arguments.data, arguments.names, arguments.backend, arguments.precision)
