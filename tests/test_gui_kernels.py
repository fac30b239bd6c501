"""The kernel playground, driven the way a person uses it: paint, erase, type, pick presets,
switch display modes, hover the result. What is shown must be the core's numbers."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit

from cnnviz.core import images
from cnnviz.core.kernels import PRESETS, IncrementalFilter, apply_kernel, gradient_magnitude, preset

LEFT = Qt.MouseButton.LeftButton
RIGHT = Qt.MouseButton.RightButton


@pytest.fixture
def pane(window):
    window.show_pane("kernels")
    p = window.panes["kernels"]
    p.flush()
    return p


def gray_of(ctx) -> np.ndarray:
    return np.asarray(images.to_gray(ctx.image), dtype=np.float32)


def paint(qtbot, editor, cells, button=LEFT, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Press on the first cell, drag through the others, release on the last."""
    first = editor.cell_rect(*cells[0]).center()
    qtbot.mousePress(editor, button, modifier, first)
    for cell in cells[1:]:
        qtbot.mouseMove(editor, editor.cell_rect(*cell).center())
    qtbot.mouseRelease(editor, button, modifier, editor.cell_rect(*cells[-1]).center())


def shown(pane) -> np.ndarray:
    pane.flush()
    data = pane.result_view.image_data()
    assert data is not None, pane.message_label.text()
    return data


def choose_preset(pane, name: str) -> None:
    combo = pane.preset_combo
    combo.setCurrentIndex(combo.findData(name))


def test_painting_cells_updates_the_result_and_the_shared_kernel(pane, qtbot):
    pane.set_kernel(np.zeros((3, 3), np.float32))
    paint(qtbot, pane.editor, [(0, 0), (0, 1), (0, 2), (1, 2)])
    expected = np.array([[1, 1, 1], [0, 0, 1], [0, 0, 0]], np.float32)
    np.testing.assert_array_equal(pane.editor.kernel(), expected)
    np.testing.assert_allclose(shown(pane), apply_kernel(gray_of(pane.ctx), expected), rtol=1e-6)
    np.testing.assert_array_equal(pane.ctx.kernel, expected)
    assert "Sum = 4" in pane.sum_label.text() and "brightens" in pane.sum_label.text()
    assert pane.preset_combo.currentData() == "custom"


def test_brush_value_right_drag_and_shift_drag(pane, qtbot):
    pane.set_kernel(np.ones((3, 3), np.float32))
    pane.brush_spin.setValue(-2.5)
    paint(qtbot, pane.editor, [(1, 1)])
    paint(qtbot, pane.editor, [(0, 0), (1, 0), (2, 0)], button=RIGHT)
    paint(qtbot, pane.editor, [(0, 2), (1, 2)], modifier=Qt.KeyboardModifier.ShiftModifier)
    expected = np.array([[0, 1, 0], [0, -2.5, 0], [0, 1, 1]], np.float32)
    np.testing.assert_array_equal(pane.editor.kernel(), expected)
    np.testing.assert_allclose(shown(pane), apply_kernel(gray_of(pane.ctx), expected), rtol=1e-5, atol=1e-3)


def test_typing_into_a_cell(pane, qtbot):
    choose_preset(pane, "laplacian")
    editor = pane.editor
    qtbot.mouseDClick(editor, LEFT, pos=editor.cell_rect(1, 1).center())
    line = editor.findChild(QLineEdit)
    assert line.isVisible()
    line.selectAll()
    qtbot.keyClicks(line, "-3.5")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    expected = preset("laplacian")
    expected[1, 1] = -3.5
    np.testing.assert_array_equal(editor.kernel(), expected)  # the double-click painted nothing
    np.testing.assert_allclose(shown(pane), apply_kernel(gray_of(pane.ctx), expected), rtol=1e-5, atol=1e-3)
    # typing straight onto the selected cell, with a fraction
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_Right)
    qtbot.keyClick(editor, Qt.Key.Key_1)  # the first key opens the cell editor with it
    assert line.isVisible() and line.text() == "1"
    qtbot.keyClicks(line, "/9")
    qtbot.keyClick(line, Qt.Key.Key_Return)
    assert editor.kernel()[1, 2] == pytest.approx(1 / 9)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e999", "abc"])
def test_nan_or_inf_typed_in_a_cell_is_refused_with_a_message(pane, qtbot, text):
    choose_preset(pane, "sobel_x")
    before = shown(pane).copy()
    editor = pane.editor
    editor.setFocus()
    qtbot.mouseDClick(editor, LEFT, pos=editor.cell_rect(0, 0).center())
    line = editor.findChild(QLineEdit)
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)
    np.testing.assert_array_equal(editor.kernel(), PRESETS["sobel_x"])
    assert pane.error_label.isVisible()
    assert "not" in pane.error_label.text() and "number" in pane.error_label.text()
    np.testing.assert_array_equal(shown(pane), before)
    assert np.isfinite(pane.ctx.kernel).all()


def test_presets_from_the_combo_and_their_description(pane):
    for name in ("sobel_y", "gaussian_5", "laplacian", "identity"):
        choose_preset(pane, name)
        np.testing.assert_array_equal(pane.editor.kernel(), PRESETS[name])
        assert (pane.rows_spin.value(), pane.cols_spin.value()) == PRESETS[name].shape
        np.testing.assert_allclose(
            shown(pane), apply_kernel(gray_of(pane.ctx), PRESETS[name]), rtol=1e-5, atol=1e-3
        )
    choose_preset(pane, "laplacian")
    assert "Sum = 0" in pane.sum_label.text()
    assert "Laplacian" in pane.info_label.text()


