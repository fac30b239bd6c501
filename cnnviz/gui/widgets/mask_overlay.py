"""Small pictures of segmentation masks and images for lists of samples: a class mask blended
over its image in the mask colours of :mod:`cnnviz.state.outputs` (the Activations output view's
palette), the legend of those colours, and a thumbnail label that keeps its picture crisp.

The blend is the one the Activations output view draws (``(1 − a)·image + a·colour``)."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy

from cnnviz.state.outputs import PALETTE, colour

OPACITY = 0.45


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1) or (H, W, ≥3) as (H, W, 3) uint8."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.clip(a[..., :3], 0, 255).astype(np.uint8)


def overlay(image: np.ndarray | None, mask: np.ndarray, opacity: float = OPACITY) -> np.ndarray:
    """The class colours of ``mask`` (H, W) over ``image`` (black when None), as RGB uint8. The
    mask is resized (nearest) to the image when their sizes differ."""
    m = np.asarray(mask).astype(np.int64)
    base = as_rgb(image).astype(np.float32) if image is not None else np.zeros((*m.shape, 3), np.float32)
    if m.shape != base.shape[:2]:
        import cv2

        m = cv2.resize(m.astype(np.int32), (base.shape[1], base.shape[0]),
                       interpolation=cv2.INTER_NEAREST).astype(np.int64)
    colours = PALETTE[m % len(PALETTE)].astype(np.float32)
    return np.clip((1 - opacity) * base + opacity * colours, 0, 255).astype(np.uint8)


def side_by_side(first: np.ndarray, second: np.ndarray, gap: int = 3) -> np.ndarray:
    """Two images of the same height as one RGB picture, a white gap between them."""
    a, b = as_rgb(first), as_rgb(second)
    space = np.full((a.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([a, space, b], axis=1)


def legend_html(names: list[str], notes: list[str] | None = None) -> str:
    """"■ name" in each class's colour, one entry a line (``notes`` appended to each)."""
    notes = list(notes or []) + [""] * len(names)
    return "<br>".join(f'<span style="color: rgb{colour(i)}">■</span> {html.escape(name)}{notes[i]}'
                       for i, name in enumerate(names))


def pixmap(image: np.ndarray, side: int) -> QPixmap:
    """An image as a square-ish pixmap ``side`` pixels wide, pixels kept sharp."""
    rgb = np.ascontiguousarray(as_rgb(image))
    h, w = rgb.shape[:2]
    q = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(q).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.FastTransformation)


class Thumbnail(QLabel):
    """A picture at most ``side`` pixels wide that shrinks with a narrow column (a projector's
    large text leaves the side column little room); ``set_image(None)`` empties it."""

    MIN_SIDE = 36

    def __init__(self, side: int = 72, parent=None) -> None:
        super().__init__(parent)
        self.side = side
        self.image: np.ndarray | None = None
        self._shown = 0
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(self.MIN_SIDE)

    def sizeHint(self):  # noqa: N802 (Qt name)
        hint = super().sizeHint()
        hint.setWidth(self.side)
        return hint

    def set_image(self, image: np.ndarray | None) -> None:
        self.image = None if image is None else np.asarray(image)
        self._shown = 0
        self._draw()

    def _draw(self) -> None:
        side = max(self.MIN_SIDE, min(self.side, self.width() if self.isVisible() else self.side))
        if self.image is None:
            self.setPixmap(QPixmap())
            self.setFixedHeight(self.MIN_SIDE)
        elif side != self._shown:
            pm = pixmap(self.image, side)
            self.setPixmap(pm)
            self.setFixedHeight(pm.height())
        self._shown = side if self.image is not None else 0

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._draw()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._draw()
