#!/usr/bin/env python3
"""Make the bundled example: a sprite drawn in code, degraded like a real upload.

    python scripts/make_example.py  ->  examples/mushroom.png (native truth, 16x16)
                                        examples/mushroom_degraded.jpg (the input)

The degraded copy is upscaled by a fractional factor (7.3x) with nearest neighbour,
cropped off-grid, given mild noise and saved as a JPEG (quality 85), so it shows
everything pixfix undoes: unknown cell size and phase, soft edges, colour noise and
JPEG's chroma bleed.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

ART = [
    "................",
    ".....KKKKKK.....",
    "...KKRRRRWWKK...",
    "..KRRWWRRRWWRK..",
    ".KRRWWWWRRRRRRK.",
    ".KRRRWWRRRWWRRK.",
    "KRRRRRRRRWWWWRRK",
    "KRWWRRRRRRWWRRRK",
    "KKKKKKKKKKKKKKKK",
    "....KSSSSSSK....",
    "....KSSKSKSK....",
    "....KSSSSSSK....",
    "....KSSSSSSK....",
    ".....KKKKKK.....",
    "GGGGGGGGGGGGGGGG",
    "gggggggggggggggg",
]
COLOURS = {".": (120, 180, 220), "K": (40, 24, 32), "R": (214, 56, 48), "W": (246, 238, 222),
           "S": (238, 206, 160), "G": (84, 168, 64), "g": (52, 112, 44)}


def sprite() -> np.ndarray:
    img = np.array([[COLOURS[c] for c in row] for row in ART], np.uint8)
    return np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])


def degrade(img: np.ndarray, seed: int = 7) -> bytes:
    """The degraded example as JPEG file bytes."""
    rng = np.random.default_rng(seed)
    s = 7.3
    h, w = img.shape[:2]
    big = cv2.resize(img[..., :3], (round(w * s), round(h * s)), interpolation=cv2.INTER_NEAREST)
    big = big[3:-2, 4:-1].astype(np.float32) + rng.normal(0, 3.0, big[3:-2, 4:-1].shape)
    big = np.clip(big, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def main() -> None:
    out = ROOT / "examples"
    out.mkdir(exist_ok=True)
    img = sprite()
    cv2.imwrite(str(out / "mushroom.png"), cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA))
    (out / "mushroom_degraded.jpg").write_bytes(degrade(img))
    print(f"wrote {out / 'mushroom.png'} and {out / 'mushroom_degraded.jpg'}")


if __name__ == "__main__":
    main()
