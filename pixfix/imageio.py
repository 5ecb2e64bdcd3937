"""Reading any image to RGBA uint8 and writing results atomically.

Pillow decodes every format we accept (PNG, JPEG, WebP, BMP, GIF first frame,
TIFF) and every mode (grey, 16-bit, palette with transparency, CMYK), and it
reads the header before the pixels, so oversized images are refused before any
decoding.  Writes go to a temporary file in the target folder and are renamed
over the target, so a crash never leaves a half-written output.
"""
from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


class ImageError(Exception):
    """A problem with one input or output file; ``str()`` is a one-line message."""


JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")


def jpeg_hint(path: str | Path) -> bool | None:
    """True when ``path`` names a JPEG file (its chroma was subsampled), else None:
    unknown, :func:`pixfix.restore` then judges by the image's block pattern."""
    return True if Path(path).suffix.lower() in JPEG_SUFFIXES else None


def jpeg_chroma(path: str | Path) -> tuple[int, int] | None:
    """Chroma subsampling factors (x, y) of a colour JPEG file, e.g. (2, 2) for 4:2:0
    and (1, 1) for none; None for any other file, a greyscale JPEG, or one whose EXIF
    orientation turns it (the chroma blocks no longer start at the top-left pixel)."""
    if Path(path).suffix.lower() not in JPEG_SUFFIXES:
        return None
    try:
        with Image.open(path) as img:
            layers = getattr(img, "layer", None)
            if img.format != "JPEG" or not layers or len(layers) != 3 or img.mode != "RGB":
                return None
            if img.getexif().get(0x0112, 1) != 1:
                return None
            (_, h0, v0, _), *rest = layers
            fx = {h0 // max(h, 1) for _, h, _, _ in rest}
            fy = {v0 // max(v, 1) for _, _, v, _ in rest}
    except (OSError, ValueError, SyntaxError):
        return None
    if len(fx) != 1 or len(fy) != 1:
        return None
    return int(fx.pop()), int(fy.pop())


def read_rgba(path: str | Path, max_pixels: int = 100_000_000) -> np.ndarray:
    """Decode ``path`` to an (H, W, 4) uint8 RGBA array (EXIF orientation applied)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{path}: empty file (0 bytes)")
    return decode_rgba(data, str(path), max_pixels)


def decode_rgba(data: bytes, name: str = "<bytes>", max_pixels: int = 100_000_000) -> np.ndarray:
    """Decode encoded image bytes to RGBA uint8; ``name`` is used in error messages."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, before decoding
            try:
                img = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = saved
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"{name}: image is {w}x{h} = {w * h / 1e6:.1f} MP, over the limit of "
                                 f"{max_pixels / 1e6:g} MP (raise input.max_pixels to allow it)")
            if w == 0 or h == 0:
                raise ImageError(f"{name}: image has no pixels")
            img.seek(0)  # GIF / APNG / multi-page TIFF: first frame
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgba_array(img)
    except ImageError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (unknown or unsupported format)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in msg.lower() or isinstance(exc, (EOFError, SyntaxError)):
            msg = f"truncated or corrupt image data ({msg})"
        raise ImageError(f"{name}: cannot decode image: {msg}") from None


def to_rgba_array(img: Image.Image) -> np.ndarray:
    """Any Pillow image -> (H, W, 4) uint8, scaling 16-bit and float data to 8 bits."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        g = np.clip(np.round(arr * (255.0 / hi)), 0, 255).astype(np.uint8)
        out = np.empty(g.shape + (4,), np.uint8)
        out[..., :3] = g[..., None]
        out[..., 3] = 255
        return out
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        g = np.clip(np.round(arr * scale), 0, 255).astype(np.uint8)
        return np.dstack([g, g, g, np.full_like(g, 255)])
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    elif mode in ("LA", "PA", "RGBa", "La"):
        img = img.convert("RGBA")
    elif mode != "RGBA":
        img = img.convert("RGBA")
    return np.array(img, dtype=np.uint8)


def atomic_write(path: str | Path, writer: Callable[[io.BufferedWriter], None]) -> None:
    """Write ``path`` via a temporary file in the same folder, then rename it into place."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except FileNotFoundError:
        raise ImageError(f"{path}: output folder does not exist") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied (cannot write to {folder})") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ImageError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise


def encode_png(rgba: np.ndarray, indexed: bool = True) -> bytes:
    """PNG bytes; an indexed (palette) PNG with per-entry alpha when it has <= 256 colours."""
    rgba = np.ascontiguousarray(rgba, np.uint8)
    img = Image.fromarray(rgba, "RGBA")
    if indexed:
        flat = rgba.reshape(-1, 4)
        key = flat.view(np.uint32).ravel()
        uniq, inv = np.unique(key, return_inverse=True)
        if len(uniq) <= 256:
            cols = uniq.view(np.uint8).reshape(-1, 4)
            p = Image.fromarray(inv.reshape(rgba.shape[:2]).astype(np.uint8), "P")
            p.putpalette(cols[:, :3].ravel().tolist(), rawmode="RGB")
            if (cols[:, 3] < 255).any():
                p.info["transparency"] = bytes(cols[:, 3].tolist())
                buf = io.BytesIO()
                p.save(buf, format="PNG", transparency=bytes(cols[:, 3].tolist()), optimize=False)
                return buf.getvalue()
            img = p
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_png(path: str | Path, rgba: np.ndarray, indexed: bool = True) -> None:
    """Atomically write ``rgba`` as PNG to ``path``."""
    data = encode_png(rgba, indexed)
    atomic_write(path, lambda f: f.write(data))


def write_text(path: str | Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def upscale_nearest(rgba: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour preview: each pixel becomes a ``scale`` x ``scale`` block."""
    return np.repeat(np.repeat(rgba, scale, axis=0), scale, axis=1)
