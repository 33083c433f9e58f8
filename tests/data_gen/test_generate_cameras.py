"""generate's camera options: empty ranges exit 2; XML views follow --orbit-deg and --xml-sensors;
rig views are recorded and render."""
from __future__ import annotations

import numpy as np
from nr_helpers import error_lines, load_records, run_neurender, z_up_ball_xml


def test_empty_range_on_the_command_line_exits_2(tmp_path):
    for flags in (["--elevation-deg", "60:5"], ["--fov-deg", "x:y"], ["--distance-scale", "2:1"]):
        proc = run_neurender("generate", "objects", "--out", tmp_path / "data", *flags)
        assert proc.returncode == 2, proc.stderr
        lines = error_lines(proc.stderr)
        assert len(lines) == 1 and lines[0].startswith("error:") and flags[0] in lines[0], lines
    assert not (tmp_path / "data").exists()


def test_xml_views_default_to_a_60_degree_arc_and_follow_orbit_deg(tmp_path):
    path = z_up_ball_xml(tmp_path)
    small = ["--views", "3", "--res", "8", "--spp", "1", "--spp-ao", "1", "--spp-gbuffer", "1", "--workers", "1"]
    run_neurender("generate", path, "--out", tmp_path / "default", *small, check=True)
    run_neurender("generate", path, "--out", tmp_path / "wide", *small, "--orbit-deg", "90", check=True)
    for name, expected in (("default", [0.0, 30.0, -30.0]), ("wide", [0.0, 45.0, -45.0])):
        records = sorted(load_records(tmp_path / name), key=lambda r: r["view"])
        assert [r["angle_deg"] for r in records] == expected
        origins = np.array([r["camera"]["to_world"] for r in records])[:, :3, 3]
        np.testing.assert_allclose(origins[:, 2], origins[0, 2], atol=1e-5)  # turned about Z: same height


def test_xml_sensors_as_views(tmp_path):
    path = z_up_ball_xml(tmp_path, "two", sensors=(("6, -2, 2", 45), ("-3, 5, 4", 30)))
    small = ["--res", "8", "--spp", "1", "--spp-ao", "1", "--spp-gbuffer", "1", "--workers", "1", "--xml-sensors"]
    run_neurender("generate", path, "--out", tmp_path / "data", "--views", "2", *small, check=True)
    records = sorted(load_records(tmp_path / "data"), key=lambda r: r["view"])
    np.testing.assert_allclose([r["camera"]["to_world"][i][3] for r in records for i in range(3)],
                               [6, -2, 2, -3, 5, 4], atol=1e-4)
    assert [round(r["camera"]["fov_x"]) for r in records] == [45, 30]
    proc = run_neurender("generate", path, "--out", tmp_path / "more", "--views", "3", *small)
    assert proc.returncode == 2 and "2 perspective sensor(s)" in proc.stderr, proc.stderr


def test_rig_views_are_recorded_and_rendered(tmp_path):
    """End to end: every view's recorded camera follows the ranges; the fog sphere holds the farthest camera."""
    from neurender.base.camera import Camera, elevation_of

    out = tmp_path / "data"
    run_neurender("generate", "studio", "--out", out, "--views", "3", "--res", "16", "--spp", "2", "--workers", "1",
                  "--elevation-deg", "20:45", "--fov-deg", "35:55", "--distance-scale", "1.5:2", check=True)
    assert run_neurender("validate", out).returncode == 0
    for record in load_records(out):
        camera = Camera.from_json(record["camera"])
        assert 20 - 1e-6 <= elevation_of(camera, [0, 1, 0]) <= 45 + 1e-6
        assert 35 <= camera.fov_x <= 55
