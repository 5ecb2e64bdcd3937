#!/usr/bin/env python3
"""Accuracy and speed benchmark on the shared kit (../shared/bench).

    python scripts/bench.py [--seed 0] [--per-sprite 3] [--cases build/dev] [--out build/out]

1. makes degraded cases with ``degrade.py`` (skipped when the folder exists),
2. restores every input with pixfix on one core, timing each case,
3. scores the outputs with ``score.py`` (accuracy per kind),
4. prints speed: median ms per case, megapixels per second, and the time for a
   1024x1024 AI-like input;
5. with ``--batch`` (or ``--batch-only``): runs the batch machinery
   (``pixfix.batch``) over the case inputs with 1 and 2 workers (``--jobs``)
   and prints files per second, the speed-up, start-up and orchestration
   overhead, and peak memory per worker.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pixfix import restore  # noqa: E402
from pixfix.imageio import jpeg_chroma, jpeg_hint, read_rgba, write_png  # noqa: E402


def find_bench() -> Path:
    for cand in (ROOT.parent / "shared" / "bench", ROOT / ".." / "shared" / "bench"):
        if (cand / "degrade.py").exists():
            return cand.resolve()
    raise SystemExit("cannot find ../shared/bench (degrade.py)")


def ai_like_1024(rng: np.random.Generator) -> np.ndarray:
    """A 1024x1024 AI-like input: a 64x64 random sprite of 6 colours with runs (each cell
    repeats its left or upper neighbour half the time, so single cells remain and the
    visible grid is the 64 cells) on drifting ~16 px cells."""
    small = rng.integers(0, 6, (64, 64))
    for y in range(64):
        for x in range(64):
            r = rng.random()
            if r < 0.25 and x:
                small[y, x] = small[y, x - 1]
            elif r < 0.5 and y:
                small[y, x] = small[y - 1, x]
    pal = rng.integers(0, 256, (6, 3))
    sprite = pal[small].astype(np.uint8)
    widths = 16 * (1 + 0.08 * rng.standard_normal(64))
    edges = np.concatenate([[0], np.cumsum(widths)]) * 1024 / np.sum(widths)
    idx = np.clip(np.searchsorted(edges, np.arange(1024) + 0.5, side="right") - 1, 0, 63)
    img = sprite[idx[:, None], idx[None, :]].astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 1.2) + rng.normal(0, 3, img.shape)
    rgba = np.dstack([np.clip(img, 0, 255).astype(np.uint8), np.full((1024, 1024), 255, np.uint8)])
    return rgba


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-sprite", type=int, default=3)
    ap.add_argument("--cases", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--kinds", nargs="*", default=None)
    ap.add_argument("--batch", action="store_true", help="also measure batch throughput with several workers")
    ap.add_argument("--batch-only", action="store_true", help="only the batch measurement")
    ap.add_argument("--jobs", type=int, nargs="*", default=[1, 2], help="worker counts for --batch")
    ap.add_argument("--repeat", type=int, default=1, help="batch runs per worker count (best is kept)")
    ap.add_argument("--pixelate", action="store_true",
                    help="also run the pixelate round trip and 1 MP timings (scripts/bench_pixelate.py)")
    args = ap.parse_args()
    cv2.setNumThreads(1)

    bench = find_bench()
    cases = args.cases or ROOT / "build" / f"bench_s{args.seed}_n{args.per_sprite}"
    out = args.out or cases.with_name(cases.name + "_out")
    if not (cases / "cases.jsonl").exists():
        cmd = [sys.executable, str(bench / "degrade.py"), str(bench / "sprites"), str(cases),
               "--per-sprite", str(args.per_sprite), "--seed", str(args.seed)]
        if args.kinds:
            cmd += ["--kinds", *args.kinds]
        subprocess.run(cmd, check=True)
    out.mkdir(parents=True, exist_ok=True)
    if args.batch_only:
        batch_bench(cases / "input", out / "_batch", args.jobs, args.repeat)
        return

    records = [json.loads(line) for line in open(cases / "cases.jsonl")]
    secs, mps = [], []
    with open(out / "_timing.jsonl", "w") as tf:
        for c in records:
            src = next((cases / "input").glob(c["id"] + ".*"))
            rgba = read_rgba(src)
            t0 = time.perf_counter()
            res = restore(rgba, compressed=jpeg_hint(src), chroma=jpeg_chroma(src))  # as the CLI does
            dt = time.perf_counter() - t0
            write_png(out / f"{c['id']}.png", res.image)
            secs.append(dt)
            mps.append(rgba.shape[0] * rgba.shape[1] / 1e6 / dt)
            tf.write(json.dumps({"id": c["id"], "seconds": dt}) + "\n")

    subprocess.run([sys.executable, str(bench / "score.py"), str(cases), str(out),
                    "--json", str(out / "_score.json"), "--csv", str(out / "_cases.csv")], check=True)

    rng = np.random.default_rng(1)
    big = ai_like_1024(rng)
    restore(big)  # warm-up
    t_big = min(_timed(lambda: restore(big)) for _ in range(3))
    print(f"speed: median {1000 * np.median(secs):.1f} ms/case, p90 {1000 * np.percentile(secs, 90):.1f} ms, "
          f"{np.sum([r['input_w'] * r['input_h'] for r in records]) / 1e6 / np.sum(secs):.2f} MP/s overall, "
          f"1024x1024 AI-like: {1000 * t_big:.0f} ms (one core)")
    if args.batch:
        batch_bench(cases / "input", out / "_batch", args.jobs, args.repeat)
    if args.pixelate:
        pixelate_bench()


def pixelate_bench() -> dict:
    """The pixelate numbers of issue 4: sprite round trip (bicubic x8 -> pixelate) and 1 MP speed."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_pixelate

    r = bench_pixelate.run()
    print(f"pixelate round trip ({r['sprites']} sprites, bicubic x8): mean acc {r['acc_mean']:.4f} "
          f"(min {r['acc_min']:.3f}, bar {r['acc_bar']}); 1 MP photo -> 128 px: "
          f"{r['photo_1mp_s']:.3f} s plain, {r['photo_1mp_fs_s']:.3f} s Floyd-Steinberg (one core)")
    return r


