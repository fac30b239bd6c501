"""Kernel presets and apply_kernel: exact values, signs kept, borders, modes and bad kernels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cnnviz.core.convolution import conv2d
from cnnviz.core.kernels import (
    PRESET_INFO,
    PRESETS,
    apply_kernel,
    gradient_direction,
    gradient_magnitude,
    kernel_sum_effect,
    preset,
    validate_kernel,
)

REQUIRED = [
    "gradient_x", "gradient_y", "sobel_x", "sobel_y", "laplacian", "laplacian_8", "identity",
    "box_blur", "gaussian_3", "sharpen", "emboss", "outline",
]


def test_required_presets_exist_as_float32_2d():
    for name in REQUIRED:
        k = PRESETS[name]
        assert k.dtype == np.float32 and k.ndim == 2, name
    assert set(PRESETS) == set(PRESET_INFO)
    assert all(len(text) > 20 for text in PRESET_INFO.values())


def test_book_kernels_as_printed_with_sobel_misprint_corrected():
    np.testing.assert_array_equal(PRESETS["gradient_x"], [[-1, 0, 1]] * 3)
    np.testing.assert_array_equal(PRESETS["gradient_y"], [[-1, -1, -1], [0, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(PRESETS["sobel_x"], [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    np.testing.assert_array_equal(PRESETS["sobel_y"], [[1, 2, 1], [0, 0, 0], [-1, -2, -1]])
    np.testing.assert_array_equal(PRESETS["laplacian"], [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    np.testing.assert_array_equal(PRESETS["laplacian_8"], [[1, 1, 1], [1, -8, 1], [1, 1, 1]])
    # the book (ch. 3): gradient, Sobel and Laplacian kernels all sum to 0
    for name in ("gradient_x", "gradient_y", "sobel_x", "sobel_y", "laplacian", "laplacian_8", "outline"):
        assert PRESETS[name].sum() == 0, name
    for name in ("identity", "box_blur", "gaussian_3", "gaussian_5", "sharpen", "emboss"):
        assert PRESETS[name].sum() == pytest.approx(1.0, abs=1e-6), name


def test_presets_are_protected_and_preset_gives_a_copy():
    with pytest.raises(ValueError):
        PRESETS["sobel_x"][0, 0] = 5
    k = preset("sobel_x")
    k[0, 0] = 5
    assert PRESETS["sobel_x"][0, 0] == 1
    with pytest.raises(ValueError, match="no preset"):
        preset("nope")


def test_gradient_keeps_negative_values_on_a_step_edge():
    img = np.zeros((5, 6), np.uint8)
    img[:, 3:] = 200  # dark left, bright right
    gx = apply_kernel(img, PRESETS["gradient_x"])
    assert gx.dtype == np.float32 and gx.shape == img.shape
    assert gx[2, 2] == 600 and gx[2, 3] == 600  # 3 rows × 200
    assert gx[2, 0] == 0
    sx = apply_kernel(img, PRESETS["sobel_x"])  # the book's sign: left minus right
    assert sx[2, 2] == -800
    sx_conv = apply_kernel(img, PRESETS["sobel_x"], mode="convolve")
    assert sx_conv[2, 2] == 800  # flipping turns it into right minus left


def test_apply_kernel_matches_conv2d_with_reflect_padding():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(9, 11, 3)).astype(np.uint8)
    k = rng.normal(size=(3, 3)).astype(np.float32)
    out = apply_kernel(img, k, border="zero")
    for c in range(3):
        ref = conv2d(img[:, :, c].astype(np.float64), k.astype(np.float64), padding="same")
        np.testing.assert_allclose(out[:, :, c], ref, rtol=1e-5, atol=1e-3)
    out_r = apply_kernel(img, k, border="reflect")
    ref_r = conv2d(img[:, :, 0], k, padding="same", pad_mode="reflect")
    np.testing.assert_allclose(out_r[:, :, 0], ref_r, rtol=1e-5, atol=1e-3)
    out_e = apply_kernel(img, k, border="replicate")
    ref_e = conv2d(img[:, :, 1], k, padding="same", pad_mode="replicate")
    np.testing.assert_allclose(out_e[:, :, 1], ref_e, rtol=1e-5, atol=1e-3)


def test_convolve_mode_flips_the_kernel_and_even_kernels_stay_centred():
    rng = np.random.default_rng(2)
    img = rng.random((8, 8)).astype(np.float32)
    k = rng.random((2, 2)).astype(np.float32)
    flipped = apply_kernel(img, k[::-1, ::-1].copy(), border="zero")
    conv = apply_kernel(img, k, mode="convolve", border="zero")
    same_as_flip = apply_kernel(img, k, flip=True, border="zero")
    np.testing.assert_array_equal(conv, same_as_flip)
    # the flipped kernel's anchor moves to the mirrored cell: shifted by one pixel
    np.testing.assert_allclose(conv[:-1, :-1], flipped[1:, 1:], atol=1e-6)
    # correlate with a symmetric kernel equals convolve
    sym = PRESETS["gaussian_3"]
    np.testing.assert_allclose(apply_kernel(img, sym), apply_kernel(img, sym, mode="convolve"))


def test_identity_keeps_the_image_and_dtypes():
    rgb = np.random.default_rng(3).integers(0, 256, (6, 7, 3)).astype(np.uint8)
    np.testing.assert_array_equal(apply_kernel(rgb, PRESETS["identity"]), rgb.astype(np.float32))
    for dtype in (np.uint16, np.int16, np.float64, np.int32, bool):
        out = apply_kernel(rgb[:, :, 0].astype(dtype), PRESETS["identity"])
        assert out.dtype == np.float32
    many = np.random.default_rng(4).random((5, 5, 6))
    np.testing.assert_allclose(apply_kernel(many, PRESETS["identity"]), many, rtol=1e-6)


def test_kernel_bigger_than_image_still_filters():
    out = apply_kernel(np.ones((2, 2), np.uint8), np.ones((7, 7)), border="replicate")
    np.testing.assert_array_equal(out, np.full((2, 2), 49.0))


def test_gradient_magnitude_and_direction():
    gx = np.array([[3.0, 0.0]], np.float32)
    gy = np.array([[4.0, -2.0]], np.float32)
    np.testing.assert_allclose(gradient_magnitude(gx, gy), [[5.0, 2.0]])
    np.testing.assert_allclose(gradient_direction(gx, gy), [[53.130104, -90.0]], atol=1e-4)
    with pytest.raises(ValueError, match="same shape"):
        gradient_magnitude(gx, gy.T)


def test_kernel_sum_effect_sentences():
    assert "edge detector" in kernel_sum_effect(PRESETS["laplacian"])
    assert "brightness kept" in kernel_sum_effect(PRESETS["box_blur"])
    assert "brightens" in kernel_sum_effect(PRESETS["diagonal"])
    assert "darkens" in kernel_sum_effect(np.full((3, 3), 0.05))
    assert "inverts" in kernel_sum_effect(-np.ones((2, 2)))


@pytest.mark.parametrize(
    "bad, words",
    [
        ([], "empty"),
        (np.zeros((0, 3)), "empty"),
        ([1, 2, 3], "2-d"),
        (np.ones((3, 3, 3)), "2-d"),
        ([[1, np.nan], [0, 1]], "finite"),
        ([[1, np.inf], [0, 1]], "finite"),
        ([["a", "b"]], "numbers"),
    ],
)
def test_validate_kernel_rejects_with_a_sentence(bad, words):
    with pytest.raises(ValueError) as info:
        validate_kernel(bad)
    assert words in str(info.value).lower()
    with pytest.raises(ValueError):
        apply_kernel(np.zeros((4, 4)), bad)


def test_apply_kernel_bad_arguments():
    img = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="mode"):
        apply_kernel(img, PRESETS["identity"], mode="sideways")
    with pytest.raises(ValueError, match="border"):
        apply_kernel(img, PRESETS["identity"], border="wrap")
    img[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        apply_kernel(img, PRESETS["identity"])
    with pytest.raises(ValueError, match="empty"):
        apply_kernel(np.zeros((0, 4)), PRESETS["identity"])


def test_apply_kernel_is_opencv_filter2d():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)
    k = PRESETS["laplacian_8"]
    raw = cv2.filter2D(img, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_array_equal(apply_kernel(img, k), raw)


def test_check_finite_can_be_skipped_for_trusted_float_images():
    img = np.zeros((4, 4), np.float32)
    img[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        apply_kernel(img, PRESETS["box_blur"])
    out = apply_kernel(img, PRESETS["box_blur"], check_finite=False)
    assert np.isinf(out[0, 0])


def test_haar_features_are_plus_and_minus_one_rectangles():
    from cnnviz.core.kernels import HAAR_DEFAULT_SIZE, HAAR_INFO, HAAR_PRESETS, HAAR_TITLES, haar_feature

    assert set(HAAR_PRESETS) == set(HAAR_TITLES) == set(HAAR_INFO)
    assert not set(HAAR_PRESETS) & set(PRESETS)  # the book's 3×3-ish presets stay as they were
    for name, k in HAAR_PRESETS.items():
        assert k.shape == (HAAR_DEFAULT_SIZE,) * 2 and k.dtype == np.float32
        assert set(np.unique(k)) == {-1.0, 1.0}
        assert "integral image" in HAAR_INFO[name] and "Viola" in HAAR_INFO[name]
        np.testing.assert_array_equal(preset(name), k)
    np.testing.assert_array_equal(haar_feature("haar_two_x", 4), [[-1, -1, 1, 1]] * 4)
    np.testing.assert_array_equal(haar_feature("haar_two_y", 4), haar_feature("haar_two_x", 4).T)
    np.testing.assert_array_equal(haar_feature("haar_three_x", 6)[0], [-1, -1, 1, 1, -1, -1])
    np.testing.assert_array_equal(haar_feature("haar_three_x", 5)[0], [-1, 1, 1, 1, -1])  # symmetric
    np.testing.assert_array_equal(haar_feature("haar_four", 4), [[1, 1, -1, -1]] * 2 + [[-1, -1, 1, 1]] * 2)
    # two- and four-rectangle features sum to 0 at even sizes: flat areas give 0
    for name in ("haar_two_x", "haar_two_y", "haar_four"):
        assert haar_feature(name, 8).sum() == 0
    with pytest.raises(ValueError):
        haar_feature("haar_three_x", 2)
    with pytest.raises(ValueError):
        haar_feature("haar_five", 8)


def test_a_two_rectangle_haar_feature_finds_a_vertical_edge():
    from cnnviz.core.kernels import haar_feature

    img = np.zeros((20, 20), np.float32)
    img[:, 10:] = 255.0  # brighter on the right
    out = apply_kernel(img, haar_feature("haar_two_x", 6), border="replicate")
    assert out[10, 10] == pytest.approx(6 * 3 * 255.0)  # right half all bright, left half all dark
    assert out[10, 3] == 0 and out[10, 16] == 0


# ------------------------------------------------------------------------------------------
# the fast path: low-rank kernels as separable passes


def _low_rank_kernels() -> dict[str, np.ndarray]:
    from cnnviz.core.kernels import HAAR_PRESETS, PRESETS, haar_feature

    rng = np.random.default_rng(7)
    two = sum(np.outer(rng.normal(size=7), rng.normal(size=7)) for _ in range(2)).astype(np.float32)
    return {
        "sobel_x": PRESETS["sobel_x"],
        "gaussian_5": PRESETS["gaussian_5"],
        "box_15": np.full((15, 15), 1 / 225, np.float32),
        "haar_four_15": haar_feature("haar_four", 15),
        "haar_three_x_13": haar_feature("haar_three_x", 13),
        "haar_two_y": HAAR_PRESETS["haar_two_y"],
        "rank2_7x7": two,
        "rank2_15x15": sum(np.outer(rng.normal(size=15), rng.normal(size=15)) for _ in range(2)).astype(np.float32),
        "random_15": rng.normal(size=(15, 15)).astype(np.float32),
        "random_7x4": rng.normal(size=(7, 4)).astype(np.float32),
        "column_9x1": rng.normal(size=(9, 1)).astype(np.float32),
        "zero_5": np.zeros((5, 5), np.float32),
    }


@pytest.mark.parametrize("channels", [0, 3, 5])
@pytest.mark.parametrize("border", ["reflect", "replicate", "zero", "symmetric"])
@pytest.mark.parametrize("mode", ["correlate", "convolve"])
def test_fast_path_matches_apply_kernel_in_every_border_mode(channels, border, mode):
    """Tolerance: max |fast − direct| ≤ 1e-3 × the kernel's L1 norm × 255 (float32 sums taken
    in another order); in practice it is ~1e-6 of that."""
    from cnnviz.core.kernels import apply_kernel_fast

    rng = np.random.default_rng(channels)
    shape = (61, 47) if channels == 0 else (61, 47, channels)
    for image in (rng.integers(0, 256, shape, dtype=np.uint8), rng.uniform(-300, 300, shape).astype(np.float32)):
        for name, k in _low_rank_kernels().items():
            direct = apply_kernel(image, k, mode=mode, border=border)
            fast = apply_kernel_fast(image, k, mode=mode, border=border)
            assert fast.shape == direct.shape and fast.dtype == np.float32, name
            tol = 1e-3 * float(np.abs(k).sum()) * 255 + 1e-6
            assert float(np.abs(fast - direct).max()) <= tol, (name, border, mode)


def test_separable_terms_find_the_rank_of_the_book_kernels():
    from cnnviz.core.kernels import PRESETS, haar_feature, separable_terms

    ranks = {
        "sobel_x": 1, "sobel_y": 1, "gaussian_5": 1, "box_blur": 1, "gradient_x": 1, "laplacian": 2,
        "identity": 1,
    }
    for name, rank in ranks.items():
        terms = separable_terms(PRESETS[name])
        assert len(terms) == rank, name
        rebuilt = sum(np.outer(c, r) for c, r in terms)
        np.testing.assert_allclose(rebuilt, PRESETS[name], atol=1e-5)
    for name in ("haar_two_x", "haar_two_y", "haar_three_x", "haar_three_y", "haar_four"):
        assert len(separable_terms(haar_feature(name, 15))) == 1, name
    full = np.random.default_rng(0).normal(size=(15, 15))
    assert len(separable_terms(full)) == 15
    assert len(separable_terms(np.zeros((3, 3)))) == 1


def test_fast_path_refuses_what_apply_kernel_refuses():
    from cnnviz.core.kernels import apply_kernel_fast

    img = np.zeros((8, 8), np.float32)
    img[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        apply_kernel_fast(img, np.ones((5, 5)))
    with pytest.raises(ValueError, match="border"):
        apply_kernel_fast(np.zeros((8, 8)), np.ones((5, 5)), border="wrap")
    with pytest.raises(ValueError, match="finite"):
        apply_kernel_fast(np.zeros((8, 8)), [[1, np.inf]])


def test_kernel_taps_choose_the_cheaper_way():
    """Separable passes where they cost less than the direct filter: rank 1 to 4 at 15×15
    (a direct 15×15 sums all 225 cells: it is cut into row blocks OpenCV sums directly), but not
    rank 5; rank 1 at 7×7 but not rank 2; never 3×3."""
    from cnnviz.core.kernels import kernel_taps

    rng = np.random.default_rng(3)

    def rank(r, side):
        return sum(np.outer(rng.normal(size=side), rng.normal(size=side)) for _ in range(r))

    assert kernel_taps(rank(1, 15)) == 30 * 1.8
    assert kernel_taps(rank(2, 15)) == 60 * 1.8
    assert kernel_taps(rank(1, 7)) == 14 * 1.8
    assert kernel_taps(rank(1, 15), 3) == 30 * 2.0
    assert kernel_taps(rank(2, 15), 3) == 60 * 2.0
    assert kernel_taps(rank(2, 7)) == 49
    assert kernel_taps(rank(2, 7), 3) == 49
    assert kernel_taps(rank(3, 15)) == 90 * 1.8
    assert kernel_taps(rank(4, 15)) == 120 * 1.8
    assert kernel_taps(rank(5, 15)) == 225
    assert kernel_taps(rank(1, 3)) == 9


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("mode", ["correlate", "convolve"])
@pytest.mark.parametrize("border", ["reflect", "symmetric", "replicate", "zero"])
def test_incremental_filter_follows_cell_edits_exactly(channels, mode, border):
    """A kernel edited a cell at a time is updated from the last result (one scaled, shifted
    copy of the image per changed cell), within a few float32 roundings of the direct filter,
    and never changes a result it returned before."""
    import cnnviz.core.kernels as kernels
    from cnnviz.core.kernels import IncrementalFilter, kernel_taps

    rng = np.random.default_rng(channels * 7 + len(mode) + len(border))
    shape = (int(rng.integers(16, 40)), int(rng.integers(16, 40))) + ((3,) if channels == 3 else ())
    image = rng.uniform(0, 255, shape).astype(np.float32)
    kh, kw = int(rng.integers(5, 16)), int(rng.integers(4, 16))
    k = rng.normal(size=(kh, kw)).astype(np.float32)
    f = IncrementalFilter()
    out = f.apply(image, k, mode=mode, border=border)
    np.testing.assert_array_equal(out, kernels.apply_kernel_fast(image, k, mode=mode, border=border))
    direct = apply_kernel(image, k, mode=mode, border=border)
    np.testing.assert_allclose(out, direct, rtol=0, atol=1e-6 * np.abs(direct).max())
    for step in range(IncrementalFilter.MAX_STEPS + 5):
        before, kept = out, out.copy()
        k = k.copy()
        k[rng.integers(kh), rng.integers(kw)] = rng.normal() * 3
        taps = f.taps(image, k, mode=mode, border=border)
        # after MAX_STEPS steps in a row a full filter wipes out the accumulated rounding
        full = step % (IncrementalFilter.MAX_STEPS + 1) == IncrementalFilter.MAX_STEPS
        assert taps == kernel_taps(k, channels) if full else taps < kernel_taps(k, channels)
        out = f.apply(image, k, mode=mode, border=border)
        expected = apply_kernel(image, k, mode=mode, border=border)
        assert out.shape == expected.shape and out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
        np.testing.assert_array_equal(before, kept)
    # a new image, or a change of most cells, filters anew (exactly apply_kernel_fast's result)
    other = image.copy()
    np.testing.assert_array_equal(f.apply(other, k, mode=mode, border=border), kernels.apply_kernel_fast(other, k, mode=mode, border=border))
    k2 = rng.normal(size=(kh, kw)).astype(np.float32)
    assert f.taps(other, k2, mode=mode, border=border) == kernel_taps(k2, channels)


def test_incremental_filter_refuses_what_apply_kernel_refuses():
    from cnnviz.core.kernels import IncrementalFilter

    f = IncrementalFilter()
    image = np.zeros((8, 8), np.float32)
    f.apply(image, np.ones((3, 3)))
    with pytest.raises(ValueError, match="row 0, column 1"):
        f.apply(image, [[1, np.nan, 1], [1, 1, 1], [1, 1, 1]])
    with pytest.raises(ValueError, match="Unknown border"):
        f.apply(image, np.ones((3, 3)), border="wrap")


@pytest.mark.parametrize("channels", [1, 3])
def test_large_kernels_filtered_in_row_bands_give_the_one_call_result(channels, monkeypatch):
    """Large direct filters are split into row bands filtered on several threads; every band
    sees the rows around it, so the result is that of one filter2D call."""
    import cnnviz.core.kernels as kernels

    calls = []
    monkeypatch.setattr(kernels, "_band_count", lambda rows, cells, work: calls.append(rows) or 3)
    rng = np.random.default_rng(channels)
    shape = (61, 47) + ((3,) if channels == 3 else ())
    image = rng.uniform(0, 255, shape).astype(np.float32)
    for kh, kw in ((15, 15), (14, 9), (7, 12)):
        k = rng.normal(size=(kh, kw)).astype(np.float32)
        for mode in ("correlate", "convolve"):
            for border in ("reflect", "zero"):
                direct = apply_kernel(image, k, mode=mode, border=border)
                fast = kernels.apply_kernel_fast(image, k, mode=mode, border=border)
                np.testing.assert_allclose(fast, direct, rtol=0, atol=1e-5 * np.abs(direct).max())
    assert calls
