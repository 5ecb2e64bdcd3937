"""Ordinary images (photos, renders, drawings) -> pixel art.

Classical path, all on arrays and vectorised:

1. **Outline expansion** (contrast-aware, after the idea in PixelOE): details
   thinner than about half a cell (a 1-px dark outline, a highlight) would be
   lost by any per-cell choice.  A grey closing/opening finds them (black/white
   top-hat); a pixel counts as thin detail when its top-hat is a large share of
   the local contrast (so the ringing beside a sharp edge does not count) and
   large in absolute terms (so noise does not).  That weight is spread over
   about half a cell (grey dilation) and blends each pixel towards the darkest
   (erosion) or lightest (dilation) colour nearby, so a thin line grows to about
   one cell and survives the downscale.
2. **Downscale** to one colour per cell that is a *source* colour: a small
   lattice of pixels in the inner part of each cell (borders mix neighbours) is
   gathered with index maps (works for any non-integer cell size), and the
   sample nearest the cell's per-channel median in CIELAB is kept.  Alpha is the
   majority of the samples; transparent samples never vote for the colour.
3. **Palette** in CIELAB: k-means (OpenCV, k-means++ seeding) over the opaque
   cells, capped at ``colors``; or the nearest colour of a fixed palette.
4. **Dithering** (optional): ordered (Bayer threshold offset) or Floyd-Steinberg.
   Floyd-Steinberg runs over anti-diagonal wavefronts (pixel (y, x) at step
   x + 2y), which is the exact sequential result with one vectorised step per
   wavefront instead of one Python step per pixel.

``pixelate_image`` adds the optional generator path (``pixfix.generator``): the
network's output goes through the restore pipeline's grid, sample and palette
stages, so the result is one pixel per detected cell.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from .config import Config, PixelateConfig

DEFAULT_LONG_SIDE = 64
INNER = 0.25            # share of the cell at each border that is not sampled
MAX_SAMPLES = 5         # sample lattice per axis and cell
PRESHRINK_CELL = 8      # cells larger than 2x this are first area-reduced towards it
FS_STRENGTH = 0.8       # share of the quantisation error Floyd-Steinberg passes on
FIT_LIMIT = 60_000      # k-means fits on at most this many cells (then assigns all)


@dataclass
class PixelateResult:
    """One pixelated image plus what was used to make it."""

    image: np.ndarray          # (h, w, 4) uint8 RGBA, one pixel per output pixel
    palette: np.ndarray        # (n, 3) uint8 colours used
    before: np.ndarray         # (h, w, 4) uint8: the downscaled colours before palette reduction
    seconds: dict[str, float]  # stage timings


# ------------------------------------------------------------------ helpers

def output_size(h: int, w: int, cfg: PixelateConfig) -> tuple[int, int]:
    """Output (height, width): ``width`` and/or ``height``, else ``cell``, else 64 on the longer side.

    One given side keeps the aspect ratio; both given are used as they are.
    """
    if h < 1 or w < 1:
        raise ValueError("empty image")
    if cfg.width and cfg.height:
        return int(cfg.height), int(cfg.width)
    if cfg.width:
        return max(1, round(h * cfg.width / w)), int(cfg.width)
    if cfg.height:
        return int(cfg.height), max(1, round(w * cfg.height / h))
    if cfg.cell:
        return max(1, round(h / cfg.cell)), max(1, round(w / cfg.cell))
    if w >= h:
        return max(1, round(h * DEFAULT_LONG_SIDE / w)), DEFAULT_LONG_SIDE
    return DEFAULT_LONG_SIDE, max(1, round(w * DEFAULT_LONG_SIDE / h))


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB (..., 3) in 0..255 -> CIELAB float32 (OpenCV, sRGB D65; the scorer's convention)."""
    a = np.asarray(rgb, np.float32)
    shp = a.shape
    lab = cv2.cvtColor(np.ascontiguousarray(a.reshape(-1, 1, 3)) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
    return lab.reshape(shp)


def nearest_color(lab: np.ndarray, pal_lab: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour (Euclidean in Lab) for points (N, 3)."""
    lab = np.asarray(lab, np.float32)
    p = np.asarray(pal_lab, np.float32)
    d = (lab * lab).sum(1)[:, None] - 2.0 * lab @ p.T + (p * p).sum(1)[None, :]
    return np.argmin(d, axis=1)


def _odd(n: float) -> int:
    n = max(1, int(round(n)))
    return n if n % 2 else n + 1


def _rect(kx: int, ky: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_RECT, (max(1, kx), max(1, ky)))


# ------------------------------------------------------------------ 1. outlines

def outline_weights(rgba: np.ndarray, cell: tuple[float, float], strength: float,
                    min_contrast: float = 24.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Contrast-aware expansion maps for cell size ``(cy, cx)``.

    Returns ``(w_dark, w_light, darkest, lightest)``: per-pixel uint8 weights (255 = 1) that
    pull a pixel towards the darkest / lightest colour within about
    ``strength * cell / 2``, and those two colour maps (per-channel erosion and
    dilation, float32 RGB).  Transparent pixels never supply a colour.
    """
    cy, cx = cell
    rgb = rgba[..., :3]
    opaque = rgba[..., 3] >= 128
    all_opaque = bool(opaque.all())
    grey = cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY)
    g_lo = grey if all_opaque else np.where(opaque, grey, 255).astype(np.uint8)   # ignored by min
    g_hi = grey if all_opaque else np.where(opaque, grey, 0).astype(np.uint8)     # ignored by max

    # thin = narrower than ~0.6 cell: what a closing / opening of that size removes
    k_thin = _rect(_odd(max(3.0, 0.6 * cx)), _odd(max(3.0, 0.6 * cy)))
    closing = cv2.erode(cv2.dilate(g_hi, k_thin), k_thin)
    opening = cv2.dilate(cv2.erode(g_lo, k_thin), k_thin)
    # all in saturating uint8 arithmetic (OpenCV SIMD): weights are 0..255
    dark = cv2.subtract(closing, grey)
    light = cv2.subtract(grey, opening)
    # local contrast over about two cells: a real thin line spans most of it, ringing
    # and texture noise only a small share
    k_big = _rect(_odd(2 * cx + 1), _odd(2 * cy + 1))
    span = cv2.max(cv2.subtract(cv2.dilate(g_hi, k_big), cv2.erode(g_lo, k_big)), 1)

    def weight(top: np.ndarray) -> np.ndarray:
        share = cv2.divide(top, span, scale=255.0)                      # top / span
        w_share = cv2.multiply(cv2.subtract(share, 89), 2.5)            # (share - 0.35) * 2.5
        w_abs = cv2.multiply(top, 255.0 / min_contrast)                  # top / min_contrast
        w = cv2.multiply(w_share, w_abs, scale=1 / 255.0)
        if not all_opaque:
            w[~opaque] = 0
        return w

    wd, wl = weight(dark), weight(light)
    # spread the weights over the expansion radius; erode/dilate the colours the same
    r_x = max(1.0, strength * cx / 2.0)
    r_y = max(1.0, strength * cy / 2.0)
    k_grow = _rect(2 * int(round(r_x)) + 1, 2 * int(round(r_y)) + 1)
    wd = cv2.dilate(wd, k_grow)
    wl = cv2.dilate(wl, k_grow)
    if all_opaque:                              # on RGBA (contiguous, no copy); alpha is ignored
        darkest = cv2.erode(rgba, k_grow)[..., :3]
        lightest = cv2.dilate(rgba, k_grow)[..., :3]
    else:
        op3 = opaque[..., None]
        darkest = cv2.erode(np.where(op3, rgb, 255).astype(np.uint8), k_grow)
        lightest = cv2.dilate(np.where(op3, rgb, 0).astype(np.uint8), k_grow)
    return wd, wl, darkest, lightest


# ------------------------------------------------------------------ 2. downscale

def lattice(n_in: int, n_out: int, k: int, inner: float = INNER) -> np.ndarray:
    """Source indices (n_out, k): ``k`` points spread over the inner part of each output cell."""
    cell = n_in / n_out
    t = inner + (1.0 - 2.0 * inner) * (np.arange(k) + 0.5) / k
    pos = (np.arange(n_out)[:, None] + t[None, :]) * cell
    return np.clip(np.floor(pos), 0, n_in - 1).astype(np.intp)


def samples_per_axis(cell: float, inner: float = INNER) -> int:
    return int(np.clip(round(cell * (1.0 - 2.0 * inner)), 1, MAX_SAMPLES))


def downscale(rgba: np.ndarray, out_h: int, out_w: int, outline: float = 0.0) -> np.ndarray:
    """One representative source colour per output cell -> (out_h, out_w, 4) uint8.

    ``outline`` > 0 first applies contrast-aware outline expansion (only where it
    is sampled, so its cost is the morphology, not a full-size blend).
    """
    h, w = rgba.shape[:2]
    cy, cx = h / out_h, w / out_w
    ky, kx = samples_per_axis(cy), samples_per_axis(cx)
    ys = lattice(h, out_h, ky).ravel()
    xs = lattice(w, out_w, kx).ravel()
    gy, gx = ys[:, None], xs[None, :]
    s = rgba[gy, gx].astype(np.float32)                      # (out_h*ky, out_w*kx, 4)
    if outline > 0 and min(cx, cy) >= 2:
        wd, wl, dk, lt = outline_weights(rgba, (cy, cx), outline)
        a = wd[gy, gx][..., None] * np.float32(1 / 255)
        b = wl[gy, gx][..., None] * np.float32(1 / 255)
        both = np.maximum(a + b, 1.0)           # thin dark and light at once: share the pull
        a, b = a / both, b / both
        rgb = s[..., :3]
        s[..., :3] = rgb + a * (dk[gy, gx] - rgb) + b * (lt[gy, gx] - rgb)
    # (out_h, out_w, m, 4) samples per cell
    m = ky * kx
    s = s.reshape(out_h, ky, out_w, kx, 4).transpose(0, 2, 1, 3, 4).reshape(out_h, out_w, m, 4)
    valid = s[..., 3] >= 128
    n_valid = valid.sum(-1)
    lab = to_lab(s[..., :3])
    if valid.all():
        med = np.median(lab, axis=2)
    else:
        # median over the opaque samples only: transparent ones sort last
        srt = np.sort(np.where(valid[..., None], lab, np.inf), axis=2)
        mid = np.maximum(n_valid - 1, 0) // 2
        med = np.take_along_axis(srt, mid[..., None, None].repeat(3, -1), axis=2)[:, :, 0]
        med[n_valid == 0] = 0
    d = ((lab - med[:, :, None, :]) ** 2).sum(-1)
    d[~valid] = np.inf
    pick = np.argmin(d, axis=2)
    out = np.take_along_axis(s, pick[..., None, None].repeat(4, -1), axis=2)[:, :, 0]
    rgba_out = np.empty((out_h, out_w, 4), np.uint8)
    rgba_out[..., :3] = np.clip(np.round(out[..., :3]), 0, 255).astype(np.uint8)
    opaque = 2 * n_valid >= m
    rgba_out[..., 3] = np.where(opaque, 255, 0)
    rgba_out[~opaque, :3] = 0
    return rgba_out


def preshrink(rgba: np.ndarray, out_h: int, out_w: int, target: int = PRESHRINK_CELL) -> np.ndarray:
    """Area-reduce very large inputs by an integer factor so cells stay about ``target`` px.

    Bounds time and memory for big photos going to small outputs (a 24 MP photo to
    128 px wide), where a detail one source pixel wide could not show anyway.
    Colours are averaged with premultiplied alpha, so transparent pixels' hidden
    RGB does not bleed into opaque edges.  Smaller reductions return the input.
    """
    h, w = rgba.shape[:2]
    f = int(min(h / out_h, w / out_w) // target)
    if f < 2:
        return rgba
    size = (max(out_w, -(-w // f)), max(out_h, -(-h // f)))
    a = rgba[..., 3:4].astype(np.float32)
    if (a == 255).all():
        return cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
    pm = np.concatenate([rgba[..., :3].astype(np.float32) * a, a], axis=2)
    r = cv2.resize(pm, size, interpolation=cv2.INTER_AREA)
    alpha = r[..., 3:4]
    rgb = r[..., :3] / np.maximum(alpha, 1e-6)
    return np.clip(np.round(np.concatenate([rgb, alpha], axis=2)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ 3. palette

def kmeans_palette(rgb: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """At most ``k`` colours (uint8 RGB) for colours ``rgb`` (N, 3): k-means in CIELAB.

    When there are no more than ``k`` distinct colours they are returned as they
    are; otherwise each cluster's colour is the mean RGB of its members.
    """
    rgb = np.asarray(rgb, np.uint8).reshape(-1, 3)
    if len(rgb) == 0:
        return np.zeros((0, 3), np.uint8)
    uniq = np.unique(rgb, axis=0)
    if len(uniq) <= k:
        return uniq
    fit = rgb
    if len(fit) > FIT_LIMIT:
        fit = fit[np.random.default_rng(seed).choice(len(fit), FIT_LIMIT, replace=False)]
    lab = to_lab(fit).astype(np.float32)
    cv2.setRNGSeed(seed)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.05)
    _, labels, _ = cv2.kmeans(lab, k, None, crit, 3, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    cnt = np.bincount(labels, minlength=k)
    sums = np.stack([np.bincount(labels, fit[:, j].astype(np.float64), minlength=k) for j in range(3)], 1)
    keep = cnt > 0
    cols = np.clip(np.round(sums[keep] / cnt[keep, None]), 0, 255).astype(np.uint8)
    return np.unique(cols, axis=0)


# ------------------------------------------------------------------ 4. dithering

_BAYER2 = np.array([[0, 2], [3, 1]])


def bayer(n: int = 8) -> np.ndarray:
    """Bayer threshold matrix (n x n, n a power of two) scaled to (-0.5, 0.5)."""
    m = _BAYER2
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return (m + 0.5) / m.size - 0.5


def dither_ordered(lab: np.ndarray, pal_lab: np.ndarray) -> np.ndarray:
    """Palette indices (h, w) by ordered (Bayer 8x8) dithering between the two nearest colours.

    For each pixel the nearest palette colour ``a`` and the runner-up ``b`` are
    found in CIELAB; the pixel's position ``t`` along the segment a-b is its share
    of ``b``, and ``b`` is chosen where ``t`` exceeds the Bayer threshold.  Areas
    between two palette colours so get the right mix on average, whatever the
    direction between them in colour space (a grey offset would only dither
    lightness).
    """
    h, w = lab.shape[:2]
    v = lab.reshape(-1, 3).astype(np.float32)
    p = np.asarray(pal_lab, np.float32)
    if len(p) < 2:
        return np.zeros((h, w), np.intp)
    d = (v * v).sum(1)[:, None] - 2.0 * v @ p.T + (p * p).sum(1)[None, :]
    two = np.argpartition(d, 1, axis=1)[:, :2]
    first = np.take_along_axis(d, two, 1)
    swap = first[:, 1] < first[:, 0]
    i1 = np.where(swap, two[:, 1], two[:, 0])
    i2 = np.where(swap, two[:, 0], two[:, 1])
    a, b = p[i1], p[i2]
    ab = b - a
    t = ((v - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-6)
    thr = np.tile(bayer(8) + 0.5, (h // 8 + 1, w // 8 + 1))[:h, :w].ravel()
    return np.where(t > thr, i2, i1).reshape(h, w)


def dither_floyd_steinberg(lab: np.ndarray, pal_lab: np.ndarray, mask: np.ndarray | None = None,
                           strength: float = 1.0) -> np.ndarray:
    """Floyd-Steinberg error diffusion in CIELAB -> palette indices (h, w).

    ``strength`` < 1 passes on only that share of the error: small palettes then
    make fewer stray far-off pixels where a colour lies outside the palette's gamut.

    Exact raster-order result computed over anti-diagonal wavefronts: pixel
    (y, x) only receives error from (y, x-1) and (y-1, x-1..x+1), all of which
    lie on earlier wavefronts t = x + 2y.  Masked-out (transparent) pixels neither
    take nor pass on error.
    """
    h, w = lab.shape[:2]
    pal = np.asarray(pal_lab, np.float32)
    p2 = (pal * pal).sum(1)
    work = np.zeros((h + 1, w + 2, 3), np.float32)     # padded: column j+1 holds x = j
    work[:h, 1:w + 1] = lab
    m = np.ones((h, w), bool) if mask is None else mask
    out = np.zeros((h, w), np.intp)
    lo = np.array([0, -128, -128], np.float32)
    hi = np.array([100, 127, 127], np.float32)
    yy_all = np.arange(h)
    for t in range(w + 2 * (h - 1)):
        ys = yy_all[(t - 2 * yy_all >= 0) & (t - 2 * yy_all < w)]
        if len(ys) == 0:
            continue
        xs = t - 2 * ys
        v = np.clip(work[ys, xs + 1], lo, hi)
        j = np.argmin(p2[None, :] - 2.0 * v @ pal.T, axis=1)
        out[ys, xs] = j
        err = (v - pal[j]) * (m[ys, xs][:, None] * np.float32(strength))
        work[ys, xs + 2] += err * (7 / 16)
        work[ys + 1, xs] += err * (3 / 16)
        work[ys + 1, xs + 1] += err * (5 / 16)
        work[ys + 1, xs + 2] += err * (1 / 16)
    return out


# ------------------------------------------------------------------ public API

def _fixed_from_cfg(cfg: PixelateConfig, fixed_palette: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if fixed_palette is not None:
        arr = np.asarray(fixed_palette, np.uint8).reshape(-1, 3)
        if len(arr) == 0:
            raise ValueError("fixed palette is empty")
        return arr
    if cfg.palette:
        from .palettes import resolve_palette
        return resolve_palette(cfg.palette)
    return None


def _check(rgba: np.ndarray) -> np.ndarray:
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError("pixelate expects an (H, W, 4) uint8 RGBA array")
    if min(rgba.shape[:2]) < 1:
        raise ValueError("empty image")
    return np.ascontiguousarray(rgba)


def pixelate(rgba: np.ndarray, cfg: Optional[PixelateConfig] = None,
             fixed_palette: Optional[np.ndarray] = None) -> PixelateResult:
    """Classical pixelation of an (H, W, 4) uint8 image (see the module docstring).

    ``fixed_palette`` (K, 3) uint8 wins over ``cfg.palette`` (a built-in name or a
    file); with either, only those colours appear.  Otherwise at most
    ``cfg.colors`` colours are chosen by k-means in CIELAB.
    """
    cfg = cfg or PixelateConfig()
    rgba = _check(rgba)
    fixed = _fixed_from_cfg(cfg, fixed_palette)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    oh, ow = output_size(*rgba.shape[:2], cfg)
    before = downscale(preshrink(rgba, oh, ow), oh, ow, cfg.outline)
    times["downscale"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    opaque = before[..., 3] > 0
    rgb = before[..., :3]
    if fixed is not None:
        pal = np.unique(fixed, axis=0)
    else:
        pal = kmeans_palette(rgb[opaque], int(cfg.colors or 16))
    if len(pal) == 0:                                      # fully transparent image
        times["palette"] = time.perf_counter() - t0
        return PixelateResult(before.copy(), pal, before, times)
    pal_lab = to_lab(pal).astype(np.float32)
    times["palette"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if cfg.dither == "ordered":
        idx = dither_ordered(to_lab(rgb), pal_lab)
    elif cfg.dither == "floyd-steinberg":
        idx = dither_floyd_steinberg(to_lab(rgb), pal_lab, opaque, FS_STRENGTH)
    elif cfg.dither == "none":
        idx = nearest_color(to_lab(rgb).reshape(-1, 3), pal_lab).reshape(oh, ow)
    else:
        raise ValueError(f"dither: must be one of none, ordered, floyd-steinberg, got {cfg.dither!r}")
    image = np.zeros((oh, ow, 4), np.uint8)
    image[..., :3] = pal[idx]
    image[..., 3] = before[..., 3]
    image[~opaque, :3] = 0
    used = np.unique(idx[opaque])
    times["dither" if cfg.dither != "none" else "map"] = time.perf_counter() - t0
    return PixelateResult(image, pal[used], before, times)


# ------------------------------------------------------------------ generator path

_GEN_CACHE: dict[tuple, object] = {}
_GEN_LOCK = threading.Lock()


def _cached_generator(path: str, device: str):
    """Load a generator once per (path, mtime, size, device) in this process."""
    from .generator import GeneratorError, load_generator
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise GeneratorError(f"{path}: no such generator file") from None
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size, device)
    with _GEN_LOCK:
        model = _GEN_CACHE.get(key)
        if model is None:
            model = load_generator(path, device)
            _GEN_CACHE.clear()          # keep one model: they are large
            _GEN_CACHE[key] = model
    return model


def pixelate_image(rgba: np.ndarray, cfg: Optional[PixelateConfig] = None,
                   fixed_palette: Optional[np.ndarray] = None,
                   restore_config: Optional[Config] = None) -> PixelateResult:
    """Pixelate with the generator when ``cfg.generator`` is set, else classically.

    Generator path: the network restyles the image at full size; the restore
    pipeline then finds its grid, samples one colour per cell and reduces the
    palette to ``cfg.colors`` (or snaps to the fixed palette).  ``cfg.cell``, when
    given, fixes the grid instead of detecting it.  Alpha is carried through.
    """
    cfg = cfg or PixelateConfig()
    if not cfg.generator:
        return pixelate(rgba, cfg, fixed_palette)
    from .generator import run_generator
    from .pipeline import restore

    rgba = _check(rgba)
    fixed = _fixed_from_cfg(cfg, fixed_palette)
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    model = _cached_generator(cfg.generator, cfg.device)
    times["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    styled = run_generator(model, rgba[..., :3], tile=cfg.tile)
    times["generator"] = time.perf_counter() - t0

    base = restore_config or Config()
    pal_cfg = dataclasses.replace(base.palette, colors=None if fixed is not None else cfg.colors)
    grid_cfg = base.grid if cfg.cell is None else dataclasses.replace(base.grid, cell=float(cfg.cell), cell_y=None)
    rcfg = dataclasses.replace(base, palette=pal_cfg, grid=grid_cfg)
    rgba2 = np.dstack([styled, rgba[..., 3]])
    res = restore(rgba2, rcfg, fixed_palette=fixed)
    for k, v in res.timings.items():
        times[k] = v
    image = res.image
    before = res.cells.rgba if res.cells is not None else image
    op = image[..., 3] > 0
    pal = np.unique(image[op][:, :3], axis=0) if op.any() else np.zeros((0, 3), np.uint8)
    return PixelateResult(image, pal, before, times)


__all__ = ["PixelateResult", "output_size", "pixelate", "pixelate_image", "downscale", "outline_weights",
           "kmeans_palette", "dither_ordered", "dither_floyd_steinberg", "bayer"]
