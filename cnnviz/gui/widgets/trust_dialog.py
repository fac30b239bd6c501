"""The question "Do you trust this file?" asked before a model file that contains code is opened.

A model file may hold Python code (a Lambda layer's function, a custom class): opening it runs that
code on this computer. The app refuses such a file unless the user, shown what it contains,
explicitly answers "Trust and open". Every pane that opens model files asks with :func:`ask_trust`
(or builds the dialog with :func:`trust_box` and asks with :func:`answer`). The words are the state
layer's (:mod:`cnnviz.state.activations`); this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from cnnviz.state.activations import (
    DECLINE_BUTTON,
    TRUST_BUTTON,
    TRUST_TITLE,
    trust_declined_text,
    trust_details,
    trust_question,
    trust_unattended_text,
)

#: The buttons' texts and the title.
TRUST = TRUST_BUTTON
DECLINE = DECLINE_BUTTON
TITLE = TRUST_TITLE

#: What the message bar says after the user declined, or when nobody can answer.
declined_text = trust_declined_text
unattended_text = trust_unattended_text


def trust_box(parent: QWidget | None, name: str, message: str, findings: list[str], hint: str,
              details: str = "") -> QMessageBox:
    """The dialog (not yet shown): what ``name`` contains (``findings``), what opening it means,
    and ``details`` (each piece of code as text) behind "Show Details…"."""
    question, meaning = trust_question(name, list(findings), hint)
    box = QMessageBox(parent)
    box.setObjectName("trustDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(TITLE)
    box.setText(question)
    box.setInformativeText(meaning)
    box.setDetailedText(details or message)
    box.addButton(TRUST, QMessageBox.ButtonRole.YesRole)
    box.addButton(DECLINE, QMessageBox.ButtonRole.NoRole)
    return box


def answer(box: QMessageBox, shown: Callable[[QMessageBox], object] | None = None) -> bool:
    """Show ``box`` until it is answered; True only when the user clicked "Trust and open".
    ``shown`` is called with the dialog while it is open (what tests read and answer)."""
    if shown is not None:
        shown(box)
    box.exec()
    clicked = box.clickedButton()
    return clicked is not None and clicked.text() == TRUST


def ask_trust(parent: QWidget | None, outcome, *, shown=None) -> bool:
    """Ask whether the file refused in ``outcome`` (a :class:`cnnviz.ml.inspect.LoadRefused`)
    may run its code; True only when the user clicks "Trust and open". ``shown`` is called with
    the dialog while it is open (what tests read and answer)."""
    box = trust_box(parent, Path(outcome.path).name, outcome.message, list(outcome.findings),
                    outcome.hint, trust_details(outcome))
    return answer(box, shown)
