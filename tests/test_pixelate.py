"""Classical pixelate path: sizes, palettes, dithering, alpha, outlines (images drawn in code)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixfix.config import PixelateConfig
from pixfix.palettes import BUILTIN_PALETTES, builtin_palette, resolve_palette
from pixfix.pixelate import (PixelateResult, bayer, dither_floyd_steinberg, kmeans_palette, output_size,
                             pixelate, pixelate_image, to_lab)


def opaque(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb.astype(np.uint8), np.full(rgb.shape[:2], 255, np.uint8)])


def photo(h: int = 180, w: int = 240, seed: int = 0) -> np.ndarray:
    """A photo-like RGBA image: smooth colour gradients, a few discs, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    rgb = np.stack([200 * xx + 30, 160 * yy + 40, 120 * (1 - xx) + 60 * yy], -1)
    for _ in range(6):
        cy, cx, r = rng.random() * h, rng.random() * w, 10 + 30 * rng.random()
        disc = (np.mgrid[:h, :w][0] - cy) ** 2 + (np.mgrid[:h, :w][1] - cx) ** 2 <= r * r
        rgb[disc] = rng.integers(0, 256, 3)
    rgb += rng.normal(0, 6, rgb.shape)
    return opaque(np.clip(rgb, 0, 255))


def colours(img: np.ndarray) -> set[tuple[int, int, int]]:
    op = img[..., 3] > 0
    return {tuple(int(v) for v in c) for c in img[op][:, :3]}


# ------------------------------------------------------------------ sizes

@pytest.mark.parametrize("kw, hw, expect", [
    ({"width": 100}, (300, 400), (75, 100)),
    ({"height": 60}, (300, 400), (60, 80)),
    ({"cell": 4}, (300, 400), (75, 100)),
    ({"cell": 2.5}, (100, 50), (40, 20)),
    ({}, (300, 400), (48, 64)),          # default: 64 on the longer side
    ({}, (400, 300), (64, 48)),
    ({"width": 30, "height": 10}, (300, 400), (10, 30)),
    ({"width": 7}, (1000, 10), (700, 7)),
])
def test_output_size(kw, hw, expect):
    assert output_size(*hw, PixelateConfig(**kw)) == expect


@pytest.mark.parametrize("kw", [{"width": 37}, {"height": 23}, {"cell": 6.5}, {}])
def test_pixelate_shape_dtype_and_aspect(kw):
    img = photo(150, 210)
    res = pixelate(img, PixelateConfig(**kw))
    assert isinstance(res, PixelateResult)
    oh, ow = output_size(150, 210, PixelateConfig(**kw))
    assert res.image.shape == (oh, ow, 4) and res.image.dtype == np.uint8
    assert res.before.shape == (oh, ow, 4) and res.before.dtype == np.uint8
    assert abs(ow / oh - 210 / 150) < 0.1
    assert set(res.seconds) >= {"downscale", "palette"}


def test_upscaling_and_tiny_outputs():
    img = photo(20, 30)
    assert pixelate(img, PixelateConfig(width=60)).image.shape == (40, 60, 4)
    assert pixelate(img, PixelateConfig(width=1, height=1)).image.shape == (1, 1, 4)


def test_bad_input_rejected():
    with pytest.raises(ValueError):
        pixelate(np.zeros((10, 10, 3), np.uint8), PixelateConfig())


# ------------------------------------------------------------------ palette

@pytest.mark.parametrize("n", [2, 5, 16, 64])
def test_palette_limit_honoured(n):
    res = pixelate(photo(), PixelateConfig(width=96, colors=n))
    got = colours(res.image)
    assert len(got) <= n
    assert len(got) >= min(n, 2)                   # a rich image does use its palette
    assert got == {tuple(int(v) for v in c) for c in res.palette}


