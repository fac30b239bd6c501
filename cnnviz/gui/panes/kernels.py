"""The kernel playground: paint a kernel, see what it does to the image at once.

The pane is a view over one :class:`cnnviz.state.kernels.KernelPlaygroundState` (plain Python,
no Qt), which holds the kernel and how it is applied and says what the panel texts say. Widgets
write into the state; its ``changed`` event makes the controls show it and asks a
:class:`cnnviz.gui.compute.LiveComputation` for a refresh, merged to one per event-loop turn, so a
fast paint drag never queues work (large images are filtered off the GUI thread).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Slot
from PySide6.QtGui import QColor, QImage, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGraphicsRectItem,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.kernels import HAAR_PRESETS, PRESETS
from cnnviz.gui.compute import LiveComputation
from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import ChoiceCombo, Pane, alert, choice_combo, fit_combos, panel
from cnnviz.gui.qtutil import debounce_timer, signals_blocked
from cnnviz.gui.widgets import ImageView, KernelEditorWidget, link_views
from cnnviz.gui.widgets.image_view import heat_colormap
from cnnviz.gui.widgets.steady_label import SteadyLabel
from cnnviz.state.kernels import (
    ARITHMETIC_HINT,
    BORDER_NAMES,
    COLOR_MODES,
    DIRECTION_TEXT,
    DISPLAY_MODES,
    GRADIENT_PAIRS,
    HAAR_SIZES,
    SYNC_WORK_LIMIT,
    KernelPlaygroundState,
    KernelResult,
    direction_wheel,
    is_preset,
    preset_title,
)

#: How long the arithmetic panel waits for the kernel to stop changing before it is rewritten.
READOUT_DELAY_MS = 120


class KernelsPane(Pane):
    """Paint a kernel and see the filtered image beside the original, with the arithmetic."""

    name = "kernels"
    title = "Kernels"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.state = KernelPlaygroundState(kernel=np.array(ctx.kernel, np.float32), kernel_name=ctx.kernel_name)
        self._source: np.ndarray | None = None
        self._source_key: tuple | None = None
        self._result = KernelResult(None)
        self._hover: tuple[int, int] = (-1, -1)
        # the pixel whose arithmetic the panel shows: it stays after the mouse leaves, and the
        # panel is recomputed for it on every change of the state or the image
        self._inspected: tuple[int, int] | None = None
        self._live = LiveComputation(self, self._refresh, SYNC_WORK_LIMIT)
        # the inspected pixel's arithmetic after a change of the kernel, settings or image: a
        # rich-text table costs a QLabel tens of milliseconds to lay out, so while a kernel is
        # painted the result repaints at once and the panel follows when the painting pauses
        self._readout_timer = debounce_timer(self, READOUT_DELAY_MS, self._show_arithmetic)

        self._build_ui()
        self.state.changed.connect(self._on_state_changed)
        ctx.image_changed.connect(self._on_image_changed)
        ctx.kernel_changed.connect(self._on_ctx_kernel_changed)
        self._sync_controls()
        self._live.schedule()

    # -- UI ----------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        splitter, side = self._build_controls_column()

        kbox = QGroupBox("Kernel")
        kl = QVBoxLayout(kbox)
        self.preset_combo = ChoiceCombo()
        self.preset_combo.addItem("Custom (painted)", "custom")
        for name in PRESETS:
            self.preset_combo.addItem(preset_title(name), name)
        self.preset_combo.insertSeparator(self.preset_combo.count())
        for name in HAAR_PRESETS:
            self.preset_combo.addItem(preset_title(name), name)
        self.preset_combo.setToolTip("Load one of the book's kernels, or a Haar feature (ch. 5)")
        self.preset_combo.currentIndexChanged.connect(self._on_preset_activated)
        kl.addWidget(self.preset_combo)

        self.haar_row = QWidget()  # shown for Haar features only
        hr = QHBoxLayout(self.haar_row)
        hr.setContentsMargins(0, 0, 0, 0)
        self.haar_spin = QSpinBox()
        self.haar_spin.setRange(*HAAR_SIZES)
        self.haar_spin.setSuffix(" px")
        self.haar_spin.setToolTip("The side of the Haar feature: the scale of the contrast it looks for")
        self.haar_spin.valueChanged.connect(self.state.set_haar_size)
        hr.addWidget(QLabel("Haar size"))
        hr.addWidget(self.haar_spin)
        hr.addStretch(1)
        kl.addWidget(self.haar_row)

        size_row = QHBoxLayout()
        self.rows_spin = QSpinBox()
        self.cols_spin = QSpinBox()
        for spin in (self.rows_spin, self.cols_spin):
            spin.setRange(1, 15)
            spin.valueChanged.connect(self._on_size_changed)
        self.brush_spin = QDoubleSpinBox()
        self.brush_spin.setRange(-99.0, 99.0)
        self.brush_spin.setDecimals(2)
        self.brush_spin.setSingleStep(0.5)
        self.brush_spin.setValue(1.0)
        self.brush_spin.setToolTip("The value a left-drag paints; right-drag or Shift-drag erases to 0")
        self.brush_spin.valueChanged.connect(lambda value: self.editor.set_brush_value(value))
        size_row.addWidget(QLabel("Size"))
        size_row.addWidget(self.rows_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.cols_spin)
        size_row.addSpacing(8)
        size_row.addWidget(QLabel("Brush"))
        size_row.addWidget(self.brush_spin)
        size_row.addStretch(1)
        kl.addLayout(size_row)

        self.editor = KernelEditorWidget(self.state.kernel)
        self.editor.setMinimumSize(150, 150)
        self.editor.kernel_edited.connect(self._on_kernel_edited)
        self.editor.invalid_entered.connect(self._on_invalid_entered)
        kl.addWidget(self.editor, 1)

        # two lines that break where the sense does, never one word left alone on the second
        hint = self._hint_label = QLabel("Drag to paint · right-drag erases\nDouble-click a cell to type a value")
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint.setWordWrap(True)
        kl.addWidget(hint)

        self.sum_label = SteadyLabel()  # rewritten on every edit: no new layout for it
        kl.addWidget(self.sum_label)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        alert(self.error_label)
        self.error_label.setVisible(False)
        kl.addWidget(self.error_label)

        buttons = QGridLayout()
        self.normalize_button = QPushButton("Normalize")
        self.normalize_button.setToolTip("Scale the kernel so it sums to 1 (or its positive part does)")
        self.transpose_button = QPushButton("Transpose")
        self.rotate_button = QPushButton("Rotate 90°")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the last preset chosen (identity if none)")
        self.normalize_button.clicked.connect(self._on_normalize_clicked)
        self.transpose_button.clicked.connect(self.state.transpose)
        self.rotate_button.clicked.connect(self.state.rotate)
        self.reset_button.clicked.connect(self.state.reset)
        buttons.addWidget(self.normalize_button, 0, 0)
        buttons.addWidget(self.transpose_button, 0, 1)
        buttons.addWidget(self.rotate_button, 1, 0)
        buttons.addWidget(self.reset_button, 1, 1)
        kl.addLayout(buttons)
        self.convolve_check = QCheckBox("Flip the kernel (true convolution)")
        self.convolve_check.setToolTip(
            "Off: slide the kernel as drawn — the book's sliding dot product (cross-correlation), "
            "what Keras Conv2D computes. On: flip it first, the mathematical convolution."
        )
        self.convolve_check.toggled.connect(self._on_convolve_toggled)
        kl.addWidget(self.convolve_check)
        side.addWidget(kbox, 1)

        obox = QGroupBox("Output")
        form = QFormLayout(obox)
        self.color_combo = choice_combo(COLOR_MODES, lambda _i: self._on_choice("color", self.color_combo))
        self.display_combo = choice_combo(DISPLAY_MODES, lambda _i: self._on_choice("display", self.display_combo))
        self.gradient_combo = choice_combo(GRADIENT_PAIRS, lambda _i: self._on_choice("gradient", self.gradient_combo))
        self.border_combo = choice_combo(BORDER_NAMES, lambda _i: self._on_choice("border", self.border_combo))
        form.addRow("Channels", self.color_combo)
        form.addRow("Show", self.display_combo)
        form.addRow("Magnitude", self.gradient_combo)
        self.gradient_combo.setToolTip("Gradient magnitude: combine an x/y pair of edge kernels into edge strength")
        self.direction_check = QCheckBox("Direction as colour")
        self.direction_check.setToolTip(
            "With the gradient or Sobel pair: hue = the direction the image gets brighter in, "
            "brightness = the magnitude (book Fig. 3.3)"
        )
        self.direction_check.toggled.connect(lambda on: self.state.update(direction=on))
        form.addRow("", self.direction_check)
        form.addRow("Border", self.border_combo)
        side.addWidget(obox)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        views = QSplitter(Qt.Orientation.Horizontal)
        self.original_view = ImageView("Original")
        self.result_view = ImageView("Result")
        link_views(self.original_view, self.result_view)
        # the original's bar stays hidden but keeps the result's bar's room: the two images
        # side by side are boxes of one size, showing the same pixels
        self.original_view.color_bar.share_width(self.result_view.color_bar)
        views.addWidget(self.original_view)
        views.addWidget(self.result_view)
        rl.addWidget(views, 1)
        self.info_label = QLabel()  # what the chosen preset does, in the book's words
        self.info_label.setWordWrap(True)
        rl.addWidget(self.info_label)
        self.direction_row = QWidget()  # the colour wheel and what it means, in direction mode
        dr = QHBoxLayout(self.direction_row)
        dr.setContentsMargins(0, 0, 0, 0)
        self.wheel_label = QLabel()
        wheel = direction_wheel(84)
        self._wheel_image = QImage(wheel.data, wheel.shape[1], wheel.shape[0], wheel.strides[0], QImage.Format.Format_RGB888).copy()
        self.wheel_label.setPixmap(QPixmap.fromImage(self._wheel_image))
        self.wheel_label.setToolTip("A gradient pointing from the centre towards a point has that point's colour")
        self.direction_label = QLabel(DIRECTION_TEXT)
        self.direction_label.setWordWrap(True)
        self.direction_label.setTextFormat(Qt.TextFormat.RichText)
        dr.addWidget(self.wheel_label)
        dr.addWidget(self.direction_label, 1)
        self.direction_row.setVisible(False)
        rl.addWidget(self.direction_row)
        self.result_view.pixel_hovered.connect(self._on_result_hovered)
        self.original_view.pixel_hovered.connect(self._on_result_hovered)

        self._window_box = QGraphicsRectItem()
        pen = QPen(QColor("#00e676"), 0)
        pen.setCosmetic(True)
        pen.setWidth(2)
        self._window_box.setPen(pen)
        self._window_box.setZValue(10)
        self._window_box.setVisible(False)
        self.original_view.add_item(self._window_box)
        self._pixel_box = QGraphicsRectItem()
        self._pixel_box.setPen(pen)
        self._pixel_box.setZValue(10)
        self._pixel_box.setVisible(False)
        self.result_view.add_item(self._pixel_box)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        alert(self.message_label)
        self.message_label.setVisible(False)
        rl.addWidget(self.message_label)
        self.arithmetic_label = QLabel()
        self.arithmetic_label.setTextFormat(Qt.TextFormat.RichText)
        self.arithmetic_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.arithmetic_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.arithmetic_label.setMinimumHeight(120)
        # a wide table must not widen the window: it is clipped instead (the sum is also in the first line)
        self.arithmetic_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        panel(self.arithmetic_label)
        rl.addWidget(self.arithmetic_label)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 1000])
        fit_combos(self.controls_scroll.widget())
        self.arithmetic_label.setText(ARITHMETIC_HINT)

    # -- state → widgets ---------------------------------------------------------------------
    def _on_state_changed(self, what: str) -> None:
        if what == "kernel":
            self.error_label.setVisible(False)
        self._sync_controls()
        self._live.schedule()

    def _sync_controls(self) -> None:
        """Make every control show the state (without triggering its handlers)."""
        s = self.state
        combos = {"color": self.color_combo, "display": self.display_combo, "gradient": self.gradient_combo, "border": self.border_combo}
        with signals_blocked(self.preset_combo, self.rows_spin, self.cols_spin, self.haar_spin, self.convolve_check, self.direction_check, *combos.values()):
            idx = self.preset_combo.findData(s.kernel_name if is_preset(s.kernel_name) else "custom")
            self.preset_combo.setCurrentIndex(max(0, idx))
            # a spin box repaints on every setValue, even of its own value: on each kernel edit
            # that repainted the size row and the group box under it
            for spin, value in ((self.rows_spin, s.kernel.shape[0]), (self.cols_spin, s.kernel.shape[1]), (self.haar_spin, s.haar_size)):
                if spin.value() != value:
                    spin.setValue(value)
            self.editor.set_kernel(s.kernel)
            self.convolve_check.setChecked(s.convolve)
            self.direction_check.setChecked(s.direction)
            for attr, combo in combos.items():
                combo.setCurrentIndex(combo.findData(getattr(s, attr)))
            self.display_combo.setEnabled(s.display_enabled)
            signed = self.display_combo.findData("signed")
            if self.display_combo.itemText(signed) != s.display_text("signed"):
                self.display_combo.setItemText(signed, s.display_text("signed"))
        self.haar_row.setVisible(s.is_haar)
        self.direction_check.setEnabled(s.direction_enabled)
        self.direction_row.setVisible(s.shows_direction)
        self.sum_label.setText(s.sum_html())
        self.info_label.setText(s.info_text())

    # -- computing ---------------------------------------------------------------------------
    def schedule_update(self) -> None:
        """Recompute at the next turn of the event loop; repeated calls before then merge."""
        self._live.schedule()

    def is_busy(self) -> bool:
        return self._live.is_busy()

    def flush(self) -> None:
        """Show the result for the current state now, computing it here if it is pending or
        still being computed in the background (tests and screenshots use it), and the
        arithmetic panel with it."""
        self._live.flush()
        if self._readout_timer.isActive():
            self._readout_timer.stop()
            self._show_arithmetic()

    def _refresh(self) -> None:
        if not self.state.same_kernel(self.ctx.kernel):
            self.ctx.set_kernel(self.state.kernel, self.state.kernel_name)
        image = self.ctx.image
        key = (self.ctx.image_generation, self.state.color)
        if key != self._source_key:
            self._source = self.state.source(image)
            self._source_key = key
            if self.state.color == "rgb":
                self.original_view.set_image(image)
            else:
                self.original_view.set_image(self._source, levels=(0.0, 255.0), show_bar=False)
        self.original_view.set_title(self.state.original_title(image.shape))
        if self._inspected is not None:
            self._readout_timer.start()
        # integer pixels cannot be NaN: the filter's finiteness scan is skipped for them
        check = image.dtype.kind == "f"
        # a copy of the state: the user keeps painting while a large one is computed; the part
        # of the result the view shows is averaged down with it (off the GUI thread for a large one)
        state, source = self.state.snapshot(), self._source
        geometry = self.result_view.render_geometry(source.shape)
        self._live.request(lambda: state.compute(source, check, geometry), self._show_result, state.work(source))

    def _show_result(self, r: KernelResult) -> None:
        self._result = r
        self.message_label.setVisible(bool(r.message))
        self.message_label.setText(r.message)
        if r.shown is None:
            self.result_view.set_image(None)
            self.result_view.set_title("Result — nothing to show")
        else:
            self.result_view.set_image(
                r.shown,
                signed=r.signed,
                levels=r.levels,
                cmap=heat_colormap() if r.heat else None,
                bar_label="",
                show_bar=False if r.direction else None,
                rendered=r.rendered,
                prepared=r.display,
            )
            self.result_view.set_title(self.state.result_title())
        self.result_view.paint_with_window()  # one repaint for the edit and its result

    # -- handlers ------------------------------------------------------------------------------
    def set_kernel(self, kernel: np.ndarray, name: str = "custom") -> None:
        """Put a kernel in the editor (e.g. from a preset) and redraw."""
        self.state.set_kernel(kernel, name)

    @Slot(object)
    def _on_kernel_edited(self, kernel: np.ndarray) -> None:
        self.state.set_kernel(kernel, "custom")

    @Slot(str)
    def _on_invalid_entered(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(True)
        self.ctx.error_posted.emit(message)

    @Slot(int)
    def _on_preset_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if is_preset(name):
            self.state.choose_preset(name)

    @Slot(int)
    def _on_size_changed(self, _value: int) -> None:
        self.state.resize(self.rows_spin.value(), self.cols_spin.value())

    @Slot()
    def _on_normalize_clicked(self) -> None:
        self.ctx.post(self.state.normalize())

    @Slot()
    def _on_ctx_kernel_changed(self) -> None:
        k = self.ctx.kernel
        if not self.state.same_kernel(k) and self.state.accepts(k):
            self.state.set_kernel(k, self.ctx.kernel_name)

    @Slot(bool)
    def _on_convolve_toggled(self, on: bool) -> None:
        self.state.update(convolve=on)

    def _on_choice(self, attr: str, combo: QComboBox) -> None:
        self.state.update(**{attr: combo.currentData()})

    @Slot()
    def _on_image_changed(self) -> None:
        self._hover = (-1, -1)
        self._live.schedule()  # the panel follows at the refresh (the pixel kept if it fits)

    # -- the arithmetic under the mouse --------------------------------------------------------
    @Slot(int, int)
    def _on_result_hovered(self, row: int, col: int) -> None:
        self._hover = (row, col)
        if row < 0:
            self._window_box.setVisible(False)
            self._pixel_box.setVisible(False)
            self.editor.set_highlight(None)
            return  # the panel keeps the last pixel's arithmetic (and keeps it up to date)
        self._inspected = (row, col)
        self._readout_timer.stop()  # written now, for the state as it is
        self._show_arithmetic()

    def arithmetic(self, row: int, col: int) -> dict:
        """The numbers behind result pixel (row, col): window, weights, products, sums, value.

        For colour, one entry per channel. Public so tests can check the panel's numbers.
        """
        if self._source is None or self._result.raw is None:
            return {}
        return self.state.arithmetic(self._source, self._result.raw, row, col)

    def _show_arithmetic(self) -> None:
        """Write out the arithmetic of the inspected pixel for the state and image as they are
        now (the hint when there is none), and box its window while the mouse is on it."""
        source, pixel = self._source, self._inspected
        if source is None or pixel is None or not self.state.inspectable(source, *pixel):
            self._inspected = None
            self._window_box.setVisible(False)
            self._pixel_box.setVisible(False)
            self.arithmetic_label.setText(ARITHMETIC_HINT)
            return
        row, col = pixel
        k, (ar, ac) = self.state.effective_kernel()
        kh, kw = k.shape
        hovered = self._hover == pixel
        self._window_box.setRect(QRectF(col - ac, row - ar, kw, kh))
        self._window_box.setVisible(hovered)
        self._pixel_box.setRect(QRectF(col, row, 1, 1))
        self._pixel_box.setVisible(hovered)
        self.arithmetic_label.setText(self.state.arithmetic_html(source, None, row, col))

    # -- pane hooks --------------------------------------------------------------------------
    def prepare_screenshot(self) -> None:
        self.flush()
        h, w = self._source.shape[:2] if self._source is not None else (0, 0)
        if h and w and self._result.raw is not None:
            # show the arithmetic at the strongest response so the panel has something to say
            raw = np.abs(self._result.raw if self._result.raw.ndim == 2 else self._result.raw.sum(axis=2))
            r, c = np.unravel_index(int(np.argmax(raw)), raw.shape)
            self._on_result_hovered(int(r), int(c))

    def set_presentation_mode(self, on: bool) -> None:
        self._set_controls_width(on)
        for view in (self.original_view, self.result_view):
            view.set_title_size(16 if on else 11)
        self._hint_label.setVisible(not on)  # the tooltip still says it; the grid needs the room

    def shutdown(self) -> None:
        self._readout_timer.stop()
        self._live.shutdown()
