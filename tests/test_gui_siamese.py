"""The Siamese pane driven as a person uses it: pick a same pair and a different pair, set the
threshold and the margins, draw an input, compute a triplet loss, read the embedding map; models
that are not siamese and bad numbers are refused in words. Results come from the real engine."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from cnnviz.gui.panes import PANES, pane_names
from cnnviz.state.siamese import BLANK_CANVAS, InputChoice

TIMEOUT = 60_000
LEFT = Qt.MouseButton.LeftButton


def wait_idle(qtbot, pane) -> None:
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT)


@pytest.fixture
def pane(window, qtbot):
    window.show_pane("siamese")
    p = window.panes["siamese"]
    qtbot.waitUntil(lambda: p.info is not None and p.pair_result is not None, timeout=TIMEOUT)
    wait_idle(qtbot, p)
    return p


def choose_digit(qtbot, picker, digit: int, index: int) -> None:
    picker.kind_combo.setCurrentIndex(picker.kind_combo.findData("digit"))
    picker.digit_spin.setValue(digit)
    picker.index_spin.setValue(index)


def test_the_pane_is_a_tab_after_training():
    names = pane_names()
    assert names.index("siamese") == names.index("training") + 1
    spec = PANES[names.index("siamese")]
    assert spec.title == "Siamese" and spec.load().title == "Siamese"


def test_a_same_pair_and_a_different_pair(pane, qtbot):
    assert pane.info.name == "siamese_digits.keras" and pane.info.embedding_size == 128
    a, b = pane.pickers
    choose_digit(qtbot, a, 4, 0)
    choose_digit(qtbot, b, 4, 7)
    wait_idle(qtbot, pane)
    same = pane.distance()
    assert "SAME — right" in pane.distance_label.text()
    assert "y = 1" in pane.contrastive_label.text()
    choose_digit(qtbot, b, 1, 7)
    wait_idle(qtbot, pane)
    different = pane.distance()
    assert different > same
    assert "DIFFERENT — right" in pane.distance_label.text()
    assert "y = 0" in pane.contrastive_label.text()
    assert f"max(1 − {different:.3f}".rstrip("0") in pane.contrastive_label.text().replace("0,", ",")
    # the random buttons choose a pair of one class, then of two classes
    qtbot.mouseClick(pane.same_button, LEFT)
    wait_idle(qtbot, pane)
    assert a.digit_spin.value() == b.digit_spin.value() and a.index_spin.value() != b.index_spin.value()
    qtbot.mouseClick(pane.different_button, LEFT)
    wait_idle(qtbot, pane)
    assert a.digit_spin.value() != b.digit_spin.value()
    # the threshold slider moves the verdict
    pane.set_pair(InputChoice("digit", 4, 0), InputChoice("digit", 1, 7))
    wait_idle(qtbot, pane)
    d = pane.distance()
    pane.threshold_slider.setValue(int(d * 100) + 20)  # above the distance: called the same
    assert "SAME — wrong" in pane.distance_label.text()
    assert pane.threshold_edit.text() == f"{(int(d * 100) + 20) / 100:g}"
    pane.threshold_slider.setValue(0)
    assert "DIFFERENT — right" in pane.distance_label.text()


def test_bad_numbers_and_a_blank_drawing_say_why_and_a_drawing_is_fed(pane, qtbot):
    before = pane.contrastive_label.text()
    for text, words in (("-1", "cannot be negative"), ("nan", "ordinary number"), ("abc", "must be a number")):
        for name in ("margin", "threshold", "alpha"):
            assert not pane.set_number(name, text)
            assert words in pane.number_error.text() and pane.number_error.isVisible()
    assert (pane.settings.margin, pane.settings.threshold, pane.settings.alpha) == (1.0, 0.5, 0.2)
    assert pane.contrastive_label.text() == before
    assert pane.set_number("margin", "2")
    assert not pane.number_error.isVisible() and "m = 2" in pane.contrastive_label.text()
    # a blank drawing is not fed; a drawn one is
    a, b = pane.pickers
    b.kind_combo.setCurrentIndex(b.kind_combo.findData("canvas"))
    wait_idle(qtbot, pane)
    assert pane.distance_label.text() == BLANK_CANVAS and pane.pair_result is None
    c = pane.canvas
    r = c.canvas_rect()
    c.set_image(np.zeros((28, 28), np.uint8))
    qtbot.mousePress(c, LEFT, pos=QPoint(int(r.center().x()), int(r.top() + r.height() * 0.2)))
    for i in range(1, 9):
        qtbot.mouseMove(c, QPoint(int(r.center().x()), int(r.top() + r.height() * (0.2 + 0.07 * i))))
    qtbot.mouseRelease(c, LEFT, pos=QPoint(int(r.center().x()), int(r.top() + r.height() * 0.8)))
    wait_idle(qtbot, pane)
    assert pane.pair_result is not None and "threshold" in pane.distance_label.text()
    assert pane.y_combo.isEnabled()  # the truth is unknown: the student sets y
    # the current image as input A: a photo of the digit 7 against a bundled 7 and a bundled 1
    from cnnviz import paths

    pane.ctx.open_image(paths.sample_image("digit_7"))
    a.kind_combo.setCurrentIndex(a.kind_combo.findData("image"))
    choose_digit(qtbot, b, 7, 0)
    wait_idle(qtbot, pane)
    to_seven = pane.distance()
    assert not a.digit_spin.isEnabled() and a.thumb.pixmap() is not None and not a.thumb.pixmap().isNull()
    choose_digit(qtbot, b, 1, 0)
    wait_idle(qtbot, pane)
    assert pane.distance() > to_seven
    # the same 7 dark on light (a scanned page) is flipped to MNIST's white on black
    pane.ctx.set_image(255 - pane.ctx.image)
    choose_digit(qtbot, b, 7, 0)
    wait_idle(qtbot, pane)
    assert pane.distance() == pytest.approx(to_seven, abs=1e-4)


def test_the_triplet_calculator_and_the_embedding_map(pane, qtbot):
    pane.tabs.setCurrentIndex(2)
    pane.set_triplet(InputChoice("digit", 7, 0), InputChoice("digit", 7, 3), InputChoice("digit", 1, 0))
    wait_idle(qtbot, pane)
    d_ap, d_an = (float(x) for x in pane.triplet_result.distances)
    assert d_ap < d_an
    text = pane.triplet_label.text()
    assert "L = max(d(a,p) − d(a,n) + α, 0)" in text and "α = 0.2" in text
    assert pane.set_number("alpha", "3")
    assert f"= {max(d_ap - d_an + 3, 0):.4f}".rstrip("0") in pane.triplet_label.text()
    # the embedding map has ten classes and marks the pair
    pane.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: pane.map is not None, timeout=TIMEOUT)
    plot = pane.embedding_plot
    assert plot.classes_drawn() == 10
    assert len(plot.legend.items) == 10
    qtbot.waitUntil(lambda: len(plot.marks.data) == 2, timeout=TIMEOUT)
    assert [t.toPlainText() for t in plot.mark_labels] == ["A", "B"]
    assert "PCA" in pane.map_label.text()


def test_models_that_are_not_siamese_are_refused(pane, qtbot, tmp_path):
    from cnnviz import paths

    pane.open_model(paths.resources_dir() / "models" / "digits_cnn.keras")
    wait_idle(qtbot, pane)
    assert "not a siamese model: it has one input" in pane.last_error
    assert pane.info.name == "siamese_digits.keras"  # the siamese model stays


def test_a_siamese_model_handed_over_from_training_is_taken(pane, qtbot):
    from cnnviz import paths
    from cnnviz.ml.inspect import LoadRequest, load_job
    from cnnviz.ml.siamese import open_job

    answers = []
    models = paths.resources_dir() / "models"
    for name, job in (("siamese_digits.keras", open_job), ("digits_cnn.keras", load_job)):
        pane.ctx.worker.submit(job, LoadRequest(str(models / name)), channel=f"test.{name}",
                               on_done=answers.append, on_error=answers.append)
    qtbot.waitUntil(lambda: len(answers) == 2, timeout=TIMEOUT)
    siamese_id = next(a.model_id for a in answers if getattr(a, "embedding_size", None))
    before = pane.info.model_id
    pane.ctx.offer_model(siamese_id, "siamese_mnist (run-1)", None)
    qtbot.waitUntil(lambda: pane.info.model_id == siamese_id, timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert before != siamese_id and pane.info.name == "siamese_mnist (run-1)"
    assert pane.model_label.text().startswith("siamese_mnist (run-1)") and pane.pair_result is not None
    # a classifier handed over is for the Activations pane: nothing changes here, no error
    other_id = next(a.model_id for a in answers if a.model_id != siamese_id)
    pane.ctx.offer_model(other_id, "mnist_fast (run-2)", None)
    qtbot.wait(200)
    wait_idle(qtbot, pane)
    assert pane.info.model_id == siamese_id and pane.last_error == ""


def test_the_panes_session_part_round_trips_and_a_bad_one_changes_nothing(pane, qtbot):
    from cnnviz.state.session import SessionError

    d = pane.to_session()
    assert d["model"] == "resources:models/siamese_digits.keras"
    d.update(margin=2.0, threshold=1.25, pair=[{"kind": "digit", "digit": 2, "index": 3},
                                               {"kind": "digit", "digit": 2, "index": 9}])
    pane.apply_session(d)
    wait_idle(qtbot, pane)
    a, b = pane.pickers
    assert (a.digit_spin.value(), a.index_spin.value(), b.index_spin.value()) == (2, 3, 9)
    assert pane.threshold_slider.value() == 125 and pane.margin_edit.text() == "2"
    assert "threshold 1.25" in pane.distance_label.text() and "m = 2" in pane.contrastive_label.text()
    assert pane.to_session() == d
    with pytest.raises(SessionError, match="margin"):
        pane.apply_session({**d, "margin": -3})
    assert pane.to_session() == d


@pytest.mark.own_engine
def test_a_crash_while_mapping_is_said_and_the_pane_recovers(qtbot, settings, monkeypatch):
    """TensorFlow dies (a real SIGKILL of the engine) while computing the embedding map: the pane
    says so in words, the engine restarts, the model is reopened from its file for the next
    pair, and the map is not retried by itself (it would crash again)."""
    from cnnviz import paths
    from cnnviz.engine.faults import CRASH_ON
    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import AppContext

    monkeypatch.setenv(CRASH_ON, "siamese.embedding")
    ctx = AppContext(settings)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    ctx.open_image(paths.default_sample_image())
    window.show()
    crashes, restarts = [], []
    ctx.worker.crashed.connect(lambda text, channels: crashes.append(text))
    ctx.worker.restarted.connect(lambda: restarts.append(1))
    try:
        window.show_pane("siamese")
        pane = window.panes["siamese"]
        qtbot.waitUntil(lambda: bool(restarts), timeout=90_000)
        assert "TensorFlow crashed while computing the embedding map" in crashes[0]
        assert "computing the embedding map" in pane.last_error
        qtbot.waitUntil(lambda: "crashed while computing the embedding map" in pane.map_label.text(),
                        timeout=TIMEOUT)
        # the next pair is computed in the new engine, the model reopened from its file
        pane.set_pair(InputChoice("digit", 5, 0), InputChoice("digit", 5, 2))
        qtbot.waitUntil(lambda: pane.pair_result is not None and "SAME" in pane.distance_label.text()
                        and not pane.is_busy(), timeout=90_000)
        qtbot.wait(300)
        assert len(crashes) == 1 and pane.map is None
    finally:
        window.close()
        assert ctx.shutdown(timeout=10.0, kill_after=5.0), "the engine did not end"


_TWINS_WITH_CODE = """
import sys
from cnnviz.ml import backend
keras = backend.keras()
from cnnviz.ml.layers import EuclideanDistance
base = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                         keras.layers.Lambda(lambda x: x * 2.0, name="doubled"),
                         keras.layers.Dense(4)], name="base")
