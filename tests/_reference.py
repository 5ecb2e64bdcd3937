"""Plain numpy definitions of the grid engine's compiled loops (``pixfix/grid/_jit.py``).

Each function is the straightforward (vectorised numpy) form of a loop the engine
runs compiled; the tests check that both give the same results.
"""
from __future__ import annotations

import numpy as np

from pixfix.grid.model import KERNELS, Design


def index_coordinate(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Map positions ``x`` to cell-index coordinates (``centres[k] -> k``), linear
    between centres and extrapolated with the outer spacing."""
    n = len(centres)
    if n == 1:
        return np.zeros_like(x)
    u = np.interp(x, centres, np.arange(n, dtype=np.float64))
    lo, hi = x < centres[0], x > centres[-1]
    u[lo] = (x[lo] - centres[0]) / (centres[1] - centres[0])
    u[hi] = n - 1 + (x[hi] - centres[-1]) / (centres[-1] - centres[-2])
    return u


def design(centres: np.ndarray, length: int, kernel: str) -> Design:
    """A smooth kernel's ``model.design`` (compiled: ``_jit.kernel_weights``)."""
    n = len(centres)
    x = np.arange(length, dtype=np.float64) + 0.5
    f, support = KERNELS[kernel]
    u = index_coordinate(x, centres)
    k0 = np.floor(u).astype(np.int64) - support + 1
    k = k0[:, None] + np.arange(2 * support)[None, :]
    w = f(u[:, None] - k)
    w[(k < 0) | (k >= n)] = 0.0
    s = w.sum(axis=1, keepdims=True)
    w /= np.where(np.abs(s) > 1e-9, s, 1.0)
    return Design(k0=k0, w=w, n=n)


def normalised_strength(profile: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """``fit.normalised_strength`` (compiled: ``_jit.normalised_strength``)."""
    e = np.asarray(profile, np.float64)
    inner = e[1:-1]
    base = float(np.median(inner)) if len(inner) else 0.0
    g = guide[(guide > 0) & (guide < len(e) - 1)]
    if len(g):
        near = np.maximum(np.maximum(e[np.clip(g - 1, 0, len(e) - 1)], e[g]), e[np.clip(g + 1, 0, len(e) - 1)])
        top = float(np.percentile(near, 75))
    else:
        top = float(inner.max()) if len(inner) else 1.0
    s = (e - base) / max(top - base, 1e-9)
    return np.clip(s, -0.5, 2.0)


def dp_blocks(s: np.ndarray, length: int, dmin: int, dmax: int, ds: np.ndarray,
               pen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best path scores and back-pointers of the boundary DP, in numpy blocks: spacings
    are at least ``dmin``, so each block of ``dmin`` positions depends only on earlier
    blocks (compiled, position by position: ``_jit.boundary_dp``).
    ``pen``: the cost of each spacing ``ds`` (one row), or one row per position (L+1, n)
    when the expected width changes along the axis."""
    neg = -1e18
    score = np.full(length + 1, neg)
    back = np.full(length + 1, -1, np.int64)
    for b0 in range(1, length, dmin):
        blk = np.arange(b0, min(b0 + dmin, length))
        prev = blk[:, None] - ds[None, :]
        ok = prev >= 1
        cand = np.where(ok, score[np.maximum(prev, 0)] - (pen[blk] if pen.ndim == 2 else pen[None, :]), neg)
        j = np.argmax(cand, axis=1)
        best = cand[np.arange(len(blk)), j]
        start = np.where(blk <= dmax, 0.0, neg)  # first line: a partial cell from the border
        use_start = start >= best
        score[blk] = s[blk] + np.maximum(best, start)
        back[blk] = np.where(use_start, -1, prev[np.arange(len(blk)), j])
    return score, back


def box_cost(cs: np.ndarray, cq: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared deviation of the block ``[a, b)`` from its row means, for all rows at once:
    ``sum (y^2) - |sum y|^2 / (b - a)`` from cumulative sums ``cs`` (L+1, m) of the
    data along the axis and ``cq`` (L+1) of its squares summed over the rows."""
    s = cs[b] - cs[a]
    n = np.maximum(b - a, 1).astype(np.float64)
    return (cq[b] - cq[a]) - np.einsum("...m,...m->...", s, s) / n


def polish_lines(cs: np.ndarray, cq: np.ndarray, lines: np.ndarray, cell: float, noise: float,
                        reach: int = 2, rounds: int = 6, jitter: float = 0.15, spread: float = 0.35,
                        values: int | None = None) -> np.ndarray:
    """``fit.polish_lines``, all lines of one parity at once (compiled: ``_jit.polish_lines``)."""
    b = np.asarray(lines, np.int64).copy()
    start = b.copy()
    n = len(b) - 1
    if n < 2:
        return b
    offs = np.arange(-reach, reach + 1)
    sd = max(jitter * cell, 0.5)
    wmin, wmax = max(1.0, (1 - spread) * cell), (1 + spread) * cell
    price = 0.5 * max(noise, 1e-3) * (cs.shape[1] if values is None else values)
    for _ in range(rounds):
        moved = False
        for parity in (1, 2):
            i = np.arange(parity, n, 2)            # interior lines of this parity
            if len(i) == 0:
                continue
            cand = b[i][:, None] + offs[None, :]
            wl, wr = cand - b[i - 1][:, None], b[i + 1][:, None] - cand
            # cells keep a plausible width (border cells may be partial)
            ok = (wl >= 1) & (wr >= 1)
            ok &= ((wl >= wmin) & (wl <= wmax)) | (i[:, None] == 1)
            ok &= ((wr >= wmin) & (wr <= wmax)) | (i[:, None] == n - 1)
            ok &= np.abs(cand - start[i][:, None]) <= reach  # tethered to where the edges put it
            ok[:, reach] = True  # staying put is always allowed
            cand = np.where(ok, cand, b[i][:, None])
            cost = box_cost(cs, cq, b[i - 1][:, None], cand) + box_cost(cs, cq, cand, b[i + 1][:, None])
            wl, wr = cand - b[i - 1][:, None], b[i + 1][:, None] - cand
            cost = cost + price * (((wl - cell) / sd) ** 2 + ((wr - cell) / sd) ** 2)
            j = np.argmin(cost, axis=1)
            new = cand[np.arange(len(i)), j]
            if np.any(new != b[i]):
                moved = True
                b[i] = new
        if not moved:
            break
    return b


def refine_comb(profile: np.ndarray, q: float, ph: float, reach: float = 0.3,
                       iters: int = 3) -> tuple[float, float, int]:
    """``period.refine_comb`` (compiled: ``_jit.refine_comb``)."""
    e = np.asarray(profile, np.float64)
    n = len(e) - 1
    if n < 4:
        return q, ph, 0
    base = float(np.median(e[1:n]))
    used = 0
    for it in range(iters):
        k = np.arange(int(np.ceil((1 - ph) / q)), int(np.floor((n - 1 - ph) / q)) + 1)
        if len(k) < 3:
            break
        t = ph + k * q
        rr = reach * q if it == 0 else max(1.5, 0.15 * q)
        r = max(1, int(np.ceil(rr)))
        idx = np.clip(np.round(t).astype(np.int64)[:, None] + np.arange(-r, r + 1)[None, :], 1, n - 1)
        j = np.argmax(e[idx], axis=1)
        pos = idx[np.arange(len(k)), j]
        a, b, c = e[pos - 1], e[pos], e[pos + 1]
        den = a - 2 * b + c
        off = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
        peak = pos + np.clip(off, -0.5, 0.5)
        w = b - base
        ok = (w > 0) & (np.abs(peak - t) <= rr)
        q_new, ph_new = q, ph
        for thr in (0.2 * q, max(0.75, 0.08 * q)):
            if ok.sum() < 3 or len(np.unique(k[ok])) < 2:
                return q, ph, used
            kk, pp, ww = k[ok], peak[ok], w[ok]
            km = np.average(kk, weights=ww)
            pm = np.average(pp, weights=ww)
            var = np.average((kk - km) ** 2, weights=ww)
            if var <= 0:
                return q, ph, used
            q_new = float(np.average((kk - km) * (pp - pm), weights=ww) / var)
            ph_new = float(pm - q_new * km)
            res = np.abs(peak - (ph_new + k * q_new))
            ok = ok & (res <= thr)
        if not (0.8 * q <= q_new <= 1.25 * q):
            return q, ph, used
        used = int(ok.sum())
        q, ph = q_new, ph_new % q_new
    return q, ph, used


def local_widths(lines: np.ndarray, strength: np.ndarray, p: float, length: int, window: float = 4.0,
                 prior: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``fit.local_widths`` for at least three lines (compiled: ``_jit.local_widths``):
    the widths of cells sure of both edges, Gaussian-averaged over ``window`` cells (a
    dense cells x cells weight matrix) and shrunk to ``p``; the comb index integrates
    1 / width and is phased to the lines by their circular mean."""
    x = np.arange(length + 1, dtype=np.float64)
    inner = np.asarray(lines, np.int64)
    w = np.diff(inner).astype(np.float64)
    centre = 0.5 * (inner[1:] + inner[:-1])
    sure = np.clip(np.minimum(strength[inner[1:]], strength[inner[:-1]]), 0.0, 1.0)
    k = np.arange(len(w))
    g = np.exp(-0.5 * ((k[:, None] - k[None, :]) / window) ** 2) * sure[None, :]
    local = (g @ w + prior * p) / (g.sum(axis=1) + prior)
    width = np.interp(x, centre, local)
    index = np.concatenate([[0.0], np.cumsum(1.0 / width[:-1])])
    ang = 2 * np.pi * index[inner]
    index -= np.arctan2(np.sin(ang).mean(), np.cos(ang).mean()) / (2 * np.pi)
    return width, index
