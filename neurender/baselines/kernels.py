"""The screen-space methods as compiled Dr.Jit kernels: one pass per pixel that marches its samples in
registers, with no full-image temporaries.

`gtao`, `hbao`, `ssao`, `fog` and `joint_bilateral_upsample` take the arguments and give
the results of their torch references (`neurender.baselines.gtao.gtao`,
`neurender.baselines.hbao.hbao`, `neurender.baselines.ssao.ssao`, `neurender.baselines.fog.fog`,
`neurender.baselines.upsample.joint_bilateral_upsample`; the tests hold them within 1e-3 mean absolute
difference on the same samples). Dr.Jit traces a method once per option set into one kernel (LLVM on the
CPU, CUDA on a GPU: the same source), compiles it on first use (seconds, then cached on disk by Dr.Jit) and
launches it once per image, in float32. Where Dr.Jit has no backend for the tensors' device (no libLLVM
16+), the torch reference runs instead. Results are torch tensors on the inputs' device, in their dtype.

Lanes run over the image in row order (tiles of 32 x 32 pixels, which share the AO samples' cache lines,
were slower: their reads and writes are gathers and scatters). Camera and sampling conventions are
`neurender.baselines.camera`'s.
"""
from __future__ import annotations

import contextlib
import functools
import math
from types import ModuleType

import torch

from neurender.base.dataset import on_surface
from neurender.base.mitsuba import dr
from neurender.baselines import upsample as reference_upsample
from neurender.baselines.camera import check_gbuffer, focal_pixels, pixel_noise, tan_half_fov
from neurender.baselines.fog import check_arguments as check_fog
from neurender.baselines.fog import fog as reference_fog
from neurender.baselines.gtao import check_options as check_gtao
from neurender.baselines.gtao import gtao as reference_gtao
from neurender.baselines.hbao import check_options as check_hbao
from neurender.baselines.hbao import hbao as reference_hbao
from neurender.baselines.ssao import check_options as check_ssao
from neurender.baselines.ssao import hemisphere_kernel
from neurender.baselines.ssao import ssao as reference_ssao

_kernels_on = True


@contextlib.contextmanager
def torch_references():
    """Inside this block every function here runs its torch reference (benchmarks compare the two)."""
    global _kernels_on
    previous, _kernels_on = _kernels_on, False
    try:
        yield
    finally:
        _kernels_on = previous


def backend(device_type: str) -> ModuleType | None:
    """The Dr.Jit array module (``drjit.llvm`` or ``drjit.cuda``) that runs the kernels for tensors on
    ``device_type`` ("cpu" or "cuda"); None when Dr.Jit cannot run there or inside `torch_references`."""
    return _backend(device_type) if _kernels_on else None


@functools.cache
def _backend(device_type: str) -> ModuleType | None:
    name = {"cpu": "llvm", "cuda": "cuda"}.get(device_type)
    if name is None or not dr.has_backend(getattr(dr.JitBackend, name.upper())):
        return None
    return __import__(f"drjit.{name}", fromlist=["Float"])


def _array(jit: ModuleType, t: torch.Tensor):
    """A flat Float of ``t``'s values: shared when its memory is 64-byte aligned, else copied to aligned
    memory (Dr.Jit compiles aligned and unaligned loads into different kernels)."""
    t = t.to(torch.float32).contiguous().reshape(-1)
    if t.data_ptr() % 64 == 0:
        return jit.Float(t)
    aligned = dr.empty(jit.Float, t.numel())
    aligned.torch().copy_(t)
    return aligned


def _divmod(a, b):
    """Quotient and remainder of Int32 ``a`` >= 0 by ``b`` > 0 without an integer division (x86 has no vector
    one): through float64 (exact for every Int32; float32 is not from 2^24, an image of 4096 x 4096), corrected
    by one either way."""
    q = type(a)(dr.floor((dr.float64_array_t(type(a))(a) + 0.5) / b))
    r = a - q * b
    q, r = dr.select(r < 0, q - 1, q), dr.select(r < 0, r + b, r)
    return dr.select(r >= b, q + 1, q), dr.select(r >= b, r - b, r)