def test_output_colours_are_source_colours_when_few():
    """No palette pressure and no outline: every cell keeps an exact input colour (no blur)."""
    rng = np.random.default_rng(3)
    pal = rng.integers(0, 256, (6, 3))
    idx = rng.integers(0, 6, (30, 40))
    img = opaque(pal[np.kron(idx, np.ones((5, 5), int))])
    res = pixelate(img, PixelateConfig(width=40, colors=64, outline=0))
    assert colours(res.image) <= colours(img)
    assert np.array_equal(res.image[..., :3], pal[idx])     # cell-aligned blocks come back exactly


@pytest.mark.parametrize("name", BUILTIN_PALETTES)
def test_builtin_palette_only_its_colours(name):
    res = pixelate(photo(), PixelateConfig(width=64, palette=name))
    allowed = {tuple(int(v) for v in c) for c in builtin_palette(name)}
    assert colours(res.image) <= allowed
    assert len(colours(res.image)) >= 2


def test_fixed_palette_argument_wins_and_file_palettes(tmp_path):
    fixed = np.array([[255, 0, 0], [0, 0, 0], [255, 255, 255]], np.uint8)
    res = pixelate(photo(), PixelateConfig(width=64, palette="nes"), fixed_palette=fixed)
    assert colours(res.image) <= {(255, 0, 0), (0, 0, 0), (255, 255, 255)}
    f = tmp_path / "mine.hex"
    f.write_text("ff0000\n00ff00\n0000ff\n")
    res = pixelate(photo(), PixelateConfig(width=64, palette=str(f), dither="floyd-steinberg"))
    assert colours(res.image) <= {(255, 0, 0), (0, 255, 0), (0, 0, 255)}


def test_builtin_palettes_shapes():
    sizes = {name: len(builtin_palette(name)) for name in BUILTIN_PALETTES}
    assert sizes == {"pico-8": 16, "gameboy": 4, "nes": 55, "endesga-32": 32}
    for name in BUILTIN_PALETTES:
        p = builtin_palette(name)
        assert p.dtype == np.uint8 and p.shape[1] == 3
        assert len(np.unique(p, axis=0)) == len(p)
    assert np.array_equal(resolve_palette("PICO8"), builtin_palette("pico-8"))


@pytest.mark.parametrize("spec, words", [
    ("pico8x", ["pico8x", "did you mean 'pico-8'"]),
    ("gamebuy", ["did you mean 'gameboy'"]),
    ("endesga", ["did you mean 'endesga-32'"]),
    ("zzzzzz", ["built-in palettes"]),
])
def test_bad_palette_name(spec, words):
    with pytest.raises(ValueError) as err:
        resolve_palette(spec)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg
    with pytest.raises(ValueError, match="did you mean|built-in"):
        pixelate(photo(40, 40), PixelateConfig(palette=spec))


def test_bad_palette_files(tmp_path):
    empty = tmp_path / "empty.gpl"
    empty.write_text("GIMP Palette\nName: x\n#\n")
    with pytest.raises(ValueError, match="empty.gpl: no colours"):
        resolve_palette(str(empty))
    with pytest.raises(ValueError, match="no such palette file"):
        resolve_palette(str(tmp_path / "missing.gpl"))


# ------------------------------------------------------------------ dithering

def gradient(h: int = 64, w: int = 256) -> np.ndarray:
    x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    return opaque(np.stack([x, 0.6 * x + 40, 255 - 0.5 * x], -1))


@pytest.mark.parametrize("mode", ["ordered", "floyd-steinberg"])
def test_dither_changes_pattern_keeps_palette(mode):
    img = gradient()
    plain = pixelate(img, PixelateConfig(width=128, colors=4, outline=0))
    dith = pixelate(img, PixelateConfig(width=128, colors=4, outline=0, dither=mode))
    assert np.array_equal(plain.before, dith.before)
    pal = {tuple(int(v) for v in c) for c in kmeans_palette(plain.before[..., :3].reshape(-1, 3), 4)}
    assert colours(dith.image) <= pal and colours(plain.image) <= pal
    assert not np.array_equal(plain.image, dith.image)

    def changes(im):  # colour changes along rows: banding has few, dithering many
        return int((im[:, 1:, :3] != im[:, :-1, :3]).any(-1).sum())
    assert changes(dith.image) > 3 * changes(plain.image)
    # dithering tracks the gradient better on average (column means in Lab)
    src = to_lab(plain.before[..., :3]).mean(0)
    err_plain = np.abs(to_lab(plain.image[..., :3]).mean(0) - src)[:, 0].mean()
    err_dith = np.abs(to_lab(dith.image[..., :3]).mean(0) - src)[:, 0].mean()
    assert err_dith < err_plain


