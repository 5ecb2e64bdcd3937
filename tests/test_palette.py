import numpy as np
import pytest

from pixfix.palette import format_gpl, parse_palette, reduce_palette


def test_exact_colours_kept_without_merge():
    rgb = np.array([[10, 20, 30], [10, 20, 31], [200, 0, 0]], float)
    pal = reduce_palette(rgb, tau=0.0)
    assert len(pal.colors) == 3


def test_noisy_clusters_collapse_to_their_means(rng):
    truth = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [240, 240, 240]], float)
    lab_noise = rng.normal(0, 2.0, (400, 3))
    labels = rng.integers(0, 4, 400)
    rgb = np.clip(truth[labels] + lab_noise, 0, 255)
    pal = reduce_palette(rgb, tau=8.0)
    assert len(pal.colors) == 4
    for t in truth:
        assert np.abs(pal.colors.astype(float) - t).sum(1).min() < 4


def test_rare_blend_is_folded():
    a, b = np.array([250, 250, 250.0]), np.array([20, 20, 20.0])
    rgb = np.vstack([np.repeat(a[None], 500, 0), np.repeat(b[None], 500, 0), (a + b)[None] / 2])
    pal = reduce_palette(rgb, tau=3.0, rare_share=0.01)
    assert len(pal.colors) == 2


def test_cap_on_colours(rng):
    rgb = rng.uniform(0, 255, (300, 3))
    pal = reduce_palette(rgb, tau=0.0, max_colors=8)
    assert len(pal.colors) == 8
    assert pal.labels.max() == 7


def test_fixed_palette_only_uses_its_colours(rng):
    fixed = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], np.uint8)
    rgb = rng.uniform(0, 255, (100, 3))
    pal = reduce_palette(rgb, fixed=fixed)
    assert {tuple(c) for c in pal.colors} <= {tuple(c) for c in fixed}


@pytest.mark.parametrize("text,suffix", [
    ("GIMP Palette\nName: t\nColumns: 2\n#\n  0   0   0\tblack\n255 128   7 orange\n", ".gpl"),
    ("JASC-PAL\n0100\n2\n0 0 0\n255 128 7\n", ".pal"),
    ("; comment\n000000\n#ff8007\n", ".hex"),
])
def test_parse_palette_formats(text, suffix):
    cols = parse_palette(text, suffix)
    assert cols.tolist() == [[0, 0, 0], [255, 128, 7]]


def test_parse_palette_rejects_empty():
    with pytest.raises(ValueError):
        parse_palette("nothing here", ".txt")


def test_gpl_round_trip():
    cols = np.array([[1, 2, 3], [250, 251, 252]], np.uint8)
    assert parse_palette(format_gpl(cols), ".gpl").tolist() == cols.tolist()


def test_chroma_weight_merges_tints_of_one_lightness():
    # one dark colour in three chroma tints (JPEG chroma bleed) and a distinct grey
    cols = np.array([[40, 24, 32], [47, 20, 26], [32, 26, 33], [120, 120, 120]], np.float64)
    tau = 5.0  # the tints lie 5-11 Lab apart, almost all of it in a* and b*
    full = reduce_palette(cols, np.full(4, 10.0), tau=tau, rare_share=0.0)
    half = reduce_palette(cols, np.full(4, 10.0), tau=tau, rare_share=0.0, chroma_weight=0.5)
    assert len(full.colors) > 2
    assert len(half.colors) == 2


def test_merge_close_joins_the_closest_pairs_first_like_a_full_search(rng):
    from pixfix.palette import merge_close, weighted_means

    def reference(lab, weights, labels, tau):  # recompute every distance for every merge
        k = int(labels.max()) + 1
        w = np.bincount(labels, weights, minlength=k)
        c = weighted_means(lab, labels, weights, k)
        alive, mapping = np.ones(k, bool), np.arange(k)
        while True:
            idx = np.flatnonzero(alive)
            if len(idx) < 2:
                break
            d = np.linalg.norm(c[idx][:, None] - c[idx][None], axis=-1)
            np.fill_diagonal(d, np.inf)
            i, j = np.unravel_index(np.argmin(d), d.shape)
            if d[i, j] >= tau:
                break
            a, b = (idx[i], idx[j]) if w[idx[i]] >= w[idx[j]] else (idx[j], idx[i])
            c[a] = (c[a] * w[a] + c[b] * w[b]) / (w[a] + w[b])
            w[a] += w[b]
            alive[b] = False
            mapping[mapping == b] = a
        return np.unique(mapping[labels], return_inverse=True)[1].ravel()

    for _ in range(60):
        n = int(rng.integers(2, 200))
        k = int(rng.integers(2, n + 1))
        lab = rng.normal(size=(n, 3)) * rng.uniform(1, 30)
        if rng.random() < 0.4:
            lab = np.round(lab)  # exact ties
        w = rng.integers(1, 5, n).astype(float)
        labels = rng.integers(0, k, n)
        labels[:k] = np.arange(k)
        tau = float(rng.uniform(0.5, 20))
        assert np.array_equal(merge_close(lab, w, labels, tau), reference(lab, w, labels, tau))


def test_rare_colour_that_several_cells_agree_on_is_kept():
    # a sprite's eyes: 6 orange cells among 2000, 10 Lab units from the commonest red
    # (merge radius 6). One stray estimate that far off is noise and folds into the
    # red; six independent estimates that agree are a colour of their own; after JPEG
    # (errors shared by the cells of a block: 16 cells of 4x4 px per 16x16 chroma block)
    # they count as one estimate and fold
    red, orange, dark = [203, 65, 39], [212, 80, 28], [25, 5, 10]
    rgb = np.array([red, dark, orange], np.float64)
    many = reduce_palette(rgb, np.array([1000.0, 994.0, 6.0]), tau=6.0, rare_share=0.004)
    assert len(many.colors) == 3
    lone = reduce_palette(rgb, np.array([1000.0, 999.0, 1.0]), tau=6.0, rare_share=0.004)
    assert len(lone.colors) == 2
    shared = reduce_palette(rgb, np.array([1000.0, 994.0, 6.0]), tau=6.0, rare_share=0.004, independence=1 / 16)
    assert len(shared.colors) == 2


def test_unique_rows_matches_numpy_unique():
    from pixfix.palette import unique_rows
    rng = np.random.default_rng(3)
    for rows in (rng.integers(-40, 300, (500, 3)), rng.integers(0, 4, (300, 4)).astype(np.uint8),
                 np.zeros((0, 3), np.int64), np.array([[2**40, -2**40, 5]] * 3 + [[0, 0, 0]])):
        u, inv, cnt = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
        u2, inv2, cnt2 = unique_rows(rows)
        assert u2.dtype == rows.dtype
        assert np.array_equal(u, u2) and np.array_equal(inv.ravel(), inv2) and np.array_equal(cnt, cnt2)
