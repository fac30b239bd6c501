"""How one unit of a real model was computed, drawn in the stepper's visual language.

:class:`ExplainView` shows an :class:`cnnviz.state.overview.ExplainState`: for a convolution, each
input channel's window (read from the previous layer's real activations, padding cells marked)
beside its kernel slice and their products, a page of channels at a time; then the sum, the bias,
the activation and the result. A Dense unit shows its largest contributions weight × input as
bars and the rest summed; pooling shows the window with the winner ringed (max) or its mean;
what cannot be shown says why. ←/→ walk to the neighbouring output cell; "Open in the stepper"
loads the window and kernel into the convolution stepper so the walk can go on there. The unit's
receptive field is drawn on the input image with its size written.

The explanation is computed in the engine by :func:`cnnviz.ml.explain.explain_job`, from the
pass the Activations pane already computed for this input (the model is not run again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.panes.base import BuiltWhenShown
from cnnviz.gui.panes.stepper.stage import WINDOW_COLOR, WINNER_COLOR
from cnnviz.gui.widgets.bar_chart import BarChartWidget
from cnnviz.gui.widgets.grid_view import Highlight, NumberGridView
from cnnviz.gui.widgets.image_view import ImageView
from cnnviz.state.overview import ExplainState
from cnnviz.state.stepper import LIMITS

EXPLAIN_TIMEOUT_S = 60.0
#: Input channels drawn at once (each a row of three grids with their numbers).
CHANNELS_SHOWN = 2
FIELD_PEN = pg.mkPen("#00e5ff", width=2)


def _op_label(text: str) -> QLabel:
    lab = QLabel(text)
    f = QFont(lab.font())
    f.setPointSizeF(max(12.0, f.pointSizeF() * 1.6))
    f.setBold(True)
    lab.setFont(f)
    lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return lab


def _pads_of(padding: np.ndarray | None) -> tuple[tuple[int, int], tuple[int, int]]:
    """The padded rows/columns at each side of a window, from its bool padding mask."""
    if padding is None:
        return ((0, 0), (0, 0))
    p = np.asarray(padding, bool)
    if p.ndim != 2 or not p.size:
        return ((0, 0), (0, 0))

    def run(lines) -> int:
        n = 0
        for line in lines:
            if not line.all():
                break
            n += 1
        return n

    h, w = p.shape
    top = run(p)
    if top == h:
        return ((h, 0), (0, 0))
    return ((top, run(p[::-1])), (run(p.T), run(p.T[::-1])))


class ExplainView(BuiltWhenShown, QWidget):
    """The explained unit (see the module docstring). Its grids and views are built when it is
    first shown (a unit is clicked) or asked for.

    ``submit(layer, index, on_done, on_error)`` asks the engine for an explanation;
    ``preview()`` returns the input image as the model sees it (for the receptive field);
    ``open_in_stepper(window, kernel, bias, activation, note)`` hands a window to the stepper.
    ``closed`` is emitted by the close button."""

    closed = Signal()

    def __init__(self, submit: Callable[..., None], preview: Callable[[], np.ndarray | None],
                 open_in_stepper: Callable[..., None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = ExplainState(channels_per_page=CHANNELS_SHOWN)
        self._submit = submit
        self._preview = preview
        self._open_in_stepper = open_in_stepper
        self.state.wanted.connect(self._on_wanted)
        self.state.changed.connect(self._draw)
        self._field_item: pg.QtWidgets.QGraphicsRectItem | None = None
        self._text_scale = 1.0

    def _built(self) -> None:
        if self._text_scale != 1.0:
            self.set_text_scale(self._text_scale)
        self._draw()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        v = QVBoxLayout(self)
        v.setContentsMargins(4, 2, 4, 2)
        top = QHBoxLayout()
        self.title_label = QLabel()
        f = QFont(self.title_label.font())
        f.setBold(True)
        self.title_label.setFont(f)
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title_label.setWordWrap(True)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.title_label, 1)
        self.left_button = QPushButton("←")
        self.right_button = QPushButton("→")
        for b, tip in ((self.left_button, "The previous output cell (←)"),
                       (self.right_button, "The next output cell along the row (→)")):
            b.setFixedWidth(34)
            b.setToolTip(tip)
            top.addWidget(b)
        self.left_button.clicked.connect(lambda: self.state.step(-1))
        self.right_button.clicked.connect(lambda: self.state.step(1))
        self.stepper_button = QPushButton("Open in the stepper")
        self.stepper_button.setToolTip("Load this window and kernel into the convolution stepper")
        self.stepper_button.clicked.connect(self._on_open_in_stepper)
        top.addWidget(self.stepper_button)
        self.close_button = QPushButton("×")
        self.close_button.setFixedWidth(28)
        self.close_button.setToolTip("Hide the explanation")
        self.close_button.clicked.connect(self.closed.emit)
        top.addWidget(self.close_button)
        v.addLayout(top)
        self.kind_label = QLabel()
        self.kind_label.setWordWrap(True)
        v.addWidget(self.kind_label)

        body = QHBoxLayout()
        self.stack = QStackedWidget()
        # -- the windows of a convolution or a pooling, a page of channels
        conv = QWidget()
        cv = QVBoxLayout(conv)
        cv.setContentsMargins(0, 0, 0, 0)
        pager = QHBoxLayout()
        self.channel_label = QLabel()
        self.channel_prev = QPushButton("◀")
        self.channel_next = QPushButton("▶")
        for b in (self.channel_prev, self.channel_next):
            b.setFixedWidth(30)
        self.channel_prev.setToolTip("Previous input channels")
        self.channel_next.setToolTip("Next input channels")
        self.channel_prev.clicked.connect(lambda: self.state.set_channel_page(self.state.channel_page - 1))
        self.channel_next.clicked.connect(lambda: self.state.set_channel_page(self.state.channel_page + 1))
        pager.addWidget(self.channel_label, 1)
        pager.addWidget(self.channel_prev)
        pager.addWidget(self.channel_next)
        cv.addLayout(pager)
        grid = QGridLayout()
        grid.setSpacing(2)
        # one row per channel: "window × kernel = products", large enough to read the numbers
        per_row = 1
        heads = ("window", "", "kernel slice", "", "products")
        for b in range(per_row):
            for col, text in enumerate(heads):
                if text:
                    grid.addWidget(QLabel(text), 0, b * 6 + col, alignment=Qt.AlignmentFlag.AlignHCenter)
            if b:
                grid.setColumnMinimumWidth(b * 6 - 1, 14)
        self.channel_names: list[QLabel] = []
        self.window_views: list[NumberGridView] = []
        self.kernel_views: list[NumberGridView] = []
        self.product_views: list[NumberGridView] = []
        self._ops: list[QLabel] = []
        for r in range(self.state.channels_per_page):
            row, base = 1 + 2 * (r // per_row), 6 * (r % per_row)
            name = QLabel()
            self.channel_names.append(name)
            grid.addWidget(name, row, base, 1, 5, alignment=Qt.AlignmentFlag.AlignLeft)
            views = []
            for col, ops in ((0, None), (1, "×"), (2, None), (3, "="), (4, None)):
                if ops is not None:
                    lab = _op_label(ops)
                    self._ops.append(lab)
                    grid.addWidget(lab, row + 1, base + col)
                    continue
                gv = NumberGridView()
                gv.setMinimumSize(40, 40)
                views.append(gv)
                grid.addWidget(gv, row + 1, base + col)
                grid.setColumnStretch(base + col, 1)
                grid.setRowStretch(row + 1, 1)
            self.window_views.append(views[0])
            self.kernel_views.append(views[1])
            self.product_views.append(views[2])
        cv.addLayout(grid, 1)
        self.stack.addWidget(conv)
        self._conv_page = conv
        # -- a Dense unit's contributions
        self.bar_chart = BarChartWidget()
        self.stack.addWidget(self.bar_chart)
        # -- words only (unsupported, element-wise, transposed)
        self.words_label = QLabel()
        self.words_label.setWordWrap(True)
        self.words_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.words_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stack.addWidget(self.words_label)
        body.addWidget(self.stack, 3)

        side = QVBoxLayout()
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        rf = QFont(self.result_label.font())
        rf.setBold(True)
        self.result_label.setFont(rf)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side.addWidget(self.result_label)
        self.padding_label = QLabel()
        self.padding_label.setWordWrap(True)
        self.padding_label.setStyleSheet("color: #b07820")
        side.addWidget(self.padding_label)
        self.formula_label = QLabel()
        self.formula_label.setWordWrap(True)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.formula_label.setFont(mono)
        self.formula_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side.addWidget(self.formula_label)
        self.field_view = ImageView("Receptive field")
        self.field_view.setFixedHeight(190)  # inside a scroll area: a size of its own, not the sizeHint
        side.addWidget(self.field_view)
        self.field_label = QLabel()
        self.field_label.setWordWrap(True)
        side.addWidget(self.field_label)
        self.stepper_note = QLabel()
        self.stepper_note.setWordWrap(True)
        side.addWidget(self.stepper_note)
        side.addStretch(1)
        sidew = QWidget()
        sidew.setLayout(side)
        # a short panel (a projector, a small window) scrolls its texts instead of piling them up
        self.side_scroll = QScrollArea()
        self.side_scroll.setWidget(sidew)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side_scroll.setFixedWidth(280)
        body.addWidget(self.side_scroll)
        v.addLayout(body, 1)

    def install_arrow_keys(self, host: QWidget) -> None:
        """← and → anywhere in ``host`` (the page that holds this panel, e.g. where the user just
        clicked a map) walk to the neighbouring output cell while the panel is shown."""
        for key, step in ((Qt.Key.Key_Left, -1), (Qt.Key.Key_Right, 1)):
            sc = QShortcut(QKeySequence(key), host)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(lambda s=step: self.isVisible() and self.state.step(s))

    # ------------------------------------------------------------------ the engine
    def _on_wanted(self, layer: str, index: tuple) -> None:
        self._draw()
        self._submit(layer, index, self.state.set_explanation, self.state.fail)

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        if not self.is_built:
            return  # drawn from the state once built
        st, e = self.state, self.state.explanation
        self.title_label.setText(st.title())
        self.kind_label.setText(st.kind_text())
        self.left_button.setEnabled(st.can_step(-1))
        self.right_button.setEnabled(st.can_step(1))
        self.stepper_button.setEnabled(st.can_open_in_stepper())
        refusal = st.stepper_refusal(LIMITS.kernel) if e is not None else ""
        self.stepper_button.setToolTip(refusal or "Load this window and kernel into the convolution stepper")
        self.result_label.setText("<br>".join(st.result_lines()))
        self.padding_label.setText(st.padding_note())
        self.padding_label.setVisible(bool(self.padding_label.text()))
        # the engine's formula says what the lines above do not (element-wise layers, stages)
        covered = e is not None and e.kind in ("conv", "depthwise", "dense", "pool_max", "pool_avg") and not e.stages
        self.formula_label.setText("" if covered else st.formula_text())
        self.formula_label.setVisible(bool(self.formula_label.text()))
        self.stepper_note.setText("")
        self._draw_field(e)
        if e is None or e.kind == "unsupported" or st.disabled:
            self.stack.setCurrentWidget(self.words_label)
            self.words_label.setText("")  # the reason is the line above
            return
        window = None if e.window is None else np.asarray(e.window)
        if e.weights is not None and window is not None and window.ndim == 1:
            # a Dense unit, or the input cells a transposed convolution scatters into this one
            labels, values = st.dense_bars()
            self.stack.setCurrentWidget(self.bar_chart)
            self.bar_chart.set_values(values, labels, horizontal=True,
                                      title="weight × input, the largest first")
            return
        if window is None or window.ndim not in (2, 3):
            self.stack.setCurrentWidget(self.words_label)
            terms = "<br>".join(f"{name} = {value:.4g}" for name, value in e.terms)
            self.words_label.setText(terms or st.formula_text())
            return
        self.stack.setCurrentWidget(self._conv_page)
        self._draw_channels(e)

    def _draw_channels(self, e: Any) -> None:
        st = self.state
        shown = st.channels_on_page()
        multi = st.channel_pages > 1
        self.channel_label.setText(st.channel_page_text())
        self.channel_prev.setVisible(multi)
        self.channel_next.setVisible(multi)
        self.channel_prev.setEnabled(st.channel_page > 0)
        self.channel_next.setEnabled(st.channel_page < st.channel_pages - 1)
        pads = _pads_of(e.padding)
        weighted = e.weights is not None
        levels = self._window_levels(e)
        for r in range(st.channels_per_page):
            on = r < len(shown)
            self.channel_names[r].setVisible(on)
            self.window_views[r].setVisible(on)
            self.kernel_views[r].setVisible(on and weighted)
            self.product_views[r].setVisible(on and weighted)
            for lab in self._ops[2 * r:2 * r + 2]:
                lab.setVisible(on and weighted)
            if not on:
                continue
            c = shown[r]
            w, k, prod = st.channel_grids(c)
            self.channel_names[r].setText(st.channel_sum_text(c) if weighted else "the window")
            wv = self.window_views[r]
            wv.set_grid(w, "diverging" if levels[0] < 0 else "gray", levels)
            wv.set_padding(pads)
            marks = []
            if e.kind == "pool_max" and e.winner is not None:
                marks.append(Highlight([tuple(int(i) for i in e.winner[:2])], WINNER_COLOR, fill_alpha=0, ring=True))
            wv.set_highlights([Highlight([(i, j) for i in range(w.shape[0]) for j in range(w.shape[1])],
                                         WINDOW_COLOR, fill_alpha=0, width=2.0)] + marks)
            if weighted:
                self.kernel_views[r].set_grid(k, "diverging")
                self.product_views[r].set_grid(prod, "diverging")
        groups = [v for views in (self.window_views, self.kernel_views, self.product_views) for v in views]
        for g in groups:
            g.set_cell_group(groups if max(np.asarray(e.window).shape[:2]) <= 12 else [])

    @staticmethod
    def _window_levels(e: Any) -> tuple[float, float]:
        w = np.asarray(e.window, np.float64)
        finite = w[np.isfinite(w)]
        if not finite.size:
            return (0.0, 1.0)
        lo, hi = float(finite.min()), float(finite.max())
        if lo < 0:
            m = max(abs(lo), abs(hi)) or 1.0
            return (-m, m)
        return (0.0, hi if hi > 0 else 1.0)

    def _draw_field(self, e: Any) -> None:
        preview = self._preview()
        if self._field_item is not None:
            self.field_view.view_box.removeItem(self._field_item)
            self._field_item = None
        self.field_label.setText(self.state.field_text())
        if preview is None or e is None:
            self.field_view.set_image(None)
            self.field_view.set_title("Receptive field")
            return
        self.field_view.set_image(preview, auto_range=True)
        if e.receptive_field is None:
            self.field_view.set_title("Sees the whole input" if e.kind == "dense" else "The input")
            return
        top, left, h, w = e.receptive_field
        item = pg.QtWidgets.QGraphicsRectItem(QRectF(float(left), float(top), float(w), float(h)))
        item.setPen(FIELD_PEN)
        self.field_view.add_item(item)
        self._field_item = item
        self.field_view.set_title(f"Receptive field {int(h)}×{int(w)} px")

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        # the input was drawn while the panel was hidden (no size to fit it to): fit it now
        QTimer.singleShot(0, self._refit_field)

    def _refit_field(self) -> None:
        if self.is_built and self.field_view.image_data() is not None:
            self.field_view.view_box.autoRange(padding=0.02)

    def field_rect(self) -> tuple[float, float, float, float] | None:
        """(top, left, height, width) of the drawn receptive field (None when none is drawn)."""
        if self._field_item is None:
            return None
        r = self._field_item.rect()
        return (r.top(), r.left(), r.height(), r.width())

    # ------------------------------------------------------------------ the stepper
    @Slot()
    def _on_open_in_stepper(self) -> None:
        if not self.state.can_open_in_stepper():
            return
        window, kernel, bias, activation, note = self.state.stepper_inputs(LIMITS.channels)
        self.stepper_note.setText(note)
        self._open_in_stepper(window, kernel, bias, activation, note)

    def input_changed(self) -> None:
        """Another input (or scaling) was computed: the unit shown is explained again for it."""
        st = self.state
        if self.isVisible() and st.layer is not None and st.index is not None and not st.disabled:
            st.select(st.layer, st.index, st.shape)

    def set_text_scale(self, scale: float) -> None:
        self._text_scale = scale
        if not self.is_built:
            return
        for views in (self.window_views, self.kernel_views, self.product_views):
            for gv in views:
                gv.set_text_scale(scale)
        self.bar_chart.set_text_scale(scale)


def explain_submitter(ctx, activations_state, image: Callable[[], np.ndarray | None]) -> Callable[..., None]:
    """A ``submit`` for :class:`ExplainView`: the request for the Activations pane's model, input
    and scaling, run in the engine on its own channel (a newer click supersedes an older one)."""

    def submit(layer: str, index: tuple, on_done, on_error) -> None:
        s = activations_state
        img = image()
        if s.info is None or s.model_id is None or img is None:
            on_error("no model and input are shown yet.")
            return
        try:
            from cnnviz.ml.explain import ExplainRequest, explain_job
        except ImportError:
            on_error("this version of cnnviz cannot explain units yet.")
            return
        req = ExplainRequest(model_id=s.model_id, source=s.model_source, image=np.array(img),
                             scaling=s.scaling, layer=layer, index=tuple(index))
        ctx.worker.submit(explain_job, req, channel="activations.explain", on_done=on_done,
                          on_error=on_error, describe=f"explaining a unit of {layer}",
                          timeout_s=EXPLAIN_TIMEOUT_S)

    return submit


def stepper_opener(ctx, widget: QWidget) -> Callable[..., None]:
    """Load a window into the stepper pane's state and switch to that pane."""

    def open_in_stepper(window, kernel, bias, activation, note) -> None:
        panes = getattr(widget.window(), "panes", {})
        stepper = panes.get("stepper")
        if stepper is None:
            return
        try:
            stepper.state.load_window(window, kernel, bias, activation)
        except ValueError as exc:  # a setting the stepper cannot take: nothing there changed
            ctx.error_posted.emit(f"Not opened in the stepper: {exc}")
            return
        ctx.pane_requested.emit("stepper")
        ctx.post("The explained unit's window and kernel are in the stepper" + (f" — {note}" if note else ""), 8000)

    return open_in_stepper