def test_display_modes_show_signed_absolute_and_clipped_values(pane):
    choose_preset(pane, "sobel_x")
    raw = apply_kernel(gray_of(pane.ctx), PRESETS["sobel_x"])
    data = shown(pane)
    np.testing.assert_allclose(data, raw, rtol=1e-6)
    lo, hi = pane.result_view.levels()
    assert lo == pytest.approx(-hi) and hi == pytest.approx(np.abs(raw).max())  # 0 in the middle
    assert pane.result_view.color_bar.isVisible()
    assert raw.min() < 0  # the shapes have edges both ways: negatives are kept, not clipped
    pane.display_combo.setCurrentIndex(pane.display_combo.findData("abs"))
    np.testing.assert_allclose(shown(pane), np.abs(raw), rtol=1e-6)
    pane.display_combo.setCurrentIndex(pane.display_combo.findData("clipped"))
    np.testing.assert_allclose(shown(pane), np.clip(raw, 0, 255), rtol=1e-6)
    assert pane.result_view.levels() == (0.0, 255.0)


def test_rgb_flip_and_border(pane):
    k = np.array([[0, 1, 2], [0, 0, 0], [-1, 0, 0]], np.float32)  # asymmetric: flipping matters
    pane.set_kernel(k)
    pane.color_combo.setCurrentIndex(pane.color_combo.findData("rgb"))
    rgb = pane.ctx.image.astype(np.float32)
    np.testing.assert_allclose(shown(pane), apply_kernel(rgb, k), rtol=1e-5, atol=1e-3)
    assert shown(pane).shape == pane.ctx.image.shape
    pane.convolve_check.setChecked(True)
    np.testing.assert_allclose(shown(pane), apply_kernel(rgb, k, mode="convolve"), rtol=1e-5, atol=1e-3)
    pane.border_combo.setCurrentIndex(pane.border_combo.findData("zero"))
    np.testing.assert_allclose(
        shown(pane), apply_kernel(rgb, k, mode="convolve", border="zero"), rtol=1e-5, atol=1e-3
    )
    # what is drawn: per channel, mid-gray = 0, ±max|x| at the ends, as bytes in one pass
    raw = apply_kernel(rgb, k, mode="convolve", border="zero")
    m = float(np.abs(raw).max())
    assert pane.result_view.levels() == pytest.approx((-m, m))
    drawn = pane.result_view.drawn_image()
    assert drawn.dtype == np.uint8 and drawn.shape == raw.shape
    np.testing.assert_allclose(drawn, np.clip(np.rint(raw * 127.5 / m + 127.5), 0, 255), atol=1)
    for mode, expected, top in (("abs", np.abs(raw), m), ("clipped", np.clip(raw, 0, 255), 255.0)):
        pane.display_combo.setCurrentIndex(pane.display_combo.findData(mode))
        np.testing.assert_allclose(shown(pane), expected, rtol=1e-5, atol=1e-3)
        drawn = pane.result_view.drawn_image()
        assert drawn.dtype == np.uint8
        np.testing.assert_allclose(drawn, np.rint(expected * 255.0 / top), atol=1)


def test_painting_a_large_kernel_on_a_1080p_photo_shows_the_last_stroke(pane, qtbot, monkeypatch):
    """Large updates are computed in the background: the pane stays responsive while painting,
    intermediate results may be skipped, and the result finally shown is the last kernel's."""
    # every stroke filters the whole image here (a one-cell change is otherwise a cheap update
    # done at once; see test_one_painted_cell_updates_the_result_without_a_full_filter)
    monkeypatch.setattr(IncrementalFilter, "MAX_STEPS", 0)
    rng = np.random.default_rng(3)
    pane.ctx.set_image(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8))
    pane.color_combo.setCurrentIndex(pane.color_combo.findData("rgb"))
    pane.rows_spin.setValue(15)
    pane.cols_spin.setValue(15)
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=20000)
    computing = []
    pane.editor.kernel_edited.connect(lambda _k: computing.append(pane._live.is_computing()))
    cells = [(r, (r * 3) % 15) for r in range(15)]
    editor = pane.editor
    qtbot.mousePress(editor, LEFT, pos=editor.cell_rect(*cells[0]).center())
    for cell in cells[1:]:
        qtbot.wait(8)  # a person's drag: the event loop turns between mouse moves
        qtbot.mouseMove(editor, editor.cell_rect(*cell).center())
    qtbot.mouseRelease(editor, LEFT, pos=editor.cell_rect(*cells[-1]).center())
    assert any(computing)  # cells were painted while a result was being computed
    assert pane.is_busy()
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=20000)
    final = pane.editor.kernel()
    for r, c in cells:
        assert final[r, c] == 1.0
    rgb = pane.ctx.image.astype(np.float32)
    # read what the view holds now, without flushing: it must be the last stroke's result
    np.testing.assert_allclose(pane.result_view.image_data(), apply_kernel(rgb, final), rtol=1e-4, atol=1e-2)
    np.testing.assert_array_equal(pane.ctx.kernel, final)


def test_gradient_magnitude_of_an_xy_pair(pane):
    g = gray_of(pane.ctx)
    pane.gradient_combo.setCurrentIndex(pane.gradient_combo.findData("sobel"))
    expected = gradient_magnitude(apply_kernel(g, PRESETS["sobel_x"]), apply_kernel(g, PRESETS["sobel_y"]))
    np.testing.assert_allclose(shown(pane), expected, rtol=1e-5)
    assert shown(pane).min() >= 0 and "magnitude" in pane.result_view.title()
    assert not pane.display_combo.isEnabled()
    pane.gradient_combo.setCurrentIndex(pane.gradient_combo.findData("gradient"))
    expected = gradient_magnitude(apply_kernel(g, PRESETS["gradient_x"]), apply_kernel(g, PRESETS["gradient_y"]))
    np.testing.assert_allclose(shown(pane), expected, rtol=1e-5)