def _packets(jit: ModuleType, channels: list):
    """One 16-byte packet per pixel of up to 4 images of n pixels (flat Floats or tensors; zeros after
    them): a flat Float of 4 n values, written in one kernel."""
    channels = [_array(jit, c) if isinstance(c, torch.Tensor) else c for c in channels]
    n = dr.width(channels[0])
    packed = dr.empty(jit.Float, 4 * n)
    dr.scatter(packed, jit.Array4f(*channels, *[0.0] * (4 - len(channels))), dr.arange(jit.UInt32, n))
    dr.eval(packed)
    return packed


def _inverse_depth(jit: ModuleType, depth, mask):
    """`neurender.baselines.camera.inverse_depth` of flat Floats, evaluated."""
    hit = on_surface(mask) & (depth > 0)
    inv = dr.select(hit, 1.0 / dr.select(hit, depth, 1.0), 0.0)
    dr.eval(inv)
    return inv


def _quads(jit: ModuleType, inv, height: int, width: int):
    """Each pixel of the zero-bordered (H, W) inverse depth (a flat Float) with its right, lower and
    lower-right neighbours: a flat Float of (H + 2)(W + 2) packets of 4, the packet of pixel (y, x), -1 <=
    y <= H and -1 <= x <= W, at (y + 1)(W + 2) + x + 1; written in one kernel."""
    quad = dr.arange(jit.Int32, (height + 2) * (width + 2))
    y, x = _divmod(quad, dr.opaque(jit.Int32, width + 2))
    corners = []
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        i, j = y + (dy - 1), x + (dx - 1)
        inside = (i >= 0) & (i < height) & (j >= 0) & (j < width)
        corners.append(dr.gather(jit.Float, inv, jit.UInt32(dr.select(inside, i * width + j, 0)), inside))
    return _packets(jit, corners)


