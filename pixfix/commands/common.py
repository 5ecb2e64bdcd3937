"""Shared option parsing for the batch commands: config, palette, batch options -> :func:`pixfix.batch.execute`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from ..batch import Outcome, Plan, UsageError, check_report_path, execute
from ..config import Config, ConfigError, load_config, resolve_config_path
from ..jobs import FileResult


def fail(msg: str, code: int = 2) -> None:
    """Print ``pixfix: msg`` on stderr and exit (default: usage error)."""
    typer.echo(f"pixfix: {msg}", err=True)
    raise typer.Exit(code)


def build_config(config: Optional[str], sets: Optional[List[str]], extra: dict) -> Config:
    """Defaults <- -c file/preset <- --set <- explicit flags; errors exit 2, one line each."""
    try:
        return load_config(config, sets, extra)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            typer.echo(f"pixfix: config: {line}", err=True)
        raise typer.Exit(2)


def read_palette(spec: str) -> np.ndarray:
    """A palette file (.gpl .hex .txt .pal) or a built-in name (pico-8, gameboy, nes, endesga-32)."""
    try:
        from ..palettes import resolve_palette
    except ImportError:  # built-in palettes not available: files only
        from ..palette import parse_palette

        p = Path(spec)
        try:
            return parse_palette(p.read_text(encoding="utf-8", errors="replace"), p.suffix)
        except OSError as exc:
            fail(f"{spec}: cannot read palette ({exc.strerror or exc})")
        except ValueError as exc:
            fail(f"{spec}: {exc}")
    try:
        return resolve_palette(spec)
    except (ValueError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        fail(msg if spec in msg else f"{spec}: {msg}")


def dependencies(config: Optional[str], *files: Optional[str]) -> list[Path]:
    """Files whose change makes existing outputs stale: the config file and palette/checkpoint files."""
    deps: list[Path] = []
    if config:
        try:
            deps.append(resolve_config_path(config))
        except ConfigError:
            pass
    deps += [Path(f) for f in files if f and Path(f).is_file()]
    return deps


def run_batch(kind: str, plan_fn, cfg: Config, *, fixed: Optional[np.ndarray] = None,
              stop_after: Optional[str] = None, jobs: int = 0, backend: str = "loky",
              scheduler: Optional[str] = None, overwrite: bool = False, deps: list[Path] = (),
              quiet: bool = False, report: Optional[Path] = None, on_record=None,
              echo_failures: bool = True) -> Outcome:
    """Plan (usage errors exit 2 before any work), run, print the summary; returns the outcome."""
    if jobs < 0:
        fail(f"-j/--jobs {jobs}: must be >= 1 (0 or omitted: all cores)")
    if backend not in ("loky", "dask"):
        fail(f"--backend {backend!r}: expected loky or dask")
    try:
        check_report_path(report)
        plan: Plan = plan_fn()
        echo = (lambda s: typer.echo(s, err=True)) if echo_failures else (lambda s: None)
        outcome = execute(kind, plan, cfg, fixed_palette=fixed, stop_after=stop_after, jobs=jobs,
                          backend=backend, scheduler=scheduler, overwrite=overwrite, deps=deps, quiet=quiet,
                          report=report, on_record=on_record, echo=echo)
    except UsageError as exc:
        fail(str(exc))
    if outcome.interrupted:
        typer.echo(f"pixfix: interrupted; {outcome.count('not run')} files not run (run again to finish)", err=True)
    elif not quiet and len(outcome.records) + outcome.ignored > 1:
        typer.echo(outcome.summary_line(), err=True)
    return outcome


def detail_line(rec: FileResult) -> str:
    """``src -> out: grid, colours, confidence`` for single-file runs."""
    if rec.status == "skipped":
        return f"{rec.input}: {rec.output} is up to date (skipped; --overwrite to redo)"
    cells = (f"{rec.grid_w}x{rec.grid_h} cells of {rec.cell_x:.2f}x{rec.cell_y:.2f} px"
             if rec.cell_x is not None else "")
    conf = f", confidence {rec.confidence:.2f}" if rec.confidence is not None else ""
    cols = rec.colors_after if rec.colors_after is not None else "-"
    return f"{rec.input} -> {rec.output or 'debug files'}: {cells}, {cols} colours{conf}"


def exit_with(outcome: Outcome) -> None:
    raise typer.Exit(outcome.exit_code)


