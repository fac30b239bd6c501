"""Pattern matching, the book's chapter-1 experiment: slide a pattern over the image, score every
position, and find the shape.

The pane is a view over a :class:`cnnviz.state.matching.MatchingState` (plain Python): the
pattern, where it came from, the method, the scale and how many matches to mark, and the words
that explain the scores. ``cnnviz.core.matching`` does the arithmetic; the pane shows the score
map aligned with the image (each score at its window's centre) and marks the best matches. Big
images are matched off the GUI thread through a :class:`cnnviz.gui.compute.LiveComputation`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QRectF, Qt, Slot
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QFormLayout,
    QGraphicsRectItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz import paths
from cnnviz.core import images
from cnnviz.core.matching import MatchResult
from cnnviz.gui.compute import LiveComputation
from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import BuiltWhenShown, Pane, alert, choice_combo, fit_combos, panel
from cnnviz.gui.qtutil import IMAGE_FILTER, signals_blocked
from cnnviz.gui.widgets import ImageView, link_views
from cnnviz.gui.widgets.image_view import diverging_colormap, heat_colormap
from cnnviz.gui.widgets.plot_text import text_font
from cnnviz.state.matching import (
    CIRCLE_NAME,
    ENLARGE_CHOICES,
    MAX_MARKED,
    METHOD_TITLES,
    SCALE_MAX,
    SCALE_MIN,
    SCALE_STEP,
    SYNC_PIXEL_LIMIT,
    MatchingState,
    crop_pattern,
    kernel_pattern_name,
    match,
    pattern_levels,
    scale_to_slider,
    selection_to_box,
    slider_to_scale,
)


class MatchingPane(BuiltWhenShown, Pane):
    """Pick a pattern, slide it over the image, see the score map and the best matches. Its
    widgets are built when the pane is first shown (or one is asked for), from the state."""

    name = "matching"
    title = "Pattern matching"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.state = MatchingState()
        self._gray: np.ndarray | None = None
        self._gray_key: tuple | None = None
        self.result: MatchResult | None = None
        self.peaks: list = []
        self.message = ""
        self._stale = False  # something changed while the pane was hidden: compute when shown
        self._live = LiveComputation(self, self._refresh, SYNC_PIXEL_LIMIT)
        self._presentation = False
        self.state.changed.connect(self._on_state_changed)
        ctx.image_changed.connect(self._on_image_changed)
        self.use_bundled_circle()

    # -- UI ----------------------------------------------------------------------------------
    def _built(self) -> None:
        """The widgets follow the state they were built after."""
        s = self.state
        with signals_blocked(self.dot_radio, self.ncc_radio, self.top_spin):
            self.dot_radio.setChecked(s.method == "dot")
            self.ncc_radio.setChecked(s.method == "ncc")
            self.top_spin.setValue(s.top_n)
        self._sync_controls()
        self._show_message(self.message)
        if self._presentation:
            self.set_presentation_mode(True)

    def _clear_rectangle(self) -> None:
        if self.is_built:
            self.image_view.show_rectangle(None)

    def _build(self) -> None:
        splitter, side = self._build_controls_column()

        pbox = QGroupBox("Pattern")
        pl = QVBoxLayout(pbox)
        self.select_button = QPushButton("Drag on the image to pick")
        self.select_button.setCheckable(True)
        self.select_button.setChecked(True)
        self.select_button.setToolTip("While on, a left drag on the image cuts the pattern out of it")
        self.select_button.toggled.connect(self._on_select_toggled)
        pl.addWidget(self.select_button)
        row = QHBoxLayout()
        self.circle_button = QPushButton("Book's circle")
        self.circle_button.setToolTip("The circle pattern of the book's Fig. 1.5 (0s and 1s)")
        self.circle_button.clicked.connect(self.use_bundled_circle)
        self.load_button = QPushButton("Load…")
        self.load_button.clicked.connect(self._on_load_clicked)
        self.kernel_button = QPushButton("Use kernel")
        self.kernel_button.setToolTip("Use the kernel from the Kernels pane as the pattern")
        self.kernel_button.clicked.connect(self.use_kernel)
        for b in (self.circle_button, self.load_button, self.kernel_button):
            row.addWidget(b)
        pl.addLayout(row)
        self.pattern_view = ImageView("Pattern")
        self.pattern_view.setMinimumHeight(150)
        self.pattern_view.setMaximumHeight(230)
        self.pattern_view.view_box.setMouseEnabled(False, False)
        pl.addWidget(self.pattern_view)

        scale_row = QHBoxLayout()
        self.scale_slider = QSlider(Qt.Orientation.Horizontal)
        self.scale_slider.setRange(SCALE_MIN // SCALE_STEP, SCALE_MAX // SCALE_STEP)
        self.scale_slider.setValue(100 // SCALE_STEP)
        self.scale_slider.setPageStep(2)
        self.scale_slider.setToolTip(
            "Resize the pattern: the book's point is that a pattern of the wrong size matches "
            "the wrong shape"
        )
        self.scale_slider.valueChanged.connect(self._on_scale_changed)
        self.scale_label = QLabel("100%")
        self.scale_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("300% (999×999)") + 8)
        scale_row.addWidget(QLabel("Scale"))
        scale_row.addWidget(self.scale_slider, 1)
        scale_row.addWidget(self.scale_label)
        pl.addLayout(scale_row)
        side.addWidget(pbox)

        mbox = QGroupBox("Score")
        ml = QVBoxLayout(mbox)
        self.dot_radio = QRadioButton(METHOD_TITLES["dot"])
        self.ncc_radio = QRadioButton(METHOD_TITLES["ncc"])
        self.dot_radio.setToolTip("The book's method (chapter 1): multiply and add, window by window")
        self.ncc_radio.setToolTip("Scores from −1 to 1 that ignore brightness and contrast: shape only")
        self.dot_radio.setChecked(True)
        self._method_group = QButtonGroup(self)
        self._method_group.addButton(self.dot_radio)
        self._method_group.addButton(self.ncc_radio)
        self.dot_radio.toggled.connect(self._on_method_toggled)
        ml.addWidget(self.dot_radio)
        ml.addWidget(self.ncc_radio)
        form = QFormLayout()
        self.top_spin = QSpinBox()
        self.top_spin.setRange(1, MAX_MARKED)
        self.top_spin.setValue(self.state.top_n)
        self.top_spin.valueChanged.connect(lambda value: self.state.update(top_n=value))
        form.addRow("Matches to mark", self.top_spin)
        self.enlarge_combo = choice_combo(
            {f: f"{round(f * 100)}%" for f in ENLARGE_CHOICES},
            lambda _i: self.state.update(enlarge=self.enlarge_combo.currentData()),
            "Enlarge the image, keep the pattern (book Figs 1.12–1.13): once every figure holds "
            "the whole pattern, the dot product can no longer pick out the circle",
        )
        form.addRow("Enlarge figures", self.enlarge_combo)
        ml.addLayout(form)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setTextFormat(Qt.TextFormat.RichText)
        ml.addWidget(self.note_label)
        side.addWidget(mbox)
        side.addStretch(1)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        views = QSplitter(Qt.Orientation.Horizontal)
        self.image_view = ImageView("Image — drag a rectangle to pick a pattern")
        self.score_view = ImageView("Score map")
        link_views(self.image_view, self.score_view)
        self.image_view.set_selection_enabled(True)
        self.image_view.selection_made.connect(self._on_selection_made)
        views.addWidget(self.image_view)
        views.addWidget(self.score_view)
        rl.addWidget(views, 1)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        alert(self.message_label)
        self.message_label.setVisible(False)
        rl.addWidget(self.message_label)
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        panel(self.result_label)
        rl.addWidget(self.result_label)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([340, 1000])
        fit_combos(self.controls_scroll.widget())

        # markers, made once and reused
        self._boxes: list[QGraphicsRectItem] = []
        self._labels: list[pg.TextItem] = []
        for i in range(MAX_MARKED):
            box = QGraphicsRectItem()
            pen = QPen(QColor("#00e676") if i == 0 else QColor("#ffd600"), 0)
            pen.setCosmetic(True)
            pen.setWidth(3 if i == 0 else 2)
            if i:
                pen.setStyle(Qt.PenStyle.DashLine)
            box.setPen(pen)
            box.setZValue(15)
            box.setVisible(False)
            self.image_view.add_item(box)
            self._boxes.append(box)
            label = pg.TextItem(str(i + 1), color="#00e676" if i == 0 else "#ffd600", anchor=(0, 1))
            label.setFont(text_font(False, bold=True))
            label.setZValue(16)
            label.setVisible(False)
            self.image_view.add_item(label)
            self._labels.append(label)
        self._score_marks = pg.ScatterPlotItem(
            size=14, pen=pg.mkPen("#00e676", width=2), brush=None, symbol="+", pxMode=True
        )
        self._score_marks.setZValue(15)
        self.score_view.add_item(self._score_marks)
        # the image's outline on the score map: near the border no whole window fits, no score
        self._score_frame = QGraphicsRectItem()
        frame_pen = QPen(QColor("#9aa0a6"), 0)
        frame_pen.setCosmetic(True)
        frame_pen.setStyle(Qt.PenStyle.DotLine)
        self._score_frame.setPen(frame_pen)
        self._score_frame.setVisible(False)
        self.score_view.add_item(self._score_frame, ignore_bounds=False)

    # -- patterns ----------------------------------------------------------------------------
    def set_pattern(self, pattern: np.ndarray, name: str) -> None:
        """Use ``pattern`` (float weights, (h, w)) and reset the scale to 100 %."""
        why = self.state.set_pattern(pattern, name)
        if why:
            self._show_message(why)

    @Slot()
    def use_bundled_circle(self) -> None:
        """The book's Fig. 1.5 circle, as 0s and 1s."""
        try:
            img = images.load_image(paths.sample_image("circle_pattern"), gray=True)
        except (FileNotFoundError, images.ImageLoadError) as exc:
            self._show_message(f"The bundled circle pattern is missing: {exc}")
            return
        self.set_pattern(img.astype(np.float32) / 255.0, CIRCLE_NAME)
        self._clear_rectangle()

    @Slot()
    def use_kernel(self) -> None:
        """The kernel from the Kernels pane, weights as they are."""
        self.set_pattern(self.ctx.kernel, kernel_pattern_name(self.ctx.kernel_name))
        self._clear_rectangle()

    def load_pattern(self, path: str | Path) -> bool:
        """A pattern from an image file, gray, scaled to 0..1. One above the image size limit is
        refused with an "Open downscaled" button in this pane's message bar."""
        name = Path(path).name
        read = self.ctx.read_image(path, pane=self, gray=True,
                                   use=lambda reduced: self._use_pattern_image(reduced.image, name))
        if read is None:
            self._show_message(self.ctx.last_error)
            return False
        self._use_pattern_image(read.image, name)
        return True

    def _use_pattern_image(self, img: np.ndarray, name: str) -> None:
        self._show_message("")
        self.set_pattern(img.astype(np.float32) / 255.0, name)
        self._clear_rectangle()

    @Slot()
    def _on_load_clicked(self) -> None:
        start = str(paths.sample_images_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Load pattern", start, IMAGE_FILTER)
        if path:
            self.load_pattern(path)

    @Slot(QRectF)
    def _on_selection_made(self, rect: QRectF) -> None:
        self._ensure_gray()
        box = selection_to_box(rect.left(), rect.top(), rect.width(), rect.height(), self._gray.shape)
        if isinstance(box, str):
            self._show_message(box)
            self.ctx.error_posted.emit(box)
            self.image_view.show_rectangle(None)
            return
        t, l, h, w = box
        self.image_view.show_rectangle(QRectF(l, t, w, h))
        self.set_pattern(*crop_pattern(self._gray, box))

    @Slot(bool)
    def _on_select_toggled(self, on: bool) -> None:
        self.image_view.set_selection_enabled(on)
        self.image_view.set_title(
            "Image — drag a rectangle to pick a pattern" if on else "Image — drag to pan"
        )

    # -- other controls ----------------------------------------------------------------------
    @Slot(bool)
    def _on_method_toggled(self, _on: bool) -> None:
        self.state.update(method="dot" if self.dot_radio.isChecked() else "ncc")

    @Slot(int)
    def _on_scale_changed(self, value: int) -> None:
        self.state.update(scale=slider_to_scale(value))

    def set_scale(self, factor: float) -> None:
        """Move the scale slider (to the nearest step)."""
        self.scale_slider.setValue(scale_to_slider(factor))

    def _on_state_changed(self) -> None:
        if self.is_built:
            self._sync_controls()
        self.schedule_update()

    def _sync_controls(self) -> None:
        with signals_blocked(self.scale_slider, self.enlarge_combo):
            self.scale_slider.setValue(scale_to_slider(self.state.scale))
            self.enlarge_combo.setCurrentIndex(self.enlarge_combo.findData(self.state.enlarge))

    @Slot()
    def _on_image_changed(self) -> None:
        self._clear_rectangle()
        self.schedule_update()

    # -- computing and drawing ---------------------------------------------------------------
    def schedule_update(self) -> None:
        """Recompute at the next turn of the event loop; repeated calls merge into one. While the
        pane is not on the screen nothing is computed: it is when the pane is shown (before it
        is drawn, the views having their size) or flushed."""
        if self.isVisible():
            self._live.schedule()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._stale:
            self._stale = False
            drawn = self._gray_key
            self._refresh()  # a small image at once, a large one in the background
            if self._gray_key != drawn:
                # an image that changed while hidden was fitted before the texts under it took
                # their room: fit it to the view as it is laid out
                QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
                self.image_view.view_box.autoRange(padding=0.01)

    def is_busy(self) -> bool:
        """True while an update is pending or a score map is being computed."""
        return self._live.is_busy()

    def flush(self) -> None:
        """Show the score map for the current state now (computed here if still pending)."""
        if self._stale:
            self._stale = False
            self._live.schedule()
        if self._live.is_busy():
            self._live.flush()
            if self.isVisible():
                # the texts just set resize the views: lay them out now, as they are drawn
                QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)

    def _ensure_gray(self) -> None:
        key = (self.ctx.image_generation, self.state.enlarge)
        if key != self._gray_key:
            self.image_view.show_rectangle(None)  # a selection drawn at another scale
            self._gray = np.asarray(self.state.enlarged(images.to_gray(self.ctx.image)), dtype=np.float32)
            self._gray_key = key
            self.image_view.set_image(self._gray, levels=(0.0, 255.0), show_bar=False)

    def _show_message(self, text: str) -> None:
        self.message = text
        if not self.is_built:
            return  # said once built
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _refresh(self) -> None:
        self._ensure_gray()
        s = self.state
        pat = s.scaled_pattern()
        if pat is not None:
            self.pattern_view.set_image(pat, levels=pattern_levels(pat), show_bar=False, auto_range=True)
            self.pattern_view.set_title(s.pattern_title(pat))
            self.scale_label.setText(s.scale_text(pat))
        state, gray = s.snapshot(), self._gray
        size = gray.size if pat is not None else 0
        if self._live.request(lambda: match(state, gray), lambda done: self._show_result(done, pat), size):
            self.score_view.set_title(s.computing_title(pat))

    def _show_result(self, done: tuple[MatchResult | None, str, np.ndarray | None], pat: np.ndarray | None) -> None:
        self.result, why, scores = done
        self._show_message(why)
        res = self.result
        self.score_view.set_title(self.state.score_title(res))
        if res is None:
            self.score_view.set_image(None)
            self._hide_marks()
            self.note_label.setText("")
            self.result_label.setText("")
            return
        cmap = diverging_colormap() if res.method == "ncc" else heat_colormap()
        self.score_view.set_image(scores, levels=self.state.score_levels(res), cmap=cmap)
        h, w = res.image_shape
        self._score_frame.setRect(QRectF(0, 0, w, h))
        self._score_frame.setVisible(True)
        self.peaks = self.state.peaks(res)
        self._draw_marks(res)
        self.result_label.setText(self.state.result_html(res, pat, self.peaks))
        self.note_label.setText(self.state.note_html(res, pat))

    def _hide_marks(self) -> None:
        for box, label in zip(self._boxes, self._labels):
            box.setVisible(False)
            label.setVisible(False)
        self._score_marks.setData([], [])

    def _draw_marks(self, res: MatchResult) -> None:
        peaks = self.peaks
        h, w = res.pattern_shape
        for i, (box, label) in enumerate(zip(self._boxes, self._labels)):
            if i < len(peaks):
                t, l = peaks[i].top_left
                box.setRect(QRectF(l, t, w, h))
                box.setVisible(True)
                label.setPos(l, t)
                label.setVisible(len(peaks) > 1)
            else:
                box.setVisible(False)
                label.setVisible(False)
        xs = [p.center[1] + 0.5 for p in peaks]
        ys = [p.center[0] + 0.5 for p in peaks]
        self._score_marks.setData(xs, ys)

    # -- pane hooks --------------------------------------------------------------------------
    def prepare_screenshot(self) -> None:
        self.flush()

    def set_presentation_mode(self, on: bool) -> None:
        self._presentation = on
        if not self.is_built:
            return
        self._set_controls_width(on)
        for view in (self.image_view, self.score_view, self.pattern_view):
            view.set_title_size(16 if on else 11)
        for label in self._labels:  # the matches' ranks, read off the wall
            label.setFont(text_font(on, bold=True))

    def shutdown(self) -> None:
        self._live.shutdown()
