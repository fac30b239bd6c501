"""The Training pane's three columns (settings, the run's curves, the summary/augmentation/log
tabs), built the first time the pane is shown or one of its widgets is asked for."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QSplitter

from cnnviz.gui.panes.training.monitor import RunMonitor
from cnnviz.gui.panes.training.settings import TrainingSettings
from cnnviz.gui.panes.training.side import SideTabs

#: The settings' widgets tests and scripts drive on the pane, under the names they have always had.
SETTINGS_WIDGETS = (
    "settings_box", "model_combo", "functional_check", "dataset_combo", "folder_edit", "folder_widget",
    "samples_spin", "val_spin", "augment_check", "epochs_spin", "batch_spin", "lr_edit",
    "optimizer_combo", "seed_spin", "reduce_lr_check", "h5_check", "output_edit", "start_button",
    "stop_button", "continue_button", "strategy_combo", "replicas_spin", "split_label",
    "devices_label", "replicas_problem_label")
#: The monitor's.
MONITOR_WIDGETS = (
    "progress", "eta_label", "batch_plot", "loss_plot", "metric_plot", "device_label", "speed_label",
    "lr_label", "smoothing_spin", "outcome_label", "run_dir_label", "open_folder_button",
    "inspect_button", "replicas_label")
#: The side tabs'.
SIDE_WIDGETS = ("summary_title", "summary_table", "totals_label", "preview_grid", "preview_caption",
                "preview_button", "log_view")


def build_columns(pane) -> None:
    """Build ``pane``'s columns into it and wire their buttons to it."""
    root = QHBoxLayout(pane)
    root.setContentsMargins(6, 6, 6, 6)
    pane._splitter = splitter = QSplitter(Qt.Orientation.Horizontal, pane)
    root.addWidget(splitter)
    pane.settings = s = TrainingSettings(pane.form)
    pane.monitor = m = RunMonitor(pane.run_progress, pane.form.epochs)
    pane.side = pane.side_tabs = t = SideTabs()
    for column in (s, m, t):
        splitter.addWidget(column)
    splitter.setStretchFactor(0, 0)
    splitter.setStretchFactor(1, 1)
    splitter.setStretchFactor(2, 0)
    splitter.setSizes([310, 680, 410])
    for column, names in ((s, SETTINGS_WIDGETS), (m, MONITOR_WIDGETS), (t, SIDE_WIDGETS)):
        for name in names:
            setattr(pane, name, getattr(column, name))
    s.start_button.clicked.connect(lambda: pane.start())
    s.stop_button.clicked.connect(lambda: pane.stop())
    s.continue_button.clicked.connect(pane._on_continue_clicked)
    s.folder_chosen.connect(pane._on_folder_chosen)
    m.open_folder_button.clicked.connect(pane._on_open_folder_clicked)
    m.inspect_button.clicked.connect(lambda: pane.inspect())
    t.preview_button.clicked.connect(pane._on_preview_button_clicked)
