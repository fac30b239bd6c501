"""What the model outputs, drawn by its kind, in the activations pane's right column: a mask
over the input (legend, opacity, Jaccard/Dice against a true mask), a reconstruction beside the
input and their difference, or the output's values a page at a time. A classifier's bars stay in
the prediction box; this view then only adds its caption. The rules are an
:class:`cnnviz.state.outputs.OutputsState`."""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.qtutil import IMAGE_FILTER
from cnnviz.gui.widgets.bar_chart import BarChartWidget
from cnnviz.gui.widgets.image_view import ImageView
from cnnviz.ml.inspect import ModelInfo, Prediction
from cnnviz.state.outputs import KIND_TITLES, SCORES_HELP, OutputsState, read_mask_file

PAGES = {"classes": 0, "mask": 1, "image": 2, "values": 3}
#: The method that builds each kind's page.
_BUILDERS = {"mask": "_build_mask_page", "image": "_build_image_page", "values": "_build_values_page"}
#: The parts of each page (asking for one builds its page).
_PARTS = {
    **dict.fromkeys(("mask_view", "legend_label", "opacity_slider", "truth_button", "sample_button"), "mask"),
    "image_views": "image",
    **dict.fromkeys(("values_chart", "values_prev", "values_next", "values_page_label", "values_pager"), "values"),
}


