"""A grid of small images painted in one widget: a layer's feature maps, or a conv layer's kernels.

Why a custom widget rather than one pyqtgraph view per map: a layer has tens to thousands of
maps, and a ViewBox per map costs milliseconds each to build and lay out. Here every tile is one
small ``QImage`` (one pixel per activation, coloured through a 256-entry lookup table) drawn
scaled with nearest-neighbour sampling, so a page of 64 maps repaints in one QPainter pass and
what is drawn is exactly the numbers, block for block.

Colours: signed data gets the diverging map (blue − · white 0 · red +) with levels ±max|v|, so
zero is always white; non-negative data (ReLU outputs) gets a dark-to-bright heat map from 0.
The colour bar at the right says which numbers the colours stand for; with per-map scaling every
tile has its own range, and the bar says so instead of printing one misleading scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QLinearGradient, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnnviz.gui.widgets.image_view import diverging_colormap, heat_colormap

__all__ = ["FeatureGridWidget", "colorize_map", "map_levels"]

BACKGROUND = QColor("#202124")
TEXT = QColor("#e8eaed")
DIM_TEXT = QColor("#9aa0a6")
SELECTED = QColor("#00e5ff")
BAR_WIDTH = 16

_LUT_CACHE: dict[str, np.ndarray] = {}


def _lut(signed: bool) -> np.ndarray:
    key = "signed" if signed else "heat"
    lut = _LUT_CACHE.get(key)
    if lut is None:
        cmap = diverging_colormap() if signed else heat_colormap()
        lut = np.ascontiguousarray(np.asarray(cmap.getLookupTable(nPts=256))[:, :3], dtype=np.uint8)
        _LUT_CACHE[key] = lut
    return lut


def map_levels(values: np.ndarray, signed: bool) -> tuple[float, float]:
    """Levels for one array: ±max|v| when signed (0 in the middle), else 0…max."""
    v = np.asarray(values, dtype=np.float32)
    finite = v[np.isfinite(v)] if v.size else v
    if finite.size == 0:
        return (-1.0, 1.0) if signed else (0.0, 1.0)
    if signed:
        m = float(np.max(np.abs(finite)))
        return (-m, m) if m > 0 else (-1.0, 1.0)
    lo, hi = min(0.0, float(finite.min())), float(finite.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def colorize_map(values: np.ndarray, levels: tuple[float, float], signed: bool) -> np.ndarray:
    """(H, W) floats → (H, W, 3) uint8 through the diverging or heat lookup table."""
    lo, hi = levels
    span = hi - lo if hi > lo else 1.0
    t = (np.nan_to_num(np.asarray(values, dtype=np.float32), nan=lo) - lo) * (255.0 / span)
    idx = np.clip(t, 0, 255).astype(np.uint8)
    return _lut(signed)[idx]


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    s = f"{v:.3g}" if 1e-3 <= a < 1e4 else f"{v:.1e}"
    return s.replace("-", "−")


class FeatureGridWidget(QWidget):
    """Tiles of maps (float, coloured here) or of RGB images, with labels and a colour bar.

    ``tile_clicked(index)`` reports the clicked tile's *global* index (first + position on the
    page), so a paged layer reports the map number the user sees under the tile;
    ``cell_clicked(index, row, col)`` follows it when the click fell on a map's cell (not its
    label), with that cell of the map as handed to :meth:`set_maps`.
    """

    tile_clicked = Signal(int)
    cell_clicked = Signal(int, int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._images: list[QImage] = []
        self._labels: list[str] = []
        self._dead: list[bool] = []
        self._tile_levels: list[tuple[float, float]] = []
        self._maps: np.ndarray | None = None
        self._first = 0
        self._total = 0
        self._tile_hw = (1, 1)
        self._signed = False
        self._bar: tuple[float, float] | None = None
        self._bar_note = ""
        self._show_bar = True
        self._selected: int | None = None
        self._message = ""
        self._text_scale = 1.0
        self._press: QPointF | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)

    # -- content -----------------------------------------------------------------------------
    def set_maps(
        self,
        maps: np.ndarray,
        first: int = 0,
        total: int | None = None,
        *,
        levels: tuple[float, float] | None = None,
        signed: bool | None = None,
        bar_note: str = "",
    ) -> None:
        """Show ``maps`` (n, h, w). ``levels`` None scales each map on its own (the bar then says
        so); otherwise every tile shares ``levels``. ``signed`` None: signed when any value < 0."""
        maps = np.asarray(maps, dtype=np.float32)
        if maps.ndim != 3:
            raise ValueError(f"maps must be (n, h, w), got shape {maps.shape}")
        if signed is None:
            signed = bool(maps.size and np.nanmin(maps) < 0)
        if levels is not None and signed:
            m = max(abs(levels[0]), abs(levels[1])) or 1.0
            levels = (-m, m)
        self._maps = maps
        self._signed = signed
        self._first = int(first)
        self._total = int(total if total is not None else first + len(maps))
        self._tile_hw = (maps.shape[1], maps.shape[2]) if len(maps) else (1, 1)
        self._images, self._tile_levels, self._dead = [], [], []
        for m in maps:
            lv = levels if levels is not None else map_levels(m, signed)
            self._tile_levels.append(lv)
            self._images.append(_qimage(colorize_map(m, lv, signed)))
            self._dead.append(bool(m.size) and not np.any(m))
        self._labels = [f"#{first + i}" for i in range(len(maps))]
        self._bar = levels
        self._bar_note = bar_note or ("each map scaled to its own range" if levels is None else "")
        self._show_bar = True
        self._message = ""
        if self._selected is not None and not (self._first <= self._selected < self._first + len(maps)):
            self._selected = None
        self.update()

    def set_rgb_tiles(self, tiles: Sequence[np.ndarray], labels: Sequence[str], first: int = 0,
                      total: int | None = None) -> None:
        """Show ready-made RGB uint8 tiles (e.g. first-layer kernels as colour patches)."""
        self._maps = None
        self._images = [_qimage(t) for t in tiles]
        self._tile_levels = [(0.0, 255.0)] * len(tiles)
        self._dead = [False] * len(tiles)
        self._labels = list(labels)
        self._first = int(first)
        self._total = int(total if total is not None else first + len(tiles))
        self._tile_hw = tiles[0].shape[:2] if len(tiles) else (1, 1)
        self._bar = None
        self._show_bar = False
        self._message = ""
        self.update()

    def set_message(self, text: str) -> None:
        """Clear the tiles and show ``text`` (why there is nothing to show)."""
        self._images, self._labels, self._dead, self._tile_levels = [], [], [], []
        self._maps = None
        self._message = text
        self._selected = None
        self.update()

    def set_selected(self, index: int | None) -> None:
        """Outline the tile with this global index (None: no outline)."""
        self._selected = index
        self.update()

    def set_text_scale(self, scale: float) -> None:
        self._text_scale = float(scale)
        self.update()

    # -- reading back (tests, the pane) ------------------------------------------------------
    def tile_count(self) -> int:
        return len(self._images)

    def first_index(self) -> int:
        return self._first

    def total(self) -> int:
        return self._total

    def selected(self) -> int | None:
        return self._selected

    def message(self) -> str:
        return self._message

    def maps(self) -> np.ndarray | None:
        """The maps shown now, as handed to :meth:`set_maps`."""
        return self._maps

    def tile_levels(self, position: int) -> tuple[float, float]:
        return self._tile_levels[position]

    def is_signed(self) -> bool:
        return self._signed

    def tile_pixels(self, position: int) -> np.ndarray:
        """The colours of one tile (h, w, 3), as painted before scaling."""
        img = self._images[position].convertToFormat(QImage.Format.Format_RGB888)
        h, w = img.height(), img.width()
        buf = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h)
        return buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()

    # -- geometry ----------------------------------------------------------------------------
    def _label_height(self) -> float:
        return QFontMetricsF(self._label_font()).height() + 2

    def _label_font(self) -> QFont:
        f = QFont(self.font())
        f.setPixelSize(max(9, int(round(11 * self._text_scale))))
        return f

    def _bar_area(self) -> float:
        return (BAR_WIDTH + 52 * self._text_scale) if (self._show_bar and self._images) else 0.0

    def _layout(self) -> tuple[int, float, float, QPointF]:
        """(columns, tile side across, gap, origin) that fit every tile as large as possible."""
        n = len(self._images)
        h, w = self._tile_hw
        aspect = h / max(w, 1)
        area_w = self.width() - 8 - self._bar_area()
        area_h = self.height() - 8
        lh = self._label_height()
        gap = 6.0
        best = (1, 1.0)
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            tw = (area_w - gap * (cols - 1)) / cols
            th = (area_h - gap * (rows - 1)) / rows - lh
            side = min(tw, th / aspect)
            if side > best[1]:
                best = (cols, side)
        cols, side = best
        rows = math.ceil(n / cols) if n else 1
        used_w = cols * side + gap * (cols - 1)
        used_h = rows * (side * aspect + lh) + gap * (rows - 1)
        origin = QPointF(4 + max(0.0, (area_w - used_w) / 2), 4 + max(0.0, (area_h - used_h) / 2))
        return cols, side, gap, origin

    def tile_rect(self, position: int) -> QRectF:
        """Where tile ``position`` (0-based on this page) is drawn, in widget pixels."""
        cols, side, gap, o = self._layout()
        h, w = self._tile_hw
        th = side * h / max(w, 1)
        r, c = divmod(position, cols)
        return QRectF(o.x() + c * (side + gap), o.y() + r * (th + self._label_height() + gap), side, th)

    def tile_center(self, position: int) -> QPoint:
        return self.tile_rect(position).center().toPoint()

    def tile_at(self, pos: QPoint | QPointF) -> int | None:
        """Position on the page of the tile under ``pos`` (its label included), or None."""
        lh = self._label_height()
        for i in range(len(self._images)):
            if self.tile_rect(i).adjusted(0, 0, 0, lh).contains(QPointF(pos)):
                return i
        return None

    def cell_at(self, pos: QPoint | QPointF) -> tuple[int, int, int] | None:
        """(position on the page, row, col) of the map cell under ``pos``, or None."""
        p = QPointF(pos)
        for i in range(len(self._images)):
            rect = self.tile_rect(i)
            if rect.contains(p):
                h, w = self._tile_hw
                row = min(h - 1, int((p.y() - rect.top()) / max(rect.height(), 1e-9) * h))
                col = min(w - 1, int((p.x() - rect.left()) / max(rect.width(), 1e-9) * w))
                return i, row, col
        return None

    def cell_center(self, position: int, row: int, col: int) -> QPoint:
        """Where cell (row, col) of tile ``position`` is drawn (its centre), in widget pixels."""
        rect = self.tile_rect(position)
        h, w = self._tile_hw
        return QPointF(rect.left() + (col + 0.5) * rect.width() / w,
                       rect.top() + (row + 0.5) * rect.height() / h).toPoint()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(480, 420)

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), BACKGROUND)
            if not self._images:
                self._paint_message(p)
                return
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            font = self._label_font()
            p.setFont(font)
            lh = self._label_height()
            clip = QRectF(event.rect())
            for i, img in enumerate(self._images):
                rect = self.tile_rect(i)
                if not rect.adjusted(-3, -3, 3, lh + 3).intersects(clip):
                    continue
                p.drawImage(rect, img)
                label_rect = QRectF(rect.left() - 4, rect.bottom() + 1, rect.width() + 8, lh)
                if rect.width() >= 22:
                    p.setPen(DIM_TEXT)
                    p.drawText(label_rect, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                               self._labels[i])
                if self._dead[i] and rect.width() >= 40:
                    p.setPen(QColor(200, 200, 200, 170))
                    p.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), "all 0")
                if self._selected is not None and self._first + i == self._selected:
                    pen = QPen(SELECTED, 3)
                    pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
                    p.setPen(pen)
                    p.setBrush(Qt.BrushStyle.NoBrush)
                    p.drawRect(rect.adjusted(-2, -2, 2, 2))
            if self._show_bar:
                self._paint_bar(p)
        finally:
            p.end()

    def _paint_message(self, p: QPainter) -> None:
        if not self._message:
            return
        f = QFont(self.font())
        f.setPointSizeF(max(10.0, f.pointSizeF() * 1.1))
        p.setFont(f)
        p.setPen(TEXT)
        p.drawText(QRectF(self.rect()).adjusted(24, 24, -24, -24),
                   int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._message)

    def _paint_bar(self, p: QPainter) -> None:
        area = self._bar_area()
        x = self.width() - area + 8
        top, bottom = 14.0, self.height() - 14.0
        rect = QRectF(x, top, BAR_WIDTH, bottom - top)
        grad = QLinearGradient(rect.bottomLeft(), rect.topLeft())
        lut = _lut(self._signed)
        for k in range(0, 256, 16):
            grad.setColorAt(k / 255, QColor(*lut[k]))
        grad.setColorAt(1.0, QColor(*lut[255]))
        p.fillRect(rect, grad)
        p.setPen(QPen(QColor("#5f6368"), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(rect)
        f = self._label_font()
        p.setFont(f)
        p.setPen(TEXT)
        text_x = rect.right() + 4
        width = area - BAR_WIDTH - 10
        if self._bar is not None:
            lo, hi = self._bar
            ticks = [(hi, 1.0), (lo, 0.0)]
            if lo < 0 < hi:
                ticks.append((0.0, (0 - lo) / (hi - lo)))
            else:
                ticks.append(((lo + hi) / 2, 0.5))
            for value, t in ticks:
                y = rect.bottom() - t * rect.height()
                p.drawLine(QPointF(rect.right(), y), QPointF(rect.right() + 3, y))
                p.drawText(QRectF(text_x, y - 8 * self._text_scale, width, 16 * self._text_scale),
                           int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), _fmt(value))
        else:
            marks = [("max", 1.0), ("−max" if self._signed else "0", 0.0)]
            if self._signed:
                marks.append(("0", 0.5))
            for text, t in marks:
                y = rect.bottom() - t * rect.height()
                p.drawText(QRectF(text_x, y - 8 * self._text_scale, width, 16 * self._text_scale),
                           int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), text)
        if self._bar_note:
            p.save()
            p.setPen(DIM_TEXT)
            p.translate(text_x + width - 2, rect.center().y())
            p.rotate(-90)
            p.drawText(QRectF(-rect.height() / 2, -16 * self._text_scale, rect.height(), 16 * self._text_scale),
                       int(Qt.AlignmentFlag.AlignCenter), self._bar_note)
            p.restore()

    # -- mouse -------------------------------------------------------------------------------
    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            self._press = ev.position()
        super().mousePressEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton and self._press is not None:
            pos = self.tile_at(ev.position())
            if pos is not None and self.tile_at(self._press) == pos:
                self._selected = self._first + pos
                self.update()
                self.tile_clicked.emit(self._first + pos)
                cell = self.cell_at(ev.position()) if self._maps is not None else None
                if cell is not None:
                    self.cell_clicked.emit(self._first + pos, cell[1], cell[2])
            self._press = None
        super().mouseReleaseEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        pos = self.tile_at(ev.position())
        if pos is None:
            self.setToolTip("")
        else:
            lo, hi = self._tile_levels[pos]
            extra = ""
            if self._maps is not None:
                m = self._maps[pos]
                extra = f"\nmin {_fmt(float(m.min()))} · max {_fmt(float(m.max()))} · mean {_fmt(float(m.mean()))}"
            self.setToolTip(f"{self._labels[pos]} — click to enlarge{extra}")
        super().mouseMoveEvent(ev)
