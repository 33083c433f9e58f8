"""What a procedural builder returns, and the Mitsuba dict helpers the builders share."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurender.base.mitsuba import mi


@dataclass
class ProceduralScene:
    """A built scene: Mitsuba dict (no sensor, no integrator) plus its camera rig.

    origin, target: the view-0 camera position and look-at point (world units).
    fov_x:          horizontal field of view, degrees.
    params:         the random choices made (tree count, palettes, ...), JSON-able.
    pivot:          the point the camera orbits about the Y axis (default: target).
    """

    scene: dict
    origin: tuple
    target: tuple
    fov_x: float
    params: dict = field(default_factory=dict)
    pivot: tuple | None = None


def textured(rgb: np.ndarray) -> dict:
    """Diffuse BSDF with a bitmap texture from an (H, W, 3) linear float array."""
    return {"type": "diffuse", "reflectance": {"type": "bitmap", "bitmap": mi.Bitmap(rgb), "raw": True}}


def diffuse(rgb) -> dict:
    return {"type": "diffuse", "reflectance": {"type": "rgb", "value": [float(c) for c in rgb]}}


def two_sided(bsdf: dict) -> dict:
    return {"type": "twosided", "material": bsdf}


def box(center, size, bsdf: dict, rotate_y_deg: float = 0.0) -> dict:
    """Axis-aligned box (then turned about Y) from its centre and full size."""
    to_world = (mi.ScalarTransform4f().translate([float(c) for c in center])
                .rotate([0, 1, 0], float(rotate_y_deg))
                .scale([float(s) / 2 for s in size]))
    return {"type": "cube", "to_world": to_world, "bsdf": bsdf}


def floor(size: float, bsdf: dict, height: float = 0.0) -> dict:
    """Square in the XZ plane facing +Y."""
    to_world = (mi.ScalarTransform4f().translate([0, height, 0]).rotate([1, 0, 0], -90)
                .scale([size / 2, size / 2, 1]))
    return {"type": "rectangle", "to_world": to_world, "bsdf": bsdf}


def mesh(name: str, positions: np.ndarray, faces: np.ndarray, bsdf: dict) -> object:
    """A triangle mesh (mi.Mesh) from (N, 3) world positions and (M, 3) vertex indices; flat shaded."""
    props = mi.Properties()
    props["bsdf"] = mi.load_dict(bsdf)
    shape = mi.Mesh(name, len(positions), len(faces), props=props)
    params = mi.traverse(shape)
    params["vertex_positions"] = mi.Float(np.asarray(positions, np.float32).ravel())
    params["faces"] = mi.UInt32(np.asarray(faces, np.uint32).ravel())
    params.update()
    return shape
