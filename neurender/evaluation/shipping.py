"""Export a run: a shipped model folder (what prediction needs, and nothing else) or an ONNX file.

A shipped model is a run folder (`neurender.run.runs`) holding ``config.json`` (no EMA, no data
paths, no ``init``: the recipe in its notes says where it started) and a checkpoint with only the
predicting network's weights, taken from the EMA when there is one, in fp16, beside its model card
(`neurender.evaluation.model_card`).
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import tempfile

import torch
from safetensors.torch import save_file

from neurender import effects
from neurender.base.atomic import atomic_path, write_json_atomic
from neurender.base.errors import InputError
from neurender.base.lock import folder_lock
from neurender.base.paths import check_apart, check_output_file
from neurender.evaluation.model_card import check_notes, write_card
from neurender.evaluation.report import load_summary
from neurender.evaluation.timing import measure_in_child
from neurender.inference.onnx import export_onnx
from neurender.inference.predictor import Predictor
from neurender.inference.sampling import SamplingOptions
from neurender.models import gate
from neurender.run import runs
from neurender.run.catalog import METRICS, Figures, Quality
from neurender.run.checkpoint import FORMAT, NETWORK
from neurender.run.families import FAMILIES, predicting

MAX_ONNX_SIDE = 8192
"""The largest image side an exported ONNX graph takes (it holds fixed pooling matrices per size; larger
frames: ``predict --tile``)."""


def pack(name: str, out_dir: str) -> str:
    """Reduce run ``name`` (a folder or ``pretrained:NAME``) to a shipped model in ``out_dir``;
    returns the weights' path."""
    run = runs.open_run(name)
    _, metadata = run.read_checkpoint()
    main = FAMILIES[run.config.model].main
    os.makedirs(out_dir, exist_ok=True)
    weights = {f"{NETWORK}{main}.{k}": v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
               for k, v in predicting(run).network.state_dict().items()}
    path = runs.path(out_dir, runs.CHECKPOINT)
    with atomic_path(path, ".safetensors") as tmp:
        save_file(weights, tmp, metadata={"format": FORMAT, "step": metadata["step"], "model": run.config.model,
                                          "effect": run.config.effect})
    runs.save_config(out_dir, dataclasses.replace(run.config.for_prediction(), data=(), init=""))
    return path


def export_shipped(name: str, out: str, eval_dirs: list[str], notes: str | None,
                   card_sizes: list[tuple[int, int]] = ((256, 256),)) -> None:
    """Pack run ``name`` into the shipped model folder ``out`` with its model card, timed at ``card_sizes``
    (height, width). Every input is checked first; the files are made in a temporary folder beside ``out``
    and moved in at the end (a calibration.json already in ``out`` is kept and described by the card; the
    run's trust gate comes along, and a gate in ``out`` fitted for other weights goes), so a failure leaves
    ``out`` as it was, and the temporary folder of an export killed before is removed by the next."""
    check_notes(notes)
    for eval_dir in eval_dirs:
        load_summary(eval_dir)
    source = runs.open_run(name)
    check_apart(out, [runs.resolve(name)])  # the run it exports is never written over
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {out}: {parent} does not exist")
    prefix = f".tmp-export-{os.path.basename(os.path.abspath(out))}-"
    with folder_lock(out, "neurender export"):
        for stale in os.listdir(parent):  # the lock is ours: no export into ``out`` is running
            if stale.startswith(prefix) and os.path.isdir(os.path.join(parent, stale)):
                shutil.rmtree(os.path.join(parent, stale))
        with tempfile.TemporaryDirectory(prefix=prefix, dir=parent) as tmp:
            _pack_into(name, source, out, tmp, eval_dirs, notes, card_sizes)


