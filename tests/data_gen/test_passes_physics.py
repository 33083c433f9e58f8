"""The render passes behave physically: AO, G-buffer conventions, fog, direct vs full light (in-process)."""
from __future__ import annotations

import numpy as np
import pytest

AO_RADIUS = 0.5


def _camera(origin, target, up, fov=60.0, res=32):
    from neurender.base.camera import Camera, look_at

    return Camera(fov, tuple(map(tuple, look_at(origin, target, up).tolist())), res, res)


def _render(mi, scene, camera, integrator: dict, spp: int, seed: int = 1) -> np.ndarray:
    from data_gen.passes import _sensor

    return mi.render(scene, sensor=_sensor(camera), integrator=mi.load_dict(integrator), seed=seed, spp=spp).numpy()


def _gbuffer(mi, scene, camera, spp=4):
    """G-buffer channels as the pass writes them, plus world positions (H, W, 3)."""
    from data_gen.passes import ViewRenderer

    image = _render(mi, scene, camera, {"type": "neurender_gbuffer"}, spp)
    aovs = image[..., 3:]
    coverage = aovs[..., 0:1]
    position = aovs[..., 4:7] / np.where(coverage > 0, coverage, 1.0)
    return ViewRenderer._gbuffer_channels(camera, aovs), position


def _grey():
    return {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.5, 0.5, 0.5]}}


def _floor_dict(mi):
    # 10 x 10 square in y = 0 facing +Y
    return {"type": "rectangle", "bsdf": _grey(),
            "to_world": mi.ScalarTransform4f().rotate([1, 0, 0], -90).scale([5, 5, 1])}


def _corner_scene(mi):
    """The floor with walls in the planes x = -1 and z = -1: their corner line is (-1, y, -1)."""
    return mi.load_dict({
        "type": "scene", "floor": _floor_dict(mi),
        "wall_x": {"type": "rectangle", "bsdf": _grey(),
                   "to_world": mi.ScalarTransform4f().translate([-1, 0, 0]).rotate([0, 1, 0], 90).scale(5)},
        "wall_z": {"type": "rectangle", "bsdf": _grey(),
                   "to_world": mi.ScalarTransform4f().translate([0, 0, -1]).scale(5)},
    })


# --- ambient occlusion -------------------------------------------------------------------------

def _ao(mi, scene, camera, spp=32):
    return _render(mi, scene, camera, {"type": "neurender_ao", "radius": AO_RADIUS}, spp)[..., 0]


def test_ao_is_one_on_an_unoccluded_plane(mitsuba):
    mi = mitsuba
    scene = mi.load_dict({"type": "scene", "floor": _floor_dict(mi)})
    camera = _camera((-0.2, 2.0, -0.2), (-0.6, 0.0, -0.6), (0, 0, -1))
    ao = _ao(mi, scene, camera)
    channels, _ = _gbuffer(mi, scene, camera)
    assert channels["mask.Y"].min() == 1  # the plane fills the view
    assert ao.mean() > 0.99
    assert ao.min() >= 0.9


def test_ao_is_lower_in_a_corner(mitsuba):
    mi = mitsuba
    camera = _camera((-0.2, 2.0, -0.2), (-0.6, 0.0, -0.6), (0, 0, -1))
    scene = _corner_scene(mi)
    ao = _ao(mi, scene, camera)
    channels, position = _gbuffer(mi, scene, camera)
    on_floor = (channels["mask.Y"] == 1) & (np.abs(position[..., 1]) < 1e-3)
    x, z = position[..., 0] + 1, position[..., 2] + 1  # distances to the two walls
    near = on_floor & (x < 0.25) & (z < 0.25)
    far = on_floor & (x > 1.5 * AO_RADIUS) & (z > 1.5 * AO_RADIUS)
    assert near.sum() >= 4 and far.sum() >= 4, (near.sum(), far.sum())
    assert ao[near].mean() < 0.7, ao[near].mean()
    # beyond the AO radius the walls cannot occlude
    assert ao[far].mean() > 0.99
    # occlusion grows towards the corner: along the floor diagonal AO rises with the distance
    along = on_floor & (np.abs(x - z) < 0.1)
    d, a = np.minimum(x, z)[along], ao[along]
    assert a[d < 0.15].mean() < a[(d > 0.2) & (d < 0.4)].mean() < a[d > 0.6].mean() + 1e-6


