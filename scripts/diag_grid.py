#!/usr/bin/env python3
"""Per-axis grid diagnosis on a degrade.py case folder (for engine work).

    python scripts/diag_grid.py build/dev [--kinds smooth jpeg] [--out diag.jsonl]

For every case and axis: the true cell size, the detected one, whether the true
size was proposed (within 3 %), its line z, and whether the final count of cells
is within the scorer's tolerance.  Prints a summary of failure causes per kind.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import cv2  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from pixfix.config import Config  # noqa: E402
from pixfix.imageio import read_rgba  # noqa: E402
from pixfix.pipeline import find_grid  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", type=Path)
    ap.add_argument("--kinds", nargs="*")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    cv2.setNumThreads(1)
    recs = [json.loads(line) for line in open(a.cases / "cases.jsonl")]
    if a.kinds:
        recs = [r for r in recs if r["kind"] in a.kinds]
    if a.limit:
        recs = recs[: a.limit]
    causes: dict[str, Counter] = defaultdict(Counter)
    rows = []
    for r in recs:
        src = next((a.cases / "input").glob(r["id"] + ".*"))
        rgba = read_rgba(src)
        t0 = time.perf_counter()
        g = find_grid(rgba, Config())
        dt = time.perf_counter() - t0
        for ax, fit, true, n_in in (("x", g.x, r["scale_x"], r["input_w"]), ("y", g.y, r["scale_y"], r["input_h"])):
            vis = n_in / true
            ok = abs(fit.n_cells - vis) <= 2.0
            prop = [z for q, z in fit.proposals if abs(q - true) <= 0.03 * true]
            if ok:
                cause = "ok"
            elif not prop:
                cause = "not-proposed"
            elif max(prop) < 5:
                cause = "weak-z"
            else:
                cause = "model"
            causes[r["kind"]][cause] += 1
            rows.append(dict(id=r["id"], kind=r["kind"], axis=ax, true=true, got=round(fit.cell, 3),
                             n=fit.n_cells, vis=round(vis, 1), cause=cause,
                             z_true=round(max(prop), 2) if prop else None,
                             kernel=fit.kernel, resample=r.get("resample"), jpeg=r.get("jpeg"), secs=round(dt, 3),
                             proposals=[(round(q, 2), round(z, 1)) for q, z in fit.proposals]))
    if a.out:
        with open(a.out, "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    for k, c in sorted(causes.items()):
        tot = sum(c.values())
        print(f"{k:13s} " + "  ".join(f"{n}={v}" for n, v in c.most_common()) + f"  (axes {tot})")


if __name__ == "__main__":
    main()
