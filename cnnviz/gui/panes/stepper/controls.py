"""The stepper's controls column: the Input, Kernel and Layer groups.

Each group writes the user's choices into the :class:`~cnnviz.state.stepper.StepperState` and
shows the state's settings again in :meth:`sync` (with the widgets' signals blocked). The typed
matrix and kernel editors are debounced by the pane, which owns the one timer both share.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from cnnviz.gui.panes.base import choice_combo
from cnnviz.gui.qtutil import signals_blocked
from cnnviz.gui.widgets.size_calculator import SizeCalculatorDialog
from cnnviz.state.size_calc import LayerSettings
from cnnviz.state.stepper import (
    CROP_SOURCES,
    KERNEL_PRESETS,
    KERNEL_SOURCES,
    LIMITS,
    MODES,
    PAD_MODE_NAMES,
    PADDINGS,
    SOURCES,
    STEP_ACTIVATIONS,
    StepperState,
)


def spin(lo: int, hi: int, value: int, tip: str = "") -> QSpinBox:
    sb = QSpinBox()
    sb.setRange(lo, hi)
    sb.setValue(value)
    sb.setKeyboardTracking(False)
    if tip:
        sb.setToolTip(tip)
    return sb


def pair(a: QWidget, b: QWidget, sep: str = "×") -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(a)
    lay.addWidget(QLabel(sep))
    lay.addWidget(b)
    return w


def select_combo(combo: QComboBox, key: str) -> None:
    with signals_blocked(combo):
        combo.setCurrentIndex(combo.findData(key))


class InputBox(QGroupBox):
    """Where the input comes from: the book's examples, a typed matrix or a crop of the image."""

    def __init__(self, state: StepperState, parent: QWidget | None = None) -> None:
        super().__init__("Input", parent)
        self.state = state
        form = QFormLayout(self)
        self.source_combo = choice_combo(SOURCES, self._on_source_changed)
        form.addRow("Source", self.source_combo)
        self.matrix_edit = QPlainTextEdit()
        self.matrix_edit.setPlaceholderText("1 2 3; 4 5 6  (or one row per line)")
        self.matrix_edit.setToolTip(
            "Rows end with ';' or a new line; numbers are split by spaces or commas. 1/9 works.\n"
            "Several channels: one matrix per channel separated by '|', e.g. 1 2; 3 4 | 5 6; 7 8."
        )
        self.matrix_edit.setMaximumHeight(110)
        form.addRow(self.matrix_edit)
        d = LIMITS.default_crop
        self.crop_top = spin(0, LIMITS.crop_origin, 0, "Row of the crop's top-left pixel")
        self.crop_left = spin(0, LIMITS.crop_origin, 0, "Column of the crop's top-left pixel")
        self.crop_h = spin(1, LIMITS.crop, d, "Crop height in pixels")
        self.crop_w = spin(1, LIMITS.crop, d, "Crop width in pixels")
        self.crop_spins = (self.crop_top, self.crop_left, self.crop_h, self.crop_w)
        self._crop_rows = [pair(self.crop_top, self.crop_left, ","), pair(self.crop_h, self.crop_w)]
        form.addRow("Top, left", self._crop_rows[0])
        form.addRow("Size", self._crop_rows[1])
        for sb in self.crop_spins:
            sb.valueChanged.connect(self._on_crop_changed)
        self._form = form
        self.sync()

    @Slot(int)
    def _on_source_changed(self, _index: int = 0) -> None:
        self.state.set_source(self.source_combo.currentData())

    @Slot()
    def _on_crop_changed(self) -> None:
        self.state.set_crop(*(sb.value() for sb in self.crop_spins))

    def sync(self) -> None:
        """Show the state's source and crop; only a crop source shows the crop rows."""
        st = self.state
        select_combo(self.source_combo, st.source)
        crop = st.source in CROP_SOURCES
        with signals_blocked(*self.crop_spins):
            for sb, hi, v in zip(self.crop_spins, st.crop_limits(), st.crop):
                if crop:  # the picture bounds the crop only once it is cut from it
                    sb.setMaximum(hi)
                sb.setValue(v)
        for w in self._crop_rows:
            w.setVisible(crop)
            self._form.labelForField(w).setVisible(crop)
        self.matrix_edit.setVisible(not crop)


