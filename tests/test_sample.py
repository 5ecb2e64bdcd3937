import numpy as np
import pytest

from pixfix.sample import _window, choose_kernel, inner_indices, model_cells, render, sample_cells

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


def _smooth_upscale(sprite: np.ndarray, s: float, interp: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``sprite`` (RGBA) resized by ``s`` with OpenCV, clipped to uint8 as any saved image is,
    and its true (fractional) cell boundaries."""
    import cv2

    h, w = sprite.shape[:2]
    big = cv2.resize(sprite.astype(np.float32), (round(w * s), round(h * s)), interpolation=interp)
    big = np.clip(np.round(big), 0, 255).astype(np.uint8)
    xs = np.arange(w + 1) * big.shape[1] / w
    ys = np.arange(h + 1) * big.shape[0] / h
    return big, xs, ys


def _outlined_sprite(rng) -> np.ndarray:
    """White and light cells beside black ones: the overshoot of a smooth kernel there
    leaves the 0..255 range and is clipped."""
    cells = rng.choice(np.array([[0, 0, 0], [255, 255, 255], [250, 230, 40], [40, 60, 250]]), size=(12, 12))
    sprite = np.full((12, 12, 4), 255, np.uint8)
    sprite[..., :3] = cells
    return sprite


def test_model_cells_undo_clipped_overshoot(rng):
    import cv2

    sprite = _outlined_sprite(rng)
    big, xs, ys = _smooth_upscale(sprite, 7.0, cv2.INTER_CUBIC)
    pair = ("cubic", "cubic")
    censored = model_cells(big, xs, ys, pair, 7.0, 7.0)
    exact = model_cells(big, xs, ys, pair, 7.0, 7.0, clip_margin=-1.0)  # nothing counts as clipped
    inner = np.s_[1:-1, 1:-1, :3]  # the resize pads the image edge its own way
    err_c = np.abs(censored[inner] - sprite[inner]).max()
    err_e = np.abs(exact[inner] - sprite[inner]).max()
    assert err_c <= 6.0  # 250 lies within the clip margin: it may rise to 255
    assert err_e > 3 * err_c  # clipped values fitted as exact drag the colours


def test_kernel_chosen_is_the_kernel_that_made_the_image(rng):
    import cv2

    sprite = _outlined_sprite(rng)
    sprite[:3, :3, 3] = 0  # some transparency too
    sprite[:3, :3, :3] = 0
    for interp, name in ((cv2.INTER_LINEAR, "linear"), (cv2.INTER_CUBIC, "cubic"), (cv2.INTER_LANCZOS4, "lanczos")):
        big, xs, ys = _smooth_upscale(sprite, 5.5, interp)
        pairs = [("linear", "linear"), ("cubic", "cubic"), ("lanczos", "lanczos"), ("nearest", "nearest")]
        kernel = choose_kernel(big, xs, ys, pairs, 5.5, 5.5)
        assert kernel == (name, name)


def test_kernel_of_a_pillow_upscale_is_its_own_and_its_colours_come_back(rng):
    # Pillow's bicubic is Keys' cubic with a = -0.5 and its Lanczos has three lobes
    # (OpenCV's: a = -0.75, four lobes); fitted with OpenCV's kernels the colours of a
    # Pillow upscale come out off by several units, so near-copies survive the palette
    from PIL import Image

    from pixfix.grid.model import KERNELS

    sprite = _outlined_sprite(rng)
    sprite[..., :3] = np.clip(sprite[..., :3], 60, 200)  # no overshoot clipped: the kernels alone differ
    h, w = sprite.shape[:2]
    pairs = [(k, k) for k in KERNELS]
    for resample, name in ((Image.BICUBIC, "catmull"), (Image.LANCZOS, "lanczos3")):
        big = np.array(Image.fromarray(sprite[..., :3]).resize((round(w * 6.6), round(h * 6.6)), resample))
        big = np.dstack([big, np.full(big.shape[:2], 255, np.uint8)])
        xs, ys = np.arange(w + 1) * big.shape[1] / w, np.arange(h + 1) * big.shape[0] / h
        assert choose_kernel(big, xs, ys, pairs, 6.6, 6.6) == (name, name)
        inner = np.s_[1:-1, 1:-1, :3]  # Pillow pads the image edge its own way
        own = model_cells(big, xs, ys, (name, name), 6.6, 6.6)
        opencv = model_cells(big, xs, ys, ("cubic", "cubic") if name == "catmull" else ("lanczos", "lanczos"),
                             6.6, 6.6)
        assert np.abs(own[inner] - sprite[inner]).max() <= 1.5
        assert np.abs(opencv[inner] - sprite[inner]).max() > 3.0


def test_kernel_window_holds_whole_cells():
    lines = np.round(np.arange(0, 1001, 7.3)).astype(np.int64)
    lines = np.append(lines, 1000) if lines[-1] != 1000 else lines
    i, j = _window(lines, 256)
    assert 0 < i < j < len(lines) - 1
    assert lines[j] - lines[i] <= 256 and lines[j] - lines[i] > 256 - 2 * 8
    assert _window(lines[:10], 256) == (0, 9)


def test_chroma_filter_matches_a_real_420_jpeg():
    import io

    import cv2
    from PIL import Image

    from pixfix.sample import _YCC, chroma_filter

    rng = np.random.default_rng(1)
    h, w = 40, 51  # an odd width: the encoder repeats the edge column
    rgb = rng.integers(40, 215, (h, w, 3)).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 100, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])
    dec = np.asarray(Image.open(io.BytesIO(buf.tobytes())).convert("RGB")).astype(float)
    chroma, dec_chroma = (rgb.astype(float) @ _YCC.T)[..., 1:], (dec @ _YCC.T)[..., 1:]
    fx, fy = chroma_filter(w, 2).toarray(), chroma_filter(h, 2).toarray()
    pred = np.einsum("yi,ijc,xj->yxc", fy, chroma, fx)
    assert np.abs(pred - dec_chroma).mean() < 1.0                # quantisation error only
    assert np.abs(chroma - dec_chroma).mean() > 10.0             # the filter is what happened
    assert np.array_equal(chroma_filter(9, 1).toarray(), np.eye(9))


def test_model_cells_recover_colours_under_subsampled_chroma(rng):
    import io

    import cv2
    from PIL import Image

    # saturated 3-px cells: JPEG keeps colour at 2-px resolution and blends neighbours
    pal = np.array([[220, 30, 40], [30, 60, 220], [40, 200, 60], [240, 220, 40]])
    cells = pal[rng.integers(0, 4, (14, 14))].astype(np.uint8)
    big = np.repeat(np.repeat(cells, 3, axis=0), 3, axis=1)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    dec = np.asarray(Image.open(io.BytesIO(buf.tobytes())).convert("RGB"))
    img = np.dstack([dec, np.full(dec.shape[:2], 255, np.uint8)])
    lines = np.arange(15) * 3
    plain = model_cells(img, lines, lines, ("nearest", "nearest"), 3.0, 3.0)
    fitted = model_cells(img, lines, lines, ("nearest", "nearest"), 3.0, 3.0, chroma=(2, 2))
    inner = np.s_[1:-1, 1:-1, :3]
    err_plain = np.abs(plain[inner] - cells[inner]).mean()
    err_fit = np.abs(fitted[inner] - cells[inner]).mean()
    assert err_fit < 0.5 * err_plain


@pytest.mark.parametrize("kernel", ["nearest", "linear", "cubic", "lanczos"])
def test_filtered_design_is_the_filter_times_the_design(kernel):
    from pixfix.grid.model import cell_centres, design
    from pixfix.sample import _filtered, chroma_filter

    for length, q in ((50, 3.3), (101, 2.2), (64, 7.0)):
        lines = np.concatenate([[0.0], np.arange(1.3, length, q), [float(length)]])
        a = design(cell_centres(lines, length, q), length, kernel, lines)
        for start in (0, 1):
            f = chroma_filter(length, 2, start)
            d = _filtered(a, f)
            assert np.allclose(d.dense(), f.toarray() @ a.dense(), atol=1e-12)
            assert np.all(np.diff(d.k0) >= 0)  # the banded form's invariant