def test_ao_radius_controls_the_reach(mitsuba):
    """A larger radius reaches the walls from farther away, so the mean AO of the view drops."""
    mi = mitsuba
    camera = _camera((-0.2, 2.0, -0.2), (-0.6, 0.0, -0.6), (0, 0, -1))
    scene = _corner_scene(mi)
    small = _render(mi, scene, camera, {"type": "neurender_ao", "radius": 0.1}, 32)[..., 0].mean()
    large = _render(mi, scene, camera, {"type": "neurender_ao", "radius": 2.0}, 32)[..., 0].mean()
    assert large < small - 0.1, (small, large)


# --- G-buffer conventions ----------------------------------------------------------------------

def test_gbuffer_of_a_sphere_follows_the_camera_space_convention(mitsuba):
    """Sphere of radius 1 at the origin seen from (0, 0, 5): depth, normal axes, albedo, coverage."""
    mi = mitsuba
    scene = mi.load_dict({"type": "scene", "ball": {
        "type": "sphere", "center": [0, 0, 0], "radius": 1.0,
        "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": [0.2, 0.4, 0.6]}}}})
    fov, res = 40.0, 32
    camera = _camera((0, 0, 5), (0, 0, 0), (0, 1, 0), fov=fov, res=res)
    ch, _ = _gbuffer(mi, scene, camera)
    on = ch["mask.Y"] == 1
    # the silhouette: a disc of radius tan(asin(1/5)) / tan(fov/2) of the half width
    ratio = np.tan(np.arcsin(0.2)) / np.tan(np.radians(fov / 2))
    assert on.mean() == pytest.approx(np.pi * ratio**2 / 4, abs=0.03)
    middle = res // 2
    np.testing.assert_allclose(ch["depth.Z"][middle - 1:middle + 1, middle - 1:middle + 1], 4.0, atol=0.02)
    assert (ch["depth.Z"][on] >= 4.0 - 1e-3).all() and (ch["depth.Z"][on] <= 5.0).all()
    # +X right: the left half of the image holds normals pointing left
    assert ch["normal.X"][:, :middle][on[:, :middle]].mean() < -0.3
    assert ch["normal.X"][:, middle:][on[:, middle:]].mean() > 0.3
    # +Y up: image row 0 is the top
    assert ch["normal.Y"][:middle][on[:middle]].mean() > 0.3
    assert ch["normal.Y"][middle:][on[middle:]].mean() < -0.3
    # +Z forward: normals facing the camera have negative z
    assert (ch["normal.Z"][on] < 0.05).all()
    assert ch["normal.Z"][middle, middle] == pytest.approx(-1.0, abs=0.02)
    for c, value in zip("RGB", (0.2, 0.4, 0.6)):
        np.testing.assert_allclose(ch[f"albedo.{c}"][on], value, atol=1e-4)
        assert (ch[f"albedo.{c}"][~on] == 0).all()


# --- whole views of the built-in scenes --------------------------------------------------------

def _renderer(name, **options):
    import scenes
    from data_gen.options import RenderOptions
    from data_gen.passes import ViewRenderer

    ref = scenes.resolve([name], 1, 0)[0]
    loaded = scenes.load(ref, options.get("res", 16))
    return ViewRenderer(loaded, RenderOptions(**options))


def _means(channels, prefix=""):
    return np.array([channels[f"{prefix}{c}"].mean() for c in "RGB"])


MODERATE = dict(res=16, spp=64, spp_direct=64, spp_ao=8, spp_gbuffer=1)


@pytest.fixture(scope="module")
def objects_views(mitsuba):
    """objects view 0 without fog (sigma_s ~ 0), with fog_scale 0, and with the default fog."""
    out = {}
    for label, extra in [("thin", dict(sigma_s=1e-6)), ("none", dict(fog_scale=0.0)), ("default", {})]:
        renderer = _renderer("objects", **MODERATE, **extra)
        out[label], _ = renderer.render(renderer.loaded.camera, 1234)
    return out


def test_thin_fog_matches_the_fog_free_image(objects_views):
    for label in ("thin", "none"):
        ch = objects_views[label]
        for name in ch:
            assert np.isfinite(ch[name]).all(), (label, name)
        rgb, fog = _means(ch), _means(ch, "fog.")
        np.testing.assert_allclose(fog, rgb, rtol=0.03, err_msg=label)


def test_default_fog_changes_the_image_clearly(objects_views):
    thin, default = objects_views["thin"], objects_views["default"]
    # the fog-free passes do not depend on the fog settings
    np.testing.assert_array_equal(default["R"], thin["R"])
    rgb, fog = _means(default), _means(default, "fog.")
    assert np.abs(fog - rgb).max() / rgb.mean() > 0.08, (rgb, fog)
    # per pixel, default fog differs from the fog-free image much more than thin fog does (noise only)
    err_thin = np.mean([np.abs(thin[f"fog.{c}"] - thin[c]).mean() for c in "RGB"])
    err_default = np.mean([np.abs(default[f"fog.{c}"] - default[c]).mean() for c in "RGB"])
    assert err_default > 2 * err_thin, (err_thin, err_default)


