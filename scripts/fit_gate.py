"""Fit the trust gate of a run or shipped model on datasets it was not trained on (neurender.models.gate).

Usage: python scripts/fit_gate.py RUN --data DIR... --out FOLDER [--steps 1000] [--seed 0] [--shift NAME=FACTOR...]
                                  [--guard-only] [--ssim-weight W] [--albedo-scaled]
FOLDER receives a copy of the run's files (config, checkpoint, calibration, card) and gate.safetensors,
so `neurender evaluate --method FOLDER` scores the gated model beside the ungated one; gate.json
records the fit. Copy gate.safetensors into neurender/pretrained/NAME to ship it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

from neurender.inference.gate import fit_gate
from neurender.run import runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--data", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shift", nargs="*", default=[], metavar="NAME=FACTOR",
                        help="also predict every view with this view parameter scaled (one the target does not "
                             "depend on: GI's ao_radius)")
    parser.add_argument("--guard-only", action="store_true",
                        help="fit the input range alone: the network's answer inside it, the classic one outside")
    parser.add_argument("--ssim-weight", type=float, default=0.0,
                        help="add W x (1 - SSIM) on the surfaces to the fit's L1 loss")
    parser.add_argument("--albedo-scaled", action="store_true",
                        help="multiply the gate's weight by the albedo (GI: a black surface keeps the classic answer)")
    args = parser.parse_args()
    shifts = tuple({name: float(factor)} for name, factor in (item.split("=") for item in args.shift))
    gate, record = fit_gate(args.run, args.data, steps=args.steps, seed=args.seed, shifts=shifts,
                            guard_only=args.guard_only, ssim_weight=args.ssim_weight, albedo_scaled=args.albedo_scaled)
    source = runs.resolve(args.run)
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(source):
        if os.path.isfile(os.path.join(source, name)) and name != "gate.safetensors":
            shutil.copy2(os.path.join(source, name), os.path.join(args.out, name))
    gate.save(args.out)
    with open(os.path.join(args.out, "gate.json"), "w") as handle:
        json.dump(record | {"run": args.run, "data": args.data, "seed": args.seed, "shift": args.shift}, handle,
                  indent=1)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
