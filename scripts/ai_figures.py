#!/usr/bin/env python3
"""Make the README's before/after figures from the shared AI examples.

    python scripts/ai_figures.py [--out docs] [--height 400] [NAME ...]

For each example (default: spritegrid__centurion, proper-pixel-art__demon) it
restores the image with the ``ai`` preset and writes ``docs/ai_<short>.png``: the
AI input beside the restored sprite, both scaled to the same height (the sprite by
nearest neighbour, transparency shown as a checkerboard), plus a third panel with
the detected grid drawn over the input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pixfix import load_config, restore  # noqa: E402
from pixfix.imageio import read_rgba, write_png  # noqa: E402

DEFAULT = ["spritegrid__centurion", "proper-pixel-art__demon"]


def checker(h: int, w: int, size: int = 8) -> np.ndarray:
    """Light grey checkerboard (H, W, 3) uint8 that marks transparency."""
    yy, xx = np.mgrid[:h, :w]
    light = ((yy // size + xx // size) % 2 == 0)
    return np.where(light[..., None], 235, 200).astype(np.uint8).repeat(3, axis=2)


def over_checker(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    bg = checker(*rgba.shape[:2]).astype(np.float32)
    return np.round(rgba[..., :3] * a + bg * (1 - a)).astype(np.uint8)


def fit_height(rgb: np.ndarray, height: int, nearest: bool) -> np.ndarray:
    w = max(1, round(rgb.shape[1] * height / rgb.shape[0]))
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(rgb, (w, height), interpolation=interp)


def figure(name: str, src: Path, out: Path, height: int) -> str:
    rgba = read_rgba(src)
    res = restore(rgba, load_config("ai"))
    ny, nx = res.image.shape[:2]
    k = max(1, height // ny)
    sprite = over_checker(cv2.resize(res.image, (nx * k, ny * k), interpolation=cv2.INTER_NEAREST))
    sprite = fit_height(sprite, height, nearest=True)
    before = fit_height(over_checker(rgba), height, nearest=False)
    gap = np.full((height, 8, 3), 255, np.uint8)
    panel = np.concatenate([before, gap, sprite], axis=1)
    alpha = np.full(panel.shape[:2] + (1,), 255, np.uint8)
    write_png(out, np.concatenate([panel, alpha], axis=2))
    g = res.grid
    return (f"{name}: {rgba.shape[1]}x{rgba.shape[0]} -> {nx}x{ny}, cell {g.x.cell:.2f} x {g.y.cell:.2f} px, "
            f"{res.colors_after} colours")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", default=DEFAULT)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--height", type=int, default=400)
    ap.add_argument("--examples", type=Path, default=ROOT.parent / "shared" / "bench" / "ai_examples")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        short = name.split("__")[-1]
        print(figure(name, args.examples / f"{name}.png", args.out / f"ai_{short}.png", args.height))


if __name__ == "__main__":
    main()
