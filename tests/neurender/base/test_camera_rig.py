"""The camera rig: elevation, distance and field of view follow the ranges per view; the fixed rig is the
plain orbit; XML arcs centre on the authored camera; a Z-up XML scene orbits about Z without tumbling."""
from __future__ import annotations

import numpy as np
import pytest
from nr_helpers import z_up_ball_xml


def _base_camera():
    from neurender.base.camera import Camera, look_at

    return Camera(50.0, tuple(map(tuple, look_at([0, 3, 5.5], [0, 0.4, 0], [0, 1, 0]).tolist())), 16, 16)


def test_fixed_rig_is_the_plain_orbit():
    from neurender.base.camera import Rig, orbit, rig_camera

    base = _base_camera()
    for angle in (0.0, 15.0, 200.0):
        assert rig_camera(base, [0, 0.4, 0], [0, 1, 0], angle, Rig(), seed=5) == orbit(base, [0, 0.4, 0], [0, 1, 0], angle)


def test_elevation_distance_and_fov_follow_the_ranges():
    from neurender.base.camera import Rig, elevation_of, rig_camera

    base, pivot, up = _base_camera(), np.array([0, 0.4, 0]), np.array([0.0, 1, 0])
    rig = Rig(elevation_deg=(20.0, 50.0), distance_scale=(0.5, 2.0), fov_deg=(30.0, 70.0))
    base_distance = np.linalg.norm(base.origin - pivot)
    drawn = []
    for seed in range(40):
        camera = rig_camera(base, pivot, up, 10.0 * seed, rig, seed)
        elevation = elevation_of(camera, up)
        assert 20.0 - 1e-6 <= elevation <= 50.0 + 1e-6
        assert 30.0 <= camera.fov_x <= 70.0
        assert 0.5 - 1e-9 <= np.linalg.norm(camera.origin - pivot) / base_distance <= 2.0 + 1e-9
        assert abs(camera.matrix[:3, 0] @ up) < 1e-9  # no roll: the camera's left axis stays horizontal
        assert camera.matrix[:3, 2] @ (pivot - camera.origin) > 0  # still looks at the pivot's side
        drawn.append((elevation, camera.fov_x))
        assert rig_camera(base, pivot, up, 10.0 * seed, rig, seed) == camera  # the view seed decides
    elevations, fovs = np.array(drawn).T
    assert elevations.max() - elevations.min() > 15 and fovs.max() - fovs.min() > 20  # drawn, not fixed


def test_one_range_leaves_the_others_alone():
    from neurender.base.camera import Rig, rig_camera

    base = _base_camera()
    only_fov = rig_camera(base, [0, 0.4, 0], [0, 1, 0], 0.0, Rig(fov_deg=(40.0, 40.0)), 3)
    assert only_fov.fov_x == 40.0 and only_fov.to_world == base.to_world


@pytest.mark.parametrize("low_high", ["60:5", "-95:10", "0:30"])
def test_bad_ranges_are_input_errors(low_high):
    from neurender.base.camera import Rig

    flag = "fov_deg" if low_high == "0:30" else "elevation_deg"
    low, high = map(float, low_high.split(":"))
    with pytest.raises(ValueError, match=flag.replace("_", "-")):
        Rig(**{flag: (low, high)}).check()


def test_arc_angles_centre_on_view_0():
    from neurender.base.camera import arc_angles

    assert arc_angles(1, 60) == [0.0]
    assert arc_angles(2, 60) == [0.0, 30.0]
    assert arc_angles(5, 60) == [0.0, 15.0, -15.0, 30.0, -30.0]
    angles = arc_angles(24, 60)
    assert max(angles) == 30.0 and min(angles) == -27.5 and len(set(angles)) == 24


def test_z_up_xml_orbit_keeps_its_up_vector(mitsuba, tmp_path):
    import scenes
    from neurender.base.camera import Rig, arc_angles

    rig = Rig(elevation_deg=(10.0, 40.0), fov_deg=(30.0, 60.0))
    (ref,) = scenes.resolve([str(z_up_ball_xml(tmp_path))], 1, 0, rig)
    loaded = scenes.load(ref, 16)
    np.testing.assert_allclose(loaded.up, [0, 0, 1])
    for view, angle in enumerate(arc_angles(6, 180)):
        camera = loaded.view_camera(view, angle, seed=view)
        m = camera.matrix
        assert m[2, 1] > 0.5, f"view {view}: camera up {m[:3, 1]} has tumbled"
        assert abs(m[2, 0]) < 1e-6, f"view {view}: rolled"  # left axis horizontal (normal to Z)
        assert m[2, 3] > 0  # above the floor at z = -1, looking down
        assert abs(camera.origin[2] - loaded.pivot[2]) <= np.linalg.norm(camera.origin - loaded.pivot)
