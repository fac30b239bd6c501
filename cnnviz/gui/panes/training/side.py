"""The right column of the training pane: the model summary (Listing 2.2), the augmentation
preview (Listing 4.4, Figure 4.8) and the run's log, as tabs."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.panes.training.gradients import GradientFlowView
from cnnviz.gui.panes.training.settings import dim
from cnnviz.gui.panes.training.task_views import TaskView
from cnnviz.gui.widgets.sample_grid import SampleGridWidget
from cnnviz.state import training as words

PREVIEW_TAB = 1
GRADIENTS_TAB = 3
TASK_TAB = 4  # Masks (segmentation runs) or Pairs (siamese runs), beside Gradients
PREVIEW_OFF = "Turn on augmentation to see samples"


def column_widths(on: bool, total: int, settings: QWidget, monitor: QWidget, side: SideTabs) -> list[int]:
    """The widths of the pane's three columns, on a projector (``on``) or not: the settings as
    wide as their widest line; on a projector the side column folds away unless it shows a
    run's masks or pairs, then wide enough for its tab names if the curves keep their room."""
    left = max(400 if on else 310, settings.minimumSizeHint().width())
    if not on:
        right = 410
    elif side.task_view is None:
        right = 0
    else:
        room = total - left - monitor.minimumSizeHint().width()
        right = max(min(380, room), min(side.tabs_width(), room))
    return [left, total - left - right, right]


class SideTabs(QTabWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.addTab(self._summary_tab(), "Summary")  # five tabs share a narrow column
        self.addTab(self._preview_tab(), "Augmentation")
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.addTab(self.log_view, "Log")
        self.gradients = GradientFlowView()
        self.addTab(self.gradients, "Gradients")
        self.task_view: TaskView | None = None  # the Masks or Pairs tab, for those runs only
        # Every tab in sight, none behind scroll arrows: in a narrow column their names end in
        # "…" rather than hide (the column is made as wide as the names on a projector).
        bar = self.tabBar()
        bar.setUsesScrollButtons(False)
        bar.setElideMode(Qt.TextElideMode.ElideRight)
        bar.setExpanding(False)

    def tabs_width(self) -> int:
        """The width the tab names need, whole."""
        bar = self.tabBar()
        return sum(bar.fontMetrics().horizontalAdvance(bar.tabText(i)) + 28 for i in range(self.count())) + 8

    def _summary_tab(self) -> QWidget:
        summary = QWidget()
        layout = QVBoxLayout(summary)
        layout.setContentsMargins(4, 4, 4, 4)
        self.summary_title = QLabel("")
        self.summary_title.setWordWrap(True)
        layout.addWidget(self.summary_title)
        self.summary_table = table = QTableWidget(0, 3)
        table.setHorizontalHeaderLabels(["Layer (type)", "Output shape", "Param #"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        # The columns share the column's width: a long layer name or shape wraps at its spaces
        # ("max_pooling2d" over "(MaxPooling2D)") and the rows grow, never a sideways scroll.
        table.setWordWrap(True)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # As tall as its rows (the totals follow right below, as in the book), scrolling when
        # a big model's rows do not fit.
        table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        layout.addWidget(table)
        self.totals_label = QLabel("")
        self.totals_label.setWordWrap(True)
        self.totals_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.totals_label)
        # where each count comes from, with the layer's numbers in the book's formulas
        layout.addSpacing(6)
        self.formulas_label = QLabel("")
        self.formulas_label.setWordWrap(True)
        self.formulas_label.setTextFormat(Qt.TextFormat.RichText)
        self.formulas_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.formulas_label)
        layout.addStretch(1)
        return summary

    def _preview_tab(self) -> QWidget:
        preview = QWidget()
        layout = QVBoxLayout(preview)
        layout.setContentsMargins(4, 4, 4, 4)
        self.preview_grid = SampleGridWidget()
        self.preview_grid.set_placeholder(PREVIEW_OFF)
        layout.addWidget(self.preview_grid, 1)
        self.preview_caption = dim(QLabel(""))
        self.preview_caption.setWordWrap(True)
        layout.addWidget(self.preview_caption)
        self.preview_button = QPushButton("New random changes")
        layout.addWidget(self.preview_button)
        return preview

    # -- summary -------------------------------------------------------------------------------
    def show_summary_pending(self, title: str) -> None:
        self.summary_table.setRowCount(0)
        self.summary_title.setText(title)
        self.totals_label.setText("")
        self.formulas_label.setText("")

    def show_summary(self, summary: dict) -> None:
        self.summary_title.setText(words.summary_heading(summary["model"], summary["functional"]))
        cells = words.summary_cells(summary["rows"])
        formulas = words.summary_formulas(summary.get("arith"), len(cells))
        table = self.summary_table
        table.setRowCount(len(cells))
        for r, row in enumerate(cells):
            _formula, tip = formulas[r]
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if tip:
                    item.setToolTip(tip)
                table.setItem(r, c, item)
        self.totals_label.setText(words.summary_totals(summary["model"], summary["totals"]))
        lines = words.summary_formula_lines(summary["rows"], summary.get("arith"))
        self.formulas_label.setText(
            "<b>Where the parameters come from</b> (f·f·c_in·c_out + c_out for a convolution: a "
            "weight per kernel cell, input channel and filter, plus a bias per filter; "
            "n_in·n_out + n_out for Dense):<br>" + "<br>".join(html.escape(line) for line in lines)
            if lines else "")

    def summary_rows(self) -> list[tuple[str, str, str]]:
        t = self.summary_table
        return [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount())]

    # -- augmentation preview ------------------------------------------------------------------
    def show_preview(self, preview: dict) -> None:
        self.preview_grid.set_images(preview["images"], preview["columns"])
        self.preview_caption.setText(words.preview_caption(preview))

    def clear_preview(self, text: str = PREVIEW_OFF) -> None:
        self.preview_grid.clear(text)
        self.preview_caption.setText("")

    # -- masks or pairs --------------------------------------------------------------------------
    def start_task_view(self, task: str | None, epochs: int, first_epoch: int = 0) -> None:
        """A new run: a Masks tab for a segmentation run, a Pairs tab for a siamese run (by
        the dataset's task, see :func:`cnnviz.state.training.task_tab_of`), none for others."""
        if self.task_view is not None and (task is None or self.task_view.task != task):
            self.removeTab(self.indexOf(self.task_view))
            self.task_view.deleteLater()
            self.task_view = None
        if task is None:
            return
        if self.task_view is None:
            self.task_view = TaskView(task)
            self.insertTab(TASK_TAB, self.task_view, words.TASK_TABS[task])
        self.task_view.start_run(epochs, first_epoch)
        self.setCurrentWidget(self.task_view)

    def show_task_report(self, report: dict) -> None:
        """An epoch's masks or pairs; the tab appears if the run's dataset did not say (a run
        whose task is only known in the engine)."""
        if self.task_view is None or self.task_view.task != report["task"]:
            self.start_task_view(report["task"], int(report["epoch"]), int(report["epoch"]) - 1)
        self.task_view.show_report(report)

    def task_tab_title(self) -> str | None:
        """The title of the Masks or Pairs tab shown, or None."""
        return None if self.task_view is None else self.tabText(self.indexOf(self.task_view))

    # -- log -------------------------------------------------------------------------------------
    def log(self, text: str) -> None:
        self.log_view.appendPlainText(text)
