"""Pinhole cameras, the orbit about an up axis, and the world-to-camera-space conversion.

Camera space (the dataset contract): +X right, +Y up, +Z forward (view direction),
so ``depth.Z`` is positive in front of the camera. Mitsuba's own camera frame is
+X left, +Y up, +Z forward; ``to_world`` below is Mitsuba's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


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
    def from_json(cls, data: dict) -> "Camera":
        """The camera of a :meth:`to_json` record (a manifest's or a view's ``camera``)."""
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
