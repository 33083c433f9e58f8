"""neurender.base.exr: multi-channel round trip, atomic writes, InputError on bad files."""
from __future__ import annotations

import numpy as np
import pytest

from neurender.base.errors import InputError
from neurender.base.exr import read_exr, write_exr


def _channels(h=12, w=20, seed=0):
    rng = np.random.default_rng(seed)
    names = ["R", "G", "B", "normal.X", "normal.Y", "normal.Z", "depth.Z", "mask.Y", "ao.Y"]
    out = {name: rng.normal(0, 10, (h, w)).astype(np.float32) for name in names}
    out["depth.Z"][0, 0] = 1e30  # large HDR values survive (float32, not half)
    out["R"][1, 1] = 1e-30
    return out


def test_round_trip_is_exact(tmp_path):
    path = tmp_path / "view.exr"
    channels = _channels()
    write_exr(str(path), channels)
    back = read_exr(str(path))
    assert sorted(back) == sorted(channels)
    for name, value in channels.items():
        assert back[name].dtype == np.float32 and back[name].shape == (12, 20)
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_non_square_rows_and_columns_kept(tmp_path):
    path = tmp_path / "view.exr"
    ramp = np.arange(12 * 20, dtype=np.float32).reshape(12, 20)
    write_exr(str(path), {"Y": ramp})
    np.testing.assert_array_equal(read_exr(str(path))["Y"], ramp)


def test_float64_input_is_stored_as_float32(tmp_path):
    path = tmp_path / "view.exr"
    write_exr(str(path), {"Y": np.full((4, 4), 0.1, dtype=np.float64)})
    back = read_exr(str(path))["Y"]
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, np.float32(0.1))


def test_overwrite_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "view.exr"
    write_exr(str(path), _channels(seed=1))
    write_exr(str(path), _channels(seed=2))
    assert [p.name for p in tmp_path.iterdir()] == ["view.exr"]
    np.testing.assert_array_equal(read_exr(str(path))["R"], _channels(seed=2)["R"])


def test_mismatched_shapes_are_refused_and_leave_nothing(tmp_path):
    path = tmp_path / "view.exr"
    with pytest.raises(ValueError):
        write_exr(str(path), {"R": np.zeros((4, 4), np.float32), "G": np.zeros((4, 5), np.float32)})
    with pytest.raises(ValueError):
        write_exr(str(path), {"R": np.zeros((4, 4, 3), np.float32)})
    assert list(tmp_path.iterdir()) == []


def test_required_channels(tmp_path):
    path = tmp_path / "view.exr"
    write_exr(str(path), _channels())
    assert set(read_exr(str(path), required=["R", "mask.Y"])) >= {"R", "mask.Y"}
    with pytest.raises(InputError, match="albedo.R"):
        read_exr(str(path), required=["R", "albedo.R"])


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_exr(str(tmp_path / "missing.exr"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "text"])
def test_corrupt_file_raises_input_error(tmp_path, damage):
    path = tmp_path / "view.exr"
    write_exr(str(path), _channels())
    data = path.read_bytes()
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = data[:400] + bytes((b * 7 + 13) % 256 for b in data[400:])
    elif damage == "empty":
        data = b""
    else:
        data = b"not an exr file\n" * 10
    path.write_bytes(data)
    with pytest.raises(InputError, match=str(path)) as info:
        read_exr(str(path))
    assert "\n" not in str(info.value)  # one line for the CLI
