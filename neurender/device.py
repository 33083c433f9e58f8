"""Where the networks run: ``--device auto|cpu|cuda|cuda:N`` and ``--precision auto|fp32|bf16|fp16``.

``auto`` is the first GPU when torch sees one, else the CPU. ``--precision auto`` is bf16 on a GPU that
supports it, else fp32. On the CPU, bf16 runs only where the CPU computes it natively (`cpu_bf16`: there
bf16 autocast ran the attention cGAN's network at 1080p about 1.6x as fast as fp32, docs/models.md);
elsewhere, and for fp16, the CPU falls back to fp32 with a warning (on an earlier machine without native
bf16, bf16 autocast ran slower than fp32).
"""
from __future__ import annotations

import contextlib
import functools
import platform
import sys
import typing
from dataclasses import dataclass
from typing import Literal

import torch

from neurender.base.errors import InputError

PrecisionName = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS = typing.get_args(PrecisionName)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device of ``name``; InputError for an unknown name or a GPU this machine lacks."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise InputError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise InputError(f"--device {name}: this machine has no CUDA device torch can use (--device cpu runs here)")
    index = device.index or 0
    if index >= torch.cuda.device_count():
        raise InputError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return torch.device("cuda", index)


def cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles, which torch's oneDNN kernels use)."""
    return any(getattr(torch.cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision that will run: ``auto`` -> bf16 on a GPU with bf16, else fp32; on the CPU, bf16 where
    `cpu_bf16`, anything else but fp32 -> fp32 (with a warning line)."""
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if device.type != "cuda":
        if precision == "bf16" and cpu_bf16():
            return "bf16"
        if precision not in ("auto", "fp32"):
            print(f"warning: --precision {precision} is for CUDA devices (bf16 also for a CPU with native bf16: "
                  f"AVX512-BF16, AMX); this CPU runs fp32", file=sys.stderr)
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return precision


class Precision:
    """The precision networks run in on ``device``: ``name`` resolved by `resolve_precision`,
    `autocast` for the forward passes and, for training, ``scaler``, the gradient scaler (active for
    fp16 only; its calls pass gradients through unchanged otherwise), made when first used: prediction
    never makes one."""

    def __init__(self, name: str = "fp32", device: torch.device = torch.device("cpu")):
        self.device, self.name = device, resolve_precision(name, device)

    @functools.cached_property
    def scaler(self) -> torch.amp.GradScaler:
        return torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")

    def autocast(self):
        """The autocast context of this precision (none for fp32)."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.name])


def cpu_name() -> str:
    """This machine's processor as the system names it (``/proc/cpuinfo``; else the platform's word)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine(device: torch.device) -> dict:
    """Where figures were timed: ``device`` (`device_label`), ``cpu`` (`cpu_name`), ``threads``
    (torch's CPU threads)."""
    return {"device": device_label(device), "cpu": cpu_name(), "threads": torch.get_num_threads()}


def device_label(device: torch.device) -> str:
    """The device as figures name it: ``cpu`` or ``cuda:0 (its name)``."""
    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)


@dataclass(frozen=True)
class DeviceOptions:
    """Where networks run, as every command that runs one takes it."""

    device: str = "auto"
    """auto (the first GPU torch sees, else the CPU), cpu, cuda or cuda:N."""
    precision: PrecisionName = "auto"
    """Mixed precision: auto (bf16 where the GPU has it, else fp32), fp32, bf16 or fp16 on CUDA; on the CPU fp32, or
    bf16 where it computes bf16 natively."""