class KernelBox(QGroupBox):
    """The kernel: typed, a preset or the Kernels tab's; its (or the pooling window's) size; flip."""

    def __init__(self, state: StepperState, playground: Callable[[], np.ndarray], parent: QWidget | None = None) -> None:
        super().__init__("Kernel", parent)
        self.state = state
        self._playground = playground
        form = QFormLayout(self)
        self.kernel_source_combo = choice_combo(KERNEL_SOURCES, self._on_kernel_source_changed)
        form.addRow("Source", self.kernel_source_combo)
        self.kernel_preset_combo = choice_combo({"": "Preset…", **KERNEL_PRESETS})
        self.kernel_preset_combo.activated.connect(self._on_preset_chosen)
        form.addRow("Preset", self.kernel_preset_combo)
        self.kernel_edit = QPlainTextEdit()
        self.kernel_edit.setMaximumHeight(100)
        self.kernel_edit.setToolTip(
            "One matrix for every channel, or one per channel separated by '|'.\n"
            "Several filters: separate them by '||' (each one slice per channel)."
        )
        form.addRow(self.kernel_edit)
        self.ksize_h = spin(1, LIMITS.kernel, 2, "Kernel (or pooling window) rows")
        self.ksize_w = spin(1, LIMITS.kernel, 2, "Kernel (or pooling window) columns")
        self.ksize_h.valueChanged.connect(self._on_size_changed)
        self.ksize_w.valueChanged.connect(self._on_size_changed)
        self.ksize_label = QLabel("Size")
        form.addRow(self.ksize_label, pair(self.ksize_h, self.ksize_w))
        self.flip_check = QCheckBox("Flip (mathematical convolution)")
        self.flip_check.setToolTip(
            "Keras and the book slide the kernel as it is (cross-correlation); tick to flip it first."
        )
        self.flip_check.toggled.connect(lambda on: self.state.update(flip=on))
        form.addRow(self.flip_check)

    @Slot(int)
    def _on_kernel_source_changed(self, _i: int = 0) -> None:
        key = self.kernel_source_combo.currentData()
        self.state.set_kernel_source(key, self._playground() if key == "playground" else None)

    @Slot(int)
    def _on_preset_chosen(self, index: int) -> None:
        key = self.kernel_preset_combo.itemData(index)
        if not key:
            return
        self.state.choose_preset(key)
        with signals_blocked(self.kernel_preset_combo):
            self.kernel_preset_combo.setCurrentIndex(0)

    @Slot()
    def _on_size_changed(self) -> None:
        self.state.set_window_size(self.ksize_h.value(), self.ksize_w.value())

    def sync(self) -> None:
        st = self.state
        select_combo(self.kernel_source_combo, st.kernel_source)
        rows, cols = st.window_size()
        with signals_blocked(self.ksize_h, self.ksize_w, self.flip_check):
            self.ksize_h.setValue(rows)
            self.ksize_w.setValue(cols)
            self.flip_check.setChecked(st.settings.flip)
        self.ksize_label.setText(st.window_size_label())
        uses = st.uses()
        for w in (self.kernel_source_combo, self.kernel_preset_combo, self.kernel_edit):
            w.setEnabled(uses["kernel"])
        self.flip_check.setEnabled(uses["flip"])
        for w in (self.ksize_h, self.ksize_w):
            w.setEnabled(uses["window"])


