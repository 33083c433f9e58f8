"""Shipped predictors: ``pretrained:NAME`` names a run folder inside the package.

A shipped model is a run folder reduced to what prediction needs: ``config.json``, a
``checkpoint.safetensors`` holding only the predicting network's EMA weights in fp16, and a
``MODEL_CARD.md`` (recipe, data, steps, commit, held-out figures). :func:`resolve` turns a
``pretrained:NAME`` into that folder wherever a run directory is accepted.
"""
from __future__ import annotations

import dataclasses
import os

import torch
from safetensors.torch import save_file

from core.atomic import atomic_path, write_json_atomic
from core.errors import InputError
from neurender import effects
from neurender.checkpoint import CHECKPOINT, FORMAT, load_prediction_weights, read_checkpoint
from neurender.config import CONFIG, load_config
from neurender.tasks import build_task

PREFIX = "pretrained:"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")


def available(effect: str | None = None) -> list[str]:
    """Names of the shipped models (with ``effect``: ``pretrained:NAME`` of those that predict it)."""
    if not os.path.isdir(ROOT):
        return []
    names = sorted(n for n in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, n, CONFIG)))
    if effect is None:
        return names
    return [PREFIX + n for n in names if load_config(os.path.join(ROOT, n)).effect == effect]


def resolve(run: str) -> str:
    """The run folder of ``run``: itself, or the shipped folder of ``pretrained:NAME``."""
    if not run.startswith(PREFIX):
        return run
    name = run[len(PREFIX):]
    if name not in available():
        raise InputError(f"no shipped model {name!r}; shipped: {', '.join(available()) or 'none'}")
    return os.path.join(ROOT, name)


def load_prediction_weights_of(task, run: str) -> None:
    """The prediction weights of run folder or ``pretrained:NAME`` ``run`` into ``task``'s network."""
    run = resolve(run)
    tensors, _ = read_checkpoint(run)
    load_prediction_weights(task, tensors, run)


def pack(run: str, out_dir: str) -> str:
    """Reduce run folder ``run`` to a shipped model in ``out_dir`` (config without EMA, fp16 weights
    of the predicting network, taken from the EMA when there is one); returns the weights' path."""
    config = load_config(run)
    tensors, metadata = read_checkpoint(run)
    task = build_task(dataclasses.replace(config, ema=0.0))
    load_prediction_weights(task, tensors, run)
    os.makedirs(out_dir, exist_ok=True)
    weights = {f"net.{task.main}.{k}": v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
               for k, v in task.networks[task.main].state_dict().items()}
    path = os.path.join(out_dir, CHECKPOINT)
    with atomic_path(path, ".safetensors") as tmp:
        save_file(weights, tmp, metadata={"format": FORMAT, "step": metadata["step"], "model": config.model,
                                          "effect": config.effect, "weights_only": "1"})
    write_json_atomic(os.path.join(out_dir, CONFIG), dataclasses.replace(config, ema=0.0, data=()).to_json())
    return path


RECIPES = {"acgan": "scripts/pretrain.sh", "diffusion": "scripts/pretrain_diffusion.sh"}  # per model family
CARD_SIZES = ((256, 256), (512, 512), (1080, 1920))


def _commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(ROOT), check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _ms_per_frame(run: str) -> dict[str, float]:
    """Median ms of 3 frames per size of CARD_SIZES (after one warm-up), on the CPU."""
    import time

    from neurender.predict import Predictor

    predictor = Predictor(run)
    figures = {}
    for height, width in CARD_SIZES:
        inputs = torch.rand(1, len(predictor.effect.inputs), height, width) + 0.5
        mask = torch.ones(1, 1, height, width)
        times = []
        for _ in range(4):
            start = time.perf_counter()
            predictor(inputs, mask)
            times.append(1000.0 * (time.perf_counter() - start))
        figures[f"{width}x{height}"] = float(sorted(times[1:])[1])
    return figures


def write_card(out_dir: str, source_run: str, eval_dirs: list[str], notes: str | None = None) -> str:
    """MODEL_CARD.md of the shipped model in ``out_dir``: recipe, data, steps, commit, ms per frame,
    the text of the file ``notes`` (the maintainers' reading of the figures, kept beside the card
    as NOTES.md) and the held-out tables of ``eval_dirs`` (as in ``neurender report``); returns its path."""
    import tempfile

    from core.dataset import load_manifest, read_views
    from neurender.calibrate import read_calibration
    from neurender.report import report

    config = load_config(out_dir)
    effect = effects.get(config.effect)
    tensors, metadata = read_checkpoint(out_dir)
    network = next(iter(tensors)).split(".")[1]  # net.NAME.*: the predicting network
    source = load_config(source_run)
    manifests = [load_manifest(data) for data in source.data]
    scenes = [scene for manifest in manifests for scene in manifest["scenes"]]
    render = manifests[0]["generation"]["render"]
    families = sorted({s["source"] for s in scenes})
    lines = [f"# pretrained:{os.path.basename(out_dir)}", "",
             f"- effect `{config.effect}`, model `{config.model}`, {metadata['step']} steps, commit {_commit()}",
             f"- recipe: `{RECIPES[config.model]}` (the exact training config is config.json)",
             f"- data: {len(scenes)} scenes of {', '.join(families)} in {len(manifests)} dataset(s), "
             f"{manifests[0]['views_per_scene']} views each, {render['res']} px, targets at "
             f"{read_views(source.data[0])[0]['spp'][effect.reference_pass]} spp; "
             f"random {source.res} px crops, batch {source.batch}",
             f"- weights: the EMA {network} in fp16 ({os.path.getsize(os.path.join(out_dir, CHECKPOINT)) / 1e6:.1f} MB)",
             *([f"- refines the prediction of `{config.first_guess}` (its first guess)"] if config.first_guess else []),
             *([f"- predicts with the `{config.sampler}` sampler; draws take {config.sample_steps} DDIM step(s)"]
               if config.model == "diffusion" else []),
             f"- ms per frame on this CPU ({torch.get_num_threads()} threads): "
             + ", ".join(f"{size} {ms:.0f}" for size, ms in _ms_per_frame(out_dir).items()), ""]
    calibration = read_calibration(out_dir)
    if calibration:
        raw, fitted = calibration["raw"], calibration["calibrated"]
        lines[-1:-1] = [f"- uncertainty (`std.{effect.targets[0]}`...): the spread of {calibration['samples']} draws of "
                        f"{calibration['steps']} steps times std_scale {calibration['std_scale']:.2f}, fitted with "
                        f"`neurender calibrate` on {calibration['views']} views of {os.path.basename(calibration['data_dir'])} "
                        f"(2-std coverage there {raw['coverage_2std']:.3f} raw, {fitted['coverage_2std']:.3f} fitted)"]
    if notes:
        if not os.path.isfile(notes):
            raise InputError(f"notes file not found: {notes}")
        with open(notes) as handle:
            lines += [handle.read().strip(), ""]
    if eval_dirs:
        with tempfile.TemporaryDirectory() as tmp:
            report(eval_dirs, tmp)
            with open(os.path.join(tmp, "report.md")) as handle:
                tables = [line for line in handle.read().splitlines()[1:] if not line.startswith("![")]
        lines += ["## Held-out evaluation", "", *tables]
    path = os.path.join(out_dir, "MODEL_CARD.md")
    with atomic_path(path, ".md") as tmp_path, open(tmp_path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
