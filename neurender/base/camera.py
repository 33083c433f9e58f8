"""Pinhole cameras, the orbit about an up axis, the per-view camera rig, and camera space.

Camera space (the dataset contract): +X right, +Y up, +Z forward (view direction),
so ``depth.Z`` is positive in front of the camera. Mitsuba's own camera frame is
+X left, +Y up, +Z forward; ``to_world`` below is Mitsuba's.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Annotated

import numpy as np
import tyro


@dataclass(frozen=True)
class Camera:
    """A perspective pinhole camera.

    fov_x:    horizontal field of view in degrees.
    to_world: 4x4 camera-to-world matrix (Mitsuba convention, row-major nested lists).
    width, height: resolution in pixels.
    """

    fov_x: float
    to_world: tuple
    width: int
    height: int

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.to_world, dtype=np.float64)

    @property
    def origin(self) -> np.ndarray:
        return self.matrix[:3, 3]

    @classmethod
    def from_json(cls, data: dict) -> Camera:
        """The camera of a `to_json` record (a manifest's or a view's ``camera``)."""
        return cls(float(data["fov_x"]), tuple(map(tuple, data["to_world"])), int(data["width"]), int(data["height"]))

    def to_json(self) -> dict:
        return asdict(self) | {"to_world": [list(map(float, row)) for row in self.to_world],
                               "convention": "mitsuba to_world; camera space +X right, +Y up, +Z forward"}


def look_at(origin, target, up) -> np.ndarray:
    """Mitsuba's lookat: 4x4 matrix with columns (left, up, forward, origin)."""
    origin, target, up = (np.asarray(v, dtype=np.float64) for v in (origin, target, up))
    forward = target - origin
    forward /= np.linalg.norm(forward)
    left = np.cross(up, forward)
    left /= np.linalg.norm(left)
    new_up = np.cross(forward, left)
    matrix = np.eye(4)
    matrix[:3, 0], matrix[:3, 1], matrix[:3, 2], matrix[:3, 3] = left, new_up, forward, origin
    return matrix


def rotation_about(axis, angle_deg: float, center) -> np.ndarray:
    """4x4 rotation by ``angle_deg`` about the line through ``center`` along ``axis``."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    a = np.radians(angle_deg)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)
    center = np.asarray(center, dtype=np.float64)
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = center - rot @ center
    return out


def orbit(base: Camera, center, up, angle_deg: float) -> Camera:
    """The camera ``base`` turned by ``angle_deg`` about the axis ``up`` through ``center``."""
    matrix = rotation_about(up, angle_deg, center) @ base.matrix
    return Camera(base.fov_x, tuple(map(tuple, matrix.tolist())), base.width, base.height)


def dolly(camera: Camera, center, scale: float) -> Camera:
    """``camera`` moved along the line to ``center`` so its distance from it is ``scale`` times as long."""
    matrix = camera.matrix.copy()
    center = np.asarray(center, dtype=np.float64)
    matrix[:3, 3] = center + scale * (matrix[:3, 3] - center)
    return Camera(camera.fov_x, tuple(map(tuple, matrix.tolist())), camera.width, camera.height)


def nearest_axis(direction) -> np.ndarray:
    """The signed world axis (X, Y or Z) closest to ``direction``."""
    direction = np.asarray(direction, dtype=np.float64)
    axis = np.zeros(3)
    i = int(np.argmax(np.abs(direction)))
    axis[i] = np.sign(direction[i])
    return axis


def to_camera_space(camera: Camera, position: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World positions and normals (H, W, 3) to camera-space z-depth (H, W) and normals (H, W, 3)."""
    m = camera.matrix
    basis = np.stack([-m[:3, 0], m[:3, 1], m[:3, 2]])  # rows: right, up, forward
    depth = (position - camera.origin) @ basis[2]
    return depth.astype(np.float32), (normal @ basis.T).astype(np.float32)


