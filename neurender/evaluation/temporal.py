"""Temporal stability: how a method's change between consecutive frames of a camera path differs from
the reference's, through the exact reprojection of `neurender.inference.temporal`.

Metrics of a method P against the reference R over consecutive frames, on the valid pixels:

- ``twe`` (temporal warped error): mean |(P_t - W(P_{t-1})) - (R_t - W(R_{t-1}))| over pixels and
  channels, in the units of the compared values (display values for HDR effects). 0 for P = R;
  ``2 sigma / sqrt(pi)`` for independent Gaussian noise of std sigma per frame under a static camera.
- ``flicker``: root mean square of the same difference, divided by sqrt(2): the temporal standard
  deviation of P - R when its error is independent from frame to frame (sigma for the noise above).
"""
from __future__ import annotations

import math

import torch

from neurender.base.camera import Camera
from neurender.base.dataset import DEPTH
from neurender.inference.temporal import Warp, reprojection


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
    not on a camera path) and their warps, built from the frames `add` is given as the views are
    read (so no view is read again for them)."""

    def __init__(self, records: list[dict], effect):
        self.records, self.pairs = records, frame_pairs(records)
        self.depth = effect.inputs.index(DEPTH[0])
        self.in_pairs = {i for pair in self.pairs for i in pair}
        self.frames, self.warps = {}, {}

    def add(self, index: int, item: dict) -> None:
        """Keep the depth, mask and camera of view ``index`` (a batched item: ``input`` (1, C, H, W)) if it is in a pair."""
        if index in self.in_pairs:
            self.frames[index] = (item["input"][:, self.depth:self.depth + 1], item["mask"],
                                  Camera.from_json(self.records[index]["camera"]))

    def figures(self, images: dict[int, torch.Tensor], references: dict[int, torch.Tensor]) -> dict:
        """`summarise` of a method's display ``images`` against the display ``references``
        (view index -> (1, C, H, W)) over every pair (each pair's warp made once)."""
        errors = []
        for before, after in self.pairs:
            if (before, after) not in self.warps:
                self.warps[(before, after)] = reprojection(*self.frames[after], *self.frames[before])
            errors.append(temporal_errors(images[after], images[before], references[after], references[before],
                                          self.warps[(before, after)]))
        return summarise(errors)
