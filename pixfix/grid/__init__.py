"""Grid detection: where are the cells of a (degraded) pixel-art image?

Per axis (width and height are fitted separately; each axis's answer is offered
to the other as a candidate, so square cells are a prior, not a rule):

1. edge profiles (:mod:`.edges`): neighbour differences, ridge centres and
   curvature, on a denoised copy when the image is noisy, with the JPEG codec's
   16-px lattice notched out when the image is block-coded;
2. candidate cell sizes (:mod:`.period`): autocorrelation, spectral and comb
   peaks of every profile and their harmonics, each tuned to sub-pixel size and
   phase by a regression through the profile's peaks;
3. the model check (:mod:`.model`) decides.  A grid explains the image when
   each row is reproduced, in least squares, by its cell values and a
   resampling kernel (box, soft box, linear, cubic, Lanczos; the best one is
   kept).  Grids as fine as the true cells or finer all explain it about equally
   well; the first grid coarser than the cells cannot, and its error jumps.  A
   candidate ``q`` is scored by the elbow of the log residual over the scale
   chain, ``log r(2q) - 2 log r(q) + log r(q/2)`` (twice as coarse loses much,
   twice as fine gains little; the finer grid gets its own best kernel), plus
   the dip against the same grid stretched and squeezed by a third of a cell (of
   at most :data:`STRETCH_CELL` px) over the image (a grid locked to the cells fits
   clearly better than its neighbours in size; never more clearly than to its own
   coarsening).  The chain is made consistent over the candidates: ``r(q/2)`` and ``r(2q)`` are the
   best residuals found at those scales.  The leaders and the strongest combs are
   polished (scale and shift, then each line) to the residual's optimum.  Residuals
   are taken over a floor, the noise level: from difference statistics, lowered to
   what the candidates' own residuals show (:func:`_model_floor`).  No threshold on
   it and no price per cell: the elbow is where the cells are;
4. a clean upscale is settled first, cheaply: when the image repeats exact values
   and a uniform comb of boxes reproduces it exactly (and no smooth kernel does
   better), all such grids are adequate and the coarsest of them is the cells;
   only the other images go through the full check.  An image is native (one
   pixel per cell) only when it repeats exact values and no grid explains nearly
   all of its variation more clearly than 1 px cells do;
5. per-line refinement (:mod:`.fit`) for drifting (AI) grids: lines placed on
   the edge profile by dynamic programming, expecting the mean cell width and,
   in a second set, the local width the first set's edge-backed cells show; then
   moved to the box model's optimum; they must keep the seed comb's cell count
   (the same cells, displaced) and beat the uniform comb clearly to be kept;
6. the square prior: when the axes disagree, the axis whose evidence for its own
   size over the other axis's size is weaker than the prior odds of square cells
   takes the other's size (:func:`_square_prior`).  A harmonic on one axis (2x,
   2/3x of the cells) often scores only a little better than the true size
   there, while the other axis has it clearly.  Native cells are cells too: on a
   losslessly stored image, an axis whose inexact grid barely beats its own pixels
   goes native when the other axis is native (:func:`_native_prior`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from . import _jit
from .edges import (curvature_profile, edge_profile, edge_profiles, exact_repeats, jpeg_blockiness,
                    linear_features, noise_sigma, remove_block_pattern, to_features)
from .fit import merge_lines, polish_lines, refine_lines
from .model import (CLIP_MARGIN, GRID_KERNELS, axis_matrix, axis_residual_y, censored_residual_y, clipped,
                    compress_columns, row_subset)
from .period import (acf_peaks, autocorrelation, comb_contrasts, comb_phases, comb_scan, finish_lines, line_contrast,
                     refine_comb, top_periods, uniform_lines)

__all__ = ["Grid", "AxisFit", "detect_grid", "grid_from_cell", "to_features", "edge_profiles", "line_contrast"]


@dataclass
class AxisFit:
    """Boundaries along one axis and how they were found."""

    lines: np.ndarray          # boundaries in pixel-edge coordinates, increasing, first 0, last = length
    cell: float                # mean cell size (px)
    phase: float               # offset of the uniform comb in [0, cell)
    refined: bool              # True when per-line refinement replaced the uniform comb
    cost: float                # model residual (mean squared, linear RGB units) of the chosen grid
    margin: float              # 0..1: how clearly the chosen cell size beat the others
    kernel: str = "nearest"    # resampling kernel of the model that explained the image best
    candidates: list[tuple[float, float]] = field(default_factory=list)  # (cell, jump) scored
    proposals: list[tuple[float, float]] = field(default_factory=list)   # (cell, comb z) proposed
    raw: list = field(default_factory=list)  # per-candidate diagnostics (cell, residuals, score)
    exact: bool = False        # blocks reproduce the image exactly (a clean nearest-neighbour upscale)
    score: float = float("-inf")  # evidence for the chosen grid (:func:`candidate_score`)
    native_score: float = float("-inf")  # ... for native (1-px) cells, when they were considered

    @property
    def n_cells(self) -> int:
        return len(self.lines) - 1

    @classmethod
    def one_pixel(cls, length: int, margin: float, **diagnostics) -> "AxisFit":
        """Native cells (one pixel each) along an axis of ``length`` px."""
        return cls(lines=np.arange(length + 1), cell=1.0, phase=0.0, refined=False, cost=0.0, margin=margin,
                   **diagnostics)


@dataclass
class Grid:
    """Detected grid: column boundaries ``xs`` and row boundaries ``ys``."""

    x: AxisFit
    y: AxisFit
    sigma: float               # estimated noise level (Lab units)
    jpeg: bool = False         # the image carries JPEG's 8-px block pattern (block-coded)

    @property
    def xs(self) -> np.ndarray:
        return self.x.lines

    @property
    def ys(self) -> np.ndarray:
        return self.y.lines

    @property
    def shape(self) -> tuple[int, int]:
        """Output size (rows, cols) in cells."""
        return self.y.n_cells, self.x.n_cells

    @property
    def native(self) -> bool:
        return self.x.cell <= 1.0 + 1e-9 and self.y.cell <= 1.0 + 1e-9

    @property
    def lossless(self) -> bool:
        """The image is native or a clean (nearest-neighbour) upscale: nothing was lost."""
        return all(a.cell <= 1.0 + 1e-9 or a.exact for a in (self.x, self.y))

    @property
    def confidence(self) -> float:
        """0..1: how clearly the chosen grid beat its alternatives on both axes."""
        return float(np.clip(min(self.x.margin, self.y.margin), 0.0, 1.0))


def _same_size(a: float, b: float) -> bool:
    """Cell sizes within :data:`ASPECT_TOL` of each other (log ratio): square cells."""
    return abs(np.log(a / b)) <= ASPECT_TOL


def _near_size(size: float, target: float, start: float) -> bool:
    """``size`` (a refit towards ``target`` from ``start``) counts as ``target``'s size:
    within :data:`ASPECT_TOL`, or within twice that and closer than ``start`` was.  A
    drifting grid's mean width, measured again after the border slivers are dropped,
    moves by a few per cent."""
    d = abs(np.log(size / target))
    return d <= ASPECT_TOL or (d <= 2 * ASPECT_TOL and d < abs(np.log(start / target)))


def _close(q: float, qs: list[float], tol: float) -> bool:
    return any(abs(q - c) <= tol * c for c in qs)


def _proposals(profiles: list[np.ndarray], lo: float, hi: float) -> list[float]:
    """Candidate cell sizes from every profile: autocorrelation, spectral and comb
    peaks, plus their halves and thirds (a comb of p/2 is periodic at p too, and a
    profile may only show the even boundaries)."""
    raw: list[float] = []
    for prof in profiles:
        acf = autocorrelation(prof)
        raw += [p for p, _ in acf_peaks(acf, lo, hi, k=3)]
        raw += [p for p, _ in top_periods(prof, lo, hi, k=3)]
        raw += [p for p, _ in comb_scan(prof, lo, hi, k=3)]
    out: list[float] = []
    for p in raw:
        for m in (1.0, 0.5, 1.0 / 3.0, 2.0):
            q = p * m
            if lo * 0.98 <= q <= hi * 1.02 and not _close(q, out, DEDUPE):
                out.append(q)
    return out


def _lattice(q: float, ph: float, length: int) -> np.ndarray:
    """Fractional boundaries of the uniform comb ``ph + k q`` with the image borders."""
    return _jit.lattice(float(q), float(ph), int(length))


def _coarsened(lines: np.ndarray, length: int, m: int = 2) -> list[np.ndarray]:
    """The ``m`` grids ``m`` times as coarse as ``lines``: every ``m``-th interior line kept."""
    inner = lines[1:-1]
    return [np.concatenate([[0.0], inner[s::m], [float(length)]]) for s in range(m)]


def _refined(lines: np.ndarray) -> np.ndarray:
    """The grid twice as fine as ``lines``: a line added midway in every inner cell."""
    return np.sort(np.concatenate([lines, 0.5 * (lines[1:-2] + lines[2:-1])]))


def _warp(lines: np.ndarray, scale: float, shift: float, length: int) -> np.ndarray:
    """``lines`` stretched by ``scale`` about the image centre and moved by ``shift``;
    lines leaving the image are dropped and the ends continued with the outer spacing,
    so the grid still covers the whole axis."""
    return _jit.warp(np.ascontiguousarray(lines, np.float64), float(scale), float(shift), int(length))


@dataclass
class _Candidate:
    """One candidate grid along an axis and the residuals that judge it."""

    q: float                   # cell size it was seeded with
    ph: float
    z: float                   # comb contrast in the edge profile
    lines: np.ndarray          # fractional boundaries, first 0 and last = length
    r: float                   # residual of the grid
    kernel: str
    r_fine: float = 0.0        # ... of the grid twice as fine
    r_coarse: float = 0.0      # ... of the best grid twice as coarse
    r_stretch: float = 0.0     # ... of the grid stretched and squeezed a little (geometric mean)
    score: float = -np.inf
    follows: bool = False      # lines follow the edges (not a uniform comb)


#: the dip's stretch moves the end lines by a third of a cell, but of at most this many
#: px: a coarse harmonic stretched by a third of its own cell is thrown off whole cells
#: of the finer detail it does not model, and that misfit counts as its lock to the
#: cells (a 2x2-block icon under noise: 28 cells of 13.9 px came out as 6 of 60 px);
#: at 20 px, seeds 0-7 of the benchmark gain 4 grids and lose none
STRETCH_CELL = 20.0
#: how much the cell widths of edge-following lines may vary (sd over their mean, beyond
#: their rounding to whole pixels: :func:`cells_alike`) for them to count as the seed's
#: grid drifting rather than an irregular model
DRIFT_SPREAD = 0.2
#: weight of the dip (alignment) against the elbow (scale) in a candidate's score
DIP_WEIGHT = 4.0
#: edge-following lines must beat the uniform comb by this much (log residual)
FOLLOW_GAIN = 0.3
#: and, in the final ranking, against the uniform combs of other sizes (score units)
FOLLOW_PRICE = 1.0
#: residual (8-bit RGB units squared per value) below which blocks reproduce an image
#: exactly: a clean nearest-neighbour upscale leaves none at all
EXACT_RESIDUAL = 0.02
#: a clean image is native unless its best grid leaves less than this share of its variance
NATIVE_UNEXPLAINED = 0.05
#: candidates judged by the model check (those with the strongest combs)
MAX_CANDIDATES = 1000
#: proposals closer than this (relative) are one candidate; a fractional upscale needs
#: its size to about 1/n_cells, and sub-pixel tuning only climbs to the nearest comb peak
DEDUPE = 0.005
#: tuned combs whose sizes differ by less than this (relative) are one comb
SAME_COMB = 0.003
#: how far (px) a polished comb's line may be moved onto a value change in the exact
#: check of a clean image (:func:`_snapped`): the rounding of a fractional grid
SNAP_REACH = 1.0
#: strongest other combs judged (as boxes) for the margin of an exact fit
QUICK_RIVALS = 6
#: cell sizes of the two axes within this (log ratio) count as square: a resize to a
#: rounded pixel size leaves up to a few per cent between them
ASPECT_TOL = 0.05
#: evidence (score units, :func:`candidate_score`) the square hypothesis may lack on one
#: axis and still be chosen: the prior odds of square cells.  Non-square pixel art is
#: rare, and a degraded axis often scores a 2x harmonic a few units over its true size
#: (a 3-px JPEG icon: 7.2 for 6.2 px against 4.5 for 3.1 px, while the other axis has
#: 3.1 px clearly); a clean non-square image shows its own sizes by far more
SQUARE_PRIOR = 3.0
#: ... for the coarser axis taking the finer one's size when they differ by at least
#: :data:`HARMONIC_RATIO`: that axis was likely misread as a harmonic (a 2x2-block icon
#: under noise shows its 1-cell details weakly on one axis: 19.7 px against 9.9 px,
#: a deficit of 4.1), and if not, the finer size only repeats its cells.  The finer
#: axis giving up its detail for the coarser size keeps :data:`SQUARE_PRIOR`: 2:1
#: non-square art (retro wide pixels) under noise or JPEG must keep its two sizes
HARMONIC_PRIOR = 6.0
HARMONIC_RATIO = 1.5
#: rank bonus that makes a fit choose the preferred size when any candidate is near it
PREFER_BONUS = 1e3
#: candidates tuned to the residual's optimum before the final choice
POLISH_TOP = 3
#: ... and, besides them, the candidates with the strongest combs in the edge profile
POLISH_STRONGEST = 2
#: cells the polish may move the end lines by (stretch) and the grid by (shift)
POLISH_REACH = 0.5
#: edge-following lines are also placed expecting the local cell width (:func:`.fit.refine_lines`)
DRIFT = True
#: combs of at least this many cells have their size scanned on the box residual
#: (:meth:`_Scorer.scan_comb`), moving the far end by up to SCAN_CELLS cells
SCAN_MIN_CELLS = 100.0
SCAN_CELLS = 2
#: combs of at least this many cells (and fewer than SCAN_MIN_CELLS) have the scanned
#: size added beside their own as a rival: over tens of cells the profile's size can
#: be a comb peak off (JPEG's detail), but it is right often enough to keep
SCAN_ADD_CELLS = 30.0
#: ... only the strongest this many combs (each scan costs a few box fits)
SCAN_ADD_TOP = 8
#: phases of every comb the box model judges (:meth:`_Scorer.scan_phase`); 2: the
#: profile's phase and half a cell over only
PHASE_STEPS = 8
#: candidates beaten on residual by a grid with fewer cells rank last (:func:`_undominated_first`)
DOMINANCE = True
#: edge-following lines that saw one boundary twice lose the extra line (:func:`.fit.merge_lines`)
MERGE = True
#: an edge-following line set may differ from its seed's uniform comb by this many cells
#: (or this share of them, if more): the drift of the same cells over the axis
DRIFT_COUNT_CELLS = 2.0
DRIFT_COUNT_SHARE = 0.03
#: the chosen grid is tuned once more on the censored residual (clipped values as bounds)
CENSORED_POLISH = True
#: the residual floor is lowered to the noise the candidates' residuals show (:func:`_model_floor`)
MODEL_FLOOR = True
#: the leaders are judged again on the censored residual when at least this share of the
#: image is transparent and its alpha was resampled (:data:`SOFT_ALPHA`); 0: never
CENSORED_JUDGE = 0.05
#: how many leaders (each costs about 14 censored fits; on seeds 0-4 of the benchmark 3 and
#: 4 leaders give the same 1,260 outputs as 6, 2 lose a case: 4 keeps one in hand)
CENSORED_TOP = 4
#: share of alpha values strictly between the clipped ends that marks resampled
#: transparency (a smooth kernel's ramps at the sprite's border)
SOFT_ALPHA = 0.005
#: share of neighbour pairs repeating exact values (:func:`.edges.exact_repeats`) from which an
#: image without JPEG's block pattern counts as stored losslessly: white noise of more than
#: about one 8-bit unit would leave almost no exact repeats, so the native hypothesis is
#: measured over the quantisation floor (:data:`FLOOR_MIN`), not the noise estimate, which
#: on a small sprite with 1-px detail on most pixels takes that detail for noise
LOSSLESS_REPEATS = 0.3
#: the least residual floor: 8-bit quantisation
FLOOR_MIN = 0.25


def cells_alike(widths: np.ndarray, spread: float = DRIFT_SPREAD) -> bool:
    """Whether integer cell ``widths`` vary no more than a drifting grid's cells do: by at
    most ``spread`` of their mean (sd), on top of the rounding of their boundaries to whole
    pixels.  Cells of mean width ``n + f`` (``n`` whole, ``0 <= f < 1``) drawn on a pixel
    grid are ``n`` and ``n + 1`` px wide in the ratio ``1 - f : f`` even when they are all
    alike, a variance of ``f (1 - f)`` px^2 (at 2.33 px, an sd of 0.2 of the mean from the
    rounding alone): it is added to the allowance, or the lines of a small drifting grid
    would be rejected for their rounding."""
    w = np.asarray(widths, np.float64)
    mean = float(np.mean(w))
    f = mean - np.floor(mean)
    return float(np.var(w)) <= (spread * mean) ** 2 + f * (1.0 - f)


def candidate_score(q: float, r: float, r_fine: float, r_coarse: float, r_stretch: float, floor: float) -> float:
    """How clearly a grid of cell size ``q`` with residual ``r`` is the image's grid.

    The elbow of the log-residual curve over the scale chain (twice as fine gains
    nothing, twice as coarse loses a lot) plus the dip against the same grid
    slightly stretched and squeezed (a grid locked to the cells fits clearly better
    than its neighbours in size).  A finer grid that fits worse (its best kernel at
    half the size is a worse match) gains nothing: that is no evidence for ``q``,
    or free lines over few boundaries, too fine, would win on their finer grid's
    misfit (an 8-row AI sprite: 27 cells of 4.4 px over 10 of 12.3 px).
    """
    lr = np.log(r + floor)
    elbow = np.log(r_coarse + floor) - 2 * lr + np.log(min(r_fine, r) + floor)
    dip = np.log(r_stretch + floor) - lr
    return float(elbow + DIP_WEIGHT * dip)


class _Scorer:
    """Residuals of candidate grids along one axis, uniform or edge-following."""

    def __init__(self, data: np.ndarray, profile: np.ndarray, kernels: tuple[str, ...], refine: bool,
                 min_partial: float, floor: float, memo: dict | None = None, prefer: float | None = None):
        raw = axis_matrix(data)
        self.values_per_line = raw.shape[1]  # rows x channels, before folding
        self.n_values = raw.size
        # a line of values constant along the axis (an opaque image's alpha, a flat row) is
        # reproduced exactly by every model (kernel weights sum to one): its residual is
        # zero, so it is counted in the mean residual but not fitted
        varying = np.ptp(raw, axis=0) > 0 if raw.shape[0] else np.ones(raw.shape[1], bool)
        if not varying.all():
            varying[int(np.argmax(varying))] = True  # keep one line: the fits need a column
            raw = np.ascontiguousarray(raw[:, varying])
        # the plain fits see the data only through the rows' inner products: a small
        # image's many rows x channels are folded into at most one column per pixel
        self.y = compress_columns(raw)
        self.lower = self.y is not raw  # folded (compress_columns returns raw itself otherwise): lower triangular
        self.yy = float(np.einsum("ij,ij->", self.y, self.y))
        # cumulative sums along the axis: the box model's residual of any cells, for the
        # segmentation of drifting grids and the box fits
        self.cs = np.concatenate([np.zeros((1, self.y.shape[1])), np.cumsum(self.y, axis=0)])
        self.cq = np.concatenate([[0.0], np.cumsum(np.einsum("ij,ij->i", self.y, self.y))])
        self.profile = profile
        self.length = data.shape[1]
        self.kernels = kernels
        self.refine = refine
        self.min_partial = min_partial
        self.floor = floor
        # a cell size to choose whenever a candidate near it exists (see :func:`_square_prior`)
        self.prefer = prefer
        # fits and line sets already computed (shared by copies and by a second pass)
        self.memo: dict = {} if memo is None else memo
        # values that may have been clipped (a smooth kernel's overshoot cut off at 0 / 255)
        self.raw = raw  # the censored fits need the values themselves
        self.hi, self.lo = clipped(raw)
        self.clips = bool(self.hi.any() or self.lo.any())

    def fit(self, lines: np.ndarray, q: float, kernels: tuple[str, ...] | None = None) -> tuple[float, str]:
        kernels = kernels or self.kernels
        key = (np.asarray(lines, np.float64).tobytes(), float(q), kernels)
        if key not in self.memo:
            self.memo[key] = axis_residual_y(self.y, self.yy, lines, q, kernels, (self.cs, self.cq), self.n_values,
                                             self.lower)
        return self.memo[key]

    def censored(self, lines: np.ndarray, q: float, kernel: str) -> float:
        """Residual of ``kernel``'s model for ``lines`` with clipped values as bounds
        (:func:`.model.censored_residual_y`): costlier, so only for the final tuning."""
        key = ("censored", np.asarray(lines, np.float64).tobytes(), float(q), kernel)
        if key not in self.memo:
            self.memo[key] = censored_residual_y(self.raw, self.hi, self.lo, lines, q, kernel, n_values=self.n_values)
        return self.memo[key]

    def censored_fit(self, lines: np.ndarray, q: float, kernels: tuple[str, ...] | None = None) -> tuple[float, str]:
        """:meth:`fit` on the censored residual: the least over ``kernels`` and that kernel."""
        return min((self.censored(lines, q, kn), kn) for kn in kernels or self.kernels)

    def line_sets(self, q: float, ph: float) -> list[np.ndarray]:
        """Grids of size ``q`` seeded at phase ``ph``: the uniform comb (at ``ph`` or half
        a cell over, as profiles may peak on cell centres: the box model picks, the
        misplaced comb is worse for every kernel) and lines that follow the edges
        (drifting grids)."""
        key = ("sets", float(q), float(ph))
        if key not in self.memo:
            self.memo[key] = self._line_sets(q, ph)
        return self.memo[key]

    def _line_sets(self, q: float, ph: float) -> list[np.ndarray]:
        n = self.length
        sets = [self.uniform(q, ph, 0.0).lines]
        n_comb = len(sets[0])
        if self.refine and n / q >= 4:
            guide = uniform_lines(ph % q, q, n, self.min_partial)
            # every boundary the edges show, also those of sliver cells at the borders: the
            # model check judges the lines as the image has them (a uniform comb keeps its
            # border lines too); slivers are dropped only from the output (_finish_axis)
            # free lines expecting the mean cell width, then expecting the local width those
            # lines show (cells drift slowly); the residual chooses, the drifting set on a tie
            plain = refine_lines(self.profile, q, guide, jitter=0.12, spread=0.35, min_partial=0.0, phase=ph % q)
            found = [plain]
            if DRIFT:
                drifting = refine_lines(self.profile, q, guide, jitter=0.12, spread=0.35, min_partial=0.0,
                                        phase=ph % q, after=plain)
                if not np.array_equal(drifting, plain):
                    found.insert(0, drifting)
            reach = max(1, int(round(0.2 * q)))
            for dp in found:
                dp = polish_lines(self.cs, self.cq, dp, q, self.floor, reach=reach, values=self.values_per_line)
                if MERGE:
                    fixed = merge_lines(self.cs, self.cq, dp, q, self.floor, values=self.values_per_line)
                    if not np.array_equal(fixed, dp):
                        dp = polish_lines(self.cs, self.cq, fixed, q, self.floor, reach=reach,
                                          values=self.values_per_line)
                dp = dp.astype(np.float64)
                widths = np.diff(dp[1:-1])
                # drift is slow and cells stay alike; lines that skip weak boundaries to sit
                # only on strong edges are a different (irregular) model, not a drifting grid;
                # and drifting lines are the seed's cells displaced, so they keep its count:
                # lines with more or fewer cells are another size's grid, which has its own
                # seed (from a seed 9 % off, lines over noise add cells and win as a "drift")
                same_cells = abs(len(dp) - n_comb) <= max(DRIFT_COUNT_CELLS, DRIFT_COUNT_SHARE * n_comb)
                if len(widths) >= 3 and cells_alike(widths) and same_cells and \
                        not any(np.array_equal(d, dp) for d in sets):
                    sets.append(dp)
        return sets

    def seed(self, q: float, ph: float, z: float) -> _Candidate:
        """The best grid seeded at ``(q, ph)``, with its best kernel.  Lines that follow
        the edges are a richer model than a uniform comb (they can skip boundaries that
        show no edge), so they are taken only when they explain the image clearly
        better."""
        best = None
        for i, lines in enumerate(self.line_sets(q, ph)):
            r, k = self.fit(lines, q)
            follows = i >= 1
            cost = np.log(r + self.floor) + (FOLLOW_GAIN if follows else 0.0)
            if best is None or cost < best[0]:
                best = (cost, r, k, lines, follows)
        _, r, k, lines, follows = best
        return _Candidate(q=q, ph=ph, z=z, lines=lines, r=r, kernel=k, follows=follows)

    def scan_comb(self, q: float, ph: float) -> tuple[float, float]:
        """The comb near ``(q, ph)`` that the box model fits best, over sizes that move
        the far end by up to :data:`SCAN_CELLS` cells in half-cell steps (each at its
        profile phase): the profile tunes a size only to its nearest comb peak, which
        over a few hundred cells can leave the far lines a cell or more off, beyond the
        polish's reach, while the box residual has a clear basin at the true size."""
        cells = self.length / q
        ks = np.arange(-2 * SCAN_CELLS, 2 * SCAN_CELLS + 1)
        qs = q * (1.0 + 0.5 * ks / cells)
        phs = comb_phases(self.profile, qs)
        phs[ks == 0] = ph

        def box(qk: float, pk: float) -> float:  # the comb at the better of its two phases, as uniform()
            return float(_jit.comb_box_rss(self.cs, self.cq, qk, np.array([pk % qk, (pk + qk / 2) % qk])).min())

        best = min((box(float(qk), float(pk)), float(qk), float(pk)) for qk, pk in zip(qs, phs))
        if best[1] == q:
            return q, ph
        there = self.uniform(best[1], best[2], 0.0).lines
        return (best[1], best[2]) if self._kernels_agree(q, self.uniform(q, ph, 0.0).lines, best[1], there) \
            else (q, ph)

    def scan_phase(self, q: float, ph: float) -> float:
        """The phase of size ``q`` whose comb the box model fits best, among
        :data:`PHASE_STEPS` phases evenly spaced from ``ph``: an edge profile can peak
        off the boundaries (JPEG's block edges removed with the cells' own, detail
        beside them), and a comb misplaced by a third of a cell loses to every other."""
        phases = (ph + q * np.arange(PHASE_STEPS) / PHASE_STEPS) % q
        best = float(phases[int(np.argmin(_jit.comb_box_rss(self.cs, self.cq, float(q), phases)))])
        here = self.uniform(q, ph, 0.0).lines
        there = _lattice(q, best, self.length)
        if np.array_equal(there, here):
            return ph
        return best if self._kernels_agree(q, here, q, there) else ph

    def _kernels_agree(self, q: float, here: np.ndarray, q2: float, there: np.ndarray) -> bool:
        """Whether the kernels' residual confirms the box model's move of a comb from
        ``here`` (size ``q``) to ``there`` (``q2``): the box residual only finds the
        basin, and a smooth kernel's cells can put the box's optimum a little off."""
        return self.fit(there, q2)[0] < self.fit(here, q)[0]

    def uniform(self, q: float, ph: float, z: float) -> _Candidate:
        """The uniform comb of size ``q`` at the better of its two phases, box model only
        (segment means, no linear solve: cheap)."""
        fits = [(self.fit(g, q, ("nearest",))[0], g) for g in (_lattice(q, ph % q, self.length),
                                                               _lattice(q, (ph + q / 2) % q, self.length))]
        r, lines = min(fits, key=lambda t: t[0])
        return _Candidate(q=q, ph=ph, z=z, lines=lines, r=r, kernel="nearest")

    def judge(self, c: _Candidate, censored: bool = False) -> _Candidate:
        """Measure what :func:`candidate_score` needs: the residuals of the grid twice as
        fine, twice as coarse, and slightly stretched and squeezed.  ``censored``: all of
        them (and the grid's own, with its best kernel again) on the residual with clipped
        values as bounds (costlier): where a smooth kernel's overshoot was cut off over
        much of the image (a sprite on transparency), the plain residual charges the true
        grid for the cut ringing."""
        n, q = self.length, _mean_cell(c.lines, c.q, self.length)
        resid = self.censored_fit if censored else self.fit
        if censored:
            r, kernel = resid(c.lines, q)
            c = _Candidate(q=c.q, ph=c.ph, z=c.z, lines=c.lines, r=r, kernel=kernel, follows=c.follows)
        k = (c.kernel,)
        # the finer grid with its own best kernel: a kernel right for these cells can be
        # wrong for cells half as wide, and that would make halving look futile
        c.r_fine = resid(_refined(c.lines), q / 2)[0]
        c.r_coarse = min(resid(g, 2 * q, k)[0] for g in _coarsened(c.lines, n))
        d = float(min(0.75 * min(q, STRETCH_CELL) / n, 0.1))  # the end cells move by about a third of a cell
        rs = [resid(_warp(c.lines, m, 0.0, n), q * m, k)[0] for m in (1 - d, 1 + d)]
        c.r_stretch = float(np.sqrt(max(rs[0], 0.0) * max(rs[1], 0.0)))
        if censored:  # no scale chain follows (:func:`_scale_chain`): its cap, here
            c.r_stretch = min(c.r_stretch, c.r_coarse)
        return self.rescore(c)

    def rescore(self, c: _Candidate) -> _Candidate:
        """``c.score`` from its residuals; free lines must pay for themselves against
        uniform combs too."""
        c.score = candidate_score(c.q, c.r, c.r_fine, c.r_coarse, c.r_stretch, self.floor)
        if c.follows:
            c.score -= FOLLOW_PRICE
        return c

    def bonus(self, c: _Candidate) -> float:
        """Rank bonus of a candidate near the preferred size (0 without one); sizes as
        the axis reports them (:func:`_line_slope`: the mean of drifting widths)."""
        if self.prefer is None:
            return 0.0
        return PREFER_BONUS if _same_size(_line_slope(c.lines, c.q), self.prefer) else 0.0

    def rank(self, c: _Candidate) -> float:
        return c.score + self.bonus(c)

    def polish(self, c: _Candidate, censored: bool = False) -> _Candidate:
        """Maximum-likelihood tuning of the grid's size and offset: coordinate descent
        on the residual over stretches about the centre and shifts, halving steps, within
        half a cell of the start at either end: finer grids always fit better, so a free
        walk from a comb at the wrong offset drifts to a finer harmonic (a 6-px comb
        half a cell off walked to 4 px).  ``censored``: on the residual with clipped
        values as bounds (the returned candidate's ``r`` is then that residual)."""
        n = self.length
        q = _mean_cell(c.lines, c.q, n)
        cells = max(n / q, 1.0)
        kernel, best_r = c.kernel, c.r
        if censored:  # the plain fit's kernel choice was misled by the clipping too
            best_r, kernel = self.censored_fit(c.lines, q)

        def resid(lines: np.ndarray, size: float) -> float:
            return self.censored(lines, size, kernel) if censored else self.fit(lines, size, (kernel,))[0]

        s, t = 1.0, 0.0
        ds, dt = min(0.02, 0.5 / cells), q / 8
        while ds > 0.02 / cells or dt > 0.05:
            moved = False
            for s2, t2 in ((s * (1 + ds), t), (s * (1 - ds), t), (s, t + dt), (s, t - dt)):
                if abs(s2 - 1.0) * cells > POLISH_REACH or abs(t2) > POLISH_REACH * q:
                    continue  # a local tuning: the end cells move by half a cell at most
                r2 = resid(_warp(c.lines, s2, t2, n), q * s2)
                if r2 < best_r - 1e-9:
                    best_r, s, t, moved = r2, s2, t2, True
                    break
            if not moved:
                ds, dt = ds / 2, dt / 2
        if s != 1.0 or t != 0.0 or censored:
            c = _Candidate(q=c.q * s, ph=c.ph, z=c.z, lines=_warp(c.lines, s, t, n), r=best_r, kernel=kernel,
                           follows=c.follows, r_fine=c.r_fine, r_coarse=c.r_coarse, r_stretch=c.r_stretch,
                           score=c.score)
        return c


