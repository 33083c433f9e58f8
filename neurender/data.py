"""PyTorch access to a neurender dataset: one item per view, the G-buffer inputs and the
path-traced target of one effect (channels from its `neurender.effects.Effect` record).

Split: by scene, never by view, so no scene is seen both in training and in testing. The
scene ids of the manifest are sorted and shuffled with ``random.Random(seed)``; the first
``max(1, round(test_fraction * n))`` of them (at most n - 1) are the test scenes. With one
scene there is no test scene (``split="test"`` is then an empty split, an InputError).

HDR: items hold the linear values of the EXR files, unchanged (radiance is linear HDR; the
evaluation compares methods on them, tone-mapped for display metrics). Training maps them to
the networks' normalised space and back with `neurender.space` (Reinhard for radiance).
"""
from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch

from neurender import effects
from neurender.base.dataset import load_manifest, read_view_records
from neurender.base.errors import InputError
from neurender.base.exr import read_exr
from neurender.base.view import ViewParameters, view_parameters


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
        input    (C_in, H, W) float32, the effect's ``inputs`` channels in that order (linear)
        target   (C_out, H, W) float32, the effect's ``targets`` channels (linear)
        mask     (1, H, W) float32, ``mask.Y``
        scene    scene id (str);  view: view index (int)
        parameters  the view's `neurender.base.view.ViewParameters` (`view_parameters`)

    Raises InputError for an unknown effect or split, an empty split, a dataset whose
    manifest says a scene lacks a needed channel, and (when the item is read) an EXR file
    lacking one.
    """

    def __init__(self, root: str, effect: str, split: str = "all", test_fraction: float = 0.2, seed: int = 0):
        self.effect = effects.get(effect)
        self.root, self.split = root, split
        manifest = load_manifest(root)
        self.scenes = {s["id"]: s for s in manifest["scenes"]}
        self.scene_ids = split_scenes(list(self.scenes), split, test_fraction, seed)
        for scene_id in self.scene_ids:
            listed = self.scenes[scene_id].get("channels")
            missing = [c for c in self.effect.required if listed is not None and c not in listed]
            if missing:
                raise InputError(f"scene {scene_id} of {root} lacks channels {', '.join(missing)} "
                                 f"needed by effect {effect}")
        wanted = set(self.scene_ids)
        self.records = [r for r in read_view_records(root) if r["scene"] in wanted]
        if not self.records:
            raise InputError(f"empty split {split!r} of {root} (scenes: {', '.join(self.scene_ids) or 'none'})")
        expected = len(self.scene_ids) * int(manifest.get("views_per_scene", 0))
        if len(self.records) < expected:
            print(f"warning: {root}: {expected - len(self.records)} of the {expected} views of split {split!r} are "
                  f"missing (not recorded, or their EXR is gone); using the {len(self.records)} there are",
                  file=sys.stderr)

    def __len__(self) -> int:
        return len(self.records)

    def read_channels(self, index: int) -> dict[str, np.ndarray]:
        """All required channels of item ``index`` as name -> (H, W) float32 (InputError names
        the file and the missing channels)."""
        return read_exr(os.path.join(self.root, self.records[index]["file"]), list(self.effect.required))

    def view_parameters(self, index: int) -> ViewParameters:
        """The parameters of view ``index`` (`view_parameters`; no EXR is read)."""
        record = self.records[index]
        return view_parameters(self.scenes[record["scene"]], record)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        channels = self.read_channels(index)
        return {
            "input": torch.from_numpy(np.stack([channels[c] for c in self.effect.inputs])).float(),
            "target": torch.from_numpy(np.stack([channels[c] for c in self.effect.targets])).float(),
            "mask": torch.from_numpy(channels[effects.MASK][None].copy()).float(),
            "scene": record["scene"], "view": int(record["view"]),
            "parameters": self.view_parameters(index),
        }
