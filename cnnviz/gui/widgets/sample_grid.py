"""A grid of small images, such as the book's Figure 4.8 of augmented samples.

Why a plain QPainter widget: a preview is a dozen 28×28 to 128×128 thumbnails; drawing one
mosaic ``QImage`` scaled with nearest-neighbour sampling keeps digits crisp at any size and
costs nothing per paint.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["SampleGridWidget", "mosaic"]

GAP = 2  # pixels between tiles, in image pixels of the mosaic


def mosaic(images, columns: int, gap: int = GAP, fill: int = 255) -> np.ndarray:
    """Tile images (N, H, W[, C]) row by row into one (rows·H, columns·W, 3) uint8 image."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or len(x) == 0:
        raise ValueError("mosaic needs a non-empty batch of images (N, H, W[, C])")
    if x.dtype != np.uint8:
        x = np.clip(np.nan_to_num(x.astype(np.float32)), 0, 255).astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] == 4:
        x = x[..., :3]
    n, h, w = x.shape[:3]
    columns = max(1, min(int(columns), n))
    rows = -(-n // columns)
    out = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), fill, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        out[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = x[i]
    return out


class SampleGridWidget(QWidget):
    """Shows a mosaic of images scaled to fit, with a placeholder text while empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._array: np.ndarray | None = None
        self._count = 0
        self._columns = 0
        self._placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)

    def set_images(self, images, columns: int = 4) -> None:
        """Show ``images`` (N, H, W[, C], uint8 or 0–255 floats) in ``columns`` columns."""
        arr = np.ascontiguousarray(mosaic(images, columns))
        self._array = arr
        self._count = len(images)
        self._columns = max(1, min(int(columns), self._count))
        h, w = arr.shape[:2]
        self._image = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def clear(self, placeholder: str = "") -> None:
        self._image = None
        self._array = None
        self._count = 0
        self._placeholder = placeholder
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def count(self) -> int:
        """How many images are shown."""
        return self._count

    def mosaic_array(self) -> np.ndarray | None:
        return self._array

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(260, 260)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        if self._image is None:
            painter.setPen(QColor("#80868b"))
            painter.drawText(self.rect().adjusted(8, 8, -8, -8),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            painter.end()
            return
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(target, self._image)
        painter.end()
