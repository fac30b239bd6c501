"""The softmax panel's table: logits to edit, and e^z and the probabilities they give."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from cnnviz.gui.qtutil import signals_blocked
from cnnviz.state.kernels import parse_cell_value

COLUMNS = ("class", "logit z ✎", "eᶻ", "p = eᶻ / Σ")
_LOGIT = 1


class SoftmaxTable(QTableWidget):
    """One row per class. A typed logit is parsed (``1/3`` works) and emitted as
    ``logit_edited(row, value)``; a text that is not a number emits ``invalid_entered``."""

    logit_edited = Signal(int, float)
    invalid_entered = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        # every number whole (the predicted row is bold, so wider): the logits' column gives up
        # the room that is left over, the others take what their texts need
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(_LOGIT, QHeaderView.ResizeMode.Stretch)
        self.horizontalHeaderItem(_LOGIT).setToolTip("Double-click a logit to type another value")
        self._predicted = -1
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.itemChanged.connect(self._on_item_changed)

    def set_rows(self, rows: list[tuple[str, str, str, str]], true_class: int, predicted: int) -> None:
        """Show the texts of :meth:`cnnviz.state.functions.FunctionsState.softmax_rows`."""
        self._predicted = predicted
        with signals_blocked(self):
            self.setRowCount(len(rows))
            for r, texts in enumerate(rows):
                for c, text in enumerate(texts):
                    item = self.item(r, c)
                    if item is None:
                        item = QTableWidgetItem()
                        self.setItem(r, c, item)
                    item.setText(text)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                    if c == _LOGIT:
                        flags |= Qt.ItemFlag.ItemIsEditable
                    item.setFlags(flags)
                    item.setFont(self._cell_font(r))
                    item.setBackground(QBrush(QColor("#e6f4ea")) if r == true_class else QBrush())

    def _cell_font(self, row: int) -> QFont:
        font = QFont(self.font())
        font.setBold(row == self._predicted)
        return font

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt name)
        """A new window font (presentation mode) reaches the cells, which carry their own."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            with signals_blocked(self):
                for r in range(self.rowCount()):
                    for c in range(self.columnCount()):
                        if (item := self.item(r, c)) is not None:
                            item.setFont(self._cell_font(r))
            self.resizeRowsToContents()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != _LOGIT:
            return
        try:
            value = parse_cell_value(item.text())
        except ValueError as exc:
            self.invalid_entered.emit(f"Logit of class {item.row()}: {exc}")
            return
        self.logit_edited.emit(item.row(), value)
