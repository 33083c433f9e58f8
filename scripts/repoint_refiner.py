"""A diffusion refiner's U-Net over another first guess: a copy of the refiner whose config reads another
GAN (``first_guess``) and input kind (``inputs``), its weights unchanged.

Usage: python scripts/repoint_refiner.py REFINER --first-guess RUN [--inputs KIND] --out FOLDER
REFINER and RUN: run folders or pretrained:NAME. The U-Net must read as many channels with the new
inputs as with its own (the same G-buffer and derived channels, another classic method's answer).
FOLDER receives the refiner's checkpoint, config and calibration (no gate: one fitted over the old
guess does not hold; fit one with scripts/fit_gate.py FOLDER ...). Then measure it on the validation
suite before anything ships: nothing here trains.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from neurender.base.errors import InputError
from neurender.effects import get
from neurender.run import runs
from neurender.run.inputs import channels
from neurender.run.runs import CHECKPOINT, CONFIG


def repoint(refiner: str, first_guess: str, inputs: str | None, out: str) -> runs.Run:
    """Write the repointed copy of ``refiner`` into ``out`` and open it; InputError when it cannot read the
    new inputs."""
    source, guess = runs.open_run(refiner), runs.open_run(first_guess)
    kind = inputs or source.config.inputs
    effect = get(source.config.effect)
    if not source.config.first_guess:
        raise InputError(f"{refiner} is not a refiner (it has no first guess)")
    if guess.config.effect != effect.name:
        raise InputError(f"{first_guess} predicts {guess.config.effect}, {refiner} refines {effect.name}")
    if len(channels(effect, kind)) != len(channels(effect, source.config.inputs)):
        raise InputError(f"the U-Net reads {len(channels(effect, source.config.inputs))} channels, "
                         f"{kind} inputs are {len(channels(effect, kind))}")
    os.makedirs(out, exist_ok=True)
    for name in (CHECKPOINT, "calibration.json"):
        if os.path.isfile(os.path.join(source.folder, name)):
            shutil.copy2(os.path.join(source.folder, name), os.path.join(out, name))
    with open(os.path.join(source.folder, CONFIG)) as handle:
        config = json.load(handle)
    with open(os.path.join(out, CONFIG), "w") as handle:
        json.dump(config | {"first_guess": first_guess, "inputs": kind}, handle, indent=2)
    return runs.open_run(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("refiner")
    parser.add_argument("--first-guess", required=True)
    parser.add_argument("--inputs", default=None, help="scaled or derived (default: the refiner's own)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        run = repoint(args.refiner, args.first_guess, args.inputs, args.out)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    print(f"{args.out}: {args.refiner} over {run.config.first_guess}, {run.config.inputs} inputs")


if __name__ == "__main__":
    main()
