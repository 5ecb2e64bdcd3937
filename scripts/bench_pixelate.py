#!/usr/bin/env python3
"""Benchmark for ``pixfix pixelate``: a round-trip accuracy proxy and photo speed.

    python scripts/bench_pixelate.py [--sprites DIR] [--scale 8] [--outline 1.0] [--repeats 5] [--out DIR]

1. Round trip: every native sprite in ``../shared/bench/sprites`` is upscaled
   ``scale``x with bicubic interpolation, then pixelated back to the sprite's exact
   size with as many colours as it has (opaque, capped at 256).  Each pixel is
   judged with ``score.py``'s rule: transparent in the sprite -> output alpha < 128;
   opaque -> output opaque and within DE76 <= 8 (CIELAB).  Bar: mean >= 0.85.
2. Speed on one core: a 1 MP photo (skimage ``astronaut`` at 1000x1000) to a
   128-px-wide result, without dithering and with Floyd-Steinberg (median of
   ``repeats`` runs).  Targets: <= 0.3 s and <= 1 s.

``run(...)`` returns the numbers as a dict (scripts/bench.py calls it); ``main``
prints a table.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pixfix.config import PixelateConfig  # noqa: E402
from pixfix.imageio import read_rgba, write_png  # noqa: E402
from pixfix.pixelate import pixelate  # noqa: E402

ACC_BAR = 0.85
TARGET_PLAIN_S = 0.3
TARGET_FS_S = 1.0


def find_bench() -> Path:
    for cand in (ROOT.parent / "shared" / "bench", ROOT / ".." / "shared" / "bench"):
        if (cand / "score.py").exists():
            return cand.resolve()
    raise SystemExit("cannot find ../shared/bench (score.py)")


def _score_module(bench: Path):
    """score.py itself, so the judging rule (Lab conversion, tolerance) is the same code."""
    spec = importlib.util.spec_from_file_location("_pixfix_bench_score", bench / "score.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def accuracy(out: np.ndarray, truth: np.ndarray, score) -> float:
    """score.py's per-pixel rule for an output of exactly the sprite's size (no offset search)."""
    t_alpha = truth[..., 3] >= 128
    o_alpha = out[..., 3] >= 128
    de = np.linalg.norm(score.lab(out[..., :3]) - score.lab(truth[..., :3]), axis=-1)
    right = np.where(t_alpha, o_alpha & (de <= score.TOL), ~o_alpha)
    return float(right.mean())


def opaque_colours(rgba: np.ndarray) -> int:
    op = rgba[..., 3] >= 128
    return int(len(np.unique(rgba[op][:, :3], axis=0))) if op.any() else 1


def round_trip(sprites: Path, scale: int = 8, outline: float = 1.0, out_dir: Path | None = None,
               dither: str = "none") -> list[dict]:
    """Per-sprite accuracy of upscale(bicubic) -> pixelate back to the native size."""
    score = _score_module(find_bench())
    rows = []
    for path in sorted(sprites.glob("*.png")):
        truth = read_rgba(path)
        h, w = truth.shape[:2]
        big = cv2.resize(truth, (w * scale, h * scale), interpolation=cv2.INTER_CUBIC)
        cfg = PixelateConfig(width=w, height=h, colors=int(np.clip(opaque_colours(truth), 2, 256)),
                             outline=outline, dither=dither)
        res = pixelate(big, cfg)
        acc = accuracy(res.image, truth, score)
        rows.append({"sprite": path.stem, "size": f"{w}x{h}", "colors": cfg.colors, "acc": acc})
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            side = np.concatenate([truth, res.image], axis=1)
            write_png(out_dir / f"{path.stem}.png", cv2.resize(side, None, fx=4, fy=4,
                                                                interpolation=cv2.INTER_NEAREST))
    return rows


def photo_1mp() -> np.ndarray:
    from skimage import data
    rgb = cv2.resize(data.astronaut(), (1000, 1000), interpolation=cv2.INTER_AREA)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def time_photo(dither: str, repeats: int = 5, width: int = 128) -> tuple[float, float]:
    """Median (wall, CPU) seconds for a 1 MP photo -> ``width`` px wide, defaults otherwise.

    Everything runs on one thread, so CPU time is the cost without the noise of
    other processes sharing the machine; wall time is what a user waits.
    """
    img = photo_1mp()
    cfg = PixelateConfig(width=width, dither=dither)
    pixelate(img, cfg)  # warm-up (imports, allocations)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        pixelate(img, cfg)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def run(sprites: Path | None = None, scale: int = 8, outline: float = 1.0, repeats: int = 5,
        out_dir: Path | None = None) -> dict:
    """All numbers: round-trip accuracy (mean, min, quartiles, per sprite) and 1 MP timings."""
    cv2.setNumThreads(1)
    sprites = sprites or find_bench() / "sprites"
    rows = round_trip(sprites, scale, outline, out_dir)
    accs = np.array([r["acc"] for r in rows])
    (t_plain, c_plain), (t_fs, c_fs) = time_photo("none", repeats), time_photo("floyd-steinberg", repeats)
    t_ord, c_ord = time_photo("ordered", repeats)
    return {
        "sprites": len(rows),
        "acc_mean": float(accs.mean()),
        "acc_min": float(accs.min()),
        "acc_p25": float(np.percentile(accs, 25)),
        "acc_median": float(np.median(accs)),
        "acc_bar": ACC_BAR,
        "acc_ok": bool(accs.mean() >= ACC_BAR),
        "per_sprite": rows,
        "photo_1mp_s": t_plain,
        "photo_1mp_ordered_s": t_ord,
        "photo_1mp_fs_s": t_fs,
        "photo_1mp_cpu_s": c_plain,
        "photo_1mp_ordered_cpu_s": c_ord,
        "photo_1mp_fs_cpu_s": c_fs,
        "speed_ok": bool(t_plain <= TARGET_PLAIN_S and t_fs <= TARGET_FS_S),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sprites", type=Path, default=None)
    ap.add_argument("--scale", type=int, default=8)
    ap.add_argument("--outline", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="write truth|result previews here")
    ap.add_argument("--worst", type=int, default=8, help="list this many worst sprites")
    ap.add_argument("--extra-scales", type=int, nargs="*", default=[],
                    help="also report the round trip at these upscales (information, no bar)")
    args = ap.parse_args()
    r = run(args.sprites, args.scale, args.outline, args.repeats, args.out)
    print(f"round trip ({r['sprites']} sprites, bicubic x{args.scale}, outline {args.outline}):")
    print(f"  {'mean':>8}{'min':>8}{'p25':>8}{'median':>8}   bar")
    print(f"  {r['acc_mean']:8.4f}{r['acc_min']:8.4f}{r['acc_p25']:8.4f}{r['acc_median']:8.4f}   "
          f">= {ACC_BAR} {'ok' if r['acc_ok'] else 'MISSED'}")
    print("  worst: " + ", ".join(f"{x['sprite']} {x['acc']:.3f}"
                                  for x in sorted(r["per_sprite"], key=lambda x: x["acc"])[:args.worst]))
    print("1 MP photo -> 128 px wide, one core (median):")
    print(f"  {'dither':<18}{'wall s':>9}{'cpu s':>9}{'target':>8}")
    print(f"  {'none':<18}{r['photo_1mp_s']:9.3f}{r['photo_1mp_cpu_s']:9.3f}{TARGET_PLAIN_S:8.1f}")
    print(f"  {'ordered':<18}{r['photo_1mp_ordered_s']:9.3f}{r['photo_1mp_ordered_cpu_s']:9.3f}{'':>8}")
    print(f"  {'floyd-steinberg':<18}{r['photo_1mp_fs_s']:9.3f}{r['photo_1mp_fs_cpu_s']:9.3f}{TARGET_FS_S:8.1f}")
    sprites = args.sprites or find_bench() / "sprites"
    for s in args.extra_scales:
        accs = np.array([x["acc"] for x in round_trip(sprites, s, args.outline)])
        print(f"round trip at x{s}: mean {accs.mean():.4f}, min {accs.min():.4f}")


if __name__ == "__main__":
    main()
