"""A training run as a function: linear G-buffer inputs -> linear effect (and its uncertainty).

Any image size is predicted: the network input is padded (replicating the border) to the
network's stride and the output cropped back. Large images are predicted in overlapping tiles
(`neurender.inference.tiling`); with ``internal_res`` the network runs at a fixed internal size and
its output is upsampled guided by the full-resolution depth and normals (`neurender.baselines.upsample`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from neurender import effects, space
from neurender.base.errors import InputError
from neurender.base.view import ViewParameters
from neurender.baselines.kernels import joint_bilateral_upsample
from neurender.baselines.upsample import nearest_downsample
from neurender.device import DeviceOptions, Precision, resolve_device
from neurender.inference import named
from neurender.inference.onnx import OnnxNetwork
from neurender.inference.sampling import SamplingOptions
from neurender.inference.tiling import tiled
from neurender.models.gate import load_gate
from neurender.run import runs
from neurender.run.families import FAMILIES, predicting
from neurender.run.inputs import balanced, channels, guess_index, view_input

Backend = Literal["auto", "torch", "onnxruntime"]
BACKENDS = get_args(Backend)
MARGIN = 64
"""Pixels of context around each tile's kept core (the network's stride if larger)."""
AUTO_TILE = 1024
"""Tile size used without ``tile`` for images of more than `AUTO_TILE_PIXELS` pixels."""
AUTO_TILE_PIXELS = 3840 * 2160
"""Larger images are tiled automatically (measured: see docs/models.md, "Prediction at any size")."""


def list_pretrained(effect: str | None = None) -> list[str]:
    """The shipped models as ``pretrained:NAME`` (those of ``effect`` only, when given): what
    `Predictor` and every ``--checkpoint`` take. ``neurender models`` prints them with what they read."""
    if effect is not None:
        effects.get(effect)  # InputError for an unknown effect
    return runs.shipped(effect)


class Predictor:
    """A trained run as a function: linear G-buffer inputs -> linear effect.

    ``run`` is a run folder or ``pretrained:NAME`` (`neurender.run.runs`). ``effect`` is
    the run's `neurender.effects.Effect`: it names the channels read (``effect.inputs``) and
    written (``effect.targets``). Diffusion runs sample as ``sampling`` says (`SamplingOptions`;
    unset fields take the run's ``sample_steps`` and ``sampler``); their spread is scaled by the run's
    calibration (`neurender.inference.calibration`) when it was fitted for the same sampler,
    steps and samples (``calibrated``, ``std_scale``; 1 otherwise).
    ``backend="onnxruntime"`` runs a GAN's generator or a fast network exported to ONNX
    (`neurender.inference.onnx`); ``auto`` (the default) does so for fast runs on the CPU, where it
    is faster (docs/models.md, "Fast tier"), and runs torch otherwise.

    ``tile``: predict a GAN in tiles of at most this many pixels a side (`neurender.inference.tiling`,
    context `MARGIN`); None tiles a GAN automatically above `AUTO_TILE_PIXELS`.
    ``internal_res``: predict at this many pixels on the short side (when the image is larger) and
    upsample with the G-buffer's depth and normals as guide (`neurender.baselines.upsample`).
    ``devices`` (`neurender.device.DeviceOptions`, as every command takes it): where and in which
    precision the network, the value-space mapping and the upsampling run; results come back on the
    inputs' device.
    ``gate``: when the run has a trust gate (`neurender.models.gate`), keep the network's
    correction of its classic guess only where the gate trusts it (False: the network's own answer).
    """

    def __init__(self, run: str, sampling: SamplingOptions = SamplingOptions(), *, backend: Backend = "auto",
                 tile: int | None = None, internal_res: int | None = None, devices: DeviceOptions = DeviceOptions(),
                 gate: bool = True):
        sampling.check()
        self.device = resolve_device(devices.device)
        if backend == "onnxruntime" and self.device.type != "cpu":
            raise InputError(f"the onnxruntime backend runs on the CPU; give --device cpu, not {devices.device}")
        self.precision = Precision(devices.precision, self.device)
        if tile is not None and tile <= 2 * MARGIN:
            raise InputError(f"--tile must be more than {2 * MARGIN} pixels (twice the margin), got {tile}")
        if internal_res is not None and internal_res < 1:
            raise InputError(f"--internal-res must be at least 1, got {internal_res}")
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        self.run = runs.open_run(run)
        self.config = self.run.config
        if backend == "auto":
            backend = "onnxruntime" if FAMILIES[self.config.model].onnx_on_cpu and self.device.type == "cpu" else "torch"
        self.model = predicting(self.run, self.device)
        self.effect = effects.get(self.config.effect)
        self.channels = channels(self.effect, self.config.inputs)
        self.stride = self.model.stride
        self.sampling = replace(sampling, steps=sampling.steps or self.config.sample_steps,
                                sampler=sampling.sampler or self.config.sampler)
        # one deterministic network call per frame: a GAN, a fast network, or a diffusion run's
        # one-evaluation estimate (the mean sampler without draws)
        self.single = not self.model.stochastic or (self.sampling.estimates and self.sampling.samples <= 1)
        self.network = self.model.estimator() if self.single else self.model.network
        if backend == "onnxruntime":
            if not self.single:
                raise InputError(f"the onnxruntime backend runs one network call per frame (GANs, fast runs, a "
                                 f"diffusion run with --sampler mean and 1 sample); {run} draws samples")
            self.network = OnnxNetwork(self.network, len(self.channels))
        calibration = self.run.calibration()
        self.calibrated = bool(calibration) and (calibration["sampler"], calibration["steps"], calibration["samples"]) \
            == (self.sampling.sampler, self.sampling.steps, self.sampling.samples)
        self.std_scale = calibration["std_scale"] if self.calibrated else 1.0
        if tile is not None and (not self.single or backend != "torch"):
            raise InputError(f"--tile runs one network call per frame with the torch backend (GANs, fast runs, a "
                             f"diffusion run with --sampler mean and 1 sample); {run} is a {self.config.model} run on "
                             f"{backend} with {self.sampling.samples} sample(s)")
        self.tile, self.internal_res = tile, internal_res
        self.buffers: dict[str, torch.Tensor] = {}
        self.gate = load_gate(self.run.folder) if gate else None
        if self.gate is not None:
            if self.gate.guess_index != guess_index(self.effect, self.config.inputs):
                raise InputError(f"the gate of {run} reads its guess at channels {self.gate.guess_index}, the run "
                                 f"holds it at {guess_index(self.effect, self.config.inputs)}")
            self.gate.to(self.device)

    def _buffer(self, name: str, shape, like: torch.Tensor) -> torch.Tensor:
        """Work tensor ``name`` of ``shape`` with ``like``'s dtype and device, kept from one call to the next
        of the same size: a fresh 1080p G-buffer costs about 20 ms of page faults on every frame."""
        buffer = self.buffers.get(name)
        if buffer is None or buffer.shape != shape or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = self.buffers[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buffer

    def _sample(self, x: torch.Tensor, samples: int, estimate: bool = False) -> torch.Tensor:
        """The model's draws (and estimate) of padded network input x with these sampling options."""
        return self.model.sample(x, steps=self.sampling.steps, samples=samples, seed=self.sampling.seed,
                                estimate=estimate)

    def _network(self, x: torch.Tensor, sample=None) -> torch.Tensor:
        """Network input x (B, C, h, w), any size -> draws (S, B, C_out, h, w) in the model's space:
        padded at the bottom and right by replicating the border to the stride, then cropped back;
        ``sample`` (padded x -> draws) replaces the network's own call; a torch GAN runs in tiles when
        asked or when the image is large."""
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            x = F.pad(x, (0, -w % self.stride, 0, -h % self.stride), mode="replicate")
        tileable = self.single and isinstance(self.network, torch.nn.Module)
        tile = self.tile or (AUTO_TILE if tileable and h * w > AUTO_TILE_PIXELS else None)
        if sample is not None:
            raw = sample(x)
        elif tile is not None and (h > tile or w > tile):
            raw = tiled(self.network, x, tile - tile % self.stride, max(MARGIN, self.stride), self.stride)[None]
        else:
            raw = self.network(x)[None]
        return raw[..., :h, :w]

    @torch.no_grad()
    def _linear(self, inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters | None, sample=None,
                ungated: bool = False):
        """`_network` from linear G-buffer inputs to linear draws (S, B, C_out, H, W), at
        ``internal_res`` when asked, in the view's light (divided out and back when the run balances it),
        through the trust gate when there is one, with the off-mask value. With ``ungated``: (those draws,
        the same draws without the gate)."""
        source = inputs.device
        inputs, mask = inputs.to(self.device), mask.to(self.device)
        inputs, light = balanced(inputs, self.effect, self.config.balances_light,
                                 out=self._buffer("balanced", inputs.shape, inputs))
        height, width = mask.shape[-2:]
        low_inputs, low_mask = inputs, mask
        scale = self.internal_res / min(height, width) if self.internal_res else 1.0
        if scale < 1:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            low_inputs, low_mask = nearest_downsample(inputs, size), nearest_downsample(mask, size)
        x = view_input(low_inputs, low_mask, view or ViewParameters(), self.effect, self.config.inputs,
                       out=self._buffer("x", (low_inputs.shape[0], len(self.channels), *low_inputs.shape[2:]),
                                        low_inputs))
        with self.precision.autocast():
            raw = self._network(x, sample)
        raw = raw.float()  # this call's own tensor: mapped to linear values in place

        def linear(raw: torch.Tensor) -> torch.Tensor:
            draws = space.from_model_space(raw, self.effect, out=raw)
            if scale < 1:
                low, full = (self.effect.pick(t, effects.DEPTH + effects.NORMAL) for t in (low_inputs, inputs))
                draws = torch.stack([joint_bilateral_upsample(d, low[:, :1], low[:, 1:], full[:, :1], full[:, 1:])
                                     for d in draws])
            if light is not None:
                draws.mul_(light)
            return self.effect.apply_off_mask(draws, mask, in_place=True).to(source)

        if self.gate is None:
            draws = linear(raw)
            return (draws, draws) if ungated else draws
        gated = linear(torch.stack([self.gate(x.float(), draw) for draw in raw]))
        return (gated, linear(raw)) if ungated else gated

    def draws(self, inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters | None = None) -> torch.Tensor:
        """inputs (B, C_in, H, W) linear in ``effect.inputs`` order, mask (B, 1, H, W), the view's
        parameters (a scaled run needs the effect's ``parameters``; InputError naming the missing ones)
        -> draws (S, B, C_out, H, W) linear: ``samples`` DDIM draws of a diffusion model, one of a GAN;
        through the trust gate when there is one."""
        if self.single:
            return self._linear(inputs, mask, view)
        return self._linear(inputs, mask, view, lambda x: self._sample(x, self.sampling.samples))

    def predict(self, inputs: torch.Tensor, mask: torch.Tensor, view: ViewParameters | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(prediction, uncertainty), both (B, C_out, H, W) linear. The prediction is the mean of
        `draws`, or with the ``mean`` sampler the model's one-evaluation estimate of the mean
        (`neurender.run.families.Estimate`). The uncertainty is the per-pixel standard
        deviation of ``samples`` draws times ``std_scale``, taken before the trust gate: the spread of the
        correction the gate weighs, which says how far the first guess may be off where the gate keeps it
        (gated draws agree there whatever its error); 0 for a GAN or fewer than 2 draws (then a read-only
        broadcast of one 0: no 1080p image of zeros per frame)."""
        if self.single:
            prediction = self._linear(inputs, mask, view)[0]
            return prediction, prediction.new_zeros(()).expand_as(prediction)
        if self.sampling.estimates:  # the estimate, then the draws
            gated, free = self._linear(inputs, mask, view, lambda x: self._sample(x, self.sampling.samples, estimate=True),
                                       ungated=True)
            prediction, spread = gated[0], free[1:]
        else:
            gated, spread = self._linear(inputs, mask, view, lambda x: self._sample(x, self.sampling.samples),
                                         ungated=True)
            prediction = gated.mean(0) if len(gated) > 1 else gated[0]
        if len(spread) < 2:  # no spread to take (a 1080p std costs more than a fast network)
            return prediction, prediction.new_zeros(()).expand_as(prediction)
        return prediction, self.std_scale * spread.std(0, unbiased=False)

    @classmethod
    def from_pretrained(cls, name: str, **options) -> Predictor:
        """The shipped model ``name`` (``"ao"``, ``"fog"``, ``"gi"``, ``"ao-diffusion"``...: the folders of
        ``neurender/pretrained``; ``"pretrained:ao"`` too); ``options`` as for the constructor."""
        return cls(name if name.startswith(runs.PREFIX) else runs.PREFIX + name, **options)

    def __call__(self, gbuffer: Mapping, view: ViewParameters | None = None, **parameters) -> dict:
        """Named G-buffer channels in, named effect channels out (`neurender.inference.named`).

        ``gbuffer``: channel name (``normal.X``, ``depth.Z``, ..., ``mask.Y``; the dataset contract's) ->
        numpy array or torch tensor of any real dtype, (H, W) or (B, H, W), all alike. Without ``mask.Y``,
        the surface is where the depth is finite, positive and below 1e9 (as ``neurender convert`` reads it). The view's
        parameters (a scaled run needs the effect's ``parameters``: field of view, AO radius, fog
        density) come from ``view``, with keyword ``parameters`` (`ViewParameters` fields:
        ``fov_x`` in degrees, ``ao_radius``, ``sigma_t``, ``background_distance``) in their place.
        Returns target name (``ao.Y``, ``fog.R``...) -> float32 array of the input's kind and shape; a
        diffusion run adds ``std.<name>``, its calibrated uncertainty. Non-finite inputs, and a prediction
        that would not be finite, are an InputError (never a result).
        """
        unknown = sorted(set(parameters) - {f.name for f in fields(ViewParameters)})
        if unknown:
            raise InputError(f"unknown view parameter(s) {', '.join(unknown)}; give fov_x (degrees), ao_radius, "
                             "sigma_t or background_distance")
        view = replace(view or ViewParameters(), **parameters)
        if self.config.reads_view:
            view.require(self.effect.parameters, self.run.label)
        batch = named.stack(named.with_mask(gbuffer), self.effect.inputs + (effects.MASK,), self.run.label)
        prediction, std = self.predict(batch.tensor[:, :-1], batch.tensor[:, -1:], view)
        if not bool(torch.isfinite(prediction).all()):
            raise InputError(f"{self.run.label}: the prediction holds {int((~torch.isfinite(prediction)).sum())} "
                             f"non-finite values from finite inputs: their values lie far outside a G-buffer's range")
        out = {name: prediction[:, i] for i, name in enumerate(self.effect.targets)}
        if self.model.stochastic:
            out |= {f"std.{name}": std[:, i].contiguous() for i, name in enumerate(self.effect.targets)}
        return {name: batch.unstack(value) for name, value in out.items()}