class OutputView(QWidget):
    """The model's output by its kind. ``sample_wanted`` asks the pane to feed a sample of the
    bundled segmentation data (the pane then gives its true mask with :meth:`set_truth`)."""

    sample_wanted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = OutputsState()
        self._short = False  # a classifier's note in brief (presentation mode)
        #: Asks for a mask file: returns its path or "" (tests replace it).
        self.mask_file_prompt: Callable[[], str] = self._ask_mask_file
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        self.title_label = QLabel()
        v.addWidget(self.title_label)
        self.stack = QStackedWidget()
        v.addWidget(self.stack, 1)
        for _ in PAGES:  # each kind's page is built when a model of that kind first needs it
            self.stack.addWidget(QWidget())  # classes: the prediction box draws the bars
        self._built_pages: set[str] = set()
        self._text_scale = 1.0

        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        v.addWidget(self.caption)
        v.addStretch(0)  # below the caption when the pictures need less than the column
        self.reset_for_model(None)

    # ------------------------------------------------------------------ the pages, built when needed
    def _page(self, kind: str) -> None:
        """Build ``kind``'s page if it is not built yet (a model of that kind, or a test, asks)."""
        if kind in self._built_pages or kind not in _BUILDERS:
            return
        self._built_pages.add(kind)
        index = PAGES[kind]
        current = self.stack.currentIndex()
        placeholder = self.stack.widget(index)
        page = getattr(self, _BUILDERS[kind])()
        self.stack.insertWidget(index, page)
        self.stack.removeWidget(placeholder)
        placeholder.deleteLater()
        self.stack.setCurrentIndex(current)
        if kind == "image":
            self._size_image_views()
        if kind == "values":
            self.values_chart.set_text_scale(self._text_scale)
        for view in self._views(kind):
            view.set_title_size(15 if self._text_scale > 1 else 11)

    def _views(self, *kinds: str) -> list:
        """The picture views of the pages built so far (of ``kinds`` only, if given)."""
        built = self._built_pages.intersection(kinds or self._built_pages)
        return ([self.mask_view] if "mask" in built else []) + (list(self.image_views) if "image" in built else [])

    def __getattr__(self, name: str):
        # a part of a page not built yet: build that page
        kind = _PARTS.get(name)
        if kind is None or kind in self.__dict__.get("_built_pages", {kind}):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self._page(kind)
        return object.__getattribute__(self, name)

    def _build_mask_page(self) -> QWidget:
        mask_page = QWidget()
        mv = QVBoxLayout(mask_page)
        mv.setContentsMargins(0, 0, 0, 0)
        self.mask_view = ImageView("Predicted mask")
        self.mask_view.setMinimumHeight(80)
        # one scale for all, said in the caption: no colour bar takes a narrow view's width
        self.mask_view.ci.removeItem(self.mask_view.color_bar)
        self.mask_view.color_bar.setParentItem(None)
        mv.addWidget(self.mask_view, 1)
        self.legend_label = QLabel()
        self.legend_label.setWordWrap(True)
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        self.legend_label.setToolTip(SCORES_HELP)
        mv.addWidget(self.legend_label)
        orow = QHBoxLayout()
        orow.addWidget(QLabel("Opacity"))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(int(self.state.opacity * 100))
        self.opacity_slider.setToolTip("0: the input only; 100: the mask's colours only")
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        orow.addWidget(self.opacity_slider, 1)
        mv.addLayout(orow)
        brow = QHBoxLayout()
        self.truth_button = QPushButton("Open mask…")
        self.truth_button.setToolTip("Open the true mask of this image — an image of class numbers (0, 1, "
                                     "2… or the Oxford pets' 1, 2, 3) — to score the predicted mask")
        self.truth_button.clicked.connect(self._on_open_truth)
        self.sample_button = QPushButton("Sample")
        self.sample_button.setToolTip("Feed an image of the bundled segmentation data with its true mask, "
                                      "to score the predicted mask")
        self.sample_button.clicked.connect(self.sample_wanted)
        brow.addWidget(self.truth_button)
        brow.addWidget(self.sample_button)
        mv.addLayout(brow)
        return mask_page

    def _build_image_page(self) -> QWidget:
        image_page = QWidget()
        outer = QVBoxLayout(image_page)
        outer.setContentsMargins(0, 0, 0, 0)
        iv = QHBoxLayout()
        iv.setSpacing(2)
        outer.addLayout(iv)
        self.image_views = [ImageView(t) for t in ("Input", "Output", "|Diff|")]
        self.image_views[2].setToolTip("|output − input| per pixel, on the same colour scale")
        for view in self.image_views:
            view.setMinimumHeight(110)
            iv.addWidget(view, 1)
        for view in self.image_views:
            # one scale for all, said in the caption: no colour bar takes a narrow view's width
            view.ci.removeItem(view.color_bar)
            view.color_bar.setParentItem(None)
        return image_page

    def _build_values_page(self) -> QWidget:
        values_page = QWidget()
        vv = QVBoxLayout(values_page)
        vv.setContentsMargins(0, 0, 0, 0)
        self.values_chart = BarChartWidget("")
        self.values_chart.setMinimumHeight(140)
        vv.addWidget(self.values_chart, 1)
        prow = QHBoxLayout()
        self.values_prev = QPushButton("◀")
        self.values_next = QPushButton("▶")
        self.values_prev.clicked.connect(self._on_prev)
        self.values_next.clicked.connect(self._on_next)
        self.values_page_label = QLabel()
        self.values_page_label.setWordWrap(True)
        self.values_page_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.values_pager = QWidget()
        prow.setContentsMargins(0, 0, 0, 0)
        self.values_pager.setLayout(prow)
        prow.addWidget(self.values_prev)
        prow.addWidget(self.values_page_label, 1)
        prow.addWidget(self.values_next)
        vv.addWidget(self.values_pager)
        return values_page

    # ------------------------------------------------------------------ what the pane calls
    @property
    def kind(self) -> str:
        return self.state.kind

    def reset_for_model(self, info: ModelInfo | None) -> None:
        """A new model: its kind decides the page; the previous output, mask and page go."""
        self.state.reset()
        kind = info.output_kind if info is not None and info.spec is not None else "classes"
        self._show_page(kind)
        self.title_label.setText(f"<b>{KIND_TITLES.get(kind, '')}</b>")
        for view in self._views():
            view.set_image(None)
        if "values" in self._built_pages:
            self.values_chart.set_values(np.zeros(0), [])
            self.values_page_label.setText("")
        self.caption.setText("")
        self.caption.setVisible(False)

    def draw(self, pred: Prediction | None, preview: np.ndarray | None, source_hw=None,
             labels: list[str] | None = None, image_shape: tuple | None = None) -> None:
        self.state.show(pred, preview, source_hw, labels, image_shape)
        self._redraw()

    def image_changed(self, image_key: object = None) -> None:
        self.state.image_changed(image_key)

    def set_truth(self, mask: np.ndarray | None, name: str = "", image_key: object = None) -> str:
        """Score the mask against ``mask`` (the true mask of the image ``image_key``); returns ""
        or what is wrong with it (also shown)."""
        error = self.state.set_truth(mask, name, image_key)
        self._redraw()
        return error

    # ------------------------------------------------------------------ drawing
    def _fit(self) -> None:
        """Fit each picture to its view (a view sized while hidden would show it small)."""
        for view in self._views():
            if view.image_data() is not None and view.isVisible():
                view.view_box.autoRange(padding=0.01)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if "image" in self._built_pages:
            self._size_image_views()
        self._cap_height()
        self._fit()

    def _size_image_views(self) -> None:
        side = max(80, (self.width() - 6) // 3)  # three square pictures side by side
        for view in self.image_views:
            view.setFixedHeight(side + 30)

    def _show_page(self, kind: str) -> None:
        """Show ``kind``'s page (built now if it is the first time); a classifier shows none."""
        self._page(kind)
        self.stack.setCurrentIndex(PAGES.get(kind, 0))
        self._cap_height()
        self.stack.setVisible(kind != "classes")
        self.title_label.setVisible(kind != "classes")

    def _cap_height(self) -> None:
        """Three square pictures need no more height than their width allows."""
        image = self.stack.currentIndex() == PAGES["image"] and "image" in self._built_pages
        self.stack.setMaximumHeight(self.image_views[0].height() + 2 if image else 16777215)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        QTimer.singleShot(0, self._fit)

    def _redraw(self) -> None:
        s = self.state
        kind = s.kind if s.pred is not None else None
        if kind is not None:
            self._show_page(kind)
            self.title_label.setText(f"<b>{KIND_TITLES.get(kind, '')}</b>")
        if kind == "mask":
            self._draw_mask()
        elif kind == "image":
            self._draw_image()
        elif kind == "values":
            self._draw_values()
        text = s.caption(short=self._short)
        self.caption.setText(text)
        self.caption.setToolTip(SCORES_HELP if kind == "mask" else s.caption() if self._short else "")
        self.caption.setVisible(bool(text))
        QTimer.singleShot(0, self._fit)  # once the page's layout has its size

    def _draw_mask(self) -> None:
        view = self.state.mask_view()
        if view is None:
            return
        self.mask_view.set_image(view.overlay)
        self.mask_view.set_title(f"Predicted mask {view.mask.shape[1]}×{view.mask.shape[0]}")
        rows = [f'<span style="color: rgb{c}">■</span> {html.escape(name)} {share:.0%}'
                for name, c, share in view.legend]
        if view.scores is not None:
            rows = [f"{r} · J {j:.2f} · D {d:.2f}" for r, j, d in zip(rows, view.scores.jaccard, view.scores.dice)]
        self.legend_label.setText("<br>".join(rows))

    def _draw_image(self) -> None:
        view = self.state.image_view()
        if view is None:
            return
        for w, data in zip(self.image_views, (view.input, view.output, view.difference)):
            w.set_image(data, levels=view.levels, show_bar=False)
        self.image_views[1].setToolTip(f"The model's output; mean squared error {view.mse:.4g}")

    def _draw_values(self) -> None:
        page = self.state.values_page()
        if page is None:
            return
        horizontal = page.values.size <= 12
        self.values_chart.set_values(page.values, page.names, horizontal=horizontal)
        if not horizontal:  # the values' own numbers on the axis, not their place on the page
            step = max(1, page.values.size // 5)
            self.values_chart.getAxis("bottom").setTicks(
                [[(i, str(page.first + i)) for i in range(0, page.values.size, step)]])
        # one number is said in words (a lone bar would only fill the panel); one page needs no pager
        self.stack.setVisible(page.total > 1)
        self.values_pager.setVisible(page.pages > 1)
        self.values_page_label.setText(page.text)
        self.values_prev.setEnabled(page.page > 0)
        self.values_next.setEnabled(page.page < page.pages - 1)

    # ------------------------------------------------------------------ choices
    @Slot(int)
    def _on_opacity(self, value: int) -> None:
        self.state.opacity = value / 100
        if self.state.kind == "mask":
            self._draw_mask()

    @Slot()
    def _on_prev(self) -> None:
        self.state.prev_page()
        self._draw_values()

    @Slot()
    def _on_next(self) -> None:
        self.state.next_page()
        self._draw_values()

    def _ask_mask_file(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self, "Open the true mask", "", IMAGE_FILTER)
        return path

    @Slot()
    def _on_open_truth(self) -> None:
        path = self.mask_file_prompt()
        if not path:
            return
        try:
            mask = read_mask_file(path)
        except ValueError as exc:
            self.state.truth_error = str(exc)
            self._redraw()
            return
        from pathlib import Path

        self.set_truth(mask, Path(path).name)

    def set_text_scale(self, scale: float) -> None:
        self._short = scale > 1
        self._text_scale = scale
        if "values" in self._built_pages:
            self.values_chart.set_text_scale(scale)
        for view in self._views():
            view.set_title_size(15 if scale > 1 else 11)
        if self.state.pred is not None:
            self._redraw()
