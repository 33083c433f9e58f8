"""`neurender demo`: the whole flow on the built-in scenes, small enough for a CPU.

Two sizes (`PROFILES`): the default takes a few minutes on 2 cores; ``--full`` (about 40
minutes) renders more and larger views and trains longer.

1. generate a dataset (forest, objects, room; ``count`` of each) and a contact sheet per scene;
2. train an attention cGAN for fog and for AO, and a conditional diffusion model for AO;
3. render the held-out scene again as a separate test dataset at ``TEST_SPP_FACTOR`` x the
   training spp on every other camera (same seed: a converged reference), and evaluate the shipped
   models (``pretrained:NAME``) and the demo's own short runs beside the classic baselines, the
   path tracer and path tracing + OIDN on it;
4. write the report (``OUT/report/index.html``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Annotated

import tyro

import scenes
from data_gen.generator import GenerateOptions, generate
from data_gen.options import RenderOptions
from data_gen.validate import validate
from neurender.base.dataset import load_manifest, read_views
from neurender.base.errors import InputError
from neurender.base.exr import read_exr
from neurender.base.variant import RenderVariant, use_variant
from neurender.data import split_scenes
from neurender.device import DeviceOptions, resolve_device
from neurender.effects import EFFECTS
from neurender.evaluation.evaluate import evaluate
from neurender.evaluation.pictures import contact_sheet
from neurender.evaluation.report import report
from neurender.run import runs
from neurender.run.config import TrainConfig
from neurender.training.train import train

DEMO_SCENES = ("forest", "objects", "room")
DEMO_RUNS = (("acgan", "fog", 1, 2e-4), ("acgan", "ao", 1, 2e-4), ("diffusion", "ao", 2, 1e-3))
"""(model, effect, steps per --iters step, learning rate) of the demo's runs: a diffusion step costs about
half a GAN step, so it takes twice as many."""
# the held-out scene's reference: 64 x the training spp on half its views, so that its noise floor
# is SSIM >= 0.95 for every effect, fog included (docs/evaluation.md, "Test sets with converged references")
TEST_SPP_FACTOR = 64
PROFILES = {"fast": {"res": 64, "spp": 16, "views": 4, "count": 1, "iters": 150},
            "full": {"res": 128, "spp": 64, "views": 8, "count": 2, "iters": 600}}
"""The demo's sizes: the default (``fast``) and ``--full``."""


def _sheets(dataset: str, out: str) -> list[str]:
    os.makedirs(out, exist_ok=True)
    scene_ids = [s["id"] for s in load_manifest(dataset)["scenes"]]
    records = {(r["scene"], r["view"]): r for r in read_views(dataset)}
    sheets = []
    for scene_id in scene_ids:
        path = os.path.join(out, f"{scene_id}.png")
        contact_sheet(read_exr(os.path.join(dataset, records[(scene_id, 0)]["file"])), path, title=f"{scene_id} view 0")
        sheets.append(path)
    return sheets


