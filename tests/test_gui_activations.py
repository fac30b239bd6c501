"""The activations pane, driven as a person uses it: open models (drop, menu path, demo), click
layers and maps, change the image, draw a digit, answer the trust question — and the bad files
and odd models it must survive. Results come from the real Keras worker; tests wait for them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cnnviz import paths
from cnnviz.state.activations import NOT_BUILT_TITLE

LEFT = Qt.MouseButton.LeftButton
FIXTURES = paths.resources_dir().parent / "tests" / "fixtures" / "models"
DEMO = paths.resources_dir() / "models"
TIMEOUT = 60_000


def wait_idle(qtbot, pane) -> None:
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT)


def open_and_wait(qtbot, pane, path) -> None:
    pane.ctx.open_model(str(path))
    wait_idle(qtbot, pane)


@pytest.fixture
def pane(open_activations):
    """The pane shown with the demo digits model open and its first result drawn."""
    return open_activations(trust=_refuse)  # a test that wants another answer sets its own


def _refuse(name, message, findings, hint) -> bool:
    return False


def click_layer(qtbot, pane, name: str) -> None:
    table = pane.layer_table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == name)
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())
    wait_idle(qtbot, pane)


def top_prediction(pane) -> str:
    pred = pane.result.prediction
    return pred.labels[int(np.argmax(pred.probabilities))]


def drop_file(window, path) -> None:
    """Drag a file from a file manager onto the window and drop it."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPoint(window.width() // 2, window.height() // 2)
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, action, mime, LEFT, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos.toPointF(), action, mime, LEFT, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)


# ---------------------------------------------------------------------------- the demo model


def test_first_open_shows_the_demo_digits_model_with_real_activations(pane):
    info = pane.info
    assert info.name == "digits_cnn.keras" and info.buildable
    assert pane.layer_table.rowCount() == 7
    assert [pane.layer_table.item(0, c).text() for c in range(4)] == ["conv2d", "Conv2D", "26×26×16", "160"]
    assert pane.grid.tile_count() == 16 and pane.grid.total() == 16
    maps = pane.grid.maps()
    assert maps.shape == (16, 26, 26) and maps.max() > 0
    # the book's digit 5 is read as a 5, and the probabilities are labelled
    assert top_prediction(pane) == "5"
    assert pane.prediction_chart.labels()[0] == "5"
    # Ten classes: the five likeliest and the rest summed, so every label can be read.
    labels, values = pane.prediction_chart.labels(), pane.prediction_chart.values()
    assert len(labels) == 6 and labels[-1] == "5 others"
    assert values.sum() == pytest.approx(1.0, abs=1e-4)
    assert pane.prediction_chart.height() / len(labels) >= 16  # a row is at least one text line high
    assert "Predicted <b>5</b>" in pane.prediction_label.text()
    # the digit is white on black like MNIST, so no inversion
    assert pane.state.scaling == "div255"
    assert pane.input_view.image_data().shape == (28, 28)
    # the most active map is enlarged and overlaid at the input's size
    assert pane.map_view.image_data().shape == (26, 26)
    assert pane.overlay_view.heat_data().shape == (28, 28)
    assert pane.model_combo.currentText() == "digits_cnn (demo)"


