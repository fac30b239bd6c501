"""Training pane: train the book's models on offline data and watch the curves live.

The training itself is :func:`cnnviz.ml.training.run` — the book's ``model.fit`` with its
callbacks — running on the one Keras worker thread (``ctx.worker``, channel ``"training"``). This
pane only turns controls into a :class:`~cnnviz.ml.training.TrainConfig`, and turns the plain
dicts the run reports into plots and words:

- on the worker, :class:`TrainingProgressHandle` receives every batch; it recovers each batch's
  own loss from Keras's running mean, keeps all of them and sends them in chunks at most ~20
  times a second (always the first and last batch of an epoch, and every epoch);
- in the GUI thread the points go into :class:`~cnnviz.gui.widgets.loss_plot.LossPlotWidget`
  buffers; the plots redraw at most ~10 times a second.

Keras is never imported here at import time: the model summary (Listing 2.2) is built on the
worker too, the first time the pane is shown, while the table says "Loading TensorFlow…".
"""

from __future__ import annotations

import atexit
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QStandardPaths, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QColor, QDesktopServices, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import Pane
from cnnviz.gui.widgets.loss_plot import REDRAW_MS, LossPlotWidget
from cnnviz.gui.widgets.sample_grid import SampleGridWidget
from cnnviz.ml import datasets as data  # numpy + OpenCV only
from cnnviz.ml import zoo  # Keras is imported only when a model is built

__all__ = ["TrainingPane", "TrainingProgressHandle", "default_runs_root", "summary_job", "train_job"]

CHANNEL = "training"
SUMMARY_CHANNEL = "training-summary"
PREVIEW_CHANNEL = "training-preview"
TRAINING_REDRAW_MS = 200  # plots and their words while a run competes for the CPU
REPORT_INTERVAL_S = 0.05  # ~20 progress reports per second at most
GENERATED = ("shapes", "segmentation", "digit_pairs")  # sets generated on demand ("n" samples)
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"  # the book's matplotlib figures
METRIC_COLORS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
STATUS_COLORS = {"finished": "#188038", "stopped": "#b06000", "nan": "#d93025", "failed": "#d93025"}


#: Download sizes of the keras.datasets sets, for the question asked before fetching one.
DOWNLOAD_SIZES = {"mnist": "11 MB", "fashion_mnist": "30 MB", "cifar10": "170 MB"}
DATASET_TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def default_runs_root() -> Path:
    """Where runs go unless the user picks a folder: the per-user data folder's ``runs``."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return (Path(base) if base else Path.home() / ".cnnviz") / "runs"


# --- jobs that run on the Keras worker -----------------------------------------------------


class TrainingProgressHandle:
    """The handle :func:`cnnviz.ml.training.run` reports to, on the worker thread.

    Keras reports the *running mean* of the loss over the epoch so far; the loss of batch ``b``
    itself is ``b·m_b − (b−1)·m_(b−1)`` (exact for equal batches; a smaller last batch comes out
    a little closer to the mean). Every batch is kept; chunks go to the GUI thread through
    ``job.progress`` no more often than every ``interval`` seconds, plus always the first batch
    of the run and the last of each epoch. Only plain data (numpy arrays, dicts, str) is sent.
    """

    def __init__(self, job: Any, interval: float = REPORT_INTERVAL_S) -> None:
        from cnnviz.ml.training import DIVERGED_LOSS

        self._diverged_at = DIVERGED_LOSS
        self._diverged_sent = False
        self.stop_event = job.stop_event
        self._job = job
        self._interval = float(interval)
        self._last_sent = 0.0
        self._prev_mean: float | None = None
        self._info: dict = {}
        self._xs: list[float] = []
        self._raw: list[float] = []
        self._means: list[float] = []
        self.reports = 0

    def on_batch(self, info: dict) -> None:
        batch, batches, mean = int(info["batch"]), max(1, int(info["batches"])), float(info["loss"])
        if batch == 1 or self._prev_mean is None:
            raw = mean
        else:
            raw = batch * mean - (batch - 1) * self._prev_mean
        self._prev_mean = mean
        x = (int(info["epoch"]) - 1) + batch / batches
        self._info = info
        if not (math.isfinite(mean) and abs(mean) < self._diverged_at):
            # The run stops here (the engine explains why); no point of a flat plot at 1e30.
            if not self._diverged_sent:
                self._diverged_sent = True
                self._flush(info, time.monotonic())
                self._job.progress({"kind": "diverged", "x": x, "loss": mean,
                                    "epoch": int(info["epoch"]), "batch": batch})
            return
        self._xs.append(x)
        self._raw.append(raw)
        self._means.append(mean)
        now = time.monotonic()
        if info.get("step") == 1 or batch == batches or now - self._last_sent >= self._interval:
            self._flush(info, now)

    def finish(self) -> None:
        """Send the batches still held back (the run ended between two reports)."""
        if self._xs:
            self._flush(self._info, time.monotonic())

    def _flush(self, info: dict, now: float) -> None:
        if not self._xs:
            return
        payload = {
            "kind": "batches",
            "x": np.asarray(self._xs, np.float64),
            "loss": np.asarray(self._raw, np.float64),
            "mean": np.asarray(self._means, np.float64),
            "info": dict(info, metrics=dict(info.get("metrics") or {})),
        }
        self._xs, self._raw, self._means = [], [], []
        self._last_sent = now
        self.reports += 1
        self._job.progress(payload)

    def on_epoch(self, info: dict) -> None:
        self._prev_mean = None
        self._job.progress({"kind": "epoch", "info": dict(info, metrics=dict(info.get("metrics") or {}))})

    def on_message(self, text: str) -> None:
        self._job.progress({"kind": "message", "text": str(text)})


def train_job(job: Any, config: Any):
    """Run one training on the worker; returns the engine's ``TrainResult``."""
    from cnnviz.ml import training

    handle = TrainingProgressHandle(job)
    try:
        return training.run(config, handle)
    finally:
        handle.finish()


