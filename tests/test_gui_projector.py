"""Presentation mode (F5) at projector sizes: what a class reads off the wall must be whole —
colour bars labelled on both sides of 0, combo texts not cut, images given the room, grids with
readable numbers."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication


@pytest.fixture(autouse=True)
def _font_back(window):
    """Presentation mode enlarges the application's font: put it back for the next test."""
    yield
    window.ctx.set_presentation(False)


def present(window, qtbot, pane: str, size: tuple[int, int] = (1280, 720)):
    window.resize(*size)
    window.ctx.set_presentation(True)
    window.show_pane(pane)
    p = window.panes[pane]
    p.prepare_screenshot()
    QApplication.processEvents()
    qtbot.wait(50)
    QApplication.processEvents()
    return p


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_the_signed_colour_bar_labels_negatives_zero_and_positives_symmetrically(window, qtbot, size):
    pane = present(window, qtbot, "kernels", size)
    assert pane.result_view.color_bar.isVisible()
    labels = pane.result_view.bar_labels()
    values = [float(t.replace("−", "-")) for t in labels]
    assert "0" in labels
    assert any(v < 0 for v in values) and any(v > 0 for v in values), labels
    assert sorted(values) == sorted(-v for v in values), labels  # symmetric about 0
    # after leaving presentation mode too (the labels shrink back and stay whole)
    window.ctx.set_presentation(False)
    QApplication.processEvents()
    assert sorted(float(t.replace("−", "-")) for t in pane.result_view.bar_labels()) == sorted(values)


def _text_space(combo) -> int:
    """The width the closed combo box gives its text, as the style lays it out."""
    from PySide6.QtWidgets import QStyle, QStyleOptionComboBox

    opt = QStyleOptionComboBox()
    combo.initStyleOption(opt)
    cc, sc = QStyle.ComplexControl.CC_ComboBox, QStyle.SubControl.SC_ComboBoxEditField
    return combo.style().subControlRect(cc, opt, sc, combo).width()


def _views(pane):
    """The pane's pictures: its image views, or the stepper's stage of grids."""
    from cnnviz.gui.widgets import ImageView

    if pane.name == "stepper":
        return [pane.stage]
    return [v for v in pane.findChildren(ImageView) if v.isVisible() and v is not getattr(pane, "pattern_view", None)]


@pytest.mark.parametrize("name", ["kernels", "matching", "stepper"])
def test_presentation_at_1280x720_cuts_no_combo_text_and_gives_the_images_the_width(window, qtbot, name):
    from PySide6.QtWidgets import QComboBox

    from cnnviz.gui.panes.base import ChoiceCombo

    pane = present(window, qtbot, name)
    combos = [c for c in pane.findChildren(QComboBox) if c.isVisible()]
    assert combos or name == "matching"
    for combo in combos:
        for i in range(combo.count()):  # whichever choice is made
            combo.setCurrentIndex(i)
            text = combo.shown_text() if isinstance(combo, ChoiceCombo) else combo.currentText()
            space = _text_space(combo)
            assert combo.fontMetrics().horizontalAdvance(text) <= space, (text, space)
            assert combo.currentText().startswith(text)  # a short form, never another choice's words
    views = sum(v.width() for v in _views(pane))
    assert views > pane.controls_scroll.width(), (views, pane.controls_scroll.width())


def test_stepper_grids_at_1280x720_have_cells_of_one_size_and_readable_numbers(window, qtbot):
    """The book's 4×4 example with padding 1: the 6×6 padded input beside a 2×2 kernel and a 3×3
    output gets the height its rows need, not the output's."""
    pane = present(window, qtbot, "stepper")  # the screenshot's walk: padding 1, stride 2
    assert pane.state.shown_input().shape[:2] == (6, 6)
    inp, out = pane.stage.input_views[0], pane.stage.output_views[0]
    assert inp.cell_size() >= 0.9 * out.cell_size(), (inp.cell_size(), out.cell_size())
    assert inp.number_font_px() >= 16, (inp.number_font_px(), inp.size())
