"""Generator path: checkpoint loading, architecture inference, tiling, pixelate_image.

Needs PyTorch (installed by the test extra); the networks are tiny (ngf=8).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pixfix.config import PixelateConfig
from pixfix.generator import GeneratorError, build_generator, load_generator, run_generator
from pixfix.pixelate import pixelate_image

NGF = 8


def save(sd: dict, path) -> str:
    torch.save(sd, path)
    return str(path)


def random_sd(n_blocks: int, seed: int = 0, **kw) -> dict:
    torch.manual_seed(seed)
    return build_generator(ngf=NGF, n_blocks=n_blocks, **kw).state_dict()


def passthrough_sd(n_blocks: int = 6) -> dict:
    """Weights that keep an image's structure: a per-channel contrast stretch of a 4x4-subsampled copy.

    Each colour channel c travels as the pair (+c, -c) so ReLU loses nothing; the
    downsamplings take the centre tap, residual blocks add zero, the transposed
    convolutions repeat pixels, and the head subtracts the pair again.  A blocky
    image with cells that are multiples of 4 px therefore comes out blocky.
    """
    sd = {k: torch.zeros_like(v) for k, v in random_sd(n_blocks).items()}
    up1, up2, head = 10 + n_blocks, 13 + n_blocks, 17 + n_blocks
    for c in range(3):
        p, n = 2 * c, 2 * c + 1
        sd["model.1.weight"][p, c, 3, 3] = 1.0
        sd["model.1.weight"][n, c, 3, 3] = -1.0
        for k in ("model.4.weight", "model.7.weight"):
            sd[k][p, p, 1, 1], sd[k][p, n, 1, 1] = 1.0, -1.0
            sd[k][n, p, 1, 1], sd[k][n, n, 1, 1] = -1.0, 1.0
        for k in (f"model.{up1}.weight", f"model.{up2}.weight"):   # (in, out, 3, 3): repeat 2x2
            sd[k][p, p, 1:3, 1:3], sd[k][n, p, 1:3, 1:3] = 1.0, -1.0
            sd[k][p, n, 1:3, 1:3], sd[k][n, n, 1:3, 1:3] = -1.0, 1.0
        sd[f"model.{head}.weight"][c, p, 3, 3] = 0.7
        sd[f"model.{head}.weight"][c, n, 3, 3] = -0.7
    return sd


def blocky(seed: int = 1, cells: tuple[int, int] = (12, 10), cell: int = 12, n_colors: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pal = rng.integers(0, 256, (n_colors, 3))
    idx = rng.integers(0, n_colors, cells)
    rgb = pal[np.kron(idx, np.ones((cell, cell), int))].astype(np.uint8)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.mark.parametrize("n_blocks", [6, 9])
def test_load_and_run_random_generator(tmp_path, n_blocks):
    path = save(random_sd(n_blocks), tmp_path / f"g{n_blocks}.pth")
    model = load_generator(path, device="cpu")
    assert model.arch == {"input_nc": 3, "output_nc": 3, "ngf": NGF, "n_blocks": n_blocks, "dropout": False}
    rgb = np.random.default_rng(0).integers(0, 256, (37, 50, 3)).astype(np.uint8)   # not a multiple of 4
    out = run_generator(model, rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert out.std() > 0


def test_tiling_path_shape_and_seams(tmp_path):
    model = load_generator(save(passthrough_sd(6), tmp_path / "p.pth"), device="cpu")
    img = blocky(cells=(10, 13), cell=12)[..., :3]                       # 120 x 156, tile 64
    tiled = run_generator(model, img, tile=64, overlap=16)
    whole = run_generator(model, img, tile=512)
    assert tiled.shape == img.shape and tiled.dtype == np.uint8
    # per-tile instance norm shifts colours a little; blending keeps it small and seam-free
    assert np.abs(tiled.astype(int) - whole).mean() < 20
    d = np.abs(np.diff(tiled.astype(int), axis=1)).sum(-1)
    inside_cells = np.ones(d.shape[1], bool)
    inside_cells[11::12] = False                                         # real cell edges
    assert np.percentile(d[:, inside_cells], 99) < 12          # unblended tiles give ~21 here


def test_wrapped_checkpoint_and_module_prefix(tmp_path):
    sd = random_sd(6)
    wrapped = {"epoch": 3, "state_dict": {"module." + k: v for k, v in sd.items()}}
    model = load_generator(save(wrapped, tmp_path / "w.pth"), device="cpu")
    assert model.arch["n_blocks"] == 6
    # old PyTorch saved InstanceNorm running stats; they are ignored
    sd2 = dict(sd, **{"model.2.running_mean": torch.zeros(NGF), "model.2.running_var": torch.ones(NGF)})
    assert load_generator(save({"model": sd2}, tmp_path / "m.pth"), device="cpu").arch["ngf"] == NGF


def test_dropout_blocks_layout(tmp_path):
    model = load_generator(save(random_sd(6, dropout=True), tmp_path / "d.pth"), device="cpu")
    assert model.arch["dropout"] is True


def test_mismatched_state_dicts_name_the_key(tmp_path):
    sd = random_sd(6)
    bad_shape = dict(sd)
    bad_shape["model.13.conv_block.5.weight"] = torch.zeros(4 * NGF, 4 * NGF, 5, 5)
    with pytest.raises(GeneratorError, match=r"model\.13\.conv_block\.5\.weight.*shape"):
        load_generator(save(bad_shape, tmp_path / "a.pth"), device="cpu")

    missing = dict(sd)
    del missing["model.19.bias"]
    with pytest.raises(GeneratorError, match=r"missing key 'model\.19\.bias'"):
        load_generator(save(missing, tmp_path / "b.pth"), device="cpu")

    extra = dict(sd, **{"model.99.weight": torch.zeros(3)})
    with pytest.raises(GeneratorError, match=r"unexpected key 'model\.99\.weight'"):
        load_generator(save(extra, tmp_path / "c.pth"), device="cpu")

    no_stem = {k: v for k, v in sd.items() if k != "model.1.weight"}
    with pytest.raises(GeneratorError, match=r"model\.1\.weight"):
        load_generator(save(no_stem, tmp_path / "d.pth"), device="cpu")


def test_unloadable_files(tmp_path):
    with pytest.raises(GeneratorError, match="no such generator file"):
        load_generator(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(GeneratorError, match="junk.pth: cannot load checkpoint"):
        load_generator(junk)
    with pytest.raises(GeneratorError, match="not a generator state dict"):
        load_generator(save({"a": 1}, tmp_path / "nd.pth"))
    for msg in (str(GeneratorError("x")),):
        assert "\n" not in msg


def test_pixelate_image_generator_one_pixel_per_cell(tmp_path):
    path = save(passthrough_sd(6), tmp_path / "pass.pth")
    img = blocky(cells=(12, 10), cell=12, n_colors=6)                 # 144 x 120
    res = pixelate_image(img, PixelateConfig(generator=path, colors=4, device="cpu"))
    assert res.image.dtype == np.uint8 and res.image.shape[2] == 4
    assert res.image.shape[:2] == (12, 10)                            # grid detected: one pixel per cell
    op = res.image[..., 3] > 0
    assert len(np.unique(res.image[op][:, :3], axis=0)) <= 4
    assert {"generator", "grid", "palette"} <= set(res.seconds)
    # a manual cell size fixes the grid instead
    res2 = pixelate_image(img, PixelateConfig(generator=path, cell=12, colors=3, palette=None, device="cpu"))
    assert res2.image.shape[:2] == (12, 10)
    assert len(np.unique(res2.image[res2.image[..., 3] > 0][:, :3], axis=0)) <= 3


def test_pixelate_image_generator_fixed_palette_and_alpha(tmp_path):
    path = save(passthrough_sd(6), tmp_path / "pass.pth")
    img = blocky(cells=(12, 10), cell=12)
    img[:48, :48, 3] = 0
    res = pixelate_image(img, PixelateConfig(generator=path, palette="gameboy", device="cpu"))
    allowed = {(15, 56, 15), (48, 98, 48), (139, 172, 15), (155, 188, 15)}
    op = res.image[..., 3] > 0
    assert {tuple(int(v) for v in c) for c in res.image[op][:, :3]} <= allowed
    assert res.image.shape[:2] == (12, 10)
    assert (res.image[:4, :4, 3] == 0).all() and op[4:, 4:].all()


def test_pixelate_image_bad_generator_path(tmp_path):
    with pytest.raises(GeneratorError, match="no such generator file"):
        pixelate_image(blocky(), PixelateConfig(generator=str(tmp_path / "missing.pth")))
