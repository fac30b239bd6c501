"""A function and its derivative, each in a pyqtgraph plot, with one draggable input marker."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from cnnviz.gui.qtutil import signals_blocked
from cnnviz.gui.widgets.plot_text import plot_text_points, scale_plot_text
from cnnviz.state.functions import X_RANGE

CURVE = "#1a73e8"
SLOPE = "#e37400"
MARK = "#188038"


class _Plot(pg.PlotWidget):
    def __init__(self, colour: str, y_label: str) -> None:
        super().__init__(background="w")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setLabel("bottom", "x")
        self.setLabel("left", y_label)
        self.addLine(x=0, pen=pg.mkPen("#9aa0a6", width=1))
        self.addLine(y=0, pen=pg.mkPen("#9aa0a6", width=1))
        self.curve = self.plot([], [], pen=pg.mkPen(colour, width=3))
        self.marker = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(MARK, width=2),
                                      hoverPen=pg.mkPen(MARK, width=4), bounds=X_RANGE)
        self.addItem(self.marker)
        self.dot = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(MARK), pen=pg.mkPen("w", width=1))
        self.addItem(self.dot)
        self.label = pg.TextItem("", color="#202124", anchor=(0, 1), fill=pg.mkBrush(255, 255, 255, 210))
        self.addItem(self.label)
        self.setXRange(*X_RANGE, padding=0.02)


class FunctionPlots(QWidget):
    """f(x) above f′(x); dragging the marker in either plot emits ``x_dragged``."""

    x_dragged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.function_plot = _Plot(CURVE, "f(x)")
        self.slope_plot = _Plot(SLOPE, "f′(x)")
        self.slope_plot.setXLink(self.function_plot)
        self._presentation = False
        self._placed: tuple | None = None
        layout.addWidget(self.function_plot, 3)
        layout.addWidget(self.slope_plot, 2)
        for plot in (self.function_plot, self.slope_plot):
            plot.marker.sigDragged.connect(self._on_dragged)

    def set_presentation_mode(self, on: bool) -> None:
        """Titles, axis titles and the value labels large enough to read on a projector."""
        self._presentation = on
        for plot in (self.function_plot, self.slope_plot):
            scale_plot_text(plot, on)
        self._place_labels()

    def _on_dragged(self, line: pg.InfiniteLine) -> None:
        self.x_dragged.emit(float(line.value()))

    def set_data(self, xs: np.ndarray, ys: np.ndarray, slopes: np.ndarray, x: float, y: float, slope: float,
                 title: str) -> None:
        fp, sp = self.function_plot, self.slope_plot
        size = f"{plot_text_points(self._presentation)[1]}pt"
        fp.setTitle(title, size=size)
        sp.setTitle("its derivative (slope)", size=size)
        fp.curve.setData(xs, ys)
        sp.curve.setData(xs, slopes)
        for plot, value, (lo, hi) in ((fp, y, _span(ys)), (sp, slope, _span(slopes))):
            plot.setYRange(lo, hi, padding=0)
            with signals_blocked(plot.marker):  # the marker follows the state, it is not a drag
                plot.marker.setValue(x)
            plot.dot.setData([x], [value])
        fp.label.setText(f"f({x:.2f}) = {y:.4g}")
        sp.label.setText(f"f′({x:.2f}) = {slope:.4g}")
        self._placed = ((fp, y, _span(ys)), (sp, slope, _span(slopes)), x)
        self._place_labels()

    def _place_labels(self) -> None:
        if self._placed is None:
            return
        *plots, x = self._placed
        for plot, value, (lo, hi) in plots:
            below = value > lo + 0.75 * (hi - lo)  # near the top the text goes under the dot
            plot.label.setPos(x, value)
            # the text goes left of the dot where it would run past the plot's right edge
            pixel = plot.getViewBox().viewPixelSize()[0]
            width = plot.label.textItem.boundingRect().width() * pixel
            left = x > 0.4 * X_RANGE[1] or x + 1.1 * width > X_RANGE[1]
            plot.label.setAnchor((1.05 if left else -0.05, -0.1 if below else 1.1))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._place_labels()  # a narrower plot may leave no room right of the dot

def _span(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = 0.08 * max(hi - lo, 1.0)
    return lo - pad, hi + pad
