"""The Siamese pane's groups of controls and its three pages (pair, embedding map, triplet)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.panes.base import BuiltWhenShown, alert, panel
from cnnviz.gui.panes.siamese.widgets import DistanceScale, EmbeddingPlot, InputPicker, TripletScale
from cnnviz.gui.widgets.draw_canvas import DrawCanvasWidget
from cnnviz.gui.widgets.plot_text import scale_plot_text
from cnnviz.state.siamese import Y_CONVENTION

THRESHOLD_STEPS = 100  # slider steps per unit of distance
TRIPLET_NAMES = ("anchor", "positive", "negative")


def size_scale(plot, presentation: bool) -> None:
    """A number line's height and texts, for a projector or a screen."""
    plot.setFixedHeight(200 if presentation else 150)
    scale_plot_text(plot, presentation)


def scrolled(page: QWidget) -> QScrollArea:
    """A page that scrolls when a projector's fonts make it taller than the window, instead of
    making the window grow."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


def mono(label: QLabel) -> QLabel:
    """A label for formulas: fixed-width, selectable, wrapped."""
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.Monospace)
    label.setFont(font)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class ModelBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Siamese model")
        mv = QVBoxLayout(self)
        self.model_label = QLabel("Opening the bundled model…")
        self.model_label.setWordWrap(True)
        mv.addWidget(self.model_label)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a siamese .keras or .h5 file (two image inputs of the same shape)")
        self.bundled_button = QPushButton("Bundled")
        self.bundled_button.setToolTip("Back to the bundled siamese_digits.keras: Listing 5.6 trained on the "
                                       "bundled digits")
        row.addWidget(self.open_button)
        row.addWidget(self.bundled_button)
        mv.addLayout(row)


class NumbersBox(QGroupBox):
    """The threshold (slider and field), the margin m and the triplet margin α."""

    def __init__(self) -> None:
        super().__init__("Threshold and margins")
        form = QFormLayout(self)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 3 * THRESHOLD_STEPS)
        self.threshold_slider.setToolTip("A pair whose distance is below the threshold is called the same digit")
        self.threshold_edit = QLineEdit()
        self.threshold_edit.setMaximumWidth(70)
        row = QHBoxLayout()
        row.addWidget(self.threshold_slider, 3)
        row.addWidget(self.threshold_edit, 1)
        form.addRow("Threshold", row)
        self.margin_edit = QLineEdit()
        self.margin_edit.setToolTip("m in the contrastive loss: different pairs closer than m are penalised")
        form.addRow("Margin m", self.margin_edit)
        self.alpha_edit = QLineEdit()
        self.alpha_edit.setToolTip("α in the triplet loss: how much farther the negative must be than the positive")
        form.addRow("Margin α", self.alpha_edit)
        self.number_error = alert(QLabel(""))
        self.number_error.setWordWrap(True)
        self.number_error.setVisible(False)
        form.addRow(self.number_error)


class DrawingBox(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Drawing")
        self.setToolTip("Choose \"The drawing\" as an input to compare your own digit")
        dv = QVBoxLayout(self)
        self.canvas = DrawCanvasWidget()
        dv.addWidget(self.canvas, 1)
        self.clear_button = QPushButton("Clear drawing")
        self.clear_button.clicked.connect(self.canvas.clear)
        dv.addWidget(self.clear_button)


class PairPage(QWidget):
    """Two inputs, their distance on a number line, the verdict and the contrastive loss."""

    def __init__(self) -> None:
        super().__init__()
        pv = QVBoxLayout(self)
        row = QHBoxLayout()
        self.pickers = [InputPicker("Input A"), InputPicker("Input B")]
        for p in self.pickers:
            row.addWidget(p)
        pv.addLayout(row)
        buttons = QHBoxLayout()
        self.same_button = QPushButton("Random same pair")
        self.different_button = QPushButton("Random different pair")
        self.y_combo = QComboBox()
        self.y_combo.addItem("y = 1 (same)", 1)
        self.y_combo.addItem("y = 0 (different)", 0)
        self.y_combo.setToolTip("The pair's label in the contrastive loss; set from the digits when both are bundled")
        buttons.addWidget(self.same_button)
        buttons.addWidget(self.different_button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Label"))
        buttons.addWidget(self.y_combo)
        pv.addLayout(buttons)
        self.distance_label = QLabel("")
        self.distance_label.setWordWrap(True)
        pv.addWidget(self.distance_label)
        self.scale = DistanceScale()
        pv.addWidget(self.scale)
        self.contrastive_label = panel(mono(QLabel("")))
        pv.addWidget(self.contrastive_label)
        self.y_note = QLabel(Y_CONVENTION)
        self.y_note.setWordWrap(True)
        pv.addWidget(self.y_note)
        pv.addStretch(1)


class MapPage(BuiltWhenShown, QWidget):
    """The embedding map; its plot is built when the tab is first shown (or asked for)."""

    def __init__(self) -> None:
        super().__init__()
        self._presentation = False

    def _build(self) -> None:
        mv = QVBoxLayout(self)
        self.map_label = QLabel("")
        self.map_label.setWordWrap(True)
        mv.addWidget(self.map_label)
        self.embedding_plot = EmbeddingPlot()
        mv.addWidget(self.embedding_plot, 1)
        if self._presentation:
            self.embedding_plot.set_presentation_mode(True)

    def set_presentation_mode(self, on: bool) -> None:
        self._presentation = on
        if self.is_built:
            self.embedding_plot.set_presentation_mode(on)


class TripletPage(BuiltWhenShown, QWidget):
    """Anchor, positive and negative; both distances on a number line; the loss written out. The
    pickers hold the chosen inputs from the start; the number line and the texts are built when
    the tab is first shown (or asked for)."""

    def __init__(self) -> None:
        super().__init__()
        self._presentation = False
        self._layout = tv = QVBoxLayout(self)
        row = QHBoxLayout()
        self.triplet_pickers = [InputPicker(n.capitalize(), compact=True) for n in TRIPLET_NAMES]
        for p in self.triplet_pickers:
            row.addWidget(p)
        tv.addLayout(row)

    def _build(self) -> None:
        tv = self._layout
        self.triplet_scale = TripletScale()
        size_scale(self.triplet_scale, self._presentation)
        tv.addWidget(self.triplet_scale)
        self.triplet_label = panel(mono(QLabel("")))
        tv.addWidget(self.triplet_label)
        note = QLabel("The book's section 5.6 writes the triplet loss with squared distances, "
                      "max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0), and then as max(d₁ − d₃ + α, 0) "
                      "with the distances themselves; this calculator uses the distances the model gives.")
        note.setWordWrap(True)
        tv.addWidget(note)
        tv.addStretch(1)

    def set_presentation_mode(self, on: bool) -> None:
        self._presentation = on
        if self.is_built:
            size_scale(self.triplet_scale, on)
