"""Choose the Mitsuba variant: CUDA if usable, else LLVM with a working libLLVM, else scalar.

Nothing chooses it by being imported: `use_variant` does, called by whoever renders (the commands with
their ``--variant``, `data_gen.generator.generate`, each render worker with its parent's choice, and
`scenes.load` with ``auto`` when nothing has chosen yet).
"""
from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass
from typing import Literal, get_args

from neurender.base.errors import InputError

MIN_LLVM = 16  # LLVM 15 crashes in drjit 1.5
# Mitsuba decodes EXR files (envmaps, textures) with OpenEXR tasks on Dr.Jit's thread pool; with a
# single thread nothing runs them and mi.load_file waits forever, so Dr.Jit never gets fewer than 2
MIN_THREADS = 2
FAST_PATH_HINT = ("install libLLVM 16+ (`apt-get install libllvm19`, or "
                  "`pip install karellen-llvm-core wheel-axle-runtime`) or set DRJIT_LIBLLVM_PATH")


VariantName = Literal["auto", "cuda_ad_rgb", "llvm_ad_rgb", "scalar_rgb"]
VARIANTS = get_args(VariantName)


@dataclass(frozen=True)
class RenderVariant:
    """The one flag of every command that renders with Mitsuba (generate, evaluate, bench, demo)."""

    variant: VariantName = "auto"
    """Mitsuba variant: auto (cuda_ad_rgb when a CUDA device is usable, else llvm_ad_rgb with libLLVM
    16+, else scalar_rgb) or one of them (an error when it cannot run here)."""


@dataclass(frozen=True)
class VariantChoice:
    """The variant in use and why it was chosen."""

    name: str      # e.g. "llvm_ad_rgb"
    reason: str    # one sentence for `neurender doctor`
    libllvm: str | None  # path handed to drjit, if any


def _llvm_version(path: str) -> int | None:
    match = re.search(r"libLLVM[-.]?(?:so\.)?(\d+)", os.path.basename(path))
    return int(match.group(1)) if match else None


def find_libllvm() -> str | None:
    """Newest libLLVM >= 16 on this machine: the venv's karellen wheel, then system copies."""
    patterns = [
        os.path.join(sys.prefix, "lib", "libLLVM.so.*"),
        "/usr/lib/llvm-*/lib/libLLVM*.so*",
        "/usr/lib/*-linux-gnu/libLLVM*.so*",
        "/usr/lib64/libLLVM*.so*",
        "/usr/local/lib/libLLVM*.so*",
    ]
    found = []
    for pattern in patterns:
        for path in glob.glob(pattern):
            version = _llvm_version(path)
            if version is not None and version >= MIN_LLVM and os.path.isfile(path):
                found.append((version, path))
    return max(found)[1] if found else None


def point_drjit_at_libllvm() -> str | None:
    """Hand drjit the newest libLLVM 16+ (``DRJIT_LIBLLVM_PATH``, unless already set) and return its path,
    None when there is none. drjit reads it when it is imported: call this first."""
    if "DRJIT_LIBLLVM_PATH" not in os.environ and (found := find_libllvm()):
        os.environ["DRJIT_LIBLLVM_PATH"] = found
    return os.environ.get("DRJIT_LIBLLVM_PATH")


_choice: VariantChoice | None = None


def use_variant(name: VariantName = "auto") -> VariantChoice:
    """Set Mitsuba's variant in this process and return the choice: ``name``, or for ``auto`` the choice
    already made in this process, else the variant ``NEURENDER_VARIANT`` names (tests, debugging), else the
    first of cuda_ad_rgb, llvm_ad_rgb and scalar_rgb that runs here. InputError when a named variant
    cannot run here."""
    global _choice
    if name not in VARIANTS:
        raise InputError(f"unknown Mitsuba variant {name!r}; use one of {', '.join(VARIANTS)}")
    if _choice is not None and name in ("auto", _choice.name):
        return _choice
    point_drjit_at_libllvm()  # in case nothing has imported drjit yet (neurender.base.mitsuba does the same)
    import drjit as dr
    import mitsuba as mi

    forced = name if name != "auto" else os.environ.get("NEURENDER_VARIANT")
    if forced:
        _set_forced(mi, forced)
        why = "named by --variant" if name != "auto" else "forced by NEURENDER_VARIANT"
        _choice = VariantChoice(forced, why, os.environ.get("DRJIT_LIBLLVM_PATH"))
    else:
        _choice = _first_working(mi, os.environ.get("DRJIT_LIBLLVM_PATH"))
    if dr.thread_count() < MIN_THREADS:  # a one-core machine
        dr.set_thread_count(MIN_THREADS)
    if _choice.name.startswith("scalar"):
        print(f"warning: Mitsuba runs in {_choice.name} (slow; the Python AO and G-buffer integrators run "
              f"per sample): {FAST_PATH_HINT}", file=sys.stderr)
    return _choice


def _set_forced(mi, name: str) -> None:
    """Set variant ``name`` asked for by ``--variant`` or ``NEURENDER_VARIANT``; InputError when it cannot run here."""
    if name.startswith("cuda") and not _cuda_device_present():
        raise InputError(f"Mitsuba variant {name} needs a CUDA device and this machine has none "
                         "(--variant auto picks what runs here; neurender doctor shows it)")
    try:
        mi.set_variant(name)
    except Exception as exc:  # noqa: BLE001 - unknown, not compiled in, or its backend fails to start
        raise InputError(f"Mitsuba variant {name} cannot run here: {str(exc).splitlines()[0]} "
                         f"(this Mitsuba has {', '.join(mi.variants())})") from None


def _first_working(mi, libllvm: str | None) -> VariantChoice:
    if "cuda_ad_rgb" in mi.variants() and _cuda_device_present():
        try:
            mi.set_variant("cuda_ad_rgb")
            return VariantChoice("cuda_ad_rgb", "a CUDA device is usable", None)
        except Exception as exc:  # noqa: BLE001 - any failure means: no CUDA here
            cuda_error = str(exc).splitlines()[0]
        else:
            cuda_error = ""
    else:
        cuda_error = "no CUDA device"
    if libllvm:
        try:
            mi.set_variant("llvm_ad_rgb")
            return VariantChoice("llvm_ad_rgb", f"{cuda_error}; libLLVM found at {libllvm}", libllvm)
        except Exception as exc:  # noqa: BLE001 - any failure means: not this libLLVM
            llvm_error = f"libLLVM at {libllvm} failed: {str(exc).splitlines()[0]}"
    else:
        llvm_error = f"no libLLVM >= {MIN_LLVM} found"
    mi.set_variant("scalar_rgb")
    return VariantChoice("scalar_rgb", f"{cuda_error}; {llvm_error}", None)


def _cuda_device_present() -> bool:
    return os.path.exists("/dev/nvidia0") or bool(glob.glob("/dev/nvidia[0-9]*"))


def is_vectorized(choice: VariantChoice) -> bool:
    """True when Python integrators run as compiled wavefront kernels (LLVM or CUDA)."""
    return not choice.name.startswith("scalar")
