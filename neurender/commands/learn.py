"""The learning side's commands: train, predict, export, calibrate."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from typing import Literal

from neurender import effects
from neurender.base.errors import InputError
from neurender.base.lock import folder_lock
from neurender.base.view import ViewParameters
from neurender.commands.arguments import SIZE, parse_size
from neurender.device import DeviceOptions
from neurender.evaluation.model_card import check_notes, size_text, write_card
from neurender.evaluation.report import load_summary
from neurender.inference.calibration import calibrate
from neurender.inference.files import predict_files
from neurender.inference.onnx import export_onnx
from neurender.inference.predictor import Backend, Predictor, list_pretrained
from neurender.inference.sampling import SamplingOptions
from neurender.models import gate
from neurender.run import runs
from neurender.run.config import TrainConfig
from neurender.run.inputs import guess_method
from neurender.training.shipping import pack
from neurender.training.train import train


@dataclass(kw_only=True)
class TrainCommand:
    """Train an effect predictor (attention cGAN or conditional diffusion). Every field of TrainConfig
    (neurender/run/config.py) is a flag; nested configs as --acgan.FIELD, --unet.FIELD, --diffusion.FIELD."""

    config: TrainConfig = field(default_factory=TrainConfig, metadata={"flatten": True})
    """The run's configuration."""
    out: str
    """Run directory."""
    resume: bool = False
    """Continue the run in --out from its checkpoint."""
    width: int | None = None
    """Base channel count of every network (sets --acgan.base-channels, --acgan.disc-channels and
    --unet.base-channels; none: theirs)."""
    devices: DeviceOptions = field(default_factory=DeviceOptions, metadata={"flatten": True})
    """Where the networks run."""
    tensorboard: bool = True
    """TensorBoard scalars (losses, the sample views' SSIM and PSNR) and sample grids in RUN/tensorboard
    (tensorboard --logdir RUN); --no-tensorboard writes log.jsonl and the samples page only."""


def run_train(command: TrainCommand) -> int:
    config = command.config
    if command.width is not None:
        config = replace(config, acgan=replace(config.acgan, base_channels=command.width, disc_channels=command.width),
                         unet=replace(config.unet, base_channels=command.width))
    result = train(config, command.out, resume=command.resume, device=command.devices.device,
                   precision=command.devices.precision, tensorboard=command.tensorboard)
    if result["rank"] == 0:
        print(f"trained {config.model}/{config.effect} to step {result['step']} in {result['seconds']:.0f} s: "
              f"{command.out}")
    return 0


@dataclass(kw_only=True)
class PredictCommand:
    """Predict an effect from G-buffer EXRs with a trained run or a shipped model."""

    checkpoint: str
    """Run directory, or pretrained:NAME (a shipped model)."""
    input: str
    """An EXR file or a directory of them."""
    out: str
    """Output directory (same relative paths as the input)."""
    sampling: SamplingOptions = field(default_factory=SamplingOptions, metadata={"flatten": True})
    """Sampling of diffusion runs."""
    backend: Backend = "auto"
    """onnxruntime: the GAN generator or fast network exported to ONNX (see neurender export); auto:
    onnxruntime for fast runs on the CPU, torch otherwise."""
    tile: int | None = field(default=None, metadata={"metavar": "PX"})
    """Predict a GAN in tiles of at most PX pixels a side (same output; none: automatic above 3840x2160)."""
    internal_res: int | None = field(default=None, metadata={"metavar": "PX"})
    """Predict at PX pixels on the short side and upsample guided by depth and normals (none: native)."""
    fov_deg: float | None = None
    """Horizontal field of view of the input views, degrees (none: the dataset's; needed by scaled runs)."""
    ao_radius: float | None = None
    """AO ray length, world units (none: the dataset's; needed by scaled AO and GI runs)."""
    sigma_t: float | None = None
    """Fog extinction coefficient, 1 / world unit (none: the dataset's; needed by scaled fog runs)."""
    background_distance: float | None = None
    """Camera ray length assumed where no surface is hit, world units (none: the dataset's, else infinite)."""
    gate: bool = True
    """Use the model's trust gate when it has one (--no-gate: the network's own correction everywhere)."""
    preview: bool = False
    """Also write a PNG beside each EXR: the prediction tone-mapped for display (AO as grey), and a
    diffusion run's uncertainty to its right."""
    devices: DeviceOptions = field(default_factory=DeviceOptions, metadata={"flatten": True})
    """Where the networks run."""


