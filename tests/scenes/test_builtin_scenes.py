"""Built-in scenes: deterministic per seed, varied across seeds, loadable, and a sensible view-0 camera."""
from __future__ import annotations

import numpy as np
import pytest

NAMES = ["forest", "objects", "room"]
COUNT_PARAM = {"forest": "tree_count", "objects": "object_count", "room": "furniture_count"}


@pytest.fixture(scope="module")
def builders(mitsuba):
    import scenes

    return scenes.BUILTIN


def _canonical(value, mi):
    """Scene dict -> nested plain values (bitmaps and transforms as arrays) for comparison."""
    if isinstance(value, dict):
        return {k: _canonical(v, mi) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, mi) for v in value]
    if isinstance(value, mi.Bitmap):
        return np.array(value)
    if isinstance(value, mi.ScalarTransform4f):
        return np.array(value.matrix)
    return value


def _equal(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scene(builders, mitsuba, name):
    a, b = builders[name](1234), builders[name](1234)
    assert a.params == b.params
    assert (a.origin, a.target, a.fov_x, a.pivot) == (b.origin, b.target, b.fov_x, b.pivot)
    assert _equal(_canonical(a.scene, mitsuba), _canonical(b.scene, mitsuba))


@pytest.mark.parametrize("name", NAMES)
def test_other_seed_other_scene(builders, mitsuba, name):
    a, b = builders[name](1), builders[name](2)
    assert a.params != b.params
    assert not _equal(_canonical(a.scene, mitsuba), _canonical(b.scene, mitsuba))


@pytest.mark.parametrize("name", NAMES)
def test_counts_vary_across_seeds_within_their_range(builders, name):
    counts = [builders[name](seed).params[COUNT_PARAM[name]] for seed in range(20)]
    low, high = {"forest": (6, 16), "objects": (5, 10), "room": (3, 7)}[name]
    assert all(low <= c <= high for c in counts), counts
    assert len(set(counts)) >= 3, counts


def test_forest_tree_count_is_honoured(builders):
    built = builders["forest"](5, tree_count=3)
    assert built.params["tree_count"] == 3
    assert sum(k.endswith("_trunk") for k in built.scene) == 3


def test_resolve_names_ids_and_seeds(mitsuba):
    import scenes

    refs = scenes.resolve(["forest", "room"], 2, 0)
    assert [r.scene_id for r in refs] == ["forest_000", "forest_001", "room_000", "room_001"]
    assert len({r.seed for r in refs}) == 4
    assert [r.seed for r in scenes.resolve(["forest"], 2, 0)] == [r.seed for r in refs[:2]]
    assert [r.seed for r in scenes.resolve(["forest"], 2, 1)] != [r.seed for r in refs[:2]]


@pytest.mark.parametrize("names, count, words", [
    (["castle"], 1, "unknown scene"),
    (["objects"], 0, "--count"),
    (["/nonexistent/dir/scene.xml"], 1, "not found"),
])
def test_resolve_rejects(mitsuba, names, count, words):
    import scenes
    from neurender.base.errors import InputError

    with pytest.raises(InputError, match=words):
        scenes.resolve(names, count, 0)


def test_resolve_rejects_two_files_with_one_id(mitsuba, tmp_path, cbox_path):
    import scenes
    from neurender.base.errors import InputError

    (tmp_path / "a").mkdir()
    copy = tmp_path / "a" / cbox_path.name
    copy.write_text("<scene version='3.0.0'/>")
    with pytest.raises(InputError, match="share the id"):
        scenes.resolve([str(cbox_path), str(copy)], 1, 0)


def _orbit_origins(loaded, views=24, step=15.0):
    from neurender.base.camera import orbit

    return [orbit(loaded.camera, loaded.pivot, loaded.up, k * step).origin for k in range(views)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed_index", [0, 1, 2])
def test_orbit_cameras_are_outside_every_shape(mitsuba, name, seed_index):
    """No camera of a full 24 x 15 degree orbit sits inside a shape's bounding box."""
    import scenes

    ref = scenes.resolve([name], 3, 0)[seed_index]
    loaded = scenes.load(ref, 16)
    boxes = [(np.array(s.bbox().min), np.array(s.bbox().max), str(s.id())) for s in loaded.scene.shapes()]
    assert len(boxes) >= 3
    for origin in _orbit_origins(loaded):
        for low, high, shape_id in boxes:
            inside = np.all(origin > low + 1e-4) and np.all(origin < high - 1e-4)
            assert not inside, f"{ref.scene_id}: camera at {origin} inside {shape_id}"


@pytest.mark.parametrize("name", NAMES)
def test_loaded_scene_facts(mitsuba, name):
    import scenes

    loaded = scenes.load(scenes.resolve([name], 1, 0)[0], 24)
    assert loaded.camera.width == loaded.camera.height == 24
    assert loaded.has_environment == (name != "room")
    extents = np.array(loaded.scene.bbox().extents())
    assert loaded.size == pytest.approx(float(np.linalg.norm(extents)))
    np.testing.assert_allclose(loaded.up, [0, 1, 0])
    assert loaded.params["seed"] == loaded.ref.seed
    # the camera looks at (roughly) the pivot's side of the scene
    forward = loaded.camera.matrix[:3, 2]
    to_pivot = loaded.pivot - loaded.camera.origin
    if np.linalg.norm(to_pivot) > 1e-6:
        assert forward @ to_pivot > 0


@pytest.mark.parametrize("name", NAMES)
def test_view0_sees_the_scene_from_outside_its_geometry(mitsuba, name):
    """G-buffer of view 0: mostly covered, depths positive and not hugging the camera."""
    import scenes
    from data_gen.passes import ViewRenderer, _sensor

    mi = mitsuba
    loaded = scenes.load(scenes.resolve([name], 1, 0)[0], 32)
    image = mi.render(loaded.scene, sensor=_sensor(loaded.camera),
                      integrator=mi.load_dict({"type": "neurender_gbuffer"}), seed=0, spp=2).numpy()
    ch = ViewRenderer._gbuffer_channels(loaded.camera, image[..., 3:])
    on = ch["mask.Y"] == 1
    assert on.mean() > 0.5
    if name == "room":
        assert on.all()  # a closed room
    else:
        assert not on.all()  # the sky shows
    depth = ch["depth.Z"][on]
    assert depth.min() > 0.5, depth.min()
    assert np.median(depth) > 2.0
    assert depth.max() < loaded.size
