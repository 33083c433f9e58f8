"""Procedural textures made with numpy (no downloads): value noise, bark, leaves, sky."""
from __future__ import annotations

import numpy as np


def value_noise(rng: np.random.Generator, size: int, octaves: int = 4) -> np.ndarray:
    """Tileable fractal value noise, (size, size) in [0, 1]."""
    out = np.zeros((size, size))
    amplitude, total = 1.0, 0.0
    for octave in range(octaves):
        cells = 4 * 2 ** octave
        grid = rng.random((cells, cells))
        x = np.linspace(0, cells, size, endpoint=False)
        i0 = np.floor(x).astype(int)
        t = x - i0
        t = t * t * (3 - 2 * t)
        i1 = (i0 + 1) % cells
        rows = grid[i0][:, i0] * (1 - t)[None, :] + grid[i0][:, i1] * t[None, :]
        rows1 = grid[i1][:, i0] * (1 - t)[None, :] + grid[i1][:, i1] * t[None, :]
        out += amplitude * (rows * (1 - t)[:, None] + rows1 * t[:, None])
        total += amplitude
        amplitude *= 0.5
    return out / total


def _colorize(noise: np.ndarray, dark, light) -> np.ndarray:
    dark, light = np.asarray(dark), np.asarray(light)
    return (dark + noise[..., None] * (light - dark)).astype(np.float32)


def bark(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Trunk texture (size, size, 3): vertical streaks in a random brown palette."""
    base = rng.uniform([0.08, 0.05, 0.02], [0.25, 0.16, 0.08])
    streaks = value_noise(rng, size, 3)
    streaks = 0.6 * streaks + 0.4 * np.repeat(rng.random((1, size)), size, axis=0)
    return _colorize(streaks, base * 0.5, base * 1.6)


def leaves(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Foliage texture (size, size, 3): blotchy greens (autumn tints for some seeds)."""
    hue = rng.choice([np.array([0.05, 0.25, 0.04]), np.array([0.12, 0.30, 0.05]),
                      np.array([0.35, 0.25, 0.03]), np.array([0.04, 0.18, 0.08])])
    base = np.clip(hue * rng.uniform(0.8, 1.2, 3), 0, 1)
    return _colorize(value_noise(rng, size, 4) ** 1.5, base * 0.4, np.minimum(base * 1.8, 0.9))


def grass(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """Ground texture (size, size, 3): grass and soil."""
    return _colorize(value_noise(rng, size, 5), [0.10, 0.08, 0.04], [0.18, 0.28, 0.08])


def checker(rng: np.random.Generator, size: int = 64, cells: int = 8) -> np.ndarray:
    """Two-colour checkerboard (size, size, 3) with random colours."""
    a, b = rng.uniform(0.1, 0.8, 3), rng.uniform(0.1, 0.8, 3)
    idx = (np.arange(size) * cells // size)
    mask = (idx[:, None] + idx[None, :]) % 2
    return np.where(mask[..., None] == 1, a, b).astype(np.float32)


def sky(height: int = 64, zenith=(0.25, 0.45, 0.9), horizon=(0.85, 0.9, 1.0), ground=(0.3, 0.28, 0.25)) -> np.ndarray:
    """Lat-long sky (height, 2*height, 3): zenith-to-horizon gradient, flat ground colour below."""
    theta = (np.arange(height) + 0.5) / height  # 0 at the zenith, 1 at the nadir
    up = np.clip(1 - 2 * theta, 0, 1)[:, None] ** 0.6
    rows = np.where(theta[:, None] < 0.5, np.asarray(horizon) + up * (np.asarray(zenith) - np.asarray(horizon)),
                    np.asarray(ground))
    return np.repeat(rows[:, None, :], 2 * height, axis=1).astype(np.float32)
