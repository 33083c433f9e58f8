"""One view as a task: what runs inside a worker process (local pool or Ray)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import scenes
from data_gen.options import PASSES, RenderOptions
from data_gen.passes import ViewRenderer
from neurender.base.camera import dolly
from neurender.base.exr import write_exr
from neurender.base.mitsuba import dr
from neurender.base.variant import use_variant


@dataclass(frozen=True)
class ViewTask:
    """Render view ``view`` of scene ``ref`` into ``path`` (picklable)."""

    ref: object            # scenes.SceneRef
    view: int
    angle_deg: float
    seed: int              # of the view's noise
    options: RenderOptions
    path: str              # absolute path of the EXR to write
    variant: str           # Mitsuba's, as the parent chose it
    camera_seed: int       # of the rig's draws (one per scene on a camera path)
    dolly: float = 1.0     # the camera's distance from the pivot, times the scene's
    sequence: dict | None = None  # {"path", "frame"} of a view on a camera path


_cache: dict = {}


def render_view(task: ViewTask) -> dict:
    """Render every pass of one view, write its EXR atomically, return its views.jsonl record."""
    start = time.perf_counter()
    use_variant(task.variant)
    threads = os.environ.get("NEURENDER_THREADS")
    if threads and "threads" not in _cache:
        dr.set_thread_count(int(threads))
        _cache["threads"] = threads
    key = (task.ref, task.options)
    if _cache.get("key") != key:  # keep one scene: a worker mostly gets views of the same scene in a row
        _cache.pop("renderer", None)
        _cache["renderer"] = ViewRenderer(scenes.load(task.ref, task.options.res), task.options)
        _cache["key"] = key
    renderer = _cache["renderer"]
    loaded = renderer.loaded
    camera = loaded.view_camera(task.view, task.angle_deg, task.camera_seed)
    if task.dolly != 1.0:  # off a dolly path the camera stays bit for bit as before
        camera = dolly(camera, loaded.pivot, task.dolly)
    channels, seconds = renderer.render(camera, task.seed)
    os.makedirs(os.path.dirname(task.path), exist_ok=True)
    write_exr(task.path, channels)
    return {
        "scene": task.ref.scene_id, "view": task.view, "angle_deg": task.angle_deg, "seed": task.seed,
        "file": os.path.join(task.ref.scene_id, os.path.basename(task.path)),
        "camera": camera.to_json(),
        **({"sequence": task.sequence} if task.sequence else {}),
        "spp": {name: renderer.spp(name) for name in PASSES},  # as rendered
        "seconds": {name: round(s, 6) for name, s in seconds.items()},
        "render_seconds": round(sum(seconds.values()), 6),
        "task_seconds": round(time.perf_counter() - start, 6),
        "pid": os.getpid(),
    }
