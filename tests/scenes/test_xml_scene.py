"""Mitsuba XML scenes: the Cornell box renders into a valid dataset; bad files give InputError."""
from __future__ import annotations

import numpy as np
import pytest
from nr_helpers import load_manifest, load_records, read_view, run_neurender


def test_cbox_dataset_is_valid(cbox_dataset):
    proc = run_neurender("validate", cbox_dataset)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted((r["scene"], r["view"]) for r in load_records(cbox_dataset)) == [("cbox-rgb", 0), ("cbox-rgb", 1)]


def test_cbox_manifest(cbox_dataset, cbox_path):
    manifest = load_manifest(cbox_dataset)
    (scene,) = manifest["scenes"]
    assert scene["id"] == "cbox-rgb"
    assert scene["source"] == str(cbox_path)
    assert scene["has_environment"] is False
    assert not any(c.startswith("env.") for c in scene["channels"])
    assert not any(c.startswith("env.") for c in manifest["channels"])
    assert scene["up"] == [0.0, 1.0, 0.0]


def test_cbox_has_no_env_channels_and_a_covering_mask(cbox_dataset):
    channels = read_view(cbox_dataset, "cbox-rgb", 0)
    assert not any(name.startswith("env.") for name in channels)
    assert channels["mask.Y"].mean() > 0.9  # the box fills view 0
    rgb = np.stack([channels[c] for c in "RGB"])
    assert rgb.mean() > 0.02
    # lit by one area light inside the box: indirect light matters
    direct = np.stack([channels[f"direct.{c}"] for c in "RGB"])
    assert direct.mean() < rgb.mean()


def test_cbox_view0_uses_the_file_camera(cbox_dataset, cbox_path, mitsuba):
    """View 0's camera is the XML file's sensor (position and field of view)."""
    mi = mitsuba
    scene = mi.load_file(str(cbox_path))
    sensor = scene.sensors()[0]
    expected = np.array(sensor.world_transform().matrix.numpy())[..., 0]
    record = next(r for r in load_records(cbox_dataset) if r["view"] == 0)
    np.testing.assert_allclose(np.array(record["camera"]["to_world"]), expected, atol=1e-4)
    assert record["camera"]["fov_x"] == pytest.approx(float(mi.traverse(sensor)["x_fov"][0]), rel=1e-5)


def test_load_xml_errors(mitsuba, tmp_path):
    from neurender.base.errors import InputError
    from scenes.xml_file import load_xml

    with pytest.raises(InputError, match="not found"):
        load_xml(str(tmp_path / "missing.xml"))
    broken = tmp_path / "broken.xml"
    broken.write_text('<scene version="3.0.0"><shape type="sphere">')
    with pytest.raises(InputError, match="Mitsuba cannot load"):
        load_xml(str(broken))
    no_camera = tmp_path / "no_camera.xml"
    no_camera.write_text('<scene version="3.0.0"><shape type="sphere"/></scene>')
    with pytest.raises(InputError, match="no sensor"):
        load_xml(str(no_camera))
    ortho = tmp_path / "ortho.xml"
    ortho.write_text('<scene version="3.0.0"><sensor type="orthographic"/><shape type="sphere"/></scene>')
    with pytest.raises(InputError, match="perspective"):
        load_xml(str(ortho))


def test_small_xml_scene_loads_with_its_camera(mitsuba, tmp_path):
    import scenes

    path = tmp_path / "ball.xml"
    path.write_text("""<scene version="3.0.0">
  <sensor type="perspective">
    <float name="fov" value="45"/>
    <transform name="to_world"><lookat origin="0, 0, 6" target="0, 0, 0" up="0, 1, 0"/></transform>
  </sensor>
  <shape type="sphere"><float name="radius" value="1"/></shape>
  <emitter type="constant"/>
</scene>""")
    (ref,) = scenes.resolve([str(path)], 1, 0)
    assert ref.scene_id == "ball"
    loaded = scenes.load(ref, 16)
    assert loaded.camera.fov_x == pytest.approx(45.0)
    np.testing.assert_allclose(loaded.camera.origin, [0, 0, 6], atol=1e-5)
    np.testing.assert_allclose(loaded.pivot, [0, 0, 0], atol=1e-5)
    assert loaded.has_environment
    assert loaded.size == pytest.approx(2 * np.sqrt(3), rel=1e-4)


def test_an_include_beside_the_scene_loads(mitsuba, tmp_path):
    """Issue 47, item 5: includes outside the scene's folder are refused (test_cli_errors); those beside it load."""
    from scenes.xml_file import load_xml

    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "ball.xml").write_text('<scene version="3.0.0"><shape type="sphere"/></scene>')
    path = tmp_path / "scene.xml"
    path.write_text('<scene version="3.0.0"><sensor type="perspective"/><include filename="parts/ball.xml"/></scene>')
    scene, cameras = load_xml(str(path))
    assert len(scene.shapes()) == 1 and len(cameras) == 1
