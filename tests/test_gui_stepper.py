"""The convolution stepper pane driven like a teacher would: keys, slider, clicks, hover, export.

The output grid the pane shows is checked against ``cnnviz.core.convolution`` and TensorFlow for
every mode.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QProgressDialog, QPushButton

from cnnviz.core.convolution import conv2d, conv2d_transpose, pool2d
from cnnviz.state.stepper import BOOK_IMAGE, BOOK_KERNEL, format_matrix

BOOK_RESULT = np.array([[399, 373, 334], [243, 315, 399], [305, 231, 272]], dtype=float)


@pytest.fixture
def pane(qtbot, ctx):
    from cnnviz import paths
    from cnnviz.gui.panes.stepper import StepperPane

    ctx.open_image(paths.sample_images()[0].parent / "coffee.jpg")
    p = StepperPane(ctx)
    qtbot.addWidget(p)
    p.resize(1200, 760)
    p.show()
    qtbot.waitExposed(p)
    p.activateWindow()
    yield p
    p.shutdown()


@pytest.fixture(scope="module")
def tf():
    from cnnviz.ml.backend import keras, tensorflow

    return tensorflow(), keras()


def shown(pane, channel: int = 0) -> np.ndarray:
    return pane.output_view(channel).displayed_values()


def full_output(pane) -> np.ndarray:
    """Step to the end with the End key and read every output grid back."""
    pane.go_to_end()
    views = [v for v in pane.output_views if v.isVisible()]
    arrs = [v.displayed_values() for v in views]
    return arrs[0] if len(arrs) == 1 else np.stack(arrs, axis=2)


def press(qtbot, pane, key) -> None:
    qtbot.keyClick(pane.input_view(), key)


def focused_key(qtbot, key) -> None:
    """Press a key where the keyboard focus is now, as a person at the keyboard would."""
    target = QApplication.focusWidget()
    assert target is not None, "nothing has the keyboard focus"
    qtbot.keyClick(target, key)


@pytest.mark.parametrize("opened_by", ["show_pane", "ctrl_3", "tab_click", "step_button"])
def test_keys_step_play_and_jump(qtbot, window, opened_by):
    window.show_pane("kernels")
    stepper = window.panes["stepper"]
    if opened_by == "show_pane":
        window.show_pane("stepper")
    elif opened_by == "ctrl_3":
        qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    elif opened_by == "tab_click":
        bar = window.tabs.tabBar()
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(stepper)).center())
    else:
        window.show_pane("stepper")
        qtbot.mouseClick(stepper.forward_button, Qt.MouseButton.LeftButton)
        assert stepper.state.position == 1
        stepper.reset()
    assert window.current_pane() is stepper
    assert stepper.state.position == 0
    np.testing.assert_array_equal(stepper.input_view().values(), BOOK_IMAGE)
    focused_key(qtbot, Qt.Key.Key_Right)
    focused_key(qtbot, Qt.Key.Key_Right)
    assert stepper.state.position == 2
    assert window.current_pane() is stepper  # the arrow keys did not switch tabs
    out = shown(stepper)
    np.testing.assert_array_equal(out[0], BOOK_RESULT[0])
    assert np.isnan(out[1:]).all()
    assert "133·1 + 121·0 + 188·0 + 201·1 = 334" in stepper.step_label.text()
    focused_key(qtbot, Qt.Key.Key_Left)
    assert stepper.state.position == 1 and stepper.step_counter.text() == "Step 2 of 9"
    focused_key(qtbot, Qt.Key.Key_End)
    np.testing.assert_array_equal(shown(stepper), BOOK_RESULT)
    focused_key(qtbot, Qt.Key.Key_Home)
    assert stepper.state.position == 0
    stepper.speed_spin.setValue(50)
    focused_key(qtbot, Qt.Key.Key_Space)
    assert stepper.is_playing()
    qtbot.waitUntil(lambda: stepper.state.position >= 3, timeout=3000)
    focused_key(qtbot, Qt.Key.Key_Space)
    assert not stepper.is_playing()
    assert window.current_pane() is stepper


def test_text_and_spin_boxes_keep_their_keys(qtbot, window):
    window.show_pane("stepper")
    stepper = window.panes["stepper"]
    stepper.set_source("typed")
    edit = stepper.matrix_edit
    qtbot.mouseClick(edit.viewport(), Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() is edit
    edit.moveCursor(QTextCursor.MoveOperation.End)
    at = edit.textCursor().position()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Left)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Home)
    assert edit.textCursor().position() < at  # the cursor moved in the text
    assert stepper.state.position == 0 and not stepper.is_playing()
    qtbot.mouseClick(stepper.stride_h.lineEdit(), Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() in (stepper.stride_h, stepper.stride_h.lineEdit())
    stepper.stride_h.lineEdit().selectAll()
    qtbot.keyClicks(QApplication.focusWidget(), "2")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert stepper.stride_h.value() == 2
    assert not stepper.is_playing()
    # keys sent while another pane is current do nothing to the stepper
    window.show_pane("kernels")
    qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_End)
    assert stepper.state.position == 0


def test_slider_scrubs_and_click_jumps_to_the_cells_step(qtbot, pane):
    pane.slider.setValue(5)
    assert pane.state.position == 5
    assert np.isfinite(shown(pane)).sum() == 6
    view = pane.output_view()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.cell_center(2, 1))
    assert pane.state.position == 7 and pane.slider.value() == 7
    window = pane.input_view().highlights()
    field = sorted(pane.state.walk.receptive_field(2, 1))
    assert any(sorted(h.cells) == field for h in window)
    assert "receptive field" in pane.hover_label.text()
    out_cells = [h.cells for h in view.highlights()]
    assert [(2, 1)] in out_cells


def test_hover_shows_every_output_an_input_feeds(qtbot, pane):
    view = pane.input_view()
    qtbot.mouseMove(view, view.cell_center(1, 1))
    qtbot.waitUntil(lambda: pane.hovered_outputs() != [], timeout=2000)
    assert sorted(pane.hovered_outputs()) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert "144" in pane.hover_label.text() and "feeds 4 output cells" in pane.hover_label.text()
    assert any(sorted(h.cells) == [(0, 0), (0, 1), (1, 0), (1, 1)] for h in pane.output_view().highlights())
    qtbot.mouseMove(view, view.cell_center(0, 0))
    qtbot.waitUntil(lambda: pane.hovered_outputs() == [(0, 0)], timeout=2000)


def test_changing_stride_mid_walk(qtbot, pane):
    pane.state.go_to(6)
    pane.stride_h.setValue(2)
    assert pane.state.output_shape() == (2, 3)
    assert pane.state.position == 5
    assert "Rows: ⌊(4 + 2·0 − 1·(2−1) − 1)/2⌋ + 1 = 2" in pane.formula_label.text()
    np.testing.assert_array_equal(full_output(pane), conv2d(BOOK_IMAGE, BOOK_KERNEL, stride=(2, 1)))
    pane.set_padding("explicit", (1, 0, 2, 1))
    np.testing.assert_array_equal(
        full_output(pane), conv2d(BOOK_IMAGE, BOOK_KERNEL, stride=(2, 1), padding=((1, 0), (2, 1)))
    )
    assert pane.input_view().values().shape == (5, 7)


def test_typed_matrix_errors_point_at_the_cell_and_lose_nothing(qtbot, pane):
    pane.set_matrix_text("1 2 3\n4 5 6\n7 8 9")
    assert pane.state.image.shape == (3, 3)
    pane.set_matrix_text("1 2 3\n4 5\n7 8 9")
    assert "Row 2, column 3 is missing" in pane.message_label.text()
    assert pane.state.image.shape == (3, 3)  # the last good matrix is kept
    assert pane.matrix_edit.toPlainText() == "1 2 3\n4 5\n7 8 9"  # and so is the typing
    pane.set_matrix_text("1 2 3\n4 five 6\n7 8 9")
    assert "Row 2, column 2: 'five' is not a number" in pane.message_label.text()
    assert pane.matrix_edit.textCursor().selectedText() == "five"
    pane.set_matrix_text("1 2 3\n4 nan 6\n7 8 9")
    assert pane.state.walk is None and "NaN" in pane.formula_label.text()
    assert pane.output_view().values() is None and "No output" in pane.output_view()._placeholder
    assert np.isnan(pane.input_view().values()[1, 1])
    pane.grab()  # drawing NaN cells does not crash
    pane.set_matrix_text("1 2 3\n4 5 6\n7 8 9")
    assert pane.state.walk is not None and pane.message_label.text() == ""


def test_settings_without_output_are_explained(qtbot, pane):
    pane.set_kernel_text("1 1 1 1 1\n1 1 1 1 1\n1 1 1 1 1\n1 1 1 1 1\n1 1 1 1 1")
    assert pane.state.walk is None
    assert "5×5 kernel does not fit in the 4×4 input" in pane.formula_label.text()
    assert not pane.forward_button.isEnabled() and pane.step_counter.text() == "No steps"
    pane.step_forward()
    pane.toggle_play()
    assert not pane.is_playing()
    pane.set_padding("explicit", (1, 1, 1, 1))  # padding makes it fit again
    assert pane.state.output_shape() == (2, 2)
    pane.set_kernel_text("1 0\n0 1")
    pane.set_padding("valid")
    pane.dil_h.setValue(4)
    assert pane.state.walk is None and "dilation" in pane.formula_label.text()
    pane.dil_h.setValue(1)
    pane.stride_w.setValue(9)
    assert pane.state.output_shape() == (3, 1)
    pane.grab()


def test_switching_mode_and_kernel_mid_play(qtbot, pane):
    x = np.arange(64.0).reshape(8, 8) % 7
    pane.set_matrix_text(format_matrix(x))
    pane.speed_spin.setValue(60)
    pane.play()
    qtbot.wait(60)
    for mode in ("max", "avg", "transpose", "conv", "transpose"):
        pane.set_mode(mode)
        qtbot.wait(40)
        assert pane.state.walk is not None, pane.state.error
        assert 0 <= pane.state.position < pane.state.n_steps
        assert pane.is_playing()
    pane.kernel_preset_combo.setCurrentIndex(pane.kernel_preset_combo.findData("laplacian"))
    pane.kernel_preset_combo.activated.emit(pane.kernel_preset_combo.currentIndex())
    assert pane.state.kernel.shape == (3, 3)
    qtbot.wait(40)
    pane.ctx.set_kernel(np.ones((3, 3)) / 9)
    pane.kernel_source_combo.setCurrentIndex(pane.kernel_source_combo.findData("playground"))
    np.testing.assert_allclose(pane.state.kernel, np.ones((3, 3)) / 9, rtol=1e-6)
    pane.ctx.set_kernel(np.eye(2))
    np.testing.assert_array_equal(pane.state.kernel, np.eye(2))
    qtbot.waitUntil(lambda: not pane.is_playing(), timeout=5000)  # stops at the end
    assert pane.state.at_end(), (pane.state.position, pane.state.n_steps, pane.state.mode)
    np.testing.assert_allclose(full_output(pane), conv2d_transpose(x, np.eye(2)))


def test_every_mode_matches_core_and_tensorflow(qtbot, pane, tf):
    tf_, keras = tf
    # convolution on an RGB crop: stride, same padding, dilation, bias and ReLU
    pane.set_source("crop_rgb")
    pane.set_crop(120, 200, 7, 9)
    x = pane.state.image.copy()
    assert x.shape == (7, 9, 3)
    pane.set_kernel_text("1 0 -1; 2 0 -2; 1 0 -1")
    pane.stride_h.setValue(2)
    pane.dil_w.setValue(2)
    pane.set_padding("same")
    pane.bias_spin.setValue(-20.0)
    pane.activation_combo.setCurrentIndex(pane.activation_combo.findData("relu"))
    k = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
    ours = full_output(pane)
    core = conv2d(x, k, stride=(2, 1), padding="same", dilation=(1, 2), bias=-20.0, activation="relu")
    np.testing.assert_allclose(ours, core)
    k4 = np.repeat(k[:, :, None, None], 3, axis=2)
    ref = tf_.nn.relu(
        tf_.nn.conv2d(x[None], k4, strides=[1, 2, 1, 1], padding="SAME", dilations=[1, 1, 2, 1]) - 20.0
    ).numpy()[0, :, :, 0]
    np.testing.assert_allclose(ours, ref, atol=1e-6 * max(1.0, np.abs(ref).max()))
    # per-channel kernel slices
    pane.set_kernel_text("1 0; 0 1 | 0 1; 1 0 | -1 -1; 1 1")
    pane.dil_w.setValue(1)
    slices = np.stack([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[-1, -1], [1, 1]]], axis=2).astype(float)
    ref = tf_.nn.relu(tf_.nn.conv2d(x[None], slices[..., None], [1, 2, 1, 1], "SAME") - 20.0)
    np.testing.assert_allclose(full_output(pane), ref.numpy()[0, :, :, 0], atol=1e-3)

    # pooling, per channel
    pane.set_padding("valid")
    pane.bias_spin.setValue(0.0)
    for mode, layer in (("max", keras.layers.MaxPooling2D), ("avg", keras.layers.AveragePooling2D)):
        pane.set_mode(mode)
        pane.ksize_h.setValue(3)  # pool 3×2, stride follows the pool size
        assert pane.state.settings.stride == (3, 2)
        ours = full_output(pane)
        np.testing.assert_allclose(ours, pool2d(x, (3, 2), op=mode))
        ref = layer(pool_size=(3, 2))(x[None].astype("float32")).numpy()[0]
        np.testing.assert_allclose(ours, ref, rtol=1e-5)
        pane.set_padding("same")
        ours = full_output(pane)
        ref = layer(pool_size=(3, 2), padding="same")(x[None].astype("float32")).numpy()[0]
        np.testing.assert_allclose(ours, ref, rtol=1e-5)
        pane.set_padding("valid")
        pane.ksize_h.setValue(2)
    pane.state.go_to(1)
    assert "max" not in pane.step_label.text()  # average pooling is shown as a division
    assert "/ 4" in pane.step_label.text()

    # transposed convolution on a typed matrix
    pane.set_mode("transpose")
    pane.set_source("typed")
    pane.set_matrix_text("1 2 -1; 0 3 1")
    pane.set_kernel_text("1 -1 0; 2 0 1; 0 1 1")
    pane.stride_h.setValue(2)
    pane.stride_w.setValue(2)
    pane.bias_spin.setValue(0.5)
    xt = np.array([[1, 2, -1], [0, 3, 1]], dtype=float)
    kt = np.array([[1, -1, 0], [2, 0, 1], [0, 1, 1]], dtype=float)
    for padding in ("valid", "same"):
        pane.set_padding(padding)
        ours = full_output(pane)
        np.testing.assert_allclose(ours, conv2d_transpose(xt, kt, 2, padding, bias=0.5, activation="relu"))
        layer = keras.layers.Conv2DTranspose(1, 3, strides=2, padding=padding, activation="relu")
        layer.build((1, 2, 3, 1))
        layer.set_weights([kt[:, :, None, None].astype("float32"), np.array([0.5], "float32")])
        ref = layer(xt[None, :, :, None].astype("float32")).numpy()[0, :, :, 0]
        np.testing.assert_allclose(ours, ref, atol=1e-5)
    # clicking an output cell jumps to the last input that lands there
    pane.state.go_to(0)
    view = pane.output_view()
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.cell_center(1, 2))
    assert pane.state.position == pane.state.step_for_output(1, 2)
    assert any(sorted(h.cells) == sorted(pane.state.inputs_of(1, 2)) for h in pane.input_view().highlights())


def test_export_gif_has_one_frame_per_step_and_png(qtbot, pane, tmp_path):
    pane.state.go_to(4)
    gif = tmp_path / "walk.gif"
    assert pane.export_gif(gif, show_progress=False) == 9
    with Image.open(gif) as im:
        assert im.n_frames == 9
        assert im.size[0] > 200
    assert pane.state.position == 4  # the view is put back
    png = tmp_path / "step.png"
    assert pane.export_png(png)
    with Image.open(png) as im:
        assert im.size == (pane.stage.width(), pane.stage.height())


def test_exporting_a_10000_step_walk_is_capped_and_responsive(qtbot, pane, tmp_path):
    pane.resize(700, 480)
    pane.set_source("crop_gray")
    pane.set_crop(100, 150, 100, 100)
    pane.set_kernel_text("0 1 0; 1 -4 1; 0 1 0")
    pane.set_padding("same")
    assert pane.state.n_steps == 10_000
    # a timer started before the export keeps firing during it: the event loop runs
    ticks_while_exporting = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks_while_exporting.append(pane._exporting))
    timer.start(20)
    frames = pane.export_gif(tmp_path / "big.gif")
    timer.stop()
    assert frames == 300
    assert sum(ticks_while_exporting) >= 3
    assert "10000 steps" in pane.last_export_message and "300" in pane.last_export_message
    with Image.open(tmp_path / "big.gif") as im:
        assert im.n_frames == 300

    # Cancel on the progress dialog is honoured mid-export: nothing is written
    clicked = []

    def click_cancel() -> None:
        shown_dialogs = [d for d in pane.findChildren(QProgressDialog) if d.isVisible()]
        if clicked or not shown_dialogs or shown_dialogs[0].value() < 10:
            return
        dialog = shown_dialogs[0]
        button = dialog.findChild(QPushButton)
        clicked.append(dialog.value())
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    watcher = QTimer()
    watcher.timeout.connect(click_cancel)
    watcher.start(20)
    keep = pane.state.position
    frames = pane.export_gif(tmp_path / "cancelled.gif")
    watcher.stop()
    assert clicked and clicked[0] < 300  # clicked mid-export
    assert frames == 0 and "cancelled" in pane.last_export_message
    assert not (tmp_path / "cancelled.gif").exists()
    assert pane.state.position == keep and not pane._exporting


def test_large_crop_steps_and_presentation(qtbot, pane):
    pane.set_source("crop_gray")
    pane.set_crop(0, 0, 256, 256)
    pane.set_padding("same")
    assert pane.state.n_steps == 256 * 256
    for n in range(1, 21):
        pane.step_forward()
        pane.repaint()
        assert pane.state.position == n and pane.step_counter.text() == f"Step {n + 1} of 65536"
    assert np.isfinite(shown(pane)).sum() == 21  # the output fills in cell by cell
    view = pane.input_view()
    assert view.cell_size() < 3  # colours only; numbers come back when zoomed in
    qtbot.wait(10)
    pane.ctx.set_presentation(True)
    pane.set_presentation_mode(True)
    assert pane.step_label.font().pointSizeF() > 16
    assert view._text_scale > 1
    pane.set_presentation_mode(False)
    assert pane.step_label.font().pointSizeF() < 16


@pytest.mark.parametrize("pad_mode, np_mode", [("replicate", "edge"), ("reflect", "reflect")])
def test_replicate_and_reflect_padding_rings(qtbot, pane, pad_mode, np_mode):
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]], dtype=float)
    k = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
    pane.set_matrix_text(format_matrix(x))
    pane.set_kernel_text(format_matrix(k))
    pane.set_padding("explicit", (2, 1, 1, 2))
    combo = pane.pad_mode_combo
    combo.setCurrentIndex(combo.findData(pad_mode))
    padded = np.pad(x, ((2, 1), (1, 2)), mode=np_mode)
    # the ring drawn around the input holds the mode's values
    np.testing.assert_array_equal(pane.input_view().values(), padded)
    assert pane.input_view().values()[0, 0] != 0  # not zeros
    assert "padded (" + combo.currentText() + ")" in pane.input_labels[0].text()
    expected = conv2d(x, k, padding=((2, 1), (1, 2)), pad_mode=pad_mode)
    np.testing.assert_array_equal(full_output(pane), expected)
    # hovering a ring cell says it is padding and shows its value
    view = pane.input_view()
    qtbot.mouseMove(view, view.cell_center(3, 2))
    qtbot.waitUntil(lambda: "Input cell (1, 1) = 6" in pane.hover_label.text(), timeout=2000)
    qtbot.mouseMove(view, view.cell_center(0, 0))
    qtbot.waitUntil(lambda: "Padding cell" in pane.hover_label.text(), timeout=2000)
    assert f"= {padded[0, 0]:g}" in pane.hover_label.text()
    # zeros again
    combo.setCurrentIndex(combo.findData("zero"))
    np.testing.assert_array_equal(pane.input_view().values(), np.pad(x, ((2, 1), (1, 2))))
    np.testing.assert_array_equal(full_output(pane), conv2d(x, k, padding=((2, 1), (1, 2))))


def _frames(path) -> list[np.ndarray]:
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB")))
        return out


def test_edits_during_a_gif_export_do_not_change_its_frames(qtbot, pane, tmp_path):
    pane.state.go_to(2)
    before = tmp_path / "before.gif"
    assert pane.export_gif(before, show_progress=False) == 9
    # the same export again, while the user changes the input, the stride, the mode and the step
    edits = []

    def edit() -> None:
        if not pane._exporting or edits:
            return
        edits.append(pane.state.position)
        pane.stride_h.setValue(2)
        pane.set_matrix_text("1 2 3\n4 5 6\n7 8 9")
        pane.set_mode("max")
        pane.step_forward()

    timer = QTimer()
    timer.timeout.connect(edit)
    timer.start(0)
    during = tmp_path / "during.gif"
    frames = pane.export_gif(during, show_progress=False)
    timer.stop()
    assert edits, "the edits did not happen while exporting"
    assert frames == 9  # the walk as it was when the export started
    first, second = _frames(before), _frames(during)
    assert len(first) == len(second) == 9
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # the edits themselves took effect on the pane
    assert pane.state.mode == "max" and pane.state.image.shape == (3, 3)
    assert pane.state.settings.stride == (2, 2) and pane.state.n_steps == 1


# -- several filters, UpSampling2D, Dropout and the pooling gradient, driven through the pane --


def test_notes_rgb_preset_shows_two_filters_side_by_side(qtbot, pane, tf):
    from cnnviz.state.stepper.choices import NOTES_BIASES, NOTES_FILTERS, NOTES_RGB_IMAGE

    _, keras = tf
    pane.set_source("notes_rgb")
    assert pane.source_combo.currentData() == "notes_rgb"
    kernels = [v for views in pane.stage.kernel_grid for v in views if v.isVisible()]
    assert len(kernels) == 6  # 3 channel slices × 2 filters
    outs = [v for v in pane.output_views if v.isVisible()]
    assert len(outs) == 2
    assert outs[0].mapTo(pane, outs[0].rect().topLeft()).x() < outs[1].mapTo(pane, outs[1].rect().topLeft()).x()
    assert pane.stage.output_labels[1].text() == "Filter 2 out 4×4"
    pane.step_forward()
    assert "→ out(0,1,1) = 15" in pane.step_label.text()
    layer = keras.layers.Conv2D(2, 3, activation="relu", dtype="float64")
    layer.build((None, 6, 6, 3))
    layer.set_weights([NOTES_FILTERS, np.array(NOTES_BIASES)])
    np.testing.assert_allclose(full_output(pane), np.asarray(layer(NOTES_RGB_IMAGE[None]))[0])
    assert pane.mode_box.biases_edit.isVisible() and pane.mode_box.biases_edit.text() == "-1, -4"
    pane.mode_box.biases_edit.setText("0, 0")
    pane.mode_box.biases_edit.editingFinished.emit()
    assert pane.state.settings.biases == (0.0, 0.0)


def test_typed_channels_and_filters_through_the_editors(qtbot, pane):
    pane.set_matrix_text("1 2 3; 4 5 6; 7 8 9 | 1 1 1; 1 1 1; 1 1 1")
    pane.set_kernel_text("1 0; 0 1 | 0 0; 0 0 || 0 0; 0 0 | 1 1; 1 1")
    assert len([v for v in pane.input_views if v.isVisible()]) == 2
    out = full_output(pane)
    np.testing.assert_array_equal(out[:, :, 0], [[6, 8], [12, 14]])
    np.testing.assert_array_equal(out[:, :, 1], 4)


def test_upsampling_mode_through_the_pane(qtbot, pane, tf):
    _, keras = tf
    pane.set_source("book")
    pane.set_mode("upsample")
    assert not pane.stride_h.isEnabled() and pane.kernel_box.ksize_label.text() == "Size factor"
    box = pane.mode_box
    assert box.interpolation_combo.isVisible() and not box.rate_spin.isVisible()
    box.interpolation_combo.setCurrentIndex(box.interpolation_combo.findData("bilinear"))
    assert pane.state.settings.interpolation == "bilinear"
    for _ in range(9):
        pane.step_forward()
    assert "0.5625·255 + 0.1875·185 + 0.1875·155 + 0.0625·144 = 216.2" in pane.step_label.text()
    marks = {m for h in pane.input_view().highlights() for m in h.marks.values()}
    assert {"×0.562", "×0.188", "×0.0625"} <= marks
    shown_now = shown(pane)
    assert abs(shown_now[1, 1] - 216.1875) < 1e-9 and np.isnan(shown_now[1, 2])
    theirs = np.asarray(keras.layers.UpSampling2D(2, interpolation="bilinear", dtype="float64")(BOOK_IMAGE[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_allclose(full_output(pane), theirs, atol=1e-4)
    pane.kernel_box.ksize_h.setValue(3)
    assert pane.state.output_shape() == (12, 8)


def test_dropout_mode_through_the_pane(qtbot, pane, tmp_path):
    pane.set_source("book")
    pane.set_mode("dropout")
    box = pane.mode_box
    assert box.rate_spin.isVisible() and box.training_check.isChecked()
    box.rate_spin.setValue(0.5)
    box.seed_spin.setValue(0)
    mask = pane.stage.kernel_views[0].values()
    np.testing.assert_array_equal(mask, pane.state.walk.mask.astype(float))
    out = full_output(pane)
    np.testing.assert_array_equal(out, np.where(mask == 1, BOOK_IMAGE * 2, 0))
    assert "Mean before 156.9" in pane.step_label.text()
    pane.reset()
    pane.step_forward()
    assert "mask 0 (dropped): out(0,1) = 0" in pane.step_label.text()
    box.training_check.setChecked(False)
    np.testing.assert_array_equal(full_output(pane), BOOK_IMAGE)
    assert pane.export_gif(tmp_path / "dropout.gif", show_progress=False) == 16


def test_pool_gradient_modes_through_the_pane(qtbot, pane, tf, tmp_path):
    tf_, keras = tf
    pane.set_source("book")
    pane.set_mode("max_grad")
    box = pane.mode_box
    assert box.upstream_edit.isVisible()
    box.set_upstream_text("1 -2; 0.5 4")
    assert "∂L/∂y(0,0) = 1 goes to the max 255 at in(0,0)" in pane.step_label.text()
    np.testing.assert_array_equal(shown(pane), [[1, 0, 0, 0]] + [[0] * 4] * 3)
    pane.step_forward()
    assert pane.output_view().highlights()[-1].cells == [(1, 3)]
    x = BOOK_IMAGE[None, :, :, None]
    g = np.array([[1, -2], [0.5, 4]])[None, :, :, None]
    for mode, cls in (("max_grad", keras.layers.MaxPooling2D), ("avg_grad", keras.layers.AveragePooling2D)):
        pane.set_mode(mode)
        xv = tf_.Variable(x)
        with tf_.GradientTape() as tape:
            loss = tf_.reduce_sum(cls(2, dtype="float64")(xv) * g)
        np.testing.assert_allclose(full_output(pane), tape.gradient(loss, xv).numpy()[0, :, :, 0])
    assert "÷ 4" in pane.step_label.text()
    assert pane.export_gif(tmp_path / "grad.gif", show_progress=False) == 4


def test_the_legend_under_the_grids_follows_the_chosen_mode(qtbot, pane):
    """Choosing UpSampling2D in the Mode box drops the padding swatch, the max winner and the
    "×k = kernel weight" key, none of which it draws; back to convolution, ×k returns."""
    combo = pane.mode_combo
    combo.setCurrentIndex(combo.findData("conv"))
    assert "×k = kernel weight" in pane.stage.legend_text()
    combo.setCurrentIndex(combo.findData("upsample"))
    qtbot.waitUntil(lambda: pane.state.mode == "upsample")
    text = pane.stage.legend_text()
    assert "output cell" in text
    for gone in ("padding", "max winner", "kernel weight"):
        assert gone not in text, text
    combo.setCurrentIndex(combo.findData("max"))
    assert "max winner" in pane.stage.legend_text() and "kernel weight" not in pane.stage.legend_text()
