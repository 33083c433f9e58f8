"""Reprojection of frame t-1 into frame t, and a temporal blend of a predictor's frames along a camera path.

A dataset's views carry their exact cameras and z-depth, so the motion between two frames is known
without optical flow. For each pixel of frame t (camera space +X right, +Y up, +Z forward, pixel
centres at (j + 0.5, i + 0.5)), its surface point is ``z * (x tan, y tan H / W, 1)`` with NDC x, y
and ``tan = tan(fov_x / 2)``; it is moved to world space with frame t's camera, into frame t-1's
camera space, projected, and frame t-1 is sampled there bilinearly. A pixel is valid when it is on
the surface in frame t, its four taps in frame t-1 are on the surface and inside the image, and
frame t-1's depth there matches the point's depth in camera t-1 within a relative tolerance
(otherwise it was hidden in t-1: a disocclusion).

`TemporalBlend` is what real-time engines do against flicker (temporal accumulation): each
frame's prediction P_t averaged with its reprojected history, out_t = w P_t + (1 - w) W(out_{t-1})
on the valid pixels and P_t elsewhere, an exponential moving average over about 1 / w frames that
restarts at every disocclusion. It needs no retraining; single-frame prediction stays the default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neurender.base.camera import Camera
from neurender.base.dataset import on_surface

DEPTH_TOLERANCE = 0.02
"""Relative depth difference beyond which a reprojected pixel counts as disoccluded."""


def _camera_basis(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(rotation (3, 3) whose rows are camera right, up, forward in world space, origin (3,))."""
    m = camera.matrix
    return np.stack([-m[:3, 0], m[:3, 1], m[:3, 2]]), m[:3, 3]


def _ray_coordinates(camera: Camera, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-space x (W,) of every pixel column and y (H, 1) of every row of the rays with z = 1."""
    tan = math.tan(math.radians(camera.fov_x) / 2)
    x = (2 * (torch.arange(camera.width, dtype=dtype) + 0.5) / camera.width - 1) * tan
    y = (1 - 2 * (torch.arange(camera.height, dtype=dtype) + 0.5) / camera.height) * tan * camera.height / camera.width
    return x, y[:, None]


@dataclass(frozen=True)
class Warp:
    """Where each pixel of frame t lies in frame t-1: ``grid`` (1, H, W, 2) for ``grid_sample``
    (align_corners=False) and ``valid`` (1, 1, H, W) bool."""

    grid: torch.Tensor
    valid: torch.Tensor

    def __call__(self, previous: torch.Tensor) -> torch.Tensor:
        """Frame t-1's values (1, C, H', W') sampled at frame t's pixels: (1, C, H, W)."""
        return F.grid_sample(previous, self.grid.to(previous.dtype), mode="bilinear", padding_mode="zeros",
                             align_corners=False)


def reprojection(depth: torch.Tensor, mask: torch.Tensor, camera: Camera, depth_previous: torch.Tensor,
                 mask_previous: torch.Tensor, camera_previous: Camera, tolerance: float = DEPTH_TOLERANCE,
                 dtype: torch.dtype = torch.float64) -> Warp:
    """The warp of frame t-1 into frame t, computed in ``dtype`` (float64 for metrics; float32 is
    about twice as fast, for a blend at 1080p).

    depth, mask: frame t's z-depth and mask (1, 1, H, W), world units; camera: its camera (W x H pixels).
    depth_previous, mask_previous: the same for frame t-1 (1, 1, H', W'); camera_previous: its camera.
    """
    for name, image, cam in (("depth", depth, camera), ("depth_previous", depth_previous, camera_previous)):
        if image.dim() != 4 or image.shape[:2] != (1, 1) or tuple(image.shape[2:]) != (cam.height, cam.width):
            raise ValueError(f"{name} must have shape (1, 1, {cam.height}, {cam.width}), got {tuple(image.shape)}")
    rotation, origin = _camera_basis(camera)
    rotation_previous, origin_previous = _camera_basis(camera_previous)
    # camera t -> world -> camera t-1: p' = R' (R^T p + o - o'), with p = z (x, y, 1): rows of R' R^T
    # applied to the rays are sums of a row vector and a column vector (no (3, H, W) image of rays)
    to_previous = rotation_previous @ rotation.T
    shift = rotation_previous @ (origin - origin_previous)
    x, y = _ray_coordinates(camera, dtype)
    z_depth = depth[0, 0].to(dtype)
    moved_x, moved_y, z = (torch.addcmul(torch.tensor(float(s), dtype=dtype), z_depth, a * x + b * y + c)
                           for (a, b, c), s in zip(to_previous, shift))
    tan = math.tan(math.radians(camera_previous.fov_x) / 2)
    aspect = camera_previous.height / camera_previous.width
    depth_scale = z.clamp_min(1e-12)
    ndc_x = moved_x.div_(depth_scale * tan)
    ndc_y = moved_y.div_(depth_scale.mul_(-tan * aspect))  # grid_sample's y grows downwards
    grid = torch.stack([ndc_x, ndc_y], dim=-1)[None]
    # a tap outside the image reads 0 (off the surface), so the sampled mask is 1 only when all four
    # taps are inside and on the surface; the depth test fails for a point behind the camera (z <= 0)
    previous = torch.cat([depth_previous, mask_previous], dim=1).to(dtype)
    sampled_depth, sampled_mask = F.grid_sample(previous, grid, mode="bilinear", padding_mode="zeros",
                                                align_corners=False)[0]
    valid = on_surface(mask[0, 0]) & (sampled_mask > 0.999) & (sampled_depth.sub_(z).abs_() <= z * tolerance)
    return Warp(grid.float(), valid[None, None])


class TemporalBlend:
    """The frames of one camera path, in order, blended with their reprojected history (module
    docstring) with ``weight`` w in (0, 1] on the current frame (1: no blend). Call `reset` at a
    cut (a new path, a jump of the camera); a frame of another size restarts the history too."""

    def __init__(self, weight: float):
        if not 0 < weight <= 1:
            raise ValueError(f"the temporal blend's weight must be in (0, 1], got {weight}")
        self.weight = weight
        self.previous: tuple | None = None

    def reset(self) -> None:
        """Forget the history: the next frame is taken as it is."""
        self.previous = None

    def __call__(self, prediction: torch.Tensor, depth: torch.Tensor, mask: torch.Tensor, camera: Camera
                 ) -> torch.Tensor:
        """prediction (1, C, H, W) linear, the frame's z-depth and mask (1, 1, H, W) and its camera ->
        the blended frame (1, C, H, W), kept as the history of the next one."""
        out = prediction
        if self.previous is not None and self.previous[0].shape == prediction.shape:
            history, *frame_previous = self.previous
            warp = reprojection(depth, mask, camera, *frame_previous, dtype=torch.float32)
            out = torch.where(warp.valid, torch.lerp(warp(history), prediction, self.weight), prediction)
        self.previous = (out, depth, mask, camera)
        return out