class LayerBox(QGroupBox):
    """The layer: mode, stride, padding, dilation, bias and activation."""

    def __init__(self, state: StepperState, parent: QWidget | None = None) -> None:
        super().__init__("Layer", parent)
        self.state = state
        form = QFormLayout(self)
        self.mode_combo = choice_combo(MODES, self._on_mode_changed)
        form.addRow("Mode", self.mode_combo)
        self.stride_h = spin(1, LIMITS.stride, 1, "How many rows the window moves each step")
        self.stride_w = spin(1, LIMITS.stride, 1, "How many columns the window moves each step")
        self.stride_h.valueChanged.connect(self._on_stride_changed)
        self.stride_w.valueChanged.connect(self._on_stride_changed)
        form.addRow("Stride", pair(self.stride_h, self.stride_w))
        self.padding_combo = choice_combo(PADDINGS, self._on_padding_changed)
        form.addRow("Padding", self.padding_combo)
        self.pad_spins = [spin(0, LIMITS.pad, 1, tip) for tip in ("Top", "Bottom", "Left", "Right")]
        for sb in self.pad_spins:
            sb.valueChanged.connect(self._on_padding_changed)
        pads = QWidget()
        pl = QHBoxLayout(pads)
        pl.setContentsMargins(0, 0, 0, 0)
        for name, sb in zip(("T", "B", "L", "R"), self.pad_spins):
            pl.addWidget(QLabel(name))
            pl.addWidget(sb)
        self.pads_row = pads
        form.addRow("Pixels", pads)
        self.pad_mode_combo = choice_combo(PAD_MODE_NAMES, self._on_pad_mode_changed)
        form.addRow("Pad with", self.pad_mode_combo)
        self.dil_h = spin(1, LIMITS.dilation, 1, "Gap between kernel taps (rows); 1 = no gap")
        self.dil_w = spin(1, LIMITS.dilation, 1, "Gap between kernel taps (columns); 1 = no gap")
        self.dil_h.valueChanged.connect(self._on_dilation_changed)
        self.dil_w.valueChanged.connect(self._on_dilation_changed)
        form.addRow("Dilation", pair(self.dil_h, self.dil_w))
        self.bias_spin = QDoubleSpinBox()
        self.bias_spin.setRange(-LIMITS.bias, LIMITS.bias)
        self.bias_spin.setDecimals(3)
        self.bias_spin.setKeyboardTracking(False)
        self.bias_spin.valueChanged.connect(lambda v: self.state.update(bias=v))
        form.addRow("Bias", self.bias_spin)
        self.activation_combo = choice_combo(
            {name: "none" if name == "linear" else name for name in STEP_ACTIVATIONS},
            lambda _i: self.state.update(activation=self.activation_combo.currentData()),
        )
        form.addRow("Activation", self.activation_combo)
        self.calculator_button = QPushButton("Output-size calculator…")
        self.calculator_button.setToolTip(
            "Work out output sizes and receptive fields for any input, kernel, stride, padding and "
            "dilation, and for a stack of layers (starts with this layer's settings)")
        self.calculator_button.clicked.connect(self.open_calculator)
        form.addRow(self.calculator_button)
        self.calculator: SizeCalculatorDialog | None = None

    @Slot()
    def open_calculator(self) -> SizeCalculatorDialog:
        """The calculator, started from the height of the stepper's input and this layer's settings."""
        st = self.state
        s = st.settings
        if s.padding == "explicit":
            (top, bottom), _ = s.pads
            padding = str(top) if top == bottom else "valid"
        else:
            padding = s.padding
        layer = LayerSettings(kernel=str(st.window_size()[0]), stride=str(s.stride[0]),
                              padding=padding, dilation=str(s.dilation[0]))
        if self.calculator is not None:
            self.calculator.close()
            self.calculator.deleteLater()
        self.calculator = SizeCalculatorDialog(int(st.image.shape[0]), layer, self.window())
        self.calculator.show()
        self.calculator.raise_()
        return self.calculator

    @Slot(int)
    def _on_mode_changed(self, _i: int = 0) -> None:
        self.state.set_mode(self.mode_combo.currentData())

    @Slot()
    def _on_stride_changed(self) -> None:
        self.state.update(stride=(self.stride_h.value(), self.stride_w.value()))

    @Slot()
    def _on_padding_changed(self, *_args) -> None:
        kind = self.padding_combo.currentData()
        t, b, l, r = (sb.value() for sb in self.pad_spins)
        self.pads_row.setEnabled(kind == "explicit")
        self.state.update(padding=kind, pads=((t, b), (l, r)))

    @Slot(int)
    def _on_pad_mode_changed(self, _i: int = 0) -> None:
        self.state.update(pad_mode=self.pad_mode_combo.currentData())

    @Slot()
    def _on_dilation_changed(self) -> None:
        self.state.update(dilation=(self.dil_h.value(), self.dil_w.value()))

    def sync(self) -> None:
        """Show the state's settings and enable what the mode uses."""
        st = self.state
        s = st.settings
        (t, b), (l, r) = s.pads
        spins = [self.stride_h, self.stride_w, self.dil_h, self.dil_w, *self.pad_spins, self.bias_spin]
        with signals_blocked(*spins):
            for sb, v in zip(spins, (*s.stride, *s.dilation, t, b, l, r, s.bias)):
                sb.setValue(v)
        select_combo(self.mode_combo, s.mode)
        select_combo(self.padding_combo, s.padding)
        select_combo(self.pad_mode_combo, s.pad_mode)
        select_combo(self.activation_combo, s.activation)
        uses = st.uses()
        self.padding_combo.model().item(self.padding_combo.findData("explicit")).setEnabled(uses["explicit_padding"])
        self.pads_row.setEnabled(uses["pads"])
        self.pad_mode_combo.setEnabled(uses["pad_mode"])
        for w in (self.dil_h, self.dil_w):
            w.setEnabled(uses["dilation"])
        self.bias_spin.setEnabled(uses["bias"])
        self.activation_combo.setEnabled(uses["activation"])
        for w in (self.stride_h, self.stride_w):
            w.setEnabled(uses["stride"])
        self.padding_combo.setEnabled(uses["padding"])
