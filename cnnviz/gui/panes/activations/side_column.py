"""The right column of the activations pane: the drawing canvas, what the model sees, the
prediction and Grad-CAM."""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.panes.activations.output_view import OutputView
from cnnviz.gui.panes.base import ChoiceCombo
from cnnviz.gui.qtutil import signals_blocked
from cnnviz.gui.widgets.bar_chart import BarChartWidget
from cnnviz.gui.widgets.draw_canvas import DrawCanvasWidget
from cnnviz.gui.widgets.image_view import ImageView
from cnnviz.gui.widgets.overlay_view import OverlayView
from cnnviz.ml.inspect import ActivationResult, ModelInfo, Prediction
from cnnviz.state.activations import (
    ActivationsState,
    class_choices,
    class_count,
    gradcam_layer_choices,
    prediction_rows,
)


class ColumnScroll(QScrollArea):
    """Holds a column of boxes: the column fills the height it is given, and when the boxes'
    minimum heights do not fit (a projector's large text at 1280×720) it scrolls instead of
    squeezing them over each other."""

    def __init__(self, column: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidgetResizable(False)  # sized here: to the minimum heights, not the preferred
        self.setWidget(column)
        # the column's minimum width holds it and a scroll bar beside it: its text is never cut
        # at the right, and the window is no wider than before
        self.setMinimumWidth(column.minimumWidth())
        column.setMinimumWidth(max(0, column.minimumWidth() - self.verticalScrollBar().sizeHint().width()))
        self._refit = QTimer(self, singleShot=True, interval=0, timeout=self.fit)
        column.installEventFilter(self)

    def _needed(self, width: int) -> int:
        layout = self.widget().layout()
        if layout.hasHeightForWidth():
            return layout.minimumHeightForWidth(width)
        return layout.totalMinimumSize().height()

    def fit(self) -> None:
        """Size the column: the whole height when its boxes fit, else their minimum heights."""
        column = self.widget()
        width, height = self.viewport().width(), self.viewport().height()
        if self.verticalScrollBar().isVisible():
            width += self.verticalScrollBar().width()
        if self._needed(width) > height:  # it scrolls: the scroll bar takes its width
            width -= self.verticalScrollBar().sizeHint().width()
        column.resize(width, max(height, self._needed(width)))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self.fit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._refit.start()  # a box was shown or hidden, or the text grew
        return super().eventFilter(watched, event)


class CanvasBox(QGroupBox):
    """A drawing as the model's input."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Draw", parent)
        cl = QVBoxLayout(self)
        self.canvas = DrawCanvasWidget()
        cl.addWidget(self.canvas, 1)
        crow = QHBoxLayout()
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.canvas.clear)
        self.center_check = QCheckBox("Centre like MNIST")
        self.center_check.setChecked(True)
        self.center_check.setToolTip("Crop the strokes, fit them in 20×20 and centre them by mass in 28×28, "
                                     "as the MNIST digits were prepared")
        crow.addWidget(self.clear_button)
        crow.addWidget(self.center_check)
        crow.addStretch(1)
        cl.addLayout(crow)


#: What the prediction caption adds for a classifier whose classes have no names.
HOW_TO_NAME = ("The classes have no names: press Class names… to type or load them (or put a "
               "labels.txt beside the model).")


class PredictionBox:
    """The likeliest classes as bars, and the top one in words: two widgets the column lays out
    with their own stretch; "Class names…" names the model's classes. ``say(text, level)`` shows
    what a count of names that does not match the outputs means (the pane's message bar)."""

    def __init__(self, state: ActivationsState,
                 say: Callable[[str, str], object] | None = None) -> None:
        self.prediction_chart = BarChartWidget("Prediction")
        self.prediction_chart.setMinimumHeight(140)
        self.prediction_label = QLabel()
        self.prediction_label.setWordWrap(True)
        self.class_names_button = QPushButton("Class names…")
        self.class_names_button.setToolTip("Name the model's classes: type or paste one name a "
                                           "line, or load a text file such as labels.txt")
        self.class_names_button.setEnabled(False)
        self.class_names_button.clicked.connect(self.class_names_dialog)
        state.class_names_changed.connect(self._on_class_names_changed)
        self.state = state
        self._say = say
        self._pred: Prediction | None = None
        self.names_message = ""  # what the last names given mean when they do not match

    def add_to(self, layout: QVBoxLayout, stretch: int) -> None:
        layout.addWidget(self.prediction_chart, stretch)
        row = QHBoxLayout()
        row.addWidget(self.prediction_label, 1)
        row.addWidget(self.class_names_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(row)

    def reset_for_model(self, info: ModelInfo) -> None:
        """A new model: the previous prediction goes."""
        self.names_message = ""
        self.class_names_button.setEnabled(info.output_kind == "classes" and class_count(info) > 0)
        self.draw(None)

    def _names(self) -> list[str] | None:
        return self.state.class_names()

    def draw(self, pred: Prediction | None) -> None:
        self._pred = pred
        if pred is None:
            self.prediction_chart.set_values(np.zeros(0), [], horizontal=True)
            self.prediction_label.setText("")
            return
        names = self._names()
        rows = prediction_rows(pred, names)
        self.prediction_chart.set_values(rows.values, rows.names, horizontal=True,
                                         highlight=0, fmt="{:.1%}", limits=(0, 1))
        note = "" if rows.is_probability else " (the output is not a softmax; shown through one)"
        more = f" — top {rows.shown} of {rows.classes}" if rows.classes > rows.shown else ""
        text = (f"Predicted <b>{html.escape(rows.top_label)}</b> "
                f"({rows.top_probability:.1%}){more}{note}")
        if self.names_message:
            text += f"<br>{html.escape(self.names_message)}"
        elif not names:
            text += f"<br><i>{html.escape(HOW_TO_NAME)}</i>"
        self.prediction_label.setText(text)

    # -- Class names… ----------------------------------------------------------------------------
    def class_names_dialog(self):
        """Show the class-names dialog for the current model (without blocking)."""
        from cnnviz.gui.widgets.class_names_dialog import open_class_names_dialog

        state = self.state
        if state.info is None:
            return None
        info = state.info
        self.dialog = open_class_names_dialog(self.class_names_button, info.name, class_count(info),
                                              state.class_names(), self.apply_class_names,
                                              info.labels)
        return self.dialog

    def apply_class_names(self, names: list[str]) -> str:
        """Give the current model these class names; a count that does not match its outputs is
        said in the caption and the pane's message bar."""
        message = self.state.set_class_names(names)
        self.names_message = message
        if self._say is not None and message:
            self._say(message, "warning")
        self.draw(self._pred)
        return message

    def _on_class_names_changed(self, _names) -> None:
        self.draw(self._pred)


class GradCamBox(QGroupBox):
    """Where the model looks: the chosen class's evidence over the input."""

    def __init__(self, state: ActivationsState, parent: QWidget | None = None) -> None:
        super().__init__("Grad-CAM", parent)
        self.state = state
        self.setToolTip("Where the model looks: the regions that raise the chosen class's score")
        gl = QVBoxLayout(self)
        gl.setContentsMargins(4, 4, 4, 4)
        grow = QFormLayout()
        self.class_combo = ChoiceCombo()  # a short form where the whole text does not fit
        self.class_combo.setToolTip("The class whose evidence is shown")
        self.class_combo.currentIndexChanged.connect(self._on_class_changed)
        self.gradcam_layer_combo = ChoiceCombo()  # a short form where the whole text does not fit
        self.gradcam_layer_combo.setToolTip("The layer whose maps are weighted (default: the last convolution)")
        self.gradcam_layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        grow.addRow("Class", self.class_combo)
        grow.addRow("Layer", self.gradcam_layer_combo)
        gl.addLayout(grow)
        self.gradcam_view = OverlayView("")
        self.gradcam_view.set_alpha(state.gradcam_alpha)
        self.gradcam_view.setMinimumHeight(120)
        gl.addWidget(self.gradcam_view, 1)
        arow = QHBoxLayout()
        arow.addWidget(QLabel("Opacity"))
        self.gradcam_alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.gradcam_alpha_slider.setRange(0, 100)
        self.gradcam_alpha_slider.setValue(int(state.gradcam_alpha * 100))
        self.gradcam_alpha_slider.valueChanged.connect(self._on_alpha_changed)
        arow.addWidget(self.gradcam_alpha_slider, 1)
        gl.addLayout(arow)
        self.gradcam_label = QLabel()
        self.gradcam_label.setWordWrap(True)
        gl.addWidget(self.gradcam_label)
        state.class_names_changed.connect(self._on_class_names_changed)
        self._last: ActivationResult | None = None

    def reset_for_model(self, info: ModelInfo) -> None:
        """A new model: the previous heat map, caption and zoom go; the choices are its own."""
        self._last = None
        self.gradcam_view.set_overlay(None, None)  # also forgets the zoom: the next map is fitted
        self.gradcam_view.set_title("No Grad-CAM")
        self.gradcam_view.setToolTip("")
        self.gradcam_label.setText("")
        self.show_model(info)

    def show_model(self, info: ModelInfo) -> None:
        with signals_blocked(self.class_combo, self.gradcam_layer_combo):
            self.class_combo.clear()
            self.gradcam_layer_combo.clear()
            self.setEnabled(info.classifier)
            if not info.classifier:
                self.gradcam_view.set_overlay(None, None)
                self.gradcam_label.setText("Grad-CAM needs a classifier with convolution maps."
                                           if info.spec is not None else "")
                return
            for text, data in class_choices(info, self.state.class_names()):
                self.class_combo.addItem(text, data)
            for text, data in gradcam_layer_choices(info):
                self.gradcam_layer_combo.addItem(text, data)

    def _on_class_names_changed(self, names) -> None:
        """New class names: the class list and the caption show them; the choice stays."""
        info = self.state.info
        if info is None or not info.classifier:
            return
        with signals_blocked(self.class_combo):
            current = self.class_combo.currentIndex()
            for i, (text, _data) in enumerate(class_choices(info, names)):
                if i < self.class_combo.count():
                    self.class_combo.setItemText(i, text)
            self.class_combo.setCurrentIndex(current)
        if self._last is not None:
            self.draw(self._last)

    @Slot(int)
    def _on_class_changed(self, index: int) -> None:
        if index >= 0:
            data = self.class_combo.itemData(index)
            self.state.set_class(None if data is None else int(data))

    @Slot(int)
    def _on_layer_changed(self, index: int) -> None:
        if index >= 0:
            self.state.set_gradcam_layer(self.gradcam_layer_combo.itemData(index))

    @Slot(int)
    def _on_alpha_changed(self, value: int) -> None:
        self.state.gradcam_alpha = value / 100
        self.gradcam_view.set_alpha(self.state.gradcam_alpha)

    def draw(self, res: ActivationResult) -> None:
        g = res.gradcam
        if g is None or not self.state.info.classifier:
            return
        self._last = res
        if g.error is not None:
            self.gradcam_view.set_overlay(res.preview, None)
            self.gradcam_label.setText(f"Grad-CAM failed at {g.layer}: {g.error}")
            return
        self.gradcam_view.set_overlay(res.preview, g.heat, levels=(0.0, 1.0), bar_label="")
        self.gradcam_view.set_alpha(self.state.gradcam_alpha)
        names = self.state.class_names() or []
        label = names[g.class_index] if g.class_index is not None and 0 <= g.class_index < len(names) else g.label
        self.gradcam_view.set_title(f"“{label}” ({g.probability:.0%})")
        self.gradcam_label.setText(f"Evidence for “{html.escape(label)}” from layer {html.escape(str(g.layer))}: "
                                   "bright = the regions that raise that class's score.")
        self.gradcam_view.setToolTip(self.gradcam_label.text())

    def clear(self) -> None:
        self._last = None
        self.gradcam_view.set_overlay(None, None)
        self.gradcam_view.set_title("No Grad-CAM")
        self.gradcam_view.setToolTip("")
        self.gradcam_label.setText("Grad-CAM needs a classifier that takes an image.")


class RightColumn(QWidget):
    """The column itself, top to bottom: the drawing canvas (shown while the drawing is fed),
    which input of a two-image model gets the image, what the model sees, the prediction, the
    output by its kind and Grad-CAM. The pane wires their signals; it scrolls in a
    :class:`ColumnScroll`."""

    def __init__(self, state: ActivationsState, say: Callable[[str, str], None]) -> None:
        super().__init__()
        self.setMinimumWidth(280)
        rv = self.column_layout = QVBoxLayout(self)
        rv.setContentsMargins(4, 0, 0, 0)
        self.canvas_box = CanvasBox()
        self.canvas_box.setVisible(False)
        rv.addWidget(self.canvas_box, 3)
        self.feed_box = QWidget()
        fl = QFormLayout(self.feed_box)
        fl.setContentsMargins(0, 0, 0, 0)
        self.feed_combo = QComboBox()
        self.feed_combo.addItem("input A", "a")
        self.feed_combo.addItem("input B", "b")
        self.feed_combo.setToolTip("The model has two image inputs: the one that gets the image")
        self.other_combo = QComboBox()
        self.other_combo.addItem("a blank (black) image", "blank")
        self.other_combo.addItem("the same image", "same")
        self.other_combo.setToolTip("What the other input gets")
        fl.addRow("Feed the image to", self.feed_combo)
        fl.addRow("The other input gets", self.other_combo)
        self.feed_box.setVisible(False)
        rv.addWidget(self.feed_box)
        self.input_view = ImageView("What the model sees")
        self.input_view.setMinimumHeight(110)
        rv.addWidget(self.input_view, 2)
        self.prediction = PredictionBox(state, say=say)
        self.prediction.add_to(rv, 3)
        self.output_view = OutputView()
        rv.addWidget(self.output_view, 0)
        self.gradcam_box = GradCamBox(state)
        rv.addWidget(self.gradcam_box, 4)
