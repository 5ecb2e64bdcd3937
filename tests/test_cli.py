import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pixfix.cli import app
from pixfix.imageio import read_rgba

from conftest import smiley, upscale

runner = CliRunner()


@pytest.fixture
def sprite_png(tmp_path):
    path = tmp_path / "face.png"
    Image.fromarray(upscale(smiley(), 6), "RGBA").save(path)
    return path


def test_restore_default_output_beside_input(sprite_png):
    r = runner.invoke(app, ["restore", str(sprite_png)])
    assert r.exit_code == 0, r.output
    out = sprite_png.with_name("face_pixfix.png")
    assert np.array_equal(read_rgba(out), smiley())
    assert Image.open(out).mode == "P"
    assert read_rgba(sprite_png).shape == (72, 72, 4)  # input untouched


def test_restore_debug_and_scale(sprite_png, tmp_path):
    out = tmp_path / "o" / "r.png"
    out.parent.mkdir()
    r = runner.invoke(app, ["restore", str(sprite_png), "-o", str(out), "--debug", "--scale", "4", "--quiet"])
    assert r.exit_code == 0, r.output
    assert r.output == ""
    for name in ["r.png", "r@4x.png", "r_grid.png", "r_cells.png", "r.json", "r.gpl"]:
        assert (out.parent / name).exists(), name
    info = json.loads((out.parent / "r.json").read_text())
    assert info["grid_size"] == [12, 12] and abs(info["cell_x"] - 6) < 0.1
    assert len(info["lines_x"]) == 13 and info["colors_after"] == 4
    assert info["jpeg_chroma"] is None and info["deconvolved"] is None  # a clean PNG: sampled
    assert read_rgba(out.parent / "r@4x.png").shape == (48, 48, 4)


def test_restore_jpeg_reports_its_chroma_model(tmp_path):
    path = tmp_path / "face.jpg"
    Image.fromarray(upscale(smiley(), 6)[..., :3]).save(path, quality=90, subsampling=2)  # 4:2:0
    out = tmp_path / "j.png"
    r = runner.invoke(app, ["restore", str(path), "-o", str(out), "--debug", "--quiet"])
    assert r.exit_code == 0, r.output
    info = json.loads((tmp_path / "j.json").read_text())
    assert info["grid_size"] == [12, 12]
    assert info["jpeg_chroma"] == [2, 2] and len(info["deconvolved"]) == 2
    assert read_rgba(out).shape[:2] == (12, 12)


def test_stop_after_grid_writes_only_debug(sprite_png, tmp_path):
    out = tmp_path / "s.png"
    r = runner.invoke(app, ["restore", str(sprite_png), "-o", str(out), "--stop-after", "grid"])
    assert r.exit_code == 0, r.output
    assert not out.exists() and (tmp_path / "s_grid.png").exists() and (tmp_path / "s.json").exists()


def test_manual_cell_and_palette_file(sprite_png, tmp_path):
    pal = tmp_path / "bw.hex"
    pal.write_text("000000\nffffff\n")
    out = tmp_path / "m.png"
    r = runner.invoke(app, ["restore", str(sprite_png), "-o", str(out), "--cell", "6", "--palette", str(pal)])
    assert r.exit_code == 0, r.output
    img = read_rgba(out)
    assert img.shape == (12, 12, 4)
    assert {tuple(c) for c in img[..., :3].reshape(-1, 3)} <= {(0, 0, 0), (255, 255, 255)}


def test_inspect_json_and_text(sprite_png, tmp_path):
    r = runner.invoke(app, ["inspect", str(sprite_png), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["grid_w"] == 12 and info["native"] is False and 0 <= info["confidence"] <= 1
    native = tmp_path / "n.png"
    Image.fromarray(smiley(), "RGBA").save(native)
    r = runner.invoke(app, ["inspect", str(native)])
    assert r.exit_code == 0 and "native      yes" in r.output


def test_bad_input_one_line_error_exit_1(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    out = tmp_path / "x.png"
    r = runner.invoke(app, ["restore", str(bad), "-o", str(out)])
    assert r.exit_code == 1
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in r.output
    assert not out.exists()


def test_unwritable_output(sprite_png, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = runner.invoke(app, ["restore", str(sprite_png), "-o", str(blocker / "out.png")])
    assert r.exit_code == 1
    assert "Traceback" not in r.output and str(blocker) in r.output
    assert not any(p.name.endswith(".part") for p in tmp_path.rglob("*"))


def test_pixel_limit_option(sprite_png):
    r = runner.invoke(app, ["restore", str(sprite_png), "--set", "input.max_pixels=100"])
    assert r.exit_code == 1 and "over the limit" in r.output


def test_usage_errors_exit_2(sprite_png):
    assert runner.invoke(app, ["restore", str(sprite_png), "--cell", "abc"]).exit_code == 2
    assert runner.invoke(app, ["restore", str(sprite_png), "--background", "pink"]).exit_code == 2
    r = runner.invoke(app, ["restore", str(sprite_png), "--set", "grid.max_cel=3"])
    assert r.exit_code == 2 and "did you mean 'grid.max_cell'" in r.output
    assert runner.invoke(app, ["restore", "/nonexistent/in.png"]).exit_code == 2


def test_never_overwrites_input(sprite_png):
    r = runner.invoke(app, ["restore", str(sprite_png), "-o", str(sprite_png)])
    assert r.exit_code == 2 and "overwrite the input" in r.output  # refused before any work
    assert read_rgba(sprite_png).shape == (72, 72, 4)


def test_directory_mirrors_tree(tmp_path, sprite_png):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.open(sprite_png).save(src / "a.png")
    Image.open(sprite_png).save(src / "sub" / "b.png")
    (src / "notes.txt").write_text("skip me")
    out = tmp_path / "out"
    r = runner.invoke(app, ["restore", str(src), "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert (out / "a.png").exists() and (out / "sub" / "b.png").exists()


def test_config_show_and_validate(tmp_path):
    r = runner.invoke(app, ["config", "show", "-c", "ai"])
    assert r.exit_code == 0 and "mode: auto" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid:\n  min_cell: -3\n  refin: true\n")
    r = runner.invoke(app, ["config", "validate", str(bad)])
    assert r.exit_code == 2
    assert "grid.min_cell: must be >= 1" in r.output and "did you mean 'grid.refine'" in r.output


def test_bundled_example_restores_to_its_sprite(tmp_path):
    # the README's first command: a JPEG of a 7.3x upscale with noise comes back as the
    # 16x16 sprite, one colour per original colour (the sky backdrop goes transparent)
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "examples"
    out = tmp_path / "mushroom.png"
    r = runner.invoke(app, ["restore", str(root / "mushroom_degraded.jpg"), "-o", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    got, truth = read_rgba(out), read_rgba(root / "mushroom.png")
    assert got.shape == truth.shape
    opaque = got[..., 3] > 0
    assert opaque.mean() > 0.5
    err = np.abs(got[..., :3].astype(int) - truth[..., :3].astype(int)).max(axis=-1)
    assert err[opaque].max() <= 8
    assert len(np.unique(got[opaque][:, :3], axis=0)) == len(np.unique(truth[opaque][:, :3], axis=0))


def test_help_and_usage_errors_do_not_load_the_engine():
    # the CLI module (and the package) import the engine (numba, OpenCV, scikit-image)
    # only when an image is processed: `pixfix --help` answers at once
    import subprocess
    import sys

    code = ("import sys, pixfix.cli, pixfix; "
            "heavy = [m for m in ('pixfix.grid', 'pixfix.pipeline', 'pixfix.palette', 'numba', 'cv2', 'skimage') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "restore" in r.output
