"""Model check: how well does a set of cell boundaries explain the image?

Along one axis, a grid says every row is piecewise constant between consecutive
boundaries.  We sample each segment's centre, render the segments back and
measure the error against the input, in units of the image's own noise level
(robust, truncated squares), then add a fixed price per segment (an AIC-style
cost per fitted parameter).  Finer grids always fit at least as well; coarser
grids are cheaper; the price per cell makes ``p`` beat ``p/2`` when the extra
lines explain nothing, and the error makes ``p`` beat ``2p`` when the merged
cells hide real detail.  The mean cost per pixel is also the confidence signal.
"""
from __future__ import annotations

import cv2
import numpy as np

#: sample points across a segment, as fractions of its width (the inner part,
#: away from blurred borders)
FRACTIONS = np.array([0.3, 0.5, 0.7])


def segment_samples(lines: np.ndarray) -> np.ndarray:
    """Pixel indices (n_cells, 3) at the inner fractions of each segment between ``lines``."""
    lo = lines[:-1].astype(np.float64)
    w = np.diff(lines).astype(np.float64)
    idx = np.floor(lo[:, None] + FRACTIONS[None, :] * w[:, None]).astype(np.int64)
    return np.clip(idx, lines[:-1, None], lines[1:, None] - 1)


def row_subset(n_rows: int, n_cols: int, budget: int = 60_000) -> np.ndarray:
    """Evenly spread, slightly irregular row indices so that rows x cols stays near ``budget``."""
    k = max(1, int(budget // max(n_cols, 1)))
    if k >= n_rows:
        return np.arange(n_rows)
    # golden-ratio offsets avoid locking onto the grid's own period
    pos = (np.arange(k) * 0.6180339887 % 1.0) * n_rows
    return np.unique(pos.astype(np.int64))


def axis_model(feats: np.ndarray, lines: np.ndarray, blur: float = 0.0) -> np.ndarray:
    """Render the 1-D cell model (inner medians, then a Gaussian blur) over the covered columns."""
    idx = segment_samples(lines)
    vals = np.median(feats[:, idx, :], axis=2)  # (R, n_cells, C)
    owner = np.repeat(np.arange(len(lines) - 1), np.diff(lines))
    model = np.ascontiguousarray(vals[:, owner, :], np.float32)
    if blur > 0.2:
        k = 2 * int(np.ceil(3 * blur)) + 1
        model = cv2.GaussianBlur(model, (k, 1), sigmaX=blur, sigmaY=0.1, borderType=cv2.BORDER_REPLICATE)
    return model


def axis_cost(feats: np.ndarray, lines: np.ndarray, penalty: float = 1.0, blur: float = 0.0,
              floor: float = 0.5) -> float:
    """Description cost per pixel of a 1-D model along x: cells, then a blur.

    ``feats`` (R, W, C) is a (row-subsampled) feature image; ``lines`` are the
    boundaries along x.  The model renders each row segment at its inner median,
    then blurs it with a Gaussian of ``blur`` px (resampling filters and blur turn
    cell borders into ramps).  With Laplacian residuals of unknown scale, minus the
    log-likelihood per pixel is ``log(mean |residual|)`` up to a constant; AIC adds
    ``penalty`` per fitted value, i.e. ``penalty * 3 / cell`` per pixel for the three
    colour channels.  Being scale-free, the cost needs no noise estimate: it weighs
    how many times better a grid explains the image against how many more cells it
    needs.  ``floor`` (Lab units) is the quantisation level of 8-bit input.
    """
    if len(lines) < 2:
        return float("inf")
    x0, x1 = int(lines[0]), int(lines[-1])
    resid = np.abs(feats[:, x0:x1, :] - axis_model(feats, lines, blur)).sum(axis=2)
    mad = float(resid.mean())
    return float(np.log(mad + floor) + penalty * 3.0 * (len(lines) - 1) / max(x1 - x0, 1))


def best_blur(feats: np.ndarray, lines: np.ndarray, cell: float, floor: float = 0.5,
              levels: tuple[float, ...] = (0.0, 0.12, 0.25, 0.4)) -> float:
    """The blur (px, as a share of ``cell``) that best explains the image for these lines."""
    costs = [axis_cost(feats, lines, 0.0, lv * cell, floor) for lv in levels]
    return float(levels[int(np.argmin(costs))] * cell)
