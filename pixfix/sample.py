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
from typing import Callable

import cv2
import numpy as np
from scipy import sparse

from .grid.edges import linear_features
from .grid.model import CLIP_MARGIN, Design, cell_centres, censored_lstsq, clipped, design, gram_solver


@dataclass
class Cells:
    """Sampled cells: ``rgba`` (ny, nx, 4) uint8 plus the float RGB estimate and spread."""

    rgba: np.ndarray           # (ny, nx, 4) uint8, rounded
    rgb: np.ndarray            # (ny, nx, 3) float32, unrounded estimate
    spread: np.ndarray         # (ny, nx) float32, median Lab distance of samples to the cell median
    n_samples: int = 1         # samples per cell (lattice size)
    kernel: tuple[str, str] | None = None  # (x, y) kernels the colours were deconvolved with; None: sampled


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


#: most rounds of the censored fit (it stops earlier once the values settle)
CENSOR_ROUNDS = 10
#: the kernels are compared on a central window of at most this many pixels a side
KERNEL_WINDOW = 256


def _fit_separable(xt: np.ndarray, ax: Design, ay: Design, solve_x: Callable | None = None,
                   solve_y: Callable | None = None, mix: np.ndarray | None = None) -> np.ndarray:
    """Least-squares cells (ny, nx, C) for the image ``xt`` stored column-major, as
    (W, H, C), under the separable designs ``ax`` (columns) and ``ay`` (rows).  The
    layout makes the large product a plain matrix product (no copy of the image).
    ``solve_x`` / ``solve_y``: the designs' factored normal equations, when at hand;
    ``mix`` (C', C): fit the channel mixes ``xt @ mix.T`` instead (mixed after the large
    product, where the arrays are small)."""
    w, h, c = xt.shape
    nx, ny = ax.n, ay.n
    solve_x = solve_x or gram_solver(ax)
    solve_y = solve_y or gram_solver(ay)
    t = ax.rmatmul(xt.reshape(w, h * c)).reshape(nx, h, c)                              # A_x^T X^T
    if mix is not None:
        t, c = t @ mix.T, mix.shape[0]
    z = ay.rmatmul(np.ascontiguousarray(t.transpose(1, 0, 2)).reshape(h, nx * c))       # A_y^T X A_x
    v = solve_y(z).reshape(ny, nx, c)
    v = solve_x(np.ascontiguousarray(v.transpose(1, 0, 2)).reshape(nx, ny * c))
    return v.reshape(nx, ny, c).transpose(1, 0, 2)


def _predict(v: np.ndarray, ax: Design, ay: Design, mix: np.ndarray | None = None,
             out: np.ndarray | None = None) -> np.ndarray:
    """The image, column-major (W, H, C), that cells ``v`` (ny, nx, C) make; ``mix``
    (C', C): the channel mixes ``image @ mix.T`` (mixed while the arrays are small);
    ``out`` (W, H * C'): add the image to it in place (and return it) instead."""
    ny, nx, c = v.shape
    t = ay.matmul(np.ascontiguousarray(v).reshape(ny, nx * c)).reshape(-1, nx, c)      # (H, nx, C)
    if mix is not None:
        t, c = t @ mix.T, mix.shape[0]
    h = t.shape[0]
    cols = np.ascontiguousarray(t.transpose(1, 0, 2)).reshape(nx, h * c)
    if out is None:
        return ax.matmul(cols).reshape(-1, h, c)
    ax.matmul_add(cols, out)
    return out.reshape(-1, h, c)


#: JFIF RGB -> YCbCr (offsets dropped: the fits are linear)
_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_RGB = np.linalg.inv(_YCC)


def chroma_filter(length: int, factor: int, start: int = 0) -> sparse.csr_matrix:
    """(length x length) what JPEG chroma subsampling does along one axis: the mean of
    ``factor`` neighbouring pixels (blocks counted from pixel ``-start``; the encoder
    pads the edge by repeating it), then the decoder's "fancy" upsampling, a triangle
    between block centres (libjpeg's 3/4 + 1/4 for factor 2).  Identity for factor 1."""
    if factor <= 1:
        return sparse.identity(length, format="csr")
    x = np.arange(length)
    block = (x + start) // factor                                   # block of each pixel
    nb = int(block[-1]) + 1
    down = sparse.csr_matrix((np.full(length, 1.0), (block, x)), shape=(nb, length))
    down = sparse.diags(1.0 / np.maximum(np.asarray(down.sum(axis=1)).ravel(), 1.0)) @ down
    # block centres in pixel coordinates; a pixel mixes its block with the nearer neighbour
    pos = (x + start + 0.5) / factor - 0.5                          # in block units
    k0 = np.clip(np.floor(pos).astype(np.int64), 0, nb - 1)
    k1 = np.clip(k0 + 1, 0, nb - 1)
    t = np.clip(pos - np.floor(pos), 0.0, 1.0)
    t = np.where(np.floor(pos) < 0, 0.0, t)
    up = sparse.csr_matrix((np.r_[1 - t, t], (np.r_[x, x], np.r_[k0, k1])), shape=(length, nb))
    return (up @ down).tocsr()


