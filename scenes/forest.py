"""Procedural forest: textured ground, trees (trunk, branches, foliage clusters), sky and sun.

Per seed the tree count, tree shapes and the leaf and trunk textures vary, as in
the fog dataset of the source work. Units: metres, Y up.
"""
from __future__ import annotations

import numpy as np

from neurender.base.mitsuba import mi
from scenes import textures
from scenes.procedural import ProceduralScene, floor, textured

GROUND_SIZE = 30.0


def _tree(rng: np.random.Generator, base, trunk_bsdf: dict, leaf_bsdf: dict, name: str) -> dict:
    height = rng.uniform(3.0, 6.0)
    radius = rng.uniform(0.12, 0.25)
    x, z = base
    top = np.array([x, height, z])
    shapes = {f"{name}_trunk": {"type": "cylinder", "p0": [x, 0.0, z], "p1": top.tolist(),
                                "radius": radius, "bsdf": trunk_bsdf}}
    for b in range(rng.integers(2, 5)):
        start = np.array([x, rng.uniform(0.45, 0.8) * height, z])
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(angle), rng.uniform(0.4, 1.0), np.sin(angle)])
        end = start + direction / np.linalg.norm(direction) * rng.uniform(0.8, 1.6)
        shapes[f"{name}_branch{b}"] = {"type": "cylinder", "p0": start.tolist(), "p1": end.tolist(),
                                       "radius": radius * 0.4, "bsdf": trunk_bsdf}
        shapes[f"{name}_leaves{b}"] = {"type": "sphere", "center": end.tolist(),
                                       "radius": rng.uniform(0.6, 1.1), "bsdf": leaf_bsdf}
    shapes[f"{name}_crown"] = {"type": "sphere", "center": top.tolist(),
                               "radius": rng.uniform(1.0, 1.6), "bsdf": leaf_bsdf}
    return shapes


def build_forest(seed: int, tree_count: int | None = None) -> ProceduralScene:
    """A forest scene; ``tree_count`` defaults to a random 6..16."""
    rng = np.random.default_rng(seed)
    count = int(tree_count if tree_count is not None else rng.integers(6, 17))
    trunk_bsdfs = [textured(textures.bark(rng)) for _ in range(2)]
    leaf_bsdfs = [textured(textures.leaves(rng)) for _ in range(2)]
    scene = {
        "type": "scene",
        "ground": floor(GROUND_SIZE, textured(textures.grass(rng))),
        "sky": {"type": "envmap", "bitmap": mi.Bitmap(textures.sky()), "scale": 1.0},
    }
    sun_elevation, sun_azimuth = np.radians(rng.uniform(30, 60)), rng.uniform(0, 2 * np.pi)
    to_sun = [np.cos(sun_elevation) * np.cos(sun_azimuth), np.sin(sun_elevation), np.cos(sun_elevation) * np.sin(sun_azimuth)]
    scene["sun"] = {"type": "directional", "direction": [-float(c) for c in to_sun],
                    "irradiance": {"type": "rgb", "value": [3.0, 2.8, 2.5]}}
    placed = []
    while len(placed) < count:
        r, a = 9.0 * np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
        pos = np.array([r * np.cos(a), r * np.sin(a)])
        if all(np.linalg.norm(pos - p) > 1.5 for p in placed):
            placed.append(pos)
    for i, pos in enumerate(placed):
        scene.update(_tree(rng, pos, trunk_bsdfs[i % 2], leaf_bsdfs[i % 2], f"tree{i}"))
    return ProceduralScene(scene, origin=(0.0, 2.5, 14.0), target=(0.0, 2.5, 0.0), fov_x=60.0,
                           params={"seed": seed, "tree_count": count,
                                   "sun_elevation_deg": float(np.degrees(sun_elevation))})
