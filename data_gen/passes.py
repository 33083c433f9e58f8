"""The render passes of one view and their channels (names from the dataset contract).

| pass    | integrator                    | channels                          |
|---------|-------------------------------|-----------------------------------|
| rgb     | path                          | R, G, B                           |
| direct  | path, max_depth 2             | direct.R/G/B                      |
| env     | path, other emitters zeroed   | env.R/G/B (scenes with an envmap) |
| fog     | volpath, homogeneous medium   | fog.R/G/B                         |
| ao      | neurender_ao (Python)         | ao.Y                              |
| gbuffer | neurender_gbuffer (Python)    | albedo.*, normal.*, depth.Z, mask.Y |
"""
from __future__ import annotations

import contextlib
import time

import numpy as np

import scenes
from data_gen import integrators
from data_gen.options import PASSES, RenderOptions, medium_coefficients, pass_seed, rendered_spp
from neurender.base.camera import Camera, to_camera_space
from neurender.base.dataset import ALBEDO, AO, DEPTH, MASK, NORMAL, PASS_CHANNELS, on_surface
from neurender.base.mitsuba import dr, mi
from scenes import LoadedScene

# Fog-free ball around every point light, radius as a fraction of the scene's size: next-event
# estimation from a fog point at distance r from a point light weighs 1/r^2, so without it the
# fog estimator's variance is unbounded (docs/dataset.md, "Fog near point lights").
BULB_RADIUS = 0.01


def _medium_dict(coefficients: dict) -> dict:
    sigma_t = coefficients["sigma_t"]
    albedo = coefficients["sigma_s"] / sigma_t if sigma_t > 0 else 0.0
    return {"type": "homogeneous", "albedo": {"type": "rgb", "value": [albedo] * 3},
            "sigma_t": sigma_t, "phase": {"type": "isotropic"}}


def _position(emitter) -> list[float]:
    """World position of a point-like (delta-position) emitter."""
    ds, _ = emitter.sample_direction(dr.zeros(mi.Interaction3f), mi.Point2f(0.5, 0.5))
    return [float(ds.p.x[0]), float(ds.p.y[0]), float(ds.p.z[0])]


def _sensor(camera: Camera, medium=None, sampler: str = RenderOptions.sampler):
    sensor = {
        "type": "perspective", "fov": camera.fov_x, "fov_axis": "x", "near_clip": 1e-3,
        "to_world": mi.ScalarTransform4f(np.ascontiguousarray(camera.matrix, dtype=np.float32)),
        "film": {"type": "hdrfilm", "width": camera.width, "height": camera.height,
                 "rfilter": {"type": "box"}, "pixel_format": "rgb"},
        "sampler": {"type": sampler},  # spp is given to each mi.render call
    }
    if medium is not None:
        sensor["medium"] = medium
    return mi.load_dict(sensor)


