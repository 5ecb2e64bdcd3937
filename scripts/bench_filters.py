#!/usr/bin/env python3
"""Generalisation check: sprites upscaled by resamplers the dev set does not use.

    python scripts/bench_filters.py [--seed 0] [--noise 0.5] [--cases build/filters_s0] [--out DIR]

``degrade.py`` upscales with OpenCV (Keys' cubic a = -0.75, four-lobe Lanczos); users
also upscale with Pillow, ImageMagick or a browser, whose bicubic is Catmull-Rom
(a = -0.5) and whose Lanczos has three lobes.  This makes one case per shared sprite
with Pillow's BICUBIC, LANCZOS or BILINEAR (in turn), by a fractional factor drawn as
``degrade.py`` draws it, on a solid backdrop, with light noise (sd 3) on a share
``--noise`` of them and part of the margin cropped, written in ``degrade.py``'s format
(``cases.jsonl``, ``input/``, ``truth/``).  It then runs ``scripts/bench.py --cases``
on them, which restores, scores (``score.py``) and times every case.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from bench import find_bench  # noqa: E402

FILTERS = {"pil-bicubic": Image.BICUBIC, "pil-lanczos": Image.LANCZOS, "pil-bilinear": Image.BILINEAR}


def make_cases(out: Path, seed: int, noise_share: float) -> int:
    """Write the cases (one per sprite) to ``out``; returns how many."""
    bench = find_bench()
    sys.path.insert(0, str(bench))
    import degrade  # the kit's sprite loading, backdrops and margin, so the cases score alike

    rng = np.random.default_rng(seed)
    (out / "input").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    sprites = sorted(p for p in (bench / "sprites").iterdir() if p.suffix.lower() in (".png", ".gif", ".bmp"))
    names = list(FILTERS)
    with open(out / "cases.jsonl", "w") as f:
        for i, path in enumerate(sprites):
            name = names[i % len(names)]
            sprite = degrade.load_rgba(path)
            bg = degrade.BACKGROUNDS[rng.integers(len(degrade.BACKGROUNDS))]
            gt = degrade.pad_opaque(degrade.flatten(sprite, bg), degrade.MARGIN, bg)
            h, w = gt.shape[:2]
            longest = max(sprite.shape[:2])
            lo = max(2.0, 64 / longest)
            hi = max(lo + 1, min(24.0, 1600 / longest))
            s = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
            W, H = int(round(w * s)), int(round(h * s))
            sx, sy = W / w, H / h
            big = np.array(Image.fromarray(np.ascontiguousarray(gt[..., :3])).resize((W, H), FILTERS[name]))
            if rng.random() < noise_share:
                big = np.clip(big + rng.normal(0.0, 3.0, big.shape), 0, 255).astype(np.uint8)
            crop = [int(rng.uniform(0, 1.6) * v) for v in (sx, sy, sx, sy)]  # left, top, right, bottom
            img = big[crop[1]:H - crop[3], crop[0]:W - crop[2]]
            cid = f"{path.stem}__{name}{i % len(names)}"
            cv2.imwrite(str(out / "input" / f"{cid}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(out / "truth" / f"{cid}.png"), cv2.cvtColor(gt, cv2.COLOR_RGBA2BGRA))
            f.write(json.dumps({"id": cid, "sprite": path.name, "kind": name, "alpha": False, "bg": list(bg),
                                "resample": name, "format": "png", "scale_x": round(sx, 4), "scale_y": round(sy, 4),
                                "crop_ltrb": crop, "margin": degrade.MARGIN, "grid_w": w, "grid_h": h,
                                "input_w": img.shape[1], "input_h": img.shape[0]}) + "\n")
    return len(sprites)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=0.5, help="share of cases with noise of sd 3 added")
    ap.add_argument("--cases", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    cases = args.cases or ROOT / "build" / f"filters_s{args.seed}"
    if not (cases / "cases.jsonl").exists():
        print(f"{make_cases(cases, args.seed, args.noise)} cases -> {cases}")
    cmd = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--cases", str(cases)]
    if args.out:
        cmd += ["--out", str(args.out)]
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
