"""PyTorch access to a neurender dataset: one item per view, the G-buffer inputs and the
path-traced target of one effect.

Effects (:data:`EFFECTS`) name the EXR channels stacked into ``input`` and ``target``;
``mask.Y`` is always loaded as well (``mask``).

Split: by scene, never by view, so no scene is seen both in training and in testing. The
scene ids of the manifest are sorted and shuffled with ``random.Random(seed)``; the first
``max(1, round(test_fraction * n))`` of them (at most n - 1) are the test scenes. With one
scene there is no test scene (``split="test"`` is then an empty split, an InputError).

HDR: items hold the linear values of the EXR files, unchanged (radiance is linear HDR; the
evaluation compares methods on them, tone-mapped for display metrics). Training maps them to
the networks' normalised space and back with :mod:`neurender.space` (Reinhard for radiance).

Augmentation (off by default): ``crop`` takes a random window of ``crop`` pixels (an int or
(h, w)), ``flip`` mirrors the view horizontally with probability 1/2 and negates
``normal.X`` (camera space is +X right). Both draw from one ``random.Random(seed)`` held by
the dataset, so a run with the same seed and item order is reproducible.
"""
from __future__ import annotations

import json
import math
import os
import random

import numpy as np
import torch

from data_gen.generator import MANIFEST, read_views
from neurender.errors import InputError
from neurender.exr import read_exr

NORMAL = ["normal.X", "normal.Y", "normal.Z"]
DEPTH = ["depth.Z"]
ALBEDO = ["albedo.R", "albedo.G", "albedo.B"]
RGB = ["R", "G", "B"]
DIRECT = ["direct.R", "direct.G", "direct.B"]
MASK = "mask.Y"

EFFECTS: dict[str, dict[str, list[str]]] = {
    "fog": {"inputs": NORMAL + DEPTH + ALBEDO + RGB, "target": ["fog.R", "fog.G", "fog.B"]},
    "ao": {"inputs": NORMAL + DEPTH + [MASK], "target": ["ao.Y"]},
    "gi": {"inputs": NORMAL + DEPTH + ALBEDO + DIRECT, "target": list(RGB)},
}
HDR_EFFECTS = ("fog", "gi")  # effects whose target is linear HDR radiance


def check_effect(effect: str) -> dict[str, list[str]]:
    """The channel lists of ``effect``; InputError naming the valid effects otherwise."""
    if effect not in EFFECTS:
        raise InputError(f"unknown effect {effect!r}; valid effects: {', '.join(EFFECTS)}")
    return EFFECTS[effect]


def input_slice(effect: str, names: list[str]) -> list[int]:
    """Indices of channels ``names`` in the ``input`` tensor of ``effect``."""
    inputs = check_effect(effect)["inputs"]
    return [inputs.index(n) for n in names]


def load_manifest(root: str) -> dict:
    """The parsed ``dataset.json`` of ``root``; InputError when missing or unreadable."""
    path = os.path.join(root, MANIFEST)
    if not os.path.isfile(path):
        raise InputError(f"{root} holds no {MANIFEST}; not a neurender dataset")
    try:
        with open(path) as handle:
            manifest = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a readable manifest: {exc}") from None
    if not isinstance(manifest.get("scenes"), list):
        raise InputError(f"{path} has no scenes list")
    return manifest


def read_view_records(root: str) -> list[dict]:
    """Finished views (see :func:`data_gen.generator.read_views`), one per (scene, view), sorted."""
    unique = {(r["scene"], r["view"]): r for r in read_views(root)}
    return [unique[k] for k in sorted(unique)]


def held_out_split(root: str) -> str:
    """"test" when the dataset has held-out scenes (two scenes or more), else "all"."""
    return "test" if len(load_manifest(root)["scenes"]) >= 2 else "all"


def split_scenes(scene_ids: list[str], split: str, test_fraction: float = 0.2, seed: int = 0) -> list[str]:
    """The scene ids of ``split`` ("all", "train" or "test"), sorted; see the module docstring."""
    if split not in ("all", "train", "test"):
        raise InputError(f"unknown split {split!r}; valid splits: all, train, test")
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"test_fraction must be in [0, 1), got {test_fraction}")
    ids = sorted(set(scene_ids))
    if split == "all":
        return ids
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)
    n_test = min(max(1, round(test_fraction * len(ids))), len(ids) - 1) if len(ids) >= 2 else 0
    test = set(shuffled[:n_test])
    return sorted(i for i in ids if (i in test) == (split == "test"))


