"""Model check: how well does a set of cells explain the image along one axis?

A grid says every row of the image is a sequence of cell values turned into
pixels by a resampling kernel: nearest neighbour (a box) for clean upscales,
linear / cubic / Lanczos for smooth ones.  For cells with centres ``c_k`` the
row is modelled as ``row(x) = sum_k v_k K(u(x) - k)`` where ``u`` maps a pixel
centre to cell-index coordinates (``u(c_k) = k``, linear in between), so
uniform and per-line refined grids are handled alike.  The cell values ``v``
of every row are fitted by least squares at once (the design matrix is banded,
so this costs O(pixels x kernel taps)); the residual is what the grid cannot
explain.

The fit runs in the space where the degradation is linear: resampling filters,
blur and JPEG act on the stored (gamma-encoded) RGB values, so the features are
premultiplied RGB plus alpha, not CIELAB.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
from scipy import sparse
from scipy.special import erf

from . import _jit


def _box(t: np.ndarray) -> np.ndarray:
    return ((t >= -0.5) & (t < 0.5)).astype(np.float64)


def _linear(t: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - np.abs(t))


def _cubic(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Keys' cubic convolution kernel with OpenCV's a = -0.75."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


def _lanczos4(t: np.ndarray) -> np.ndarray:
    return np.where(np.abs(t) < 4, np.sinc(t) * np.sinc(t / 4), 0.0)


def _catmull(t: np.ndarray) -> np.ndarray:
    """Keys' cubic with a = -0.5 (Catmull-Rom): Pillow's and ImageMagick's bicubic."""
    return _cubic(t, -0.5)


def _lanczos3(t: np.ndarray) -> np.ndarray:
    """Three-lobe Lanczos: Pillow's and ImageMagick's Lanczos (OpenCV's has four)."""
    return np.where(np.abs(t) < 3, np.sinc(t) * np.sinc(t / 3), 0.0)


def _soft(t: np.ndarray, s: float = 0.12) -> np.ndarray:
    """A cell (box) blurred by a Gaussian of ``s`` cells: soft-edged blocks, as AI
    renderers and blurred nearest-neighbour upscales draw them."""
    return 0.5 * (erf((t + 0.5) / (s * np.sqrt(2))) - erf((t - 0.5) / (s * np.sqrt(2))))


#: resampling kernels in cell units, with their support radius (cells)
KERNELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], int]] = {
    "nearest": (_box, 1),
    "soft": (_soft, 1),
    "linear": (_linear, 1),
    "cubic": (_cubic, 2),
    "lanczos": (_lanczos4, 4),
    "catmull": (_catmull, 2),
    "lanczos3": (_lanczos3, 3),
}
#: the kernels the grid search fits (the others only when the colours are solved for,
#: :mod:`..pipeline`: each kernel fitted costs every candidate grid another solve, and
#: on Pillow upscales these five already find the grid as often as on the dev set's;
#: ``scripts/bench_filters.py``)
GRID_KERNELS: tuple[str, ...] = ("nearest", "soft", "linear", "cubic", "lanczos")
#: the other members of a grid kernel's family (Pillow's and ImageMagick's bicubic and
#: Lanczos), tried for the colours when the grid found that family: under noise, a
#: kernel of another family can fit the window slightly better by chance and then
#: sharpens or blurs every cell (a blurred linear upscale solved as Catmull-Rom)
KERNEL_VARIANTS: dict[str, tuple[str, ...]] = {"cubic": ("catmull",), "lanczos": ("lanczos3",)}


