"""A grid of numbers drawn with QPainter: the convolution stepper's input, kernel and output.

Why a custom widget: a 256×256 input is 65 536 cells. The cell colours are kept as one small
``QImage`` (one pixel per cell) drawn scaled with nearest-neighbour sampling, so a step only
repaints the highlights on top; numbers are drawn only for the visible cells and only when a
cell is big enough to read them. Wheel zooms around the mouse, a left drag pans, a double click
fits the grid again.

Coordinates are (row, col) of the array given to :meth:`NumberGridView.set_grid`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QLineF, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["Highlight", "NumberGridView", "colorize", "format_cell"]

BLANK = QColor("#fbfbf8")
GRID_LINE = QColor(0, 0, 0, 40)
NAN_RGB = (236, 170, 220)
PAD_TEXT = QColor("#6b4200")
MIN_TEXT_PX = 7.0  # smallest font pixel size still drawn
MAX_FIT_CELL = 64.0
MAX_CELL = 180.0

_CHANNEL_TOPS = {"red": (255, 70, 60), "green": (60, 200, 70), "blue": (70, 120, 255)}


def _lut(scheme: str) -> np.ndarray:
    t = np.linspace(0.0, 1.0, 256)[:, None]
    if scheme == "gray":
        return np.repeat(np.round(t * 255), 3, axis=1).astype(np.uint8)
    if scheme in _CHANNEL_TOPS:
        top = np.array(_CHANNEL_TOPS[scheme], dtype=np.float64)
        return np.round(t * top).astype(np.uint8)
    # diverging: blue (−) · white (0) · red (+)
    neg = np.array([44, 105, 190], dtype=np.float64)
    pos = np.array([205, 45, 45], dtype=np.float64)
    white = np.array([255, 255, 255], dtype=np.float64)
    a = np.clip(1.0 - 2.0 * t, 0, 1)  # weight of blue
    b = np.clip(2.0 * t - 1.0, 0, 1)  # weight of red
    rgb = white * (1 - a - b) + neg * a + pos * b
    return np.round(rgb).astype(np.uint8)


_LUTS: dict[str, np.ndarray] = {}


def colorize(values: np.ndarray, scheme: str, levels: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W) values → (H, W, 3) uint8 colours. ``scheme``: "gray", "red", "green", "blue" (dark
    to bright) or "diverging" (0 is white; levels default to ±max|v|). NaN gets its own pink."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    if levels is None:
        if finite.any():
            lo, hi = float(v[finite].min()), float(v[finite].max())
        else:
            lo, hi = 0.0, 1.0
        if scheme == "diverging":
            m = max(abs(lo), abs(hi)) or 1.0
            lo, hi = -m, m
    else:
        lo, hi = levels
    if not hi > lo:
        hi = lo + 1.0
    lut = _LUTS.get(scheme)
    if lut is None:
        lut = _LUTS[scheme] = _lut(scheme)
    t = np.where(finite, (v - lo) / (hi - lo), 0.0)
    idx = np.clip(np.round(t * 255), 0, 255).astype(np.uint8)
    rgb = lut[idx]
    if not finite.all():
        rgb[~finite] = NAN_RGB
    return rgb


def format_cell(v: float) -> str:
    """Short text for a cell: integers plainly, else 3 significant digits, a real minus sign."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if abs(v - round(v)) < 1e-6 and abs(v) < 1e7:
        s = str(int(round(v)))
    elif 0 < abs(v) < 1:
        s = f"{v:.2g}"
    else:
        s = f"{v:.3g}"
    return s.replace("-", "−")


@dataclass
class Highlight:
    """Cells drawn over the grid: a translucent fill, an outline and optional small marks."""

    cells: Sequence[tuple[int, int]]
    color: QColor
    fill_alpha: int = 70
    width: float = 3.0
    outline: bool = True
    ring: bool = False  # a circle in each cell (e.g. the max-pool winner)
    marks: dict[tuple[int, int], str] = field(default_factory=dict)


