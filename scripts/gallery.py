#!/usr/bin/env python3
"""Make the pixelate gallery: scikit-image's sample photos at two sizes and palettes.

    python scripts/gallery.py [--out docs/gallery] [--preview-width 384]

Writes, per photo, a small JPEG of the source and nearest-neighbour previews of
  * 64 px wide, 16 colours chosen by k-means, no dithering;
  * 128 px wide, the ENDESGA 32 palette, Floyd-Steinberg dithering;
then prints a markdown table that the README can include.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pixfix.config import PixelateConfig  # noqa: E402
from pixfix.imageio import write_png  # noqa: E402
from pixfix.pixelate import pixelate  # noqa: E402

SETTINGS = [
    ("64px-k16", "64 px wide, 16 colours (k-means)", PixelateConfig(width=64, colors=16)),
    ("128px-endesga32-fs", "128 px wide, ENDESGA 32, Floyd-Steinberg",
     PixelateConfig(width=128, palette="endesga-32", dither="floyd-steinberg")),
]


def photos() -> dict[str, np.ndarray]:
    from skimage import data
    return {"astronaut": data.astronaut(), "chelsea": data.chelsea(), "coffee": data.coffee()}


def preview(img: np.ndarray, width: int) -> np.ndarray:
    """Nearest-neighbour upscale by the largest integer factor that fits ``width``."""
    k = max(1, width // img.shape[1])
    return cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery")
    ap.add_argument("--preview-width", type=int, default=384)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        rel = args.out.resolve().relative_to(ROOT)
    except ValueError:
        rel = args.out

    rows = []
    for name, rgb in photos().items():
        rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
        k = args.preview_width / rgb.shape[1]
        thumb = cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        src = f"{name}-source.jpg"
        cv2.imwrite(str(args.out / src), cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        cells = [f"![{name}]({rel}/{src})"]
        for tag, _, cfg in SETTINGS:
            res = pixelate(rgba, cfg)
            fname = f"{name}-{tag}.png"
            write_png(args.out / fname, preview(res.image, args.preview_width))
            cells.append(f"![{name}, {tag}]({rel}/{fname})")
        rows.append(cells)

    header = ["source"] + [label for _, label, _ in SETTINGS]
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" for _ in header) + " |")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"\n<!-- made by scripts/gallery.py; {total / 1024:.0f} KB in {rel} -->")


if __name__ == "__main__":
    main()
