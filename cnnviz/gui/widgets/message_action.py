"""An action button beside a message in a pane's message bar ("Open downscaled").

The button belongs to the message it was offered with: it disappears when the bar shows another
message or is closed, and clicking it hides the bar before the action runs (the action may post
a message of its own).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QPushButton

_NAME = "messageAction"
#: Events on the bar after which its message may have changed.
_CHANGES = (QEvent.Type.LayoutRequest, QEvent.Type.Hide, QEvent.Type.Show, QEvent.Type.Paint)


class _ActionWatcher(QObject):
    """Removes the button once the bar no longer shows the message it came with."""

    def __init__(self, bar, button: QPushButton, message: str) -> None:
        super().__init__(button)
        self._bar = bar
        self._button = button
        self._message = message
        bar.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() not in _CHANGES:
            return False
        try:
            stale = self._bar.isHidden() or self._bar.label.text() != self._message
        except RuntimeError:  # the bar is being destroyed with its pane
            return False
        if stale:
            self.remove()
        return False

    def remove(self) -> None:
        try:
            self._bar.removeEventFilter(self)
            self._button.hide()
            self._button.deleteLater()
        except RuntimeError:  # already destroyed with the bar
            pass


def action_button(bar) -> QPushButton | None:
    """The action button the bar shows now, if any."""
    for button in bar.findChildren(QPushButton, _NAME):
        if not button.isHidden():
            return button
    return None


def offer_action(bar, text: str, callback: Callable[[], object], tooltip: str = "") -> QPushButton:
    """Add a button ``text`` to ``bar`` (a :class:`~cnnviz.gui.widgets.message_bar.MessageBar`)
    for the message it shows now; clicking it closes the message and calls ``callback``."""
    old = action_button(bar)
    if old is not None:
        old.hide()
        old.deleteLater()
    button = QPushButton(text, bar)
    button.setObjectName(_NAME)
    if tooltip:
        button.setToolTip(tooltip)
    layout = bar.layout()
    layout.insertWidget(max(0, layout.count() - 1), button)
    watcher = _ActionWatcher(bar, button, bar.label.text())

    def run() -> None:
        watcher.remove()
        bar.clear()
        callback()

    button.clicked.connect(run)
    button.show()
    return button