def _pack_into(name: str, source, out: str, tmp: str, eval_dirs: list[str], notes: str | None, sizes) -> None:
    """Export's files made in ``tmp``, then moved into ``out``."""
    if os.path.isfile(runs.path(out, runs.CALIBRATION)):
        shutil.copy(runs.path(out, runs.CALIBRATION), tmp)
    has_gate = os.path.isfile(runs.path(source.folder, gate.FILE))
    if has_gate:
        shutil.copy(runs.path(source.folder, gate.FILE), tmp)
    print(f"weights: {runs.path(out, os.path.basename(pack(name, tmp)))}")
    print(f"timing {', '.join(f'{w}x{h}' for h, w in sizes)} frames for the model card")
    card = write_card(tmp, source.folder, eval_dirs, notes, sizes=sizes, name=os.path.basename(os.path.normpath(out)))
    for file in os.listdir(tmp):
        os.replace(os.path.join(tmp, file), os.path.join(out, file))
    if not has_gate and os.path.isfile(runs.path(out, gate.FILE)):
        os.remove(runs.path(out, gate.FILE))
        print(f"removed {runs.path(out, gate.FILE)}: it was fitted for other weights")
    print(f"model card: {runs.path(out, os.path.basename(card))}")


def export_onnx_file(name: str, out: str, size: tuple[int, int]) -> str:
    """Run ``name``'s predicting network as the ONNX file ``out`` taking frames of ``size`` (height, width),
    rounded up to the network's stride; a diffusion run exports its one-evaluation estimate (the mean
    sampler), its first-guess GAN inside. Returns the file's path."""
    check_apart(out, [runs.resolve(name)])  # the run it exports is never written over
    check_output_file(out, "ONNX")
    if max(size) > MAX_ONNX_SIDE:
        raise InputError(f"--size {size[1]}x{size[0]}: an ONNX graph takes at most {MAX_ONNX_SIDE} pixels a side "
                         "(larger frames: predict --tile)")
    predictor = Predictor(name, SamplingOptions(sampler="mean", samples=1))
    height, width = (-(-s // predictor.stride) * predictor.stride for s in size)
    return export_onnx(predictor.network, len(predictor.channels), out, height, width)


FIGURES_FRAME = (1080, 1920)
"""(height, width) of the frame timed for a shipped model's figures."""


def write_figures(name: str, eval_dir: str, suite: str, command: str, frame: tuple[int, int] = FIGURES_FRAME,
                  repeats: int = 3) -> Figures:
    """Write the `neurender.run.catalog.Figures` of the shipped model ``name`` (``pretrained:NAME``) into
    its folder: its surface means and its effect's classic method's (``first_guess``) in the evaluation
    ``eval_dir``, which scored both, and the median ms of ``repeats`` frames after one untimed frame, of a
    ``frame`` (height, width; labelled 1080p) of that evaluation's dataset, in a fresh process on the CPU.
    ``suite`` names the views for a reader, ``command`` says how the evaluation was made."""
    if not name.startswith(runs.PREFIX):
        raise InputError(f"{name} is not a shipped model (pretrained:NAME)")
    folder = runs.resolve(name)  # InputError for an unknown shipped name
    summary = load_summary(eval_dir)
    classic = effects.get(summary["effect"]).first_guess
    missing = [m for m in (name, classic) if m not in summary["methods"]]
    if missing:
        raise InputError(f"{eval_dir} did not score {', '.join(missing)}")
    timed = measure_in_child(name, summary["data_dir"], *frame, repeats=repeats, warm_up=True)
    if "error" in timed:
        raise InputError(f"timing {name} failed: {timed['error']}")
    means = {m: Quality(**{k: summary["methods"][m]["mean"][k] for k in METRICS}) for m in (name, classic)}
    figures = Figures(suite=suite, views=summary["views_masked"], model=means[name], classic_method=classic,
                      classic=means[classic], ms_1080p=round(timed["ms"], 1),
                      timing=f"{frame[1]}x{frame[0]}, cpu, {torch.get_num_threads()} threads, median of {repeats} "
                             "after one untimed",
                      command=command, measured=datetime.date.today().isoformat())
    Figures.from_json(figures.to_json(), name)  # the checks a reader makes: finite, positive
    write_json_atomic(runs.path(folder, runs.FIGURES), figures.to_json())
    return figures
