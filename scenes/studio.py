"""Procedural studio (domain randomization): 1 to 8 objects on a floor or a curved backdrop.

Per seed: the ground (floor or a two-sided curved sweep), the objects (box, sphere, capped
cylinder, capsule, ring of spheres, the teapot and sphere meshes of the assets), their
placement (free, touching a neighbour, or stacked on one), their materials (diffuse, textured,
rough plastic, rough conductor, random albedo) and the lighting (the assets' environment map
turned and scaled, a procedural sky, an area light, or a sun with a gradient sky). Every draw
is recorded in ``params``. Units: metres, Y up; objects stand on y = 0 (or on each other)
within 0.3 + 0.15 * count metres of the origin.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from neurender.base.errors import InputError
from neurender.base.mitsuba import mi
from scenes import textures
from scenes.procedural import ProceduralScene, box, diffuse, floor, mesh, textured, two_sided

ASSETS = Path(__file__).resolve().parent / "third_party" / "mitsuba-data"
"""The meshes and environment map the family uses, inside the package (provenance: third_party/README.md)."""
MESHES = {"teapot": "teapot.ply", "sphere_mesh": "sphere.ply"}
ENVMAP = "envmap.hdr"
KINDS = ("box", "sphere", "cylinder", "capsule", "ring", "teapot", "sphere_mesh")
MATERIALS = ("diffuse", "textured", "plastic", "conductor")
LIGHTS = ("envmap", "sky", "area", "sun")
FLOOR_SIZE = 8.0
RING_SPHERES = 10


def _asset(assets: Path, name: str) -> str:
    path = assets / name
    if not os.access(path, os.R_OK):
        raise InputError(f"studio scene: cannot read {path} (a file of the package is missing)")
    return str(path)


@functools.lru_cache(maxsize=4)
def _envmap(path: str) -> np.ndarray:
    """The lat-long environment map as an (H, W, 3) float32 array (read once per process)."""
    try:
        return np.array(mi.Bitmap(path).convert(mi.Bitmap.PixelFormat.RGB, mi.Struct.Type.Float32, False))
    except Exception as exc:  # noqa: BLE001 - Mitsuba raises RuntimeError on unreadable images
        raise InputError(f"studio scene: cannot read the environment map {path}: {exc}") from None


@functools.lru_cache(maxsize=8)
def _check_mesh(path: str) -> None:
    try:
        mi.load_dict({"type": "ply", "filename": path})
    except Exception as exc:  # noqa: BLE001 - Mitsuba raises RuntimeError on unreadable meshes
        raise InputError(f"studio scene: cannot read the mesh {path}: {' '.join(str(exc).split())[:200]}") from None


@functools.lru_cache(maxsize=1)
def has_sunsky() -> bool:
    """Whether this Mitsuba has the ``sunsky`` emitter (3.6 and newer)."""
    try:
        mi.load_dict({"type": "sunsky", "sun_direction": [0, 0, 1]})
    except Exception:  # noqa: BLE001 - an unknown plugin is a RuntimeError
        return False
    return True


def _rgb(rng: np.random.Generator, low: float, high: float) -> list[float]:
    return [float(c) for c in rng.uniform(low, high, 3)]


def random_material(rng: np.random.Generator, has_uv: bool) -> tuple[dict, dict]:
    """A random BSDF and its record; textured needs texture coordinates, so meshes without UVs skip it."""
    kind = str(rng.choice([m for m in MATERIALS if has_uv or m != "textured"]))
    if kind == "diffuse":
        albedo = _rgb(rng, 0.05, 0.9)
        return diffuse(albedo), {"material": kind, "albedo": albedo}
    if kind == "textured":
        pattern = str(rng.choice(["checker", "noise"]))
        if pattern == "checker":
            image = textures.checker(rng, cells=int(rng.integers(2, 12)))
        else:
            dark, light = rng.uniform(0.02, 0.4, 3), rng.uniform(0.4, 0.9, 3)
            image = (dark + textures.value_noise(rng, 64)[..., None] * (light - dark)).astype(np.float32)
        return textured(image), {"material": kind, "pattern": pattern}
    alpha = float(rng.uniform(0.05, 0.5))
    if kind == "plastic":
        albedo = _rgb(rng, 0.05, 0.9)
        bsdf = {"type": "roughplastic", "alpha": alpha,
                "diffuse_reflectance": {"type": "rgb", "value": albedo}}
        return bsdf, {"material": kind, "albedo": albedo, "alpha": alpha}
    albedo = _rgb(rng, 0.3, 1.0)
    bsdf = {"type": "roughconductor", "material": "none", "alpha": alpha,
            "specular_reflectance": {"type": "rgb", "value": albedo}}
    return bsdf, {"material": kind, "albedo": albedo, "alpha": alpha}


def _shapes(kind: str, x: float, y: float, z: float, size: float, height: float, yaw: float,
            bsdf: dict, meshes: dict) -> dict[str, dict]:
    """The Mitsuba shapes of one object standing on y with its footprint centred at (x, z)."""
    if kind == "box":
        return {"": box([x, y + height / 2, z], [size, height, size], bsdf, rotate_y_deg=yaw)}
    if kind == "sphere":
        return {"": {"type": "sphere", "center": [x, y + size / 2, z], "radius": size / 2, "bsdf": bsdf}}
    if kind == "cylinder":
        r = size / 2
        cap = mi.ScalarTransform4f().translate([x, y + height, z]).rotate([1, 0, 0], -90).scale(r)
        return {"": {"type": "cylinder", "p0": [x, y, z], "p1": [x, y + height, z], "radius": r, "bsdf": bsdf},
                "_cap": {"type": "disk", "to_world": cap, "bsdf": bsdf}}
    if kind == "capsule":  # a cylinder with hemispherical ends, standing
        r = size / 2
        return {"": {"type": "cylinder", "p0": [x, y + r, z], "p1": [x, y + height - r, z], "radius": r, "bsdf": bsdf},
                "_low": {"type": "sphere", "center": [x, y + r, z], "radius": r, "bsdf": bsdf},
                "_high": {"type": "sphere", "center": [x, y + height - r, z], "radius": r, "bsdf": bsdf}}
    if kind == "ring":  # torus-like: touching spheres on a horizontal circle
        r = _ring_sphere_radius(size)
        ring = size / 2 - r
        return {f"_{k}": {"type": "sphere", "radius": float(r), "bsdf": bsdf,
                          "center": [x + ring * np.cos(a), y + r, z + ring * np.sin(a)]}
                for k, a in enumerate(np.radians(yaw) + 2 * np.pi * np.arange(RING_SPHERES) / RING_SPHERES)}
    # meshes: teapot is Z up with its base at z = 0, extent 6.43 x 4 x 3.15; sphere.ply has radius ~127
    if kind == "teapot":
        to_world = (mi.ScalarTransform4f().translate([x, y, z]).rotate([0, 1, 0], yaw)
                    .scale(size / 6.43).rotate([1, 0, 0], -90).translate([-0.215, 0, 0]))
    else:
        to_world = mi.ScalarTransform4f().translate([x, y + size / 2, z]).rotate([0, 1, 0], yaw).scale(size / 254)
    return {"": {"type": "ply", "filename": meshes[kind], "to_world": to_world, "bsdf": bsdf}}


def _ring_sphere_radius(size: float) -> float:
    """Radius of each of the RING_SPHERES touching spheres of a ring of outer diameter ``size``."""
    s = np.sin(np.pi / RING_SPHERES)
    return size / 2 * s / (1 + s)


def _height(kind: str, size: float, rng: np.random.Generator) -> float:
    """Object height (m) for footprint ``size``."""
    if kind in ("box", "cylinder"):
        return size * float(rng.uniform(0.5, 1.8))
    if kind == "capsule":
        return size * float(rng.uniform(1.2, 2.5))
    if kind == "ring":
        return 2 * _ring_sphere_radius(size)
    if kind == "teapot":
        return size * 3.15 / 6.43
    return size


def backdrop(bsdf: dict, width: float = FLOOR_SIZE, depth: float = 1.5, radius: float = 1.2,
              height: float = 3.5, back: float = -2.0, segments: int = 16) -> object:
    """Two-sided sweep (mi.Mesh, metres): a floor strip from z = back + radius + depth + FLOOR_SIZE / 2 back to
    z = back + radius, a quarter cylinder of ``radius``, and a wall at z = back up to ``height``."""
    profile = [(back + radius + depth + FLOOR_SIZE / 2, 0.0), (back + radius, 0.0)]
    for a in np.linspace(0, np.pi / 2, segments + 1)[1:]:
        profile.append((back + radius - radius * np.sin(a), radius - radius * np.cos(a)))
    profile.append((back, height))
    zy = np.array(profile)
    n = len(zy)
    positions = np.concatenate([np.stack([np.full(n, s * width / 2), zy[:, 1], zy[:, 0]], axis=1) for s in (-1, 1)])
    faces = np.array([[i, i + 1, n + i] for i in range(n - 1)] + [[i + 1, n + i + 1, n + i] for i in range(n - 1)])
    return mesh("backdrop", positions, faces, two_sided(bsdf))


def random_lighting(kind: str, rng: np.random.Generator, assets: Path, front_only: bool) -> tuple[dict, dict]:
    """Emitters of lighting ``kind`` and the record of their draws; ``front_only`` keeps sun and lamp at z > 0."""
    if kind == "envmap":
        path, rotation, scale = _asset(assets, ENVMAP), float(rng.uniform(0, 360)), float(rng.uniform(0.4, 1.6))
        emitter = {"type": "envmap", "bitmap": mi.Bitmap(_envmap(path)), "scale": scale,
                   "to_world": mi.ScalarTransform4f().rotate([0, 1, 0], rotation)}
        return {"environment": emitter}, {"envmap": path, "rotation_deg": rotation, "scale": scale}
    elevation, azimuth = float(rng.uniform(15, 70)), float(rng.uniform(10, 170) if front_only else rng.uniform(0, 360))
    e, a = np.radians(elevation), np.radians(azimuth)
    to_sun = [float(np.cos(e) * np.cos(a)), float(np.sin(e)), float(np.cos(e) * np.sin(a))]
    record = {"elevation_deg": elevation, "azimuth_deg": azimuth}
    if kind == "sky" and has_sunsky():
        turbidity, scale = float(rng.uniform(2, 6)), float(rng.uniform(2, 5))
        emitter = {"type": "sunsky", "sun_direction": to_sun, "turbidity": turbidity,
                   "sky_scale": scale, "sun_scale": scale,
                   "to_world": mi.ScalarTransform4f().rotate([1, 0, 0], -90)}  # sunsky is Z up
        return {"environment": emitter}, record | {"model": "sunsky", "turbidity": turbidity, "scale": scale}
    zenith, horizon = _rgb(rng, 0.1, 0.9), _rgb(rng, 0.5, 1.0)
    gradient = {"type": "envmap", "bitmap": mi.Bitmap(textures.sky(zenith=zenith, horizon=horizon)),
                "scale": float(rng.uniform(0.3, 1.0))}
    record |= {"zenith": zenith, "horizon": horizon, "sky_scale": gradient["scale"]}
    if kind == "sky":
        return {"environment": gradient}, record | {"model": "gradient"}
    if kind == "sun":
        irradiance = _rgb(rng, 2.0, 4.0)
        sun = {"type": "directional", "direction": [-c for c in to_sun],
               "irradiance": {"type": "rgb", "value": irradiance}}
        return {"environment": gradient, "sun": sun}, record | {"irradiance": irradiance}
    # one area light (a second shape emitter would be ordered differently from load to load)
    distance, size = float(rng.uniform(2.5, 4.0)), float(rng.uniform(0.8, 2.0))
    center = np.array(to_sun) * distance
    radiance = float(rng.uniform(4.0, 12.0)) * 4.0 / size ** 2
    light = {"type": "rectangle", "bsdf": diffuse([0, 0, 0]),
             "to_world": mi.ScalarTransform4f().look_at(center.tolist(), [0, 0, 0], [0, 1, 0]).scale(size / 2),
             "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [radiance] * 3}}}
    return {"environment": gradient, "area_light": light}, record | {"distance": distance, "size": size,
                                                                      "radiance": radiance}


def build_studio(seed: int, object_count: int | None = None, assets: Path = ASSETS) -> ProceduralScene:
    """A studio scene; ``object_count`` defaults to a random 1..8; ``assets`` holds the meshes and envmap."""
    rng = np.random.default_rng(seed)
    count = int(object_count if object_count is not None else rng.integers(1, 9))
    meshes = {kind: _asset(assets, name) for kind, name in MESHES.items()}
    for path in meshes.values():
        _check_mesh(path)
    _envmap(_asset(assets, ENVMAP))  # every seed refuses an unreadable asset, not only those that draw it
    ground_kind = str(rng.choice(["floor", "backdrop"]))
    ground_albedo = _rgb(rng, 0.2, 0.8)
    scene = {"type": "scene",
             "ground": (floor(FLOOR_SIZE, diffuse(ground_albedo)) if ground_kind == "floor"
                        else backdrop(diffuse(ground_albedo)))}
    light_kind = str(rng.choice(LIGHTS))
    emitters, light_record = random_lighting(light_kind, rng, assets, front_only=ground_kind == "backdrop")
    scene.update(emitters)

    spread = 0.3 + 0.15 * count  # free objects stand within +-spread metres of the origin
    placed, records = [], []  # placed: (x, z, footprint radius, base y, top y, flat top)
    for i in range(count):
        kind = str(rng.choice(KINDS))
        size = float(rng.uniform(0.3, 0.9))
        height, yaw = float(_height(kind, size, rng)), float(rng.uniform(0, 360))
        bsdf, material = random_material(rng, has_uv=kind not in MESHES)
        placement = str(rng.choice(["free", "touching", "stacked"])) if placed else "free"
        flat = [p for p in placed if p[5] and p[2] * 2 >= size * 0.8]
        on_floor = [p for p in placed if p[3] == 0.0]
        if placement == "stacked" and flat:
            x, z, _, _, top, _ = flat[int(rng.integers(len(flat)))]
            y = top
        else:
            placement = "touching" if placement == "stacked" else placement
            y = 0.0
            for _ in range(100):
                if placement == "touching":
                    x0, z0, r0 = on_floor[int(rng.integers(len(on_floor)))][:3]
                    a = rng.uniform(0, 2 * np.pi)
                    x, z = x0 + (r0 + size / 2) * np.cos(a), z0 + (r0 + size / 2) * np.sin(a)
                else:
                    x, z = rng.uniform(-spread, spread, 2)
                clear = all(np.hypot(x - px, z - pz) >= pr + size / 2 - 1e-6 for px, pz, pr, *_ in placed)
                if clear and abs(x) < 2.0 and abs(z) < 2.0:
                    break
        x, z = float(x), float(z)
        for suffix, shape in _shapes(kind, x, y, z, size, height, yaw, bsdf, meshes).items():
            scene[f"obj{i}{suffix}"] = shape
        placed.append((x, z, size / 2, y, y + height, kind in ("box", "cylinder")))
        records.append({"kind": kind, "position": [x, y, z], "size": size, "height": height, "yaw_deg": yaw,
                        "placement": placement} | material)
    return ProceduralScene(scene, origin=(0.0, 1.5, 3.2), target=(0.0, 0.35, 0.0), fov_x=50.0,
                           params={"seed": seed, "object_count": count, "ground": ground_kind,
                                   "ground_albedo": ground_albedo, "lighting": light_kind,
                                   "light": light_record, "objects": records})
