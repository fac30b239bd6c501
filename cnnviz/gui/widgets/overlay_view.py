"""An image view that lays a heat map over a picture with adjustable opacity.

Why not blend the two into one RGB array: the colour bar must keep describing the heat map's
numbers, so the heat map stays the view's own (coloured, levelled) image and the picture is a
second item underneath it; the opacity of the heat map is the alpha slider.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from cnnviz.gui.widgets.image_view import ImageView, heat_colormap

__all__ = ["OverlayView"]


class OverlayView(ImageView):
    """:class:`ImageView` with a base picture under the shown heat map."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.base_item = pg.ImageItem(axisOrder="row-major")
        self.base_item.setZValue(-10)
        self.view_box.addItem(self.base_item)
        self._alpha = 0.6
        self._base: np.ndarray | None = None
        self._heat: np.ndarray | None = None

    def set_overlay(
        self,
        base: np.ndarray | None,
        heat: np.ndarray | None,
        *,
        signed: bool = False,
        levels: tuple[float, float] | None = None,
        cmap: pg.ColorMap | None = None,
        bar_label: str = "",
    ) -> None:
        """Show ``heat`` (H, W floats) over ``base`` (H, W or H, W, 3 uint8, the same size).

        Without a heat map the picture alone is shown; without a picture, the heat map alone."""
        self._base = None if base is None else np.ascontiguousarray(base, dtype=np.uint8)
        self._heat = None if heat is None else np.ascontiguousarray(heat, dtype=np.float32)
        if self._heat is None:
            self.base_item.clear()
            self.set_image(self._base)
            self.image_item.setOpacity(1.0)
            return
        if cmap is None and not signed:
            cmap = heat_colormap()
        self.set_image(self._heat, signed=signed, levels=levels, cmap=cmap, bar_label=bar_label,
                       show_bar=True)
        if self._base is None:
            self.base_item.clear()
            self.image_item.setOpacity(1.0)
            return
        b = self._base
        if b.shape[:2] != self._heat.shape[:2]:
            import cv2

            b = cv2.resize(b, (self._heat.shape[1], self._heat.shape[0]), interpolation=cv2.INTER_NEAREST)
        self.base_item.setImage(b, levels=(0, 255), autoLevels=False)
        self.image_item.setOpacity(self._alpha)

    def set_alpha(self, alpha: float) -> None:
        """Opacity of the heat map, 0 (picture only) … 1 (heat map only)."""
        self._alpha = float(min(max(alpha, 0.0), 1.0))
        if self._heat is not None and self._base is not None:
            self.image_item.setOpacity(self._alpha)

    def alpha(self) -> float:
        return self._alpha

    def heat_data(self) -> np.ndarray | None:
        return self._heat

    def base_data(self) -> np.ndarray | None:
        return self._base

    def composite(self) -> np.ndarray | None:
        """What the eye sees, as RGB uint8: the coloured heat map blended over the picture."""
        if self._heat is None:
            return None
        lo, hi = self.levels() or (0.0, 1.0)
        lut = np.asarray(self.image_item.lut)[:, :3] if self.image_item.lut is not None else None
        t = np.clip((self._heat - lo) / ((hi - lo) or 1.0), 0, 1)
        idx = (t * 255).astype(np.uint8)
        heat_rgb = lut[idx].astype(np.float32) if lut is not None else np.repeat(idx[..., None], 3, 2).astype(np.float32)
        if self._base is None:
            return heat_rgb.astype(np.uint8)
        b = self._base if self._base.ndim == 3 else np.repeat(self._base[..., None], 3, 2)
        a = self._alpha
        return (a * heat_rgb + (1 - a) * b.astype(np.float32)).astype(np.uint8)
