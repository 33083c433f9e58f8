"""A generated dataset follows the contract: manifest, views.jsonl and the channels of every EXR."""
from __future__ import annotations

import numpy as np
import pytest
from nr_helpers import MAIN_SCENES, load_manifest, load_records, read_view, run_neurender

RGB_PASSES = {"rgb": ["R", "G", "B"], "direct": ["direct.R", "direct.G", "direct.B"],
              "env": ["env.R", "env.G", "env.B"], "fog": ["fog.R", "fog.G", "fog.B"]}
GBUFFER = ["albedo.R", "albedo.G", "albedo.B", "normal.X", "normal.Y", "normal.Z", "depth.Z", "mask.Y"]


def _views(directory):
    manifest = load_manifest(directory)
    for scene in manifest["scenes"]:
        for view in range(manifest["views_per_scene"]):
            yield scene, view, read_view(directory, scene["id"], view)


def test_manifest_describes_the_run(dataset):
    manifest = load_manifest(dataset)
    assert manifest["format"] == "neurender-dataset"
    assert manifest["views_per_scene"] == 2
    render = manifest["generation"]["render"]
    assert (render["res"], render["spp"], render["spp_direct"], render["spp_ao"]) == (16, 4, 1, 4)
    assert [s["id"] for s in manifest["scenes"]] == [f"{name}_000" for name in MAIN_SCENES]
    for scene in manifest["scenes"]:
        assert scene["size"] > 0
        assert scene["ao_radius"] == pytest.approx(render["ao_radius"] * scene["size"])
        assert scene["fog"]["sigma_t"] == pytest.approx((render["sigma_s"] + render["sigma_a"])
                                                         * render["fog_scale"] / scene["size"])
        assert scene["camera"]["width"] == scene["camera"]["height"] == 16


def test_scene_channels_follow_the_environment(dataset):
    """env.* exists exactly for scenes with an environment emitter (forest, objects: yes; room: no)."""
    manifest = load_manifest(dataset)
    has_env = {s["id"]: s["has_environment"] for s in manifest["scenes"]}
    assert has_env == {"forest_000": True, "objects_000": True, "room_000": False}
    for scene in manifest["scenes"]:
        expected = RGB_PASSES["rgb"] + RGB_PASSES["direct"] + (RGB_PASSES["env"] if scene["has_environment"] else [])
        expected += RGB_PASSES["fog"] + ["ao.Y"] + GBUFFER
        assert sorted(scene["channels"]) == sorted(expected)
    union = {c for s in manifest["scenes"] for c in s["channels"]}
    assert set(manifest["channels"]) == union


def test_every_view_holds_its_channels_finite_at_the_resolution(dataset):
    for scene, view, channels in _views(dataset):
        assert set(channels) == set(scene["channels"]), (scene["id"], view)
        for name, value in channels.items():
            assert value.shape == (16, 16), (scene["id"], view, name)
            assert value.dtype == np.float32
            assert np.isfinite(value).all(), (scene["id"], view, name)


def test_radiance_and_albedo_ranges(dataset):
    for scene, view, ch in _views(dataset):
        for names in (RGB_PASSES["rgb"], RGB_PASSES["direct"], RGB_PASSES["fog"]):
            for name in names:
                assert ch[name].min() >= 0, (scene["id"], view, name)
        rgb = np.stack([ch[c] for c in "RGB"])
        assert rgb.mean() > 0.01, f"{scene['id']} view {view} is black"
        for c in "RGB":
            assert 0 <= ch[f"albedo.{c}"].min() and ch[f"albedo.{c}"].max() <= 1 + 1e-5


def test_mask_is_binary_and_covers_the_scene(dataset):
    for scene, view, ch in _views(dataset):
        mask = ch["mask.Y"]
        assert np.isin(mask, (0.0, 1.0)).all()
        assert mask.mean() > 0.5, f"{scene['id']} view {view}: camera sees mostly nothing"
    # the room is closed: every pixel hits a surface
    for view in range(2):
        assert read_view(dataset, "room_000", view)["mask.Y"].min() == 1.0


