"""Activation functions and softmax (book ch. 2): pick a function, drag x, read f(x) and f′(x);
edit the logits of a softmax and see e^z, their sum, the probabilities and the loss.

The pane is a view over a :class:`cnnviz.state.functions.FunctionsState` (plain Python): the
widgets write into it and redraw on its ``changed`` event.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import BuiltWhenShown, Pane, alert, choice_combo, fit_combos, panel
from cnnviz.gui.panes.functions.plots import FunctionPlots
from cnnviz.gui.panes.functions.softmax_table import SoftmaxTable
from cnnviz.gui.qtutil import signals_blocked
from cnnviz.state.functions import (
    ALPHA_RANGE,
    FUNCTIONS,
    X_RANGE,
    FunctionsState,
    book_softmax_html,
    first_loss_html,
)


def _rich(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


class FunctionsPane(BuiltWhenShown, Pane):
    """The activation functions of the book with their slopes, and softmax with cross-entropy.
    Its widgets are built when the pane is first shown (or one is asked for), from the state."""

    name = "functions"
    title = "Activation functions"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.state = FunctionsState()
        self._presentation = False
        self.state.changed.connect(self._sync)

    # -- UI ----------------------------------------------------------------------------------
    def _built(self) -> None:
        if self._presentation:
            self.set_presentation_mode(True)
        self._sync()

    def _build(self) -> None:
        splitter, side = self._build_controls_column()

        fbox = QGroupBox("Function")
        form = QFormLayout(fbox)
        self.function_combo = choice_combo(FUNCTIONS, self._on_function_chosen)
        form.addRow("Function", self.function_combo)
        self.alpha_spin = QDoubleSpinBox()
        self.alpha_spin.setRange(*ALPHA_RANGE)
        self.alpha_spin.setDecimals(2)
        self.alpha_spin.setSingleStep(0.05)
        self.alpha_spin.setToolTip("The slope of leaky ReLU below 0, or the depth −α ELU tends to")
        self.alpha_spin.valueChanged.connect(lambda v: self.state.update(alpha=v))
        self.alpha_label = QLabel("α")
        form.addRow(self.alpha_label, self.alpha_spin)
        self.x_spin = QDoubleSpinBox()
        self.x_spin.setRange(*X_RANGE)
        self.x_spin.setDecimals(2)
        self.x_spin.setSingleStep(0.1)
        self.x_spin.setToolTip("The input marked on the plots (or drag the green line)")
        self.x_spin.valueChanged.connect(lambda v: self.state.update(x=v))
        form.addRow("Input x", self.x_spin)
        self.value_label = QLabel()
        self.value_label.setWordWrap(True)
        form.addRow(self.value_label)
        self.info_label = QLabel()  # plain text: it says "x < 0"
        self.info_label.setWordWrap(True)
        self.info_label.setTextFormat(Qt.TextFormat.PlainText)
        form.addRow(self.info_label)
        side.addWidget(fbox)

        bbox = QGroupBox("The book's numbers")
        bl = QVBoxLayout(bbox)
        self.book_label = _rich(book_softmax_html())
        self.first_loss_label = _rich(first_loss_html(10))
        bl.addWidget(self.book_label)
        bl.addWidget(self.first_loss_label)
        side.addWidget(bbox)
        side.addStretch(1)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        inner = QSplitter(Qt.Orientation.Horizontal)
        self.plots = FunctionPlots()
        self.plots.x_dragged.connect(lambda x: self.state.update(x=x))
        inner.addWidget(self.plots)

        sbox = QGroupBox("Softmax: logits → probabilities → loss")
        sl = QVBoxLayout(sbox)
        self.table = SoftmaxTable()
        self.table.logit_edited.connect(self.state.set_logit)
        self.table.invalid_entered.connect(self._on_invalid)
        sl.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("True class"))
        self.class_spin = QSpinBox()
        self.class_spin.setToolTip("The label's class: the loss is −ln of its probability")
        self.class_spin.valueChanged.connect(lambda v: self.state.update(true_class=v))
        row.addWidget(self.class_spin)
        row.addStretch(1)
        self.book_button = QPushButton("Book's logits")
        self.book_button.setToolTip("The ten outputs of the book's example network (§2.3.5)")
        self.book_button.clicked.connect(self.state.reset_logits)
        self.equal_button = QPushButton("All equal (untrained)")
        self.equal_button.setToolTip("Ten equal logits: softmax gives 1/10 each and the loss is ln 10")
        self.equal_button.clicked.connect(self.state.equal_logits)
        row.addWidget(self.book_button)
        row.addWidget(self.equal_button)
        sl.addLayout(row)
        self.error_label = alert(QLabel())
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        sl.addWidget(self.error_label)
        self.summary_label = panel(_rich())
        sl.addWidget(self.summary_label)
        inner.addWidget(sbox)
        inner.setSizes([620, 420])
        rl.addWidget(inner, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 1000])
        fit_combos(self.controls_scroll.widget())

    # -- state → widgets ---------------------------------------------------------------------
    def _sync(self) -> None:
        if not self.is_built:
            return  # drawn from the state once built
        s = self.state
        with signals_blocked(self.function_combo, self.alpha_spin, self.x_spin, self.class_spin):
            self.function_combo.setCurrentIndex(self.function_combo.findData(s.function))
            self.alpha_spin.setValue(s.alpha)
            self.x_spin.setValue(s.x)
            self.class_spin.setRange(0, len(s.logits) - 1)
            self.class_spin.setValue(s.true_class)
        self.alpha_spin.setVisible(s.has_alpha)
        self.alpha_label.setVisible(s.has_alpha)
        xs, ys, slopes = s.curve()
        self.plots.set_data(xs, ys, slopes, s.x, s.value(), s.slope(), s.title())
        self.value_label.setText(s.marker_text())
        self.info_label.setText(s.info_text())
        probs = s.probabilities()
        self.table.set_rows(s.softmax_rows(), s.true_class, int(probs.argmax()))
        self.summary_label.setText(s.softmax_summary_html())
        self.error_label.setVisible(False)

    # -- handlers ------------------------------------------------------------------------------
    @Slot(int)
    def _on_function_chosen(self, _index: int) -> None:
        self.state.update(function=self.function_combo.currentData())

    @Slot(str)
    def _on_invalid(self, message: str) -> None:
        self._sync()  # the cell goes back to the logit it holds
        self.error_label.setText(message)
        self.error_label.setVisible(True)
        self.ctx.error_posted.emit(message)

    # -- pane hooks --------------------------------------------------------------------------
    def set_presentation_mode(self, on: bool) -> None:
        self._presentation = on
        if not self.is_built:
            return
        self._set_controls_width(on)
        self.plots.set_presentation_mode(on)
