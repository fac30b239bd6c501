"""The kernel playground's rules without a window: kernel operations, display rules, titles,
border modes and the hover arithmetic, which must be the core's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.convolution import PAD_MODES
from cnnviz.core.kernels import PRESETS, apply_kernel, gradient_magnitude
from cnnviz.state.kernels import (
    BORDER_NAMES,
    DISPLAY_MODES,
    SIGNED_RGB_TEXT,
    KernelPlaygroundState,
    format_cell_value,
    normalized,
    parse_cell_value,
    preset_title,
    resize_kernel,
)

RNG = np.random.default_rng(7)
GRAY = RNG.integers(0, 256, (23, 31)).astype(np.float32)
RGB = RNG.integers(0, 256, (17, 19, 3)).astype(np.float32)
ASYMMETRIC = np.array([[0, 1, 2], [0, 0, 0], [-1, 0, 3]], np.float32)


def recorder(state: KernelPlaygroundState) -> list:
    seen: list = []
    state.changed.connect(seen.append)
    return seen


def test_preset_titles():
    assert preset_title("sobel_x") == "Sobel x"
    assert preset_title("laplacian_8") == "Laplacian (8 neighbours)"


def test_kernel_changes_emit_and_reset_goes_back_to_the_last_preset():
    s = KernelPlaygroundState()
    seen = recorder(s)
    assert s.chosen_preset == "sobel_x"
    s.choose_preset("laplacian")
    np.testing.assert_array_equal(s.kernel, PRESETS["laplacian"])
    s.set_kernel(np.ones((2, 2)))
    assert s.kernel.dtype == np.float32 and s.kernel_name == "custom"
    s.reset()
    np.testing.assert_array_equal(s.kernel, PRESETS["laplacian"])
    assert s.kernel_name == "laplacian"
    assert seen == ["kernel"] * 3
    assert KernelPlaygroundState(kernel=np.ones((2, 2)), kernel_name="custom").chosen_preset == "identity"


def test_transpose_rotate_resize_normalize():
    s = KernelPlaygroundState(kernel=np.array([[1, 2], [3, 4]], np.float32), kernel_name="custom")
    s.transpose()
    np.testing.assert_array_equal(s.kernel, [[1, 3], [2, 4]])
    s.rotate()
    np.testing.assert_array_equal(s.kernel, [[2, 1], [4, 3]])
    s.set_kernel(PRESETS["sobel_x"], "sobel_x")
    s.resize(5, 5)
    np.testing.assert_array_equal(s.kernel[1:4, 1:4], PRESETS["sobel_x"])
    assert s.kernel_name == "custom"
    seen = recorder(s)
    s.resize(5, 5)  # the same size: nothing happens
    assert seen == []
    s.set_kernel(np.full((3, 3), 2.0))
    assert "sums to 1" in s.normalize() and s.kernel.sum() == pytest.approx(1.0)
    s.set_kernel(PRESETS["sobel_x"])
    assert "positive weights" in s.normalize() and s.kernel[s.kernel > 0].sum() == pytest.approx(1.0)
    k, note = normalized(np.zeros((3, 3)))
    assert "cannot" in note and not k.any()


def test_cell_values_and_resizing():
    assert parse_cell_value("1/9") == pytest.approx(1 / 9)
    assert parse_cell_value(" −2,5 ") == -2.5
    for bad in ("nan", "inf", "abc", "", "1/0"):
        with pytest.raises(ValueError):
            parse_cell_value(bad)
    assert format_cell_value(2.0) == "2" and format_cell_value(0.25) == ".25"
    np.testing.assert_array_equal(resize_kernel(np.ones((3, 3)), 1, 1), [[1]])
    with pytest.raises(ValueError):
        resize_kernel(np.ones((3, 3)), 16, 3)
    assert KernelPlaygroundState.accepts(np.ones((15, 1))) and not KernelPlaygroundState.accepts(np.ones((16, 3)))


def test_settings_are_checked_and_emitted():
    s = KernelPlaygroundState()
    seen = recorder(s)
    s.update(color="rgb", border="zero", convolve=1)
    assert (s.color, s.border, s.convolve) == ("rgb", "zero", True)
    assert seen == ["settings"]
    with pytest.raises(ValueError):
        s.update(display="sideways")
    with pytest.raises(ValueError):
        s.update(colour="rgb")


def test_display_rules_and_titles():
    s = KernelPlaygroundState()
    assert s.display_text("signed") == DISPLAY_MODES["signed"] and "blue" in s.display_text("signed")
    assert s.result_title() == "Sobel x · correlation · signed, 0 = white"
    s.update(color="rgb")
    assert s.display_text("signed") == SIGNED_RGB_TEXT and "mid-gray = 0" in s.result_title()
    s.update(display="abs", convolve=True)
    assert s.result_title() == "Sobel x · convolution (flipped) · absolute value"
    assert s.display_enabled
    s.update(gradient="sobel")
    assert not s.display_enabled
    assert s.result_title().startswith("Gradient magnitude √(gx² + gy²), Sobel")
    s.set_kernel(np.ones((2, 2)))
    s.update(gradient="off", display="clipped")
    assert s.result_title().startswith("Custom kernel")
    assert s.original_title((320, 480, 3)) == "Original (RGB, 480×320)"


def test_sum_and_info_texts():
    s = KernelPlaygroundState()
    assert "Sum = 0" in s.sum_html() and "#188038" in s.sum_html()
    assert "Sobel" in s.info_text()
    s.choose_preset("box_blur")
    assert "Sum = 1" in s.sum_html() and "#1a73e8" in s.sum_html()
    s.set_kernel(np.ones((3, 3)))
    assert "Sum = 9" in s.sum_html() and "brightens" in s.sum_html()
    assert s.info_text() == "A kernel of your own."


def test_compute_matches_the_core_in_every_display_mode():
    s = KernelPlaygroundState(kernel=ASYMMETRIC, kernel_name="custom")
    raw = apply_kernel(GRAY, ASYMMETRIC)
    r = s.compute(GRAY)
    np.testing.assert_allclose(r.shown, raw, rtol=1e-6)
    assert r.signed and r.levels == pytest.approx((-np.abs(raw).max(), np.abs(raw).max()))
    s.update(display="abs")
    np.testing.assert_allclose(s.compute(GRAY).shown, np.abs(raw), rtol=1e-6)
    s.update(display="clipped", convolve=True, border="zero")
    expected = np.clip(apply_kernel(GRAY, ASYMMETRIC, mode="convolve", border="zero"), 0, 255)
    np.testing.assert_allclose(s.compute(GRAY).shown, expected, rtol=1e-6)
    s.update(gradient="sobel", convolve=False, border="reflect")
    g = s.compute(GRAY)
    expected = gradient_magnitude(apply_kernel(GRAY, PRESETS["sobel_x"]), apply_kernel(GRAY, PRESETS["sobel_y"]))
    np.testing.assert_allclose(g.shown, expected, rtol=1e-5)
    assert g.heat


def test_a_kernel_larger_than_the_image_is_explained():
    s = KernelPlaygroundState(kernel=np.ones((15, 15)), kernel_name="custom")
    r = s.compute(GRAY[:8, :10])
    assert r.shown is None and "larger than the image" in r.message


def test_work_decides_the_thread():
    s = KernelPlaygroundState()
    assert s.work(GRAY) == GRAY.size * 9
    s.update(gradient="sobel")
    assert s.work(GRAY) == GRAY.size * 18


def test_snapshot_is_independent():
    s = KernelPlaygroundState()
    copy = s.snapshot()
    s.kernel[0, 0] = 99
    assert copy.kernel[0, 0] == PRESETS["sobel_x"][0, 0]
    assert copy.changed is not s.changed


def test_border_names_are_the_cores_pad_modes():
    assert set(BORDER_NAMES) == set(PAD_MODES)


@pytest.mark.parametrize("border", sorted(PAD_MODES))
@pytest.mark.parametrize("convolve", [False, True])
@pytest.mark.parametrize("source", [GRAY, RGB], ids=["gray", "rgb"])
@pytest.mark.parametrize("kernel", [ASYMMETRIC, np.arange(8, dtype=np.float32).reshape(2, 4) - 3], ids=["3x3", "2x4"])
def test_hover_arithmetic_is_the_cores_number_everywhere(border, convolve, source, kernel):
    s = KernelPlaygroundState(kernel=kernel, kernel_name="custom", convolve=convolve, border=border)
    raw = apply_kernel(source, kernel, mode=s.mode, border=border)
    h, w = source.shape[:2]
    for row, col in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 2, w // 2), (1, 2)):
        data = s.arithmetic(source, raw, row, col)
        np.testing.assert_allclose(data["sum"], raw[row, col], atol=1e-3)
        np.testing.assert_allclose(data["products"], data["window"] * (
            data["weights"][:, :, None] if source.ndim == 3 else data["weights"]))


def test_hover_arithmetic_of_a_gradient_pair():
    s = KernelPlaygroundState()
    s.update(gradient="gradient")
    raw = s.compute(GRAY).raw
    data = s.arithmetic(GRAY, raw, 0, 5)
    gx = apply_kernel(GRAY, PRESETS["gradient_x"])[0, 5]
    gy = apply_kernel(GRAY, PRESETS["gradient_y"])[0, 5]
    assert float(data["gx"]) == pytest.approx(gx, abs=1e-3) and float(data["gy"]) == pytest.approx(gy, abs=1e-3)
    assert float(data["sum"]) == pytest.approx(float(raw[0, 5]), abs=1e-3)
    assert "√(gx² + gy²) = <b>" in s.arithmetic_html(GRAY, raw, 0, 5)


def test_hover_text_says_window_times_kernel_equals_products_and_sum():
    s = KernelPlaygroundState()
    raw = s.compute(GRAY).raw
    text = s.arithmetic_html(GRAY, raw, 4, 6)
    assert "Pixel row 4, column 6" in text and f"sum of products = <b>{raw[4, 6]:.2f}</b>" in text
    assert "window" in text and "×" in text and "products" in text and "flipped" not in text
    s.update(convolve=True)
    assert "kernel (kernel flipped)" in s.arithmetic_html(GRAY, s.compute(GRAY).raw, 4, 6)
    s.update(color="rgb")
    text = s.arithmetic_html(RGB, s.compute(RGB).raw, 3, 3)
    assert "sums of products: R = " in text and "(red channel)" in text
    s.set_kernel(np.ones((9, 9)))
    text = s.arithmetic_html(RGB, s.compute(RGB).raw, 3, 3)
    assert "too many to list" in text


def test_haar_presets_take_the_chosen_size():
    from cnnviz.core.kernels import HAAR_DEFAULT_SIZE, haar_feature
    from cnnviz.state.kernels import HAAR_SIZES, is_preset

    s = KernelPlaygroundState()
    assert not s.is_haar and s.haar_size == HAAR_DEFAULT_SIZE
    s.set_haar_size(8)
    assert s.kernel_name == "sobel_x" and s.kernel.shape == (3, 3)  # only Haar kernels follow it
    s.choose_preset("haar_three_y")
    assert s.is_haar and is_preset("haar_three_y")
    np.testing.assert_array_equal(s.kernel, haar_feature("haar_three_y", 8))
    s.set_haar_size(15)
    assert s.kernel.shape == (15, 15) and s.kernel_name == "haar_three_y"
    assert "Haar" in s.result_title() and "integral image" in s.info_text() and "15×15" in s.info_text()
    s.rotate()
    assert not s.is_haar
    s.reset()
    np.testing.assert_array_equal(s.kernel, haar_feature("haar_three_y", 15))
    for bad in (HAAR_SIZES[0] - 1, HAAR_SIZES[1] + 1):
        with pytest.raises(ValueError):
            s.set_haar_size(bad)


@pytest.mark.parametrize("pair", ["gradient", "sobel"])
@pytest.mark.parametrize("convolve", [False, True])
def test_gradient_direction_points_uphill_on_ramps(pair, convolve):
    import cv2

    from cnnviz.state.kernels import DIRECTION_TEXT, direction_rgb

    yy, xx = np.mgrid[0:24, 0:32].astype(np.float32)
    s = KernelPlaygroundState()
    s.update(gradient=pair, convolve=convolve, border="replicate")
    assert s.direction_enabled and not s.shows_direction
    s.update(direction=True)
    assert s.shows_direction and "direction" in s.result_title().lower()
    # brighter to the right: 0°, red; downwards (image y): 90°; to the left: 180°, cyan; up: −90°
    for ramp, angle in ((4 * xx, 0.0), (4 * yy, 90.0), (200 - 4 * xx, 180.0), (200 - 4 * yy, -90.0),
                        (3 * xx + 3 * yy, 45.0)):
        r = s.compute(ramp)
        assert r.direction and r.shown.dtype == np.uint8 and r.shown.shape == ramp.shape + (3,)
        data = s.arithmetic(ramp, r.raw, 12, 16)
        sign = s.uphill_sign()
        got = np.degrees(np.arctan2(sign * float(data["gy"]), sign * float(data["gx"])))
        assert got == pytest.approx(angle, abs=1e-3) or abs(got) == pytest.approx(180.0) == abs(angle)
        hue = int(cv2.cvtColor(r.shown[12:13, 16:17], cv2.COLOR_RGB2HSV)[0, 0, 0]) * 2
        assert (hue - angle) % 360 == pytest.approx(0, abs=2) or (hue - angle) % 360 == pytest.approx(360, abs=2)
        assert f"direction <b>{angle:.0f}°</b>" in s.arithmetic_html(ramp, r.raw, 12, 16)
    # right = red, left = cyan, flat = black
    np.testing.assert_array_equal(direction_rgb(np.array([[1.0, -1.0, 0.0]]), np.zeros((1, 3)), np.array([[1.0, 1.0, 0.0]]), 1.0)[0],
                                  [[255, 0, 0], [0, 255, 255], [0, 0, 0]])
    assert "increase" in DIRECTION_TEXT and "decrease" in DIRECTION_TEXT


def test_direction_is_offered_for_the_named_pairs_only():
    s = KernelPlaygroundState()
    s.update(direction=True)
    assert not s.shows_direction  # no pair: the kernel's own result
    s.update(gradient="kernel")
    assert not s.direction_enabled and s.compute(np.ones((8, 8), np.float32) * np.arange(8)).direction is False


@pytest.mark.parametrize("border", list(PAD_MODES))
def test_compute_is_apply_kernel_for_large_low_rank_and_full_rank_kernels(border):
    """The state filters large kernels through the fast path; what it shows must still be
    apply_kernel's result (float32 rounding only), in every border mode, gray and RGB."""
    from cnnviz.core.kernels import haar_feature

    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (40, 53, 3), dtype=np.uint8)
    for kernel in (haar_feature("haar_four", 15), np.full((15, 15), 1 / 225, np.float32),
                   rng.normal(size=(7, 7)).astype(np.float32)):
        for color in ("gray", "rgb"):
            for convolve in (False, True):
                state = KernelPlaygroundState(kernel=kernel, kernel_name="custom", color=color, border=border,
                                              convolve=convolve)
                source = state.source(image)
                r = state.compute(source)
                direct = apply_kernel(source, kernel, mode=state.mode, border=border)
                tol = 1e-3 * float(np.abs(kernel).sum()) * 255
                assert float(np.abs(r.raw - direct).max()) <= tol
                m = float(np.abs(direct).max())
                assert r.levels == pytest.approx((-m, m), rel=1e-5)