def _pixel_rays(camera: dict) -> np.ndarray:
    """Unit view ray of every pixel centre in camera space (+X right, +Y up, +Z forward)."""
    w, h = camera["width"], camera["height"]
    tan = np.tan(np.radians(camera["fov_x"]) / 2)
    rows, cols = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    rays = np.stack([(2 * cols / w - 1) * tan, (1 - 2 * rows / h) * tan * h / w, np.ones((h, w))], axis=-1)
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def test_normals_unit_length_and_facing_the_camera_on_mask(dataset):
    for scene, view, ch in _views(dataset):
        on = ch["mask.Y"] == 1
        normal = np.stack([ch[f"normal.{a}"] for a in "XYZ"], axis=-1)
        length = np.linalg.norm(normal, axis=-1)
        np.testing.assert_allclose(length[on], 1.0, atol=1e-3, err_msg=f"{scene['id']} view {view}")
        # a normal facing the camera points against the pixel's view ray (checks the X right / Y up convention
        # too); pixels on silhouettes average two surfaces, so allow a few slightly off
        facing = (normal * _pixel_rays(scene["camera"])).sum(-1)[on]
        assert (facing < 0.05).mean() > 0.97, f"{scene['id']} view {view}: normals face away"


def test_depth_positive_and_plausible_on_mask(dataset):
    for scene, view, ch in _views(dataset):
        on = ch["mask.Y"] == 1
        depth = ch["depth.Z"][on]
        assert (depth > 0).all(), f"{scene['id']} view {view}"
        assert depth.max() < scene["size"] * 2, f"{scene['id']} view {view}: depth beyond the scene"


def test_ao_in_unit_interval(dataset):
    for scene, view, ch in _views(dataset):
        ao = ch["ao.Y"]
        assert ao.min() >= 0 and ao.max() <= 1, (scene["id"], view)
        assert ao[ch["mask.Y"] == 1].mean() < 1.0, f"{scene['id']} view {view}: no occlusion anywhere"


def test_background_gbuffer_is_zero_off_mask(dataset):
    """Contract: normal, depth and albedo are 0 off the mask."""
    for scene, view, ch in _views(dataset):
        off = ch["mask.Y"] == 0
        for name in ["normal.X", "normal.Y", "normal.Z", "depth.Z", "albedo.R", "albedo.G", "albedo.B"]:
            assert (ch[name][off] == 0).all(), (scene["id"], view, name)


def test_background_ao_is_one_off_mask(dataset):
    for scene, view, ch in _views(dataset):
        off = ch["mask.Y"] == 0
        assert (ch["ao.Y"][off] == 1).all(), f"{scene['id']} view {view}: ao.Y off the mask {ch['ao.Y'][off].min()}"


def test_views_jsonl_records_every_view_once_with_its_file(dataset):
    records = load_records(dataset)
    keys = [(r["scene"], r["view"]) for r in records]
    assert sorted(keys) == sorted((f"{name}_000", v) for name in MAIN_SCENES for v in range(2))
    for r in records:
        assert r["file"] == f"{r['scene']}/{r['view']:03d}.exr"
        assert (dataset / r["file"]).is_file()
        assert r["render_seconds"] > 0 and r["task_seconds"] >= r["render_seconds"]


def test_view_records_match_seeds_and_orbit(dataset):
    """Each record's seed and camera are the ones the manifest implies (view k turned k * step_deg)."""
    from data_gen.options import view_seed
    from neurender.base.camera import Camera, orbit

    manifest = load_manifest(dataset)
    generation = manifest["generation"]
    scenes = {s["id"]: s for s in manifest["scenes"]}
    for r in load_records(dataset):
        scene = scenes[r["scene"]]
        assert r["seed"] == view_seed(generation["seed"], r["scene"], r["view"])
        assert r["angle_deg"] == pytest.approx(r["view"] * generation["step_deg"])
        c = scene["camera"]
        base = Camera.from_json(c)
        expected = orbit(base, scene["pivot"], scene["up"], r["angle_deg"])
        np.testing.assert_allclose(np.array(r["camera"]["to_world"]), expected.matrix, atol=1e-9)
    seeds = [r["seed"] for r in load_records(dataset)]
    assert len(set(seeds)) == len(seeds)


def test_views_of_one_scene_differ(dataset):
    """The orbit really moves the camera: view 1 is not view 0."""
    for name in MAIN_SCENES:
        a, b = read_view(dataset, f"{name}_000", 0), read_view(dataset, f"{name}_000", 1)
        assert not np.array_equal(a["depth.Z"], b["depth.Z"]), name


def test_validate_accepts_the_dataset(dataset):
    proc = run_neurender("validate", dataset)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "follows the contract" in proc.stdout
    assert proc.stderr.strip() == ""


def test_validate_function_finds_no_problem(dataset):
    from data_gen.validate import validate

    assert validate(str(dataset)) == []
