"""Live training curves that stay fast for hundreds of thousands of points.

Why it is built this way (pyqtgraph the fast way, TensorBoard's curves):

- every series keeps its full-resolution history in preallocated ``float64`` buffers that double
  when full, so appending a batch costs O(1) and nothing is ever re-copied point by point;
- the plot items are created once and fed with ``setData`` on views of those buffers; with
  ``setClipToView(True)`` and ``setDownsampling(auto=True, mode="peak")`` pyqtgraph draws only
  the visible part, decimated to a few points per pixel (peaks kept, so spikes stay visible);
  the bold smoothed line is decimated by averaging instead, since stroking peak mode's zig-zag
  with a wide pen is what would make a long curve slow;
- a smoothed series is TensorBoard's debiased exponential moving average, computed on the full
  history *before* any decimation (smoothing after downsampling gave TensorBoard artefacts) and
  drawn bold over the raw values drawn faintly;
- redraws are coalesced to at most ~10 per second (``set_redraw_interval``: the training pane
  asks for ~3 while a run competes with it for the CPU), however fast points arrive; the last
  points always follow within one interval; a plot that is not on screen (another tab) does not
  redraw at all until it is shown again;
- the axes (with the grid lines they draw across the plot) are cached as pixmaps
  (``DeviceCoordinateCache``): replaying their drawing cost ~6 ms per axis at every repaint of
  the curves, and they change only when the range, the size or the style does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsItem, QWidget

from cnnviz.gui.widgets.image_view import WrappingTitleItem

__all__ = ["EmaSmoother", "GrowingSeries", "LossPlotWidget", "debiased_ema", "DEFAULT_SMOOTHING"]

DEFAULT_SMOOTHING = 0.6  # TensorBoard's default weight
# At most ~10 redraws a second: smooth enough to watch, and on a small CPU every redraw is
# time taken from training (33 ms cost ~5 % of the training pane's throughput on 2 cores).
REDRAW_MS = 100


class GrowingSeries:
    """x/y values in preallocated float64 buffers grown by doubling.

    ``x`` and ``y`` are views of the filled part; they stay valid (and unchanged) when more
    points are appended, so a plot item may keep them.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(max(16, int(capacity)), np.float64)
        self._y = np.empty_like(self._x)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return len(self._x)

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]

    def _reserve(self, n: int) -> None:
        if n <= len(self._x):
            return
        size = len(self._x)
        while size < n:
            size *= 2
        x, y = np.empty(size, np.float64), np.empty(size, np.float64)
        x[: self._n] = self._x[: self._n]
        y[: self._n] = self._y[: self._n]
        self._x, self._y = x, y

    def append(self, x: float, y: float) -> None:
        self._reserve(self._n + 1)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1

    def extend(self, xs, ys) -> None:
        xs = np.asarray(xs, np.float64).ravel()
        ys = np.asarray(ys, np.float64).ravel()
        if len(xs) != len(ys):
            raise ValueError(f"x and y differ in length ({len(xs)} and {len(ys)})")
        end = self._n + len(xs)
        self._reserve(end)
        self._x[self._n:end] = xs
        self._y[self._n:end] = ys
        self._n = end

    def clear(self) -> None:
        self._n = 0


class EmaSmoother:
    """TensorBoard's debiased exponential moving average, fed incrementally.

    ``last = last·w + (1−w)·y``; the shown value is ``last / (1 − w^n)`` with ``n`` the number of
    finite values so far, so the curve starts at the first value instead of near zero. Non-finite
    values pass through unchanged and do not disturb the average.
    """

    def __init__(self, weight: float = DEFAULT_SMOOTHING) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"the smoothing weight must be in [0, 1), not {weight}")
        self.weight = float(weight)
        self.reset()

    def reset(self) -> None:
        self._last = 0.0
        self._count = 0

    def feed(self, ys) -> np.ndarray:
        ys = np.asarray(ys, np.float64).ravel()
        out = np.empty_like(ys)
        w, last, count = self.weight, self._last, self._count
        for i, y in enumerate(ys.tolist()):
            if not math.isfinite(y):
                out[i] = y
                continue
            last = last * w + (1.0 - w) * y
            count += 1
            out[i] = last / (1.0 - w**count) if w > 0 else y
        self._last, self._count = last, count
        return out


