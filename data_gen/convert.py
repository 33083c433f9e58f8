"""Bring your own G-buffer: EXRs written in another renderer's conventions -> a neurender dataset.

The dataset contract (docs/dataset.md) fixes camera space (+X right, +Y up, +Z forward), a
camera-space z-depth, camera-space unit normals, ``mask.Y`` and zeros off the mask. Other renderers
and engines differ (`Convention`): depth as the distance along the camera ray, world-space
normals, a camera looking down -Z (OpenGL, Blender), their own channel names, no mask (the
background marked by a huge or infinite depth). `to_contract` maps one view's channels
(`from_contract` back);
`convert` writes a one-scene dataset of several views that ``neurender validate``,
``neurender predict`` and `neurender.load_view` read like a generated one.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from neurender.base.atomic import write_json_atomic
from neurender.base.dataset import (
    ALBEDO,
    BACKGROUND_DEPTH,
    CHANNELS,
    DEPTH,
    DIRECT,
    FORMAT_VERSION,
    MANIFEST,
    MASK,
    NORMAL,
    RGB,
    VIEWS,
    check_scene_id,
    on_surface,
    surface_from_depth,
)
from neurender.base.errors import InputError
from neurender.base.exr import read_exr, write_exr
from neurender.base.lock import folder_lock
from neurender.base.paths import check_apart
from neurender.base.view import ViewParameters

ZERO_OFF_MASK = NORMAL + DEPTH + ALBEDO

BLENDER = {"ViewLayer.Combined.R": "R", "ViewLayer.Combined.G": "G", "ViewLayer.Combined.B": "B",
           "ViewLayer.DiffCol.R": "albedo.R", "ViewLayer.DiffCol.G": "albedo.G", "ViewLayer.DiffCol.B": "albedo.B",
           "ViewLayer.Normal.X": "normal.X", "ViewLayer.Normal.Y": "normal.Y", "ViewLayer.Normal.Z": "normal.Z",
           "ViewLayer.Depth.Z": "depth.Z"}
"""Channel names of a Blender multilayer EXR (view layer ``ViewLayer``) -> the contract's."""


@dataclass(frozen=True)
class Convention:
    """How a G-buffer from elsewhere is written.

    names:   source channel name -> contract name (channels not named keep their name; those that are
             then not contract names are dropped).
    depth:   "z": distance to the camera plane (the contract's); "ray": distance from the camera centre
             along the pixel's ray (Mitsuba's aov depth; Blender Cycles' Depth pass).
    normals: "camera": camera space; "world": world space (then the camera's ``to_world`` is needed).
    forward: "+z": camera space +X right, +Y up, +Z forward (the contract's); "-z": +X right, +Y up, -Z
             forward (OpenGL, Blender): normals' z flips.
    background_depth: without a ``mask.Y`` channel, pixels whose depth is not finite, not positive or at
             least this are background (renderers write 1e10 or inf there).
    direct:  passes summed into the contract's direct light ``direct.R/G/B`` (what the GI predictors
             read), each (light pass, colour pass it is multiplied by, or None), channel prefixes that
             .R/.G/.B complete; those absent are skipped; none present: no direct light.
    """

    names: dict[str, str] = field(default_factory=dict)
    depth: Literal["z", "ray"] = "z"
    normals: Literal["camera", "world"] = "camera"
    forward: Literal["+z", "-z"] = "+z"
    background_depth: float = BACKGROUND_DEPTH
    direct: tuple[tuple[str, str | None], ...] = ()


BLENDER_DIRECT = (("ViewLayer.DiffDir", "ViewLayer.DiffCol"), ("ViewLayer.GlossDir", "ViewLayer.GlossCol"),
                  ("ViewLayer.Emit", None), ("ViewLayer.Env", None))
"""Cycles' direct light: Diffuse Direct x Diffuse Color + Glossy Direct x Glossy Color + Emission + Environment."""
WORLD_NORMALS_NEED = "world-space normals need the camera's to_world matrix (--to-world: 16 numbers, row by row)"

PRESETS = {"contract": Convention(),
           "blender": Convention(names=BLENDER, depth="ray", normals="world", forward="-z", direct=BLENDER_DIRECT)}