def test_work_counts_the_separable_passes_of_low_rank_kernels():
    """A 15×15 box or Haar feature is filtered as one separable pass (rows then columns): on a
    1080p gray image a quarter of a random 15×15 kernel's work. Every update of a 1080p image
    goes to the background; on the bundled 480×320 sample a one-cell edit or a 3×3 kernel is
    computed at once."""
    from cnnviz.core.kernels import haar_feature
    from cnnviz.state.kernels import SYNC_WORK_LIMIT

    hd = np.zeros((1080, 1920), np.float32)
    s = KernelPlaygroundState(kernel=np.ones((15, 15), np.float32), kernel_name="custom")
    assert s.work(hd) == hd.size * 30 * 1.8 > SYNC_WORK_LIMIT
    box = s.work(hd)
    s.set_kernel(haar_feature("haar_four", 15))
    assert s.work(hd) < hd.size * 225 / 4
    s.set_kernel(np.random.default_rng(0).normal(size=(15, 15)))
    assert s.work(hd) == hd.size * 225 > 4 * box
    s.set_kernel(np.array([[1.0, np.nan]]))
    assert s.work(hd) == 0.0
    sample = np.zeros((320, 480), np.float32)
    s.set_kernel(np.random.default_rng(1).normal(size=(3, 3)))
    assert s.work(sample) == sample.size * 9 < SYNC_WORK_LIMIT
    s.compute(sample, check_finite=False)
    edited = s.kernel.copy()
    edited[1, 1] += 1.0
    s.set_kernel(edited)
    assert s.work(sample) < SYNC_WORK_LIMIT < s.work(hd)  # one cell: a pass over the image


def test_a_one_cell_edit_is_a_cheap_update_of_the_last_result():
    """Painting one cell of a 15×15 kernel costs a pass over the image, not a whole filter, and
    shows the direct filter's values; a snapshot (computed in the background) shares that."""
    from cnnviz.core.kernels import apply_kernel, kernel_taps

    rng = np.random.default_rng(5)
    source = rng.uniform(0, 255, (40, 50, 3)).astype(np.float32)
    s = KernelPlaygroundState(kernel=rng.normal(size=(15, 15)).astype(np.float32), kernel_name="custom", color="rgb")
    full = s.work(source)
    assert full == source.size * kernel_taps(s.kernel, 3)
    s.snapshot().compute(source)
    k = s.kernel.copy()
    k[7, 3] = 4.5
    s.set_kernel(k)
    assert s.work(source) < full / 50
    r = s.snapshot().compute(source)
    expected = apply_kernel(source, k)
    np.testing.assert_allclose(r.raw, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    assert r.levels == pytest.approx((-np.abs(expected).max(), np.abs(expected).max()), rel=1e-5)
    s.update(border="zero")  # another border: the whole filter again
    assert s.work(source) == full
