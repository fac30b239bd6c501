"""How numbers become a picture's grey levels: the level rules every view and state shares.

Plain numpy/OpenCV, so a state can prepare what a view draws (e.g. colour results mapped to bytes
in one pass) without Qt; :mod:`cnnviz.gui.widgets.image_view` draws with the same rules.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["area_part", "max_abs", "symmetric_levels", "to_uint8"]


def symmetric_levels(data: np.ndarray) -> tuple[float, float]:
    """(-m, m) with m = max |data|, so 0 sits exactly in the middle of a diverging map.

    One pass (OpenCV's infinity norm, for float32); the slower scan that skips NaN and
    infinities runs only when that pass does not give a finite number."""
    data = np.asarray(data)
    m = max_abs(data)
    if not math.isfinite(m):
        finite = data[np.isfinite(data)]
        m = float(np.max(np.abs(finite))) if finite.size else 0.0
    if m <= 0.0 or not math.isfinite(m):
        m = 1.0
    return -m, m


def max_abs(data: np.ndarray) -> float:
    """max |data| in one pass; NaN or inf in the data may make it non-finite (callers check)."""
    if data.size == 0:
        return 0.0
    if data.dtype == np.float32 and data.flags.c_contiguous and data.size < 2**31:
        m = float(cv2.norm(data.reshape(data.shape[0], -1), cv2.NORM_INF))
        if np.isnan(data.flat[0]):
            return math.nan  # OpenCV may skip NaN; the caller's careful scan decides
        return m
    return float(np.max(np.abs(data)))


def to_uint8(data: np.ndarray, levels: tuple[float, float], *, at_least_low: bool = False) -> np.ndarray:
    """Map ``levels[0]..levels[1]`` to 0..255 in one pass, saturating outside (NaN → 0).

    Used for float colour images: pyqtgraph would otherwise rescale them on every render. When
    the caller knows no value is below ``levels[0]`` (``at_least_low``), OpenCV's faster
    ``convertScaleAbs`` does it (its absolute value is then a no-op)."""
    lo, hi = float(levels[0]), float(levels[1])
    scale = 255.0 / (hi - lo) if hi > lo else 1.0
    src = data if data.dtype in (np.float32, np.float64) else data.astype(np.float32)
    if at_least_low:
        return cv2.convertScaleAbs(src, alpha=scale, beta=-lo * scale)
    return cv2.addWeighted(src, scale, src, 0.0, -lo * scale, dtype=cv2.CV_8U)


def area_part(image: np.ndarray, geometry: tuple[int, int, int, int, int, int]) -> np.ndarray:
    """What a view draws of ``image`` for ``geometry`` = (row0, row1, col0, col1, xds, yds):
    that part of the image with each block of ``xds × yds`` pixels averaged (OpenCV's
    ``INTER_AREA``; rows and columns past the last whole block are left out of the averages,
    and the view stretches the picture over them).

    The view (:class:`cnnviz.gui.widgets.image_view.AreaImageItem`) renders with it, and a
    state computing a result off the GUI thread can run it there too, for the geometry the view
    will use, so the GUI thread only colours and draws the few hundred pixels shown."""
    r0, r1, c0, c1, xds, yds = geometry
    part = image[r0:r1, c0:c1]
    if xds > 1 or yds > 1:
        nh, nw = max(1, (r1 - r0) // yds), max(1, (c1 - c0) // xds)
        part = cv2.resize(part[: nh * yds, : nw * xds], (nw, nh), interpolation=cv2.INTER_AREA)
        if image.ndim == 3 and part.ndim == 2:
            part = part[:, :, None]
    return part
