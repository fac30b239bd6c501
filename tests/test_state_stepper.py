"""The stepper's Qt-free state: the numbers and the words it shows, and the settings it survives."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.convolution import conv2d, conv2d_transpose, pool2d
from cnnviz.state.stepper import (
    BOOK_IMAGE,
    MatrixError,
    StepperState,
    fmt,
    format_matrix,
    parse_kernel,
    parse_matrix,
)

BOOK_RESULT = np.array([[399, 373, 334], [243, 315, 399], [305, 231, 272]], dtype=float)


def test_book_example_walk_and_first_step_text():
    s = StepperState()
    assert s.n_steps == 9
    np.testing.assert_array_equal(s.walk.output, BOOK_RESULT)
    assert s.step_lines() == ["out(0,0) = 255·1 + 185·0 + 155·0 + 144·1 = 399"]
    s.step(1)
    assert s.step_lines() == ["out(0,1) = 185·1 + 133·0 + 144·0 + 188·1 = 373"]
    assert s.window_cells() == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert s.output_cells() == [(0, 1)]
    shown = s.displayed_output()
    assert shown[0, 0] == 399 and shown[0, 1] == 373 and np.isnan(shown[0, 2])


def test_formula_substitutes_the_numbers():
    s = StepperState()
    s.update(image=np.arange(25.0).reshape(5, 5), kernel=np.ones((3, 3)), padding="explicit",
             pads=((1, 1), (1, 1)), stride=2)
    lines = s.formula_lines()
    assert lines[0] == "Rows: ⌊(5 + 2·1 − 1·(3−1) − 1)/2⌋ + 1 = 3"
    assert lines[1] == "Columns: ⌊(5 + 2·1 − 1·(3−1) − 1)/2⌋ + 1 = 3"
    assert s.output_shape() == (3, 3)
    s.update(padding="same", stride=1, kernel=np.ones((2, 2)))  # TF puts the extra pixel bottom/right
    assert s.formula_lines()[0] == "Rows: ⌊(5 + 0 + 1 − 1·(2−1) − 1)/1⌋ + 1 = 5"


def test_parse_matrix_points_at_the_bad_cell():
    np.testing.assert_array_equal(parse_matrix("1 2 3; 4 5 6"), [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(parse_matrix("1, 2\n−3 1/2\n"), [[1, 2], [-3, 0.5]])
    with pytest.raises(MatrixError) as e:
        parse_matrix("1 2 3; 4 x 6")
    assert (e.value.row, e.value.col) == (2, 2) and "'x' is not a number" in str(e.value)
    assert "1 2 3; 4 x 6"[slice(*e.value.span)] == "x"
    with pytest.raises(MatrixError) as e:
        parse_matrix("1 2 3\n4 5\n7 8 9")
    assert (e.value.row, e.value.col) == (2, 3) and "missing" in str(e.value)
    with pytest.raises(MatrixError):
        parse_matrix("  ;  ")
    k = parse_kernel("1 0; 0 1 | 2 2; 2 2 | 0 0; 0 0")
    assert k.shape == (2, 2, 3) and k[0, 0, 1] == 2
    np.testing.assert_array_equal(parse_kernel(format_matrix(k)), k)


def test_settings_without_output_are_explained_not_raised():
    s = StepperState()
    s.update(kernel=np.ones((5, 5)))  # larger than the 4×4 input
    assert s.walk is None and s.n_steps == 0 and s.current() is None
    assert "does not fit" in s.error and "add padding" in s.error
    assert "no output" in s.formula_lines()[0]
    assert s.displayed_output() is None and s.step_lines() == [s.error]
    s.update(kernel=np.ones((2, 2)), dilation=4)  # dilated span 5 > 4
    assert s.walk is None and "dilation" in s.error
    s.update(dilation=1, stride=10)  # a big stride still leaves one window
    assert s.output_shape() == (1, 1) and s.walk.output[0, 0] == 255 + 185 + 155 + 144
    s.update(mode="max", stride=2, padding="explicit", pads=((2, 2), (2, 2)))
    assert s.walk is None and "padding" in s.error.lower()


def test_nan_input_gives_a_message():
    s = StepperState()
    img = BOOK_IMAGE.copy()
    img[1, 2] = np.nan
    s.update(image=img)
    assert s.walk is None and "NaN" in s.error and "row 1, column 2" in s.error
    assert np.isnan(s.shown_input()[1, 2])
    s.update(image=BOOK_IMAGE)
    assert s.walk is not None


def test_rgb_step_lists_channel_sums_bias_and_activation():
    s = StepperState()
    img = np.zeros((3, 3, 3))
    img[..., 0], img[..., 1], img[..., 2] = 1, 2, -5
    s.update(image=img, kernel=np.ones((2, 2)), bias=1.0, activation="relu")
    lines = s.step_lines()
    assert lines[0] == "R: 1·1 + 1·1 + 1·1 + 1·1 = 4"
    assert lines[1].startswith("G: ") and lines[1].endswith("= 8")
    assert lines[2].endswith("= −20")
    assert lines[3] == "sum 4 + 8 + (−20) = −8"
    assert lines[4] == "−8 + bias 1 = −7 → relu(−7) = 0 → out(0,0) = 0"
    np.testing.assert_allclose(s.walk.output, conv2d(img, np.ones((2, 2)), bias=1.0, activation="relu"))
    with_slices = np.stack([np.ones((2, 2)), np.zeros((2, 2)), np.eye(2)], axis=2)
    s.update(kernel=with_slices)
    assert s.walk.output.shape == (2, 2)
    s.update(kernel=with_slices[:, :, :2])
    assert s.walk is None and "channel" in s.error


def test_pooling_shows_the_winner_and_the_average():
    s = StepperState()
    s.update(mode="max", stride=2)
    np.testing.assert_array_equal(s.walk.output, pool2d(BOOK_IMAGE, 2, 2, op="max"))
    assert s.winners() == [(0, 0)]
    assert s.step_lines() == ["out(0,0) = max(255, 185, 155, 144) = 255"]
    s.update(mode="avg")
    assert s.step_lines() == ["out(0,0) = (255 + 185 + 155 + 144) / 4 = 184.8"]
    s.update(padding="same", stride=3)
    s.go_to(1)
    assert any("padding" in line for line in s.step_lines())
    assert s.outputs_fed_by(0, 0) == [(0, 0)]


def test_transposed_running_output_and_feeders():
    s = StepperState()
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    k = np.array([[1.0, 1.0], [1.0, 0.0]])
    s.update(mode="transpose", image=x, kernel=k, stride=1)
    assert s.n_steps == 4
    first = s.displayed_output()
    assert first.shape == (3, 3) and first[0, 0] == 1 and np.isnan(first[2, 2])
    assert s.output_cells() == [(0, 0), (0, 1), (1, 0), (1, 1)]  # the zero tap lands too
    s.go_to(3)
    np.testing.assert_allclose(s.displayed_output(), conv2d_transpose(x, k))
    assert sorted(s.inputs_of(1, 1)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert s.step_for_output(1, 1) == 3
    assert "overlaps are summed" in " ".join(s.step_lines())
    assert s.formula_lines()[0] == "Rows: (2 − 1)·1 + max(2, 1) = 3"
    s.update(padding="explicit")
    assert s.walk is None and "'valid' or 'same'" in s.error


def test_position_is_kept_when_settings_change():
    s = StepperState()
    seen = []
    s.changed.connect(seen.append)
    s.go_to(7)
    s.update(stride=2)  # 2×2 output now: step 7 no longer exists
    assert s.position == 3 and seen[-2:] == ["position", "walk"]
    assert not s.step(1) and s.at_end()
    assert fmt(-2.5) == "−2.5" and fmt(float("nan")) == "NaN" and fmt(3.0) == "3"
