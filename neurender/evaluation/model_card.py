"""The model card of a shipped model (MODEL_CARD.md in its run folder): recipe, data, steps,
commit, ms per frame, the maintainers' notes and the held-out tables of its evaluations."""
from __future__ import annotations

import os
import subprocess
import time

import torch

from neurender import effects
from neurender.base.atomic import atomic_path
from neurender.base.dataset import load_manifest, read_views
from neurender.base.errors import InputError
from neurender.base.view import SYNTHETIC_VIEW
from neurender.evaluation.report import load_summary, markdown_section
from neurender.inference.predictor import Predictor
from neurender.run import runs
from neurender.run.families import FAMILIES

RECIPES = {"acgan": "scripts/pretrain.sh", "diffusion": "scripts/pretrain_diffusion.sh",
           "fast": "scripts/pretrain.sh (MODEL=fast INPUTS=derived SUFFIX=-fast)"}  # per model family
CARD_SIZES = ((256, 256),)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(runs.SHIPPED), check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _ms_per_frame(folder: str, sizes) -> dict[str, float]:
    """Median ms of 3 frames per (height, width) of ``sizes`` (after one warm-up), on the CPU."""
    predictor = Predictor(folder)
    figures = {}
    for height, width in sizes:
        inputs = torch.rand(1, len(predictor.effect.inputs), height, width) + 0.5
        mask = torch.ones(1, 1, height, width)
        times = []
        for _ in range(4):
            start = time.perf_counter()
            predictor.predict(inputs, mask, SYNTHETIC_VIEW)[0]
            times.append(1000.0 * (time.perf_counter() - start))
        figures[f"{width}x{height}"] = float(sorted(times[1:])[1])
    return figures


def size_text(size: int) -> str:
    """A file size in bytes, as MB (kB under 0.1 MB)."""
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def check_notes(notes: str | None) -> None:
    """InputError unless ``notes`` is None or an existing file."""
    if notes and not os.path.isfile(notes):
        raise InputError(f"notes file not found: {notes}")


def write_card(out_dir: str, source_run: str, eval_dirs: list[str], notes: str | None = None,
               sizes=CARD_SIZES, name: str | None = None) -> str:
    """MODEL_CARD.md of the shipped model in ``out_dir`` (packed from run folder ``source_run``):
    recipe, data, steps, commit, ms per frame, the text of the file ``notes`` (the maintainers'
    reading of the figures, kept beside the card as NOTES.md) and the held-out tables of
    ``eval_dirs`` (as in ``neurender report``), timed at ``sizes`` (height, width); ``name`` is the
    shipped name (default: the folder's); returns its path."""
    check_notes(notes)
    shipped = runs.open_run(out_dir)
    config = shipped.config
    effect = effects.get(config.effect)
    _, metadata = shipped.read_checkpoint()
    network = FAMILIES[config.model].main
    source = runs.load_config(source_run)
    manifests = [load_manifest(data) for data in source.data]
    scenes = [scene for manifest in manifests for scene in manifest["scenes"]]
    views = sum(len(m["scenes"]) * m["views_per_scene"] for m in manifests)
    sizes_px = sorted({m["generation"]["render"]["res"] for m in manifests})
    families = sorted({s["source"] for s in scenes})
    lines = [f"# pretrained:{name or os.path.basename(os.path.normpath(out_dir))}", "",
             f"- effect `{config.effect}`, model `{config.model}`, {metadata['step']} steps, commit {_commit()}",
             f"- recipe: `{RECIPES[config.model]}` (the exact training config is config.json)",
             f"- data: {len(scenes)} scenes of {', '.join(families)} in {len(manifests)} dataset(s), "
             f"{views} views, {'-'.join(map(str, sizes_px[::max(1, len(sizes_px) - 1)]))} px, targets at "
             f"{read_views(source.data[0])[0]['spp'][effect.reference_pass]} spp; "
             f"random {source.crop} px crops, batch {source.batch}",
             f"- weights: the EMA {network} in fp16 ({size_text(os.path.getsize(shipped.checkpoint_path))})",
             *([f"- refines the prediction of `{config.first_guess}` (its first guess)"] if config.first_guess else []),
             *([f"- predicts with the `{config.sampler}` sampler; draws take {config.sample_steps} DDIM step(s)"]
               if FAMILIES[config.model].kind.stochastic else []),
             f"- ms per frame on this CPU ({torch.get_num_threads()} threads): "
             + ", ".join(f"{size} {ms:.0f}" for size, ms in _ms_per_frame(out_dir, sizes).items()), ""]
    calibration = shipped.calibration()
    if calibration:
        raw, fitted = calibration["raw"], calibration["calibrated"]
        lines[-1:-1] = [f"- uncertainty (`std.{effect.targets[0]}`...): the spread of {calibration['samples']} draws of "
                        f"{calibration['steps']} steps (before any trust gate) times std_scale "
                        f"{calibration['std_scale']:.2f}, fitted with `neurender calibrate` on {calibration['views']} views "
                        f"of {os.path.basename(calibration['data_dir'])} "
                        f"(2-std coverage there {raw['coverage_2std']:.3f} raw, {fitted['coverage_2std']:.3f} fitted)"]
    if notes:
        with open(notes) as handle:
            lines += [handle.read().strip(), ""]
    if eval_dirs:
        lines += ["## Held-out evaluation", "", *(line for d in eval_dirs for line in markdown_section(load_summary(d)))]
    path = runs.path(out_dir, runs.MODEL_CARD)
    with atomic_path(path, ".md") as tmp_path, open(tmp_path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
