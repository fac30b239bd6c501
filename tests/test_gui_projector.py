"""Presentation mode (F5) at projector sizes: what a class reads off the wall must be whole —
colour bars labelled on both sides of 0, combo texts not cut, images given the room, grids with
readable numbers."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication


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
