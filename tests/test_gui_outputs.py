"""The Activations pane shows each kind of model output with its own view: class bars (with a
note on scenes of several objects), a mask over the input with Jaccard/Dice, a reconstruction
beside the input, paged values; flat-input and two-input models are fed the image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnviz import paths

LEFT = Qt.MouseButton.LeftButton
TIMEOUT = 60_000


def wait_idle(qtbot, pane) -> None:
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT)


def open_and_wait(qtbot, pane, path) -> None:
    pane.ctx.open_model(str(path))
    qtbot.waitUntil(lambda: pane.info is not None and pane.info.path.endswith(path.name), timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    qtbot.waitUntil(lambda: pane.result is not None and pane.result.prediction is not None, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """Tiny models of every kind, saved as files a user would open."""
    from cnnviz.ml.backend import keras as get_keras
    from cnnviz.ml.layers import EuclideanDistance

    keras = get_keras()
    L = keras.layers
    folder = tmp_path_factory.mktemp("kinds")
    models = {}
    inp = keras.Input((16, 16, 3))
    c1 = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    c2 = L.Conv2D(8, 3, padding="same", activation="relu")(L.MaxPooling2D()(c1))
    u1 = L.concatenate([L.Conv2DTranspose(4, 2, strides=2, padding="same")(c2), c1])
    models["unet"] = keras.Model(inp, L.Conv2D(3, 1, activation="softmax")(u1))
    inp = keras.Input((16, 16, 1))
    e = L.Conv2D(4, 3, padding="same", activation="relu", strides=2)(inp)
    d = L.Conv2DTranspose(4, 3, padding="same", activation="relu", strides=2)(e)
    models["autoencoder"] = keras.Model(inp, L.Conv2D(1, 3, padding="same", activation="sigmoid")(d))
    inp = keras.Input((784,))
    models["flat_autoencoder"] = keras.Model(inp, L.Dense(784, activation="sigmoid")(L.Dense(8)(inp)))
    inp = keras.Input((784,))
    r = L.Conv2D(4, 3, activation="relu")(L.Reshape((28, 28, 1))(inp))
    models["flat_cnn"] = keras.Model(inp, L.Dense(10, activation="softmax")(L.Flatten()(r)))
    inp = keras.Input((8, 8, 1))
    models["wide_values"] = keras.Model(inp, L.Dense(10_000, activation="tanh")(L.Flatten()(inp)))
    inp = keras.Input((16, 16, 1))
    models["regression"] = keras.Model(inp, L.Dense(1)(L.GlobalAveragePooling2D()(L.Conv2D(2, 3)(inp))))
    inp = keras.Input((785,))
    models["flat_785"] = keras.Model(inp, L.Dense(3, activation="softmax")(inp))
    base_in = keras.Input((12, 12, 1))
    base = keras.Model(base_in, L.Dense(8)(L.Flatten()(L.Conv2D(4, 3, activation="relu", name="bconv")(base_in))),
                       name="base")
    a_in, b_in = keras.Input((12, 12, 1), name="a"), keras.Input((12, 12, 1), name="b")
    models["siamese"] = keras.Model([a_in, b_in], EuclideanDistance(name="distance")([base(a_in), base(b_in)]))
    ins = [keras.Input((8, 8, 1)) for _ in range(3)]
    models["three"] = keras.Model(ins, L.Dense(1)(L.Concatenate()([L.Flatten()(i) for i in ins])))
    out = {}
    for name, m in models.items():
        out[name] = folder / f"{name}.keras"
        m.save(out[name])
    return out


@pytest.fixture
def pane(open_activations):
    return open_activations()


def test_a_classifier_keeps_its_bars_and_a_scene_of_shapes_gets_the_single_label_note(open_activations):
    p = open_activations("shapes", trust=None)
    assert p.info.output_kind == "classes"
    assert p.prediction_chart.isVisible() and not p.output_view.stack.isVisible()
    assert p.prediction_chart.labels()
    text = p.output_view.caption.text()
    assert p.output_view.caption.isVisible() and "single-label classifier" in text and "must pick one" in text
    # the bonus: each figure cropped and classified on its own
    objects = p.result.prediction.objects
    assert len(objects) == 4
    assert ("Each object cropped and classified on its own: circle 100% (top left), square" in text
            and "(top right), triangle" in text and "(bottom left), hexagon" in text and "(bottom right)." in text)
    p.ctx.set_presentation(True)  # on a projector: the note in brief, in full as its tooltip
    assert p.output_view.caption.text() == "4 objects, one label for all (each alone: hover)."
    assert p.output_view.caption.toolTip() == text
    p.ctx.set_presentation(False)
    assert p.output_view.caption.text() == text


def test_a_unet_shows_its_mask_with_legend_opacity_and_scores(pane, qtbot, model_files, tmp_path):
    open_and_wait(qtbot, pane, model_files["unet"])
    view = pane.output_view
    assert pane.info.output_kind == "mask" and view.kind == "mask"
    assert view.stack.isVisible() and not pane.prediction_chart.isVisible()
    assert view.mask_view.image_data().shape == (16, 16, 3)
    assert view.legend_label.text().count("%") == 3
    before = view.mask_view.image_data().copy()
    view.opacity_slider.setValue(0)
    assert np.array_equal(view.mask_view.image_data()[..., 0], pane.result.preview[..., 0])
    assert not np.array_equal(before, view.mask_view.image_data())
    # a true mask the user opens: its own predicted mask scores 1
    mask_path = tmp_path / "truth.png"
    cv2.imwrite(str(mask_path), view.state.mask_view().mask.astype(np.uint8))
    view.mask_file_prompt = lambda: str(mask_path)
    qtbot.mouseClick(view.truth_button, LEFT)
    assert "mean Jaccard 1.000, mean Dice 1.000" in view.caption.text()
    assert "J 1.00 · D 1.00" in view.legend_label.text()
    assert "2|A∩B|" in view.caption.toolTip()
    # wrong size and unknown values: said in words, nothing lost
    bad = tmp_path / "small.png"
    cv2.imwrite(str(bad), np.zeros((5, 7), np.uint8))
    view.mask_file_prompt = lambda: str(bad)
    qtbot.mouseClick(view.truth_button, LEFT)
    assert "The mask is 7×5 pixels, but it must be" in view.caption.text()
    assert "mean Jaccard 1.000" in view.caption.text()  # the previous true mask is kept
    odd = tmp_path / "odd.png"
    cv2.imwrite(str(odd), np.full((16, 16), 9, np.uint8))
    view.mask_file_prompt = lambda: str(odd)
    qtbot.mouseClick(view.truth_button, LEFT)
    assert "holds the values 9" in view.caption.text() and "3 classes" in view.caption.text()
    # a sample of the bundled segmentation data comes with its true mask
    qtbot.mouseClick(view.sample_button, LEFT)
    wait_idle(qtbot, pane)
    qtbot.waitUntil(lambda: "sample 1's true mask" in view.caption.text(), timeout=TIMEOUT)
    assert "mean Dice" in view.caption.text()


def test_an_autoencoder_shows_input_output_and_difference_on_one_scale(pane, qtbot, model_files):
    open_and_wait(qtbot, pane, model_files["autoencoder"])
    view = pane.output_view
    assert view.kind == "image" and view.stack.isVisible()
    shown = [v.image_data() for v in view.image_views]
    assert all(a.shape == (16, 16) for a in shown)
    assert len({v.levels() for v in view.image_views}) == 1
    assert np.allclose(shown[2], np.abs(shown[1] - shown[0]), atol=1e-6)
    assert "Mean squared error between input and output" in view.caption.text()
    assert not pane.gradcam_box.isEnabled() and not pane.gradcam_box.isVisible()
    # two inputs side by side: each says how well it is reconstructed (no class to name)
    pane.views.setCurrentIndex(2)
    pane.set_compare_input(str(paths.sample_image("digit_7")))
    wait_idle(qtbot, pane)
    qtbot.waitUntil(lambda: "reconstruction MSE" in pane.compare_labels[1].text(), timeout=TIMEOUT)
    assert "reconstruction MSE" in pane.compare_labels[0].text()


def test_a_flat_autoencoder_is_fed_the_image_and_its_output_drawn_as_one(pane, qtbot, model_files):
    open_and_wait(qtbot, pane, model_files["flat_autoencoder"])
    assert pane.info.spec == (28, 28, 1) and pane.info.flat_input == 784
    assert pane.output_view.kind == "image"
    assert pane.output_view.image_views[1].image_data().shape == (28, 28)


def test_a_flat_cnn_gets_maps_and_grad_cam_like_an_image_model(pane, qtbot, model_files):
    open_and_wait(qtbot, pane, model_files["flat_cnn"])
    assert pane.info.spec == (28, 28, 1) and "flattened to 784 values" in pane.info.feed_text
    assert "The model feeds the 28×28 image flattened to 784 values." in pane.input_label.text()
    assert pane.info.classifier and pane.output_view.kind == "classes"
    assert pane.grid.tile_count() > 0
    qtbot.waitUntil(lambda: pane.gradcam_view.heat_data() is not None, timeout=TIMEOUT)
    assert pane.gradcam_view.heat_data().shape == (28, 28)


def test_ten_thousand_values_are_paged(pane, qtbot, model_files):
    open_and_wait(qtbot, pane, model_files["wide_values"])
    view = pane.output_view
    assert view.kind == "values"
    assert view.values_chart.values().size == 40 and view.values_pager.isVisible()
    assert view.values_page_label.text() == "Values 1–40 of 10,000 (page 1 of 250)"
    qtbot.mouseClick(view.values_next, LEFT)
    assert view.values_page_label.text().startswith("Values 41–80")
    assert view.values_chart.labels()[0] == "40"
    ticks = view.values_chart.getAxis("bottom")._tickLevels[0]
    assert ticks[0] == (0, "40") and ticks[1] == (8, "48")  # the values' numbers, not page places


def test_a_regression_shows_its_number(pane, qtbot, model_files):
    open_and_wait(qtbot, pane, model_files["regression"])
    assert pane.output_view.kind == "values"
    assert "The model outputs one number" in pane.output_view.caption.text()
    assert not pane.output_view.stack.isVisible()  # no lone bar filling the panel


def test_a_flat_model_that_is_not_an_image_is_explained(pane, qtbot, model_files):
    pane.ctx.open_model(str(model_files["flat_785"]))
    qtbot.waitUntil(lambda: pane.info is not None and pane.info.name == "flat_785.keras", timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert pane.info.spec is None
    assert "vector of 785 numbers" in pane.grid.message() and "not a square" in pane.grid.message()
    assert not pane.output_view.stack.isVisible()


def test_two_image_inputs_feed_the_chosen_input_and_three_are_refused(pane, qtbot, model_files):
    open_and_wait(qtbot, pane, model_files["siamese"])
    assert pane.info.inputs == 2 and pane.info.spec == (12, 12, 1)
    assert pane.feed_box.isVisible() and pane.feed_combo.currentData() == "a"
    assert pane.other_combo.currentText() == "a blank (black) image"
    assert "The image goes to input A; the other input gets a blank (black) image." in pane.input_label.text()
    assert pane.grid.tile_count() > 0 and pane.output_view.kind == "values"
    first = pane.result.layer
    maps_a = pane.grid.maps().copy()
    distance_a = float(pane.result.prediction.output[0])
    pane.feed_combo.setCurrentIndex(1)  # input B gets the image, A the blank
    qtbot.waitUntil(lambda: pane.state.feed == "b", timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert pane.result.layer == first and not np.allclose(pane.grid.maps(), maps_a)
    pane.other_combo.setCurrentIndex(1)  # both get the image: the distance is 0
    wait_idle(qtbot, pane)
    qtbot.waitUntil(lambda: float(pane.result.prediction.output[0]) < 1e-2, timeout=TIMEOUT)
    assert distance_a > 1e-2
    pane.ctx.open_model(str(model_files["three"]))
    qtbot.waitUntil(lambda: pane.info.name == "three.keras", timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert pane.info.spec is None and "3 inputs" in pane.grid.message()
    assert not pane.feed_box.isVisible()
