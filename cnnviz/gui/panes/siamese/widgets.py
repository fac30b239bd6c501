"""The Siamese pane's pieces: an input picker (a bundled digit, the drawing or the current
image, with a thumbnail) and the embedding map (a scatter coloured by digit, with a legend)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QSpinBox

from cnnviz.gui.panes.base import choice_combo
from cnnviz.gui.qtutil import signals_blocked
from cnnviz.gui.widgets.plot_text import plot_text_points, scale_plot_text, text_font
from cnnviz.state.siamese import INPUT_KINDS, InputChoice

#: One colour per digit (tab10), so the map's classes are told apart at a glance.
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
THUMB = 96


def gray_pixmap(img: np.ndarray | None, side: int = THUMB) -> QPixmap:
    if img is None:
        return QPixmap()
    a = np.ascontiguousarray(np.asarray(img, np.uint8))
    if a.ndim == 3:
        a = np.ascontiguousarray(a[..., :3])
        q = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_RGB888)
    else:
        q = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(q.copy()).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.FastTransformation)


class InputPicker(QGroupBox):
    """One input: what kind, and for a bundled digit its class and index; a thumbnail."""

    changed = Signal()

    def __init__(self, title: str, compact: bool = False) -> None:
        super().__init__(title)
        grid = QGridLayout(self)
        self.kind_combo = choice_combo(INPUT_KINDS, lambda _i: self._on_changed(),
                                       "Where this input comes from: a bundled digit (its class and "
                                       "which example), the drawing, or the image open in the window")
        self.digit_spin = QSpinBox()
        self.digit_spin.setRange(0, 9)
        self.digit_spin.setPrefix("digit ")
        self.digit_spin.setToolTip("The class of the bundled digit")
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 499)
        self.index_spin.setPrefix("no. ")
        self.index_spin.setToolTip("Which of the 500 bundled examples of this digit")
        self.digit_spin.valueChanged.connect(self._on_changed)
        self.index_spin.valueChanged.connect(self._on_changed)
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet("background: black;")
        if compact:  # the class and the index above each other, beside the thumbnail
            grid.addWidget(self.kind_combo, 0, 0, 1, 2)
            grid.addWidget(self.digit_spin, 1, 0)
            grid.addWidget(self.index_spin, 2, 0)
            grid.addWidget(self.thumb, 1, 1, 2, 1)
        else:
            grid.addWidget(self.kind_combo, 0, 0, 1, 2)
            grid.addWidget(self.digit_spin, 1, 0)
            grid.addWidget(self.index_spin, 1, 1)
            grid.addWidget(self.thumb, 0, 2, 2, 1)

    def choice(self) -> InputChoice:
        return InputChoice(self.kind_combo.currentData(), self.digit_spin.value(), self.index_spin.value())

    def set_choice(self, c: InputChoice) -> None:
        with signals_blocked(self.kind_combo, self.digit_spin, self.index_spin):
            i = self.kind_combo.findData(c.kind)
            self.kind_combo.setCurrentIndex(max(0, i))
            self.digit_spin.setValue(c.digit)
            self.index_spin.setValue(c.index)
        self._sync()
        self.changed.emit()

    def show_image(self, img: np.ndarray | None) -> None:
        self.thumb.setPixmap(gray_pixmap(img))

    def _sync(self) -> None:
        digit = self.kind_combo.currentData() == "digit"
        self.digit_spin.setEnabled(digit)
        self.index_spin.setEnabled(digit)

    def _on_changed(self, *_args) -> None:
        self._sync()
        self.changed.emit()


class EmbeddingPlot(pg.PlotWidget):
    """The embedding map: one scatter per digit (legend), the chosen inputs as large marks."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setLabel("bottom", "principal component 1")
        self.setLabel("left", "principal component 2")
        for side in ("bottom", "left"):
            self.getAxis(side).enableAutoSIPrefix(False)  # embeddings have no unit to scale
        self.legend = self.addLegend(offset=(-8, 8), labelTextColor="k", brush=pg.mkBrush(255, 255, 255, 210))
        self.class_items: list[pg.ScatterPlotItem] = []
        self.marks = pg.ScatterPlotItem(size=20, symbol="star", pen=pg.mkPen("k", width=1.5))
        self.mark_labels: list[pg.TextItem] = []
        self.addItem(self.marks)
        self.marks.setZValue(10)
        self._presentation = False

    def set_presentation_mode(self, on: bool) -> None:
        """Axis titles, the legend and the inputs' names large enough for a projector."""
        self._presentation = on
        scale_plot_text(self, on)
        size = f"{plot_text_points(on)[0]}pt"
        self.legend.setLabelTextSize(size)
        for _, label in self.legend.items:
            label.setText(label.text, size=size, color="k")

    def draw(self, points: np.ndarray, labels: np.ndarray) -> None:
        for item in self.class_items:
            self.removeItem(item)
        self.legend.clear()
        self.class_items = []
        for d in range(10):
            p = points[labels == d]
            item = pg.ScatterPlotItem(p[:, 0], p[:, 1], size=7, pen=None,
                                      brush=pg.mkBrush(CLASS_COLOURS[d]), name=str(d))
            self.addItem(item)  # the legend takes it by its name
            self.class_items.append(item)

    def classes_drawn(self) -> int:
        return sum(1 for item in self.class_items if len(item.data) > 0)

    def mark(self, points: np.ndarray | None, names: list[str]) -> None:
        for t in self.mark_labels:
            self.removeItem(t)
        self.mark_labels = []
        if points is None or len(points) == 0:
            self.marks.setData([], [])
            return
        brushes = [pg.mkBrush("#ffd400"), pg.mkBrush("#ff00d4"), pg.mkBrush("#00e0ff")]
        self.marks.setData(points[:, 0], points[:, 1], brush=brushes[: len(points)])
        for (x, y), name in zip(points, names, strict=False):
            t = pg.TextItem(name, color="k", anchor=(0, 1))
            t.setFont(text_font(self._presentation))
            t.setPos(float(x), float(y))
            self.addItem(t)
            self.mark_labels.append(t)


