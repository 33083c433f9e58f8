"""Scene library: built-in procedural scenes (forest, objects, room, studio), scenes of third-party meshes
(pybullet, dmcontrol) and Mitsuba 3 XML files.

A `SceneRef` is a small picklable description that worker processes turn
into a Mitsuba scene with `load` (in the variant chosen with `neurender.base.variant.use_variant`,
or the automatic one if nothing has chosen).
"""
from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from neurender.base.camera import Camera, Rig, look_at, nearest_axis, rig_camera
from neurender.base.errors import InputError
from neurender.base.mitsuba import mi
from neurender.base.variant import use_variant
from scenes.clutter import build_dmcontrol, build_pybullet
from scenes.forest import build_forest
from scenes.objects import build_objects
from scenes.room import build_room
from scenes.studio import build_studio
from scenes.xml_file import load_xml

BUILTIN = {"forest": build_forest, "objects": build_objects, "room": build_room, "studio": build_studio,
           "pybullet": build_pybullet, "dmcontrol": build_dmcontrol}
"""Built-in families by name; ``pybullet`` and ``dmcontrol`` need the ``assets`` and ``ood`` extras
(``dmcontrol`` is the out-of-distribution validation family: no recipe trains on it)."""


@dataclass(frozen=True)
class SceneRef:
    """A scene to render: a built-in name with its seed, or an XML path (seed unused), and its camera rig."""

    scene_id: str  # directory name in the dataset, e.g. "forest_000" or "cbox-rgb"
    source: str    # built-in name or absolute path of an XML file
    seed: int
    rig: Rig = field(default_factory=Rig)

    @property
    def is_xml(self) -> bool:
        return self.source not in BUILTIN


@dataclass
class LoadedScene:
    """A Mitsuba scene with its camera rig and the facts the passes need.

    camera:  view-0 camera at the requested resolution.
    pivot:   point the orbit turns about (world units); up: the orbit axis (unit).
    size:    bounding-box diagonal in world units (scales fog and AO radius).
    sensors: every perspective sensor of an XML file (built-ins: the view-0 camera), same resolution.
    """

    ref: SceneRef
    scene: object
    camera: Camera
    pivot: np.ndarray
    up: np.ndarray
    size: float
    params: dict
    sensors: list[Camera]

    @property
    def has_environment(self) -> bool:
        return self.scene.environment() is not None

    @property
    def reach(self) -> float:
        """Farthest any view camera can stand from the pivot (world units)."""
        rig = self.ref.rig
        scale = max(1.0, rig.distance_scale[1]) if rig.distance_scale else 1.0
        bases = self.sensors if rig.sensors and self.ref.is_xml else [self.camera]
        return scale * max(float(np.linalg.norm(c.origin - self.pivot)) for c in bases)

    def view_camera(self, view: int, angle_deg: float, seed: int) -> Camera:
        """The camera of view ``view``: the base camera (sensor ``view`` with a sensors rig) turned by
        ``angle_deg`` about the up axis, with the rig's draws for the view seed ``seed``."""
        base = self.sensors[view] if self.ref.rig.sensors and self.ref.is_xml else self.camera
        return rig_camera(base, self.pivot, self.up, angle_deg, self.ref.rig, seed)


def resolve(names: list[str], count: int, seed: int, rig: Rig | None = None) -> list[SceneRef]:
    """Scene references for the command line's SCENE... and --count (built-ins only repeat); ``rig`` default: fixed."""
    rig = rig if rig is not None else Rig()
    if count < 1:
        raise InputError(f"--count must be at least 1, got {count}")
    refs = []
    for name in names:
        if name in BUILTIN:
            for i in range(count):
                scene_seed = zlib.crc32(f"{name}:{seed}:{i}".encode())
                refs.append(SceneRef(f"{name}_{i:03d}", name, scene_seed, rig))
        elif name.endswith(".xml") or os.path.sep in name:
            path = os.path.abspath(name)
            if not os.path.isfile(path):
                raise InputError(f"scene file not found: {name}")
            refs.append(SceneRef(os.path.splitext(os.path.basename(path))[0], path, 0, rig))
        else:
            raise InputError(f"unknown scene {name!r}: use one of {', '.join(BUILTIN)} or a Mitsuba XML file")
    ids = [r.scene_id for r in refs]
    if len(set(ids)) != len(ids):
        raise InputError(f"two scenes share the id {next(i for i in ids if ids.count(i) > 1)!r}; rename one file")
    return refs


def load(ref: SceneRef, res: int) -> LoadedScene:
    """Build or load the scene of ``ref`` with a ``res`` x ``res`` view-0 camera."""
    use_variant()  # the one chosen in this process, else the automatic one
    if ref.source in BUILTIN:
        built = BUILTIN[ref.source](ref.seed)
        scene = mi.load_dict(built.scene)
        to_world = look_at(built.origin, built.target, (0, 1, 0))
        cameras = [(built.fov_x, to_world)]
        pivot, up, params = np.asarray(built.pivot or built.target), np.array([0.0, 1, 0]), built.params
    else:
        scene, cameras = load_xml(ref.source)
        pivot = np.array(scene.bbox().center())
        up = nearest_axis(cameras[0][1][:3, 1])  # the authored camera's up: a Z-up scene orbits about Z
        params = {"file": ref.source}
    sensors = [Camera(fov_x, tuple(map(tuple, matrix.tolist())), res, res) for fov_x, matrix in cameras]
    size = float(np.linalg.norm(np.array(scene.bbox().extents())))
    if not (math.isfinite(size) and size > 0 and np.isfinite(pivot).all()):
        raise InputError(f"{ref.source}: the scene has no shape of finite, non-zero extent (bounding box "
                         f"diagonal {size}); fog and AO are scaled by it")
    return LoadedScene(ref, scene, sensors[0], pivot, up, size, params, sensors)


ALBEDO_PARAMETERS = ("reflectance", "diffuse_reflectance", "base_color")
"""BSDF parameters that hold a diffuse albedo (diffuse, plastic and principled): what
`override_albedo` sets. Specular and conductor reflectances stay."""


def override_albedo(scene, value: float) -> int:
    """Set every diffuse albedo of ``scene`` (constant or texture) to the grey ``value``; returns how many."""
    params = mi.traverse(scene)
    keys = [k for k in params.keys() if k.split(".")[-2:-1] and k.split(".")[-2] in ALBEDO_PARAMETERS
            and k.split(".")[-1] in ("value", "data")]
    for key in keys:
        current = params[key]
        if key.endswith(".data"):
            params[key] = mi.TensorXf(np.full(current.shape, value, dtype=np.float32))
        else:
            params[key] = type(current)(value)
    params.update()
    return len(keys)