def run_predict(command: PredictCommand) -> int:
    predictor = Predictor(command.checkpoint, command.sampling, backend=command.backend, tile=command.tile,
                          internal_res=command.internal_res, device=command.devices.device,
                          precision=command.devices.precision, gate=command.gate)
    given = ViewParameters(fov_x=command.fov_deg, ao_radius=command.ao_radius, sigma_t=command.sigma_t,
                           background_distance=command.background_distance)
    written = predict_files(predictor, command.input, command.out, given=given, previews=command.preview)
    print(f"{sum(path.endswith('.exr') for path in written)} prediction(s) written to {command.out}"
          + (" with a PNG preview each" if command.preview else ""))
    return 0


MAX_ONNX_SIDE = 8192
"""Largest image side an exported ONNX graph takes (the graph holds fixed pooling matrices per size)."""


@dataclass(kw_only=True)
class ExportCommand:
    """Export a run: ONNX for onnxruntime (a GAN's generator, a fast network, or a diffusion run's
    one-evaluation estimate with its first-guess GAN in the same graph), or a shipped model folder
    (config, fp16 weights, model card)."""

    checkpoint: str
    """Run directory, or pretrained:NAME."""
    out: str
    """The ONNX file, or the shipped model folder."""
    format: Literal["onnx", "shipped"] = "onnx"
    """onnx: the network as ONNX (model space in and out, see docs/training.md); shipped: config + fp16 EMA
    weights + MODEL_CARD.md."""
    size: str = field(default="256", metadata=SIZE)
    """Image size the ONNX graph takes: N, WxH or 720p/1080p/1440p/2160p (rounded up to the network's stride)."""
    eval: tuple[str, ...] = field(default=(), metadata={"metavar": "EVAL_DIR"})
    """Evaluations whose tables go into the model card (shipped)."""
    notes: str | None = None
    """A Markdown file of remarks put into the model card (shipped)."""
    card_sizes: tuple[str, ...] = field(default=("256",), metadata=SIZE)
    """Frame sizes the model card times on this CPU (shipped): N, WxH or 720p/1080p/1440p/2160p."""


def export_shipped(name: str, out: str, eval_dirs: list[str], notes: str | None, card_sizes=("256",)) -> None:
    """Pack run ``name`` into the shipped model folder ``out`` with its model card (timed at ``card_sizes``).
    Every input is checked first; the files are made in a temporary folder beside ``out`` and moved in at
    the end (a calibration.json already in ``out`` is kept and described by the card; the run's trust gate
    comes along, and a gate in ``out`` fitted for other weights goes), so a failure leaves ``out`` as it was,
    and the temporary folder of an export killed before is removed by the next."""
    check_notes(notes)
    for eval_dir in eval_dirs:
        load_summary(eval_dir)
    sizes = [parse_size(token) for token in card_sizes]
    source = runs.open_run(name)
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {out}: {parent} does not exist")
    prefix = f".tmp-export-{os.path.basename(os.path.abspath(out))}-"
    with folder_lock(out, "neurender export"):
        for stale in os.listdir(parent):  # the lock is ours: no export into ``out`` is running
            if stale.startswith(prefix) and os.path.isdir(os.path.join(parent, stale)):
                shutil.rmtree(os.path.join(parent, stale))
        with tempfile.TemporaryDirectory(prefix=prefix, dir=parent) as tmp:
            _pack_into(name, source, out, tmp, eval_dirs, notes, sizes)


def _pack_into(name: str, source, out: str, tmp: str, eval_dirs: list[str], notes: str | None, sizes) -> None:
    """Export's files made in ``tmp``, then moved into ``out``."""
    if os.path.isfile(runs.path(out, runs.CALIBRATION)):
        shutil.copy(runs.path(out, runs.CALIBRATION), tmp)
    has_gate = os.path.isfile(runs.path(source.folder, gate.FILE))
    if has_gate:
        shutil.copy(runs.path(source.folder, gate.FILE), tmp)
    print(f"weights: {runs.path(out, os.path.basename(pack(name, tmp)))}")
    print(f"timing {', '.join(f'{w}x{h}' for h, w in sizes)} frames for the model card")
    card = write_card(tmp, source.folder, eval_dirs, notes, sizes=sizes, name=os.path.basename(os.path.normpath(out)))
    for file in os.listdir(tmp):
        os.replace(os.path.join(tmp, file), os.path.join(out, file))
    if not has_gate and os.path.isfile(runs.path(out, gate.FILE)):
        os.remove(runs.path(out, gate.FILE))
        print(f"removed {runs.path(out, gate.FILE)}: it was fitted for other weights")
    print(f"model card: {runs.path(out, os.path.basename(card))}")