def test_normalize_transpose_rotate_reset_buttons(pane, qtbot):
    choose_preset(pane, "box_blur")
    paint(qtbot, pane.editor, [(1, 1)])  # brush 1 into the centre
    qtbot.mouseClick(pane.normalize_button, LEFT)
    assert pane.editor.kernel().sum() == pytest.approx(1.0)
    pane.set_kernel(np.array([[1, 2], [3, 4]], np.float32))
    qtbot.mouseClick(pane.transpose_button, LEFT)
    np.testing.assert_array_equal(pane.editor.kernel(), [[1, 3], [2, 4]])
    qtbot.mouseClick(pane.rotate_button, LEFT)
    np.testing.assert_array_equal(pane.editor.kernel(), [[2, 1], [4, 3]])
    qtbot.mouseClick(pane.reset_button, LEFT)
    np.testing.assert_array_equal(pane.editor.kernel(), PRESETS["box_blur"])
    np.testing.assert_allclose(shown(pane), apply_kernel(gray_of(pane.ctx), PRESETS["box_blur"]), rtol=1e-5, atol=1e-3)


def test_kernel_size_spin_boxes_keep_the_centre(pane):
    choose_preset(pane, "sobel_x")
    pane.rows_spin.setValue(5)
    pane.cols_spin.setValue(5)
    k = pane.editor.kernel()
    assert k.shape == (5, 5)
    np.testing.assert_array_equal(k[1:4, 1:4], PRESETS["sobel_x"])
    pane.rows_spin.setValue(1)
    assert pane.editor.kernel().shape == (1, 5)
    np.testing.assert_allclose(shown(pane), apply_kernel(gray_of(pane.ctx), pane.editor.kernel()), rtol=1e-5, atol=1e-3)


def test_hovering_the_result_shows_the_window_products_and_sum(pane, qtbot):
    choose_preset(pane, "sobel_x")
    raw = apply_kernel(gray_of(pane.ctx), PRESETS["sobel_x"])
    r, c = np.unravel_index(int(np.argmax(raw)), raw.shape)
    view = pane.result_view
    qtbot.mouseMove(view.viewport(), view.widget_pos_of(c + 0.5, r + 0.5))
    qtbot.waitUntil(lambda: pane._hover == (r, c), timeout=2000)
    text = pane.arithmetic_label.text()
    assert f"row {r}, column {c}" in text
    assert f"{raw[r, c]:.2f}" in text
    numbers = pane.arithmetic(int(r), int(c))
    win = gray_of(pane.ctx)[r - 1 : r + 2, c - 1 : c + 2]
    np.testing.assert_array_equal(numbers["window"], win)
    np.testing.assert_allclose(numbers["products"], win * PRESETS["sobel_x"])
    assert float(numbers["sum"]) == pytest.approx(float(raw[r, c]), abs=1e-3)
    # at the image corner the mirrored border is part of the window, as in the filter
    for rr, cc in ((0, 0), (raw.shape[0] - 1, raw.shape[1] - 1)):
        assert float(pane.arithmetic(rr, cc)["sum"]) == pytest.approx(float(raw[rr, cc]), abs=1e-3)


def test_kernel_larger_than_the_image_is_explained(pane):
    small = np.random.default_rng(0).integers(0, 255, (8, 10, 3), dtype=np.uint8)
    pane.ctx.set_image(small)
    pane.rows_spin.setValue(15)
    pane.cols_spin.setValue(15)
    pane.flush()
    assert pane.result_view.image_data() is None
    assert pane.message_label.isVisible() and "larger than the image" in pane.message_label.text()
    pane.rows_spin.setValue(3)
    pane.cols_spin.setValue(3)
    pane.flush()
    assert not pane.message_label.isVisible()
    np.testing.assert_allclose(shown(pane), apply_kernel(gray_of(pane.ctx), pane.editor.kernel()), rtol=1e-5, atol=1e-3)


def test_rapid_preset_switching_while_painting(pane, qtbot):
    editor = pane.editor
    names = ["sobel_x", "gaussian_5", "laplacian", "box_blur_5", "sharpen", "identity"] * 3
    qtbot.mousePress(editor, LEFT, pos=editor.cell_rect(0, 0).center())
    for i, name in enumerate(names):
        choose_preset(pane, name)
        rows, cols = editor.kernel().shape
        qtbot.mouseMove(editor, editor.cell_rect(i % rows, (i * 2) % cols).center())
        if i % 4 == 0:
            qtbot.wait(1)  # let some coalesced updates run in the middle of the stroke
    qtbot.mouseRelease(editor, LEFT, pos=editor.cell_rect(0, 0).center())
    final = pane.state.kernel
    np.testing.assert_array_equal(editor.kernel(), final)
    np.testing.assert_allclose(shown(pane), apply_kernel(gray_of(pane.ctx), final), rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(pane.ctx.kernel, final)


def test_every_edit_on_a_1080p_image_shows_that_kernels_result(pane, qtbot):
    """Speed is measured in bench/kernels_pane.py; here: each edit shows its own result."""
    rng = np.random.default_rng(1)
    pane.ctx.set_image(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8))
    shown(pane)  # gray conversion happens once per image
    source = pane._source
    for i in range(5):
        paint(qtbot, pane.editor, [(i % 3, (i + 1) % 3)])
        qtbot.waitUntil(lambda: not pane.is_busy(), timeout=5000)
        assert pane._source is source  # the gray image was not converted again
        np.testing.assert_allclose(
            pane.result_view.image_data(), apply_kernel(gray_of(pane.ctx), pane.editor.kernel()), rtol=1e-5, atol=1e-2
        )
    np.testing.assert_array_equal(pane.ctx.kernel, pane.editor.kernel())


def test_kernel_set_elsewhere_appears_in_the_editor(pane):
    k = np.array([[0, 1], [1, 0]], np.float32)
    pane.ctx.set_kernel(k, "custom")
    np.testing.assert_array_equal(pane.editor.kernel(), k)
    np.testing.assert_allclose(shown(pane), apply_kernel(gray_of(pane.ctx), k), rtol=1e-5, atol=1e-3)


