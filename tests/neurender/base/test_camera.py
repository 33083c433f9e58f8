"""Cameras: look_at, the orbit about the up axis, world to camera space."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurender.base.camera import Camera, look_at, nearest_axis, orbit, rotation_about, to_camera_space


def _camera(origin=(1.0, 2.0, 6.0), target=(0.0, 0.5, 0.0), fov=50.0, res=16):
    return Camera(fov, tuple(map(tuple, look_at(origin, target, (0, 1, 0)).tolist())), res, res)


def test_look_at_columns():
    m = look_at((0, 0, 5), (0, 0, 0), (0, 1, 0))
    np.testing.assert_allclose(m[:3, 2], [0, 0, -1])   # forward
    np.testing.assert_allclose(m[:3, 1], [0, 1, 0])    # up
    np.testing.assert_allclose(m[:3, 0], [-1, 0, 0])   # Mitsuba's +X is left
    np.testing.assert_allclose(m[:3, 3], [0, 0, 5])
    np.testing.assert_allclose(m[:3, :3].T @ m[:3, :3], np.eye(3), atol=1e-12)


@pytest.mark.parametrize("pivot", [(0, 0, 0), (0.0, 0.5, 0.0), (3, -1, 2)])
def test_orbit_by_360_degrees_returns_the_base_camera(pivot):
    base = _camera()
    turned = orbit(base, pivot, (0, 1, 0), 360.0)
    np.testing.assert_allclose(turned.matrix, base.matrix, atol=1e-9)
    assert (turned.fov_x, turned.width, turned.height) == (base.fov_x, base.width, base.height)
    # and 24 steps of 15 degrees too
    camera = base
    for _ in range(24):
        camera = orbit(camera, pivot, (0, 1, 0), 15.0)
    np.testing.assert_allclose(camera.matrix, base.matrix, atol=1e-9)


@pytest.mark.parametrize("angle", [15.0, 90.0, 137.5, 180.0, -60.0])
def test_orbit_keeps_distance_height_and_pivot_in_view(angle):
    pivot = np.array([0.0, 0.5, 0.0])
    base = _camera(target=tuple(pivot))
    turned = orbit(base, pivot, (0, 1, 0), angle)
    assert np.linalg.norm(turned.origin - pivot) == pytest.approx(np.linalg.norm(base.origin - pivot))
    assert turned.origin[1] == pytest.approx(base.origin[1])           # turning about Y keeps the height
    assert not np.allclose(turned.origin, base.origin)
    forward = turned.matrix[:3, 2]
    to_pivot = (pivot - turned.origin) / np.linalg.norm(pivot - turned.origin)
    np.testing.assert_allclose(forward, to_pivot, atol=1e-9)           # still looking at the pivot
    rotation = turned.matrix[:3, :3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-9)
    # the horizontal angle between the old and new positions is the orbit angle
    a, b = (base.origin - pivot)[[0, 2]], (turned.origin - pivot)[[0, 2]]
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))) == pytest.approx(abs((angle + 180) % 360 - 180), abs=1e-6)


def test_orbit_about_another_axis_keeps_that_coordinate():
    base = _camera()
    turned = orbit(base, (0, 0, 0), (0, 0, 1), 50.0)
    assert turned.origin[2] == pytest.approx(base.origin[2])
    assert np.linalg.norm(turned.origin) == pytest.approx(np.linalg.norm(base.origin))


def test_rotation_about_fixes_the_center():
    center = np.array([1.0, 2.0, 3.0])
    m = rotation_about((0, 1, 0), 73.0, center)
    np.testing.assert_allclose(m[:3, :3] @ center + m[:3, 3], center, atol=1e-12)


def test_to_camera_space_depth_and_axes():
    camera = _camera(origin=(0, 0, 5), target=(0, 0, 0))
    points = np.array([[[0.0, 0.0, 0.0], [0.0, 0.0, 6.0], [1.0, 0.0, 2.0], [0.0, 3.0, -4.0]]])
    normals = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    depth, n = to_camera_space(camera, points, normals)
    assert depth.shape == (1, 4) and n.shape == (1, 4, 3)
    np.testing.assert_allclose(depth[0], [5.0, -1.0, 3.0, 9.0], atol=1e-6)  # behind the camera: negative
    np.testing.assert_allclose(n[0, 0], [1, 0, 0], atol=1e-6)     # world +X is right for this camera
    np.testing.assert_allclose(n[0, 1], [0, 1, 0], atol=1e-6)     # up stays up
    np.testing.assert_allclose(n[0, 2], [0, 0, -1], atol=1e-6)    # facing the camera: -Z
    np.testing.assert_allclose(n[0, 3], [0, 0, 1], atol=1e-6)


def test_points_in_front_have_positive_depth_from_any_orbit_view():
    rng = np.random.default_rng(0)
    pivot = np.array([0.0, 0.5, 0.0])
    for angle in range(0, 360, 45):
        camera = orbit(_camera(target=tuple(pivot)), pivot, (0, 1, 0), float(angle))
        forward = camera.matrix[:3, 2]
        points = camera.origin + rng.uniform(0.1, 10, (20, 1)) * forward + rng.normal(0, 0.3, (20, 3))
        depth, _ = to_camera_space(camera, points[None], np.zeros((1, 20, 3)))
        expected = (points - camera.origin) @ forward
        np.testing.assert_allclose(depth[0], expected, rtol=1e-5)
        assert (expected > 0).sum() >= 15 and (depth[0][expected > 0] > 0).all()
        d_pivot, _ = to_camera_space(camera, pivot[None, None], np.zeros((1, 1, 3)))
        assert d_pivot[0, 0] == pytest.approx(np.linalg.norm(camera.origin - pivot), rel=1e-6)


def test_nearest_axis():
    np.testing.assert_array_equal(nearest_axis([0.1, -0.9, 0.2]), [0, -1, 0])
    np.testing.assert_array_equal(nearest_axis([0.7, 0.1, 0.69]), [1, 0, 0])


def test_camera_json_round_trip():
    camera = _camera()
    data = json.loads(json.dumps(camera.to_json()))
    again = Camera.from_json(data)
    np.testing.assert_array_equal(again.matrix, camera.matrix)
    assert "+Z forward" in data["convention"]
