#!/usr/bin/env python3
"""Per-axis grid diagnosis on a degrade.py case folder (for engine work).

    python scripts/diag_grid.py build/dev [--kinds smooth jpeg] [--out diag.jsonl]

For every case and axis: the true cell size, the detected one, whether the true
size was proposed (within 3 %), its line z, and whether the final count of cells
is within the scorer's tolerance.  Prints a summary of failure causes per kind
(:func:`cause`): besides a size never proposed or faint in the edges, a miss on an
input with nothing to see (a dark sprite flattened onto black and saved as JPEG),
one at a harmonic of the true size (:data:`HARMONIC` times too few or too many
cells), or a count a few per cent off (the lines of a drifting grid).
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


#: a channel spread (sd, 8-bit units) below which an input shows no sprite at all
BLANK_SD = 4.0
#: cells found over visible cells at or beyond which a miss is a harmonic of the grid
HARMONIC = 1.6
#: line z (comb contrast in the edges) under which a proposed true size counts as faint
WEAK_Z = 5.0


def contrast(rgba) -> float:
    """The larger of the colour and the alpha spread of an RGBA image (sd, 8-bit units)."""
    return max(float(rgba[..., :3].std()), float(rgba[..., 3].std()))


def cause(n_cells: int, visible: float, proposed: list[float], spread: float) -> str:
    """Why an axis found ``n_cells`` where ``visible`` cells show: ``ok`` (within the
    scorer's two cells), ``blank`` (the input's ``spread`` shows nothing), ``not-proposed``
    (no candidate near the true size: ``proposed`` holds the line z of those that were),
    ``weak-z`` (proposed but faint in the edges), ``coarse`` / ``fine`` (a harmonic:
    :data:`HARMONIC` times too few or too many cells), else ``count`` (the right size,
    the count a few cells off: a drifting grid's lines lost or gained cells)."""
    if abs(n_cells - visible) <= 2.0:
        return "ok"
    if spread < BLANK_SD:
        return "blank"
    if not proposed:
        return "not-proposed"
    if max(proposed) < WEAK_Z:
        return "weak-z"
    ratio = n_cells / max(visible, 1e-9)
    if ratio <= 1 / HARMONIC:
        return "coarse"
    if ratio >= HARMONIC:
        return "fine"
    return "count"


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
        spread = contrast(rgba)
        for ax, fit, true, n_in in (("x", g.x, r["scale_x"], r["input_w"]), ("y", g.y, r["scale_y"], r["input_h"])):
            vis = n_in / true
            prop = [z for q, z in fit.proposals if abs(q - true) <= 0.03 * true]
            why = cause(fit.n_cells, vis, prop, spread)
            causes[r["kind"]][why] += 1
            rows.append(dict(id=r["id"], kind=r["kind"], axis=ax, true=true, got=round(fit.cell, 3),
                             n=fit.n_cells, vis=round(vis, 1), cause=why, spread=round(spread, 1),
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
