"""A kernel you can draw on: a grid of numbers painted by sign and magnitude.

Why a single custom-painted widget instead of a table of line edits: painting must follow a
mouse drag across a 15×15 grid without stutter, and the colour of each cell (red positive, blue
negative, white zero) is the point of the widget. Typing still works: double-click a cell or
just start typing on the selected cell.

Input:

* left press/drag — paint the brush value into every cell the mouse crosses;
* right press/drag, or Shift + left — erase cells to 0;
* double-click, Enter/F2, or typing a number — edit the selected cell; Enter commits, Escape
  cancels; arrow keys move the selection.

Values typed are checked: anything that is not a finite number (``nan``, ``inf``, ``abc``) is
refused, the cell keeps its value and ``invalid_entered`` carries a message to show.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLineEdit, QSizePolicy, QWidget

# the value rules live with the kernel playground's state; imported here for the widget's users
from cnnviz.state.kernels import MAX_SIDE, format_cell_value, parse_cell_value, resize_kernel

__all__ = ["KernelEditorWidget", "resize_kernel", "parse_cell_value", "format_cell_value"]


class KernelEditorWidget(QWidget):
    """An editable grid of kernel values (1–15 per side), coloured by sign and magnitude.

    The widget holds the numbers it shows; the owner listens to ``kernel_edited`` (emitted once
    per user change, with a float32 copy) and calls :meth:`set_kernel` to show new values
    (that never emits). ``stroke_finished`` fires on mouse release after a paint or erase drag.
    """

    kernel_edited = Signal(object)  # np.ndarray float32 (rows, cols)
    invalid_entered = Signal(str)
    stroke_finished = Signal()

    def __init__(self, kernel: np.ndarray | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kernel = np.zeros((3, 3), np.float32) if kernel is None else np.array(kernel, np.float32)
        self._brush = 1.0
        self._selected = (0, 0)
        self._painting: str | None = None  # "paint" or "erase" during a drag
        self._before_press: np.ndarray | None = None
        self._highlight: tuple[int, int] | None = None
        self._lengths: np.ndarray | None = None  # each cell's text length (the font size follows the longest)
        self._texts: list[list[str]] = []  # each cell's text, made with ``_lengths``
        self._editor = QLineEdit(self)
        self._editor.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._editor.hide()
        self._editor.returnPressed.connect(self._on_editor_return)
        self._editor.installEventFilter(self)
        self._editing: tuple[int, int] | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        # The colour of the panel around the grid, read from the panel as it draws itself: once
        # known, the editor paints every pixel it repaints (that colour around the grid) and Qt
        # no longer paints the panel under an edited cell first (a group box's frame, clipped to
        # the cell, cost ~0.5 ms on every edit). Read again after a change of size or look.
        self._backdrop: QColor | None = None
        self._backdrop_timer = QTimer(self)
        self._backdrop_timer.setSingleShot(True)
        self._backdrop_timer.timeout.connect(self._read_backdrop)
        self.setMouseTracking(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)
        self.setToolTip(
            "Left-drag: paint the brush value · Right-drag or Shift+drag: erase to 0 · "
            "Double-click or type: enter a value (1/9 works) · Arrows: move"
        )

    # -- the model ---------------------------------------------------------------------------
    def kernel(self) -> np.ndarray:
        """A float32 copy of the values shown."""
        return self._kernel.copy()

    def set_kernel(self, kernel: np.ndarray) -> None:
        """Show new values (any size 1–15 per side); does not emit ``kernel_edited``."""
        k = np.array(kernel, dtype=np.float32)
        if k.ndim != 2 or not (1 <= k.shape[0] <= MAX_SIDE and 1 <= k.shape[1] <= MAX_SIDE):
            raise ValueError(f"A kernel must be 2-D with 1–{MAX_SIDE} rows and columns; got {k.shape}")
        if k.shape == self._kernel.shape and np.array_equal(k, self._kernel):
            return
        resized = k.shape != self._kernel.shape
        self._kernel = k
        self._lengths = None
        r, c = self._selected
        self._selected = (min(r, k.shape[0] - 1), min(c, k.shape[1] - 1))
        if self._editing is not None:
            self._cancel_edit()
        if resized:
            self.updateGeometry()  # new values of the same size keep the layout as it is
        self.update()

    def brush_value(self) -> float:
        return self._brush

    def set_brush_value(self, value: float) -> None:
        """The value a left-drag paints."""
        if not math.isfinite(value):
            raise ValueError("The brush value must be a finite number.")
        self._brush = float(value)

    def selected_cell(self) -> tuple[int, int]:
        return self._selected

    def set_highlight(self, cell: tuple[int, int] | None) -> None:
        """Outline one cell (e.g. the one whose product is under discussion); None clears it."""
        if cell != self._highlight:
            self._highlight = cell
            self.update()

    # -- geometry ----------------------------------------------------------------------------
    def _cell_size(self) -> float:
        rows, cols = self._kernel.shape
        return max(4.0, min((self.width() - 2) / cols, (self.height() - 2) / rows))

    def _origin(self) -> tuple[float, float]:
        rows, cols = self._kernel.shape
        s = self._cell_size()
        return (self.width() - s * cols) / 2, (self.height() - s * rows) / 2

    def cell_rect(self, row: int, col: int) -> QRect:
        """The cell's rectangle in widget coordinates."""
        s = self._cell_size()
        x0, y0 = self._origin()
        return QRect(round(x0 + col * s), round(y0 + row * s), round(s), round(s))

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        """(row, col) under a widget position, or None outside the grid."""
        s = self._cell_size()
        x0, y0 = self._origin()
        col = math.floor((pos.x() - x0) / s)
        row = math.floor((pos.y() - y0) / s)
        rows, cols = self._kernel.shape
        if 0 <= row < rows and 0 <= col < cols:
            return row, col
        return None

    def sizeHint(self) -> QSize:  # noqa: N802
        rows, cols = self._kernel.shape
        side = max(44, self.fontMetrics().horizontalAdvance("-0.25") + 16)
        side = min(side, 360 // max(rows, cols) + 8)
        return QSize(max(180, cols * side + 2), max(180, rows * side + 2))

    # -- the panel's colour around the grid ---------------------------------------------------
    def _forget_backdrop(self) -> None:
        self._backdrop = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, False)
        if self.isVisible():
            self._backdrop_timer.start(0)

    def _read_backdrop(self) -> None:
        """Read the panel's colour just left of the editor (in the panel's margin) and paint
        opaquely with it; no colour there (no margin): the panel keeps painting under the grid."""
        parent = self.parentWidget()
        if parent is None or not self.isVisible() or self.x() < 1:
            return
        image = parent.grab(QRect(self.x() - 1, self.y() + self.height() // 2, 1, 1)).toImage()
        if image.isNull() or image.width() < 1:
            return
        self._backdrop = image.pixelColor(0, 0)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._forget_backdrop()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._forget_backdrop()

    def moveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().moveEvent(event)
        self._forget_backdrop()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() in (
            QEvent.Type.PaletteChange,
            QEvent.Type.StyleChange,
            QEvent.Type.FontChange,
            QEvent.Type.EnabledChange,
            QEvent.Type.ActivationChange,  # some styles draw an inactive window in another shade
            QEvent.Type.ParentChange,
        ):
            self._forget_backdrop()

    # -- drawing -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if self._backdrop is not None:
            p.fillRect(event.rect(), self._backdrop)  # opaque: see __init__
        rows, cols = self._kernel.shape
        scale, longest = self._look()
        s = self._cell_size()
        x0, y0 = self._origin()
        font = QFont(self.font())
        font.setPixelSize(max(7, min(int(s * 0.42), int(s * 1.6 / max(longest, 1)))))
        p.setFont(font)
        grid = QPen(QColor("#5f6368"))
        grid.setWidth(1)
        # only the cells in the region to repaint (one edited cell repaints itself, not the grid)
        region = event.region()
        box = region.boundingRect()
        r0, r1 = max(0, math.floor((box.top() - y0) / s) - 1), min(rows, math.ceil((box.bottom() - y0) / s) + 1)
        c0, c1 = max(0, math.floor((box.left() - x0) / s) - 1), min(cols, math.ceil((box.right() - x0) / s) + 1)
        side = round(s)
        # colours and texts for the cells to paint, worked out for all of them at once: a new
        # 15×15 kernel repaints 225 cells while its result is computed on the other cores
        block = self._kernel[r0:r1, c0:c1]
        texts = self._cell_texts()
        colours = self._cell_colours(block / scale)
        strong = np.abs(block / scale) > 0.55
        white, dark = QColor("white"), QColor("#202124")
        align = Qt.AlignmentFlag.AlignCenter
        xs = [round(x0 + c * s) for c in range(c0, c1)]
        for i, r in enumerate(range(r0, r1)):
            y = round(y0 + r * s)
            row_texts = texts[r][c0:c1]
            for j, x in enumerate(xs):
                rect = QRect(x, y, side, side)  # cell_rect(r, c)
                if not region.intersects(rect):
                    continue
                p.fillRect(rect, QColor(*colours[i][j]))
                p.setPen(grid)
                p.drawRect(rect.adjusted(0, 0, -1, -1))
                p.setPen(white if strong[i, j] else dark)
                p.drawText(rect, align, row_texts[j])
        # centre cell and selection outlines
        cr, cc = rows // 2, cols // 2
        pen = QPen(QColor("#202124"))
        pen.setWidth(max(2, int(s / 16)))
        pen.setStyle(Qt.PenStyle.DotLine)
        p.setPen(pen)
        p.drawRect(self.cell_rect(cr, cc).adjusted(2, 2, -3, -3))
        if self.hasFocus():
            pen = QPen(QColor("#f9ab00"))
            pen.setWidth(max(2, int(s / 12)))
            p.setPen(pen)
            p.drawRect(self.cell_rect(*self._selected).adjusted(1, 1, -2, -2))
        if self._highlight is not None and self._highlight[0] < rows and self._highlight[1] < cols:
            pen = QPen(QColor("#00c853"))
            pen.setWidth(max(2, int(s / 10)))
            p.setPen(pen)
            p.drawRect(self.cell_rect(*self._highlight).adjusted(1, 1, -2, -2))
        p.end()

    @staticmethod
    def _cell_colour(t: float) -> QColor:
        """White at 0, towards red for positive and blue for negative, by |t| in 0..1."""
        return QColor(*KernelEditorWidget._cell_colours(np.array([[t]], np.float64))[0][0])

    @staticmethod
    def _cell_colours(t: np.ndarray) -> list[list[list[int]]]:
        """:meth:`_cell_colour`'s (r, g, b) for each value of a 2-D array ``t``."""
        t = np.clip(np.asarray(t, np.float64), -1.0, 1.0)
        a = (np.abs(t) ** 0.8)[..., None]
        target = np.where((t > 0)[..., None], (198.0, 40.0, 40.0), (21.0, 101.0, 192.0))
        return np.round(255.0 + (target - 255.0) * a).astype(int).tolist()

    # -- mouse -------------------------------------------------------------------------------
    def mousePressEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self._editing is not None:
            self._commit_edit()
        cell = self.cell_at(ev.position().toPoint())
        if ev.button() == Qt.MouseButton.RightButton or (
            ev.button() == Qt.MouseButton.LeftButton
            and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self._painting = "erase"
        elif ev.button() == Qt.MouseButton.LeftButton:
            self._painting = "paint"
        else:
            return
        self._before_press = self._kernel.copy()
        if cell is not None:
            self._selected = cell
            self._apply_stroke(cell)
        ev.accept()

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if self._painting is None:
            return
        cell = self.cell_at(ev.position().toPoint())
        if cell is not None:
            self._apply_stroke(cell)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        if self._painting is not None:
            self._painting = None
            self.stroke_finished.emit()

    def mouseDoubleClickEvent(self, ev: QMouseEvent) -> None:  # noqa: N802
        cell = self.cell_at(ev.position().toPoint())
        if cell is None:
            return
        # the first click of the double-click painted the brush: undo it before editing
        before = self._before_press
        if before is not None and before.shape == self._kernel.shape and not np.array_equal(before, self._kernel):
            self._kernel = before.copy()
            self._lengths = None
            self.kernel_edited.emit(self.kernel())
            self.update()
        self._painting = None
        self.start_edit(cell)

    def _apply_stroke(self, cell: tuple[int, int]) -> None:
        value = 0.0 if self._painting == "erase" else self._brush
        if self._kernel[cell] != np.float32(value):
            self._set_value(cell, value)
            self.kernel_edited.emit(self.kernel())

    def _look(self) -> tuple[float, int]:
        """What every cell's drawing depends on: the colour scale (max |value|) and the longest
        text (the font size)."""
        scale = float(np.max(np.abs(self._kernel))) or 1.0
        return scale, int(self._text_lengths().max())

    def _text_lengths(self) -> np.ndarray:
        if self._lengths is None or self._lengths.shape != self._kernel.shape:
            self._texts = [[format_cell_value(v) for v in row] for row in self._kernel.tolist()]
            self._lengths = np.array([[len(t) for t in row] for row in self._texts], np.int32).reshape(self._kernel.shape)
        return self._lengths

    def _cell_texts(self) -> list[list[str]]:
        """Each cell's text, written once per value (the paint and the font size both need it)."""
        self._text_lengths()
        return self._texts

    def _set_value(self, cell: tuple[int, int], value: float, select: bool = True) -> None:
        """Put one value in (and select its cell), repainting only the cells that changed: the
        whole grid only when the colour scale or the font size changes with it."""
        before = self._look()
        old_selected = self._selected
        self._kernel[cell] = value
        text = format_cell_value(float(self._kernel[cell]))
        self._text_lengths()[cell] = len(text)
        self._texts[cell[0]][cell[1]] = text
        if select:
            self._selected = cell
        if self._look() != before:
            self.update()
            return
        for c in {cell, old_selected}:
            self.update(self.cell_rect(*c).adjusted(-2, -2, 2, 2))

    # -- typing ------------------------------------------------------------------------------
    def start_edit(self, cell: tuple[int, int] | None = None, text: str | None = None) -> None:
        """Open the inline editor on a cell (default: the selected one)."""
        cell = cell or self._selected
        self._selected = cell
        self._editing = cell
        rect = self.cell_rect(*cell)
        side = max(rect.width(), self.fontMetrics().horizontalAdvance("-0.0000") + 12)
        self._editor.setGeometry(rect.center().x() - side // 2, rect.top(), side, max(rect.height(), self.fontMetrics().height() + 8))
        self._editor.setText(format_cell_value(float(self._kernel[cell])) if text is None else text)
        if text is None:
            self._editor.selectAll()
        self._editor.show()
        self._editor.setFocus()

    def set_cell(self, row: int, col: int, text: str) -> bool:
        """Enter text into a cell as if typed; returns False (and emits ``invalid_entered``) when
        the text is not a finite number."""
        try:
            value = parse_cell_value(text)
        except ValueError as exc:
            self.invalid_entered.emit(f"Cell ({row + 1}, {col + 1}): {exc}")
            return False
        if self._kernel[row, col] != np.float32(value):
            self._set_value((row, col), value, select=False)
            self.kernel_edited.emit(self.kernel())
        return True

    def _on_editor_return(self) -> None:
        self._commit_edit()
        self.setFocus()

    def _commit_edit(self) -> None:
        if self._editing is None:
            return
        cell, self._editing = self._editing, None
        ok = self.set_cell(cell[0], cell[1], self._editor.text())
        self._editor.hide()
        if not ok:
            self.update()

    def _cancel_edit(self) -> None:
        self._editing = None
        self._editor.hide()
        self.setFocus()

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802
        if obj is self._editor:
            if ev.type() == ev.Type.KeyPress and ev.key() == Qt.Key.Key_Escape:
                self._cancel_edit()
                return True
            if ev.type() == ev.Type.FocusOut and self._editing is not None:
                self._commit_edit()
        return super().eventFilter(obj, ev)

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        rows, cols = self._kernel.shape
        r, c = self._selected
        moves = {
            Qt.Key.Key_Left: (0, -1),
            Qt.Key.Key_Right: (0, 1),
            Qt.Key.Key_Up: (-1, 0),
            Qt.Key.Key_Down: (1, 0),
        }
        if ev.key() in moves:
            dr, dc = moves[ev.key()]
            self._selected = (min(rows - 1, max(0, r + dr)), min(cols - 1, max(0, c + dc)))
            self.update()
            return
        if ev.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_F2):
            self.start_edit()
            return
        if ev.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.set_cell(r, c, "0")
            return
        text = ev.text()
        if text and (text[0].isdigit() or text[0] in "-.+" or text[0].isalpha()):
            self.start_edit(text=text)  # start typing: letters too, so "nan" gets refused politely
            return
        super().keyPressEvent(ev)
