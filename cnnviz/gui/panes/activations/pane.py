"""Model inspection: open a Keras model and see what each layer computes for an image.

The pane's truth and rules are an :class:`cnnviz.state.activations.ActivationsState`; this
module only wires it to the widgets. Keras work runs as the jobs of :mod:`cnnviz.ml.inspect` in
the engine (``ctx.worker``, the child process that owns TensorFlow and keeps the open models);
only plain dataclasses come back. When the engine crashes or hangs while doing this pane's work,
the pane says what it was doing in its message line; the engine restarts and the current model
is opened again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz import paths
from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.activations.compare_page import ComparePage
from cnnviz.gui.panes.activations.filters_page import FiltersPage
from cnnviz.gui.panes.activations.maps_page import MapsPage
from cnnviz.gui.panes.activations.model_box import ModelColumn
from cnnviz.gui.panes.activations.network_page import NetworkPage
from cnnviz.gui.panes.activations.side_column import ColumnScroll, RightColumn
from cnnviz.gui.panes.base import Pane
from cnnviz.gui.qtutil import debounce_timer, signals_blocked
from cnnviz.gui.widgets.draw_canvas import center_like_mnist
from cnnviz.gui.widgets.message_bar import plain_text
from cnnviz.gui.widgets.trust_dialog import answer as answer_trust
from cnnviz.gui.widgets.trust_dialog import trust_box as trust_dialog_box
from cnnviz.ml.inspect import JOBS, LoadRefused, ModelInfo, describe_request
from cnnviz.state.activations import (
    STARTING,
    ActivationsState,
    input_note,
    no_activations_text,
    trust_details,
)

#: Seconds an inspect job may take before the engine is taken to be hung and restarted.
INSPECT_TIMEOUT_S = 120.0
#: Jobs retried once in an engine with oneDNN turned off if they crash TensorFlow.
RETRY_WITHOUT_ONEDNN = ("compute", "filters")

COMPARE_TAB = 2


def demo_models() -> list[Path]:
    """The demo models shipped with cnnviz."""
    try:
        folder = paths.resource("models")
    except FileNotFoundError:
        return []
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".keras", ".h5"))


class ActivationsPane(Pane):
    """A model's layers, their feature maps on the current image, its filters, its prediction
    and Grad-CAM; a drawing canvas as input; two inputs side by side."""

    name = "activations"
    title = "Activations"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.state = ActivationsState(self._submit, image=lambda: ctx.image)
        self.state.ask_trust = self._trust
        #: Asks whether a file may run its code: ``(name, message, findings, hint) -> bool``.
        self.trust_prompt: Callable[[str, str, list[str], str], bool] = self._ask_trust
        self._trust_details = ""  # what the file asking for trust contains, as text
        self.trust_box: QMessageBox | None = None  # the trust dialog while it is open
        self._demos = demo_models()
        self._compute_timer = debounce_timer(self, 0, self._on_compute_due)
        self._canvas_timer = debounce_timer(self, 100, self._on_compute_due)  # a throttle while drawing
        # let the window paint first: the first load imports TensorFlow
        self._start_timer = debounce_timer(self, 30, self._start)
        self._build_ui()

        s = self.state
        s.model_changed.connect(self._on_model_changed)
        s.result_changed.connect(self._draw_result)
        s.no_activations.connect(self._show_no_activations)
        s.compute_wanted.connect(self._compute_timer.start)
        s.compute_failed.connect(self.grid.set_message)
        s.error.connect(self._on_error)
        s.error_cleared.connect(self.clear_message)
        s.busy.connect(ctx.set_busy)
        s.posted.connect(ctx.post)
        ctx.model_requested.connect(self._on_model_requested)
        ctx.model_offered.connect(self._on_model_offered)
        ctx.image_changed.connect(s.image_changed)
        ctx.image_changed.connect(lambda: self.output_view.image_changed(ctx.image_generation))
        self.inspect_timeout_s = INSPECT_TIMEOUT_S
        self._starting_shown = False
        engine = ctx.worker
        s.engine_ready = engine.ready
        engine.ready_changed.connect(self._on_engine_ready)
        engine.crashed.connect(self._on_engine_trouble)
        engine.hung.connect(self._on_engine_trouble)
        engine.restarted.connect(s.engine_restarted)
        engine.dead.connect(self._on_error)
        self._show_no_model("Opening the demo model…")

    # what tests and the window read
    @property
    def info(self) -> ModelInfo | None:
        return self.state.info

    @property
    def result(self):
        return self.state.result

    @property
    def compare_views(self) -> list:
        return self.compare_page.compare_views

    @property
    def compare_grids(self) -> list:
        return self.compare_page.compare_grids

    @property
    def compare_labels(self) -> list:
        return self.compare_page.compare_labels

    @property
    def last_error(self) -> str:
        return self.state.last_error

    def _submit(self, kind: str, request: Any, on_done, on_error) -> None:
        fn, channel = JOBS[kind]
        self.ctx.worker.submit(fn, request, channel=channel, on_done=on_done, on_error=on_error,
                               describe=describe_request(kind, request), timeout_s=self.inspect_timeout_s,
                               retry_once_without_onednn=kind in RETRY_WITHOUT_ONEDNN)

    # ------------------------------------------------------------------ the engine
    @Slot(bool)
    def _on_engine_ready(self, ready: bool) -> None:
        self.state.set_engine_ready(ready)
        if ready and self._starting_shown and self.state.info is None:
            self._show_no_model("Opening the model…")
        self._starting_shown = False

    @Slot(str, list)
    def _on_engine_trouble(self, text: str, channels: list) -> None:
        if any(str(c).startswith("activations") for c in channels):
            self.state.engine_trouble(text)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        s = self.state
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        self._splitter = QSplitter(Qt.Orientation.Horizontal, self)
        root.addWidget(self._splitter, 1)
        self.place_message_bar(root)

        # -- left: model, layers, input
        self.model_column = left = ModelColumn(s, self._demos)
        left.open_requested.connect(self.ctx.request_model_dialog)
        left.source_combo.currentIndexChanged.connect(self._on_source_changed)
        self._splitter.addWidget(left)
        self.model_combo, self.layer_table = left.model_combo, left.layer_table
        self.model_label, self.message_label = left.model_label, left.message_label
        self.source_combo, self.input_label = left.source_combo, left.input_label

        # -- centre: feature maps, filters, compare
        self.maps_page = MapsPage(s)
        self.maps_page.norm_combo.currentIndexChanged.connect(self._on_norm_changed)
        self.filters_page = FiltersPage(s)
        self.compare_page = ComparePage(
            s, read=lambda path, use: self.ctx.read_image(path, pane=self, use=use))
        self.views = QTabWidget()
        self.views.setDocumentMode(True)
        self.views.currentChanged.connect(self._on_view_changed)
        self.views.addTab(self.maps_page, "Feature maps")
        self.views.addTab(self.filters_page, "Filters")
        self.views.addTab(self.compare_page, "Compare two inputs")
        self.views.addTab(NetworkPage(self), "Network")
        self._splitter.addWidget(self.views)
        m = self.maps_page
        self.grid, self.vector_chart, self.maps_stack = m.grid, m.vector_chart, m.maps_stack
        self.map_view, self.overlay_view, self.alpha_slider = m.map_view, m.overlay_view, m.alpha_slider
        self.layer_label, self.norm_combo, self.page_label = m.layer_label, m.norm_combo, m.page_label
        self.prev_button, self.next_button = m.prev_button, m.next_button
        f = self.filters_page
        self.filter_grid, self.filter_label = f.filter_grid, f.filter_label
        self.filter_layer_combo, self.filter_channel_combo = f.filter_layer_combo, f.filter_channel_combo
        self.compare_combo, self.compare_note = self.compare_page.compare_combo, self.compare_page.compare_note

        # -- right: what the model sees, the drawing, the prediction, Grad-CAM
        self.right_column = r = RightColumn(s, say=self.show_message)
        self._right_layout = r.column_layout
        self.canvas_box, self.feed_box, self.input_view = r.canvas_box, r.feed_box, r.input_view
        self.canvas, self.clear_button, self.center_check = (
            r.canvas_box.canvas, r.canvas_box.clear_button, r.canvas_box.center_check)
        self.feed_combo, self.other_combo = r.feed_combo, r.other_combo
        self.prediction, self.output_view, self.gradcam_box = r.prediction, r.output_view, r.gradcam_box
        self.prediction_chart, self.prediction_label = self.prediction.prediction_chart, self.prediction.prediction_label
        g = self.gradcam_box
        self.gradcam_view, self.gradcam_label = g.gradcam_view, g.gradcam_label
        self.class_combo, self.gradcam_layer_combo = g.class_combo, g.gradcam_layer_combo
        self.canvas.drawing_changed.connect(self._on_drawing_changed)
        self.center_check.toggled.connect(self._on_drawing_changed)
        self.feed_combo.currentIndexChanged.connect(self._on_feed_changed)
        self.other_combo.currentIndexChanged.connect(self._on_feed_changed)
        self.output_view.sample_wanted.connect(self.feed_segmentation_sample)
        # the column scrolls rather than squeezing its boxes over each other (a projector's
        # large text at 1280×720 needs more height than there is)
        self._splitter.addWidget(ColumnScroll(r))
        self._splitter.setStretchFactor(0, 0)
        self._splitter.setStretchFactor(1, 1)
        self._splitter.setStretchFactor(2, 0)
        self._splitter.setSizes([360, 730, 310])

    # ------------------------------------------------------------------ opening models
    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self.state.started:
            self.state.started = True
            self._start_timer.start()

    @Slot()
    def _start(self) -> None:
        if not self.state.start(self._demos):
            self._show_no_model("No model is open. Open a .keras or .h5 file (Ctrl+M) or drop one here.")
        elif self.state.loading and not self.state.engine_ready:
            self._show_no_model(STARTING)
            self._starting_shown = True

    def open_model(self, path: str | Path, trust: bool = False) -> None:
        """Open a model file on the worker (the current model stays until it has loaded)."""
        self.state.open_model(path, trust)

    @Slot(str, bool)
    def _on_model_requested(self, path: str, trusted: bool) -> None:
        self.state.open_model(path, trusted)

    @Slot(int, str, str)
    def _on_model_offered(self, model_id: int, name: str, path: str) -> None:
        self.state.offer(model_id, name, path or None)

    def _trust(self, outcome: LoadRefused) -> bool:
        self._trust_details = trust_details(outcome)
        return self.trust_prompt(Path(outcome.path).name, outcome.message, outcome.findings, outcome.hint)

    def _ask_trust(self, name: str, message: str, findings: list[str], hint: str) -> bool:
        """The dialog behind ``trust_prompt`` (the one every pane asks with): the user decides
        whether the file may run code."""
        box = trust_dialog_box(self, name, message, findings, hint, self._trust_details)
        try:
            return answer_trust(box, shown=lambda b: setattr(self, "trust_box", b))
        finally:
            self.trust_box = None

    def _on_error(self, text: str) -> None:
        text = plain_text(text)
        self.model_column.show_error(text)
        self.show_message(text, "error")
        if self.state.info is None and not self.state.loading:  # nothing is open: not "Opening…"
            self._show_no_model("No model is open. Open a .keras or .h5 file (Ctrl+M) or drop one here.")
        self.ctx.error_posted.emit(text)

    def _on_model_changed(self, info: ModelInfo) -> None:
        """A new model: every view resets itself for it (one call each, here and only here),
        so no caption, colour range, zoom, selected map or second input of the previous model
        survives."""
        stem = self.ctx.image_path.stem if self.ctx.image_path else ""
        for view in (self.model_column, self.maps_page, self.filters_page, self.prediction,
                     self.gradcam_box, self.output_view, self):
            view.reset_for_model(info)
        self.compare_page.reset_for_model(info, stem)
        self.canvas_box.setVisible(self.state.source == "canvas")
        first = self.state.first_layer()
        if first is not None:
            self.model_column.select_layer(first)
        if info.spec is None and not info.buildable and info.conv_layers:
            # Nothing can run: the stored kernels are what this file has to show.
            self.views.setCurrentIndex(1)

    def reset_for_model(self, info: ModelInfo) -> None:
        """The pane's own views: what the model sees and the note on what was fed."""
        self.clear_message()  # a problem with the previous model or file is over
        self.input_view.set_image(None)  # also forgets the zoom: the next input is fitted
        self.input_view.set_title("Model input")
        self.input_view.setToolTip("")
        self.input_label.setText("")
        self._show_kind(info.output_kind if info.spec is not None else "classes")
        self.feed_box.setVisible(info.inputs == 2 and info.spec is not None)
        with signals_blocked(self.feed_combo, self.other_combo):
            self.feed_combo.setCurrentIndex(max(0, self.feed_combo.findData(self.state.feed)))
            self.other_combo.setCurrentIndex(max(0, self.other_combo.findData(self.state.other)))

    def _show_kind(self, kind: str) -> None:
        """Class bars for a classifier; the output view alone for the other kinds."""
        classes = kind == "classes"
        self.prediction_chart.setVisible(classes)
        self.prediction_label.setVisible(classes)
        self.prediction.class_names_button.setVisible(classes)  # names are for classes only
        self.gradcam_box.setVisible(classes)  # Grad-CAM explains class scores only
        # a classifier's bars and Grad-CAM share the column; the output view then holds a caption
        self._right_layout.setStretchFactor(self.output_view, 0 if classes else 3)

    # ------------------------------------------------------------------ choices
    @Slot(int)
    def _on_feed_changed(self, _index: int) -> None:
        self.state.feed = self.feed_combo.currentData()
        self.state.other = self.other_combo.currentData()
        self.state.request_compute()

    @Slot()
    def feed_segmentation_sample(self) -> None:
        """Feed an image of the bundled segmentation data and score the mask against its own."""
        from cnnviz.state.outputs import segmentation_sample

        info = self.state.info
        if info is None or info.spec is None:
            return
        h, _, c = info.spec
        self._sample_seed = getattr(self, "_sample_seed", -1) + 1
        img, truth, names = segmentation_sample(h or 128, c, self._sample_seed)
        self.ctx.set_image(img, None)
        error = self.output_view.set_truth(truth, f"sample {self._sample_seed + 1}'s true mask",
                                           self.ctx.image_generation)
        if not error:
            self.ctx.post("Fed a sample of the bundled segmentation data (object / border / background)")
    def select_layer(self, name: str) -> None:
        """Show ``name``'s outputs (selects its row in the table)."""
        self.model_column.select_layer(name)

    @Slot(int)
    def _on_norm_changed(self, index: int) -> None:
        self.state.set_normalization(self.norm_combo.itemData(index))
        self.compare_page.update_note()

    @Slot(int)
    def _on_source_changed(self, index: int) -> None:
        self.canvas_box.setVisible(self.source_combo.itemData(index) == "canvas")
        self.state.set_source(self.source_combo.itemData(index))

    @Slot()
    def _on_drawing_changed(self) -> None:
        if self.state.drawing_changed() and not self._canvas_timer.isActive():
            self._canvas_timer.start()  # throttled: updates every 100 ms while drawing

    @Slot(int)
    def _on_view_changed(self, index: int) -> None:
        if index == COMPARE_TAB:
            self.state.request_compute()
        elif index == 1:
            self.state.request_filters()

    def set_compare_input(self, path_or_canvas: str) -> bool:
        """Choose the second input: an image file, or ``"canvas"`` for the drawing."""
        return self.compare_page.choose(path_or_canvas)

    # ------------------------------------------------------------------ computing
    def request_compute(self) -> None:
        """Ask for a recompute at the next turn of the event loop (coalesces several changes)."""
        self.state.request_compute()

    def flush(self) -> None:
        """Submit a pending recompute now (tests and screenshots)."""
        if self._compute_timer.isActive() or self._canvas_timer.isActive():
            self._compute_timer.stop()
            self._canvas_timer.stop()
            self._on_compute_due()

    def model_input_image(self) -> np.ndarray | None:
        """The image the pane feeds now: the context's image, or the drawing."""
        if self.state.source == "canvas":
            return self._canvas_input()
        return self.ctx.image

    def _canvas_input(self) -> np.ndarray:
        img = self.canvas.image()
        spec = self.state.info.spec if self.state.info else None
        if self.center_check.isChecked() and spec is not None and spec[2] == 1 and spec[0] and spec[1]:
            return center_like_mnist(img, out=min(spec[0], spec[1]))
        return img

    @Slot()
    def _on_compute_due(self) -> None:
        s = self.state
        if not s.can_compute or s.layer is None:
            return
        compare = s.compare_input(self.views.currentIndex() == COMPARE_TAB, self._canvas_input)
        s.compute(self.model_input_image(), compare)

    # ------------------------------------------------------------------ drawing results
    def _fed_name(self, fallback: str) -> str:
        if self.state.source == "canvas":
            return "the drawing"
        return self.ctx.image_path.name if self.ctx.image_path else fallback

    def _draw_result(self) -> None:
        """Draw a result; what it shares with the one drawn before (the same input, the same
        prediction and Grad-CAM — a layer or page change) is not drawn again."""
        res, info = self.state.result, self.state.info
        if res is None or info is None:
            return
        drawn = getattr(self, "_drawn", {})
        fed = self._fed_name("the image")
        same_input = bool(res.input_key) and drawn.get("input") == (info.model_id, res.input_key, fed)
        if not (same_input and self.input_view.image_data() is not None):
            self.input_view.set_image(res.preview)
            self.input_view.set_title(f"Model input {res.preview.shape[1]}×{res.preview.shape[0]}")
            self.input_view.setToolTip("The image as the model sees it: resized, gray or RGB, inverted "
                                       "if that scaling is chosen")
            self.input_label.setText(input_note(res, fed, info.spec[2]) + self._feed_note(info))
        self.maps_page.draw(res)
        pred = res.prediction
        classes = pred is None or pred.output_kind == "classes"
        self._show_kind("classes" if classes else pred.output_kind)
        if classes and not (pred is not None and pred is drawn.get("prediction")
                            and self.prediction_label.text()):
            self.prediction.draw(pred)
        if pred is not drawn.get("prediction") or not same_input:
            self.output_view.draw(pred, res.preview, res.source_hw, info.labels, info.spec)
        if not (same_input and res.gradcam is not None and res.gradcam is drawn.get("gradcam")
                and self.gradcam_view.image_data() is not None):
            self.gradcam_box.draw(res)
        self.compare_page.draw(res, self._fed_name("current image"),
                               self.views.currentIndex() == COMPARE_TAB)
        self._drawn = {"input": (info.model_id, res.input_key, fed), "prediction": res.prediction,
                       "gradcam": res.gradcam}

    def _feed_note(self, info: ModelInfo) -> str:
        """How the image reaches a model that takes it flattened or twice, in words."""
        if info.inputs == 2:
            to = "input B" if self.state.feed == "b" else "input A"
            other = "the same image" if self.state.other == "same" else "a blank (black) image"
            return f" The image goes to {to}; the other input gets {other}."
        if info.feed_text:
            return f" The model {info.feed_text}."
        return ""

    def _show_no_model(self, text: str) -> None:
        self.maps_page.show_message(text)

    def _show_no_activations(self, reason: str) -> None:
        info = self.state.info
        text, input_title = no_activations_text(info, reason)
        self.maps_page.show_message(text, info.name if info else "")
        # Every panel and title of the previous model goes: nothing here may describe it.
        self.maps_page.clear()
        self.input_view.set_image(None)
        self.input_view.set_title(input_title)
        self.input_view.setToolTip(text)
        self.input_label.setText("")
        self.gradcam_box.clear()
        self.prediction.draw(None)
        self.output_view.reset_for_model(None)
        self._show_kind("classes")
        self.feed_box.setVisible(False)
        self.compare_page.clear(text)

    # ------------------------------------------------------------------ pane hooks
    def is_busy(self) -> bool:
        worker_busy = self.ctx.has_worker() and any(
            self.ctx.worker.is_busy(channel) for _, channel in JOBS.values())
        s = self.state
        return bool(s.loading or self._compute_timer.isActive() or self._canvas_timer.isActive()
                    or self._start_timer.isActive() or worker_busy
                    or (not s.started and s.pending is not None))

    def prepare_screenshot(self) -> None:
        self.state.unattended = True  # no one is there to answer questions
        if not self.state.started or self._start_timer.isActive():
            self.state.started = True
            self._start_timer.stop()
            self._start()

    def set_presentation_mode(self, on: bool) -> None:
        scale = 1.5 if on else 1.0
        for g in [self.grid, self.filter_grid]:
            g.set_text_scale(scale)
        self.compare_page.set_text_scale(scale, 15 if on else 11)
        for chart in (self.prediction_chart, self.vector_chart):
            chart.set_text_scale(scale)
        self.output_view.set_text_scale(scale)
        if self.state.result is not None:
            self.prediction.draw(self.state.result.prediction)
        for view in (self.input_view, self.map_view, self.overlay_view, self.gradcam_view):
            view.set_title_size(15 if on else 11)
        # on a projector the type column and the Grad-CAM caption give way (both stay in tooltips)
        self.layer_table.setColumnHidden(1, on)
        table_font = QFont(self.font())
        if on and table_font.pointSizeF() > 0:
            table_font.setPointSizeF(table_font.pointSizeF() * 0.8)
        self.layer_table.setFont(table_font)
        self.gradcam_label.setVisible(not on)
        # the window's width where the splitter is not laid out yet (it then gets the window's)
        total = max(1000, sum(self._splitter.sizes()), self.window().width() - 20)
        left, right = (450, 370) if on else (360, 310)
        if on:  # at a projector's 1280 pixels the feature maps in the middle keep half the width
            left, right = min(left, max(300, total // 4)), min(right, max(290, total // 4))
        self._splitter.setSizes([left, total - left - right, right])

    def shutdown(self) -> None:
        self._start_timer.stop()
        self._compute_timer.stop()
        self._canvas_timer.stop()
