"""`neurender demo`: a small dataset of the built-in scenes and a contact sheet per scene."""
from __future__ import annotations

import json
import os

from data_gen.generator import GenerateOptions, generate, read_views
from data_gen.options import RenderOptions
from data_gen.validate import validate
from neurender.contact_sheet import contact_sheet
from neurender.errors import InputError
from neurender.exr import read_exr

DEMO_SCENES = ("forest", "objects", "room")


def run_demo(out: str, res: int = 96, spp: int = 32, views: int = 4, workers: int = 2) -> list[str]:
    """Generate ``out``/dataset, check it, and write ``out``/sheets/<scene>.png; returns the sheet paths."""
    dataset = os.path.join(out, "dataset")
    options = GenerateOptions(DEMO_SCENES, count=1, views=views, step_deg=360.0 / views, seed=0,
                              render=RenderOptions(res=res, spp=spp, spp_direct=max(1, spp // 4), spp_ao=spp))
    print(f"demo: rendering {len(DEMO_SCENES)} scenes x {views} views at {res}x{res}, {spp} spp into {dataset}")
    generate(options, dataset, workers=workers)
    problems = validate(dataset)
    if problems:
        raise InputError(f"demo dataset failed validation: {problems[0][0]}: {problems[0][1]}")
    sheets_dir = os.path.join(out, "sheets")
    os.makedirs(sheets_dir, exist_ok=True)
    with open(os.path.join(dataset, "dataset.json")) as handle:
        scene_ids = [s["id"] for s in json.load(handle)["scenes"]]
    records = {(r["scene"], r["view"]): r for r in read_views(dataset)}
    sheets = []
    for scene_id in scene_ids:
        record = records[(scene_id, 0)]
        path = os.path.join(sheets_dir, f"{scene_id}.png")
        contact_sheet(read_exr(os.path.join(dataset, record["file"])), path, title=f"{scene_id} view 0")
        sheets.append(path)
        print(f"demo: contact sheet {path}")
    print(f"demo: done; the dataset is {dataset} (check it with `neurender validate {dataset}`)")
    return sheets
