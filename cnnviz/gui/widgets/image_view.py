"""A zoomable image view on pyqtgraph, shared by every pane.

Why one class: images, filter results, score maps and activations all need the same things —
row-major pixels (``image[row, col]``, no transposes), float32 with explicit levels (pyqtgraph's
fast path), a diverging colour map centred on 0 for signed data, a colour bar that says what the
colours mean, pixel hover, a rubber-band selection and zoom/pan linked with a neighbour view.

Coordinates: pixel ``(row, col)`` covers the square ``x ∈ [col, col+1)``, ``y ∈ [row, row+1)`` of
the view, with y growing downwards like the image.
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPen, QTextOption
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from cnnviz.gui.widgets.color_bar import ColorBar, bar_ticks
from cnnviz.state.display import area_part, symmetric_levels, to_uint8

# Once for the whole app: arrays are indexed [row, col] everywhere in cnnviz.
pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")

__all__ = [
    "ImageView",
    "bar_ticks",
    "SelectionViewBox",
    "link_views",
    "diverging_colormap",
    "gray_colormap",
    "heat_colormap",
    "symmetric_levels",
]


@functools.cache
def diverging_colormap() -> pg.ColorMap:
    """Blue (negative) – white (0) – red (positive): signed data with 0 in the middle. One object
    for the whole app (made once: a live view asks for it on every update), never to be changed.

    Pure white sits exactly at 0 (the ColorBrewer RdBu colours), so "nothing happens here" reads
    as blank paper and the sign reads as hue."""
    return pg.ColorMap(
        [0.0, 0.25, 0.5, 0.75, 1.0],
        [(5, 48, 97), (67, 147, 195), (255, 255, 255), (214, 96, 77), (103, 0, 31)],
    )


@functools.cache
def gray_colormap() -> pg.ColorMap:
    """Black to white, for gray images and magnitudes."""
    return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])


@functools.cache
def heat_colormap() -> pg.ColorMap:
    """Perceptually uniform dark-to-bright map for scores and heatmaps."""
    return pg.colormap.get("inferno")


#: Image formats Qt paints onto a window without converting them first.
_DIRECT_FORMATS = (QImage.Format.Format_ARGB32_Premultiplied, QImage.Format.Format_RGB32)

def _per_object(cache: dict, obj, make):
    """``make(obj)``, worked out once per object (kept by identity; at most 64 kept)."""
    entry = cache.get(id(obj))
    if entry is None or entry[0] is not obj:
        if len(cache) > 64:
            cache.clear()
        entry = cache[id(obj)] = (obj, make(obj))
    return entry[1]


_LUTS: dict = {}
_COLOR_TABLES: dict = {}


def _lookup_table(cmap: pg.ColorMap) -> np.ndarray:
    """The 256-entry lookup table of ``cmap``, worked out once per colour-map object."""
    return _per_object(_LUTS, cmap, lambda c: c.getLookupTable(nPts=256))


def _color_table(lut: np.ndarray) -> list[int]:
    """``lut`` (256 × RGB or RGBA bytes) as the 256 colours of an indexed Qt image, made once per table."""

    def make(lut: np.ndarray) -> list[int]:
        rgba = np.full((256, 4), 255, np.uint32)
        rgba[:, : lut.shape[1]] = lut
        return ((rgba[:, 3] << 24) | (rgba[:, 0] << 16) | (rgba[:, 1] << 8) | rgba[:, 2]).tolist()

    return _per_object(_COLOR_TABLES, lut, make)


def direct_qimage(part: np.ndarray, levels, lut) -> tuple[QImage, np.ndarray] | None:
    """``part`` drawn as pyqtgraph's render would draw it, in the window's own pixel format
    (premultiplied ARGB32), in one or two passes of OpenCV and Qt instead of pyqtgraph's numpy
    rescaling and a conversion: (the image, the buffer it reads) for the two pictures the views
    draw on every live update, None for anything else (pyqtgraph's render then does it).

    * one channel, levels (low, high) and a 256-colour table: each value becomes the index
      ``⌊(v − low) · 256 / (high − low)⌋`` clipped to 0…255, pyqtgraph's rule (OpenCV rounds
      ``… − ½`` instead of cutting: the two differ only for a value exactly on a colour step),
      drawn through the table as an indexed image; NaN and infinite values (pyqtgraph draws NaN
      transparent), and values about a billion colour steps past the levels, are left to
      pyqtgraph;
    * RGB bytes, with no table and levels 0…255: reordered to Qt's byte order, opaque.
    """
    if part.ndim == 3 and part.shape[2] == 1:
        part = part[:, :, 0]
    h, w = part.shape[:2]
    if part.ndim == 3:
        if part.shape[2] != 3 or part.dtype != np.uint8 or lut is not None:
            return None
        if levels is not None and (np.ndim(levels) != 1 or tuple(float(v) for v in levels) != (0.0, 255.0)):
            return None
        buffer = cv2.cvtColor(np.ascontiguousarray(part), cv2.COLOR_RGB2BGRA)
        return QImage(buffer.data, w, h, buffer.strides[0], QImage.Format.Format_ARGB32_Premultiplied), buffer
    if (
        not isinstance(lut, np.ndarray)
        or lut.dtype != np.uint8
        or lut.shape not in ((256, 3), (256, 4))
        or levels is None
        or np.ndim(levels) != 1
        or part.dtype not in (np.uint8, np.uint16, np.int16, np.float32, np.float64)
    ):
        return None
    lo, hi = float(levels[0]), float(levels[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if part.dtype == np.uint8 and (lo, hi) == (0.0, 255.0):
        index = np.ascontiguousarray(part)  # the bytes are the indices
    else:
        scale = 256.0 / ((hi - lo) or 1.0)
        # OpenCV rounds to a whole number before it saturates to 0…255: a value that many colour
        # steps past the levels (or ±inf) would wrap round to colour 0; pyqtgraph's render,
        # which clips first, draws such pictures (and NaN, transparent)
        vmin, vmax = float(part.min()), float(part.max())
        if not (math.isfinite(vmin) and math.isfinite(vmax)):
            return None
        if max(abs(vmin - lo), abs(vmax - lo)) * abs(scale) >= 2.0**30:
            return None
        index = cv2.addWeighted(part, scale, part, 0.0, -lo * scale - 0.5, dtype=cv2.CV_8U)
    indexed = QImage(index.data, w, h, index.strides[0], QImage.Format.Format_Indexed8)
    indexed.setColorTable(_color_table(lut))
    qimage = indexed.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    return qimage, index


class AreaImageItem(pg.ImageItem):
    """An ImageItem that colour-maps only what the view shows, at the resolution it shows it.

    The data stays whole (hover and statistics read it at full resolution); each render takes the
    part of the image inside the view (plus a margin, so a small pan needs no new render), cut
    along the same blocks of ``xds × yds`` pixels that pyqtgraph's automatic downsampling uses,
    averages each block with OpenCV's ``INTER_AREA`` (pyqtgraph's numpy means cost ~10 ms per
    channel for a 1080p image), and only then applies levels and colour map. So a 1080p result
    shown a few hundred pixels wide costs a few hundred pixels' colouring, and a zoomed-in view
    is rendered sharp from the full-resolution pixels it shows. At the default zoom (the whole
    image visible) the picture is exactly what downsampling the whole image gives.

    Float colour data given with :meth:`set_float_rgb_levels` is mapped to bytes (:func:`to_uint8`)
    after the averaging, so the view never maps the whole image.
    """

    _CV_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
    #: The rendered region reaches this fraction of the visible size past each edge of the view.
    MARGIN = 0.5

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._drawn: tuple[int, int, int, int, int, int] | None = None  # r0, r1, c0, c1, xds, yds
        self._float_rgb_levels: tuple[float, float, bool] | None = None
        self._prepared: tuple | None = None  # (image, geometry, its area_part) from set_prepared
        self._qimage_buffer: np.ndarray | None = None  # the pixels a directly made qimage reads
        self.drawn: np.ndarray | None = None  # the pixels the last render coloured, as given to Qt

    def set_float_rgb_levels(self, levels: tuple[float, float] | None, at_least_low: bool = False) -> None:
        """Float colour data: map ``levels`` to 0..255 bytes after downsampling (None: off)."""
        self._float_rgb_levels = None if levels is None else (float(levels[0]), float(levels[1]), at_least_low)

    def render_geometry(self) -> tuple[int, int, int, int, int, int] | None:
        """(row0, row1, col0, col1, xds, yds) the next render of an image of the current one's
        shape would use, at the view's zoom as it is now (None before the item is on screen)."""
        if self.image is None or self.image.size == 0:
            return None
        factors = self._block_factors()
        if factors is None:
            return None
        return (*self._region(*factors, self.MARGIN), *factors)

    def set_prepared(self, geometry: tuple[int, int, int, int, int, int], part: np.ndarray) -> None:
        """Use ``part`` (:func:`area_part` of the current image for ``geometry``) at the next
        render when it renders that geometry."""
        self._prepared = (self.image, tuple(geometry), part)

    def rendered_region(self) -> tuple[int, int, int, int] | None:
        """(row0, row1, col0, col1): the pixels the last render coloured (None before one)."""
        return None if self._drawn is None else self._drawn[:4]

    def _block_factors(self) -> tuple[int, int] | None:
        if not self.autoDownsample:
            return 1, 1
        xds, yds = self._computeDownsampleFactors()
        return None if xds is None else (xds, yds)

    def _visible(self) -> tuple[float, float, float, float] | None:
        """(row0, row1, col0, col1) of the view's visible rectangle in pixels, or None."""
        vb = self.getViewBox()
        if vb is None or not hasattr(vb, "viewRect"):
            return None
        rect = self.mapRectFromView(vb.viewRect())
        if rect is None or not rect.isValid():
            return None
        return rect.top(), rect.bottom(), rect.left(), rect.right()

    def _region(self, xds: int, yds: int, margin: float) -> tuple[int, int, int, int]:
        """Whole blocks covering the visible part (plus ``margin`` × its size) in pixels; the
        last block row/column also takes the pixels that do not fill a block."""
        h, w = self.image.shape[:2]
        nh, nw = max(1, h // yds), max(1, w // xds)
        vis = self._visible()
        if vis is None:
            return 0, h, 0, w
        top, bottom, left, right = vis
        mh, mw = (bottom - top) * margin, (right - left) * margin
        b0 = min(nh - 1, max(0, math.floor((top - mh) / yds)))
        b1 = max(b0 + 1, min(nh, math.ceil((bottom + mh) / yds)))
        a0 = min(nw - 1, max(0, math.floor((left - mw) / xds)))
        a1 = max(a0 + 1, min(nw, math.ceil((right + mw) / xds)))
        r0, r1 = b0 * yds, (b1 * yds if b1 < nh else h)
        c0, c1 = a0 * xds, (a1 * xds if a1 < nw else w)
        return r0, r1, c0, c1

    def _needs_render(self) -> bool:
        if self.image is None or self._drawn is None:
            return True
        factors = self._block_factors()
        if factors is None:
            return False
        r0, r1, c0, c1, xds, yds = self._drawn
        if factors != (xds, yds):
            return True
        h, w = self.image.shape[:2]
        vis = self._visible()
        if vis is None:
            return False
        top, bottom, left, right = vis
        return (
            (top < r0 and r0 > 0) or (bottom > r1 and r1 < h) or (left < c0 and c0 > 0) or (right > c1 and c1 < w)
        )

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph name)
        self._cachedView = None
        if self.image is not None and self._needs_render():
            self._renderRequired = True
            self.update()

    def viewRangeChanged(self) -> None:  # noqa: N802 (pyqtgraph name)
        self.viewTransformChanged()

    def setImage(self, image=None, autoLevels=None, **kargs) -> None:  # noqa: N802 (pyqtgraph name)
        self._drawn = self.drawn = self._prepared = None
        super().setImage(image, autoLevels=autoLevels, **kargs)

    def clear(self) -> None:
        self._drawn = self.drawn = self._prepared = None
        super().clear()

    def render(self) -> None:
        image = self.image
        if image is None or image.size == 0 or image.dtype not in self._CV_DTYPES or (
            image.ndim == 3 and image.shape[2] > 4
        ):
            self._drawn = self.drawn = None
            super().render()
            return
        factors = self._block_factors()
        if factors is None:
            super().render()  # not on screen yet: pyqtgraph marks it unrenderable
            return
        xds, yds = factors
        r0, r1, c0, c1 = self._region(xds, yds, self.MARGIN)
        geometry = (r0, r1, c0, c1, xds, yds)
        prepared, self._prepared = self._prepared, None
        if prepared is not None and prepared[0] is image and prepared[1] == geometry:
            part = prepared[2]  # averaged off the GUI thread for exactly this picture
        else:
            part = area_part(image, geometry)
        levels = self.levels
        if self._float_rgb_levels is not None and part.ndim == 3 and part.dtype != np.uint8:
            lo, hi, at_least_low = self._float_rgb_levels
            part, levels = to_uint8(part, (lo, hi), at_least_low=at_least_low), np.array([0.0, 255.0])
        self.drawn = part = np.ascontiguousarray(part)
        direct = direct_qimage(part, levels, self.lut)
        if direct is not None:
            self.qimage, self._qimage_buffer = direct
            self._processingBuffer = self._displayBuffer = None
            self._renderRequired = False
            self._unrenderable = False
            self._lastDownsample = (xds, yds)
            self._drawn = geometry
            return
        self._qimage_buffer = None
        saved = self.image, self.autoDownsample, self.levels
        self.image, self.autoDownsample, self.levels = part, False, levels
        self._imageHasNans = None
        self._imageNanLocations = None
        try:
            super().render()
        finally:
            self.image, self.autoDownsample, self.levels = saved
            self._imageHasNans = None
            self._imageNanLocations = None
            self._lastDownsample = (xds, yds)
        self._drawn = geometry
        qimage = self.qimage
        if qimage is not None and qimage.format() not in _DIRECT_FORMATS:
            # in the format the window is painted in: every paint is then a plain copy (an
            # indexed or 24-bit image was converted on each paint, ~0.5 ms at 640×360)
            self.qimage = qimage.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)

    def paint(self, painter, *args) -> None:
        if self.image is None:
            return
        if self._renderRequired:
            self.render()
            if self._unrenderable:
                return
        if self.paintMode is not None:
            painter.setCompositionMode(self.paintMode)
        if self._drawn is not None:
            r0, r1, c0, c1 = self._drawn[:4]
            target = QRectF(c0, r0, c1 - c0, r1 - r0)
        else:
            h, w = self.image.shape[:2]
            target = QRectF(0, 0, w, h)
        painter.drawImage(target, self.qimage)
        if self.border is not None:
            painter.setPen(self.border)
            painter.drawRect(self.boundingRect())


