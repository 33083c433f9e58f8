"""Scenes of third-party meshes (domain randomisation over real assets): the ``pybullet`` and ``dmcontrol`` families.

Per seed: the ground (an open floor, a curved backdrop, or a closed interior), 3 to 12 meshes
drawn from the source's groups (scaled to 0.2-1 m, turned about Y or tumbled, standing on
the floor without overlapping), their materials (diffuse, rough plastic, rough conductor), thin
structures from primitives in most scenes (gratings, railings, cables) and the light: an
environment map, Mitsuba's ``sunsky``, a gradient sky with a sun, area and point lights (open
scenes), or a lamp and a ceiling panel (interiors). Every draw is recorded in ``params``, the
meshes by their path inside the source's package. ``pybullet`` draws from pybullet_data (the
training source); ``dmcontrol`` from dm_control (the out-of-distribution validation source,
never trained on). Units: metres, Y up.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from neurender.base.errors import InputError
from neurender.base.mitsuba import mi
from scenes.assets import DM_CONTROL, PYBULLET, Source, mesh_arrays
from scenes.procedural import ProceduralScene, diffuse, floor, mesh, two_sided
from scenes.studio import ASSETS, LIGHTS, backdrop, random_lighting, random_material

GROUNDS = ("floor", "backdrop", "interior")
THIN = ("grating", "railing", "cable")
THIN_PROBABILITY = 0.7
MAX_DRAWS = 20
"""Mesh draws per object before a family gives up on its source (unreadable files are drawn past)."""
ROOM = (10.0, 4.5)
"""Interior width and depth (m), and height (m)."""


def build_pybullet(seed: int, object_count: int | None = None) -> ProceduralScene:
    """A scene of pybullet_data meshes (the training source)."""
    return build_clutter(seed, PYBULLET, object_count)


def build_dmcontrol(seed: int, object_count: int | None = None) -> ProceduralScene:
    """A scene of dm_control meshes (the out-of-distribution validation source)."""
    return build_clutter(seed, DM_CONTROL, object_count)


def build_clutter(seed: int, source: Source, object_count: int | None = None) -> ProceduralScene:
    """Meshes of ``source`` on a floor, a backdrop or in a room; ``object_count`` defaults to a random 3..12."""
    rng = np.random.default_rng(seed)
    catalog, root = source.meshes, source.root()
    count = int(object_count if object_count is not None else rng.integers(3, 13))
    ground = str(rng.choice(GROUNDS))
    albedo = [float(c) for c in rng.uniform(0.15, 0.85, 3)]
    scene = {"type": "scene"} | _ground(ground, diffuse(albedo))
    light_kind = str(rng.choice(("lamp", "panel") if ground == "interior" else LIGHTS + ("point",)))
    emitters, light = _light(light_kind, rng, front_only=ground == "backdrop")
    scene.update(emitters)

    spread, placed, records = 0.3 + 0.06 * count, [], []
    for i in range(count):
        group = str(rng.choice(sorted(catalog)))
        path, (vertices, faces) = _draw_mesh(catalog[group], rng)
        size, yaw = float(rng.uniform(0.2, 1.0)), float(rng.uniform(0, 360))
        tumble = bool(rng.random() < 0.4)
        positions = _posed(vertices, size, yaw, _random_rotation(rng) if tumble else np.eye(3))
        radius = float(np.linalg.norm(positions[:, [0, 2]], axis=1).max())
        x, z = _free_spot(rng, placed, radius, spread)
        bsdf, material = random_material(rng, has_uv=False)
        scene[f"obj{i}"] = mesh(f"obj{i}", positions + [x, 0, z], faces, bsdf)
        placed.append((x, z, radius))
        records.append({"group": group, "mesh": path.relative_to(root).as_posix(), "position": [x, 0.0, z],
                        "size": size, "yaw_deg": yaw, "tumbled": tumble} | material)
    thin = []
    while rng.random() < THIN_PROBABILITY and len(thin) < 3:
        kind = str(rng.choice(THIN))
        x, z = _free_spot(rng, placed, 0.5, spread)
        bsdf, material = random_material(rng, has_uv=False)
        for k, shape in enumerate(_thin(kind, rng, x, z, bsdf)):
            scene[f"thin{len(thin)}_{k}"] = shape
        placed.append((x, z, 0.5))
        thin.append({"kind": kind, "position": [x, 0.0, z]} | material)
    distance = float(rng.uniform(2.0, 3.2))
    return ProceduralScene(scene, origin=(0.0, 0.45 * distance, distance), target=(0.0, 0.3, 0.0), fov_x=50.0,
                           params={"seed": seed, "source": source.package, "license": source.license,
                                   "object_count": count, "ground": ground, "ground_albedo": albedo,
                                   "lighting": light_kind, "light": light, "objects": records, "thin": thin})


def _draw_mesh(files: list[Path], rng: np.random.Generator) -> tuple[Path, tuple[np.ndarray, np.ndarray]]:
    """A mesh file of ``files`` drawn with ``rng``, and its (vertices, triangles); a file that cannot be
    read (a few of pybullet_data's OBJs are malformed) is drawn past, so one bad asset stops no render."""
    for _ in range(MAX_DRAWS):
        path = files[int(rng.integers(len(files)))]
        try:
            return path, mesh_arrays(path)
        except InputError:
            continue
    raise InputError(f"none of {MAX_DRAWS} meshes drawn from {len(files)} files like {files[0]} could be read")


def _ground(kind: str, bsdf: dict) -> dict:
    """The floor, the backdrop sweep, or a closed two-sided room of ROOM's size centred on the origin."""
    if kind == "floor":
        return {"ground": floor(ROOM[0], bsdf)}
    if kind == "backdrop":
        return {"ground": backdrop(bsdf)}
    half, height = ROOM[0] / 2, ROOM[1]
    walls = {"ground": floor(ROOM[0], two_sided(bsdf)), "ceiling": floor(ROOM[0], two_sided(bsdf), height)}
    for k, yaw in enumerate((0, 90, 180, 270)):
        walls[f"wall{k}"] = {"type": "rectangle", "bsdf": two_sided(bsdf), "to_world": mi.ScalarTransform4f()
                             .rotate([0, 1, 0], yaw).translate([0, height / 2, -half]).scale([half, height / 2, 1])}
    return walls


def _light(kind: str, rng: np.random.Generator, front_only: bool) -> tuple[dict, dict]:
    """Emitters and their record: the studio's lights, a point light, or an interior lamp or ceiling panel."""
    if kind in LIGHTS:
        return random_lighting(kind, rng, ASSETS, front_only)
    color = [float(c) for c in rng.uniform(0.7, 1.0, 3)]
    if kind == "panel":
        size, power = float(rng.uniform(0.8, 2.0)), float(rng.uniform(3.0, 10.0))
        center = [float(rng.uniform(-1.5, 1.5)), ROOM[1] - 0.01, float(rng.uniform(-1.5, 1.5))]
        to_world = mi.ScalarTransform4f().translate(center).rotate([1, 0, 0], 90).scale(size / 2)
        radiance = [power * c for c in color]
        return ({"panel": {"type": "rectangle", "to_world": to_world, "bsdf": diffuse([0, 0, 0]),
                           "emitter": {"type": "area", "radiance": {"type": "rgb", "value": radiance}}}},
                {"center": center, "size": size, "radiance": radiance})
    height = float(rng.uniform(1.2, 3.8) if kind == "lamp" else rng.uniform(2.0, 4.0))
    a = float(rng.uniform(0.2, np.pi - 0.2) if front_only else rng.uniform(0, 2 * np.pi))
    reach = float(rng.uniform(0.8, 2.5))
    position = [reach * float(np.cos(a)), height, reach * float(np.sin(a))]
    intensity = [float(rng.uniform(6.0, 30.0)) * c for c in color]
    return ({"lamp": {"type": "point", "position": position, "intensity": {"type": "rgb", "value": intensity}}},
            {"position": position, "intensity": intensity})


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _posed(positions: np.ndarray, size: float, yaw_deg: float, rotation: np.ndarray) -> np.ndarray:
    """(N, 3) positions rotated, turned by ``yaw_deg`` about Y, scaled to largest extent ``size``, centred
    on the Y axis and standing on y = 0."""
    yaw = np.radians(yaw_deg)
    turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    p = positions.astype(np.float64) @ (turn @ rotation).T
    low, high = p.min(axis=0), p.max(axis=0)
    p = (p - [(low[0] + high[0]) / 2, low[1], (low[2] + high[2]) / 2]) * (size / max(float((high - low).max()), 1e-9))
    return p.astype(np.float32)


def _free_spot(rng: np.random.Generator, placed: list, radius: float, spread: float) -> tuple[float, float]:
    """An (x, z) within ``spread`` of the origin whose disc of ``radius`` overlaps no placed disc (the
    last of 100 tries when none does)."""
    for _ in range(100):
        x, z = (float(c) for c in rng.uniform(-spread, spread, 2))
        if all(np.hypot(x - px, z - pz) >= pr + radius for px, pz, pr in placed):
            break
    return x, z


def _thin(kind: str, rng: np.random.Generator, x: float, z: float, bsdf: dict) -> list[dict]:
    """Thin shapes (bars, posts, wires 0.5-6 cm thick) of a grating, a railing or a cable around (x, z)."""
    yaw = float(rng.uniform(0, np.pi))
    along, across = np.array([np.cos(yaw), 0, np.sin(yaw)]), np.array([-np.sin(yaw), 0, np.cos(yaw)])
    base = np.array([x, 0.0, z])

    def bar(p0, p1, radius):
        return {"type": "cylinder", "p0": [float(c) for c in p0], "p1": [float(c) for c in p1],
                "radius": float(radius), "bsdf": bsdf}

    if kind == "grating":  # parallel bars on two rails, lying on the floor or raised
        bars, length, pitch = int(rng.integers(6, 16)), float(rng.uniform(0.5, 1.0)), float(rng.uniform(0.04, 0.1))
        radius, lift = float(rng.uniform(0.006, 0.02)), float(rng.choice([0.0, rng.uniform(0.1, 0.4)]))
        up = np.array([0, lift + radius, 0])
        width = pitch * (bars - 1)
        shapes = [bar(base + up + across * (k * pitch - width / 2) - along * length / 2,
                      base + up + across * (k * pitch - width / 2) + along * length / 2, radius) for k in range(bars)]
        for s in (-1, 1):
            end = base + up + along * s * length / 2 + [0, radius, 0]
            shapes.append(bar(end - across * width / 2, end + across * width / 2, radius))
            if lift > 0:
                shapes += [bar(end - up - [0, radius, 0] + across * t * width / 2, end + across * t * width / 2, radius)
                           for t in (-1, 1)]
        return shapes
    if kind == "railing":  # posts and a top rail
        posts, pitch, height = int(rng.integers(4, 10)), float(rng.uniform(0.08, 0.25)), float(rng.uniform(0.3, 0.9))
        radius = float(rng.uniform(0.006, 0.025))
        ends = [base + along * (k * pitch - pitch * (posts - 1) / 2) for k in range(posts)]
        return ([bar(p, p + [0, height, 0], radius) for p in ends]
                + [bar(ends[0] + [0, height, 0], ends[-1] + [0, height, 0], radius * 1.3)])
    points = [base + [0, 0.02, 0]]  # cable: a random walk of thin segments, partly lifted
    radius = float(rng.uniform(0.004, 0.015))
    for _ in range(int(rng.integers(8, 20))):
        step = rng.normal(size=3) * [0.1, 0.04, 0.1] + along * 0.08
        points.append(np.maximum(points[-1] + step, [-np.inf, radius, -np.inf]))
    return [bar(p0, p1, radius) for p0, p1 in zip(points, points[1:])]
