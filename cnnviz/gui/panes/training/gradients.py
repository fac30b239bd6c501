"""The Gradients tab of the training pane: how much gradient reaches each layer (section 4.2).

The engine measures the norm of the loss gradient at each layer's kernel on a fixed batch while
the run trains (:mod:`cnnviz.ml.gradflow`) and sends the reports as plain dicts; this view draws
the latest one on a log scale, input side on the left, with the previous run's last report in
grey beside it: run ``plain_deep`` and then ``resnet_small`` to see the vanishing gradient and how
shortcuts keep it. The book's one-number arithmetic (1.5¹⁰⁰ against 0.8¹⁰⁰) is the caption.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnviz.gui.panes.base import BuiltWhenShown
from cnnviz.gui.panes.training.settings import dim
from cnnviz.ml.gradflow import book_arithmetic  # plain arithmetic: no Keras
from cnnviz.state import training as words

CURRENT_COLOR = "#d62728"
EARLIER_COLOR = "#b8bcc2"
TINY = 1e-30  # a zero norm drawn at the bottom of a log axis


class GradientFlowView(BuiltWhenShown, QWidget):
    """The Gradients tab; its plot is built when the tab is first shown (or asked for)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ""
        self.latest: dict | None = None
        self.earlier: tuple[str, dict] | None = None
        self._status = words.GRADIENTS_WAITING

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plot = pg.PlotWidget(background="w", enableMenu=False)  # no menu to build
        item = self.plot.getPlotItem()
        item.setLogMode(x=False, y=True)
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setMenuEnabled(False)
        item.getAxis("left").enableAutoSIPrefix(False)
        item.setLabel("left", "gradient norm ‖∂loss/∂kernel‖")
        item.setLabel("bottom", "layer with weights (1 = input side)")
        item.setTitle("Gradient per layer", color="#202124", size="11pt")
        # The legend in a row under the plot: it never covers a curve.
        self.legend = pg.LegendItem(labelTextColor="#202124", brush=pg.mkBrush(255, 255, 255, 200),
                                    pen=pg.mkPen("#c0c0c0"))
        item.layout.addItem(self.legend, 4, 1)
        self.earlier_curve = pg.PlotDataItem(pen=pg.mkPen(EARLIER_COLOR, width=2), symbol="o",
                                             symbolSize=5, symbolBrush=EARLIER_COLOR, symbolPen=None)
        self.curve = pg.PlotDataItem(pen=pg.mkPen(CURRENT_COLOR, width=2.5), symbol="o",
                                     symbolSize=6, symbolBrush=CURRENT_COLOR, symbolPen=None)
        item.addItem(self.earlier_curve)
        item.addItem(self.curve)
        self.plot.setMinimumHeight(220)
        layout.addWidget(self.plot, 1)
        self.status = QLabel(self._status)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.caption = dim(QLabel(book_arithmetic()))
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)

    def _built(self) -> None:
        self._draw_earlier()
        if self.latest is not None:
            self._draw_latest()

    def _say(self, text: str) -> None:
        self._status = text
        if self.is_built:
            self.status.setText(text)

    def start_run(self, model: str) -> None:
        """A new run: the previous run's latest report (if any) becomes the grey curve."""
        if self.latest is not None:
            self.earlier = (self.model, self.latest)
        self.model, self.latest = model, None
        self._say(f"{model}: waiting for the first measurement…")
        if self.is_built:
            self.curve.setData([], [])
            self._draw_earlier()

    def show_report(self, report: dict) -> None:
        self.latest = report
        self._say(words.gradient_flow_caption(report, self.model))
        if self.is_built:
            self._draw_latest()

    def _draw_latest(self) -> None:
        self.curve.setData(*self._points(self.latest))
        self._relabel(self.curve, f"{self.model} (this run)")

    def _draw_earlier(self) -> None:
        if self.earlier is None:
            self.earlier_curve.setData([], [])
            return
        model, report = self.earlier
        self.earlier_curve.setData(*self._points(report))
        self._relabel(self.earlier_curve, f"{model} (previous run)")

    @staticmethod
    def _points(report: dict) -> tuple[list[float], list[float]]:
        norms = [v if math.isfinite(v) and v > 0 else TINY for v in report["norms"]]
        return list(range(1, len(norms) + 1)), norms

    def _relabel(self, curve, name: str) -> None:
        self.legend.removeItem(curve)
        self.legend.addItem(curve, name)

    def curve_points(self) -> tuple[list[float], list[float]]:
        x, y = self.curve.getOriginalDataset()
        return ([] if x is None else list(x)), ([] if y is None else list(y))

    def earlier_points(self) -> tuple[list[float], list[float]]:
        x, y = self.earlier_curve.getOriginalDataset()
        return ([] if x is None else list(x)), ([] if y is None else list(y))
