"""Pictures: contact sheets of a dataset view (every channel group, tone-mapped, side by side) and the
evaluation grids (inputs | methods | reference | errors), both labelled PNG strips."""
from __future__ import annotations

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image, ImageDraw

from neurender import space
from neurender.base.atomic import atomic_path
from neurender.base.dataset import ALBEDO, DEPTH, NORMAL, PASS_CHANNELS, on_surface


def tonemap(rgb: np.ndarray) -> np.ndarray:
    """Linear HDR (H, W, 3) to display sRGB in [0, 1] (`neurender.space.display`)."""
    return space.display(torch.from_numpy(np.asarray(rgb, dtype=np.float32)), hdr=True).numpy()


def channel_groups(channels: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """(label, displayable (H, W, 3) in [0, 1]) for each group of channels present."""
    def stack(names):
        return np.stack([channels[n] for n in names], axis=-1)

    groups = []
    for label in ("rgb", "direct", "env", "fog"):  # the radiance passes
        if all(n in channels for n in PASS_CHANNELS[label]):
            groups.append((label, tonemap(stack(PASS_CHANNELS[label]))))
    if all(n in channels for n in ALBEDO):
        groups.append(("albedo", np.clip(stack(ALBEDO), 0, 1)))
    if all(n in channels for n in NORMAL):
        groups.append(("normal", np.clip(stack(NORMAL) * 0.5 + 0.5, 0, 1)))
    if DEPTH[0] in channels:
        depth = channels[DEPTH[0]]
        groups.append(("depth", np.repeat(depth_shade(depth, depth > 0)[..., None], 3, axis=-1)))
    for label in ("ao", "mask"):
        if f"{label}.Y" in channels:
            groups.append((label, np.repeat(np.clip(channels[f"{label}.Y"], 0, 1)[..., None], 3, axis=-1)))
    return groups


def contact_sheet(channels: dict[str, np.ndarray], path: str, title: str = "", min_tile: int = 128) -> None:
    """Write a PNG with one labelled tile per channel group (tiles upscaled to at least ``min_tile`` px)."""
    save_strip(path, channel_groups(channels), title, min_tile)


def depth_shade(depth: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Depth (H, W) as a grey shade in [0, 1]: near 1, far 0.15 over the pixels ``on``, 0 elsewhere."""
    near, far = (float(depth[on].min()), float(depth[on].max())) if on.any() else (0.0, 1.0)
    return np.where(on, 1 - (depth - near) / max(far - near, 1e-6) * 0.85, 0.0)


def save_strip(path: str, tiles: list[tuple[str, np.ndarray]], title: str = "", min_tile: int = 128) -> None:
    """Write a PNG (atomically) of labelled tiles side by side: each (label, (H, W, 3) in [0, 1]),
    upscaled (nearest) to at least ``min_tile`` px wide, under an optional title line."""
    save_rows(path, [tiles], title, min_tile)


LINE_HEIGHT = 12
"""Pixels per caption line (PIL's default font)."""


def _wrapped(draw: ImageDraw.ImageDraw, text: str, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels: broken at spaces, a longer word cut."""
    pieces = []
    for word in text.split():
        while len(word) > 1 and draw.textlength(word) > width:
            cut = next((k for k in range(len(word) - 1, 0, -1) if draw.textlength(word[:k]) <= width), 1)
            pieces.append(word[:cut])
            word = word[cut:]
        pieces.append(word)
    lines = []
    for piece in pieces:
        if lines and draw.textlength(f"{lines[-1]} {piece}") <= width:
            lines[-1] += " " + piece
        else:
            lines.append(piece)
    return lines or [""]


def save_rows(path: str, rows: list[list[tuple[str, np.ndarray]]], title: str = "", min_tile: int = 128) -> None:
    """`save_strip` with several rows of tiles, one under the other (tiles of one size). Captions wrap
    to their tile's width, so they never run into the next one."""
    height, width = rows[0][0][1].shape[:2]
    scale = max(1, -(-min_tile // width))
    tile_w, tile_h = width * scale, height * scale
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    captions = [[_wrapped(draw, label, tile_w - 8) for label, _ in tiles] for tiles in rows]
    label_h = LINE_HEIGHT * max(len(lines) for row in captions for lines in row) + 4
    top = LINE_HEIGHT + 4 if title else 0
    sheet = Image.new("RGB", (tile_w * max(map(len, rows)), (tile_h + label_h) * len(rows) + top), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((4, 2), title, fill="black")
    for r, tiles in enumerate(rows):
        y = top + r * (tile_h + label_h)
        for i, ((_, image), lines) in enumerate(zip(tiles, captions[r])):
            tile = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)).resize((tile_w, tile_h), Image.NEAREST)
            sheet.paste(tile, (i * tile_w, y + label_h))
            for k, line in enumerate(lines):
                draw.text((i * tile_w + 4, y + 2 + k * LINE_HEIGHT), line, fill="black")
    with atomic_path(path, ".png") as tmp:
        sheet.save(tmp, format="PNG")


ERROR_SCALE = 0.25
"""|error| mapped to the full colormap in the evaluation grids."""


def _rgb(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) display values -> (H, W, 3) in [0, 1] (one channel repeated)."""
    image = x.clamp(0.0, 1.0).expand(3, -1, -1) if x.shape[0] == 1 else x.clamp(0.0, 1.0)
    return image.permute(1, 2, 0).numpy()


def _error_rgb(err: torch.Tensor) -> np.ndarray:
    value = (err.mean(dim=0) / ERROR_SCALE).clamp(0.0, 1.0).numpy()
    return colormaps["magma"](value)[..., :3]


def _error_scale(height: int, width: int) -> np.ndarray:
    """The |error| colour scale as a tile (H, W, 3): 0 at the left edge to `ERROR_SCALE` at the right."""
    return _error_rgb(torch.linspace(0, ERROR_SCALE, width).expand(1, height, width))


def _input_tiles(item: dict, effect) -> list[tuple[str, np.ndarray]]:
    """Pictures of a batched item's inputs: radiance and albedo groups, normals, depth."""
    def group_of(name: str) -> str:
        return name.split(".")[0] if "." in name else "rgb"

    tiles = []
    for group in dict.fromkeys(map(group_of, effect.inputs)):
        names = [n for n in effect.inputs if group_of(n) == group]
        values = effect.pick(item["input"], names)[0]
        if group == "depth":
            on = (on_surface(item["mask"][0, 0]) & (values[0] > 0)).numpy()
            values = torch.from_numpy(depth_shade(values[0].numpy(), on).astype(np.float32))[None]
        elif group == "normal":
            values = values * 0.5 + 0.5
        elif space.is_radiance(names[0]):
            values = space.display(values, True)
        tiles.append((group, _rgb(values)))
    return tiles


def frame_strip(path: str, frames: dict[str, list[torch.Tensor]], title: str) -> None:
    """Consecutive frames of a camera path, a row per method: ``frames`` label -> display values
    (1, C, H, W) of frame 0, 1, ... (flicker shows as what changes along a row but not in the reference's)."""
    save_rows(path, [[(f"{label} {k}", _rgb(image[0])) for k, image in enumerate(images)]
                     for label, images in frames.items()], title)


def evaluation_grid(path: str, item: dict, effect, shown: dict[str, torch.Tensor], reference: torch.Tensor) -> None:
    """The grid of one evaluated view (batched ``item``): inputs | each method | reference | |error| of
    each method; ``shown``: label -> display values (1, C, H, W), ``reference`` likewise."""
    tiles = _input_tiles(item, effect)
    tiles += [(label, _rgb(pred[0])) for label, pred in shown.items()]
    tiles.append(("reference", _rgb(reference[0])))
    tiles += [(f"|err| {label}", _error_rgb((pred[0] - reference[0]).abs())) for label, pred in shown.items()]
    tiles.append((f"|err| scale: 0 (left) to {ERROR_SCALE:g} or more (right)", _error_scale(*reference.shape[-2:])))
    save_strip(path, tiles, f"{effect.name} {item['scene']} view {item['view']} "
                            f"({'tone-mapped' if effect.hdr else 'linear'})")
