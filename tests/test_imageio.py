import io
import os

import numpy as np
import pytest
from PIL import Image

from pixfix.imageio import ImageError, encode_png, jpeg_chroma, read_rgba, write_png


def _save(path, img, fmt=None, **kw):
    img.save(path, format=fmt, **kw)
    return path


def test_modes_are_converted_to_rgba(tmp_path):
    grey = _save(tmp_path / "g.png", Image.fromarray(np.full((4, 5), 77, np.uint8), "L"))
    assert read_rgba(grey)[0, 0].tolist() == [77, 77, 77, 255]
    arr16 = (np.arange(20, dtype=np.uint16).reshape(4, 5) * 3000)
    g16 = _save(tmp_path / "g16.png", Image.fromarray(arr16))
    out = read_rgba(g16)
    assert out.dtype == np.uint8 and out[3, 4, 0] == round(57000 * 255 / 65535)
    pal = Image.new("P", (3, 3))
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((1, 1), 1)
    p = _save(tmp_path / "p.png", pal, transparency=0)
    out = read_rgba(p)
    assert out[0, 0, 3] == 0 and out[1, 1].tolist() == [0, 255, 0, 255]


@pytest.mark.parametrize("fmt,ext", [("WEBP", "webp"), ("BMP", "bmp"), ("GIF", "gif"), ("TIFF", "tif"),
                                     ("JPEG", "jpg")])
def test_formats(tmp_path, fmt, ext):
    arr = np.zeros((8, 8, 3), np.uint8)
    arr[:4] = 200
    path = _save(tmp_path / f"x.{ext}", Image.fromarray(arr), fmt)
    out = read_rgba(path)
    assert out.shape == (8, 8, 4)
    assert abs(int(out[0, 0, 0]) - 200) < 12 and out[7, 7, 0] < 12


def test_exif_rotation(tmp_path):
    arr = np.zeros((2, 4, 3), np.uint8)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = tmp_path / "r.jpg"
    img.save(path, exif=exif)
    assert read_rgba(path).shape[:2] == (4, 2)


def test_bad_inputs_give_one_line_errors(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("hello, not an image")
    good = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 9).save(good, "PNG")
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    for path, words in [(empty, "empty"), (text, "not an image"), (trunc, "decode"),
                        (tmp_path / "missing.png", "no such file")]:
        with pytest.raises(ImageError) as exc:
            read_rgba(path)
        msg = str(exc.value)
        assert str(path) in msg and words in msg and "\n" not in msg


def test_pixel_limit_checked_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(path)
    with pytest.raises(ImageError, match="over the limit"):
        read_rgba(path, max_pixels=50_000)


def test_indexed_png_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (6, 7, 4)).astype(np.uint8)
    img[..., 3] = np.where(rng.random((6, 7)) < 0.5, 0, 255)
    img[img[..., 3] == 0] = 0
    path = tmp_path / "o.png"
    write_png(path, img)
    assert Image.open(path).mode == "P"
    assert np.array_equal(read_rgba(path), img)
    many = rng.integers(0, 256, (40, 40, 4)).astype(np.uint8)
    many[..., 3] = 255
    assert Image.open(io.BytesIO(encode_png(many))).mode == "RGBA"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user that ignores permissions")
        with pytest.raises(ImageError, match="permission denied"):
            write_png(folder / "x.png", np.zeros((2, 2, 4), np.uint8))
        assert list(folder.iterdir()) == []
    finally:
        os.chmod(folder, 0o700)


def test_jpeg_chroma_reads_the_subsampling(tmp_path):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8))
    for sub, want in ((0, (1, 1)), (1, (2, 1)), (2, (2, 2))):  # PIL: 4:4:4, 4:2:2, 4:2:0
        path = _save(tmp_path / f"s{sub}.jpg", rgb, subsampling=sub, quality=90)
        assert jpeg_chroma(path) == want
    assert jpeg_chroma(_save(tmp_path / "g.jpg", rgb.convert("L"))) is None     # no chroma
    assert jpeg_chroma(_save(tmp_path / "p.png", rgb)) is None                   # not a JPEG
    exif = rgb.getexif()
    exif[0x0112] = 6
    assert jpeg_chroma(_save(tmp_path / "r.jpg", rgb, exif=exif)) is None       # turned on display
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    assert jpeg_chroma(tmp_path / "bad.jpg") is None
