"""Cell size (period) and phase from a 1-D edge profile, to sub-pixel precision.

A grid of cells of size ``p`` puts edge peaks at ``phase + k*p``; the profile's
spectrum then has peaks at the harmonics ``h/p``.  We evaluate the spectrum of the
zero-padded profile (an FFT evaluates the DTFT on a fine frequency grid, so
non-integer periods such as 7.3 px are resolved), whiten it by its local
background level, and score each candidate period by the mean whitened power
over its harmonics.  The fundamental, ``p/2`` and ``2p`` all score well; choosing
between them is left to the reconstruction test in :mod:`pixfix.grid.model`.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter

from . import _jit

MAX_HARMONICS = 6


def _spectrum(profile: np.ndarray) -> tuple[np.ndarray, int]:
    """Whitened power spectrum of the mean-removed interior of ``profile``."""
    e = np.asarray(profile[1:-1], np.float64)
    e = e - e.mean()
    n = len(e)
    n_fft = 1 << int(np.ceil(np.log2(max(16 * n, 256))))
    n_fft = min(n_fft, 1 << 18)
    power = np.abs(np.fft.rfft(e, n_fft)) ** 2
    # background level: a running median over ~8 resolution cells (1/n each),
    # computed on a decimated spectrum for speed
    dec = max(1, n_fft // (4 * n))
    coarse = power[::dec]
    win = max(3, int(8 * n_fft / n / dec) | 1)
    bg = median_filter(coarse, size=win, mode="nearest")
    bg = np.interp(np.arange(len(power)), np.arange(len(coarse)) * dec, bg)
    floor = max(float(np.median(power)), 1e-12) * 1e-3
    return power / (bg + floor), n_fft


def period_scores(profile: np.ndarray, min_cell: float, max_cell: float,
                  step: float = 0.002) -> tuple[np.ndarray, np.ndarray]:
    """Candidate periods (log-spaced) and their harmonic scores (higher = more periodic)."""
    white, n_fft = _spectrum(profile)
    hi = max(min_cell * (1 + step), max_cell)
    periods = np.exp(np.arange(np.log(min_cell), np.log(hi), step))
    h = np.arange(1, MAX_HARMONICS + 1)
    freqs = h[None, :] / periods[:, None]  # cycles per pixel
    valid = freqs <= 0.5 + 1e-9
    vals = np.interp(freqs * n_fft, np.arange(len(white)), white)
    # weights 1/h: the fundamental matters most (smooth upscales keep little else);
    # harmonics above Nyquist count as absent, so tiny periods with a single lucky
    # noise spike cannot outscore a real grid
    w = 1.0 / h
    scores = (vals * valid * w[None, :]).sum(axis=1) / w.sum()
    return periods, scores


def autocorrelation(profile: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of the mean-removed profile, lags 0..L-1.

    Unlike the spectrum, it only compares nearby boundaries, so a grid whose cell
    widths jitter and drift (phase lost over the image) still shows a clear peak at
    the mean cell size.  The biased estimate (divided by L, not L - lag) is used:
    long lags rest on few pairs, and letting them decay keeps chance alignments
    of large features from outscoring the cell size.
    """
    e = np.asarray(profile[1:-1], np.float64)
    e = e - e.mean()
    n = len(e)
    if n < 4:
        return np.ones(max(n, 1))
    f = np.fft.rfft(e, 2 * n)
    acf = np.fft.irfft(f * np.conj(f), 2 * n)[:n]
    return acf / max(acf[0], 1e-12)


