"""Render options, pass and channel names, and seeds: what the generator needs without Mitsuba."""
from __future__ import annotations

import math
import os
import zlib
from dataclasses import asdict, dataclass, replace
from typing import Annotated

import tyro

PASSES = ("rgb", "direct", "env", "fog", "ao", "gbuffer")
MITSUBA_SAMPLERS = ("multijitter", "independent")  # Mitsuba sampler plugins generation can use (docs/commands.md, "Sampler")
MAX_WAVEFRONT = 2**32 - 1
"""Samples a pass of the Python integrators (AO, G-buffer) renders at once: Dr.Jit indexes a wavefront
with 32 bits, and Mitsuba splits only its own C++ integrators into several passes."""
BUFFERS_PER_PIXEL = 64
"""Float channels held per pixel while a view is rendered and written (its ~25 channels, with copies)."""


@dataclass(frozen=True)
class RenderOptions:
    """Everything that decides a view's pixels (recorded in the manifest)."""

    res: int = 256
    """Image width and height in pixels."""
    spp: int = 64
    """Samples per pixel of the path-traced passes (rgb, env, fog)."""
    spp_direct: int | None = None
    """Samples per pixel of the direct-illumination pass (none: spp / 4)."""
    spp_ao: int | None = None
    """AO rays per pixel, one per sample (none: spp)."""
    spp_gbuffer: int = 4
    """G-buffer samples per pixel (anti-aliasing only)."""
    max_depth: int = 8
    """Longest light path (path and volpath)."""
    sigma_s: float = 0.95
    """Fog scattering coefficient, in units of fog_scale / scene diagonal."""
    sigma_a: float = 0.0
    """Fog absorption coefficient, in units of fog_scale / scene diagonal."""
    fog_scale: float = 1.0
    """Optical depth along the scene's bounding-box diagonal per unit sigma_t (absolute sigma =
    sigma * fog_scale / diagonal, so fog reads the same at any scene size)."""
    ao_radius: Annotated[float, tyro.conf.arg(name="ao-radius-fraction")] = 0.05
    """AO ray length as a fraction of the scene's bounding-box diagonal (the manifest records it in world
    units per scene, the unit of --ao-radius in convert and predict)."""
    albedo: float | None = None
    """Every diffuse albedo of the scene set to this grey in [0, 1], textures included (a stress test of
    the predictors); none keeps the scene's own."""
    sampler: Annotated[str, tyro.conf.Suppress] = "multijitter"
    """Mitsuba sampler of every pass; multijitter by measurement (docs/commands.md, "Sampler")."""

    def resolved(self) -> RenderOptions:
        """These options with the derived sample counts (``spp_direct``, ``spp_ao``) filled in."""
        return replace(self, spp_direct=max(1, self.spp // 4) if self.spp_direct is None else self.spp_direct,
                       spp_ao=self.spp if self.spp_ao is None else self.spp_ao)

    def check(self) -> None:
        """Raise ValueError naming the first impossible option (of the `resolved` options)."""
        options = self.resolved()
        for name in ("res", "spp", "spp_direct", "spp_ao", "spp_gbuffer", "max_depth"):
            if getattr(options, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(options, name)}")
        for name in ("sigma_s", "sigma_a", "fog_scale"):
            if not 0 <= getattr(options, name) < math.inf:
                raise ValueError(f"--{name.replace('_', '-')} must be finite and >= 0, got {getattr(options, name)}")
        if not 0 < options.ao_radius < math.inf:
            raise ValueError(f"--ao-radius-fraction must be > 0, got {options.ao_radius}")
        if options.albedo is not None and not 0 <= options.albedo <= 1:
            raise ValueError(f"--albedo must be in [0, 1], got {options.albedo}")
        if options.sampler not in MITSUBA_SAMPLERS:
            raise ValueError(f"unknown sampler {options.sampler!r}; valid samplers: {', '.join(MITSUBA_SAMPLERS)}")
        image_bytes = options.res * options.res * 4 * BUFFERS_PER_PIXEL
        if image_bytes > physical_memory() / 2:
            raise ValueError(f"--res {options.res} needs about {image_bytes / 2**30:.3g} GiB for a view's images, more "
                             f"than half of this machine's {physical_memory() / 2**30:.3g} GiB")
        for name in ("spp_ao", "spp_gbuffer"):  # Python integrators: one wavefront (Mitsuba splits its own)
            samples = options.res * options.res * rendered_spp(options.sampler, getattr(options, name))
            if samples > MAX_WAVEFRONT:
                raise ValueError(f"--{name.replace('_', '-')} {getattr(options, name)} at {options.res}x{options.res} is "
                                 f"{samples:.3g} samples in one pass; a pass renders at most {MAX_WAVEFRONT:.3g}")

    def to_json(self) -> dict:
        """The options as recorded; ``albedo`` only when set, so datasets made before it still resume."""
        return {k: v for k, v in asdict(self).items() if k != "albedo" or v is not None}


def physical_memory() -> int:
    """Bytes of memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def rendered_spp(sampler: str, spp: int) -> int:
    """Samples per pixel ``sampler`` renders when asked for ``spp``: multijitter takes a grid of
    floor(sqrt(spp)) x ceil(spp / floor(sqrt(spp))) cells (so 32 -> 35, 128 -> 132; squares and
    1, 2, 8 stay), independent takes ``spp``. Passes ask for this count, so Mitsuba never rounds."""
    if sampler != "multijitter":
        return spp
    columns = math.isqrt(spp)
    return columns * -(-spp // columns)


def medium_coefficients(options: RenderOptions, size: float) -> dict:
    """Absolute fog coefficients (1 / world unit) for a scene of bounding-box diagonal ``size``."""
    scale = options.fog_scale / size
    return {"sigma_s": options.sigma_s * scale, "sigma_a": options.sigma_a * scale,
            "sigma_t": (options.sigma_s + options.sigma_a) * scale}


def pass_seed(view_seed: int, pass_index: int) -> int:
    return (view_seed + 7919 * pass_index) % 2**32


def view_seed(dataset_seed: int, scene_id: str, view: int) -> int:
    """Seed of one view: a hash of the dataset seed, scene and view index."""
    return zlib.crc32(f"{dataset_seed}:{scene_id}:{view}".encode())