def batch_bench(inputs: Path, out: Path, jobs: list[int], repeat: int = 1) -> dict:
    """Files per second through ``pixfix.batch`` with each worker count, overheads and memory."""
    import shutil

    from pixfix.batch import execute, plan
    from pixfix.config import Config

    cfg = Config()
    p = plan([inputs], out)
    n = len(p.tasks)
    results = {}
    for j in jobs:
        best = None
        for _ in range(repeat):
            shutil.rmtree(out, ignore_errors=True)
            o = execute("restore", p, cfg, jobs=j, quiet=True, overwrite=True, echo=lambda s: None)
            if best is None or o.seconds < best.seconds:
                best = o
        work = sum(r.seconds for r in best.records)
        first = min((r for r in best.records), key=lambda r: r.seconds)
        mem: dict = {}
        for r in best.records:
            pid = r.extra.get("pid")
            mem[pid] = max(mem.get(pid, 0.0), r.extra.get("max_rss_mb") or 0.0)
        results[j] = {"seconds": best.seconds, "files_per_s": n / best.seconds, "work_s": work,
                      "startup_s": best.startup, "ok": best.count("ok"), "failed": best.count("failed"),
                      "peak_rss_mb": max(mem.values()) if mem else None, "workers": len(mem)}
        # time the parallel run cannot explain by the files' own work spread over j workers
        overhead = best.seconds - work / min(j, n)
        print(f"batch -j{j}: {n} files in {best.seconds:.1f} s = {n / best.seconds:.2f} files/s "
              f"({best.count('ok')} ok, {best.count('failed')} failed); per-file work {work:.1f} s; "
              f"first result after {best.startup:.2f} s (fastest file {first.seconds:.2f} s); "
              f"overhead {overhead:.1f} s = {100 * overhead / best.seconds:.1f}% of the run; "
              f"peak RSS per worker {max(mem.values()):.0f} MB ({len(mem)} processes)")
    if 1 in results:
        for j, r in results.items():
            if j != 1:
                print(f"batch speed-up -j{j} vs -j1: {results[1]['seconds'] / r['seconds']:.2f}x")
    # progress bar cost: tqdm updates written to a buffer
    import io as _io

    from tqdm import tqdm
    t0 = time.perf_counter()
    bar = tqdm(total=n, file=_io.StringIO(), disable=False)
    for _ in range(n):
        bar.set_postfix(failed=0, refresh=False)
        bar.update(1)
    bar.close()
    print(f"progress bar: {1e3 * (time.perf_counter() - t0):.1f} ms for {n} updates")
    return results


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