class GBufferDataset(torch.utils.data.Dataset):
    """Views of a dataset as items for one effect.

    Each item is a dict:
        input    (C_in, H, W) float32, channels ``EFFECTS[effect]["inputs"]`` in that order (linear)
        target   (C_out, H, W) float32, channels ``EFFECTS[effect]["target"]`` (linear)
        mask     (1, H, W) float32, ``mask.Y``
        scene    scene id (str);  view: view index (int)
        fov_x    horizontal field of view of the view's camera, degrees (float)
        fog      the scene's absolute fog coefficients {sigma_s, sigma_a, sigma_t} (1 / world unit)
        ao_radius  the scene's AO ray length, world units
        background_distance  an estimate of the camera ray length to the fog volume's boundary
                 (world units): |origin - pivot| + 1.5 max(size / 2, |origin - pivot|)

    Raises InputError for an unknown effect or split, an empty split, a dataset whose
    manifest says a scene lacks a needed channel, and (when the item is read) an EXR file
    lacking one.
    """

    def __init__(self, root: str, effect: str, split: str = "all", test_fraction: float = 0.2,
                 crop=None, flip: bool = False, seed: int = 0):
        spec = check_effect(effect)
        self.root, self.effect, self.split = root, effect, split
        self.input_channels, self.target_channels = list(spec["inputs"]), list(spec["target"])
        self.required = self.input_channels + [c for c in self.target_channels if c not in self.input_channels]
        if MASK not in self.required:
            self.required.append(MASK)
        manifest = load_manifest(root)
        self.scenes = {s["id"]: s for s in manifest["scenes"]}
        self.scene_ids = split_scenes(list(self.scenes), split, test_fraction, seed)
        for scene_id in self.scene_ids:
            listed = self.scenes[scene_id].get("channels")
            missing = [c for c in self.required if listed is not None and c not in listed]
            if missing:
                raise InputError(f"scene {scene_id} of {root} lacks channels {', '.join(missing)} "
                                 f"needed by effect {effect}")
        wanted = set(self.scene_ids)
        self.records = [r for r in read_view_records(root) if r["scene"] in wanted]
        if not self.records:
            raise InputError(f"empty split {split!r} of {root} (scenes: {', '.join(self.scene_ids) or 'none'})")
        if crop is not None:
            crop = (int(crop), int(crop)) if np.isscalar(crop) else tuple(int(c) for c in crop)
            if len(crop) != 2 or min(crop) < 1:
                raise InputError(f"crop must be a positive int or (h, w), got {crop}")
        self.crop, self.flip = crop, bool(flip)
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.records)

    def read_channels(self, index: int) -> dict[str, np.ndarray]:
        """All required channels of item ``index`` as name -> (H, W) float32 (InputError names
        the file and the missing channels)."""
        record = self.records[index]
        return read_exr(os.path.join(self.root, record["file"]), self.required)

    def _background_distance(self, scene: dict, camera: dict) -> float:
        try:
            origin = np.array(camera["to_world"], dtype=float)[:3, 3]
            reach = float(np.linalg.norm(origin - np.array(scene["pivot"], dtype=float)))
            return reach + 1.5 * max(float(scene["size"]) / 2.0, reach)
        except (KeyError, TypeError, ValueError, IndexError):
            return math.inf

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        scene = self.scenes[record["scene"]]
        channels = self.read_channels(index)
        inp = torch.from_numpy(np.stack([channels[c] for c in self.input_channels]))
        target = torch.from_numpy(np.stack([channels[c] for c in self.target_channels]))
        mask = torch.from_numpy(channels[MASK][None].copy())
        height, width = mask.shape[-2:]
        if self.crop is not None:
            ch, cw = self.crop
            if ch > height or cw > width:
                raise InputError(f"crop {self.crop} is larger than the {height}x{width} views of {self.root}")
            top, left = self._rng.randint(0, height - ch), self._rng.randint(0, width - cw)
            inp, target, mask = (t[:, top:top + ch, left:left + cw] for t in (inp, target, mask))
        if self.flip and self._rng.random() < 0.5:
            inp, target, mask = (torch.flip(t, dims=[-1]) for t in (inp, target, mask))
            inp[self.input_channels.index("normal.X")] *= -1.0
        camera = record.get("camera") or scene.get("camera", {})
        fog = scene.get("fog", {})
        return {
            "input": inp.contiguous().float(), "target": target.contiguous().float(),
            "mask": mask.contiguous().float(), "scene": record["scene"], "view": int(record["view"]),
            "fov_x": float(camera.get("fov_x", scene.get("camera", {}).get("fov_x", 0.0))),
            "fog": {k: float(fog.get(k, 0.0)) for k in ("sigma_s", "sigma_a", "sigma_t")},
            "ao_radius": float(scene.get("ao_radius", 0.0)),
            "background_distance": self._background_distance(scene, camera),
        }
