"""The Masks and Pairs tabs of the training pane: what a segmentation run (chapter 6) or a
siamese run (chapter 5) does, epoch by epoch.

The engine measures them at each whole epoch's end on a fixed validation subset
(:func:`cnnviz.ml.training.mask_report` / ``pair_report``, sent as ``task_view`` progress):

- Masks: a few validation images with the predicted mask over them beside the true mask, the
  class legend, and the mean Jaccard and Dice plotted per epoch (per class in the caption);
- Pairs: the pair accuracy at the book's threshold (distance < 0.5 = same) plotted per epoch,
  and a few same and different validation pairs with their distances.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from cnnviz.gui.panes.training.settings import dim
from cnnviz.gui.widgets.loss_plot import LossPlotWidget
from cnnviz.gui.widgets.mask_overlay import Thumbnail, legend_html, overlay, side_by_side
from cnnviz.state import training as words
from cnnviz.state.training import TaskViewRecord

SERIES_COLORS = {"mean Jaccard": "#1f77b4", "mean Dice": "#2ca02c", "pair accuracy": "#d62728"}
THUMB = {"segmentation": 80, "pairs": 120}  # a pair is two digits side by side


class TaskView(QWidget):
    """One tab: a per-epoch plot, a grid of samples and a caption; ``task`` is "segmentation"
    or "pairs"."""

    def __init__(self, task: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task = task
        self.record = TaskViewRecord()
        self.record.reset(task)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()  # never makes the window taller than the screen
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # fits the column's width
        outer.addWidget(scroll)
        inner = QWidget()
        scroll.setWidget(inner)
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(4, 4, 4, 4)
        title = "Masks on validation images" if task == "segmentation" else "Pair accuracy per epoch"
        y_label = "score" if task == "segmentation" else "accuracy"
        self.plot = LossPlotWidget(title, y_label, legend_corner="bottom-right", integer_x=True)
        self.plot.setMinimumHeight(170)
        self.plot.setMaximumHeight(230)  # the samples below matter as much
        layout.addWidget(self.plot)
        self.grid = QGridLayout()
        self.grid.setSpacing(3)
        layout.addLayout(self.grid)
        self.thumbs: list[list[Thumbnail]] = []
        self.labels: list[QLabel] = []
        self.legend_label = QLabel("")
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        self.legend_label.setWordWrap(True)
        layout.addWidget(self.legend_label)
        self.caption = dim(QLabel(""))
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        layout.addStretch(0)
        self.start_run(1)

    # -- a run ----------------------------------------------------------------------------------
    def start_run(self, epochs: int, first_epoch: int = 0) -> None:
        """A new run: empty plot and pictures, the caption says when they come."""
        self.record.reset(self.task)
        self.plot.clear_data()
        for key in list(self.plot.keys()):
            self.plot.remove_series(key)
        self._span = (first_epoch, first_epoch + max(1, epochs))
        self.plot.set_x_range(*self._span)
        self.plot.getPlotItem().setYRange(0, 1, padding=0.02)  # scores and accuracies: 0…1
        self.plot.set_placeholder(words.TASK_WAITING[self.task])
        for row in self.thumbs:
            for t in row:
                t.set_image(None)
        for label in self.labels:
            label.setText("")
        self.legend_label.setText("")
        self.caption.setText(self.record.caption())

    def show_report(self, report: dict) -> None:
        self.record.take(report)
        span = (min(self._span[0], self.record.epochs[0] - 1), max(self._span[1], self.record.epochs[-1]))
        if span != self._span:  # a continued run's epochs
            self._span = span
            self.plot.set_x_range(*span)
        for key, values in self.record.values.items():
            if not self.plot.has_series(key):
                self.plot.add_series(key, key, SERIES_COLORS.get(key, "#5f6368"), symbol="o")
            self._replace(key, values)
        self.plot.flush()
        self.plot.getPlotItem().setYRange(0, 1, padding=0.02)
        if self.task == "segmentation":
            self._show_masks(report)
        else:
            self._show_pairs(report)
        self.caption.setText(self.record.caption())

    def _replace(self, key: str, values: list[float]) -> None:
        self.plot.series(key).clear()
        self.plot.extend(key, self.record.epochs, values)

    def _ensure_cells(self, rows: int, headers: tuple[str, ...]) -> None:
        """``rows`` rows of one picture per header, each with a line under it."""
        if len(self.thumbs) == rows:
            return
        for c, text in enumerate(headers):
            head = dim(QLabel(text))
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            head.setWordWrap(True)
            self.grid.addWidget(head, 0, c)
        while len(self.thumbs) < rows:
            r = len(self.thumbs)
            row = [Thumbnail(THUMB[self.task]) for _ in headers]
            for c, t in enumerate(row):
                self.grid.addWidget(t, 1 + 2 * r, c)
            self.thumbs.append(row)
            if self.task == "pairs":  # a line under each pair: its distance, right or wrong
                labels = [QLabel("") for _ in headers]
                for c, label in enumerate(labels):
                    label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
                    label.setWordWrap(True)
                    self.grid.addWidget(label, 2 + 2 * r, c)
                self.labels.extend(labels)

    def _show_masks(self, report: dict) -> None:
        images, truth, predicted = report["images"], report["truth"], report["predicted"]
        self._ensure_cells(len(images), ("predicted mask", "true mask"))
        for r, row in enumerate(self.thumbs):
            shown = r < len(images)
            row[0].set_image(overlay(images[r], predicted[r]) if shown else None)
            row[1].set_image(overlay(images[r], truth[r]) if shown else None)
        notes = [f" — J {j:.2f}, D {d:.2f}" for j, d in zip(report["jaccard"], report["dice"])]
        self.legend_label.setText(legend_html(report["class_names"], notes))

    def _show_pairs(self, report: dict) -> None:
        """Same pairs in the left column, different pairs in the right, each pair one picture."""
        same = [i for i, s in enumerate(report["same"]) if s]
        different = [i for i, s in enumerate(report["same"]) if not s]
        self._ensure_cells(max(len(same), len(different)), ("same digit", "different digits"))
        for c, picks in enumerate((same, different)):
            for r, row in enumerate(self.thumbs):
                label = self.labels[2 * r + c]
                if r >= len(picks):
                    row[c].set_image(None)
                    label.setText("")
                    continue
                i = picks[r]
                row[c].set_image(side_by_side(report["first"][i], report["second"][i]))
                label.setText(words.pair_label(report["distances"][i], report["same"][i], report["threshold"]))

    # -- what tests read ------------------------------------------------------------------------
    def shown_images(self) -> int:
        return sum(1 for row in self.thumbs for t in row if t.image is not None)

    def points(self, key: str) -> tuple[list[float], list[float]]:
        s = self.plot.series(key)
        return list(s.x), list(s.y)
