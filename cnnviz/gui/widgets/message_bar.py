"""An inline message bar: a problem that matters, said where the user is looking.

Every pane has one at its top (:meth:`cnnviz.gui.panes.base.Pane.show_message`); errors posted
on the context (``error_posted``) reach the current pane's bar as well as the status bar, which
a user easily misses. The bar stays until closed or replaced, and never shows a Python bytes
literal (``b'...'``): such text is worded first (:func:`plain_text`).

A message may come with actions ("Open downscaled"): buttons beside its text that belong to that
message. They go when it goes (another message, :meth:`MessageBar.clear`, the close button), and
clicking one hides the message before its callback runs (which may post a message of its own).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

LEVELS = {  # level -> (background, text)
    "error": ("#fce8e6", "#a50e0e"),
    "warning": ("#fef7e0", "#7a4f01"),
    "info": ("#e8f0fe", "#174ea6"),
}

#: An action offered with a message: its button's text, what clicking it does, and its tooltip
#: (the tooltip may be left out).
Action = tuple[str, Callable[[], object], str] | tuple[str, Callable[[], object]]

#: The object name of every action button (what tests and style sheets find them by).
ACTION_NAME = "messageAction"

_BYTES_LITERAL = re.compile(r"""\bb(['"])(.*?)(?<!\\)\1""")


def plain_text(text: str) -> str:
    """``text`` without Python bytes literals: ``b'this is '`` becomes “this is ” (the bytes a
    file starts with, quoted as text a student reads)."""
    return _BYTES_LITERAL.sub(lambda m: "“" + m.group(2).replace("\\n", " ").strip() + "…”", text)


class MessageBar(QFrame):
    """A coloured line with a message and a close button; hidden when there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.label, 1)
        self._row = row
        #: The buttons of the message shown now (empty when it has no actions).
        self.actions_shown: list[QPushButton] = []
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Hide this message")
        self.close_button.clicked.connect(self.clear)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.level = ""
        self._floating_over: QWidget | None = None
        self.setVisible(False)

    # -- floating over a widget that did not lay the bar out -----------------------------------
    def float_over(self, widget: QWidget) -> None:
        """Keep the bar over ``widget``'s top edge, as wide as it."""
        self._floating_over = widget
        widget.installEventFilter(self)

    def stop_floating(self) -> None:
        if self._floating_over is not None:
            self._floating_over.removeEventFilter(self)
            self._floating_over = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self._floating_over and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def _place(self) -> None:
        w = self._floating_over
        if w is None:
            return
        width = max(100, w.width() - 12)
        self.setGeometry(6, 2, width, self.heightForWidth(width) if self.hasHeightForWidth()
                         else self.sizeHint().height())
        self.raise_()

    def show_message(self, text: str, level: str = "error",
                     actions: Sequence[Action] = ()) -> None:
        """Show ``text`` (plain words; bytes literals are worded) at ``level``: "error",
        "warning" or "info", with a button for each of ``actions`` (``(label, callback,
        tooltip)``). Empty text hides the bar. The buttons of an earlier message go."""
        if not text:
            self.clear()
            return
        self._remove_actions()
        for action in actions:
            self._add_action(*action)
        bg, fg = LEVELS.get(level, LEVELS["error"])
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor(bg))
        palette.setColor(QPalette.ColorRole.WindowText, QColor(fg))
        self.setPalette(palette)
        self.label.setPalette(palette)
        self.label.setText(plain_text(text))
        self.level = level
        self.setVisible(True)
        self._place()

    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""

    def action_button(self, label: str | None = None) -> QPushButton | None:
        """The button of the message shown now whose text is ``label`` (the first one when
        ``label`` is None), or None when it offers no such action."""
        if self.isHidden():
            return None
        for button in self.actions_shown:
            if label is None or button.text() == label:
                return button
        return None

    def _add_action(self, label: str, callback: Callable[[], object], tooltip: str = "") -> None:
        button = QPushButton(label, self)
        button.setObjectName(ACTION_NAME)
        if tooltip:
            button.setToolTip(tooltip)

        def run() -> None:
            self.clear()
            callback()

        button.clicked.connect(run)
        self._row.insertWidget(self._row.indexOf(self.close_button), button, 0,
                               Qt.AlignmentFlag.AlignTop)
        button.show()  # a child added after the bar was first shown is hidden until told
        self.actions_shown.append(button)

    def _remove_actions(self) -> None:
        for button in self.actions_shown:
            self._row.removeWidget(button)
            button.hide()
            button.deleteLater()
        self.actions_shown = []

    def clear(self) -> None:
        self._remove_actions()
        self.label.setText("")
        self.level = ""
        self.setVisible(False)
