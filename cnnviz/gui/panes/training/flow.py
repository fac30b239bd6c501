"""A row of widgets that wraps onto more rows when the column is too narrow for it.

The monitor's status words (device, replicas, smoothing, learning rate, speed) sit in one row on a
wide window; on a projector's larger font they continue on a second row instead of making the
window wider or running into each other."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget, QWidgetItem

#: The gap between two items of a row, in pixels: "16 per step" never touches "Smoothing".
GAP = 16


class FlowLayout(QLayout):
    """Items left to right with ``GAP`` between them, wrapping to a new row where the next one
    would not fit. An empty label (a word not known yet) takes no room and no gap."""

    def __init__(self, parent: QWidget | None = None, gap: int = GAP) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._gap = gap
        self._rows: list[list[QLayoutItem]] = []  # as last placed
        self.setContentsMargins(0, 0, 0, 0)

    # -- QLayout --------------------------------------------------------------------------------
    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt name)
        self._items.append(item)

    def addWidget(self, widget: QWidget) -> None:  # noqa: N802 (Qt name)
        self.addChildWidget(widget)
        self.addItem(QWidgetItem(widget))

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 (Qt name)
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 (Qt name)
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 (Qt name)
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt name)
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 (Qt name)
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """Everything in one row."""
        shown = self._shown()
        width = sum(i.sizeHint().width() for i in shown) + self._gap * max(0, len(shown) - 1)
        height = max((i.sizeHint().height() for i in shown), default=0)
        m = self.contentsMargins()
        return QSize(width + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802 (Qt name)
        """The widest single item: the row wraps rather than widen the window."""
        size = QSize()
        for item in self._shown():
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    # -- placing --------------------------------------------------------------------------------
    def _shown(self) -> list[QLayoutItem]:
        return [i for i in self._items if not i.isEmpty() and i.sizeHint().width() > 0]

    def rows(self) -> list[list[QWidget]]:
        """The widgets of each row as placed now (for tests)."""
        return [[item.widget() for item in row if item.widget() is not None] for row in self._rows]

    def _place(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        rows: list[list[tuple[QLayoutItem, QSize]]] = [[]]
        x = area.x()
        for item in self._shown():
            hint = item.sizeHint()
            size = QSize(min(hint.width(), area.width()), hint.height())
            if rows[-1] and x + size.width() > area.right() + 1:  # no room left: a new row
                rows.append([])
                x = area.x()
            rows[-1].append((item, size))
            x += size.width() + self._gap
        if move:
            self._rows = [[item for item, _size in row] for row in rows if row]
        y = area.y()
        for row in rows:
            height = max((size.height() for _item, size in row), default=0)
            x = area.x()
            for item, size in row:
                if move:  # each item centred in its row's height
                    top = y + (height - size.height()) // 2
                    item.setGeometry(QRect(QPoint(x, top), size))
                x += size.width() + self._gap
            y += height + (self._gap // 4 if row is not rows[-1] else 0)
        return y - rect.y() + m.bottom()