def _fs_reference(lab: np.ndarray, pal: np.ndarray) -> np.ndarray:
    """Plain sequential Floyd-Steinberg (the textbook loop), for a tiny image only."""
    h, w = lab.shape[:2]
    work = lab.astype(np.float64).copy()
    out = np.zeros((h, w), int)
    lo, hi = np.array([0, -128, -128]), np.array([100, 127, 127])
    for y in range(h):
        for x in range(w):
            v = np.clip(work[y, x], lo, hi)
            j = int(np.argmin(((pal - v) ** 2).sum(1)))
            out[y, x] = j
            e = v - pal[j]
            for dy, dx, f in ((0, 1, 7), (1, -1, 3), (1, 0, 5), (1, 1, 1)):
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    work[y + dy, x + dx] += e * f / 16
    return out


def test_floyd_steinberg_wavefront_equals_sequential():
    rng = np.random.default_rng(5)
    lab = to_lab(rng.integers(0, 256, (9, 13, 3)).astype(np.uint8))
    pal = to_lab(rng.integers(0, 256, (5, 3)).astype(np.uint8))
    assert np.array_equal(dither_floyd_steinberg(lab, pal), _fs_reference(lab, pal))


def test_bayer_matrix():
    b = bayer(8)
    assert b.shape == (8, 8) and len(np.unique(b)) == 64
    assert abs(b.mean()) < 1e-9 and b.min() > -0.5 and b.max() < 0.5


# ------------------------------------------------------------------ alpha

@pytest.mark.parametrize("dither", ["none", "floyd-steinberg"])
def test_alpha_preserved_and_transparent_does_not_pull_palette(dither):
    img = photo(120, 160)
    img[:, :80] = (0, 0, 255, 0)               # transparent half, with a loud colour underneath
    yy, xx = np.mgrid[:120, :160]
    hole = (yy - 60) ** 2 + (xx - 120) ** 2 < 15 ** 2
    img[hole] = (0, 0, 255, 0)
    res = pixelate(img, PixelateConfig(width=40, colors=8, dither=dither))
    a = res.image[..., 3]
    assert set(np.unique(a)) <= {0, 255}
    assert (a[:, :19] == 0).all()              # transparent region stays transparent
    assert (a[:, 21:][(yy[::4, ::4][:, 21:] - 60) ** 2 + (xx[::4, ::4][:, 21:] - 120) ** 2 < 11 ** 2] == 0).all()
    assert (a[2:-2, 22:26] == 255).all()       # opaque region stays opaque
    assert (res.image[a == 0] == 0).all()
    # the blue under the transparent pixels never becomes a palette colour
    blue = np.array([0, 0, 255])
    assert min(np.abs(res.palette.astype(int) - blue).sum(1)) > 60


def test_fully_transparent_image():
    img = np.zeros((40, 40, 4), np.uint8)
    res = pixelate(img, PixelateConfig(width=10))
    assert res.image.shape == (10, 10, 4) and (res.image == 0).all() and len(res.palette) == 0


# ------------------------------------------------------------------ outlines

def line_image(seed: int = 0) -> tuple[np.ndarray, list[int], list[int]]:
    """256x256 light backdrop with well separated 1-px dark lines (8-px cells at 32 wide)."""
    img = opaque(np.zeros((256, 256, 3)) + (200, 190, 170))
    rng = np.random.default_rng(seed)
    ys = sorted(int(v) for v in rng.choice(np.arange(3, 30), 8, replace=False) * 8 + rng.integers(0, 8, 8))
    ys = [y for i, y in enumerate(ys) if i == 0 or y - ys[i - 1] >= 24]
    xs = [y for y in ys]
    for y in ys:
        img[y, 16:240, :3] = (25, 20, 30)
    for x in xs:
        img[16:240, x + 3, :3] = (25, 20, 30)
    return img, ys, [x + 3 for x in xs]