def _filtered(a: Design, f: sparse.csr_matrix) -> Design:
    """The banded design ``F A``: cells rendered by ``a``, then filtered by ``f``."""
    m = (f @ a.sparse).tocsr()
    m.sum_duplicates()
    m.eliminate_zeros()
    length = m.shape[0]
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(length), counts)
    first = np.full(length, a.n - 1, np.int64)
    has = counts > 0
    first[has] = np.minimum.reduceat(m.indices, m.indptr[:-1][has])
    first = np.minimum.accumulate(first[::-1])[::-1]  # non-decreasing, and no entry left of it
    width = int((m.indices - first[rows]).max()) + 1 if m.nnz else 1
    w = np.zeros((length, width))
    w[rows, m.indices - first[rows]] = m.data
    return Design(k0=first, w=w, n=a.n)


class _CellModel:
    """Separable cell model of an image stored column-major (W, H, C): cells rendered
    by the kernels' designs; with ``chroma`` (JPEG subsampling factors x, y) the RGB
    values are fitted as YCbCr, the chroma planes seen through :func:`chroma_filter`."""

    def __init__(self, ax: Design, ay: Design, chroma: tuple[int, int] | None = None, start: tuple[int, int] = (0, 0)):
        self.parts = [(ax, ay)]
        if chroma is not None and chroma != (1, 1):
            cx = _filtered(ax, chroma_filter(ax.w.shape[0], chroma[0], start[0]))
            cy = _filtered(ay, chroma_filter(ay.w.shape[0], chroma[1], start[1]))
            self.parts.append((cx, cy))
        self.solvers = [(gram_solver(px), gram_solver(py)) for px, py in self.parts]

    def fit(self, xt: np.ndarray) -> np.ndarray:
        if len(self.parts) == 1:
            return _fit_separable(xt, *self.parts[0], *self.solvers[0])
        luma = _fit_separable(xt, *self.parts[0], *self.solvers[0], mix=_YCC[:1])
        chroma = _fit_separable(xt, *self.parts[1], *self.solvers[1], mix=_YCC[1:])
        return np.concatenate([luma, chroma], axis=2) @ _RGB.T

    def predict(self, v: np.ndarray) -> np.ndarray:
        if len(self.parts) == 1:
            return _predict(v, *self.parts[0])
        ycc = v @ _YCC.T
        (ax, ay), (cx, cy) = self.parts
        # luma and chroma rendered into one image-size array (their columns' designs
        # differ, so each part is a product of its own, summed in place)
        out = np.zeros((ax.w.shape[0], ay.w.shape[0] * 3))
        _predict(ycc[..., :1], ax, ay, mix=_RGB[:, :1], out=out)
        return _predict(ycc[..., 1:], cx, cy, mix=_RGB[:, 1:], out=out)


def _censored_fit(xt: np.ndarray, hi: np.ndarray, lo: np.ndarray, model: _CellModel,
                  rounds: int) -> tuple[np.ndarray, float]:
    """Cells (ny, nx, C) and residual sum of squares of ``model`` for the image ``xt``
    stored column-major (W, H, C), when values marked ``hi`` (``lo``) are lower (upper)
    bounds (clipped), not measurements."""
    return censored_lstsq(np.ascontiguousarray(xt), hi, lo, model.fit, model.predict, rounds)


def _window(lines: np.ndarray, size: int) -> tuple[int, int]:
    """Indices ``(i, j)`` of a run of whole cells ``lines[i]..lines[j]`` near the middle of
    the axis spanning at most ``size`` pixels (at least one cell)."""
    n = len(lines) - 1
    if lines[-1] - lines[0] <= size:
        return 0, n
    mid = n // 2
    i, j = mid, mid + 1
    while True:
        grew = False
        if i > 0 and lines[j] - lines[i - 1] <= size:
            i, grew = i - 1, True
        if j < n and lines[j + 1] - lines[i] <= size:
            j, grew = j + 1, True
        if not grew:
            return i, j


