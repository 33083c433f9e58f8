"""Dataset statistics: per scene family, histograms of depth, normal directions, AO and luminance.

A family is a built-in scene name (``forest``, ``studio``, ...) or an XML file's scene id. Depth,
normals and AO are counted over mask pixels, luminance over every pixel, so each histogram sums
to its pixel count (recorded beside it). Values outside a histogram's range go to its first or
last bin. Written as JSON (the counts) and a PNG (densities, one line per dataset and family), so
two datasets can be compared in one picture.
"""
from __future__ import annotations

import os

import numpy as np

from neurender.base.atomic import atomic_path, write_json_atomic
from neurender.base.dataset import AO, DEPTH, MASK, NORMAL, RGB, load_manifest, on_surface, read_view_records
from neurender.base.errors import InputError
from neurender.base.exr import read_exr

BINS = {
    "depth": (0.0, 3.0, 30),                 # depth.Z / mean depth.Z on the view's mask
    "normal_tilt_deg": (0.0, 90.0, 18),      # angle between the normal and the direction to the camera
    "normal_azimuth_deg": (-180.0, 180.0, 24),  # atan2(normal.Y, normal.X): 90 = facing up in the image
    "ao": (0.0, 1.0, 20),
    "log10_luminance": (-3.0, 2.0, 25),      # log10 of 0.2126 R + 0.7152 G + 0.0722 B (clamped at 1e-3)
}
NORMAL_XY_BINS = 16  # 2D histogram of (normal.X, normal.Y) in [-1, 1]^2
NEEDED = [*RGB, AO, *DEPTH, MASK, *NORMAL]


def _histogram(values: np.ndarray, name: str) -> np.ndarray:
    low, high, bins = BINS[name]
    edges = np.linspace(low, high, bins + 1)
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    return np.bincount(index.ravel(), minlength=bins)


def view_histograms(channels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Histogram counts of one view's channels (dataset contract names)."""
    on = on_surface(channels[MASK])
    luminance = 0.2126 * channels["R"] + 0.7152 * channels["G"] + 0.0722 * channels["B"]
    out = {"log10_luminance": _histogram(np.log10(np.maximum(luminance, 1e-3)), "log10_luminance")}
    depth = channels[DEPTH[0]][on]
    nx, ny, nz = (channels[name][on] for name in NORMAL)
    out["depth"] = _histogram(depth / depth.mean() if depth.size else depth, "depth")
    out["normal_tilt_deg"] = _histogram(np.degrees(np.arccos(np.clip(-nz, -1, 1))), "normal_tilt_deg")
    out["normal_azimuth_deg"] = _histogram(np.degrees(np.arctan2(ny, nx)), "normal_azimuth_deg")
    out["ao"] = _histogram(channels[AO][on], "ao")
    edges = np.linspace(-1, 1, NORMAL_XY_BINS + 1)
    out["normal_xy"] = np.histogram2d(np.clip(nx, -1, 1), np.clip(ny, -1, 1), bins=(edges, edges))[0].astype(np.int64)
    out["pixels"], out["mask_pixels"] = np.int64(on.size), np.int64(on.sum())
    return out


def family_of(scene: dict) -> str:
    """The family of a manifest scene entry: the built-in name, or the XML file's scene id."""
    return scene["id"] if scene["source"].endswith(".xml") or os.path.sep in scene["source"] else scene["source"]


def dataset_stats(directory: str) -> dict:
    """Histograms per family of every finished view of the dataset in ``directory``."""
    manifest = load_manifest(directory)
    families = {scene["id"]: family_of(scene) for scene in manifest["scenes"]}
    records = read_view_records(directory)
    if not records:
        raise InputError(f"{directory} has no finished views")
    totals: dict[str, dict] = {}
    for record in records:
        channels = read_exr(os.path.join(directory, record["file"]), required=NEEDED)
        family = families.get(record["scene"])
        if family is None:
            raise InputError(f"{directory}: view of unknown scene {record['scene']!r} in views.jsonl")
        total = totals.setdefault(family, {"views": 0})
        total["views"] += 1
        for name, counts in view_histograms(channels).items():
            total[name] = total.get(name, 0) + counts
    out = {"dataset": os.path.abspath(directory), "families": {}}
    for family, total in sorted(totals.items()):
        entry = {"views": total["views"], "pixels": int(total["pixels"]), "mask_pixels": int(total["mask_pixels"])}
        for name, (low, high, bins) in BINS.items():
            entry[name] = {"edges": np.linspace(low, high, bins + 1).tolist(), "counts": total[name].tolist(),
                           "over": "mask_pixels" if name != "log10_luminance" else "pixels"}
        entry["normal_xy"] = {"edges": np.linspace(-1, 1, NORMAL_XY_BINS + 1).tolist(),
                              "counts": total["normal_xy"].tolist(), "over": "mask_pixels",
                              "axes": "[x bin][y bin] of camera-space normal.X, normal.Y"}
        out["families"][family] = entry
    return out


def output_paths(out: str) -> tuple[str, str]:
    """(PNG, JSON) paths for ``--out``: a .png file (JSON beside it) or a directory (stats.png, stats.json)."""
    if out.lower().endswith(".png"):
        return out, out[:-4] + ".json"
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError(f"--out {out} is a file: give a folder or a .png path")
    return os.path.join(out, "stats.png"), os.path.join(out, "stats.json")


def plot(all_stats: list[dict], path: str) -> None:
    """One panel per histogram; one line per (dataset, family), as densities."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(BINS)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4))
    labels = [os.path.basename(s["dataset"].rstrip(os.sep)) for s in all_stats]
    for stats, label in zip(all_stats, labels):
        for family, entry in stats["families"].items():
            for ax, name in zip(axes, names):
                edges, counts = np.array(entry[name]["edges"]), np.array(entry[name]["counts"], dtype=float)
                density = counts / max(counts.sum(), 1) / np.diff(edges)
                ax.stairs(density, edges, label=f"{label}: {family}" if len(all_stats) > 1 else family)
    for ax, name in zip(axes, names):
        ax.set_title(name.replace("_", " "))
        ax.set_yticks([])
    axes[-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)


def write_stats(directories: list[str], out: str) -> tuple[str, str]:
    """Statistics of one or more datasets to a PNG and a JSON; returns their paths."""
    all_stats = [dataset_stats(d) for d in directories]
    png, json_path = output_paths(out)
    os.makedirs(os.path.dirname(os.path.abspath(png)), exist_ok=True)
    write_json_atomic(json_path, {"datasets": all_stats, "bins": {k: list(v) for k, v in BINS.items()}})
    plot(all_stats, png)
    return png, json_path