def test_clicking_layers_maps_and_pages(pane, qtbot):
    click_layer(qtbot, pane, "conv2d_1")
    assert pane.result.layer == "conv2d_1"
    assert pane.grid.total() == 32 and pane.grid.maps().shape == (32, 11, 11)
    assert "32 maps of 11×11" in pane.layer_label.text()
    # click one map: it is enlarged and laid over the input by receptive field
    qtbot.mouseClick(pane.grid, LEFT, pos=pane.grid.tile_center(3))
    wait_idle(qtbot, pane)
    assert pane.state.map_index == 3 and pane.grid.selected() == 3
    np.testing.assert_allclose(pane.map_view.image_data(), pane.grid.maps()[3])
    assert pane.overlay_view.heat_data().shape == (28, 28)
    # the overlay is placed, not stretched: conv2d_1's first cell is centred on input pixel 3.5
    heat = pane.overlay_view.heat_data()
    fmap = pane.grid.maps()[3]
    assert heat[3, 3] == pytest.approx(fmap[0, 0], abs=1e-5)
    # opacity slider
    pane.alpha_slider.setValue(20)
    assert pane.overlay_view.alpha() == pytest.approx(0.2)
    # a Dense layer is drawn as bars, the output with its class labels
    click_layer(qtbot, pane, "dense")
    assert pane.maps_stack.currentWidget() is pane.vector_chart
    assert pane.vector_chart.values().shape == (64,)
    click_layer(qtbot, pane, "dense_1")
    assert pane.vector_chart.labels() == [str(i) for i in range(10)]
    assert pane.vector_chart.values().sum() == pytest.approx(1.0, abs=1e-4)


def test_quick_layer_switches_show_the_last_one(pane, qtbot):
    table = pane.layer_table
    for name in ("conv2d_1", "max_pooling2d", "dense", "max_pooling2d_1"):
        row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == name)
        qtbot.mouseClick(table.viewport(), LEFT, pos=table.visualItemRect(table.item(row, 0)).center())
    wait_idle(qtbot, pane)
    assert pane.result.layer == "max_pooling2d_1"
    assert pane.grid.maps().shape == (32, 5, 5)


def test_normalisation_per_map_per_layer_and_global(pane, qtbot):
    grid = pane.grid
    assert len({grid.tile_levels(i) for i in range(grid.tile_count())}) > 1  # per map
    pane.norm_combo.setCurrentIndex(pane.norm_combo.findData("layer"))
    wait_idle(qtbot, pane)
    lo, hi = grid.tile_levels(0)
    assert all(grid.tile_levels(i) == (lo, hi) for i in range(grid.tile_count()))
    assert hi == pytest.approx(float(grid.maps().max()), rel=1e-5)
    pane.norm_combo.setCurrentIndex(pane.norm_combo.findData("global"))
    wait_idle(qtbot, pane)
    assert grid.tile_levels(0)[1] >= hi  # the Dense layers reach higher than the first conv


def test_changing_the_image_updates_the_prediction(pane, qtbot):
    pane.ctx.open_image(paths.sample_image("digit_7"))
    wait_idle(qtbot, pane)
    assert top_prediction(pane) == "7"
    # an RGB photo is turned gray and resized for a 28×28×1 model
    pane.ctx.open_image(paths.sample_image("cat"))
    wait_idle(qtbot, pane)
    assert pane.input_view.image_data().shape == (28, 28)
    assert "resized to 28×28" in pane.input_label.text() and "gray" in pane.input_label.text()


def test_a_bright_digit_is_inverted_by_default(pane, qtbot, tmp_path):
    import cv2

    dark_on_light = 255 - cv2.imread(str(paths.sample_image("digit_7")), cv2.IMREAD_GRAYSCALE)
    path = tmp_path / "scan.png"
    cv2.imwrite(str(path), dark_on_light)
    pane.ctx.open_image(path)
    wait_idle(qtbot, pane)
    assert pane.state.scaling == "div255_inverted"
    assert top_prediction(pane) == "7"


def test_drawing_a_digit_updates_the_prediction(pane, qtbot):
    pane.source_combo.setCurrentIndex(pane.source_combo.findData("canvas"))
    wait_idle(qtbot, pane)
    assert pane.canvas.isVisible()
    empty = pane.result.prediction.probabilities.copy()
    assert not pane.input_view.image_data().any()
    canvas = pane.canvas
    # a "1": one vertical stroke
    qtbot.mousePress(canvas, LEFT, pos=canvas.widget_pos(140, 40).toPoint())
    for y in range(60, 260, 20):
        qtbot.mouseMove(canvas, canvas.widget_pos(140, y).toPoint())
    qtbot.mouseRelease(canvas, LEFT, pos=canvas.widget_pos(140, 250).toPoint())
    wait_idle(qtbot, pane)
    assert pane.input_view.image_data().max() > 200
    probs = pane.result.prediction.probabilities
    assert not np.allclose(probs, empty)
    assert top_prediction(pane) == "1"
    qtbot.mouseClick(pane.clear_button, LEFT)
    wait_idle(qtbot, pane)
    assert not pane.input_view.image_data().any()