a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
model = keras.Model([a, b], EuclideanDistance(name="distance")([base(a), base(b)]))
model.save(sys.argv[1])
"""


@pytest.fixture(scope="module")
def twins_with_code(tmp_path_factory):
    """A tiny siamese model whose shared base holds a Lambda (code), saved by another Python
    process so this one never imports TensorFlow."""
    import os
    import subprocess
    import sys

    from cnnviz import paths

    path = tmp_path_factory.mktemp("siamese") / "twins_with_code.keras"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(paths.resources_dir().parent))
    proc = subprocess.run([sys.executable, "-c", _TWINS_WITH_CODE, str(path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return path


def _answer_trust_dialog(qtbot, pane, button_text: str, seen: dict) -> None:
    """Wait for the trust dialog, read it, and click ``button_text`` — as a person does."""
    from PySide6.QtCore import QTimer

    def answer():
        box = pane.trust_box
        if box is None or not box.isVisible():
            QTimer.singleShot(50, answer)
            return
        seen["title"] = box.windowTitle()
        seen["text"] = box.text() + " " + box.informativeText()
        seen["details"] = box.detailedText()
        seen["buttons"] = [b.text() for b in box.buttons()]
        qtbot.mouseClick(next(b for b in box.buttons() if b.text() == button_text), LEFT)

    QTimer.singleShot(50, answer)


def test_a_siamese_model_with_code_opens_only_when_trusted(pane, qtbot, twins_with_code):
    assert pane.info.name == "siamese_digits.keras"
    # declined: refused in words, the open model stays
    seen: dict = {}
    _answer_trust_dialog(qtbot, pane, "Don't open", seen)
    pane.open_model(twins_with_code)
    qtbot.waitUntil(lambda: "Not opened" in pane.last_error, timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert seen["title"] == "Do you trust this file?"
    assert "twins_with_code.keras" in seen["text"] and "Lambda" in seen["text"]
    assert {"Trust and open", "Don't open"} <= set(seen["buttons"])
    assert "'doubled'" in seen["details"]  # the Lambda's code, as text
    assert pane.info.name == "siamese_digits.keras"
    assert "Not opened: 'twins_with_code.keras' was refused because it contains" in pane.last_error
    assert "The open siamese model stays." in pane.message_bar.text()
    assert pane.model_label.text().startswith("siamese_digits.keras")  # not "Opening …"
    # the message is a line across the top of the pane, not a column beside the controls
    bar = pane.message_bar.geometry()
    assert bar.width() > pane.width() * 0.9 and bar.height() < pane.height() / 8
    assert pane.trust_box is None

    # trusted: it opens, and says it was trusted
    seen = {}
    _answer_trust_dialog(qtbot, pane, "Trust and open", seen)
    pane.open_model(twins_with_code)
    qtbot.waitUntil(lambda: pane.info.name == "twins_with_code.keras", timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert "Trust and open" in seen["buttons"]
    assert pane.info.input_shape == (8, 8, 1) and pane.info.embedding_size == 4
    assert "trusted" in pane.model_label.text()
    assert pane.last_error == "" and not pane.message_bar.text()


def test_while_a_screenshot_is_taken_a_siamese_model_with_code_is_refused(pane, qtbot,
                                                                         twins_with_code):
    asked = []
    pane.trust_prompt = lambda out: asked.append(out) or True
    pane.prepare_screenshot()
    pane.open_model(twins_with_code)
    qtbot.waitUntil(lambda: "Not opened" in pane.last_error, timeout=TIMEOUT)
    wait_idle(qtbot, pane)
    assert asked == []  # nobody is there to answer
    assert "while a screenshot is taken" in pane.message_bar.text()
    assert pane.info.name == "siamese_digits.keras"


def test_on_a_projector_the_number_lines_read_from_the_back_and_the_label_is_whole(pane, qtbot, window):
    """F5 at 1280×720: the words and the distance on the pair's number line (and on the triplet's)
    are ≥ 14 px high, and the pair's label shows "y = 0 (different)" whole, not cut."""
    from PySide6.QtGui import QFontInfo
    from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionComboBox

    window.resize(1280, 720)
    try:
        window.ctx.set_presentation(True)
        for _ in range(3):
            QApplication.processEvents()
            qtbot.wait(30)
        scale = pane.scale
        texts = [scale.d_text, scale.same_text, scale.different_text, scale.threshold_line.label,
                 scale.margin_line.label, pane.triplet_scale.band_text, pane.triplet_scale.positive_text]
        for t in texts:
            assert QFontInfo(t.textItem.font()).pixelSize() >= 14, t.textItem.toPlainText()
        assert scale.getAxis("bottom").label.boundingRect().height() >= 26
        combo = pane.y_combo
        opt = QStyleOptionComboBox()
        for i in range(combo.count()):
            combo.setCurrentIndex(i)
            combo.initStyleOption(opt)
            space = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                                 QStyle.SubControl.SC_ComboBoxEditField, combo).width()
            assert combo.fontMetrics().horizontalAdvance(combo.currentText()) <= space, combo.currentText()
    finally:
        window.ctx.set_presentation(False)
