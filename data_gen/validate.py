"""Check a dataset directory against the contract; list every problem with its file."""
from __future__ import annotations

import os

import numpy as np

from neurender.base.dataset import (
    AO,
    DEPTH,
    MANIFEST,
    MASK,
    NORMAL,
    VIEWS,
    load_manifest,
    on_surface,
    parse_view_record,
    view_lines,
)
from neurender.base.errors import InputError
from neurender.base.exr import read_exr
from neurender.base.view import ViewParameters, view_parameters

NORMAL_TOLERANCE = 1e-3

def _check_view(channels: dict[str, np.ndarray], expected: list[str], res: tuple[int, int] | None) -> list[str]:
    problems = [f"missing channel {name}" for name in expected if name not in channels]
    for name, value in channels.items():
        if res and value.shape != res:
            problems.append(f"channel {name} is {value.shape[1]}x{value.shape[0]}, manifest says {res[1]}x{res[0]}")
        if not np.isfinite(value).all():
            problems.append(f"channel {name} has {int((~np.isfinite(value)).sum())} NaN/Inf values")
    if problems:
        return problems
    mask = channels.get(MASK)
    if mask is not None:
        if not np.isin(mask, (0.0, 1.0)).all():
            problems.append("mask.Y holds values other than 0 and 1")
        on = on_surface(mask)
        if all(name in channels for name in NORMAL):
            length = np.sqrt(sum(channels[name] ** 2 for name in NORMAL))
            bad = int((np.abs(length - 1) > NORMAL_TOLERANCE)[on].sum())
            if bad:
                problems.append(f"{bad} masked pixels have normals that are not unit length")
        depth = channels.get(DEPTH[0])
        if depth is not None and (depth[on] <= 0).any():
            problems.append(f"{int((depth[on] <= 0).sum())} masked pixels have depth <= 0")
    if AO in channels and ((channels[AO] < 0) | (channels[AO] > 1)).any():
        problems.append("ao.Y has values outside [0, 1]")
    return problems

def _check_scene(scene: dict) -> list[str]:
    """What is wrong with a manifest scene entry: its channel list, its view parameters (the ranges every
    reader enforces, `neurender.base.view.view_parameters`)."""
    channels = scene.get("channels")
    problems = [] if isinstance(channels, list) and all(isinstance(c, str) for c in channels) else \
        [f"channels is {channels!r}, not a list of channel names"]
    return problems + _parameter_problems(scene, {})

def _check_camera(record: dict, channels: dict[str, np.ndarray]) -> list[str]:
    """A view record's camera against its EXR's size, and its view parameters."""
    camera, problems = record.get("camera") or {}, []
    size = next(iter(channels.values())).shape if channels else None
    if size and ("width" in camera or "height" in camera) and (camera.get("height"), camera.get("width")) != size:
        problems.append(f"camera says {camera.get('width')}x{camera.get('height')}, the EXR is {size[1]}x{size[0]}")
    return problems + _parameter_problems({}, record)

def _parameter_problems(scene: dict, record: dict) -> list[str]:
    """The view parameters of a scene entry or a view record out of their ranges (a field of view of 0 too,
    which readers take for none)."""
    camera = record.get("camera") or scene.get("camera") or {}
    try:
        if "fov_x" in camera:
            ViewParameters(fov_x=float(camera["fov_x"]))
        view_parameters(scene, record)
    except (ValueError, TypeError) as exc:  # InputError is a ValueError
        return [f"view parameters: {exc}"]
    return []

def validate(directory: str) -> list[tuple[str, str]]:
    """Problems found as (file, message); empty when the dataset follows the contract."""
    manifest_path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(manifest_path):
        return [(manifest_path, "manifest missing")]
    try:
        manifest = load_manifest(directory)
        scenes = {s["id"]: s for s in manifest["scenes"]}
        views = manifest["views_per_scene"]
        if isinstance(views, bool) or not isinstance(views, int) or views < 1:
            raise ValueError(f"views_per_scene is {views!r}, not a positive integer")
    except (InputError, KeyError, ValueError) as exc:
        return [(manifest_path, f"manifest unreadable or incomplete: {exc}")]
    res = manifest.get("generation", {}).get("render", {}).get("res")
    problems, recorded, records = [], {}, {}
    if res is not None and (isinstance(res, bool) or not isinstance(res, int) or res < 1):
        problems.append((manifest_path, f"generation.render.res is {res!r}, not a positive integer"))
        res = None
    shape = (res, res) if res else None
    for scene_id, scene in scenes.items():
        problems += [(manifest_path, f"scene {scene_id}: {message}") for message in _check_scene(scene)]
    views_path = os.path.join(directory, VIEWS)
    for number, line, torn in view_lines(directory):
        try:
            record = parse_view_record(line)
        except ValueError as exc:
            problems.append((views_path, f"line {number}{' (torn last line)' if torn else ''}: {exc}"))
            continue
        key = (record["scene"], record["view"])
        if key in recorded:
            problems.append((views_path, f"line {number}: view {key[1]} of {key[0]} recorded twice"))
        if not 0 <= key[1] < views:
            problems.append((views_path, f"line {number}: view {key[1]} is outside the dataset's {views} views"))
        recorded[key], records[key] = record["file"], record
    for scene_id in scenes:
        for view in range(views):
            if (scene_id, view) not in recorded:
                problems.append((os.path.join(directory, scene_id), f"view {view} not in {VIEWS}"))
    for (scene_id, view), relative in sorted(recorded.items()):
        path = os.path.join(directory, relative)
        if scene_id not in scenes:
            problems.append((path, f"scene {scene_id} is not in the manifest"))
            continue
        try:
            channels = read_exr(path)
        except InputError as exc:
            problems.append((path, str(exc)))
            continue
        listed_channels = scenes[scene_id].get("channels")
        expected = listed_channels if isinstance(listed_channels, list) else []
        problems += [(path, message) for message in _check_view(channels, expected, shape)
                     + _check_camera(records[scene_id, view], channels)]
    listed = {os.path.normpath(f) for f in recorded.values()}
    for scene_id in scenes:
        folder = os.path.join(directory, scene_id)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith(".exr") and not name.startswith(".tmp-") and os.path.join(scene_id, name) not in listed:
                problems.append((os.path.join(folder, name), f"EXR not recorded in {VIEWS}"))
    return problems
