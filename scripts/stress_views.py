"""Write a copy of a dataset whose scenes are scaled by a factor (issue 46's stress tests).

    scripts/stress_views.py SRC OUT --scale 10

Depth, camera positions, the scene's size and AO radius are multiplied by the factor and the fog
coefficients divided by it: the same scene at another scale, so every target stays exact. The stresses
that change a target (AO radius in pixels, fog density, albedo) are rendered (scripts/stress_suite.sh).
"""
from __future__ import annotations

import argparse
import copy
import json
import os

from neurender.base.atomic import write_json_atomic
from neurender.base.dataset import MANIFEST, VIEWS, load_manifest, read_view_records
from neurender.base.exr import read_exr, write_exr


def scaled_camera(camera: dict, scale: float) -> dict:
    """``camera`` with its position (to_world's last column) times ``scale``."""
    camera = copy.deepcopy(camera)
    for row in camera["to_world"][:3]:
        row[3] *= scale
    return camera


def scaled_scene(scene: dict, scale: float) -> dict:
    scene = copy.deepcopy(scene)
    scene["size"] *= scale
    scene["pivot"] = [p * scale for p in scene["pivot"]]
    scene["ao_radius"] *= scale
    scene["fog"] = {name: value / scale for name, value in scene["fog"].items()}
    scene["camera"] = scaled_camera(scene["camera"], scale)
    return scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src")
    parser.add_argument("out")
    parser.add_argument("--scale", type=float, required=True)
    args = parser.parse_args()
    manifest = load_manifest(args.src)
    manifest["scenes"] = [scaled_scene(s, args.scale) for s in manifest["scenes"]]
    manifest["scaled"] = {"source": os.path.abspath(args.src), "scale": args.scale}
    records = read_view_records(args.src)
    os.makedirs(args.out, exist_ok=True)
    write_json_atomic(os.path.join(args.out, MANIFEST), manifest)
    lines = []
    for record in records:
        channels = read_exr(os.path.join(args.src, record["file"]))
        os.makedirs(os.path.join(args.out, record["scene"]), exist_ok=True)
        write_exr(os.path.join(args.out, record["file"]), dict(channels, **{"depth.Z": channels["depth.Z"] * args.scale}))
        record = dict(record, camera=scaled_camera(record["camera"], args.scale))
        lines.append(json.dumps(record) + "\n")
    with open(os.path.join(args.out, VIEWS), "w") as handle:
        handle.writelines(lines)
    print(f"{len(records)} views -> {args.out} (scale {args.scale:g})")


if __name__ == "__main__":
    main()
