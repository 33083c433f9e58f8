"""Issue 47's property: random non-finite and extreme values fed into the public entry points (the command
line, in this process, and the Python API) give exit 0 or 2 with one error line (InputError from Python),
never a traceback or a non-finite number written, and touch nothing outside the output folder."""
from __future__ import annotations

import random
import re
import shutil

import numpy as np
import pytest
from nr_helpers import error_lines, snapshot

from neurender.base.errors import InputError
from neurender.base.exr import read_exr

VALUES = ["nan", "inf", "-inf", "0", "-1", "1e308", "-1e308", "1e-308", "3e38", "0.5", "179.999", "x", ""]
"""What a hostile user types for a number."""
FLAGS = {  # command -> the numeric flags tried, and the arguments that make the rest of the command valid
    "predict": (["--fov-deg", "--ao-radius", "--sigma-t", "--background-distance", "--tile", "--internal-res"],
                lambda d, view, out: ["--checkpoint", "pretrained:ao-fast", "--input", view, "--out", out,
                                      "--fov-deg", "50", "--ao-radius", "0.5"]),
    "convert": (["--fov-deg", "--ao-radius", "--sigma-t"],
                lambda d, view, out: [view, "--out", out, "--fov-deg", "50"]),
    "train": (["--lr", "--iters", "--batch", "--crop", "--ema", "--test-fraction", "--fast.channels"],
              lambda d, view, out: ["--model", "fast", "--effect", "ao", "--data", d, "--out", out, "--iters", "1",
                                    "--crop", "16", "--batch", "1", "--no-tensorboard"]),
    "generate": (["--res", "--spp", "--sigma-s", "--fog-scale", "--ao-radius-fraction", "--step-deg", "--albedo"],
                 lambda d, view, out: ["objects", "--views", "1", "--res", "8", "--spp", "1", "--spp-gbuffer", "1",
                                       "--out", out]),
    "evaluate": (["--steps", "--samples", "--seed", "--temporal-blend"],
                 lambda d, view, out: ["--data", d, "--effect", "ao", "--method", "gtao", "pretrained:ao-fast",
                                       "--no-path-tracer", "--out", out]),
    "export": (["--card-sizes", "--size"],
               lambda d, view, out: ["--checkpoint", "pretrained:ao-fast", "--format", "shipped", "--out", out]),
}


def _cases(seed: int, count: int):
    rng = random.Random(seed)
    return [(command, rng.choice(FLAGS[command][0]), rng.choice(VALUES))
            for command in (rng.choice(sorted(FLAGS)) for _ in range(count))]


def test_random_values_on_the_command_line(pair_dataset, tmp_path, capsys):
    from neurender.commands.cli import main

    data = tmp_path / "data"
    shutil.copytree(pair_dataset, data)
    view = str(next(data.rglob("000.exr")))
    before = snapshot(tmp_path)
    for index, (command, flag, value) in enumerate(_cases(seed=47, count=40)):
        out = tmp_path / f"out{index}"
        argv = [command, *map(str, FLAGS[command][1](str(data), view, str(out))), flag, value]
        status = main(argv)
        lines = error_lines(capsys.readouterr().err)
        assert status in (0, 2), (argv, lines)
        if status == 2:
            assert len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
        for exr in out.rglob("*.exr"):
            assert all(np.isfinite(c).all() for c in read_exr(str(exr)).values()), (argv, exr)
        for table in (*out.rglob("*.json"), *out.rglob("*.csv")):  # JSON writes NaN and Infinity; CSV nan, inf
            assert not re.search(r"\b(nan|inf|infinity)\b", table.read_text(), re.IGNORECASE), (argv, table)
        if out.exists():
            shutil.rmtree(out)
    assert snapshot(tmp_path) == before, "a file outside the output folders changed"


def test_random_values_from_python(pair_dataset):
    from neurender import Predictor, ViewParameters, load_gbuffer

    gbuffer = load_gbuffer(str(next(pair_dataset.rglob("000.exr"))))
    predictors = [Predictor(f"pretrained:{name}") for name in ("ao-fast", "fog-fast", "gi-fast")]
    rng = np.random.default_rng(47)
    extremes = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30, -1e30, 1e-30, 3e38])
    outcomes = {"refused": 0, "predicted": 0}
    for _ in range(12):
        numbers = [float(rng.choice(extremes)) if rng.random() < 0.5 else float(rng.uniform(0.01, 90))
                   for _ in range(4)]
        channels = {name: values.copy() for name, values in gbuffer.items()}
        if rng.random() < 0.5:
            name = str(rng.choice(sorted(channels)))
            channels[name].flat[rng.integers(channels[name].size)] = rng.choice(extremes)
        for predictor in predictors:
            try:
                out = predictor(channels, ViewParameters(*numbers))
            except InputError:
                outcomes["refused"] += 1
                continue
            outcomes["predicted"] += 1
            assert all(np.isfinite(v).all() for v in out.values()), (numbers, predictor.run.name)
    assert min(outcomes.values()) > 0, outcomes  # the draws reach both outcomes


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0, 0.0])
def test_a_view_parameter_out_of_range_is_an_input_error(value):
    from neurender import ViewParameters

    with pytest.raises(InputError):
        ViewParameters(fov_x=value)
    with pytest.raises(InputError):
        ViewParameters(fov_x=50.0, ao_radius=value)