def acf_peaks(acf: np.ndarray, min_cell: float, max_cell: float, k: int = 3) -> list[tuple[float, float]]:
    """The ``k`` highest local maxima of the autocorrelation in [min_cell, max_cell] (sub-pixel)."""
    lo = max(1, int(np.floor(min_cell)))
    hi = min(len(acf) - 2, int(np.ceil(max_cell)), len(acf) // 3)
    if hi <= lo:
        return []
    lags = np.arange(lo, hi + 1)
    v = acf[lags]
    left = acf[lags - 1]
    right = acf[lags + 1]
    is_peak = (v >= left) & (v > right)
    out = []
    for i in np.flatnonzero(is_peak):
        lag = lags[i]
        a, b, c = acf[lag - 1], acf[lag], acf[lag + 1]
        den = a - 2 * b + c
        off = 0.5 * (a - c) / den if den < 0 else 0.0
        out.append((float(lag + np.clip(off, -0.5, 0.5)), float(b)))
    if not out:
        return []
    # the first strong peak is the fundamental; later ones are its multiples and
    # may score higher by chance, so it is always a candidate
    top = max(v for _, v in out)
    first = next(t for t in out if t[1] >= (0.5 * top if top > 0 else top))
    out.sort(key=lambda t: -t[1])
    best = out[:k]
    return best if first in best else best + [first]


def top_periods(profile: np.ndarray, min_cell: float, max_cell: float, k: int = 3) -> list[tuple[float, float]]:
    """The ``k`` strongest local maxima of the period score as ``(period, score)``, best first."""
    periods, scores = period_scores(profile, min_cell, max_cell)
    if len(scores) < 3:
        return [(float(periods[int(np.argmax(scores))]), float(scores.max()))] if len(scores) else []
    # local maxima over a +-3% neighbourhood
    width = max(3, int(0.03 / 0.002) | 1)
    peak = (scores == maximum_filter1d(scores, width, mode="nearest")) & (scores > 0)
    idx = np.flatnonzero(peak)
    idx = idx[np.argsort(scores[idx])[::-1]][:k]
    out = []
    for i in idx:
        p = float(periods[i])
        if 0 < i < len(scores) - 1:  # parabolic refinement in log-period
            a, b, c = scores[i - 1], scores[i], scores[i + 1]
            den = a - 2 * b + c
            if den < 0:
                p *= float(np.exp(0.002 * 0.5 * (a - c) / den))
        out.append((p, float(scores[i])))
    return out


def phase(profile: np.ndarray, p: float) -> float:
    """Offset in ``[0, p)`` of the comb ``phase + k*p`` that best matches the profile's peaks."""
    e = np.asarray(profile, np.float64)
    b = np.arange(len(e), dtype=np.float64)
    s = np.sum((e - e[1:-1].mean()) * np.exp(-2j * np.pi * b / p))
    return float((-np.angle(s) / (2 * np.pi) * p) % p)


def uniform_lines(ph: float, p: float, length: int, min_partial: float = 0.5) -> np.ndarray:
    """Cell boundaries (pixel-edge coordinates, integers, first 0 and last ``length``) of a
    uniform grid; border cells narrower than ``min_partial * p`` are dropped (cropped)."""
    k0 = int(np.ceil((0 - ph) / p))
    k1 = int(np.floor((length - ph) / p))
    inner = np.round(ph + p * np.arange(k0, k1 + 1)).astype(np.int64)
    return finish_lines(inner, p, length, min_partial)


def finish_lines(inner: np.ndarray, p: float, length: int, min_partial: float = 0.5) -> np.ndarray:
    """Add the image borders to interior boundaries, dropping slivers at either end
    (narrower than ``min_partial`` cells; a cell of exactly that share stays, whatever
    the last bits of a fitted ``p``: 1 px of a 2-px cell is kept)."""
    return _jit.finish_lines(np.ascontiguousarray(inner, np.int64), float(min_partial * p - PARTIAL_TOL), int(length))


#: px: border cells within this of the sliver threshold count as at it (rounding)
PARTIAL_TOL = 1e-6


def line_contrast(profile: np.ndarray, lines: np.ndarray, cell: float,
                  widened: np.ndarray | None = None) -> float:
    """z-score of the edge strength on ``lines`` against everywhere else.

    A real grid puts edges on its lines and (almost) none between them; in a native
    image, or one without a grid, a comb picks up no more edge than any other
    positions.  Strength on a line is the max over +-1 px (rounding, drift) when
    cells are wide enough (>= 5 px) to leave positions between the lines; the
    positions between lines are then widened the same way (like with like).
    ``widened`` may pass that +-1 px maximum of ``profile`` precomputed.
    """
    e = np.asarray(profile, np.float64)
    n = len(e) - 1
    inner = lines[(lines > 0) & (lines < n)]
    if len(inner) < 2:
        return 0.0
    wide = cell >= 5
    near = np.zeros(n + 1, bool)
    near[inner] = True
    if wide:
        near[np.clip(inner - 1, 0, n)] = True
        near[np.clip(inner + 1, 0, n)] = True
        e = widened if widened is not None else maximum_filter1d(e, 3, mode="constant")
    near[[0, n]] = True
    others = e[~near]
    if len(others) < 2:
        return 0.0
    # null hypothesis: line strengths are drawn like all other positions
    se = others.std() / np.sqrt(len(inner)) + 1e-6 * (abs(e).mean() + 1e-12)
    return float((e[inner].mean() - others.mean()) / se)


def comb_phases(profile: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """:func:`phase` for many cell sizes at once: each comb's offset from the phase of
    the mean-removed profile's DTFT at ``1 / q`` (one compiled pass per size)."""
    e = np.asarray(profile, np.float64)
    centred = np.ascontiguousarray(e - e[1:-1].mean())
    return _jit.comb_phases(centred, np.ascontiguousarray(qs, np.float64))


def comb_contrasts(profile: np.ndarray, qs: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """:func:`line_contrast` of the uniform combs ``(qs[i], phases[i])`` (as laid by
    :func:`uniform_lines`), all at once: how far the profile on a comb's teeth (tooth
    positions rounded; for cells of 5 px and more the profile's 3-px running maximum,
    and the teeth's neighbours left out of the background) stands above the profile
    near no tooth, in standard errors.  Combs with fewer than two teeth score ``-inf``."""
    e = np.ascontiguousarray(profile, np.float64)
    emax = np.ascontiguousarray(maximum_filter1d(e, 3, mode="constant"))
    return _jit.comb_contrasts(e, emax, np.ascontiguousarray(qs, np.float64),
                               np.ascontiguousarray(phases, np.float64))


def comb_scan(profile: np.ndarray, min_cell: float, max_cell: float, k: int = 3,
              step: float = 0.01) -> list[tuple[float, float]]:
    """Dense scan of cell sizes by comb contrast; the ``k`` best local maxima as (size, z).

    For each size the comb takes its DTFT phase and scores how far the profile on
    its teeth (+-1 px for cells of 5 px and more) stands above the profile between
    them, in standard errors.  Slower than the spectrum but it needs no harmonics
    and no long profile: it proposes the sizes the other estimators miss on small,
    smooth or noisy images.
    """
    e = np.asarray(profile, np.float64)
    n = len(e) - 1
    hi = min(max_cell, n / 3.0)
    if n < 8 or hi <= min_cell:
        return []
    qs = np.exp(np.arange(np.log(min_cell), np.log(hi), step))
    zs = comb_contrasts(e, qs, comb_phases(e, qs))
    peak = (zs == maximum_filter1d(zs, 5, mode="nearest")) & np.isfinite(zs)
    idx = np.flatnonzero(peak)
    idx = idx[np.argsort(-zs[idx])][:k]
    return [(float(qs[i]), float(zs[i])) for i in idx]


def refine_comb(profile: np.ndarray, q: float, ph: float, reach: float = 0.3,
                iters: int = 3) -> tuple[float, float, int]:
    """Sub-pixel cell size and phase by regression on the profile's peaks.

    Near every tooth ``ph + k q`` of the comb the profile's strongest position is
    located to sub-pixel precision (parabola through its neighbours); a weighted
    straight-line fit of those positions against ``k`` gives the comb that runs
    through them.  Teeth whose peak lies off the line (boundaries that show no
    edge, detail nearby) are dropped and the fit repeated with a narrower reach.
    Returns ``(q, ph, teeth used)``; the input when too few teeth carry a peak.
    """
    q, ph, used = _jit.refine_comb(np.ascontiguousarray(profile, np.float64), float(q), float(ph), float(reach),
                                   int(iters))
    return float(q), float(ph), int(used)
