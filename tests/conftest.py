"""Shared helpers: sprites drawn in code (the tests need no external files)."""
from __future__ import annotations

import numpy as np
import pytest


def random_sprite(rng: np.random.Generator, h: int = 12, w: int = 10, n_colors: int = 5,
                  transparent: bool = False) -> np.ndarray:
    """A random RGBA sprite with single-pixel detail and well separated colours."""
    pal = rng.integers(0, 256, (n_colors, 3))
    # keep colours apart so that every one is a distinct palette entry
    while True:
        d = np.abs(pal[:, None, :].astype(int) - pal[None, :, :].astype(int)).sum(-1)
        np.fill_diagonal(d, 999)
        if d.min() >= 60:
            break
        pal = rng.integers(0, 256, (n_colors, 3))
    idx = rng.integers(0, n_colors, (h, w))
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = pal[idx]
    out[..., 3] = 255
    if transparent:
        out[rng.random((h, w)) < 0.3] = 0
    return out


def upscale(sprite: np.ndarray, s: int) -> np.ndarray:
    return np.repeat(np.repeat(sprite, s, axis=0), s, axis=1)


def smiley() -> np.ndarray:
    """A 12x12 face on a flat backdrop."""
    bg, skin, dark, red = (40, 44, 90), (250, 210, 60), (30, 20, 20), (220, 40, 50)
    img = np.zeros((12, 12, 4), np.uint8)
    img[...] = (*bg, 255)
    yy, xx = np.mgrid[:12, :12]
    img[(yy - 5.5) ** 2 + (xx - 5.5) ** 2 <= 25] = (*skin, 255)
    img[3:5, 3] = (*dark, 255)
    img[3:5, 8] = (*dark, 255)
    img[7, 3:9] = (*red, 255)
    img[6, 2] = (*red, 255)
    img[6, 9] = (*red, 255)
    return img


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
