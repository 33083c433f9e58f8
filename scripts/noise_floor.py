"""How converged a reference at SPP would be: the noise floor of an effect's reference pass.

Usage: .venv/bin/python scripts/noise_floor.py DATA EFFECT SPP VIEWS

For the first VIEWS views of the dataset DATA (its scenes, cameras and render options), the
effect's reference pass is rendered twice at SPP with independent seeds and the two renders are
scored against each other on the surfaces, as `evaluate` scores its noise floor. Printed: SSIM
per view, the mean, and seconds per render. Cheaper than evaluating a test set rendered at SPP
(two renders per view instead of the reference plus the whole path-tracer curve).
"""
import sys

import numpy as np
import torch

import scenes
from data_gen.options import RenderOptions, rendered_spp
from data_gen.passes import ViewRenderer
from neurender import effects
from neurender.base.camera import Camera
from neurender.base.dataset import load_manifest, read_views
from neurender.evaluation.scoring import score

DATA, EFFECT, SPP, VIEWS = sys.argv[1], effects.get(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
manifest = load_manifest(DATA)
options = RenderOptions(**manifest["generation"]["render"])
renderers = {s["id"]: ViewRenderer(scenes.load(scenes.SceneRef(s["id"], s["source"], s["seed"]), options.res), options)
             for s in manifest["scenes"]}
floors, seconds = [], []
for record in read_views(DATA)[:VIEWS]:
    renderer, camera = renderers[record["scene"]], Camera.from_json(record["camera"])
    mask = torch.from_numpy(renderer.render_pass(camera, "gbuffer", record["seed"])[0]["mask.Y"])[None, None]
    renderer.render_pass(camera, EFFECT.reference_pass, 1, spp=1)  # compile the kernel, untimed
    images = []
    for copy in (1, 2):
        channels, time = renderer.render_pass(camera, EFFECT.reference_pass, record["seed"] + copy * 1_000_003, spp=SPP)
        images.append(torch.from_numpy(np.stack([channels[c] for c in EFFECT.targets]))[None])
        seconds.append(time)
    floors.append(score(images[0], images[1], EFFECT, mask)["ssim"])
    print(f"{record['scene']} view {record['view']}: floor SSIM {floors[-1]:.4f}", flush=True)
print(f"{EFFECT.name} ({EFFECT.reference_pass} pass) at {rendered_spp(options.sampler, SPP)} spp: "
      f"floor SSIM {np.mean(floors):.4f} over {len(floors)} views, {np.mean(seconds):.1f} s per render")
