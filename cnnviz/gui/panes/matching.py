"""Pattern matching, the book's chapter-1 experiment: slide a pattern over the image, score every
position, and find the shape.

The pane's truth is a :class:`MatchingState` (plain Python): the pattern (float weights, 0..1 for
patterns cut from images), where it came from, the method ("dot" — the book's raw dot product —
or "ncc"), the scale factor and how many matches to mark. ``cnnviz.core.matching`` does the
arithmetic; the pane shows the score map aligned with the image (each score at its window's
centre), marks the best matches and explains what the numbers mean.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Slot
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
from cnnviz.core.matching import MatchResult, match_pattern, scale_pattern
from cnnviz.gui.compute import LatestWinsRunner
from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import Pane, alert, fit_combos, panel
from cnnviz.gui.qtutil import IMAGE_FILTER
from cnnviz.gui.widgets import ImageView, link_views
from cnnviz.gui.widgets.image_view import diverging_colormap, heat_colormap

SCALE_MIN, SCALE_MAX, SCALE_STEP = 20, 300, 5  # percent
MAX_MARKED = 9
MIN_SIDE = 2  # a selection thinner than this is treated as empty
#: Images with more pixels than this (about a 1080p photo's half) are matched off the GUI thread:
#: a 4K photo takes 0.1–0.6 s per slider tick. Smaller ones are matched at once.
SYNC_PIXEL_LIMIT = 1_000_000


@dataclass
class MatchingState:
    """What the matching pane shows is a function of this and the image."""

    pattern: np.ndarray | None = None  # float32 (h, w) weights
    pattern_name: str = ""
    method: str = "dot"
    scale: float = 1.0
    top_n: int = 3

    def scaled_pattern(self) -> np.ndarray | None:
        if self.pattern is None:
            return None
        return np.asarray(scale_pattern(self.pattern, self.scale), dtype=np.float32)

    def compute(self, gray: np.ndarray) -> tuple[MatchResult | None, str]:
        """Match the scaled pattern on a gray image; (result, "") or (None, why not)."""
        pat = self.scaled_pattern()
        if pat is None:
            return None, "Pick a pattern: drag a rectangle on the image, or load one."
        try:
            return match_pattern(gray, pat, self.method), ""
        except ValueError as exc:
            return None, str(exc)


def selection_to_box(rect: QRectF, shape: tuple[int, int]) -> tuple[int, int, int, int] | str:
    """Pixel box (top, left, height, width) covered by a rectangle in view coordinates, clipped
    to the image — or a message saying why there is no usable box."""
    h, w = shape
    top, left = math.floor(rect.top()), math.floor(rect.left())
    bottom, right = math.ceil(rect.bottom()), math.ceil(rect.right())
    if rect.width() < 1e-9 or rect.height() < 1e-9:
        return "The selection has no area: drag a rectangle around the shape you want to find."
    t, l = max(0, top), max(0, left)
    b, r = min(h, bottom), min(w, right)
    if b <= t or r <= l:
        return "The selection lies outside the image: drag a rectangle over the image itself."
    if b - t < MIN_SIDE or r - l < MIN_SIDE:
        return (
            f"The selection is only {b - t}×{r - l} pixels: drag a larger rectangle around the "
            "shape you want to find."
        )
    return t, l, b - t, r - l


class MatchingPane(Pane):
    """Pick a pattern, slide it over the image, see the score map and the best matches."""

    name = "matching"
    title = "Pattern matching"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.state = MatchingState()
        self._gray: np.ndarray | None = None
        self._gray_key: tuple | None = None
        self.result: MatchResult | None = None
        self.message = ""
        self._building = True
        self._update_timer = QTimer(self)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(0)
        self._update_timer.timeout.connect(self._on_update_due)
        self._runner = LatestWinsRunner(self)
        self._build_ui()
        self._building = False
        ctx.image_changed.connect(self._on_image_changed)
        self.use_bundled_circle()

    # -- UI ----------------------------------------------------------------------------------
    def _build_ui(self) -> None:
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
        self.dot_radio = QRadioButton("Dot product Σ image × pattern")
        self.ncc_radio = QRadioButton("Normalized cross-correlation")
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
        self.top_spin.valueChanged.connect(self._on_top_changed)
        form.addRow("Matches to mark", self.top_spin)
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
        pat = np.asarray(pattern, dtype=np.float32)
        if pat.ndim != 2 or pat.size == 0 or not np.isfinite(pat).all():
            self._show_message(f"'{name}' cannot be used as a pattern: it must be a finite 2-D grid.")
            return
        self.state.pattern = pat
        self.state.pattern_name = name
        self.state.scale = 1.0
        self._building = True
        self.scale_slider.setValue(100 // SCALE_STEP)
        self._building = False
        self.schedule_update()

    @Slot()
    def use_bundled_circle(self) -> None:
        """The book's Fig. 1.5 circle, as 0s and 1s."""
        try:
            img = images.load_image(paths.sample_image("circle_pattern"), gray=True)
        except (FileNotFoundError, images.ImageLoadError) as exc:
            self._show_message(f"The bundled circle pattern is missing: {exc}")
            return
        self.set_pattern(img.astype(np.float32) / 255.0, "the book's circle (Fig. 1.5)")
        self.image_view.show_rectangle(None)

    @Slot()
    def use_kernel(self) -> None:
        """The kernel from the Kernels pane, weights as they are."""
        self.set_pattern(self.ctx.kernel, f"the kernel ({self.ctx.kernel_name})")
        self.image_view.show_rectangle(None)

    def load_pattern(self, path: str | Path) -> bool:
        """A pattern from an image file, gray, scaled to 0..1."""
        try:
            img = images.load_image(path, gray=True)
        except images.ImageLoadError as exc:
            self._show_message(str(exc))
            self.ctx.error_posted.emit(str(exc))
            return False
        self.set_pattern(img.astype(np.float32) / 255.0, Path(path).name)
        self.image_view.show_rectangle(None)
        return True

    @Slot()
    def _on_load_clicked(self) -> None:
        start = str(paths.sample_images_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Load pattern", start, IMAGE_FILTER)
        if path:
            self.load_pattern(path)

    @Slot(QRectF)
    def _on_selection_made(self, rect: QRectF) -> None:
        self._ensure_gray()
        box = selection_to_box(rect, self._gray.shape)
        if isinstance(box, str):
            self._show_message(box)
            self.ctx.error_posted.emit(box)
            self.image_view.show_rectangle(None)
            return
        t, l, h, w = box
        self.image_view.show_rectangle(QRectF(l, t, w, h))
        crop = self._gray[t : t + h, l : l + w] / 255.0
        self.set_pattern(crop, f"a {h}×{w} cut at row {t}, column {l}")

    @Slot(bool)
    def _on_select_toggled(self, on: bool) -> None:
        self.image_view.set_selection_enabled(on)
        self.image_view.set_title(
            "Image — drag a rectangle to pick a pattern" if on else "Image — drag to pan"
        )

    # -- other controls ----------------------------------------------------------------------
    @Slot(bool)
    def _on_method_toggled(self, _on: bool) -> None:
        self.state.method = "dot" if self.dot_radio.isChecked() else "ncc"
        self.schedule_update()

    @Slot(int)
    def _on_scale_changed(self, value: int) -> None:
        if self._building:
            return
        self.state.scale = value * SCALE_STEP / 100.0
        self.schedule_update()

    def set_scale(self, factor: float) -> None:
        """Move the scale slider (to the nearest step)."""
        self.scale_slider.setValue(round(factor * 100 / SCALE_STEP))

    @Slot(int)
    def _on_top_changed(self, value: int) -> None:
        self.state.top_n = value
        self.schedule_update()

    @Slot()
    def _on_image_changed(self) -> None:
        self.image_view.show_rectangle(None)
        self.schedule_update()

    # -- computing and drawing ---------------------------------------------------------------
    def schedule_update(self) -> None:
        """Recompute at the next turn of the event loop; repeated calls merge into one."""
        if not self._update_timer.isActive():
            self._update_timer.start()

    def is_busy(self) -> bool:
        """True while an update is pending or a score map is being computed."""
        return self._update_timer.isActive() or self._runner.is_busy()

    def flush(self) -> None:
        """Show the score map for the current state now (computed here if still pending)."""
        if self._update_timer.isActive() or self._runner.is_busy():
            self._update_timer.stop()
            self._on_update_due(background=False)

    def _ensure_gray(self) -> None:
        image = self.ctx.image
        key = (id(image), image.shape)
        if key != self._gray_key:
            self._gray = np.asarray(images.to_gray(image), dtype=np.float32)
            self._gray_key = key
            self.image_view.set_image(self._gray, levels=(0.0, 255.0), show_bar=False)

    def _show_message(self, text: str) -> None:
        self.message = text
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    @Slot()
    def _on_update_due(self, background: bool = True) -> None:
        self._ensure_gray()
        pat = self.state.scaled_pattern()
        if pat is not None:
            self.pattern_view.set_image(pat, levels=_pattern_levels(pat), show_bar=False, auto_range=True)
            self.pattern_view.set_title(f"Pattern: {pat.shape[0]}×{pat.shape[1]}")
            self.scale_label.setText(f"{round(self.state.scale * 100)}% ({pat.shape[0]}×{pat.shape[1]})")
        gray = self._gray
        if background and pat is not None and gray.size > SYNC_PIXEL_LIMIT:
            state = dataclasses.replace(self.state)  # the pattern array is replaced, never edited
            self._runner.submit(lambda: _match(state, gray), lambda done: self._show_result(done, pat))
            self.score_view.set_title(f"Score map — computing… ({pat.shape[0]}×{pat.shape[1]} pattern)")
            return
        self._runner.cancel()  # a score map still computing for an older state must not land
        self._show_result(_match(self.state, gray), pat)

    def _show_result(self, done: tuple[MatchResult | None, str, np.ndarray | None], pat: np.ndarray | None) -> None:
        self.result, why, scores = done
        self._show_message(why)
        if self.result is None:
            self.score_view.set_image(None)
            self.score_view.set_title("Score map — nothing to show")
            self._hide_marks()
            self.note_label.setText("")
            self.result_label.setText("")
            return
        res = self.result
        if res.method == "ncc":
            self.score_view.set_image(scores, levels=(-1.0, 1.0), cmap=diverging_colormap())
            self.score_view.set_title("Score map: normalized cross-correlation")
        else:
            lo, hi = float(res.scores.min()), float(res.scores.max())
            self.score_view.set_image(scores, levels=(lo, hi if hi > lo else lo + 1.0), cmap=heat_colormap())
            self.score_view.set_title("Score map: dot product Σ image × pattern")
        h, w = res.image_shape
        self._score_frame.setRect(QRectF(0, 0, w, h))
        self._score_frame.setVisible(True)
        self._draw_marks(res)
        self._write_notes(res, pat)

    def _hide_marks(self) -> None:
        for box, label in zip(self._boxes, self._labels):
            box.setVisible(False)
            label.setVisible(False)
        self._score_marks.setData([], [])

    def _draw_marks(self, res: MatchResult) -> None:
        peaks = res.peaks(self.state.top_n)
        self.peaks = peaks
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

    def _write_notes(self, res: MatchResult, pat: np.ndarray) -> None:
        best = res.peaks(1)[0]
        r, c = best.center
        lines = [
            f"Pattern: {self.state.pattern_name}, scaled to {pat.shape[0]}×{pat.shape[1]}.",
            f"<b>Best match</b> centred at row {r}, column {c}, score <b>{best.score:.4g}</b>.",
        ]
        others = ", ".join(f"{i + 2}: ({p.center[0]}, {p.center[1]}) {p.score:.4g}" for i, p in enumerate(self.peaks[1:]))
        if others:
            lines.append(f"Next best: {others}.")
        self.result_label.setText("<br>".join(lines))
        if res.method == "dot":
            white = 255.0 * float(pat.sum(dtype=np.float64))
            self.note_label.setText(
                "<b>Why brightness wins:</b> the dot product adds up pixel × weight, so a brighter "
                f"window always scores more. A pure white window would score 255 × Σpattern = "
                f"<b>{white:.4g}</b>, the best possible — "
                f"the best match here reaches {100 * best.score / white:.0f}% of it."
                if white > 0
                else "<b>Why brightness wins:</b> the dot product adds up pixel × weight, so where "
                "the weights are positive a brighter window always scores more."
            )
        else:
            self.note_label.setText(
                "<b>NCC</b> removes the mean of the window and of the pattern and divides by their "
                "contrast, so it compares shape only: 1 = the same shape, 0 = unrelated or flat, "
                "−1 = inverted."
            )

    # -- pane hooks --------------------------------------------------------------------------
    def prepare_screenshot(self) -> None:
        self.flush()

    def set_presentation_mode(self, on: bool) -> None:
        self._set_controls_width(on)
        for view in (self.image_view, self.score_view, self.pattern_view):
            view.set_title_size(16 if on else 11)

    def shutdown(self) -> None:
        self._update_timer.stop()
        self._runner.shutdown()


def _match(state: MatchingState, gray: np.ndarray) -> tuple[MatchResult | None, str, np.ndarray | None]:
    """The match and its score map aligned with the image (NaN where no window fits): plain
    data, so it can be computed on any thread."""
    result, why = state.compute(gray)
    scores = None if result is None else result.centered_map(np.nan).astype(np.float32)
    return result, why, scores


def _pattern_levels(pat: np.ndarray) -> tuple[float, float]:
    lo, hi = float(pat.min()), float(pat.max())
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


