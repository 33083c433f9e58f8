"""The third-party mesh families (pybullet: training, dmcontrol: validation): they render, repeat per seed,
vary what they should, keep their sources apart, and read STL files; a missing extra is one clear error."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from nr_helpers import assert_same_scene_twice, render_ref


@pytest.mark.parametrize("family", ["pybullet", "dmcontrol"])
def test_seeds_render_finite_channels_with_occlusion(mitsuba, family):
    import scenes

    for ref in scenes.resolve([family], 3, 0):
        loaded, channels = render_ref(ref, 24, spp_ao=4)
        for name, values in channels.items():
            assert np.isfinite(values).all(), f"{ref.scene_id}: {name} is not finite"
        assert channels["mask.Y"].sum() > 0, ref.scene_id
        assert channels["ao.Y"][channels["mask.Y"] > 0.5].min() < 0.9, f"{ref.scene_id}: no occlusion anywhere"
        assert loaded.params["source"] == {"pybullet": "pybullet_data", "dmcontrol": "dm_control"}[family]


def test_same_seed_same_scene_and_pixels(mitsuba):
    import scenes
    from scenes.clutter import build_pybullet

    (ref,) = scenes.resolve(["pybullet"], 1, 3)
    assert_same_scene_twice(ref, build_pybullet)


def test_draws_vary_are_recorded_and_thin_structures_are_common(mitsuba):
    from scenes.assets import PYBULLET
    from scenes.clutter import GROUNDS, THIN, build_pybullet

    params = [build_pybullet(seed).params for seed in range(20)]
    assert {p["ground"] for p in params} == set(GROUNDS)
    assert len({p["lighting"] for p in params}) >= 5
    assert {o["group"] for p in params for o in p["objects"]} == set(PYBULLET.groups)
    assert {t["kind"] for p in params for t in p["thin"]} == set(THIN)
    assert sum(bool(p["thin"]) for p in params) >= 10  # most scenes hold a grating, a railing or a cable
    assert all(p["lighting"] in ("lamp", "panel") for p in params if p["ground"] == "interior")
    for p in params:
        assert len(p["objects"]) == p["object_count"] and 3 <= p["object_count"] <= 12
        for o in p["objects"]:
            assert (PYBULLET.root() / o["mesh"]).is_file() and 0.2 <= o["size"] <= 1.0


def test_the_validation_source_shares_no_mesh_with_the_training_source():
    from scenes.assets import DM_CONTROL, PYBULLET

    train = {p.resolve() for files in PYBULLET.meshes.values() for p in files}
    val = {p.resolve() for files in DM_CONTROL.meshes.values() for p in files}
    assert len(train) > 1000 and len(val) > 150
    assert not train & val
    assert not {p.name for p in val} & {p.name for p in train}


def test_posed_mesh_stands_on_the_floor_at_its_size():
    from scenes.clutter import _posed, _random_rotation

    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 3)) * [3, 1, 0.2] + 5
    for rotation in (np.eye(3), _random_rotation(rng)):
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
        posed = _posed(points, 0.7, 33.0, rotation)
        extent = posed.max(axis=0) - posed.min(axis=0)
        assert posed[:, 1].min() == pytest.approx(0, abs=1e-6)
        assert extent.max() == pytest.approx(0.7, rel=1e-5)
        np.testing.assert_allclose((posed.max(axis=0) + posed.min(axis=0))[[0, 2]], 0, atol=1e-5)


def test_stl_binary_and_ascii_read_the_same_triangles(tmp_path, mitsuba):
    from scenes.assets import mesh_arrays

    triangles = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 0, 1], [1, 0, 1], [0, 2, 1]]], np.float32)
    binary = tmp_path / "tri.stl"
    binary.write_bytes(b"solid but binary".ljust(80, b" ") + struct.pack("<I", 2)
                       + b"".join(struct.pack("<3f", 0, 0, 1) + t.tobytes() + b"\0\0" for t in triangles))
    ascii_ = tmp_path / "tri_ascii.stl"
    ascii_.write_text("solid t\n" + "".join(
        "facet normal 0 0 1\nouter loop\n" + "".join(f"vertex {x} {y} {z}\n" for x, y, z in t) + "endloop\nendfacet\n"
        for t in triangles) + "endsolid t\n")
    for path in (binary, ascii_):
        positions, faces = mesh_arrays(path)
        np.testing.assert_array_equal(positions[faces], triangles)


def test_unreadable_mesh_and_missing_extra_are_one_clear_error(tmp_path, mitsuba):
    from neurender.base.errors import InputError
    from scenes.assets import Source, mesh_arrays

    broken = tmp_path / "broken.stl"
    broken.write_bytes(b"\0" * 90)
    with pytest.raises(InputError, match="cannot read the mesh .*broken.stl"):
        mesh_arrays(broken)
    missing = Source(package="neurender_no_such_meshes", extra="assets", license="-", provenance="-", groups={})
    with pytest.raises(InputError, match=r"not installed: pip install 'neurender\[assets\]'"):
        _ = missing.meshes


def test_a_family_draws_past_an_unreadable_mesh(tmp_path, mitsuba):
    """pybullet_data's random_urdfs/168/168.obj holds invalid vertex data: seed 3300 of the pybullet family
    drew it and stopped a render. A file that cannot be read is drawn past; a source of nothing readable is
    one clear error."""
    from neurender.base.errors import InputError
    from scenes.assets import PYBULLET
    from scenes.clutter import MAX_DRAWS, _draw_mesh

    broken = tmp_path / "broken.obj"
    broken.write_text("v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    good = sorted(PYBULLET.meshes["toys"])[0]
    path, (vertices, faces) = _draw_mesh([broken, good], np.random.default_rng(0))
    assert path == good and len(faces) and np.isfinite(vertices).all()
    with pytest.raises(InputError, match=f"none of {MAX_DRAWS} meshes"):
        _draw_mesh([broken], np.random.default_rng(0))
    from scenes import load, resolve

    assert load(resolve(["pybullet"], 1, 3300)[0], 8).params["objects"]  # the scene that drew it loads now