def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _batch(images: list[torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """The (1, C, H, W) results of a batch's images as one (B, C, H, W) tensor of ``dtype``; one image's
    own memory (Dr.Jit's, reused from frame to frame) when there is one, no copy."""
    return (images[0] if len(images) == 1 else torch.cat(images)).to(dtype)


class _Lanes:
    """The lanes of an H x W image, in its row order (reading and writing an image need no gather or
    scatter): ``i, j`` (Int32) the lane's pixel; ``width`` the image's width as Int32, ``height_f`` and
    ``width_f`` its size as Float."""

    def __init__(self, jit: ModuleType, height: int, width: int):
        self.jit, self.shape = jit, (height, width)
        self.width = dr.opaque(jit.Int32, width)
        self.height_f, self.width_f = dr.opaque(jit.Float, height), dr.opaque(jit.Float, width)
        self.i, self.j = _divmod(dr.arange(jit.Int32, height * width), self.width)

    def read(self, image):
        """The lanes' values (a Float) of an (H, W) image: a tensor, or a flat Float in row order."""
        return _array(self.jit, image) if isinstance(image, torch.Tensor) else image

    def write(self, channels: list) -> torch.Tensor:
        """(1, C, H, W) tensor of C Floats of lane values: the channels one after the other, in one kernel."""
        dr.eval(*channels)
        out = channels[0] if len(channels) == 1 else dr.concat(channels)
        return out.torch().reshape(1, len(channels), *self.shape)


class _Rays:
    """x and y of the camera ray with z = 1 through continuous pixel coordinates of an H x W image, by two
    multiply-adds (no division in a sample); ``tan`` (Float) is tan(fov_x / 2)."""

    def __init__(self, jit: ModuleType, height: int, width: int, fov_x_deg: float):
        tan = tan_half_fov(fov_x_deg)
        self.tan, self.tan_y, self.step = (dr.opaque(jit.Float, v) for v in (tan, tan * height / width, 2 * tan / width))

    def __call__(self, px, py):
        return dr.fma(px, self.step, -self.tan), dr.fma(py, -self.step, self.tan_y)


class _GBuffer(_Lanes):
    """One G-buffer image on the lanes, and the screen geometry the AO methods read: ``px, py`` the pixel
    centre (Float), ``p`` its view-space position, ``n`` its normal, ``v`` the unit view vector (3 Floats
    each), ``inv`` its inverse depth (0 off the mask), ``on`` the mask, ``noise`` two uniform Floats."""

    def __init__(self, jit: ModuleType, depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor,
                 noise: torch.Tensor, fov_x_deg: float, radius: float):
        super().__init__(jit, *depth.shape)
        Float = jit.Float
        self.radius_world = radius
        self.ray = _Rays(jit, *depth.shape, fov_x_deg)
        self.tan = self.ray.tan
        self.radius = dr.opaque(Float, radius)
        self.focal = dr.opaque(Float, focal_pixels(depth.shape[-1], fov_x_deg))
        depth, mask = _array(jit, depth), _array(jit, mask)
        self.on, z = on_surface(self.read(mask)), self.read(depth)
        inv = _inverse_depth(jit, depth, mask)
        self.valid_inv = 1e-6 * dr.maximum(dr.max(inv), 1e-30)
        self.quads = _quads(jit, inv, *self.shape)
        self.inv = self.read(inv)
        self.px, self.py = Float(self.j) + 0.5, Float(self.i) + 0.5
        rx, ry = self.ray(self.px, self.py)
        self.p = (z * rx, z * ry, z)
        self.n = tuple(self.read(normal[c]) for c in range(3))
        length = dr.rsqrt(dr.maximum(_dot(self.p, self.p), 1e-24))
        self.v = tuple(-c * length for c in self.p)
        self.noise = (self.read(noise[0]), self.read(noise[1]))

    def inverse_depth_at(self, x, y):
        """Bilinear inverse depth at continuous pixel coordinates, 0 outside the image (``grid_sample``'s
        bilinear, zero padding, ``align_corners=False``): one packet of four pixels. Coordinates beyond
        the image are clamped to the zero border's outer packets, which give 0 as the padding does."""
        u, v = dr.clip(x - 0.5, -1.0, self.width_f), dr.clip(y - 0.5, -1.0, self.height_f)
        fu, fv = dr.floor(u), dr.floor(v)
        index = self.jit.UInt32((self.jit.Int32(fv) + 1) * (self.width + 2) + self.jit.Int32(fu) + 1)
        quad = dr.gather(self.jit.Array4f, self.quads, index)
        return dr.lerp(dr.lerp(quad.x, quad.y, u - fu), dr.lerp(quad.z, quad.w, u - fu), v - fv)

    def z_at(self, x, y):
        """z-depth seen at continuous pixel coordinates (from bilinear inverse depth, as
        `positions_at`; 0 where nothing is) and whether anything is."""
        inv = self.inverse_depth_at(x, y)
        valid = inv > self.valid_inv
        return dr.select(valid, dr.rcp(dr.select(valid, inv, 1.0)), 0.0), valid

    def sample(self, x, y):
        """The distance from the lane's point to the surface seen at continuous pixel coordinates, the cosine
        of the angle between that direction and the view vector (0 at distance 0), and whether anything is
        seen there."""
        z, valid = self.z_at(x, y)
        rx, ry = self.ray(x, y)
        vector = (z * rx - self.p[0], z * ry - self.p[1], z - self.p[2])
        squared = _dot(vector, vector)
        inverse = dr.rsqrt(dr.maximum(squared, 1e-24))  # 1 / max(distance, 1e-12), without a division
        return squared * inverse, _dot(vector, self.v) * inverse, valid

    def slice_frame(self, cos_phi, sin_phi):
        """The length of the normal projected into the slice of screen direction phi, and its signed angle
        gamma from the view vector (`slice_frame`)."""
        v, n = self.v, self.n
        along = cos_phi * v[0] - sin_phi * v[1]
        ortho = (cos_phi - along * v[0], -sin_phi - along * v[1], -along * v[2])
        ortho = tuple(c * dr.rsqrt(dr.maximum(_dot(ortho, ortho), 1e-24)) for c in ortho)
        axis = (v[1] * ortho[2] - v[2] * ortho[1], v[2] * ortho[0] - v[0] * ortho[2], v[0] * ortho[1] - v[1] * ortho[0])
        across = _dot(n, axis)
        projected = tuple(n[c] - across * axis[c] for c in range(3))
        length = dr.sqrt(_dot(projected, projected))
        gamma = dr.acos(dr.clip(_dot(projected, v) / dr.maximum(length, 1e-12), -1.0, 1.0))
        return length, dr.select(_dot(projected, ortho) < 0, -gamma, gamma)

    def radius_px(self):
        """The occlusion radius in pixels at the lane's depth."""
        return self.radius * self.focal * self.inv


def _gtao(image: _GBuffer, slices: int, steps: int, falloff: float):
    inv_fade = dr.opaque(image.jit.Float, 1.0 / (max(falloff, 1e-6) * image.radius_world))
    radius_px = image.radius_px()
    visibility = 0.0
    for k in range(slices):
        sin_phi, cos_phi = dr.sincos(math.pi * (k + image.noise[0]) / slices)
        length, gamma = image.slice_frame(cos_phi, sin_phi)
        lowest = {1: -dr.sin(gamma), -1: dr.sin(gamma)}  # cos(gamma +- pi/2)
        horizon = dict(lowest)
        for s in range(steps):
            offset = radius_px * (s + 1.0 - image.noise[1]) / steps
            for side in (1, -1):
                distance, cos_sample, valid = image.sample(image.px + side * cos_phi * offset,
                                                           image.py + side * sin_phi * offset)
                weight = dr.clip((image.radius - distance) * inv_fade, 0.0, 1.0)
                weight = dr.select(valid & (distance > 1e-6 * image.radius), weight, 0.0)
                horizon[side] = dr.maximum(horizon[side], dr.fma(weight, cos_sample - lowest[side], lowest[side]))
        h2 = gamma + dr.minimum(dr.acos(dr.clip(horizon[1], -1.0, 1.0)) - gamma, math.pi / 2)
        h1 = gamma + dr.maximum(-dr.acos(dr.clip(horizon[-1], -1.0, 1.0)) - gamma, -math.pi / 2)
        sin_gamma, cos_gamma = dr.sincos(gamma)
        visibility += length * 0.25 * (-dr.cos(2.0 * h1 - gamma) - dr.cos(2.0 * h2 - gamma) + 2.0 * cos_gamma
                                       + 2.0 * (h1 + h2) * sin_gamma)
    return dr.clip(visibility / slices, 0.0, 1.0)


def _hbao(image: _GBuffer, directions: int, steps: int):
    radius_px = image.radius_px()
    occlusion = 0.0
    for k in range(directions):
        sin_phi, cos_phi = dr.sincos(2.0 * math.pi * (k + image.noise[0]) / directions)
        _, gamma = image.slice_frame(cos_phi, sin_phi)
        sin_horizon = -dr.sin(gamma)
        for s in range(steps):
            offset = radius_px * (s + 1.0 - image.noise[1]) / steps
            distance, sin_elevation, valid = image.sample(image.px + cos_phi * offset, image.py + sin_phi * offset)
            rises = (valid & (distance < image.radius) & (distance > 1e-6 * image.radius)
                     & (sin_elevation > sin_horizon))
            falloff = 1.0 - dr.square(distance / image.radius)
            occlusion += dr.select(rises, falloff * (sin_elevation - sin_horizon), 0.0)
            sin_horizon = dr.select(rises, sin_elevation, sin_horizon)
    return dr.clip(1.0 - occlusion / directions, 0.0, 1.0)


def _ssao(image: _GBuffer, kernel: torch.Tensor, bias: float):
    n = image.n
    sign = dr.select(n[2] < 0, -1.0, 1.0)  # Duff et al.'s frame, as the reference's
    a = -1.0 / (sign + n[2])
    b = n[0] * n[1] * a
    tangent = (1.0 + sign * n[0] * n[0] * a, sign * b, -sign * n[0])
    bitangent = (b, sign + n[1] * n[1] * a, -n[1])
    sin_angle, cos_angle = dr.sincos(2.0 * math.pi * image.noise[0])
    tangent, bitangent = (tuple(cos_angle * t + sin_angle * u for t, u in zip(tangent, bitangent)),
                          tuple(-sin_angle * t + cos_angle * u for t, u in zip(tangent, bitangent)))
    width, height = image.width_f, image.height_f
    occlusion = 0.0
    for kx, ky, kz in kernel.tolist():
        point = tuple(image.p[c] + image.radius * (kx * tangent[c] + ky * bitangent[c] + kz * n[c]) for c in range(3))
        z = dr.maximum(point[2], 1e-12)
        scene_z, valid = image.z_at((point[0] / (z * image.tan) + 1.0) * width / 2.0,
                                    (1.0 - point[1] / (z * image.tan * height / width)) * height / 2.0)
        occluded = valid & (point[2] > 0) & (scene_z < point[2] - bias * image.radius)
        x = dr.clip(image.radius / dr.maximum(dr.abs(image.p[2] - scene_z), 1e-12), 0.0, 1.0)
        occlusion += dr.select(occluded, x * x * (3.0 - 2.0 * x), 0.0)
    return 1.0 - occlusion / len(kernel)


def _march(method, reference, depth, normal, mask, fov_x_deg, radius, seed, **options) -> torch.Tensor:
    """AO by ``method(image)`` on every image of the batch with Dr.Jit, or by ``reference`` where it cannot run."""
    check_gbuffer(depth, normal, mask, fov_x_deg, radius)
    jit = backend(depth.device.type)
    if jit is None:
        return reference(depth, normal, mask, fov_x_deg, radius, seed=seed, **options)
    noise = _noise(*depth.shape[-2:], seed, depth.device)
    out = []
    for b in range(depth.shape[0]):
        image = _GBuffer(jit, depth[b, 0], normal[b], mask[b, 0], noise, fov_x_deg, radius)
        out.append(image.write([dr.select(image.on, method(image), 1.0)]))
    return _batch(out, depth.dtype)


@functools.lru_cache(maxsize=4)
def _noise(height: int, width: int, seed: int, device: torch.device) -> torch.Tensor:
    """`pixel_noise` (2, H, W), float32, kept for the next frame of this size."""
    return pixel_noise(2, height, width, seed, device=device, dtype=torch.float32)


def gtao(depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, radius: float,
         *, slices: int = 4, steps: int = 8, falloff: float = 0.0, seed: int = 0) -> torch.Tensor:
    """`neurender.baselines.gtao.gtao` as a kernel: the same arguments, shapes and result."""
    check_gtao(slices, steps, falloff)
    return _march(lambda image: _gtao(image, slices, steps, falloff), reference_gtao,
                  depth, normal, mask, fov_x_deg, radius, seed, slices=slices, steps=steps, falloff=falloff)


def hbao(depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, radius: float,
         *, directions: int = 8, steps: int = 8, seed: int = 0) -> torch.Tensor:
    """`neurender.baselines.hbao.hbao` as a kernel: the same arguments, shapes and result."""
    check_hbao(directions, steps)
    return _march(lambda image: _hbao(image, directions, steps), reference_hbao,
                  depth, normal, mask, fov_x_deg, radius, seed, directions=directions, steps=steps)


def ssao(depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, radius: float,
         *, samples: int = 16, bias: float = 0.02, seed: int = 0) -> torch.Tensor:
    """`neurender.baselines.ssao.ssao` as a kernel: the same arguments, shapes and result."""
    check_ssao(samples, bias)
    kernel = hemisphere_kernel(samples, seed)
    return _march(lambda image: _ssao(image, kernel, bias), reference_ssao,
                  depth, normal, mask, fov_x_deg, radius, seed, samples=samples, bias=bias)


def _fog(jit: ModuleType, rgb: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor, fov_x_deg: float,
         sigma: float, light: list[float], background_distance: float) -> torch.Tensor:
    """One image of `fog`: rgb (3, H, W), depth and mask (1, H, W), the airlight's 3 values -> (1, 3, H, W)."""
    lanes = _Lanes(jit, *depth.shape[-2:])
    Float = jit.Float
    x, y = _Rays(jit, *depth.shape[-2:], fov_x_deg)(Float(lanes.j) + 0.5, Float(lanes.i) + 0.5)
    distance = lanes.read(depth[0]) * dr.sqrt(1.0 + x * x + y * y)  # `ray_lengths`
    background = 1.0 if sigma == 0 else math.exp(-sigma * background_distance)  # sigma 0, distance inf: 1
    transmittance = dr.select(on_surface(lanes.read(mask[0])), dr.exp(-dr.opaque(Float, sigma) * distance),
                              dr.opaque(Float, background))
    light = [dr.opaque(Float, value) for value in light]
    return lanes.write([light[c] + transmittance * (lanes.read(rgb[c]) - light[c]) for c in range(3)])


def fog(rgb: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor, fov_x_deg: float, sigma_t,
        airlight=1.0, *, background_distance: float = math.inf) -> torch.Tensor:
    """`neurender.baselines.fog.fog` as a kernel: the same arguments, shapes and result."""
    sigma, light = check_fog(rgb, depth, mask, sigma_t, airlight, background_distance)
    jit = backend(rgb.device.type)
    if jit is None:
        return reference_fog(rgb, depth, mask, fov_x_deg, sigma_t, airlight, background_distance=background_distance)
    return _batch([_fog(jit, rgb[b], depth[b], mask[b], fov_x_deg, float(sigma[b]), light[b].tolist(),
                        background_distance) for b in range(rgb.shape[0])], rgb.dtype)


@functools.lru_cache(maxsize=8)
def _neighbour_tensors(n_out: int, n_in: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The index and spatial weight (n_out, 4) of the 3 low-resolution rows (or columns) nearest each of
    ``n_out`` output rows (`neurender.baselines.upsample.neighbours`; a 0 after them), kept for the next
    frame of this size."""
    index, weight = [], []
    for offset in (-1, 0, 1):
        i, distance = reference_upsample.neighbours(n_out, n_in, offset, device)
        index.append(i.float())
        weight.append(torch.exp(-distance.square() / (2 * reference_upsample.SPATIAL_SIGMA ** 2)))
    zero = torch.zeros(n_out, device=device)
    return torch.stack([*index, zero], dim=-1), torch.stack([*weight, zero], dim=-1)


def _neighbour_table(jit: ModuleType, at, n_out: int, n_in: int, device: torch.device) -> list:
    """(index, spatial weight) of the 3 low-resolution rows (or columns) nearest output row (or column)
    ``at`` (Int32) of ``n_out``: two packet gathers from `_neighbour_tensors` instead of three roundings
    and exponentials per pixel."""
    index, weight = (dr.gather(jit.Array4f, _array(jit, t), jit.UInt32(at)) for t in _neighbour_tensors(n_out, n_in, device))
    return [(jit.Int32(index[k]), weight[k]) for k in range(3)]


def _upsample(jit: ModuleType, low: torch.Tensor, low_depth: torch.Tensor, low_normal: torch.Tensor,
              depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """One image of `joint_bilateral_upsample`: low (C <= 4, h, w), guides (1 and 3, h, w) and
    (1 and 3, H, W), mask (1, H, W) or None -> (1, C, H, W)."""
    h, w = low.shape[-2:]
    lanes = _Lanes(jit, *depth.shape[-2:])
    values, guides = _packets(jit, list(low)), _packets(jit, [low_depth[0], *low_normal])
    on = True if mask is None else on_surface(lanes.read(mask[0]))
    d = dr.select(on, lanes.read(depth[0]), 0.0)
    n = tuple(dr.select(on, lanes.read(normal[c]), 0.0) for c in range(3))
    low_w = dr.opaque(jit.Int32, w)
    rows, columns = (_neighbour_table(jit, at, n_out, n_in, depth.device) for at, n_out, n_in in
                     ((lanes.i, depth.shape[-2], h), (lanes.j, depth.shape[-1], w)))
    total, weights = [0.0] * low.shape[0], 0.0
    for row, row_weight in rows:
        for column, column_weight in columns:
            index = jit.UInt32(row * low_w + column)
            guide, value = dr.gather(jit.Array4f, guides, index), dr.gather(jit.Array4f, values, index)
            relative = dr.abs(d - guide.x) / dr.maximum(dr.maximum(d, guide.x), 1e-12)
            similar = dr.exp(-0.5 * dr.square(relative / reference_upsample.DEPTH_SIGMA))
            aligned = dr.power(dr.maximum(n[0] * guide.y + n[1] * guide.z + n[2] * guide.w, 0.0),
                               int(reference_upsample.NORMAL_POWER))
            both_off = dr.select((d == 0) & (guide.x == 0), 1.0, 0.0)
            weight = row_weight * column_weight * (similar * (aligned + both_off) + reference_upsample.FLOOR)
            total = [t + weight * value[c] for c, t in enumerate(total)]
            weights += weight
    return lanes.write([t / weights for t in total])


def joint_bilateral_upsample(low: torch.Tensor, low_depth: torch.Tensor, low_normal: torch.Tensor,
                             depth: torch.Tensor, normal: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """`neurender.baselines.upsample.joint_bilateral_upsample` as a kernel (up to 4 channels; the
    reference runs for more): the same arguments, shapes and result. With ``mask`` (B, 1, H, W) the
    full-resolution guides count as 0 where it is <= 0.5 (the reference's contract, without making them)."""
    reference_upsample.check_guides(low, low_depth, low_normal, depth, normal)
    jit = backend(low.device.type)
    if jit is None or low.shape[1] > 4:
        if mask is not None:
            depth, normal = depth * on_surface(mask), normal * on_surface(mask)
        return reference_upsample.joint_bilateral_upsample(low, low_depth, low_normal, depth, normal)
    return _batch([_upsample(jit, *(t[b] for t in (low, low_depth, low_normal, depth, normal)),
                             None if mask is None else mask[b]) for b in range(low.shape[0])], low.dtype)
