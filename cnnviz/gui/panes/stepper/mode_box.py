"""The stepper's settings that only some modes have: one bias per filter (several filters at
once), UpSampling2D's interpolation, Dropout's rate, seed and training switch, and the upstream
gradient a pooling layer's backward pass routes. Each row shows only in its mode
(:meth:`StepperState.mode_options`)."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from cnnviz.gui.panes.base import choice_combo
from cnnviz.gui.panes.stepper.controls import select_combo, spin
from cnnviz.gui.qtutil import debounce_timer, signals_blocked
from cnnviz.state.stepper import LIMITS, StepperState
from cnnviz.state.stepper.choices import INTERPOLATION_NAMES
from cnnviz.state.stepper.matrices import fmt
from cnnviz.state.stepper.walks import biases

TEXT_SETTLE_MS = 350


class ModeBox(QGroupBox):
    """The mode's own settings; hidden when the mode has none."""

    def __init__(self, state: StepperState, parent: QWidget | None = None) -> None:
        super().__init__("Mode settings", parent)
        self.state = state
        form = QFormLayout(self)
        self._form = form
        self.biases_edit = QLineEdit()
        self.biases_edit.setPlaceholderText("one per filter, e.g. -1, -4")
        self.biases_edit.setToolTip("One bias per filter, split by commas or spaces")
        self.biases_edit.editingFinished.connect(lambda: self.state.set_biases(self.biases_edit.text()))
        form.addRow("Biases", self.biases_edit)
        self.interpolation_combo = choice_combo(
            INTERPOLATION_NAMES, lambda _i: self.state.update(interpolation=self.interpolation_combo.currentData())
        )
        self.interpolation_combo.setToolTip(
            "Keras's UpSampling2D: nearest repeats each pixel; bilinear mixes the two nearest "
            "pixels per axis, with pixel centres at (i + 0.5)/factor − 0.5 (tf.image.resize)."
        )
        form.addRow("Interpolation", self.interpolation_combo)
        self.rate_spin = QDoubleSpinBox()
        self.rate_spin.setRange(0.0, LIMITS.rate)
        self.rate_spin.setSingleStep(0.1)
        self.rate_spin.setDecimals(2)
        self.rate_spin.setKeyboardTracking(False)
        self.rate_spin.setToolTip("The probability that a value is dropped (set to 0)")
        self.rate_spin.valueChanged.connect(lambda v: self.state.update(rate=v))
        form.addRow("Rate", self.rate_spin)
        self.seed_spin = spin(0, LIMITS.seed, 0, "Seed of the mask: the same seed gives the same mask")
        self.seed_spin.valueChanged.connect(lambda v: self.state.update(seed=v))
        form.addRow("Seed", self.seed_spin)
        self.training_check = QCheckBox("Training (unticked: inference, the identity)")
        self.training_check.toggled.connect(lambda on: self.state.update(training=on))
        form.addRow(self.training_check)
        self.upstream_edit = QPlainTextEdit()
        self.upstream_edit.setMaximumHeight(90)
        self.upstream_edit.setPlaceholderText("∂L/∂y, the pooled output's shape; empty: 1, 2, 3, …")
        self.upstream_edit.setToolTip("The gradient arriving at the pooled output; rows end with ';' or a new line.")
        self._timer = debounce_timer(self, TEXT_SETTLE_MS, self._on_upstream_settled)
        self.upstream_edit.textChanged.connect(self._timer.start)
        form.addRow("Upstream ∂L/∂y", self.upstream_edit)
        self._rows = {
            "biases": [self.biases_edit],
            "interpolation": [self.interpolation_combo],
            "dropout": [self.rate_spin, self.seed_spin, self.training_check],
            "upstream": [self.upstream_edit],
        }
        self.sync()

    @Slot()
    def _on_upstream_settled(self) -> None:
        self.state.type_upstream(self.upstream_edit.toPlainText())

    def set_upstream_text(self, text: str) -> None:
        """Type an upstream gradient and read it at once."""
        self.upstream_edit.setPlainText(text)
        self._timer.stop()
        self._on_upstream_settled()

    def is_busy(self) -> bool:
        return self._timer.isActive()

    def sync(self) -> None:
        st = self.state
        s = st.settings
        shown = st.mode_options()
        for key, widgets in self._rows.items():
            for w in widgets:
                w.setVisible(shown[key])
                label = self._form.labelForField(w)
                if label is not None:
                    label.setVisible(shown[key])
        self.setVisible(any(shown.values()))
        with signals_blocked(self.rate_spin, self.seed_spin, self.training_check):
            self.rate_spin.setValue(s.rate)
            self.seed_spin.setValue(s.seed)
            self.training_check.setChecked(s.training)
        select_combo(self.interpolation_combo, s.interpolation)
        if shown["biases"] and not self.biases_edit.hasFocus():
            self.biases_edit.setText(", ".join(fmt(b).replace("−", "-") for b in biases(s)))