def _lines_found(out: np.ndarray, ys: list[int], xs: list[int], cell: int = 8) -> float:
    dark = out[..., :3].astype(int).sum(-1) < 300
    found = []
    for y in ys:
        j = y // cell
        rows = dark[max(0, j - 1):j + 2, 3:-3]
        found.append(rows.any(0).mean())
    for x in xs:
        i = x // cell
        cols = dark[3:-3, max(0, i - 1):i + 2]
        found.append(cols.any(1).mean())
    return float(np.mean(found))


def test_thin_dark_lines_survive_with_outline():
    img, ys, xs = line_image()
    assert len(ys) >= 3
    on = pixelate(img, PixelateConfig(width=32, colors=4, outline=1.0)).image
    off = pixelate(img, PixelateConfig(width=32, colors=4, outline=0.0)).image
    f_on, f_off = _lines_found(on, ys, xs), _lines_found(off, ys, xs)
    assert f_on >= 0.9
    assert f_off <= 0.3 and f_on - f_off >= 0.6
    # the lines stay thin: about one cell, not a smear
    dark = on[..., :3].astype(int).sum(-1) < 300
    assert dark.mean() < 2.0 * (len(ys) + len(xs)) / 32


def test_outline_keeps_thick_shapes():
    """A cell-aligned sprite upscaled 8x comes back unchanged with the outline on."""
    rng = np.random.default_rng(2)
    pal = np.array([[20, 20, 30], [240, 220, 200], [200, 60, 50], [60, 120, 220]])
    idx = rng.integers(0, 4, (16, 16))
    img = opaque(pal[np.kron(idx, np.ones((8, 8), int))])
    res = pixelate(img, PixelateConfig(width=16, colors=4, outline=1.0))
    assert np.array_equal(res.image[..., :3], pal[idx])


def test_pixelate_image_without_generator_is_classical():
    img = photo(60, 80)
    cfg = PixelateConfig(width=20, colors=6)
    assert np.array_equal(pixelate_image(img, cfg).image, pixelate(img, cfg).image)


def test_pixelate_imports_and_runs_without_torch():
    """The classical path needs no PyTorch; the generator path then says how to get it."""
    import subprocess
    import sys
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from pixfix.config import PixelateConfig\n"
        "from pixfix.pixelate import pixelate, pixelate_image\n"
        "from pixfix.generator import GeneratorError, load_generator\n"
        "img = np.full((32, 32, 4), 200, np.uint8)\n"
        "assert pixelate(img, PixelateConfig(width=8)).image.shape == (8, 8, 4)\n"
        "try:\n"
        "    load_generator('x.pth')\n"
        "except GeneratorError as e:\n"
        "    assert \"pip install 'pixfix[gan]'\" in str(e), str(e)\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 70), w=st.integers(1, 70), out_w=st.integers(1, 40), colors=st.integers(2, 12),
       dither=st.sampled_from(["none", "ordered", "floyd-steinberg"]), outline=st.sampled_from([0.0, 1.0, 3.0]),
       holes=st.booleans(), seed=st.integers(0, 2**16))
def test_property_shape_palette_alpha(h, w, out_w, colors, dither, outline, holes, seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 4)).astype(np.uint8)
    img[..., 3] = np.where(rng.random((h, w)) < 0.3, 0, 255) if holes else 255
    res = pixelate(img, PixelateConfig(width=out_w, colors=colors, dither=dither, outline=outline))
    oh, ow = output_size(h, w, PixelateConfig(width=out_w))
    assert res.image.shape == (oh, ow, 4) and res.image.dtype == np.uint8
    assert set(np.unique(res.image[..., 3])) <= {0, 255}
    assert len(colours(res.image)) <= colors
    assert (res.image[res.image[..., 3] == 0] == 0).all()
    if not holes:
        assert (res.image[..., 3] == 255).all()
