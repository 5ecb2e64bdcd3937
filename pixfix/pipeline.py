"""The restore pipeline: grid -> sample -> palette -> background, on arrays only.

``restore(rgba, config)`` is the whole single-image algorithm; it reads and
writes no files.  Every stage's result is kept on the returned
:class:`Restored` so callers can stop after any stage or draw debug views.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

from .config import Config
from .grid import Grid, detect_grid, edge_profiles, grid_from_cell, to_features
from .grid.model import CLIP_MARGIN, GRID_KERNELS, KERNEL_VARIANTS
from .grid.period import phase as comb_phase
from .palette import Palette, leader_clusters, reduce_palette, to_lab, unique_rows, weighted_means
from .sample import Cells, choose_kernel, model_cells, sample_cells

STAGES = ("grid", "sample", "palette")


@dataclass
class Restored:
    """Everything the restore pipeline found for one image."""

    image: Optional[np.ndarray]       # (ny, nx, 4) uint8 result, one pixel per cell (None if stopped early)
    grid: Grid
    cells: Optional[Cells]            # sampled colours before palette reduction
    palette: Optional[Palette]
    timings: dict = field(default_factory=dict)

    @property
    def confidence(self) -> float:
        return self.grid.confidence

    @property
    def colors_before(self) -> int:
        return 0 if self.palette is None else self.palette.n_before

    @property
    def colors_after(self) -> int:
        if self.image is None:
            return 0
        op = self.image[self.image[..., 3] > 0]
        return len(unique_rows(op.reshape(-1, 4))[0]) if len(op) else 0


def find_grid(rgba: np.ndarray, config: Config) -> Grid:
    """Detect the grid, or build it from a manual cell size (phase still measured)."""
    g = config.grid
    if g.cell is not None:
        cx = float(g.cell)
        cy = float(g.cell_y if g.cell_y is not None else g.cell)
        px, py = edge_profiles(to_features(rgba))
        phx = comb_phase(px, cx) if cx > 1 else 0.0
        phy = comb_phase(py, cy) if cy > 1 else 0.0
        return grid_from_cell(rgba.shape[:2], cx, cy, phx, phy, g.min_partial)
    return detect_grid(rgba, min_cell=g.min_cell, max_cell=g.max_cell, refine=g.refine,
                       edge_method=g.edges, min_partial=g.min_partial)


def auto_merge_radius(cells: Cells, noise: float, lossless: bool = False) -> float:
    """Merge radius (Lab) from how much estimates of one colour scatter; 0 when clean.

    Pixel art repeats colours in neighbouring cells, so the lower quartile of the
    CIELAB distances between horizontally or vertically adjacent cells measures the
    scatter between estimates of the same colour (noise, JPEG, colour wash), not
    the differences between palette colours.  Estimates of one colour lie within
    about three times that of each other.  ``noise`` (the image's per-channel noise
    level, spread over a cell's samples) is a second witness.
    """
    op = cells.rgba[..., 3] > 0
    if not op.any():
        return 0.0
    sampled = cells.kernel is None  # deconvolved colours are estimates even from flat cells
    if lossless or (sampled and float(np.percentile(cells.spread[op], 99)) == 0.0):
        # the grid reproduces the image exactly, or every cell is uniform (a clean image
        # on a manual grid): every estimate is exact, merge nothing.  A mostly clean
        # image (flat JPEG backdrop) is not: its other cells still scatter.
        return 0.0
    lab = to_lab(cells.rgb.reshape(-1, 3)).reshape(cells.rgb.shape)
    d = []
    if lab.shape[1] > 1:
        both = op[:, 1:] & op[:, :-1]
        d.append(np.linalg.norm(lab[:, 1:] - lab[:, :-1], axis=-1)[both])
    if lab.shape[0] > 1:
        both = op[1:] & op[:-1]
        d.append(np.linalg.norm(lab[1:] - lab[:-1], axis=-1)[both])
    d = np.concatenate(d) if d else np.zeros(0)
    from_pairs = 3.0 * float(np.percentile(d, 25)) if len(d) >= 8 else 0.0
    n = max(1, cells.n_samples // 2)
    from_noise = 2.5 * noise * np.sqrt(3.0 / n)
    # a slowly varying colour wash (AI renderers, uneven lighting, chroma loss) moves a
    # colour by more than neighbours differ: measure each colour's spread over the
    # whole image, around provisional clusters of a wide radius
    flat = lab[op].reshape(-1, 3)
    labels = leader_clusters(flat, np.ones(len(flat)), WIDE_RADIUS)
    centres = weighted_means(flat, labels, np.ones(len(flat)), int(labels.max()) + 1)
    dist = np.linalg.norm(flat - centres[labels], axis=1)
    sizes = np.bincount(labels)
    typical = [float(np.median(dist[labels == k])) for k in np.flatnonzero(sizes >= 5)]
    from_clusters = 2.0 * float(np.median(typical)) if typical else 0.0  # every colour counts once
    tau = max(from_pairs, from_noise, from_clusters)
    if not sampled:
        # deconvolution rounds one colour to neighbouring values (108,24,212 / 107,23,211):
        # estimates closer than a just-noticeable difference are one colour
        tau = max(tau, JND)
    return float(np.clip(tau, 0.0, 15.0)) if tau >= 1.0 else 0.0


#: a just-noticeable colour difference (CIE76 units)
JND = 2.3

#: provisional cluster radius (Lab) for measuring how far one colour's estimates spread
WIDE_RADIUS = 12.0


def reduce_cells(cells: Cells, config: Config, fixed: Optional[np.ndarray] = None,
                 native: bool = False, noise: float = 0.0, lossless: bool = False,
                 compressed: bool = False, cell_area: float = 1.0) -> tuple[np.ndarray, Palette]:
    """Snap every opaque cell to a palette colour; returns the image and the palette.

    ``compressed``: the image went through JPEG, whose chroma is unreliable, so colour
    distances weigh chroma by :data:`JPEG_CHROMA_WEIGHT`, and cells of ``cell_area``
    px that share a chroma block share its errors.
    """
    pc = config.palette
    op = cells.rgba[..., 3] > 0
    rgb = cells.rgb[op]
    if native and pc.colors is None and fixed is None and pc.merge is None:
        tau = 0.0
    else:
        tau = float(pc.merge) if pc.merge is not None else auto_merge_radius(cells, noise, lossless)
    jpeg = compressed and not lossless
    cw = JPEG_CHROMA_WEIGHT if jpeg else 1.0
    indep = min(1.0, cell_area / JPEG_CHROMA_BLOCK) if jpeg else 1.0
    pal, assigned = _snap(rgb, tau, pc, native, fixed, cw, indep)
    if tau > 0 and WASH_ROUNDS > 0 and op.sum() >= 16:
        # a slowly varying colour wash (AI renderers, uneven light) splits one colour
        # into several: model the cells as palette colour + a smooth offset field,
        # estimate the field from the residuals, remove it and cluster again
        for _ in range(WASH_ROUNDS):
            field = wash_field(cells.rgb, op, assigned, tau)
            pal, assigned = _snap(rgb - field[op], tau, pc, native, fixed, cw, indep)
    out = cells.rgba.copy()
    out[op, :3] = assigned
    return out, pal


#: weight of the chroma axes in colour distances for JPEG-coded images (chroma is
#: subsampled 2x and quantised harder than lightness)
JPEG_CHROMA_WEIGHT = 0.5

#: pixels per JPEG chroma block (8 x 8 coefficients at half resolution): cells within
#: one block share its quantisation error
JPEG_CHROMA_BLOCK = 256.0

#: rounds of wash-field estimation (0 disables it)
WASH_ROUNDS = 2


def _snap(rgb: np.ndarray, tau: float, pc, native: bool, fixed: Optional[np.ndarray],
          chroma_weight: float = 1.0, independence: float = 1.0) -> tuple[Palette, np.ndarray]:
    """Palette of the colours ``rgb`` (N, 3) and each one's palette colour (N, 3) uint8."""
    # group estimates that are equal to a fraction of the merge radius (weights = counts):
    # the clustering then runs over distinct colours, not over every cell
    step = max(0.25, tau / 3.0)
    levels, inv, cnt = unique_rows(np.round(rgb / step).astype(np.int64))
    uniq = levels * step
    pal = reduce_palette(uniq, cnt, tau=tau, rare_share=pc.rare if not native else 0.0,
                         max_colors=pc.colors, fixed=fixed, chroma_weight=chroma_weight,
                         independence=independence)
    return pal, pal.colors[pal.labels[inv]]


def wash_field(rgb: np.ndarray, valid: np.ndarray, assigned: np.ndarray, tau: float) -> np.ndarray:
    """Smooth additive colour offset (ny, nx, 3) explaining ``rgb - assigned`` on the
    ``valid`` cells (``assigned``: their palette colours, (N, 3)): a Gaussian-weighted
    local mean of the residuals over an eighth of the image, ignoring cells whose
    residual is far larger than the merge radius allows (edges, misassigned cells).
    Each round re-estimates the whole field from the raw colours."""
    res = np.zeros_like(rgb, dtype=np.float64)
    res[valid] = rgb[valid] - assigned
    mag = np.linalg.norm(res, axis=-1)
    w = (valid & (mag <= 3.0 * tau)).astype(np.float64)
    sigma = max(2.0, max(rgb.shape[:2]) / 8.0)
    num = cv2.GaussianBlur(res * w[..., None], (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(w, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return np.where(den[..., None] > 1e-3, num / np.maximum(den[..., None], 1e-3), 0.0)


def remove_background(image: np.ndarray, mode: str, tolerance: float = 8.0, lossless: bool = False) -> np.ndarray:
    """Make the border-connected backdrop transparent.

    The backdrop colour is the commonest opaque colour on the border; every cell
    within ``tolerance`` (CIELAB) of it that is connected to the border (4-way)
    goes transparent, so a slightly uneven AI backdrop goes as a whole.
    ``transparent`` always does this; ``auto`` only for degraded images (not
    ``lossless`` ones: native art and clean upscales keep their backdrop) with no
    transparency yet whose border is mostly (>= 60 %) that colour: the flat backdrop
    a renderer or a JPEG export put behind a sprite, and only when something stays
    in front of it (a one-colour image keeps its colour).
    """
    if mode == "keep" or image.size == 0 or (mode == "auto" and lossless):
        return image
    alpha = image[..., 3]
    if mode == "auto" and (alpha == 0).any():
        return image
    h, w = alpha.shape
    border = np.zeros((h, w), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    key = image.view(np.uint32).reshape(h, w)
    bkeys = key[border & (alpha > 0)]
    if len(bkeys) == 0:
        return image
    vals, counts = np.unique(bkeys, return_counts=True)
    top = np.frombuffer(vals[np.argmax(counts)].tobytes(), np.uint8)[:3]
    lab = to_lab(image[..., :3].reshape(-1, 3)).reshape(h, w, 3)
    close = (np.linalg.norm(lab - to_lab(top[None].astype(float))[0], axis=-1) <= tolerance) & (alpha > 0)
    if mode == "auto" and close[border].sum() < 0.6 * border.sum():
        return image
    n, lab_ids = cv2.connectedComponents(close.astype(np.uint8), connectivity=4)
    touching = np.unique(lab_ids[border & close])
    gone = np.isin(lab_ids, touching[touching > 0])
    if mode == "auto" and gone.sum() == (alpha > 0).sum():
        return image  # all of it is "backdrop": there is no sprite in front of it to keep
    out = image.copy()
    out[gone] = 0
    return out


def restore(rgba: np.ndarray, config: Optional[Config] = None, fixed_palette: Optional[np.ndarray] = None,
            stop_after: Optional[str] = None, compressed: Optional[bool] = None,
            chroma: Optional[tuple[int, int]] = None) -> Restored:
    """Restore degraded pixel art (H, W, 4) uint8 to one pixel per cell.

    ``compressed`` says the image came from a JPEG file (None: judge by its 8-px
    block pattern, which survives re-saving as PNG).  ``chroma``: that file's chroma
    subsampling factors (x, y), e.g. (2, 2) for 4:2:0 (:func:`.imageio.jpeg_chroma`);
    colours are then fitted through the codec's chroma filter.

    ``fixed_palette`` (K, 3) uint8 snaps colours to a given palette (the palette
    file itself is read by the caller); ``stop_after`` ``"grid"`` or ``"sample"``
    ends early (the later fields stay None).
    """
    config = config or Config()
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError("restore expects an (H, W, 4) uint8 RGBA array")
    if min(rgba.shape[:2]) < 1:
        raise ValueError("empty image")
    times: dict = {}
    t = time.perf_counter()
    grid = find_grid(rgba, config)
    times["grid"] = time.perf_counter() - t
    if stop_after == "grid":
        return Restored(None, grid, None, None, times)
    t = time.perf_counter()
    sc = config.sample
    cells = sample_cells(rgba, grid.xs, grid.ys, sc.max_points, sc.inner, sc.keep)
    smooth = grid.x.kernel != "nearest" or grid.y.kernel != "nearest"
    subsampled = chroma is not None and chroma != (1, 1) and not grid.lossless
    if not grid.native and (smooth or subsampled):
        # a smooth upscale mixed every pixel with its neighbours, JPEG's chroma
        # subsampling mixed the colours of neighbouring cells: deconvolve, with the
        # grid's kernels, one shared by both axes or another member of the grid kernels'
        # family (KERNEL_VARIANTS: Pillow's bicubic, three-lobe Lanczos), whichever
        # reproduces the image best
        pairs = [(grid.x.kernel, grid.y.kernel)] + [(k, k) for k in GRID_KERNELS]
        pairs += [(v, v) for k in dict.fromkeys((grid.x.kernel, grid.y.kernel)) for v in KERNEL_VARIANTS.get(k, ())]
        sub = chroma if subsampled else None
        kernel = choose_kernel(rgba, grid.xs, grid.ys, pairs, grid.x.cell, grid.y.cell, chroma=sub)
        # blocks after all, at full colour resolution: the robust samples are better
        if kernel != ("nearest", "nearest") or subsampled:
            fit = model_cells(rgba, grid.xs, grid.ys, kernel, grid.x.cell, grid.y.cell, chroma=sub)
            vis = cells.rgba[..., 3] > 0
            cells.rgb = np.where(vis[..., None], fit[..., :3], 0.0).astype(np.float32)
            cells.rgba[..., :3] = np.where(vis[..., None], np.clip(np.round(fit[..., :3]), 0, 255), 0).astype(np.uint8)
            # the model's alpha too: the inner samples of a cell beside transparency
            # still carry the kernel's ramp (a cubic upscale left 716 of 3558 visible
            # cells at alpha 213..254); visibility stays the samples' majority
            cells.rgba[..., 3] = np.where(vis, np.clip(np.round(fit[..., 3]), 1, 255), 0).astype(np.uint8)
            cells.kernel = kernel
    if not grid.lossless:
        # an alpha within the models' clipping margin of opaque (ringing and rounding stay
        # within it) is opaque: a resampled sprite's binary alpha does not come out as a
        # ragged 247..254 edge (native art and clean upscales keep their exact values)
        cells.rgba[..., 3][cells.rgba[..., 3] >= 255 - CLIP_MARGIN] = 255
    times["sample"] = time.perf_counter() - t
    if stop_after == "sample":
        return Restored(None, grid, cells, None, times)
    t = time.perf_counter()
    image, pal = reduce_cells(cells, config, fixed_palette, native=grid.native, noise=grid.sigma,
                              lossless=grid.lossless, compressed=grid.jpeg if compressed is None else compressed,
                              cell_area=grid.x.cell * grid.y.cell)
    # the backdrop is the palette entry that dominates the border, with every cell
    # within the tolerance (ringing and JPEG leave it uneven beside the sprite)
    bgc = config.background
    image = remove_background(image, bgc.mode, tolerance=max(pal.tau, bgc.tolerance), lossless=grid.lossless)
    times["palette"] = time.perf_counter() - t
    return Restored(image, grid, cells, pal, times)
