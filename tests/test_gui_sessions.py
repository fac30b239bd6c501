"""Sessions and lessons in the window: File → Save/Open session, the Lessons menu and its notes,
``cnnviz --session``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from cnnviz import paths
from cnnviz.gui.app import screenshot, wait_until_idle
from cnnviz.state.session import lesson_files

TIMEOUT = 120_000
SHOTS = Path(os.environ.get("CNNVIZ_LESSON_SHOTS", "/tmp/cnnviz_lesson_shots"))


def _states(window) -> str:
    """Every pane's part of a session, as text (compared before and after)."""
    session, _ = window.sessions.collect()
    d = session.to_dict()
    d["panes"].get("activations", {}).pop("view", None)
    return json.dumps(d, sort_keys=True)


def _png_is_not_blank(path: Path) -> bool:
    img = QImage(str(path))
    if img.isNull():
        return False
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    ptr = img.constBits()
    arr = np.frombuffer(ptr, np.uint8, img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].std() > 10


# -- round trips, pane by pane ----------------------------------------------------------------
def test_kernels_round_trip(window, tmp_path):
    pane = window.panes["kernels"]
    pane.state.choose_preset("laplacian")
    pane.state.update(display="abs", border="zero")
    window.show_pane("kernels")
    path = window.save_session(tmp_path / "k")
    assert path == tmp_path / "k.cnnviz"
    saved = pane.state.to_session()
    pane.state.choose_preset("sobel_y")
    pane.state.update(display="signed")
    window.show_pane("stepper")
    assert window.open_session(path)
    assert pane.state.to_session() == saved
    assert window.current_pane() is pane
    assert pane.preset_combo.currentData() == "laplacian"  # the controls show it too
    assert pane.display_combo.currentData() == "abs"
    pane.flush()
    assert np.array_equal(window.ctx.kernel, pane.state.kernel)  # the shared kernel follows


def test_matching_round_trip(window, tmp_path):
    pane = window.panes["matching"]
    pane.use_bundled_circle()
    pane.ncc_radio.setChecked(True)
    pane.top_spin.setValue(5)
    pane.set_scale(1.5)
    window.show_pane("matching")
    path = window.save_session(tmp_path / "m.cnnviz")
    saved = pane.state.to_session()
    pane.dot_radio.setChecked(True)
    pane.top_spin.setValue(2)
    pane.state.set_pattern(np.ones((3, 3)), "ones")
    assert window.open_session(path)
    assert pane.state.to_session() == saved
    assert pane.ncc_radio.isChecked() and pane.top_spin.value() == 5
    assert pane.scale_slider.value() == 30


def test_stepper_round_trip(window, tmp_path):
    pane = window.panes["stepper"]
    st = pane.state
    st.set_source("typed")
    st.type_matrix("1 2 3\n4 5 6\n7 8 9")
    st.type_kernel("1 0\n0 -1")
    st.set_mode("transpose")
    st.update(stride=2, dilation=1)
    st.go_to(5)
    window.show_pane("stepper")
    path = window.save_session(tmp_path / "s.cnnviz")
    saved = st.to_session()
    pane.set_source("book")
    pane.set_mode("max")
    assert window.open_session(path)
    assert st.to_session() == saved and st.position == 5
    assert pane.matrix_edit.toPlainText() == "1 2 3\n4 5 6\n7 8 9"
    assert pane.kernel_edit.toPlainText() == "1 0\n0 -1"
    assert pane.mode_combo.currentData() == "transpose"


def test_training_settings_round_trip(window, tmp_path):
    pane = window.panes["training"]
    pane.set_model("resnet_small")
    pane.epochs_spin.setValue(4)
    pane.batch_spin.setValue(8)
    path = window.save_session(tmp_path / "t.cnnviz")
    saved = pane.form.to_session()
    pane.set_model("plain_deep")
    pane.epochs_spin.setValue(9)
    assert window.open_session(path)
    assert pane.form.to_session() == saved
    assert pane.epochs_spin.value() == 4 and pane.batch_spin.value() == 8


def test_functions_round_trip(window, tmp_path):
    pane = window.panes["functions"]
    pane.state.update(function="elu", alpha=0.4, x=2.0)
    pane.state.set_logits([1.0, 2.0, 0.5])
    path = window.save_session(tmp_path / "f.cnnviz")
    saved = pane.state.to_session()
    pane.state.reset_logits()
    pane.state.update(function="relu")
    window.open_path(path)  # a session dropped on the window (or opened by its kind)
    assert pane.state.to_session() == saved
    assert pane.function_combo.currentData() == "elu"


