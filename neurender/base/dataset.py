"""The dataset contract, its one owner: the channel names, the mask rule, and the format on disk (file
names, the manifest and the finished-views log).

    DIR/dataset.json            manifest (format, renderer, options, channels, scenes)
    DIR/views.jsonl             one line per finished view, appended after its EXR is in place
    DIR/<scene_id>/<view>.exr   one multi-channel EXR per view
"""
from __future__ import annotations

import json
import os

import numpy as np

from neurender.base.errors import InputError

FORMAT_VERSION = 1
MANIFEST, VIEWS = "dataset.json", "views.jsonl"
RGB = ("R", "G", "B")
"""The colour channels' suffixes; also the fog-free colour's channels."""


def colour(prefix: str) -> tuple[str, str, str]:
    """The three channels of a colour named ``prefix``: ``"direct"`` -> (direct.R, direct.G, direct.B)."""
    return tuple(f"{prefix}.{c}" for c in RGB)


NORMAL = ("normal.X", "normal.Y", "normal.Z")
"""Camera-space unit normals (+X right, +Y up, +Z forward)."""
DEPTH = ("depth.Z",)
"""Camera-space z-depth, positive in front of the camera."""
ALBEDO = colour("albedo")
DIRECT = colour("direct")
"""The direct light reflected by the surface (GI's input)."""
MASK = "mask.Y"
"""1 where a surface covers the pixel (`on_surface`), 0 on the background."""
AO = "ao.Y"
PASS_CHANNELS = {"rgb": RGB, "direct": DIRECT, "env": colour("env"), "fog": colour("fog"), "ao": (AO,)}
"""The path-traced passes of a view and their channels (``env`` only in scenes with an environment)."""
GBUFFER = ALBEDO + NORMAL + DEPTH + (MASK,)
"""The G-buffer channels of a view."""
CHANNELS = tuple(name for channels in PASS_CHANNELS.values() for name in channels) + GBUFFER
"""Every channel name of the dataset contract, in this order (what data_gen, convert, stats, validate
and the effects read)."""


def view_channels(has_environment: bool) -> list[str]:
    """The channels a generated view holds, in `CHANNELS` order: ``env`` only when its scene has an
    environment."""
    return [name for name in CHANNELS if has_environment or name not in PASS_CHANNELS["env"]]
SURFACE = 0.5
"""The mask rule: a pixel is surface where ``mask.Y`` > SURFACE (a surface covers at least half of it)."""


BACKGROUND_DEPTH = 1e9
"""Without a ``mask.Y``, a depth that is not finite, not positive or at least this marks the background
(renderers write 1e10 or inf there)."""


def on_surface(mask):
    """Where ``mask`` (a numpy array, torch tensor or Dr.Jit array of ``mask.Y`` values) marks surface."""
    return mask > SURFACE


def surface_from_depth(depth, background_depth: float = BACKGROUND_DEPTH):
    """Where ``depth`` (a numpy array or torch tensor) is a surface's when no ``mask.Y`` says: finite,
    positive and below ``background_depth``."""
    finite = depth.isfinite() if hasattr(depth, "isfinite") else np.isfinite(depth)  # a tensor, or numpy
    return finite & (depth > 0) & (depth < background_depth)


def check_scene_id(scene_id: str) -> None:
    """ValueError unless ``scene_id`` is one folder name inside a dataset: no separator, not '.' or '..'."""
    if not scene_id or scene_id in (".", "..") or "/" in scene_id or os.sep in scene_id or "\0" in scene_id:
        raise ValueError(f"scene id {scene_id!r} is not one folder name (no '/', not '.' or '..')")


def check_view_file(file: str) -> None:
    """ValueError unless ``file`` is a path inside the dataset: relative, without '..'."""
    parts = file.replace(os.sep, "/").split("/")
    if os.path.isabs(file) or not file or ".." in parts:
        raise ValueError(f"file {file!r} leads out of the dataset (absolute, or with '..')")


def parse_view_record(line: bytes) -> dict:
    """One line of views.jsonl as a record (``scene``, ``view``, ``file`` checked, the file inside the
    dataset); ValueError otherwise."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not (isinstance(record, dict) and isinstance(record.get("scene"), str) and isinstance(record.get("file"), str)
            and isinstance(record.get("view"), int) and not isinstance(record.get("view"), bool)):
        raise ValueError("not a view record (scene, view, file)")
    check_scene_id(record["scene"])
    check_view_file(record["file"])
    return record


def view_lines(root: str) -> list[tuple[int, bytes, bool]]:
    """(line number, line, whether it is a torn last line: no newline after it) of views.jsonl."""
    path = os.path.join(root, VIEWS)
    if not os.path.exists(path):
        return []
    with open(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    torn = lines.pop() if lines else b""  # the text after the last newline: empty, or a torn line
    numbered = [(number, line, False) for number, line in enumerate(lines, 1) if line.strip()]
    return numbered + ([(len(lines) + 1, torn, True)] if torn.strip() else [])


def read_views(root: str) -> list[dict]:
    """Finished views: records of views.jsonl whose EXR exists (a torn last line is ignored); InputError
    naming the line when another line is not a view record."""
    records = []
    for number, line, torn in view_lines(root):
        try:
            record = parse_view_record(line)
        except ValueError as exc:
            if torn:
                continue
            raise InputError(f"{os.path.join(root, VIEWS)} line {number}: {exc}") from None
        if os.path.isfile(os.path.join(root, record["file"])):
            records.append(record)
    return records


def read_view_records(root: str) -> list[dict]:
    """Finished views (`read_views`), one per (scene, view), sorted."""
    unique = {(r["scene"], r["view"]): r for r in read_views(root)}
    return [unique[k] for k in sorted(unique)]


def load_manifest(root: str) -> dict:
    """The parsed ``dataset.json`` of ``root``; InputError when missing or unreadable."""
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path):
        raise InputError(f"{root} holds no {MANIFEST}; not a neurender dataset")
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as exc:  # ValueError: bad JSON, bad UTF-8, an integer of over 4300 digits
        raise InputError(f"{path} is not a readable manifest: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("scenes"), list):
        raise InputError(f"{path} has no scenes list")
    for index, scene in enumerate(manifest["scenes"]):
        if not (isinstance(scene, dict) and isinstance(scene.get("id"), str) and scene["id"]):
            raise InputError(f"{path}: scene {index} has no id")
        try:
            check_scene_id(scene["id"])
        except ValueError as exc:
            raise InputError(f"{path}: {exc}") from None
    return manifest
