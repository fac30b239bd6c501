"""The middle column of the training pane: progress, the live curves and how the run ended.

It draws what the worker reports (plain dicts, see :mod:`cnnviz.ml.training_jobs`); the words
come from :mod:`cnnviz.state.training`, the bookkeeping of the run from its
:class:`~cnnviz.state.training.RunProgress`. Points go into the
:class:`~cnnviz.gui.widgets.loss_plot.LossPlotWidget` buffers; the plots redraw at most ~10
times a second (~3 while a run competes for the CPU: the per-batch plot between epochs, the
per-epoch plots only at the end of an epoch).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.panes.training.flow import FlowLayout
from cnnviz.gui.panes.training.settings import dim
from cnnviz.gui.qtutil import debounce_timer
from cnnviz.gui.widgets.loss_plot import REDRAW_MS, LossPlotWidget
from cnnviz.state import training as words
from cnnviz.state.training import TRAIN_COLOR, VAL_COLOR, MetricSeries, RunProgress

# Plots and their words while a run competes for the CPU: every repaint is time taken from
# TensorFlow on a small machine, and ~3 a second still shows the curve moving.
TRAINING_REDRAW_MS = 300


def set_text(widget, text: str, get=None, put=None) -> None:
    """Set a text only when it changed: an unchanged label is not laid out again."""
    get = get or widget.text
    put = put or widget.setText
    if get() != text:
        put(text)




class RunMonitor(QWidget):
    """Progress bar and ETA, the per-batch plot with its smoothing, the per-epoch plots
    (Figures 2.19 and 2.20), the outcome and the run folder with its buttons."""

    def __init__(self, progress: RunProgress, epochs: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run = progress
        self.device = ""
        self._labels_shown_at = 0.0
        self._running = False
        mid = QVBoxLayout(self)
        mid.setContentsMargins(4, 0, 4, 0)
        status_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Ready")
        status_row.addWidget(self.progress, 1)
        self.eta_label = QLabel("")
        status_row.addWidget(self.eta_label)
        mid.addLayout(status_row)
        self.batch_plot = LossPlotWidget("Loss per batch", "loss", "epoch")
        self.batch_plot.add_series("loss", "smoothed", TRAIN_COLOR, smoothed=True, width=2.5)
        self.batch_plot.set_placeholder("Press Start to train")
        mid.addWidget(self._info_row())

        self.loss_plot = LossPlotWidget("Loss per epoch (Figure 2.19)", "loss", "epoch", integer_x=True)
        self.loss_plot.add_series("loss", "train", TRAIN_COLOR, symbol="o")
        self.loss_plot.add_series("val_loss", "validation", VAL_COLOR, symbol="o")
        self.metric_plot = LossPlotWidget("Accuracy per epoch (Figure 2.20)", "accuracy", "epoch",
                                          legend_corner="bottom-right", integer_x=True)
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.batch_plot)
        epoch_row = QSplitter(Qt.Orientation.Horizontal)
        epoch_row.addWidget(self.loss_plot)
        epoch_row.addWidget(self.metric_plot)
        plots.addWidget(epoch_row)
        plots.setStretchFactor(0, 1)
        plots.setStretchFactor(1, 1)
        mid.addWidget(plots, 1)
        for plot in (self.batch_plot, self.loss_plot, self.metric_plot):
            plot.put_legend_outside()

        self.outcome_label = QLabel("")
        self.outcome_label.setWordWrap(True)
        self.outcome_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outcome_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        mid.addWidget(self.outcome_label)
        run_row = QHBoxLayout()
        self.run_dir_label = dim(QLabel(""))
        self.run_dir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_dir_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.open_folder_button = QPushButton("Open run folder")
        self.inspect_button = QPushButton("Inspect activations")
        self.inspect_button.setToolTip("Open the trained model in the Activations pane")
        run_row.addWidget(self.run_dir_label, 1)
        run_row.addWidget(self.open_folder_button)
        run_row.addWidget(self.inspect_button)
        mid.addLayout(run_row)
        for plot in self.plots():
            plot.set_x_range(0, epochs)

    def _info_row(self) -> QWidget:
        """Device, replicas, smoothing, learning rate and speed: one row on a wide window, more
        rows (never words run together, never a wider window) on a narrow one or a projector."""
        self.info_row = QWidget()
        row = self.info_flow = FlowLayout(self.info_row)
        self.device_label = QLabel("Device: —")
        self.device_label.setToolTip("Where TensorFlow trains: the GPU's name, or CPU")
        self.speed_label = QLabel("")
        self.lr_label = QLabel("")
        row.addWidget(self.device_label)
        self.replicas_label = QLabel("")
        self.replicas_label.setToolTip("How each step's global batch is shared between the replicas of the model")
        row.addWidget(self.replicas_label)
        smoothing = QWidget()
        pair = QHBoxLayout(smoothing)
        pair.setContentsMargins(0, 0, 0, 0)
        pair.addWidget(QLabel("Smoothing"))
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, 0.99)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setDecimals(2)
        self.smoothing_spin.setValue(self.batch_plot.smoothing)
        self.smoothing_spin.setToolTip("Weight of TensorBoard's debiased moving average for the bold "
                                       "per-batch line: 0 = none, 0.99 = very smooth")
        # Re-smoothing every point costs ~20 ms per 100k: coalesce a held-down arrow key.
        self._smoothing_timer = debounce_timer(self, 60, self._on_smoothing_due)
        self.smoothing_spin.valueChanged.connect(lambda _v: self._smoothing_timer.start())
        pair.addWidget(self.smoothing_spin)
        row.addWidget(smoothing)
        row.addWidget(self.lr_label)
        row.addWidget(self.speed_label)
        return self.info_row

    def plots(self) -> tuple[LossPlotWidget, LossPlotWidget, LossPlotWidget]:
        return self.batch_plot, self.loss_plot, self.metric_plot

    @Slot()
    def _on_smoothing_due(self) -> None:
        self.batch_plot.set_smoothing(self.smoothing_spin.value())

    # -- a run ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Empty plots and words for a new run (``self.run`` was reset for it)."""
        initial, end = self.run.epochs
        keys = list(self.metric_plot.keys())
        for plot in self.plots():
            plot.clear_data()
            plot.set_x_range(initial, end)
        self.batch_plot.set_placeholder("Waiting for the first batch…")
        self.loss_plot.set_placeholder("")
        self.metric_plot.set_placeholder("")
        for key in keys:
            self.metric_plot.remove_series(key)
        self.eta_label.setText("")
        self.speed_label.setText("")
        self.lr_label.setText("")
        self.outcome_label.setText("")
        self.run_dir_label.setText("")
        self.replicas_label.setText("")

    def show_starting(self, first: bool) -> None:
        self.progress.setRange(0, 0)  # busy until the first batch
        self.progress.setFormat("Loading TensorFlow…" if first else "Preparing data and model…")

    def show_restarting(self, text: str) -> None:
        """TensorFlow restarts (to split the CPU) before the run can start."""
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.batch_plot.set_placeholder(text)

    def show_replicas(self, replicas: int, global_batch: int) -> None:
        if global_batch:
            self.replicas_label.setText(words.replicas_text(replicas, global_batch))

    def show_batches(self, payload: dict, stopping: bool) -> None:
        info = payload["info"]
        span = self.run.take_batches(payload)
        if span is not None:
            for plot in self.plots():
                plot.set_x_range(*span)
        self.batch_plot.extend("loss", payload["x"], payload["loss"])  # its placeholder goes at once
        # The words around the plots change at the plots' rate, not at every report (each new
        # text lays the row out again), and always at the end of an epoch.
        now = time.monotonic()
        if now - self._labels_shown_at < TRAINING_REDRAW_MS / 1000 and info["batch"] != info["batches"]:
            return
        self._labels_shown_at = now
        steps = max(1, int(info["steps"]))
        if self.progress.maximum() != steps:
            self.progress.setRange(0, steps)
        self.progress.setValue(int(info["step"]))
        set_text(self.progress, words.progress_format(info, stopping), self.progress.format, self.progress.setFormat)
        set_text(self.eta_label, words.eta_text(info))
        set_text(self.speed_label, words.speed_text(info.get("samples_per_s") or 0.0))
        lr = words.lr_text(info.get("lr"))
        if lr is not None:
            set_text(self.lr_label, lr)

    def show_epoch(self, info: dict) -> str:
        """Plot an epoch report; returns its line for the log."""
        new = self.run.take_epoch(info)
        lr = words.lr_text(info.get("lr"))
        if lr is not None:
            self.lr_label.setText(lr)
        if not words.epoch_plotted(info):
            return words.epoch_note(info)
        epoch = int(info["epoch"])
        self.loss_plot.append("loss", epoch, info["loss"])
        if info.get("val_loss") is not None:
            self.loss_plot.append("val_loss", epoch, info["val_loss"])
        for series in new:
            self._add_metric_series(series)
        for key, value in words.plotted_metrics(info).items():
            self.metric_plot.append(key, epoch, value)
        self.loss_plot.flush()
        if not self._running:
            self.metric_plot.flush()
        # While training, the accuracy plot follows at its own coalesced redraw: the end of an
        # epoch then repaints one epoch plot per frame, not both plots at once.
        return words.epoch_note(info)

    def _add_metric_series(self, s: MetricSeries) -> None:
        plot = self.metric_plot
        plot.add_series(s.key, s.legend, s.color, symbol="o", dashed=s.dashed)
        if not s.single:  # scores in [0, 1]
            plot.getPlotItem().setYRange(0.0, 1.15, padding=0.0)
        plot.set_title(s.heading)
        plot.getPlotItem().setLabel("left", s.axis)

    def mark_diverged(self, payload: dict) -> None:
        self.batch_plot.mark(payload["x"], words.diverged_mark(payload["loss"]))

    def show_stopping(self) -> None:
        self.progress.setFormat(self.progress.format() + " — stopping after this batch…")

    def show_done(self, result) -> None:
        """How the run ended, on the plots and the progress bar (the outcome is said apart)."""
        for plot in self.plots():  # a finished run shows every point at once, none left pending
            plot.flush()
        self.set_device(result.device)
        self.show_replicas(result.replicas, result.global_batch_size)
        if self.run.batches_seen == 0:
            self.batch_plot.set_placeholder("No batch was trained")
        for plot in (self.loss_plot, self.metric_plot):
            if not any(len(plot.series(k)) for k in plot.keys()):  # noqa: SIM118 (a method, not a dict)
                plot.set_placeholder("No whole epoch in this run")
        steps = self.progress.maximum()
        if result.status == "finished":
            self.progress.setRange(0, max(1, steps))
            self.progress.setValue(self.progress.maximum())
        elif self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
        self.progress.setFormat(words.STATUS_FORMATS.get(result.status, result.status))
        self.eta_label.setText(f"{words.clock(result.elapsed_s)} in all" if result.elapsed_s else "")
        if result.samples_per_s:
            self.speed_label.setText(words.speed_text(result.samples_per_s))
        if result.run_dir is not None and result.run_dir.is_dir():
            self.run_dir_label.setText(f"Run folder: {result.run_dir.name}")
            self.run_dir_label.setToolTip(str(result.run_dir))

    def show_not_trained(self) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Not trained")

    def show_outcome(self, status: str, text: str) -> None:
        self.outcome_label.setText(text)
        palette = self.outcome_label.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor(words.STATUS_COLORS.get(status, "#202124")))
        self.outcome_label.setPalette(palette)
        font = self.outcome_label.font()
        font.setBold(status in ("nan", "failed"))
        self.outcome_label.setFont(font)

    def set_device(self, device: str) -> None:
        if device:
            self.device = device
            self.device_label.setText(f"Device: <b>{device}</b>")

    def set_running(self, running: bool, result) -> None:
        # While training, every redraw is CPU taken from TensorFlow: ~3 redraws a second.
        self._running = running
        for plot in self.plots():
            plot.set_redraw_interval(TRAINING_REDRAW_MS if running else REDRAW_MS)
        self._labels_shown_at = 0.0
        have = result is not None
        run_dir: Path | None = result.run_dir if have else None
        self.open_folder_button.setEnabled(run_dir is not None and run_dir.is_dir())
        self.inspect_button.setEnabled(have and result.inspectable)

    def set_presentation_mode(self, on: bool) -> None:
        for plot in self.plots():
            plot.set_presentation_mode(on)

    def stop_updates(self) -> None:
        self._smoothing_timer.stop()
        for plot in self.plots():
            plot.stop_updates()