def test_siamese_round_trip(window, tmp_path, qtbot):
    pane = window.panes["siamese"]
    pane.settings.set_number("margin", 2.5)
    pane.settings.set_number("threshold", 0.8)
    window.show_pane("siamese")
    path = window.save_session(tmp_path / "siam.cnnviz")
    saved = pane.settings.to_session()
    assert saved["margin"] == 2.5 and saved["threshold"] == 0.8
    pane.settings.set_number("margin", 1.0)
    pane.settings.set_number("threshold", 0.3)
    window.show_pane("kernels")
    assert window.open_session(path)
    assert pane.settings.to_session() == saved
    assert window.current_pane() is pane
    assert pane.margin_edit.text() == "2.5" and pane.threshold_edit.text() == "0.8"  # the controls show it


def test_a_broken_siamese_part_changes_nothing(window, tmp_path):
    pane = window.panes["siamese"]
    path = window.save_session(tmp_path / "bad.cnnviz")
    import json
    d = json.loads(path.read_text())
    d["panes"]["siamese"]["margin"] = "wide"
    path.write_text(json.dumps(d))
    before = pane.settings.to_session()
    assert not window.open_session(path)
    assert "margin" in window.sessions.last_error
    assert pane.settings.to_session() == before


def test_every_activations_tab_can_be_saved(window, tmp_path):
    from cnnviz.gui.sessions import ACTIVATION_VIEWS

    pane = window.panes["activations"]
    assert len(ACTIVATION_VIEWS) == pane.views.count()  # one saved name per tab
    pane.views.setCurrentIndex(pane.views.count() - 1)
    window.show_pane("activations")
    path = window.save_session(tmp_path / "last_tab")
    assert path is not None and window.sessions.collect()[0].panes["activations"]["view"] == ACTIVATION_VIEWS[-1]


def test_the_image_by_path_and_an_unsaved_one_kept_inside(window, tmp_path):
    digit = paths.sample_image("digit_7")
    window.ctx.open_image(digit)
    path = window.save_session(tmp_path / "i.cnnviz")
    d = json.loads(path.read_text())
    assert d["image"]["path"] == "samples:digit_7.png" and "png_base64" not in d["image"]
    window.ctx.open_image(paths.sample_image("shapes"))
    assert window.open_session(path)
    assert window.ctx.image_path == digit

    drawn = np.zeros((30, 40, 3), np.uint8)
    drawn[5:20, 10:30] = (200, 40, 90)
    window.ctx.set_image(drawn, None)  # no file: kept inside the session
    path = window.save_session(tmp_path / "drawn.cnnviz")
    assert "png_base64" in json.loads(path.read_text())["image"]
    window.ctx.open_image(paths.sample_image("shapes"))
    assert window.open_session(path)
    assert np.array_equal(window.ctx.image, drawn)


# -- what cannot be opened ---------------------------------------------------------------------
def test_a_missing_image_and_model_open_the_rest_and_say_so(window, tmp_path, qtbot):
    pane = window.panes["kernels"]
    pane.state.choose_preset("laplacian")
    path = window.save_session(tmp_path / "x.cnnviz")
    d = json.loads(path.read_text())
    d["image"] = {"path": str(tmp_path / "gone.png")}
    d["panes"]["activations"]["model"] = str(tmp_path / "gone.keras")
    path.write_text(json.dumps(d))
    pane.state.choose_preset("sobel_x")
    image_before = window.ctx.image.copy()
    errors = []
    window.ctx.error_posted.connect(errors.append)
    assert window.open_session(path)
    assert pane.state.kernel_name == "laplacian"  # the rest opened
    assert np.array_equal(window.ctx.image, image_before)  # the image stays
    assert "gone.png" in window.sessions.last_missing and "gone.keras" in window.sessions.last_missing
    assert any("Not found" in e and "gone.png" in e for e in errors)
    assert "gone.png" in window.statusBar().currentMessage()


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(version=2), "newer cnnviz"),
    (lambda d: d["panes"]["stepper"].update(stride=[0, 99]), "stride"),
    (lambda d: d["panes"]["kernels"].update(kernel="big"), "kernel"),
    (lambda d: d["panes"]["training"].update(epochs="many"), "epochs"),
    (lambda d: d.update(image={"png_base64": "!!"}), "damaged"),
    (lambda d: d["panes"]["activations"].update(class_names="cat, dog"), "class_names"),
    (None, "broken at line"),
])
def test_a_newer_or_broken_session_changes_nothing(window, tmp_path, edit, words):
    window.panes["kernels"].state.choose_preset("laplacian")
    window.show_pane("matching")
    path = window.save_session(tmp_path / "b.cnnviz")
    d = json.loads(path.read_text())
    if edit is None:
        path.write_text(path.read_text()[:-20])
    else:
        edit(d)
        path.write_text(json.dumps(d))
    window.panes["kernels"].state.choose_preset("sobel_y")  # now differs from the file
    window.panes["stepper"].state.update(stride=3)
    window.show_pane("stepper")
    before = _states(window)
    assert not window.open_session(path)
    assert words in window.sessions.last_error
    assert _states(window) == before
    assert window.current_pane().name == "stepper"
    assert words in window.statusBar().currentMessage()


