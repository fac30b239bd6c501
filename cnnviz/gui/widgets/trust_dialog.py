"""The question "Do you trust this file?" asked before a model file that contains code is opened.

A model file may hold Python code (a Lambda layer's function, a custom class): opening it runs that
code on this computer. The app refuses such a file unless the user, shown what it contains,
explicitly answers "Trust and open". Every pane that opens model files asks with :func:`ask_trust`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

#: The buttons' texts.
TRUST = "Trust and open"
DECLINE = "Don't open"
TITLE = "Do you trust this file?"


def trust_box(parent: QWidget | None, name: str, message: str, findings: list[str], hint: str,
              details: str = "") -> QMessageBox:
    """The dialog (not yet shown): what ``name`` contains (``findings``), what opening it means,
    and ``details`` (each piece of code as text) behind "Show Details…"."""
    box = QMessageBox(parent)
    box.setObjectName("trustDialog")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(TITLE)
    box.setText(f"<b>{TITLE}</b><br>'{name}' contains:")
    box.setInformativeText("• " + "<br>• ".join(findings) + "<br><br>"
                           "Opening it runs that code on this computer with your permissions. "
                           + hint)
    box.setDetailedText(details or message)
    box.addButton(TRUST, QMessageBox.ButtonRole.YesRole)
    box.addButton(DECLINE, QMessageBox.ButtonRole.NoRole)
    return box


def ask_trust(parent: QWidget | None, outcome, *, shown=None) -> bool:
    """Ask whether the file refused in ``outcome`` (a :class:`cnnviz.ml.inspect.LoadRefused`)
    may run its code; True only when the user clicks "Trust and open". ``shown`` is called with
    the dialog while it is open (what tests read and answer)."""
    from cnnviz.state.activations import trust_details

    box = trust_box(parent, Path(outcome.path).name, outcome.message, list(outcome.findings),
                    outcome.hint, trust_details(outcome))
    if shown is not None:
        shown(box)
    box.exec()
    clicked = box.clickedButton()
    return clicked is not None and clicked.text() == TRUST


def declined_text(outcome, kept: str = "") -> str:
    """What the message bar says after the user did not trust the file."""
    return (f"Not opened: '{Path(outcome.path).name}' was refused because it contains "
            + "; ".join(outcome.findings) + "." + kept)


def unattended_text(outcome) -> str:
    """What the message bar says when nobody can answer the question (a screenshot is taken)."""
    return (f"Not opened: '{Path(outcome.path).name}' contains " + "; ".join(outcome.findings)
            + ". Nobody can answer 'Do you trust this file?' while a screenshot is taken, so it "
              "was refused; open it in the window to decide.")
