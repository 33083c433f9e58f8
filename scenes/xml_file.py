"""Any Mitsuba 3 XML file as a scene: its own camera is view 0."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree

import numpy as np

from neurender.base.errors import InputError
from neurender.base.mitsuba import mi


def _check_includes(path: str) -> None:
    """InputError for an ``<include>`` whose file lies outside the scene file's folder (absolute, or up
    through '..'): a scene brings its parts along; it does not reach into the rest of the machine."""
    try:
        root = ElementTree.parse(path).getroot()
    except (ElementTree.ParseError, OSError):
        return  # not XML: Mitsuba's own error says where
    folder = os.path.realpath(os.path.dirname(path))
    for include in root.iter("include"):
        name = include.get("filename", "")
        target = os.path.realpath(os.path.join(folder, name))
        if os.path.commonpath([folder, target]) != folder:
            raise InputError(f"{path}: <include filename=\"{name}\"> leads outside the scene's folder; keep "
                             "included files beside the scene")


def load_xml(path: str):
    """Load ``path``; returns (scene, cameras): the (fov_x in degrees, 4x4 camera-to-world) of each
    perspective sensor in file order, the first sensor's first (other sensor types are skipped).

    Raises InputError when the file is missing, Mitsuba rejects it or its first sensor is no perspective camera.
    """
    if not os.path.isfile(path):
        raise InputError(f"scene file not found: {path}")
    _check_includes(path)
    try:
        scene = mi.load_file(path)
    except Exception as exc:  # noqa: BLE001 - Mitsuba raises RuntimeError/ValueError on bad XML
        message = " ".join(str(exc).split())
        raise InputError(f"Mitsuba cannot load {path}: {message[:300]}") from None
    if not scene.sensors():
        raise InputError(f"{path} has no sensor, so there is no camera to start the orbit from")
    cameras = []
    for i, sensor in enumerate(scene.sensors()):
        params = mi.traverse(sensor)
        if "x_fov" not in params:
            if i == 0:
                raise InputError(f"{path}: the first sensor is not a perspective camera")
            continue
        cameras.append((float(params["x_fov"][0]), np.array(sensor.world_transform().matrix.numpy())[..., 0]))
    return scene, cameras
