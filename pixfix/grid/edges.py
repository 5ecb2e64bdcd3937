"""Edge strength and 1-D edge profiles: where the image changes between neighbours.

The grid detector works on two profiles, one per axis.  ``profile_x[b]`` measures
how much the image changes between column ``b-1`` and column ``b`` (summed over
rows), so a cell boundary at pixel edge ``b`` shows up as a peak at index ``b``.
Pixel-edge coordinates are used throughout the grid code: a boundary ``b`` lies
between pixels ``b-1`` and ``b``; ``0`` and ``width`` are the image borders.
"""
from __future__ import annotations

import cv2
import numpy as np

from . import _jit

#: Weight of the alpha channel relative to CIELAB units (alpha 0..255 -> 0..ALPHA_SCALE).
ALPHA_SCALE = 100.0


def to_features(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 (H, W, 4) -> float32 (H, W, 4) features: premultiplied CIELAB and alpha.

    Colour under transparent pixels is meaningless, so Lab is multiplied by opacity;
    alpha is scaled to be comparable with Lab distances.
    """
    rgb = rgba[..., :3].astype(np.float32) * (1.0 / 255.0)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    a = rgba[..., 3].astype(np.float32) * (1.0 / 255.0)
    feats = np.empty(rgba.shape[:2] + (4,), np.float32)
    feats[..., :3] = lab * a[..., None]
    feats[..., 3] = a * ALPHA_SCALE
    return feats


def edge_profiles(feats: np.ndarray, method: str = "diff") -> tuple[np.ndarray, np.ndarray]:
    """Column and row edge profiles ``(px, py)`` of a feature image (H, W, C): see
    :func:`edge_profile`."""
    return edge_profile(feats, 1, method), edge_profile(feats, 0, method)


def edge_profile(feats: np.ndarray, axis: int, method: str = "diff") -> np.ndarray:
    """Edge profile of a feature image (H, W, C) along ``axis`` (1: across columns,
    length ``W + 1``; 0: across rows, length ``H + 1``), in pixel-edge coordinates; the
    two border entries are zero.  One axis at a time: the detector smooths each axis's
    input differently, and whole-image passes dominate on large images.

    ``method``: ``"diff"`` (default) uses the absolute difference between neighbouring
    pixels, which locates boundaries exactly between two pixels; ``"sobel"`` smooths
    across the other axis first (a 3-tap Sobel), more robust to heavy noise;
    ``"nms"`` keeps only ridge centres (:func:`ridge_profile`); ``"canny"`` counts
    Canny edge pixels of the lightness channel (crisp inputs).
    """
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 or 1, not {axis}")
    n = feats.shape[1] if axis == 1 else feats.shape[0]
    prof = np.zeros(n + 1)
    if method == "canny":
        light = np.clip(feats[..., 0] * 2.55, 0, 255).astype(np.uint8)
        gx = cv2.Sobel(light, cv2.CV_16S, 1, 0, ksize=3)
        gy = cv2.Sobel(light, cv2.CV_16S, 0, 1, ksize=3)
        # an edge pixel at column x marks the boundary at x or x+1: split it over both
        e = (cv2.Canny(gx, gy, 30, 90) > 0).sum(axis=0 if axis == 1 else 1).astype(np.float64)
        prof[:-1] += 0.5 * e
        prof[1:] += 0.5 * e
        prof[[0, -1]] = 0
        return prof
    if method == "nms":
        return ridge_profile(feats, axis)
    f = feats
    if method == "sobel" and feats.shape[1 - axis] > 2:
        # smooth across the orthogonal axis with the Sobel [1 2 1] kernel, then differentiate
        f = cv2.GaussianBlur(feats, (1, 3) if axis == 1 else (3, 1), 0)
    return _jit.diff_profile(np.ascontiguousarray(f, np.float32), axis)


def noise_sigma(feats: np.ndarray) -> float:
    """Robust per-channel noise level (feature units) from neighbour differences.

    Most neighbouring pixels lie in the same cell, so the median absolute
    difference measures noise, not edges (MAD -> sigma; the difference of two
    noisy pixels has sqrt(2) times the noise).
    """
    c = feats.shape[2]
    step = max(1, feats.shape[0] * feats.shape[1] // 200_000)  # a row subsample is plenty
    d = np.abs(np.diff(feats[::step], axis=1)).reshape(-1, c)
    if d.size == 0:
        return 0.0
    mad = np.median(d[:, :3], axis=0)  # colour channels; alpha has no noise of its own
    return float(np.sqrt(np.mean((1.4826 * mad / np.sqrt(2)) ** 2)))


def ridge_profile(feats: np.ndarray, axis: int) -> np.ndarray:
    """Edge profile from ridge centres only (non-maximum suppression along ``axis``).

    Blur, resampling filters and JPEG smear a boundary over several pixels and
    ringing adds weaker side lobes; keeping, in every row, only the local maxima of
    the neighbour difference that stand clear of the noise turns each boundary back
    into one sharp peak at its centre.  Returns length ``n + 1`` in pixel-edge
    coordinates, like :func:`edge_profiles`.
    """
    return _jit.ridge_profile(np.ascontiguousarray(feats, np.float32), axis)


def curvature_profiles(feats: np.ndarray, blur: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Column and row curvature profiles ``(px, py)``: see :func:`curvature_profile`."""
    f = cv2.GaussianBlur(feats, (0, 0), blur) if blur > 0 else feats
    return curvature_profile(f, 1, 0.0), curvature_profile(f, 0, 0.0)


def curvature_profile(feats: np.ndarray, axis: int, blur: float = 1.0) -> np.ndarray:
    """Profile along ``axis`` (as :func:`edge_profile`) of the second difference
    |I[x+1] - 2 I[x] + I[x-1]|.

    A smooth (linear, cubic, Lanczos) upscale turns each cell boundary into a ramp
    between two cell centres, so the first difference is spread evenly over the
    cell and carries little periodic signal; the second difference peaks where the
    slope changes: at the knots (cell centres) of the ramps, and on both sides of
    a sharp step.  Either way it repeats with the cell size, which is all the
    period search needs (the model check settles the phase).  A light blur first
    keeps noise and JPEG ringing from dominating the second difference.
    Pixel ``x``'s value is split over its two pixel edges, so a sharp boundary at
    edge ``b`` (peaks at pixels ``b-1`` and ``b``) peaks at ``b``.
    """
    f = cv2.GaussianBlur(feats, (0, 0), blur) if blur > 0 else feats
    return _jit.curvature_profile(np.ascontiguousarray(f, np.float32), axis)


def jpeg_blockiness(feats: np.ndarray) -> float:
    """How much more often the image steps at 8-px block borders than mid-block (1 = no more).

    JPEG codes 8x8 blocks aligned to the image origin; quantisation leaves a small
    step across block borders.  Per row, a border is counted when its neighbour
    difference is a local maximum (above both adjacent differences); the share of
    such rows at block borders is compared with the share at mid-block positions
    (offset 4), which sees the same image content but no codec boundary.  A cell
    grid only raises both when its period is unrelated to 8.
    """
    h, w = feats.shape[:2]
    if w < 24 or h < 8:
        return 1.0
    step = max(1, h // 256)
    g = np.abs(np.diff(feats[::step], axis=1)).sum(axis=2)  # g[:, j]: boundary j+1

    def local_max_share(first: int) -> float:
        b = np.arange(first, w - 1, 8)  # boundaries
        if len(b) == 0:
            return 0.0
        return float((g[:, b - 1] > np.maximum(g[:, b - 2], g[:, b])).mean())

    on, mid = local_max_share(8), local_max_share(4)
    if on < 0.1:
        return 1.0  # too few steps anywhere to tell
    return (on + 0.01) / (mid + 0.01)


def remove_block_pattern(profile: np.ndarray, period: int = 16) -> np.ndarray:
    """Notch the JPEG codec's own lattice out of a profile.

    JPEG codes 8x8 blocks (16x16 for subsampled chroma) on a fixed lattice, so its
    block edges and ringing repeat every 8 and 16 px whatever the image shows.
    Subtracting, at every position, the mean of the profile over all positions
    with the same remainder mod ``period`` removes exactly the frequencies k/16
    (cycles per px) and nothing else, at any lattice offset; a cell grid of any
    other size keeps almost all of its comb.
    """
    e = np.asarray(profile, np.float64).copy()
    n = len(e) - 1
    if n < 2 * period:
        return e
    idx = np.arange(1, n)
    v = e[1:n]
    r = idx % period
    means = np.bincount(r, v, minlength=period) / np.maximum(np.bincount(r, minlength=period), 1)
    e[1:n] = v - means[r] + v.mean()
    return e


def linear_features(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 -> float32 (H, W, 4): premultiplied RGB and alpha, 0..255.

    Resampling filters, blur and JPEG are linear in the stored values, so the
    model check (:mod:`.model`) fits cells in this space, not in CIELAB.
    """
    f = rgba.astype(np.float32)
    f[..., :3] *= f[..., 3:4] * (1.0 / 255.0)
    return f


#: below this share of pairs with a value inside the range, exact repeats are counted
#: over all pairs (:func:`exact_repeats`)
MIN_INNER_PAIRS = 0.05


def exact_repeats(rgba: np.ndarray) -> float:
    """Share of horizontally neighbouring pixels with exactly the same RGBA value.

    Clean pixel art (native or upscaled, losslessly stored) repeats values all
    the time; sensor noise, JPEG and blur make exact repeats rare.  Except at the
    ends of the range: noise on a black or white area is clipped to exactly 0 or
    255, so pairs of pixels whose every channel is 0 or 255 are left out of the
    count, unless nearly all pairs are such (art drawn in those colours alone).
    """
    if rgba.shape[1] < 2:
        return 1.0
    step = max(1, rgba.shape[0] * rgba.shape[1] // 200_000)
    px = np.ascontiguousarray(rgba[::step])
    v = px.view(np.uint32)[..., 0]
    same = v[:, 1:] == v[:, :-1]
    extreme = np.all((px == 0) | (px == 255), axis=2)[:, 1:]
    inner = ~extreme
    if inner.mean() < MIN_INNER_PAIRS:
        return float(same.mean())
    return float(same[inner].mean())
