"""Naming a model's classes from the Activations pane: the "Class names…" button."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from cnnviz import paths
from cnnviz.gui.panes.activations.side_column import HOW_TO_NAME
from cnnviz.gui.widgets.class_names_dialog import ClassNamesDialog, read_names_file

FIXTURES = paths.resources_dir().parent / "tests" / "fixtures" / "models"
TIMEOUT = 60_000


@pytest.fixture
def pane(open_activations, qtbot, tmp_path):
    """The pane with a small classifier open that has no class names (a copy in a folder of its
    own, so no labels file lies beside it)."""
    model = tmp_path / "cnn.keras"
    shutil.copy(FIXTURES / "keras3_cnn.keras", model)
    p = open_activations("shapes", trust=None)
    p.ctx.open_model(str(model))
    qtbot.waitUntil(lambda: p.info is not None and p.info.name == "cnn.keras" and p.result is not None
                    and not p.is_busy(), timeout=TIMEOUT)
    assert p.info.classifier and not p.info.labels
    return p


def _dialog(qtbot, pane) -> ClassNamesDialog:
    button = pane.prediction.class_names_button
    assert button.isEnabled() and button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = pane.prediction.dialog
    assert isinstance(dialog, ClassNamesDialog) and dialog.isVisible()
    return dialog


def _ok(qtbot, dialog) -> None:
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


def _outputs(pane) -> int:
    return pane.state.result.prediction.probabilities.size


def test_names_typed_in_the_dialog_reach_the_bars_and_gradcam(qtbot, pane):
    assert HOW_TO_NAME in pane.prediction_label.text()
    n = _outputs(pane)
    names = [f"thing {chr(65 + i)}" for i in range(n)]
    dialog = _dialog(qtbot, pane)
    dialog.editor.setFocus()
    qtbot.keyClicks(dialog.editor, names[0])
    dialog.editor.appendPlainText("\n".join(names[1:]))  # pasted
    assert f"{n} names for {n} outputs" in dialog.count_label.text()
    _ok(qtbot, dialog)

    labels = pane.prediction_chart.labels()
    assert labels and all(label in names or label.endswith("others") for label in labels)
    assert HOW_TO_NAME not in pane.prediction_label.text()
    assert "Predicted <b>thing" in pane.prediction_label.text()
    combo = pane.gradcam_box.class_combo
    assert [combo.itemText(i) for i in range(1, combo.count())] == names
    assert pane.state.result.gradcam is not None and "thing" in pane.gradcam_box.gradcam_label.text()
    # kept for that model during the session: the dialog opens with them
    again = _dialog(qtbot, pane)
    assert again.names() == names
    again.reject()


def test_a_count_that_does_not_match_says_which_stay_numbers(qtbot, pane):
    n = _outputs(pane)
    assert n >= 3
    dialog = _dialog(qtbot, pane)
    dialog.editor.setPlainText("cat\ndog")
    expected = f"The model has {n} outputs but the list names 2 classes: class 2"
    assert expected in dialog.count_label.text()
    _ok(qtbot, dialog)
    assert expected in pane.message_bar.text() and pane.message_bar.level == "warning"
    assert expected in pane.prediction_label.text()
    combo = pane.gradcam_box.class_combo
    assert combo.itemText(1) == "cat" and combo.itemText(2) == "dog" and combo.itemText(3) == "class 2"


def test_a_teachable_machine_file_is_loaded(qtbot, pane, tmp_path):
    n = _outputs(pane)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{i} Class {i + 1}\n" for i in range(n)), encoding="utf8")
    dialog = _dialog(qtbot, pane)
    assert dialog.load_file(labels)
    assert dialog.names() == [f"Class {i + 1}" for i in range(n)]
    _ok(qtbot, dialog)
    assert pane.gradcam_box.class_combo.itemText(1) == "Class 1"


def test_bad_name_files_are_refused_in_words(qtbot, pane, tmp_path):
    bad = tmp_path / "names.json"
    bad.write_text("{not json", encoding="utf8")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_names_file(bad)
    dialog = _dialog(qtbot, pane)
    dialog.editor.setPlainText("kept")
    assert not dialog.load_file(empty)
    assert "is empty: write one class name a line" in dialog.count_label.text()
    assert not dialog.load_file(tmp_path / "missing.txt")
    assert "cannot be read" in dialog.count_label.text()
    assert dialog.names() == ["kept"]  # nothing typed is lost
    dialog.reject()


def test_a_refused_model_is_explained_once(qtbot, pane, tmp_path):
    """The reason is in the pane's message bar; the model column only points there."""
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 this is not a model")
    pane.ctx.open_model(str(bad))
    qtbot.waitUntil(lambda: bool(pane.message_bar.text()) and not pane.is_busy(), timeout=TIMEOUT)
    reason = pane.state.last_error
    assert "broken.keras" in reason and reason in pane.message_bar.text()
    column = pane.message_label.text()
    assert "Not opened — see the message above." in column and "broken.keras" not in column
    assert pane.info.name == "cnn.keras"  # the previous model stays open