def test_compare_two_inputs_side_by_side(pane, qtbot):
    # Under the default per-map scaling the note does not claim a shared scale.
    assert pane.state.normalization == "map"
    assert "each map is scaled to its own range" in pane.compare_note.text()
    assert "share one scale" not in pane.compare_note.text()
    pane.norm_combo.setCurrentIndex(pane.norm_combo.findData("layer"))
    assert "both inputs share one scale for this layer" in pane.compare_note.text()
    pane.views.setCurrentIndex(2)
    wait_idle(qtbot, pane)
    assert pane.state.compare_with.endswith("digit_7.png")
    assert "predicted <b>5</b>" in pane.compare_labels[0].text()
    assert "predicted <b>7</b>" in pane.compare_labels[1].text()
    a, b = pane.compare_grids
    assert a.tile_count() == b.tile_count() == 16
    assert a.tile_levels(0) == b.tile_levels(0)  # one scale for both inputs


def test_filters_of_any_conv_layer_and_the_grad_cam(pane, qtbot):
    pane.views.setCurrentIndex(1)
    wait_idle(qtbot, pane)
    assert pane.filter_grid.tile_count() == 16 and pane.filter_grid.is_signed()
    pane.filter_layer_combo.setCurrentIndex(pane.filter_layer_combo.findData("conv2d_1"))
    wait_idle(qtbot, pane)
    assert pane.filter_channel_combo.count() == 16
    assert pane.filter_grid.total() == 32 and pane.filter_grid.maps().shape == (32, 3, 3)
    # Grad-CAM: the last conv layer found automatically, values 0…1 at the input's size
    heat = pane.gradcam_view.heat_data()
    assert heat.shape == (28, 28) and 0.5 < heat.max() <= 1.0 and heat.min() >= 0.0
    assert "conv2d_1" in pane.gradcam_label.text()
    pane.gradcam_layer_combo.setCurrentIndex(pane.gradcam_layer_combo.findData("conv2d"))
    wait_idle(qtbot, pane)
    assert pane.result.gradcam.layer == "conv2d"
    pane.class_combo.setCurrentIndex(pane.class_combo.findData(7))
    wait_idle(qtbot, pane)
    assert pane.result.gradcam.label == "7"


# ---------------------------------------------------------------------------- opening models


