"""Actions in a pane's message bar: buttons that belong to the message they came with."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget

from cnnviz.gui.widgets.message_bar import MessageBar

LEFT = Qt.MouseButton.LeftButton


_hosts: list[QWidget] = []  # keeps each test's window alive while it runs


def _bar(qtbot) -> MessageBar:
    host = QWidget()
    qtbot.addWidget(host)
    _hosts[:] = [host]
    bar = MessageBar(host)
    host.resize(600, 200)
    host.show()
    return bar


def _buttons(bar) -> list[str]:
    return [b.text() for b in bar.findChildren(QPushButton) if not b.isHidden()]


def test_an_action_is_a_button_beside_its_message_and_clicking_clears_then_runs(qtbot):
    bar = _bar(qtbot)
    seen = []

    def act():
        seen.append(bar.text())  # the message is gone before the action runs
        bar.show_message("Opened it smaller.", "info")  # the action may say something itself

    bar.show_message("The file is too large.", "error",
                     actions=[("Open downscaled", act, "Open it at a fraction of its size"),
                              ("Help", lambda: seen.append("help"))])
    assert bar.text() == "The file is too large."
    assert _buttons(bar) == ["Open downscaled", "Help"]
    button = bar.action_button("Open downscaled")
    assert button.toolTip() == "Open it at a fraction of its size"
    assert bar.action_button() is button

    qtbot.mouseClick(button, LEFT)
    assert seen == [""]
    assert bar.text() == "Opened it smaller." and bar.level == "info"
    assert bar.action_button() is None and _buttons(bar) == []


def test_the_buttons_go_with_their_message(qtbot):
    bar = _bar(qtbot)
    ran = []
    offer = [("Open downscaled", lambda: ran.append(1), "")]

    bar.show_message("Too large.", "error", offer)
    bar.show_message("Something else went wrong.", "error")  # another message
    assert bar.action_button() is None and _buttons(bar) == []

    bar.show_message("Too large.", "error", offer)
    bar.clear()
    assert bar.action_button() is None and _buttons(bar) == []

    bar.show_message("Too large.", "error", offer)
    qtbot.mouseClick(bar.close_button, LEFT)  # the ✕
    assert not bar.isVisible() and bar.action_button() is None and _buttons(bar) == []

    bar.show_message("Too large.", "error", offer)
    bar.show_message("", "error")  # empty text hides the bar
    assert bar.action_button() is None and _buttons(bar) == []

    # the same message offered twice shows one button, not two
    bar.show_message("Too large.", "error", offer)
    bar.show_message("Too large.", "error", offer)
    assert _buttons(bar) == ["Open downscaled"]
    assert ran == []