def row_subset(n_rows: int, n_cols: int, budget: int = 12_000, min_rows: int = 24) -> np.ndarray:
    """Spread, slightly irregular row indices so that rows x cols stays near ``budget``.

    Golden-ratio offsets avoid locking onto the grid's own period.
    """
    k = max(min_rows, int(budget // max(n_cols, 1)))
    if k >= n_rows:
        return np.arange(n_rows)
    pos = (np.arange(k) * 0.6180339887 % 1.0) * n_rows
    return np.unique(pos.astype(np.int64))


def cell_centres(lines: np.ndarray, length: int, cell: float) -> np.ndarray:
    """Centres of the cells bounded by ``lines`` (pixel-edge coordinates, first 0 and
    last ``length``), with the partial cells at both borders completed to full size
    (``cell``) outside the image, where their true centres lie."""
    return _jit.cell_centres(np.ascontiguousarray(lines, np.float64), int(length), float(cell))


@dataclass
class Design:
    """A banded design matrix: pixel ``x`` = sum_j ``w[x, j]`` * cell ``k0[x] + j``.

    ``k0`` never decreases with ``x``, so the normal equations are banded; products
    and solves run as compiled loops over the band (:mod:`._jit`): no sparse-matrix
    machinery, which costs more than the arithmetic at these sizes.
    """

    k0: np.ndarray             # (L,) int64, first cell touched by each pixel
    w: np.ndarray              # (L, T) float64 weights (zero outside 0..n-1)
    n: int                     # number of cells

    def dense(self) -> np.ndarray:
        """The matrix itself (L, n), for tests and inspection (products use the band)."""
        length, t = self.w.shape
        a = np.zeros((length, self.n + 2 * t))
        a[np.arange(length)[:, None], self.k0[:, None] + np.arange(t)[None, :] + t] = self.w
        return a[:, t:t + self.n]

    @cached_property
    def sparse(self) -> sparse.csr_matrix:
        """The matrix in CSR form (to compose it with other linear maps)."""
        length, t = self.w.shape
        cols = self.k0[:, None] + np.arange(t)[None, :]
        ok = (cols >= 0) & (cols < self.n)
        rows = np.broadcast_to(np.arange(length)[:, None], cols.shape)
        return sparse.csr_matrix((self.w[ok], (rows[ok], cols[ok])), shape=(length, self.n))

    def rmatmul(self, y: np.ndarray) -> np.ndarray:
        """``A^T y`` for ``y`` (L, m) -> (n, m)."""
        return _jit.band_rmatmul(self.k0, self.w, self.n, np.ascontiguousarray(y, np.float64))

    def matmul(self, v: np.ndarray) -> np.ndarray:
        """``A v`` for cell values ``v`` (n, m) -> (L, m): the image the cells predict."""
        return _jit.band_matmul(self.k0, self.w, self.n, np.ascontiguousarray(v, np.float64))

    def matmul_add(self, v: np.ndarray, out: np.ndarray) -> None:
        """``out += A v`` in place (``out``: (L, m) float64, C-contiguous)."""
        _jit.band_matmul_add(self.k0, self.w, self.n, np.ascontiguousarray(v, np.float64), out)

    def band(self, ridge: float = 1e-7) -> np.ndarray:
        """``A^T A`` (n, T) as ``g[k, d] = (A^T A)[k, k + d]``, the diagonal raised by
        ``ridge`` times its largest entry (at least 1)."""
        return _jit.band_gram(self.k0, self.w, self.n, ridge)

    def gram(self, ridge: float = 1e-7) -> np.ndarray:
        """``A^T A`` in LAPACK's upper banded form (as ``scipy.linalg.cholesky_banded`` takes it)."""
        g = self.band(ridge)
        n, t = g.shape
        ab = np.zeros((t, n))
        for d in range(t):  # row t-1-d holds the d-th superdiagonal, right-aligned
            ab[t - 1 - d, d:] = g[:n - d, d]
        return ab


def design(centres: np.ndarray, length: int, kernel: str, lines: np.ndarray | None = None) -> Design:
    """Design matrix (length x n_cells) of ``kernel`` for cells centred at ``centres``.

    Rows sum to one.  For ``nearest`` the pixel belongs to the cell whose
    boundaries (``lines``, or the midpoints between centres) contain its centre.
    """
    n = len(centres)
    x = np.arange(length, dtype=np.float64) + 0.5
    if kernel == "nearest":
        if lines is None:
            b = 0.5 * (centres[:-1] + centres[1:])
        else:
            b = np.asarray(lines, np.float64)[1:-1]
            b = b[(b > centres[0]) & (b < centres[-1])]
        k = np.clip(np.searchsorted(b, x, side="right"), 0, n - 1)
        return Design(k0=k.astype(np.int64), w=np.ones((length, 1)), n=n)
    k0, w = _jit.kernel_weights(np.ascontiguousarray(centres, np.float64), length, _jit.KERNEL_CODES[kernel],
                                KERNELS[kernel][1])
    return Design(k0=k0, w=w, n=n)


def gram_solver(a: Design, ridge: float = 1e-7) -> Callable[[np.ndarray], np.ndarray]:
    """A function solving ``(A^T A) v = b`` for design ``a``, the banded Cholesky factor
    computed once (for fits repeated on changing data); least squares on the full
    matrix when the band is not positive definite."""
    u, ok = _jit.band_cholesky(a.band(ridge))
    if ok:
        return lambda b: _jit.band_backward(u, _jit.band_forward(u, np.ascontiguousarray(b, np.float64)))
    full = a.dense()
    full = full.T @ full
    full[np.diag_indices(a.n)] = a.band(ridge)[:, 0]
    return lambda b: np.linalg.lstsq(full, b, rcond=None)[0]


def fit_cells(y: np.ndarray, a: Design, ridge: float = 1e-7, yy: float | None = None,
              values: bool = True) -> tuple[np.ndarray | None, float]:
    """Least-squares cell values for data ``y`` (length, m) and design ``a``.

    Returns ``(v, rss)``: values (n_cells, m), ``None`` unless ``values``, and the
    residual sum of squares (``yy``: the precomputed sum of squares of ``y``).  With
    ``A^T A = U^T U`` the explained sum of squares is ``|U^-T A^T y|^2``: one triangular
    solve when only the residual is wanted.
    """
    yy = float(np.einsum("ij,ij->", y, y)) if yy is None else yy
    if a.w.shape[1] == 1:  # a box per cell: the least-squares value is the cell mean
        starts = np.flatnonzero(np.r_[True, a.k0[1:] != a.k0[:-1]])
        sums = np.add.reduceat(y, starts, axis=0)
        counts = np.diff(np.r_[starts, len(y)]).astype(np.float64)
        v = np.zeros((a.n, y.shape[1]))
        v[a.k0[starts]] = sums / counts[:, None]
        return v, max(yy - float(np.einsum("ij,ij->", sums, sums / counts[:, None])), 0.0)
    y = np.ascontiguousarray(y, np.float64)
    if not values:  # the grid search's case: one compiled call
        explained, ok = _jit.band_explained(y, a.k0, a.w, a.n, ridge)
        if ok:
            return None, max(yy - explained, 0.0)
    u, ok = _jit.band_cholesky(a.band(ridge))
    b = a.rmatmul(y)
    if not ok:
        v = gram_solver(a, ridge)(b)
        return v, max(yy - float(np.einsum("ij,ij->", b, v)), 0.0)
    z = _jit.band_forward(u, b)
    v = _jit.band_backward(u, z) if values else None
    return v, max(yy - float(np.einsum("ij,ij->", z, z)), 0.0)


def compress_columns(y: np.ndarray) -> np.ndarray:
    """A matrix with the same rows' inner products ``y y^T`` as ``y`` (L, m) and at most
    L columns: ``R^T`` of the QR factorisation ``y^T = Q R``.  Least-squares residuals of
    any design depend on the data only through ``y y^T``, so fits on the result equal
    fits on ``y`` (to rounding) at a fraction of the cost when rows x channels
    outnumber the pixels along the axis (small images).  The result is lower
    triangular (zero right of the diagonal), which the smooth fits exploit."""
    length, m = y.shape
    if m <= length:
        return y
    return np.ascontiguousarray(np.linalg.qr(y.T, mode="r").T)


def axis_matrix(data: np.ndarray) -> np.ndarray:
    """``data`` (R, L, C) as the (L, R*C) matrix the fits work on."""
    r, length, c = data.shape
    return np.ascontiguousarray(data.transpose(1, 0, 2)).reshape(length, r * c)


def box_rss(cs: np.ndarray, cq: np.ndarray, lines: np.ndarray, centres: np.ndarray) -> float:
    """Residual sum of squares of the box (nearest) model for ``lines``, from the data's
    cumulative sums along the axis, ``cs`` (L+1, m) and ``cq`` (L+1, of the squares
    summed over a row): each cell's least-squares value is its mean, so the residual is
    the data's sum of squares less each cell's ``|sum|^2 / count``, with no pass over
    the pixels.  Cells as :func:`design` draws them: a pixel belongs to the cell whose
    boundaries hold its centre."""
    return _jit.box_rss(cs, cq, np.ascontiguousarray(lines, np.float64), float(centres[0]), float(centres[-1]))


def axis_residual_y(y: np.ndarray, yy: float, lines: np.ndarray, cell: float,
                    kernels: tuple[str, ...] = GRID_KERNELS,
                    sums: tuple[np.ndarray, np.ndarray] | None = None,
                    n_values: int | None = None, lower: bool = False) -> tuple[float, str]:
    """Mean squared residual per value of the best kernel model for ``lines`` on the
    matrix ``y`` (L, m) from :func:`axis_matrix` (sum of squares ``yy``), and that kernel.
    ``sums``: the cumulative sums of :func:`box_rss`, when the caller keeps them (the
    box's residual then costs a few cells' work, not a pass over ``y``).  ``n_values``:
    the number of values the data had (``y.size`` unless ``y`` was compressed by
    :func:`compress_columns`); ``lower``: ``y`` is lower triangular, as that compression
    leaves it (the smooth fits skip its zeros)."""
    length = y.shape[0]
    lines = np.ascontiguousarray(lines, np.float64)
    centres = _jit.cell_centres(lines, length, float(cell))
    y = np.ascontiguousarray(y, np.float64)
    best = (np.inf, "nearest")
    for k in kernels:
        if k == "nearest" and sums is not None:
            rss = _jit.box_rss(sums[0], sums[1], lines, float(centres[0]), float(centres[-1]))
        elif k == "nearest":
            _, rss = fit_cells(y, design(centres, length, k, lines), yy=yy, values=False)
        else:  # one compiled call: weights, normal matrix, its factor and the explained part
            rss = _jit.smooth_rss(y, yy, centres, length, _jit.KERNEL_CODES[k], KERNELS[k][1], 1e-7, lower)
            if rss < 0:  # not positive definite: the general solver
                _, rss = fit_cells(y, design(centres, length, k, lines), yy=yy, values=False)
        if rss < best[0]:
            best = (rss, k)
    return best[0] / (y.size if n_values is None else n_values), best[1]


#: stored values this close (8-bit units) to 0 or 255 count as clipped: a smooth
#: kernel overshoots at strong edges and the overshoot is cut off at the ends of the
#: range; JPEG or noise added afterwards leaves the cut plateau slightly inside them.
#: Treating an unclipped value as a bound biases its cell by at most about this much.
CLIP_MARGIN = 8.0


def clipped(values: np.ndarray, margin: float = CLIP_MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Masks of values (0..255 units) that may have been clipped at the top and at the
    bottom of the range: bounds on the true value, not measurements."""
    return values >= 255.0 - margin, values <= margin


#: over-relaxation of the censored fit's rounds: each round's change is stretched by
#: this factor (EM converges linearly and slowly; 1.8 needs about a third of the rounds)
OVER_RELAX = 1.8


def censored_lstsq(y: np.ndarray, hi: np.ndarray, lo: np.ndarray, fit: Callable[[np.ndarray], np.ndarray],
                   predict: Callable[[np.ndarray], np.ndarray], rounds: int = 10,
                   tol: float = 0.5) -> tuple[np.ndarray, float]:
    """Least squares when values marked ``hi`` (``lo``) are lower (upper) bounds.

    ``fit`` maps data to model parameters (plain least squares), ``predict`` maps them
    back.  Alternates predicting and moving each censored value to the prediction where
    that lies beyond it, then refitting: an EM-style solution of the (convex) censored
    problem, over-relaxed (:data:`OVER_RELAX`); stops when a round moves no parameter
    by ``tol``.  Returns the parameters and the residual sum of squares (a censored value
    the model passes beyond costs nothing).
    """
    v = fit(y)
    hi_i, lo_i = np.flatnonzero(hi), np.flatnonzero(lo)
    if y.size < 2 ** 31:  # half the memory for the (possibly many) censored positions
        hi_i, lo_i = hi_i.astype(np.int32), lo_i.astype(np.int32)
    yh, yl = y.reshape(-1)[hi_i], y.reshape(-1)[lo_i]

    censored = len(hi_i) + len(lo_i) > 0
    x = np.array(y, order="C") if censored else y  # only the censored entries ever change

    def impute(pred: np.ndarray) -> np.ndarray:
        _jit.impute(x.reshape(-1), np.ascontiguousarray(pred, np.float64).reshape(-1), hi_i, yh, lo_i, yl)
        return x

    for _ in range(rounds if censored else 0):
        step = fit(impute(predict(v))) - v
        v = v + OVER_RELAX * step
        if float(np.max(np.abs(step))) < tol:
            break
    pred = predict(v)
    if censored:
        impute(pred)
    d = np.subtract(x, pred, out=pred)  # in place: at image size, every copy counts
    return v, float(np.sum(np.square(d, out=d)))


def censored_residual_y(y: np.ndarray, hi: np.ndarray, lo: np.ndarray, lines: np.ndarray, cell: float,
                        kernel: str, rounds: int = 10, n_values: int | None = None) -> float:
    """Mean squared residual per value of ``kernel``'s model for ``lines`` on the matrix
    ``y`` (L, m) when the values marked ``hi`` / ``lo`` are clipped (see
    :func:`censored_lstsq`); ``n_values``: the values counted (``y.size`` unless lines
    fitted exactly were left out of ``y``)."""
    length = y.shape[0]
    a = design(cell_centres(lines, length, cell), length, kernel, lines)
    _, rss, ok = _jit.band_censored(np.ascontiguousarray(y, np.float64), hi, lo, a.k0, a.w, a.n, 1e-7, rounds,
                                    0.5, OVER_RELAX)
    if not ok:  # singular normal matrix: the general solver
        solve = gram_solver(a)
        _, rss = censored_lstsq(y, hi, lo, lambda x: solve(a.rmatmul(x)), a.matmul, rounds)
    return rss / (y.size if n_values is None else n_values)
