"""The "Network" tab: the current input flowing left to right through every layer.

Each layer is a column of small maps (CNN Explainer's overview, for any Keras model): the input
first, then a page of layers; a layer with more maps than a column holds says "+N more" (a click
on it opens the layer in the Feature maps tab, where every map is paged), a vector layer is a thin
column of cells, and under each column stand the layer's type, its output shape and the size of
its receptive field. Hovering a map draws the hovered cell's receptive field on the input;
clicking a cell explains how it was computed (:mod:`.explain_view`). The pictures come from
:func:`cnnviz.ml.overview.overview_job`, which slices the pass the pane already computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from cnnviz.gui.panes.activations.explain_view import ExplainView, explain_submitter, stepper_opener
from cnnviz.gui.widgets.feature_grid import colorize_map
from cnnviz.ml.overview import OverviewRequest, overview_job
from cnnviz.state.overview import HOVER_HINT, LAYERS_PER_PAGE, OverviewState, clip_rect

BACKGROUND = QColor("#202124")
TEXT = QColor("#e8eaed")
DIM_TEXT = QColor("#9aa0a6")
FIELD = QColor("#00e5ff")
OVERVIEW_TIMEOUT_S = 120.0
#: The narrowest column (at text scale 1) the overview draws: fewer layers a page fit a narrow view.
MIN_COLUMN_PX = 72.0
#: The input's column is this many layer columns wide.
INPUT_COLUMN = 1.8


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


@dataclass
class _Column:
    lay: object  # OverviewLayer (None for the input)
    images: list[QImage]
    hw: tuple[int, int]  # cells of one tile (the thumbnail's)
    more: str
    caption: list[str]


class OverviewCanvas(QWidget):
    """The columns of one page, painted in one pass.

    Signals: ``cell_clicked(layer, channel, row, col)`` with the cell in the layer's full-size
    map (channel −1 and row = the unit for a vector); ``cell_hovered(layer, channel, row, col)``
    (layer "" when the mouse leaves every map); ``more_clicked(layer)`` on a "+N more"."""

    cell_clicked = Signal(str, int, int, int)
    cell_hovered = Signal(str, int, int, int)
    more_clicked = Signal(str)

    def __init__(self, state: OverviewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._columns: list[_Column] = []
        self._input_hw = (1, 1)
        self._field: tuple[float, float, float, float] | None = None
        self._hover: tuple[int, int] | None = None  # (column, tile)
        self._text_scale = 1.0
        self.setMouseTracking(True)
        self.setMinimumSize(240, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # -- content -------------------------------------------------------------------------------
    def rebuild(self) -> None:
        """Make the pictures of the current page (only that page's layers: a big model stays fast)."""
        st, res = self.state, self.state.result
        self._columns = []
        self._field = None
        self._hover = None
        if res is not None:
            preview = np.asarray(res.preview)
            self._input_hw = preview.shape[:2]
            if preview.dtype != np.uint8:
                lo, hi = float(preview.min()), float(preview.max())
                preview = np.clip((preview - lo) / ((hi - lo) or 1.0) * 255, 0, 255).astype(np.uint8)
            self._columns.append(_Column(None, [_qimage(preview)], preview.shape[:2], "",
                                         ["Input", "×".join(str(s) for s in np.asarray(res.preview).shape)]))
            for lay in st.page_layers():
                self._columns.append(self._column(lay))
        self.update()

    def _column(self, lay) -> _Column:
        st = self.state
        n = st.shown_count(lay)
        lo, hi = lay.levels
        signed = lo < 0
        # one scale for the whole layer (every map, not only those shown): maps compare by colour
        m = max(abs(lo), abs(hi)) or 1.0
        levels = (-m, m) if signed else (0.0, hi if hi > 0 else 1.0)
        images: list[QImage] = []
        hw = (1, 1)
        if lay.kind == "maps" and n:
            thumbs = np.asarray(lay.thumbs[:n], dtype=np.float32)
            hw = thumbs.shape[1:3]
            images = [_qimage(colorize_map(t, levels, signed)) for t in thumbs]
        elif lay.kind == "vector" and n:
            values = np.asarray(lay.values[:n], dtype=np.float32)
            images = [_qimage(colorize_map(values[:, None], levels, signed))]
            hw = (n, 1)
        return _Column(lay, images, hw, st.more_text(lay), st.caption(lay))

    def set_text_scale(self, scale: float) -> None:
        self._text_scale = float(scale)
        self._fit_columns()
        self.update()

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """As many layers a page as columns of a readable width fit (the input takes one)."""
        fit = int((self.width() - 8) / (MIN_COLUMN_PX * self._text_scale) - INPUT_COLUMN)
        self.state.set_layers_per_page(min(max(2, fit), LAYERS_PER_PAGE))

    # -- geometry ------------------------------------------------------------------------------
    def _font(self, bold: bool = False) -> QFont:
        f = QFont(self.font())
        f.setPixelSize(max(9, int(round(11 * self._text_scale))))
        f.setBold(bold)
        return f

    def _line_h(self) -> float:
        return QFontMetricsF(self._font()).height()

    def column_rect(self, i: int) -> QRectF:
        """Column ``i``'s area; the input's column is wider (the picture the fields are drawn on)."""
        n = max(1, len(self._columns))
        w = (self.width() - 8) / (n - 1 + INPUT_COLUMN)
        if i == 0:
            return QRectF(4, 4, w * INPUT_COLUMN, self.height() - 8)
        return QRectF(4 + (i - 1 + INPUT_COLUMN) * w, 4, w, self.height() - 8)

    def _caption_h(self) -> float:
        return self._line_h() * 4 + 4

    def tile_rect(self, col: int, k: int) -> QRectF:
        """Where tile ``k`` of column ``col`` is drawn (the vector strip is tile 0)."""
        c = self._columns[col]
        area = self.column_rect(col).adjusted(6, 0, -6, -self._caption_h() - self._line_h())
        h, w = c.hw
        if c.lay is not None and c.lay.kind == "vector":
            side = min(14.0 * self._text_scale, area.height() / max(h, 1), area.width())
            width = max(8.0, min(18.0 * self._text_scale, area.width()))
            return QRectF(area.center().x() - width / 2, area.top(), width, side * h)
        n = max(1, len(c.images))
        gap = 4.0
        # one column of maps, or two or three side by side when the column is short and wide
        best = (1, 0.0)
        for per_row in range(1, min(3, n) + 1):
            rows = -(-n // per_row)
            across = (area.width() - gap * (per_row - 1)) / per_row
            down = (area.height() - gap * (rows - 1)) / rows * w / max(h, 1)
            side = min(across, down, 140.0 * self._text_scale)
            if side > best[1] * 1.15:  # side by side only when clearly larger
                best = (per_row, side)
        per_row, side = best[0], max(4.0, best[1])
        th = side * h / max(w, 1)
        rows = -(-n // per_row)
        total = rows * th + gap * (rows - 1)
        top = area.top() + max(0.0, (area.height() - total) / 2) if c.lay is None else area.top()
        r, q = divmod(k, per_row)
        used = per_row * side + gap * (per_row - 1)
        return QRectF(area.center().x() - used / 2 + q * (side + gap), top + r * (th + gap), side, th)

    def more_rect(self, col: int) -> QRectF:
        c = self._columns[col]
        last = self.tile_rect(col, max(0, len(c.images) - 1)) if c.images else self.column_rect(col)
        r = self.column_rect(col)
        return QRectF(r.left(), last.bottom() + 2, r.width(), self._line_h())

    def hit(self, pos: QPoint | QPointF) -> tuple[int, int, int, int] | None:
        """(column, tile, row, col) of the thumbnail cell under ``pos`` (row is the value's
        index for a vector strip), or None."""
        p = QPointF(pos)
        for ci, c in enumerate(self._columns):
            if c.lay is None or not self.column_rect(ci).contains(p):
                continue
            for k in range(len(c.images)):
                r = self.tile_rect(ci, k)
                if r.contains(p):
                    h, w = c.hw
                    row = min(h - 1, int((p.y() - r.top()) / r.height() * h))
                    col = min(w - 1, int((p.x() - r.left()) / r.width() * w))
                    return ci, k, row, col
        return None

    def unit_at(self, pos: QPoint | QPointF) -> tuple[str, int, int, int] | None:
        """(layer, channel, row, col) in the layer's full-size output of the cell under ``pos``."""
        h = self.hit(pos)
        if h is None:
            return None
        ci, k, row, col = h
        lay = self._columns[ci].lay
        if lay.kind == "vector":
            return lay.name, -1, row, 0
        th, tw = self._columns[ci].hw
        H, W = lay.shape[0], lay.shape[1]
        return lay.name, k, min(H - 1, row * H // th), min(W - 1, col * W // tw)

    def cell_point(self, name: str, channel: int, row: int, col: int) -> QPoint:
        """Where the full-size cell (row, col) of map ``channel`` (−1: a vector's unit ``row``)
        of layer ``name`` is drawn (for tests and demonstrations)."""
        ci = next(i for i, c in enumerate(self._columns) if c.lay is not None and c.lay.name == name)
        c = self._columns[ci]
        if channel < 0:
            r = self.tile_rect(ci, 0)
            return QPointF(r.center().x(), r.top() + (row + 0.5) * r.height() / c.hw[0]).toPoint()
        r = self.tile_rect(ci, channel)
        H, W = c.lay.shape[0], c.lay.shape[1]
        th, tw = c.hw
        return QPointF(r.left() + ((col * tw // W) + 0.5) * r.width() / tw,
                       r.top() + ((row * th // H) + 0.5) * r.height() / th).toPoint()

    def more_point(self, name: str) -> QPoint:
        """Where layer ``name``'s "+N more" is drawn."""
        ci = next(i for i, c in enumerate(self._columns) if c.lay is not None and c.lay.name == name)
        return self.more_rect(ci).center().toPoint()

    def column_names(self) -> list[str]:
        return [c.lay.name for c in self._columns if c.lay is not None]

    def captions(self) -> list[list[str]]:
        return [list(c.caption) for c in self._columns if c.lay is not None]

    def more_texts(self) -> list[str]:
        return [c.more for c in self._columns if c.lay is not None]

    def field(self) -> tuple[float, float, float, float] | None:
        """The receptive field drawn on the input now (top, left, height, width) in input pixels."""
        return self._field

    def set_field(self, rect: tuple[float, float, float, float] | None) -> None:
        self._field = rect
        self.update()

    # -- painting ------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), BACKGROUND)
            if not self._columns:
                p.setPen(TEXT)
                p.drawText(QRectF(self.rect()).adjusted(24, 24, -24, -24),
                           int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.state.message)
                return
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            font, lh = self._font(), self._line_h()
            for ci, c in enumerate(self._columns):
                col = self.column_rect(ci)
                for k, img in enumerate(c.images):
                    r = self.tile_rect(ci, k)
                    p.drawImage(r, img)
                    if self._hover == (ci, k):
                        p.setPen(QPen(FIELD, 2))
                        p.setBrush(Qt.BrushStyle.NoBrush)
                        p.drawRect(r.adjusted(-2, -2, 2, 2))
                if ci == 0 and self._field is not None and c.images:
                    self._paint_field(p, self.tile_rect(0, 0))
                if c.more:
                    p.setFont(font)
                    p.setPen(FIELD.darker(110))
                    p.drawText(self.more_rect(ci), int(Qt.AlignmentFlag.AlignHCenter), c.more)
                cap = QRectF(col.left(), col.bottom() - self._caption_h(), col.width(), self._caption_h())
                name = c.lay.name if c.lay is not None else ""
                lines = ([name] if name else []) + c.caption
                for li, text in enumerate(lines):
                    p.setFont(self._font(bold=li == 0))
                    p.setPen(TEXT if li == 0 else DIM_TEXT)
                    fm = QFontMetricsF(p.font())
                    shown = fm.elidedText(text, Qt.TextElideMode.ElideMiddle, col.width() - 2)
                    p.drawText(QRectF(col.left(), cap.top() + li * lh, col.width(), lh),
                               int(Qt.AlignmentFlag.AlignHCenter), shown)
                if ci + 1 < len(self._columns):
                    p.setPen(QPen(QColor("#3c4043"), 1))
                    p.drawLine(QPointF(col.right(), col.top() + 8), QPointF(col.right(), cap.top() - 4))
        finally:
            p.end()

    def _paint_field(self, p: QPainter, img_rect: QRectF) -> None:
        top, left, h, w = clip_rect(self._field, self._input_hw)
        H, W = self._input_hw
        sx, sy = img_rect.width() / W, img_rect.height() / H
        r = QRectF(img_rect.left() + left * sx, img_rect.top() + top * sy, w * sx, h * sy)
        fill = QColor(FIELD)
        fill.setAlpha(50)
        p.setBrush(fill)
        p.setPen(QPen(FIELD, 2))
        p.drawRect(r)

    # -- mouse ---------------------------------------------------------------------------------
    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        h = self.hit(ev.position())
        hover = (h[0], h[1]) if h is not None else None
        unit = self.unit_at(ev.position()) if h is not None else None
        if unit is None:
            if self._hover is not None:
                self._hover = None
                self.cell_hovered.emit("", -1, -1, -1)
            self.setToolTip("")
        else:
            self._hover = hover
            self.cell_hovered.emit(*unit)
        self.update()
        super().mouseMoveEvent(ev)

    def leaveEvent(self, ev) -> None:  # noqa: N802
        self._hover = None
        self.cell_hovered.emit("", -1, -1, -1)
        self.update()
        super().leaveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            unit = self.unit_at(ev.position())
            if unit is not None:
                self.cell_clicked.emit(*unit)
            else:
                for ci, c in enumerate(self._columns):
                    if c.more and self.more_rect(ci).contains(ev.position()):
                        self.more_clicked.emit(c.lay.name)
                        break
        super().mouseReleaseEvent(ev)


class NetworkPage(QWidget):
    """The overview tab of an :class:`~cnnviz.gui.panes.activations.pane.ActivationsPane`.

    It follows the pane's state (the model, the input, the scaling), asks the engine for the
    overview when it is shown, and gives the pane's Feature maps tab its click-to-explain."""

    def __init__(self, pane) -> None:
        super().__init__()
        self.pane = pane
        self.ctx = pane.ctx
        s = self.act_state = pane.state
        self.state = OverviewState()
        self._asked: tuple | None = None  # what the latest overview request was for
        v = QVBoxLayout(self)
        v.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.page_label = QLabel()
        f = QFont(self.page_label.font())
        f.setBold(True)
        self.page_label.setFont(f)
        top.addWidget(self.page_label)
        self.prev_button = QPushButton("◀")
        self.next_button = QPushButton("▶")
        for b, tip in ((self.prev_button, "Previous layers"), (self.next_button, "Next layers")):
            b.setFixedWidth(34)
            b.setToolTip(tip)
        self.prev_button.clicked.connect(self.state.prev_page)
        self.next_button.clicked.connect(self.state.next_page)
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)
        self.hint_label = QLabel(HOVER_HINT)
        self.hint_label.setStyleSheet("color: #9aa0a6")
        self.hint_label.setWordWrap(True)
        self.hint_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addStretch(1)
        v.addLayout(top)
        v.addWidget(self.hint_label)
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.canvas = OverviewCanvas(self.state)
        self.split.addWidget(self.canvas)
        self.explain = ExplainView(explain_submitter(self.ctx, s, pane.model_input_image),
                                   self._preview, stepper_opener(self.ctx, self))
        self.explain.closed.connect(lambda: self.explain.setVisible(False))
        self.explain.setVisible(False)
        self.explain.install_arrow_keys(self)
        self.split.addWidget(self.explain)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        v.addWidget(self.split, 1)

        self.state.changed.connect(self._draw)
        self.state.failed.connect(self._on_failed)
        self.canvas.cell_hovered.connect(self._on_hovered)
        self.canvas.cell_clicked.connect(self._on_clicked)
        self.canvas.more_clicked.connect(self._on_more)
        s.model_changed.connect(self._on_model_changed)
        s.result_changed.connect(self.refresh)
        s.no_activations.connect(self._on_no_activations)
        pane.views.currentChanged.connect(lambda _i: self.refresh())
        pane.maps_page.attach_explain(self.ctx, pane.model_input_image)
        self.ctx.presentation_changed.connect(self._on_presentation_changed)
        self._draw()

    # ------------------------------------------------------------------ what the pane shows
    def _preview(self) -> np.ndarray | None:
        res = self.act_state.result
        return None if res is None else res.preview

    def _on_model_changed(self, info) -> None:
        self._asked = None
        self.explain.setVisible(False)
        reason = explain_disabled_reason(info)
        self.state.clear("Computing the overview…" if info.spec is not None else (info.spec_reason or ""))
        if reason:
            self.explain.state.disable(reason)
            self.explain.setVisible(True)
        else:
            self.explain.state.enable()

    def _on_no_activations(self, reason: str) -> None:
        self._asked = None
        self.state.clear(reason or "This model has no activations to show.")

    @Slot()
    def refresh(self) -> None:
        """Ask for the overview of what the pane shows, when this tab is shown and it changed."""
        s = self.act_state
        if self.pane.views.currentWidget() is not self or s.result is None or not s.can_compute:
            return
        key = (s.model_id, s.result.input_key, s.scaling)
        if key == self._asked:
            return
        image = self.pane.model_input_image()
        if image is None:
            return
        self._asked = key
        req = OverviewRequest(model_id=s.model_id, source=s.model_source, image=np.array(image), scaling=s.scaling)
        self.ctx.worker.submit(overview_job, req, channel="activations.overview",
                               on_done=self._on_overview, on_error=self._on_overview_failed,
                               describe="computing the network overview", timeout_s=OVERVIEW_TIMEOUT_S)

    def _on_overview(self, res) -> None:
        if res.model_id != self.act_state.model_id:
            return
        before = self.state.result
        self.state.set_result(res)
        if before is not None and before.model_id == res.model_id and before.input_key != res.input_key:
            self.explain.input_changed()

    def _on_overview_failed(self, message: str) -> None:
        self._asked = None
        self.state.fail(message)

    def _on_failed(self, message: str) -> None:
        self.state.result = None
        self._draw()

    def is_busy(self) -> bool:
        return self.ctx.has_worker() and self.ctx.worker.is_busy("activations.overview")

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        st = self.state
        self.page_label.setText(st.page_text() if st.result is not None else "")
        multi = st.pages > 1
        self.prev_button.setVisible(multi)
        self.next_button.setVisible(multi)
        self.prev_button.setEnabled(st.page > 0)
        self.next_button.setEnabled(st.page < st.pages - 1)
        self.canvas.rebuild()

    def _on_hovered(self, layer: str, channel: int, row: int, col: int) -> None:
        lay = self.state.layer(layer) if layer else None
        if lay is None or channel < 0:
            self.canvas.set_field(None)
            self.hint_label.setText(HOVER_HINT if lay is None else
                                    f"{lay.name} unit #{row}: sees the whole input · click to see how it was computed")
            return
        self.canvas.set_field(self.state.field_of(lay, row, col))
        self.hint_label.setText(self.state.hover_text(lay, channel, row, col))

    def _on_clicked(self, layer: str, channel: int, row: int, col: int) -> None:
        lay = self.state.layer(layer)
        if lay is None:
            return
        index = (row,) if channel < 0 else (row, col, channel)
        self.explain.setVisible(True)
        self.explain.state.select(layer, index, lay.shape)

    def _on_more(self, layer: str) -> None:
        """Every map of a layer: the Feature maps tab pages them."""
        self.pane.views.setCurrentWidget(self.pane.maps_page)
        self.pane.select_layer(layer)

    def set_text_scale(self, scale: float) -> None:
        self.canvas.set_text_scale(scale)
        self.explain.set_text_scale(scale)
        if self.pane.maps_page.explain is not None:
            self.pane.maps_page.explain.set_text_scale(scale)

    @Slot(bool)
    def _on_presentation_changed(self, on: bool) -> None:
        self.set_text_scale(1.5 if on else 1.0)


def explain_disabled_reason(info) -> str:
    """Why no unit of this model can be explained ("" when they can)."""
    if info is None:
        return ""
    if not info.buildable:
        return ("Explaining a unit needs a runnable model, and this file could not be built into "
                "one (it holds only weights or an unknown layer): the stored filters are in the "
                "Filters tab.")
    if info.spec is None:
        return "Explaining a unit needs a model that takes one image: " + (info.spec_reason or "")
    return ""