def _test_options(dataset: str, options: GenerateOptions, test_spp: int) -> GenerateOptions:
    """The held-out scene of ``dataset`` at ``test_spp`` with the training dataset's seed, on every
    other camera of its orbit (views 0, 2, 4, ...)."""
    entries = {s["id"]: s for s in load_manifest(dataset)["scenes"]}
    (held_out,) = split_scenes(list(entries), "test")
    views = max(1, options.views // 2)
    test = replace(options, scenes=(entries[held_out]["source"],), count=1, views=views,
                   step_deg=options.step_deg * options.views / views,
                   render=replace(options.render, spp=test_spp, spp_direct=None, spp_ao=None))
    if scenes.resolve(list(test.scenes), 1, test.seed)[0].seed != entries[held_out]["seed"]:
        raise RuntimeError(f"the held-out scene {held_out} is not the first instance of its kind")
    return test


def run_demo(out: str, res: int, spp: int, views: int, count: int, iters: int, workers: int = 2,
             train_res: int = 64, devices: DeviceOptions = DeviceOptions()) -> str:
    """Run the demo into ``out``; returns the report's path. Every step resumes if run again."""
    resolve_device(devices.device)  # refused before minutes of rendering

    dataset = os.path.join(out, "dataset")
    options = GenerateOptions(DEMO_SCENES, count=count, views=views, step_deg=360.0 / views, seed=0,
                              render=RenderOptions(res=res, spp=spp))
    print(f"demo 1/4: rendering {len(DEMO_SCENES) * count} scenes x {views} views at {res}x{res}, {spp} spp")
    generate(options, dataset, workers=workers)
    problems = validate(dataset)
    if problems:
        raise InputError(f"demo dataset failed validation: {problems[0][0]}: {problems[0][1]}")
    for path in _sheets(dataset, os.path.join(out, "sheets")):
        print(f"  contact sheet {path}")

    demo_runs = {}
    for model, effect, factor, lr in DEMO_RUNS:
        run = os.path.join(out, "runs", f"{model}_{effect}")
        demo_runs.setdefault(effect, []).append(run)
        steps = factor * iters
        config = TrainConfig(model=model, effect=effect, data=dataset, iters=steps, crop=min(train_res, res),
                             sample_every=max(1, steps // 4), checkpoint_every=max(1, steps // 4), lr=lr)
        print(f"demo 2/4: training {model} for {effect} ({steps} steps) into {run}")
        done = os.path.exists(runs.path(run, runs.CHECKPOINT))
        train(config, run, resume=done, devices=devices)

    test_dataset = os.path.join(out, "test_dataset")
    test = _test_options(dataset, options, TEST_SPP_FACTOR * spp)
    print(f"demo 3/4: rendering the held-out scene {test.scenes[0]} again ({test.views} views) "
          f"at {test.render.spp} spp into {test_dataset}")
    generate(test, test_dataset, workers=workers)
    evaluations = []
    for effect, record in EFFECTS.items():
        eval_dir = os.path.join(out, "eval", effect)
        print(f"demo 3/4: evaluating {effect} on the held-out scene (surface figures)")
        shipped = runs.shipped(effect)
        summary = evaluate(test_dataset, effect, list(record.baselines) + shipped + demo_runs.get(effect, []), eval_dir,
                           path_tracer_curve=True, devices=devices)
        floor = summary["noise_floor"]
        print(f"  {'noise floor':18s} SSIM {floor['ssim']:.3f}  PSNR {floor['psnr']:6.2f}  "
              f"(the reference again, {floor['spp']} spp)")
        for name, m in summary["methods"].items():
            speedups = [summary[key]["speedup"][name] for key in ("path_tracer", "pt_oidn")]
            print(f"  {name:18s} SSIM {m['mean']['ssim']:.3f}  PSNR {m['mean']['psnr']:6.2f}  "
                  f"{m['ms_per_frame']:7.1f} ms/frame  speed-up over PT "
                  + "  over PT + OIDN ".join("n/a" if x is None else f"{x:.1f}x" for x in speedups))
        evaluations.append(eval_dir)
    page = report(evaluations, os.path.join(out, "report"))
    print(f"demo 4/4: report {page}")
    return page


@dataclass(kw_only=True)
class DemoCommand:
    """The whole flow on the built-in scenes: data, training, evaluation, report (resumes if run again)."""

    out: str = "demo_out"
    """Demo folder."""
    full: bool = False
    """The converged demo (about 40 minutes on 2 cores: 128 px, 64 spp, 8 views of 2 scenes of each
    family, 600 steps); by default 64 px, 16 spp, 4 views of 1 of each, 150 steps (a few minutes)."""
    res: int | None = None
    """Image size of the dataset (none: the size's)."""
    spp: int | None = None
    """Samples per pixel of the training dataset (the test set has TEST_SPP_FACTOR times more; none: the size's)."""
    views: int | None = None
    """Views per scene (none: the size's)."""
    count: int | None = None
    """Instances of each built-in scene (none: the size's)."""
    iters: int | None = None
    """Training steps of each GAN, twice as many for diffusion (none: the size's)."""
    workers: int = 2
    """Parallel render processes."""
    devices: Annotated[DeviceOptions, tyro.conf.arg(name="")] = field(default_factory=DeviceOptions)
    """Where the networks run."""
    rendering: Annotated[RenderVariant, tyro.conf.arg(name="")] = field(default_factory=RenderVariant)
    """Where Mitsuba renders."""


def run_demo_command(command: DemoCommand) -> int:
    use_variant(command.rendering.variant)
    sizes = PROFILES["full" if command.full else "fast"]
    given = {key: getattr(command, key) for key in sizes if getattr(command, key) is not None}
    run_demo(command.out, workers=command.workers, devices=command.devices, **(sizes | given))
    return 0


COMMANDS = {"demo": (DemoCommand, run_demo_command)}