class _NumberLine(pg.PlotWidget):
    """A fixed horizontal number line (no mouse, menu or left axis) with ``label`` under it."""

    def __init__(self, label: str, height: int) -> None:
        super().__init__(enableMenu=False)  # no menu to build
        self.setBackground("w")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.getAxis("left").hide()
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self.setLabel("bottom", label)
        self.setFixedHeight(height)


class DistanceScale(_NumberLine):
    """The pair's distance on a number line: "same" below the threshold (green), "different"
    above it (red), the margin m marked where a different pair stops costing anything."""

    def __init__(self) -> None:
        super().__init__("distance d between the two embeddings", 150)
        self.same_region = pg.LinearRegionItem(brush=pg.mkBrush(46, 160, 67, 50), movable=False,
                                               pen=pg.mkPen(None))
        self.different_region = pg.LinearRegionItem(brush=pg.mkBrush(217, 48, 37, 40), movable=False,
                                                    pen=pg.mkPen(None))
        for item in (self.same_region, self.different_region):
            self.addItem(item)
        self.threshold_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#333", width=2, style=Qt.PenStyle.DashLine),
                                              label="threshold", labelOpts={"position": 0.85, "color": "#333"})
        self.margin_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#1a73e8", width=2, style=Qt.PenStyle.DotLine),
                                           label="margin m", labelOpts={"position": 0.6, "color": "#1a73e8"})
        self.d_mark = pg.ScatterPlotItem(size=18, symbol="t", brush=pg.mkBrush("k"), pen=None)
        self.d_text = pg.TextItem("", color="k", anchor=(0.5, 1.2))
        for item in (self.threshold_line, self.margin_line, self.d_mark, self.d_text):
            self.addItem(item)
        self.same_text = pg.TextItem("same", color="#1e7e34", anchor=(0, 0))
        self.different_text = pg.TextItem("different", color="#b3261e", anchor=(1, 0))
        self.addItem(self.same_text)
        self.addItem(self.different_text)
        self.setYRange(0, 1, padding=0)

    def show_values(self, d: float | None, threshold: float, margin: float) -> None:
        top = max(2.0, threshold, margin, d or 0.0) * 1.1
        self.setXRange(0, top, padding=0)
        self.same_region.setRegion((0, threshold))
        self.different_region.setRegion((threshold, top))
        self.threshold_line.setValue(threshold)
        self.margin_line.setValue(margin)
        self.same_text.setPos(0.01 * top, 0.98)
        self.different_text.setPos(0.99 * top, 0.98)
        if d is None:
            self.d_mark.setData([], [])
            self.d_text.setText("")
            return
        self.d_mark.setData([d], [0.3])
        self.d_text.setText(f"d = {d:.3f}")
        self.d_text.setPos(d, 0.3)


class TripletScale(_NumberLine):
    """d(a,p) and d(a,n) on one number line, with the band of width α after d(a,p): the loss is
    0 only when the negative lies beyond that band."""

    def __init__(self) -> None:
        super().__init__("distance from the anchor", 160)
        self.band = pg.LinearRegionItem(brush=pg.mkBrush(217, 48, 37, 45), movable=False, pen=pg.mkPen(None))
        self.addItem(self.band)
        self.band_text = pg.TextItem("", color="#b3261e", anchor=(0.5, 0))
        self.positive = pg.ScatterPlotItem(size=18, symbol="t", brush=pg.mkBrush("#2e7d32"), pen=None)
        self.negative = pg.ScatterPlotItem(size=18, symbol="t", brush=pg.mkBrush("#c62828"), pen=None)
        self.positive_text = pg.TextItem("", color="#2e7d32", anchor=(0.5, 1.2))
        self.negative_text = pg.TextItem("", color="#c62828", anchor=(0.5, 1.2))
        for item in (self.band_text, self.positive, self.negative, self.positive_text, self.negative_text):
            self.addItem(item)
        self.setYRange(0, 1, padding=0)

    def show_values(self, d_ap: float | None, d_an: float | None, alpha: float) -> None:
        if d_ap is None or d_an is None:
            for item in (self.positive, self.negative):
                item.setData([], [])
            for t in (self.positive_text, self.negative_text, self.band_text):
                t.setText("")
            return
        top = max(1.0, d_ap + alpha, d_an) * 1.15
        self.setXRange(0, top, padding=0)
        self.band.setRegion((d_ap, d_ap + alpha))
        self.band_text.setText("α: the negative must be beyond")
        self.band_text.setPos(d_ap + alpha / 2, 0.95)
        self.positive.setData([d_ap], [0.25])
        self.negative.setData([d_an], [0.55])
        self.positive_text.setText(f"positive {d_ap:.3f}")
        self.positive_text.setPos(d_ap, 0.25)
        self.negative_text.setText(f"negative {d_an:.3f}")
        self.negative_text.setPos(d_an, 0.55)