def test_drop_a_model_on_the_window_and_see_rgb_filters(window, pane, qtbot):
    window.ctx.open_image(paths.sample_image("shapes"))
    drop_file(window, DEMO / "shapes_cnn.keras")
    qtbot.waitUntil(lambda: pane.info.name == "shapes_cnn.keras", timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert window.current_pane() is pane
    assert pane.input_view.image_data().shape == (64, 64, 3)  # gray image → RGB model
    assert "resized to 64×64" in pane.input_label.text()
    assert top_prediction(pane) in ("circle", "square", "triangle", "hexagon")
    assert pane.gradcam_view.heat_data().shape == (64, 64)
    pane.views.setCurrentIndex(1)
    wait_idle(qtbot, pane)
    assert pane.filter_channel_combo.currentData() == -1  # first layer, 3 inputs: as RGB
    assert pane.filter_grid.tile_pixels(0).shape == (3, 3, 3)


def test_legacy_h5_opens_through_the_recent_list_path(pane, qtbot):
    open_and_wait(qtbot, pane, FIXTURES / "keras208_sequential_list.h5")
    assert pane.info.format == "h5-legacy" and pane.info.buildable
    assert pane.grid.tile_count() > 0
    assert "translated" in pane.message_label.text()
    assert str(FIXTURES / "keras208_sequential_list.h5") in [str(p) for p in pane.ctx.recent("models")]


def test_unsafe_lambda_file_is_refused_without_running_its_code(pane, qtbot):
    # The engine was started with this variable (tests/conftest.py): code run there writes it.
    marker = Path(os.environ["CNNVIZ_LAMBDA_MARKER"])
    marker.unlink(missing_ok=True)
    asked = []

    def answer_no(name, message, findings, hint):
        asked.append((name, findings))
        return False

    pane.trust_prompt = answer_no
    open_and_wait(qtbot, pane, FIXTURES / "lambda_layer.h5")
    assert asked and asked[0][0] == "lambda_layer.h5"
    assert any("Lambda" in f for f in asked[0][1])
    assert pane.info.name == "digits_cnn.keras"  # the previous model stays
    assert "refused" in pane.last_error and "previous model stays open" in pane.last_error
    assert not marker.exists()


def test_trusting_a_lambda_file_opens_it(pane, qtbot):
    pane.trust_prompt = lambda name, message, findings, hint: True
    open_and_wait(qtbot, pane, FIXTURES / "lambda_layer.h5")
    assert pane.info.name == "lambda_layer.h5" and pane.info.trusted
    assert "trusted" in pane.model_label.text()
    # Trusted code does run in the engine: the marker the refusal test relies on really works.
    qtbot.waitUntil(Path(os.environ["CNNVIZ_LAMBDA_MARKER"]).exists, timeout=60000)


def test_a_file_linking_to_other_files_is_refused_without_asking(pane, qtbot):
    asked = []
    pane.trust_prompt = lambda *a: asked.append(a) or True
    open_and_wait(qtbot, pane, FIXTURES / "external_link.h5")
    assert not asked
    assert "external link" in pane.last_error
    assert pane.info.name == "digits_cnn.keras"


@pytest.mark.parametrize("name, words", [
    ("truncated.h5", "damaged"),
    ("not_keras.h5", "not a Keras model"),
])
def test_damaged_or_foreign_files_give_a_message_and_keep_the_model(pane, qtbot, name, words):
    open_and_wait(qtbot, pane, FIXTURES / name)
    assert words in pane.last_error
    # said once, in full, in the message bar; the model column points there
    assert words in pane.message_bar.text() and "see the message above" in pane.message_label.text()
    assert pane.info.name == "digits_cnn.keras" and pane.grid.tile_count() == 16


@pytest.mark.parametrize("name, words", [
    ("weights_only.h5", "weights only"),
    ("custom_layer.h5", "AttentionPooling"),
])
def test_unbuildable_files_show_their_summary_and_stored_filters(pane, qtbot, name, words):
    open_and_wait(qtbot, pane, FIXTURES / name)
    assert pane.info.name == name and not pane.info.buildable
    assert pane.layer_table.rowCount() > 0
    assert words in pane.message_label.text()
    assert "no activations" in pane.grid.message() or "activations are not available" in pane.grid.message()
    assert pane.views.currentIndex() == 1  # the filters are what such a file has: shown at once
    wait_idle(qtbot, pane)
    assert pane.filter_grid.tile_count() > 0
    assert "could not be built into a runnable model" in pane.filter_label.text()
    assert pane.gradcam_view.title() == "No Grad-CAM" and pane.input_view.title() == NOT_BUILT_TITLE
    # why it could not be built, in words, and what is still there
    assert words in pane.grid.message() and "Still available" in pane.grid.message()


def test_a_weights_only_file_lists_layer_types_and_params_from_its_tensors(pane, qtbot):
    open_and_wait(qtbot, pane, FIXTURES / "weights_only.h5")
    rows = [[pane.layer_table.item(r, c).text() for c in (0, 1, 3)] for r in range(pane.layer_table.rowCount())]
    assert rows == [["conv2d_1", "Conv2D", "40"], ["dense_1", "Dense", "514"]]
    assert "inferred from the stored weights" in pane.layer_table.item(0, 1).toolTip()


@pytest.fixture(scope="module")
def three_inputs_file(tmp_path_factory):
    """A model with three 8×8 image inputs: more than the pane can feed."""
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    L = keras.layers
    ins = [keras.Input((8, 8, 1), name=f"in_{k}") for k in range(3)]
    model = keras.Model(ins, L.Dense(2)(L.Concatenate()([L.Flatten()(i) for i in ins])))
    path = tmp_path_factory.mktemp("three") / "three_inputs.keras"
    model.save(path)
    return path


def test_a_model_with_two_image_inputs_is_no_longer_refused(pane, qtbot):
    open_and_wait(qtbot, pane, FIXTURES / "two_inputs.keras")
    assert pane.info.inputs == 2 and pane.info.spec == (8, 8, 1)
    assert "2 inputs" not in pane.grid.message()


@pytest.mark.parametrize("name, words", [
    ("three_inputs.keras", "3 inputs"),
    ("dense_only.keras", "vector of 6 numbers"),
    ("tfkeras_lstm_time_major.h5", "sequence"),
])
def test_models_that_take_no_single_image_are_explained(pane, qtbot, name, words, request):
    # The digits demo's titles are up before the switch...
    views = (pane.input_view, pane.map_view, pane.overlay_view, pane.gradcam_view)
    assert pane.gradcam_view.title().startswith("“5”") and pane.map_view.title().startswith("Map #")
    path = request.getfixturevalue("three_inputs_file") if name == "three_inputs.keras" else FIXTURES / name
    open_and_wait(qtbot, pane, path)
    assert pane.info.name == name and pane.info.spec is None
    assert words in pane.grid.message() and words in pane.message_label.text()
    # ...and none of them, nor their pictures, is left describing the previous model.
    titles = [v.title() for v in views]
    assert not any(t.startswith(("Model input", "Map #", "“")) for t in titles), titles
    assert titles == ["No image input", "No feature map", "No overlay", "No Grad-CAM"]
    assert pane.map_view.image_data() is None and pane.gradcam_view.heat_data() is None
    assert pane.overlay_view.heat_data() is None
    assert "5" not in pane.gradcam_label.text() and pane.prediction_label.text() == ""
    assert pane.prediction_chart.labels() == []
    assert pane.layer_table.rowCount() >= 1
    assert pane.input_view.image_data() is None
    click_layer(qtbot, pane, pane.layer_table.item(0, 0).text())  # nothing to compute, no crash
    assert words in pane.grid.message()


def test_rgb_model_given_a_gray_image_with_another_fixed_size(pane, qtbot):
    open_and_wait(qtbot, pane, FIXTURES / "keras224_sequential_dict.h5")
    assert pane.info.spec == (16, 16, 3)
    assert pane.input_view.image_data().shape == (16, 16, 3)
    assert "resized to 16×16" in pane.input_label.text() and "RGB" in pane.input_label.text()
    assert pane.grid.tile_count() > 0
    # drawing is offered only for small inputs; this one is small
    assert pane.source_combo.model().item(1).isEnabled()


def test_a_huge_layer_is_paged(pane, qtbot, tmp_path):
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    inp = keras.Input((6, 6, 1))
    out = keras.layers.Conv2D(3000, 1, name="wide")(inp)
    model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(out))
    path = tmp_path / "wide.keras"
    model.save(path)
    open_and_wait(qtbot, pane, path)
    assert pane.result.layer == "wide"
    assert pane.grid.tile_count() == 64 and pane.grid.total() == 3000
    assert pane.next_button.isVisible() and "page 1/47" in pane.page_label.text()
    qtbot.mouseClick(pane.next_button, LEFT)
    wait_idle(qtbot, pane)
    assert pane.grid.first_index() == 64 and "page 2/47" in pane.page_label.text()
    assert pane.grid.maps().shape == (64, 6, 6)


