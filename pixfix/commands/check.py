"""``pixfix check PATH...``: lint assets that should already be clean pixel art (for CI and pre-commit)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..batch import plan
from ..jobs import FileResult
from .common import build_config, exit_with, read_palette, run_batch
from .restore import BACKEND, CONFIG, GLOB, JOBS, QUIET, REPORT, SCHEDULER, SETS


def _print_problems(rec: FileResult) -> None:
    if rec.status != "failed":
        return
    problems = rec.extra.get("problems") or [rec.error or "failed"]
    for p in problems:
        typer.echo(f"{rec.input}: {p}")


def check_command(
    inputs: List[Path] = typer.Argument(..., help="Image files or folders (walked recursively)."),
    config: Optional[str] = CONFIG,
    sets: Optional[List[str]] = SETS,
    max_colors: Optional[int] = typer.Option(None, "--max-colors", help="More colours than this is a problem."),
    palette: Optional[str] = typer.Option(None, "--palette",
                                          help="Every colour must be in this palette (file or built-in name)."),
    allow_semi_transparent: bool = typer.Option(False, "--allow-semi-transparent", help="Accept 0 < alpha < 255."),
    jobs: int = JOBS, glob: Optional[str] = GLOB, report: Optional[Path] = REPORT,
    backend: str = BACKEND, scheduler: Optional[str] = SCHEDULER, quiet: bool = QUIET,
) -> None:
    """Flag upscaled images, semi-transparent pixels, anti-aliasing, too many or off-palette colours.

    Prints one line per problem (``path: problem``); exit 1 when any file has a problem.
    """
    chk: dict = {}
    if max_colors is not None:
        chk["max_colors"] = max_colors
    if palette is not None:
        chk["palette"] = palette
    if allow_semi_transparent:
        chk["semi_transparent"] = True
    cfg = build_config(config, sets, {"check": chk} if chk else {})
    fixed = read_palette(cfg.check.palette) if cfg.check.palette else None
    outcome = run_batch("check", lambda: plan(inputs, None, pattern=glob, writes=False), cfg, fixed=fixed,
                        jobs=jobs, backend=backend, scheduler=scheduler, quiet=quiet, report=report,
                        on_record=_print_problems, echo_failures=False)
    exit_with(outcome)
