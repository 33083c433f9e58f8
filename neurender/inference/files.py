"""Predict EXR files: every G-buffer EXR of a file or folder in, one prediction EXR out each.

A scaled run (`neurender.run.inputs`) also needs the view's parameters (field of view, AO
radius, fog density): an EXR of a neurender dataset takes them from its manifest; options given
(`neurender.base.view.ViewParameters` fields that are set) replace those.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import fields, replace

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from neurender import effects, space
from neurender.base.atomic import atomic_path
from neurender.base.dataset import DIRECT, MANIFEST, load_manifest, read_view_records
from neurender.base.errors import InputError
from neurender.base.exr import read_exr, write_exr
from neurender.base.lock import folder_lock
from neurender.base.view import ViewParameters
from neurender.base.view import view_parameters as view_parameters_of
from neurender.inference import named
from neurender.inference.predictor import Predictor


def _exr_files(path: str) -> list[tuple[str, str]]:
    """(file, path relative to the input) of an EXR or of every EXR under a directory; symbolic links
    under the directory are not followed (a link to a folder above would loop)."""
    if os.path.isfile(path):
        return [(path, os.path.basename(path))]
    if os.path.isdir(path):
        files = sorted(os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names
                       if name.endswith(".exr") and not name.startswith(".tmp-")
                       and not os.path.islink(os.path.join(folder, name)))
        if not files:
            raise InputError(f"no EXR files under {path}")
        return [(f, os.path.relpath(f, path)) for f in files]
    raise InputError(f"input not found: {path}")


def check_output(input_path: str, out_dir: str) -> None:
    """InputError when predictions written into ``out_dir`` could land on an input: ``out_dir`` is
    the input folder or inside it, the folder of an input file, or a dataset."""
    source, out = os.path.realpath(input_path), os.path.realpath(out_dir)
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError(f"--out {out_dir} is a file, not a folder")
    folder = source if os.path.isdir(source) else os.path.dirname(source)
    if out == folder or (os.path.isdir(source) and out.startswith(folder + os.sep)):
        raise InputError(f"--out {out_dir} is or lies inside the input {input_path}: predictions would overwrite "
                         "or mix with the G-buffers; choose another folder")
    if os.path.isfile(os.path.join(out, MANIFEST)):
        raise InputError(f"--out {out_dir} holds a dataset ({MANIFEST}); choose another folder")


def _dataset_root(path: str) -> str | None:
    """The neurender dataset holding EXR ``path`` (the nearest folder above with a manifest), or None."""
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.isfile(os.path.join(folder, MANIFEST)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def load_gbuffer(path: str) -> dict[str, np.ndarray]:
    """Every channel of G-buffer EXR ``path`` as name -> (H, W) float32 (InputError when unreadable)."""
    return read_exr(path)


def load_view(path: str) -> ViewParameters:
    """The parameters of the view in EXR ``path`` of a neurender dataset (from its manifest and
    views.jsonl); InputError when the file lies in no dataset or is not one of its views."""
    views = view_parameters([path], UNSET)
    if views[path] is None:
        raise InputError(f"{path} is not a view of a neurender dataset: give the view's parameters "
                         "(fov_x, ao_radius, sigma_t) yourself")
    return views[path]


def view_parameters(paths: list[str], given: ViewParameters) -> dict[str, ViewParameters | None]:
    """The parameters of the view in each EXR of ``paths``: its dataset's (read from the manifest and
    views.jsonl once per dataset; None for a file of no dataset when nothing is ``given``) with the
    set fields of ``given`` in their place."""
    views, datasets = {}, {}
    for path in paths:
        view, root = None, _dataset_root(path)
        if root is not None:
            if root not in datasets:
                scenes = {s["id"]: s for s in load_manifest(root)["scenes"]}
                datasets[root] = {os.path.normpath(r["file"]): view_parameters_of(scenes[r["scene"]], r)
                                  for r in read_view_records(root) if r["scene"] in scenes}
            view = datasets[root].get(os.path.relpath(os.path.abspath(path), root))
        set_fields = {f.name: getattr(given, f.name) for f in fields(given) if getattr(given, f.name) is not None}
        views[path] = replace(view or ViewParameters(), **set_fields) if view or set_fields else None
    return views


UNSET = ViewParameters(background_distance=None)
"""No view parameter given."""
RECORD = "prediction.json"
"""The file of a prediction folder that names the model whose predictions it holds."""


def _claim(out_dir: str, predictor: Predictor) -> None:
    """Record in ``out_dir`` which model writes there; InputError when it holds another model's predictions."""
    path = os.path.join(out_dir, RECORD)
    mine = {"run": predictor.run.name, "folder": os.path.realpath(predictor.run.folder),
            "effect": predictor.effect.name}
    if os.path.lexists(path):
        try:
            with open(path) as handle:
                theirs = json.load(handle)
        except (OSError, ValueError):
            theirs = {}
        if os.path.islink(path) or theirs.get("folder") != mine["folder"]:
            raise InputError(f"--out {out_dir} holds predictions of {theirs.get('run', 'another model')} ({RECORD}); "
                             f"write those of {mine['run']} into another folder")
        return
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        json.dump(mine, handle)