def test_a_model_handed_over_by_training_is_inspected(pane, qtbot):
    from cnnviz.engine import testing as testjobs

    ids = []  # the model is built and kept in the engine, as a training run's is
    pane.ctx.worker.submit(testjobs.store_small_classifier, channel="test", on_done=ids.append)
    qtbot.waitUntil(lambda: bool(ids), timeout=TIMEOUT)
    model_id = ids[0]
    pane.ctx.offer_model(model_id, "just trained")
    qtbot.waitUntil(lambda: pane.info.name == "just trained", timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert pane.result.layer == "c" and pane.grid.tile_count() == 4
    assert pane.result.prediction.probabilities.shape == (3,)


def test_screenshot_of_an_unsafe_model_refuses_it_without_asking(tmp_path):
    """With --screenshot nobody can answer the trust question: the file is refused at once (no
    dialog waiting forever) and the message says why."""
    import os
    import subprocess
    import sys

    import cv2

    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHONPATH=str(paths.resources_dir().parent))
    proc = subprocess.run(
        [sys.executable, "-m", "cnnviz", "--screenshot", str(out), "--pane", "activations",
         "--model", str(FIXTURES / "lambda_layer.h5")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert cv2.imread(str(out)) is not None
    assert not (tmp_path / "lambda_ran").exists()


def test_while_a_screenshot_is_taken_an_unsafe_file_is_refused_with_the_reason(pane, qtbot):
    asked = []
    pane.trust_prompt = lambda *a: asked.append(a) or True
    pane.prepare_screenshot()
    open_and_wait(qtbot, pane, FIXTURES / "lambda_layer.h5")
    assert asked == []  # nobody is there to answer
    assert "Not opened: 'lambda_layer.h5' contains" in pane.last_error
    assert "while a screenshot is taken" in pane.message_bar.text()
    assert "see the message above" in pane.message_label.text()
    assert pane.info.name == "digits_cnn.keras"


def test_the_demo_model_opened_first_suits_the_image(window, qtbot):
    """On the default shapes scene the shapes classifier opens (a digits model would only guess);
    on a bundled digit the digits CNN opens."""
    from cnnviz.core import images
    from cnnviz.gui.panes.activations import choose_demo, looks_like_a_digit

    demos = [paths.resource("models", "digits_cnn.keras"), paths.resource("models", "shapes_cnn.keras")]
    digit = images.load_image(paths.sample_image("digit_7"))
    scene = images.load_image(paths.sample_image("shapes"))
    photo = images.load_image(paths.sample_image("cat"))
    assert looks_like_a_digit(digit) and not looks_like_a_digit(scene) and not looks_like_a_digit(photo)
    assert choose_demo(digit, demos).stem == "digits_cnn"
    assert choose_demo(scene, demos).stem == "shapes_cnn"
    assert choose_demo(photo, demos).stem == "shapes_cnn"
    assert choose_demo(scene, []) is None

    window.show_pane("activations")  # the window fixture opened the shapes scene
    pane = window.panes["activations"]
    pane.trust_prompt = _refuse
    qtbot.waitUntil(lambda: pane.info is not None and pane.result is not None, timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert pane.info.name == "shapes_cnn.keras"
    assert top_prediction(pane) in ("circle", "square", "triangle", "hexagon")


# ---------------------------------------------------------------------------- a new model, a bad file


def test_opening_a_model_resets_every_view_of_the_previous_one(pane, qtbot):
    assert pane.gradcam_view.title().startswith("“5”")
    open_and_wait(qtbot, pane, FIXTURES / "image_to_image.keras")
    assert pane.info.name == "image_to_image.keras" and not pane.info.classifier
    # the disabled Grad-CAM panel no longer describes the digits model
    assert not pane.gradcam_box.isEnabled()
    assert pane.gradcam_view.title() == "No Grad-CAM" and "5" not in pane.gradcam_view.title()
    assert pane.gradcam_view.heat_data() is None
    # zoom into the map on the input, then open a model with the same input size again
    qtbot.waitUntil(lambda: pane.overlay_view.heat_data() is not None, timeout=TIMEOUT)
    pane.overlay_view.view_box.setRange(xRange=(0, 6), yRange=(0, 6), padding=0)
    pane.map_view.view_box.setRange(xRange=(0, 6), yRange=(0, 6), padding=0)
    old_id = pane.info.model_id
    open_and_wait(qtbot, pane, FIXTURES / "image_to_image.keras")
    assert pane.info.model_id != old_id
    qtbot.waitUntil(lambda: pane.overlay_view.heat_data() is not None, timeout=TIMEOUT)
    for view in (pane.overlay_view, pane.map_view):
        h, w = view.image_shape()
        (x0, x1), (y0, y1) = view.view_box.viewRange()
        assert x0 <= 0.5 and y0 <= 0.5 and x1 >= w - 0.5 and y1 >= h - 0.5, (view.title(), view.view_box.viewRange())
    assert pane.state.map_index in (None, 0) or pane.state.map_index < pane.result.total


def test_a_lambda_saved_by_another_python_is_explained_after_trusting(pane, qtbot):
    pane.trust_prompt = lambda name, message, findings, hint: True
    open_and_wait(qtbot, pane, FIXTURES / "lambda_foreign_python.h5")
    assert pane.info.name == "lambda_foreign_python.h5" and not pane.info.buildable
    message = pane.grid.message()
    assert "cannot be read by this Python" in message and "Keras 2.2.4" in message
    assert "weights and filters are shown instead" in message
    assert "EOF read" not in message and "marshal" not in message
    assert pane.input_view.title() == NOT_BUILT_TITLE
    wait_idle(qtbot, pane)
    assert pane.filter_grid.tile_count() > 0 and pane.layer_table.rowCount() >= 3


def test_the_trust_dialog_shows_the_lambda_code_and_speaks_the_apps_words(pane, qtbot):
    from PySide6.QtCore import QTimer

    pane.trust_prompt = pane._ask_trust
    seen = {}

    def answer():
        box = pane.trust_box
        if box is None or not box.isVisible():
            QTimer.singleShot(50, answer)
            return
        seen["text"] = box.informativeText()
        seen["details"] = box.detailedText()
        seen["buttons"] = [b.text() for b in box.buttons()]
        seen["dialog"] = box.objectName()
        no = next(b for b in box.buttons() if b.text() == "Don't open")
        qtbot.mouseClick(no, LEFT)

    QTimer.singleShot(50, answer)
    open_and_wait(qtbot, pane, FIXTURES / "lambda_layer.h5")
    assert "Trust and open" in seen["buttons"]
    assert "Trust and open" in seen["text"] and "load_model" not in seen["text"]
    assert "Trust this file" not in seen["text"]
    details = seen["details"]
    assert "Lambda layer 'lambda_1'" in details and "LOAD_CONST" in details
    assert details not in seen["text"]  # the details say more than the question
    assert seen["dialog"] == "trustDialog"  # the dialog every pane asks with
    assert pane.trust_box is None  # answered: no dialog is held
    assert pane.info.name == "digits_cnn.keras"
    assert "refused" in pane.message_bar.text()


def test_errors_appear_in_the_pane_message_bar_in_words(pane, qtbot, tmp_path):
    text_png = tmp_path / "notes.png"
    text_png.write_text("this is not an image, just text\n")
    text_h5 = tmp_path / "notes.h5"
    text_h5.write_text("this is not a model, just text\n")
    assert not pane.message_bar.text()
    # an image that is not one
    assert not pane.ctx.open_image(text_png)
    bar = pane.message_bar.text()
    assert "notes.png" in bar and "b'" not in bar and 'b"' not in bar and "this is" in bar
    assert pane.message_bar.isVisible()
    qtbot.mouseClick(pane.message_bar.close_button, LEFT)
    assert not pane.message_bar.isVisible()
    # a model that is not one
    open_and_wait(qtbot, pane, text_h5)
    assert "damaged" in pane.message_bar.text() and pane.info.name == "digits_cnn.keras"
    # the same text file as the second input
    pane.views.setCurrentIndex(2)
    assert not pane.set_compare_input(str(text_png))
    bar = pane.message_bar.text()
    assert "notes.png" in bar and "b'" not in bar
    assert "b'" not in pane.message_label.text()
    # a model that opens clears what was said about the last file
    open_and_wait(qtbot, pane, DEMO / "shapes_cnn.keras")
    assert not pane.message_bar.text()


def test_the_layer_table_shows_whole_numbers_and_types_and_cuts_long_names_in_the_middle(pane, qtbot):
    open_and_wait(qtbot, pane, FIXTURES / "tfkeras26_nested.h5")
    table = pane.layer_table
    table.parentWidget().resize(330, table.parentWidget().height())
    QApplication.processEvents()
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
    metrics = table.fontMetrics()
    for r in range(table.rowCount()):
        for c in (1, 2, 3):
            item = table.item(r, c)
            assert item.text() in item.toolTip()
            if item.text() and c != 1:  # shape and params fit their column whole
                assert metrics.horizontalAdvance(item.text()) <= table.columnWidth(c), (r, c, item.text())
        # a type is whole, or cut in the middle in a column wide enough to read it
        assert table.columnWidth(1) >= min(100, metrics.horizontalAdvance(table.item(r, 1).text()))
        assert table.item(r, 0).text() in table.item(r, 0).toolTip()
    assert table.columnWidth(0) >= 60  # the names keep room to be read
    # every column stays on screen: nothing is pushed past the table's right edge
    width = sum(table.columnWidth(c) for c in range(4))
    assert width <= table.viewport().width() + 2


def test_a_second_input_above_the_size_limit_is_offered_downscaled(pane, qtbot, tmp_path, monkeypatch):
    import cv2

    from cnnviz.core import images
    from cnnviz.gui.panes.activations import compare_page

    monkeypatch.setattr(images, "MAX_PIXELS", images.MAX_PIXELS)  # process-wide: put back after
    yy, xx = np.mgrid[0:1200, 0:1600]
    photo = tmp_path / "big photo.jpg"
    cv2.imwrite(str(photo), np.stack([xx * 255 // 1600, yy * 255 // 1200, (xx ^ yy) & 255], axis=2).astype(np.uint8))
    pane.ctx.set_max_image_megapixels(0.4)
    tabs = pane.views.tabBar()
    qtbot.mouseClick(tabs, LEFT, pos=tabs.tabRect(2).center())
    assert pane.views.currentIndex() == 2
    qtbot.waitUntil(lambda: pane.state.compare_with is not None, timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    before = (pane.state.compare_with, pane.state.compare_image)
    monkeypatch.setattr(compare_page.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(photo), "")))
    combo = pane.compare_combo
    combo.setCurrentIndex(combo.findData(compare_page.OPEN_FILE))  # "Another file…", pick the photo

    bar = pane.message_bar
    assert bar.isVisible() and "big photo.jpg" in bar.text() and "Open it downscaled" in bar.text()
    assert "File → Image size limit…" in bar.text()
    assert pane.state.compare_with == before[0] and pane.state.compare_image is before[1]  # nothing is lost
    assert combo.currentData() == before[0]  # the list shows the second input still used
    button = bar.action_button()
    assert button is not None and button.text() == "Open downscaled" and button.isVisible()

    qtbot.mouseClick(button, LEFT)
    assert pane.state.compare_image.shape == (300, 400, 3)  # 1/2 would be 800×600 = 0.48 MP
    assert pane.state.compare_with == str(photo)
    assert pane.state.compare_name == "big photo.jpg (decoded at 1/4)"
    assert combo.currentText() == "big photo.jpg" and not bar.isVisible()
    qtbot.waitUntil(lambda: pane.compare_views[1].title() == "big photo.jpg (decoded at 1/4)", timeout=TIMEOUT)
    assert "big photo.jpg (decoded at 1/4)" in pane.compare_labels[1].text()
