"""The left column of the training pane: the run's settings and the Start/Stop/Continue buttons.

Every widget writes into the :class:`~cnnviz.state.training.TrainingForm` on input and shows it
again on its ``changed`` notification; the lists (datasets, optimizers) and their texts come
from the form's rules.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.panes.base import ChoiceCombo, fit_combos
from cnnviz.gui.qtutil import signals_blocked
from cnnviz.state.training import LIMITS, STRATEGY_CHOICES, TrainingForm

START_TIP = "Train with these settings in a new run folder"


def dim(label: QLabel) -> QLabel:
    """Secondary text: the placeholder colour, size following the window."""
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


class TrainingSettings(QWidget):
    """The settings (in a scroll area, so presentation mode never clips them) above the buttons."""

    #: The image folder was typed (editing finished) or chosen in the dialog.
    folder_chosen = Signal()

    def __init__(self, form: TrainingForm, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = form
        self.settings_box = QWidget()
        side = QVBoxLayout(self.settings_box)
        side.setContentsMargins(0, 0, 6, 0)
        side.addWidget(self._model_group())
        side.addWidget(self._data_group())
        side.addWidget(self._training_group())
        side.addWidget(self._parallel_group())
        side.addWidget(self._output_group())
        side.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        # The column is never narrower than its settings (minimumSizeHint): descriptions wrap
        # in it and nothing is reached by scrolling sideways.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._scroll = scroll
        # Long entries must not widen the column (presentation fonts): the closed box shows a
        # short form ("Fast MNIST CNN") where the whole text does not fit, the list shows them whole.
        fit_combos(self.settings_box)
        scroll.setWidget(self.settings_box)
        layout.addWidget(scroll, 1)
        layout.addLayout(self._buttons())

        self._running = False
        self.engine_devices: dict | None = None  # what the engine sees, once it said
        self.engine_split = 1  # logical CPUs the engine's processor is split into
        form.changed.connect(self._on_form_changed)
        self.show_form()

    def show_form(self) -> None:
        """Every field as the form holds it (the form may have changed before these widgets
        were built: a session opened before the Training pane was first shown)."""
        self._show_model()
        self._show_parallel()
        for what in (*_VALUE_WIDGETS, "folder", "output_root_text", "learning_rate_text"):
            self._on_form_changed(what)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """As wide as the settings' widest line (a check box's text, a label and its field) plus
        the vertical scroll bar, and at least 300 px."""
        hint = super().minimumSizeHint()
        bar = self._scroll.verticalScrollBar().sizeHint().width()
        need = self.settings_box.minimumSizeHint().width() + bar + 2 * self._scroll.frameWidth()
        return QSize(max(300, need, hint.width()), hint.height())

    # -- building ------------------------------------------------------------------------------
    def _model_group(self) -> QGroupBox:
        box = QGroupBox("Model")
        layout = QVBoxLayout(box)
        self.model_combo = ChoiceCombo()
        for name, text, tip in self.form.model_choices():
            self.model_combo.addItem(text, name)
            self.model_combo.setItemData(self.model_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.currentIndexChanged.connect(
            lambda _i: self.form.set_model(str(self.model_combo.currentData())))
        layout.addWidget(self.model_combo)
        self.model_info = dim(QLabel())
        self.model_info.setWordWrap(True)
        layout.addWidget(self.model_info)
        self.functional_check = QCheckBox("Functional API (Listing 5.2)")
        self.functional_check.setToolTip("The same network written with the functional API instead of Sequential")
        self.functional_check.toggled.connect(self.form.set_functional)
        layout.addWidget(self.functional_check)
        return box

    def _data_group(self) -> QGroupBox:
        box = QGroupBox("Data")
        layout = QFormLayout(box)
        self._data_layout = layout
        self.dataset_combo = ChoiceCombo()
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_picked)
        layout.addRow("Dataset", self.dataset_combo)
        self.dataset_info = dim(QLabel())
        self.dataset_info.setWordWrap(True)
        layout.addRow(self.dataset_info)
        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a folder with one subfolder per class")
        self.folder_edit.textChanged.connect(self.form.set_folder)
        self.folder_edit.editingFinished.connect(self.folder_chosen)
        self.folder_button = QPushButton("…")
        self.folder_button.setToolTip("Choose the image folder")
        self.folder_button.setMaximumWidth(36)
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.folder_button)
        self.folder_widget = QWidget()
        self.folder_widget.setLayout(folder_row)
        folder_row.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Folder", self.folder_widget)
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(*map(int, LIMITS["samples"]))
        self.samples_spin.setSingleStep(256)
        self.samples_spin.setSpecialValueText("all")
        self.samples_spin.setToolTip("Use at most this many samples (training + validation) to keep runs short; "
                                     "generated sets make exactly this many")
        self.samples_spin.setValue(self.form.samples)
        self.samples_spin.valueChanged.connect(self.form.set_samples)
        layout.addRow("Samples", self.samples_spin)
        self.val_spin = QDoubleSpinBox()
        self.val_spin.setRange(*LIMITS["validation_split"])
        self.val_spin.setSingleStep(0.05)
        self.val_spin.setDecimals(2)
        self.val_spin.setValue(self.form.validation_split)
        self.val_spin.setToolTip("Share of the samples kept aside to validate (unless the dataset has its own test part)")
        self.val_spin.valueChanged.connect(self.form.set_validation_split)
        layout.addRow("Validation", self.val_spin)
        self.augment_check = QCheckBox("Augment (Listing 4.4)")
        self.augment_check.setToolTip("Rotation ±30°, shift ±25 %, shear 0.2, zoom ±30 %, horizontal flip "
                                      "(not for digits) — new random changes every epoch")
        self.augment_check.setChecked(self.form.augment)
        self.augment_check.toggled.connect(self.form.set_augment)
        layout.addRow(self.augment_check)
        return box

    def _training_group(self) -> QGroupBox:
        box = QGroupBox("Training")
        layout = QFormLayout(box)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(*map(int, LIMITS["epochs"]))
        self.epochs_spin.setValue(self.form.epochs)
        self.epochs_spin.valueChanged.connect(self.form.set_epochs)
        layout.addRow("Epochs", self.epochs_spin)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(*map(int, LIMITS["batch_size"]))
        self.batch_spin.setValue(self.form.batch_size)
        self.batch_spin.valueChanged.connect(self.form.set_batch_size)
        layout.addRow("Batch size", self.batch_spin)
        self.lr_edit = QLineEdit(self.form.learning_rate_text)
        self.lr_edit.setToolTip("Empty: the book's learning rate for this model. Accepts 0.001 or 1e-3.")
        self.lr_edit.textChanged.connect(self.form.set_learning_rate_text)
        layout.addRow("Learning rate", self.lr_edit)
        self.optimizer_combo = ChoiceCombo()
        self.optimizer_combo.currentIndexChanged.connect(
            lambda _i: self.form.set_optimizer(self.optimizer_combo.currentData()))
        layout.addRow("Optimizer", self.optimizer_combo)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(*map(int, LIMITS["seed"]))
        self.seed_spin.setValue(self.form.seed)
        self.seed_spin.setToolTip("The same seed gives the same run (same weights, same shuffling)")
        self.seed_spin.valueChanged.connect(self.form.set_seed)
        layout.addRow("Seed", self.seed_spin)
        self.reduce_lr_check = QCheckBox("ReduceLROnPlateau (Listing 2.5)")
        self.reduce_lr_check.setToolTip("Divide the learning rate by 5 when the validation loss has not improved for 2 epochs")
        self.reduce_lr_check.toggled.connect(self.form.set_reduce_lr)
        layout.addRow(self.reduce_lr_check)
        self.h5_check = QCheckBox("Also save .h5 files")
        self.h5_check.setToolTip("Besides .keras, write each checkpoint in the legacy HDF5 format as the book does")
        self.h5_check.toggled.connect(self.form.set_save_h5)
        layout.addRow(self.h5_check)
        self.gradient_check = QCheckBox("Gradient flow (section 4.2)")
        self.gradient_check.setToolTip("While training, measure how much gradient reaches each layer "
                                       "(plotted in the Gradients tab): compare plain_deep with resnet_small")
        self.gradient_check.setChecked(self.form.gradient_flow)
        self.gradient_check.toggled.connect(self.form.set_gradient_flow)
        layout.addRow(self.gradient_check)
        return box

    def _parallel_group(self) -> QGroupBox:
        box = QGroupBox("Data parallel")
        layout = QFormLayout(box)
        self.strategy_combo = ChoiceCombo()
        for key, text, tip in STRATEGY_CHOICES:
            self.strategy_combo.addItem(text, key)
            self.strategy_combo.setItemData(self.strategy_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.strategy_combo.setToolTip("tf.distribute: share every batch between several replicas of the model")
        self.strategy_combo.setCurrentIndex(self.strategy_combo.findData(self.form.strategy))
        self.strategy_combo.currentIndexChanged.connect(
            lambda _i: self.form.set_strategy(str(self.strategy_combo.currentData())))
        layout.addRow("Strategy", self.strategy_combo)
        self.replicas_spin = QSpinBox()
        # From 0 so that a typed 0 is answered with the reason instead of silently refused.
        self.replicas_spin.setRange(0, int(LIMITS["cpu_replicas"][1]))
        self.replicas_spin.setValue(self.form.cpu_replicas)
        self.replicas_spin.setToolTip("Split the CPU into this many logical devices to try data parallelism "
                                      "without GPUs (1 = no split). TensorFlow restarts to split it.")
        self.replicas_spin.valueChanged.connect(self.form.enter_cpu_replicas)
        layout.addRow("CPU replicas", self.replicas_spin)
        self.split_label = QLabel()
        self.split_label.setWordWrap(True)
        self.split_label.setToolTip("The global batch of each step and the share each replica computes")
        layout.addRow(self.split_label)
        self.devices_label = dim(QLabel())
        self.devices_label.setWordWrap(True)
        layout.addRow(self.devices_label)
        self.replicas_problem_label = QLabel()
        self.replicas_problem_label.setWordWrap(True)
        self.replicas_problem_label.setStyleSheet("color: #c5221f;")
        layout.addRow(self.replicas_problem_label)
        return box

    def set_engine_devices(self, devices: dict | None, split: int) -> None:
        """What the engine sees (``{"gpus": [...], "cpus": N}``) and how its CPU is split."""
        self.engine_devices, self.engine_split = devices, int(split)
        self._show_parallel()

    def _show_parallel(self) -> None:
        f = self.form
        gpus = len(self.engine_devices["gpus"]) if self.engine_devices else 0
        with signals_blocked(self.strategy_combo):
            self.strategy_combo.setCurrentIndex(self.strategy_combo.findData(f.strategy))
        if not f.cpu_replicas_entry_problem and self.replicas_spin.value() != f.cpu_replicas:
            with signals_blocked(self.replicas_spin):
                self.replicas_spin.setValue(f.cpu_replicas)
        problem = f.replicas_problem() or ""
        self.split_label.setText(f.batch_split_text(gpus))
        self.devices_label.setText(f.devices_text(self.engine_devices, self.engine_split))
        self.replicas_problem_label.setText(problem)
        self.replicas_problem_label.setVisible(bool(problem))
        self._show_start()

    def _show_start(self) -> None:
        problem = self.form.replicas_problem()
        self.start_button.setEnabled(not self._running and not problem)
        self.start_button.setToolTip("A run is in progress: Stop it first" if self._running
                                     else problem or START_TIP)

    def _output_group(self) -> QGroupBox:
        box = QGroupBox("Output")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.output_edit = QLineEdit(self.form.output_root_text)
        self.output_edit.setToolTip("Each run gets its own folder here: checkpoints, log.csv, final.keras, run.json")
        self.output_edit.textChanged.connect(self.form.set_output_root)
        self.output_button = QPushButton("…")
        self.output_button.setMaximumWidth(36)
        self.output_button.setToolTip("Choose the folder for runs")
        self.output_button.clicked.connect(self._on_output_button_clicked)
        row.addWidget(self.output_edit, 1)
        row.addWidget(self.output_button)
        layout.addLayout(row)
        return box

    def _buttons(self) -> QGridLayout:
        buttons = QGridLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip(START_TIP)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Finish the current batch, save a checkpoint and keep the model")
        self.continue_button = QPushButton("Continue from checkpoint…")
        self.continue_button.setToolTip("Load a saved .keras checkpoint and train it further")
        bold = QFont()
        bold.setBold(True)
        self.start_button.setFont(bold)
        buttons.addWidget(self.start_button, 0, 0)
        buttons.addWidget(self.stop_button, 0, 1)
        buttons.addWidget(self.continue_button, 1, 0, 1, 2)
        return buttons

    # -- the form's values shown -----------------------------------------------------------------
    def _on_form_changed(self, what: str) -> None:
        f = self.form
        if what in ("strategy", "cpu_replicas", "batch_size"):
            self._show_parallel()
        if what == "model":
            self._show_model()
        elif what == "dataset":
            self._show_dataset()
        elif what == "folder":
            self._put_text(self.folder_edit, f.folder)
        elif what == "output_root_text":
            self._put_text(self.output_edit, f.output_root_text)
        elif what == "learning_rate_text":
            self._put_text(self.lr_edit, f.learning_rate_text)
        elif what in _VALUE_WIDGETS:
            widget = getattr(self, _VALUE_WIDGETS[what])
            with signals_blocked(widget):
                if isinstance(widget, QCheckBox):
                    widget.setChecked(getattr(f, what))
                else:
                    widget.setValue(getattr(f, what))

    @staticmethod
    def _put_text(edit: QLineEdit, text: str) -> None:
        if edit.text() != text:
            with signals_blocked(edit):
                edit.setText(text)

    def _show_model(self) -> None:
        f = self.form
        with signals_blocked(self.model_combo, self.optimizer_combo, self.dataset_combo):
            self.model_combo.setCurrentIndex(self.model_combo.findData(f.model))
            self.optimizer_combo.clear()
            for key, text in f.optimizer_choices():
                self.optimizer_combo.addItem(text, key)
            self.dataset_combo.clear()
            for choice in f.dataset_choices():
                self.dataset_combo.addItem(choice.label, choice.name)
                self.dataset_combo.setItemData(self.dataset_combo.count() - 1, choice.tooltip,
                                               Qt.ItemDataRole.ToolTipRole)
        self.model_info.setText(f.model_description())
        self.functional_check.setVisible(f.functional_available())
        self.lr_edit.setPlaceholderText(f.learning_rate_placeholder())
        self._show_dataset()

    def _show_dataset(self) -> None:
        f = self.form
        with signals_blocked(self.dataset_combo):
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(f.dataset))
        self.dataset_info.setText(f.dataset_description())
        self.folder_widget.setVisible(f.uses_folder())
        self._data_layout.setRowVisible(self.folder_widget, f.uses_folder())

    @Slot(int)
    def _on_dataset_picked(self, _index: int) -> None:
        name = self.dataset_combo.currentData()
        if name is not None:
            self.form.set_dataset(str(name))

    # -- dialogs ---------------------------------------------------------------------------------
    @Slot()
    def _on_folder_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Image folder (one subfolder per class)",
                                                self.folder_edit.text())
        if path:
            self.folder_edit.setText(path)
            self.folder_chosen.emit()

    @Slot()
    def _on_output_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for training runs", str(self.form.output_root()))
        if path:
            self.form.set_output_root(path)

    def set_running(self, running: bool) -> None:
        self._running = running
        self.settings_box.setEnabled(not running)
        self.continue_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self._show_start()

    def ask_download(self, name: str, size: str) -> bool:
        """Ask before a Keras dataset that is not on this computer is downloaded."""
        answer = QMessageBox.question(
            self, "Download dataset", self.form.download_question(name, size),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes


#: form field -> the widget that shows it (values and check boxes)
_VALUE_WIDGETS = {
    "functional": "functional_check",
    "samples": "samples_spin",
    "validation_split": "val_spin",
    "augment": "augment_check",
    "epochs": "epochs_spin",
    "batch_size": "batch_spin",
    "seed": "seed_spin",
    "reduce_lr": "reduce_lr_check",
    "save_h5": "h5_check",
    "gradient_flow": "gradient_check",
}
