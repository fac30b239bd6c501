"""The lessons' notes name what the student sees: a control by the words on its label, a colour
as it is drawn, a formula in the letters the pane writes it with."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from cnnviz import paths


def notes(name: str) -> str:
    return (paths.lessons_dir() / f"{name}.md").read_text(encoding="utf-8")


def test_pattern_matching_names_the_scale_slider_by_its_label(window):
    text = notes("01_pattern_matching")
    assert "*Scale* slider" in text and "Pattern scale" not in text
    labels = [lab.text() for lab in window.panes["matching"].findChildren(QLabel)]
    assert "Scale" in labels


def test_stride_and_padding_describes_the_padding_as_drawn_and_uses_the_panes_letters(window):
    text = notes("03_stride_padding")
    assert "grey padding" not in text and "sand-coloured" in text
    assert "⌊(n + 2p − f) / s⌋ + 1" in text
    stepper = window.panes["stepper"]
    assert window.open_session(paths.lessons_dir() / "03_stride_padding.cnnviz")
    formula = stepper.formula_label.text()
    assert "n + 2p" in formula and "f−1" in formula


def test_compare_5_and_7_names_the_drawing_choice_the_pane_offers(window):
    text = notes("12_compare_5_and_7")
    assert "Feed: drawing" not in text and "*The drawing*" in text
    assert "*Compare the current input with*" in text
    page_labels = [lab.text() for lab in window.panes["activations"].findChildren(QLabel)]
    assert "Compare the current input with" in page_labels
    combo = window.panes["activations"].compare_combo
    assert "The drawing" in [combo.itemText(i) for i in range(combo.count())]
