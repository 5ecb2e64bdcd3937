import numpy as np

from pixfix.sample import inner_indices, render, sample_cells

from conftest import random_sprite, upscale


def test_inner_indices_avoid_borders():
    lines = np.array([0, 10, 20])
    idx = inner_indices(lines)
    assert idx.min() >= 2 and idx[0].max() <= 7 and idx[1].min() >= 12


def test_inner_indices_thin_cells_use_centre():
    idx = inner_indices(np.array([0, 1, 2, 4]))
    assert idx[0].tolist() == [0] * idx.shape[1]
    assert set(idx[2].tolist()) <= {2, 3}


def test_clean_cells_are_exact(rng):
    sprite = random_sprite(rng, 8, 9, 5, transparent=True)
    img = upscale(sprite, 6)
    lines_x = np.arange(0, 9 * 6 + 1, 6)
    lines_y = np.arange(0, 8 * 6 + 1, 6)
    cells = sample_cells(img, lines_x, lines_y)
    assert np.array_equal(cells.rgba, sprite)


def test_noise_is_averaged_out(rng):
    sprite = random_sprite(rng, 6, 6, 4)
    img = upscale(sprite, 10).astype(np.float64)
    img[..., :3] += rng.normal(0, 12, img[..., :3].shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    cells = sample_cells(img, np.arange(0, 61, 10), np.arange(0, 61, 10))
    err = np.abs(cells.rgba[..., :3].astype(int) - sprite[..., :3]).mean()
    assert err < 5  # per-pixel noise is 12


def test_render_inverts_sampling(rng):
    sprite = random_sprite(rng, 5, 7, 4)
    xs, ys = np.array([0, 2, 5, 6, 9, 12, 13, 16]), np.array([0, 3, 4, 8, 9, 12])
    img = render(sprite, xs, ys)
    assert img.shape == (12, 16, 4)
    assert np.array_equal(sample_cells(img, xs, ys).rgba, sprite)
