"""The stepper's stage: the input, kernel and output grids with the step's arithmetic, the
output-size formula and the legend under them — what a slide or a GIF frame shows.

A stage draws one :class:`~cnnviz.state.stepper.StepperState` and redraws itself on its
``changed`` event, so a GIF export can render a second, hidden stage from a snapshot of the state.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.gui.widgets.grid_view import Highlight, NumberGridView
from cnnviz.state.stepper import LIMITS, NO_OUTPUT, StepperState, fmt

WINDOW_COLOR = QColor("#ff7f00")
OUTPUT_COLOR = QColor("#009e49")
HOVER_COLOR = QColor("#8e2dc5")
WINNER_COLOR = QColor("#d40000")
ERROR_COLOR = "#b00020"
CHANNEL_HTML = {"R": "#d62728", "G": "#2ca02c", "B": "#1f5fd6"}
SCHEMES = {1: ["gray"], 3: ["red", "green", "blue"]}
#: Grids up to this many cells a side are drawn with cells of one size.
SAME_CELLS_UP_TO = 12
LEGEND = [
    (WINDOW_COLOR.name(), "■", "window"),
    (OUTPUT_COLOR.name(), "■", "output cell"),
    (HOVER_COLOR.name(), "■", "fed by the hovered cell"),
    (WINNER_COLOR.name(), "○", "max winner"),
    ("#b07820", "▨", "padding"),
]


def _bold_font(base: QFont, points: float) -> QFont:
    f = QFont(base)
    f.setPointSizeF(points)
    f.setBold(True)
    return f


class StepperStage(QWidget):
    """The grids and the texts under them, drawn from ``state``.

    ``hover_input`` (channel, row, col of the shown input) and ``focus_output`` (a clicked output
    cell of a transposed convolution) are what the mouse points at; ``hint_label``, when set,
    gets the hover hint while nothing is hovered.
    """

    def __init__(self, state: StepperState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.hover_input: tuple[int, int, int] | None = None
        self.focus_output: tuple[int, int] | None = None
        self.hint_label: QLabel | None = None
        self._mode = state.mode
        self._out_levels = (-1.0, 1.0)
        self.setObjectName("stepperStage")
        self.setAutoFillBackground(True)
        sl = QVBoxLayout(self)
        sl.setContentsMargins(4, 4, 4, 4)
        grids = QHBoxLayout()
        rows = max(3, LIMITS.channels)
        self.input_views, self.input_labels, self._in_col = self._grid_column(rows)
        # the kernel column: one column of channel slices per filter, filters side by side
        self.kernel_grid, self.kernel_label_grid, self._k_col = self._grid_table(rows, LIMITS.filters)
        self.kernel_views, self.kernel_labels = self.kernel_grid[0], self.kernel_label_grid[0]
        # the outputs: one under the other (channels), or side by side (one per filter)
        outs, out_labels, self._out_col = self._grid_table(max(3, LIMITS.filters), 1)
        self.output_views, self.output_labels = outs[0], out_labels[0]
        self._side_by_side = False
        self.op_label = self._operator_label("⊛")
        self.eq_label = self._operator_label("=")
        grids.addWidget(self._in_col, 4)
        grids.addWidget(self.op_label)
        grids.addWidget(self._k_col, 2)
        grids.addWidget(self.eq_label)
        grids.addWidget(self._out_col, 3)
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
        self.legend_label = QLabel()
        self._show_legend()
        self.legend_label.setWordWrap(True)
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        self.legend_label.setStyleSheet("color: #444;")
        sl.addWidget(self.legend_label)
        for views in (self.input_views, self.output_views, *self.kernel_grid):
            for k, v in enumerate(views):
                v.setProperty("channel", k)
        state.changed.connect(self._on_state_changed)

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

    def _grid_table(self, n: int, m: int) -> tuple[list[list[NumberGridView]], list[list[QLabel]], QWidget]:
        """``m`` columns of ``n`` titled grids each, in a grid layout (see :meth:`_arrange_outputs`)."""
        col = QWidget()
        lay = QGridLayout(col)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        views: list[list[NumberGridView]] = []
        labels: list[list[QLabel]] = []
        for f in range(m):
            views.append([])
            labels.append([])
            for c in range(n):
                lab = QLabel()
                lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
                view = NumberGridView()
                view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
                lay.addWidget(lab, 2 * c, f)
                lay.addWidget(view, 2 * c + 1, f)
                views[f].append(view)
                labels[f].append(lab)
        return views, labels, col

    def _arrange_outputs(self, side_by_side: bool) -> None:
        """Output grids one under the other (a colour input's channels) or side by side (one
        per filter)."""
        if side_by_side == self._side_by_side:
            return
        self._side_by_side = side_by_side
        lay = self._out_col.layout()
        for k, (view, lab) in enumerate(zip(self.output_views, self.output_labels)):
            lay.removeWidget(lab)
            lay.removeWidget(view)
            row, col = (0, k) if side_by_side else (2 * k, 0)
            lay.addWidget(lab, row, col)
            lay.addWidget(view, row + 1, col)

    @staticmethod
    def _restretch(col: QWidget, table: list[list[NumberGridView]]) -> None:
        """Only the rows with a shown grid share the column's height."""
        lay = col.layout()
        for r in range(lay.rowCount()):
            lay.setRowStretch(r, 0)
        for views in table:
            for view in views:
                if not view.isHidden():
                    idx = lay.indexOf(view)
                    if idx >= 0:
                        lay.setRowStretch(lay.getItemPosition(idx)[0], 1)

    def _operator_label(self, text: str) -> QLabel:
        lab = QLabel(text)
        lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lab.setFont(_bold_font(self.font(), 22))
        lab.setMinimumWidth(28)
        return lab

    def apply_fonts(self, scale: float) -> None:
        """Text sizes for the screen (1) or a projector (larger ``scale``)."""
        f = QFont(self.font())
        f.setPointSizeF(12.5 * scale)
        self.step_label.setFont(f)
        f2 = QFont(self.font())
        f2.setPointSizeF(11 * scale)
        self.formula_label.setFont(f2)
        if self.hint_label is not None:
            self.hint_label.setFont(f2)
        f3 = _bold_font(self.font(), 10.5 * scale)
        for lab in self.input_labels + sum(self.kernel_label_grid, []) + self.output_labels:
            lab.setFont(f3)
        for lab in (self.op_label, self.eq_label):
            lab.setFont(_bold_font(self.font(), 22 * scale))
        for v in self.input_views + sum(self.kernel_grid, []) + self.output_views:
            v.set_text_scale(scale)

    # ======================================================================================
    # drawing
    def _on_state_changed(self, what: str) -> None:
        if what == "walk":
            self.hover_input = None
            if self.state.mode != self._mode:
                self._mode = self.state.mode
                self.focus_output = None
            self.redraw_walk()
        else:
            self.redraw_position()

    @staticmethod
    def _show(views: list[NumberGridView], labels: list[QLabel], n: int):
        """Show the first ``n`` grids and their titles; yields (index, view, label) of those."""
        for c, (view, lab) in enumerate(zip(views, labels)):
            view.setVisible(c < n)
            lab.setVisible(c < n)
            if c < n:
                yield c, view, lab

    def _show_legend(self) -> None:
        """Only the entries that mean something in this mode (no padding swatch without padding,
        no max winner outside max-pooling, no ×k without a kernel)."""
        swatches = {text: (colour, mark) for colour, mark, text in LEGEND}
        entries = []
        for key in self.state.legend_keys():
            if key in swatches:
                colour, mark = swatches[key]
                entries.append(f"<span style='color:{colour}'>{mark}</span>&nbsp;{key.replace(' ', '&nbsp;')}")
            else:
                entries.append(key.replace(" ", "&nbsp;"))
        # Entries break between each other, never inside: on a projector the legend wraps
        # instead of making the stage wider than the screen.
        self.legend_label.setText(" &nbsp; ".join(entries))

    def legend_text(self) -> str:
        """The legend as a reader sees it."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.legend_label.text())
        return doc.toPlainText().replace("\xa0", " ")

    def redraw_walk(self) -> None:
        """Everything: the settings or the input changed."""
        self._show_legend()
        st = self.state
        x = st.shown_input()
        C = 1 if x.ndim == 2 else x.shape[2]
        levels = st.input_levels()
        pads = st.pads()
        schemes = SCHEMES.get(C, ["gray"] * C)
        for c, view, lab in self._show(self.input_views, self.input_labels, C):
            view.set_grid(x if C == 1 else x[:, :, c], schemes[c] if c < len(schemes) else "gray", levels)
            view.set_padding(pads, st.pad_label())
            lab.setText(st.input_title(c))
        kc, nf = st.kernel_count(), st.filter_count()
        mask = st.mode == "dropout"
        for f, (views, labels) in enumerate(zip(self.kernel_grid, self.kernel_label_grid)):
            for c, view, lab in self._show(views, labels, kc if f < nf else 0):
                view.set_grid(st.shown_kernel(c, f), "gray" if mask else "diverging", (0.0, 1.0) if mask else None)
                lab.setText(st.kernel_title(c, f))
        self._k_col.setVisible(kc > 0)
        self.op_label.setText(st.operator())
        out = st.output()
        oc = 0 if out is None else (1 if out.ndim == 2 else out.shape[2])
        lo, hi = st.output_levels()
        m = max(abs(lo), abs(hi)) or 1.0
        self._out_levels = (-m, m)
        self._arrange_outputs(nf > 1)
        for c, view, lab in self._show(self.output_views, self.output_labels, max(oc, 1)):
            lab.setText(st.output_title(c))
            if out is None:
                view.set_grid(None)
                view.set_placeholder(NO_OUTPUT)
                continue
            view.set_grid(out if oc == 1 else out[:, :, c], "diverging", self._out_levels, nan_label="", nan_blank=True)
        self._restretch(self._k_col, self.kernel_grid)
        self._restretch(self._out_col, [self.output_views])
        k = st.kernel
        stretch_in, stretch_out = (3, 5) if st.mode in ("transpose", "upsample") else (4, 4 if max(x.shape[:2]) > 12 else 3)
        self._grids_layout.setStretchFactor(self._in_col, stretch_in)
        small = max(x.shape[:2]) <= 12 or max(k.shape[:2]) > 5
        self._grids_layout.setStretchFactor(self._k_col, 2 if small else 1)
        self._grids_layout.setStretchFactor(self._out_col, stretch_out)
        # small grids (the book's examples) get cells of one size: the padded input then gets
        # the height its rows need beside a short output; large crops fill their own space
        views = self.input_views + sum(self.kernel_grid, []) + self.output_views
        shown = [st.shown_input().shape[:2], k.shape[:2]] + ([] if out is None else [out.shape[:2]])
        if kc:
            shown.append(st.shown_kernel(0).shape[:2])
        group = views if max(max(s) for s in shown) <= SAME_CELLS_UP_TO else []
        for view in views:
            view.set_cell_group(group)
        self._redraw_formula()
        self.redraw_position()

    def _redraw_formula(self) -> None:
        st = self.state
        lines = st.formula_lines()
        if not lines:
            self.formula_label.clear()
            return
        head, general = st.formula_head()
        body = [html.escape(x) for x in lines]
        if st.walk is None:
            body[-1] = f"<span style='color:{ERROR_COLOR}; font-weight:bold'>{body[-1]}</span>"
        self.formula_label.setText(f"<b>{head}</b>{general}<br>" + "<br>".join(body))

    def redraw_position(self) -> None:
        """The step moved: the output filling in, the highlights and the step's arithmetic."""
        st = self.state
        out = st.output()
        if out is not None:
            if st.filled() is None:  # a running sum: every cell is drawn at every step
                shown = st.displayed_output()
                for c in range(1 if shown.ndim == 2 else shown.shape[2]):
                    grid = shown if shown.ndim == 2 else shown[:, :, c]
                    self.output_views[c].set_grid(grid, "diverging", self._out_levels, nan_label="", nan_blank=True)
                    self.output_views[c].set_filled(None)
            else:
                for c in range(1 if out.ndim == 2 else out.shape[2]):
                    self.output_views[c].set_filled(st.filled())
        self.redraw_highlights()
        self._redraw_step_text()

    def redraw_highlights(self) -> None:
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
        if self.hover_input is not None:
            _, r, c = self.hover_input
            hover_cell = (r, c)
            hover_outs = st.outputs_fed_by(r, c)
        focus = self.focus_output if mode == "transpose" else None
        focus_inputs = st.inputs_of(*focus) if focus is not None else []
        for c in range(C):
            hls: list[Highlight] = []
            marks: dict[tuple[int, int], str] = {}
            if mode == "conv" and cur is not None and (cur.kernel.ndim < 4 or cur.kernel.shape[3] == 1):
                k = cur.kernel if cur.kernel.ndim == 2 else cur.kernel[:, :, c]
                k = k if k.ndim == 2 else k[:, :, 0]
                for a, r in enumerate(cur.rows):
                    for b, cc in enumerate(cur.cols):
                        marks[(r, cc)] = "×" + fmt(k[a, b], 3)
            elif mode == "upsample" and cur is not None and len(cur.sources) > 1:
                marks = {rc: "×" + fmt(w, 3) for rc, w in zip(cur.sources, cur.weights)}
            if focus_inputs:
                hls.append(Highlight(focus_inputs, HOVER_COLOR, 50))
            hls.append(Highlight(window, WINDOW_COLOR, 60, 3.5, marks=marks))
            if winners:
                w = winners[c] if c < len(winners) else winners[0]
                hls.append(Highlight([w], WINNER_COLOR, 0, 3.0, outline=False, ring=True))
            if hover_cell is not None:
                hls.append(Highlight([hover_cell], HOVER_COLOR, 0, 2.5))
            self.input_views[c].set_highlights(hls, follow=window[0] if window else None)
        if mode in ("dropout", "max_grad", "avg_grad") and cur is not None:
            for views in self.kernel_grid[:1]:
                for view in views:  # the mask cell, or the upstream gradient being routed
                    view.set_highlights([Highlight([cur.out_pos], WINDOW_COLOR, 60, 3.5)], follow=cur.out_pos)
        out = st.output()
        if out is not None:
            marks = {}
            if mode in ("max_grad", "avg_grad") and cur is not None:
                marks = {(r, cc): "+" + fmt(g, 3) if g >= 0 else fmt(g, 3) for r, cc, g in cur.routes[0]}
            if mode == "transpose" and cur is not None:
                contrib = np.asarray(cur.contribution)
                for a, r in enumerate(cur.rows):
                    for b, cc in enumerate(cur.cols):
                        if cur.inside[a, b]:
                            v = float(contrib[a, b])
                            marks[(r, cc)] = ("" if v < 0 else "+") + fmt(v, 3)
            for c in range(1 if out.ndim == 2 else out.shape[2]):
                hls = []
                if focus is not None:
                    hls.append(Highlight([focus], HOVER_COLOR, 0, 3.0))
                hls.append(Highlight(outs, OUTPUT_COLOR, 50, 3.5, marks=marks))
                if hover_outs:
                    hls.append(Highlight(hover_outs, HOVER_COLOR, 55, 2.5))
                self.output_views[c].set_highlights(hls, follow=outs[0] if outs else None)
        if self.hover_input is None and self.hint_label is not None:
            self.hint_label.setText(st.hover_hint())

    def _redraw_step_text(self) -> None:
        st = self.state
        lines = st.step_lines()
        if not lines or st.walk is None:
            self.step_label.clear()  # without a walk the reason is shown under the formula
            return
        out = []
        for line in lines:
            esc = html.escape(line)
            if len(line) > 2 and line[1] == ":" and line[0] in CHANNEL_HTML:
                esc = f"<b style='color:{CHANNEL_HTML[line[0]]}'>{line[0]}</b>{esc[1:]}"
            out.append(esc)
        if st.mode == "conv":
            i, j = st.current().out_pos
            out[-1] = out[-1].replace(f"out({i},{j})", f"<b style='color:{OUTPUT_COLOR.name()}'>out({i},{j})</b>")
        self.step_label.setText("<br>".join(out))
