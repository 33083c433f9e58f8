"""The resumable dataset generator: plan views, write the manifest, render what is missing.

Layout (the dataset contract):
    DIR/dataset.json            manifest (format, renderer, options, channels, scenes)
    DIR/views.jsonl             one line per finished view, appended after its EXR is in place
    DIR/<scene_id>/<view>.exr   one multi-channel EXR per view

Running the same command again renders only the views missing from views.jsonl.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Annotated, Literal

import drjit
import mitsuba
import tyro
from tqdm import tqdm

import scenes
from data_gen import executors
from data_gen.options import RenderOptions, medium_coefficients, view_seed
from data_gen.worker import ViewTask
from neurender.base.atomic import atomic_path, write_json_atomic
from neurender.base.camera import Rig, arc_angles
from neurender.base.dataset import FORMAT_VERSION, MANIFEST, VIEWS, read_views, view_channels
from neurender.base.errors import InputError
from neurender.base.exr import read_exr
from neurender.base.lock import LOCK, folder_lock
from neurender.base.variant import FAST_PATH_HINT, VariantName, is_vectorized, use_variant

SCALAR_SAMPLE_LIMIT = 10_000_000  # Python-integrator samples; about 25 us each in scalar_rgb


@dataclass(frozen=True)
class GenerateOptions:
    """What `neurender generate` makes (recorded in the manifest)."""

    scenes: Annotated[tuple[str, ...], tyro.conf.Positional,
                       tyro.conf.arg(metavar="SCENE", help_behavior_hint="(required)")]
    """Built-in scene names (forest, objects, room, studio; with the assets and ood extras pybullet and
    dmcontrol, scenes of third-party meshes) or Mitsuba 3 XML files."""
    count: int = 1
    """Instances of each built-in scene (different seeds)."""
    views: int = 24
    """Views per scene; view k of a built-in scene is turned k * step_deg about the up axis."""
    step_deg: float = 15.0
    """Camera turn between views of built-in scenes, degrees."""
    seed: int = 0
    """Dataset seed; scene and view seeds derive from it."""
    render: Annotated[RenderOptions, tyro.conf.arg(name="")] = field(default_factory=RenderOptions)
    """Per-pass render settings."""
    rig: Annotated[Rig, tyro.conf.arg(name="")] = field(default_factory=Rig)
    """Per-view elevation, distance and field-of-view ranges (drawn from the view seed)."""
    orbit_deg: float = 60.0
    """XML scenes: the views spread over this arc centred on the file's camera, degrees."""
    path: Literal["none", "orbit", "dolly"] = "none"
    """Camera path: none (views as above, the rig drawn per view); orbit (frame k is the scene's camera
    turned k * step_deg about the up axis, for XML files too) or dolly (frame k is moved k * dolly_step
    of its distance towards the pivot): --views frames in a row, the rig drawn once per scene, recorded
    as a sequence in views.jsonl (for temporal metrics; use a small --step-deg, such as 1)."""
    dolly_step: float = 0.01
    """Dolly paths: fraction of the camera's distance to the pivot moved per frame."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "render", self.render.resolved())  # recorded with its derived sample counts

    def check(self) -> None:
        if not self.scenes:
            raise InputError("give at least one scene")
        if self.views < 1:
            raise InputError(f"--views must be at least 1, got {self.views}")
        if not math.isfinite(self.step_deg):
            raise InputError(f"--step-deg must be a finite number, got {self.step_deg}")
        if not 0 <= self.orbit_deg <= 360:
            raise InputError(f"--orbit-deg must be in [0, 360], got {self.orbit_deg}")
        if self.path != "none" and self.rig.sensors:
            raise InputError("--path follows one camera; it cannot be used with --xml-sensors")
        if self.path == "dolly" and not 0 < self.dolly_step * (self.views - 1) < 0.9:
            raise InputError(f"--dolly-step {self.dolly_step:g} over {self.views} frames must move the camera "
                             "by more than 0 and less than 0.9 of its distance to the pivot")
        try:
            self.rig.check()
            self.render.check()
        except ValueError as exc:
            raise InputError(str(exc)) from None


def _generation_section(options: GenerateOptions, refs) -> dict:
    path = {} if options.path == "none" else {"path": options.path, "dolly_step": options.dolly_step}
    return {"scenes": [r.source for r in refs], "count": options.count,
            "views": options.views, "step_deg": options.step_deg, "seed": options.seed,
            "render": options.render.to_json(), "rig": options.rig.to_json(), "orbit_deg": options.orbit_deg,
            **path}  # a dataset without a path keeps the section it always had


def plan(options: GenerateOptions, variant: VariantName = "auto"):
    """Check the options and the scenes, rendering in Mitsuba's ``variant``; returns (scene refs, manifest).
    Raises InputError."""
    options.check()
    choice = use_variant(variant)
    refs = scenes.resolve(list(options.scenes), options.count, options.seed, options.rig)
    _refuse_slow_scalar(choice, options, len(refs))
    scene_entries, all_channels = [], []
    for ref in refs:
        loaded = scenes.load(ref, options.render.res)
        if options.rig.sensors and ref.is_xml and options.views > len(loaded.sensors):
            raise InputError(f"{ref.source} has {len(loaded.sensors)} perspective sensor(s) for --views "
                             f"{options.views}; give --views {len(loaded.sensors)} or fewer with --xml-sensors")
        channels = view_channels(loaded.has_environment)
        all_channels += [c for c in channels if c not in all_channels]
        scene_entries.append({
            "id": ref.scene_id, "source": ref.source, "seed": ref.seed, "params": loaded.params,
            "has_environment": loaded.has_environment, "channels": channels,
            "size": loaded.size, "pivot": loaded.pivot.tolist(), "up": loaded.up.tolist(),
            "fog": medium_coefficients(options.render, loaded.size),
            "ao_radius": options.render.ao_radius * loaded.size,
            "camera": loaded.camera.to_json(),
        })
    manifest = {
        "format": "neurender-dataset", "format_version": FORMAT_VERSION,
        "renderer": {"name": "mitsuba", "mitsuba": mitsuba.__version__, "drjit": drjit.__version__,
                     "variant": choice.name, "neurender": version("neurender")},
        "generation": _generation_section(options, refs),
        "channels": all_channels,
        "conventions": {"camera_space": "+X right, +Y up, +Z forward; depth.Z = camera-space z",
                        "normal": "camera-space shading normal facing the camera, unit length on mask",
                        "mask": "1 where a surface covers at least half the pixel",
                        "background": "normal, depth, albedo are 0 off the mask; ao.Y is 1 there",
                        "radiance": "linear HDR"},
        "scenes": scene_entries,
        "views_per_scene": options.views,
    }
    return refs, manifest


def _refuse_slow_scalar(choice, options: GenerateOptions, scene_count: int) -> None:
    """In scalar_rgb the Python AO and G-buffer integrators run per sample: refuse work that would take hours."""
    r = options.render
    samples = r.res * r.res * (r.spp_ao + r.spp_gbuffer) * options.views * scene_count
    if not is_vectorized(choice) and samples > SCALAR_SAMPLE_LIMIT:
        raise InputError(f"{choice.name} would trace {samples:.2g} samples in Python integrators "
                         f"(about {samples * 25e-6 / 3600:.1f} h); {FAST_PATH_HINT}, or lower --res/--spp-ao/--views")


def check_output(out_dir: str, manifest: dict) -> bool:
    """Whether ``out_dir`` already holds this dataset (to resume); InputError when it holds another
    dataset or other files. Reads only."""
    path = os.path.join(out_dir, MANIFEST)
    if os.path.exists(path):
        try:
            with open(path) as handle:
                existing = json.load(handle)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path} is not a readable manifest: {exc}") from None
        new = json.loads(json.dumps(manifest["generation"]))  # as the file holds it (tuples as lists)
        if not isinstance(existing, dict) or existing.get("generation") != new:
            old = existing.get("generation", {}) if isinstance(existing, dict) else {}
            differing = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise InputError(f"{out_dir} holds a dataset made with other options ({', '.join(differing)}); "
                             "use another --out or the same options to resume")
        return True
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError(f"{out_dir} exists and is not a directory")
    if os.path.isdir(out_dir) and [n for n in os.listdir(out_dir) if n != LOCK and not n.startswith(".tmp-")]:
        raise InputError(f"{out_dir} is not empty and holds no {MANIFEST}; use an empty or new directory")
    return False


def prepare_output(out_dir: str, manifest: dict) -> None:
    """Create ``out_dir`` with its manifest, or check it holds a dataset made with the same options."""
    if not check_output(out_dir, manifest):
        os.makedirs(out_dir, exist_ok=True)
        write_json_atomic(os.path.join(out_dir, MANIFEST), manifest)


def _damage(out_dir: str, record: dict, channels: list[str], res: int) -> str | None:
    """Why the EXR of a recorded view cannot be kept (unreadable, channels missing, wrong size), or None."""
    try:
        data = read_exr(os.path.join(out_dir, record["file"]))
    except InputError as exc:
        return str(exc)
    missing = [c for c in channels if c not in data]
    if missing:
        return f"lacks channels {', '.join(missing)}"
    shape = next(iter(data.values())).shape
    return None if shape == (res, res) else f"is {shape[1]}x{shape[0]}, not {res}x{res}"


def _drop_records(out_dir: str, damaged: set[tuple[str, int]]) -> None:
    """Rewrite views.jsonl without the records of ``damaged`` views (they are rendered again)."""
    path = os.path.join(out_dir, VIEWS)
    kept = [json.dumps(r) + "\n" for r in read_views(out_dir) if (r["scene"], r["view"]) not in damaged]
    with atomic_path(path, ".jsonl") as tmp, open(tmp, "w") as handle:
        handle.write("".join(kept))


def tasks_to_do(options: GenerateOptions, refs, out_dir: str, manifest: dict) -> tuple[list[ViewTask], int]:
    """The view tasks not recorded yet, or recorded with a damaged EXR (a ``warning:`` line each; their
    records are dropped), grouped by scene; and how many views are done."""
    channels = {s["id"]: s["channels"] for s in manifest["scenes"]}
    done, damaged = set(), set()
    for record in read_views(out_dir):
        key = (record["scene"], record["view"])
        problem = _damage(out_dir, record, channels.get(record["scene"], []), options.render.res)
        if problem:
            print(f"warning: {record['file']} {problem}; rendering view {key[1]} of {key[0]} again", file=sys.stderr)
            damaged.add(key)
        else:
            done.add(key)
    if damaged:
        _drop_records(out_dir, damaged)
    tasks = []
    for ref in refs:
        for view in range(options.views):
            if (ref.scene_id, view) in done:
                continue
            path = os.path.join(os.path.abspath(out_dir), ref.scene_id, f"{view:03d}.exr")
            seed = view_seed(options.seed, ref.scene_id, view)
            on_path = options.path != "none"
            tasks.append(ViewTask(ref, view, view_angle(options, ref, view), seed, options.render, path,
                                  variant=manifest["renderer"]["variant"],
                                  camera_seed=view_seed(options.seed, ref.scene_id, 0) if on_path else seed,
                                  dolly=1 - view * options.dolly_step if options.path == "dolly" else 1.0,
                                  sequence={"path": options.path, "frame": view} if on_path else None))
    return tasks, len(done)


def view_angle(options: GenerateOptions, ref, view: int) -> float:
    """Orbit angle of view ``view`` (degrees): k * step_deg for built-ins and orbit paths, 0 on a dolly
    path; for XML files otherwise an arc of orbit_deg centred on the authored camera, or 0 when the views
    are the file's sensors."""
    if options.path == "dolly":
        return 0.0
    if not ref.is_xml or options.path == "orbit":
        return view * options.step_deg
    if options.rig.sensors:
        return 0.0
    return arc_angles(options.views, options.orbit_deg)[view]


