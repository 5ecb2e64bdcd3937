"""Palette reduction: one clean colour per cluster of near-identical cell colours.

Sampled cells of a degraded image scatter around the sprite's true colours.  We
cluster them in CIELAB (leader clustering in order of frequency, then a few
Lloyd steps), with a merge radius ``tau`` set from the measured sampling noise,
so a clean image keeps its exact colours and a noisy one collapses each colour's
cloud to its mean.  Rare clusters that sit next to a common colour, or on the
line between two common colours (a blend of neighbours: an anti-aliasing or
border artefact), are folded into the nearest common colour.  An optional cap
(k-means) and an optional fixed palette (nearest colour in CIELAB) follow.

Palette colours are returned in RGB as the weighted mean of their members' RGB,
so a cluster of identical inputs keeps its exact value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree
from skimage.color import rgb2lab


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(rows, axis=0, return_inverse=True, return_counts=True)`` for integer
    rows (N, C): the same rows in the same (lexicographic) order, found by sorting one
    int64 key per row instead of rows as records (several times faster)."""
    rows = np.asarray(rows)
    keyed = rows.ndim == 2 and len(rows) > 0 and rows.shape[1] > 0
    if keyed:
        r = rows.astype(np.int64)
        lo = r.min(axis=0)
        span = r.max(axis=0) - lo + 1
        keyed = float(np.prod(span.astype(np.float64))) < 2.0 ** 62  # else the key would overflow
    if not keyed:
        u, inv, cnt = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
        return u, inv.ravel(), cnt
    key = np.zeros(len(r), np.int64)
    for c in range(r.shape[1]):  # mixed radix, first column most significant
        key = key * span[c] + (r[:, c] - lo[c])
    _, first, inv, cnt = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
    return rows[first], inv.ravel(), cnt


@dataclass
class Palette:
    """Result of palette reduction over the opaque cells."""

    colors: np.ndarray         # (K, 3) uint8 RGB, most frequent first
    counts: np.ndarray         # (K,) cells per colour
    labels: np.ndarray         # (N,) index into ``colors`` for each input colour
    n_before: int              # distinct colours before reduction
    tau: float                 # merge radius used (Lab units)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """Accurate RGB (..., 3) in 0..255 -> CIELAB float64 (D65)."""
    rgb = np.asarray(rgb, np.float64)
    return rgb2lab(rgb.reshape(-1, 1, 3) / 255.0).reshape(rgb.shape)


