"""The stepper's Qt-free state: the numbers and the words it shows, and the settings it survives."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.convolution import conv2d, conv2d_transpose, pool2d
from cnnviz.core.kernels import PRESETS
from cnnviz.state.stepper import (
    BOOK_IMAGE,
    BOOK_KERNEL,
    DIAGONAL_IMAGE,
    DIAGONAL_KERNEL,
    HOVER_HINT,
    LIMITS,
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


class Recorder:
    """Every event a state sends, in order."""

    def __init__(self, s: StepperState) -> None:
        self.events: list[tuple] = []
        s.changed.connect(lambda what: self.events.append(("changed", what)))
        s.inputs_changed.connect(lambda: self.events.append(("inputs",)))
        s.text_loaded.connect(lambda which, text: self.events.append(("text", which, text)))
        s.message_changed.connect(lambda msg, which, span: self.events.append(("message", msg, which, span)))

    def names(self) -> list[str]:
        return [e[0] for e in self.events]


def _picture(h: int = 40, w: int = 60) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_the_book_examples_load_their_input_kernel_and_texts():
    s = StepperState()
    rec = Recorder(s)
    s.set_source("diagonal")
    np.testing.assert_array_equal(s.image, DIAGONAL_IMAGE)
    np.testing.assert_array_equal(s.kernel, DIAGONAL_KERNEL)
    assert s.matrix_text == format_matrix(DIAGONAL_IMAGE) and s.kernel_text == format_matrix(DIAGONAL_KERNEL)
    assert ("text", "matrix", s.matrix_text) in rec.events and ("text", "kernel", s.kernel_text) in rec.events
    assert s.kernel_source == "typed" and s.output_shape() == (2, 5)
    assert rec.names()[-1] == "inputs" and ("changed", "walk") in rec.events
    s.set_source("book")
    np.testing.assert_array_equal(s.walk.output, BOOK_RESULT)
    with pytest.raises(ValueError):
        s.set_source("nowhere")


def test_a_typed_matrix_switches_the_source_and_keeps_the_last_good_one():
    s = StepperState()
    rec = Recorder(s)
    s.type_matrix("1 2 3\n4 5 6\n7 8 9")
    assert s.source == "typed" and s.image.shape == (3, 3) and s.message == ""
    s.type_matrix("1 2 3\n4 five 6\n7 8 9")
    assert s.image.shape == (3, 3)
    assert s.message.startswith("Row 2, column 2: 'five' is not a number")
    assert s.message.endswith("The input shown is the last one that could be read.")
    kind, msg, which, span = rec.events[-1]
    assert kind == "message" and which == "matrix" and s.matrix_text[slice(*span)] == "five"
    s.type_matrix(format_matrix(np.zeros((LIMITS.crop + 1, 2))))
    assert s.message == f"A typed matrix can have at most {LIMITS.crop} rows and columns."
    assert s.image.shape == (3, 3)
    # typing without applying, then choosing the typed source, reads what was typed
    s.set_source("book")
    s.edit_text("matrix", "1 1; 1 1")
    assert s.image.shape == (4, 4)
    s.set_source("typed")
    np.testing.assert_array_equal(s.image, np.ones((2, 2)))


def test_a_crop_starts_centred_follows_the_picture_and_stays_inside_it():
    s = StepperState()
    s.set_picture(_picture(40, 60))
    assert s.crop == (0, 0, 8, 8)  # not cut before a crop source is chosen
    s.set_source("crop_gray")
    assert s.crop == (16, 26, 8, 8) and s.image.shape == (8, 8)  # the middle of the picture
    s.set_source("crop_rgb")
    assert s.image.shape == (8, 8, 3) and s.channels == 3
    assert s.crop_limits() == (39, 59, 40, 60)
    s.set_crop(100, 100, 300, 5)  # clamped to the picture, the rectangle kept inside it
    assert s.crop == (39, 59, 40, 5) and s.image.shape == (40, 5, 3)
    s.set_picture(_picture(10, 12))
    assert s.crop == (9, 11, 10, 5) and s.image.shape == (10, 5, 3)
    assert s.input_levels() == (0.0, 255.0)
    big = StepperState()
    big.set_picture(np.zeros((1000, 1000), np.uint8))
    assert big.crop_limits()[2:] == (LIMITS.crop, LIMITS.crop)
    assert StepperState().crop_limits() == (LIMITS.crop_origin, LIMITS.crop_origin, LIMITS.crop, LIMITS.crop)


def test_kernel_sources_presets_and_typed_kernels():
    s = StepperState()
    rec = Recorder(s)
    s.set_kernel_source("playground", np.ones((3, 3)) / 9)
    np.testing.assert_allclose(s.kernel, np.ones((3, 3)) / 9)
    assert s.kernel_text == format_matrix(np.ones((3, 3)) / 9)
    s.playground_kernel_changed(np.eye(2))
    np.testing.assert_array_equal(s.kernel, np.eye(2))
    s.choose_preset("laplacian")
    np.testing.assert_array_equal(s.kernel, PRESETS["laplacian"])
    assert s.kernel_source == "typed" and ("text", "kernel", format_matrix(PRESETS["laplacian"])) in rec.events
    s.playground_kernel_changed(np.ones((2, 2)))  # ignored: the kernel is typed now
    np.testing.assert_array_equal(s.kernel, PRESETS["laplacian"])
    s.choose_preset("book")
    np.testing.assert_array_equal(s.kernel, BOOK_KERNEL)
    s.type_kernel("1 x; 0 1")
    assert s.message.startswith("Row 1, column 2") and "The kernel shown is the last one" in s.message
    s.type_kernel(format_matrix(np.ones((LIMITS.kernel + 1, 1))))
    assert s.message == f"A kernel can have at most {LIMITS.kernel} rows and columns."
    np.testing.assert_array_equal(s.kernel, BOOK_KERNEL)
    s.set_kernel_source("playground", np.ones((3, 3)))
    s.type_kernel("2 0; 0 2")  # typing takes the kernel back from the Kernels tab
    assert s.kernel_source == "typed" and s.kernel[0, 0] == 2 and s.message == ""


def test_mode_rules_follow_keras():
    s = StepperState()
    s.update(stride=3)
    s.set_mode("max")  # pooling's stride defaults to the pool size
    assert s.settings.stride == (2, 2) and s.window_size() == (2, 2)
    assert s.window_size_label() == "Pool size" and s.operator() == "max"
    s.set_window_size(3, 2)  # and follows it while they are equal
    assert s.settings.pool_size == (3, 2) and s.settings.stride == (3, 2)
    s.update(stride=1)
    s.set_window_size(2, 2)  # a stride of its own is kept
    assert s.settings.stride == (1, 1)
    s.set_mode("avg")
    assert s.settings.stride == (1, 1)
    s.set_mode("conv")  # leaving pooling: stride 1
    assert s.settings.stride == (1, 1) and s.window_size_label() == "Size" and s.operator() == "⊛"
    s.update(padding="explicit")
    s.set_mode("transpose")  # no explicit padding: back to valid
    assert s.settings.padding == "valid" and s.walk is not None and s.operator() == "⊛ᵀ"
    uses = s.uses()
    assert not uses["explicit_padding"] and not uses["flip"] and not uses["pad_mode"] and uses["dilation"]
    s.set_mode("max")
    uses = s.uses()
    assert not any(uses[k] for k in ("kernel", "flip", "pad_mode", "dilation", "bias", "activation"))
    s.set_mode("conv")
    s.update(padding="explicit")
    assert all(s.uses().values())
    with pytest.raises(ValueError):
        s.set_mode("fft")


def test_resizing_the_window_resizes_the_kernel_per_channel():
    s = StepperState()
    s.set_window_size(3, 3)
    assert s.kernel.shape == (3, 3) and s.kernel.dtype == np.float64
    assert s.kernel_text == format_matrix(s.kernel)
    s.set_picture(_picture())
    s.set_source("crop_rgb")
    s.type_kernel("1 0; 0 1 | 2 2; 2 2 | 0 0; 0 0")
    s.set_window_size(1, 2)
    assert s.kernel.shape == (1, 2, 3) and s.kernel[0, 0, 1] == 2


def test_hover_and_click_texts():
    s = StepperState()
    assert s.hover_hint() == HOVER_HINT
    assert s.input_hover_text(0, 1, 1) == "Input cell (1, 1) = 144 feeds 4 output cells: (0,0), (0,1), (1,0), (1,1)"
    assert s.input_hover_text(0, 0, 0) == "Input cell (0, 0) = 255 feeds 1 output cell: (0,0)"
    s.update(stride=3)
    assert s.input_hover_text(0, 2, 2).endswith("feeds no output cell (the stride skips it).")
    s.update(stride=1, padding="explicit", pads=((1, 1), (1, 1)))
    assert s.is_padding(0, 0) and not s.is_padding(1, 1)
    assert s.input_hover_text(0, 0, 0).startswith("Padding cell (padded 0, 0) = 0 feeds 1 output cell")
    assert s.input_hover_text(0, 1, 1).startswith("Input cell (0, 0) = 255")
    s.set_mode("max")
    assert s.input_hover_text(0, 0, 0) == "Padding cell (padded 0, 0): pooling never reads padding."
    s.set_mode("conv")
    s.update(padding="valid")
    assert s.output_hover_text(0, 0) == "Output (0,0) = 399. Click to jump to its step."
    assert s.output_hover_text(2, 2) == "Output (2,2) not computed yet. Click to jump to its step."
    assert s.output_hover_text(-1, -1) is None
    assert s.jump_text(2, 1) == "Output (2,1) reads 4 input cells (its receptive field)."
    s.update(mode="transpose", image=np.ones((2, 2)), kernel=np.ones((2, 2)))
    assert not s.is_padding(0, 0)
    assert s.jump_text(1, 1).startswith("Output (1,1) receives the kernels of 4 input cell(s)")
    s.update(kernel=np.ones((9, 9)), padding="explicit")
    assert s.walk is None and s.hover_hint() == "" and s.output_hover_text(0, 0) is None
    many = StepperState()
    many.update(image=np.zeros((10, 10)), kernel=np.ones((5, 5)))
    assert many.input_hover_text(0, 5, 5).endswith(" …") and "feeds 25 output cells" in many.input_hover_text(0, 5, 5)


def test_grid_titles_levels_and_formula_head():
    s = StepperState()
    assert s.input_title(0) == "Input 4×4" and s.kernel_title(0) == "Kernel" and s.output_title(0) == "Output 3×3"
    assert s.input_levels() == (0.0, 255.0)
    assert s.formula_head() == ("Output size 3×3", " = ⌊(n + 2p − d(f−1) − 1)/s⌋ + 1")
    s.update(padding="explicit", pad_mode="reflect", flip=True)
    assert s.input_title(0) == "Input 4×4, padded (reflect (mirror))"
    assert s.kernel_title(0) == "Kernel (flipped)"
    np.testing.assert_array_equal(s.shown_kernel(0), BOOK_KERNEL[::-1, ::-1])
    s.set_mode("avg")
    assert s.input_title(0) == "Input 4×4, padded (ignored)" and s.kernel_count() == 0
    s.set_mode("conv")
    s.update(image=np.ones((3, 3, 3)) * 300, padding="valid")
    assert s.input_title(1) == "Input G 3×3" and s.kernel_title(0) == "Kernel (flipped) — same on R, G, B"
    assert s.input_levels() == (300.0, 300.0)  # the book's values are pixels; these are not
    s.update(kernel=np.ones((2, 2, 3)))
    assert s.kernel_count() == 3 and s.kernel_title(2) == "Kernel B"
    s.set_mode("max")
    assert s.output_title(1) == "Output 1×1 G"  # stride 2 = the pool size
    s.set_mode("transpose")
    assert s.formula_head()[1] == " (transposed)"
    s.update(kernel=np.ones((2, 2, 2)))
    assert s.walk is None and s.output_title(0) == "Output" and s.formula_head() == ("Output size", " (transposed)")


def test_a_snapshot_does_not_follow_the_original():
    s = StepperState()
    s.go_to(4)
    twin = s.snapshot()
    seen = []
    twin.changed.connect(seen.append)
    s.update(stride=2, image=np.ones((6, 6)))
    s.go_to(0)
    assert twin.n_steps == 9 and twin.position == 4 and seen == []
    np.testing.assert_array_equal(twin.image, BOOK_IMAGE)
    twin.go_to(8)
    assert seen == ["position"] and s.position == 0
    np.testing.assert_array_equal(twin.displayed_output(), BOOK_RESULT)


def test_export_plan_wording():
    assert StepperState.export_plan_text(9, 9) == "The GIF shows all 9 steps."
    text = StepperState.export_plan_text(10_000, 300)
    assert "10000 steps" in text and "300" in text and "every 33th step" in text


# -- several filters, typed channels, UpSampling2D, Dropout and the pooling gradient ----------


def test_notes_rgb_preset_two_filters_biases_and_relu():
    from cnnviz.state.stepper.choices import NOTES_BIASES, NOTES_FILTERS, NOTES_RGB_IMAGE

    s = StepperState()
    s.set_source("notes_rgb")
    assert s.image.shape == (6, 6, 3) and s.kernel.shape == (3, 3, 3, 2)
    assert s.settings.activation == "relu" and s.settings.biases == NOTES_BIASES
    expected = conv2d(NOTES_RGB_IMAGE, NOTES_FILTERS, bias=NOTES_BIASES, activation="relu")
    np.testing.assert_array_equal(s.walk.output, expected)
    assert s.output_shape() == (4, 4) and s.n_steps == 16 and s.filter_count() == 2
    assert s.kernel_count() == 3 and s.kernel_title(1, 1) == "Filter 2 G" and s.output_title(1) == "Filter 2 out 4×4"
    s.go_to(5)  # out(1,1)
    lines = s.step_lines()
    assert lines[0].startswith("Filter 1 R: ") and lines[3].endswith("→ out(1,1,1) = 31")
    assert "sum 16 + 8 + 8 = 32 + bias (−1) = 31 → relu(31) = 31" in lines[3]
    assert lines[7].endswith("bias (−4) = 20 → relu(20) = 20 → out(1,1,2) = 20")
    assert s.mode_options()["biases"] and not s.uses()["bias"]
    s.set_biases("0, -100")
    np.testing.assert_array_equal(s.walk.output[:, :, 1], 0.0)
    s.set_biases("x")
    assert "Biases" in s.message


def test_typed_channels_and_filters_round_trip():
    s = StepperState()
    s.type_matrix("1 2 3; 4 5 6; 7 8 9 | 9 8 7; 6 5 4; 3 2 1")
    assert s.image.shape == (3, 3, 2) and s.channel_names() == ["channel 1", "channel 2"]
    s.type_kernel("1 0; 0 1 | 0 1; 1 0 || 1 1; 1 1 | -1 -1; -1 -1")
    assert s.kernel.shape == (2, 2, 2, 2) and s.walk is not None
    k = s.kernel
    np.testing.assert_array_equal(s.walk.output, conv2d(s.image, k))
    assert parse_kernel(format_matrix(k).split("||")[0]).shape == (2, 2, 2)
    from cnnviz.state.stepper.matrices import parse_filters

    np.testing.assert_array_equal(parse_filters(format_matrix(k)), k)
    with pytest.raises(MatrixError, match="Filter 2"):
        parse_filters("1 2 || 1 x")
    s.type_kernel("1 0; 0 1 || 1 1; 1 1")  # 2-D filters on a 2-channel input: a slice is missing
    assert s.walk is None and "channel" in s.error
    s.set_window_size(3, 3)
    s.type_kernel("1 0; 0 1 | 0 1; 1 0 || 1 1; 1 1 | -1 -1; -1 -1")
    s.set_window_size(3, 3)
    assert s.kernel.shape == (3, 3, 2, 2)


def test_upsampling_nearest_and_bilinear_words():
    from cnnviz.core.layer_walks import upsample2d

    s = StepperState()
    s.set_mode("upsample")
    assert s.window_size_label() == "Size factor" and s.window_size() == (2, 2) and s.operator() == "↑"
    assert s.kernel_count() == 0 and not s.uses()["stride"] and s.mode_options()["interpolation"]
    np.testing.assert_array_equal(s.walk.output, np.repeat(np.repeat(BOOK_IMAGE, 2, 0), 2, 1))
    s.go_to(5)
    assert s.step_lines() == ["out(0,5) copies in(0,2): row ⌊0/2⌋ = 0, column ⌊5/2⌋ = 2", "out(0,5) = 133"]
    assert s.window_cells() == [(0, 2)] and s.output_cells() == [(0, 5)]
    s.update(interpolation="bilinear")
    s.go_to(9)  # out(1,1)
    assert s.step_lines() == [
        "row (1 + 0.5)/2 − 0.5 = 0.25 → rows 0, 1 (weights 0.75, 0.25)",
        "column (1 + 0.5)/2 − 0.5 = 0.25 → columns 0, 1 (weights 0.75, 0.25)",
        "out(1,1) = 0.5625·255 + 0.1875·185 + 0.1875·155 + 0.0625·144 = 216.2",
    ]
    s.go_to(0)
    assert s.step_lines()[0] == "row (0 + 0.5)/2 − 0.5 = −0.25, clamped to 0 → row 0 (weight 1)"
    np.testing.assert_allclose(s.walk.output, upsample2d(BOOK_IMAGE, 2, "bilinear"))
    s.set_window_size(3, 1)
    assert s.output_shape() == (12, 4) and s.formula_lines() == ["Rows: 4 · 3 = 12", "Columns: 4 · 1 = 4"]
    assert s.outputs_fed_by(0, 0)[:2] == [(0, 0), (1, 0)]
    with pytest.raises(ValueError):
        s.update(interpolation="cubic")


def test_dropout_mask_scaling_and_mean():
    s = StepperState()
    s.set_mode("dropout")
    s.update(rate=0.5, seed=0)
    w = s.walk
    kept = w.mask
    np.testing.assert_array_equal(w.output, np.where(kept, BOOK_IMAGE * 2, 0))
    assert s.kernel_count() == 1 and s.kernel_title(0) == "Mask rate 0.5" and s.operator() == "⊙"
    np.testing.assert_array_equal(s.shown_kernel(0), kept.astype(float))
    s.go_to(5)
    lines = s.step_lines()
    assert lines[0] == "mask 1 (kept): out(1,1) = 144 × 1/(1 − 0.5) = 144 × 2 = 288"
    before, after = fmt(BOOK_IMAGE.mean()), fmt(w.output.mean())
    assert lines[-1].startswith(f"Mean before {before}, after {after} (this mask keeps 62.5%, expected 50%)")
    assert "E[out] = (1 − 0.5)·x/(1 − 0.5) = x" in lines[-1]
    s.go_to(1)
    assert s.step_lines()[0] == "mask 0 (dropped): out(0,1) = 0  (was 185)"
    s.update(training=False)
    np.testing.assert_array_equal(s.walk.output, BOOK_IMAGE)
    assert s.step_lines()[0] == "out(0,1) = in = 185 (inference: dropout is the identity)"
    assert s.step_lines()[-1] == f"Inference: the output is the input; mean {before} before and after."
    s.update(training=True, rate=5)  # clamped to the limit
    assert s.settings.rate == LIMITS.rate and s.walk is not None
    # the expectation is kept over many masks
    from cnnviz.core.layer_walks import dropout

    x = np.full((50, 50), 3.0)
    assert abs(np.mean([dropout(x, 0.3, seed).mean() for seed in range(20)]) - 3.0) < 0.05


def test_pool_gradient_routes_to_the_winner_or_spreads():
    from cnnviz.core.layer_walks import pool2d_grad

    s = StepperState()
    s.set_mode("max_grad")
    assert s.settings.stride == (2, 2) and s.operator() == "∂" and s.window_size_label() == "Pool size"
    np.testing.assert_array_equal(s.shown_kernel(0), [[1, 2], [3, 4]])  # 1, 2, 3, … by default
    np.testing.assert_array_equal(s.walk.output, [[1, 0, 0, 0], [0, 0, 0, 2], [0, 0, 0, 4], [0, 3, 0, 0]])
    assert s.step_lines()[0] == "∂L/∂y(0,0) = 1 goes to the max 255 at in(0,0): ∂L/∂x(0,0) += 1"
    np.testing.assert_array_equal(s.displayed_output(), [[1, 0, 0, 0]] + [[0] * 4] * 3)
    s.go_to(3)
    assert s.output_cells() == [(2, 3)] and s.winners() == [(2, 3)]
    assert s.step_for_output(2, 3) == 3 and s.outputs_fed_by(2, 3) == [(2, 3)]
    assert s.output_title(0) == "∂L/∂x 4×4" and s.kernel_title(0) == "Upstream ∂L/∂y 2×2"
    s.type_upstream("1 -2; 0.5 4")
    np.testing.assert_array_equal(s.walk.output, pool2d_grad(BOOK_IMAGE, [[1, -2], [0.5, 4]], 2, 2))
    s.type_upstream("1 2 3")
    assert s.walk is None and "2×2" in s.error
    s.type_upstream("1 x")
    assert "Upstream gradient" in s.message
    s.type_upstream("")
    s.set_mode("avg_grad")
    assert s.step_lines()[0] == "∂L/∂y(0,0) = 1 ÷ 4 = 0.25 to each of (0,0), (0,1), (1,0), (1,1)"
    assert "equal share" in s.step_lines()[-1]
    s.update(stride=1)  # overlapping windows add up
    np.testing.assert_allclose(s.walk.output, pool2d_grad(BOOK_IMAGE, np.arange(1, 10.0).reshape(3, 3), 2, 1, op="avg"))
    twin = s.snapshot()
    s.type_upstream("1 1 1; 1 1 1; 1 1 1")
    assert twin.settings.upstream is None and twin.walk is not s.walk
    s.set_mode("conv")
    assert s.settings.stride == (1, 1)


def test_no_step_of_any_mode_writes_a_python_operator():
    """What a student reads under the grids is mathematics (⌊i/f⌋, ·, ×), never Python's // or **."""
    from cnnviz.state.stepper.choices import MODES

    for mode in MODES:
        for interpolation in ("nearest", "bilinear") if mode == "upsample" else (None,):
            s = StepperState()
            s.set_mode(mode)
            if interpolation:
                s.update(interpolation=interpolation)
            assert s.n_steps > 0, mode
            for n in range(s.n_steps):
                s.go_to(n)
                for line in s.step_lines():
                    assert "//" not in line and "**" not in line, (mode, line)


def test_the_legend_lists_only_what_the_mode_draws():
    s = StepperState()  # the book's 4×4 ⊛ 2×2, no padding
    assert s.legend_keys() == ["window", "output cell", "fed by the hovered cell", "×k = kernel weight"]
    s.update(padding="explicit", pads=((1, 1), (1, 1)))
    assert "padding" in s.legend_keys()
    s.set_mode("max")
    assert "max winner" in s.legend_keys() and "×k = kernel weight" not in s.legend_keys()
    s.set_mode("avg")
    assert "max winner" not in s.legend_keys()
    s.set_mode("upsample")
    keys = s.legend_keys()
    assert "padding" not in keys and not any(k.startswith("×") for k in keys)
    s.update(interpolation="bilinear")
    assert "×w = interpolation weight" in s.legend_keys()
    s.set_mode("dropout")
    assert "window" not in s.legend_keys() and "output cell" in s.legend_keys()