def summary_job(job: Any, model_name: str, functional: bool = False) -> dict:
    """Build a zoo model (uncompiled) for its Listing-2.2 table; imports Keras the first time."""
    from cnnviz.ml import backend

    model = zoo.build(model_name, compile=False, functional=functional)
    rows, totals = zoo.summary_rows(model)
    return {"model": model_name, "functional": bool(functional), "rows": rows, "totals": totals,
            "device": backend.device_description()}


def preview_job(job: Any, dataset: str, options: dict, seed: int) -> dict:
    """Load a few samples of a dataset and augment them (numpy/OpenCV; may read files)."""
    ds = data.load(dataset, **options)
    return _preview_from(ds, seed)


def _preview_from(ds: data.Dataset, seed: int, columns: int = 4, rows: int = 3) -> dict:
    x = ds.x_train[:, 0] if ds.task == "pairs" else ds.x_train
    picks = np.asarray(x[:columns])
    aug = data.BOOK_AUGMENTATION if ds.flip_ok else data.BOOK_AUGMENTATION.without_flip()
    augmented = data.augment_preview(picks, n=columns * rows, seed=seed, aug=aug)
    return {"images": np.concatenate([picks, augmented]), "columns": columns, "flip": aug.horizontal_flip,
            "dataset": ds.name}


# --- the pane ------------------------------------------------------------------------------


