"""The data side's commands: doctor, generate, validate, convert, stats."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from typing import Annotated, Literal

import tyro

from data_gen.convert import PRESETS, ConvertedView, convert
from data_gen.executors import ViewFailed
from data_gen.generator import GenerateOptions, generate
from data_gen.validate import validate
from neurender.base.errors import InputError
from neurender.base.mitsuba import mi
from neurender.base.variant import FAST_PATH_HINT, RenderVariant, find_libllvm, is_vectorized, use_variant
from neurender.commands.arguments import check_given
from neurender.stats import write_stats


@dataclass(kw_only=True)
class DoctorCommand:
    """Show the Mitsuba variant (and why), libLLVM and the torch device in use."""

    rendering: Annotated[RenderVariant, tyro.conf.arg(name="")] = field(default_factory=RenderVariant)
    """Where Mitsuba renders."""


def run_doctor(command: DoctorCommand) -> int:
    choice = use_variant(command.rendering.variant)
    print(f"mitsuba {mi.__version__}, variant {choice.name}: {choice.reason}")
    print(f"libLLVM: {choice.libllvm or find_libllvm() or 'none >= 16 found'}")
    if not is_vectorized(choice):
        print(f"warning: scalar_rgb runs the Python AO and G-buffer integrators per sample (very slow): {FAST_PATH_HINT}")
    import torch

    from neurender.device import device_label, resolve_device

    why = (f"{torch.cuda.device_count()} CUDA device(s) visible" if torch.cuda.is_available()
           else "torch sees no CUDA device")
    print(f"torch {torch.__version__}: networks (train, predict, evaluate, calibrate, bench) run on "
          f"{device_label(resolve_device('auto'))} with --device auto ({why}); rendering runs in Mitsuba's "
          f"{choice.name}")
    return 0


@dataclass(kw_only=True)
class GenerateCommand:
    """Render a G-buffer dataset with path-traced targets (resumable: run it again to finish)."""

    options: Annotated[GenerateOptions, tyro.conf.arg(name="")]
    """What is rendered."""
    out: str
    """Dataset directory (created, or resumed)."""
    workers: int = 1
    """Parallel render processes."""
    executor: Literal["local", "ray"] = "local"
    """Where the render processes run: a local pool or Ray tasks."""
    ray_address: str | None = None
    """Ray cluster address (none: start a local one)."""
    view_timeout: Annotated[float | None, tyro.conf.arg(metavar="SECONDS")] = None
    """A view taking longer is killed and retried once, then the run stops (none: 600 until a view
    has finished, then max(120, 20 x the slowest finished view))."""
    rendering: Annotated[RenderVariant, tyro.conf.arg(name="")] = field(default_factory=RenderVariant)
    """Where Mitsuba renders."""


def run_generate(command: GenerateCommand) -> int:
    try:
        stats = generate(command.options, command.out, command.workers, command.executor, command.ray_address,
                         view_timeout=command.view_timeout, variant=command.rendering.variant)
    except ViewFailed as exc:  # the renderer hung or crashed on a view twice: exit 1, no traceback to ask for
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{stats['views_rendered']} views rendered, {stats['views_total']} in {command.out} "
          f"({stats['wall_seconds']:.1f} s)")
    return 0


@dataclass(kw_only=True)
class ValidateCommand:
    """Check a dataset against the contract."""

    directory: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="DATASET")]
    """Dataset folder."""


def _check_contract(directory: str, what: str) -> None:
    """Print each problem of the dataset in ``directory``; InputError when there is one (``what`` names it)."""
    problems = validate(directory)
    for path, message in problems:
        print(f"{path}: {message}")
    if problems:
        raise InputError(f"{len(problems)} problem(s) in {what}")


def run_validate(command: ValidateCommand) -> int:
    _check_contract(command.directory, command.directory)
    print(f"{command.directory}: dataset follows the contract")
    return 0


def _rename(text: str) -> tuple[str, str]:
    source, sep, target = text.partition("=")
    if not (sep and source and target):
        raise InputError(f"--rename: bad rename {text!r}: use SOURCE=CONTRACT_NAME, e.g. Depth.V=depth.Z")
    return source, target


PRESET_DEFAULT = "(default: the preset's)"
"""The help's default of a convention field that the preset sets unless given."""