def weighted_means(values: np.ndarray, labels: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Weighted mean (k, D) of the rows of ``values`` (N, D) in each of ``k`` clusters."""
    tot = np.bincount(labels, weights, minlength=k)
    out = np.stack([np.bincount(labels, weights * values[:, j], minlength=k) for j in range(values.shape[1])], 1)
    return out / np.maximum(tot, 1e-12)[:, None]


def _nearest(lab: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # |a-b|^2 = |a|^2 - 2ab + |b|^2: one matrix product instead of an (N, K, 3) array
    d = (lab * lab).sum(1)[:, None] - 2.0 * lab @ centres.T + (centres * centres).sum(1)[None, :]
    j = np.argmin(d, axis=1)
    return j, np.sqrt(np.maximum(d[np.arange(len(lab)), j], 0.0))


def leader_clusters(lab: np.ndarray, weights: np.ndarray, tau: float, iters: int = 3) -> np.ndarray:
    """Cluster labels: the heaviest unassigned colour founds a cluster and takes all
    unassigned colours within ``tau``; then ``iters`` weighted Lloyd steps.

    Neighbour look-ups go through a k-d tree, so the cost grows with the number of
    clusters times their size, not with the square of the number of colours.
    """
    n = len(lab)
    labels = np.full(n, -1, np.int64)
    order = np.argsort(-weights, kind="stable")
    tree = cKDTree(lab)
    k = 0
    for i in order:
        if labels[i] >= 0:
            continue
        near = np.asarray(tree.query_ball_point(lab[i], tau), np.int64)
        near = near[labels[near] < 0]
        labels[near] = k
        labels[i] = k
        k += 1
    for _ in range(iters):
        c = weighted_means(lab, labels, weights, k)
        _, new = cKDTree(c).query(lab)
        if np.array_equal(new, labels):
            break
        labels = new
        _, labels = np.unique(labels, return_inverse=True)
        k = int(labels.max()) + 1
    _, labels = np.unique(labels, return_inverse=True)
    return merge_close(lab, weights, labels.ravel(), tau)


def merge_close(lab: np.ndarray, weights: np.ndarray, labels: np.ndarray, tau: float,
                max_clusters: int = 2000) -> np.ndarray:
    """Merge clusters whose (weighted) centres lie closer than ``tau``, closest pair first.

    Leader clustering can split one noisy colour into a core and satellites that
    drift together in the Lloyd steps; this joins them.  The pairwise distances are
    computed once and kept up to date (a merge moves one centre and removes
    another), with each row's nearest neighbour, so a merge costs O(clusters), not
    O(clusters^2).
    """
    k = int(labels.max()) + 1 if len(labels) else 0
    if k < 2 or k > max_clusters:
        return labels
    w = np.bincount(labels, weights, minlength=k)
    c = weighted_means(lab, labels, weights, k)
    d = np.empty((k, k))
    for r in range(0, k, 256):  # in row blocks: no (k, k, 3) array
        d[r:r + 256] = np.linalg.norm(c[r:r + 256, None] - c[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    near = np.argmin(d, axis=1)                # each row's nearest (first on ties)
    dmin = d[np.arange(k), near]
    alive = np.ones(k, bool)
    mapping = np.arange(k)
    while True:
        i = int(np.argmin(dmin))               # the first closest pair in row order
        j = int(near[i])
        if not dmin[i] < tau:
            break
        a, b = (i, j) if w[i] >= w[j] else (j, i)
        c[a] = (c[a] * w[a] + c[b] * w[b]) / (w[a] + w[b])
        w[a] += w[b]
        mapping[mapping == b] = a
        alive[b] = False
        d[b, :] = np.inf
        d[:, b] = np.inf
        row = np.linalg.norm(c[a][None] - c, axis=-1)
        row[~alive] = np.inf
        row[a] = np.inf
        d[a, :] = row
        d[:, a] = row
        dmin[b] = np.inf
        # rows whose nearest was a or b are searched again; the others only compare a
        redo = alive & ((near == a) | (near == b))
        redo[a] = True
        for r in np.flatnonzero(redo):
            near[r] = int(np.argmin(d[r]))
            dmin[r] = d[r, near[r]]
        other = alive & ~redo
        closer = other & ((row < dmin) | ((row == dmin) & (a < near)))
        near[closer] = a
        dmin[closer] = row[closer]
    _, out = np.unique(mapping[labels], return_inverse=True)
    return out.ravel()


def _segment_distance(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points c (..., 3) to segments a-b (..., 3), and position t in [0, 1]."""
    ab = b - a
    t = np.clip(((c - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    return np.linalg.norm(c - (a + t[..., None] * ab), axis=-1)


def reduce_palette(rgb: np.ndarray, weights: np.ndarray | None = None, tau: float = 0.0,
                   rare_share: float = 0.002, max_colors: int | None = None,
                   fixed: np.ndarray | None = None, chroma_weight: float = 1.0,
                   independence: float = 1.0) -> Palette:
    """Reduce colours ``rgb`` (N, 3) float/uint8 with ``weights`` (cell counts).

    ``chroma_weight`` < 1 measures colour distances with the chroma axes (a*, b*)
    shrunk: JPEG stores chroma at half resolution and quantises it coarsely, so a
    dark outline next to red comes out in several tints of one lightness.

    ``tau`` merge radius in Lab (0 keeps every distinct colour), ``rare_share`` clusters
    holding less than this share of cells may be folded into common neighbours,
    ``max_colors`` optional cap, ``fixed`` optional (K, 3) uint8 palette to snap to.
    ``independence``: independent colour errors per cell (1; after JPEG, whose errors
    are shared by the cells of a block, the cell's share of a block): a rare colour
    that several independent estimates agree on is kept (see below).
    """
    rgb = np.asarray(rgb, np.float64).reshape(-1, 3)
    n = len(rgb)
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    if n == 0:
        return Palette(np.zeros((0, 3), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64), 0, tau)
    n_before = len(unique_rows(np.round(rgb).astype(np.uint8))[0])
    lab = to_lab(rgb)

    if fixed is not None and len(fixed):
        fixed = np.asarray(fixed, np.uint8).reshape(-1, 3)
        labels, _ = _nearest(lab, to_lab(fixed))
        used, labels = np.unique(labels, return_inverse=True)
        cols = fixed[used]
        counts = np.bincount(labels, w, minlength=len(used))
        return _ordered(cols, counts, labels, n_before, tau)

    if chroma_weight != 1.0:
        lab = lab * np.array([1.0, chroma_weight, chroma_weight])
    labels = leader_clusters(lab, w, tau) if tau > 0 else unique_rows(np.round(rgb).astype(np.int64))[1]
    k = int(labels.max()) + 1
    counts = np.bincount(labels, w, minlength=k)
    centres = weighted_means(lab, labels, w, k)

    # fold rare clusters into common neighbours (near one, or on the blend of two)
    total = counts.sum()
    rare = counts < rare_share * total
    common = np.flatnonzero(~rare)
    if rare.any() and len(common) and tau > 0:
        # a lone estimate may stray up to twice the merge radius from its colour; the
        # mean of n independent estimates strays about 1/sqrt(n) as far, so a rare
        # colour that several cells agree on is a colour of its own (a sprite's eyes)
        n_eff = np.maximum(counts * independence, 1.0)
        radius = np.maximum(tau, 2.0 * tau / np.sqrt(n_eff))
        d_common = np.linalg.norm(centres[:, None, :] - centres[None, common, :], axis=-1)
        nearest = common[np.argmin(d_common, axis=1)]
        fold = rare & (d_common.min(axis=1) <= radius)
        # blends of two common colours: test against the pairs of the 32 commonest
        top = common[np.argsort(-counts[common])[:32]]
        rr = np.flatnonzero(rare & ~fold)
        if len(top) >= 2 and len(rr):
            ia, ib = np.triu_indices(len(top), 1)
            a, b = centres[top[ia]][None], centres[top[ib]][None]
            for i in range(0, len(rr), 1024):
                chunk = rr[i:i + 1024]
                seg = _segment_distance(centres[chunk][:, None, :], a, b)
                fold[chunk] |= seg.min(axis=1) <= tau
        mapping = np.arange(k)
        mapping[fold] = nearest[fold]
        labels = mapping[labels]
        _, labels = np.unique(labels, return_inverse=True)
        k = int(labels.max()) + 1

    if max_colors is not None and k > max_colors:
        labels = _kmeans(lab, w, labels, max_colors)
        k = int(labels.max()) + 1

    counts = np.bincount(labels, w, minlength=k)
    cols = np.clip(np.round(weighted_means(rgb, labels, w, k)), 0, 255).astype(np.uint8)
    return _ordered(cols, counts, labels, n_before, tau)


def _kmeans(lab: np.ndarray, w: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Cap the palette at ``k`` colours: OpenCV k-means seeded with the heaviest clusters."""
    k0 = int(labels.max()) + 1
    counts = np.bincount(labels, w, minlength=k0)
    seeds = np.argsort(-counts)[:k]
    centres = weighted_means(lab, labels, w, k0)[seeds]
    init, _ = _nearest(lab, centres)
    data = lab.astype(np.float32)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.05)
    _, out, _ = cv2.kmeans(data, k, init.astype(np.int32).reshape(-1, 1), crit, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    _, out = np.unique(out.ravel(), return_inverse=True)
    return out


def _ordered(cols: np.ndarray, counts: np.ndarray, labels: np.ndarray, n_before: int, tau: float) -> Palette:
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return Palette(colors=cols[order], counts=np.round(counts[order]).astype(np.int64), labels=rank[labels],
                   n_before=n_before, tau=float(tau))


# ---------------------------------------------------------------- palette files

_HEX = re.compile(r"#?([0-9a-fA-F]{6})(?:[0-9a-fA-F]{2})?\b")


def parse_palette(text: str, suffix: str = "") -> np.ndarray:
    """Colours (K, 3) uint8 from palette file text: GIMP ``.gpl``, JASC ``.pal``, or
    ``.hex``/``.txt`` with one ``RRGGBB`` per line.  Raises ``ValueError`` when empty."""
    lines = [ln.strip() for ln in text.splitlines()]
    cols: list[tuple[int, int, int]] = []
    suffix = suffix.lower()
    if lines and lines[0].upper().startswith("GIMP PALETTE") or suffix == ".gpl":
        for ln in lines[1:]:
            if not ln or ln.startswith("#") or ":" in ln.split()[0]:
                continue
            parts = ln.split()
            if len(parts) >= 3 and all(x.isdigit() for x in parts[:3]):
                cols.append(tuple(int(x) for x in parts[:3]))  # type: ignore[arg-type]
    elif lines and lines[0].upper() == "JASC-PAL" or suffix == ".pal":
        for ln in lines[3:]:
            parts = ln.split()
            if len(parts) >= 3 and all(x.isdigit() for x in parts[:3]):
                cols.append(tuple(int(x) for x in parts[:3]))  # type: ignore[arg-type]
    else:
        for ln in lines:
            if not ln or ln.startswith(";") or ln.startswith("//"):
                continue
            m = _HEX.match(ln)
            if m:
                h = m.group(1)
                cols.append((int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)))
    if not cols:
        raise ValueError("no colours found in palette")
    arr = np.array(cols, np.int64)
    if (arr < 0).any() or (arr > 255).any():
        raise ValueError("palette colour out of range 0..255")
    return arr.astype(np.uint8)


def format_gpl(colors: np.ndarray, name: str = "pixfix") -> str:
    """GIMP palette text for ``colors`` (K, 3) uint8."""
    rows = [f"{r:3d} {g:3d} {b:3d}\t#{r:02x}{g:02x}{b:02x}" for r, g, b in np.asarray(colors, int)]
    return "GIMP Palette\nName: " + name + "\nColumns: 8\n#\n" + "\n".join(rows) + "\n"
