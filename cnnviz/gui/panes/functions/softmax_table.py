"""The softmax panel's table: logits to edit, and e^z and the probabilities they give."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from cnnviz.gui.qtutil import signals_blocked
from cnnviz.state.kernels import parse_cell_value

COLUMNS = ("class", "logit z (edit)", "e^z", "p = e^z / Σ")
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
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.itemChanged.connect(self._on_item_changed)

    def set_rows(self, rows: list[tuple[str, str, str, str]], true_class: int, predicted: int) -> None:
        """Show the texts of :meth:`cnnviz.state.functions.FunctionsState.softmax_rows`."""
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
                    font = QFont(self.font())
                    font.setBold(r == predicted)
                    item.setFont(font)
                    item.setBackground(QBrush(QColor("#e6f4ea")) if r == true_class else QBrush())

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != _LOGIT:
            return
        try:
            value = parse_cell_value(item.text())
        except ValueError as exc:
            self.invalid_entered.emit(f"Logit of class {item.row()}: {exc}")
            return
        self.logit_edited.emit(item.row(), value)
