"""One file in, files out: the unit of work shared by the CLI and batch runs.

``restore_file`` / ``pixelate_file`` / ``check_file`` read one image, run the
algorithm, write the results (and optional preview and debug files) atomically
and return a small :class:`FileResult`.  Batch workers call :func:`run_task`
with paths and a frozen config only, so no image array crosses a process
boundary.  Outputs never overwrite their own input.
"""
from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .config import Config
from .imageio import ImageError, jpeg_chroma, jpeg_hint, read_rgba, upscale_nearest, write_png, write_text


@dataclass
class FileResult:
    """What happened to one input file (small and picklable)."""

    input: str
    output: Optional[str] = None
    status: str = "ok"              # ok | failed | skipped
    error: Optional[str] = None
    cell_x: Optional[float] = None
    cell_y: Optional[float] = None
    grid_w: Optional[int] = None
    grid_h: Optional[int] = None
    colors_before: Optional[int] = None
    colors_after: Optional[int] = None
    confidence: Optional[float] = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def sidecar(out: Path, suffix: str) -> Path:
    return out.with_name(out.stem + suffix)


def check_readable(src: Path) -> None:
    """Refuse entries that are not regular files before opening them (a FIFO would block forever)."""
    try:
        st = os.stat(src)
    except FileNotFoundError:
        if os.path.islink(src):
            raise ImageError(f"{src}: broken symbolic link") from None
        raise ImageError(f"{src}: no such file") from None
    except PermissionError:
        raise ImageError(f"{src}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{src}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{src}: is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{src}: not a regular file (FIFO, socket or device)")
    if not os.access(src, os.R_OK):
        raise ImageError(f"{src}: permission denied")


def _failed(rec: FileResult, src: Path, exc: BaseException) -> None:
    """Turn an exception into a one-line failure on ``rec``."""
    if isinstance(exc, ImageError):
        msg = str(exc)
    elif isinstance(exc, MemoryError):
        msg = f"{src}: out of memory"
    elif isinstance(exc, ValueError) and type(exc).__name__ == "GeneratorError":
        msg = f"{src}: generator: {exc}"
    else:  # an algorithm bug must not take a whole batch down
        msg = f"{src}: internal error: {type(exc).__name__}: {exc}"
    rec.status, rec.error, rec.output = "failed", msg.splitlines()[0] if msg else msg, None


def restore_file(src: Path, out: Path, config: Config, fixed_palette: Optional[np.ndarray] = None,
                 stop_after: Optional[str] = None) -> FileResult:
    """Restore ``src`` into ``out``; errors become a failed record with a one-line message."""
    # the engine loads in the process that first restores (a worker), not with the CLI
    from .debug import grid_overlay
    from .palette import format_gpl
    from .pipeline import restore

    t0 = time.perf_counter()
    rec = FileResult(input=str(src), output=str(out))
    try:
        if out.resolve() == src.resolve():
            raise ImageError(f"{out}: output would overwrite the input file")
        check_readable(src)
        rgba = read_rgba(src, config.input.max_pixels)
        chroma = jpeg_chroma(src)
        res = restore(rgba, config, fixed_palette=fixed_palette, stop_after=stop_after, compressed=jpeg_hint(src),
                      chroma=chroma)
        g = res.grid
        rec.cell_x, rec.cell_y = round(g.x.cell, 4), round(g.y.cell, 4)
        rec.grid_h, rec.grid_w = g.shape
        rec.confidence = round(res.confidence, 4)
        debug = config.output.debug or stop_after is not None
        if debug:
            write_png(sidecar(out, "_grid.png"), grid_overlay(rgba, g), indexed=False)
        if res.cells is not None and debug:
            write_png(sidecar(out, "_cells.png"), res.cells.rgba, indexed=False)
        if res.image is not None and stop_after is None:
            write_png(out, res.image, indexed=config.output.indexed)
            if config.output.scale > 1:
                write_png(out.with_name(f"{out.stem}@{config.output.scale}x.png"),
                          upscale_nearest(res.image, config.output.scale), indexed=config.output.indexed)
            rec.colors_before, rec.colors_after = res.colors_before, res.colors_after
        else:
            rec.output = None
        if debug:
            info = {
                "input": str(src), "input_size": [int(rgba.shape[1]), int(rgba.shape[0])],
                "cell_x": g.x.cell, "cell_y": g.y.cell, "phase_x": g.x.phase, "phase_y": g.y.phase,
                "grid_size": [g.shape[1], g.shape[0]], "lines_x": g.xs.tolist(), "lines_y": g.ys.tolist(),
                "refined": [g.x.refined, g.y.refined], "kernel": [g.x.kernel, g.y.kernel],
                "deconvolved": None if res.cells is None or res.cells.kernel is None else list(res.cells.kernel),
                "jpeg_chroma": None if chroma is None else list(chroma),
                "noise_sigma": g.sigma, "confidence": res.confidence,
                "candidates_x": g.x.candidates, "candidates_y": g.y.candidates,
                "colors_before": res.colors_before, "colors_after": res.colors_after,
                "palette": None if res.palette is None else [
                    {"rgb": "#%02x%02x%02x" % tuple(int(v) for v in c), "cells": int(n)}
                    for c, n in zip(res.palette.colors, res.palette.counts)],
                "merge_radius": None if res.palette is None else res.palette.tau,
                "timings": {k: round(v, 5) for k, v in res.timings.items()},
                "config": config.to_dict(),
            }
            write_text(sidecar(out, ".json"), json.dumps(info, indent=1))
            if res.palette is not None:
                write_text(sidecar(out, ".gpl"), format_gpl(res.palette.colors, src.stem))
    except Exception as exc:
        _failed(rec, src, exc)
    rec.seconds = round(time.perf_counter() - t0, 4)
    return rec