class SelectionViewBox(pg.ViewBox):
    """A ViewBox where, while selection is on, a left drag draws a rectangle instead of panning."""

    selection_changing = Signal(QRectF)
    selection_finished = Signal(QRectF)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.selection_enabled = False

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (pyqtgraph name)
        if not self.selection_enabled or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        p0 = self.mapSceneToView(ev.buttonDownScenePos())
        p1 = self.mapSceneToView(ev.scenePos())
        rect = QRectF(p0, p1).normalized()
        if ev.isFinish():
            self.selection_finished.emit(rect)
        else:
            self.selection_changing.emit(rect)


class WrappingTitleItem(pg.LabelItem):
    """A title that wraps onto more lines when the view is narrower than its text.

    pyqtgraph's label asks for its whole text width as a minimum: a long title (or a projector's
    larger font) then made the view wider than its place in the window, and the image and colour
    bar were cut off at the right.
    """

    def __init__(self, text: str = " ", parent=None, **opts) -> None:
        self._right_room = 0.0
        super().__init__(text, parent=parent, **opts)
        option = QTextOption(Qt.AlignmentFlag.AlignHCenter)
        option.setWrapMode(QTextOption.WrapMode.WordWrap)
        self.item.document().setDefaultTextOption(option)

    def set_right_room(self, width: float) -> None:
        """Leave ``width`` pixels at the right free (e.g. for a legend beside the title): the text
        is centred, and wraps, in the rest."""
        if width != self._right_room:
            self._right_room = width
            self.resizeEvent(None)

    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt name)
        width = self.rect().width() - self._right_room
        self.item.setTextWidth(-1)
        if width > 0 and self.item.boundingRect().width() > width:
            self.item.setTextWidth(width)
        super().resizeEvent(ev)
        if self._right_room:
            self.item.moveBy(-self._right_room / 2, 0)

    def updateMin(self) -> None:  # noqa: N802 (pyqtgraph name)
        super().updateMin()
        height = self.itemRect().height()
        self.setMinimumWidth(0)
        self._sizeHint[Qt.SizeHint.MinimumSize] = (0, height)
        self.updateGeometry()