class NumberGridView(QWidget):
    """Draws a 2-D array as coloured cells with their numbers; click and hover report cells.

    Signals: ``cell_clicked(row, col)`` on a click (not a drag) and ``cell_hovered(row, col)``
    when the mouse moves onto another cell (``-1, -1`` when it leaves the grid).
    """

    cell_clicked = Signal(int, int)
    cell_hovered = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values: np.ndarray | None = None
        self._rgb: np.ndarray | None = None
        self._image: QImage | None = None
        self._labels_cache: dict[tuple[int, int], tuple[str, bool]] = {}
        self._lines_layer: tuple[tuple, QImage] | None = None  # see _paint_grid_lines
        self._nan_label = "NaN"
        self._filled: int | None = None
        self._pads = ((0, 0), (0, 0))
        self._pad_label: str | None = None
        self._highlights: list[Highlight] = []
        self._placeholder = ""
        self._text_scale = 1.0
        self._zoom = 1.0
        self._pan = QPointF(0.0, 0.0)
        self._press: QPointF | None = None
        self._panning = False
        self._hover: tuple[int, int] = (-1, -1)
        self._cell_group: list[NumberGridView] = []
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(60, 60)
        self.setToolTip("Wheel: zoom · drag: pan · double-click: fit")

    # -- content -----------------------------------------------------------------------------
    def set_grid(
        self,
        values: np.ndarray | None,
        scheme: str = "gray",
        levels: tuple[float, float] | None = None,
        nan_label: str = "NaN",
        nan_blank: bool = False,
    ) -> None:
        """Show ``values`` (H, W); ``None`` clears the grid (the placeholder text is drawn).

        ``nan_blank`` draws NaN cells empty (a cell not computed yet) instead of pink "NaN"."""
        self._nan_label = nan_label
        if values is None:
            self._values = self._rgb = self._image = None
            self.update()
            return
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 2:
            raise ValueError(f"A grid is 2-D; got shape {v.shape}.")
        shape_changed = self._values is None or self._values.shape != v.shape
        self._values = v
        rgb = colorize(v, scheme, levels)
        if nan_blank:
            rgb[np.isnan(v)] = (BLANK.red(), BLANK.green(), BLANK.blue())
        self._rgb = np.ascontiguousarray(rgb)
        h, w = v.shape
        self._image = QImage(self._rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        if shape_changed:
            self._zoom, self._pan = 1.0, QPointF(0.0, 0.0)
        self.update()

    def set_filled(self, count: int | None) -> None:
        """Only the first ``count`` cells (row-major) are computed; the rest are drawn empty."""
        if count != self._filled:
            self._filled = count
            self.update()

    def set_padding(self, pads: tuple[tuple[int, int], tuple[int, int]], label: str | None = None) -> None:
        """Mark the outer ring ((top, bottom), (left, right)) as padding; ``label`` replaces
        its numbers (e.g. "—" where padding takes no part)."""
        self._pads = pads
        self._pad_label = label
        self.update()

    def set_highlights(self, highlights: list[Highlight], follow: tuple[int, int] | None = None) -> None:
        """Draw these highlights; when zoomed in, pan so the ``follow`` cell stays in view."""
        self._highlights = highlights
        if follow is not None and self._zoom > 1.0 and self._values is not None:
            rect = self.cell_rect(*follow)
            if not QRectF(self.rect()).adjusted(4, 4, -4, -4).contains(rect):
                self._pan += QPointF(self.width() / 2, self.height() / 2) - rect.center()
        self.update()

    def set_placeholder(self, text: str) -> None:
        """Text shown when there is no grid (e.g. why the settings give no output)."""
        self._placeholder = text
        self.update()

    def set_text_scale(self, scale: float) -> None:
        """Bigger numbers (presentation mode): also lets small grids grow larger cells."""
        self._text_scale = float(scale)
        self.update()

    def values(self) -> np.ndarray | None:
        return None if self._values is None else self._values.copy()

    def displayed_values(self) -> np.ndarray | None:
        """What a reader sees: the values with not-yet-computed cells as NaN."""
        if self._values is None:
            return None
        out = self._values.copy()
        if self._filled is not None:
            out.reshape(-1)[self._filled :] = np.nan
        return out

    def grid_shape(self) -> tuple[int, int]:
        return (0, 0) if self._values is None else self._values.shape  # type: ignore[return-value]

    def highlights(self) -> list[Highlight]:
        return list(self._highlights)

    def zoom(self) -> float:
        return self._zoom

    def copy_view(self, other: NumberGridView) -> None:
        """Zoom and pan like ``other`` (an off-screen copy renders what the user looks at)."""
        self._zoom, self._pan = other._zoom, QPointF(other._pan)
        self.update()

    def fit(self) -> None:
        """Back to the whole grid in view."""
        self._zoom, self._pan = 1.0, QPointF(0.0, 0.0)
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(260, 260)

    def set_cell_group(self, views: list[NumberGridView]) -> None:
        """Fit cells no larger than the visible grids among ``views`` fit theirs, so grids shown
        side by side (an input, a kernel, an output) have cells of one size: a grid with more
        rows gets the height it needs instead of small numbers beside large ones. An empty list
        lets the grid fill its own space."""
        self._cell_group = [v for v in views if v is not self]
        self.update()

    def number_font_px(self) -> int:
        """The pixel size the numbers are drawn with at the current fit (0 when none are)."""
        if self._values is None:
            return 0
        longest = max((format_cell(v) for v in self._values.ravel()[:6000]), key=len, default="0")
        font = self._font_for(self.cell_size(), longest) if self.cell_size() >= 12 else None
        return font.pixelSize() if font is not None else 0

    # -- geometry ----------------------------------------------------------------------------
    def _fit_cell(self) -> float:
        cs = self._own_fit_cell()
        for view in self._cell_group:
            if view.isVisible() and all(view.grid_shape()):
                cs = min(cs, view._own_fit_cell())
        return cs

    def _own_fit_cell(self) -> float:
        h, w = self.grid_shape()
        if not h or not w:
            return 1.0
        m = 6.0
        cs = min((self.width() - 2 * m) / w, (self.height() - 2 * m) / h)
        return max(0.05, min(cs, MAX_FIT_CELL * max(1.0, self._text_scale)))

    def cell_size(self) -> float:
        return min(self._fit_cell() * self._zoom, MAX_CELL * max(1.0, self._text_scale))

    def _origin(self) -> QPointF:
        h, w = self.grid_shape()
        cs = self.cell_size()
        return QPointF((self.width() - w * cs) / 2, (self.height() - h * cs) / 2) + self._pan

    def cell_rect(self, row: int, col: int) -> QRectF:
        cs = self.cell_size()
        o = self._origin()
        return QRectF(o.x() + col * cs, o.y() + row * cs, cs, cs)

    def cell_center(self, row: int, col: int) -> QPoint:
        """Widget pixel at the centre of a cell (what a click on it uses)."""
        return self.cell_rect(row, col).center().toPoint()

    def cell_at(self, pos: QPoint | QPointF) -> tuple[int, int] | None:
        h, w = self.grid_shape()
        if not h:
            return None
        cs = self.cell_size()
        o = self._origin()
        c = math.floor((pos.x() - o.x()) / cs)
        r = math.floor((pos.y() - o.y()) / cs)
        if 0 <= r < h and 0 <= c < w:
            return int(r), int(c)
        return None

    def _visible(self, clip: QRectF) -> tuple[int, int, int, int]:
        h, w = self.grid_shape()
        cs = self.cell_size()
        o = self._origin()
        c0 = max(0, math.floor((clip.left() - o.x()) / cs))
        c1 = min(w, math.ceil((clip.right() - o.x()) / cs))
        r0 = max(0, math.floor((clip.top() - o.y()) / cs))
        r1 = min(h, math.ceil((clip.bottom() - o.y()) / cs))
        return r0, r1, c0, c1

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            if self._values is None:
                self._paint_placeholder(p)
                return
            self._paint_grid(p, QRectF(event.rect()))
        finally:
            p.end()

    def _paint_placeholder(self, p: QPainter) -> None:
        p.fillRect(self.rect(), BLANK)
        p.setPen(QPen(QColor(0, 0, 0, 60), 1, Qt.PenStyle.DashLine))
        p.drawRect(QRectF(self.rect()).adjusted(2, 2, -3, -3))
        if self._placeholder:
            f = QFont(self.font())
            f.setPointSizeF(max(8.0, f.pointSizeF()))
            p.setFont(f)
            p.setPen(QColor("#555"))
            p.drawText(
                QRectF(self.rect()).adjusted(10, 10, -10, -10),
                int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                self._placeholder,
            )

    def _paint_grid(self, p: QPainter, clip: QRectF) -> None:
        h, w = self.grid_shape()
        cs = self.cell_size()
        o = self._origin()
        r0, r1, c0, c1 = self._visible(clip)
        if r1 <= r0 or c1 <= c0:
            return
        target = QRectF(o.x() + c0 * cs, o.y() + r0 * cs, (c1 - c0) * cs, (r1 - r0) * cs)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(target, self._image, QRectF(c0, r0, c1 - c0, r1 - r0))
        # cells not computed yet
        if self._filled is not None and self._filled < h * w:
            fr, fc = divmod(self._filled, w)
            if fr < r1:
                if fc > 0 and fr >= r0:
                    a = max(fc, c0)
                    if a < c1:
                        p.fillRect(QRectF(o.x() + a * cs, o.y() + fr * cs, (c1 - a) * cs, cs), BLANK)
                    fr += 1
                top = max(fr, r0)
                if top < r1:
                    p.fillRect(QRectF(target.left(), o.y() + top * cs, target.width(), (r1 - top) * cs), BLANK)
        (pt, pb), (pl, pr) = self._pads
        if pt or pb or pl or pr:
            self._paint_padding(p, o, cs, h, w)
        if cs >= 6:
            self._paint_grid_lines(p, o, cs)
        self._paint_numbers(p, o, cs, r0, r1, c0, c1)
        for hl in self._highlights:
            self._paint_highlight(p, hl, o, cs, r0, r1, c0, c1)
        # the grid's border
        p.setPen(QPen(QColor(0, 0, 0, 120), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(o.x(), o.y(), w * cs, h * cs))

    def _paint_grid_lines(self, p: QPainter, o: QPointF, cs: float) -> None:
        """The lines between the cells, translucent over them. Qt draws a set of translucent
        lines as one shape, so that crossings are not darkened twice: ~10 ms for a 66×66 grid,
        on every step. The lines are drawn opaque once into a picture of their own (kept while
        the grid's place and zoom stay) and laid over the cells at the lines' opacity, which
        blends each pixel once as well."""
        dpr = self.devicePixelRatioF()
        size = self.size()
        key = (size.width(), size.height(), dpr, o.x(), o.y(), cs, self.grid_shape())
        if self._lines_layer is None or self._lines_layer[0] != key:
            layer = QImage(max(1, round(size.width() * dpr)), max(1, round(size.height() * dpr)),
                           QImage.Format.Format_ARGB32_Premultiplied)
            layer.setDevicePixelRatio(dpr)
            layer.fill(Qt.GlobalColor.transparent)
            r0, r1, c0, c1 = self._visible(QRectF(self.rect()))
            x0, x1 = o.x() + c0 * cs, o.x() + c1 * cs
            y0, y1 = o.y() + r0 * cs, o.y() + r1 * cs
            lines = [QLineF(x0, o.y() + r * cs, x1, o.y() + r * cs) for r in range(r0, r1 + 1)]
            lines += [QLineF(o.x() + c * cs, y0, o.x() + c * cs, y1) for c in range(c0, c1 + 1)]
            lp = QPainter(layer)
            lp.setPen(QPen(QColor(GRID_LINE.red(), GRID_LINE.green(), GRID_LINE.blue()), 1))
            lp.drawLines(lines)
            lp.end()
            self._lines_layer = (key, layer)
        p.save()
        p.setOpacity(GRID_LINE.alphaF())
        p.drawImage(QPointF(0, 0), self._lines_layer[1])
        p.restore()

    def _paint_padding(self, p: QPainter, o: QPointF, cs: float, h: int, w: int) -> None:
        (pt, pb), (pl, pr) = self._pads
        tint = QColor(255, 238, 205, 215)
        hatch = QBrush(QColor(190, 130, 30, 110), Qt.BrushStyle.BDiagPattern)
        bands = [
            QRectF(o.x(), o.y(), w * cs, pt * cs),
            QRectF(o.x(), o.y() + (h - pb) * cs, w * cs, pb * cs),
            QRectF(o.x(), o.y() + pt * cs, pl * cs, (h - pt - pb) * cs),
            QRectF(o.x() + (w - pr) * cs, o.y() + pt * cs, pr * cs, (h - pt - pb) * cs),
        ]
        for b in bands:
            if b.width() > 0 and b.height() > 0:
                p.fillRect(b, tint)
                p.fillRect(b, hatch)
        inner = QRectF(o.x() + pl * cs, o.y() + pt * cs, (w - pl - pr) * cs, (h - pt - pb) * cs)
        pen = QPen(QColor("#8a5a00"), max(1.5, min(3.0, cs / 12)), Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(inner)

    def _font_for(self, cs: float, longest: str) -> QFont | None:
        f = QFont(self.font())
        px = min(cs * 0.5, 15.0 * self._text_scale + cs * 0.12)
        while px >= MIN_TEXT_PX:
            f.setPixelSize(int(px))
            if QFontMetricsF(f).horizontalAdvance(longest) <= cs - 4:
                return f
            px -= 1
        return None

    def _is_pad(self, r: int, c: int) -> bool:
        (pt, pb), (pl, pr) = self._pads
        h, w = self.grid_shape()
        return r < pt or r >= h - pb or c < pl or c >= w - pr

    def _paint_numbers(self, p: QPainter, o: QPointF, cs: float, r0: int, r1: int, c0: int, c1: int) -> None:
        if cs < 12 or (r1 - r0) * (c1 - c0) > 6000:
            return
        vals = self._values[r0:r1, c0:c1]
        labels = [[format_cell(v) for v in row] for row in vals]
        longest = max((s for row in labels for s in row), key=len, default="0")
        font = self._font_for(cs, longest)
        if font is None:
            return
        italic = QFont(font)
        italic.setItalic(True)
        lum = self._rgb[r0:r1, c0:c1] @ np.array([0.299, 0.587, 0.114])
        dark, light = QColor("#111"), QColor("#fff")
        filled = self._filled if self._filled is not None else None
        w = self.grid_shape()[1]
        align = int(Qt.AlignmentFlag.AlignCenter)
        for a, r in enumerate(range(r0, r1)):
            for b, c in enumerate(range(c0, c1)):
                if filled is not None and r * w + c >= filled:
                    continue
                text = labels[a][b]
                pad = self._is_pad(r, c)
                if pad and self._pad_label is not None:
                    text = self._pad_label
                elif text == "NaN":
                    text = self._nan_label
                if not text:
                    continue
                p.setFont(italic if pad else font)
                p.setPen(PAD_TEXT if pad else (dark if lum[a, b] > 135 else light))
                p.drawText(QRectF(o.x() + c * cs, o.y() + r * cs, cs, cs), align, text)

    def _paint_highlight(self, p: QPainter, hl: Highlight, o: QPointF, cs: float, r0, r1, c0, c1) -> None:
        if not hl.cells:
            return
        fill = QColor(hl.color)
        fill.setAlpha(hl.fill_alpha)
        cells = [(r, c) for r, c in hl.cells if r0 - 1 <= r <= r1 and c0 - 1 <= c <= c1]
        if hl.fill_alpha:
            for r, c in cells:
                p.fillRect(QRectF(o.x() + c * cs, o.y() + r * cs, cs, cs), fill)
        pen = QPen(hl.color, max(1.5, min(hl.width * self._text_scale, cs / 5 + 1)))
        pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if hl.outline:
            rows = [r for r, _ in hl.cells]
            cols = [c for _, c in hl.cells]
            ra, rb, ca, cb = min(rows), max(rows), min(cols), max(cols)
            solid = len(set(hl.cells)) == (rb - ra + 1) * (cb - ca + 1)
            if solid:
                p.drawRect(QRectF(o.x() + ca * cs, o.y() + ra * cs, (cb - ca + 1) * cs, (rb - ra + 1) * cs))
            else:
                for r, c in cells:
                    p.drawRect(QRectF(o.x() + c * cs, o.y() + r * cs, cs, cs).adjusted(1, 1, -1, -1))
        if hl.ring:
            for r, c in cells:
                p.drawEllipse(QRectF(o.x() + c * cs, o.y() + r * cs, cs, cs).adjusted(cs * 0.1, cs * 0.1, -cs * 0.1, -cs * 0.1))
        if hl.marks and cs >= 34:
            f = QFont(self.font())
            f.setPixelSize(max(8, int(cs * 0.2)))
            f.setBold(True)
            p.setFont(f)
            fm = QFontMetricsF(f)
            back = QColor(255, 255, 255, 215)
            p.setPen(hl.color.darker(150))
            for (r, c), text in hl.marks.items():
                if r0 <= r < r1 and c0 <= c < c1:
                    tw, th = fm.horizontalAdvance(text) + 4, fm.height()
                    box = QRectF(o.x() + (c + 1) * cs - tw - 2, o.y() + (r + 1) * cs - th - 2, tw, th)
                    p.fillRect(box, back)
                    p.drawText(box, int(Qt.AlignmentFlag.AlignCenter), text)

    # -- mouse -------------------------------------------------------------------------------
    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            self._press = ev.position()
            self._panning = False
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if self._press is not None and ev.buttons() & Qt.MouseButton.LeftButton:
            delta = ev.position() - self._press
            if self._panning or abs(delta.x()) + abs(delta.y()) > 5:
                self._panning = True
                self._pan += delta
                self._press = ev.position()
                self.update()
            return
        cell = self.cell_at(ev.position()) or (-1, -1)
        if cell != self._hover:
            self._hover = cell
            self.cell_hovered.emit(*cell)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and self._press is not None:
            if not self._panning:
                cell = self.cell_at(ev.position())
                if cell is not None:
                    self.cell_clicked.emit(*cell)
            self._press = None
            self._panning = False
        super().mouseReleaseEvent(ev)

    def mouseDoubleClickEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        self.fit()

    def leaveEvent(self, ev) -> None:  # noqa: N802
        if self._hover != (-1, -1):
            self._hover = (-1, -1)
            self.cell_hovered.emit(-1, -1)
        super().leaveEvent(ev)

    def wheelEvent(self, ev: QWheelEvent) -> None:  # noqa: N802
        if self._values is None:
            return
        steps = ev.angleDelta().y() / 120.0
        if not steps:
            return
        old_cs = self.cell_size()
        new_zoom = min(max(self._zoom * (1.25 ** steps), 1.0), 4096.0)
        pos = ev.position()
        o = self._origin()
        self._zoom = new_zoom
        new_cs = self.cell_size()
        if new_zoom == 1.0:
            self._pan = QPointF(0.0, 0.0)
        else:
            # keep the point under the mouse where it is
            target = pos - (pos - o) * (new_cs / old_cs)
            self._pan += target - self._origin()
        self.update()
        ev.accept()