def missing_hint(path: str, needed: list[str]) -> str:
    """What to do about an EXR that lacks channels ``needed`` ("" when nothing more can be said): convert a
    Blender multilayer EXR first; export the direct light that GI reads."""
    names = set(read_exr(path))
    if any(name.startswith("ViewLayer.") for name in names):
        return "; it is a Blender multilayer EXR: run neurender convert --preset blender on it first"
    if DIRECT[0] in needed and DIRECT[0] not in names:
        return ("; direct.R/G/B is the direct light (in Blender: enable the Diffuse Direct and Diffuse Color "
                "passes, and Glossy, Emission and Environment, then neurender convert --preset blender sums them)")
    return ""


def preview(prediction: dict[str, np.ndarray], effect: str | effects.Effect) -> np.ndarray:
    """A prediction (what a `Predictor` returns: channel name -> (H, W) array) of ``effect`` (``"ao"``,
    ``"fog"``, ``"gi"`` or an `neurender.effects.Effect`) for display, (H, W, 3) uint8: its targets
    tone-mapped as pictures and metrics are (`neurender.space.display`; AO as grey), and beside them,
    when it has ``std.*`` channels, the uncertainty as grey scaled to its largest value (then (H, 2 W, 3)).
    What ``predict --preview`` writes as PNG."""
    effect = effects.get(effect) if isinstance(effect, str) else effect
    missing = [name for name in effect.targets if name not in prediction]
    if missing:
        raise InputError(f"the prediction lacks {', '.join(missing)} ({effect.name}'s channels)")
    def shown(names, hdr):
        image = torch.from_numpy(np.stack([prediction[n] for n in names], -1))
        return space.display(image, hdr).expand(*image.shape[:2], 3).numpy()

    panels = [shown(effect.targets, effect.hdr)]
    spread = [f"std.{name}" for name in effect.targets]
    if all(name in prediction for name in spread):
        std = np.mean([prediction[name] for name in spread], axis=0)
        panels.append(np.repeat((std / max(float(std.max()), 1e-12))[..., None], 3, -1))
    return np.round(np.concatenate(panels, 1) * 255).astype(np.uint8)


def predict_files(predictor: Predictor, input_path: str, out_dir: str, progress: bool = True,
                  given: ViewParameters = UNSET, previews: bool = False) -> list[str]:
    """Predict every EXR of ``input_path`` into ``out_dir`` (same relative paths); returns the files
    written. ``given``: view parameters that replace a dataset's (unset fields are None); ``previews``:
    also a PNG of each prediction (`preview`) beside its EXR.

    Output channels are the dataset's target names (``fog.R/G/B``, ``ao.Y`` or ``R,G,B``); a
    diffusion model also writes ``std.<name>``, the per-pixel standard deviation of its draws (its
    uncertainty; 0 with one draw). The folder is locked while it is written (`neurender.base.lock`)
    and records the model in `RECORD`: predictions of another model are refused there.
    """
    files = _exr_files(input_path)
    check_output(input_path, out_dir)
    effect, sampling = predictor.effect, predictor.sampling
    needed = list(effect.inputs) + [effects.MASK]
    for path, _ in files:  # every input checked before anything is written
        try:
            channels = read_exr(path, needed)
        except InputError as exc:
            raise InputError(f"{exc}{missing_hint(path, needed)}") from None
        try:
            named.check_contract(channels)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    views = view_parameters([path for path, _ in files], given)
    if predictor.config.reads_view:
        for path, view in views.items():
            (view or ViewParameters()).require(effect.parameters, f"{predictor.run.label} ({os.path.basename(path)})")
    if predictor.model.stochastic and sampling.samples > 1 and not predictor.calibrated:
        print(f"note: std.* is the raw spread of the draws: {predictor.run.name} has no calibration for the "
              f"{sampling.sampler} sampler, {sampling.steps} steps and {sampling.samples} samples "
              "(neurender calibrate)", file=sys.stderr)
    written = []
    with folder_lock(out_dir, "neurender predict"):
        _claim(out_dir, predictor)
        for path, relative in tqdm(files, unit="view", disable=None if progress else True):
            target = os.path.join(out_dir, relative)
            folder = os.path.dirname(target)
            os.makedirs(folder, exist_ok=True)
            if os.path.realpath(folder) != os.path.join(os.path.realpath(out_dir), os.path.dirname(relative)).rstrip(os.sep):
                raise InputError(f"{folder} leads out of --out {out_dir} through a symbolic link; remove the link")
            prediction = predictor(read_exr(path, needed), views[path])
            write_exr(target, prediction)
            written.append(target)
            if previews:
                png = os.path.splitext(target)[0] + ".png"
                with atomic_path(png, ".png") as tmp:
                    Image.fromarray(preview(prediction, effect)).save(tmp, format="PNG")
                written.append(png)
    return written
