"""A word-wrapped label for text that changes on every edit, without laying the window out again.

``QLabel.setText`` asks its parent's layout to lay out again, every time: the request climbs
through each enclosing layout (every ``QLayout.activate`` passes it up), and the panel around
the label is laid out and repainted a second time — for a line under the kernel editor that
changes with every painted cell, about a millisecond per edit. :class:`SteadyLabel` holds its
``QLabel`` in a widget without a layout, where that request ends, and asks for a new layout
itself only when the text needs a different height.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class SteadyLabel(QWidget):
    """A word-wrapped (rich) text line; :meth:`setText`, :meth:`text` and :attr:`label` as a QLabel's."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self._height = self.label.heightForWidth(max(1, self.width()))

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        if text == self.label.text():
            return
        self.label.setText(text)
        height = self.heightForWidth(self.width())
        if height != self._height:
            self._height = height
            self.updateGeometry()  # more or fewer lines: the panel makes room

    def text(self) -> str:
        return self.label.text()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt name)
        return self.label.heightForWidth(max(1, width))

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return self.label.sizeHint()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return self.label.minimumSizeHint()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.label.setGeometry(self.rect())
        self._height = self.heightForWidth(self.width())
        super().resizeEvent(event)