def parse_range(text: str) -> tuple[float, float]:
    """A range from its text: "LOW:HIGH", or one number (a fixed value); ValueError otherwise."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise ValueError(f"{text!r} is not LOW:HIGH or a number")
    return (values[0], values[-1])


Range = Annotated[tuple[float, float], tyro.constructors.PrimitiveConstructorSpec(
    nargs=1, metavar="N|LOW:HIGH", instance_from_str=lambda args: parse_range(args[0]),
    is_instance=lambda value: isinstance(value, tuple), str_from_instance=lambda value: [f"{value[0]:g}:{value[1]:g}"])]
"""A (low, high) range, on the command line one value ``N|LOW:HIGH`` (`parse_range`)."""


@dataclass(frozen=True)
class Rig:
    """Per-view camera draws on top of the orbit; a range is (low, high), None keeps the scene's value."""

    elevation_deg: Range | None = None
    """Per-view random downward view angle (below the plane normal to the orbit axis; the camera
    turns about the pivot to get there), degrees (none: the scene's)."""
    distance_scale: Range | None = None
    """Per-view random factor on the camera's distance from the pivot (none: 1)."""
    fov_deg: Range | None = None
    """Horizontal field of view in degrees, as everywhere (``predict --fov-deg``, ``fov_x`` in Python): one
    value for every view, or a LOW:HIGH range drawn per view (none: the scene's)."""
    sensors: Annotated[bool, tyro.conf.arg(name="xml-sensors")] = False
    """XML scenes: view k is the file's sensor k instead of an orbit of sensor 0."""

    def check(self) -> None:
        """Raise ValueError naming the first empty or impossible range."""
        allowed = {"elevation_deg": (lambda v: -89 <= v <= 89, "[-89, 89]"),
                   "distance_scale": (lambda v: 0 < v < math.inf, "(0, inf)"),
                   "fov_deg": (lambda v: 0 < v <= 179, "(0, 179]")}
        for name, (inside, text) in allowed.items():
            if getattr(self, name) is None:
                continue
            flag, (low, high) = "--" + name.replace("_", "-"), getattr(self, name)
            if not (inside(low) and inside(high)):
                raise ValueError(f"{flag} {low:g}:{high:g} must lie in {text}")
            if low > high:
                raise ValueError(f"{flag} {low:g}:{high:g} is an empty range (write it low:high)")

    @property
    def is_fixed(self) -> bool:
        """True when no range is set: views are the plain orbit (today's pixels)."""
        return self.elevation_deg is None and self.distance_scale is None and self.fov_deg is None

    def draw(self, seed: int) -> dict:
        """This view's (elevation_deg, distance_scale, fov_deg), each None when its range is unset.

        The three uniforms are always drawn in the same order, so setting one range leaves the others' draws alone.
        """
        u = np.random.default_rng((seed, 0x52494721)).random(3)
        ranges = (self.elevation_deg, self.distance_scale, self.fov_deg)
        values = [None if r is None else float(r[0] + t * (r[1] - r[0])) for r, t in zip(ranges, u)]
        return dict(zip(("elevation_deg", "distance_scale", "fov_deg"), values))

    def to_json(self) -> dict:
        return asdict(self)


def elevation_of(camera: Camera, up) -> float:
    """How far ``camera`` looks below the plane normal to ``up``, degrees."""
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    return float(np.degrees(np.arcsin(np.clip(-camera.matrix[:3, 2] @ up, -1.0, 1.0))))


def rig_camera(base: Camera, center, up, angle_deg: float, rig: Rig, seed: int) -> Camera:
    """View camera: ``base`` with the rig's draws for ``seed`` (pitch and distance about ``center``,
    field of view), then turned by ``angle_deg`` about ``up``. A fixed rig gives ``orbit(...)`` exactly."""
    if rig.is_fixed:
        return orbit(base, center, up, angle_deg)
    draw = rig.draw(seed)
    matrix, fov_x = base.matrix, base.fov_x
    if draw["elevation_deg"] is not None:
        axis = np.cross(up, matrix[:3, 2])  # horizontal; turning about it by +a pitches the view down by a
        if np.linalg.norm(axis) > 1e-9:
            matrix = rotation_about(axis, draw["elevation_deg"] - elevation_of(base, up), center) @ matrix
    turned = Camera(draw["fov_deg"] or fov_x, tuple(map(tuple, matrix.tolist())), base.width, base.height)
    if draw["distance_scale"] is not None:
        turned = dolly(turned, center, draw["distance_scale"])
    return orbit(turned, center, up, angle_deg)


def arc_angles(views: int, arc_deg: float) -> list[float]:
    """Orbit angles of ``views`` views spread over ``arc_deg`` centred on the base camera (view 0 at 0),
    alternating sides: 0, +a, -a, +2a, -2a, ... with the outermost at +-arc_deg / 2."""
    if views < 2:
        return [0.0] * views
    step = arc_deg / 2 / math.ceil((views - 1) / 2)
    return [0.0] + [(1 if k % 2 else -1) * math.ceil(k / 2) * step for k in range(1, views)]
