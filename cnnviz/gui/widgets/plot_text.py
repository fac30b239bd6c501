"""Text drawn inside pyqtgraph plots (axis titles, plot titles, labels on the data) at a size read
from a projector: pyqtgraph fixes these sizes when they are made, so the window's larger font in
presentation mode never reaches them on its own."""

from __future__ import annotations

from collections.abc import Iterable

import pyqtgraph as pg
from PySide6.QtGui import QFont

#: point sizes (labels on the data and axis titles, plot title) normal / on a projector
NORMAL_PT = (9, 11)
PRESENTATION_PT = (15, 17)


def plot_text_points(presentation: bool) -> tuple[int, int]:
    """(label, title) point sizes for plot text."""
    return PRESENTATION_PT if presentation else NORMAL_PT


def text_font(presentation: bool, *, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSize(plot_text_points(presentation)[0])
    font.setBold(bold)
    return font


def scale_plot_text(plot: pg.PlotWidget | pg.PlotItem, presentation: bool,
                    extra: Iterable[pg.TextItem] = ()) -> None:
    """Size a plot's axis titles, its title, every :class:`pyqtgraph.TextItem` and the labels of
    its lines (``extra``: text items kept elsewhere, e.g. hidden ones added later)."""
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    label_pt, title_pt = plot_text_points(presentation)
    for side in ("left", "bottom"):
        axis = item.getAxis(side)
        if axis.labelText:
            axis.setLabel(axis.labelText, units=axis.labelUnits or None, **{"font-size": f"{label_pt}pt"})
    title = item.titleLabel.text
    if title:
        item.setTitle(title, size=f"{title_pt}pt")
    font = text_font(presentation)
    texts = [t for t in item.getViewBox().addedItems if isinstance(t, pg.TextItem)]
    for t in [*texts, *extra]:
        t.setFont(font)
    for line in item.getViewBox().addedItems:
        label = getattr(line, "label", None)  # an InfiniteLine made with label=...
        if isinstance(line, pg.InfiniteLine) and label is not None:
            label.setFont(font)
