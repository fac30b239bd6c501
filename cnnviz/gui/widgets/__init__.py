"""Widgets shared by the panes.

* :class:`ImageView` — a zoomable pyqtgraph image (row-major, float32 with explicit levels),
  diverging colour map for signed data with a colour bar, pixel hover, rubber-band selection;
  :func:`link_views` zooms and pans several views together.
* :class:`KernelEditorWidget` — a kernel grid you paint with the mouse or type into.
"""

from cnnviz.gui.widgets.image_view import (
    ImageView,
    diverging_colormap,
    gray_colormap,
    heat_colormap,
    link_views,
    symmetric_levels,
)
from cnnviz.gui.widgets.kernel_editor import KernelEditorWidget, parse_cell_value, resize_kernel

__all__ = [
    "ImageView",
    "KernelEditorWidget",
    "diverging_colormap",
    "gray_colormap",
    "heat_colormap",
    "link_views",
    "parse_cell_value",
    "resize_kernel",
    "symmetric_levels",
]
