"""The left column of the activations pane: the model chooser, its description, the layer table
and the input choices."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.layer_arith import explain, rf_cell
from cnnviz.gui.panes.base import choice_combo, fit_combos
from cnnviz.gui.qtutil import signals_blocked
from cnnviz.ml.inspect import ModelInfo
from cnnviz.state.activations import (
    SCALING_TEXT,
    SOURCES,
    ActivationsState,
    can_draw,
    column_error,
    layer_cells,
    model_notes,
    model_summary,
)

OPEN_FILE = "__open__"
#: Pixels the layer table's type column may take ("GlobalAveragePooling2D" is cut in the middle).
TYPE_COLUMN_MAX = 100


def esc(text: object) -> str:
    return html.escape(str(text))


class ModelColumn(QWidget):
    """Model, layers, input. Asks the window for the Open dialog through ``open_requested``."""

    open_requested = Signal()

    def __init__(self, state: ActivationsState, demos: list[Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setMinimumWidth(290)
        lv = QVBoxLayout(self)
        lv.setContentsMargins(0, 0, 4, 0)
        mbox = QGroupBox("Model")
        ml = QVBoxLayout(mbox)
        row = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(12)
        self.model_combo.setToolTip("The demo models shipped with cnnviz and the models opened so far")
        for p in demos:
            self.model_combo.addItem(f"{p.stem} (demo)", str(p))
        self.model_combo.addItem("Open a model file…", OPEN_FILE)
        self.model_combo.setCurrentIndex(-1)
        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        row.addWidget(self.model_combo, 1)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a .keras or .h5 model (Ctrl+M); you can also drop one on the window")
        self.open_button.clicked.connect(self.open_requested)
        row.addWidget(self.open_button)
        ml.addLayout(row)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setTextFormat(Qt.TextFormat.RichText)
        ml.addWidget(self.model_label)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.RichText)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        ml.addWidget(self.message_label)
        lv.addWidget(mbox)

        self.layer_table = QTableWidget(0, 5)
        # short headers: the numeric columns are as wide as their numbers, the names keep the rest
        self.layer_table.setHorizontalHeaderLabels(["Layer", "Type", "Output", "Params", "RF"])
        self.layer_table.horizontalHeaderItem(2).setToolTip("Output shape: height × width × channels")
        self.layer_table.horizontalHeaderItem(4).setToolTip(
            "Receptive field: how many input pixels one output value sees")
        self.layer_table.verticalHeader().setVisible(False)
        self.layer_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.layer_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.layer_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.layer_table.setWordWrap(False)
        # Long nested names give way (cut in the middle, whole in the tooltip); the type, shape
        # and parameter columns are as wide as their longest entry, so no number is clipped.
        self.layer_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.layer_table.horizontalHeader()
        header.setMinimumSectionSize(40)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)  # sized when filled
        for c in (2, 3, 4):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.layer_table.setToolTip("Click a layer to see its outputs")
        self.layer_table.currentCellChanged.connect(self._on_layer_row_changed)
        lv.addWidget(self.layer_table, 1)
        # The selected layer's arithmetic: receptive field, output size and parameters with the
        # book's formulas filled in with this layer's numbers.
        self.arith_label = QLabel()
        self.arith_label.setWordWrap(True)
        self.arith_label.setTextFormat(Qt.TextFormat.RichText)
        self.arith_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lv.addWidget(self.arith_label)

        ibox = QGroupBox("Input")
        form = QFormLayout(ibox)
        self.source_combo = choice_combo(SOURCES)
        form.addRow("Feed", self.source_combo)
        self.scaling_combo = choice_combo(SCALING_TEXT, self._on_scaling_changed,
                                          "How pixels become the numbers the model was trained on")
        form.addRow("Scaling", self.scaling_combo)
        self.input_label = QLabel()
        self.input_label.setWordWrap(True)
        form.addRow(self.input_label)
        lv.addWidget(ibox)
        fit_combos(self)  # long entries give way to the labels ("Scaling" was cut on a projector)

        state.scaling_changed.connect(self._show_scaling)
        state.source_changed.connect(self._show_source)
        state.error_cleared.connect(self.show_model_text)

    # ------------------------------------------------------------------ from the state
    def reset_for_model(self, info: ModelInfo) -> None:
        self.show_model(info)

    def show_model(self, info: ModelInfo) -> None:
        """Fill everything about a newly opened model (no change signal fires)."""
        with signals_blocked(self.model_combo, self.layer_table):
            idx = self.model_combo.findData(info.path)
            if idx < 0:
                idx = self.model_combo.count() - 1  # before "Open a model file…"
                self.model_combo.insertItem(idx, info.name, info.path)
            self.model_combo.setCurrentIndex(idx)
            self._fill_layer_table(info)
        self.source_combo.model().item(1).setEnabled(can_draw(info.spec))
        self.show_model_text()

    def show_model_text(self) -> None:
        info = self.state.info
        if info is None:
            return
        bits = model_summary(info)
        text = " · ".join([f"<b>{esc(bits[0])}</b>"] + [esc(b) for b in bits[1:]])
        if info.trusted:
            text += " · <span style='color:#d93025'>trusted: its code ran</span>"
        self.model_label.setText(text)
        self.message_label.setText("<br>".join(esc(n) for n in model_notes(info)))

    def show_error(self, text: str) -> None:
        self.message_label.setText(f"<span style='color:#d93025'><b>{esc(column_error(text))}</b></span>")

    def _show_scaling(self, key: str) -> None:
        with signals_blocked(self.scaling_combo):
            self.scaling_combo.setCurrentIndex(self.scaling_combo.findData(key))

    def _show_source(self, key: str) -> None:
        with signals_blocked(self.source_combo):
            self.source_combo.setCurrentIndex(self.source_combo.findData(key))

    def _fill_layer_table(self, info: ModelInfo) -> None:
        t = self.layer_table
        t.setRowCount(0)
        t.setRowCount(len(info.layers))
        for i, r in enumerate(info.layers):
            cells, tip = layer_cells(r)
            cells = [*cells, rf_cell(r.arith)]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, r.name)
                item.setToolTip(tip if c == 0 or not text else f"{text}\n\n{tip}")
                if c in (3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                t.setItem(i, c, item)
        # the type column as wide as its entries, but never so wide that the names vanish
        t.resizeColumnToContents(1)
        t.setColumnWidth(1, min(t.columnWidth(1), TYPE_COLUMN_MAX))
        t.clearSelection()
        self._show_arith(None)

    def _show_arith(self, name: str | None) -> None:
        info = self.state.info
        row = next((r for r in info.layers if r.name == name), None) if info and name else None
        # the receptive field has its own column; two lines keep the table tall on a projector
        lines = explain(row.arith, rf_line=False) if row is not None else []
        if lines:
            text = "<br>".join(esc(line) for line in lines)
        elif row is not None:
            why = (f"{row.type}: no kernel, so no size arithmetic" if info.buildable else
                   "The size arithmetic needs a model that could be built")
            text = f"<span style='color:#5f6368'>{esc(why)}</span>"
        else:
            text = "<span style='color:#5f6368'>Select a layer to see its size arithmetic</span>"
        self.arith_label.setText(text)

    def select_layer(self, name: str) -> None:
        """Show ``name``'s outputs (selects its row in the table)."""
        for row in range(self.layer_table.rowCount()):
            item = self.layer_table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == name:
                if self.layer_table.currentRow() != row:
                    self.layer_table.setCurrentCell(row, 0)
                else:
                    self.state.set_layer(name)
                return

    # ------------------------------------------------------------------ input
    @Slot(int, int, int, int)
    def _on_layer_row_changed(self, row: int, col: int, prev_row: int, prev_col: int) -> None:
        if row < 0:
            return
        item = self.layer_table.item(row, 0)
        if item is not None:
            self._show_arith(item.data(Qt.ItemDataRole.UserRole))
            self.state.set_layer(item.data(Qt.ItemDataRole.UserRole))

    @Slot(int)
    def _on_scaling_changed(self, index: int) -> None:
        self.state.set_scaling(self.scaling_combo.itemData(index))

    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        if index < 0:
            return
        data = self.model_combo.itemData(index)
        info = self.state.info
        if data == OPEN_FILE:
            with signals_blocked(self.model_combo):
                self.model_combo.setCurrentIndex(self.model_combo.findData(info.path) if info else -1)
            self.open_requested.emit()
        elif info is None or data != info.path:
            self.state.open_model(data)

