"""One file in, files out: the unit of work shared by the CLI and batch runs.

``restore_file`` reads an image, runs the pipeline, writes the result (and the
optional preview and debug files) atomically, and returns a small record.  It
never overwrites its own input.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .config import Config
from .debug import grid_overlay
from .imageio import ImageError, read_rgba, upscale_nearest, write_png, write_text
from .palette import format_gpl
from .pipeline import restore


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


def default_output(path: Path) -> Path:
    """``IN_pixfix.png`` beside the input."""
    return path.with_name(path.stem + "_pixfix.png")


def sidecar(out: Path, suffix: str) -> Path:
    return out.with_name(out.stem + suffix)


def restore_file(src: Path, out: Path, config: Config, fixed_palette: Optional[np.ndarray] = None,
                 stop_after: Optional[str] = None) -> FileResult:
    """Restore ``src`` into ``out``; errors become a failed record with a one-line message."""
    t0 = time.perf_counter()
    rec = FileResult(input=str(src), output=str(out))
    try:
        if out.resolve() == src.resolve():
            raise ImageError(f"{out}: output would overwrite the input file")
        rgba = read_rgba(src, config.input.max_pixels)
        res = restore(rgba, config, fixed_palette=fixed_palette, stop_after=stop_after)
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
    except ImageError as exc:
        rec.status, rec.error, rec.output = "failed", str(exc), None
    except MemoryError:
        rec.status, rec.error, rec.output = "failed", f"{src}: out of memory", None
    except Exception as exc:  # an algorithm bug must not take a whole batch down
        rec.status, rec.error, rec.output = "failed", f"{src}: internal error: {type(exc).__name__}: {exc}", None
    rec.seconds = round(time.perf_counter() - t0, 4)
    return rec
