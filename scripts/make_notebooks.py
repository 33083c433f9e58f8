"""Write notebooks/02-05 from their cells; with ``--execute`` run each first, so it is saved with its
outputs (pictures visible on a code host). Usage: .venv/bin/python scripts/make_notebooks.py [--execute]
(the outputs' scratch files go to /tmp/nb_run)."""
from __future__ import annotations

import sys
from pathlib import Path

import nbclient
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

SETTINGS = '''import os
res = int(os.environ.get("NB_RES", {res}))
spp = int(os.environ.get("NB_SPP", {spp}))
views = int(os.environ.get("NB_VIEWS", {views}))
out = os.environ.get("NB_OUT", "nb_out/{name}")
'''

CELLS = {
    "02_training": [
        new_markdown_cell("# 02 — Training an effect predictor\n\nRender a small dataset, train the attention "
                          "cGAN for AO on it for a few hundred steps, and read the run folder: `log.jsonl` (losses, "
                          "sample metrics), the sample grids and TensorBoard's events. The environment variables let "
                          "the test suite run this notebook at a tiny size."),
        new_code_cell(SETTINGS.format(res=64, spp=16, views=4, name="02") +
                      'iters = int(os.environ.get("NB_ITERS", 300))\n\n'
                      'from data_gen.generator import GenerateOptions, generate\n'
                      'from data_gen.options import RenderOptions\n'
                      'data = os.path.join(out, "data")\n'
                      'generate(GenerateOptions(("objects", "room"), views=views, render=RenderOptions(res=res, spp=spp)),\n'
                      '         data, progress=False)'),
        new_markdown_cell("Training: `TrainConfig` holds every option of `neurender train` (the command line is "
                          "derived from it). The run resumes if this cell runs again."),
        new_code_cell('from neurender.run.config import TrainConfig\n'
                      'from neurender.training.train import train\n'
                      'run = os.path.join(out, "run")\n'
                      'config = TrainConfig(model="acgan", effect="ao", data=data, iters=iters, crop=min(64, res), batch=4,\n'
                      '                     log_every=max(1, iters // 30), sample_every=max(1, iters // 3))\n'
                      'result = train(config, run, progress=False)\n'
                      'print(f"{result[\'step\']} steps in {result[\'seconds\']:.0f} s:", sorted(os.listdir(run)))'),
        new_markdown_cell("Loss curves from `log.jsonl` (one line per logged step; sample lines carry the held-out "
                          "views' SSIM and PSNR)."),
        new_code_cell('import json\n'
                      'import matplotlib.pyplot as plt\n'
                      'log = [json.loads(line) for line in open(os.path.join(run, "log.jsonl"))]\n'
                      'losses = [r for r in log if "samples" not in r]\n'
                      'samples = [r for r in log if "samples" in r]\n'
                      'fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))\n'
                      'for key in [k for k in losses[0] if k not in ("step", "time")]:\n'
                      '    left.plot([r["step"] for r in losses], [r[key] for r in losses], label=key)\n'
                      'left.set_xlabel("step"); left.set_yscale("log"); left.legend(fontsize=8); left.set_title("losses")\n'
                      'right.plot([r["step"] for r in samples], [r["samples"]["ssim"] for r in samples], "o-")\n'
                      'right.set_xlabel("step"); right.set_title("SSIM of the sample views")\n'
                      'fig.tight_layout(); fig.savefig(os.path.join(out, "losses.png")); plt.show()'),
        new_markdown_cell("The last sample grid (prediction | path-traced target per row). The same curves and "
                          "grids are in TensorBoard: `tensorboard --logdir RUN`."),
        new_code_cell('from IPython.display import Image\n'
                      'grids = sorted(os.listdir(os.path.join(run, "samples")))\n'
                      'print(grids, os.listdir(os.path.join(run, "tensorboard")))\n'
                      'Image(filename=os.path.join(run, "samples", grids[-1]))'),
    ],
    "03_evaluation": [
        new_markdown_cell("# 03 — Evaluation and comparison\n\nScore the classic AO methods and the shipped "
                          "`pretrained:ao` against the path-traced reference of held-out seeds, with the path "
                          "tracer's and PT + OIDN's quality/time curves; read `summary.json` with pandas and draw "
                          "the quality/time plot."),
        new_code_cell(SETTINGS.format(res=96, spp=64, views=2, name="03") +
                      '\nfrom data_gen.generator import GenerateOptions, generate\n'
                      'from data_gen.options import RenderOptions\n'
                      'data = os.path.join(out, "data")\n'
                      'generate(GenerateOptions(("objects", "studio"), views=views, seed=1000,\n'
                      '                         render=RenderOptions(res=res, spp=spp)), data, progress=False)'),
        new_code_cell('from neurender import evaluate\n'
                      'summary = evaluate(data, "ao", ["ssao", "gtao", "pretrained:ao"], out_dir=os.path.join(out, "eval"),\n'
                      '                   path_tracer_curve=True)\n'
                      'print(sorted(summary))'),
        new_markdown_cell("Every method's surface figures, its time, and its speed-up over PT + OIDN at equal "
                          "quality on SSIM, PSNR and FLIP together (None: the curve never reaches it). The noise floor "
                          "is the reference rendered again: no method can be shown better than it."),
        new_code_cell('import pandas as pd\n'
                      'table = pd.DataFrame({name: {**m["mean"], "ms/frame": m["ms_per_frame"],\n'
                      '                             "PT+OIDN equal-quality ms": summary["pt_oidn"]["equal_quality_ms"][name],\n'
                      '                             "speed-up over PT+OIDN": summary["pt_oidn"]["speedup"][name]}\n'
                      '                      for name, m in summary["methods"].items()}).T\n'
                      'floor = summary["noise_floor"]\n'
                      'table.loc["noise floor"] = {k: floor[k] for k in ("psnr", "ssim", "flip", "mae")} | {"ms/frame": floor["ms"]}\n'
                      'table.round(3)'),
        new_markdown_cell("Per scene (surface SSIM):"),
        new_code_cell('pd.DataFrame({name: {scene: v["ssim"] for scene, v in m["per_scene"].items()}\n'
                      '              for name, m in summary["methods"].items()}).round(3)'),
        new_markdown_cell("The report's plot: quality against time for the three metrics, with both curves."),
        new_code_cell('from IPython.display import Image\n'
                      'from neurender.evaluation.report import report\n'
                      'page = report([os.path.join(out, "eval")], os.path.join(out, "report"))\n'
                      'print(page)\n'
                      'Image(filename=os.path.join(out, "report", "images", "00_ao_quality_time.png"))'),
    ],
    "04_shipped_models": [
        new_markdown_cell("# 04 — Shipped models from Python\n\nThe three-line API on one rendered view: AO from "
                          "the GAN and from the diffusion refiner with its calibrated uncertainty map, and fog."),
        new_code_cell(SETTINGS.format(res=128, spp=64, views=1, name="04") +
                      'draws = int(os.environ.get("NB_DRAWS", 8))\n\n'
                      'from data_gen.generator import GenerateOptions, generate\n'
                      'from data_gen.options import RenderOptions\n'
                      'data = os.path.join(out, "data")\n'
                      'generate(GenerateOptions(("objects",), views=views, seed=1000, render=RenderOptions(res=res, spp=spp)),\n'
                      '         data, progress=False)\n'
                      'exr = os.path.join(data, "objects_000", "000.exr")'),
        new_code_cell('from neurender import Predictor, SamplingOptions, load_gbuffer, load_view\n'
                      'gbuffer, view = load_gbuffer(exr), load_view(exr)\n'
                      'print(view)\n'
                      'ao = Predictor.from_pretrained("ao")(gbuffer, view)["ao.Y"]\n'
                      'refiner = Predictor.from_pretrained("ao-diffusion", sampling=SamplingOptions(samples=draws, steps=4))\n'
                      'refined = refiner(gbuffer, view)\n'
                      'fog = Predictor.from_pretrained("fog")(gbuffer, view)\n'
                      'print(sorted(refined), ao.shape, ao.dtype)'),
        new_markdown_cell("The diffusion model's `std.ao.Y` is the spread of its draws times the calibration "
                          "fitted on validation scenes: where it is large, the error tends to be large."),
        new_code_cell('import numpy as np\n'
                      'import matplotlib.pyplot as plt\n'
                      'reference = gbuffer["ao.Y"]\n'
                      'fog_rgb = np.stack([fog[f"fog.{c}"] for c in "RGB"], -1)\n'
                      'panels = {"path-traced AO": reference, "pretrained:ao": ao, "pretrained:ao-diffusion": refined["ao.Y"],\n'
                      '          "its uncertainty (std)": refined["std.ao.Y"], "|error| of the refiner": np.abs(refined["ao.Y"] - reference),\n'
                      '          "pretrained:fog": fog_rgb / (1 + fog_rgb)}\n'
                      'fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.2))\n'
                      'for ax, (title, image) in zip(axes, panels.items()):\n'
                      '    ax.imshow(image, cmap="magma" if "std" in title or "error" in title else "gray",\n'
                      '              vmin=0, vmax=None if "std" in title or "error" in title else 1)\n'
                      '    ax.set_title(title, fontsize=9); ax.axis("off")\n'
                      'fig.tight_layout(); fig.savefig(os.path.join(out, "shipped.png")); plt.show()\n'
                      'on = gbuffer["mask.Y"] > 0.5\n'
                      'print("mean |error| on the surfaces: GAN", float(np.abs(ao - reference)[on].mean()),\n'
                      '      "refiner", float(np.abs(refined["ao.Y"] - reference)[on].mean()))'),
    ],
    "05_your_gbuffer": [
        new_markdown_cell("# 05 — Your own G-buffer\n\nA G-buffer from another renderer or engine follows other "
                          "conventions. Here a rendered view is written as Blender Cycles would write it (multilayer "
                          "names, ray-length depth, world-space normals, a -Z forward camera, no mask), converted back "
                          "into a dataset with `convert`, validated, and predicted on."),
        new_code_cell(SETTINGS.format(res=96, spp=32, views=1, name="05") +
                      '\nimport json\n'
                      'import numpy as np\n'
                      'from data_gen.generator import GenerateOptions, generate\n'
                      'from data_gen.options import RenderOptions\n'
                      'from neurender.base.exr import read_exr, write_exr\n'
                      'data = os.path.join(out, "data")\n'
                      'generate(GenerateOptions(("room",), views=views, render=RenderOptions(res=res, spp=spp)), data, progress=False)\n'
                      'record = json.loads(open(os.path.join(data, "views.jsonl")).readline())\n'
                      'original = read_exr(os.path.join(data, record["file"]))\n'
                      'fov_x = record["camera"]["fov_x"]'),
        new_markdown_cell("Blender's camera matrix has columns right, up and back (its camera looks down -Z); "
                          "Mitsuba's has left, up and forward. `from_contract` writes the view in Blender's "
                          "convention, as a Blender user would hand it over."),
        new_code_cell('from data_gen.convert import PRESETS, ConvertedView, convert, from_contract\n'
                      'mitsuba_to_world = np.asarray(record["camera"]["to_world"])\n'
                      'blender_to_world = mitsuba_to_world @ np.diag([-1.0, 1.0, -1.0, 1.0])\n'
                      'blender = from_contract(original, PRESETS["blender"], fov_x, blender_to_world)\n'
                      'blender = {name: value for name, value in blender.items() if name.startswith("ViewLayer.")}\n'
                      'source = os.path.join(out, "from_blender.exr")\n'
                      'write_exr(source, blender)\n'
                      'print(sorted(blender))'),
        new_markdown_cell("The same from the shell: `neurender convert from_blender.exr --out converted --preset "
                          "blender --fov-deg F --to-world M... --ao-radius R`."),
        new_code_cell('from data_gen.validate import validate\n'
                      'manifest = json.load(open(os.path.join(data, "dataset.json")))\n'
                      'view = ConvertedView(fov_x, ao_radius=manifest["scenes"][0]["ao_radius"],\n'
                      '                     sigma_t=manifest["scenes"][0]["fog"]["sigma_t"], to_world=blender_to_world.tolist())\n'
                      'converted = os.path.join(out, "converted")\n'
                      'written = convert([source], converted, PRESETS["blender"], view)\n'
                      'print("validate:", validate(converted) or "no problems")\n'
                      'back = read_exr(written[0])\n'
                      'print({name: float(np.abs(back[name] - original[name]).max())\n'
                      '       for name in ("depth.Z", "mask.Y", "normal.X", "normal.Y", "normal.Z")})'),
        new_code_cell('import matplotlib.pyplot as plt\n'
                      'from neurender import Predictor, load_gbuffer, load_view\n'
                      'ao = Predictor.from_pretrained("ao")(load_gbuffer(written[0]), load_view(written[0]))["ao.Y"]\n'
                      'fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))\n'
                      'for ax, (title, image) in zip(axes, {"Blender depth (ray length)": np.minimum(blender["ViewLayer.Depth.Z"], 50),\n'
                      '                                     "converted normal.Z": back["normal.Z"], "pretrained:ao on it": ao}.items()):\n'
                      '    ax.imshow(image, cmap="gray"); ax.set_title(title, fontsize=9); ax.axis("off")\n'
                      'fig.tight_layout(); fig.savefig(os.path.join(out, "converted.png")); plt.show()'),
    ],
}


def main(execute: bool) -> None:
    for name, cells in CELLS.items():
        notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}})
        path = NOTEBOOKS / f"{name}.ipynb"
        if execute:
            work = Path("/tmp/nb_run")
            work.mkdir(exist_ok=True)
            nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3",
                                    resources={"metadata": {"path": str(work)}}).execute()
        nbformat.write(notebook, path)
        print(path)


if __name__ == "__main__":
    main("--execute" in sys.argv)