def test_editor_widget_alone_clicks_paint_and_cells_map_back(qtbot):
    from cnnviz.gui.widgets import KernelEditorWidget, resize_kernel

    editor = KernelEditorWidget(np.zeros((5, 7), np.float32))
    qtbot.addWidget(editor)
    editor.resize(350, 250)
    editor.show()
    edits = []
    editor.kernel_edited.connect(edits.append)
    for r in range(5):
        for c in range(7):
            assert editor.cell_at(editor.cell_rect(r, c).center()) == (r, c)
    assert editor.cell_at(QPoint(-5, -5)) is None
    paint(qtbot, editor, [(2, 0), (2, 1), (2, 1), (2, 2)])
    assert len(edits) == 3  # a cell painted twice emits once
    np.testing.assert_array_equal(resize_kernel(np.ones((3, 3)), 1, 1), [[1]])


def test_original_and_result_zoom_and_pan_together(pane, qtbot):
    from PySide6.QtCore import QRectF

    a, b = pane.original_view.view_box, pane.result_view.view_box
    a.setRange(QRectF(40, 30, 64, 48), padding=0)
    qtbot.waitUntil(lambda: np.allclose(b.viewRange(), a.viewRange(), atol=0.5), timeout=2000)
    (x0, x1), (y0, y1) = b.viewRange()
    assert x0 < 41 and x1 > 103 and x1 - x0 < 200  # zoomed in on the same pixels
    b.translateBy(x=25, y=-10)  # pan the result: the original follows
    qtbot.waitUntil(lambda: np.allclose(a.viewRange(), b.viewRange(), atol=0.5), timeout=2000)
    assert a.viewRange()[0][0] == pytest.approx(x0 + 25, abs=0.5)


def test_signed_mode_is_labelled_as_drawn(pane):
    combo = pane.display_combo
    combo.setCurrentIndex(combo.findData("signed"))
    assert "blue" in combo.currentText() and "white 0" in combo.currentText()
    pane.color_combo.setCurrentIndex(pane.color_combo.findData("rgb"))
    pane.flush()
    assert "mid-gray 0" in combo.currentText() and "blue" not in combo.currentText()
    assert "mid-gray = 0" in pane.result_view.title()
    pane.color_combo.setCurrentIndex(pane.color_combo.findData("gray"))
    assert "blue" in combo.currentText()


def _panel_numbers(pane) -> tuple[np.ndarray, list[float]]:
    """The kernel table and the sum(s) the arithmetic panel shows now (its HTML parsed back)."""
    import re

    text = pane.arithmetic_label.text()
    cells = [c.replace("&nbsp;", "") for c in re.findall(r"<td align='right'>(.*?)</td>", text)]
    n = len(cells) // 3  # window, kernel, products: one table each
    kernel = np.array([float(c.replace("−", "-")) for c in cells[n : 2 * n]], np.float32)
    sums = [float(v) for v in re.findall(r"(?:sum of products|[RGB]) = <b>(-?[\d.]+)</b>", text)]
    return kernel, sums


