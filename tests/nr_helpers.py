"""Helpers shared by the test modules (imported as ``nr_helpers``; tests/conftest.py puts tests/ on sys.path)."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CBOX = REPO / "scenes/third_party/cbox/cbox-rgb.xml"  # the Mitsuba 3 Cornell box, shipped with the scene library

# the environment before anything in this process touched Mitsuba (neurender.base.mitsuba sets DRJIT_LIBLLVM_PATH)
BASE_ENV = dict(os.environ)

# the options of the session datasets (the tests that resume or compare must use the same ones)
SMALL = ["--views", "2", "--res", "16", "--spp", "4"]
MAIN_SCENES = ["forest", "objects", "room"]


def neurender_command() -> list[str]:
    """The installed console script beside this interpreter, else the CLI module."""
    script = Path(sys.executable).parent / "neurender"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from neurender.commands.cli import main; sys.exit(main())"]


def run_neurender(*args, env: dict | None = None, timeout: float = 300, check: bool = False):
    """Run ``neurender ARGS`` in a subprocess; returns the CompletedProcess (text output)."""
    full_env = dict(BASE_ENV)
    full_env.update(env or {})
    proc = subprocess.run(neurender_command() + [str(a) for a in args], capture_output=True, text=True,
                          env=full_env, cwd=str(REPO), timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"neurender {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-3000:]}")
    return proc


def run_main(*args) -> subprocess.CompletedProcess:
    """Run ``neurender ARGS`` in this process (no fresh interpreter: about 5 s less a call); the same
    CompletedProcess as :func:`run_neurender`. For cases whose process boundary is not what they test."""
    from neurender.commands.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def load_manifest(directory) -> dict:
    return json.loads((Path(directory) / "dataset.json").read_text())


def load_records(directory) -> list[dict]:
    return [json.loads(line) for line in (Path(directory) / "views.jsonl").read_text().splitlines() if line.strip()]


def read_view(directory, scene_id: str, view: int) -> dict[str, np.ndarray]:
    from neurender.base.exr import read_exr

    return read_exr(str(Path(directory) / scene_id / f"{view:03d}.exr"))


def copy_dataset(source, destination) -> Path:
    shutil.copytree(source, destination)
    return Path(destination)


def snapshot(directory) -> dict[str, tuple[bytes, int]]:
    """Every file below ``directory``: relative path -> (content, mtime_ns)."""
    root = Path(directory)
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def generate_into(out: Path, *scenes, extra=(), env=None) -> Path:
    run_neurender("generate", *scenes, "--out", out, *extra, env=env, check=True)
    return out




def live_session_members(sid: int) -> list[tuple[int, str]]:
    """(pid, name) of the processes of session ``sid`` that are not zombies (Linux /proc)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        state, session = fields[0], int(fields[3])
        if session == sid and state not in ("Z", "X"):
            live.append((int(stat.parent.name), text[text.index("(") + 1:text.rindex(")")]))
    return live


def wait_session_gone(sid: int, seconds: float = 20.0) -> list[tuple[int, str]]:
    """Wait until session ``sid`` has no live process; returns the survivors after ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    while (live := live_session_members(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return live


def run_in_new_session(*args, env: dict | None = None, timeout: float = 300) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``neurender ARGS`` as the leader of a new session; returns (result, session id)."""
    import signal

    full_env = dict(BASE_ENV)
    full_env.update(env or {})
    command = neurender_command() + [str(a) for a in args]
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env, cwd=str(REPO))
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr), proc.pid


BALL_Z_UP = """<scene version="3.0.0">
  {sensors}
  <shape type="sphere"><float name="radius" value="1"/></shape>
  <shape type="rectangle"><transform name="to_world"><scale value="4"/><translate z="-1"/></transform></shape>
  <emitter type="constant"/>
</scene>"""
SENSOR = """<sensor type="perspective"><float name="fov" value="{fov}"/>
    <transform name="to_world"><lookat origin="{origin}" target="0, 0, 0" up="0, 0, 1"/></transform></sensor>"""


def z_up_ball_xml(tmp_path, name="ball", sensors=(("6, -2, 2", 45),)):
    """A Z-up XML scene (a ball on a plane) with one perspective sensor per (origin, fov) of ``sensors``."""
    path = tmp_path / f"{name}.xml"
    path.write_text(BALL_Z_UP.format(sensors="\n  ".join(SENSOR.format(origin=o, fov=f) for o, f in sensors)))
    return path


def kill_after_first_view(args, out, timeout: float = 240) -> subprocess.Popen:
    """Run ``neurender *args --out out`` in a new session and SIGKILL its process group as soon as
    ``out/views.jsonl`` holds a line; returns the ended process (its stderr is in ``out``'s parent)."""
    log, errors_path = Path(out) / "views.jsonl", Path(out).parent / "killed.stderr"
    with open(errors_path, "w") as errors:
        proc = subprocess.Popen(neurender_command() + list(args) + ["--out", str(out)], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=errors, env=BASE_ENV, cwd=str(REPO))
        try:
            deadline = time.monotonic() + timeout
            while not (log.exists() and log.read_text().strip()):
                assert proc.poll() is None, (f"generate ended (exit {proc.returncode}) before recording a view: "
                                             f"{errors_path.read_text()[-2000:]}")
                assert time.monotonic() < deadline, f"no view recorded in {timeout} s"
                time.sleep(0.01)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    return proc


VIEW_OPTIONS = ["--fov-deg", "45", "--ao-radius", "0.3", "--sigma-t", "0.5"]
"""``neurender predict`` options for an EXR outside a dataset (scaled runs need them)."""


def synthetic_view():
    """The :class:`neurender.base.view.ViewParameters` of :data:`VIEW_OPTIONS` (for synthetic G-buffers)."""
    from neurender.base.view import ViewParameters

    return ViewParameters(fov_x=45.0, ao_radius=0.3, sigma_t=0.5)


def predict_item(predictor, item: dict):
    """``predictor``'s prediction (1, C, H, W) of a dataset item, with the item's view parameters."""
    return predictor.predict(item["input"][None], item["mask"][None], item["parameters"])[0]


def render_ref(ref, res: int = 16, spp_ao: int = 2, albedo: float | None = None):
    """(loaded scene, channels) of view 0 of scene ref ``ref`` at ``res`` px, 2 spp (test renders)."""
    import scenes
    from data_gen.options import RenderOptions
    from data_gen.passes import ViewRenderer

    loaded = scenes.load(ref, res)
    renderer = ViewRenderer(loaded, RenderOptions(res=res, spp=2, spp_direct=1, spp_ao=spp_ao, spp_gbuffer=1,
                                                  albedo=albedo))
    channels, _ = renderer.render(loaded.camera, 7)
    return loaded, channels


def assert_same_scene_twice(ref, build) -> None:
    """``build(seed)`` records the same draws twice, and a fresh ref of the same seed renders the same G-buffer."""
    import scenes

    assert build(ref.seed).params == build(ref.seed).params
    _, a = render_ref(ref)
    _, b = render_ref(scenes.SceneRef(ref.scene_id, ref.source, ref.seed))
    for name in ("mask.Y", "depth.Z", "normal.X", "albedo.G"):
        np.testing.assert_array_equal(a[name], b[name])
