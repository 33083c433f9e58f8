"""Procedural object scene: random boxes, spheres and cylinders on a floor against an L-shaped wall.

The wall pair makes a room corner visible from every orbit angle, so AO has
contact shadows and creases all round. Units: metres, Y up.
"""
from __future__ import annotations

import numpy as np

from neurender.base.mitsuba import mi
from scenes import textures
from scenes.procedural import ProceduralScene, box, diffuse, floor, textured


def build_objects(seed: int, object_count: int | None = None, textured_materials: bool = True) -> ProceduralScene:
    """An object scene; ``object_count`` defaults to a random 5..10."""
    rng = np.random.default_rng(seed)
    count = int(object_count if object_count is not None else rng.integers(5, 11))

    def material():
        if textured_materials and rng.random() < 0.4:
            return textured(textures.checker(rng))
        return diffuse(rng.uniform(0.15, 0.85, 3))

    wall = diffuse([0.7, 0.7, 0.68])
    scene = {
        "type": "scene",
        "floor": floor(12.0, textured(textures.checker(rng, cells=12)) if textured_materials else diffuse([0.6] * 3)),
        "wall_a": box([0.0, 0.75, -1.6], [3.4, 1.5, 0.2], wall),
        "wall_b": box([-1.6, 0.75, 0.1], [0.2, 1.5, 3.2], wall),
        "sky": {"type": "constant", "radiance": {"type": "rgb", "value": [0.6, 0.65, 0.75]}},
        "sun": {"type": "directional", "direction": [float(c) for c in rng.uniform([-1, -1, -1], [1, -0.6, 1])],
                "irradiance": {"type": "rgb", "value": [2.5, 2.4, 2.2]}},
    }
    kinds = []
    for i in range(count):
        kind = str(rng.choice(["box", "sphere", "cylinder"]))
        kinds.append(kind)
        # cluster objects in and around the corner
        x, z = rng.uniform(-1.3, 1.8), rng.uniform(-1.3, 1.8)
        size = rng.uniform(0.3, 0.8)
        if kind == "box":
            scene[f"obj{i}"] = box([x, size / 2, z], [size, size * rng.uniform(0.6, 1.6), size], material(),
                                   rotate_y_deg=rng.uniform(0, 90))
        elif kind == "sphere":
            scene[f"obj{i}"] = {"type": "sphere", "center": [x, size / 2, z], "radius": size / 2, "bsdf": material()}
        else:
            height = size * rng.uniform(0.8, 2.0)
            scene[f"obj{i}"] = {"type": "cylinder", "p0": [x, 0.0, z], "p1": [x, height, z],
                                "radius": size / 3, "bsdf": material()}
            scene[f"obj{i}_cap"] = {"type": "disk", "bsdf": scene[f"obj{i}"]["bsdf"],
                                    "to_world": _disk(x, height, z, size / 3)}
    return ProceduralScene(scene, origin=(0.0, 3.0, 5.5), target=(0.0, 0.4, 0.0), fov_x=50.0,
                           params={"seed": seed, "object_count": count, "kinds": kinds,
                                   "textured": textured_materials})


def _disk(x: float, y: float, z: float, radius: float):
    return mi.ScalarTransform4f().translate([float(x), float(y), float(z)]).rotate([1, 0, 0], -90).scale(float(radius))