@dataclass(kw_only=True)
class ConvertCommand:
    """Bring your own G-buffer: EXRs in another renderer's conventions -> a dataset (then validated)."""

    inputs: Annotated[tuple[str, ...], tyro.conf.Positional,
                       tyro.conf.arg(metavar="EXR", help_behavior_hint="(required)")]
    """The views, one EXR each, all from one camera set-up."""
    out: str
    """The dataset folder written (new)."""
    preset: Literal["contract", "blender"] = "contract"
    """The source's conventions: contract (already right) or blender (Cycles multilayer EXR)."""
    depth: Annotated[Literal["z", "ray"] | None, tyro.conf.arg(help_behavior_hint=PRESET_DEFAULT)] = None
    """Depth is z (distance to the camera plane) or ray (along the pixel's ray)."""
    normals: Annotated[Literal["camera", "world"] | None, tyro.conf.arg(help_behavior_hint=PRESET_DEFAULT)] = None
    """Normals in camera or world space (world needs --to-world)."""
    forward: Annotated[Literal["+z", "-z"] | None, tyro.conf.arg(help_behavior_hint=PRESET_DEFAULT)] = None
    """The source camera looks down +Z or -Z (OpenGL, Blender)."""
    rename: Annotated[tuple[str, ...], tyro.conf.arg(metavar="SRC=NAME", help_behavior_hint="(default: none)")] = ()
    """Source channel names to contract names, beyond the preset's."""
    fov_deg: float
    """Horizontal field of view, degrees."""
    to_world: Annotated[tuple[float, ...], tyro.conf.arg(metavar="M", help_behavior_hint="(default: none)")] = ()
    """The camera-to-world matrix of the source's camera space, 16 numbers row by row."""
    ao_radius: float | None = None
    """AO ray length, world units (recorded for the AO and GI predictors)."""
    sigma_t: float | None = None
    """Fog extinction, 1 / world unit (recorded for the fog predictor)."""
    scene: str = "converted"
    """The scene id of the views."""

    def __post_init__(self) -> None:
        check_given("EXR", self.inputs)
        for text in self.rename:
            _rename(text)

    @property
    def renames(self) -> dict[str, str]:
        """--rename as source name -> contract name; InputError for a malformed one."""
        return dict(_rename(text) for text in self.rename)


def run_convert(command: ConvertCommand) -> int:
    preset = PRESETS[command.preset]
    convention = replace(preset, names=preset.names | command.renames,
                         **{k: getattr(command, k) for k in ("depth", "normals", "forward") if getattr(command, k)})
    if command.to_world and len(command.to_world) != 16:
        raise InputError(f"--to-world takes 16 numbers (a 4x4 matrix row by row), got {len(command.to_world)}")
    to_world = tuple(tuple(command.to_world[i:i + 4]) for i in range(0, 16, 4)) if command.to_world else None
    view = ConvertedView(command.fov_deg, command.ao_radius, command.sigma_t, to_world)
    written = convert(list(command.inputs), command.out, convention, view, command.scene)
    _check_contract(command.out, f"the converted dataset {command.out}")
    print(f"{len(written)} view(s) converted into {command.out}; the dataset follows the contract")
    return 0


@dataclass(kw_only=True)
class StatsCommand:
    """Per-family histograms of depth, normals, AO and luminance (PNG + JSON)."""

    directories: Annotated[tuple[str, ...], tyro.conf.Positional,
                            tyro.conf.arg(metavar="DATASET", help_behavior_hint="(required)")]
    """One dataset folder, or several to compare."""
    out: str | None = None
    """A .png path (JSON beside it) or a folder (none: DATASET/stats/ for one dataset)."""

    def __post_init__(self) -> None:
        check_given("DATASET", self.directories)


def run_stats(command: StatsCommand) -> int:
    if command.out is None and len(command.directories) > 1:
        raise InputError("give --out when comparing several datasets")
    png, json_path = write_stats(list(command.directories), command.out or os.path.join(command.directories[0], "stats"))
    print(f"stats: {png}, {json_path}")
    return 0


COMMANDS = {"doctor": (DoctorCommand, run_doctor), "generate": (GenerateCommand, run_generate),
            "validate": (ValidateCommand, run_validate),
            "convert": (ConvertCommand, run_convert), "stats": (StatsCommand, run_stats)}