"""Named conventions: ``contract`` (already right: only a mask is derived if missing) and ``blender``
(Cycles: multilayer names, ray-length Depth, world-space Normal, -Z forward camera, direct light from the
Diffuse and Glossy Direct and Color, Emission and Environment passes)."""


def _ray_cosine(height: int, width: int, fov_x: float) -> np.ndarray:
    """(H, W) cosine between each pixel centre's ray and the view axis, for a horizontal fov in degrees
    (the pinhole of `neurender.baselines.camera`)."""
    tan = math.tan(math.radians(fov_x) / 2)
    x = (2 * (np.arange(width) + 0.5) / width - 1) * tan
    y = (1 - 2 * (np.arange(height) + 0.5) / height) * tan * height / width
    return 1 / np.sqrt(1 + x[None, :] ** 2 + y[:, None] ** 2)


def _direct(channels: dict[str, np.ndarray], convention: Convention) -> dict[str, np.ndarray]:
    """``direct.R/G/B`` summed from the convention's direct passes present in ``channels`` (none: {})."""
    present = [(light, colour) for light, colour in convention.direct
               if f"{light}.R" in channels and (colour is None or f"{colour}.R" in channels)]
    if not present:
        return {}
    return {name: sum(np.asarray(channels[f"{light}.{c}"], dtype=np.float64)
                      * (1.0 if colour is None else np.asarray(channels[f"{colour}.{c}"], dtype=np.float64))
                      for light, colour in present) for name, c in zip(DIRECT, RGB)}