def _prepare(rgba: np.ndarray, margin: float, opaque: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image column-major (W, H, C) in premultiplied linear features (alpha left out
    when the whole image is ``opaque``: a constant needs no fit) and the masks of values
    that may have been clipped at the top and the bottom of the range."""
    cm = np.ascontiguousarray(rgba.transpose(1, 0, 2))
    nc = 3 if opaque else 4
    hi, lo = clipped(cm[..., :nc], margin)
    hi[..., :3] &= cm[..., 3:4] == 255                  # premultiplied = stored there
    return linear_features(cm)[..., :nc].astype(np.float64), hi, lo


def _cell_model(xs: np.ndarray, ys: np.ndarray, w: int, h: int, pair: tuple[str, str], cell_x: float,
                cell_y: float, chroma: tuple[int, int] | None, start: tuple[int, int] = (0, 0)) -> _CellModel:
    """The separable model of cells bounded by ``xs`` x ``ys`` on a (w, h) image whose first
    pixel is ``start`` in the original (for the JPEG chroma blocks)."""
    return _CellModel(design(cell_centres(xs, w, cell_x), w, pair[0], xs),
                      design(cell_centres(ys, h, cell_y), h, pair[1], ys), chroma, start)


def choose_kernel(rgba: np.ndarray, xs: np.ndarray, ys: np.ndarray, kernels: list[tuple[str, str]],
                  cell_x: float, cell_y: float, clip_margin: float | None = None,
                  chroma: tuple[int, int] | None = None) -> tuple[str, str]:
    """The ``(x, y)`` kernel pair of ``kernels`` whose censored cell model (see
    :func:`model_cells`; the grid chose its kernels on a sample of rows and without
    censoring) reproduces a central window of whole cells (at most
    :data:`KERNEL_WINDOW` pixels a side) best."""
    pairs = list(dict.fromkeys(kernels))
    if len(pairs) == 1:
        return pairs[0]
    d = CLIP_MARGIN if clip_margin is None else float(clip_margin)
    opaque = bool((rgba[..., 3] == 255).all())
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    (i0, i1), (j0, j1) = _window(xs, KERNEL_WINDOW), _window(ys, KERNEL_WINDOW)
    sub_x, sub_y = xs[i0:i1 + 1], ys[j0:j1 + 1]
    x0, x1, y0, y1 = int(sub_x[0]), int(sub_x[-1]), int(sub_y[0]), int(sub_y[-1])
    xt, hi, lo = _prepare(rgba[y0:y1, x0:x1], d, opaque)
    scores = [_censored_fit(xt, hi, lo, _cell_model(sub_x - x0, sub_y - y0, x1 - x0, y1 - y0, pair, cell_x, cell_y,
                                                    chroma if opaque else None, (x0, y0)), CENSOR_ROUNDS)[1]
              for pair in pairs]
    return pairs[int(np.argmin(scores))]


def model_cells(rgba: np.ndarray, xs: np.ndarray, ys: np.ndarray, kernel: tuple[str, str],
                cell_x: float, cell_y: float, clip_margin: float | None = None,
                chroma: tuple[int, int] | None = None) -> np.ndarray:
    """Cell values (ny, nx, 4) float that, resampled with the ``(x, y)`` kernel pair, best
    reproduce the image (separable least squares in premultiplied RGB + alpha).

    A smooth upscale mixes every pixel with the neighbouring cells, so no pixel of a
    small cell shows its true colour; the fit undoes that mixing (a deconvolution;
    :func:`choose_kernel` picks the kernel).  Values stored within ``clip_margin`` of 0
    or 255 are censored, not measured: a smooth kernel's overshoot beside a strong edge
    (white next to black, a sprite next to transparency) was clipped there, and fitting
    the clipped values as exact drags the cells on both sides toward each other (and
    makes a sharp kernel look worse than a soft one).  They only bound the model from
    one side.  ``chroma``: the image was decoded from a JPEG whose chroma was subsampled
    by these factors (x, y): colour then only changes at that resolution (and the
    decoder interpolated it), so the chroma planes are fitted through that filter (an
    opaque image only).  Returns un-premultiplied RGB and alpha, not rounded.
    """
    d = CLIP_MARGIN if clip_margin is None else float(clip_margin)
    opaque = bool((rgba[..., 3] == 255).all())
    xt, hi, lo = _prepare(rgba, d, opaque)
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    model = _cell_model(xs, ys, xt.shape[0], xt.shape[1], kernel, cell_x, cell_y, chroma if opaque else None)
    v, _ = _censored_fit(xt, hi, lo, model, CENSOR_ROUNDS)
    if opaque:
        v = np.concatenate([v, np.full(v.shape[:2] + (1,), 255.0)], axis=2)
    out = np.empty_like(v)
    a = np.clip(v[..., 3], 0.0, 255.0)
    out[..., 3] = a
    out[..., :3] = np.where(a[..., None] > 1.0, v[..., :3] * 255.0 / np.maximum(a, 1.0)[..., None], 0.0)
    return np.clip(out, 0.0, 255.0)