# -- lessons -----------------------------------------------------------------------------------
def test_the_lessons_menu_lists_every_lesson_and_shows_its_notes(window, qtbot):
    titles = [a.text() for a in window.lesson_actions]
    assert len(titles) == len(lesson_files()) >= 10
    sobel = next(a for a in window.lesson_actions if "Sobel" in a.text())
    sobel.trigger()
    assert window.panes["kernels"].state.kernel_name == "sobel_x"
    assert window.current_pane().name == "kernels"
    dock = window.sessions.dock
    assert dock.isVisible() and "sobel" in window.sessions.notes.toPlainText().lower()
    dock.close()  # the notes can be closed …
    assert not dock.isVisible()
    dock.toggleViewAction().trigger()  # … and shown again from the Lessons menu
    assert dock.isVisible()
    about = next(a for a in window.lessons_menu.actions() if "About the lessons" in a.text())
    about.trigger()
    assert "Chapter 5" in window.sessions.notes.toPlainText()


@pytest.mark.parametrize("lesson", lesson_files(), ids=lambda p: p.stem)
def test_every_lesson_opens_and_its_view_is_worth_showing(window, qtbot, lesson):
    assert window.open_session(lesson), window.sessions.last_error
    assert window.sessions.last_missing == ""
    session = window.sessions.current
    assert window.current_pane().name == session.pane
    pane = window.current_pane()
    if session.pane == "activations":
        qtbot.waitUntil(lambda: pane.info is not None and pane.state.result is not None, timeout=TIMEOUT)
        wanted = session.panes["activations"]
        qtbot.waitUntil(lambda: pane.state.layer == wanted["layer"], timeout=TIMEOUT)
        if wanted["compare_with"]:
            assert Path(pane.state.compare_with).name == "digit_7.png"
            assert pane.views.currentIndex() == 2
    if session.pane == "stepper":
        assert pane.state.to_session() == {**pane.state.to_session(), **session.panes["stepper"]}
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = SHOTS / f"{lesson.stem}.png"
    assert screenshot(window, session.pane, out, keep_settings=True)
    wait_until_idle(window, pane)
    assert _png_is_not_blank(out)
    assert window.sessions.dock.isVisible()


def test_session_and_screenshot_from_the_command_line(tmp_path):
    out = tmp_path / "lesson.png"
    lesson = paths.lessons_dir() / "09_transposed_convolution.cnnviz"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "-m", "cnnviz", "--session", str(lesson), "--screenshot", str(out)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert _png_is_not_blank(out)


def test_a_broken_session_on_the_command_line_says_why_and_still_opens(tmp_path):
    bad = tmp_path / "bad.cnnviz"
    bad.write_text('{"format": "cnnviz-session", "version": 9, "pane": "kernels"}')
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "-m", "cnnviz", "--session", str(bad), "--screenshot", str(out),
                        "--pane", "kernels"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0
    assert "newer cnnviz" in r.stderr
    assert _png_is_not_blank(out)


def test_class_names_typed_for_the_model_are_kept_in_the_session(window, tmp_path, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDialogButtonBox

    window.ctx.open_image(paths.sample_image("digit_5"))
    window.show_pane("activations")
    pane = window.panes["activations"]
    qtbot.waitUntil(lambda: pane.info is not None and pane.result is not None and not pane.is_busy(),
                    timeout=TIMEOUT)
    n = pane.state.result.prediction.probabilities.size

    def type_names(names: list[str]) -> None:  # Class names…, type them, OK — as a person does
        qtbot.mouseClick(pane.prediction.class_names_button, Qt.MouseButton.LeftButton)
        dialog = pane.prediction.dialog
        dialog.editor.setPlainText("\n".join(names))
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)

    def bars() -> list[str]:  # the bars' class names (not the "5 others" bar)
        return [label for label in pane.prediction_chart.labels() if not label.endswith(" others")]

    saved = [f"saved {i}" for i in range(n)]
    type_names(saved)
    assert bars() and set(bars()) <= set(saved)
    path = window.save_session(tmp_path / "named.cnnviz")
    assert json.loads(path.read_text())["panes"]["activations"]["class_names"] == saved
    type_names([f"changed {i}" for i in range(n)])
    assert bars() and all(label.startswith("changed") for label in bars())

    model_id = pane.info.model_id
    assert window.open_session(path)
    qtbot.waitUntil(lambda: pane.info.model_id != model_id and pane.result is not None
                    and not pane.is_busy(), timeout=TIMEOUT)
    assert bars() and set(bars()) <= set(saved)  # the bars show the saved names
    assert "Predicted <b>saved " in pane.prediction_label.text()
    assert pane.state.class_names() == saved
