"""GBufferDataset: split by scene, item shapes, missing channels."""
from __future__ import annotations

import math
import os
import shutil

import pytest
import torch

from neurender.base.errors import InputError
from neurender.base.exr import read_exr, write_exr
from neurender.data import GBufferDataset, split_scenes
from neurender.effects import EFFECTS


@pytest.fixture(scope="module")
def dataset_dir(pair_dataset):
    return str(pair_dataset)


def test_split_by_scene_disjoint_and_complete(dataset_dir):
    train = GBufferDataset(dataset_dir, "ao", "train")
    test = GBufferDataset(dataset_dir, "ao", "test")
    everything = GBufferDataset(dataset_dir, "ao", "all")
    train_scenes = {r["scene"] for r in train.records}
    test_scenes = {r["scene"] for r in test.records}
    assert train_scenes and test_scenes
    assert not train_scenes & test_scenes
    assert train_scenes | test_scenes == {r["scene"] for r in everything.records} == {"objects_000", "room_000"}
    assert len(train) + len(test) == len(everything) == 4


def test_split_deterministic_and_empty():
    ids = [f"s{i}" for i in range(10)]
    assert split_scenes(ids, "test", 0.2, seed=3) == split_scenes(ids, "test", 0.2, seed=3)
    assert len(split_scenes(ids, "test", 0.2)) == 2
    assert split_scenes(["only"], "test") == []


def test_empty_split_raises(dataset_dir, tmp_path):
    one = tmp_path / "one"
    one.mkdir()
    import json

    manifest = json.load(open(os.path.join(dataset_dir, "dataset.json")))
    manifest["scenes"] = [s for s in manifest["scenes"] if s["id"] == "objects_000"]
    json.dump(manifest, open(one / "dataset.json", "w"))
    shutil.copytree(os.path.join(dataset_dir, "objects_000"), one / "objects_000")
    shutil.copy(os.path.join(dataset_dir, "views.jsonl"), one / "views.jsonl")
    with pytest.raises(InputError, match="empty split"):
        GBufferDataset(str(one), "ao", "test")
    assert len(GBufferDataset(str(one), "ao", "train")) == 2


@pytest.mark.parametrize("effect", sorted(EFFECTS))
def test_item_shapes(dataset_dir, effect):
    item = GBufferDataset(dataset_dir, effect)[0]
    spec = EFFECTS[effect]
    assert item["input"].shape == (len(spec.inputs), 32, 32) and item["input"].dtype == torch.float32
    assert item["target"].shape == (len(spec.targets), 32, 32) and item["target"].dtype == torch.float32
    assert item["mask"].shape == (1, 32, 32)
    view = item["parameters"]
    assert view.fov_x > 0 and view.ao_radius > 0 and view.sigma_t > 0 and 0 < view.background_distance < math.inf
    assert isinstance(item["scene"], str) and isinstance(item["view"], int)
    assert torch.isfinite(item["input"]).all() and torch.isfinite(item["target"]).all()


def test_missing_channel_and_unknown_effect(dataset_dir, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(dataset_dir, copy)
    path = copy / "room_000" / "001.exr"
    channels = read_exr(str(path))
    del channels["ao.Y"]
    write_exr(str(path), channels)
    dataset = GBufferDataset(str(copy), "ao")
    index = next(i for i, r in enumerate(dataset.records) if r["file"].endswith("room_000/001.exr"))
    with pytest.raises(InputError, match=r"001\.exr.*ao\.Y"):
        dataset[index]
    GBufferDataset(str(copy), "fog")[index]  # fog does not need ao.Y
    with pytest.raises(InputError, match="unknown effect"):
        GBufferDataset(dataset_dir, "bloom")
