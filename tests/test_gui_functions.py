"""The activation functions pane, driven by hand: choose a function, drag the input marker,
edit the logits; the numbers shown must be the state's (and so the functions') numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QLineEdit

from cnnviz.gui.panes import pane_names
from cnnviz.state.functions import derivative, evaluate, softmax


@pytest.fixture
def pane(window):
    window.show_pane("functions")
    return window.panes["functions"]


def _mouse(widget, kind, pos: QPointF, buttons) -> None:
    button = Qt.MouseButton.LeftButton if kind != QMouseEvent.Type.MouseMove else Qt.MouseButton.NoButton
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    QApplication.sendEvent(widget, QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier))


def drag_marker(qtbot, plot, x_from: float, x_to: float) -> None:
    """Press on the marker line in ``plot`` and drag it to data x ``x_to`` with real mouse events."""
    vb = plot.getViewBox()
    y = sum(vb.viewRange()[1]) / 2
    view = plot.viewport()

    def at(x: float) -> QPointF:
        return QPointF(plot.mapFromScene(vb.mapViewToScene(QPointF(x, y))))

    held = Qt.MouseButton.LeftButton
    _mouse(view, QMouseEvent.Type.MouseButtonPress, at(x_from), held)
    for i in range(1, 11):
        _mouse(view, QMouseEvent.Type.MouseMove, at(x_from + (x_to - x_from) * i / 10), held)
        qtbot.wait(5)
    _mouse(view, QMouseEvent.Type.MouseButtonRelease, at(x_to), Qt.MouseButton.NoButton)


def test_the_pane_is_a_tab_after_the_stepper(window):
    names = pane_names()
    assert names.index("functions") == names.index("stepper") + 1
    assert window.panes["functions"].title == "Activation functions"


def test_dragging_the_marker_shows_value_and_slope(qtbot, pane):
    pane.function_combo.setCurrentIndex(pane.function_combo.findData("sigmoid"))
    assert pane.state.function == "sigmoid"
    plot = pane.plots.function_plot
    drag_marker(qtbot, plot, pane.state.x, -2.0)
    x = pane.state.x
    assert x == pytest.approx(-2.0, abs=0.1) and x != 1.0
    y, slope = float(evaluate("sigmoid", x)), float(derivative("sigmoid", x))
    assert pane.x_spin.value() == pytest.approx(x, abs=0.005)
    assert f"f(x) = {y:.4g}" in pane.value_label.text()
    assert f"f′(x) = {slope:.4g}" in pane.value_label.text()
    assert plot.label.toPlainText() == f"f({x:.2f}) = {y:.4g}"
    assert pane.plots.slope_plot.marker.value() == pytest.approx(x)
    # and from the other plot, on a function with α
    pane.function_combo.setCurrentIndex(pane.function_combo.findData("leaky_relu"))
    assert pane.alpha_spin.isVisible() and pane.alpha_spin.value() == pytest.approx(0.2)
    pane.alpha_spin.setValue(0.1)
    drag_marker(qtbot, pane.plots.slope_plot, pane.state.x, 3.0)
    assert pane.state.x == pytest.approx(3.0, abs=0.1)
    assert "f′(x) = 1" in pane.value_label.text()
    pane.x_spin.setValue(-4.0)
    assert "f(x) = −0.4" in pane.value_label.text() and "f′(x) = 0.1" in pane.value_label.text()
    pane.function_combo.setCurrentIndex(pane.function_combo.findData("tanh"))
    assert not pane.alpha_spin.isVisible()


def test_editing_logits_updates_probabilities_and_loss(qtbot, pane):
    table = pane.table
    assert table.rowCount() == 10
    assert table.item(2, 3).text().startswith("0.9737")
    assert "−ln 0.9737" in pane.summary_label.text()
    item = table.item(0, 1)
    table.editItem(item)
    editor = table.viewport().findChild(QLineEdit)
    assert editor is not None and editor.isVisible()
    editor.selectAll()
    qtbot.keyClicks(editor, "13")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: pane.state.logits[0] == 13.0, timeout=2000)  # the delegate commits queued
    z = np.array(pane.state.logits)
    p = softmax(z)
    assert table.item(0, 2).text() == f"{math.exp(13.0):.4g}"
    assert table.item(0, 3).text().startswith(f"{p[0]:.4f}")
    assert table.item(2, 3).text().startswith(f"{p[2]:.4f}")
    assert "Predicted class <b>0</b>" in pane.summary_label.text()
    pane.class_spin.setValue(0)
    assert f"<b>{-math.log(p[0]):.4g}</b>" in pane.summary_label.text()
    # not a number: refused, the cell shows the logit again
    table.item(1, 1).setText("abc")
    assert pane.error_label.isVisible() and "not a number" in pane.error_label.text()
    assert table.item(1, 1).text() == "1.24" and pane.state.logits[1] == 1.24
    qtbot.mouseClick(pane.equal_button, Qt.MouseButton.LeftButton)
    assert "<b>2.303</b>" in pane.summary_label.text()
    qtbot.mouseClick(pane.book_button, Qt.MouseButton.LeftButton)
    assert pane.state.logits[0] == -0.113 and pane.class_spin.value() == 2


def _settle(qtbot) -> None:
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(30)


def test_on_a_projector_the_plot_texts_grow_and_every_softmax_number_is_whole(window, qtbot):
    """F5 at 1280×720: the plots' titles, axis titles and value labels are large enough to read
    from the back (≥ 14 px), each value label stays inside its plot, and no probability in the
    softmax table is cut to "…" (the predicted class's row is bold, so wider)."""
    from PySide6.QtGui import QFontInfo, QFontMetrics

    window.resize(1280, 720)
    window.show_pane("functions")
    pane = window.panes["functions"]
    try:
        window.ctx.set_presentation(True)
        _settle(qtbot)
        for plot in (pane.plots.function_plot, pane.plots.slope_plot):
            item = plot.getPlotItem()
            assert QFontInfo(plot.label.textItem.font()).pixelSize() >= 14
            assert item.titleLabel.item.boundingRect().height() >= 28
            assert item.getAxis("bottom").label.boundingRect().height() >= 26
            box = item.getViewBox().sceneBoundingRect()
            label = plot.label.sceneBoundingRect()
            assert box.left() <= label.left() and label.right() <= box.right() + 1, (label, box)
        table = pane.table
        for r in range(table.rowCount()):
            for c in range(table.columnCount()):
                cell = table.item(r, c)
                assert cell.font().pointSizeF() == table.font().pointSizeF()  # the window's size
                needed = QFontMetrics(cell.font()).horizontalAdvance(cell.text()) + 6
                assert needed <= table.columnWidth(c), (cell.text(), table.columnWidth(c))
    finally:
        window.ctx.set_presentation(False)
    _settle(qtbot)
    assert QFontInfo(pane.plots.function_plot.label.textItem.font()).pixelSize() < 14
    assert all(pane.table.item(r, 0).font().pointSizeF() == pane.table.font().pointSizeF()
               for r in range(pane.table.rowCount()))