def test_fog_scales_with_density(mitsuba):
    """Denser fog departs further from the clear image per pixel and flattens the contrast."""
    diff, contrast = [], []
    for sigma_s in (0.3, 3.0):
        renderer = _renderer("objects", **MODERATE, sigma_s=sigma_s)
        ch, _ = renderer.render(renderer.loaded.camera, 1234)
        fog, clear = (np.stack([ch[f"{p}{c}"] for c in "RGB"]) for p in ("fog.", ""))
        diff.append(np.abs(fog - clear).mean())
        contrast.append(fog.std(axis=(1, 2)).mean())
    assert diff[1] > 1.5 * diff[0], diff
    assert contrast[1] < 0.8 * contrast[0], contrast


def test_fog_stays_out_of_a_bulb_around_point_lights(mitsuba):
    """Rays leaving the room's point lamp cross a null interface at the bulb radius, into the fog."""
    from data_gen.passes import BULB_RADIUS, _position
    from neurender.base.mitsuba import dr, mi

    renderer = _renderer("room", res=8, spp=1, spp_direct=1, spp_ao=1, spp_gbuffer=1)
    (lamp,) = [e for e in renderer.loaded.scene.emitters() if mi.has_flag(e.flags(), mi.EmitterFlags.DeltaPosition)]
    for direction in ([0, -1, 0], [1, 0, 0], [0, 0.6, -0.8]):
        si = renderer.fog_scene.ray_intersect(mi.Ray3f(mi.Point3f(*_position(lamp)), mi.Vector3f(*direction)))
        assert float(si.t[0]) == pytest.approx(BULB_RADIUS * renderer.loaded.size, rel=1e-3)
        assert bool(si.is_medium_transition()[0])
        outside, inside = si.target_medium(si.to_world(-si.wi)), si.target_medium(si.to_world(si.wi))
        assert dr.all(outside != None) and dr.all(inside == None)  # noqa: E711 (Dr.Jit pointer arrays)


@pytest.mark.parametrize("name", ["objects", "room", "forest"])
def test_direct_light_is_at_most_the_full_radiance(mitsuba, name):
    renderer = _renderer(name, **MODERATE)
    ch, _ = renderer.render(renderer.loaded.camera, 99)
    full, direct = _means(ch), _means(ch, "direct.")
    assert (direct <= full * 1.03 + 1e-4).all(), (direct, full)
    if name == "room":  # lit mostly indirectly (window and lamp bounce off the walls)
        assert (direct < 0.8 * full).all(), (direct, full)
    if renderer.loaded.has_environment:
        env = _means(ch, "env.")
        assert (env <= full * 1.03 + 1e-4).all() and env.mean() > 0, (env, full)


def test_rendering_is_repeatable_within_a_process(mitsuba):
    """Same camera and seed twice: identical pixels (the env pass restores the other emitters)."""
    renderer = _renderer("objects", res=16, spp=4, spp_direct=1, spp_ao=4, spp_gbuffer=2)
    first, seconds = renderer.render(renderer.loaded.camera, 7)
    second, _ = renderer.render(renderer.loaded.camera, 7)
    assert set(seconds) == {"rgb", "direct", "env", "fog", "ao", "gbuffer"}
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    # the env pass is darker than the full image: the sun was really switched off only for it
    assert _means(first, "env.").mean() < _means(first).mean()
    other, _ = renderer.render(renderer.loaded.camera, 8)
    assert not np.array_equal(other["R"], first["R"])


def test_room_has_no_env_pass(mitsuba):
    renderer = _renderer("room", res=8, spp=1, spp_direct=1, spp_ao=1, spp_gbuffer=1)
    assert "env" not in renderer.passes()
    ch, _ = renderer.render(renderer.loaded.camera, 1)
    assert not any(name.startswith("env.") for name in ch)
    assert {"R", "direct.R", "fog.R", "ao.Y", "mask.Y"} <= set(ch)


def test_direct_light_is_at_most_the_full_radiance_with_max_depth_1(mitsuba):
    renderer = _renderer("objects", res=16, spp=16, spp_direct=16, spp_ao=1, spp_gbuffer=1, max_depth=1)
    ch, _ = renderer.render(renderer.loaded.camera, 3)
    assert (_means(ch, "direct.") <= _means(ch) * 1.03 + 1e-4).all()
