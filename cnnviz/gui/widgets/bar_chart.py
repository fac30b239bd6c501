"""Bars with labels: class probabilities (horizontal, best first) and Dense outputs (vertical).

One pyqtgraph plot; the bar item is replaced when the orientation changes (a BarGraphItem keeps
whichever of x/x0/width it was given first). The value of each bar is written beside it when
there are few enough bars to read them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QWidget

__all__ = ["BarChartWidget"]

BAR = QColor("#8ab4f8")
TOP = QColor("#f28b82")
NEG = QColor("#78909c")
TEXT = "#e8eaed"


class BarChartWidget(pg.PlotWidget):
    """``set_values`` draws the bars; :meth:`values` and :meth:`labels` read them back."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent, background="#202124", enableMenu=False)  # no menu to build
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self._bars = pg.BarGraphItem(x=[0], height=[0], width=0.8)
        self.addItem(self._bars)
        self._texts: list[pg.TextItem] = []
        self._values = np.zeros(0, np.float32)
        self._labels: list[str] = []
        self._horizontal = False
        self._text_scale = 1.0
        self._title = title
        for name in ("left", "bottom"):
            axis = self.getAxis(name)
            axis.setTextPen(TEXT)
            axis.setPen("#5f6368")
        if title:
            self.setTitle(title, color=TEXT, size="10pt")

    def set_values(
        self,
        values: np.ndarray,
        labels: Sequence[str] | None = None,
        *,
        horizontal: bool = False,
        highlight: int | None = None,
        fmt: str = "{:.3g}",
        limits: tuple[float, float] | None = None,
        title: str | None = None,
    ) -> None:
        """Draw one bar per value. Horizontal bars list ``labels`` top-down on the left axis."""
        v = np.asarray(values, dtype=np.float32).reshape(-1)
        n = v.size
        self._values, self._horizontal = v, horizontal
        self._labels = list(labels) if labels is not None else [str(i) for i in range(n)]
        brushes = [pg.mkBrush(TOP if i == highlight else (NEG if val < 0 else BAR)) for i, val in enumerate(v)]
        pos = np.arange(n, dtype=np.float32)
        pen = pg.mkPen(None)
        if horizontal:
            self.removeItem(self._bars)
            self._bars = pg.BarGraphItem(x0=np.zeros(n), y=pos, height=0.7, width=v, brushes=brushes, pen=pen)
            self.addItem(self._bars)
            self.getPlotItem().invertY(True)
            left = self.getAxis("left")
            left.setTicks([[(i, self._labels[i]) for i in range(n)]])
            self.getAxis("bottom").setTicks(None)
            hi = limits[1] if limits else max(1e-6, float(v.max()) if n else 1.0)
            # room right of the longest bar for its value label: larger text (a projector) needs
            # more of a chart that is also narrower there, so the room grows faster than the text
            self.setXRange(0, hi * (1 + 0.28 * self._text_scale ** 1.5), padding=0)
            self.setYRange(-0.6, max(n, 1) - 0.4, padding=0)
        else:
            self.removeItem(self._bars)
            self._bars = pg.BarGraphItem(x=pos, height=v, width=0.8, brushes=brushes, pen=pen)
            self.addItem(self._bars)
            self.getPlotItem().invertY(False)
            self.getAxis("left").setTicks(None)
            bottom = self.getAxis("bottom")
            if labels is not None and n <= 30:
                bottom.setTicks([[(i, self._labels[i]) for i in range(n)]])
            else:
                bottom.setTicks(None)
            lo = min(0.0, float(v.min()) if n else 0.0)
            hi = max(1e-6, float(v.max()) if n else 1.0)
            if limits is not None:
                lo, hi = limits
            self.setXRange(-0.6, max(n, 1) - 0.4, padding=0)
            self.setYRange(lo, hi * 1.12 if hi > 0 else hi, padding=0)
        for t in self._texts:
            self.removeItem(t)
        self._texts = []
        if n <= 20:
            font = QFont()
            font.setPixelSize(int(11 * self._text_scale))
            peak = float(np.abs(v).max()) if n else 0.0
            for i, val in enumerate(v):
                if horizontal and abs(val) < 0.01 * peak:
                    continue  # a row of "0.0%" only hides the bars that matter
                if horizontal:
                    t = pg.TextItem(fmt.format(float(val)), color=TEXT, anchor=(0, 0.5))
                    t.setPos(float(max(val, 0)), float(i))
                else:
                    t = pg.TextItem(fmt.format(float(val)), color=TEXT, anchor=(0.5, 1.0))
                    t.setPos(float(i), float(max(val, 0)))
                t.setFont(font)
                self.addItem(t)
                self._texts.append(t)
        if title is not None:
            self._title = title
            self.setTitle(title, color=TEXT, size=f"{10 * self._text_scale:g}pt")

    def values(self) -> np.ndarray:
        return self._values.copy()

    def labels(self) -> list[str]:
        return list(self._labels)

    def bar_texts(self) -> list[str]:
        return [t.textItem.toPlainText() for t in self._texts]

    def set_text_scale(self, scale: float) -> None:
        self._text_scale = float(scale)
        font = QFont()
        font.setPixelSize(int(11 * scale))
        for name in ("left", "bottom"):
            self.getAxis(name).setStyle(tickFont=font)
        for t in self._texts:
            t.setFont(font)
        if self._title:
            self.setTitle(self._title, color=TEXT, size=f"{10 * scale:g}pt")
