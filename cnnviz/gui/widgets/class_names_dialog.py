"""Class names for a model's outputs: typed or pasted one a line, or loaded from a text file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.ml.modelio import MAX_LABELS_BYTES, parse_class_names
from cnnviz.state.activations import class_names_message

NAMES_FILTER = "Class names (*.txt *.json *.csv);;All files (*)"


def read_names_file(path: str | Path) -> list[str]:
    """Class names from a text file (one a line, "0 cat" lines too) or a JSON list. Raises
    ValueError with a sentence a student understands."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_LABELS_BYTES:
            raise ValueError(f"'{p.name}' is {p.stat().st_size / 1e6:.1f} MB: too large to be a "
                             "list of class names.")
        text = p.read_text(encoding="utf8", errors="replace")
    except OSError as exc:
        raise ValueError(f"'{p.name}' cannot be read ({exc.strerror or exc}).") from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError(f"'{p.name}' is not valid JSON; write a list such as "
                             "[\"cat\", \"dog\"], or one name a line in a .txt file.") from None
        if not isinstance(data, list):
            raise ValueError(f"'{p.name}' holds no list of names; write a list such as "
                             "[\"cat\", \"dog\"].")
        return [str(v) for v in data]
    names = parse_class_names(text)
    if not names:
        raise ValueError(f"'{p.name}' is empty: write one class name a line.")
    return names


class ClassNamesDialog(QDialog):
    """Edit the class names of a model with ``outputs`` outputs; OK hands them to ``apply``."""

    def __init__(self, model_name: str, outputs: int, names: list[str] | None,
                 apply: Callable[[list[str]], object], parent: QWidget | None = None,
                 own: list[str] | None = None) -> None:
        """``own``: the names the model file came with (the classes not named here keep them)."""
        super().__init__(parent)
        self._own = own
        self.setObjectName("classNamesDialog")
        self.setWindowTitle("Class names")
        self._outputs = outputs
        self._apply = apply
        lay = QVBoxLayout(self)
        intro = QLabel(f"Names for the {outputs} outputs of {model_name}, one a line, in the order "
                       "of the outputs (class 0 first). Type or paste them, or load a text file "
                       "(Teachable Machine's labels.txt works as it is).")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("cat\ndog\nbird")
        self.editor.setPlainText("\n".join(names or []))
        self.editor.textChanged.connect(self._update_count)
        lay.addWidget(self.editor, 1)
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        lay.addWidget(self.count_label)
        row = QHBoxLayout()
        self.load_button = QPushButton("Load file…")
        self.load_button.clicked.connect(self.load_dialog)
        row.addWidget(self.load_button)
        row.addStretch(1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row.addWidget(self.buttons)
        lay.addLayout(row)
        self.resize(420, 380)
        self._update_count()

    def names(self) -> list[str]:
        return parse_class_names(self.editor.toPlainText())

    def _update_count(self) -> None:
        n = len(self.names())
        text = class_names_message(self._outputs, n, self._own) if n else "No names: the classes are shown by number."
        self.count_label.setText(text or f"{n} names for {self._outputs} outputs.")

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load class names", "", NAMES_FILTER)
        if path:
            self.load_file(path)

    def load_file(self, path: str | Path) -> bool:
        """Put the names of a file in the editor; False, with the reason shown, if it cannot."""
        try:
            names = read_names_file(path)
        except ValueError as exc:
            self.count_label.setText(str(exc))
            return False
        self.editor.setPlainText("\n".join(names))
        return True

    def accept(self) -> None:
        self._apply(self.names())
        super().accept()


def open_class_names_dialog(parent: QWidget, model_name: str, outputs: int, names: list[str] | None,
                            apply: Callable[[list[str]], object],
                            own: list[str] | None = None) -> ClassNamesDialog:
    """Show the dialog without blocking (OK applies the names); returns it."""
    dialog = ClassNamesDialog(model_name, outputs, names, apply, parent, own)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
