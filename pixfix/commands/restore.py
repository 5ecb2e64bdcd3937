"""``pixfix restore PATH... [-o OUT]``: degraded pixel art -> native pixel art, one file or whole trees."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..batch import plan
from .common import build_config, dependencies, detail_line, exit_with, fail, read_palette, run_batch

# options shared by every batch command (same names, same help)
JOBS = typer.Option(0, "-j", "--jobs", help="Worker processes (default 0: all cores; 1 runs in this process).")
GLOB = typer.Option(None, "--glob", help="Only files whose path (relative to the folder) matches, e.g. '*.png'.")
REPORT = typer.Option(None, "--report", help="Write a per-file report: FILE.json (with the config) or FILE.csv.")
OVERWRITE = typer.Option(False, "--overwrite", help="Redo outputs that are newer than their input and config.")
BACKEND = typer.Option("loky", "--backend", help="loky (local processes) | dask (needs pixfix[dask] and --scheduler).")
SCHEDULER = typer.Option(None, "--scheduler", help="Dask scheduler address for --backend dask, e.g. tcp://host:8786.")
QUIET = typer.Option(False, "--quiet", "-q", help="Print errors only (no progress bar, no summary).")
CONFIG = typer.Option(None, "-c", "--config", help="YAML config file or preset name (ai, jpeg, upscaled, pixelate).")
SETS = typer.Option(None, "--set", help="Override a config key: section.key=value (repeatable).")


def parse_cell(text: Optional[str]) -> tuple[Optional[float], Optional[float]]:
    """``8`` or ``7.5x8`` -> (x, y)."""
    if text is None:
        return None, None
    try:
        parts = text.lower().split("x")
        if len(parts) == 1:
            v = float(parts[0])
            return v, v
        if len(parts) == 2:
            return float(parts[0]), float(parts[1])
    except ValueError:
        pass
    fail(f"--cell {text!r}: expected W or WxH, e.g. 8 or 7.5x8")
    return None, None


def restore_command(
    inputs: List[Path] = typer.Argument(..., help="Image files or folders (walked recursively)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Output file (one input) or folder (tree mirrored). "
                                               "Default: IN_pixfix.png beside IN."),
    config: Optional[str] = CONFIG,
    sets: Optional[List[str]] = SETS,
    cell: Optional[str] = typer.Option(None, "--cell", help="Manual cell size W or WxH in pixels (skips detection)."),
    min_cell: Optional[float] = typer.Option(None, "--min-cell",
                                             help="Smallest cell size to consider (1 allows 'already native')."),
    max_cell: Optional[float] = typer.Option(None, "--max-cell", help="Largest cell size to consider."),
    colors: Optional[int] = typer.Option(None, "--colors",
                                         help="Cap on the number of colours (default: automatic)."),
    palette: Optional[Path] = typer.Option(None, "--palette",
                                           help="Snap to a fixed palette (.gpl, .hex/.txt, JASC .pal)."),
    background: Optional[str] = typer.Option(None, "--background",
                                             help="keep | transparent | auto (auto: a uniform border-connected "
                                                  "backdrop becomes transparent)."),
    scale: Optional[int] = typer.Option(None, "--scale", help="Also write a nearest-neighbour preview OUT@Nx.png."),
    debug: bool = typer.Option(False, "--debug",
                               help="Also write OUT_grid.png, OUT_cells.png, OUT.json and OUT.gpl."),
    stop_after: Optional[str] = typer.Option(None, "--stop-after",
                                             help="grid | sample: write only that stage's debug files."),
    jobs: int = JOBS, glob: Optional[str] = GLOB, report: Optional[Path] = REPORT, overwrite: bool = OVERWRITE,
    backend: str = BACKEND, scheduler: Optional[str] = SCHEDULER, quiet: bool = QUIET,
) -> None:
    """Restore pixel art: find the grid, sample one colour per cell, clean the palette."""
    extra: dict = {}
    cx, cy = parse_cell(cell)
    if cx is not None:
        extra.setdefault("grid", {}).update(cell=cx, cell_y=cy)
    if min_cell is not None:
        extra.setdefault("grid", {})["min_cell"] = min_cell
    if max_cell is not None:
        extra.setdefault("grid", {})["max_cell"] = max_cell
    if colors is not None:
        extra.setdefault("palette", {})["colors"] = colors
    if palette is not None:
        extra.setdefault("palette", {})["file"] = str(palette)
    if background is not None:
        extra.setdefault("background", {})["mode"] = background
    if scale is not None:
        extra.setdefault("output", {})["scale"] = scale
    if debug:
        extra.setdefault("output", {})["debug"] = True
    if stop_after is not None and stop_after not in ("grid", "sample"):
        fail(f"--stop-after {stop_after!r}: expected grid or sample")
    cfg = build_config(config, sets, extra)
    fixed = read_palette(cfg.palette.file) if cfg.palette.file else None
    outcome = run_batch(
        "restore", lambda: plan(inputs, output, pattern=glob, default_suffix="_pixfix"), cfg, fixed=fixed,
        stop_after=stop_after, jobs=jobs, backend=backend, scheduler=scheduler, overwrite=overwrite,
        deps=dependencies(config, cfg.palette.file), quiet=quiet, report=report)
    if len(outcome.records) == 1 and not quiet and outcome.records[0].status in ("ok", "skipped"):
        typer.echo(detail_line(outcome.records[0]))
    exit_with(outcome)
