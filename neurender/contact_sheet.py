"""Contact sheets: every channel group of a view, tone-mapped side by side in one labelled PNG."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from neurender import space


def tonemap(rgb: np.ndarray) -> np.ndarray:
    """Linear HDR (H, W, 3) to display sRGB in [0, 1] (:func:`neurender.space.display`)."""
    return space.display(torch.from_numpy(np.asarray(rgb, dtype=np.float32)), hdr=True).numpy()


def channel_groups(channels: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """(label, displayable (H, W, 3) in [0, 1]) for each group of channels present."""
    def stack(names):
        return np.stack([channels[n] for n in names], axis=-1)

    groups = []
    for label, prefix in (("rgb", ""), ("direct", "direct."), ("env", "env."), ("fog", "fog.")):
        names = [f"{prefix}{c}" for c in "RGB"]
        if all(n in channels for n in names):
            groups.append((label, tonemap(stack(names))))
    if all(f"albedo.{c}" in channels for c in "RGB"):
        groups.append(("albedo", np.clip(stack([f"albedo.{c}" for c in "RGB"]), 0, 1)))
    if all(f"normal.{a}" in channels for a in "XYZ"):
        groups.append(("normal", np.clip(stack([f"normal.{a}" for a in "XYZ"]) * 0.5 + 0.5, 0, 1)))
    if "depth.Z" in channels:
        depth = channels["depth.Z"]
        on = depth > 0
        near, far = (depth[on].min(), depth[on].max()) if on.any() else (0.0, 1.0)
        shade = np.where(on, 1 - (depth - near) / max(far - near, 1e-6) * 0.85, 0.0)
        groups.append(("depth", np.repeat(shade[..., None], 3, axis=-1)))
    for label in ("ao", "mask"):
        if f"{label}.Y" in channels:
            groups.append((label, np.repeat(np.clip(channels[f"{label}.Y"], 0, 1)[..., None], 3, axis=-1)))
    return groups


def contact_sheet(channels: dict[str, np.ndarray], path: str, title: str = "", min_tile: int = 128) -> None:
    """Write a PNG with one labelled tile per channel group (tiles upscaled to at least ``min_tile`` px)."""
    groups = channel_groups(channels)
    height, width = next(iter(channels.values())).shape
    scale = max(1, -(-min_tile // width))
    tile_w, tile_h, label_h = width * scale, height * scale, 16
    sheet = Image.new("RGB", (tile_w * len(groups), tile_h + label_h * (2 if title else 1)), "white")
    draw = ImageDraw.Draw(sheet)
    top = label_h if title else 0
    if title:
        draw.text((4, 2), title, fill="black")
    for i, (label, image) in enumerate(groups):
        tile = Image.fromarray((image * 255 + 0.5).astype(np.uint8)).resize((tile_w, tile_h), Image.NEAREST)
        sheet.paste(tile, (i * tile_w, top + label_h))
        draw.text((i * tile_w + 4, top + 2), label, fill="black")
    sheet.save(path)
