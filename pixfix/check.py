"""Lint images that should already be clean pixel art (``pixfix check``).

Pure functions on RGBA uint8 arrays; no files.  A clean asset is native (one
pixel per cell), fully opaque or fully transparent per pixel, uses few colours
(optionally from a fixed palette) and has no anti-aliasing.

Anti-aliasing is recognised by what it does to colours: a smooth edge between
two flat colours ``a`` and ``b`` is drawn with intermediate colours
``a + t (b - a)`` (0 < t < 1), each used by only a few pixels, each touching
both ``a`` and ``b``.  :func:`find_blends` looks for exactly that: rare colours
whose pixels border two more frequent colours and which lie, within a Lab
tolerance, on the mix of those two (the sRGB line, as renderers blend, or the
Lab segment).  Hand-made shading ramps use their middle colour on many pixels,
so they are not rare, and one or two deliberate blend pixels stay under the
``blend_colors`` allowance.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .config import CheckConfig, GridConfig
from .palette import to_lab


@dataclass
class Blend:
    """A colour that sits between two more frequent neighbouring colours."""

    color: tuple[int, int, int]
    a: tuple[int, int, int]
    b: tuple[int, int, int]
    t: float          # position between a (0) and b (1)
    distance: float   # Lab distance from the mix of a and b
    pixels: int


@dataclass
class CheckReport:
    """What :func:`check_image` found; ``problems`` is empty for a clean asset."""

    problems: list[str] = field(default_factory=list)
    colors: int = 0
    cell: tuple[float, float] = (1.0, 1.0)
    native_size: tuple[int, int] = (0, 0)
    confidence: Optional[float] = None
    blends: list[Blend] = field(default_factory=list)
    semi_transparent: int = 0
    off_palette: int = 0


def hex_color(c) -> str:
    return "#%02x%02x%02x" % tuple(int(v) for v in c[:3])


def semi_transparent_count(rgba: np.ndarray) -> int:
    """Pixels with 0 < alpha < 255."""
    a = rgba[..., 3]
    return int(np.count_nonzero((a > 0) & (a < 255)))


def visible_colors(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct RGB colours of the visible (alpha > 0) pixels, most frequent first, with counts."""
    rgb = rgba[..., :3][rgba[..., 3] > 0].reshape(-1, 3)
    if not len(rgb):
        return np.zeros((0, 3), np.uint8), np.zeros(0, np.int64)
    cols, counts = np.unique(rgb, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return cols[order].astype(np.uint8), counts[order]


def off_palette_colors(colors: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """The rows of ``colors`` (N, 3) that are not exactly in ``palette`` (M, 3)."""
    if not len(colors):
        return colors
    key = lambda c: (c[:, 0].astype(np.int64) << 16) | (c[:, 1].astype(np.int64) << 8) | c[:, 2]  # noqa: E731
    inside = np.isin(key(np.asarray(colors)), key(np.asarray(palette, np.uint8).reshape(-1, 3)))
    return colors[~inside]


def _adjacent_pairs(ids: np.ndarray) -> np.ndarray:
    """Distinct unordered pairs of different colour ids that touch (8-neighbourhood), shape (K, 2)."""
    h, w = ids.shape
    pairs = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        if dx >= 0:
            a, b = ids[: h - dy, : w - dx], ids[dy:, dx:]
        else:
            a, b = ids[: h - dy, -dx:], ids[dy:, : w + dx]
        m = (a >= 0) & (b >= 0) & (a != b)
        pairs.append(np.stack([a[m], b[m]], 1))
    p = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
    p = np.sort(p, axis=1)
    return np.unique(p, axis=0) if len(p) else p


def find_blends(rgba: np.ndarray, share: float = 0.02, tolerance: float = 4.0,
                max_neighbours: int = 6, max_candidates: int = 4000) -> list[Blend]:
    """Rare opaque colours that lie between two more frequent colours they touch (anti-aliasing).

    A colour ``c`` is a blend of neighbours ``a`` and ``b`` when it covers at most
    ``share`` of the opaque pixels, both ``a`` and ``b`` are more frequent, ``a`` and
    ``b`` differ by more than ``2 * tolerance`` (Lab), and ``c`` is within
    ``tolerance`` (Lab) of the mix ``a + t (b - a)`` with 0.1 <= t <= 0.9.
    """
    opaque = rgba[..., 3] == 255
    if not opaque.any():
        return []
    key = rgba[..., :3].astype(np.int64)
    key = (key[..., 0] << 16) | (key[..., 1] << 8) | key[..., 2]
    uniq, inv, counts = np.unique(key[opaque], return_inverse=True, return_counts=True)
    ids = np.full(key.shape, -1, np.int64)
    ids[opaque] = inv.ravel()
    rgb = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1).astype(np.float64)
    lab = to_lab(rgb.astype(np.uint8)).astype(np.float64)
    limit = share * counts.sum()
    rare = np.flatnonzero(counts <= limit)
    if not len(rare):
        return []
    pairs = _adjacent_pairs(ids)
    if not len(pairs):
        return []
    # neighbour lists, both directions
    both = np.concatenate([pairs, pairs[:, ::-1]])
    both = both[np.argsort(both[:, 0], kind="stable")]
    starts = np.searchsorted(both[:, 0], np.arange(len(uniq) + 1))
    rare = rare[np.argsort(-counts[rare], kind="stable")][:max_candidates]
    found: list[Blend] = []
    for c in rare:
        nb = both[starts[c]:starts[c + 1], 1]
        nb = nb[counts[nb] > counts[c]]
        if len(nb) < 2:
            continue
        nb = nb[np.argsort(-counts[nb], kind="stable")][:max_neighbours]
        ia, ib = np.triu_indices(len(nb), 1)
        a, b = nb[ia], nb[ib]
        far = np.linalg.norm(lab[a] - lab[b], axis=1) > 2 * tolerance
        if not far.any():
            continue
        a, b = a[far], b[far]
        best = None
        for space, pts in (("rgb", rgb), ("lab", lab)):
            d = pts[b] - pts[a]
            t = ((pts[c] - pts[a]) * d).sum(1) / np.maximum((d * d).sum(1), 1e-9)
            mix = pts[a] + np.clip(t, 0, 1)[:, None] * d
            mix_lab = to_lab(np.clip(np.round(mix), 0, 255).astype(np.uint8)) if space == "rgb" else mix
            dist = np.linalg.norm(np.asarray(mix_lab, np.float64) - lab[c], axis=1)
            ok = (t >= 0.1) & (t <= 0.9) & (dist <= tolerance)
            if ok.any():
                k = int(np.argmin(np.where(ok, dist, np.inf)))
                if best is None or dist[k] < best[3]:
                    best = (int(a[k]), int(b[k]), float(t[k]), float(dist[k]))
        if best is not None:
            ia_, ib_, t_, d_ = best
            found.append(Blend(tuple(int(v) for v in rgb[c]), tuple(int(v) for v in rgb[ia_]),
                               tuple(int(v) for v in rgb[ib_]), round(t_, 3), round(d_, 2), int(counts[c])))
    return found


def edges_on_lines(profile: np.ndarray, lines: np.ndarray) -> float:
    """How much more of the edge strength sits on the grid lines than chance would put there (<= 1).

    ``profile`` is an edge profile in pixel-edge coordinates (length n + 1).  In a
    real upscale every colour change happens on a cell boundary, so the score is
    near 1; a native image that merely has a periodic-looking structure scores low.
    """
    pos = np.arange(1, len(profile) - 1, dtype=np.float64)
    wgt = np.asarray(profile[1:-1], np.float64)
    if not len(pos) or wgt.sum() <= 0 or len(lines) == 0:
        return 0.0
    near = np.abs(pos[:, None] - np.asarray(lines, np.float64)[None, :]).min(1) <= 0.5
    chance = near.mean()
    if chance >= 1.0:
        return 0.0
    return float(((wgt * near).sum() / wgt.sum() - chance) / (1.0 - chance))


def detect_upscale(rgba: np.ndarray, grid_config: Optional[GridConfig] = None,
                   min_on_lines: float = 0.8) -> tuple[float, float, int, int, float]:
    """Cell size x/y, native width/height and confidence (cells 1x1 when the image is native).

    The grid engine proposes a grid; it counts as an upscale only when the image's
    edges lie on that grid's lines (``edges_on_lines`` >= ``min_on_lines`` on every
    axis with cells > 1), so clean native art with large flat shapes is not flagged.
    """
    from .grid import detect_grid, edge_profiles, to_features

    g = grid_config or GridConfig()
    grid = detect_grid(rgba, min_cell=1.0, max_cell=g.max_cell, refine=False, edge_method=g.edges,
                       min_partial=g.min_partial)
    h, w = rgba.shape[:2]
    if not grid.native:
        px, py = edge_profiles(to_features(rgba))
        for fit, prof in ((grid.x, px), (grid.y, py)):
            if fit.cell > 1 + 1e-9 and edges_on_lines(prof, fit.lines) < min_on_lines:
                return 1.0, 1.0, w, h, float(grid.confidence)
        gh, gw = grid.shape
        return float(grid.x.cell), float(grid.y.cell), int(gw), int(gh), float(grid.confidence)
    return 1.0, 1.0, w, h, float(grid.confidence)


def check_image(rgba: np.ndarray, cfg: Optional[CheckConfig] = None, palette: Optional[np.ndarray] = None,
                grid_config: Optional[GridConfig] = None) -> CheckReport:
    """Every problem that keeps ``rgba`` from being clean native pixel art, one short line each."""
    cfg = cfg or CheckConfig()
    rep = CheckReport(native_size=(int(rgba.shape[1]), int(rgba.shape[0])))
    cols, counts = visible_colors(rgba)
    rep.colors = int(len(cols))
    if cfg.upscaled:
        cx, cy, nw, nh, conf = detect_upscale(rgba, grid_config)
        rep.cell, rep.native_size, rep.confidence = (cx, cy), (nw, nh), conf
        if cx > 1 or cy > 1:
            rep.problems.append(f"upscaled: cells of {cx:.2f}x{cy:.2f} px (native size about {nw}x{nh})")
    rep.semi_transparent = semi_transparent_count(rgba)
    if rep.semi_transparent and not cfg.semi_transparent:
        rep.problems.append(f"semi-transparent: {rep.semi_transparent} pixels with 0 < alpha < 255")
    rep.blends = find_blends(rgba, cfg.blend_share, cfg.blend_tolerance)
    if len(rep.blends) > cfg.blend_colors:
        b = max(rep.blends, key=lambda x: x.pixels)
        rep.problems.append(f"anti-aliasing: {len(rep.blends)} blend colours, e.g. {hex_color(b.color)} "
                            f"between {hex_color(b.a)} and {hex_color(b.b)}")
    if cfg.max_colors is not None and rep.colors > cfg.max_colors:
        rep.problems.append(f"too many colours: {rep.colors} > {cfg.max_colors}")
    if palette is not None:
        off = off_palette_colors(cols, palette)
        rep.off_palette = int(len(off))
        if len(off):
            eg = ", ".join(hex_color(c) for c in off[:3])
            rep.problems.append(f"off-palette: {len(off)} colour{'s' if len(off) > 1 else ''} not in the palette "
                                f"(e.g. {eg})")
    return rep
