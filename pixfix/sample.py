"""One colour per cell, robust to noise, JPEG artefacts and blurred borders.

Border pixels of a cell are mixed with its neighbours (resampling filters, blur,
drift), so only the inner half of each cell is sampled, on a small lattice of up
to ``max_points`` x ``max_points`` points.  The cell colour is a trimmed mean: the
samples are ranked by CIELAB distance to their per-channel median, the nearest
half is kept and averaged in RGB.  A clean cell (all samples equal) therefore
returns its exact input colour; a noisy one gets a robust, efficient estimate.
Alpha is decided by majority: a cell is transparent when most samples are.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Cells:
    """Sampled cells: ``rgba`` (ny, nx, 4) uint8 plus the float RGB estimate and spread."""

    rgba: np.ndarray           # (ny, nx, 4) uint8, rounded
    rgb: np.ndarray            # (ny, nx, 3) float32, unrounded estimate
    spread: np.ndarray         # (ny, nx) float32, median Lab distance of samples to the cell median
    n_samples: int = 1         # samples per cell (lattice size)


def inner_indices(lines: np.ndarray, max_points: int = 5, inner: float = 0.25) -> np.ndarray:
    """Pixel indices (n_cells, m) spread over the inner part of each cell.

    A pixel counts as inner when its centre lies at least ``inner`` of the cell
    width from both borders; cells too thin for that use the pixel at their centre.
    """
    x0 = lines[:-1].astype(np.float64)
    x1 = lines[1:].astype(np.float64)
    w = x1 - x0
    lo = np.ceil(x0 + inner * w - 0.5)
    hi = np.floor(x1 - inner * w - 0.5)
    centre = np.floor((x0 + x1) / 2)
    empty = hi < lo
    lo[empty] = centre[empty]
    hi[empty] = centre[empty]
    m = int(min(max_points, max(1, (hi - lo + 1).max()))) if len(lo) else 1
    t = np.linspace(0.0, 1.0, m) if m > 1 else np.array([0.5])
    idx = np.round(lo[:, None] + t[None, :] * (hi - lo)[:, None]).astype(np.int64)
    return np.clip(idx, lines[:-1, None], lines[1:, None] - 1)


def sample_cells(rgba: np.ndarray, xs: np.ndarray, ys: np.ndarray, max_points: int = 5,
                 inner: float = 0.25, keep: float = 0.5) -> Cells:
    """Sample one RGBA colour per cell of the grid ``xs`` x ``ys`` (pixel-edge boundaries)."""
    ix = inner_indices(xs, max_points, inner)
    iy = inner_indices(ys, max_points, inner)
    ny, my = iy.shape
    nx, mx = ix.shape
    s = rgba[iy[:, None, :, None], ix[None, :, None, :]].reshape(ny, nx, my * mx, 4)
    n = my * mx
    alpha = s[..., 3].astype(np.float32)
    opaque = alpha >= 128
    n_opaque = opaque.sum(axis=2)
    visible = n_opaque * 2 > n  # majority vote (ties go to transparent)

    lab = cv2.cvtColor(s[..., :3].reshape(-1, 1, 3).astype(np.float32) * (1 / 255.0),
                       cv2.COLOR_RGB2Lab).reshape(ny, nx, n, 3)
    # per-channel median of the opaque samples (transparent ones pushed out of the way)
    big = np.float32(1e6)
    lab_m = np.where(opaque[..., None] | ~visible[..., None, None], lab, big)
    # sorting with the sentinel: the median of the opaque samples is at rank n_opaque/2
    srt = np.sort(lab_m, axis=2)
    cnt = np.where(visible, n_opaque, n)
    mid = np.clip((cnt - 1) // 2, 0, n - 1)
    med = np.take_along_axis(srt, mid[..., None, None].repeat(3, -1), axis=2)  # (ny, nx, 1, 3)
    dist = np.linalg.norm(lab - med, axis=-1)
    dist = np.where(opaque | ~visible[..., None], dist, np.inf)
    k = np.clip(np.ceil(cnt * keep).astype(np.int64), 1, n)
    thr = np.take_along_axis(np.sort(dist, axis=2), (k - 1)[..., None], axis=2)
    use = dist <= thr
    wsum = use.sum(axis=2, keepdims=True).astype(np.float32)
    rgb = (s[..., :3].astype(np.float32) * use[..., None]).sum(axis=2) / wsum
    a = (alpha * use).sum(axis=2) / wsum[..., 0]
    spread = np.median(np.where(np.isfinite(dist), dist, np.nan), axis=2)
    spread = np.nan_to_num(spread, nan=0.0).astype(np.float32)

    out = np.empty((ny, nx, 4), np.uint8)
    out[..., :3] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(np.round(a), 0, 255).astype(np.uint8)
    out[~visible] = 0
    rgb[~visible] = 0
    return Cells(rgba=out, rgb=rgb.astype(np.float32), spread=spread, n_samples=n)


def render(cells: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Paint cell values back at input resolution over the area the grid covers."""
    ox = np.repeat(np.arange(len(xs) - 1), np.diff(xs))
    oy = np.repeat(np.arange(len(ys) - 1), np.diff(ys))
    return cells[oy[:, None], ox[None, :]]


def model_cells(rgba: np.ndarray, xs: np.ndarray, ys: np.ndarray, kernel_x: str, kernel_y: str,
                cell_x: float, cell_y: float) -> np.ndarray:
    """Cell values (ny, nx, 4) float that, resampled with the detected kernels, best
    reproduce the image (separable least squares, in premultiplied RGB + alpha).

    A smooth upscale mixes every pixel with the neighbouring cells, so no pixel of
    a small cell shows its true colour; the fit undoes that mixing (it is a
    deconvolution with the known kernel).  Returns un-premultiplied RGB and alpha,
    not rounded.
    """
    from .grid.edges import linear_features
    from .grid.model import cell_centres, design, solve_banded_gram

    lin = linear_features(rgba).astype(np.float64)
    h, w, c = lin.shape
    ax = design(cell_centres(xs, w, cell_x), w, kernel_x, xs)
    ay = design(cell_centres(ys, h, cell_y), h, kernel_y, ys)
    nx, ny = ax.n, ay.n
    t = ax.rmatmul(np.ascontiguousarray(lin.transpose(1, 0, 2)).reshape(w, h * c)).reshape(nx, h, c)  # X A_x
    z = ay.rmatmul(np.ascontiguousarray(t.transpose(1, 0, 2)).reshape(h, nx * c))                   # A_y^T X A_x
    v = solve_banded_gram(ay, z).reshape(ny, nx, c)
    v = solve_banded_gram(ax, np.ascontiguousarray(v.transpose(1, 0, 2)).reshape(nx, ny * c))
    v = v.reshape(nx, ny, c).transpose(1, 0, 2)
    out = np.empty_like(v)
    a = np.clip(v[..., 3], 0.0, 255.0)
    out[..., 3] = a
    out[..., :3] = np.where(a[..., None] > 1.0, v[..., :3] * 255.0 / np.maximum(a, 1.0)[..., None], 0.0)
    return np.clip(out, 0.0, 255.0)