def test_classes_left_unnamed_keep_the_model_files_names(qtbot, window):
    """The shapes demo comes with names; naming two of its four outputs keeps the file's names
    for the other two, and the message says so."""
    window.ctx.open_image(paths.sample_image("shapes"))
    window.show_pane("activations")
    pane = window.panes["activations"]
    qtbot.waitUntil(lambda: pane.info is not None and pane.result is not None, timeout=TIMEOUT)
    pane.ctx.open_model(str(paths.resources_dir() / "models" / "shapes_cnn.keras"))
    qtbot.waitUntil(lambda: pane.info.name == "shapes_cnn.keras" and not pane.is_busy(), timeout=TIMEOUT)
    assert pane.info.labels == ["circle", "square", "triangle", "hexagon"]
    assert HOW_TO_NAME not in pane.prediction_label.text()
    dialog = _dialog(qtbot, pane)
    assert dialog.names() == ["circle", "square", "triangle", "hexagon"]
    dialog.editor.setPlainText("round\nbox")
    expected = ("The model has 4 outputs but the list names 2 classes: class 2 to class 3 keep their "
                "names from the model file (triangle, hexagon).")
    assert dialog.count_label.text() == expected
    _ok(qtbot, dialog)
    assert expected in pane.message_bar.text()
    combo = pane.gradcam_box.class_combo
    assert [combo.itemText(i) for i in range(1, 5)] == ["round", "box", "triangle", "hexagon"]


def test_the_prediction_box_works_with_the_state_it_is_given(qtbot, pane):
    """The box is handed its state and where to speak: it works before it is laid out anywhere."""
    import html

    from cnnviz.gui.panes.activations.side_column import PredictionBox

    said = []
    box = PredictionBox(pane.state, say=lambda text, level: said.append((text, level)))
    assert box.prediction_chart.parentWidget() is None  # in no pane
    # its widgets get a home that is closed and deleted with the test, not after Qt has gone
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    home = QWidget()
    qtbot.addWidget(home)
    home_layout = QVBoxLayout(home)
    box.reset_for_model(pane.info)
    assert box.class_names_button.isEnabled()
    box.draw(pane.state.result.prediction)
    assert HOW_TO_NAME in box.prediction_label.text()
    message = box.apply_class_names(["only one"])
    assert message and said == [(message, "warning")]
    assert pane.state.class_names() == ["only one"]
    assert html.escape(message) in box.prediction_label.text()
    # names given in the pane reach this box too: it listens to the state it was given
    box.names_message = ""
    pane.state.set_class_names([f"c{i}" for i in range(_outputs(pane))])
    assert HOW_TO_NAME not in box.prediction_label.text() and "Predicted <b>c" in box.prediction_label.text()
    box.add_to(home_layout, 1)
