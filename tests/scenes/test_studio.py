"""The studio family: seeds build and render, the same seed gives the same scene, draws are recorded,
unreadable assets are refused."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from nr_helpers import REPO, assert_same_scene_twice, render_ref

ASSETS = REPO / "scenes/third_party/mitsuba-data"


@pytest.fixture(scope="module")
def studio_refs(mitsuba):
    import scenes

    return scenes.resolve(["studio"], 5, 0)


def _render(ref, res=16):
    return render_ref(ref, res)


def test_five_seeds_render_finite_channels_with_a_mask(studio_refs):
    for ref in studio_refs:
        loaded, channels = _render(ref)
        for name, values in channels.items():
            assert np.isfinite(values).all(), f"{ref.scene_id}: {name} is not finite"
        assert channels["mask.Y"].sum() > 0, ref.scene_id
        assert loaded.has_environment  # every lighting kind has an environment (env.R/G/B rendered)
        assert {"env.R", "fog.R", "ao.Y", "albedo.R"} <= set(channels)
        albedo = np.stack([channels[f"albedo.{c}"] for c in "RGB"])
        assert albedo.min() >= 0 and albedo.max() <= 1, (ref.scene_id, albedo.max())


def test_same_seed_same_scene_and_pixels(studio_refs):
    from scenes.studio import build_studio

    assert_same_scene_twice(studio_refs[1], build_studio)


def test_draws_vary_and_are_recorded(mitsuba):
    from scenes.studio import KINDS, LIGHTS, MATERIALS, build_studio

    params = [build_studio(seed).params for seed in range(40)]
    json.dumps(params)  # JSON-able: it goes into the manifest
    counts = [p["object_count"] for p in params]
    assert min(counts) >= 1 and max(counts) <= 8 and len(set(counts)) >= 5
    assert all(len(p["objects"]) == p["object_count"] for p in params)
    objects = [o for p in params for o in p["objects"]]
    assert {o["kind"] for o in objects} == set(KINDS)
    assert {o["material"] for o in objects} == set(MATERIALS)
    assert {o["placement"] for o in objects} == {"free", "touching", "stacked"}
    assert {p["lighting"] for p in params} == set(LIGHTS)
    assert {p["ground"] for p in params} == {"floor", "backdrop"}
    for p in params:
        if p["lighting"] == "envmap":
            assert {"envmap", "rotation_deg", "scale"} <= set(p["light"])


def test_touching_objects_touch(mitsuba):
    """A 'touching' object's footprint meets a neighbour's on the floor without overlapping any: creases, not gaps."""
    from scenes.studio import build_studio

    for seed in range(20):
        objects = build_studio(seed).params["objects"]
        for o in objects:
            if o["placement"] != "touching":
                continue
            gaps = [np.hypot(o["position"][0] - p["position"][0], o["position"][2] - p["position"][2])
                    - (o["size"] + p["size"]) / 2 for p in objects if p is not o and p["position"][1] == 0]
            assert min(gaps) == pytest.approx(0.0, abs=1e-6), (seed, gaps)


def test_conductor_albedo_is_zero_and_plastic_albedo_is_its_diffuse_colour(mitsuba):
    from data_gen.passes import ViewRenderer, _sensor
    from neurender.base.camera import Camera, look_at

    mi = mitsuba
    camera = Camera(40.0, tuple(map(tuple, look_at([0, 0, 4], [0, 0, 0], [0, 1, 0]).tolist())), 8, 8)
    materials = {
        "roughconductor": ({"type": "roughconductor", "material": "none", "alpha": 0.2,
                            "specular_reflectance": {"type": "rgb", "value": [0.9, 0.6, 0.3]}}, [0, 0, 0]),
        "roughplastic": ({"type": "roughplastic", "alpha": 0.2,
                          "diffuse_reflectance": {"type": "rgb", "value": [0.2, 0.5, 0.7]}}, [0.2, 0.5, 0.7]),
    }
    for name, (bsdf, expected) in materials.items():
        scene = mi.load_dict({"type": "scene", "ball": {"type": "sphere", "bsdf": bsdf}, "sky": {"type": "constant"}})
        image = mi.render(scene, sensor=_sensor(camera), integrator=mi.load_dict({"type": "neurender_gbuffer"}),
                          spp=2).numpy()
        channels = ViewRenderer._gbuffer_channels(camera, image[..., 3:])
        on = channels["mask.Y"] == 1
        for c, value in zip("RGB", expected):
            np.testing.assert_allclose(channels[f"albedo.{c}"][on], value, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("broken", ["teapot.ply", "envmap.hdr"])
def test_unreadable_asset_is_an_input_error(mitsuba, tmp_path, broken):
    from neurender.base.errors import InputError
    from scenes.studio import build_studio

    for name in ("teapot.ply", "sphere.ply", "envmap.hdr"):
        shutil.copy(ASSETS / name, tmp_path / name)
    (tmp_path / broken).write_text("not a mesh or an image")
    with pytest.raises(InputError, match=broken):
        build_studio(3, assets=tmp_path)
    (tmp_path / broken).unlink()
    with pytest.raises(InputError, match="cannot read"):
        build_studio(3, assets=tmp_path)


def test_studio_needs_nothing_outside_the_package(tmp_path):
    """A copy of the scene library (and the base it imports) loads a studio scene with no shared/ anywhere."""
    import subprocess
    import sys

    copy = tmp_path / "copy"
    shutil.copytree(REPO / "scenes", copy / "scenes")
    shutil.copytree(REPO / "neurender" / "base", copy / "neurender" / "base")
    shutil.copy(REPO / "neurender" / "__init__.py", copy / "neurender" / "__init__.py")
    code = ("import sys; sys.path.insert(0, '.'); import scenes; assert scenes.__file__.startswith(sys.argv[1]); "
            "loaded = scenes.load(scenes.resolve(['studio'], 1, 3)[0], 16); print('loaded', loaded.ref.scene_id)")
    result = subprocess.run([sys.executable, "-c", code, str(copy)], cwd=copy, capture_output=True, text=True)
    assert result.returncode == 0 and "loaded studio_000" in result.stdout, result.stderr[-2000:]


def test_nothing_in_the_product_reads_shared():
    product = [p for folder in ("neurender", "scenes", "data_gen", "scripts") for p in (REPO / folder).rglob("*")
               if p.suffix in (".py", ".sh")]
    assert product and not [str(p) for p in product if "../shared" in p.read_text() or "shared/assets" in p.read_text()]
