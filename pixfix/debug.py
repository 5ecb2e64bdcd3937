"""Debug views: the detected grid over the input, and the cells before palette reduction."""
from __future__ import annotations

import numpy as np

from .grid import Grid

LINE = np.array([255, 0, 255, 255], np.uint8)     # grid lines: magenta
CENTRE = np.array([0, 255, 255, 255], np.uint8)   # cell centres: cyan


def grid_overlay(rgba: np.ndarray, grid: Grid, max_side: int = 4096) -> np.ndarray:
    """The input (flattened on grey where transparent) with grid lines and cell centres drawn.

    Small inputs are enlarged (nearest) so that lines stay one pixel wide between cells.
    """
    h, w = rgba.shape[:2]
    k = int(max(1, min(8, max_side // max(h, w), 600 // max(1, min(h, w)))))
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    base = (rgba[..., :3].astype(np.float32) * a + 128.0 * (1 - a)).astype(np.uint8)
    img = np.dstack([base, np.full((h, w), 255, np.uint8)])
    img = np.repeat(np.repeat(img, k, axis=0), k, axis=1)
    xs = np.clip(grid.xs * k, 0, w * k - 1)
    ys = np.clip(grid.ys * k, 0, h * k - 1)
    img[:, xs] = LINE
    img[ys, :] = LINE
    cx = ((grid.xs[:-1] + grid.xs[1:]) * k // 2).astype(np.int64)
    cy = ((grid.ys[:-1] + grid.ys[1:]) * k // 2).astype(np.int64)
    r = max(0, k // 3)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            yy = np.clip(cy + dy, 0, h * k - 1)
            xx = np.clip(cx + dx, 0, w * k - 1)
            img[yy[:, None], xx[None, :]] = CENTRE
    return img
