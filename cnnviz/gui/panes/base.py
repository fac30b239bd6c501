"""What every pane has in common."""

from __future__ import annotations

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from cnnviz.gui.context import AppContext


class Pane(QWidget):
    """A tab of the main window.

    Subclasses set ``name`` and ``title`` and build their widgets in ``__init__``. They read the
    shared image, kernel and model from ``self.ctx`` and react to its ``*_changed`` signals.
    """

    name: str = ""
    title: str = ""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName(f"{self.name}Pane")

    def is_busy(self) -> bool:
        """True while the pane is still computing what it shows (a screenshot waits for it)."""
        return False

    def prepare_screenshot(self) -> None:
        """Bring the pane to a state worth showing in a screenshot (e.g. mid-walk)."""

    def set_presentation_mode(self, on: bool) -> None:
        """Make numbers and controls readable on a projector. Fonts scale from the window; panes
        that draw their own text override this to enlarge it."""

    def export_image(self) -> QImage:
        """The current view as an image, for File → Export view."""
        return self.grab().toImage()

    def shutdown(self) -> None:
        """Stop anything the pane runs; called once when the window closes."""
