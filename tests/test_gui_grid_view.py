"""The number grid's lines: translucent over the cells, blended once (crossings too), and where
the cells are after a resize."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from cnnviz.gui.widgets.grid_view import GRID_LINE, NumberGridView


def _gray(view: NumberGridView) -> np.ndarray:
    image = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return rows[:, : 3 * w].reshape(h, w, 3)[:, :, 1].astype(int)


def _darkest(gray: np.ndarray, x: float, y: float) -> int:
    """The darkest pixel within a pixel of (x, y): where a 1-px line drawn there lands."""
    xi, yi = int(round(x)), int(round(y))
    return int(gray[yi - 1 : yi + 2, xi - 1 : xi + 2].min())


def test_the_lines_are_blended_once_where_they_cross_and_follow_the_cells(qtbot):
    view = NumberGridView()
    qtbot.addWidget(view)
    view.set_text_scale(0.01)  # no numbers in the cells: only the lines darken them
    view.set_grid(np.full((12, 9), 255.0), "gray", levels=(0.0, 255.0))
    line = round(255 * (1 - GRID_LINE.alphaF()))
    for size in ((400, 380), (523, 611)):  # the lines move with the cells
        view.resize(*size)
        view.show()
        qtbot.waitExposed(view)
        gray = _gray(view)
        for r, c in ((3, 4), (7, 2), (10, 6)):
            cell = view.cell_rect(r, c)
            across = _darkest(gray, cell.center().x(), cell.top())  # on a line, between crossings
            crossing = _darkest(gray, cell.left(), cell.top())
            assert abs(across - line) <= 2, (size, r, c, across)
            assert abs(crossing - across) <= 2, (size, r, c, crossing, across)  # not darkened twice
            assert gray[int(cell.center().y()), int(cell.center().x())] == 255  # the cell itself
