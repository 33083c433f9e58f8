"""The parameters of a view that its G-buffer does not say (field of view, AO radius, fog density, the
background's distance), their ranges, and how a dataset's manifest and view records give them."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurender.base.errors import InputError

VIEW_RANGES = {"fov_x": (lambda v: 0 < v < 180, "in (0, 180) degrees"),
               "ao_radius": (lambda v: 0 < v < math.inf, "finite and > 0"),
               "sigma_t": (lambda v: 0 <= v < math.inf, "finite and >= 0"),
               "background_distance": (lambda v: v > 0, "> 0 (inf allowed)")}
"""View parameter -> (test of a set value, the rule in words): the one check of the CLI, the Python API
and the manifest reader (every `ViewParameters` is checked when made)."""


@dataclass(frozen=True)
class ViewParameters:
    """What a view's G-buffer does not say and the classic methods (and scaled networks) are told.

    fov_x:      horizontal field of view, degrees.
    ao_radius:  AO ray length, world units.
    sigma_t:    fog extinction coefficient, 1 / world unit.
    background_distance: camera ray length assumed off the mask (the fog volume's reach), world
                units; infinity makes the background pure airlight.

    A dataset's manifest holds all four (`view_parameters`);
    for a G-buffer from elsewhere ``neurender predict`` takes them as options.
    """

    fov_x: float | None = None
    ao_radius: float | None = None
    sigma_t: float | None = None
    background_distance: float | None = math.inf

    OPTIONS = {"fov_x": "--fov-deg", "ao_radius": "--ao-radius", "sigma_t": "--sigma-t"}

    def __post_init__(self) -> None:
        """InputError for a set parameter out of its range (`VIEW_RANGES`; NaN never passes)."""
        for name, (valid, text) in VIEW_RANGES.items():
            value = getattr(self, name)
            if value is not None and not valid(float(value)):
                option = self.OPTIONS.get(name, f"--{name.replace('_', '-')}")
                raise InputError(f"view parameter {name} ({option}) is {value}: it must be {text}")

    def require(self, names, who: str) -> None:
        """InputError naming every parameter of ``names`` that is unset (or not positive where it
        must be), and its ``neurender predict`` option."""
        missing = [n for n in names if getattr(self, n) is None or (n != "sigma_t" and not getattr(self, n) > 0)
                   or (n == "sigma_t" and getattr(self, n) < 0)]
        if missing:
            raise InputError(f"{who} needs {', '.join(f'{n} ({self.OPTIONS[n]})' for n in missing)}: a dataset's "
                             "manifest has them; for a G-buffer from elsewhere give them")


SYNTHETIC_VIEW = ViewParameters(fov_x=60.0, ao_radius=0.05, sigma_t=1.0)
"""The parameters used with synthetic frames (depths about 1) in timings."""


def _background_distance(scene: dict, camera: dict) -> float:
    try:
        origin = np.array(camera["to_world"], dtype=float)[:3, 3]
        reach = float(np.linalg.norm(origin - np.array(scene["pivot"], dtype=float)))
        return reach + 1.5 * max(float(scene["size"]) / 2.0, reach)
    except (KeyError, TypeError, ValueError, IndexError):
        return math.inf


def view_parameters(scene: dict, record: dict) -> ViewParameters:
    """The parameters of a view from its scene's manifest entry and its views.jsonl ``record``: the
    camera's fov_x, the scene's AO ray length and absolute sigma_t, and an estimate of the camera ray
    length to the fog volume's boundary, |origin - pivot| + 1.5 max(size / 2, |origin - pivot|)
    (infinite when the manifest lacks the scene's pivot or size)."""
    camera = record.get("camera") or scene.get("camera", {})
    return ViewParameters(fov_x=float(camera.get("fov_x", 0.0)) or None,
                          ao_radius=float(scene.get("ao_radius", 0.0)) or None,
                          sigma_t=float(scene.get("fog", {}).get("sigma_t", 0.0)),
                          background_distance=_background_distance(scene, camera))