#: a grid coarser by a whole factor replaces the chosen one when it explains the image
#: this nearly as well (log residual ratio): the finer grid was a harmonic of the cells
COARSEN_TOL = 0.3


def _coarsest_equivalent(scorer: "_Scorer", c: "_Candidate") -> "_Candidate":
    """Climb from ``c`` to its coarsest sub-grid (every 2nd or 3rd line) that fits as well."""
    f, n = scorer.floor, scorer.length
    for _ in range(4):
        q = _mean_cell(c.lines, c.q, n)
        best = None
        for m in (2, 3):
            if n / (q * m) < 2:
                continue
            for g in _coarsened(c.lines, n, m):
                r = scorer.fit(g, q * m, (c.kernel,))[0]
                if np.log(r + f) - np.log(c.r + f) < COARSEN_TOL and (best is None or m > best[0]):
                    best = (m, r, g)
        if best is None:
            return c
        m, r, g = best
        c = scorer.judge(_Candidate(q=q * m, ph=c.ph, z=c.z, lines=g, r=r, kernel=c.kernel, follows=c.follows))
    return c


#: whole factors by which an exact grid may be coarser than the exact lines found
EXACT_COARSEN = 12


def _coarsest_exact(box: _Scorer, c: _Candidate) -> _Candidate:
    """The coarsest sub-grid of the exact grid ``c`` (every ``m``-th line, for any whole
    ``m`` up to :data:`EXACT_COARSEN`, at least two cells) that still reproduces the image
    exactly with blocks.  Every comb a whole factor finer than a clean upscale's cells is
    exact too (a 20.2-px upscale: a 4.04-px comb holds all its rounded boundaries), and
    the polished comb of the cells themselves can miss exactness by a rounding; the
    cells are the coarsest exact grid, whatever the factor (:func:`_coarsest_equivalent`
    climbs by 2 and 3 only)."""
    n = box.length
    q = _mean_cell(c.lines, c.q, n)
    for m in range(min(EXACT_COARSEN, int(n // (2 * q))), 1, -1):  # the coarsest first
        for g in _coarsened(c.lines, n, m):
            r = box.fit(g, q * m)[0]
            if r <= EXACT_RESIDUAL:
                return _Candidate(q=q * m, ph=c.ph, z=c.z, lines=g, r=r, kernel="nearest", follows=c.follows)
    return c


#: the exact check's fine scan of a polished comb (:func:`_rephased`): sizes within
#: this many cells at the far end, in steps of a tenth of one, and phases per cell
EXACT_SCAN_CELLS = 0.5
EXACT_SCAN_PHASES = 64


def _rephased(box: _Scorer, c: _Candidate) -> _Candidate | None:
    """The uniform comb near ``c`` (sizes moving the far end by up to
    :data:`EXACT_SCAN_CELLS` cells, :data:`EXACT_SCAN_PHASES` phases per cell) that the
    box model fits best, or ``None`` when it is no better than ``c``.  A fractional
    upscale is exact only over a narrow band of phases (every rounded boundary must land
    on its pixel), narrower than the polish's last step, so the polish can stop a few
    hundredths of a pixel beside it with a residual far from zero."""
    n = box.length
    q = _mean_cell(c.lines, c.q, n)
    cells = max(n / q, 1.0)
    steps = np.arange(EXACT_SCAN_PHASES) / EXACT_SCAN_PHASES  # of a cell
    best = None
    for d in np.linspace(-EXACT_SCAN_CELLS, EXACT_SCAN_CELLS, 11) / cells:
        qd = q * (1.0 + d)
        rss = _jit.comb_box_rss(box.cs, box.cq, qd, qd * steps)
        k = int(np.argmin(rss))
        if best is None or rss[k] < best[0]:
            best = (float(rss[k]), qd, float(qd * steps[k]))
    _, qd, ph = best
    lines = _lattice(qd, ph, n)
    r = box.fit(lines, qd)[0]
    if r >= c.r:
        return None
    return _Candidate(q=qd, ph=ph, z=c.z, lines=lines, r=r, kernel="nearest")


def _snapped(lines: np.ndarray, changes: np.ndarray, reach: float) -> np.ndarray:
    """``lines`` with each interior line moved to the nearest of ``changes`` (sorted
    positions, pixel-edge coordinates) within ``reach`` px, where there is one;
    ``lines`` themselves when two of them would land on one change."""
    if len(changes) == 0 or len(lines) <= 2:
        return lines
    inner = lines[1:-1]
    j = np.searchsorted(changes, inner)  # the changes either side of each line
    left, right = changes[np.clip(j - 1, 0, len(changes) - 1)], changes[np.clip(j, 0, len(changes) - 1)]
    near = np.where(np.abs(inner - left) <= np.abs(right - inner), left, right)
    moved = np.where(np.abs(near - inner) <= reach, near, inner)
    out = np.concatenate([lines[:1], moved, lines[-1:]])
    if np.any(np.diff(out) <= 0):  # two lines on one change: keep the original lines
        return lines
    return out


def _exact_fit(scorer: _Scorer, combs: list[tuple[float, float, float]]) -> tuple[_Candidate, list] | None:
    """A clean nearest-neighbour upscale, settled cheaply: uniform blocks reproduce it
    exactly and the coarsest such grid is the cells (finer ones only split them);
    nothing to weigh.  Blocks must fit better than any smooth kernel too (a smooth,
    faint image is also reproduced almost exactly by small enough blocks).  A
    fractional size is only known to about 1/n cells from the edges, so when no comb
    is exact as proposed, the box model's leaders are made exact where they can be
    (:func:`_made_exact`).

    Returns the chosen grid and the judged rivals (for the margin), or ``None``.
    Every fit here uses the box alone, the right model for such an image: cheap."""
    length, kernels = scorer.length, scorer.kernels
    box = copy.copy(scorer)
    box.kernels = ("nearest",)
    boxes = [box.uniform(q, ph, z) for q, ph, z in combs]
    exact = [c for c in boxes if c.r <= EXACT_RESIDUAL]
    if not exact:
        ranked = sorted((box.judge(c) for c in boxes), key=lambda c: -c.score)
        changes = np.flatnonzero(np.any(box.raw[1:] != box.raw[:-1], axis=1)) + 1.0
        exact = _made_exact(box, ranked[:POLISH_TOP], changes)
    # the fewest cells first: snapped lines of a finer comb can be exact too, with the
    # same median width
    exact.sort(key=lambda c: (len(c.lines), -_mean_cell(c.lines, c.q, length)))
    lead = next((c for c in exact if box.fit(c.lines, c.q, kernels)[1] == "nearest"), None)
    if lead is None:
        return None
    best = _coarsest_equivalent(box, box.judge(_coarsest_exact(box, lead)))
    # rivals for the margin: the strongest other combs (judged above already, or now)
    rivals = [c if np.isfinite(c.score) else box.judge(c) for c in boxes[:QUICK_RIVALS] if c is not lead]
    return best, [best] + sorted(rivals, key=lambda c: -c.score)


def _made_exact(box: _Scorer, ranked: list[_Candidate], changes: np.ndarray) -> list[_Candidate]:
    """The grids near the combs ``ranked`` that the box model ``box`` reproduces the image
    with exactly: each comb polished, then scanned finely (:func:`_rephased`), and each
    result's lines snapped to the value ``changes`` (sorted pixel-edge positions)."""
    polished = [box.polish(c) for c in ranked]
    # exactness lies in a narrow band of phases that the polish's steps can miss: a
    # fine scan of size and phase about each polished comb (a 56-px axis of 3.15-px
    # cells: polished to 3.127 px, 0.09 px off that band, residual 56).  Only where a
    # grid of cells of 2 px or more could hold every value change on its lines: a
    # smooth upscale repeats values in its flat areas but changes nearly everywhere
    if len(changes) <= box.length / 2 + 2:
        polished += [p for p in (_rephased(box, c) for c in polished) if p is not None]
    # a long fractional comb must be right to a small fraction of a pixel over the
    # whole axis to reproduce the rounding of every boundary, finer than the polish
    # steps: its lines are also snapped to a value change (where a clean upscale has
    # its boundaries) less than a pixel away, which mends the rounding only (a comb
    # of the wrong size is off by more than that over most of the axis)
    snapped = []
    for c in polished:
        lines = _snapped(c.lines, changes, SNAP_REACH)
        if not np.array_equal(lines, c.lines):
            snapped.append(_Candidate(q=c.q, ph=c.ph, z=c.z, lines=lines, r=box.fit(lines, c.q)[0],
                                      kernel="nearest", follows=True))
    return [p for p in polished + snapped if p.r <= EXACT_RESIDUAL]


#: candidates this close (relative) to half or twice a grid's cell size stand for that scale
CHAIN_TOL = 0.04


def _scale_chain(scorer: _Scorer, judged: list[_Candidate]) -> list[_Candidate]:
    """Make the scale chain consistent across candidates, then score again.

    A candidate's finer and coarser grids are its own lines halved and thinned, but
    another candidate at half or twice its size may explain the image better (free
    lines fitted to the edges at that scale): ``r(q/2)`` and ``r(2q)`` are the best
    residuals found at those scales.  And a grid cannot be more clearly locked to the
    cells than it is to its own coarsening: the dip is capped by ``r(2q)`` (a grid
    twice as fine as the cells is locked too, since it holds every boundary, but its
    coarser grid fits as well, so the cap removes its dip).
    """
    length = scorer.length
    qs = np.array([_mean_cell(c.lines, c.q, length) for c in judged])
    rs = np.array([c.r for c in judged])
    for c, q in zip(judged, qs):
        c.r_fine = min([c.r_fine] + rs[np.abs(qs - q / 2) <= CHAIN_TOL * q / 2].tolist())
        c.r_coarse = min([c.r_coarse] + rs[np.abs(qs - 2 * q) <= CHAIN_TOL * 2 * q].tolist())
        c.r_stretch = min(c.r_stretch, c.r_coarse)
        scorer.rescore(c)
    return judged


def _mean_cell(lines: np.ndarray, q: float, length: int) -> float:
    """Mean cell size of ``lines`` (least squares over the interior lines, cells counted
    with their median width), ``q`` when there are too few."""
    return _jit.mean_cell(np.ascontiguousarray(lines, np.float64), float(q))


def _line_slope(lines: np.ndarray, q: float) -> float:
    """Mean cell size of consecutive boundaries: the least-squares slope of the interior
    lines over their index (partial border cells left out), ``q`` when too few.  Unlike
    :func:`_mean_cell` it needs no width estimate, so integer lines of a fractional
    grid (widths 3, 3, 2, ...) give their true mean (2.9), not the median width (3)."""
    inner = np.asarray(lines, np.float64)[1:-1]
    return float(np.polyfit(np.arange(len(inner)), inner, 1)[0]) if len(inner) >= 3 else q


def _strongest(combs: list[tuple[float, float, float]], extra: tuple[float, ...]) -> list[tuple[float, float, float]]:
    """The combs whose contrast stands out most (:data:`MAX_CANDIDATES`), strongest first,
    and those at the other axis's sizes ``extra``."""
    combs = sorted(combs, key=lambda c: -c[2])
    return combs[:MAX_CANDIDATES] + [c for c in combs[MAX_CANDIDATES:] if _close(c[0], list(extra), 0.01)]


def _tuned_combs(profiles: list[np.ndarray], lo: float, hi: float,
                 extra: tuple[float, ...] = ()) -> list[tuple[float, float, float]]:
    """The candidate combs ``(size, phase, contrast)`` of an axis: the profiles' proposed
    sizes in ``[lo, hi]`` and the other axis's sizes ``extra``, each tuned to sub-pixel
    size and phase on the profile whose comb shows it best, near-duplicates merged."""
    cands = _proposals(profiles, lo, hi)
    cands += [q for q in extra if lo <= q <= hi and not _close(q, cands, 0.005)]

    # tune every candidate's size and phase on the profile whose comb shows it best
    q0s = np.array(cands, np.float64)
    per_prof = []
    for prof in profiles:
        ph = comb_phases(prof, q0s)
        per_prof.append((comb_contrasts(prof, q0s, ph), ph))
    which = np.argmax(np.stack([z for z, _ in per_prof]), axis=0)
    qt, pht, zt = np.empty(len(cands)), np.empty(len(cands)), np.empty(len(cands))
    for i, q0 in enumerate(cands):
        z, ph0 = per_prof[which[i]][0][i], per_prof[which[i]][1][i]
        q, ph, _ = refine_comb(profiles[which[i]], q0, ph0)
        if not (lo * 0.98 <= q <= hi * 1.02):
            q, ph = q0, ph0
        qt[i], pht[i], zt[i] = q, ph, z
    for j, prof in enumerate(profiles):  # the tuned comb's contrast, on the profile that tuned it
        sel = which == j
        if sel.any():
            zt[sel] = np.maximum(zt[sel], comb_contrasts(prof, qt[sel], pht[sel]))
    combs: list[tuple[float, float, float]] = []
    for q, ph, z in zip(qt.tolist(), pht.tolist(), zt.tolist()):
        if not any(abs(q - c[0]) <= SAME_COMB * q and abs((ph - c[1] + q / 2) % q - q / 2) <= 0.05 * q
                   for c in combs):
            combs.append((q, ph, z))
    # the other axis's size is judged at its own best phase, also where a comb of about
    # that size was tuned already (tuning may have settled it at another size or phase)
    for qe in extra:
        if lo <= qe <= hi and not any(abs(c[0] - qe) <= SAME_COMB * qe for c in combs):
            at = []  # (contrast, phase) of the comb on each profile; the clearest one
            for prof in profiles:
                ph = comb_phases(prof, np.array([qe]))
                at.append((float(comb_contrasts(prof, np.array([qe]), ph)[0]), float(ph[0])))
            z, ph = max(at)
            combs.append((float(qe), ph, z))

    return combs


def _fit_axis(data: np.ndarray, profiles: list[np.ndarray], floor: float, min_cell: float, max_cell: float,
              refine: bool, min_partial: float, extra: tuple[float, ...] = (), allow_native: bool = True,
              lossless: bool = False, kernels: tuple[str, ...] = GRID_KERNELS,
              memo: dict | None = None, prefer: float | None = None, censored_judge: bool = False,
              unnotched: list[np.ndarray] | None = None, stored_lossless: bool = False) -> AxisFit:
    """Choose the cell size and boundaries along axis 1 of ``data`` (R, L, C linear features).

    ``profiles[0]`` is the edge profile lines are refined on; all profiles propose
    candidates.  ``lossless``: the image repeats exact values, so it may be a clean
    upscale that blocks reproduce exactly (checked first, cheaply).  ``floor`` is the
    residual a perfect model still leaves (noise, quantisation): jumps are measured on
    top of it.  ``memo`` keeps the fits for a second call on the same data (with
    another ``extra`` candidate).  ``prefer``: a cell size chosen whenever a candidate
    near it (:data:`ASPECT_TOL`) exists, whatever its score (for :func:`_square_prior`).
    ``censored_judge``: the leaders are judged again with clipped values as bounds
    (resampled transparency: :data:`CENSORED_JUDGE`).  ``unnotched``: the profiles before
    JPEG's block lattice was notched out of them (:func:`.edges.remove_block_pattern`), for
    the exact check of a lossless image (a clean upscale by a multiple of 8 steps at the
    block borders too, and the notch erases its own comb).  ``stored_lossless``: the image
    has no noise of its own (:data:`LOSSLESS_REPEATS`), for the native hypothesis.
    """
    length = data.shape[1]
    lo = max(min_cell, 2.0)
    hi = min(max_cell, length / 3.0)
    if hi < lo:
        return AxisFit.one_pixel(length, 0.5)

    combs = _tuned_combs(profiles, lo, hi, extra)
    if not combs:
        return AxisFit.one_pixel(length, 0.5)
    scorer = _Scorer(data, profiles[0], kernels, refine, min_partial, floor, memo, prefer)
    # the candidates whose combs stand out most, and the other axis's answer
    combs = _strongest(combs, extra)
    proposals = [(float(c[0]), float(c[2])) for c in combs]
    if lossless:
        exact_combs = combs if unnotched is None else _strongest(_tuned_combs(unnotched, lo, hi, extra), extra)
        found = _exact_fit(scorer, exact_combs)
        if found is not None:
            best, judged = found
            return _finish_axis(scorer, best, judged, data, floor, length, min_partial, allow_native, min_cell,
                                proposals, stored_lossless)
    if SCAN_CELLS > 0:  # long combs: the profile's size is too coarse for their far lines
        combs = [scorer.scan_comb(q, ph) + (z,) if length / q >= SCAN_MIN_CELLS else (q, ph, z)
                 for q, ph, z in combs]
    if SCAN_CELLS > 0 and SCAN_ADD_CELLS < SCAN_MIN_CELLS:
        added = []
        for q, ph, z in combs[:SCAN_ADD_TOP]:  # strongest first (:func:`_strongest`)
            if SCAN_ADD_CELLS <= length / q < SCAN_MIN_CELLS:
                q2, ph2 = scorer.scan_comb(q, ph)
                if not any(abs(q2 - c[0]) <= SAME_COMB * q2 for c in combs + added):
                    added.append((q2, ph2, z))
        combs = combs + added
    if PHASE_STEPS > 2:
        combs = [(q, scorer.scan_phase(q, ph), z) for q, ph, z in combs]
    judged = [scorer.judge(scorer.seed(q, ph, z)) for q, ph, z in combs]
    if MODEL_FLOOR:
        floor = scorer.floor = _model_floor(judged, floor, length)
        judged = [scorer.rescore(c) for c in judged]
    judged.sort(key=lambda c: -scorer.rank(c))
    # the leaders are tuned to the residual's optimum and judged again, and so are the
    # strongest combs: the edges show them clearly, but their size is only known to a
    # few tenths of a per cent, which over a hundred cells of a small grid puts the far
    # lines a third of a cell off and can leave them out of the leaders
    lead = set(range(min(POLISH_TOP, len(judged))))
    lead |= set(sorted(range(len(judged)), key=lambda i: -judged[i].z)[:POLISH_STRONGEST])
    top = [scorer.judge(scorer.polish(judged[i])) for i in sorted(lead)]
    judged = sorted(_scale_chain(scorer, top + [c for i, c in enumerate(judged) if i not in lead]),
                    key=lambda c: -scorer.rank(c))
    if censored_judge:  # the rest keep plain scores, which do not compare: they drop out
        judged = sorted((scorer.judge(c, censored=True) for c in judged[:CENSORED_TOP]), key=lambda c: -scorer.rank(c))
    if DOMINANCE:
        judged = _undominated_first(scorer, judged)
    # (no exactness shortcut here: free lines fine enough reproduce a flat, lightly
    # blurred image almost exactly too; exact fits of clean upscales were settled above)
    lead = judged[0]
    if allow_native and min_cell <= 1.0:
        # a grid must explain nearly all the image's variation (or the pixels stay native,
        # :func:`_finish_axis`), so the choice is the best-ranked grid that does (a JPEG's
        # coarse harmonic may score higher while leaving its detail unexplained)
        lead = _explaining(judged, NATIVE_UNEXPLAINED * (_data_var(data) + floor))
    best = _coarsest_equivalent(scorer, lead)
    if CENSORED_POLISH and scorer.clips and best.kernel != "nearest":
        # a smooth kernel's overshoot clipped at 0 / 255 (an outline on white or black,
        # a sprite on transparency) misleads the plain residual about size and offset
        best = scorer.polish(best, censored=True)
    return _finish_axis(scorer, best, judged, data, floor, length, min_partial, allow_native, min_cell, proposals,
                        stored_lossless)


def _undominated_first(scorer: _Scorer, judged: list[_Candidate]) -> list[_Candidate]:
    """``judged`` (in rank order) with every dominated candidate moved behind the rest.

    A grid with more cells is a richer model: when it is the image's grid, no grid with
    fewer cells fits better.  So a candidate that another one with strictly fewer cells
    beats on residual (at the same preference bonus) is no explanation of the image,
    whatever its scale-chain score says.  The fewest-cell candidate of each bonus group
    is never dominated, so the head of the list is always an undominated one.
    """
    ns = np.array([len(c.lines) - 1 for c in judged])
    rs = np.array([c.r for c in judged])
    bs = np.array([scorer.bonus(c) for c in judged])
    dominated = [bool(np.any((ns < n) & (rs < c.r) & (bs == b))) for c, n, b in zip(judged, ns, bs)]
    return [c for c, d in zip(judged, dominated) if not d] + [c for c, d in zip(judged, dominated) if d]


def _model_floor(judged: list[_Candidate], floor: float, length: int) -> float:
    """The residual floor, lowered to what the candidates show the noise to be.

    A linear model with ``n`` cell values per line of ``L`` values leaves, when it contains
    the truth, a mean residual of ``sigma^2 (1 - n / L)``; a model that does not leaves more.
    So ``r L / (L - n)`` over the candidates, at its least, estimates the noise variance
    ``sigma^2`` from above.  The difference statistics of :func:`_axis_noise` overestimate
    it where cells are smooth inside (Lanczos ringing, blur), and an overestimated floor
    flattens every log-residual ratio the scores are made of."""
    est = [c.r * length / (length - (len(c.lines) - 1)) for c in judged if len(c.lines) - 1 <= length / 2]
    return float(max(min([floor] + est), FLOOR_MIN))


def _explaining(judged: list[_Candidate], bound: float) -> _Candidate:
    """The first of the ranked candidates ``judged`` whose mean residual is at most
    ``bound``; the first of all when none is (the axis is then judged native)."""
    return next((c for c in judged if c.r <= bound), judged[0])


def _data_var(data: np.ndarray) -> float:
    """Mean variance per channel of ``data`` (R, L, C): what a grid must explain."""
    return float(np.mean(np.var(data, axis=(0, 1))))


def _finish_axis(scorer: _Scorer, best: _Candidate, judged: list[_Candidate], data: np.ndarray, floor: float,
                 length: int, min_partial: float, allow_native: bool, min_cell: float,
                 proposals: list[tuple[float, float]], stored_lossless: bool = False) -> AxisFit:
    """The chosen grid ``best`` as an :class:`AxisFit`, unless native pixels explain the
    image better; the margin over ``judged`` (the other candidates) is the confidence.
    ``stored_lossless``: the native hypothesis is measured over the quantisation floor."""
    var = _data_var(data)
    sizes = [_mean_cell(c.lines, c.q, length) for c in judged]
    raw = [dict(q=qc, n=len(c.lines) - 1, r=c.r, rf=c.r_fine, rc=c.r_coarse, rs=c.r_stretch, f=floor, z=c.z,
                k=c.kernel, score=c.score, var=var) for c, qc in zip(judged, sizes)]
    cands_out = [(float(qc), float(c.score)) for c, qc in zip(judged, sizes)]
    q = _mean_cell(best.lines, best.q, length)
    # a rival is another hypothesis: a grid with a different number of cells (a drifting
    # grid's near copies, a few per cent off in mean size, are the same cells)
    rivals = [c.score for c, qc in zip(judged[1:], sizes[1:]) if abs(length / qc - length / q) >= 1.0]
    margin = float(np.clip((best.score - max(rivals)) / 2.0, 0.0, 1.0)) if rivals else 1.0
    native_score = float("-inf")
    if allow_native and min_cell <= 1.0:
        # the native hypothesis (cells of 1 px) fits exactly, so it is scored as a grid
        # is (:func:`candidate_score`): its residual is none, its finer grid's too, its
        # coarser one's that of 2-px cells (or of the best grid, if that fits better),
        # each over the noise floor, and stretching 1-px cells moves nothing (no dip).
        # (Measured over the best grid's residual instead, the native score of an icon
        # that no grid fits was capped near log 2, and a 24x24 house with a stepped
        # roof came out as 3-px cells.)
        r2 = min([scorer.fit(_lattice(2.0, s, length), 2.0)[0] for s in (0.0, 1.0)] + [c.r for c in judged])
        fn = FLOOR_MIN if stored_lossless else floor
        native_score = float(np.log(r2 + fn) - np.log(fn))
        # a grid must explain nearly all the image's variation to beat its own pixels
        if native_score > best.score or best.r > NATIVE_UNEXPLAINED * (var + floor):
            return AxisFit.one_pixel(length, float(np.clip((native_score - best.score) / 2.0, 0.0, 1.0)),
                                     candidates=cands_out, proposals=proposals, raw=raw, native_score=native_score)
    lines = np.round(best.lines).astype(np.int64)
    uni = uniform_lines(best.ph % best.q, best.q, length, min_partial)
    refined = len(lines) != len(uni) or bool(np.any(lines != uni))
    lines = finish_lines(lines[1:-1], q, length, min_partial)  # drop slivers at the borders
    q = _line_slope(lines, q)
    phase_out = float(lines[1] % q) if len(lines) > 2 else 0.0
    return AxisFit(lines=lines, cell=float(q), phase=phase_out, refined=refined, cost=float(best.r),
                   margin=margin, kernel=best.kernel, candidates=cands_out, proposals=proposals, raw=raw,
                   exact=best.kernel == "nearest" and best.r <= EXACT_RESIDUAL, score=float(best.score),
                   native_score=native_score)


def _axis_noise(data: np.ndarray) -> float:
    """Per-value noise variance of ``data`` (R, L, C) along axis 1, robustly: from the
    median absolute first difference (variance ``2 s^2`` for white noise: most
    neighbours lie in the same cell) and from the median absolute second difference
    ``x[i-1] - 2 x[i] + x[i+1]`` (``6 s^2``: zero on a smooth ramp too, a blurred or
    resampled boundary, whose slope the first difference counts as noise).  Signal
    only inflates either median (the second difference sees each sharp edge twice),
    so the smaller estimate is kept."""
    x = data[..., :3]
    if x.shape[1] < 3:
        return 0.0
    d1 = np.median(np.abs(np.diff(x, axis=1)).reshape(-1, 3), axis=0)
    d2 = np.median(np.abs(x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]).reshape(-1, 3), axis=0)
    v1 = np.mean((1.4826 * d1 / np.sqrt(2)) ** 2)
    v2 = np.mean((1.4826 * d2 / np.sqrt(6)) ** 2)
    return float(min(v1, v2))


def _across(img: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """Smooth ``img`` (H, W, C) across ``axis``'s lines only: for the x axis (1),
    along y.  Every row shares the column boundaries, so averaging rows keeps the
    x structure exactly (nearest, smooth kernels, drift alike) and only averages
    the noise away."""
    if sigma <= 0:
        return img
    k = 2 * int(np.ceil(3 * sigma)) + 1
    ksize = (1, k) if axis == 1 else (k, 1)
    sx, sy = (1e-3, sigma) if axis == 1 else (sigma, 1e-3)
    return cv2.GaussianBlur(img, ksize, sigmaX=sx, sigmaY=sy, borderType=cv2.BORDER_REFLECT)


def _across_rows(rgba: np.ndarray, rows: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """The lines ``rows`` (rows for the x axis, 1; columns for the y axis, 0) of the linear
    features (:func:`.edges.linear_features`) of ``rgba`` (H, W, 4), smoothed across the
    axis's lines as :func:`_across` smooths them, as float64 (len(rows), length, 4).

    Only the lines within the filter's reach of those asked for are converted and
    filtered (the model fits see a few dozen lines of a large image): each line's
    window of neighbours is cut out (reflected at the image border, as the filter's
    border rule does) and the windows, side by side, are filtered at once; a
    window's centre line never reaches into the next window."""
    if sigma <= 0:
        out = linear_features(rgba[rows] if axis == 1 else rgba[:, rows])
    else:
        r = int(np.ceil(3 * sigma))
        n = rgba.shape[0] if axis == 1 else rgba.shape[1]
        idx = np.asarray(rows)[:, None] + np.arange(-r, r + 1)[None, :]
        idx = np.mod(idx, 2 * n)  # reflect about the border pixels' outer edges: -1 -> 0, n -> n - 1
        idx = np.where(idx >= n, 2 * n - 1 - idx, idx).ravel()
        windows = linear_features(np.ascontiguousarray(rgba[idx] if axis == 1 else rgba[:, idx]))
        smooth = _across(windows, sigma, axis)
        out = smooth[r::2 * r + 1] if axis == 1 else smooth[:, r::2 * r + 1]
    if axis == 0:
        out = out.transpose(1, 0, 2)
    return np.ascontiguousarray(out, np.float64)


def detect_grid(rgba: np.ndarray, min_cell: float = 1.0, max_cell: float = 64.0, refine: bool = True,
                edge_method: str = "diff", sigma_floor: float = 0.0, min_partial: float = 0.5) -> Grid:
    """Find the pixel grid of an RGBA uint8 image (H, W, 4).

    ``min_cell`` 1 lets the image be judged native (one pixel per cell); larger values
    force a grid.
    """
    feats = to_features(rgba)
    h, w = feats.shape[:2]
    if min_cell <= 1.0 and bool(np.all(feats == feats[:1, :1])):
        # one colour everywhere: no boundary to see, so any grid would be made up (every
        # grid reproduces the image exactly); it is kept as it is, with no confidence
        return Grid(x=AxisFit.one_pixel(w, 0.0), y=AxisFit.one_pixel(h, 0.0), sigma=0.0)
    sigma = max(noise_sigma(feats), sigma_floor)
    repeats = exact_repeats(rgba)
    # native pixel art is stored losslessly and repeats exact values; an image that
    # (almost) never does was resampled or compressed, so it has cells > 1 px
    allow_native = repeats >= 0.02
    # noise, JPEG and blur: smooth across each axis's lines (never along them)
    clean = repeats >= 0.5 and sigma < 1.0
    across = 0.0 if clean else (3.0 if sigma > 2.0 else 1.5)
    blocky = max(jpeg_blockiness(feats), jpeg_blockiness(np.ascontiguousarray(feats.transpose(1, 0, 2)))) > 1.3
    fits = []
    for axis in (1, 0):
        sm = _across(feats, across, axis)
        prof = edge_profile(sm, axis, edge_method)
        ridge = edge_profile(sm, axis, "nms")
        curv = curvature_profile(sm, axis, 1.0)
        profiles = unnotched = [prof, ridge, curv]
        if blocky:
            profiles = [remove_block_pattern(e) for e in profiles]
        data = _across_rows(rgba, row_subset(h, w) if axis == 1 else row_subset(w, h), across, axis)
        # residual a perfect model still leaves: noise plus 8-bit quantisation
        floor = max(_axis_noise(data), FLOOR_MIN)
        # a lossless image is checked for an exact fit on the profiles as they were
        fits.append((data, profiles, floor, unnotched if blocky and clean else None))
    (dx, prx, flx, ux), (dy, pry, fly, uy) = fits
    alpha = rgba[..., 3]
    # resampled transparency (alpha ramps) over a transparent area: a smooth kernel's
    # overshoot was cut off there, which the leaders' censored residuals allow for
    soft = float(np.mean((alpha > CLIP_MARGIN) & (alpha < 255 - CLIP_MARGIN)))
    opts = dict(allow_native=allow_native, lossless=clean, stored_lossless=repeats >= LOSSLESS_REPEATS and not blocky,
                censored_judge=CENSORED_JUDGE > 0 and soft >= SOFT_ALPHA
                and float(np.mean(alpha <= CLIP_MARGIN)) >= CENSORED_JUDGE)
    memo_x: dict = {}
    memo_y: dict = {}
    fx = _fit_axis(dx, prx, flx, min_cell, max_cell, refine, min_partial, memo=memo_x, unnotched=ux, **opts)
    fy = _fit_axis(dy, pry, fly, min_cell, max_cell, refine, min_partial, (fx.cell,), memo=memo_y, unnotched=uy,
                   **opts)
    if abs(fy.cell - fx.cell) > 0.02 * fx.cell and fy.cell > 1.0:
        fx2 = _fit_axis(dx, prx, flx, min_cell, max_cell, refine, min_partial, (fy.cell,), memo=memo_x,
                        unnotched=ux, **opts)
        if fx2.candidates and fx.candidates and fx2.candidates[0][1] > fx.candidates[0][1]:
            fx = fx2
    if SQUARE_PRIOR > 0 and not (fx.exact and fy.exact):
        def refit(axis: int, size: float) -> AxisFit:
            d, pr, fl, memo, un = (dx, prx, flx, memo_x, ux) if axis == 1 else (dy, pry, fly, memo_y, uy)
            return _fit_axis(d, pr, fl, min_cell, max_cell, refine, min_partial, (size,), memo=memo, prefer=size,
                             unnotched=un, **opts)
        fx, fy = _square_prior(fx, fy, refit)
    if opts["stored_lossless"]:
        fx, fy = _native_prior(fx, fy)
    return Grid(x=fx, y=fy, sigma=float(sigma), jpeg=bool(blocky))


def _native_prior(fx: AxisFit, fy: AxisFit) -> tuple[AxisFit, AxisFit]:
    """Native pixels are native on both axes: when one axis of a losslessly stored image
    came out native and the other with a grid that does not reproduce it exactly, the
    grid axis goes native too if its grid's evidence over native cells there is less
    than :data:`SQUARE_PRIOR` (the prior odds of square cells; 1-px cells are cells
    too).  A native icon often shows a spurious 2-4 px comb on one axis that scores a
    fraction of a unit over its pixels, while the other axis is clearly native."""
    for axis, own, other in ((1, fx, fy), (0, fy, fx)):
        if own.cell > 1.0 and other.cell <= 1.0 and not own.exact and own.score - own.native_score < SQUARE_PRIOR:
            native = AxisFit.one_pixel(int(own.lines[-1]), 0.0, candidates=own.candidates, proposals=own.proposals,
                                       raw=own.raw, native_score=own.native_score)
            return (native, fy) if axis == 1 else (fx, native)
    return fx, fy


def _square_prior(fx: AxisFit, fy: AxisFit, refit: Callable[[int, float], AxisFit]) -> tuple[AxisFit, AxisFit]:
    """Square cells are a prior, not a rule: when the axes disagree, the axis with the
    weaker evidence against the other's cell size takes that size, if it lacks less
    than :data:`SQUARE_PRIOR` (score units) of its own winner's evidence there
    (:data:`HARMONIC_PRIOR` for the coarser axis of sizes at least
    :data:`HARMONIC_RATIO` apart: a misread harmonic).

    ``refit(axis, size)`` fits an axis (1: x, 0: y) choosing the best grid near
    ``size``.  Evidence is each axis's :func:`candidate_score`: the joint choice
    maximises the sum of both axes' scores plus the prior's bonus for square cells.
    """
    if min(fx.cell, fy.cell) <= 1.0 or _same_size(fx.cell, fy.cell):
        return fx, fy
    options = []
    for axis, own, other in ((1, fx, fy), (0, fy, fx)):
        alt = refit(axis, other.cell)
        if _near_size(alt.cell, other.cell, own.cell) and np.isfinite(alt.score):
            options.append((own.score - alt.score, axis, alt))
    if not options:
        return fx, fy
    ratio = max(fx.cell, fy.cell) / min(fx.cell, fy.cell)

    def prior(axis: int, alt: AxisFit) -> float:
        own = fx if axis == 1 else fy
        return HARMONIC_PRIOR if ratio >= HARMONIC_RATIO and alt.cell < own.cell else SQUARE_PRIOR
    options = [o for o in options if o[0] < prior(o[1], o[2])]
    if not options:
        return fx, fy
    deficit, axis, alt = min(options, key=lambda o: o[0])
    return (alt, fy) if axis == 1 else (fx, alt)


def grid_from_cell(shape: tuple[int, int], cell_x: float, cell_y: float, phase_x: float = 0.0,
                   phase_y: float = 0.0, min_partial: float = 0.5) -> Grid:
    """A uniform grid of a known cell size (``--cell``), no detection."""
    h, w = shape
    xs = uniform_lines(phase_x % cell_x, cell_x, w, min_partial) if cell_x > 1 else np.arange(w + 1)
    ys = uniform_lines(phase_y % cell_y, cell_y, h, min_partial) if cell_y > 1 else np.arange(h + 1)
    fx = AxisFit(xs, float(cell_x), float(phase_x), False, 0.0, 1.0)
    fy = AxisFit(ys, float(cell_y), float(phase_y), False, 0.0, 1.0)
    return Grid(x=fx, y=fy, sigma=0.0)