class TrainingPane(Pane):
    """Controls on the left, live curves in the middle, model summary / augmentation / log right."""

    name = "training"
    title = "Training"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self._job = None  # the training job while one runs
        self._summary_job = None
        self._preview_job = None
        self._summaries: dict[tuple[str, bool], dict] = {}
        self._activated = False
        self._closed = False
        self._screenshot_pending = False
        self._resume_from: Path | None = None
        self._run_epochs: tuple[int, int] = (0, 0)
        self._metric_keys: list[str] = []
        self._last_info: dict | None = None
        self._batches_seen = 0
        self._labels_shown_at = 0.0
        self.result = None  # the last TrainResult
        # Asked before a dataset is downloaded: (dataset name, size text) -> True to download.
        # Tests answer it themselves; the default is a dialog.
        self.download_prompt: Callable[[str, str], bool] = self._ask_download
        self.epoch_reports: list[dict] = []  # this run's epoch dicts, as the engine sent them
        self.device = ""
        self._runs_root = default_runs_root()
        self._build_ui()
        self._on_model_changed()
        self._set_running(False)

    # -- UI ----------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self._splitter = splitter
        root.addWidget(splitter)

        # Left: the settings, in a scroll area so presentation mode never clips them.
        self.settings_box = QWidget()
        side = QVBoxLayout(self.settings_box)
        side.setContentsMargins(0, 0, 6, 0)

        mbox = QGroupBox("Model")
        ml = QVBoxLayout(mbox)
        self.model_combo = QComboBox()
        for name in zoo.NAMES:
            s = zoo.spec(name)
            self.model_combo.addItem(f"{s.title} — {s.listing}", name)
            self.model_combo.setItemData(self.model_combo.count() - 1, zoo.describe(name),
                                         Qt.ItemDataRole.ToolTipRole)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        ml.addWidget(self.model_combo)
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        _dim(self.model_info)
        ml.addWidget(self.model_info)
        self.functional_check = QCheckBox("Functional API (Listing 5.2)")
        self.functional_check.setToolTip("The same network written with the functional API instead of Sequential")
        self.functional_check.toggled.connect(self._on_functional_toggled)
        ml.addWidget(self.functional_check)
        side.addWidget(mbox)

        dbox = QGroupBox("Data")
        dl = QFormLayout(dbox)
        self.dataset_combo = QComboBox()
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_changed)
        dl.addRow("Dataset", self.dataset_combo)
        self.dataset_info = QLabel()
        self.dataset_info.setWordWrap(True)
        _dim(self.dataset_info)
        dl.addRow(self.dataset_info)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder with one subfolder per class")
        self.folder_edit.editingFinished.connect(self._on_folder_edited)
        self.folder_button = QPushButton("…")
        self.folder_button.setToolTip("Choose the image folder")
        self.folder_button.setMaximumWidth(36)
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.folder_button)
        self.folder_widget = QWidget()
        self.folder_widget.setLayout(folder_row)
        folder_row.setContentsMargins(0, 0, 0, 0)
        dl.addRow("Folder", self.folder_widget)
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(0, 1_000_000)
        self.samples_spin.setSingleStep(256)
        self.samples_spin.setSpecialValueText("all")
        self.samples_spin.setToolTip("Use at most this many samples (training + validation) to keep runs short; "
                                     "generated sets make exactly this many")
        dl.addRow("Samples", self.samples_spin)
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setRange(0.0, 0.9)
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setDecimals(2)
        self.val_spin.setValue(0.1)
        self.val_spin.setToolTip("Share of the samples kept aside to validate (unless the dataset has its own test part)")
        dl.addRow("Validation", self.val_spin)
        self.augment_check = QCheckBox("Augment (Listing 4.4)")
        self.augment_check.setToolTip("Rotation ±30°, shift ±25 %, shear 0.2, zoom ±30 %, horizontal flip "
                                      "(not for digits) — new random changes every epoch")
        self.augment_check.toggled.connect(self._on_augment_toggled)
        dl.addRow(self.augment_check)
        side.addWidget(dbox)

        tbox = QGroupBox("Training")
        tl = QFormLayout(tbox)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10_000)
        self.epochs_spin.setValue(3)
        tl.addRow("Epochs", self.epochs_spin)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1_000_000)
        self.batch_spin.setValue(32)
        tl.addRow("Batch size", self.batch_spin)
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip("Empty: the book's learning rate for this model. Accepts 0.001 or 1e-3.")
        tl.addRow("Learning rate", self.lr_edit)
        self.optimizer_combo = QComboBox()
        tl.addRow("Optimizer", self.optimizer_combo)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("The same seed gives the same run (same weights, same shuffling)")
        tl.addRow("Seed", self.seed_spin)
        self.reduce_lr_check = QCheckBox("ReduceLROnPlateau (Listing 2.5)")
        self.reduce_lr_check.setToolTip("Divide the learning rate by 5 when the validation loss has not improved for 2 epochs")
        tl.addRow(self.reduce_lr_check)
        self.h5_check = QCheckBox("Also save .h5 files")
        self.h5_check.setToolTip("Besides .keras, write each checkpoint in the legacy HDF5 format as the book does")
        tl.addRow(self.h5_check)
        side.addWidget(tbox)

        obox = QGroupBox("Output")
        ol = QVBoxLayout(obox)
        out_row = QHBoxLayout()
        self.output_edit = QLineEdit(str(self._runs_root))
        self.output_edit.setToolTip("Each run gets its own folder here: checkpoints, log.csv, final.keras, run.json")
        self.output_button = QPushButton("…")
        self.output_button.setMaximumWidth(36)
        self.output_button.setToolTip("Choose the folder for runs")
        self.output_button.clicked.connect(self._on_output_button_clicked)
        out_row.addWidget(self.output_edit, 1)
        out_row.addWidget(self.output_button)
        ol.addLayout(out_row)
        side.addWidget(obox)
        side.addStretch(1)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        for combo in (self.model_combo, self.dataset_combo, self.optimizer_combo):
            # Long entries must not widen the column (presentation fonts): the list shows them.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        scroll.setWidget(self.settings_box)
        left_layout.addWidget(scroll, 1)
        buttons = QGridLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train with these settings in a new run folder")
        self.start_button.clicked.connect(self._on_start_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Finish the current batch, save a checkpoint and keep the model")
        self.stop_button.clicked.connect(self._on_stop_clicked)
        self.continue_button = QPushButton("Continue from checkpoint…")
        self.continue_button.setToolTip("Load a saved .keras checkpoint and train it further")
        self.continue_button.clicked.connect(self._on_continue_clicked)
        bold = QFont()
        bold.setBold(True)
        self.start_button.setFont(bold)
        buttons.addWidget(self.start_button, 0, 0)
        buttons.addWidget(self.stop_button, 0, 1)
        buttons.addWidget(self.continue_button, 1, 0, 1, 2)
        left_layout.addLayout(buttons)
        left.setMinimumWidth(300)
        splitter.addWidget(left)

        # Middle: progress and the curves.
        middle = QWidget()
        mid = QVBoxLayout(middle)
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
        info_row = QHBoxLayout()
        self.device_label = QLabel("Device: —")
        self.device_label.setToolTip("Where TensorFlow trains: the GPU's name, or CPU")
        self.speed_label = QLabel("")
        self.lr_label = QLabel("")
        info_row.addWidget(self.device_label)
        info_row.addStretch(1)
        info_row.addWidget(QLabel("Smoothing"))
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setRange(0.0, 0.99)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setDecimals(2)
        self.smoothing_spin.setValue(self.batch_plot.smoothing)
        self.smoothing_spin.setToolTip("Weight of TensorBoard's debiased moving average for the bold "
                                       "per-batch line: 0 = none, 0.99 = very smooth")
        self.smoothing_spin.valueChanged.connect(self._on_smoothing_changed)
        # Re-smoothing every point costs ~20 ms per 100k: coalesce a held-down arrow key.
        self._smoothing_timer = QTimer(self)
        self._smoothing_timer.setSingleShot(True)
        self._smoothing_timer.setInterval(60)
        self._smoothing_timer.timeout.connect(self._on_smoothing_due)
        info_row.addWidget(self.smoothing_spin)
        info_row.addSpacing(16)
        info_row.addWidget(self.lr_label)
        info_row.addSpacing(16)
        info_row.addWidget(self.speed_label)
        mid.addLayout(info_row)

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

        self.outcome_label = QLabel("")
        self.outcome_label.setWordWrap(True)
        self.outcome_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outcome_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        mid.addWidget(self.outcome_label)
        run_row = QHBoxLayout()
        self.run_dir_label = QLabel("")
        self.run_dir_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_dir_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        _dim(self.run_dir_label)
        self.open_folder_button = QPushButton("Open run folder")
        self.open_folder_button.clicked.connect(self._on_open_folder_clicked)
        self.inspect_button = QPushButton("Inspect activations")
        self.inspect_button.setToolTip("Open the trained model in the Activations pane")
        self.inspect_button.clicked.connect(self._on_inspect_clicked)
        run_row.addWidget(self.run_dir_label, 1)
        run_row.addWidget(self.open_folder_button)
        run_row.addWidget(self.inspect_button)
        mid.addLayout(run_row)
        splitter.addWidget(middle)

        # Right: summary table, augmentation preview, log.
        self.side_tabs = QTabWidget()
        summary = QWidget()
        sl = QVBoxLayout(summary)
        sl.setContentsMargins(4, 4, 4, 4)
        self.summary_title = QLabel("")
        self.summary_title.setWordWrap(True)
        sl.addWidget(self.summary_title)
        self.summary_table = QTableWidget(0, 3)
        self.summary_table.setHorizontalHeaderLabels(["Layer (type)", "Output shape", "Param #"])
        self.summary_table.verticalHeader().setVisible(False)
        self.summary_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.summary_table.setWordWrap(False)
        header = self.summary_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        # As tall as its rows (the totals follow right below, as in the book), scrolling when
        # a big model's rows do not fit.
        self.summary_table.setSizeAdjustPolicy(QAbstractItemView.SizeAdjustPolicy.AdjustToContents)
        self.summary_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        sl.addWidget(self.summary_table)
        self.totals_label = QLabel("")
        self.totals_label.setWordWrap(True)
        self.totals_label.setTextFormat(Qt.TextFormat.RichText)
        sl.addWidget(self.totals_label)
        sl.addStretch(1)
        self.side_tabs.addTab(summary, "Model summary")

        preview = QWidget()
        pl = QVBoxLayout(preview)
        pl.setContentsMargins(4, 4, 4, 4)
        self.preview_grid = SampleGridWidget()
        self.preview_grid.set_placeholder("Turn on augmentation to see samples")
        pl.addWidget(self.preview_grid, 1)
        self.preview_caption = QLabel("")
        self.preview_caption.setWordWrap(True)
        _dim(self.preview_caption)
        pl.addWidget(self.preview_caption)
        self.preview_button = QPushButton("New random changes")
        self.preview_button.clicked.connect(self._on_preview_button_clicked)
        pl.addWidget(self.preview_button)
        self.side_tabs.addTab(preview, "Augmentation")

        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(2000)
        self.side_tabs.addTab(self.log_view, "Log")
        splitter.addWidget(self.side_tabs)

        for plot in (self.batch_plot, self.loss_plot, self.metric_plot):
            plot.set_x_range(0, self.epochs_spin.value())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setSizes([310, 680, 410])
        self._preview_seed = 0

    # -- reading the controls ----------------------------------------------------------------
    def model_name(self) -> str:
        return str(self.model_combo.currentData())

    def dataset_name(self) -> str:
        return str(self.dataset_combo.currentData())

    def set_model(self, name: str) -> None:
        """Choose a zoo model (as picking it in the list does)."""
        index = self.model_combo.findData(name)
        if index < 0:
            raise ValueError(f"unknown model '{name}'")
        self.model_combo.setCurrentIndex(index)

    def set_dataset(self, name: str) -> None:
        index = self.dataset_combo.findData(name)
        if index < 0:
            raise ValueError(f"'{name}' does not suit {self.model_name()}")
        self.dataset_combo.setCurrentIndex(index)

    def set_folder(self, path: str | Path) -> None:
        """Train on an image folder (one subfolder per class)."""
        self.set_dataset("folder")
        self.folder_edit.setText(str(path))
        self._on_folder_edited()

    def set_output_root(self, path: str | Path) -> None:
        """The folder each new run folder is made in."""
        self.output_edit.setText(str(path))

    def output_root(self) -> Path:
        text = self.output_edit.text().strip()
        return Path(text).expanduser() if text else default_runs_root()

    def learning_rate(self) -> float | None:
        """The typed learning rate, None for the book's; ValueError with words otherwise."""
        text = self.lr_edit.text().strip().replace(",", ".")
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"The learning rate '{text}' is not a number; type e.g. 0.001 or 1e-3.") from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"The learning rate must be a positive number, not {text}.")
        return value

    def make_config(self, out_dir: Path, resume_from: Path | None = None):
        """A TrainConfig from the controls (raises ValueError with words for bad input)."""
        from cnnviz.ml.training import TrainConfig

        model, dataset = self.model_name(), self.dataset_name()
        samples = self.samples_spin.value() or None
        options: dict[str, Any] = {}
        if dataset == "folder":
            folder = self.folder_edit.text().strip()
            if not folder:
                raise ValueError("Choose an image folder (one subfolder per class) to train on.")
            options["path"] = folder
        elif dataset in GENERATED and samples:
            options["n"] = samples
        return TrainConfig(
            model=model,
            dataset=dataset,
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            learning_rate=self.learning_rate(),
            optimizer=self.optimizer_combo.currentData(),
            validation_split=self.val_spin.value(),
            augment=self.augment_check.isChecked(),
            seed=self.seed_spin.value(),
            reduce_lr_on_plateau=self.reduce_lr_check.isChecked(),
            out_dir=out_dir,
            save_h5=self.h5_check.isChecked(),
            resume_from=resume_from,
            max_samples=samples,
            functional=self.functional_check.isChecked() and self.functional_check.isVisible(),
            dataset_options=options,
        )

    # -- model and data choices ----------------------------------------------------------------
    @Slot()
    def _on_model_changed(self, _index: int = 0) -> None:
        name = self.model_name()
        s = zoo.spec(name)
        self.model_info.setText(zoo.describe(name))
        self.functional_check.setVisible("functional" in s.options)
        self.optimizer_combo.clear()
        self.optimizer_combo.addItem(f"Book's ({s.optimizer})", None)
        for opt in zoo.OPTIMIZERS:
            self.optimizer_combo.addItem(opt, opt)
        self.lr_edit.setPlaceholderText(f"{s.learning_rate:g} (the book's)")
        self.dataset_combo.blockSignals(True)
        self.dataset_combo.clear()
        for ds_name in data.compatible(name):
            label = ds_name
            if ds_name in ("mnist", "fashion_mnist", "cifar10") and not data.is_cached(ds_name):
                label += " (not downloaded)"
            self.dataset_combo.addItem(label, ds_name)
            self.dataset_combo.setItemData(self.dataset_combo.count() - 1, data.describe(ds_name),
                                           Qt.ItemDataRole.ToolTipRole)
        self.dataset_combo.setCurrentIndex(0)  # each model's own dataset first (the book's pairing)
        self.dataset_combo.blockSignals(False)
        self._on_dataset_changed()
        self._request_summary()

    @Slot(bool)
    def _on_functional_toggled(self, _on: bool) -> None:
        self._request_summary()

    @Slot()
    def _on_dataset_changed(self, _index: int = 0) -> None:
        name = self.dataset_name()
        if name == "None":
            return
        self.dataset_info.setText(data.describe(name))
        self.folder_widget.setVisible(name == "folder")
        form = self.folder_widget.parentWidget().layout()
        if isinstance(form, QFormLayout):
            form.setRowVisible(self.folder_widget, name == "folder")
        if self.augment_check.isChecked():
            self._request_preview()

    @Slot()
    def _on_folder_edited(self) -> None:
        if self.augment_check.isChecked():
            self._request_preview()

    @Slot()
    def _on_folder_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder (one subfolder per class)",
                                                self.folder_edit.text())
        if path:
            self.folder_edit.setText(path)
            self._on_folder_edited()

    @Slot()
    def _on_output_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for training runs", str(self.output_root()))
        if path:
            self.set_output_root(path)

    # -- summary (Listing 2.2), built on the worker -------------------------------------------
    def _request_summary(self) -> None:
        if not self._activated or self._closed:
            return
        key = self._summary_key()
        if key in self._summaries:
            self._show_summary(self._summaries[key])
            return
        self.summary_table.setRowCount(0)
        first = not self._summaries
        self.summary_title.setText("Loading TensorFlow…" if first else f"Building {key[0]}…")
        self.totals_label.setText("")
        if first:
            self.device_label.setText("Device: (loading TensorFlow…)")
        try:
            self._summary_job = self.ctx.worker.submit(
                summary_job, key[0], key[1], channel=SUMMARY_CHANNEL,
                on_done=self._on_summary_done, on_error=self._on_summary_failed)
        except RuntimeError:  # the worker is shut down: the window is closing
            pass

    def _summary_key(self) -> tuple[str, bool]:
        name = self.model_name()
        return name, bool(self.functional_check.isChecked() and "functional" in zoo.spec(name).options)

    @Slot(object)
    def _on_summary_done(self, summary: dict) -> None:
        self._summary_job = None
        if self._closed:
            return
        key = (summary["model"], summary["functional"])
        self._summaries[key] = summary
        self._set_device(summary["device"])
        if key == self._summary_key():
            self._show_summary(summary)

    @Slot(str)
    def _on_summary_failed(self, text: str) -> None:
        self._summary_job = None
        if not self._closed:
            self.summary_title.setText(f"The model could not be built: {text}")

    def _show_summary(self, summary: dict) -> None:
        s = zoo.spec(summary["model"])
        variant = " (functional)" if summary["functional"] else ""
        self.summary_title.setText(f"<b>{s.title}</b>{variant} — as <code>model.summary()</code> prints it "
                                   f"(Listing 2.2)")
        rows = summary["rows"]
        table = self.summary_table
        table.setRowCount(len(rows))
        for r, (layer, kind, shape, params) in enumerate(rows):
            cells = [f"{layer} ({kind})", shape, f"{params:,}"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                table.setItem(r, c, item)
        total, trainable, frozen = summary["totals"]
        text = (f"Total params: <b>{total:,}</b><br>Trainable params: {trainable:,}<br>"
                f"Non-trainable params: {frozen:,}")
        if s.book_params:
            mark = "✓ as in the book" if s.book_params == total else f"the book prints {s.book_params:,}"
            text += f"<br><span style='color:#188038'>{mark}</span>" if s.book_params == total else f"<br>{mark}"
        if s.task == "classification":
            text += f"<br><span style='color:#5f6368'>Built for {s.num_classes} classes; the last layer follows the dataset's classes.</span>"
        self.totals_label.setText(text)

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """The table as shown (for tests and export)."""
        t = self.summary_table
        return [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount())]

    def _set_device(self, device: str) -> None:
        if device:
            self.device = device
            self.device_label.setText(f"Device: <b>{device}</b>")

    # -- augmentation preview (Listing 4.4, Figure 4.8) -----------------------------------------
    @Slot(bool)
    def _on_augment_toggled(self, on: bool) -> None:
        if on:
            self.side_tabs.setCurrentIndex(1)
            self._request_preview()
        else:
            self.preview_grid.clear("Turn on augmentation to see samples")
            self.preview_caption.setText("")

    @Slot()
    def _on_preview_button_clicked(self) -> None:
        self._preview_seed += 1
        self._request_preview()

    def _request_preview(self) -> None:
        """Show 4 samples and 12 random changes of them. Bundled and generated sets are cheap
        (a few ms) and done here; a folder or a keras.datasets file is read on the worker."""
        if self._closed:
            return
        name = self.dataset_name()
        # The samples follow the run's seed; "New random changes" only re-rolls the changes.
        seed = self.seed_spin.value() * 1000 + self._preview_seed
        spec = zoo.spec(self.model_name())
        options: dict[str, Any] = {"seed": self.seed_spin.value()}
        if name in GENERATED:
            options["n"] = 8
        if name in ("shapes", "segmentation"):
            options.update(size=spec.input_shape[0], channels=spec.input_shape[2])
        if name == "folder":
            folder = self.folder_edit.text().strip()
            if not folder:
                self.preview_grid.clear("Choose an image folder to preview it")
                return
            options.update(path=folder, size=spec.input_shape[:2], channels=spec.input_shape[2],
                           max_per_class=4)
        if name in ("digits", *GENERATED):
            try:
                self._on_preview_done(_preview_from(data.load(name, **options), seed))
            except (ValueError, data.DatasetUnavailableError) as exc:
                self._on_preview_failed(str(exc))
            return
        self.preview_grid.clear(f"Reading {name}…")
        try:
            self._preview_job = self.ctx.worker.submit(
                preview_job, name, options, seed, channel=PREVIEW_CHANNEL,
                on_done=self._on_preview_done, on_error=self._on_preview_failed)
        except RuntimeError:
            pass

    @Slot(object)
    def _on_preview_done(self, preview: dict) -> None:
        self._preview_job = None
        if self._closed:
            return
        self.preview_grid.set_images(preview["images"], preview["columns"])
        flip = "flip" if preview["flip"] else "no flip (a mirrored digit is another symbol)"
        self.preview_caption.setText(
            f"Top row: {preview['dataset']} samples. Below: random changes as training sees them "
            f"(Listing 4.4): rotation ±30°, shift ±25 %, shear 0.2, zoom ±30 %, {flip}.")

    @Slot(str)
    def _on_preview_failed(self, text: str) -> None:
        self._preview_job = None
        if not self._closed:
            self.preview_grid.clear(f"No preview: {text}")
            self.preview_caption.setText("")

    # -- running -----------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._job is not None

    @Slot()
    def _on_start_clicked(self) -> None:
        self.start()

    def start(self, resume_from: str | Path | None = None) -> bool:
        """Start a run with the controls' settings; False (with a message) if it cannot start."""
        if self._closed:
            return False
        if self._job is not None:
            self._show_outcome("failed", "A training run is already in progress: press Stop or wait "
                                         "until it ends before starting another.")
            return False
        from cnnviz.ml import training

        if training.busy():
            self._show_outcome("failed", "Another training run is in progress in this program; wait until it ends.")
            return False
        try:
            run_dir = training.new_run_dir(self.output_root(), self.model_name())
            config = self.make_config(run_dir, Path(resume_from) if resume_from else None)
        except ValueError as exc:
            self._show_outcome("failed", str(exc))
            return False
        if not self._allow_download(config):
            return False
        self.result = None
        self._run_dir = run_dir
        self._reset_plots(config)
        self.log_view.clear()
        self._log(f"Run folder: {run_dir}")
        self.outcome_label.setText("")
        self.run_dir_label.setText("")
        first = not self._summaries
        self.progress.setRange(0, 0)  # busy until the first batch
        self.progress.setFormat("Loading TensorFlow…" if first else "Preparing data and model…")
        self._set_running(True)
        try:
            self._job = self.ctx.worker.submit(
                train_job, config, channel=CHANNEL, supersede=False,
                on_done=self._on_training_done, on_error=self._on_training_failed,
                on_progress=self._on_training_progress)
        except RuntimeError as exc:
            self._set_running(False)
            self._show_outcome("failed", f"Training cannot start: {exc}.")
            return False
        return True

    def _allow_download(self, config) -> bool:
        """A Keras dataset that is not on this computer is downloaded only when the user agrees
        (asked through ``download_prompt``); False (with the reason shown) when they do not."""
        name = config.dataset if isinstance(config.dataset, str) else None
        if name not in DOWNLOAD_SIZES or data.is_cached(name):
            return True
        if not self.download_prompt(name, DOWNLOAD_SIZES[name]):
            self._show_outcome("failed", f"{DATASET_TITLES.get(name, name)} is not downloaded, so "
                                         f"nothing was trained. Choose a bundled set such as "
                                         f"'digits', or allow the download.")
            return False
        config.dataset_options["allow_download"] = True
        return True

    def _ask_download(self, name: str, size: str) -> bool:
        """The dialog behind ``download_prompt``."""
        title = DATASET_TITLES.get(name, name)
        answer = QMessageBox.question(
            self, "Download dataset",
            f"Download {title} ({size}) from the internet?\n\nIt is kept on this computer for "
            f"later runs. Without a connection, choose the bundled 'digits' set instead.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def continue_from(self, checkpoint: str | Path) -> bool:
        """Continue training from a saved checkpoint, with the model and data of its run."""
        path = Path(checkpoint)
        if not path.is_file():
            self._show_outcome("failed", f"The checkpoint '{path}' does not exist.")
            return False
        run_json = (path.parent.parent if path.parent.name == "checkpoints" else path.parent) / "run.json"
        try:
            info = json.loads(run_json.read_text())
            config = info.get("config", {})
            if config.get("model") in zoo.NAMES:
                self.set_model(config["model"])
            if config.get("dataset") in data.compatible(self.model_name()):
                self.set_dataset(config["dataset"])
                folder = (config.get("dataset_options") or {}).get("path")
                if config["dataset"] == "folder" and folder:
                    self.folder_edit.setText(str(folder))
        except (OSError, ValueError, AttributeError):
            pass  # a checkpoint from elsewhere: train it with the chosen model's settings
        return self.start(resume_from=path)

    @Slot()
    def _on_continue_clicked(self) -> None:
        start = str(self.result.run_dir / "checkpoints") if self.result is not None and self.result.run_dir else str(self.output_root())
        path, _ = QFileDialog.getOpenFileName(self, "Continue from checkpoint", start,
                                              "Keras checkpoints (*.keras *.h5);;All files (*)")
        if path:
            self.continue_from(path)

    @Slot()
    def _on_stop_clicked(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Finish the current batch, then end the run keeping the model (and a checkpoint)."""
        if self._job is None:
            return
        self._job.stop()
        self.stop_button.setEnabled(False)
        self.progress.setFormat(self.progress.format() + " — stopping after this batch…")
        self._log("Stop pressed: finishing the current batch.")

    def _set_running(self, running: bool) -> None:
        # While training, every redraw is CPU taken from TensorFlow: ~5 redraws a second.
        for plot in (self.batch_plot, self.loss_plot, self.metric_plot):
            plot.set_redraw_interval(TRAINING_REDRAW_MS if running else REDRAW_MS)
        self._labels_shown_at = 0.0
        self.settings_box.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.continue_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        have = self.result is not None
        self.open_folder_button.setEnabled(have and self.result.run_dir is not None and self.result.run_dir.is_dir())
        self.inspect_button.setEnabled(have and self._inspectable(self.result))
        self.start_button.setToolTip("A run is in progress: Stop it first" if running
                                     else "Train with these settings in a new run folder")

    @staticmethod
    def _inspectable(result) -> bool:
        return result is not None and result.model is not None and (
            result.ok or (result.status == "nan" and result.last_good_checkpoint is not None))

    def _reset_plots(self, config) -> None:
        # A continued run's epochs are known once its first batch reports them.
        initial, end = 0, int(config.epochs)
        self._run_epochs = (initial, end) if config.resume_from is None else (-1, -1)
        for plot in (self.batch_plot, self.loss_plot, self.metric_plot):
            plot.clear_data()
            plot.set_x_range(initial, end)
        self.batch_plot.set_placeholder("Waiting for the first batch…")
        self.loss_plot.set_placeholder("")
        self.metric_plot.set_placeholder("")
        for key in self._metric_keys:
            self.metric_plot.remove_series(key)
        self._metric_keys = []
        self._batches_seen = 0
        self._last_info = None
        self.epoch_reports = []
        self.eta_label.setText("")
        self.speed_label.setText("")
        self.lr_label.setText("")

    @Slot(object)
    def _on_training_progress(self, payload: dict) -> None:
        if self._closed:
            return
        kind = payload.get("kind")
        if kind == "batches":
            self._on_batches(payload)
        elif kind == "epoch":
            self._on_epoch(payload["info"])
        elif kind == "diverged":
            loss = payload["loss"]
            what = "NaN" if math.isnan(loss) else f"{loss:.2g}"
            self.batch_plot.mark(payload["x"], f"loss {what}")
        elif kind == "message":
            self._log(payload["text"])
            if payload["text"].startswith("Training on "):
                self._set_device(payload["text"][len("Training on "):].rstrip("."))

    def _on_batches(self, payload: dict) -> None:
        info = payload["info"]
        self._last_info = info
        end = int(info["epochs"])
        initial = end - int(info["steps"]) // max(1, int(info["batches"]))
        if self._run_epochs != (initial, end):
            self._run_epochs = (initial, end)
            for plot in (self.batch_plot, self.loss_plot, self.metric_plot):
                plot.set_x_range(initial, end)
        self._batches_seen += len(payload["x"])
        self.batch_plot.extend("loss", payload["x"], payload["loss"])
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
        stopping = " — stopping after this batch…" if self._job is not None and self._job.stopped else ""
        _set_text(self.progress, f"Epoch {info['epoch']}/{info['epochs']} · batch {info['batch']}/"
                  f"{info['batches']} · %p%{stopping}", self.progress.format, self.progress.setFormat)
        eta = info.get("eta_s")
        _set_text(self.eta_label, f"ETA {_clock(eta)}" if eta is not None else "ETA —")
        rate = info.get("samples_per_s") or 0.0
        _set_text(self.speed_label, f"{rate:,.0f} samples/s" if rate else "")
        lr = info.get("lr")
        if lr is not None and math.isfinite(lr):
            _set_text(self.lr_label, f"learning rate {lr:.3g}")

    def _on_epoch(self, info: dict) -> None:
        self.epoch_reports.append(info)
        epoch = int(info["epoch"])
        lr = info.get("lr")
        if lr is not None and math.isfinite(lr):
            self.lr_label.setText(f"learning rate {lr:.3g}")
        note = f"Epoch {epoch}/{info['epochs']}: loss {info['loss']:.4g}"
        if info.get("val_loss") is not None:
            note += f", validation loss {info['val_loss']:.4g}"
        for key, value in (info.get("metrics") or {}).items():
            note += f", {key} {value:.4g}"
        if info.get("checkpoint"):
            note += f" — saved {Path(info['checkpoint']).name}"
        if info.get("partial"):
            note += " (partial epoch)"
        self._log(note)
        if info.get("partial") or info.get("nan"):
            return  # a cut-short epoch's mean is not comparable with whole epochs
        self.loss_plot.append("loss", epoch, info["loss"])
        if info.get("val_loss") is not None:
            self.loss_plot.append("val_loss", epoch, info["val_loss"])
        # MSE (Listing 6.1 compiles it) is a second loss, not a score: it stays in the log.
        metrics = {k: v for k, v in (info.get("metrics") or {}).items()
                   if k not in ("learning_rate", "lr", "mse", "val_mse")}
        for key, value in metrics.items():
            if key not in self._metric_keys:
                self._add_metric_series(key, metrics)
            self.metric_plot.append(key, epoch, value)
        for plot in (self.loss_plot, self.metric_plot):
            plot.flush()

    def _add_metric_series(self, key: str, metrics: dict) -> None:
        base = key[4:] if key.startswith("val_") else key
        bases = sorted({k[4:] if k.startswith("val_") else k for k in metrics},
                       key=lambda k: (k != "accuracy", k))
        single = len(bases) == 1
        color = METRIC_COLORS[bases.index(base) % len(METRIC_COLORS)] if base in bases else "#5f6368"
        val = key.startswith("val_")
        label = _metric_title(base)
        if single:
            self.metric_plot.add_series(key, "validation" if val else "train",
                                        VAL_COLOR if val else TRAIN_COLOR, symbol="o")
        else:  # one legend entry per metric; validation is the dashed line of the same colour
            self.metric_plot.add_series(key, None if val else label, color, symbol="o", dashed=val)
        self._metric_keys.append(key)
        title = _metric_title(bases[0]) if single else "Metrics"
        if single:
            self.metric_plot.set_legend_layout("bottom-right")
        else:  # scores in [0, 1]: one legend row above them
            self.metric_plot.set_legend_layout("top-left", columns=len(bases))
            self.metric_plot.getPlotItem().setYRange(0.0, 1.15, padding=0.0)
        heading = (f"{title} per epoch" + (" (Figure 2.20)" if bases == ["accuracy"] else "")
                   if single else "Metrics (dashed: validation)")
        self.metric_plot.getPlotItem().setTitle(
            heading,
            color="#202124", size="18pt" if self.metric_plot.presentation_mode() else "11pt")
        self.metric_plot.getPlotItem().setLabel("left", title.lower() if single else "value")

    @Slot(object)
    def _on_training_done(self, result) -> None:
        self._job = None
        self.result = result
        if self._closed:
            return
        self.batch_plot.flush()
        self._set_device(result.device)
        if self._batches_seen == 0:
            self.batch_plot.set_placeholder("No batch was trained")
        for plot in (self.loss_plot, self.metric_plot):
            if not any(len(plot.series(k)) for k in plot.keys()):
                plot.set_placeholder("No whole epoch in this run")
        steps = self.progress.maximum()
        if result.status == "finished":
            self.progress.setRange(0, max(1, steps))
            self.progress.setValue(self.progress.maximum())
        elif self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
        self.progress.setFormat({"finished": "Finished", "stopped": "Stopped", "nan": "Stopped: the loss diverged",
                                 "failed": "Not trained"}.get(result.status, result.status))
        self.eta_label.setText(f"{_clock(result.elapsed_s)} in all" if result.elapsed_s else "")
        if result.samples_per_s:
            self.speed_label.setText(f"{result.samples_per_s:,.0f} samples/s")
        text = result.message
        if result.status == "nan" and result.last_good_checkpoint is not None:
            text += f"\nLast good checkpoint: {result.last_good_checkpoint}"
        self._show_outcome(result.status, text)
        if result.run_dir is not None and result.run_dir.is_dir():
            self.run_dir_label.setText(f"Run folder: {result.run_dir.name}")
            self.run_dir_label.setToolTip(str(result.run_dir))
        self._set_running(False)
        self._screenshot_pending = False

    @Slot(str)
    def _on_training_failed(self, text: str) -> None:
        self._job = None
        self._screenshot_pending = False
        if self._closed:
            return
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Not trained")
        self._show_outcome("failed", f"Training failed: {text}")
        self._set_running(False)

    def _show_outcome(self, status: str, text: str) -> None:
        self.outcome_label.setText(text)
        palette = self.outcome_label.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor(STATUS_COLORS.get(status, "#202124")))
        self.outcome_label.setPalette(palette)
        font = self.outcome_label.font()
        font.setBold(status in ("nan", "failed"))
        self.outcome_label.setFont(font)
        self._log(text)
        post = getattr(self.ctx, "post", None)
        if post is not None:
            post(text.splitlines()[0], 10000)

    def outcome_text(self) -> str:
        return self.outcome_label.text()

    def _log(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    def log_text(self) -> str:
        return self.log_view.toPlainText()

    @Slot(float)
    def _on_smoothing_changed(self, _value: float) -> None:
        self._smoothing_timer.start()

    @Slot()
    def _on_smoothing_due(self) -> None:
        self.batch_plot.set_smoothing(self.smoothing_spin.value())

    # -- after training ------------------------------------------------------------------------
    @Slot()
    def _on_open_folder_clicked(self) -> None:
        if self.result is not None and self.result.run_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result.run_dir)))

    @Slot()
    def _on_inspect_clicked(self) -> None:
        self.inspect()

    def inspect(self) -> bool:
        """Hand the trained model to the activations pane."""
        if not self._inspectable(self.result):
            return False
        folder = self.result.run_dir.name if self.result.run_dir is not None else ""
        name = f"{self.result.model.name} ({folder})" if folder else self.result.model.name
        self.ctx.offer_model(self.result.model, name)
        return True

    # -- pane hooks ----------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self._activated and not self._closed:
            self._activated = True  # Keras is imported from here on, on the worker
            self._request_summary()

    def is_busy(self) -> bool:
        return (self._screenshot_pending or self._summary_job is not None
                or self._preview_job is not None)

    def prepare_screenshot(self) -> None:
        """Train 3 epochs of Listing 2.1 (pooled) on 1,536 digits so the plots show real curves."""
        if not self._activated:
            self._activated = True
            self._request_summary()
        self.set_model("mnist_fast")
        self.set_dataset("digits")
        self.samples_spin.setValue(1536)
        self.epochs_spin.setValue(3)
        self.batch_spin.setValue(16)
        folder = tempfile.mkdtemp(prefix="cnnviz-screenshot-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)  # after the worker has ended
        self.set_output_root(Path(folder))
        self._screenshot_pending = self.start()

    def set_presentation_mode(self, on: bool) -> None:
        for plot in (self.batch_plot, self.loss_plot, self.metric_plot):
            plot.set_presentation_mode(on)
        # On a projector the curves matter most: the summary/augmentation/log column folds away
        # (its splitter handle brings it back).
        total = max(900, sum(self._splitter.sizes()))
        left, right = (400, 0) if on else (310, 410)
        self._splitter.setSizes([left, total - left - right, right])

    def mark_interrupted(self) -> bool:
        """The window had to quit before the run could end: say so in its run.json (the
        checkpoints saved so far stay valid). True if a running run was marked."""
        run_dir = getattr(self, "_run_dir", None)
        if self._job is None or run_dir is None:
            return False
        from cnnviz.ml import training

        return training.mark_interrupted(
            run_dir, "The program was closed before the current batch and the saving of the model "
                     "could finish; the last checkpoint in this folder is the model to use.")

    def shutdown(self) -> None:
        """Stop the run (it finishes its batch and saves a checkpoint while the window joins
        the worker) and ignore whatever it reports afterwards."""
        self._closed = True
        for job in (self._job, self._summary_job, self._preview_job):
            if job is not None:
                job.stop()
        self._smoothing_timer.stop()
        for plot in (self.batch_plot, self.loss_plot, self.metric_plot):
            plot.stop_updates()


def _metric_title(key: str) -> str:
    return {"accuracy": "Accuracy", "dice_coef": "Dice", "jaccard": "Jaccard", "mse": "MSE",
            "pair_accuracy": "Pair accuracy"}.get(key, key.replace("_", " ").capitalize())


def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _set_text(widget, text: str, get=None, put=None) -> None:
    """Set a text only when it changed: an unchanged label is not laid out again."""
    get = get or widget.text
    put = put or widget.setText
    if get() != text:
        put(text)


def _dim(label: QLabel) -> None:
    """Secondary text: the placeholder colour, size following the window."""
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