def test_arithmetic_panel_follows_every_change_for_the_last_pixel(pane, qtbot):
    """The panel is a function of the state and the last inspected pixel: after the mouse has
    left, a new preset, a painted cell, a new size, border, channels or image rewrites it at once
    with the core's numbers for that pixel."""
    r, c = 61, 324
    pane._on_result_hovered(r, c)
    pane._on_result_hovered(-1, -1)  # the mouse leaves: the panel keeps the pixel

    def check(color: str = "gray") -> None:
        pane.flush()
        s = pane.state
        image = pane.ctx.image
        source = gray_of(pane.ctx) if color == "gray" else images.to_rgb(image).astype(np.float32)
        raw = apply_kernel(source, s.kernel, mode=s.mode, border=s.border)
        kernel, sums = _panel_numbers(pane)
        k = s.kernel[::-1, ::-1] if s.convolve else s.kernel
        np.testing.assert_allclose(kernel.reshape(k.shape), k, atol=0.01)
        expected = np.atleast_1d(raw[r, c])
        np.testing.assert_allclose(sums, expected, atol=0.01)
        assert f"row {r}, column {c}" in pane.arithmetic_label.text()

    choose_preset(pane, "laplacian")
    check()
    choose_preset(pane, "gradient_x")
    check()
    paint(qtbot, pane.editor, [(0, 0)])
    check()
    pane.rows_spin.setValue(5)
    pane.cols_spin.setValue(5)
    check()
    pane.border_combo.setCurrentIndex(pane.border_combo.findData("zero"))
    check()
    pane.convolve_check.setChecked(True)
    check()
    pane.color_combo.setCurrentIndex(pane.color_combo.findData("rgb"))
    check("rgb")
    pane.color_combo.setCurrentIndex(pane.color_combo.findData("gray"))
    rng = np.random.default_rng(3)
    pane.ctx.set_image(rng.integers(0, 256, (200, 400, 3), dtype=np.uint8))
    check()
    # a pixel the new image does not have: the hint, not another image's numbers
    pane.ctx.set_image(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    pane.flush()
    assert "Hover over the result" in pane.arithmetic_label.text()


def test_gradient_and_sobel_descriptions_say_why_their_signs_differ(pane):
    """The book prints Gradient x/y and Sobel x/y with opposite signs; the app keeps both and the
    text beside the kernel says which way each one points, matching what it computes."""
    ramp = np.tile(np.arange(9, dtype=np.float32) * 10, (9, 1))  # brighter to the right
    down = ramp.T.copy()  # brighter downwards
    for name, image, sign, words in (
        ("gradient_x", ramp, 1, "right column minus left column"),
        ("sobel_x", ramp, -1, "left minus right"),
        ("gradient_y", down, 1, "bottom row minus top row"),
        ("sobel_y", down, -1, "top row minus bottom row"),
    ):
        assert np.sign(apply_kernel(image, PRESETS[name])[4, 4]) == sign
        choose_preset(pane, name)
        text = pane.info_label.text()
        assert words in text and "opposite sign" in text, text


def test_haar_presets_show_a_size_control(pane, qtbot):
    from cnnviz.core.kernels import haar_feature

    assert not pane.haar_row.isVisible()
    pane.preset_combo.setCurrentIndex(pane.preset_combo.findData("haar_two_x"))
    assert pane.haar_row.isVisible() and pane.haar_spin.value() == 12
    np.testing.assert_array_equal(pane.editor.kernel(), haar_feature("haar_two_x", 12))
    pane.haar_spin.setValue(6)
    assert pane.rows_spin.value() == 6 and pane.cols_spin.value() == 6
    np.testing.assert_array_equal(pane.editor.kernel(), haar_feature("haar_two_x", 6))
    expected = apply_kernel(gray_of(pane.ctx), haar_feature("haar_two_x", 6))
    np.testing.assert_allclose(shown(pane), expected, atol=1e-3)
    assert "Viola" in pane.info_label.text()
    pane.preset_combo.setCurrentIndex(pane.preset_combo.findData("laplacian"))
    assert not pane.haar_row.isVisible()


def test_gradient_direction_as_colour_with_its_wheel(pane, qtbot):
    assert not pane.direction_check.isEnabled() and not pane.direction_row.isVisible()
    pane.gradient_combo.setCurrentIndex(pane.gradient_combo.findData("gradient"))
    assert pane.direction_check.isEnabled()
    pane.direction_check.setChecked(True)
    assert pane.direction_row.isVisible() and "increase" in pane.direction_label.text()
    data = shown(pane)
    assert data.shape[2] == 3 and data.dtype == np.uint8
    gray = gray_of(pane.ctx)
    gx = apply_kernel(gray, PRESETS["gradient_x"])
    gy = apply_kernel(gray, PRESETS["gradient_y"])
    mag = gradient_magnitude(gx, gy)
    strong = mag > 0.5 * mag.max()
    assert (data[~strong & (mag == 0)] == 0).all()  # flat = black
    # a pixel where the image gets brighter to the right is red
    rows, cols = np.nonzero((gx > 0.9 * mag) & strong)
    assert rows.size
    r, g, b = data[rows[0], cols[0]].astype(int)
    assert r > 200 and g < 80 and b < 80
    assert "direction" in pane.result_view.title().lower()
    pane.gradient_combo.setCurrentIndex(pane.gradient_combo.findData("off"))
    assert not pane.direction_row.isVisible() and not pane.direction_check.isEnabled()


def test_result_view_colours_only_what_it_shows_and_is_sharp_zoomed_in(pane, qtbot):
    """A 1080p result shown a few hundred pixels wide is coloured at that size (whole blocks
    averaged, as before); zoomed in, only the visible part (and a margin) is coloured, from the
    full-resolution values, and panning renders the new part. Hover still reads full resolution."""
    import cv2

    from cnnviz.state.display import to_uint8

    rng = np.random.default_rng(11)
    pane.ctx.set_image(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8))
    pane.color_combo.setCurrentIndex(pane.color_combo.findData("rgb"))
    k = np.array([[0, 1, 2], [0, 0, 0], [-1, 0, 0]], np.float32)
    pane.set_kernel(k)
    view = pane.result_view
    raw = shown(pane)
    assert raw.shape == (1080, 1920, 3)  # the data stays whole
    view.viewport().repaint()
    m = float(np.abs(raw).max())
    drawn = view.drawn_image()
    r0, r1, c0, c1 = view.drawn_region()
    assert (r0, r1, c0, c1) == (0, 1080, 0, 1920)  # default zoom: all of it ...
    xds, yds = view.image_item._computeDownsampleFactors()
    assert xds > 1 and drawn.shape[1] == 1920 // xds  # ... but at the size it is shown
    small = cv2.resize(raw[: (1080 // yds) * yds, : (1920 // xds) * xds], drawn.shape[1::-1], interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(drawn, to_uint8(small, (-m, m)))

    view.view_box.setRange(xRange=(600, 700), yRange=(300, 360), padding=0)
    qtbot.waitUntil(lambda: view.drawn_region() is not None and view.drawn_region()[3] - view.drawn_region()[2] < 400)
    view.viewport().repaint()
    drawn = view.drawn_image()
    r0, r1, c0, c1 = view.drawn_region()
    assert r0 <= 300 and r1 >= 360 and c0 <= 600 and c1 >= 700  # the visible part ...
    assert (r1 - r0) * (c1 - c0) < 1080 * 1920 / 20  # ... and not much more
    assert drawn.shape[:2] == (r1 - r0, c1 - c0)  # one drawn pixel per image pixel: sharp
    np.testing.assert_array_equal(drawn, to_uint8(raw[r0:r1, c0:c1], (-m, m)))

    view.view_box.setRange(xRange=(1500, 1600), yRange=(900, 960), padding=0)
    qtbot.waitUntil(lambda: view.drawn_region()[3] >= 1600)
    view.viewport().repaint()
    r0, r1, c0, c1 = view.drawn_region()
    assert r0 <= 900 and r1 >= 960 and c0 <= 1500
    np.testing.assert_array_equal(view.drawn_image(), to_uint8(raw[r0:r1, c0:c1], (-m, m)))
    facts = pane.arithmetic(1000, 100)  # outside the part drawn: still full resolution
    np.testing.assert_allclose(facts["value"], raw[1000, 100], atol=1e-3)
    np.testing.assert_allclose(facts["sum"], raw[1000, 100], atol=1e-3)


def test_an_unchanged_title_is_not_set_again(pane, qtbot):
    """A live update sets the views' titles on every change: the same text must not lay the
    view out and repaint it again."""
    title = pane.result_view._title
    calls = []
    original = title.setText
    title.setText = lambda text, **kw: (calls.append(text), original(text, **kw))
    text = title.text
    pane.result_view.set_title(text)
    assert calls == []
    pane.result_view.set_title("Another title")
    assert calls == ["Another title"] and pane.result_view.title() == "Another title"
    pane.result_view.set_title(text)


def test_colour_bar_is_not_redrawn_for_the_same_colour_map(pane, qtbot):
    """Each edit shows a new result with the same colour map: the bar keeps its map (only its
    levels follow), and a different map still replaces it."""
    bar = pane.result_view.color_bar
    calls = []
    original = bar.setColorMap
    bar.setColorMap = lambda cmap: (calls.append(cmap.name), original(cmap))
    pane.editor.set_cell(0, 0, "3")
    pane.flush()
    pane.editor.set_cell(0, 0, "4")
    pane.flush()
    assert calls == []
    assert pane.result_view.levels() == pytest.approx(symmetric(shown(pane)))
    pane.gradient_combo.setCurrentIndex(pane.gradient_combo.findData("sobel"))
    pane.flush()
    assert calls == ["inferno"] and bar.isVisible()


def symmetric(data):
    m = float(np.abs(data).max())
    return (-m, m)


def test_one_painted_cell_updates_the_result_without_a_full_filter(pane, qtbot, monkeypatch):
    """A full 15×15 filter of a large colour image runs in the background; painting one cell
    then updates that result (a pass over the image per changed cell, no whole filter) and shows
    the direct filter's values."""
    import cnnviz.core.kernels as core_kernels

    rng = np.random.default_rng(11)
    pane.ctx.set_image(rng.integers(0, 256, (600, 800, 3), dtype=np.uint8))
    pane.color_combo.setCurrentIndex(pane.color_combo.findData("rgb"))
    background = []
    submit = pane._live.runner.submit
    monkeypatch.setattr(pane._live.runner, "submit", lambda *a: background.append(1) or submit(*a))
    pane.set_kernel(rng.normal(size=(15, 15)).astype(np.float32))
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=20000)
    assert background  # the whole filter went off the GUI thread
    whole = []
    fast, correlate = core_kernels.apply_kernel_fast, core_kernels.SpectrumFilter.correlate
    monkeypatch.setattr(core_kernels, "apply_kernel_fast", lambda *a, **kw: whole.append(1) or fast(*a, **kw))
    monkeypatch.setattr(core_kernels.SpectrumFilter, "correlate", lambda *a, **kw: whole.append(1) or correlate(*a, **kw))
    pane.brush_spin.setValue(2.5)
    paint(qtbot, pane.editor, [(4, 9)])
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=20000)
    assert not whole  # the one-cell change updated the last result: no whole filter ran
    k = pane.editor.kernel()
    assert k[4, 9] == 2.5
    expected = apply_kernel(pane.ctx.image.astype(np.float32), k)
    np.testing.assert_allclose(pane.result_view.image_data(), expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    assert pane.result_view.levels() == pytest.approx((-np.abs(expected).max(), np.abs(expected).max()), rel=1e-5)


def test_the_kernel_editor_repaints_only_the_cells_an_edit_changes(pane, qtbot):
    """Painting across a 15×15 kernel repaints the cells the brush changes (with their outlines'
    neighbours), not the whole grid; a value that changes the colour scale repaints it all."""
    from PySide6.QtCore import QEvent, QObject

    k = np.zeros((15, 15), np.float32)
    k[0, 0] = 4.0
    pane.set_kernel(k)
    editor = pane.editor
    painted = []

    class Spy(QObject):
        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Type.Paint:
                painted.append(ev.region().boundingRect())
            return False

    spy = Spy()
    editor.installEventFilter(spy)
    qtbot.waitUntil(lambda: not pane.is_busy())
    pane.brush_spin.setValue(1.5)
    qtbot.mousePress(editor, LEFT, pos=editor.cell_rect(1, 1).center())
    qtbot.wait(30)  # the press gives the grid the focus: that repaints it all once
    painted.clear()
    for col in (2, 3, 4):
        qtbot.mouseMove(editor, editor.cell_rect(1, col).center())
        qtbot.wait(10)
    qtbot.mouseRelease(editor, LEFT, pos=editor.cell_rect(1, 4).center())
    qtbot.waitUntil(lambda: bool(painted) and editor.kernel()[1, 4] == 1.5)
    qtbot.wait(20)
    whole = editor.rect()
    assert painted
    for r in painted:
        assert any(r.intersects(editor.cell_rect(1, c)) for c in (1, 2, 3, 4))
        assert r.width() * r.height() < whole.width() * whole.height() / 20
    np.testing.assert_array_equal(editor.kernel()[1, 1:5], [1.5] * 4)
    painted.clear()
    qtbot.mouseMove(editor, editor.cell_rect(5, 5).center())  # not pressed: nothing changes
    pane.brush_spin.setValue(9.0)  # a new largest value: every cell's colour changes
    paint(qtbot, editor, [(5, 5)])
    qtbot.waitUntil(lambda: editor.kernel()[5, 5] == 9 and any(r.contains(editor.cell_rect(14, 14)) for r in painted))
    editor.removeEventFilter(spy)


def test_the_arithmetic_panel_follows_a_painting_stroke_once_it_pauses(pane, qtbot, monkeypatch):
    """Painting with a pixel inspected: the result follows every cell at once, while the panel's
    table (slow to lay out) is rewritten once the painting pauses, for the last kernel."""
    pane.set_kernel(np.zeros((5, 5), np.float32))
    pane.flush()
    view = pane.result_view
    pos = view.widget_pos_of(60.5, 40.5)
    qtbot.mouseMove(view.viewport(), pos + QPoint(5, 5))
    qtbot.mouseMove(view.viewport(), pos)
    qtbot.waitUntil(lambda: pane._hover[0] >= 0, timeout=2000)
    r, c = pane._hover  # the pixel under the mouse (about row 40, column 60)
    label = pane.arithmetic_label
    writes = []
    set_text = label.setText
    monkeypatch.setattr(label, "setText", lambda text: writes.append(text) or set_text(text))
    editor = pane.editor
    cells = [(0, 0), (1, 1), (2, 2), (3, 3)]
    qtbot.mousePress(editor, LEFT, pos=editor.cell_rect(*cells[0]).center())
    for cell in cells[1:]:
        qtbot.wait(5)  # the event loop turns between mouse moves: each cell is shown
        qtbot.mouseMove(editor, editor.cell_rect(*cell).center())
        qtbot.waitUntil(lambda: not pane.is_busy(), timeout=5000)
        k = editor.kernel()
        np.testing.assert_allclose(view.image_data(), apply_kernel(gray_of(pane.ctx), k), rtol=1e-5, atol=1e-3)
    qtbot.mouseRelease(editor, LEFT, pos=editor.cell_rect(*cells[-1]).center())
    assert len(writes) <= 1  # not one table per painted cell
    qtbot.waitUntil(lambda: len(writes) >= 1, timeout=3000)
    qtbot.wait(200)
    assert len(writes) == 1
    kernel, sums = _panel_numbers(pane)
    np.testing.assert_allclose(kernel.reshape(5, 5), editor.kernel(), atol=0.01)
    raw = apply_kernel(gray_of(pane.ctx), editor.kernel())
    np.testing.assert_allclose(sums, [raw[r, c]], atol=0.01)
    assert f"row {r}, column {c}" in label.text()


def test_a_kernel_edit_repaints_neither_the_size_row_nor_the_result_twice(pane, qtbot):
    """Painting one cell repaints the result view once and leaves the controls that did not
    change alone: the size spin boxes (each repainted on every setValue, even of its own value)
    are not touched, and new values of the same size do not lay the editor out again."""
    from PySide6.QtCore import QEvent, QObject

    pane.set_kernel(np.zeros((3, 3), np.float32))
    qtbot.waitUntil(lambda: not pane.is_busy())
    qtbot.wait(30)
    counts: dict[str, int] = {}

    class Spy(QObject):
        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Type.Paint:
                counts[obj.objectName()] = counts.get(obj.objectName(), 0) + 1
            return False

    spy = Spy()
    watched = {"rows": pane.rows_spin, "cols": pane.cols_spin, "result": pane.result_view.viewport()}
    for name, widget in watched.items():
        widget.setObjectName(name)
        widget.installEventFilter(spy)
    geometry = []
    update_geometry = pane.editor.updateGeometry
    pane.editor.updateGeometry = lambda: geometry.append(1) or update_geometry()
    try:
        for value in (2.0, -1.0, 3.5):
            pane.brush_spin.setValue(value)
            paint(qtbot, pane.editor, [(1, 1)])
            qtbot.waitUntil(lambda: not pane.is_busy())
            qtbot.wait(20)
        assert counts.get("rows", 0) == 0 and counts.get("cols", 0) == 0
        assert counts.get("result", 0) <= 3  # once per edit
        assert counts.get("result", 0) >= 1
        assert geometry == []
        pane.set_kernel(np.ones((5, 5), np.float32) / 25)  # another size: laid out anew
        assert geometry
        assert pane.rows_spin.value() == 5 and pane.cols_spin.value() == 5
    finally:
        del pane.editor.updateGeometry
        for widget in watched.values():
            widget.removeEventFilter(spy)


def test_the_colour_bar_is_relabelled_only_when_its_levels_change(pane, monkeypatch):
    """A live update with the same levels keeps the colour bar as it is (no relabelling and
    relayout); new levels relabel it, with symmetric ticks for signed data."""
    view = pane.result_view
    fits = []
    fit = view._fit_bar_axis
    monkeypatch.setattr(view, "_fit_bar_axis", lambda **kw: fits.append(1) or fit(**kw))
    data = np.linspace(-3.0, 3.0, 64 * 48, dtype=np.float32).reshape(48, 64)
    view.set_image(data, signed=True)
    assert len(fits) == 1
    assert view.bar_labels() == ["−2", "−1", "0", "1", "2"]
    view.set_image(data * 0.5, signed=True, levels=(-3.0, 3.0))
    view.set_image(data, signed=True)
    assert len(fits) == 1
    view.set_image(data * 10, signed=True)
    assert len(fits) == 2
    assert view.levels() == (-30.0, 30.0)
    assert view.bar_labels() == ["−20", "−10", "0", "10", "20"]
    view.set_image(data * 10, signed=True, bar_label="filter output")
    assert len(fits) == 3
    assert view.color_bar.title() == "filter output"


def test_the_colour_bar_keeps_its_width_while_a_live_update_narrows_its_labels(pane):
    """Live updates of the same picture only let the colour bar's scale grow (a narrower label
    would lay the view out again and make the image jump sideways); a new picture fits it anew.
    The labels are the bar's own, never rescaled by pyqtgraph's SI prefix."""
    view = pane.result_view
    bar = view.color_bar
    data = np.linspace(-1.0, 1.0, 64 * 48, dtype=np.float32).reshape(48, 64)
    view.set_image(data * 3, signed=True)
    narrow = bar.scale_width(), bar.maximumWidth()
    view.set_image(data * 0.0009, signed=True)  # labels such as −0.00025
    wide = bar.scale_width(), bar.maximumWidth()
    assert wide > narrow
    assert bar.scale_width() >= bar.label_widths(view.bar_labels())  # every label fits whole
    view.set_image(data * 3, signed=True)
    assert (bar.scale_width(), bar.maximumWidth()) == wide
    assert view.bar_labels() == ["−2", "−1", "0", "1", "2"]
    view.set_image(np.zeros((30, 40), np.float32) + data[:30, :40] * 3, signed=True)  # a new picture
    assert (bar.scale_width(), bar.maximumWidth()) == narrow
    view.set_image(data * 0.5, signed=True, bar_label="score")
    label = bar.title()
    assert "score" in label and "(x" not in label  # no SI rescaling such as "(x0.001)"
    assert view.bar_labels() == ["−0.5", "−0.25", "0", "0.25", "0.5"]


def test_the_painting_hint_breaks_where_the_sense_does(pane, window, qtbot):
    """At the default window size each line of the hint under the kernel grid fits the column
    whole: no word ("type") left alone on a line of its own."""
    from PySide6.QtWidgets import QApplication

    window.resize(1400, 900)
    QApplication.processEvents()
    hint = pane._hint_label
    assert hint.isVisible()
    lines = hint.text().split("\n")
    assert len(lines) == 2 and "right-drag erases" in lines[0] and "Double-click" in lines[1]
    room = hint.contentsRect().width()
    for line in lines:
        assert hint.fontMetrics().horizontalAdvance(line) <= room, (line, room)


@pytest.mark.parametrize("color", ["gray", "rgb"])
def test_the_part_shown_is_averaged_with_the_result_and_drawn_as_the_view_would_draw_it(pane, qtbot, monkeypatch, color):
    """A result comes with the part of it the view shows already averaged down to the view's
    resolution (off the GUI thread when the filter is): the view draws it without averaging
    again, the picture is exactly the one its own render of the full-resolution result gives,
    and zooming in renders anew from the full-resolution values."""
    from cnnviz.gui.widgets import image_view

    rng = np.random.default_rng(5)
    pane.ctx.set_image(rng.integers(0, 256, (900, 1400, 3), dtype=np.uint8))
    pane.color_combo.setCurrentIndex(pane.color_combo.findData(color))
    pane.set_kernel(rng.normal(size=(15, 15)).astype(np.float32))
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=20000)
    view = pane.result_view
    view.drawn_image()
    averaged = []
    real = image_view.area_part
    monkeypatch.setattr(image_view, "area_part", lambda *a: averaged.append(a[1]) or real(*a))
    pane.set_kernel(rng.normal(size=(15, 15)).astype(np.float32))
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=20000)
    result = pane._result
    assert result.display is not None
    geometry, part = result.display
    assert geometry[4] > 1 and geometry[5] > 1  # 1400 columns shown a few hundred pixels wide
    drawn = view.drawn_image().copy()
    assert averaged == []  # the view used the part that came with the result
    assert view.image_item._drawn == geometry
    view.image_item._renderRequired = True
    again = view.drawn_image()
    assert averaged == [geometry]
    np.testing.assert_array_equal(drawn, again)
    # the full-resolution values are still what hovering and zooming read
    np.testing.assert_array_equal(view.image_data(), result.shown)
    view.view_box.scaleBy((0.2, 0.2))
    qtbot.waitUntil(lambda: view.image_item._drawn is not None and view.image_item._drawn[4] == 1, timeout=5000)


