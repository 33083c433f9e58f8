"""Temporal stability from exact reprojection: warp frame t-1 into frame t with depth and both cameras.

A dataset's views carry their exact cameras and z-depth, so the motion between two frames is known
without optical flow. For each pixel of frame t (camera space +X right, +Y up, +Z forward, pixel
centres at (j + 0.5, i + 0.5)), its surface point is ``z * (x tan, y tan H / W, 1)`` with NDC x, y
and ``tan = tan(fov_x / 2)``; it is moved to world space with frame t's camera, into frame t-1's
camera space, projected, and frame t-1 is sampled there bilinearly. A pixel is valid when it is on
the surface in frame t, its four taps in frame t-1 are on the surface and inside the image, and
frame t-1's depth there matches the point's depth in camera t-1 within a relative tolerance
(otherwise it was hidden in t-1: a disocclusion).

Metrics of a method P against the reference R over consecutive frames, on the valid pixels:

- ``twe`` (temporal warped error): mean |(P_t - W(P_{t-1})) - (R_t - W(R_{t-1}))| over pixels and
  channels, in the units of the compared values (display values for HDR effects). 0 for P = R;
  ``2 sigma / sqrt(pi)`` for independent Gaussian noise of std sigma per frame under a static camera.
- ``flicker``: root mean square of the same difference, divided by sqrt(2): the temporal standard
  deviation of P - R when its error is independent from frame to frame (sigma for the noise above).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neurender.base.camera import Camera

DEPTH_TOLERANCE = 0.02
"""Relative depth difference beyond which a reprojected pixel counts as disoccluded."""


def _camera_basis(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(rotation (3, 3) whose rows are camera right, up, forward in world space, origin (3,))."""
    m = camera.matrix
    return np.stack([-m[:3, 0], m[:3, 1], m[:3, 2]]), m[:3, 3]


def _pixel_rays(camera: Camera, dtype=torch.float32) -> torch.Tensor:
    """Camera-space rays with z = 1 through every pixel centre: (3, H, W)."""
    tan = math.tan(math.radians(camera.fov_x) / 2)
    x = (2 * (torch.arange(camera.width, dtype=dtype) + 0.5) / camera.width - 1) * tan
    y = (1 - 2 * (torch.arange(camera.height, dtype=dtype) + 0.5) / camera.height) * tan * camera.height / camera.width
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx, yy, torch.ones_like(xx)])


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
                 mask_previous: torch.Tensor, camera_previous: Camera, tolerance: float = DEPTH_TOLERANCE) -> Warp:
    """The warp of frame t-1 into frame t.

    depth, mask: frame t's z-depth and mask (1, 1, H, W), world units; camera: its camera (W x H pixels).
    depth_previous, mask_previous, camera_previous: the same for frame t-1.
    """
    for name, image, cam in (("depth", depth, camera), ("depth_previous", depth_previous, camera_previous)):
        if image.dim() != 4 or image.shape[:2] != (1, 1) or tuple(image.shape[2:]) != (cam.height, cam.width):
            raise ValueError(f"{name} must have shape (1, 1, {cam.height}, {cam.width}), got {tuple(image.shape)}")
    points = depth[0].double() * _pixel_rays(camera, torch.float64)  # (3, H, W), camera t space
    rotation, origin = _camera_basis(camera)
    rotation_previous, origin_previous = _camera_basis(camera_previous)
    # camera t -> world -> camera t-1: p' = R' (R^T p + o - o')
    to_previous = torch.from_numpy(rotation_previous @ rotation.T)
    shift = torch.from_numpy(rotation_previous @ (origin - origin_previous))
    moved = torch.einsum("ij,jhw->ihw", to_previous, points) + shift[:, None, None]
    z = moved[2]
    tan = math.tan(math.radians(camera_previous.fov_x) / 2)
    aspect = camera_previous.height / camera_previous.width
    safe_z = z.clamp_min(1e-12)
    ndc_x = moved[0] / (safe_z * tan)
    ndc_y = -moved[1] / (safe_z * tan * aspect)  # grid_sample's y grows downwards
    grid = torch.stack([ndc_x, ndc_y], dim=-1)[None].float()
    width, height = camera_previous.width, camera_previous.height
    inside = (ndc_x.abs() <= 1 - 1 / width) & (ndc_y.abs() <= 1 - 1 / height) & (z > 0)  # four taps inside
    sampled_depth = F.grid_sample(depth_previous.double(), grid.double(), mode="bilinear", align_corners=False)[0, 0]
    sampled_mask = F.grid_sample(mask_previous.double(), grid.double(), mode="bilinear", align_corners=False)[0, 0]
    valid = (inside & (mask[0, 0] > 0.5) & (sampled_mask > 0.999)
             & ((sampled_depth - z).abs() <= tolerance * z.abs()))
    return Warp(grid, valid[None, None])


def temporal_errors(prediction: torch.Tensor, prediction_previous: torch.Tensor, reference: torch.Tensor,
                    reference_previous: torch.Tensor, warp: Warp) -> torch.Tensor:
    """|(P_t - W(P_{t-1})) - (R_t - W(R_{t-1}))| on the valid pixels, every channel: a 1-D tensor."""
    change = (prediction - reference) - warp(prediction_previous - reference_previous)
    return change[warp.valid.expand_as(change)].abs().float()


def summarise(errors: list[torch.Tensor]) -> dict:
    """``twe``, ``flicker`` (module docstring) and the number of valid ``samples`` over frame pairs' errors."""
    values = torch.cat(errors) if errors else torch.zeros(0)
    if values.numel() == 0:
        return {"twe": None, "flicker": None, "samples": 0}
    return {"twe": float(values.mean()), "flicker": float(values.square().mean().sqrt() / math.sqrt(2)),
            "samples": int(values.numel())}


def frame_pairs(records: list[dict]) -> list[tuple[int, int]]:
    """(index of frame t-1, index of frame t) in ``records`` (views.jsonl records) for every two
    consecutive frames of a camera path (``sequence``) of the same scene."""
    where = {(r["scene"], r["sequence"]["frame"]): i for i, r in enumerate(records) if "sequence" in r}
    return [(where[(scene, frame - 1)], i) for (scene, frame), i in where.items() if (scene, frame - 1) in where]


class Sequence:
    """The frame pairs among ``records`` (an evaluation's views.jsonl records; none when its views are
    not on a camera path) and their warps, built from the frames :meth:`add` is given as the views are
    read (so no view is read again for them)."""

    def __init__(self, records: list[dict], effect):
        self.records, self.pairs = records, frame_pairs(records)
        self.depth = effect.inputs.index("depth.Z")
        self.in_pairs = {i for pair in self.pairs for i in pair}
        self.frames, self.warps = {}, {}

    def add(self, index: int, item: dict) -> None:
        """Keep the depth, mask and camera of view ``index`` (a batched item: ``input`` (1, C, H, W)) if it is in a pair."""
        if index in self.in_pairs:
            self.frames[index] = (item["input"][:, self.depth:self.depth + 1], item["mask"],
                                  Camera.from_json(self.records[index]["camera"]))

    def figures(self, images: dict[int, torch.Tensor], references: dict[int, torch.Tensor]) -> dict:
        """:func:`summarise` of a method's display ``images`` against the display ``references``
        (view index -> (1, C, H, W)) over every pair (each pair's warp made once)."""
        errors = []
        for before, after in self.pairs:
            if (before, after) not in self.warps:
                self.warps[(before, after)] = reprojection(*self.frames[after], *self.frames[before])
            errors.append(temporal_errors(images[after], images[before], references[after], references[before],
                                          self.warps[(before, after)]))
        return summarise(errors)
