"""Grid detection: where are the cells of a (degraded) pixel-art image?

Per axis (width and height are fitted separately; the other axis's cell size is
offered as a candidate, so square cells are a prior, not a rule):
  1. edge profiles (:mod:`.edges`): neighbour differences and ridge centres, on a
     denoised copy when the image is noisy, with JPEG block borders removed;
  2. candidate cell sizes (:mod:`.period`): autocorrelation and spectral peaks,
     their harmonics, and small integer factors, each tuned to sub-pixel precision
     by climbing the line contrast of its comb;
  3. evidence: a candidate's lines must carry significantly more edge than the
     positions between them (:func:`line_contrast`); with none left, the image is
     native (one pixel per cell);
  4. the model check (:mod:`.model`) chooses among the survivors by reconstruction
     error with a price per cell (p vs p/2 vs 2p);
  5. per-line refinement for drifting grids (:mod:`.fit`), kept only when it
     explains the image better than the uniform comb.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .edges import curvature_profiles, edge_profiles, exact_repeats, jpeg_blockiness, noise_sigma, remove_block_pattern, to_features
from .fit import refine_lines
from .model import axis_cost, best_kernel, row_subset
from .period import acf_peaks, acf_value, autocorrelation, comb_scan, line_contrast, phase, top_periods, uniform_lines

__all__ = ["Grid", "AxisFit", "detect_grid", "grid_from_cell", "to_features", "edge_profiles", "line_contrast"]


@dataclass
class AxisFit:
    """Boundaries along one axis and how they were found."""

    lines: np.ndarray          # boundaries in pixel-edge coordinates, increasing
    cell: float                # mean cell size (px)
    phase: float               # offset of the uniform comb in [0, cell)
    refined: bool              # True when per-line refinement replaced the uniform comb
    cost: float                # model cost per pixel of the chosen grid (lower is better)
    margin: float              # relative cost gap to the best rejected alternative (0..1)
    kernel: str = "nearest"    # resampling kernel of the model that explained the image best
    candidates: list[tuple[float, float]] = field(default_factory=list)  # (cell, cost) tried
    proposals: list[tuple[float, float]] = field(default_factory=list)   # (cell, line z) proposed

    @property
    def n_cells(self) -> int:
        return len(self.lines) - 1


@dataclass
class Grid:
    """Detected grid: column boundaries ``xs`` and row boundaries ``ys``."""

    x: AxisFit
    y: AxisFit
    sigma: float               # estimated noise level (Lab units)

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
    def confidence(self) -> float:
        """0..1: how clearly the chosen grid beat its alternatives on both axes."""
        return float(np.clip(min(self.x.margin, self.y.margin), 0.0, 1.0))


def _axis_candidates(profile: np.ndarray, min_cell: float, max_cell: float,
                     plausible: float = 0.5) -> list[float]:
    """Candidate cell sizes: autocorrelation and spectral peaks, with their harmonics.

    The autocorrelation proposes the local mean spacing (robust to drift), the
    spectrum a globally coherent period (sub-pixel precise for uniform grids).
    Harmonics (x1/3 .. x3) are added because p/2, p and 2p all look periodic.
    A candidate whose autocorrelation is well below the best candidate's is
    dropped: a lag of p/2 or p/3 compares boundaries with cell interiors, so it
    sits in a trough.  The reconstruction test chooses among the survivors.
    """
    lo = max(min_cell, 2.0)
    acf = autocorrelation(profile)
    peaks = acf_peaks(acf, lo, max_cell, k=3) + top_periods(profile, lo, max_cell, k=2)
    cands: list[float] = []
    for p, _ in peaks:
        for m in (1.0, 0.5, 2.0, 1 / 3, 3.0):
            q = p * m
            if lo * 0.97 <= q <= max_cell * 1.03 and not any(abs(q - c) <= 0.02 * c for c in cands):
                cands.append(q)
    if cands:
        r = np.array([acf_value(acf, q) for q in cands])
        cands = [q for q, k in zip(cands, r >= plausible * r.max()) if k]
    # small integer factors are the commonest upscales, and the ones the spectrum of
    # a short profile resolves worst: always let the model check see them
    for q in range(int(np.ceil(lo)), int(min(6, max_cell)) + 1):
        if not any(abs(q - c) <= 0.02 * c for c in cands):
            cands.append(float(q))
    return cands


#: significance (z) a grid's lines need over the rest of the profile for the image
#: not to be judged native
Z_NATIVE = 5.0


def _codec_alias(q: float, lines: np.ndarray) -> bool:
    """True when a comb could be the JPEG codec's own pattern rather than cells.

    JPEG codes 8x8 blocks (16x16 with chroma subsampling) aligned to the image
    origin; quantised DCT basis functions repeat every 16/k px inside them.  A comb
    of such a size whose lines sit on that origin-aligned lattice (or halfway
    between its points) is indistinguishable from the codec's pattern.
    """
    inner = lines[1:-1].astype(np.float64)
    if len(inner) == 0:
        return False
    if float(np.mean(inner % 8 == 0)) >= 0.8:
        return True
    for k in range(1, 9):
        lat = 16.0 / k
        if abs(q - lat) <= 0.015 * lat:
            d = np.abs(inner - np.round(inner / lat) * lat)
            off = float(np.median(np.minimum(d, np.abs(d - lat / 2))))
            return off <= 0.75
    return False


def _fit_axis(feats: np.ndarray, profile: np.ndarray, sigma: float, min_cell: float, max_cell: float,
              refine: bool, penalty: float, min_partial: float = 0.5,
              aux: tuple[np.ndarray, ...] = (), extra: tuple[float, ...] = (),
              blocky: bool = False) -> AxisFit:
    """Choose the cell size and boundaries along x of ``feats`` (R, W, C).

    ``sigma`` is the image's noise level: no model can explain the image better
    than that, so its expected absolute residual is the floor of the model cost.
    Whether there is a grid at all (cell > 1) is a separate significance test on
    the edge profiles (:func:`line_contrast`).  ``aux`` are further profiles (ridge
    centres, curvature; see :mod:`.edges`) that propose candidates and testify for
    a grid on smooth images, where the plain edge profile is weak.
    """
    length = feats.shape[1]
    native = np.arange(length + 1)
    floor = max(0.5, 0.8 * sigma)  # E|N(0, s)| = 0.8 s: the noise one channel leaves
    max_cell = min(max_cell, length / 2.0)
    profiles = (profile,) + tuple(aux)
    cands = _axis_candidates(profile, min_cell, max_cell) if max_cell >= 2.0 else []
    if max_cell >= 2.0:
        for prof in aux:
            cands += [q for q in _axis_candidates(prof, min_cell, max_cell)
                      if not any(abs(q - c) <= 0.02 * c for c in cands)]
            cands += [q for q, _ in comb_scan(prof, max(min_cell, 2.0), max_cell)
                      if not any(abs(q - c) <= 0.01 * c for c in cands)]
    # square cells are a prior, not a rule: the other axis's cell size is a candidate
    cands += [q for q in extra if 2.0 <= q <= max_cell and not any(abs(q - c) <= 0.005 * c for c in cands)]

    def contrast(lines: np.ndarray, q: float) -> float:
        """Strongest line contrast of a comb over all profiles."""
        return max(line_contrast(prof, lines, q) for prof in profiles)

    def evidence(q: float) -> tuple[float, float, np.ndarray]:
        """Line contrast of the best comb of size ``q`` (phase from any profile)."""
        best = (-np.inf, 0.0, np.arange(2))
        for prof in profiles:
            ph = phase(prof, q)
            lines = uniform_lines(ph, q, length, min_partial)
            z = contrast(lines, q)
            if z > best[0]:
                best = (z, ph, lines)
        return best

    combs = []
    for q0 in cands:
        # sub-pixel size: spectral and autocorrelation peaks are a few per cent off on
        # short profiles, and a comb 0.5 % off drifts a whole cell over 200 cells;
        # climb the line contrast with halving steps
        z, ph, lines = evidence(q0)
        q = q0
        if not float(q0).is_integer():
            step = 0.02
            while step > 0.25 / max(length / q, 1.0) / 4:
                moved = False
                for d in (-step, step):
                    zz, pp, ll = evidence(q * (1 + d))
                    if zz > z:
                        z, ph, lines, q2, moved = zz, pp, ll, q * (1 + d), True
                if moved:
                    q = q2
                else:
                    step /= 2
        combs.append((q, ph, lines, z))
    if blocky:
        # patterns of the codec's own blocks are no evidence of cells
        combs = [c for c in combs if not _codec_alias(c[0], c[2])] or combs

    def judged(q: float, ph0: float, lines0: np.ndarray, z: float) -> tuple:
        # the comb phase may sit on cell centres (curvature peaks there on smooth
        # upscales) or a fraction of a cell off the boundaries: a few shifts are
        # tried with a linear model, then the best resampling kernel is chosen
        best = None
        for shift in (0.0, -0.25, 0.25, 0.5):
            ph = (ph0 + shift * q) % q
            lines = uniform_lines(ph, q, length, min_partial)
            c = axis_cost(feats, lines, penalty, "linear", floor)
            if best is None or c < best[0]:
                best = (c, ph, lines)
        _, ph, lines = best
        kernel, c = best_kernel(feats, lines, floor)
        c += penalty * 3.0 * (len(lines) - 1) / max(int(lines[-1] - lines[0]), 1)
        return q, c, ph, lines, kernel

    # a candidate must first show its lines in the edges; the model check then
    # chooses among the survivors (harmonics, kernels) and only they are modelled
    proposals = [(float(c[0]), float(c[3])) for c in combs]
    shown = [c for c in combs if c[3] >= Z_NATIVE]
    if not shown and min_cell > 1.0:
        shown = combs
    if not shown:
        return AxisFit(lines=native, cell=1.0, phase=0.0, refined=False, cost=0.0,
                       margin=1.0 if not combs else 0.5, candidates=[(float(c[0]), float("nan")) for c in combs],
                       proposals=proposals)
    supported = sorted((judged(*c) for c in shown), key=lambda t: t[1])
    fit = _finish_axis(feats, profile, supported[0], supported, refine, penalty, floor, min_partial)
    fit.proposals = proposals
    return fit


def _finish_axis(feats: np.ndarray, profile: np.ndarray, choice: tuple, supported: list, refine: bool,
                 penalty: float, floor: float, min_partial: float) -> AxisFit:
    """Refine the chosen uniform comb and measure its cell size and margin."""
    length = feats.shape[1]
    cell, cost, ph, lines, kernel = choice
    rivals = [t[1] for t in supported if abs(t[0] - cell) > 0.02 * cell]
    refined = False
    if refine:
        rl = refine_lines(profile, cell, lines, min_partial=min_partial)
        rc = axis_cost(feats, rl, penalty, kernel, floor)
        if rc < cost:
            lines, cost, refined = rl, rc, True
    # report the cell size the final lines actually have (least squares over the
    # interior lines), not the candidate they started from
    inner = lines[(lines > 0) & (lines < length)]
    if len(inner) >= 3:
        k = np.round((inner - inner[0]) / cell)
        if len(np.unique(k)) >= 2:
            cell = float(np.polyfit(k, inner, 1)[0])
    # confidence: how clearly the grid beat the other grids that also sit on edges
    margin = float(np.clip((min(rivals) - cost) / 0.25, 0.0, 1.0)) if rivals else 1.0
    return AxisFit(lines=np.asarray(lines, np.int64), cell=float(cell), phase=float(ph), refined=refined,
                   cost=float(cost), margin=margin, kernel=kernel,
                   candidates=[(float(t[0]), float(t[1])) for t in supported])


def detect_grid(rgba: np.ndarray, min_cell: float = 1.0, max_cell: float = 64.0, refine: bool = True,
                edge_method: str = "diff", penalty: float = 2.0, sigma_floor: float = 0.0,
                min_partial: float = 0.5) -> Grid:
    """Find the pixel grid of an RGBA uint8 image (H, W, 4).

    ``min_cell`` 1 lets the image be judged native (one pixel per cell); larger values
    force a grid.  ``penalty`` is the price per cell and channel in the model check.
    """
    feats = to_features(rgba)
    h, w = feats.shape[:2]
    sigma = max(noise_sigma(feats), sigma_floor)
    # noise drowns the few real edges in the profiles: smooth it away first (the
    # model check below still sees the original pixels).  Clean 8-bit art, native
    # or upscaled, repeats exact values between neighbours; noise never does, so
    # dense clean detail is not mistaken for noise.
    repeats = exact_repeats(rgba)
    noisy = sigma > 1.0 and repeats < 0.02
    # native pixel art is stored losslessly and repeats exact values; an image that
    # (almost) never does was resampled or compressed, so it has cells > 1 px
    floor_cell = min_cell if repeats >= 0.02 else max(min_cell, 2.0)
    sm = cv2.GaussianBlur(feats, (0, 0), min(2.0, 0.4 * sigma)) if noisy else feats
    px, py = edge_profiles(sm, edge_method)
    rx, ry = edge_profiles(sm, "nms")
    cx, cy = curvature_profiles(sm, 1.0)
    # JPEG steps at every 8-px block border would read as a grid of 8 (or 16/3...)
    # (clean art that repeats exact values is not a decoded JPEG, whatever its lines)
    blocky = repeats < 0.5 and max(jpeg_blockiness(feats),
                                   jpeg_blockiness(np.ascontiguousarray(feats.transpose(1, 0, 2)))) > 1.4
    if blocky:
        px, py, rx, ry, cx, cy = (remove_block_pattern(e) for e in (px, py, rx, ry, cx, cy))
    rows = row_subset(h, w)
    cols = row_subset(w, h)
    fx_feats = feats[rows]
    fy_feats = np.ascontiguousarray(feats[:, cols].transpose(1, 0, 2))
    fx = _fit_axis(fx_feats, px, sigma, floor_cell, max_cell, refine, penalty, min_partial, (rx, cx), blocky=blocky)
    fy = _fit_axis(fy_feats, py, sigma, floor_cell, max_cell, refine, penalty, min_partial, (ry, cy), (fx.cell,), blocky)
    if abs(fy.cell - fx.cell) > 0.02 * fx.cell and fy.cell > 1.0:
        fx2 = _fit_axis(fx_feats, px, sigma, floor_cell, max_cell, refine, penalty, min_partial, (rx, cx), (fy.cell,), blocky)
        if fx2.cost < fx.cost - 1e-9:
            fx = fx2
    return Grid(x=fx, y=fy, sigma=float(sigma))


def grid_from_cell(shape: tuple[int, int], cell_x: float, cell_y: float, phase_x: float = 0.0,
                   phase_y: float = 0.0, min_partial: float = 0.5) -> Grid:
    """A uniform grid of a known cell size (``--cell``), no detection."""
    h, w = shape
    xs = uniform_lines(phase_x % cell_x, cell_x, w, min_partial) if cell_x > 1 else np.arange(w + 1)
    ys = uniform_lines(phase_y % cell_y, cell_y, h, min_partial) if cell_y > 1 else np.arange(h + 1)
    fx = AxisFit(xs, float(cell_x), float(phase_x), False, 0.0, 1.0)
    fy = AxisFit(ys, float(cell_y), float(phase_y), False, 0.0, 1.0)
    return Grid(x=fx, y=fy, sigma=0.0)
