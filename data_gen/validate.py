"""Check a dataset directory against the contract; list every problem with its file."""
from __future__ import annotations

import json
import os

import numpy as np

from neurender.base.dataset import MANIFEST, VIEWS, parse_view_record, view_lines
from neurender.base.errors import InputError
from neurender.base.exr import read_exr

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
    mask = channels.get("mask.Y")
    if mask is not None:
        if not np.isin(mask, (0.0, 1.0)).all():
            problems.append("mask.Y holds values other than 0 and 1")
        on = mask > 0.5
        if all(f"normal.{a}" in channels for a in "XYZ"):
            length = np.sqrt(sum(channels[f"normal.{a}"] ** 2 for a in "XYZ"))
            bad = int((np.abs(length - 1) > NORMAL_TOLERANCE)[on].sum())
            if bad:
                problems.append(f"{bad} masked pixels have normals that are not unit length")
        if "depth.Z" in channels and (channels["depth.Z"][on] <= 0).any():
            problems.append(f"{int((channels['depth.Z'][on] <= 0).sum())} masked pixels have depth <= 0")
    if "ao.Y" in channels and ((channels["ao.Y"] < 0) | (channels["ao.Y"] > 1)).any():
        problems.append("ao.Y has values outside [0, 1]")
    return problems


def validate(directory: str) -> list[tuple[str, str]]:
    """Problems found as (file, message); empty when the dataset follows the contract."""
    manifest_path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(manifest_path):
        return [(manifest_path, "manifest missing")]
    try:
        with open(manifest_path) as handle:
            manifest = json.load(handle)
        scenes = {s["id"]: s for s in manifest["scenes"]}
        views = int(manifest["views_per_scene"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [(manifest_path, f"manifest unreadable or incomplete: {exc}")]
    res = manifest.get("generation", {}).get("render", {}).get("res")
    shape = (res, res) if res else None
    problems, recorded = [], {}
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
        recorded[key] = record["file"]
    for scene_id, scene in scenes.items():
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
        problems += [(path, message) for message in _check_view(channels, scenes[scene_id]["channels"], shape)]
    listed = {os.path.normpath(f) for f in recorded.values()}
    for scene_id in scenes:
        folder = os.path.join(directory, scene_id)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith(".exr") and not name.startswith(".tmp-") and os.path.join(scene_id, name) not in listed:
                problems.append((os.path.join(folder, name), f"EXR not recorded in {VIEWS}"))
    return problems
