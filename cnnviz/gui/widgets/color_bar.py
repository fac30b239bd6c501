"""The colour bar beside an image view: the colour map from its low level (bottom) to its high
level (top), the scale's labels on its right and an optional title written upwards on its left.

It is drawn in one ``paint`` with a few QPainter calls. pyqtgraph's ``ColorBarItem`` (a plot item
with axis items) relaid out and regenerated its axis on every change of the levels: with a kernel
being painted the levels change on every edit, and that cost ~1.3 ms of each edit's repaint;
here new levels cost a repaint of the bar's own few hundred pixels.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy

__all__ = ["ColorBar", "auto_ticks", "bar_ticks", "nice_step", "tick_text"]


def nice_step(limit: float) -> float:
    """The largest 1, 2, 2.5 or 5 × 10ᵏ that is at most ``limit`` (> 0)."""
    k = math.floor(math.log10(limit))
    for m in (5.0, 2.5, 2.0, 1.0):
        if m * 10.0**k <= limit * (1 + 1e-9):
            return m * 10.0**k
    return 10.0 ** (k - 1) * 5.0


def tick_text(v: float, step: float | None = None) -> str:
    """``v`` as a scale label: with as many digits as ticks ``step`` apart need to differ (six
    significant digits without a step), a true minus sign, and 0 as "0"."""
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    digits = 6
    if step is not None and step > 0 and math.isfinite(step):
        mantissa = step / 10.0 ** math.floor(math.log10(step))
        digits = math.floor(math.log10(abs(v))) - math.floor(math.log10(step)) + 1
        digits += 1 if abs(mantissa - 2.5) < 1e-6 else 0
        # whole numbers in full: "50", not "5e+01"
        digits = min(17, max(1, digits, math.floor(math.log10(abs(v))) + 1))
    return f"{v:.{digits}g}".replace("-", "−")


def bar_ticks(lo: float, hi: float) -> list[tuple[float, str]] | None:
    """Tick values and labels for a colour bar spanning ``lo``..``hi``.

    A signed range (``lo == -hi``) gets symmetric ticks −2s, −s, 0, s, 2s with a round step s, so
    the negative half is labelled as clearly as the positive one; other ranges get None (see
    :func:`auto_ticks`)."""
    top = max(abs(lo), abs(hi))
    if not (top > 0 and math.isfinite(top)) or not math.isclose(lo, -hi, rel_tol=1e-6):
        return None
    step = nice_step(top / 2)
    values = [-2 * step, -step, 0.0, step, 2 * step]
    return [(v, tick_text(v, step)) for v in values]


def auto_ticks(lo: float, hi: float, most: int = 6) -> list[tuple[float, str]]:
    """Round ticks inside ``lo``..``hi``: every multiple of a 1, 2, 2.5 or 5 × 10ᵏ step in the
    range, the step chosen so that there are at most ``most`` of them (at least two, for any
    range wider than a rounding)."""
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(hi - lo)) or hi <= lo:
        return [(lo, tick_text(lo))] if math.isfinite(lo) and lo == hi else []
    step = nice_step((hi - lo) / max(1, most - 1))
    while True:
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        if last - first < most:
            break
        step = nice_step(step * 2.01)  # the next round step up: 1 → 2 → 2.5 (… → 5) → 5 → 10
    # i × m × 10ᵏ with the step's mantissa m and exponent k: dividing by 10⁻ᵏ, not multiplying by
    # 10ᵏ (inexact for k < 0), keeps 13 × 0.0001 at 0.0013 and not a hair past it
    k = math.floor(math.log10(step))
    m = round(step / 10.0**k, 6)
    values = [0.0 if i == 0 else (i * m) / 10.0 ** (-k) if k < 0 else (i * m) * 10.0**k for i in range(first, last + 1)]
    return [(v, tick_text(v, step)) for v in values]


class ColorBar(pg.GraphicsWidget):
    """A vertical colour bar for an image view (see the module docstring).

    :meth:`setColorMap` and :meth:`setLevels` set what it shows; :meth:`set_ticks` gives the
    labels (None: round ticks chosen for the levels); :meth:`set_title` the title;
    :meth:`set_scale_width` the room kept for the labels, so a live update with narrower labels
    does not lay the view out again."""

    BAR_WIDTH = 16
    TICK_LENGTH = 4
    TEXT_GAP = 3
    #: The room (pixels) kept for the labels at least; more when they need it.
    MIN_SCALE_WIDTH = 38

    def __init__(self, text_color: str = "#e8eaed") -> None:
        super().__init__()
        self._levels = (0.0, 1.0)
        self._gradient: QImage | None = None
        self._scaled: tuple | None = None  # ((size, gradient key), the gradient at the bar's size)
        self._ticks: list[tuple[float, str]] | None = None
        self._title = ""
        self._font = QFont()
        self._scale_width = self.MIN_SCALE_WIDTH  # a view whose bar stays hidden keeps that room too
        self._text_color = QColor(text_color)
        self._frame = QColor("#9aa0a6")
        self.colorMap: pg.ColorMap | None = None
        self._peers: list[ColorBar] = [self]  # bars of linked views: all as wide as the widest
        policy = QSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        # hidden, it keeps its room: a view without a bar (the original beside a result) keeps
        # an image box of the same size as its neighbour's, so linked views show the same pixels
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
        self._fit_width()

    # -- what it shows ----------------------------------------------------------------------------
    def setColorMap(self, cmap: pg.ColorMap) -> None:  # noqa: N802 (pyqtgraph's name)
        lut = np.asarray(cmap.getLookupTable(nPts=256, alpha=True), np.uint8)[::-1]  # top = high
        bgra = np.ascontiguousarray(lut[:, [2, 1, 0, 3]]).reshape(256, 1, 4)
        self._gradient = QImage(bgra.data, 1, 256, 4, QImage.Format.Format_ARGB32).copy()
        self.colorMap = cmap
        self.update()

    def setLevels(self, levels: tuple[float, float]) -> None:  # noqa: N802 (pyqtgraph's name)
        lo, hi = float(levels[0]), float(levels[1])
        if (lo, hi) != self._levels:
            self._levels = (lo, hi)
            self.update()

    def levels(self) -> tuple[float, float]:
        return self._levels

    def set_ticks(self, ticks: list[tuple[float, str]] | None) -> None:
        """The scale's (value, label) pairs; None: :func:`auto_ticks` of the levels."""
        if ticks != self._ticks:
            self._ticks = None if ticks is None else list(ticks)
            self.update()

    def ticks(self) -> list[tuple[float, str]]:
        """The (value, label) pairs inside the levels."""
        lo, hi = self._levels
        ticks = self._ticks if self._ticks is not None else auto_ticks(lo, hi)
        span = (hi - lo) * 1e-9
        return [(v, t) for v, t in ticks if lo - span <= v <= hi + span]

    def drawn_ticks(self) -> list[tuple[float, float, str]]:
        """(value, y, label) of the labels drawn at the bar's height now: from the bottom up,
        a label that would overlap the one below it is left out (a short bar on a large font)."""
        bar = self._bar_rect()
        lo, hi = self._levels
        span = (hi - lo) or 1.0
        line = QFontMetricsF(self._font).height()
        drawn: list[tuple[float, float, str]] = []
        for value, text in sorted(self.ticks()):
            y = bar.bottom() - (value - lo) / span * bar.height()
            if not drawn or drawn[-1][1] - y >= line:
                drawn.append((value, y, text))
        return drawn

    def set_title(self, text: str) -> None:
        """The title written upwards beside the bar ("" for none), e.g. "× 10⁶"."""
        if text != self._title:
            self._title = text
            self._fit_width()
            self.update()

    def title(self) -> str:
        return self._title

    def set_font(self, font: QFont) -> None:
        """The font of the labels and the title (the view's: larger in presentation mode)."""
        if font != self._font:
            self._font = QFont(font)
            self._fit_width()
            self.update()

    def font(self) -> QFont:  # the labels' font (QGraphicsWidget's own is not used)
        return QFont(self._font)

    def label_widths(self, labels: list[str]) -> float:
        """The width of the widest of ``labels`` in the bar's font."""
        metrics = QFontMetricsF(self._font)
        return max((metrics.horizontalAdvance(t) for t in labels), default=0.0)

    def set_scale_width(self, width: int) -> None:
        """Room for the labels right of the tick marks, in pixels."""
        if width != self._scale_width:
            self._scale_width = width
            self._fit_width()

    def scale_width(self) -> int:
        return self._scale_width

    def share_width(self, other: ColorBar) -> None:
        """Keep this bar and ``other`` (and the bars either already shares with) equally wide, as
        wide as the widest needs: the image boxes of linked views beside them, shown or hidden,
        then keep one size and show the same pixels."""
        if other in self._peers:
            return
        peers = self._peers + [bar for bar in other._peers if bar not in self._peers]
        for bar in peers:
            bar._peers = peers
        self._fit_width()

    # -- geometry and drawing ---------------------------------------------------------------------
    def _title_room(self) -> int:
        """The width the title written upwards takes, left of the gradient (0 without one)."""
        return math.ceil(QFontMetricsF(self._font).height()) + 2 if self._title else 0

    def _needed_width(self) -> int:
        return self._title_room() + self.BAR_WIDTH + self.TICK_LENGTH + self.TEXT_GAP + self._scale_width + 2

    def _fit_width(self) -> None:
        width = max(bar._needed_width() for bar in self._peers)
        for bar in self._peers:
            if bar.minimumWidth() != width or bar.maximumWidth() != width:
                bar.setMinimumWidth(width)
                bar.setMaximumWidth(width)
                bar.updateGeometry()

    def _bar_rect(self) -> QRectF:
        """The gradient's rectangle: the labels at its ends are centred on them, so it leaves half
        a line of text above and below."""
        metrics = QFontMetricsF(self._font)
        half = math.ceil(metrics.height() / 2)
        # drawn from the left edge, the room a wider linked bar needs staying on the right
        height = max(1.0, self.size().height() - 2 * half)
        return QRectF(self._title_room() + 0.5, half + 0.5, self.BAR_WIDTH, height - 1)

    def paint(self, painter: QPainter, *args) -> None:
        bar = self._bar_rect()
        if self._gradient is not None:
            # drawn from a copy made at the bar's size (scaling 256 colours into the bar on every
            # paint cost ~0.1 ms more)
            size = (max(1, round(bar.width())), max(1, round(bar.height())))
            if self._scaled is None or self._scaled[0] != (size, self._gradient.cacheKey()):
                scaled = self._gradient.scaled(*size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
                self._scaled = ((size, self._gradient.cacheKey()), scaled.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied))
            painter.drawImage(bar.topLeft(), self._scaled[1])
        painter.setPen(QPen(self._frame, 0))
        painter.drawRect(bar)
        painter.setFont(self._font)
        metrics = QFontMetricsF(self._font)
        x = bar.right()
        tick_pen, text_pen = QPen(self._text_color, 0), QPen(self._text_color)
        for _value, y, text in self.drawn_ticks():
            painter.setPen(tick_pen)
            painter.drawLine(QPointF(x, y), QPointF(x + self.TICK_LENGTH, y))
            painter.setPen(text_pen)
            box = QRectF(x + self.TICK_LENGTH + self.TEXT_GAP, y - metrics.height() / 2, self._scale_width + 2, metrics.height())
            painter.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        if self._title:
            painter.save()
            painter.setPen(text_pen)
            painter.translate(0, bar.center().y())
            painter.rotate(-90)
            box = QRectF(-bar.height() / 2, 0, bar.height(), metrics.height() + 2)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self._title)
            painter.restore()
