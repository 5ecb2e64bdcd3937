"""Compiled inner loops of the model check (numba).

The grid search judges about a thousand candidate grids per image, each by a
small banded least-squares fit.  At these sizes (tens to hundreds of cells) the
arithmetic of a fit takes microseconds; done with numpy and LAPACK calls, each
fit costs a dozen calls' fixed overhead instead.  These functions do a whole
fit in one compiled call.  They hold no policy: :mod:`.model` decides what is
fitted and how the residual is used.

A banded design is ``pixel x = sum_j w[x, j] * cell (k0[x] + j)`` with ``k0``
non-decreasing (see :class:`.model.Design`); weights of cells outside
``0..n-1`` are zero.  Its normal matrix ``A^T A`` then has bandwidth ``T``
(the number of taps) and is kept as ``g[k, d] = (A^T A)[k, k + d]``; its
Cholesky factor ``A^T A = U^T U`` is kept the same way.
"""
from __future__ import annotations

import math

from typing import Callable

import numpy as np
from numba import njit


def _compiled(fn: Callable) -> Callable:
    """``fn`` compiled on first use (numba), the machine code cached beside this file
    (or in numba's user cache); compiled per process when neither is writable (a
    read-only install): slower to start, same results."""
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return njit(nogil=True)(fn)


@_compiled
def _taps(base: int, t: int, n: int) -> tuple[int, int]:
    """The taps ``i0 <= i < i1`` of a pixel whose first cell is ``base`` that fall on cells."""
    return max(0, -base), min(t, n - base)


@_compiled
def band_gram(k0: np.ndarray, w: np.ndarray, n: int, ridge: float) -> np.ndarray:
    """``A^T A`` (n, T) in diagonal-offset form, its diagonal raised by ``ridge`` times
    its largest entry (at least 1): a tiny Tikhonov term for cells no pixel sees."""
    length, t = w.shape
    g = np.zeros((n, t))
    for x in range(length):
        base = k0[x]
        i0, i1 = _taps(base, t, n)
        for i in range(i0, i1):
            wi = w[x, i]
            for j in range(i, i1):
                g[base + i, j - i] += wi * w[x, j]
    top = 1.0
    for k in range(n):
        if g[k, 0] > top:
            top = g[k, 0]
    for k in range(n):
        g[k, 0] += ridge * top
    return g


@_compiled
def band_cholesky(g: np.ndarray) -> tuple[np.ndarray, bool]:
    """Upper Cholesky factor ``U`` of the banded matrix ``g`` (same form); ``False``
    when the matrix is not positive definite (a pivot <= 0 or NaN)."""
    n, t = g.shape
    u = np.zeros((n, t))
    for k in range(n):
        for d in range(t):
            if k + d >= n:
                break
            s = g[k, d]
            lo = max(0, k + d - t + 1)
            for i in range(lo, k):
                s -= u[i, k - i] * u[i, k + d - i]
            if d == 0:
                if not s > 0.0:
                    return u, False
                u[k, 0] = np.sqrt(s)
            else:
                u[k, d] = s / u[k, 0]
    return u, True


@_compiled
def band_rmatmul(k0: np.ndarray, w: np.ndarray, n: int, y: np.ndarray, lower: bool = False) -> np.ndarray:
    """``A^T y`` for data ``y`` (L, m) -> (n, m); ``lower``: ``y`` is lower triangular
    (``y[x, c] = 0`` for ``c > x``), whose zeros are skipped."""
    length, t = w.shape
    m = y.shape[1]
    out = np.zeros((n, m))
    for x in range(length):
        base = k0[x]
        i0, i1 = _taps(base, t, n)
        top = min(x + 1, m) if lower else m
        for i in range(i0, i1):
            wi = w[x, i]
            if wi != 0.0:
                k = base + i
                for c in range(top):
                    out[k, c] += wi * y[x, c]
    return out


@_compiled
def band_matmul_add(k0: np.ndarray, w: np.ndarray, n: int, v: np.ndarray, out: np.ndarray) -> None:
    """``out += A v`` for cell values ``v`` (n, m) and ``out`` (L, m), in place: two
    designs' predictions summed without a second image-size array."""
    length, t = w.shape
    m = v.shape[1]
    for x in range(length):
        base = k0[x]
        i0, i1 = _taps(base, t, n)
        for i in range(i0, i1):
            wi = w[x, i]
            if wi != 0.0:
                k = base + i
                for c in range(m):
                    out[x, c] += wi * v[k, c]


@_compiled
def band_matmul(k0: np.ndarray, w: np.ndarray, n: int, v: np.ndarray) -> np.ndarray:
    """``A v`` for cell values ``v`` (n, m) -> (L, m): the image the cells predict."""
    out = np.zeros((w.shape[0], v.shape[1]))
    band_matmul_add(k0, w, n, v, out)
    return out


