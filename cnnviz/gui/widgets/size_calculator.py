"""The output-size calculator: type an input size and a stack of conv or pooling layers, read
each output size with the formula filled in, the receptive field, or why a setting cannot work.
The rules and words are in :mod:`cnnviz.state.size_calc`."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.state.size_calc import FIELDS, MAX_LAYERS, LayerSettings, SizeCalcState

ERROR_STYLE = "color:#d93025"
TIPS = {
    "kernel": "Kernel (or pooling window) size f, in pixels",
    "stride": "Stride s: how many pixels the window moves each step",
    "padding": "valid (no padding), same (TensorFlow pads so the output is ⌈n/s⌉) or p pixels of "
               "zeros on each side",
    "dilation": "Dilation d: gaps between the kernel's cells (1 = none); the kernel spans d·(f − 1) + 1",
}
HEADERS = ["Layer", "Kernel", "Stride", "Padding", "Dilation", "Output size", "RF", ""]
FORMULA_COLUMN, RF_COLUMN = 5, 6


class SizeCalculator(QWidget):
    """The calculator itself (the dialog holds one)."""

    def __init__(self, state: SizeCalcState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state or SizeCalcState()
        layout = QVBoxLayout(self)
        intro = QLabel("Output size of a convolution or pooling layer, as in the book: "
                       "⌊(n + 2p − f)/s⌋ + 1, or ⌈n/s⌉ for 'same' padding. "
                       "RF: how many input pixels one output sees.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        row = QHBoxLayout()
        row.addWidget(QLabel("Input size n"))
        self.input_edit = QLineEdit(self.state.input_text)
        self.input_edit.setToolTip("Height (or width) of the input in pixels, e.g. 28 for MNIST")
        self.input_edit.setMaximumWidth(80)
        self.input_edit.textEdited.connect(self.state.set_input)
        row.addWidget(self.input_edit)
        self.input_error = QLabel()
        self.input_error.setStyleSheet(ERROR_STYLE)
        self.input_error.setWordWrap(True)
        row.addWidget(self.input_error, 1)
        layout.addLayout(row)

        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        for c, text in enumerate(HEADERS):
            label = QLabel(f"<b>{text}</b>")
            if text == "RF":
                label.setToolTip("Receptive field: how many input pixels (per side) one output sees")
            self.grid.addWidget(label, 0, c)
        self.grid.setColumnStretch(FORMULA_COLUMN, 1)
        layout.addWidget(self.grid_host)
        self.rows: list[dict] = []

        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add layer")
        self.add_button.setToolTip("Stack another layer on the last one (it starts with the same settings)")
        self.add_button.clicked.connect(self.state.add_layer)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)
        layout.addStretch(1)
        self.state.changed.connect(self.refresh)
        self.refresh()

    # ------------------------------------------------------------------ rows
    def _make_row(self, index: int) -> dict:
        r = index + 1
        chars = self.fontMetrics().averageCharWidth()  # sizes follow the font (presentation mode)
        row: dict = {"label": QLabel(str(r))}
        self.grid.addWidget(row["label"], r, 0)
        for c, field in enumerate(FIELDS, start=1):
            edit = QLineEdit()
            edit.setToolTip(TIPS[field])
            edit.setMaximumWidth(chars * (10 if field == "padding" else 6) + 12)
            edit.textEdited.connect(lambda text, i=index, f=field: self.state.set_field(i, f, text))
            self.grid.addWidget(edit, r, c)
            row[field] = edit
        row["formula"] = QLabel()
        row["formula"].setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row["formula"].setMinimumWidth(chars * 34)
        self.grid.addWidget(row["formula"], r, FORMULA_COLUMN)
        row["rf"] = QLabel()
        row["rf"].setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.grid.addWidget(row["rf"], r, RF_COLUMN)
        row["remove"] = QPushButton("Remove")
        row["remove"].setToolTip("Take this layer out of the stack")
        row["remove"].clicked.connect(lambda _=False, i=index: self.state.remove_layer(i))
        self.grid.addWidget(row["remove"], r, RF_COLUMN + 1)
        return row

    def _drop_row(self, row: dict) -> None:
        for w in row.values():
            self.grid.removeWidget(w)
            w.deleteLater()

    def refresh(self) -> None:
        """Show the state: one row per layer, each with its outcome."""
        st = self.state
        rows_before = len(self.rows)
        while len(self.rows) > len(st.layers):
            self._drop_row(self.rows.pop())
        while len(self.rows) < len(st.layers):
            self.rows.append(self._make_row(len(self.rows)))
        if self.input_edit.text() != st.input_text:
            self.input_edit.setText(st.input_text)
        outcome = st.outcome()
        self.input_error.setText(outcome.input_error or "")
        for i, (row, layer) in enumerate(zip(self.rows, st.layers)):
            for field in FIELDS:
                edit: QLineEdit = row[field]
                if edit.text() != getattr(layer, field):  # never move the cursor of the one typed in
                    edit.setText(getattr(layer, field))
            o = outcome.layers[i] if i < len(outcome.layers) else None
            row["formula"].setWordWrap(bool(o and o.error))  # a formula is one line, a message wraps
            if o is None:
                row["formula"].setText("")
                row["rf"].setText("")
            elif o.error:
                row["formula"].setText(f"<span style='{ERROR_STYLE}'>{html.escape(o.error)}</span>")
                row["rf"].setText("")
            else:
                row["formula"].setText(html.escape(o.formula))
                row["rf"].setText(f"{o.rf}×{o.rf}")
            row["remove"].setEnabled(len(st.layers) > 1)
        self.add_button.setEnabled(st.can_add())
        self.add_button.setText("Add layer" if st.can_add() else f"Add layer (at most {MAX_LAYERS})")
        summary = outcome.summary(st.input_text)
        self.summary_label.setText(summary if outcome.input_error is None else "")
        if len(self.rows) != rows_before or not outcome.ok:  # new rows, or messages that wrap
            self._fit_window()

    def _fit_window(self) -> None:
        """A window holding only the calculator grows with its rows (nothing is squeezed),
        once the layouts have taken the new rows in."""
        QTimer.singleShot(0, self, self._grow_window)

    def _grow_window(self) -> None:
        win = self.window()
        if win is self:
            return
        hint = win.sizeHint()
        if win.height() < hint.height() or win.width() < hint.width():
            win.resize(max(win.width(), hint.width()), max(win.height(), hint.height()))

    # ------------------------------------------------------------------ for tests and callers
    def formula_text(self, index: int) -> str:
        return self.rows[index]["formula"].text()

    def rf_text(self, index: int) -> str:
        return self.rows[index]["rf"].text()


class SizeCalculatorDialog(QDialog):
    """A non-modal window with the calculator, opened from the stepper."""

    def __init__(self, input_size: int | str = 28, layer: LayerSettings | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Output-size calculator")
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)  # grows with its rows
        self.calculator = SizeCalculator(SizeCalcState(str(input_size), [layer or LayerSettings()]))
        layout.addWidget(self.calculator)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        hint = self.sizeHint()
        self.resize(max(hint.width(), 760), hint.height())