def test_an_edit_is_painted_in_one_repaint_of_the_window(pane, window, qtbot):
    """The edited cell, the sum under the grid and the new result appear in one repaint of the
    window: the sum's new text does not lay the kernel panel out again, and the result view's
    picture does not wait for a repaint of its own."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    class Count(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[tuple[str, QObject]] = []

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
            if event.type() in (QEvent.Type.UpdateRequest, QEvent.Type.Paint, QEvent.Type.LayoutRequest):
                self.events.append((event.type().name, obj))
            return False

    pane.editor.set_cell(1, 1, "2")  # the sum now says "brightens", as it will after each edit
    pane.flush()
    qtbot.wait(100)  # its new layout settles, level by level
    count = Count()
    QApplication.instance().installEventFilter(count)
    try:
        for value in ("2.5", "3", "3.5"):
            count.events.clear()
            before = shown(pane).copy()
            pane.editor.set_cell(1, 1, value)
            assert not pane._live.is_computing()  # this image is filtered at once, on the GUI thread
            qtbot.waitUntil(lambda: not pane.is_busy(), timeout=5000)
            for _ in range(3):
                QApplication.processEvents()
            repaints = [obj for name, obj in count.events if name == "UpdateRequest"]
            painted = [obj for name, obj in count.events if name == "Paint"]
            assert repaints == [window]
            assert pane.editor in painted and pane.result_view.viewport() in painted
            assert painted.count(pane.result_view.viewport()) == 1
            assert not [obj for name, obj in count.events if name == "LayoutRequest" and obj is not pane.sum_label]
            assert not np.array_equal(pane.result_view.image_data(), before)
    finally:
        QApplication.instance().removeEventFilter(count)


def test_the_editor_paints_the_panels_colour_itself_and_an_edit_does_not_repaint_the_panel(pane, window, qtbot):
    """Once the editor has read the panel's colour, it paints the margin around the grid in it
    (pixel for pixel what the panel would show there) and Qt no longer paints the panel under an
    edited cell."""
    from PySide6.QtCore import QEvent, QObject, QPoint, Qt
    from PySide6.QtWidgets import QApplication

    editor = pane.editor
    qtbot.waitUntil(lambda: editor.testAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent), timeout=3000)

    def margin_matches_panel() -> bool:
        shot = window.grab().toImage()
        at = editor.mapTo(window, QPoint(0, 0))
        grid = editor.cell_rect(0, 0)
        # a pixel of the editor's margin around the grid (above it or left of it)
        margin = QPoint(editor.width() // 2, 1) if grid.top() > 2 else QPoint(1, editor.height() // 2)
        assert grid.top() > 2 or grid.left() > 2
        inside = shot.pixelColor(at + margin)
        outside = shot.pixelColor(at.x() - 1, at.y() + editor.height() // 2)  # the panel beside it
        return inside == outside

    assert margin_matches_panel()

    class Paints(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.painted: list[QObject] = []

            self.regions: list = []  # what the panel repainted (in its own coordinates)

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
            if event.type() == QEvent.Type.Paint:
                self.painted.append(obj)
                if obj is editor.parentWidget():
                    self.regions.append(event.region().boundingRect())
            return False

    editor.set_cell(0, 0, "6")  # the sum's line says "brightens" from now on: no new layout
    pane.flush()
    qtbot.wait(100)
    paints = Paints()
    QApplication.instance().installEventFilter(paints)
    try:
        editor.set_cell(0, 0, "7")
        pane.flush()
        for _ in range(3):
            QApplication.processEvents()
    finally:
        QApplication.instance().removeEventFilter(paints)
    assert editor in paints.painted
    # the panel repaints under the sum's new text, not under the edited cell
    assert not any(region.intersects(editor.geometry()) for region in paints.regions)
    # a new look (presentation mode's font) reads the colour again
    window.ctx.set_presentation(True)
    try:
        qtbot.waitUntil(lambda: editor.testAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent), timeout=3000)
        assert margin_matches_panel()
    finally:
        window.ctx.set_presentation(False)