def to_contract(channels: dict[str, np.ndarray], convention: Convention, fov_x: float,
                to_world: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """One view's ``channels`` (name -> (H, W)) in ``convention`` -> the contract's channels (float32).

    ``fov_x``: horizontal field of view, degrees; ``to_world``: the camera-to-world 4x4 (or 3x3) of the
    source's camera space (its columns the camera's right, up and z axes in the world), needed for
    world-space normals. InputError naming what is missing.
    """
    named = {convention.names.get(name, name): np.asarray(value, dtype=np.float64) for name, value in channels.items()}
    named = {name: value for name, value in named.items() if name in CHANNELS} | _direct(channels, convention)
    missing = [n for n in NORMAL + DEPTH if n not in named]
    if missing:
        raise InputError(f"missing channels {', '.join(missing)} after renaming (give their source names)")
    if not 0 < fov_x < 180:
        raise InputError(f"the field of view must be in (0, 180) degrees, got {fov_x}")
    depth = named[DEPTH[0]]
    if MASK in named:
        on = on_surface(named[MASK])
    else:
        on = surface_from_depth(depth, convention.background_depth)
    depth = np.where(on, depth, 0.0)
    if convention.depth == "ray":
        depth = depth * _ray_cosine(*depth.shape, fov_x)
    normal = np.stack([named[name] for name in NORMAL], axis=-1)
    if convention.normals == "world":
        if to_world is None:
            raise InputError(WORLD_NORMALS_NEED)
        rotation = np.asarray(to_world, dtype=np.float64)[:3, :3]
        rotation = rotation / np.linalg.norm(rotation, axis=0, keepdims=True)  # drop a scale
        normal = normal @ rotation  # n_camera = R^T n_world, per pixel
    if convention.forward == "-z":
        normal = normal * np.array([1.0, 1.0, -1.0])
    normal = np.where(on[..., None], normal, 0.0)
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.where(length > 0, normal / np.maximum(length, 1e-12), 0.0)
    out = dict(named) | {DEPTH[0]: depth, MASK: on.astype(np.float64)}
    out |= {name: normal[..., i] for i, name in enumerate(NORMAL)}
    for name in ZERO_OFF_MASK:
        if name in out:
            out[name] = np.where(on, out[name], 0.0)
    return {name: out[name].astype(np.float32) for name in CHANNELS if name in out}


def from_contract(channels: dict[str, np.ndarray], convention: Convention, fov_x: float,
                  to_world: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The inverse of `to_contract`: a view's contract ``channels`` as ``convention`` writes them
    (source names, its depth, normals and forward axis; no ``mask.Y``, ``background_depth`` off the
    surface), float32. For writing a G-buffer to another tool, and for trying a convention out."""
    on = on_surface(channels[MASK])
    depth = np.asarray(channels[DEPTH[0]], dtype=np.float64)
    if convention.depth == "ray":
        depth = depth / _ray_cosine(*depth.shape, fov_x)
    normal = np.stack([np.asarray(channels[name], dtype=np.float64) for name in NORMAL], axis=-1)
    if convention.forward == "-z":
        normal = normal * np.array([1.0, 1.0, -1.0])
    if convention.normals == "world":
        if to_world is None:
            raise InputError(WORLD_NORMALS_NEED)
        rotation = np.asarray(to_world, dtype=np.float64)[:3, :3]
        normal = normal @ (rotation / np.linalg.norm(rotation, axis=0, keepdims=True)).T
    out = {name: np.asarray(value, dtype=np.float64) for name, value in channels.items() if name != MASK}
    out |= {DEPTH[0]: np.where(on, depth, convention.background_depth * 10)}
    out |= {name: normal[..., i] for i, name in enumerate(NORMAL)}
    names = {contract: source for source, contract in convention.names.items()}
    return {names.get(name, name): value.astype(np.float32) for name, value in out.items()}


@dataclass(frozen=True)
class ConvertedView:
    """What the dataset records of a converted view: its camera and the effects' parameters."""

    fov_x: float
    ao_radius: float | None = None
    sigma_t: float | None = None
    to_world: tuple | None = None


def convert(paths: list[str], out: str, convention: Convention, view: ConvertedView,
            scene: str = "converted") -> list[str]:
    """EXRs ``paths`` (one view each, all of one camera set-up ``view``) -> a dataset at ``out`` with one
    scene ``scene`` whose views are the files in order; returns the EXRs written. The manifest keeps
    ``view``'s fov, AO radius and fog sigma_t (what scaled predictors need) and the source convention.
    InputError for an existing dataset at ``out`` or a bad file; each EXR is written atomically and
    recorded after it is in place, and the manifest last: a convert that stops half-way leaves no
    dataset, and the same command runs again."""
    if not paths:
        raise InputError("give at least one EXR to convert")
    try:
        check_scene_id(scene)
    except ValueError as exc:
        raise InputError(f"--scene: {exc}") from None
    if os.path.exists(os.path.join(out, MANIFEST)):
        raise InputError(f"{out} already holds a dataset ({MANIFEST}); choose another folder")
    check_apart(out, paths)
    ViewParameters(fov_x=view.fov_x, ao_radius=view.ao_radius, sigma_t=view.sigma_t)  # InputError out of range
    converted = [to_contract(read_exr(p), convention, view.fov_x, view.to_world) for p in paths]
    shapes = {c[MASK].shape for c in converted}
    if len(shapes) > 1:
        raise InputError(f"the EXRs differ in size: {sorted(shapes)}")
    height, width = shapes.pop()
    channels = list(converted[0])
    if any(list(c) != channels for c in converted):
        raise InputError("the EXRs hold different channels; convert them separately")
    camera = {"fov_x": view.fov_x, "width": width, "height": height}
    if view.to_world is not None:
        camera["to_world"] = [list(map(float, row)) for row in np.asarray(view.to_world, dtype=float)]
    entry = {"id": scene, "source": "converted", "channels": channels, "camera": camera}
    if view.ao_radius is not None:
        entry["ao_radius"] = view.ao_radius
    if view.sigma_t is not None:
        entry["fog"] = {"sigma_t": view.sigma_t}
    manifest = {"format": "neurender-dataset", "format_version": FORMAT_VERSION,
                "renderer": {"name": "converted", "convention": asdict(convention), "sources": list(paths)},
                "channels": channels, "scenes": [entry], "views_per_scene": len(paths)}
    written = []
    with folder_lock(out, "convert"):
        os.makedirs(os.path.join(out, scene), exist_ok=True)
        with open(os.path.join(out, VIEWS), "w") as log:
            for index, data in enumerate(converted):
                relative = f"{scene}/{index:03d}.exr"
                write_exr(os.path.join(out, relative), data)
                log.write(json.dumps({"scene": scene, "view": index, "file": relative, "camera": camera}) + "\n")
                log.flush()
                written.append(os.path.join(out, relative))
        write_json_atomic(os.path.join(out, MANIFEST), manifest)
    return written