def _drop_torn_line(path: str) -> None:
    """After a kill mid-write, views.jsonl may end in a partial line: cut it off before appending."""
    if not os.path.exists(path):
        return
    with open(path, "rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


def generate(options: GenerateOptions, out_dir: str, workers: int = 1, executor: str = "local",
             address: str | None = None, progress: bool = True, view_timeout: float | None = None,
             variant: VariantName = "auto") -> dict:
    """Render every missing view of the dataset in ``out_dir``; returns run statistics.

    view_timeout: seconds a view may take before its worker is killed (None: derived, see executors.ViewTimeout).
    variant: Mitsuba's variant (`neurender.base.variant.use_variant`), in this process and every worker.
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if view_timeout is not None and not 0 < view_timeout < math.inf:
        raise InputError(f"--view-timeout must be a positive number of seconds, got {view_timeout}")
    if executor not in ("local", "ray"):
        raise InputError(f"--executor must be local or ray, got {executor!r}")
    start = time.perf_counter()
    refs, manifest = plan(options, variant)
    if executor == "ray":
        executors.require_ray()
    check_output(out_dir, manifest)  # before the lock: a refused folder is not touched
    with folder_lock(out_dir, "neurender generate"):
        prepare_output(out_dir, manifest)
        tasks, already = tasks_to_do(options, refs, out_dir, manifest)
        total = already + len(tasks)
        stats = {"views_total": total, "views_before": already, "views_rendered": 0,
                 "render_seconds": 0.0, "pids": set()}
        if tasks:
            run = (executors.run_local(tasks, workers, view_timeout=view_timeout) if executor == "local"
                   else executors.run_ray(tasks, workers, address, view_timeout=view_timeout))
            bar = tqdm(total=total, initial=already, unit="view", disable=None if progress else True, dynamic_ncols=True)
            first = time.perf_counter()
            _drop_torn_line(os.path.join(out_dir, VIEWS))
            with open(os.path.join(out_dir, VIEWS), "a") as log, bar:
                for record in run:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    os.fsync(log.fileno())
                    stats["views_rendered"] += 1
                    stats["render_seconds"] += record["render_seconds"]
                    stats["pids"].add(record["pid"])
                    bar.set_postfix(views_per_min=f"{60 * stats['views_rendered'] / (time.perf_counter() - first):.1f}")
                    bar.update(1)
    stats["wall_seconds"] = time.perf_counter() - start
    stats["workers_used"] = len(stats.pop("pids"))
    return stats
