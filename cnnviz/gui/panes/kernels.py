"""The kernel playground: paint a kernel, see what it does to the image at once.

The pane's truth is one :class:`KernelPlaygroundState` (plain Python, no Qt): the kernel, whether
it is flipped (true convolution), gray or per-channel colour, the display mode for signed output,
the gradient-magnitude pair and the border rule. :func:`KernelPlaygroundState.compute` turns the
state and an image into what is shown, with ``cnnviz.core.kernels.apply_kernel`` doing the
arithmetic. Widgets write into the state and ask for a redraw; the redraw is coalesced to one per
event-loop turn with a zero-delay single-shot timer, so a fast paint drag never queues work.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Slot
from PySide6.QtGui import QColor, QPalette, QPen
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

from cnnviz.core import images
from cnnviz.core.kernels import (
    PRESET_INFO,
    PRESETS,
    apply_kernel,
    gradient_magnitude,
    kernel_sum_effect,
    preset,
    validate_kernel,
)
from cnnviz.gui.compute import LatestWinsRunner
from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import Pane, alert, choice_combo, fit_combos, panel
from cnnviz.gui.widgets import ImageView, KernelEditorWidget, link_views, resize_kernel
from cnnviz.gui.widgets.image_view import heat_colormap, max_abs, symmetric_levels, to_uint8
from cnnviz.gui.widgets.kernel_editor import format_cell_value

DISPLAY_MODES = {
    "signed": "Signed (blue − · white 0 · red +)",
    "abs": "Absolute value |x|",
    "clipped": "Clipped to 0–255",
}
COLOR_MODES = {"gray": "Gray", "rgb": "RGB, each channel"}
GRADIENT_PAIRS = {
    "off": "Off (the kernel's own result)",
    "sobel": "√(gx² + gy²) of Sobel x, y",
    "gradient": "√(gx² + gy²) of gradient x, y",
    "kernel": "√(gx² + gy²) of kernel, transpose",
}
PAIR_KERNELS = {"sobel": ("sobel_x", "sobel_y"), "gradient": ("gradient_x", "gradient_y")}
BORDER_NAMES = {"reflect": "Mirror (reflect)", "replicate": "Repeat edge", "zero": "Zeros", "symmetric": "Mirror with edge"}
_NP_PAD = {"reflect": "reflect", "symmetric": "symmetric", "replicate": "edge", "zero": "constant"}
#: In RGB each channel is drawn in its own colour, dark = most negative, mid-gray = 0.
SIGNED_RGB_TEXT = "Signed (per channel, mid-gray 0)"
MAX_ARITHMETIC_SIDE = 7
#: Above this many multiply-adds (pixels × channels × kernel cells) an update is computed off the
#: GUI thread; below it (a 1080p gray image with a 7×7 kernel, RGB with 3×3) it is done at once.
SYNC_WORK_LIMIT = 1.5e8


def preset_title(name: str) -> str:
    """'sobel_x' → 'Sobel x', for menus."""
    return name.replace("_", " ").capitalize().replace("Laplacian 8", "Laplacian (8 neighbours)")


@dataclass
class KernelResult:
    """What the result view shows, and the numbers behind it."""

    shown: np.ndarray | None  # float32 array handed to the view
    signed: bool = False
    levels: tuple[float, float] | None = None
    heat: bool = False  # magnitude: dark-to-bright heat map
    message: str = ""  # why nothing is shown, or a note
    raw: np.ndarray | None = None  # signed filter output (or the magnitude)
    gx: np.ndarray | None = None
    gy: np.ndarray | None = None
    rendered: np.ndarray | None = None  # colour results: ``shown`` mapped to bytes for drawing


@dataclass
class KernelPlaygroundState:
    """Everything the kernel playground shows is a function of this and the image."""

    kernel: np.ndarray = field(default_factory=lambda: preset("sobel_x"))
    kernel_name: str = "sobel_x"
    convolve: bool = False
    color: str = "gray"
    display: str = "signed"
    gradient: str = "off"
    border: str = "reflect"

    @property
    def mode(self) -> str:
        return "convolve" if self.convolve else "correlate"

    def source(self, image: np.ndarray) -> np.ndarray:
        """The image the kernel slides over: gray (H, W) or RGB (H, W, 3), float32 0..255."""
        img = images.to_gray(image) if self.color == "gray" else images.to_rgb(image)
        return np.asarray(img, dtype=np.float32)

    def pair(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The (x, y) kernels whose gradient magnitude is shown, or None when that is off."""
        if self.gradient == "off":
            return None
        if self.gradient == "kernel":
            return self.kernel, np.ascontiguousarray(self.kernel.T)
        kx, ky = PAIR_KERNELS[self.gradient]
        return PRESETS[kx], PRESETS[ky]

    def work(self, source: np.ndarray) -> float:
        """Multiply-adds one update costs: decides whether it runs off the GUI thread."""
        pair = self.pair()
        cells = sum(k.size for k in pair) if pair is not None else self.kernel.size
        return float(source.size) * cells

    def compute(self, source: np.ndarray, check_finite: bool = True) -> KernelResult:
        """Filter ``source`` (from :meth:`source`) and prepare it for display.

        Colour results also come mapped to bytes (``rendered``) in one pass, so drawing them
        costs no float rescaling. ``check_finite=False`` skips the NaN scan for images that
        cannot hold NaN (made from integer pixels)."""
        try:
            kernel = validate_kernel(self.kernel)
        except ValueError as exc:
            return KernelResult(None, message=str(exc))
        h, w = source.shape[:2]
        pair = self.pair()
        kernels = [kernel] if pair is None else list(pair)
        for k in kernels:
            if k.shape[0] > h or k.shape[1] > w:
                return KernelResult(
                    None,
                    message=(
                        f"The kernel ({k.shape[0]}×{k.shape[1]}) is larger than the image "
                        f"({h}×{w}): almost every window would hang over the border, so the result "
                        "would show the border rule, not the image. Make the kernel smaller or open "
                        "a bigger image."
                    ),
                )
        colour = source.ndim == 3
        if pair is not None:
            gx = apply_kernel(source, pair[0], mode=self.mode, border=self.border, check_finite=check_finite)
            gy = apply_kernel(source, pair[1], mode=self.mode, border=self.border, check_finite=False)
            mag = gradient_magnitude(gx, gy)
            top = max_abs(mag) or 1.0
            rendered = to_uint8(mag, (0.0, top), at_least_low=True) if colour else None
            return KernelResult(mag, levels=(0.0, top), heat=not colour, raw=mag, gx=gx, gy=gy, rendered=rendered)
        raw = apply_kernel(source, kernel, mode=self.mode, border=self.border, check_finite=check_finite)
        if self.display == "signed":
            levels = symmetric_levels(raw)
            rendered = to_uint8(raw, levels, at_least_low=True) if colour else None
            return KernelResult(raw, signed=True, levels=levels, raw=raw, rendered=rendered)
        if self.display == "abs":
            top = max_abs(raw) or 1.0
            rendered = to_uint8(raw, (0.0, top), at_least_low=True) if colour else None  # |x| by OpenCV
            return KernelResult(np.abs(raw), levels=(0.0, top), raw=raw, rendered=rendered)
        shown = np.clip(raw, 0.0, 255.0)
        rendered = cv2.convertScaleAbs(shown) if colour else None
        return KernelResult(shown, levels=(0.0, 255.0), raw=raw, rendered=rendered)

    def effective_kernel(self, kernel: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, int]]:
        """The weights as they lie over the image and the window's anchor (row, col) in them.

        Correlation uses the kernel as drawn with its centre at (kh // 2, kw // 2); convolution
        flips it both ways first (the mirrored anchor keeps even sizes centred the same way).
        """
        k = self.kernel if kernel is None else kernel
        kh, kw = k.shape
        if self.convolve:
            return k[::-1, ::-1], (kh - 1 - kh // 2, kw - 1 - kw // 2)
        return k, (kh // 2, kw // 2)

    def window(self, source: np.ndarray, row: int, col: int, kernel: np.ndarray | None = None) -> np.ndarray:
        """The pixels under the kernel when its anchor sits on (row, col), borders filled the way
        the filter fills them. Shape (kh, kw) or (kh, kw, C)."""
        k, (ar, ac) = self.effective_kernel(kernel)
        kh, kw = k.shape
        r0, c0 = row - ar, col - ac
        h, w = source.shape[:2]
        top, left = max(0, -r0), max(0, -c0)
        bottom, right = max(0, r0 + kh - h), max(0, c0 + kw - w)
        crop = source[max(0, r0) : min(h, r0 + kh), max(0, c0) : min(w, c0 + kw)]
        if top or left or bottom or right:
            pads = [(top, bottom), (left, right)] + ([(0, 0)] if source.ndim == 3 else [])
            if crop.size == 0 or _NP_PAD[self.border] == "constant":
                return np.pad(crop, pads, mode="constant")
            # mirror/edge padding needs the image beyond the crop: pad a neighbourhood instead
            return _padded_window(source, r0, c0, kh, kw, _NP_PAD[self.border])
        return crop


def _padded_window(source: np.ndarray, r0: int, c0: int, kh: int, kw: int, mode: str) -> np.ndarray:
    h, w = source.shape[:2]
    pr, pc = kh + 1, kw + 1
    rs, re = max(0, r0 - pr), min(h, r0 + kh + pr)
    cs, ce = max(0, c0 - pc), min(w, c0 + kw + pc)
    # the part touching a border must include that border; take the whole side when it does
    rs, re = (0 if r0 < 0 else rs), (h if r0 + kh > h else re)
    cs, ce = (0 if c0 < 0 else cs), (w if c0 + kw > w else ce)
    local = source[rs:re, cs:ce]
    pads = [(pr, pr), (pc, pc)] + ([(0, 0)] if source.ndim == 3 else [])
    padded = np.pad(local, pads, mode=mode)
    y, x = r0 - rs + pr, c0 - cs + pc
    return padded[y : y + kh, x : x + kw]


def normalized(kernel: np.ndarray) -> tuple[np.ndarray, str]:
    """Scale a kernel so it sums to 1, or (if it sums to 0) so its positive weights sum to 1."""
    k = np.asarray(kernel, dtype=np.float32)
    total = float(k.sum(dtype=np.float64))
    if abs(total) > 1e-6:
        return (k / total).astype(np.float32), "Divided by its sum: the kernel now sums to 1 (brightness kept)."
    positive = float(k[k > 0].sum(dtype=np.float64))
    if positive > 0:
        return (
            (k / positive).astype(np.float32),
            "It sums to 0 (an edge detector), so it was scaled to make its positive weights sum to 1.",
        )
    return k, "An all-zero kernel cannot be normalized."


class KernelsPane(Pane):
    """Paint a kernel and see the filtered image beside the original, with the arithmetic."""

    name = "kernels"
    title = "Kernels"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        k = ctx.kernel if ctx.kernel is not None else preset("sobel_x")
        self.state = KernelPlaygroundState(kernel=np.array(k, np.float32), kernel_name=ctx.kernel_name)
        self._source: np.ndarray | None = None
        self._source_key: tuple | None = None
        self._result = KernelResult(None)
        self._hover: tuple[int, int] = (-1, -1)
        self._last_shape: tuple[int, int] | None = None
        self._building = True
        self._chosen_preset = ctx.kernel_name if ctx.kernel_name in PRESETS else "identity"

        self._update_timer = QTimer(self)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(0)
        self._update_timer.timeout.connect(self._on_update_due)
        self._runner = LatestWinsRunner(self)

        self._build_ui()
        self._building = False
        ctx.image_changed.connect(self._on_image_changed)
        ctx.kernel_changed.connect(self._on_ctx_kernel_changed)
        self._sync_controls()
        self.schedule_update()

    # -- UI ----------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        splitter, side = self._build_controls_column()

        kbox = QGroupBox("Kernel")
        kl = QVBoxLayout(kbox)
        self.preset_combo = QComboBox()
        self.preset_combo.addItem("Custom (painted)", "custom")
        for name in PRESETS:
            self.preset_combo.addItem(preset_title(name), name)
        self.preset_combo.setToolTip("Load one of the book's kernels")
        self.preset_combo.currentIndexChanged.connect(self._on_preset_activated)
        kl.addWidget(self.preset_combo)

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
        self.brush_spin.valueChanged.connect(self._on_brush_changed)
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

        hint = self._hint_label = QLabel("Drag to paint · right-drag erases · double-click to type")
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        hint.setWordWrap(True)
        kl.addWidget(hint)

        self.sum_label = QLabel()
        self.sum_label.setWordWrap(True)
        self.sum_label.setTextFormat(Qt.TextFormat.RichText)
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
        self.transpose_button.clicked.connect(self._on_transpose_clicked)
        self.rotate_button.clicked.connect(self._on_rotate_clicked)
        self.reset_button.clicked.connect(self._on_reset_clicked)
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
        self.color_combo = choice_combo(COLOR_MODES, self._on_color_changed)
        self.display_combo = choice_combo(DISPLAY_MODES, self._on_display_changed)
        self.gradient_combo = choice_combo(GRADIENT_PAIRS, self._on_gradient_changed)
        self.border_combo = choice_combo(BORDER_NAMES, self._on_border_changed)
        form.addRow("Channels", self.color_combo)
        form.addRow("Show", self.display_combo)
        form.addRow("Magnitude", self.gradient_combo)
        self.gradient_combo.setToolTip("Gradient magnitude: combine an x/y pair of edge kernels into edge strength")
        form.addRow("Border", self.border_combo)
        side.addWidget(obox)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        views = QSplitter(Qt.Orientation.Horizontal)
        self.original_view = ImageView("Original")
        self.result_view = ImageView("Result")
        link_views(self.original_view, self.result_view)
        views.addWidget(self.original_view)
        views.addWidget(self.result_view)
        rl.addWidget(views, 1)
        self.info_label = QLabel()  # what the chosen preset does, in the book's words
        self.info_label.setWordWrap(True)
        rl.addWidget(self.info_label)
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
        self._show_arithmetic_hint()

    # -- state → widgets ---------------------------------------------------------------------
    def _sync_controls(self) -> None:
        """Make every control show the state (without triggering its handlers)."""
        s = self.state
        self._building = True
        try:
            idx = self.preset_combo.findData(s.kernel_name if s.kernel_name in PRESETS else "custom")
            self.preset_combo.setCurrentIndex(max(0, idx))
            self.rows_spin.setValue(s.kernel.shape[0])
            self.cols_spin.setValue(s.kernel.shape[1])
            self.editor.set_kernel(s.kernel)
            self.convolve_check.setChecked(s.convolve)
            for combo, value in (
                (self.color_combo, s.color),
                (self.display_combo, s.display),
                (self.gradient_combo, s.gradient),
                (self.border_combo, s.border),
            ):
                combo.setCurrentIndex(combo.findData(value))
            self.display_combo.setEnabled(s.gradient == "off")
            self._label_display_modes()
        finally:
            self._building = False
        self._update_sum_label()

    def _label_display_modes(self) -> None:
        """Say what "signed" draws: a blue–white–red map for gray, mid-gray = 0 per channel for RGB."""
        i = self.display_combo.findData("signed")
        self.display_combo.setItemText(i, SIGNED_RGB_TEXT if self.state.color == "rgb" else DISPLAY_MODES["signed"])

    def _update_sum_label(self) -> None:
        k = self.state.kernel
        total = float(k.sum(dtype=np.float64))
        effect = kernel_sum_effect(k)
        colour = "#188038" if abs(total) < 1e-6 else ("#1a73e8" if abs(total - 1) < 1e-6 else "#e37400")
        self.sum_label.setText(
            f"<b>Sum = {format_cell_value(total) if abs(total) < 1e4 else f'{total:.3g}'}</b> — "
            f"<span style='color:{colour}'>{html.escape(effect.split(':', 1)[-1].strip())}</span>"
        )
        name = self.state.kernel_name
        self.info_label.setText(PRESET_INFO.get(name, "A kernel of your own."))

    # -- scheduling --------------------------------------------------------------------------
    def schedule_update(self) -> None:
        """Recompute at the next turn of the event loop; repeated calls before then merge."""
        if not self._update_timer.isActive():
            self._update_timer.start()

    def is_busy(self) -> bool:
        return self._update_timer.isActive() or self._runner.is_busy()

    def flush(self) -> None:
        """Show the result for the current state now, computing it here if it is pending or
        still being computed in the background (tests and screenshots use it)."""
        if self._update_timer.isActive() or self._runner.is_busy():
            self._update_timer.stop()
            self._on_update_due(background=False)

    @Slot()
    def _on_update_due(self, background: bool = True) -> None:
        self._update_sum_label()
        if not (np.array_equal(self.ctx.kernel, self.state.kernel) and self.ctx.kernel.shape == self.state.kernel.shape):
            self.ctx.set_kernel(self.state.kernel, self.state.kernel_name)
        image = self.ctx.image
        key = (id(image), image.shape, self.state.color)
        if key != self._source_key:
            self._source = self.state.source(image)
            self._source_key = key
            if self.state.color == "rgb":
                self.original_view.set_image(image)
            else:
                self.original_view.set_image(self._source, levels=(0.0, 255.0), show_bar=False)
        self.original_view.set_title(
            f"Original ({'gray' if self.state.color == 'gray' else 'RGB'}, "
            f"{image.shape[1]}×{image.shape[0]})"
        )
        # integer pixels cannot be NaN: the filter's finiteness scan is skipped for them
        check = image.dtype.kind == "f"
        if background and self.state.work(self._source) > SYNC_WORK_LIMIT:
            # a copy of the state: the user keeps painting while this one is computed
            state = dataclasses.replace(self.state, kernel=np.array(self.state.kernel, copy=True))
            source = self._source
            self._runner.submit(lambda: state.compute(source, check), self._show_result)
            return
        self._runner.cancel()  # a result still computing for an older state must not land
        self._show_result(self.state.compute(self._source, check))

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
                rendered=r.rendered,
            )
            self.result_view.set_title(self._result_title())
        if self._hover != (-1, -1):
            self._show_arithmetic(*self._hover)

    def _result_title(self) -> str:
        s = self.state
        name = preset_title(s.kernel_name) if s.kernel_name in PRESETS else "Custom kernel"
        op = "convolution (flipped)" if s.convolve else "correlation"
        if s.gradient != "off":
            pair = {"sobel": "Sobel", "gradient": "gradient", "kernel": "kernel & transpose"}[s.gradient]
            return f"Gradient magnitude √(gx² + gy²), {pair} · {op}"
        shown = {
            "signed": "signed, 0 = white" if s.color == "gray" else "signed, mid-gray = 0",
            "abs": "absolute value",
            "clipped": "clipped to 0–255",
        }[s.display]
        return f"{name} · {op} · {shown}"

    # -- handlers: kernel --------------------------------------------------------------------
    def set_kernel(self, kernel: np.ndarray, name: str = "custom") -> None:
        """Put a kernel in the editor (e.g. from a preset) and redraw."""
        self.state.kernel = np.array(kernel, dtype=np.float32)
        self.state.kernel_name = name
        self.error_label.setVisible(False)
        self._sync_controls()
        self.schedule_update()

    @Slot(object)
    def _on_kernel_edited(self, kernel: np.ndarray) -> None:
        self.state.kernel = kernel
        self.state.kernel_name = "custom"
        self.error_label.setVisible(False)
        if self.preset_combo.currentData() != "custom":
            self._building = True
            self.preset_combo.setCurrentIndex(0)
            self._building = False
        self.schedule_update()

    @Slot(str)
    def _on_invalid_entered(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(True)
        self.ctx.error_posted.emit(message)

    @Slot(int)
    def _on_preset_activated(self, index: int) -> None:
        if self._building:
            return
        name = self.preset_combo.itemData(index)
        if name in PRESETS:
            self._chosen_preset = name
            self.set_kernel(preset(name), name)

    @Slot(int)
    def _on_size_changed(self, _value: int) -> None:
        if self._building:
            return
        rows, cols = self.rows_spin.value(), self.cols_spin.value()
        if (rows, cols) != self.state.kernel.shape:
            self.set_kernel(resize_kernel(self.state.kernel, rows, cols), "custom")

    @Slot(float)
    def _on_brush_changed(self, value: float) -> None:
        self.editor.set_brush_value(value)

    @Slot()
    def _on_normalize_clicked(self) -> None:
        k, note = normalized(self.state.kernel)
        self.set_kernel(k, "custom")
        self.ctx.post(note)

    @Slot()
    def _on_transpose_clicked(self) -> None:
        self.set_kernel(np.ascontiguousarray(self.state.kernel.T), "custom")

    @Slot()
    def _on_rotate_clicked(self) -> None:
        self.set_kernel(np.ascontiguousarray(np.rot90(self.state.kernel, -1)), "custom")

    @Slot()
    def _on_reset_clicked(self) -> None:
        name = self._last_preset()
        self.set_kernel(preset(name), name)

    def _last_preset(self) -> str:
        return self._chosen_preset

    @Slot()
    def _on_ctx_kernel_changed(self) -> None:
        k = self.ctx.kernel
        if k.shape == self.state.kernel.shape and np.array_equal(k, self.state.kernel):
            return
        if k.ndim == 2 and 1 <= k.shape[0] <= 15 and 1 <= k.shape[1] <= 15:
            self.set_kernel(k, self.ctx.kernel_name)

    # -- handlers: output --------------------------------------------------------------------
    @Slot(bool)
    def _on_convolve_toggled(self, on: bool) -> None:
        if not self._building:
            self.state.convolve = on
            self.schedule_update()

    def _combo_changed(self, attr: str, combo: QComboBox) -> None:
        if self._building:
            return
        setattr(self.state, attr, combo.currentData())
        self.display_combo.setEnabled(self.state.gradient == "off")
        self.schedule_update()

    @Slot(int)
    def _on_color_changed(self, _i: int) -> None:
        self._combo_changed("color", self.color_combo)
        self._label_display_modes()

    @Slot(int)
    def _on_display_changed(self, _i: int) -> None:
        self._combo_changed("display", self.display_combo)

    @Slot(int)
    def _on_gradient_changed(self, _i: int) -> None:
        self._combo_changed("gradient", self.gradient_combo)

    @Slot(int)
    def _on_border_changed(self, _i: int) -> None:
        self._combo_changed("border", self.border_combo)

    @Slot()
    def _on_image_changed(self) -> None:
        self._hover = (-1, -1)
        self._window_box.setVisible(False)
        self._pixel_box.setVisible(False)
        self._show_arithmetic_hint()
        self.schedule_update()

    # -- the arithmetic under the mouse --------------------------------------------------------
    @Slot(int, int)
    def _on_result_hovered(self, row: int, col: int) -> None:
        self._hover = (row, col)
        if row < 0:
            self._window_box.setVisible(False)
            self._pixel_box.setVisible(False)
            self.editor.set_highlight(None)
            return
        self._show_arithmetic(row, col)

    def _show_arithmetic_hint(self) -> None:
        self.arithmetic_label.setText(
            "<span style='color:gray'>Hover over the result to see the window under the kernel, "
            "the products and their sum — the book's arithmetic, pixel by pixel.</span>"
        )

    def arithmetic(self, row: int, col: int) -> dict:
        """The numbers behind result pixel (row, col): window, weights, products, sums, value.

        For colour, one entry per channel. Public so tests can check the panel's numbers.
        """
        if self._source is None or self._result.raw is None:
            return {}
        s = self.state
        if s.gradient != "off":
            kx, ky = s.pair()
            wx, wy = self.state.window(self._source, row, col, kx), self.state.window(self._source, row, col, ky)
            ex, _ = s.effective_kernel(kx)
            ey, _ = s.effective_kernel(ky)
            sx = np.einsum("ij,ij...->...", ex.astype(np.float64), wx.astype(np.float64))
            sy = np.einsum("ij,ij...->...", ey.astype(np.float64), wy.astype(np.float64))
            return {"gx": sx, "gy": sy, "sum": np.hypot(sx, sy), "value": self._result.raw[row, col]}
        k, _ = s.effective_kernel()
        win = s.window(self._source, row, col)
        k64 = k.astype(np.float64)
        products = win.astype(np.float64) * (k64[:, :, None] if win.ndim == 3 else k64)
        return {
            "window": win,
            "weights": k,
            "products": products,
            "sum": products.sum(axis=(0, 1)),
            "value": self._result.raw[row, col],
        }

    def _show_arithmetic(self, row: int, col: int) -> None:
        s = self.state
        h, w = self._source.shape[:2] if self._source is not None else (0, 0)
        if not (0 <= row < h and 0 <= col < w) or self._result.raw is None or self._result.raw.shape[:2] != (h, w):
            return  # (or the result for a new image is still being computed)
        k, (ar, ac) = s.effective_kernel()
        kh, kw = k.shape
        self._window_box.setRect(QRectF(col - ac, row - ar, kw, kh))
        self._window_box.setVisible(True)
        self._pixel_box.setRect(QRectF(col, row, 1, 1))
        self._pixel_box.setVisible(True)
        data = self.arithmetic(row, col)
        head = f"<b>Pixel row {row}, column {col}</b>"
        if "gx" in data:
            parts = []
            names = ["R", "G", "B"]
            gx, gy, mag = np.atleast_1d(data["gx"]), np.atleast_1d(data["gy"]), np.atleast_1d(data["sum"])
            for i in range(gx.size):
                label = f"{names[i]}: " if gx.size > 1 else ""
                parts.append(
                    f"{label}gx = {gx[i]:.1f}, gy = {gy[i]:.1f}, √(gx² + gy²) = <b>{mag[i]:.2f}</b>"
                )
            self.arithmetic_label.setText(head + "<br>" + "<br>".join(parts))
            return
        weights = data["weights"]
        window, products, total = data["window"], data["products"], np.atleast_1d(data["sum"])
        if window.ndim == 3:
            sums = ", ".join(f"{n} = <b>{v:.2f}</b>" for n, v in zip("RGB", total))
            table = self._arithmetic_table(window[:, :, 0], weights, products[:, :, 0], "red channel")
            text = f"{head} — sums of products: {sums}<br>{table}"
        else:
            table = self._arithmetic_table(window, weights, products, "")
            text = f"{head} — sum of products = <b>{float(total[0]):.2f}</b><br>{table}"
        self.arithmetic_label.setText(text)

    def _arithmetic_table(self, window: np.ndarray, weights: np.ndarray, products: np.ndarray, note: str) -> str:
        kh, kw = weights.shape
        total = float(products.sum())
        flip = " (kernel flipped)" if self.state.convolve else ""
        if max(kh, kw) > MAX_ARITHMETIC_SIDE:
            return (
                f"Σ window × kernel{flip} = <b>{total:.2f}</b> "
                f"({kh}×{kw} products — too many to list; use a kernel of 7×7 or less to see them)"
            )

        def cells(arr: np.ndarray, fmt) -> str:
            rows = []
            for r in range(arr.shape[0]):
                tds = "".join(f"<td align='right'>&nbsp;{fmt(v)}&nbsp;</td>" for v in arr[r])
                rows.append(f"<tr>{tds}</tr>")
            return f"<table cellspacing='0' style='font-family:monospace'>{''.join(rows)}</table>"

        def num(v: float) -> str:
            return format_cell_value(float(v)) if abs(v) < 1e5 else f"{v:.3g}"

        window_html = cells(window, lambda v: f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}")
        weights_html = cells(weights, num)
        prod_html = cells(products, lambda v: f"{v:.1f}" if not float(v).is_integer() else f"{v:.0f}")
        label = f" ({note})" if note else ""
        return (
            "<table cellspacing='6'><tr>"
            f"<td valign='middle'>window{label}<br>{window_html}</td>"
            "<td valign='middle' style='font-size:large'>×</td>"
            f"<td valign='middle'>kernel{flip}<br>{weights_html}</td>"
            "<td valign='middle' style='font-size:large'>=</td>"
            f"<td valign='middle'>products<br>{prod_html}</td>"
            f"<td valign='middle'>&nbsp;sum&nbsp;=&nbsp;<b>{total:.2f}</b></td>"
            "</tr></table>"
        )

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
        self._update_timer.stop()
        self._runner.shutdown()


