"""The commands that use trained models: predict, export, calibrate, models (none imports training)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

import tyro

from neurender.base.view import ViewParameters
from neurender.commands.arguments import check_sizes, parse_size
from neurender.device import DeviceOptions
from neurender.evaluation.model_card import size_text
from neurender.evaluation.shipping import export_onnx_file, export_shipped
from neurender.inference.calibration import calibrate
from neurender.inference.files import predict_files
from neurender.inference.predictor import Backend, Predictor
from neurender.inference.sampling import SamplingOptions
from neurender.run import runs
from neurender.run.catalog import pretrained_models


@dataclass(kw_only=True)
class PredictCommand:
    """Predict an effect from G-buffer EXRs with a trained run or a shipped model."""

    checkpoint: str
    """Run directory, or pretrained:NAME (a shipped model)."""
    input: str
    """An EXR file or a directory of them."""
    out: str
    """Output directory (same relative paths as the input)."""
    sampling: Annotated[SamplingOptions, tyro.conf.arg(name="")] = field(default_factory=SamplingOptions)
    """Sampling of diffusion runs."""
    backend: Backend = "auto"
    """onnxruntime: the GAN generator or fast network exported to ONNX (see neurender export); auto:
    onnxruntime for fast runs on the CPU, torch otherwise."""
    tile: Annotated[int | None, tyro.conf.arg(metavar="PX")] = None
    """Predict a GAN in tiles of at most PX pixels a side (same output; none: automatic above 3840x2160)."""
    internal_res: Annotated[int | None, tyro.conf.arg(metavar="PX")] = None
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
    devices: Annotated[DeviceOptions, tyro.conf.arg(name="")] = field(default_factory=DeviceOptions)
    """Where the networks run."""


def run_predict(command: PredictCommand) -> int:
    predictor = Predictor(command.checkpoint, command.sampling, backend=command.backend, tile=command.tile,
                          internal_res=command.internal_res, devices=command.devices,
                          gate=command.gate)
    given = ViewParameters(fov_x=command.fov_deg, ao_radius=command.ao_radius, sigma_t=command.sigma_t,
                           background_distance=command.background_distance)
    written = predict_files(predictor, command.input, command.out, given=given, previews=command.preview)
    print(f"{sum(path.endswith('.exr') for path in written)} prediction(s) written to {command.out}"
          + (" with a PNG preview each" if command.preview else ""))
    return 0


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
    size: str = "256"
    """Image size the ONNX graph takes: N, WxH or 720p/1080p/1440p/2160p (rounded up to the network's stride)."""
    eval: Annotated[tuple[str, ...], tyro.conf.arg(metavar="EVAL_DIR", help_behavior_hint="(default: none)")] = ()
    """Evaluations whose tables go into the model card (shipped)."""
    notes: str | None = None
    """A Markdown file of remarks put into the model card (shipped)."""
    card_sizes: tuple[str, ...] = ("256",)
    """Frame sizes the model card times on this CPU (shipped): N, WxH or 720p/1080p/1440p/2160p."""

    def __post_init__(self) -> None:
        check_sizes("--size", (self.size,))
        check_sizes("--card-sizes", self.card_sizes)


def run_export(command: ExportCommand) -> int:
    if command.format == "shipped":
        export_shipped(command.checkpoint, command.out, list(command.eval), command.notes,
                       [parse_size(token) for token in command.card_sizes])
    else:
        print(f"onnx: {export_onnx_file(command.checkpoint, command.out, parse_size(command.size))}")
    return 0


@dataclass(kw_only=True)
class CalibrateCommand:
    """Fit a diffusion run's uncertainty scale on held-out views (writes its calibration.json)."""

    checkpoint: str
    """Diffusion run folder (a shipped model's folder too, not pretrained:NAME)."""
    data: str
    """Validation dataset: scenes neither trained nor tested on."""
    sampling: Annotated[SamplingOptions, tyro.conf.arg(name="")] = field(default_factory=lambda: SamplingOptions(samples=8))
    """Sampling whose spread is calibrated (at least 2 samples)."""
    devices: Annotated[DeviceOptions, tyro.conf.arg(name="")] = field(default_factory=DeviceOptions)
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
    """The shipped models: what each predicts and reads, its trust gate, its quality beside its classic
    method on the report suite and its ms per 1080p frame (`neurender.run.catalog`)."""

    effect: str | None = None
    """Only the models of this effect (ao, fog, gi)."""


def run_models(command: ModelsCommand) -> int:
    models = pretrained_models(command.effect)
    rows = [("model", "effect", "family", "reads", "gate", "weights", "SSIM / PSNR / FLIP", "classic method",
             "ms@1080p")]
    for model in models:
        figures = model.figures
        measured = (figures.model.text(), f"{figures.classic_method} {figures.classic.text()}",
                    f"{figures.ms_1080p:.0f}") if figures else ("-", "-", "-")
        rows.append((model.name, model.effect, model.family, model.reads, "yes" if model.gate else "-",
                     size_text(model.weights_bytes), *measured))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for suite, timing in sorted({(m.figures.suite, m.figures.timing) for m in models if m.figures}):
        print(f"quality: surface means on {suite}; time: {timing}")
    print("more figures: each model's MODEL_CARD.md (neurender/pretrained/NAME), docs/models.md")
    return 0


COMMANDS = {"predict": (PredictCommand, run_predict),
            "export": (ExportCommand, run_export), "calibrate": (CalibrateCommand, run_calibrate),
            "models": (ModelsCommand, run_models)}
