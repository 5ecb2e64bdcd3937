"""``pixfix pixelate PATH... [-o OUT]``: ordinary images -> pixel art, on the same batch machinery."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import List, Optional

import typer

from ..batch import plan
from .common import build_config, dependencies, detail_line, exit_with, fail, read_palette, run_batch
from .restore import BACKEND, CONFIG, GLOB, JOBS, OVERWRITE, QUIET, REPORT, SCHEDULER, SETS


def pixelate_command(
    inputs: List[Path] = typer.Argument(..., help="Image files or folders (walked recursively)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output",
                                          help="Output file (one input) or folder (tree mirrored). "
                                               "Default: IN_pixelated.png beside IN."),
    config: Optional[str] = CONFIG,
    sets: Optional[List[str]] = SETS,
    width: Optional[int] = typer.Option(None, "--width", help="Output width in pixels."),
    height: Optional[int] = typer.Option(None, "--height", help="Output height in pixels."),
    cell: Optional[float] = typer.Option(None, "--cell", help="Source pixels per output pixel."),
    colors: Optional[int] = typer.Option(None, "--colors", help="Palette size (ignored with --palette)."),
    palette: Optional[str] = typer.Option(None, "--palette",
                                          help="Fixed palette: a file (.gpl .hex .txt .pal) or "
                                               "pico-8 | gameboy | nes | endesga-32."),
    dither: Optional[str] = typer.Option(None, "--dither", help="none | ordered | floyd-steinberg."),
    outline: Optional[float] = typer.Option(None, "--outline", help="Outline expansion strength (0 = off)."),
    generator: Optional[Path] = typer.Option(None, "--generator",
                                             help="CycleGAN ResNet generator checkpoint (.pth; needs pixfix[gan])."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda (for --generator)."),
    scale: Optional[int] = typer.Option(None, "--scale", help="Also write a nearest-neighbour preview OUT@Nx.png."),
    debug: bool = typer.Option(False, "--debug", help="Also write OUT_before.png, OUT.json and OUT.gpl."),
    jobs: int = JOBS, glob: Optional[str] = GLOB, report: Optional[Path] = REPORT, overwrite: bool = OVERWRITE,
    backend: str = BACKEND, scheduler: Optional[str] = SCHEDULER, quiet: bool = QUIET,
) -> None:
    """Turn photos, renders or drawings into pixel art: downscale, small palette, optional dithering."""
    px = {k: v for k, v in dict(width=width, height=height, cell=cell, colors=colors, palette=palette,
                                 dither=dither, outline=outline, device=device,
                                 generator=None if generator is None else str(generator)).items() if v is not None}
    extra: dict = {"pixelate": px} if px else {}
    if scale is not None:
        extra.setdefault("output", {})["scale"] = scale
    if debug:
        extra.setdefault("output", {})["debug"] = True
    cfg = build_config(config, sets, extra)
    p = cfg.pixelate
    fixed = read_palette(p.palette) if p.palette else None
    if p.generator:
        if not Path(p.generator).is_file():
            fail(f"{p.generator}: no such generator checkpoint")
        if importlib.util.find_spec("torch") is None:
            fail("--generator needs PyTorch: pip install 'pixfix[gan]'")
    if importlib.util.find_spec("pixfix.pixelate") is None:
        fail("pixelate is not available in this build of pixfix")
    outcome = run_batch(
        "pixelate", lambda: plan(inputs, output, pattern=glob, default_suffix="_pixelated"), cfg, fixed=fixed,
        jobs=jobs, backend=backend, scheduler=scheduler, overwrite=overwrite,
        deps=dependencies(config, p.palette, p.generator), quiet=quiet, report=report)
    if len(outcome.records) == 1 and not quiet and outcome.records[0].status in ("ok", "skipped"):
        typer.echo(detail_line(outcome.records[0]))
    exit_with(outcome)
