"""Property: any sprite with single-pixel detail, upscaled by an integer 2..16 with
nearest neighbour, with or without a cropped partial border, restores exactly."""
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pixfix import restore

from conftest import random_sprite, upscale


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(8, 24), w=st.integers(8, 24), s=st.integers(2, 16),
       colors=st.integers(2, 10), alpha=st.booleans(), crop=st.tuples(*[st.floats(0, 0.99)] * 4))
def test_nearest_integer_upscale_restores_exactly(seed, h, w, s, colors, alpha, crop):
    rng = np.random.default_rng(seed)
    sprite = random_sprite(rng, h, w, colors, transparent=alpha)
    # single-pixel detail: no two neighbouring rows or columns are identical (else the
    # sprite itself is an upscale along that axis and its "native" size is ambiguous)
    assume(all((sprite[i] != sprite[i + 1]).any() for i in range(h - 1)))
    assume(all((sprite[:, j] != sprite[:, j + 1]).any() for j in range(w - 1)))
    big = upscale(sprite, s)
    # crop part of each border cell: a cut leaving >= half a cell keeps that cell
    cl, ct, cr, cb = (int(c * s) for c in crop)
    # a partial cell of exactly half a cell is a coin toss: move such crops off the fence
    cl, ct, cr, cb = (c if abs((s - c) - s / 2) >= 1 else 0 for c in (cl, ct, cr, cb))
    big = big[ct: big.shape[0] - cb, cl: big.shape[1] - cr]
    keep = lambda c: (s - c) >= 0.5 * s  # noqa: E731
    expect = sprite[(0 if keep(ct) else 1): (h if keep(cb) else h - 1),
                    (0 if keep(cl) else 1): (w if keep(cr) else w - 1)]
    res = restore(big)
    assert res.image.shape == expect.shape
    assert np.array_equal(res.image, expect)
