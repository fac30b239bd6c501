"""The image view's own drawing: the picture made without pyqtgraph's render for live updates,
the colour bar beside it, and the word-wrapped line that does not lay its panel out again."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QGroupBox, QVBoxLayout

from cnnviz.gui.widgets.steady_label import SteadyLabel


class LayoutRequests(QObject):
    """Counts the layout requests a widget gets."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_a_steady_label_lays_its_panel_out_again_only_for_a_new_height(qtbot):
    from PySide6.QtWidgets import QApplication

    box = QGroupBox("Kernel")
    layout = QVBoxLayout(box)
    line = SteadyLabel()
    layout.addWidget(line)
    layout.addStretch(1)
    qtbot.addWidget(box)
    box.resize(260, 120)
    box.show()
    qtbot.waitExposed(box)
    line.setText("<b>Sum = 1</b> — brightness kept")
    QApplication.processEvents()
    requests = LayoutRequests()
    box.installEventFilter(requests)
    for value in ("1.5", "2", "-0.5", "3.25"):
        line.setText(f"<b>Sum = {value}</b> — brightens")
        QApplication.processEvents()
        assert line.text() == f"<b>Sum = {value}</b> — brightens"
    assert requests.count == 0
    one_line = line.height()
    line.setText("<b>Sum = 0</b> — " + "flat regions go to 0 and only changes survive " * 3)
    QApplication.processEvents()
    assert requests.count >= 1
    qtbot.waitUntil(lambda: line.height() > one_line, timeout=2000)  # the panel made room
    assert line.label.geometry() == line.rect()
