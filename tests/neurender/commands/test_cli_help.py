"""Every command's flags come from its options dataclass: help with defaults and choices, one
error contract, and the same result from the console script and ``python -m neurender``."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from nr_helpers import REPO

from neurender.commands.arguments import parse
from neurender.commands.cli import COMMANDS


def _options(name: str):
    return importlib.import_module(f"neurender.commands.{COMMANDS[name][0]}").COMMANDS[name][0]


def _help(name: str, capsys) -> str:
    """Command ``name``'s help as printed, without the boxes' frames."""
    assert parse(f"neurender {name}", _options(name), ["--help"]) is None
    return re.sub(r"[│╭╮╰╯─]", " ", capsys.readouterr().out)


def _entries(text: str) -> dict[str, str]:
    """Flag -> its help entry (metavar, help, default), whitespace folded, of a help text."""
    parts = re.split(r"\n\s{1,3}(?=--?[a-z])", text)[1:]
    return {part.split()[0].rstrip(","): " ".join(part.split()) for part in parts}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_option_shows_its_default_and_help(name, capsys):
    text = _help(name, capsys)
    assert "`" not in text, "docstring markup left in the help"
    entries = {flag: entry for flag, entry in _entries(text).items() if flag not in ("-h", "--help")}
    for flag, entry in entries.items():
        assert entry.count("(default: ") + entry.count("(required)") == 1, (name, flag, entry)
        assert "(default: )" not in entry, (name, flag, "an empty default shown")
        words = entry.split("(default: ")[0].split("(required)")[0].split()[1:]
        assert len([w for w in words if w[0].isalpha() and not w.isupper()]) >= 2, (name, flag, "no help text")


def test_nested_defaults_are_the_parents_and_choices_are_listed(capsys):
    entries = _entries(_help("train", capsys))
    assert entries["--diffusion.schedule"].startswith("--diffusion.schedule {linear,cosine}")
    assert "(default: cosine)" in entries["--diffusion.schedule"]
    assert "{epsilon,v}" in entries["--diffusion.prediction"] and "(default: v)" in entries["--diffusion.prediction"]
    assert "{vanilla,lsgan,hinge}" in entries["--acgan.gan-loss"] and "{ddim,mean}" in entries["--sampler"]
    assert "(required)" in entries["--model"] and "{acgan,diffusion,fast}" in entries["--model"]


def test_flags_build_the_same_config_as_the_dataclasses():
    command = parse("neurender train", _options("train"),
                    ["--model", "diffusion", "--effect", "gi", "--data", "a", "b", "--out", "r", "--crop", "32",
                     "--no-flip", "--unet.channel-mults", "1", "2", "--unet.attention-levels", "1",
                     "--diffusion.data-scale", "5"])
    config = command.config
    assert (config.model, config.effect, config.data, config.crop, config.flip) == ("diffusion", "gi", ("a", "b"), 32, False)
    assert config.unet.channel_mults == (1, 2) and config.diffusion.data_scale == 5
    assert config.diffusion.schedule == "cosine", "a nested default the parent sets survives other nested flags"
    generate = parse("neurender generate", _options("generate"),
                     ["objects", "--out", "d", "--spp", "8", "--fov-deg", "40:60", "--xml-sensors"])
    assert generate.options.render.spp_direct == 2 and generate.options.render.spp_ao == 8
    assert generate.options.rig.fov_deg == (40.0, 60.0) and generate.options.rig.sensors


@pytest.mark.parametrize("command", [[sys.executable, "-m", "neurender"], [str(Path(sys.executable).parent / "neurender")]],
                         ids=["python -m", "console script"])
def test_module_and_script_give_the_same_help(command):
    result = subprocess.run(command + ["validate", "--help"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and "usage: neurender validate [-h] DATASET" in result.stdout, result.stderr
    bad = subprocess.run(command + ["validate"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr == "error: neurender validate: the following arguments are required: DATASET\n"
    unknown = subprocess.run(command + ["bench"], capture_output=True, text=True, cwd=REPO)
    assert unknown.returncode == 2 and "give one of generate, generate-long" in unknown.stderr


def test_a_run_folder_written_before_a_rename_still_loads(tmp_path):
    """config.json files written with the old name of a field (res, now crop) load under the new one."""
    import json

    from neurender.run import runs
    from neurender.run.config import TrainConfig

    old = TrainConfig(model="acgan", effect="ao", data=("d",)).to_json()
    old["res"] = old.pop("crop") // 2
    (tmp_path / runs.CONFIG).write_text(json.dumps(old))
    assert runs.load_config(str(tmp_path)).crop == 32


DEVICE_COMMANDS = {
    "train": ["--model", "acgan", "--effect", "ao", "--data", "d", "--out", "{tmp}/run"],
    "predict": ["--checkpoint", "pretrained:ao", "--input", "x.exr", "--out", "{tmp}/p"],
    "evaluate": ["--data", "d", "--effect", "ao", "--out", "{tmp}/e"],
    "calibrate": ["--checkpoint", "c", "--data", "d"],
    "bench predict": ["--checkpoint", "pretrained:ao", "--data", "d"],
    "bench compare": ["--eval", "e"],
    "demo": ["--out", "{tmp}/demo"],
}


def test_every_network_command_takes_a_device(capsys):
    with_device = {name for name in COMMANDS if "--device" in _entries(_help(name, capsys))}
    assert with_device == set(DEVICE_COMMANDS)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")
@pytest.mark.parametrize("name", list(DEVICE_COMMANDS))
def test_cuda_is_refused_in_one_line_where_there_is_none(name, tmp_path, capsys):
    from neurender.commands.cli import main

    args = [a.format(tmp=tmp_path) for a in DEVICE_COMMANDS[name]]
    assert main(name.split() + args + ["--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --device cuda: this machine has no CUDA device"), err
    assert not list(tmp_path.iterdir()), "nothing written"
    assert main(name.split() + args + ["--device", "tpu"]) == 2 and "unknown device 'tpu'" in capsys.readouterr().err


@pytest.mark.parametrize("args, words", [
    (["predict"], "the following arguments are required: --checkpoint, --input, --out"),
    (["predict", "--checkpoint", "c", "--input", "i", "--out", "o", "--tile", "x"], "argument --tile: invalid literal for int()"),
    (["evaluate", "--data", "d", "--effect", "smoke", "--out", "o"],
     "argument --effect: invalid choice 'smoke' (choose from ao, fog, gi)"),
    (["generate", "objects", "--out", "o", "--fov-deg", "40:x"], "argument --fov-deg: '40:x' is not LOW:HIGH or a number"),
    (["convert", "a.exr", "--out", "o", "--fov-deg", "50", "--rename", "AB"], "--rename: bad rename 'AB'"),
    (["stats"], "DATASET: give at least one value"),
    (["validate"], "the following arguments are required: DATASET"),
    (["bench", "compare", "--eval", "e", "--sizes", "12y"], "--sizes: bad size '12y'"),
    (["predict", "--checkpoint", "c", "--input", "i", "--out", "o", "--gate", "3"], "unrecognized arguments: 3"),
])
def test_a_bad_command_line_is_one_error_line_naming_the_command(args, words, capsys):
    from neurender.commands.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    command = " ".join(args[:2]) if args[0] == "bench" else args[0]
    assert err.count("\n") == 1 and err.startswith(f"error: neurender {command}: ") and words in err, err
