"""An inline message bar: a problem that matters, said where the user is looking.

Every pane has one at its top (:meth:`cnnviz.gui.panes.base.Pane.show_message`); errors posted
on the context (``error_posted``) reach the current pane's bar as well as the status bar, which
a user easily misses. The bar stays until closed or replaced, and never shows a Python bytes
literal (``b'...'``): such text is worded first (:func:`plain_text`).
"""

from __future__ import annotations

import re

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

LEVELS = {  # level -> (background, text)
    "error": ("#fce8e6", "#a50e0e"),
    "warning": ("#fef7e0", "#7a4f01"),
    "info": ("#e8f0fe", "#174ea6"),
}

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

    def show_message(self, text: str, level: str = "error") -> None:
        """Show ``text`` (plain words; bytes literals are worded) at ``level``: "error",
        "warning" or "info". Empty text hides the bar."""
        if not text:
            self.clear()
            return
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

    def clear(self) -> None:
        self.label.setText("")
        self.level = ""
        self.setVisible(False)
