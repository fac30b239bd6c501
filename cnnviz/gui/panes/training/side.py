"""The right column of the training pane: the model summary (Listing 2.2), the augmentation
preview (Listing 4.4, Figure 4.8) and the run's log, as tabs."""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStyle,
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


class SummaryTable(QTableWidget):
    """The summary's table, its columns fitted to its width: names and shapes whole where they
    fit, else wrapped at their spaces (names first), the parameter counts whole."""

    PAD = 14  # a cell's margins, in pixels

    def viewportEvent(self, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Resize:  # the table's width, or a scroll bar came or went
            self.fit_columns()
        return super().viewportEvent(event)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.fit_columns()

    HEADINGS = ("Layer (type)", "Output shape", "Param #")

    def _needs(self, column: int) -> tuple[int, int]:
        """(whole text, longest word) widths of a column, its heading included."""
        fm, hm = self.fontMetrics(), self.horizontalHeader().fontMetrics()
        heading = self.HEADINGS[column]
        texts = [self.item(r, column).text() for r in range(self.rowCount()) if self.item(r, column)]
        whole = max([hm.horizontalAdvance(heading) + 2 * self.PAD] + [fm.horizontalAdvance(t) + self.PAD for t in texts])
        word = max([hm.horizontalAdvance(w) + 2 * self.PAD for w in heading.split(" ")]
                   + [fm.horizontalAdvance(w) + self.PAD for t in texts for w in t.split(" ")])
        return whole, word

    def least_width(self) -> int:
        """The narrowest the table shows every word whole (its cells wrapped at their spaces)."""
        bar = self.verticalScrollBar().sizeHint().width()
        return sum(self._needs(c)[1] for c in range(3)) + 2 * self.frameWidth() + bar

    def fit_columns(self) -> None:
        width = self.viewport().width()
        if width <= 0:
            return
        needs = [self._needs(c) for c in range(3)]
        sizes = [whole for whole, _word in needs]
        for column in range(3):  # wrap at their spaces: the names first, then shapes, then counts
            over = sum(sizes) - width
            if over > 0:
                sizes[column] = max(needs[column][1], sizes[column] - over)
        sizes[0] += max(0, width - sum(sizes))  # room to spare goes to the names
        header, hm = self.horizontalHeader(), self.horizontalHeader().fontMetrics()
        for column, size in enumerate(sizes):
            if header.sectionSize(column) != size:
                header.resizeSection(column, size)
            heading = self.HEADINGS[column]  # a heading wider than its column takes two lines
            if hm.horizontalAdvance(heading) + 2 * self.PAD > size:
                heading = heading.replace(" ", "\n")
            if self.horizontalHeaderItem(column).text() != heading:
                self.horizontalHeaderItem(column).setText(heading)
        self.resizeRowsToContents()


def column_widths(on: bool, total: int, settings: QWidget, monitor: QWidget, side: SideTabs) -> list[int]:
    """The widths of the pane's three columns, on a projector (``on``) or not. The settings are
    as wide as their widest line. On a projector the curves matter most: the side column folds
    away unless it shows a run's masks or pairs; then the settings fold away instead (their
    splitter handle brings them back) and the side column is wide enough for its tab names and
    the summary's words, the curves keeping at least ``CURVES_ON_PROJECTOR``."""
    left = max(400 if on else 310, settings.minimumSizeHint().width())
    if not on:
        return [left, total - left - 410, 410]
    if side.task_view is None:
        return [left, total - left, 0]
    room = total - max(CURVES_ON_PROJECTOR, monitor.minimumSizeHint().width())
    right = max(min(380, room), min(max(side.tabs_width(), side.minimumSizeHint().width(), total // 3), room))
    return [0, total - right, right]


#: the narrowest the curves get on a projector beside a Masks or Pairs tab, in pixels
CURVES_ON_PROJECTOR = 600


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
        return sum(bar.tabSizeHint(i).width() for i in range(self.count())) + 2 * self.style().pixelMetric(
            QStyle.PixelMetric.PM_DefaultFrameWidth)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """At least as wide as the summary's every word needs (its cells wrapped at spaces)."""
        hint = super().minimumSizeHint()
        return QSize(max(hint.width(), self.summary_table.least_width() + 12), hint.height())

    def set_presentation_mode(self, on: bool) -> None:
        """On a projector the tab names keep the window's usual size (they are the presenter's
        controls, not what the class reads): five of them fit the column whole."""
        from cnnviz.gui.app import PRESENTATION_SCALE  # the window's module imports the panes

        bar = self.tabBar()
        if on:
            font = QFont(QApplication.font())
            font.setPointSizeF(max(6.0, font.pointSizeF() / PRESENTATION_SCALE))
            bar.setFont(font)
        else:
            bar.setFont(QFont())  # the window's font again

    def _summary_tab(self) -> QWidget:
        summary = QWidget()
        layout = QVBoxLayout(summary)
        layout.setContentsMargins(4, 4, 4, 4)
        self.summary_title = QLabel("")
        self.summary_title.setWordWrap(True)
        layout.addWidget(self.summary_title)
        self.summary_table = table = SummaryTable(0, 3)
        table.setHorizontalHeaderLabels(list(SummaryTable.HEADINGS))
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        # The columns share the column's width: a long layer name or shape wraps at its spaces
        # ("max_pooling2d" over "(MaxPooling2D)") and the rows grow, never a sideways scroll.
        table.setWordWrap(True)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # SummaryTable.fit_columns
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
        table.fit_columns()
        self.updateGeometry()  # another model's words may need another width
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