@_compiled
def impute(x: np.ndarray, pred: np.ndarray, hi_i: np.ndarray, yh: np.ndarray, lo_i: np.ndarray,
           yl: np.ndarray) -> None:
    """Censored values moved to the prediction where it lies beyond their bound, in
    place on the flat data ``x``: ``x[hi_i] = max(yh, pred[hi_i])``, ``x[lo_i] =
    min(yl, pred[lo_i])`` (``pred`` flat too)."""
    for a in range(len(hi_i)):
        i = hi_i[a]
        x[i] = max(yh[a], pred[i])
    for a in range(len(lo_i)):
        i = lo_i[a]
        x[i] = min(yl[a], pred[i])


@_compiled
def band_forward(u: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``z`` with ``U^T z = b`` (b: (n, m)), a new array."""
    return band_forward_cols(u, b, np.full(u.shape[0], b.shape[1], np.int64))


@_compiled
def band_forward_cols(u: np.ndarray, b: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """:func:`band_forward` when row ``k`` of ``b`` is zero from column ``cols[k]`` on
    (``cols`` non-decreasing): so is ``z``, and those products are skipped."""
    n, t = u.shape
    z = b.copy()
    for k in range(n):
        lo = max(0, k - t + 1)
        for i in range(lo, k):
            f = u[i, k - i]
            if f != 0.0:
                for c in range(cols[i]):
                    z[k, c] -= f * z[i, c]
        p = u[k, 0]
        for c in range(cols[k]):
            z[k, c] /= p
    return z


@_compiled
def band_backward(u: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``v`` with ``U v = z`` (z: (n, m)), a new array."""
    n, t = u.shape
    m = z.shape[1]
    v = z.copy()
    for k in range(n - 1, -1, -1):
        hi = min(n, k + t)
        for j in range(k + 1, hi):
            f = u[k, j - k]
            if f != 0.0:
                for c in range(m):
                    v[k, c] -= f * v[j, c]
        p = u[k, 0]
        for c in range(m):
            v[k, c] /= p
    return v


@_compiled
def band_explained(y: np.ndarray, k0: np.ndarray, w: np.ndarray, n: int, ridge: float,
                   lower: bool = False) -> tuple[float, bool]:
    """Sum of squares of ``y`` (L, m) that the least-squares fit of the design explains,
    ``|U^-T A^T y|^2``; ``False`` when the normal matrix is not positive definite (the
    caller then solves otherwise).  ``lower``: ``y`` is lower triangular (``y[x, c] = 0``
    for ``c > x``, as :func:`.model.compress_columns` leaves it), so ``A^T y`` and the
    solve are zero beyond column ``x`` of the last pixel a cell sees: those products
    are skipped (about half the work; the sums are the same, term for term)."""
    u, ok = band_cholesky(band_gram(k0, w, n, ridge))
    if not ok:
        return 0.0, False
    if not lower:
        z = band_forward(u, band_rmatmul(k0, w, n, y))
    else:
        length, t = w.shape
        # cols[k]: columns of row k of A^T y that may be non-zero: up to the last pixel
        # whose taps reach cell k or an earlier one (non-decreasing)
        cols = np.zeros(n, np.int64)
        for x in range(length):
            i0, i1 = _taps(k0[x], t, n)
            if i1 > i0:
                cols[k0[x] + i0] = min(x + 1, y.shape[1])
        for k in range(1, n):
            cols[k] = max(cols[k], cols[k - 1])
        z = band_forward_cols(u, band_rmatmul(k0, w, n, y, True), cols)
    s = 0.0
    for k in range(z.shape[0]):
        for c in range(z.shape[1]):
            s += z[k, c] * z[k, c]
    return s, True


@_compiled
def band_censored(y: np.ndarray, hi: np.ndarray, lo: np.ndarray, k0: np.ndarray, w: np.ndarray, n: int,
                  ridge: float, rounds: int, tol: float, relax: float) -> tuple[np.ndarray, float, bool]:
    """Least squares of the design on ``y`` (L, m) when values marked ``hi`` (``lo``)
    are lower (upper) bounds: the over-relaxed EM of :func:`.model.censored_lstsq`, in
    one call.  Returns the cell values, the residual sum of squares (a bound the model
    passes beyond costs nothing) and ``False`` when the normal matrix is singular."""
    length, m = y.shape
    u, ok = band_cholesky(band_gram(k0, w, n, ridge))
    if not ok:
        return np.zeros((n, m)), 0.0, False
    v = band_backward(u, band_forward(u, band_rmatmul(k0, w, n, y)))
    any_c = False
    for x in range(length):
        for c in range(m):
            if hi[x, c] or lo[x, c]:
                any_c = True
    x_imp = y.copy()
    if any_c:
        for _ in range(rounds):
            pred = band_matmul(k0, w, n, v)
            for x in range(length):
                for c in range(m):
                    if hi[x, c]:
                        x_imp[x, c] = max(y[x, c], pred[x, c])
                    elif lo[x, c]:
                        x_imp[x, c] = min(y[x, c], pred[x, c])
            new = band_backward(u, band_forward(u, band_rmatmul(k0, w, n, x_imp)))
            big = 0.0
            for k in range(n):
                for c in range(m):
                    step = new[k, c] - v[k, c]
                    if abs(step) > big:
                        big = abs(step)
                    v[k, c] += relax * step
            if big < tol:
                break
    pred = band_matmul(k0, w, n, v)
    rss = 0.0
    for x in range(length):
        for c in range(m):
            p = pred[x, c]
            val = y[x, c]
            if hi[x, c]:
                val = max(val, p)
            elif lo[x, c]:
                val = min(val, p)
            rss += (val - p) * (val - p)
    return v, rss, True


@_compiled
def boundary_dp(s: np.ndarray, length: int, dmin: int, dmax: int, pen: np.ndarray,
                per_position: bool) -> tuple[np.ndarray, np.ndarray]:
    """Best path scores and back-pointers of the boundary DP of :mod:`.fit` (see
    ``_dp_blocks`` there: same recurrence, same tie-breaking).  ``pen``: (1, spacings)
    or, with ``per_position``, (L+1, spacings)."""
    neg = -1e18
    sc = np.full(length + 1, neg)
    bk = np.full(length + 1, -1, np.int64)
    for b in range(1, length):
        row = b if per_position else 0
        best = neg
        arg = -1
        for i in range(dmax - dmin + 1):
            prev = b - (dmin + i)
            v = sc[prev] - pen[row, i] if prev >= 1 else neg
            if v > best or arg < 0:
                best = v
                arg = prev
        start = 0.0 if b <= dmax else neg
        if start >= best:
            sc[b] = s[b] + start
            bk[b] = -1
        else:
            sc[b] = s[b] + best
            bk[b] = arg
    return sc, bk


@_compiled
def spacing_penalties(length: int, dmin: int, dmax: int, width: np.ndarray, stiffness: float,
                      sd: float) -> np.ndarray:
    """The spacing costs of :func:`boundary_dp` with ``per_position``: a cell of ``d`` px
    ending at ``b`` pays ``stiffness / 2 * ((d - width[c]) / sd)^2``, ``c`` its centre
    (``b - d / 2``, floored into ``0..length``) -> (L+1, spacings)."""
    pen = np.empty((length + 1, dmax - dmin + 1))
    for b in range(length + 1):
        for i in range(dmax - dmin + 1):
            d = dmin + i
            c = min(max(b - d / 2.0, 0.0), float(length))
            e = (d - width[int(c)]) / sd
            pen[b, i] = stiffness * 0.5 * (e * e)
    return pen


@_compiled
def best_path(score: np.ndarray, back: np.ndarray, length: int, dmax: int) -> np.ndarray:
    """The boundaries of the best path of :func:`boundary_dp`: from the best-scoring
    position of the last ``dmax`` before the end (the first on a tie) back to the start."""
    b = max(1, length - dmax)
    for e in range(max(1, length - dmax), length):
        if score[e] > score[b]:
            b = e
    n = 0
    e = b
    while e >= 1:
        n += 1
        e = back[e]
    path = np.empty(n, np.int64)
    while b >= 1:
        n -= 1
        path[n] = b
        b = back[b]
    return path


@_compiled
def local_widths(inner: np.ndarray, strength: np.ndarray, p: float, length: int, window: float,
                 prior: float) -> tuple[np.ndarray, np.ndarray]:
    """``fit.local_widths`` (which documents it) in one call, for at least three lines
    ``inner``; the Gaussian average over cells is cut where its weight falls below
    1e-20 of the centre's (beyond ~9.6 windows: no effect on a double sum)."""
    nw = len(inner) - 1
    w = np.empty(nw)
    centre = np.empty(nw)
    sure = np.empty(nw)
    for j in range(nw):
        w[j] = float(inner[j + 1] - inner[j])
        centre[j] = 0.5 * (inner[j + 1] + inner[j])
        sure[j] = min(max(min(strength[inner[j + 1]], strength[inner[j]]), 0.0), 1.0)
    reach = int(math.ceil(9.6 * window))
    local = np.empty(nw)
    for i in range(nw):
        num = 0.0
        den = 0.0
        for j in range(max(0, i - reach), min(nw, i + reach + 1)):
            t = (i - j) / window
            g = math.exp(-0.5 * (t * t)) * sure[j]
            num += g * w[j]
            den += g
        local[i] = (num + prior * p) / (den + prior)
    x = np.arange(length + 1).astype(np.float64)
    width = np.interp(x, centre, local)
    index = np.empty(length + 1)
    index[0] = 0.0
    for k in range(length):
        index[k + 1] = index[k] + 1.0 / width[k]
    sn = 0.0
    cs = 0.0
    for j in range(len(inner)):
        a = 2 * np.pi * index[inner[j]]
        sn += math.sin(a)
        cs += math.cos(a)
    shift = math.atan2(sn / len(inner), cs / len(inner)) / (2 * np.pi)
    for k in range(length + 1):
        index[k] -= shift
    return width, index


@_compiled
def comb_offset(index: np.ndarray, phase: float, p: float) -> float:
    """How far (cells) the comb with cell index ``index`` at each position strays from the
    uniform comb (``phase``, ``p``) beyond a whole number of cells: the largest deviation
    of ``index - (x - phase) / p`` from its median rounded."""
    n = len(index)
    d = np.empty(n)
    for k in range(n):
        d[k] = index[k] - (k - phase) / p
    m = np.round(np.median(d))
    big = 0.0
    for k in range(n):
        big = max(big, abs(d[k] - m))
    return big


#: cos / sin of multiples of pi / 4 (Lanczos-4's window steps by that per tap)
_COS_Q = np.cos(np.pi / 4.0 * np.arange(8))
_SIN_Q = np.sin(np.pi / 4.0 * np.arange(8))

#: kernel codes of :func:`kernel_weights` (names as in :data:`.model.KERNELS`)
KERNEL_CODES = {"soft": 1, "linear": 2, "cubic": 3, "lanczos": 4, "catmull": 5, "lanczos3": 6}


@_compiled
def _kernel(code: int, t: float) -> float:
    """Weight at ``t`` (cells) of the soft box (1), linear (2), cubic (3), Catmull-Rom (5)
    or three-lobe Lanczos (6) kernel; Lanczos-4 (4) is evaluated in :func:`kernel_weights`
    by angle addition."""
    if code == 1:  # a box blurred by a Gaussian of 0.12 cells (model._soft)
        s = 0.12 * np.sqrt(2.0)
        return 0.5 * (math.erf((t + 0.5) / s) - math.erf((t - 0.5) / s))
    if code == 2:
        return max(0.0, 1.0 - abs(t))
    if code == 6:  # three-lobe Lanczos (model._lanczos3)
        if t == 0.0:
            return 1.0
        if abs(t) >= 3.0:
            return 0.0
        return 3.0 * np.sin(np.pi * t) * np.sin(np.pi * t / 3.0) / (np.pi * np.pi * t * t)
    # Keys' cubic, a = -0.75 (model._cubic) or -0.5 (5: Catmull-Rom, model._catmull)
    a = -0.5 if code == 5 else -0.75
    t = abs(t)
    if t <= 1.0:
        return ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    if t < 2.0:
        return ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a
    return 0.0


@_compiled
def kernel_weights(centres: np.ndarray, length: int, code: int, support: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k0, w)`` of a smooth kernel's design for cells centred at ``centres``: pixel
    centres mapped to cell-index coordinates (linear between centres, extrapolated
    with the outer spacing), ``2 support`` taps from ``floor(u) - support + 1``,
    weights outside the cells zeroed and rows normalised to sum one."""
    n = len(centres)
    t = 2 * support
    k0 = np.empty(length, np.int64)
    w = np.zeros((length, t))
    j = 0
    for px in range(length):
        x = px + 0.5
        if n == 1:
            u = 0.0
        elif x < centres[0]:
            u = (x - centres[0]) / (centres[1] - centres[0])
        elif x > centres[n - 1]:
            u = n - 1 + (x - centres[n - 1]) / (centres[n - 1] - centres[n - 2])
        else:
            while j < n - 2 and centres[j + 1] <= x:
                j += 1
            gap = centres[j + 1] - centres[j]
            u = j + ((x - centres[j]) / gap if gap > 0.0 else 1.0)
        fl = np.floor(u)
        base = int(fl) - support + 1
        k0[px] = base
        f = u - fl  # tap i sits at t = u - (base + i) = f + support - 1 - i
        if code == 4:
            # Lanczos-4 by angle addition: sin(pi t) alternates in sign with the tap and
            # sin(pi t / 4) steps by pi / 4, so three trigonometric calls per pixel
            s1 = np.sin(np.pi * f)
            sa, ca = np.sin(np.pi * f / 4.0), np.cos(np.pi * f / 4.0)
        total = 0.0
        for i in range(t):
            k = base + i
            if 0 <= k < n:
                if code == 4:
                    tt = f + support - 1 - i
                    if tt == 0.0:
                        v = 1.0
                    elif abs(tt) >= 4.0:
                        v = 0.0
                    else:
                        sh = support - 1 - i  # sin(pi (f + sh)) = (-1)^sh sin(pi f)
                        big = s1 if sh % 2 == 0 else -s1
                        small = sa * _COS_Q[sh % 8] + ca * _SIN_Q[sh % 8]
                        v = 4.0 * big * small / (np.pi * np.pi * tt * tt)
                else:
                    v = _kernel(code, u - k)
                w[px, i] = v
                total += v
        if abs(total) > 1e-9:
            for i in range(t):
                w[px, i] /= total
    return k0, w


@_compiled
def _block_cost(cs: np.ndarray, cq: np.ndarray, a: int, b: int) -> float:
    """Squared deviation of the block ``[a, b)`` from its row means (see ``fit.box_cost``)."""
    s2 = 0.0
    for c in range(cs.shape[1]):
        d = cs[b, c] - cs[a, c]
        s2 += d * d
    return (cq[b] - cq[a]) - s2 / max(b - a, 1)


@_compiled
def polish_lines(cs: np.ndarray, cq: np.ndarray, lines: np.ndarray, cell: float, price: float, reach: int,
                 rounds: int, sd: float, wmin: float, wmax: float) -> np.ndarray:
    """The coordinate descent of ``fit.polish_lines`` (which documents it and sets the
    prices): lines of one parity move together, then the other, each to the offset
    within ``reach`` of its start that minimises the two blocks' squared deviation
    plus the width prior; the first such offset wins ties, staying put where no
    move is allowed."""
    b = lines.copy()
    start = lines.copy()
    n = len(b) - 1
    if n < 2:
        return b
    for _ in range(rounds):
        moved = False
        for parity in (1, 2):
            for i in range(parity, n, 2):
                left, right, here = b[i - 1], b[i + 1], b[i]
                best_cost = np.inf
                best = here
                for o in range(-reach, reach + 1):
                    cand = here + o
                    wl, wr = cand - left, right - cand
                    ok = o == 0 or (
                        wl >= 1 and wr >= 1
                        and ((wl >= wmin and wl <= wmax) or i == 1)
                        and ((wr >= wmin and wr <= wmax) or i == n - 1)
                        and abs(cand - start[i]) <= reach)
                    if not ok:
                        cand = here
                        wl, wr = cand - left, right - cand
                    cost = _block_cost(cs, cq, left, cand) + _block_cost(cs, cq, cand, right)
                    cost += price * (((wl - cell) / sd) ** 2 + ((wr - cell) / sd) ** 2)
                    if cost < best_cost:
                        best_cost = cost
                        best = cand
                if best != here:
                    moved = True
                    b[i] = best
        if not moved:
            break
    return b


@_compiled
def refine_comb(e: np.ndarray, q: float, ph: float, reach: float, iters: int) -> tuple[float, float, int]:
    """The peak regression of ``period.refine_comb`` (which documents it), in one call."""
    n = len(e) - 1
    if n < 4:
        return q, ph, 0
    base = np.median(e[1:n])
    used = 0
    for it in range(iters):
        k_lo = int(np.ceil((1 - ph) / q))
        k_hi = int(np.floor((n - 1 - ph) / q))
        nk = k_hi - k_lo + 1
        if nk < 3:
            break
        rr = reach * q if it == 0 else max(1.5, 0.15 * q)
        r = max(1, int(np.ceil(rr)))
        ks = np.empty(nk)
        peak = np.empty(nk)
        wt = np.empty(nk)
        ok = np.zeros(nk, np.bool_)
        for a in range(nk):
            k = k_lo + a
            t = ph + k * q
            centre = int(np.rint(t))
            pos = -1
            top = -np.inf
            for o in range(-r, r + 1):  # the strongest position near the tooth (first on ties)
                i = min(max(centre + o, 1), n - 1)
                if e[i] > top:
                    top = e[i]
                    pos = i
            lo_v, mid, hi_v = e[pos - 1], e[pos], e[pos + 1]
            den = lo_v - 2 * mid + hi_v
            off = 0.5 * (lo_v - hi_v) / den if den < 0 else 0.0
            ks[a] = k
            peak[a] = pos + min(max(off, -0.5), 0.5)
            wt[a] = mid - base
            ok[a] = wt[a] > 0 and abs(peak[a] - t) <= rr
        q_new, ph_new = q, ph
        for pass_ in range(2):
            thr = 0.2 * q if pass_ == 0 else max(0.75, 0.08 * q)
            if ok.sum() < 3:
                return q, ph, used
            sw = swk = swp = 0.0
            for a in range(nk):
                if ok[a]:
                    sw += wt[a]
                    swk += wt[a] * ks[a]
                    swp += wt[a] * peak[a]
            km, pm = swk / sw, swp / sw
            var = cov = 0.0
            for a in range(nk):
                if ok[a]:
                    var += wt[a] * (ks[a] - km) ** 2
                    cov += wt[a] * (ks[a] - km) * (peak[a] - pm)
            var /= sw
            if var <= 0:
                return q, ph, used
            q_new = (cov / sw) / var
            ph_new = pm - q_new * km
            for a in range(nk):
                if abs(peak[a] - (ph_new + ks[a] * q_new)) > thr:
                    ok[a] = False
        if not (0.8 * q <= q_new <= 1.25 * q):
            return q, ph, used
        used = int(ok.sum())
        q, ph = q_new, ph_new % q_new
    return q, ph, used


@_compiled
def mean_cell(lines: np.ndarray, q: float) -> float:
    """``_mean_cell`` of the grid module (which documents it): the least-squares slope of
    the interior lines over their cell index, cells counted with the median width."""
    inner = lines[1:-1]
    m = len(inner)
    if m < 3:
        return q
    step = np.median(inner[1:] - inner[:-1])
    if step <= 0:
        return q
    k = np.rint((inner - inner[0]) / step)
    if k.max() == k.min():
        return q
    km, im = k.mean(), inner.mean()
    return float(np.sum((k - km) * (inner - im)) / np.sum((k - km) ** 2))


@_compiled
def box_rss(cs: np.ndarray, cq: np.ndarray, lines: np.ndarray, c_first: float, c_last: float) -> float:
    """``model.box_rss`` (which documents it) in one call: ``c_first`` / ``c_last`` are
    the first and last cell centres."""
    length = cs.shape[0] - 1
    m = cs.shape[1]
    explained = 0.0
    prev = 0
    for j in range(1, len(lines)):
        if j < len(lines) - 1:
            b = lines[j]
            if not (b > c_first and b < c_last):
                continue
            e = min(max(int(np.ceil(b - 0.5)), 0), length)
        else:
            e = length
        cnt = e - prev
        if cnt > 0:
            s2 = 0.0
            for c in range(m):
                d = cs[e, c] - cs[prev, c]
                s2 += d * d
            explained += s2 / cnt
        prev = e
    return max(cq[length] - explained, 0.0)


@_compiled
def lattice(q: float, ph: float, length: int) -> np.ndarray:
    """``grid._lattice`` (which documents it) in one call."""
    k0 = int(np.ceil((1e-9 - ph) / q))
    k1 = int(np.floor((length - 1e-9 - ph) / q))
    out = np.empty(max(k1 - k0 + 1, 0) + 2)
    out[0] = 0.0
    m = 1
    for k in range(k0, k1 + 1):
        b = ph + q * k
        if b > 0.0 and b < length:
            out[m] = b
            m += 1
    out[m] = float(length)
    return out[:m + 1].copy()


@_compiled
def comb_box_rss(cs: np.ndarray, cq: np.ndarray, q: float, phases: np.ndarray) -> np.ndarray:
    """:func:`box_rss` of the uniform combs of size ``q`` at each of ``phases`` (laid by
    :func:`lattice`, centres as :func:`cell_centres` puts them), in one call."""
    length = cs.shape[0] - 1
    out = np.empty(len(phases))
    for i in range(len(phases)):
        lines = lattice(q, phases[i], length)
        centres = cell_centres(lines, length, q)
        out[i] = box_rss(cs, cq, lines, centres[0], centres[len(centres) - 1])
    return out


@_compiled
def normalised_strength(e: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """``fit.normalised_strength`` (which documents it) in one call."""
    n = len(e)
    inner = e[1:n - 1]
    base = np.median(inner) if len(inner) else 0.0
    near = np.empty(len(guide))
    cnt = 0
    for g in guide:
        if 0 < g < n - 1:
            near[cnt] = max(max(e[max(g - 1, 0)], e[g]), e[min(g + 1, n - 1)])
            cnt += 1
    if cnt:
        top = np.percentile(near[:cnt], 75.0)
    else:
        top = inner.max() if len(inner) else 1.0
    s = (e - base) / max(top - base, 1e-9)
    return np.minimum(np.maximum(s, -0.5), 2.0)


@_compiled
def cell_centres(lines: np.ndarray, length: int, cell: float) -> np.ndarray:
    """``model.cell_centres`` (which documents it) in one call."""
    m = len(lines)
    if m <= 2:
        return np.array([length / 2.0])
    first = min(lines[1] - cell, 0.0) if lines[1] < cell else lines[0]
    last = max(lines[m - 2] + cell, float(length)) if length - lines[m - 2] < cell else lines[m - 1]
    out = np.empty(m - 1)
    for k in range(m - 1):
        a = first if k == 0 else lines[k]
        b = last if k == m - 2 else lines[k + 1]
        out[k] = 0.5 * (a + b)
    return out


@_compiled
def smooth_rss(y: np.ndarray, yy: float, centres: np.ndarray, length: int, code: int, support: int,
               ridge: float, lower: bool = False) -> float:
    """Residual sum of squares of a smooth kernel's least-squares fit to ``y`` (sum of
    squares ``yy``) for cells centred at ``centres``; -1 when the normal matrix is not
    positive definite (the caller then solves otherwise).  ``lower``: ``y`` is lower
    triangular (see :func:`band_explained`)."""
    k0, w = kernel_weights(centres, length, code, support)
    explained, ok = band_explained(y, k0, w, len(centres), ridge, lower)
    return max(yy - explained, 0.0) if ok else -1.0


@_compiled
def warp(lines: np.ndarray, scale: float, shift: float, length: int) -> np.ndarray:
    """``grid._warp`` (which documents it) in one call."""
    m = len(lines) - 2
    if m < 2:
        return lines.copy()
    c0 = length / 2.0
    inner = c0 + (lines[1:-1] - c0) * scale + shift
    lo_step, hi_step = inner[1] - inner[0], inner[m - 1] - inner[m - 2]
    n_lo = int(inner[0] // lo_step) if lo_step > 0.5 and inner[0] > lo_step else 0
    n_hi = int((length - inner[m - 1]) // hi_step) if hi_step > 0.5 and length - inner[m - 1] > hi_step else 0
    out = np.empty(n_lo + m + n_hi + 2)
    out[0] = 0.0
    cnt = 1
    for j in range(n_lo + m + n_hi):
        if j < n_lo:
            v = inner[0] - lo_step * (n_lo - j)
        elif j < n_lo + m:
            v = inner[j - n_lo]
        else:
            v = inner[m - 1] + hi_step * (j - n_lo - m + 1)
        if 0 < v < length:
            out[cnt] = v
            cnt += 1
    out[cnt] = float(length)
    return out[:cnt + 1].copy()


@_compiled
def finish_lines(inner: np.ndarray, least: float, length: int) -> np.ndarray:
    """``period.finish_lines`` (which documents it) for integer boundaries; ``least``:
    the narrowest border cell kept (px)."""
    kept = np.unique(inner[(inner > 0) & (inner < length)])
    lines = np.empty(len(kept) + 2, np.int64)
    lines[0] = 0
    lines[1:-1] = kept
    lines[-1] = length
    lo, hi = 0, len(lines)
    if hi - lo > 2 and lines[lo + 1] - lines[lo] < least:
        lo += 1
    if hi - lo > 2 and lines[hi - 1] - lines[hi - 2] < least:
        hi -= 1
    return lines[lo:hi].copy()


@_compiled
def diff_profile(f: np.ndarray, axis: int) -> np.ndarray:
    """``edges.edge_profile(..., "diff")``: the absolute neighbour differences across
    each boundary along ``axis`` (1: columns, 0: rows) of ``f`` (H, W, C), summed over
    the other axis and the channels in float64, in pixel-edge coordinates (n + 1)."""
    h, w, nc = f.shape
    n = w if axis == 1 else h
    prof = np.zeros(n + 1)
    for r in range(h):  # rows in storage order; each boundary's sum still runs over r in order
        if axis == 1:
            for b in range(1, w):
                s = 0.0
                for c in range(nc):
                    s += np.float64(abs(f[r, b, c] - f[r, b - 1, c]))
                prof[b] += s
        elif r >= 1:
            s = 0.0
            for x in range(w):
                for c in range(nc):
                    s += np.float64(abs(f[r, x, c] - f[r - 1, x, c]))
            prof[r] = s
    return prof


@_compiled
def ridge_profile(f: np.ndarray, axis: int) -> np.ndarray:
    """``edges.ridge_profile`` (which documents it) in one pass over ``f`` (H, W, C) in
    storage order: the neighbour differences across each boundary along ``axis``
    (channels summed in float32) that are local maxima along the axis and stand clear
    of the noise (3 x the median difference + 2), summed over the other axis."""
    h, w, nc = f.shape
    n = w if axis == 1 else h
    prof = np.zeros(n + 1)
    if n < 2:
        return prof
    # g[r, j] (axis 1) or g[j, x] (axis 0): the step across boundary j + 1
    g = np.empty((h, w - 1) if axis == 1 else (h - 1, w), np.float32)
    for a in range(g.shape[0]):
        for b in range(g.shape[1]):
            v = np.float32(0.0)
            for c in range(nc):
                if axis == 1:
                    v += abs(f[a, b + 1, c] - f[a, b, c])
                else:
                    v += abs(f[a + 1, b, c] - f[a, b, c])
            g[a, b] = v
    if n < 3:
        prof[1] = np.sum(g.astype(np.float64))
        return prof
    thr = 3.0 * (np.median(g) + 1e-6) + 2.0
    for a in range(g.shape[0]):
        for b in range(g.shape[1]):
            v = g[a, b]
            if not v > thr:
                continue
            none = np.float32(-1.0)  # beyond the ends: no neighbour to beat
            if axis == 1:
                j, prev, nxt = b, g[a, b - 1] if b > 0 else none, g[a, b + 1] if b < n - 2 else none
            else:
                j, prev, nxt = a, g[a - 1, b] if a > 0 else none, g[a + 1, b] if a < n - 2 else none
            if v >= prev and v > nxt:
                prof[j + 1] += v
    return prof


@_compiled
def curvature_profile(f: np.ndarray, axis: int) -> np.ndarray:
    """``edges.curvature_profile`` without its blur: |second difference| along ``axis``
    summed over the other axis and the channels in float64, each pixel's value split
    over its two pixel edges (length n + 1)."""
    h, w, nc = f.shape
    n = w if axis == 1 else h
    prof = np.zeros(n + 1)
    if n < 3:
        return prof
    d = np.zeros(n)
    for r in range(h):
        if axis == 1:
            for x in range(1, w - 1):
                s = 0.0
                for c in range(nc):
                    s += np.float64(abs(f[r, x + 1, c] - np.float32(2.0) * f[r, x, c] + f[r, x - 1, c]))
                d[x] += s
        elif 1 <= r < h - 1:
            s = 0.0
            for x in range(w):
                for c in range(nc):
                    s += np.float64(abs(f[r + 1, x, c] - np.float32(2.0) * f[r, x, c] + f[r - 1, x, c]))
            d[r] = s
    for x in range(1, n - 1):
        prof[x] += d[x]
        prof[x + 1] += d[x]
    prof[0] = 0.0
    prof[n] = 0.0
    return prof


@_compiled
def comb_phases(centred: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """``period.comb_phases`` (which documents it) for a mean-removed profile: the
    DTFT at ``1 / q`` by a rotating phasor, re-anchored every 64 samples so rounding
    cannot accumulate."""
    n = len(centred)
    out = np.empty(len(qs))
    for i in range(len(qs)):
        q = qs[i]
        f = 1.0 / q
        c1, s1 = math.cos(2 * math.pi * f), math.sin(2 * math.pi * f)
        re = 0.0
        im = 0.0
        c, s = 1.0, 0.0
        for b in range(n):
            if b % 64 == 0:
                a = 2 * math.pi * ((b * f) % 1.0)
                c, s = math.cos(a), math.sin(a)
            re += centred[b] * c
            im -= centred[b] * s
            c, s = c * c1 - s * s1, s * c1 + c * s1
        out[i] = (-math.atan2(im, re) / (2 * math.pi) * q) % q
    return out


@_compiled
def comb_contrasts(e: np.ndarray, emax: np.ndarray, qs: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """``period.comb_contrasts`` (which documents it): per comb, the sums on its teeth and
    on the positions near none (the whole profile's sums less the near ones)."""
    n = len(e) - 1
    tot, tot2, mean_abs = np.zeros(2), np.zeros(2), np.zeros(2)
    for b in range(n + 1):
        tot[0] += e[b]
        tot2[0] += e[b] * e[b]
        mean_abs[0] += abs(e[b]) / (n + 1)
        tot[1] += emax[b]
        tot2[1] += emax[b] * emax[b]
        mean_abs[1] += abs(emax[b]) / (n + 1)
    mark = np.zeros(n + 1, np.int64)  # stamp of the last comb that marked a position near
    zs = np.empty(len(qs))
    for i in range(len(qs)):
        q, ph = qs[i], phases[i]
        stamp = i + 1
        k0 = int(math.ceil(-ph / q))
        k1 = int(math.floor((n - ph) / q))
        if k1 - k0 + 1 < 2:
            zs[i] = -np.inf
            continue
        wide = q >= 5
        prof = emax if wide else e
        t = 1 if wide else 0
        on = 0.0
        nt = 0
        near_n = 0
        near_s = 0.0
        near_s2 = 0.0
        for b in (0, n):
            if mark[b] != stamp:
                mark[b] = stamp
                near_n += 1
                near_s += prof[b]
                near_s2 += prof[b] * prof[b]
        for k in range(k0, k1 + 1):
            pos = int(np.rint(ph + q * k))
            if pos <= 0 or pos >= n:
                continue
            on += prof[pos]
            nt += 1
            for d in range(-t, t + 1):
                p = min(max(pos + d, 0), n)
                if mark[p] != stamp:
                    mark[p] = stamp
                    near_n += 1
                    near_s += prof[p]
                    near_s2 += prof[p] * prof[p]
        n_off = n + 1 - near_n
        s1 = tot[t] - near_s
        s2 = tot2[t] - near_s2
        m = s1 / max(n_off, 1)
        sd = math.sqrt(max(s2 / max(n_off, 1) - m * m, 0.0))
        if nt >= 2 and n_off >= 2:
            se = sd / math.sqrt(nt) + 1e-6 * (mean_abs[t] + 1e-12)
            zs[i] = (on / nt - m) / se
        else:
            zs[i] = 0.0
    return zs


@_compiled
def _cells_cost(cs: np.ndarray, cq: np.ndarray, pts: np.ndarray, cnt: int, cell: float, price: float,
                sd: float) -> float:
    """Block deviations plus the width prior of the cells between ``pts[0..cnt-1]``."""
    c = 0.0
    for j in range(cnt - 1):
        w = pts[j + 1] - pts[j]
        c += _block_cost(cs, cq, pts[j], pts[j + 1]) + price * ((w - cell) / sd) ** 2
    return c


@_compiled
def merge_lines(cs: np.ndarray, cq: np.ndarray, lines: np.ndarray, cell: float, price: float, sd: float,
                wmin: float, wmax: float, rounds: int) -> np.ndarray:
    """The count repair of ``fit.merge_lines`` (which documents it): greedy moves that
    replace two neighbouring interior lines by one anywhere between their neighbours,
    each taken when it lowers the cost of ``polish_lines`` (block deviations plus
    width prior); the best move first, at most ``rounds``."""
    b = lines.copy()
    old = np.empty(4, np.int64)
    new = np.empty(3, np.int64)
    for _ in range(rounds):
        n = len(b) - 1  # cells
        best_gain = 0.0
        best_i = -1
        best_t = 0
        for i in range(1, n - 1):  # lines i and i + 1, both interior
            lo, hi = b[i - 1], b[i + 2]
            old[0], old[1], old[2], old[3] = lo, b[i], b[i + 1], hi
            before = _cells_cost(cs, cq, old, 4, cell, price, sd)
            for t in range(lo + 1, hi):
                wl, wr = t - lo, hi - t
                if not ((wl >= wmin and wl <= wmax) or (i == 1 and wl <= wmax)):
                    continue
                if not ((wr >= wmin and wr <= wmax) or (i + 1 == n - 1 and wr <= wmax)):
                    continue
                new[0], new[1], new[2] = lo, t, hi
                gain = before - _cells_cost(cs, cq, new, 3, cell, price, sd)
                if gain > best_gain:
                    best_gain, best_i, best_t = gain, i, t
        if best_i < 0:
            break
        out = np.empty(len(b) - 1, np.int64)
        out[:best_i] = b[:best_i]
        out[best_i] = best_t
        out[best_i + 1:] = b[best_i + 2:]
        b = out
    return b
