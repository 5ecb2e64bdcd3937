"""Batch runs: planning, mirrors, collisions, skip/overwrite, reports, exit codes, pools, Ctrl-C."""
import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pixfix.batch import Task, UsageError, clean_temps, plan
from pixfix.cli import app
from pixfix.imageio import read_rgba

from conftest import random_sprite, upscale

runner = CliRunner()


def _save(path: Path, rgba: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


@pytest.fixture
def tree(tmp_path, rng):
    """in/a.png, in/sub/b.png, in/sub/deeper/c.png, plus a hidden file, a hidden folder and a text file."""
    src = tmp_path / "in"
    sprites = {}
    for rel in ["a.png", "sub/b.png", "sub/deeper/c.png"]:
        s = random_sprite(rng, 10, 8, 4)
        sprites[rel] = s
        _save(src / rel, upscale(s, 5))
    _save(src / ".hidden.png", upscale(random_sprite(rng), 3))
    _save(src / ".cache" / "d.png", upscale(random_sprite(rng), 3))
    (src / "notes.txt").write_text("not an image")
    return src, sprites


def _hash_tree(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_mirrors_nested_tree_and_ignores_hidden_and_non_images(tree, tmp_path):
    src, sprites = tree
    before = _hash_tree(src)
    out = tmp_path / "out"
    rep = tmp_path / "r.json"
    r = runner.invoke(app, ["restore", str(src), "-o", str(out), "-j1", "--report", str(rep)])
    assert r.exit_code == 0, r.output
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["a.png", "sub/b.png", "sub/deeper/c.png"]
    for rel, s in sprites.items():
        assert np.array_equal(read_rgba(out / rel), s), rel
    doc = json.loads(rep.read_text())
    assert doc["summary"]["ok"] == 3 and doc["summary"]["ignored"] == 3  # .hidden.png, .cache/, notes.txt
    assert "3 ok, 0 failed, 0 skipped" in r.output
    assert _hash_tree(src) == before  # nothing written into the input tree


def test_glob_filters_files(tree, tmp_path):
    src, _ = tree
    out = tmp_path / "out"
    r = runner.invoke(app, ["restore", str(src), "-o", str(out), "-j1", "--glob", "sub/*.png", "-q"])
    assert r.exit_code == 0, r.output
    assert [p.name for p in out.rglob("*.png")] == ["b.png"]


def test_mixed_files_and_folders(tree, tmp_path, rng):
    src, _ = tree
    extra = _save(tmp_path / "loose.png", upscale(random_sprite(rng), 4))
    out = tmp_path / "out"
    r = runner.invoke(app, ["restore", str(extra), str(src), "-o", str(out), "-j1", "-q"])
    assert r.exit_code == 0, r.output
    assert (out / "loose.png").exists() and (out / "sub" / "deeper" / "c.png").exists()


def test_collisions_are_usage_errors_before_any_work(tmp_path, rng):
    src = tmp_path / "in"
    _save(src / "x.png", upscale(random_sprite(rng), 4))
    Image.fromarray(upscale(random_sprite(rng), 4)[..., :3]).save(src / "x.bmp")
    out = tmp_path / "out"
    r = runner.invoke(app, ["restore", str(src), "-o", str(out)])
    assert r.exit_code == 2 and "would both write" in r.output
    assert not out.exists()
    with pytest.raises(UsageError, match="would both write"):
        plan([src / "x.png", src / "x.bmp"], out)
    # two folders with the same relative file
    other = tmp_path / "other"
    _save(other / "x.png", upscale(random_sprite(rng), 4))
    with pytest.raises(UsageError, match="would both write"):
        plan([src, other], out, pattern="*.png")
    # -o pointing at the input folder would overwrite the input itself
    with pytest.raises(UsageError, match="overwrite the input"):
        plan([src], src, pattern="*.png")
    # a folder without -o: pixfix never writes into input folders on its own
    r = runner.invoke(app, ["restore", str(src)])
    assert r.exit_code == 2 and "give an output folder" in r.output


def test_output_folder_inside_input_is_not_walked(tree):
    src, _ = tree
    out = src / "clean"
    for _ in range(2):  # the rerun must not pick up the outputs as inputs
        r = runner.invoke(app, ["restore", str(src), "-o", str(out), "-j1", "-q"])
        assert r.exit_code == 0, r.output
    assert not (out / "clean").exists()
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == ["a.png", "sub/b.png", "sub/deeper/c.png"]


def test_skip_up_to_date_then_overwrite_and_config_change(tree, tmp_path):
    src, _ = tree
    out = tmp_path / "out"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("palette:\n  rare: 0.003\n")
    rep = tmp_path / "r.json"
    args = ["restore", str(src), "-o", str(out), "-j1", "-c", str(cfg), "--report", str(rep)]
    assert runner.invoke(app, args).exit_code == 0
    statuses = lambda: [f["status"] for f in json.loads(rep.read_text())["files"]]  # noqa: E731
    assert statuses() == ["ok"] * 3
    assert runner.invoke(app, args).exit_code == 0
    assert statuses() == ["skipped"] * 3
    # an input newer than its output is redone
    b = src / "sub" / "b.png"
    later = (out / "sub" / "b.png").stat().st_mtime + 5
    os.utime(b, (later, later))
    assert runner.invoke(app, args).exit_code == 0
    assert sorted(statuses()) == ["ok", "skipped", "skipped"]
    # a config file newer than the outputs makes them all stale
    later += 10
    os.utime(cfg, (later, later))
    assert runner.invoke(app, args).exit_code == 0
    assert statuses() == ["ok"] * 3
    assert runner.invoke(app, args + ["--overwrite"]).exit_code == 0
    assert statuses() == ["ok"] * 3


def test_reports_json_and_csv(tree, tmp_path):
    src, _ = tree
    (src / "broken.png").write_bytes(b"")
    out = tmp_path / "out"
    rj, rc = tmp_path / "rep" / "r.json", tmp_path / "r.csv"
    r = runner.invoke(app, ["restore", str(src), "-o", str(out), "-j1", "--report", str(rj), "--colors", "7"])
    assert r.exit_code == 1
    doc = json.loads(rj.read_text())
    assert doc["command"] == "restore" and doc["config"]["palette"]["colors"] == 7
    files = {Path(f["input"]).name: f for f in doc["files"]}
    assert set(files) == {"a.png", "b.png", "c.png", "broken.png"}
    a = files["a.png"]
    assert a["status"] == "ok" and a["output"] == str(out / "a.png") and a["error"] is None
    assert abs(a["cell_x"] - 5) < 0.05 and abs(a["cell_y"] - 5) < 0.05
    assert (a["grid_w"], a["grid_h"]) == (8, 10)
    assert a["colors_after"] == 4 and a["colors_before"] >= 4 and 0 <= a["confidence"] <= 1 and a["seconds"] > 0
    assert files["broken.png"]["status"] == "failed" and "empty file" in files["broken.png"]["error"]
    assert doc["summary"] == {**doc["summary"], "ok": 3, "failed": 1, "skipped": 0}
    r = runner.invoke(app, ["restore", str(src), "-o", str(out), "-j1", "--report", str(rc), "--overwrite"])
    rows = list(csv.DictReader(rc.open()))
    assert len(rows) == 4 and {"input", "output", "status", "error", "cell_x", "cell_y", "grid_w", "grid_h",
                               "colors_before", "colors_after", "confidence", "seconds"} <= set(rows[0])
    byname = {Path(x["input"]).name: x for x in rows}
    assert byname["b.png"]["status"] == "ok" and byname["b.png"]["grid_w"] == "8"
    assert byname["broken.png"]["status"] == "failed"


def test_exit_codes_and_one_line_failures(tree, tmp_path):
    src, _ = tree
    out = tmp_path / "out"
    assert runner.invoke(app, ["restore", str(src), "-o", str(out), "-j1", "-q"]).exit_code == 0
    bad = src / "sub" / "bad.png"
    bad.write_text("text, not a PNG")
    r = runner.invoke(app, ["restore", str(src), "-o", str(out), "-j1", "-q"])
    assert r.exit_code == 1
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert lines == [f"pixfix: {bad}: not an image (unknown or unsupported format)"]
    # usage and config errors: exit 2 and nothing written
    fresh = tmp_path / "fresh"
    for extra in (["--report", str(tmp_path / "r.txt")], ["--set", "grid.max_cel=3"], ["-j", "-2"],
                  ["--backend", "spark"], ["-c", "nosuchpreset"]):
        r = runner.invoke(app, ["restore", str(src), "-o", str(fresh)] + extra)
        assert r.exit_code == 2, (extra, r.output)
        assert "Traceback" not in r.output
    assert not fresh.exists()


def test_non_regular_entries_fail_visibly(tmp_path, rng):
    src = tmp_path / "in"
    _save(src / "ok.png", upscale(random_sprite(rng), 4))
    (src / "dangling.png").symlink_to(tmp_path / "missing.png")
    os.mkfifo(src / "pipe.png")  # reading a FIFO would block forever
    r = runner.invoke(app, ["restore", str(src), "-o", str(tmp_path / "out"), "-j1", "-q"])
    assert r.exit_code == 1
    assert "dangling.png: broken symbolic link" in r.output
    assert "pipe.png: not a regular file" in r.output
    assert (tmp_path / "out" / "ok.png").exists()


def test_pool_matches_in_process(tree, tmp_path):
    src, sprites = tree
    rep = tmp_path / "r.json"
    r = runner.invoke(app, ["restore", str(src), "-o", str(tmp_path / "o2"), "-j2", "--report", str(rep), "-q"])
    assert r.exit_code == 0, r.output
    for rel, s in sprites.items():
        assert np.array_equal(read_rgba(tmp_path / "o2" / rel), s)
    files = json.loads(rep.read_text())["files"]
    assert all(f["max_rss_mb"] > 0 for f in files)
    assert all(f["pid"] != os.getpid() for f in files)  # ran in worker processes


def test_clean_temps_only_removes_our_temporaries(tmp_path):
    out = tmp_path / "a.png"
    ours = [tmp_path / ".a.png.k3j_x9z2.part", tmp_path / ".a.json.abcdefgh.part"]
    theirs = [tmp_path / ".b.png.abcdefgh.part", tmp_path / "a.png.part", tmp_path / ".a.png.short.part"]
    for p in ours + theirs:
        p.write_text("x")
    assert clean_temps([Task(tmp_path / "in.png", out)]) == 2
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


def test_dask_backend_on_local_cluster(tree, tmp_path):
    distributed = pytest.importorskip("distributed")
    src, sprites = tree
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        rep = tmp_path / "r.json"
        r = runner.invoke(app, ["restore", str(src), "-o", str(tmp_path / "out"), "--backend", "dask",
                                "--scheduler", cluster.scheduler_address, "--report", str(rep), "-q"])
        assert r.exit_code == 0, r.output
    for rel, s in sprites.items():
        assert np.array_equal(read_rgba(tmp_path / "out" / rel), s)
    assert [f["status"] for f in json.loads(rep.read_text())["files"]] == ["ok"] * 3
    r = runner.invoke(app, ["restore", str(src), "-o", str(tmp_path / "o2"), "--backend", "dask"])
    assert r.exit_code == 2 and "--scheduler" in r.output


def _slow_inputs(folder: Path, n: int) -> None:
    rng = np.random.default_rng(7)
    for i in range(n):
        s = random_sprite(rng, 32, 32, 8)
        img = upscale(s, 7).astype(np.float32) + rng.normal(0, 6, (224, 224, 4))
        img[..., 3] = 255
        _save(folder / f"s{i:02d}.png", np.clip(img, 0, 255).astype(np.uint8))


def test_ctrl_c_stops_promptly_leaves_no_partial_files_and_rerun_finishes(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    n = 16
    _slow_inputs(src, n)
    cmd = [sys.executable, "-m", "pixfix", "restore", str(src), "-o", str(out), "-j2", "-q", "--debug"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and any(out.glob("s*_grid.png"))):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    _, err = proc.communicate(timeout=20)
    assert time.time() - t0 < 10, "did not stop promptly"
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    done = sorted(out.glob("s??.png"))
    assert len(done) < n
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]
    for p in done:  # every visible output is complete
        assert read_rgba(p).shape == (32, 32, 4)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(list(out.glob("s??.png"))) == n


def _photo(path: Path, w: int = 96, h: int = 64) -> Path:
    y, x = np.mgrid[:h, :w]
    rgb = np.dstack([x * 255 // w, y * 255 // h, (x * 3 + y) % 256]).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def test_pixelate_batch_reuses_machinery(tmp_path):
    pytest.importorskip("pixfix.pixelate")
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    _photo(src / "a.png")
    _photo(src / "sub" / "b.png")
    (src / "sub" / "bad.png").write_bytes(b"")
    out, rep = tmp_path / "px", tmp_path / "px.csv"
    args = ["pixelate", str(src), "-o", str(out), "--width", "24", "--palette", "pico-8", "-j1",
            "--report", str(rep)]
    r = runner.invoke(app, args)
    assert r.exit_code == 1 and f"pixfix: {src / 'sub' / 'bad.png'}: empty file" in r.output
    for rel in ("a.png", "sub/b.png"):
        img = read_rgba(out / rel)
        assert img.shape == (16, 24, 4)
        assert len(np.unique(img[..., :3].reshape(-1, 3), axis=0)) <= 16
    rows = {Path(x["input"]).name: x for x in csv.DictReader(rep.open())}
    assert rows["a.png"]["grid_w"] == "24" and rows["bad.png"]["status"] == "failed"
    r = runner.invoke(app, args)
    rows = {Path(x["input"]).name: x for x in csv.DictReader(rep.open())}
    assert rows["a.png"]["status"] == "skipped" and rows["b.png"]["status"] == "skipped"


def test_pixelate_usage_errors(tmp_path):
    pytest.importorskip("pixfix.pixelate")
    src = _photo(tmp_path / "p.png")
    for extra in (["--palette", "pico-9"], ["--dither", "lots"], ["--generator", str(tmp_path / "none.pth")],
                  ["--width", "0"]):
        r = runner.invoke(app, ["pixelate", str(src)] + extra)
        assert r.exit_code == 2, (extra, r.output)
    assert not (tmp_path / "p_pixelated.png").exists()
    r = runner.invoke(app, ["pixelate", str(src), "--cell", "8", "-q"])
    assert r.exit_code == 0 and read_rgba(tmp_path / "p_pixelated.png").shape[:2] == (8, 12)
