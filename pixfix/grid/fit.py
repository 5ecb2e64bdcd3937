"""Per-line refinement: non-uniform cell boundaries snapped to edge peaks.

AI renderers draw cells whose widths wander (0.6x to 1.4x the mean) and the
error accumulates, so a uniform comb drifts off the real boundaries.  We choose
the boundary positions ``b_1 < b_2 < ...`` that maximise

    sum_k s(b_k)  -  sum_k pen(b_k - b_{k-1})

where ``s`` is the edge profile normalised so that a typical cell boundary
scores 1 and a cell interior 0, and ``pen`` is a quadratic cost on a spacing's
deviation from the cell size.  This is a shortest-path problem over positions,
solved exactly by dynamic programming, position by position in a compiled
loop (:func:`._jit.boundary_dp`).  The lines are then tuned on the data
themselves, the box model's residual plus a width prior: each moved to where
the blocks on both sides are most uniform (:func:`polish_lines`), and pairs that
saw one boundary twice merged into one (:func:`merge_lines`).
"""
from __future__ import annotations

import numpy as np

from . import _jit
from .period import finish_lines


def normalised_strength(profile: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """Profile rescaled so the interior level is 0 and a typical boundary (upper
    quartile of the strengths at the ``guide`` lines, +-1 px) is 1."""
    return _jit.normalised_strength(np.ascontiguousarray(profile, np.float64),
                                    np.ascontiguousarray(guide, np.int64))


#: weight of a line's squared distance (px) to the nearest comb line, before the cap
ANCHOR_K = 0.3


def refine_lines(profile: np.ndarray, p: float, guide: np.ndarray, jitter: float = 0.2,
                 stiffness: float = 1.0, spread: float = 0.4, min_partial: float = 0.5,
                 phase: float | None = None, anchor: float = 0.3, after: np.ndarray | None = None) -> np.ndarray:
    """Boundaries (pixel-edge coordinates, with the image borders) following the edges.

    ``profile`` has length L+1 (see :func:`pixfix.grid.edges.edge_profiles`), ``p`` is
    the mean cell size, ``guide`` the uniform-grid boundaries used to normalise the
    profile.  ``jitter`` is the expected relative spread of cell widths, ``stiffness``
    the weight of the spacing cost, ``spread`` the largest relative deviation allowed.

    Integer spacings with a fractional mean are biased by a cost on each spacing
    alone (with ``p`` = 4.7, runs of 5 are cheaper than the true 5,5,4 mix), so
    where the edges say nothing the line count would drift.  With ``phase`` given,
    each line also pays for its distance to the nearest line of the uniform comb
    (``phase``, ``p``), capped at ``anchor`` (below a real edge's score of 1): flat
    regions keep the comb's count, real edges still win.

    ``after``: boundaries of a first pass; the expected width is then the local one,
    as that pass's lines on real edges show it (:func:`local_widths`), and the anchor a
    comb that drifts with it: AI cells drift slowly, so the count in a run without
    edges follows the cells around it, not the image's mean size.  Those lines come
    back unchanged when that comb never strays :data:`DRIFT_MIN` from the uniform one.
    """
    length = len(profile) - 1
    strength = normalised_strength(profile, guide)
    dmin = max(1, int(np.floor((1 - spread) * p)))
    dmax = max(dmin, int(np.ceil((1 + spread) * p)))
    if length < 2 * dmin:
        return finish_lines(guide[1:-1], p, length, min_partial)
    if after is None:
        width = np.full(length + 1, float(p))
        index = (np.arange(length + 1, dtype=np.float64) - phase) / p if phase is not None else None
    else:
        inner = np.asarray(after, np.int64)
        inner = inner[(inner > 0) & (inner < length)]
        width, index = local_widths(inner, strength, p, length)
        if index is None:
            return finish_lines(inner, p, length, min_partial)
        # a comb drifting less than a fraction of a cell from the uniform one over the
        # whole axis puts every run's count where the first pass put it: nothing to redo
        if phase is not None and _jit.comb_offset(index, float(phase), float(p)) < DRIFT_MIN:
            return finish_lines(inner, p, length, min_partial)
    s = strength
    if index is not None and anchor > 0:
        frac = index - np.round(index)
        s = s - np.minimum(ANCHOR_K * (frac * width) ** 2, anchor)
    sd = max(jitter * p, 0.75)  # integer positions: spacings wobble by a pixel anyway
    if after is None:  # one expected width everywhere: one row of penalties
        pen = stiffness * 0.5 * ((np.arange(dmin, dmax + 1) - p) / sd) ** 2
    else:  # the expected width of a cell ending at b: the local width at its centre
        pen = _jit.spacing_penalties(length, dmin, dmax, width, float(stiffness), float(sd))
    score, back = _jit.boundary_dp(np.ascontiguousarray(s, np.float64), length, dmin, dmax,
                                   np.ascontiguousarray(np.atleast_2d(pen), np.float64), pen.ndim == 2)
    return finish_lines(_jit.best_path(score, back, length, dmax), p, length, min_partial)


#: cells (Gaussian sd, in cells) over which the local width of a drifting grid is averaged
DRIFT_WINDOW = 4.0
#: weight of the mean cell size in each local average (cells' worth): where no boundary
#: shows an edge nearby, the local width is the mean one
DRIFT_PRIOR = 1.0
#: a local comb that strays less than this (cells) from the uniform one is the uniform one
DRIFT_MIN = 0.1


def local_widths(lines: np.ndarray, strength: np.ndarray, p: float,
                 length: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Local cell width at every position 0..length and the cell index of a comb drifting
    with it, from boundaries ``lines`` (interior, increasing): widths of cells whose
    both boundaries sit on edges (``strength``, 1 = a typical boundary) averaged over
    :data:`DRIFT_WINDOW` cells, shrunk to ``p`` by :data:`DRIFT_PRIOR`; the index is
    the integral of 1 / width, phased to the lines (circular mean); ``None`` for fewer
    than three lines.  Compiled (:func:`._jit.local_widths`)."""
    inner = np.ascontiguousarray(lines, np.int64)
    if len(inner) < 3:
        return np.full(length + 1, float(p)), None
    return _jit.local_widths(inner, np.ascontiguousarray(strength, np.float64), float(p), int(length),
                             float(DRIFT_WINDOW), float(DRIFT_PRIOR))


def polish_lines(cs: np.ndarray, cq: np.ndarray, lines: np.ndarray, cell: float, noise: float,
                 reach: int = 2, rounds: int = 6, jitter: float = 0.15, spread: float = 0.35,
                 values: int | None = None) -> np.ndarray:
    """Move every boundary to where the blocks on either side are most uniform.

    Each interior line may end up to ``reach`` px from where it started (over all
    rounds: the edges placed it, the polish only centres it on its ramp; a line
    free to walk follows colour gradients inside flat cells); lines of one parity do
    not interact, so they move together, then the other parity, for a few rounds
    (coordinate descent on the box model's residual).  A blurred boundary ends up
    at the centre of its ramp; the number of cells does not change.  Where moving
    a line changes the residual by less than the noise (flat regions), a prior on
    cell widths (``cell``, sd ``jitter * cell``, priced in noise variance per
    column: ``noise`` x rows) keeps the lines evenly spaced.  ``values``: data values per
    position along the axis (``cs.shape[1]`` unless the data were compressed).
    """
    b = np.ascontiguousarray(lines, np.int64)
    if len(b) < 3:
        return b.copy()
    sd, wmin, wmax, price = _width_prior(cs, cell, noise, jitter, spread, values)
    return _jit.polish_lines(np.ascontiguousarray(cs, np.float64), np.ascontiguousarray(cq, np.float64), b,
                             float(cell), price, int(reach), int(rounds), sd, wmin, wmax)


def _width_prior(cs: np.ndarray, cell: float, noise: float, jitter: float, spread: float,
                 values: int | None) -> tuple[float, float, float, float]:
    """The width prior of :func:`polish_lines` and :func:`merge_lines`: its sd (px),
    the narrowest and widest cell allowed, and its price (noise variance per column
    times the values per position, halved: a Gaussian's log-likelihood)."""
    sd = max(jitter * cell, 0.5)
    wmin, wmax = max(1.0, (1 - spread) * cell), (1 + spread) * cell
    price = 0.5 * max(noise, 1e-3) * (cs.shape[1] if values is None else values)
    return float(sd), float(wmin), float(wmax), float(price)


def merge_lines(cs: np.ndarray, cq: np.ndarray, lines: np.ndarray, cell: float, noise: float,
                rounds: int = 8, jitter: float = 0.15, spread: float = 0.35,
                values: int | None = None) -> np.ndarray:
    """Drop the extra line where the edges misled the boundary search into seeing one
    boundary twice (a weak edge between two cells, placed once on either side of it,
    with a sliver of a cell between): two neighbouring lines are replaced by one,
    anywhere between their neighbours, when that lowers the box model's residual plus
    the width prior of :func:`polish_lines` (same ``cell``, ``noise``, ``jitter``,
    ``spread``, ``values``).  Fewer cells never fit better by chance, so the move
    needs no price.  (The opposite move, one line split in two where two boundaries
    lie close, always fits better and would need one; on the benchmark no price
    tried helped: a colour wash inside wide cells pays for splits as well as a
    missed boundary does.)  Greedy, the best move first, at most ``rounds`` moves."""
    b = np.ascontiguousarray(lines, np.int64)
    if len(b) < 4:
        return b.copy()
    sd, wmin, wmax, price = _width_prior(cs, cell, noise, jitter, spread, values)
    return _jit.merge_lines(np.ascontiguousarray(cs, np.float64), np.ascontiguousarray(cq, np.float64), b,
                            float(cell), price, sd, wmin, wmax, int(rounds))
