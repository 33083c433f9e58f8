"""Third-party meshes from installed packages: where each source lives, its license, and mesh reading.

A `Source` names a Python package that ships meshes (found without importing it), the
optional extra that installs it, its license and provenance, and the groups of mesh files the
scene families draw from. `mesh_arrays` reads an OBJ, PLY or STL file into vertex and
face arrays once per process. The sources and their licenses are listed in
``scenes/third_party/README.md``; nothing is copied into the repository.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurender.base.errors import InputError
from neurender.base.mitsuba import mi

SKIP_WORDS = ("coll", "vhacd", "lores", "lowres", "plane", "mirror")
"""Mesh files whose name contains one of these are collision hulls, reduced copies or mirror twins."""


@dataclass(frozen=True, eq=False)
class Source:
    """A package that ships meshes.

    package:    importable name located with ``importlib.util.find_spec`` (never imported).
    extra:      the pip extra of neurender that installs it.
    license:    the package's license as its metadata states it.
    provenance: where the meshes come from, in a sentence.
    groups:     group name -> glob patterns under the package folder; the families draw a group, then a mesh.
    """

    package: str
    extra: str
    license: str
    provenance: str
    groups: dict[str, tuple[str, ...]]

    def root(self) -> Path:
        """The package folder; InputError (one line) when the extra is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise InputError(f"the {self.package} meshes are not installed: pip install 'neurender[{self.extra}]'")
        return Path(next(iter(spec.submodule_search_locations)))

    @functools.cached_property
    def meshes(self) -> dict[str, list[Path]]:
        """Group -> sorted mesh files (collision hulls and mirror twins left out), listed once per process."""
        root = self.root()
        groups = {}
        for group, patterns in self.groups.items():
            files = sorted({p for pattern in patterns for p in root.glob(pattern)
                            if not any(word in p.stem.lower() for word in SKIP_WORDS)})
            if not files:
                raise InputError(f"{self.package} at {root} has no meshes for {group!r} ({', '.join(patterns)}): "
                                 f"reinstall 'neurender[{self.extra}]'")
            groups[group] = files
        return groups


PYBULLET = Source(
    package="pybullet_data", extra="assets", license="zlib (pybullet 3.2.7)",
    provenance="the data folder of the Bullet physics SDK's Python wheel: Google's 1,000 random grasping "
               "objects, robot links (KUKA iiwa, Franka Panda, Laikago, A1, Aliengo, Mini Cheetah, Husky, "
               "WSG gripper), a bicycle, a differential gear train, a Minitaur frame, a Kiva shelf, toys",
    groups={
        "random objects": ("random_urdfs/*/*.obj",),
        "robot links": ("kuka_iiwa/meshes/*.obj", "franka_panda/meshes/visual/*.obj", "laikago/*.obj",
                        "a1/meshes/*.obj", "aliengo/meshes/*.obj", "mini_cheetah/meshes/*.obj",
                        "husky/meshes/*.stl", "gripper/meshes/*.stl"),
        "mechanical parts": ("differential/*.stl", "bicycle/files/*.stl", "quadruped/microtaur/*.stl",
                             "kiva_shelf/meshes/*.stl", "racecar/meshes/*.STL"),
        "toys": ("duck.obj", "teddy2_VHACD_CHs.obj", "lego/*.obj", "jenga/*.obj", "objects/*.obj",
                 "domino/*.obj", "torus/*.obj", "bunny.obj"),
    })
"""The training source."""

DM_CONTROL = Source(
    package="dm_control", extra="ood", license="Apache-2.0 (dm_control 1.0.52)",
    provenance="DeepMind's control suite: the 175 bone meshes of its dog skeleton and the decimated "
               "links of its Kinova Jaco arm",
    groups={"dog bones": ("suite/dog_assets/*.stl",),
            "arm links": ("third_party/kinova/meshes_decimated/*.stl",)})
"""The out-of-distribution validation source: never drawn by a training family."""


@functools.lru_cache(maxsize=256)
def mesh_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertex positions (N, 3) float32 and triangles (M, 3) uint32 of an OBJ, PLY or STL file.

    Raises InputError naming the file when it cannot be read or holds no triangle.
    """
    try:
        if path.suffix.lower() == ".stl":
            positions, faces = _read_stl(path)
        else:
            mesh = mi.load_dict({"type": path.suffix.lower()[1:], "filename": str(path)})
            params = mi.traverse(mesh)
            positions = np.array(params["vertex_positions"], dtype=np.float32).reshape(-1, 3)
            faces = np.array(params["faces"], dtype=np.uint32).reshape(-1, 3)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"cannot read the mesh {path}: {' '.join(str(exc).split())[:200]}") from None
    if len(faces) == 0 or not np.isfinite(positions).all():
        raise InputError(f"the mesh {path} has no triangle or a non-finite vertex")
    return positions, faces


def _read_stl(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Binary or ASCII STL: one vertex per triangle corner (STL shares none)."""
    data = path.read_bytes()
    count = int(np.frombuffer(data, np.uint32, 1, 80)[0]) if len(data) >= 84 else -1
    if len(data) == 84 + 50 * count:
        records = np.frombuffer(data, np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]), count, 84)
        positions = records["v"].reshape(-1, 3)
    else:
        words = data.decode("ascii", errors="replace").split()
        at = [i for i, w in enumerate(words) if w == "vertex"]
        if not at or len(at) % 3:
            raise ValueError("neither a binary STL nor ASCII vertex triples")
        positions = np.array([words[i + 1:i + 4] for i in at], dtype=np.float32)
    return positions.astype(np.float32), np.arange(len(positions), dtype=np.uint32).reshape(-1, 3)