class ImageView(pg.GraphicsLayoutWidget):
    """One image with a title, an optional colour bar, pixel hover and rubber-band selection.

    Show data with :meth:`set_image`:

    * ``(H, W, 3)`` uint8 RGB → shown as is;
    * ``(H, W)`` gray → gray colour map (levels 0..255 for uint8, data range otherwise);
    * ``signed=True`` → diverging colour map with levels ±max|v| and a colour bar;
    * ``cmap=``/``levels=`` → anything else (score maps, magnitudes) with a colour bar.

    Signals: ``pixel_hovered(row, col)`` (``-1, -1`` when the mouse leaves the image) and
    ``selection_made(QRectF)`` (view coordinates) after a rubber-band drag — turn it on with
    :meth:`set_selection_enabled`. Link two views' zoom and pan with :func:`link_views`.
    """

    pixel_hovered = Signal(int, int)
    selection_made = Signal(QRectF)

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("#202124")
        self.ci.setContentsMargins(4, 4, 4, 4)
        self.ci.setSpacing(2)
        self._title = WrappingTitleItem(title, color="#e8eaed", size="11pt")
        self.addItem(self._title, row=0, col=0, colspan=2)
        self.view_box = SelectionViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view_box.setDefaultPadding(0.01)
        self.addItem(self.view_box, row=1, col=0)
        self.image_item = AreaImageItem(axisOrder="row-major", autoDownsample=True)
        self.view_box.addItem(self.image_item)
        self.color_bar = ColorBar()
        self.color_bar.set_font(self.font())
        self.addItem(self.color_bar, row=1, col=1)
        self.color_bar.setVisible(False)
        self.ci.layout.setColumnStretchFactor(0, 1)

        self._rubber = QGraphicsRectItem()
        pen = QPen(QColor("#00e5ff"), 0)
        pen.setCosmetic(True)
        pen.setWidth(2)
        pen.setStyle(Qt.PenStyle.DashLine)
        self._rubber.setPen(pen)
        self._rubber.setZValue(20)
        self._rubber.setVisible(False)
        self.view_box.addItem(self._rubber, ignoreBounds=True)

        self._data: np.ndarray | None = None
        self._levels: tuple[float, float] | None = None
        self._shape: tuple[int, int] = (0, 0)
        self._last_hover = (-1, -1)
        self._bar_cmap_key: tuple | None = None
        self._bar_levels_key: tuple | None = None  # (levels shown on the bar, its label)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.view_box.selection_changing.connect(self._on_selection_changing)
        self.view_box.selection_finished.connect(self._on_selection_finished)

    # -- showing data ------------------------------------------------------------------------
    def set_image(
        self,
        data: np.ndarray | None,
        *,
        signed: bool = False,
        levels: tuple[float, float] | None = None,
        cmap: pg.ColorMap | None = None,
        bar_label: str = "",
        show_bar: bool | None = None,
        auto_range: bool | None = None,
        rendered: np.ndarray | None = None,
        prepared: tuple[tuple[int, int, int, int, int, int], np.ndarray] | None = None,
    ) -> None:
        """Show ``data`` (see the class docstring); ``None`` clears the view.

        The colour bar shows for signed and float data unless ``show_bar`` says otherwise. The view
        keeps its zoom unless the image size changed (or ``auto_range=True``). A float colour
        image is drawn as bytes (:func:`to_uint8`); ``rendered`` passes those bytes ready-made
        (e.g. computed off the GUI thread) so the view does not map the data again.
        ``prepared`` = (geometry, part): the data already averaged for the geometry the view
        said it would render (:meth:`render_geometry`, :func:`~cnnviz.state.display.area_part`);
        it is used if the view still renders that geometry.
        """
        if data is None:
            self.image_item.clear()
            self._data = None
            self._shape = (0, 0)
            self.color_bar.setVisible(False)
            return
        data = np.asarray(data)
        rgb = data.ndim == 3 and data.shape[2] in (3, 4)
        if data.ndim == 3 and not rgb:
            raise ValueError(f"ImageView shows (H, W) or (H, W, 3) arrays, got shape {data.shape}")
        shape_changed = data.shape[:2] != self._shape
        if data.dtype != np.uint8:
            data = np.ascontiguousarray(data, dtype=np.float32)
        derived = levels is None  # levels from the data: no value lies below the low level
        if levels is None:
            if signed:
                levels = symmetric_levels(data)
            elif data.dtype == np.uint8:
                levels = (0.0, 255.0)
            else:
                finite = data[np.isfinite(data)]
                lo = float(finite.min()) if finite.size else 0.0
                hi = float(finite.max()) if finite.size else 1.0
                levels = (lo, hi if hi > lo else lo + 1.0)
        if cmap is None and not rgb:
            cmap = diverging_colormap() if signed else gray_colormap()
        shown, shown_levels = data, levels
        self.image_item.set_float_rgb_levels(None)
        if rgb:
            lut = None
            if cmap is None and signed:
                cmap = gray_colormap()  # per-channel: mid gray = 0; the bar shows the scale
            if rendered is not None and rendered.shape == data.shape and rendered.dtype == np.uint8:
                shown, shown_levels = rendered, (0.0, 255.0)
            elif data.dtype != np.uint8:
                # mapped to bytes by the item, only for the part shown and after downsampling
                self.image_item.set_float_rgb_levels(levels, at_least_low=derived)
        else:
            lut = _lookup_table(cmap)
        self.image_item.setImage(shown, levels=shown_levels, lut=lut, autoLevels=False)
        if prepared is not None and shown is data:
            self.image_item.set_prepared(*prepared)
        self._data = data
        self._levels = (float(levels[0]), float(levels[1]))
        self._shape = data.shape[:2]
        if show_bar is None:
            show_bar = signed or (not rgb and data.dtype != np.uint8)
        show_bar = bool(show_bar) and cmap is not None
        self.color_bar.setVisible(show_bar)
        if show_bar:
            # a live update passes an equal map every time: redrawing the bar for it is wasted
            key = (cmap.name, np.asarray(cmap.pos).tobytes(), np.asarray(cmap.color).tobytes())
            if key != self._bar_cmap_key:
                self.color_bar.setColorMap(cmap)
                self._bar_cmap_key = key
            # big numbers (dot-product scores reach millions) are shown as "× 10⁶" on the bar
            top = max(abs(self._levels[0]), abs(self._levels[1]))
            exp = 3 * math.floor(math.log10(top) / 3) if top >= 1e4 else 0
            scale = 10.0**exp
            suffix = f"× 10{str(exp).translate(_SUPERSCRIPT)}" if exp else ""
            label = " ".join(t for t in (bar_label, suffix) if t)
            bar = ((self._levels[0] / scale, self._levels[1] / scale), label)
            # a live update with the same levels would relabel and lay the bar out again for nothing
            if bar != self._bar_levels_key or shape_changed:
                self.color_bar.setLevels(bar[0])
                self._fit_bar_axis(keep_width=not shape_changed)
                self.color_bar.set_title(label)
                self._bar_levels_key = bar
        if auto_range or (auto_range is None and shape_changed):
            self.view_box.autoRange(padding=0.01)

    def paint_with_window(self) -> None:
        """Paint the window now, this view's new picture with everything else changed so far.

        Call it when a pane has shown all of an update. An edit asks the window for a repaint
        at once (the edited control changed), but the view's scene hands its changed area to the
        view only in a queued call, which Qt handles after that repaint: the new picture then
        waited for a second repaint of the whole window. Handling the scene's queued call now
        repaints the window (Qt delivers its pending repaint there) with the picture in it."""
        QCoreApplication.sendPostedEvents(self.scene(), QEvent.Type.MetaCall)

    def _fit_bar_axis(self, keep_width: bool = False) -> None:
        """Label the colour bar's scale (symmetric ticks for signed data) and make room for its
        widest label in the current font: on a projector's larger font a label that did not fit
        would be cut. ``keep_width`` (a live update of the same picture) only lets the room grow:
        a narrower label would otherwise lay the view out again, repaint it (and its linked
        neighbour) a second time, and make the image jump sideways while a kernel is painted."""
        bar = self.color_bar
        lo, hi = bar.levels()
        bar.set_ticks(bar_ticks(lo, hi))
        needed = int(math.ceil(bar.label_widths([t for _, t in bar.ticks()])))
        width = max(ColorBar.MIN_SCALE_WIDTH, needed)
        if keep_width:
            width = max(width, bar.scale_width())
        bar.set_scale_width(width)

    def bar_labels(self) -> list[str]:
        """The colour bar's tick labels as drawn now (empty when the bar is hidden)."""
        if not self.color_bar.isVisible():
            return []
        return [text for _, _, text in self.color_bar.drawn_ticks()]

    def changeEvent(self, ev) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(ev)
        if ev.type() == QEvent.Type.FontChange:
            self.color_bar.set_font(self.font())  # presentation mode: the labels grew
            self._fit_bar_axis()

    def drawn_image(self) -> np.ndarray | None:
        """The pixels drawn now (rendering first if a render is due): the visible part of the
        image (plus a margin) at the resolution shown, float colour data already mapped to bytes.
        At one screen pixel per image pixel or more, these are the image's own values."""
        item = self.image_item
        if self._data is None:
            return None
        if item._renderRequired or item.drawn is None:
            item.render()
        return item.drawn

    def render_geometry(self, shape: tuple[int, ...]) -> tuple[int, int, int, int, int, int] | None:
        """The geometry (see :func:`~cnnviz.state.display.area_part`) the view would render an
        image of ``shape`` (rows, cols) with now: None unless it shows an image of that shape."""
        if self._data is None or tuple(shape[:2]) != self._shape:
            return None
        return self.image_item.render_geometry()

    def drawn_region(self) -> tuple[int, int, int, int] | None:
        """(row0, row1, col0, col1) of the image that :meth:`drawn_image` covers."""
        return self.image_item.rendered_region()

    def image_data(self) -> np.ndarray | None:
        """The values shown now (float32 or uint8). A float colour image is drawn from bytes
        mapped through the levels (:func:`to_uint8`); this returns its values."""
        return self._data

    def levels(self) -> tuple[float, float] | None:
        """The (low, high) levels the colour map spans now."""
        return self._levels

    def image_shape(self) -> tuple[int, int]:
        return self._shape

    def set_title(self, text: str) -> None:
        # the same text again would still lay the view out anew and repaint it (and its linked
        # neighbour): a live update sets the title on every change
        if text != self._title.text:
            self._title.setText(text)

    def title(self) -> str:
        return self._title.text

    def add_item(self, item, ignore_bounds: bool = True) -> None:
        """Overlay a graphics item (markers, boxes) in image coordinates."""
        self.view_box.addItem(item, ignoreBounds=ignore_bounds)

    def set_title_size(self, points: float) -> None:
        self._title.setAttr("size", f"{points:g}pt")
        self._title.setText(self._title.text)

    # -- coordinates -------------------------------------------------------------------------
    def pixel_at(self, view_pos: QPointF) -> tuple[int, int] | None:
        """(row, col) of the pixel at a point in view coordinates, or None outside the image."""
        col, row = math.floor(view_pos.x()), math.floor(view_pos.y())
        h, w = self._shape
        if 0 <= row < h and 0 <= col < w:
            return row, col
        return None

    def widget_pos_of(self, x: float, y: float):
        """Where the view point (x, y) is in this widget's (viewport) pixel coordinates."""
        scene = self.view_box.mapViewToScene(QPointF(x, y))
        return self.mapFromScene(scene)

    # -- hover -------------------------------------------------------------------------------
    @Slot(object)
    def _on_mouse_moved(self, scene_pos) -> None:
        if self._data is None or not self.view_box.sceneBoundingRect().contains(scene_pos):
            hit = None
        else:
            hit = self.pixel_at(self.view_box.mapSceneToView(scene_pos))
        hit = hit if hit is not None else (-1, -1)
        if hit != self._last_hover:
            self._last_hover = hit
            self.pixel_hovered.emit(*hit)

    def leaveEvent(self, ev) -> None:  # noqa: N802
        super().leaveEvent(ev)
        if self._last_hover != (-1, -1):
            self._last_hover = (-1, -1)
            self.pixel_hovered.emit(-1, -1)

    # -- selection ---------------------------------------------------------------------------
    def set_selection_enabled(self, on: bool) -> None:
        """While on, a left drag draws a selection rectangle (the right drag still zooms)."""
        self.view_box.selection_enabled = on
        self.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def selection_enabled(self) -> bool:
        return self.view_box.selection_enabled

    def show_rectangle(self, rect: QRectF | None) -> None:
        """Show (or hide with None) the dashed selection rectangle, in view coordinates."""
        if rect is None:
            self._rubber.setVisible(False)
        else:
            self._rubber.setRect(rect)
            self._rubber.setVisible(True)

    @Slot(QRectF)
    def _on_selection_changing(self, rect: QRectF) -> None:
        self.show_rectangle(rect)

    @Slot(QRectF)
    def _on_selection_finished(self, rect: QRectF) -> None:
        self.show_rectangle(rect)
        self.selection_made.emit(rect)


def link_views(*views: ImageView) -> None:
    """Zoom and pan the given views together (pixel (r, c) stays at the same place in each)."""
    first = views[0].view_box
    for view in views[1:]:
        view.view_box.setXLink(first)
        view.view_box.setYLink(first)
