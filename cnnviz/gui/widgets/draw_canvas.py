"""A square canvas to draw a digit with the mouse: thick white strokes on black, like MNIST.

The truth is a numpy array (``size × size`` uint8) drawn with OpenCV's anti-aliased lines, so
what the model is fed is exactly what is shown. :func:`center_like_mnist` then does what the
MNIST authors did to every digit: crop the strokes, fit them in a 20×20 box keeping the aspect
ratio, and centre them by their centre of mass in a 28×28 frame. Without it a digit drawn
across the whole canvas looks nothing like the training data and is misread.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["DrawCanvasWidget", "center_like_mnist"]


def center_like_mnist(gray: np.ndarray, out: int = 28, box: int | None = None) -> np.ndarray:
    """Strokes (white on black) cropped, fitted into ``box`` (20/28 of ``out``) and centred by
    mass in an ``out × out`` frame — MNIST's own normalisation. An empty drawing stays black."""
    g = np.asarray(gray, dtype=np.uint8)
    if g.ndim == 3:
        g = g.max(axis=2)
    box = box or max(1, round(out * 20 / 28))
    ys, xs = np.nonzero(g > 20)
    if ys.size == 0:
        return np.zeros((out, out), np.uint8)
    crop = g[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    frame = np.zeros((out, out), np.float32)
    y0, x0 = (out - nh) // 2, (out - nw) // 2
    frame[y0: y0 + nh, x0: x0 + nw] = small
    total = frame.sum()
    if total > 0:
        yy, xx = np.indices(frame.shape)
        cy, cx = (yy * frame).sum() / total, (xx * frame).sum() / total
        shift = np.float32([[1, 0, (out - 1) / 2 - cx], [0, 1, (out - 1) / 2 - cy]])
        frame = cv2.warpAffine(frame, shift, (out, out), flags=cv2.INTER_LINEAR, borderValue=0)
    return np.clip(frame, 0, 255).astype(np.uint8)


class DrawCanvasWidget(QWidget):
    """Draw with the left button, erase with the right; ``drawing_changed`` on every stroke
    segment (the pane debounces it) and on :meth:`clear`."""

    drawing_changed = Signal()

    def __init__(self, size: int = 280, stroke: int = 22, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._canvas = np.zeros((size, size), np.uint8)
        self._stroke = int(stroke)
        self._last: tuple[int, int] | None = None
        self._erasing = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(140, 140)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw with the left button · right button erases")

    # -- content -----------------------------------------------------------------------------
    def image(self) -> np.ndarray:
        """A copy of the drawing (size × size uint8, strokes white on black)."""
        return self._canvas.copy()

    def set_image(self, gray: np.ndarray) -> None:
        """Replace the drawing (resized to the canvas)."""
        g = np.asarray(gray, dtype=np.uint8)
        if g.ndim == 3:
            g = cv2.cvtColor(g, cv2.COLOR_RGB2GRAY)
        n = self._canvas.shape[0]
        self._canvas = np.ascontiguousarray(cv2.resize(g, (n, n), interpolation=cv2.INTER_AREA))
        self.update()
        self.drawing_changed.emit()

    def clear(self) -> None:
        self._canvas[:] = 0
        self.update()
        self.drawing_changed.emit()

    def is_empty(self) -> bool:
        return not bool(self._canvas.any())

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(220, 220)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, w: int) -> int:  # noqa: N802
        return w

    # -- geometry ----------------------------------------------------------------------------
    def canvas_rect(self) -> QRectF:
        """Where the canvas is drawn in the widget (square, centred)."""
        side = min(self.width(), self.height()) - 2
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def widget_pos(self, x: float, y: float) -> QPointF:
        """Widget point of canvas pixel (x, y) — for tests and hints."""
        r = self.canvas_rect()
        n = self._canvas.shape[0]
        return QPointF(r.left() + (x + 0.5) * r.width() / n, r.top() + (y + 0.5) * r.height() / n)

    def _to_canvas(self, pos: QPointF) -> tuple[int, int]:
        r = self.canvas_rect()
        n = self._canvas.shape[0]
        x = int((pos.x() - r.left()) * n / max(r.width(), 1))
        y = int((pos.y() - r.top()) * n / max(r.height(), 1))
        return min(max(x, 0), n - 1), min(max(y, 0), n - 1)

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), QColor("#202124"))
            r = self.canvas_rect()
            h, w = self._canvas.shape
            img = QImage(self._canvas.data, w, h, w, QImage.Format.Format_Grayscale8)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            p.drawImage(r, img)
            p.setPen(QPen(QColor("#5f6368"), 1))
            p.drawRect(r)
            if self.is_empty():
                p.setPen(QColor("#9aa0a6"))
                p.drawText(r, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap),
                           "Draw a digit here")
        finally:
            p.end()

    # -- mouse -------------------------------------------------------------------------------
    def _draw_to(self, pt: tuple[int, int]) -> None:
        value = 0 if self._erasing else 255
        width = self._stroke * (2 if self._erasing else 1)
        if self._last is None:
            cv2.circle(self._canvas, pt, width // 2, value, -1, cv2.LINE_AA)
        else:
            cv2.line(self._canvas, self._last, pt, value, width, cv2.LINE_AA)
        self._last = pt
        self.update()
        self.drawing_changed.emit()

    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if ev.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._erasing = ev.button() == Qt.MouseButton.RightButton
            self._last = None
            self._draw_to(self._to_canvas(ev.position()))
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if self._last is not None:
            self._draw_to(self._to_canvas(ev.position()))
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if self._last is not None:
            self._draw_to(self._to_canvas(ev.position()))
            self._last = None
            ev.accept()
            return
        super().mouseReleaseEvent(ev)