def pixelate_file(src: Path, out: Path, config: Config, fixed_palette: Optional[np.ndarray] = None,
                  stop_after: Optional[str] = None) -> FileResult:
    """Turn an ordinary image into pixel art (``config.pixelate``) and write it to ``out``."""
    from .palette import format_gpl

    t0 = time.perf_counter()
    rec = FileResult(input=str(src), output=str(out))
    try:
        from .pixelate import pixelate_image  # lazy: the engine (and torch) load only when used

        if out.resolve() == src.resolve():
            raise ImageError(f"{out}: output would overwrite the input file")
        check_readable(src)
        rgba = read_rgba(src, config.input.max_pixels)
        res = pixelate_image(rgba, config.pixelate, fixed_palette=fixed_palette, restore_config=config)
        img = res.image
        h, w = img.shape[:2]
        rec.grid_w, rec.grid_h = int(w), int(h)
        rec.cell_x, rec.cell_y = round(rgba.shape[1] / w, 4), round(rgba.shape[0] / h, 4)
        rec.colors_before = _count_colors(res.before) if res.before is not None else None
        rec.colors_after = _count_colors(img)
        write_png(out, img, indexed=config.output.indexed)
        if config.output.scale > 1:
            write_png(out.with_name(f"{out.stem}@{config.output.scale}x.png"),
                      upscale_nearest(img, config.output.scale), indexed=config.output.indexed)
        if config.output.debug:
            if res.before is not None:
                write_png(sidecar(out, "_before.png"), res.before, indexed=False)
            pal = np.asarray(res.palette).reshape(-1, 3) if res.palette is not None else np.zeros((0, 3))
            info = {
                "input": str(src), "input_size": [int(rgba.shape[1]), int(rgba.shape[0])],
                "output_size": [int(w), int(h)], "cell_x": rec.cell_x, "cell_y": rec.cell_y,
                "colors_before": rec.colors_before, "colors_after": rec.colors_after,
                "palette": ["#%02x%02x%02x" % tuple(int(v) for v in c) for c in pal],
                "timings": {k: round(float(v), 5) for k, v in dict(res.seconds or {}).items()},
                "config": config.to_dict(),
            }
            write_text(sidecar(out, ".json"), json.dumps(info, indent=1))
            if len(pal):
                write_text(sidecar(out, ".gpl"), format_gpl(pal, src.stem))
    except Exception as exc:
        _failed(rec, src, exc)
    rec.seconds = round(time.perf_counter() - t0, 4)
    return rec


def check_file(src: Path, out: Optional[Path], config: Config, fixed_palette: Optional[np.ndarray] = None,
               stop_after: Optional[str] = None) -> FileResult:
    """Lint ``src`` as clean pixel art; ``status`` is "failed" with every problem in ``extra``."""
    from .check import check_image

    t0 = time.perf_counter()
    rec = FileResult(input=str(src), output=None)
    try:
        check_readable(src)
        rgba = read_rgba(src, config.input.max_pixels)
        rep = check_image(rgba, config.check, palette=fixed_palette, grid_config=config.grid)
        rec.grid_w, rec.grid_h = rep.native_size
        rec.cell_x, rec.cell_y = round(rep.cell[0], 4), round(rep.cell[1], 4)
        rec.colors_before = rec.colors_after = rep.colors
        rec.confidence = None if rep.confidence is None else round(rep.confidence, 4)
        rec.extra["problems"] = list(rep.problems)
        if rep.problems:
            rec.status = "failed"
            rec.error = "; ".join(rep.problems)
    except Exception as exc:
        _failed(rec, src, exc)
        rec.extra["problems"] = [rec.error.split(": ", 1)[-1] if rec.error else "failed"]
    rec.seconds = round(time.perf_counter() - t0, 4)
    return rec


def _count_colors(rgba: np.ndarray) -> int:
    """Distinct colours among the visible (alpha > 0) pixels."""
    rgba = np.ascontiguousarray(rgba, np.uint8)
    flat = rgba.reshape(-1, 4)
    flat = flat[flat[:, 3] > 0]
    return int(len(np.unique(flat.view(np.uint32)))) if len(flat) else 0


KINDS = {"restore": restore_file, "pixelate": pixelate_file, "check": check_file}
_limited = False


def limit_threads() -> None:
    """One thread per worker process: the pool is the parallelism, nested pools only contend."""
    global _limited
    if _limited:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import cv2

    cv2.setNumThreads(1)
    _limited = True


def run_task(kind: str, src: str, out: Optional[str], config: Config,
             fixed_palette: Optional[np.ndarray] = None, stop_after: Optional[str] = None) -> FileResult:
    """The batch worker entry point: paths and a frozen config in, a small record out.

    Also records the worker's pid and peak resident memory (``extra``) so a run
    can report memory per worker.
    """
    limit_threads()
    fn = KINDS[kind]
    rec = fn(Path(src), None if out is None else Path(out), config, fixed_palette, stop_after)
    rec.extra["pid"] = os.getpid()
    rec.extra["max_rss_mb"] = _max_rss_mb()
    return rec


def _max_rss_mb() -> Optional[float]:
    try:
        import resource
        import sys

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return round(rss / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0), 1)
    except (ImportError, OSError):
        return None
