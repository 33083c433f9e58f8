"""Dataset statistics: histograms per family sum to their pixel counts; out-of-range values land in the end bins."""
from __future__ import annotations

import json

import numpy as np
import pytest
from nr_helpers import load_records, read_view


def _channels(h=4, w=5):
    mask = np.zeros((h, w), np.float32)
    mask[:2] = 1
    return {"R": np.full((h, w), 1.0, np.float32), "G": np.full((h, w), 1.0, np.float32),
            "B": np.full((h, w), 1.0, np.float32), "mask.Y": mask,
            "depth.Z": np.where(mask > 0, np.array([[1.0] * w, [3.0] * w] + [[0.0] * w] * (h - 2)), 0).astype(np.float32),
            "normal.X": np.zeros((h, w), np.float32), "normal.Y": np.zeros((h, w), np.float32),
            "normal.Z": -mask, "ao.Y": np.where(mask > 0, 0.55, 1.0).astype(np.float32)}


def test_view_histograms_count_what_they_should():
    from neurender.stats import BINS, view_histograms

    h = view_histograms(_channels())
    assert h["pixels"] == 20 and h["mask_pixels"] == 10
    assert h["log10_luminance"].sum() == 20 and h["log10_luminance"][np.searchsorted(
        np.linspace(*BINS["log10_luminance"][:2], BINS["log10_luminance"][2] + 1), 0.0, side="right") - 1] == 20
    assert h["ao"].sum() == 10 and h["ao"][11] == 10  # 0.55 in [0.55, 0.60)
    assert h["normal_tilt_deg"][0] == 10  # facing the camera
    # depth / mean: 0.5 and 1.5 (mean 2), five pixels each
    assert h["depth"][5] == 5 and h["depth"][15] == 5
    assert h["normal_xy"].sum() == 10


def test_out_of_range_values_land_in_the_end_bins():
    from neurender.stats import view_histograms

    channels = _channels()
    channels["R"][:] = channels["G"][:] = channels["B"][:] = 1e6  # log10 = 6 > 2
    channels["ao.Y"][:2] = 1.0  # the right edge belongs to the last bin
    h = view_histograms(channels)
    assert h["log10_luminance"][-1] == 20
    assert h["ao"][-1] == 10


def test_dataset_histograms_sum_to_the_pixel_counts(dataset, tmp_path):
    from neurender.stats import write_stats

    png, _ = write_stats([str(dataset)], str(tmp_path / "out"))
    assert png == str(tmp_path / "out" / "stats.png") and (tmp_path / "out" / "stats.png").stat().st_size > 1000
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    (entry,) = stats["datasets"]
    families = entry["families"]
    assert set(families) == {"forest", "objects", "room"}
    records = load_records(dataset)
    for family, f in families.items():
        views = [r for r in records if r["scene"].startswith(family)]
        masks = [read_view(dataset, r["scene"], r["view"])["mask.Y"] for r in views]
        assert f["views"] == len(views)
        assert f["pixels"] == sum(m.size for m in masks)
        assert f["mask_pixels"] == sum(int((m > 0.5).sum()) for m in masks) > 0
        for name in ("depth", "normal_tilt_deg", "normal_azimuth_deg", "ao"):
            assert sum(f[name]["counts"]) == f["mask_pixels"], (family, name)
        assert sum(f["log10_luminance"]["counts"]) == f["pixels"]
        assert np.array(f["normal_xy"]["counts"]).sum() == f["mask_pixels"]


def test_two_datasets_in_one_png(dataset, tmp_path):
    from neurender.stats import write_stats

    _, json_path = write_stats([str(dataset), str(dataset)], str(tmp_path / "compare.png"))
    assert json_path == str(tmp_path / "compare.json")
    assert (tmp_path / "compare.png").is_file() and len(json.loads((tmp_path / "compare.json").read_text())["datasets"]) == 2


def test_not_a_dataset_is_an_input_error(tmp_path):
    from neurender.base.errors import InputError
    from neurender.stats import dataset_stats

    with pytest.raises(InputError, match="dataset.json"):
        dataset_stats(str(tmp_path))