class ViewRenderer:
    """Renders all passes of views of one loaded scene; reuses integrators and the fog scene."""

    def __init__(self, loaded: LoadedScene, options: RenderOptions):
        integrators.register()
        self.loaded, self.options = loaded, options.resolved()
        if options.albedo is not None:
            scenes.override_albedo(loaded.scene, options.albedo)
        self.fog = medium_coefficients(options, loaded.size)
        self.medium = mi.load_dict(_medium_dict(self.fog))  # one object: the fog sensor's and the fog scene's
        self.ao_radius = options.ao_radius * loaded.size
        self.integrators = {
            "rgb": mi.load_dict({"type": "path", "max_depth": options.max_depth}),
            "direct": mi.load_dict({"type": "path", "max_depth": min(2, options.max_depth)}),
            "fog": mi.load_dict({"type": "volpath", "max_depth": options.max_depth}),
            "ao": mi.load_dict({"type": "neurender_ao", "radius": self.ao_radius}),
            "gbuffer": mi.load_dict({"type": "neurender_gbuffer"}),
        }
        self.integrators["env"] = self.integrators["rgb"]
        self._sensors = {}
        # built up front: new Mitsuba objects later would make Dr.Jit recompile every kernel once more
        self.fog_scene = self._build_fog_scene()

    def passes(self) -> list[str]:
        return [p for p in PASSES if p != "env" or self.loaded.has_environment]

    def spp(self, name: str) -> int:
        """Samples per pixel pass ``name`` renders in the dataset (`rendered_spp` of the option)."""
        o = self.options
        asked = {"rgb": o.spp, "direct": o.spp_direct, "env": o.spp, "fog": o.spp,
                 "ao": o.spp_ao, "gbuffer": o.spp_gbuffer}[name]
        return rendered_spp(o.sampler, asked)

    def render(self, camera: Camera, seed: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Render every pass; returns (channel name -> (H, W) float32, pass -> seconds in Mitsuba)."""
        channels, seconds = {}, {}
        for name in self.passes():
            pass_channels, seconds[name] = self.render_pass(camera, name, pass_seed(seed, PASSES.index(name)))
            channels.update(pass_channels)
        channels[AO] = np.where(on_surface(channels[MASK]), channels[AO], np.float32(1.0))  # the contract
        return channels, seconds

    def render_pass(self, camera: Camera, name: str, seed: int, spp: int | None = None) -> tuple[dict, float]:
        """One pass at ``spp`` (default: the dataset's; rounded by `rendered_spp`); returns
        (channels, seconds inside Mitsuba)."""
        spp = rendered_spp(self.options.sampler, spp) if spp else self.spp(name)
        scene = self.fog_scene if name == "fog" else self.loaded.scene
        sensor = self._sensor(name, camera)
        with self._environment_only() if name == "env" else contextlib.nullcontext():
            start = time.perf_counter()
            image = mi.render(scene, sensor=sensor, integrator=self.integrators[name], seed=seed, spp=spp).numpy()
            seconds = time.perf_counter() - start
        decode = {"gbuffer": lambda: self._gbuffer_channels(camera, image[..., 3:]),
                  "ao": lambda: {AO: np.clip(image[..., 0], 0.0, 1.0)}}  # the rest: radiance
        channels = decode.get(name, lambda: dict(zip(PASS_CHANNELS[name], np.moveaxis(image[..., :3], -1, 0))))()
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in channels.items()}, seconds

    def _sensor(self, name: str, camera: Camera):
        """The pass's sensor moved to ``camera`` (pose and field of view); kept across views so Dr.Jit reuses its kernels."""
        key = (name == "fog", camera.width, camera.height)
        if key not in self._sensors:
            self._sensors[key] = _sensor(camera, self.medium if name == "fog" else None, self.options.sampler)
        sensor = self._sensors[key]
        params = mi.traverse(sensor)
        params["to_world"] = mi.AffineTransform4f(np.ascontiguousarray(camera.matrix, dtype=np.float32))
        params["x_fov"] = camera.fov_x  # a parameter, not a new sensor: per-view fields of view compile once
        params.update()
        return sensor

    @staticmethod
    def _gbuffer_channels(camera: Camera, aovs: np.ndarray) -> dict[str, np.ndarray]:
        coverage = aovs[..., 0]
        mask = coverage >= 0.5
        safe = np.where(coverage > 0, coverage, 1.0)[..., None]
        normal = aovs[..., 1:4]
        normal = normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
        position, albedo = aovs[..., 4:7] / safe, aovs[..., 7:10] / safe
        depth, normal_cam = to_camera_space(camera, position, normal)
        out = {MASK: mask.astype(np.float32), DEPTH[0]: np.where(mask, depth, 0.0)}
        for i, name in enumerate(NORMAL):
            out[name] = np.where(mask, normal_cam[..., i], 0.0)
        for i, name in enumerate(ALBEDO):
            out[name] = np.where(mask, albedo[..., i], 0.0)
        return out

    def _build_fog_scene(self):
        """The scene inside a sphere of homogeneous fog that also holds every orbit camera.

        Built from a second copy of the scene, so the fog-free scene's objects stay untouched.
        """
        loaded = self.loaded
        scene = scenes.load(loaded.ref, loaded.camera.width).scene
        if self.options.albedo is not None:
            scenes.override_albedo(scene, self.options.albedo)
        center = np.array(scene.bbox().center())
        reach = loaded.reach + np.linalg.norm(center - loaded.pivot)
        radius = 1.5 * max(loaded.size / 2, reach)
        fog = {"type": "scene",
               "fog_boundary": {"type": "sphere", "center": center.tolist(), "radius": float(radius),
                                "bsdf": {"type": "null"}, "interior": self.medium}}
        for i, shape in enumerate(scene.shapes()):
            fog[f"shape{i}"] = shape
        for i, emitter in enumerate(scene.emitters()):
            if emitter.get_shape() is None:
                fog[f"emitter{i}"] = emitter
            if mi.has_flag(emitter.flags(), mi.EmitterFlags.DeltaPosition):
                fog[f"bulb{i}"] = {"type": "sphere", "center": _position(emitter),
                                   "radius": BULB_RADIUS * loaded.size, "bsdf": {"type": "null"},
                                   "exterior": self.medium}
        return mi.load_dict(fog)

    @contextlib.contextmanager
    def _environment_only(self):
        """Temporarily zero the radiance of every emitter but the environment.

        Values are made opaque so Dr.Jit compiles each kernel once, not once per view.
        """
        saved = []
        for emitter in self.loaded.scene.emitters():
            if emitter.is_environment():
                continue
            params = mi.traverse(emitter)
            for key in params.keys():
                if key.split(".")[0] in ("radiance", "irradiance", "intensity") and key.endswith((".value", ".data")):
                    value, zero = type(params[key])(params[key]), dr.zeros(type(params[key]), dr.shape(params[key]))
                    dr.make_opaque(value, zero)
                    saved.append((params, key, value))
                    params[key] = zero
            params.update()
        try:
            yield
        finally:
            for params, key, value in saved:
                params[key] = value
                params.update()
