"""The convolution stepper: how a convolutional layer computes its output, one window at a time.

The truth is one :class:`cnnviz.gui.stepper_state.StepperState` (plain Python): input, kernel,
layer settings and the current step, with every number coming from
:mod:`cnnviz.core.convolution`. This pane only writes the user's choices into it and draws what
it says: the padded input with the window, the kernel, the output filling in, the arithmetic of
the step and the output-size formula with the numbers substituted.

Keys (whenever the pane is the current tab, except while typing in a text or spin box):
←/→ step, Space play/pause, Home/End.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QFont, QImage, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressDialog,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core import images
from cnnviz.core.kernels import PRESETS
from cnnviz.gui.context import AppContext
from cnnviz.gui.export_anim import MAX_FRAMES, ExportCancelled, export_gif, plan_frames
from cnnviz.gui.panes.base import Pane, choice_combo, fit_combos
from cnnviz.gui.stepper_state import (
    BOOK_IMAGE,
    BOOK_KERNEL,
    MODES,
    PADDINGS,
    STEP_ACTIVATIONS,
    MatrixError,
    StepperState,
    fmt,
    format_matrix,
    parse_kernel,
    parse_matrix,
)
from cnnviz.gui.widgets.grid_view import Highlight, NumberGridView
from cnnviz.gui.widgets.kernel_editor import resize_kernel

#: The book's chapter-1 image with two diagonal lines and the diagonal pattern it looks for.
DIAGONAL_IMAGE = np.array(
    [[0, 0, 0, 0, 0, 0, 0], [0, 0, 255, 0, 255, 0, 0], [0, 255, 0, 0, 0, 255, 0], [255, 0, 0, 0, 0, 0, 255]],
    dtype=np.float64,
)
DIAGONAL_KERNEL = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float64)

SOURCES = {
    "book": "Book 4×4 example (ch. 1)",
    "diagonal": "Book diagonal lines 4×7 (ch. 1)",
    "typed": "Typed matrix",
    "crop_gray": "Image crop — gray",
    "crop_rgb": "Image crop — RGB channels",
}
KERNEL_SOURCES = {"typed": "Typed (below)", "playground": "From the Kernels tab"}
PAD_MODE_NAMES = {"zero": "zeros", "replicate": "replicate edge", "reflect": "reflect (mirror)"}
MAX_CROP = 256
WINDOW_COLOR = QColor("#ff7f00")
OUTPUT_COLOR = QColor("#009e49")
HOVER_COLOR = QColor("#8e2dc5")
WINNER_COLOR = QColor("#d40000")
CHANNEL_HTML = {"R": "#d62728", "G": "#2ca02c", "B": "#1f5fd6"}
SCHEMES = {1: ["gray"], 3: ["red", "green", "blue"]}
PRESENTATION_SCALE = 1.6


class StepperPane(Pane):
    """Step a convolution, pooling or transposed convolution over a small matrix or image crop."""

    name = "stepper"
    title = "Convolution stepper"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.state = StepperState()
        self._source = "book"
        self._kernel_source = "typed"
        self._presentation = False
        self._hover_input: tuple[int, int, int] | None = None  # (channel, r, c)
        self._focus_output: tuple[int, int] | None = None  # clicked output cell (transposed)
        self._exporting = False
        self.last_export_message = ""

        self._play_timer = QTimer(self)
        self._play_timer.timeout.connect(self._on_play_tick)
        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.setInterval(350)
        self._text_timer.timeout.connect(self._on_text_settled)
        self._pending_text: str = ""

        self._build()
        self._show_source_controls()
        self.state.add_listener(self._on_state_changed)
        self.ctx.kernel_changed.connect(self._on_ctx_kernel_changed)
        self.ctx.image_changed.connect(self._on_ctx_image_changed)
        self._load_matrix_text(format_matrix(BOOK_IMAGE))
        self._load_kernel_text(format_matrix(BOOK_KERNEL))
        self._sync_controls()
        self._redraw_walk()

    # ======================================================================================
    # building
    def _build(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        controls = QWidget()
        cl = QVBoxLayout(controls)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self._build_input_group())
        cl.addWidget(self._build_kernel_group())
        cl.addWidget(self._build_layer_group())
        cl.addStretch(1)
        scroll = QScrollArea()
        fit_combos(controls)
        for form in controls.findChildren(QFormLayout):
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a projector's fonts
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # Never a horizontal scroll bar: the combo boxes shrink (fit_combos) and the rows wrap.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        scroll.setMaximumWidth(380)
        self.controls_scroll = scroll
        root.addWidget(scroll)

        right = QVBoxLayout()
        self.stage = QWidget()
        self.stage.setObjectName("stepperStage")
        self.stage.setAutoFillBackground(True)
        sl = QVBoxLayout(self.stage)
        sl.setContentsMargins(4, 4, 4, 4)
        grids = QHBoxLayout()
        self.input_views, self.input_labels, in_col = self._grid_column(3)
        self.kernel_views, self.kernel_labels, k_col = self._grid_column(3)
        self.output_views, self.output_labels, out_col = self._grid_column(3)
        self.op_label = self._operator_label("⊛")
        self.eq_label = self._operator_label("=")
        self._in_col, self._k_col, self._out_col = in_col, k_col, out_col
        grids.addWidget(in_col, 4)
        grids.addWidget(self.op_label)
        grids.addWidget(k_col, 2)
        grids.addWidget(self.eq_label)
        grids.addWidget(out_col, 3)
        self._grids_layout = grids
        sl.addLayout(grids, 1)
        self.step_label = QLabel()
        self.step_label.setWordWrap(True)
        self.step_label.setTextFormat(Qt.TextFormat.RichText)
        self.step_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.step_label.setMinimumHeight(40)
        sl.addWidget(self.step_label)
        self.formula_label = QLabel()
        self.formula_label.setWordWrap(True)
        self.formula_label.setTextFormat(Qt.TextFormat.RichText)
        sl.addWidget(self.formula_label)
        legend = [
            (WINDOW_COLOR.name(), "■", "window"),
            (OUTPUT_COLOR.name(), "■", "output cell"),
            (HOVER_COLOR.name(), "■", "fed by the hovered cell"),
            (WINNER_COLOR.name(), "○", "max winner"),
            ("#b07820", "▨", "padding"),
        ]
        entries = [f"<span style='color:{c}'>{mark}</span>&nbsp;{text}" for c, mark, text in legend]
        entries.append("×k = kernel weight")
        # Entries break between each other, never inside: on a projector the legend wraps
        # instead of making the stage wider than the screen.
        self.legend_label = QLabel(" &nbsp; ".join(e.replace(" ", "&nbsp;").replace("<span&nbsp;", "<span ")
                                                   for e in entries))
        self.legend_label.setWordWrap(True)
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        self.legend_label.setStyleSheet("color: #444;")
        sl.addWidget(self.legend_label)
        right.addWidget(self.stage, 1)

        self.hover_label = QLabel()
        self.hover_label.setWordWrap(True)
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.hover_label.setStyleSheet("color: #5b2a86;")
        right.addWidget(self.hover_label)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.PlainText)
        self.message_label.setStyleSheet("color: #b00020; font-weight: bold;")
        right.addWidget(self.message_label)
        right.addLayout(self._build_transport())
        root.addLayout(right, 1)
        self._apply_fonts()

        for views in (self.input_views, self.output_views, self.kernel_views):
            for k, v in enumerate(views):
                v.setProperty("channel", k)
        for v in self.input_views:
            v.cell_hovered.connect(self._on_input_hovered)
            v.cell_clicked.connect(self._on_input_clicked)
        for v in self.output_views:
            v.cell_clicked.connect(self._on_output_clicked)
            v.cell_hovered.connect(self._on_output_hovered)

        # Window-wide shortcuts, so the keys work wherever the focus is (the tab bar after a tab
        # click or Ctrl+3, a button just clicked). They are enabled only while this pane is the
        # current tab (show/hide events); a text or spin box that has the focus keeps its own
        # keys, because it accepts the ShortcutOverride event Qt sends it first.
        self._shortcuts: list[QShortcut] = []
        for key, slot in (
            (Qt.Key.Key_Right, self.step_forward),
            (Qt.Key.Key_Left, self.step_back),
            (Qt.Key.Key_Space, self.toggle_play),
            (Qt.Key.Key_Home, self.reset),
            (Qt.Key.Key_End, self.go_to_end),
        ):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.setAutoRepeat(key != Qt.Key.Key_Space)
            sc.setEnabled(False)
            sc.activated.connect(slot)
            self._shortcuts.append(sc)

    def _grid_column(self, n: int) -> tuple[list[NumberGridView], list[QLabel], QWidget]:
        col = QWidget()
        lay = QVBoxLayout(col)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        views, labels = [], []
        for _ in range(n):
            lab = QLabel()
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            view = NumberGridView()
            view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
            lay.addWidget(lab)
            lay.addWidget(view, 1)
            views.append(view)
            labels.append(lab)
        return views, labels, col

    def _operator_label(self, text: str) -> QLabel:
        lab = QLabel(text)
        lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
        f = QFont(self.font())
        f.setPointSizeF(22)
        f.setBold(True)
        lab.setFont(f)
        lab.setMinimumWidth(28)
        return lab

    def _spin(self, lo: int, hi: int, value: int, tip: str = "") -> QSpinBox:
        sb = QSpinBox()
        sb.setRange(lo, hi)
        sb.setValue(value)
        sb.setKeyboardTracking(False)
        if tip:
            sb.setToolTip(tip)
        return sb

    def _pair(self, a: QWidget, b: QWidget, sep: str = "×") -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(a)
        lay.addWidget(QLabel(sep))
        lay.addWidget(b)
        return w

    def _build_input_group(self) -> QGroupBox:
        box = QGroupBox("Input")
        form = QFormLayout(box)
        self.source_combo = choice_combo(SOURCES, self._on_source_changed)
        form.addRow("Source", self.source_combo)
        self.matrix_edit = QPlainTextEdit()
        self.matrix_edit.setPlaceholderText("1 2 3; 4 5 6  (or one row per line)")
        self.matrix_edit.setToolTip(
            "Rows end with ';' or a new line; numbers are split by spaces or commas. 1/9 works."
        )
        self.matrix_edit.setMaximumHeight(110)
        self.matrix_edit.textChanged.connect(self._on_matrix_text_changed)
        form.addRow(self.matrix_edit)
        self.crop_top = self._spin(0, 10000, 0, "Row of the crop's top-left pixel")
        self.crop_left = self._spin(0, 10000, 0, "Column of the crop's top-left pixel")
        self.crop_h = self._spin(1, MAX_CROP, 8, "Crop height in pixels")
        self.crop_w = self._spin(1, MAX_CROP, 8, "Crop width in pixels")
        self._crop_rows = [
            ("Top, left", self._pair(self.crop_top, self.crop_left, ",")),
            ("Size", self._pair(self.crop_h, self.crop_w)),
        ]
        for label, w in self._crop_rows:
            form.addRow(label, w)
        for sb in (self.crop_top, self.crop_left, self.crop_h, self.crop_w):
            sb.valueChanged.connect(self._on_crop_changed)
        self._input_form = form
        return box

    def _build_kernel_group(self) -> QGroupBox:
        box = QGroupBox("Kernel")
        form = QFormLayout(box)
        self.kernel_source_combo = choice_combo(KERNEL_SOURCES, self._on_kernel_source_changed)
        form.addRow("Source", self.kernel_source_combo)
        self.kernel_preset_combo = QComboBox()
        self.kernel_preset_combo.addItem("Preset…", "")
        self.kernel_preset_combo.addItem("book chess 2×2", "book")
        for name in PRESETS:
            self.kernel_preset_combo.addItem(name.replace("_", " "), name)
        self.kernel_preset_combo.activated.connect(self._on_kernel_preset_chosen)
        form.addRow("Preset", self.kernel_preset_combo)
        self.kernel_edit = QPlainTextEdit()
        self.kernel_edit.setMaximumHeight(100)
        self.kernel_edit.setToolTip(
            "One matrix for every channel, or for an RGB input one per channel separated by '|'."
        )
        self.kernel_edit.textChanged.connect(self._on_kernel_text_changed)
        form.addRow(self.kernel_edit)
        self.ksize_h = self._spin(1, 15, 2, "Kernel (or pooling window) rows")
        self.ksize_w = self._spin(1, 15, 2, "Kernel (or pooling window) columns")
        self.ksize_h.valueChanged.connect(self._on_kernel_size_changed)
        self.ksize_w.valueChanged.connect(self._on_kernel_size_changed)
        self.ksize_label = QLabel("Size")
        form.addRow(self.ksize_label, self._pair(self.ksize_h, self.ksize_w))
        self.flip_check = QCheckBox("Flip (mathematical convolution)")
        self.flip_check.setToolTip(
            "Keras and the book slide the kernel as it is (cross-correlation); tick to flip it first."
        )
        self.flip_check.toggled.connect(self._on_flip_toggled)
        form.addRow(self.flip_check)
        return box

    def _build_layer_group(self) -> QGroupBox:
        box = QGroupBox("Layer")
        form = QFormLayout(box)
        self.mode_combo = choice_combo(MODES, self._on_mode_changed)
        form.addRow("Mode", self.mode_combo)
        self.stride_h = self._spin(1, 64, 1, "How many rows the window moves each step")
        self.stride_w = self._spin(1, 64, 1, "How many columns the window moves each step")
        self.stride_h.valueChanged.connect(self._on_stride_changed)
        self.stride_w.valueChanged.connect(self._on_stride_changed)
        form.addRow("Stride", self._pair(self.stride_h, self.stride_w))
        self.padding_combo = choice_combo(PADDINGS, self._on_padding_changed)
        form.addRow("Padding", self.padding_combo)
        self.pad_spins = [self._spin(0, 16, 1, tip) for tip in ("Top", "Bottom", "Left", "Right")]
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
        self.dil_h = self._spin(1, 16, 1, "Gap between kernel taps (rows); 1 = no gap")
        self.dil_w = self._spin(1, 16, 1, "Gap between kernel taps (columns); 1 = no gap")
        self.dil_h.valueChanged.connect(self._on_dilation_changed)
        self.dil_w.valueChanged.connect(self._on_dilation_changed)
        form.addRow("Dilation", self._pair(self.dil_h, self.dil_w))
        self.bias_spin = QDoubleSpinBox()
        self.bias_spin.setRange(-1e6, 1e6)
        self.bias_spin.setDecimals(3)
        self.bias_spin.setKeyboardTracking(False)
        self.bias_spin.valueChanged.connect(self._on_bias_changed)
        form.addRow("Bias", self.bias_spin)
        self.activation_combo = QComboBox()
        for name in STEP_ACTIVATIONS:
            self.activation_combo.addItem("none" if name == "linear" else name, name)
        self.activation_combo.currentIndexChanged.connect(self._on_activation_changed)
        form.addRow("Activation", self.activation_combo)
        return box

    def _build_transport(self) -> QVBoxLayout:
        """The timeline (scrub slider and step counter) above the buttons: on one row they were
        wider than a projector's screen leaves beside the controls, and the slider shrank to a
        stub."""
        transport = QVBoxLayout()
        timeline = QHBoxLayout()
        bar = QHBoxLayout()
        transport.addLayout(timeline)
        transport.addLayout(bar)

        def button(text: str, tip: str, slot) -> QPushButton:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(slot)
            bar.addWidget(b)
            return b

        self.reset_button = button("|◀ Reset", "Back to the first step (Home)", self.reset)
        self.back_button = button("◀ Back", "One step back (←)", self.step_back)
        self.play_button = button("▶ Play", "Play / pause (Space)", self.toggle_play)
        self.forward_button = button("Step ▶", "One step forward (→)", self.step_forward)
        self.end_button = button("End ▶|", "Jump to the last step (End)", self.go_to_end)
        bar.addWidget(QLabel("Speed"))
        self.speed_spin = QDoubleSpinBox()
        self.speed_spin.setRange(0.25, 60.0)
        self.speed_spin.setValue(2.0)
        self.speed_spin.setSuffix(" /s")
        self.speed_spin.setToolTip("Steps per second while playing")
        self.speed_spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.speed_spin.valueChanged.connect(self._on_speed_changed)
        bar.addWidget(self.speed_spin)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self._on_slider_moved)
        timeline.addWidget(self.slider, 1)
        self.step_counter = QLabel()
        self.step_counter.setMinimumWidth(110)
        timeline.addWidget(self.step_counter)
        bar.addStretch(1)
        self.gif_button = button("GIF…", "Export the walk as an animated GIF", self._on_export_gif_clicked)
        self.png_button = button("PNG…", "Export this step as a PNG image", self._on_export_png_clicked)
        return transport

    def _apply_fonts(self) -> None:
        scale = PRESENTATION_SCALE if self._presentation else 1.0
        f = QFont(self.font())
        f.setPointSizeF(12.5 * scale)
        self.step_label.setFont(f)
        f2 = QFont(self.font())
        f2.setPointSizeF(11 * scale)
        self.formula_label.setFont(f2)
        self.hover_label.setFont(f2)
        f3 = QFont(self.font())
        f3.setPointSizeF(10.5 * scale)
        f3.setBold(True)
        for lab in self.input_labels + self.kernel_labels + self.output_labels:
            lab.setFont(f3)
        for lab in (self.op_label, self.eq_label):
            f4 = QFont(self.font())
            f4.setPointSizeF(22 * scale)
            f4.setBold(True)
            lab.setFont(f4)
        for v in self.input_views + self.kernel_views + self.output_views:
            v.set_text_scale(scale)
        self.controls_scroll.setMaximumWidth(420 if self._presentation else 380)

    # ======================================================================================
    # public driving (tests, screenshot, keys)
    @Slot()
    def step_forward(self) -> None:
        self._focus_output = None
        self.state.step(1)

    @Slot()
    def step_back(self) -> None:
        self._focus_output = None
        self.state.step(-1)

    @Slot()
    def reset(self) -> None:
        self.pause()
        self._focus_output = None
        self.state.go_to(0)

    @Slot()
    def go_to_end(self) -> None:
        self._focus_output = None
        self.state.go_to(self.state.n_steps - 1)

    @Slot()
    def toggle_play(self) -> None:
        if self._play_timer.isActive():
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        """Step on a timer at the chosen speed; starting at the end restarts from step 0."""
        if self.state.n_steps == 0:
            return
        if self.state.at_end():
            self.state.go_to(0)
        self._play_timer.start(max(16, int(1000 / self.speed_spin.value())))
        self.play_button.setText("❚❚ Pause")

    def pause(self) -> None:
        self._play_timer.stop()
        self.play_button.setText("▶ Play")

    def is_playing(self) -> bool:
        return self._play_timer.isActive()

    def set_source(self, key: str) -> None:
        """Choose the input: one of ``SOURCES``' keys."""
        self.source_combo.setCurrentIndex(self.source_combo.findData(key))

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def set_padding(self, kind: str, pads: tuple[int, int, int, int] | None = None) -> None:
        """``kind`` is valid / same / explicit; ``pads`` = (top, bottom, left, right)."""
        if pads is not None:
            for sb, v in zip(self.pad_spins, pads):
                with QSignalBlocker(sb):
                    sb.setValue(v)
        self.padding_combo.setCurrentIndex(self.padding_combo.findData(kind))
        self._on_padding_changed()

    def set_crop(self, top: int, left: int, height: int, width: int) -> None:
        for sb, v in zip((self.crop_top, self.crop_left, self.crop_h, self.crop_w), (top, left, height, width)):
            with QSignalBlocker(sb):
                sb.setValue(v)
        self._on_crop_changed()

    def set_matrix_text(self, text: str) -> None:
        """Type a matrix (as a user would) and apply it at once."""
        self.matrix_edit.setPlainText(text)
        self._text_timer.stop()
        self._on_text_settled()

    def set_kernel_text(self, text: str) -> None:
        self.kernel_edit.setPlainText(text)
        self._text_timer.stop()
        self._on_text_settled()

    def output_view(self, channel: int = 0) -> NumberGridView:
        return self.output_views[channel]

    def input_view(self, channel: int = 0) -> NumberGridView:
        return self.input_views[channel]

    # ======================================================================================
    # input
    @Slot(int)
    def _on_source_changed(self, _index: int = 0) -> None:
        key = self.source_combo.currentData()
        self._source = key
        self.pause()
        self._show_source_controls()
        self.message_label.clear()
        if key == "book":
            self._load_matrix_text(format_matrix(BOOK_IMAGE))
            self._use_typed_kernel(BOOK_KERNEL)
            self.state.update(image=BOOK_IMAGE, kernel=BOOK_KERNEL)
        elif key == "diagonal":
            self._load_matrix_text(format_matrix(DIAGONAL_IMAGE))
            self._use_typed_kernel(DIAGONAL_KERNEL)
            self.state.update(image=DIAGONAL_IMAGE, kernel=DIAGONAL_KERNEL)
        elif key == "typed":
            self._apply_matrix_text(self.matrix_edit.toPlainText())
        else:
            if not (self.crop_h.value() > 8 or self.crop_w.value() > 8 or self.crop_top.value() or self.crop_left.value()):
                h, w = self.ctx.image.shape[:2]
                with QSignalBlocker(self.crop_top), QSignalBlocker(self.crop_left):
                    self.crop_top.setValue(max(0, h // 2 - 4))
                    self.crop_left.setValue(max(0, w // 2 - 4))
            self._on_crop_changed()

    def _show_source_controls(self) -> None:
        crop = self._source in ("crop_gray", "crop_rgb")
        for _label, w in self._crop_rows:
            w.setVisible(crop)
            self._input_form.labelForField(w).setVisible(crop)
        self.matrix_edit.setVisible(not crop)

    def _load_matrix_text(self, text: str) -> None:
        with QSignalBlocker(self.matrix_edit):
            self.matrix_edit.setPlainText(text)

    @Slot()
    def _on_matrix_text_changed(self) -> None:
        self._pending_text = "matrix"
        self._text_timer.start()

    @Slot()
    def _on_kernel_text_changed(self) -> None:
        self._pending_text = "kernel"
        self._text_timer.start()

    @Slot()
    def _on_text_settled(self) -> None:
        which, self._pending_text = self._pending_text, ""
        if which == "matrix" or (not which and self.matrix_edit.hasFocus()):
            if self._source != "typed":
                self._source = "typed"
                with QSignalBlocker(self.source_combo):
                    self.source_combo.setCurrentIndex(self.source_combo.findData("typed"))
            self._apply_matrix_text(self.matrix_edit.toPlainText())
        elif which == "kernel":
            self._apply_kernel_text(self.kernel_edit.toPlainText())

    def _apply_matrix_text(self, text: str) -> None:
        try:
            m = parse_matrix(text)
        except MatrixError as e:
            self._show_parse_error(self.matrix_edit, e, "input")
            return
        if max(m.shape) > MAX_CROP:
            self.message_label.setText(f"A typed matrix can have at most {MAX_CROP} rows and columns.")
            return
        self.message_label.clear()
        self.state.update(image=m)

    def _show_parse_error(self, edit: QPlainTextEdit, e: MatrixError, what: str) -> None:
        self.message_label.setText(
            f"{e} The {what} shown is the last one that could be read."
        )
        a, b = e.span
        if b > a:
            cur = edit.textCursor()
            cur.setPosition(min(a, len(edit.toPlainText())))
            cur.setPosition(min(b, len(edit.toPlainText())), QTextCursor.MoveMode.KeepAnchor)
            edit.setTextCursor(cur)

    @Slot()
    def _on_crop_changed(self) -> None:
        if self._source not in ("crop_gray", "crop_rgb"):
            return
        img = self.ctx.image
        h, w = img.shape[:2]
        self.crop_top.setMaximum(max(0, h - 1))
        self.crop_left.setMaximum(max(0, w - 1))
        self.crop_h.setMaximum(min(MAX_CROP, h))
        self.crop_w.setMaximum(min(MAX_CROP, w))
        top, left = self.crop_top.value(), self.crop_left.value()
        ch, cw = self.crop_h.value(), self.crop_w.value()
        top, left = min(top, max(0, h - ch)), min(left, max(0, w - cw))
        try:
            part = images.crop(img, top, left, ch, cw)
        except ValueError as e:
            self.message_label.setText(str(e))
            return
        data = images.to_gray(part) if self._source == "crop_gray" else images.to_rgb(part)
        self.message_label.clear()
        self.state.update(image=np.asarray(data, dtype=np.float64))

    @Slot()
    def _on_ctx_image_changed(self) -> None:
        if self._source in ("crop_gray", "crop_rgb"):
            self._on_crop_changed()

    # ======================================================================================
    # kernel
    def _load_kernel_text(self, text: str) -> None:
        with QSignalBlocker(self.kernel_edit):
            self.kernel_edit.setPlainText(text)

    def _use_typed_kernel(self, k: np.ndarray) -> None:
        self._kernel_source = "typed"
        with QSignalBlocker(self.kernel_source_combo):
            self.kernel_source_combo.setCurrentIndex(0)
        self._load_kernel_text(format_matrix(k))

    @Slot(int)
    def _on_kernel_source_changed(self, _i: int = 0) -> None:
        self._kernel_source = self.kernel_source_combo.currentData()
        if self._kernel_source == "playground":
            self._on_ctx_kernel_changed()
        else:
            self._apply_kernel_text(self.kernel_edit.toPlainText())

    @Slot()
    def _on_ctx_kernel_changed(self) -> None:
        if self._kernel_source != "playground":
            return
        k = np.asarray(self.ctx.kernel, dtype=np.float64)
        self._load_kernel_text(format_matrix(k))
        self.state.update(kernel=k)

    @Slot(int)
    def _on_kernel_preset_chosen(self, index: int) -> None:
        key = self.kernel_preset_combo.itemData(index)
        if not key:
            return
        k = BOOK_KERNEL if key == "book" else PRESETS[key]
        self._use_typed_kernel(k)
        self.state.update(kernel=k)
        with QSignalBlocker(self.kernel_preset_combo):
            self.kernel_preset_combo.setCurrentIndex(0)

    def _apply_kernel_text(self, text: str) -> None:
        try:
            k = parse_kernel(text)
        except MatrixError as e:
            self._show_parse_error(self.kernel_edit, e, "kernel")
            return
        if max(k.shape[:2]) > 15:
            self.message_label.setText("A kernel can have at most 15 rows and columns.")
            return
        self.message_label.clear()
        if self._kernel_source != "typed":
            self._kernel_source = "typed"
            with QSignalBlocker(self.kernel_source_combo):
                self.kernel_source_combo.setCurrentIndex(0)
        self.state.update(kernel=k)

    @Slot()
    def _on_kernel_size_changed(self) -> None:
        rows, cols = self.ksize_h.value(), self.ksize_w.value()
        if self.state.mode in ("max", "avg"):
            old = self.state.settings.pool_size
            changes = {"pool_size": (rows, cols)}
            if tuple(self.state.settings.stride) == tuple(old):
                changes["stride"] = (rows, cols)  # keep Keras's default stride = pool size
            self.state.update(**changes)
            return
        k = self.state.kernel
        if k.shape[:2] == (rows, cols):
            return
        if k.ndim == 2:
            new = resize_kernel(k, rows, cols).astype(np.float64)
        else:
            new = np.stack([resize_kernel(k[:, :, c], rows, cols) for c in range(k.shape[2])], axis=2)
        self._use_typed_kernel(new)
        self.state.update(kernel=new)

    @Slot(bool)
    def _on_flip_toggled(self, on: bool) -> None:
        self.state.update(flip=on)

    # ======================================================================================
    # layer settings
    @Slot(int)
    def _on_mode_changed(self, _i: int = 0) -> None:
        mode = self.mode_combo.currentData()
        old = self.state.mode
        changes: dict = {"mode": mode}
        pooling = mode in ("max", "avg")
        if pooling and old not in ("max", "avg"):
            changes["stride"] = self.state.settings.pool_size
        elif not pooling and old in ("max", "avg"):
            changes["stride"] = (1, 1)
        if mode == "transpose" and self.state.settings.padding == "explicit":
            changes["padding"] = "valid"
        self._focus_output = None
        self.state.update(**changes)
        self._sync_controls()

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

    @Slot(float)
    def _on_bias_changed(self, v: float) -> None:
        self.state.update(bias=v)

    @Slot(int)
    def _on_activation_changed(self, _i: int = 0) -> None:
        self.state.update(activation=self.activation_combo.currentData())

    def _sync_controls(self) -> None:
        """Show the state's settings in the controls and enable what the mode uses."""
        s = self.state.settings
        mode = s.mode
        pooling = mode in ("max", "avg")
        conv = mode == "conv"
        pairs = [
            (self.ksize_h, self.state.window_size()[0]), (self.ksize_w, self.state.window_size()[1]),
            (self.stride_h, s.stride[0]), (self.stride_w, s.stride[1]),
            (self.dil_h, s.dilation[0]), (self.dil_w, s.dilation[1]),
        ]
        for sb, v in pairs:
            with QSignalBlocker(sb):
                sb.setValue(v)
        with QSignalBlocker(self.padding_combo):
            self.padding_combo.setCurrentIndex(self.padding_combo.findData(s.padding))
        model = self.padding_combo.model()
        model.item(self.padding_combo.findData("explicit")).setEnabled(mode != "transpose")
        self.pads_row.setEnabled(s.padding == "explicit")
        self.ksize_label.setText("Pool size" if pooling else "Size")
        for w in (self.kernel_source_combo, self.kernel_preset_combo, self.kernel_edit):
            w.setEnabled(not pooling)
        self.flip_check.setEnabled(conv)
        self.pad_mode_combo.setEnabled(conv)
        for w in (self.dil_h, self.dil_w):
            w.setEnabled(not pooling)
        for w in (self.bias_spin, self.activation_combo):
            w.setEnabled(not pooling)

    # ======================================================================================
    # drawing
    @Slot()
    def _on_state_changed(self, what: str) -> None:
        if what == "walk":
            self._hover_input = None
            self._redraw_walk()
        else:
            self._redraw_position()

    def _redraw_walk(self) -> None:
        st = self.state
        s = st.settings
        with QSignalBlocker(self.ksize_h), QSignalBlocker(self.ksize_w):
            self.ksize_h.setValue(st.window_size()[0])
            self.ksize_w.setValue(st.window_size()[1])
        x = st.shown_input()
        C = 1 if x.ndim == 2 else x.shape[2]
        image_like = self._source in ("crop_gray", "crop_rgb") or self._source == "book"
        finite = x[np.isfinite(x)]
        if image_like and (finite.size == 0 or (finite.min() >= 0 and finite.max() <= 255)):
            levels = (0.0, 255.0)
        else:
            levels = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        pads = st.pads()
        pad_word = {"conv": PAD_MODE_NAMES.get(s.pad_mode, s.pad_mode), "max": "ignored", "avg": "ignored"}
        names = ["R", "G", "B"] if C == 3 else [f"channel {c + 1}" for c in range(C)]
        for c, (view, lab) in enumerate(zip(self.input_views, self.input_labels)):
            show = c < C
            view.setVisible(show)
            lab.setVisible(show)
            if not show:
                continue
            schemes = SCHEMES.get(C, ["gray"] * C)
            view.set_grid(x if C == 1 else x[:, :, c], schemes[c] if c < len(schemes) else "gray", levels)
            view.set_padding(pads, st.pad_label())
            h, w = s.image.shape[:2]
            title = "Input" if C == 1 else f"Input {names[c]}"
            extra = f" {h}×{w}"
            if any(sum(p) for p in pads):
                extra += f", padded ({pad_word.get(st.mode, '')})"
            lab.setText(title + extra)
        # kernel
        k = st.kernel
        pooling = st.mode in ("max", "avg")
        kc = 0 if pooling else (1 if k.ndim == 2 else k.shape[2])
        for c, (view, lab) in enumerate(zip(self.kernel_views, self.kernel_labels)):
            show = c < kc
            view.setVisible(show)
            lab.setVisible(show)
            if not show:
                continue
            kk = k if k.ndim == 2 else k[:, :, c]
            if s.flip and st.mode == "conv":
                kk = kk[::-1, ::-1]
            view.set_grid(kk, "diverging")
            if kc == 1:
                lab.setText("Kernel" + (" (flipped)" if s.flip and st.mode == "conv" else "")
                            + (" — same on R, G, B" if C == 3 else ""))
            else:
                lab.setText(f"Kernel {names[c] if c < len(names) else c + 1}")
        self._k_col.setVisible(not pooling)
        self.op_label.setText({"max": "max", "avg": "avg", "transpose": "⊛ᵀ"}.get(st.mode, "⊛"))
        # output
        out = st.output()
        oc = 0 if out is None else (1 if out.ndim == 2 else out.shape[2])
        lo, hi = st.output_levels()
        m = max(abs(lo), abs(hi)) or 1.0
        self._out_levels = (-m, m)
        for c, (view, lab) in enumerate(zip(self.output_views, self.output_labels)):
            show = c < max(oc, 1)
            view.setVisible(show)
            lab.setVisible(show)
            if not show:
                continue
            if out is None:
                view.set_grid(None)
                view.set_placeholder("No output with these settings:\nsee the reason below.")
                lab.setText("Output")
                continue
            view.set_grid(out if oc == 1 else out[:, :, c], "diverging", self._out_levels, nan_label="", nan_blank=True)
            oh, ow = out.shape[:2]
            lab.setText(f"Output {oh}×{ow}" + (f" {names[c]}" if oc > 1 else ""))
        stretch_in, stretch_out = (3, 5) if st.mode == "transpose" else (4, 4 if max(x.shape[:2]) > 12 else 3)
        self._grids_layout.setStretchFactor(self._in_col, stretch_in)
        small = max(x.shape[:2]) <= 12 or max(k.shape[:2]) > 5
        self._grids_layout.setStretchFactor(self._k_col, 2 if small else 1)
        self._grids_layout.setStretchFactor(self._out_col, stretch_out)
        n = st.n_steps
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, max(0, n - 1))
        for b in (self.back_button, self.forward_button, self.play_button, self.reset_button,
                  self.end_button, self.gif_button, self.png_button, self.slider):
            b.setEnabled(n > 0)
        if n == 0:
            self.pause()
        self._redraw_formula()
        self._redraw_position()

    def _redraw_formula(self) -> None:
        lines = self.state.formula_lines()
        if not lines:
            self.formula_label.clear()
            return
        shape = self.state.output_shape()
        head = "Output size" + (f" {shape[0]}×{shape[1]}" if shape else "")
        body = [html.escape(x) for x in lines]
        if self.state.walk is None:
            body[-1] = f"<span style='color:#b00020; font-weight:bold'>{body[-1]}</span>"
        self.formula_label.setText(f"<b>{head}</b> = ⌊(n + 2p − d(f−1) − 1)/s⌋ + 1<br>" + "<br>".join(body)
                                   if self.state.mode != "transpose" else
                                   f"<b>{head}</b> (transposed)<br>" + "<br>".join(body))

    def _redraw_position(self) -> None:
        st = self.state
        n, pos = st.n_steps, st.position
        with QSignalBlocker(self.slider):
            self.slider.setValue(pos)
        self.step_counter.setText(f"Step {pos + 1} of {n}" if n else "No steps")
        mode = st.mode
        out = st.output()
        if out is not None:
            oc = 1 if out.ndim == 2 else out.shape[2]
            if mode == "transpose":
                shown = st.displayed_output()
                self.output_views[0].set_grid(shown, "diverging", self._out_levels, nan_label="", nan_blank=True)
                self.output_views[0].set_filled(None)
            else:
                for c in range(oc):
                    self.output_views[c].set_filled(st.filled())
        self._redraw_highlights()
        self._redraw_step_text()
        if n and st.at_end() and self.is_playing():
            self.pause()

    def _redraw_highlights(self) -> None:
        st = self.state
        mode = st.mode
        x = st.shown_input()
        C = 1 if x.ndim == 2 else x.shape[2]
        window = st.window_cells()
        cur = st.current()
        winners = st.winners()
        outs = st.output_cells()
        hover_outs: list[tuple[int, int]] = []
        hover_cell = None
        if self._hover_input is not None:
            ch, r, c = self._hover_input
            hover_cell = (r, c)
            hover_outs = st.outputs_fed_by(r, c)
        focus_inputs: list[tuple[int, int]] = []
        if self._focus_output is not None and mode == "transpose":
            focus_inputs = st.inputs_of(*self._focus_output)
        for c in range(C):
            hls: list[Highlight] = []
            marks: dict[tuple[int, int], str] = {}
            if mode == "conv" and cur is not None:
                k = cur.kernel if cur.kernel.ndim == 2 else cur.kernel[:, :, c]
                for a, r in enumerate(cur.rows):
                    for b, cc in enumerate(cur.cols):
                        marks[(r, cc)] = "×" + fmt(k[a, b], 3)
            if mode == "transpose":
                if focus_inputs:
                    hls.append(Highlight(focus_inputs, HOVER_COLOR, 50))
            hls.append(Highlight(window, WINDOW_COLOR, 60, 3.5, marks=marks))
            if winners:
                w = winners[c] if c < len(winners) else winners[0]
                hls.append(Highlight([w], WINNER_COLOR, 0, 3.0, outline=False, ring=True))
            if hover_cell is not None:
                hls.append(Highlight([hover_cell], HOVER_COLOR, 0, 2.5))
            self.input_views[c].set_highlights(hls, follow=window[0] if window else None)
        out = st.output()
        if out is not None:
            oc = 1 if out.ndim == 2 else out.shape[2]
            for c in range(oc):
                hls = []
                if self._focus_output is not None and mode == "transpose":
                    hls.append(Highlight([self._focus_output], HOVER_COLOR, 0, 3.0))
                marks = {}
                if mode == "transpose" and cur is not None:
                    contrib = np.asarray(cur.contribution)
                    for a, r in enumerate(cur.rows):
                        for b, cc in enumerate(cur.cols):
                            if cur.inside[a, b]:
                                v = float(contrib[a, b])
                                marks[(r, cc)] = ("" if v < 0 else "+") + fmt(v, 3)
                hls.append(Highlight(outs, OUTPUT_COLOR, 50, 3.5, marks=marks))
                if hover_outs:
                    hls.append(Highlight(hover_outs, HOVER_COLOR, 55, 2.5))
                self.output_views[c].set_highlights(hls, follow=outs[0] if outs else None)
        if self._hover_input is None:
            self.hover_label.setText(
                "Hover an input cell to see every output it feeds; click an output cell to jump to its step."
                if st.n_steps else ""
            )

    def _redraw_step_text(self) -> None:
        lines = self.state.step_lines()
        if not lines:
            self.step_label.clear()
            return
        out = []
        for line in lines:
            esc = html.escape(line)
            if len(line) > 2 and line[1] == ":" and line[0] in CHANNEL_HTML:
                esc = f"<b style='color:{CHANNEL_HTML[line[0]]}'>{line[0]}</b>{esc[1:]}"
            out.append(esc)
        if self.state.walk is None:
            self.step_label.clear()  # the reason is shown under the formula
            return
        st = self.state.current()
        if self.state.mode == "conv":
            i, j = st.out_pos
            last = out[-1]
            out[-1] = last.replace(f"out({i},{j})", f"<b style='color:{OUTPUT_COLOR.name()}'>out({i},{j})</b>")
        self.step_label.setText("<br>".join(out))

    # ======================================================================================
    # mouse on the grids
    @Slot(int, int)
    def _on_input_hovered(self, r: int, c: int) -> None:
        view = self.sender()
        ch = int(view.property("channel") or 0) if view is not None else 0
        self.set_hovered_input(ch, r, c)

    def set_hovered_input(self, channel: int, r: int, c: int) -> None:
        """Show which outputs input cell (r, c) of the shown (padded) input feeds; r < 0 clears."""
        st = self.state
        if r < 0 or st.walk is None:
            self._hover_input = None
            self._redraw_highlights()
            return
        self._hover_input = (channel, r, c)
        x = st.shown_input()
        v = x[r, c] if x.ndim == 2 else x[r, c, channel]
        feeds = st.outputs_fed_by(r, c)
        where = "padding cell" if self._is_padding(r, c) else "input cell"
        if st.mode != "transpose":
            (pt, _), (pl, _) = st.pads()
            coords = f"({r - pt}, {c - pl})" if not self._is_padding(r, c) else f"(padded {r}, {c})"
        else:
            coords = f"({r}, {c})"
        listed = ", ".join(f"({i},{j})" for i, j in feeds[:16]) + (" …" if len(feeds) > 16 else "")
        if st.mode in ("max", "avg") and self._is_padding(r, c):
            text = f"Padding cell {coords}: pooling never reads padding."
        elif feeds:
            text = f"{where.capitalize()} {coords} = {fmt(v)} feeds {len(feeds)} output cell{'s' if len(feeds) != 1 else ''}: {listed}"
        else:
            text = f"{where.capitalize()} {coords} = {fmt(v)} feeds no output cell (the stride skips it)."
        self.hover_label.setText(text)
        self._redraw_highlights()

    def hovered_outputs(self) -> list[tuple[int, int]]:
        """Output cells highlighted as fed by the hovered input cell."""
        if self._hover_input is None:
            return []
        _, r, c = self._hover_input
        return self.state.outputs_fed_by(r, c)

    def _is_padding(self, r: int, c: int) -> bool:
        st = self.state
        if st.mode == "transpose":
            return False
        (pt, _), (pl, _) = st.pads()
        h, w = st.image.shape[:2]
        return not (pt <= r < pt + h and pl <= c < pl + w)

    @Slot(int, int)
    def _on_output_clicked(self, i: int, j: int) -> None:
        self.jump_to_output(i, j)

    def jump_to_output(self, i: int, j: int) -> None:
        """Go to the step that computes output (i, j) and highlight its receptive field."""
        n = self.state.step_for_output(i, j)
        if n is None:
            return
        self.pause()
        self._focus_output = (i, j) if self.state.mode == "transpose" else None
        if n == self.state.position:
            self._redraw_highlights()
        self.state.go_to(n)
        field = self.state.inputs_of(i, j)
        self.hover_label.setText(
            f"Output ({i},{j}) reads {len(field)} input cell{'s' if len(field) != 1 else ''} (its receptive field)."
            if self.state.mode != "transpose"
            else f"Output ({i},{j}) receives the kernels of {len(field)} input cell(s); "
            "this is the step where the last of them lands."
        )

    @Slot(int, int)
    def _on_output_hovered(self, i: int, j: int) -> None:
        if i < 0 or self.state.walk is None:
            return
        out = self.state.displayed_output()
        if out is None:
            return
        v = out[i, j] if out.ndim == 2 else out[i, j, 0]
        value = "not computed yet" if math.isnan(v) else f"= {fmt(v)}"
        self.hover_label.setText(f"Output ({i},{j}) {value}. Click to jump to its step.")

    @Slot(int, int)
    def _on_input_clicked(self, r: int, c: int) -> None:
        n = self.state.step_for_input(r, c)
        if n is not None:
            self.pause()
            self._focus_output = None
            self.state.go_to(n)

    # ======================================================================================
    # transport
    @Slot()
    def _on_play_tick(self) -> None:
        if not self.state.step(1):
            self.pause()

    @Slot(float)
    def _on_speed_changed(self, v: float) -> None:
        if self._play_timer.isActive():
            self._play_timer.setInterval(max(16, int(1000 / v)))

    @Slot(int)
    def _on_slider_moved(self, value: int) -> None:
        self._focus_output = None
        self.state.go_to(value)

    # ======================================================================================
    # export
    def frame_image(self) -> QImage:
        """The stage (grids, arithmetic, formula) as an image: what slides need."""
        return self.stage.grab().toImage()

    def export_png(self, path: str | Path) -> bool:
        ok = self.frame_image().save(str(path), "PNG")
        if ok:
            self.ctx.post(f"Saved step {self.state.position + 1} to {path}")
        else:
            self.ctx.error_posted.emit(f"Could not write {path}: check the folder exists and is writable.")
        return ok

    def export_gif(self, path: str | Path, max_frames: int = MAX_FRAMES, show_progress: bool = True) -> int:
        """Write the walk as a looping GIF, one frame per step (sampled evenly down to
        ``max_frames``); the window keeps processing events. Returns the frame count (0 when
        cancelled or nothing to export)."""
        n = self.state.n_steps
        if n == 0 or self._exporting:
            return 0
        self.pause()
        steps = plan_frames(n, max_frames)
        if len(steps) < n:
            self.last_export_message = (
                f"The walk has {n} steps; the GIF shows {len(steps)} of them, evenly spaced "
                f"(about every {n / len(steps):.0f}th step), to keep the file and the export small."
            )
        else:
            self.last_export_message = f"The GIF shows all {n} steps."
        keep = self.state.position
        dialog = None
        if show_progress:
            dialog = QProgressDialog("Rendering the walk…", "Cancel", 0, len(steps), self)
            dialog.setWindowTitle("Export GIF")
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            dialog.setMinimumDuration(300)

        def render(step: int) -> QImage:
            self.state.go_to(step)
            return self.frame_image()

        def progress(done: int, total: int) -> bool:
            if dialog is not None:
                dialog.setValue(done)
            QApplication.processEvents()
            return not (dialog is not None and dialog.wasCanceled())

        self._exporting = True
        try:
            if dialog is not None:
                dialog.setLabelText(self.last_export_message + "\nRendering frames…")
            frames = export_gif(
                path, render, steps, fps=self.speed_spin.value(), progress=progress,
                idle=QApplication.processEvents,
            )
        except ExportCancelled:
            self.last_export_message = "GIF export cancelled; nothing was written."
            frames = 0
        except (OSError, ValueError) as e:
            self.last_export_message = f"Could not write the GIF: {e}"
            frames = 0
        finally:
            self._exporting = False
            if dialog is not None:
                dialog.close()
            self.state.go_to(keep)
        if frames:
            self.last_export_message += f" Saved {frames} frames to {path}."
            self.ctx.post(self.last_export_message, 10000)
        else:
            self.ctx.error_posted.emit(self.last_export_message)
        self.hover_label.setText(self.last_export_message)
        return frames

    @Slot()
    def _on_export_gif_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export walk as GIF", "cnnviz-stepper.gif", "GIF animation (*.gif)")
        if path:
            self.export_gif(path)

    @Slot()
    def _on_export_png_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export step as PNG", "cnnviz-stepper.png", "PNG image (*.png)")
        if path:
            self.export_png(path)

    # ======================================================================================
    # Pane hooks
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        for sc in self._shortcuts:
            sc.setEnabled(True)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().hideEvent(event)
        for sc in self._shortcuts:
            sc.setEnabled(False)

    def is_busy(self) -> bool:
        return self._exporting or self._text_timer.isActive()

    def prepare_screenshot(self) -> None:
        """The book's 4×4 example with zero padding 1 and stride 2, stopped at step 4 of 9."""
        if self._source in ("crop_gray", "crop_rgb") and self.state.n_steps:
            self.state.go_to(min(3, self.state.n_steps - 1))
            return
        self.set_source("book")
        self.set_mode("conv")
        with QSignalBlocker(self.stride_h), QSignalBlocker(self.stride_w):
            self.stride_h.setValue(2)
            self.stride_w.setValue(2)
        self._on_stride_changed()
        self.set_padding("explicit", (1, 1, 1, 1))
        self.state.go_to(3)

    def set_presentation_mode(self, on: bool) -> None:
        self._presentation = on
        self._apply_fonts()

    def shutdown(self) -> None:
        self._play_timer.stop()
        self._text_timer.stop()
