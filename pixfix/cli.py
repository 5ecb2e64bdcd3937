"""Command line: ``pixfix restore``, ``pixfix inspect``, ``pixfix config``.

A thin layer: it parses options into a Config, finds the files, and calls
:mod:`pixfix.jobs` / :mod:`pixfix.pipeline`.  Errors are one line on stderr;
exit code 0 = all ok, 1 = a file failed, 2 = usage or config error.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from .config import Config, ConfigError, load_config, to_yaml
from .imageio import IMAGE_SUFFIXES, ImageError, read_rgba
from .jobs import FileResult, default_output, restore_file
from .palette import parse_palette

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Restore degraded pixel art (AI output, upscales, JPEG) to clean native pixel art.")
config_app = typer.Typer(no_args_is_help=True, help="Show or validate configuration files.")
app.add_typer(config_app, name="config")


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"pixfix: {msg}", err=True)
    raise typer.Exit(code)


def _parse_cell(text: Optional[str]) -> tuple[Optional[float], Optional[float]]:
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
    _fail(f"--cell {text!r}: expected W or WxH, e.g. 8 or 7.5x8")
    return None, None


def _read_palette(path: Path) -> np.ndarray:
    try:
        return parse_palette(path.read_text(encoding="utf-8", errors="replace"), path.suffix)
    except OSError as exc:
        _fail(f"{path}: cannot read palette ({exc.strerror or exc})")
    except ValueError as exc:
        _fail(f"{path}: {exc}")


def _build_config(config: Optional[str], sets: Optional[List[str]], extra: dict) -> Config:
    try:
        return load_config(config, sets, extra)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            typer.echo(f"pixfix: config: {line}", err=True)
        raise typer.Exit(2)


def _collect(paths: List[Path]) -> tuple[list[tuple[Path, Path]], int]:
    """(file, path relative to its root) for every image under ``paths``; count of skipped files."""
    found: list[tuple[Path, Path]] = []
    skipped = 0
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    skipped += f.is_file()
                    continue
                if f.is_file():
                    if f.suffix.lower() in IMAGE_SUFFIXES:
                        found.append((f, rel))
                    else:
                        skipped += 1
        elif p.exists() or p.is_symlink():
            found.append((p, Path(p.name)))
        else:
            _fail(f"{p}: no such file or directory")
    return found, skipped


@app.command()
def restore(
    inputs: List[Path] = typer.Argument(..., help="Image files or folders (walked recursively)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Output file (one input) or folder. Default: IN_pixfix.png beside IN."),
    config: Optional[str] = typer.Option(None, "-c", "--config", help="YAML config file or preset name (ai, jpeg, upscaled)."),
    sets: Optional[List[str]] = typer.Option(None, "--set", help="Override a config key: section.key=value (repeatable)."),
    cell: Optional[str] = typer.Option(None, "--cell", help="Manual cell size W or WxH in pixels (skips detection)."),
    min_cell: Optional[float] = typer.Option(None, "--min-cell", help="Smallest cell size to consider (1 allows 'already native')."),
    max_cell: Optional[float] = typer.Option(None, "--max-cell", help="Largest cell size to consider."),
    colors: Optional[int] = typer.Option(None, "--colors", help="Cap on the number of colours (default: automatic)."),
    palette: Optional[Path] = typer.Option(None, "--palette", help="Snap to a fixed palette (.gpl, .hex/.txt, JASC .pal)."),
    background: Optional[str] = typer.Option(None, "--background",
                                             help="keep | transparent | auto (auto: a uniform border-connected backdrop becomes transparent)."),
    scale: Optional[int] = typer.Option(None, "--scale", help="Also write a nearest-neighbour preview OUT@Nx.png."),
    debug: bool = typer.Option(False, "--debug", help="Also write OUT_grid.png, OUT_cells.png, OUT.json and OUT.gpl."),
    stop_after: Optional[str] = typer.Option(None, "--stop-after", help="grid | sample: write only that stage's debug files."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print errors only."),
) -> None:
    """Restore pixel art: find the grid, sample one colour per cell, clean the palette."""
    extra: dict = {}
    cx, cy = _parse_cell(cell)
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
        _fail(f"--stop-after {stop_after!r}: expected grid or sample")
    cfg = _build_config(config, sets, extra)
    fixed = _read_palette(Path(cfg.palette.file)) if cfg.palette.file else None

    files, skipped = _collect(inputs)
    single = len(inputs) == 1 and not inputs[0].is_dir()
    jobs: list[tuple[Path, Path]] = []
    if single and (output is None or not output.is_dir()):
        src = files[0][0]
        out = output if output is not None else default_output(src)
        if out.suffix.lower() != ".png":
            _fail(f"{out}: output must be a .png file (or an existing folder)")
        jobs.append((src, out))
    else:
        if output is None:
            jobs = [(f, default_output(f)) for f, _ in files]
        else:
            if output.exists() and not output.is_dir():
                _fail(f"{output}: not a folder (several inputs need an output folder)")
            jobs = [(f, output / rel.with_suffix(".png")) for f, rel in files]
        seen: dict[Path, Path] = {}
        for src, out in jobs:
            key = out.resolve()
            if key in seen:
                _fail(f"{src} and {seen[key]} would both write {out}")
            seen[key] = src
    results: list[FileResult] = []
    for src, out in jobs:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            rec = FileResult(str(src), None, "failed", f"{out}: cannot create output folder {out.parent} ({exc.strerror})")
            results.append(rec)
            typer.echo(f"pixfix: {rec.error}", err=True)
            continue
        rec = restore_file(src, out, cfg, fixed, stop_after)
        results.append(rec)
        if rec.status == "failed":
            typer.echo(f"pixfix: {rec.error}", err=True)
        elif not quiet:
            what = rec.output or "debug files"
            typer.echo(f"{src} -> {what}: {rec.grid_w}x{rec.grid_h} cells of {rec.cell_x:.2f}x{rec.cell_y:.2f} px, "
                       f"{rec.colors_after if rec.colors_after is not None else '-'} colours, "
                       f"confidence {rec.confidence:.2f}")
    failed = sum(r.status == "failed" for r in results)
    if not quiet and len(results) > 1:
        typer.echo(f"{len(results) - failed} ok, {failed} failed, {skipped} skipped")
    raise typer.Exit(1 if failed else 0)


@app.command()
def inspect(
    image: Path = typer.Argument(..., help="Image to analyse."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    config: Optional[str] = typer.Option(None, "-c", "--config", help="YAML config file or preset name."),
    sets: Optional[List[str]] = typer.Option(None, "--set", help="Override a config key: section.key=value."),
) -> None:
    """Print the detected grid, palette size, and whether the image is already native pixel art."""
    from .pipeline import restore as run

    cfg = _build_config(config, sets, {})
    try:
        rgba = read_rgba(image, cfg.input.max_pixels)
        res = run(rgba, cfg)
    except ImageError as exc:
        _fail(str(exc), 1)
        return
    g = res.grid
    info = {
        "file": str(image), "width": int(rgba.shape[1]), "height": int(rgba.shape[0]),
        "cell_x": round(g.x.cell, 4), "cell_y": round(g.y.cell, 4),
        "offset_x": round(g.x.phase, 3), "offset_y": round(g.y.phase, 3),
        "lines_x": len(g.xs), "lines_y": len(g.ys), "grid_w": g.shape[1], "grid_h": g.shape[0],
        "refined": g.x.refined or g.y.refined, "confidence": round(res.confidence, 3),
        "colors_before": res.colors_before, "colors": res.colors_after, "native": bool(g.native),
    }
    if as_json:
        typer.echo(json.dumps(info))
    else:
        typer.echo(f"{image}: {info['width']}x{info['height']} px")
        typer.echo(f"  cell size   {info['cell_x']:.3f} x {info['cell_y']:.3f} px"
                   f" (offset {info['offset_x']:.2f}, {info['offset_y']:.2f}; "
                   f"{'per-line refined' if info['refined'] else 'uniform'})")
        typer.echo(f"  grid        {info['grid_w']} x {info['grid_h']} cells "
                   f"({info['lines_x']} x {info['lines_y']} lines), confidence {info['confidence']:.2f}")
        typer.echo(f"  palette     {info['colors']} colours ({info['colors_before']} before reduction)")
        typer.echo(f"  native      {'yes: already one pixel per cell' if info['native'] else 'no'}")


@config_app.command("show")
def config_show(
    config: Optional[str] = typer.Option(None, "-c", "--config", help="YAML config file or preset name."),
    sets: Optional[List[str]] = typer.Option(None, "--set", help="Override a config key: section.key=value."),
) -> None:
    """Print the effective configuration as YAML."""
    typer.echo(to_yaml(_build_config(config, sets, {})), nl=False)


@config_app.command("validate")
def config_validate(file: Path = typer.Argument(..., help="YAML config file to check.")) -> None:
    """Check a config file: unknown keys, wrong types, out-of-range values."""
    _build_config(str(file), None, {})
    typer.echo(f"{file}: ok")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("pixfix: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
