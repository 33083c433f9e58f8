"""Procedural room: closed interior lit by a window (area light) and a ceiling lamp (point light).

Most light reaches the walls indirectly, so global illumination matters. No
environment emitter. Units: metres, Y up.
"""
from __future__ import annotations

import numpy as np

from neurender.base.mitsuba import mi
from scenes.procedural import ProceduralScene, box, diffuse, two_sided

WIDTH, HEIGHT = 8.0, 3.0


def _wall(center, rotate_axis, angle, scale, bsdf):
    to_world = (mi.ScalarTransform4f().translate(center).rotate(rotate_axis, angle).scale(scale))
    return {"type": "rectangle", "to_world": to_world, "bsdf": bsdf}


def build_room(seed: int, furniture_count: int | None = None) -> ProceduralScene:
    """A room; ``furniture_count`` defaults to a random 3..7."""
    rng = np.random.default_rng(seed)
    count = int(furniture_count if furniture_count is not None else rng.integers(3, 8))
    half = WIDTH / 2
    walls = two_sided(diffuse(rng.uniform(0.5, 0.85, 3)))
    scene = {
        "type": "scene",
        "floor": _wall([0, 0, 0], [1, 0, 0], -90, [half, half, 1], two_sided(diffuse(rng.uniform(0.2, 0.5, 3)))),
        "ceiling": _wall([0, HEIGHT, 0], [1, 0, 0], 90, [half, half, 1], walls),
        "wall_n": _wall([0, HEIGHT / 2, -half], [0, 1, 0], 0, [half, HEIGHT / 2, 1], walls),
        "wall_s": _wall([0, HEIGHT / 2, half], [0, 1, 0], 180, [half, HEIGHT / 2, 1], walls),
        "wall_e": _wall([half, HEIGHT / 2, 0], [0, 1, 0], -90, [half, HEIGHT / 2, 1], walls),
        "wall_w": _wall([-half, HEIGHT / 2, 0], [0, 1, 0], 90, [half, HEIGHT / 2, 1], walls),
        # the window: an emitter just inside the east wall, facing into the room
        "window": _wall([half - 0.01, 1.6, rng.uniform(-2, 2)], [0, 1, 0], -90, [0.9, 0.7, 1], diffuse([0, 0, 0])),
        # a point lamp, not a second area light: Mitsuba orders shape-attached emitters differently
        # from one load to the next, which would change which light a seed samples
        "lamp": {"type": "point", "position": [0.0, HEIGHT - 0.3, 0.0],
                 "intensity": {"type": "rgb", "value": [4.0, 3.4, 2.4]}},
    }
    scene["window"]["emitter"] = {"type": "area", "radiance": {"type": "rgb", "value": [9.0, 9.5, 10.0]}}
    for i in range(count):
        size = rng.uniform([0.5, 0.4, 0.5], [1.6, 1.2, 1.2])
        r, a = rng.uniform(1.8, half - 0.8), rng.uniform(0, 2 * np.pi)
        center = [r * np.cos(a), size[1] / 2, r * np.sin(a)]
        scene[f"furniture{i}"] = box(center, size, diffuse(rng.uniform(0.1, 0.8, 3)), rotate_y_deg=rng.uniform(0, 90))
    scene["ball"] = {"type": "sphere", "center": [1.2, 0.35, -1.2], "radius": 0.35,
                     "bsdf": diffuse(rng.uniform(0.2, 0.9, 3))}
    # the camera stands near the middle and turns on the spot, looking out at the walls
    return ProceduralScene(scene, origin=(0.0, 1.6, 0.4), target=(0.0, 1.1, -3.0), fov_x=75.0,
                           params={"seed": seed, "furniture_count": count}, pivot=(0.0, 1.6, 0.0))