def debiased_ema(values, weight: float = DEFAULT_SMOOTHING) -> np.ndarray:
    """The whole series smoothed as TensorBoard smooths it (see :class:`EmaSmoother`)."""
    return EmaSmoother(weight).feed(values)


@dataclass
class _Series:
    data: GrowingSeries
    item: pg.PlotDataItem
    color: QColor
    width: float
    smooth_data: GrowingSeries | None = None
    smooth_item: pg.PlotDataItem | None = None
    smoother: EmaSmoother | None = None
    dirty: bool = False


class LossPlotWidget(pg.PlotWidget):
    """One plot of named series: ``add_series`` once, then ``append``/``extend`` as data arrive.

    A series added with ``smoothed=True`` is drawn twice: the raw values faint and thin, their
    debiased EMA bold on top (the per-batch loss). Others are plain lines, optionally with
    symbols (per-epoch values). Non-finite values are not drawn (a NaN loss is explained in
    words by the training pane, and one infinity would flatten every other point).
    """

    def __init__(self, title: str = "", y_label: str = "", x_label: str = "epoch",
                 legend_corner: str = "top-right", integer_x: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background="w", enableMenu=False)  # no menu to build
        self._integer_x = integer_x
        self._title = title
        self._labels = (x_label, y_label)
        self._series: dict[str, _Series] = {}
        self._marks: list[pg.InfiniteLine] = []
        self._legend_columns: int | None = None
        self._legend_strip: pg.GraphicsWidget | None = None  # see put_legend_outside
        self._smoothing = DEFAULT_SMOOTHING
        self._presentation = False
        plot = self.getPlotItem()
        # A title that wraps instead of asking for its whole width: side by side on a projector
        # the epoch plots were wider than their place, and their right side was cut off.
        plot.layout.removeItem(plot.titleLabel)
        plot.titleLabel.setParentItem(None)
        plot.titleLabel = WrappingTitleItem("", size="11pt", parent=plot)
        plot.layout.addItem(plot.titleLabel, 0, 1)
        plot.vb.sigResized.connect(self._fit_title)  # as tall as its lines at the plot's width
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.setMenuEnabled(False)
        plot.getAxis("left").enableAutoSIPrefix(False)  # no "accuracy (x0.001)"
        self.setMinimumHeight(120)
        offset = {"top-right": (-10, 10), "bottom-right": (-10, -10),
                  "top-left": (10, 10), "bottom-left": (10, -10)}[legend_corner]
        self.legend = plot.addLegend(offset=offset, labelTextColor="#202124",
                                     brush=pg.mkBrush(255, 255, 255, 200), pen=pg.mkPen("#c0c0c0"))
        self.legend.setVisible(False)  # until a series has a name
        self._placeholder = pg.TextItem("", color="#80868b", anchor=(0.5, 0.5))
        self._placeholder.setZValue(20)
        plot.addItem(self._placeholder, ignoreBounds=True)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._on_redraw_due)
        for side in ("left", "bottom"):
            # drawn again only when the axis itself changes, not at every repaint of the curves
            plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._apply_style()

    # -- series ------------------------------------------------------------------------------
    def add_series(self, key: str, name: str | None, color: str, *, smoothed: bool = False,
                   symbol: str | None = None, dashed: bool = False, width: float = 2.0,
                   raw_name: str = "each batch") -> None:
        """Create the plot items of one series (once; later calls replace it). A smoothed
        series shows ``raw_name`` and ``name`` (its smoothed line) in the legend."""
        if key in self._series:
            self.remove_series(key)
        qcolor = QColor(color)
        data = GrowingSeries()
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        if smoothed:
            faint = QColor(qcolor)
            faint.setAlpha(70)
            item = self._make_item(faint, 1.0, style, None, name=raw_name, antialias=False)
            smooth = GrowingSeries()
            # The smoothed line is decimated by averaging to ~2 points per pixel: peak mode's
            # zig-zag stroked with a wide antialiased pen cost ~200 ms a paint at 100k points.
            smooth_item = self._make_item(qcolor, width, style, None, name=name, antialias=True,
                                          method="mean")
            smooth_item.opts["autoDownsampleFactor"] = 2.0
            # Separate segments instead of one stroked path: QPainter strokes a long wide
            # antialiased path slowly (its joins); the joins are invisible at this width.
            smooth_item.curve.setSegmentedLineMode("on")
            smooth_item.setZValue(2)
            self._series[key] = _Series(data, item, qcolor, width, smooth, smooth_item,
                                        EmaSmoother(self._smoothing))
        else:
            item = self._make_item(qcolor, width, style, symbol, name=name, antialias=True)
            self._series[key] = _Series(data, item, qcolor, width)
        self._update_legend()

    def _update_legend(self) -> None:
        """Show the legend only when it has entries (an empty one is a stray box); many
        entries go in two columns so they cover less of the curves."""
        count = len(self.legend.items)
        self.legend.setColumnCount(self._legend_columns or (2 if count > 4 else 1))
        self.legend.setVisible(count > 0)

    def set_legend_layout(self, corner: str, columns: int | None = None) -> None:
        """Move the legend to a corner; ``columns`` fixed (e.g. one row above the curves)."""
        offset = {"top-right": (-10, 10), "bottom-right": (-10, -10),
                  "top-left": (10, 10), "bottom-left": (10, -10)}[corner]
        self.legend.setOffset(offset)
        self._legend_columns = columns
        self._update_legend()

    def put_legend_outside(self) -> None:
        """Keep the legend out of the plot area, all entries in one row: beside the title when
        both fit in its row (the title then centred in the room left of the legend), else in a
        strip under the x axis. Over the curves it could hide a point wherever the data go;
        under the axis it takes ~45 px of height, and on a projector's 720 lines the plot area
        kept little more than that."""
        item = self.getPlotItem()
        self._legend_strip = strip = pg.GraphicsWidget()
        item.layout.addItem(strip, 4, 1)
        self.legend.layout.setContentsMargins(6, 2, 6, 2)
        self._legend_columns = self.LEGEND_ROW
        self._update_legend()
        self.legend.geometryChanged.connect(self._place_legend)
        self.legend.visibleChanged.connect(self._place_legend)
        item.vb.sigResized.connect(self._place_legend)
        self._place_legend()

    #: Legend columns when it is kept outside the plot: every entry side by side.
    LEGEND_ROW = 8
    #: Room between the title and the legend beside it (pixels).
    TITLE_GAP = 12

    def legend_place(self) -> str:
        """Where the legend is: "title" (beside the title), "below" (under the x axis) or
        "inside" (over the plot area, when it is not kept outside)."""
        if self._legend_strip is None:
            return "inside"
        return "title" if self.legend.parentItem() is self.getPlotItem().titleLabel else "below"

    @Slot()
    def _place_legend(self) -> None:
        strip = self._legend_strip
        if strip is None:
            return
        legend, item = self.legend, self.getPlotItem()
        shown = legend.isVisible() and bool(legend.items)
        box = legend.boundingRect()
        beside = shown and self._title_width() + box.width() + self.TITLE_GAP <= item.vb.width()
        item.titleLabel.set_right_room(box.width() + self.TITLE_GAP if beside else 0.0)
        target = item.titleLabel if beside else strip
        if legend.parentItem() is not target:
            legend.setParentItem(target)
        # top-right of the title row (beside a centred title), or top-left under the axis
        legend.setOffset((-2, 1) if beside else (10, 4))
        height = box.height() + 8 if shown and not beside else 0
        if strip.minimumHeight() != height or strip.maximumHeight() != height:
            strip.setMinimumHeight(height)
            strip.setMaximumHeight(height)
        self._fit_title()

    def _title_width(self) -> float:
        """The title's width on one line."""
        return self._title_document().size().width() if self._title else 0.0

    def _title_document(self):
        """A copy of the title's text, laid out on one line (the label's own may be wrapped)."""
        doc = self.getPlotItem().titleLabel.item.document().clone()
        doc.setTextWidth(-1)
        return doc

    def _make_item(self, color: QColor, width: float, style, symbol, name, antialias: bool,
                   method: str = "peak"):
        pen = pg.mkPen(color, width=width * (1.6 if self._presentation else 1.0), style=style)
        kwargs = {}
        if symbol:
            kwargs.update(symbol=symbol, symbolSize=9 if not self._presentation else 13,
                          symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen("w"))
        item = pg.PlotDataItem(pen=pen, name=name, antialias=antialias, clipToView=True,
                               autoDownsample=True, downsampleMethod=method, **kwargs)
        self.getPlotItem().addItem(item)  # applies the plot's clip/downsampling settings ...
        item.setDownsampling(auto=True, method=method)  # ... then this item's own method
        return item

    def remove_series(self, key: str) -> None:
        s = self._series.pop(key, None)
        if s is None:
            return
        for item in (s.item, s.smooth_item):
            if item is not None:
                self.getPlotItem().removeItem(item)
        self._update_legend()

    def keys(self) -> list[str]:
        return list(self._series)

    def has_series(self, key: str) -> bool:
        return key in self._series

    def series(self, key: str) -> GrowingSeries:
        """The raw values of a series (full resolution)."""
        return self._series[key].data

    def smoothed(self, key: str) -> GrowingSeries | None:
        return self._series[key].smooth_data

    def curve(self, key: str) -> pg.PlotDataItem:
        """The plot item of the raw values."""
        return self._series[key].item

    def smoothed_curve(self, key: str) -> pg.PlotDataItem | None:
        return self._series[key].smooth_item

    # -- data --------------------------------------------------------------------------------
    def append(self, key: str, x: float, y: float) -> None:
        self.extend(key, [x], [y])

    def extend(self, key: str, xs, ys) -> None:
        """Add points to a series; the plot redraws shortly after (coalesced)."""
        s = self._series[key]
        xs = np.asarray(xs, np.float64).ravel()
        ys = np.asarray(ys, np.float64).ravel()
        keep = np.isfinite(xs) & np.isfinite(ys)
        if not keep.all():
            xs, ys = xs[keep], ys[keep]
        if not len(xs):
            return
        s.data.extend(xs, ys)
        if s.smoother is not None and s.smooth_data is not None:
            s.smooth_data.extend(xs, s.smoother.feed(ys))
        s.dirty = True
        # The points are drawn at the next coalesced redraw, but a plot that still says it waits
        # ("Waiting for the first batch…") stops saying so at once, as the words around it do.
        if self._placeholder.isVisible():
            self._placeholder.setVisible(False)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def clear_data(self) -> None:
        """Forget every point and mark, keep the series and their styles."""
        for line in self._marks:
            self.getPlotItem().removeItem(line)
        self._marks = []
        plot = self.getPlotItem()
        plot.setYRange(0.0, 1.0, padding=0.0)  # not the last run's range while empty
        plot.enableAutoRange(axis="y")
        for s in self._series.values():
            s.data.clear()
            s.item.setData([], [])
            if s.smooth_data is not None:
                s.smooth_data.clear()
                s.smoother.reset()
                s.smooth_item.setData([], [])
            s.dirty = False

    def set_smoothing(self, weight: float) -> None:
        """Change the EMA weight (0 = no smoothing) and recompute from the full history."""
        self._smoothing = float(weight)
        for s in self._series.values():
            if s.smoother is None:
                continue
            s.smoother = EmaSmoother(self._smoothing)
            s.smooth_data.clear()
            s.smooth_data.extend(s.data.x, s.smoother.feed(s.data.y))
            s.dirty = True
        self.flush()

    @property
    def smoothing(self) -> float:
        return self._smoothing

    def set_redraw_interval(self, ms: int) -> None:
        """Coalesce redraws to one per ``ms`` milliseconds at most."""
        self._redraw_timer.setInterval(max(0, int(ms)))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if any(s.dirty for s in self._series.values()):
            QTimer.singleShot(0, self, self._on_redraw_due)  # what arrived while hidden, drawn now

    def stop_updates(self) -> None:
        """Cancel a pending redraw (the window is closing)."""
        self._redraw_timer.stop()

    def flush(self) -> None:
        """Redraw now instead of at the next coalesced redraw."""
        self._redraw_timer.stop()
        self._redraw()

    @Slot()
    def _on_redraw_due(self) -> None:
        if self.isHidden() or not self.isVisible():
            return  # not on screen: the data stay dirty and are drawn when shown (showEvent)
        self._redraw()

    def _redraw(self) -> None:
        for s in self._series.values():
            if not s.dirty:
                continue
            s.item.setData(s.data.x, s.data.y)
            if s.smooth_item is not None:
                s.smooth_item.setData(s.smooth_data.x, s.smooth_data.y)
                # One or two points make no visible line: show them as dots until there are more.
                few = len(s.smooth_data) < 3
                if few != bool(s.smooth_item.opts.get("symbol")):
                    if few:
                        s.smooth_item.setSymbol("o")
                        s.smooth_item.setSymbolSize(8)
                        s.smooth_item.setSymbolBrush(pg.mkBrush(s.color))
                        s.smooth_item.setSymbolPen(None)
                    else:
                        s.smooth_item.setSymbol(None)
            s.dirty = False
        self._update_placeholder()

    def mark(self, x: float, text: str, color: str = "#d93025") -> pg.InfiniteLine:
        """A labelled vertical line, e.g. where the loss became NaN (removed by clear_data)."""
        pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine)
        (x0, x1), _ = self.getPlotItem().viewRange()
        right_half = x > (x0 + x1) / 2
        anchor = (1.05, 0) if right_half else (-0.05, 0)  # the label beside the line, inside the plot
        line = pg.InfiniteLine(pos=float(x), angle=90, movable=False, pen=pen, label=text,
                               labelOpts={"position": 0.9, "color": color, "anchors": [anchor, anchor],
                                          "fill": pg.mkBrush(255, 255, 255, 220)})
        line.setZValue(5)
        self.getPlotItem().addItem(line, ignoreBounds=True)
        self._marks.append(line)
        return line

    def marks(self) -> list[str]:
        """The texts of the marks shown."""
        return [line.label.toPlainText() for line in self._marks]

    # -- looks -------------------------------------------------------------------------------
    def set_placeholder(self, text: str) -> None:
        """Grey text in the middle of an empty plot (e.g. "Press Start")."""
        self._placeholder.setText(text)
        self._update_placeholder()

    def _update_placeholder(self) -> None:
        empty = all(len(s.data) == 0 for s in self._series.values())
        self._placeholder.setVisible(empty and bool(self._placeholder.textItem.toPlainText()))
        if empty:
            (x0, x1), (y0, y1) = self.getPlotItem().viewRange()
            self._placeholder.setPos((x0 + x1) / 2, (y0 + y1) / 2)

    def set_x_range(self, lo: float, hi: float) -> None:
        """Fix the x range (the run's epochs), so the curve grows into a known frame. With
        ``integer_x`` the range is widened to show whole numbers lo+1 … hi with a tick each."""
        axis = self.getPlotItem().getAxis("bottom")
        if self._integer_x:
            first, last = int(lo) + 1, max(int(lo) + 1, int(hi))
            lo, hi = first - 0.3, last + 0.3
            if last - first <= 20:
                axis.setTickSpacing(major=1, minor=1)
            else:
                axis.setTickSpacing()
        self.getPlotItem().setXRange(lo, hi, padding=0.02 if not self._integer_x else 0.0)
        self._update_placeholder()

    def set_presentation_mode(self, on: bool) -> None:
        """Bigger tick labels, axis titles and thicker lines for a projector."""
        self._presentation = on
        self._apply_style()
        for s in self._series.values():
            scale = 1.6 if on else 1.0
            pen = s.item.opts["pen"]
            pen = pg.mkPen(pen) if pen is not None else pg.mkPen(s.color)
            if s.smooth_item is None:
                pen.setWidthF(s.width * scale)
                s.item.setPen(pen)
                if s.item.opts.get("symbol"):
                    s.item.setSymbolSize(13 if on else 9)
            else:
                pen.setWidthF(1.0 * scale)
                s.item.setPen(pen)
                spen = pg.mkPen(s.smooth_item.opts["pen"])
                spen.setWidthF(s.width * scale)
                s.smooth_item.setPen(spen)

    def _apply_style(self) -> None:
        on = self._presentation
        tick_pt, label_pt, title_pt = (15, 16, 18) if on else (9, 10, 11)
        plot = self.getPlotItem()
        font = QFont()
        font.setPointSize(tick_pt)
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            axis.setTickFont(font)
            axis.setPen(pg.mkPen("#5f6368"))
            axis.setTextPen(pg.mkPen("#202124"))
            axis.setStyle(tickTextOffset=6 if on else 3)
        x_label, y_label = self._labels
        style = {"color": "#202124", "font-size": f"{label_pt}pt"}
        plot.setLabel("bottom", x_label, **style)
        plot.setLabel("left", y_label, **style)
        plot.setTitle(self._title, color="#202124", size=f"{title_pt}pt")
        self._fit_title()
        self._placeholder.setFont(QFont(font.family(), label_pt))
        legend_font = f"{label_pt - 1}pt"
        self.legend.setLabelTextSize(legend_font)
        # Entries already in the legend keep their size unless re-styled.
        for _, label in self.legend.items:
            label.setText(label.text, size=legend_font, color="#202124")
        self._place_legend()  # the title's and the legend's widths changed with the font

    def title(self) -> str:
        return self._title

    def set_title(self, text: str) -> None:
        """A new title, at the size of the mode shown (wrapping where the plot is narrow)."""
        self._title = text
        self._apply_style()

    def title_height(self) -> int:
        """The height the title's row is given (its wrapped lines at the plot's width)."""
        return int(self.getPlotItem().layout.rowMinimumHeight(0))

    @Slot()
    def _fit_title(self) -> None:
        """pyqtgraph gives the title one line's fixed height: a title wrapped onto two lines (a
        projector's font, two plots side by side) then ran into the plot. The row is made as
        tall as the lines the title has at the width of the plot below it."""
        plot = self.getPlotItem()
        label = plot.titleLabel
        if not self._title or not label.isVisible():
            return
        doc = self._title_document()
        width = plot.vb.width()
        if width > 0 and doc.size().width() > width:
            doc.setTextWidth(width)
        height = int(math.ceil(doc.size().height())) + 2
        if self.legend_place() == "title":  # the legend beside it shares the row
            height = max(height, int(math.ceil(self.legend.boundingRect().height())) + 2)
        if plot.layout.rowMinimumHeight(0) != height:
            label.setMaximumHeight(height)
            plot.layout.setRowFixedHeight(0, height)

    def presentation_mode(self) -> bool:
        return self._presentation
