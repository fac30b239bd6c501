"""What every pane has in common."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

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
        self._message_bar = None

    # -- the inline message bar ----------------------------------------------------------------
    @property
    def message_bar(self):
        """The pane's :class:`~cnnviz.gui.widgets.message_bar.MessageBar`. A pane places it in
        its layout with :meth:`place_message_bar`; otherwise it floats over the pane's top edge."""
        if self._message_bar is None:
            from cnnviz.gui.widgets.message_bar import MessageBar

            self._message_bar = MessageBar(self)
            self._message_bar.float_over(self)
        return self._message_bar

    def place_message_bar(self, layout) -> None:
        """Put the message bar at the top of ``layout`` (a vertical box) instead of floating it."""
        bar = self.message_bar
        bar.stop_floating()
        layout.insertWidget(0, bar)

    def show_message(self, text: str, level: str = "error") -> None:
        """Say something that matters where the user is looking: ``level`` is "error",
        "warning" or "info"; empty text hides the bar."""
        self.message_bar.show_message(text, level)

    def clear_message(self) -> None:
        if self._message_bar is not None:
            self._message_bar.clear()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.ctx.set_current_pane(self)

    def _build_controls_column(self, width: int = 340) -> tuple[QSplitter, QVBoxLayout]:
        """The pane's frame: a splitter whose left side is a column of controls that scrolls
        vertically (on a projector its groups would otherwise be squeezed over each other).
        Returns the splitter (the caller adds the right side) and the column's layout."""
        root = QHBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        root.addWidget(splitter)
        controls = QWidget()
        side = QVBoxLayout(controls)
        side.setContentsMargins(0, 0, 4, 0)
        scroll = QScrollArea()
        scroll.setWidget(controls)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 0)
        self._splitter = splitter
        self._controls_width = width
        self.controls_scroll = scroll
        return splitter, side

    def _set_controls_width(self, presentation: bool) -> None:
        """Widen the controls column for a projector's larger fonts (or narrow it back)."""
        total = max(800, sum(self._splitter.sizes()))
        left = self._controls_width + (90 if presentation else 0)
        self._splitter.setSizes([left, total - left])

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

    def close_question(self) -> str | None:
        """What to ask before the window quits while this pane has work going (None: nothing)."""
        return None

    def mark_interrupted(self) -> bool:
        """Record that work still going when the window closed was cut short (e.g. a training
        run's ``run.json``); True if there was such work."""
        return False


class BuiltWhenShown:
    """A widget (mixed in before ``QWidget``) whose parts are built the first time it is shown,
    or the first time anything asks for one of them (a session, a screenshot, a test): opening
    the window then builds only what is on the screen.

    A subclass builds its parts in ``_build()`` (called once, with this widget as their parent)
    and may redraw what it holds in ``_built()``; until then its drawing methods check
    :attr:`is_built` and only keep what they are given. Asking for a part that is not built yet
    (``view.title_label``, or looking for parts with ``findChildren``) builds the widget first."""

    _is_built = False

    @property
    def is_built(self) -> bool:
        return self._is_built

    def ensure_built(self) -> None:
        """Build the parts now (nothing happens after the first call)."""
        if self._is_built:
            return
        self._is_built = True
        self._build()
        if self.isVisible():
            # parts added to a widget on the screen would appear only at the next turn of the
            # event loop: show them with it
            for child in self.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
                explicit = child.testAttribute(Qt.WidgetAttribute.WA_WState_ExplicitShowHide)
                if not (child.isHidden() and explicit) and not child.isWindow():
                    child.show()
        self._built()

    def _build(self) -> None:
        raise NotImplementedError

    def _built(self) -> None:
        """Called once the parts exist: draw what the widget was given before."""

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.ensure_built()
        super().showEvent(event)

    def findChildren(self, *args, **kwargs):  # noqa: N802 (Qt name)
        self.ensure_built()  # looking for parts asks for them
        return super().findChildren(*args, **kwargs)

    def findChild(self, *args, **kwargs):  # noqa: N802 (Qt name)
        self.ensure_built()
        return super().findChild(*args, **kwargs)

    def __getattr__(self, name: str):
        # Reached only when ordinary lookup fails: a part of a widget not built yet.
        if name.startswith("__") or self.__dict__.get("_is_built", False):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.ensure_built()
        return object.__getattribute__(self, name)


def panel(label: QLabel) -> QLabel:
    """A framed, light panel for text (no style sheet, so presentation mode can scale its font)."""
    label.setFrameShape(QFrame.Shape.StyledPanel)
    label.setAutoFillBackground(True)
    label.setBackgroundRole(QPalette.ColorRole.Base)
    label.setMargin(6)
    return label


def alert(label: QLabel) -> QLabel:
    """Bold red text for problems; only the weight is set so the size follows the window."""
    font = QFont()
    font.setBold(True)
    label.setFont(font)
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, QColor("#d93025"))
    label.setPalette(palette)
    return label


#: Where a choice's text may be cut for its short form: "Signed (blue − · white 0 · red +)" → "Signed".
_SHORT_CUTS = (" (", " — ")


def short_text(text: str) -> str:
    """A choice's short form: its text before the first " (" or " — " (the whole text if none)."""
    cuts = [i for i in (text.find(c) for c in _SHORT_CUTS) if i > 0]
    return text[: min(cuts)] if cuts else text


class ChoiceCombo(QComboBox):
    """A combo box whose closed face shows the current choice whole when it fits, else its short
    form (:func:`short_text`, used only when no other choice has the same one), the full text
    staying in the open list and the tooltip.

    A projector's larger font or a narrow controls column then shows "Signed", not "Signed (blue −
    · white 0 · re"; ``currentText()`` is still the full text."""

    def text_space(self) -> int:
        """The width, in pixels, the closed combo box gives its text."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        rect = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt, QStyle.SubControl.SC_ComboBoxEditField, self)
        return rect.width()

    def shown_text(self) -> str:
        """What the closed combo box shows now."""
        full = self.currentText()
        if self.fontMetrics().horizontalAdvance(full) <= self.text_space():
            return full
        short = short_text(full)
        others = [short_text(self.itemText(i)) for i in range(self.count()) if i != self.currentIndex()]
        return full if short in others else short

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt name)
        painter = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        opt.currentText = self.shown_text()
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)

    def event(self, ev) -> bool:
        if ev.type() == QEvent.Type.ToolTip and self.shown_text() != self.currentText():
            tip = "\n\n".join(t for t in (self.currentText(), self.toolTip()) if t)
            QToolTip.showText(ev.globalPos(), tip, self)
            return True
        return super().event(ev)


def choice_combo(items: dict[str, str], on_changed=None, tooltip: str = "") -> QComboBox:
    """A combo box of ``{key: text}`` choices; ``currentData()`` gives the key back. It shows a
    long choice by its short form where the whole text does not fit (:class:`ChoiceCombo`)."""
    combo = ChoiceCombo()
    for key, text in items.items():
        combo.addItem(text, key)
    if tooltip:
        combo.setToolTip(tooltip)
    if on_changed is not None:
        combo.currentIndexChanged.connect(on_changed)
    return combo


def fit_combos(container: QWidget, chars: int = 8) -> None:
    """Let every combo box in ``container`` shrink below its longest entry (the open list still
    shows it whole), so long entries and a projector's fonts never widen a controls column."""
    for combo in container.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(chars)