def run_export(command: ExportCommand) -> int:
    source, out = os.path.realpath(runs.resolve(command.checkpoint)), os.path.realpath(command.out)
    if out == source or out.startswith(source + os.sep):
        raise InputError(f"--out {command.out} is or lies inside the run {command.checkpoint} it exports; write "
                         "the export elsewhere")
    if command.format == "shipped":
        export_shipped(command.checkpoint, command.out, list(command.eval), command.notes, command.card_sizes)
        return 0
    parent = os.path.dirname(os.path.abspath(command.out))
    if os.path.isdir(command.out):
        raise InputError(f"--out {command.out} is a folder; give the ONNX file's path")
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {command.out}: {parent} does not exist")
    size = parse_size(command.size)
    if max(size) > MAX_ONNX_SIDE:
        raise InputError(f"--size {command.size}: an ONNX graph takes at most {MAX_ONNX_SIDE} pixels a side "
                         "(larger frames: predict --tile)")
    # a diffusion run exports its one-evaluation estimate (the mean sampler), its first-guess GAN inside
    predictor = Predictor(command.checkpoint, SamplingOptions(sampler="mean", samples=1))
    height, width = (-(-s // predictor.stride) * predictor.stride for s in size)
    print(f"onnx: {export_onnx(predictor.network, len(predictor.channels), command.out, height, width)}")
    return 0


@dataclass(kw_only=True)
class CalibrateCommand:
    """Fit a diffusion run's uncertainty scale on held-out views (writes its calibration.json)."""

    checkpoint: str
    """Diffusion run folder (a shipped model's folder too, not pretrained:NAME)."""
    data: str
    """Validation dataset: scenes neither trained nor tested on."""
    sampling: SamplingOptions = field(default_factory=lambda: SamplingOptions(samples=8), metadata={"flatten": True})
    """Sampling whose spread is calibrated (at least 2 samples)."""
    devices: DeviceOptions = field(default_factory=DeviceOptions, metadata={"flatten": True})
    """Where the networks run."""


def run_calibrate(command: CalibrateCommand) -> int:
    result = calibrate(command.checkpoint, command.data, command.sampling, devices=command.devices)
    raw, calibrated = result["raw"], result["calibrated"]
    print(f"std_scale {result['std_scale']:.3f} for the {result['sampler']} sampler, {result['steps']} steps and "
          f"{result['samples']} draws, on {result['views']} views: 2-std coverage {raw['coverage_2std']:.3f} -> "
          f"{calibrated['coverage_2std']:.3f}, Spearman(std, |error|) {raw['spearman']:.3f}")
    print(f"written to {runs.path(command.checkpoint, runs.CALIBRATION)}")
    return 0


@dataclass(kw_only=True)
class ModelsCommand:
    """The shipped models: what each predicts, its family, the classic answer it reads, its trust gate."""

    effect: str | None = None
    """Only the models of this effect (ao, fog, gi)."""


def run_models(command: ModelsCommand) -> int:
    rows = [("model", "effect", "family", "reads", "gate", "weights")]
    for name in list_pretrained(command.effect):
        run = runs.open_run(name)
        config, effect = run.config, effects.get(run.config.effect)
        reads = config.first_guess or guess_method(effect, config.inputs) or "the G-buffer only"
        rows.append((name, config.effect, config.model, reads,
                     "yes" if os.path.isfile(runs.path(run.folder, gate.FILE)) else "-",
                     size_text(os.path.getsize(run.checkpoint_path))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print("figures and speed: each model's MODEL_CARD.md (neurender/pretrained/NAME), docs/models.md")
    return 0


COMMANDS = {"train": (TrainCommand, run_train), "predict": (PredictCommand, run_predict),
            "export": (ExportCommand, run_export), "calibrate": (CalibrateCommand, run_calibrate),
            "models": (ModelsCommand, run_models)}
