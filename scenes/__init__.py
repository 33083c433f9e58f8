"""Scene library: built-in procedural scenes (forest, objects, room, studio) and Mitsuba 3 XML files.

A :class:`SceneRef` is a small picklable description that worker processes turn
into a Mitsuba scene with :func:`load`. Import this package only after
``data_gen.variant.init_mitsuba()`` has set the variant.
"""
from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

import mitsuba as mi
import numpy as np

from core.camera import Camera, look_at, nearest_axis
from core.errors import InputError
from scenes.forest import build_forest
from scenes.objects import build_objects
from scenes.room import build_room
from scenes.studio import build_studio
from scenes.xml_file import load_xml

BUILTIN = {"forest": build_forest, "objects": build_objects, "room": build_room, "studio": build_studio}


@dataclass(frozen=True)
class SceneRef:
    """A scene to render: a built-in name with its seed, or an XML path (seed unused)."""

    scene_id: str  # directory name in the dataset, e.g. "forest_000" or "cbox-rgb"
    source: str    # built-in name or absolute path of an XML file
    seed: int


@dataclass
class LoadedScene:
    """A Mitsuba scene with its camera rig and the facts the passes need.

    camera:  view-0 camera at the requested resolution.
    pivot:   point the orbit turns about (world units); up: the orbit axis (unit).
    size:    bounding-box diagonal in world units (scales fog and AO radius).
    """

    ref: SceneRef
    scene: object
    camera: Camera
    pivot: np.ndarray
    up: np.ndarray
    size: float
    params: dict

    @property
    def has_environment(self) -> bool:
        return self.scene.environment() is not None


def resolve(names: list[str], count: int, seed: int) -> list[SceneRef]:
    """Scene references for the command line's SCENE... and --count (built-ins only repeat)."""
    if count < 1:
        raise InputError(f"--count must be at least 1, got {count}")
    refs = []
    for name in names:
        if name in BUILTIN:
            for i in range(count):
                scene_seed = zlib.crc32(f"{name}:{seed}:{i}".encode())
                refs.append(SceneRef(f"{name}_{i:03d}", name, scene_seed))
        elif name.endswith(".xml") or os.path.sep in name:
            path = os.path.abspath(name)
            if not os.path.isfile(path):
                raise InputError(f"scene file not found: {name}")
            refs.append(SceneRef(os.path.splitext(os.path.basename(path))[0], path, 0))
        else:
            raise InputError(f"unknown scene {name!r}: use one of {', '.join(BUILTIN)} or a Mitsuba XML file")
    ids = [r.scene_id for r in refs]
    if len(set(ids)) != len(ids):
        raise InputError(f"two scenes share the id {next(i for i in ids if ids.count(i) > 1)!r}; rename one file")
    return refs


def load(ref: SceneRef, res: int) -> LoadedScene:
    """Build or load the scene of ``ref`` with a ``res`` x ``res`` view-0 camera."""
    if ref.source in BUILTIN:
        built = BUILTIN[ref.source](ref.seed)
        scene = mi.load_dict(built.scene)
        to_world = look_at(built.origin, built.target, (0, 1, 0))
        fov_x, pivot, up, params = built.fov_x, np.asarray(built.pivot or built.target), np.array([0.0, 1, 0]), built.params
    else:
        scene, fov_x, to_world = load_xml(ref.source)
        pivot = np.array(scene.bbox().center())
        up = nearest_axis(to_world[:3, 1])
        params = {"file": ref.source}
    camera = Camera(fov_x, tuple(map(tuple, to_world.tolist())), res, res)
    size = float(np.linalg.norm(np.array(scene.bbox().extents())))
    return LoadedScene(ref, scene, camera, pivot, up, size, params)
