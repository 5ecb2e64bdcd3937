"""Command line: ``pixfix restore | pixelate | check | inspect | config``.

A thin layer: each batch command (``pixfix/commands/*.py``) maps its options
onto a Config and hands the paths to :mod:`pixfix.batch`.  Errors are one line
on stderr; exit code 0 = all ok, 1 = a file failed, 2 = usage or config error
(before any work), 130 = interrupted.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .config import to_yaml
from .imageio import ImageError, read_rgba

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Restore degraded pixel art (AI output, upscales, JPEG) to clean native pixel art.")
config_app = typer.Typer(no_args_is_help=True, help="Show or validate configuration files.")
app.add_typer(config_app, name="config")


from .commands.check import check_command  # noqa: E402
from .commands.common import build_config as _build_config, fail as _fail  # noqa: E402
from .commands.pixelate import pixelate_command  # noqa: E402
from .commands.restore import restore_command  # noqa: E402

app.command("restore")(restore_command)
app.command("pixelate")(pixelate_command)
app.command("check")(check_command)


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
