"""``pixfix check``: pure checks on arrays and the command's output and exit codes."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from pixfix.check import check_image, edges_on_lines, find_blends, off_palette_colors, semi_transparent_count
from pixfix.cli import app
from pixfix.config import CheckConfig

from conftest import random_sprite, smiley, upscale

runner = CliRunner()
BG, FG = np.array([20, 20, 80]), np.array([240, 200, 40])


def disc(aa: bool, size: int = 32) -> np.ndarray:
    """A filled circle on a backdrop, with (aa) or without anti-aliased edges."""
    yy, xx = np.mgrid[:size, :size]
    cover = np.clip(size / 3 - np.hypot(yy - size / 2 + 0.5, xx - size / 2 + 0.5) + 0.5, 0, 1)[..., None]
    if not aa:
        cover = (cover > 0.5).astype(float)
    rgb = np.round(cover * FG + (1 - cover) * BG).astype(np.uint8)
    return np.dstack([rgb, np.full((size, size), 255, np.uint8)])


@pytest.mark.parametrize("seed", range(4))
def test_clean_native_sprites_pass(seed):
    s = random_sprite(np.random.default_rng(seed), 16, 16, 6, transparent=seed % 2 == 1)
    assert check_image(s).problems == []


def test_hard_edged_shapes_are_not_mistaken_for_upscales():
    assert check_image(disc(aa=False)).problems == []
    assert check_image(smiley()).problems == []


@pytest.mark.parametrize("factor", [2, 3, 2.5])
def test_upscaled_flagged(rng, factor):
    s = random_sprite(rng, 20, 20, 5)
    n = int(round(20 * factor))
    idx = np.minimum((np.arange(n) / factor).astype(int), 19)
    rep = check_image(s[idx][:, idx])
    assert any(p.startswith("upscaled: cells of") for p in rep.problems), rep.problems
    assert abs(rep.cell[0] - factor) < 0.05 and rep.native_size == (20, 20)


def test_anti_aliasing_flagged_with_the_blend():
    rep = check_image(disc(aa=True))
    assert len(rep.blends) > 2
    msg = [p for p in rep.problems if p.startswith("anti-aliasing")]
    assert msg and "between #141450 and #f0c828" in msg[0] or "between #f0c828 and #141450" in msg[0]
    for b in rep.blends:
        assert 0.1 <= b.t <= 0.9 and b.distance <= 4.0


def test_smooth_upscale_shows_as_anti_aliasing():
    s = smiley()
    lin = cv2.resize(s[..., :3], (30, 30), interpolation=cv2.INTER_LINEAR)
    rep = check_image(np.dstack([lin, np.full((30, 30), 255, np.uint8)]))
    assert any(p.startswith("anti-aliasing") for p in rep.problems)


def test_shading_ramp_is_not_anti_aliasing():
    """A mid-tone used on many pixels is a deliberate ramp, not a blend."""
    ramp = np.array([[40, 40, 40], [120, 120, 120], [200, 200, 200]], np.uint8)
    idx = np.random.default_rng(3).integers(0, 3, (16, 16))
    img = np.dstack([ramp[idx], np.full((16, 16), 255, np.uint8)])
    assert find_blends(img) == []
    assert check_image(img).problems == []


def test_semi_transparent_and_colour_limits():
    s = smiley()
    s2 = s.copy()
    s2[0, :3, 3] = 128
    assert semi_transparent_count(s2) == 3
    assert any(p == "semi-transparent: 3 pixels with 0 < alpha < 255" for p in check_image(s2).problems)
    assert check_image(s2, CheckConfig(**{**CheckConfig().__dict__, "semi_transparent": True})).problems == []
    rep = check_image(s, CheckConfig(**{**CheckConfig().__dict__, "max_colors": 3}))
    assert rep.problems == ["too many colours: 4 > 3"]
    pal = np.array([[40, 44, 90], [250, 210, 60], [30, 20, 20]], np.uint8)
    rep = check_image(s, palette=pal)
    assert rep.problems == ["off-palette: 1 colour not in the palette (e.g. #dc2832)"]
    assert len(off_palette_colors(pal, pal)) == 0


def test_edges_on_lines_score():
    prof = np.zeros(41)
    prof[::4] = 1.0  # every edge on a 4-px grid
    assert edges_on_lines(prof, np.arange(0, 41, 4.0)) > 0.99
    spread = np.ones(41)
    assert edges_on_lines(spread, np.arange(0, 41, 4.0)) < 0.1


def _write(path, rgba):
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_check_command_clean_and_dirty(tmp_path):
    clean = tmp_path / "assets"
    clean.mkdir()
    _write(clean / "face.png", smiley())
    _write(clean / "circle.png", disc(aa=False))
    r = runner.invoke(app, ["check", str(clean), "-j1"])
    assert r.exit_code == 0, r.output
    dirty = tmp_path / "dirty"
    dirty.mkdir()
    big = _write(dirty / "big.png", upscale(smiley(), 3))
    soft = _write(dirty / "soft.png", disc(aa=True))
    (dirty / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    rep = tmp_path / "check.json"
    r = runner.invoke(app, ["check", str(clean), str(dirty), "-j1", "--max-colors", "3", "--report", str(rep), "-q"])
    assert r.exit_code == 1
    lines = r.output.splitlines()
    assert f"{big}: upscaled: cells of 3.00x3.00 px (native size about 12x12)" in lines
    assert any(ln.startswith(f"{soft}: anti-aliasing:") for ln in lines)
    assert f"{clean / 'face.png'}: too many colours: 4 > 3" in lines
    assert any(ln.startswith(f"{dirty / 'broken.png'}: ") and "not an image" in ln for ln in lines)
    doc = json.loads(rep.read_text())
    byname = {f["input"].split("/")[-1]: f for f in doc["files"]}
    assert byname["circle.png"]["status"] == "ok" and byname["circle.png"]["problems"] == []
    assert byname["big.png"]["status"] == "failed" and byname["big.png"]["grid_w"] == 12


def test_check_command_palette(tmp_path):
    pal = tmp_path / "p.hex"
    pal.write_text("282c5a\nfad23c\n1e1414\ndc2832\n")
    f = _write(tmp_path / "face.png", smiley())
    assert runner.invoke(app, ["check", str(f), "--palette", str(pal)]).exit_code == 0
    pal.write_text("282c5a\nfad23c\n")
    r = runner.invoke(app, ["check", str(f), "--palette", str(pal)])
    assert r.exit_code == 1 and "off-palette: 2 colours" in r.output
    r = runner.invoke(app, ["check", str(f), "--palette", str(tmp_path / "missing.gpl")])
    assert r.exit_code == 2
