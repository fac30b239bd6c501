"""The "Feature maps" tab: one layer's maps (or values), the chosen map enlarged and laid over
the input; a click on a cell of a map (or on a bar of a vector) explains how it was computed, in
a panel under the maps (:mod:`.explain_view`)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.gui.panes.base import choice_combo
from cnnviz.gui.widgets.bar_chart import BarChartWidget
from cnnviz.gui.widgets.feature_grid import FeatureGridWidget, map_levels
from cnnviz.gui.widgets.image_view import ImageView, heat_colormap
from cnnviz.gui.widgets.overlay_view import OverlayView
from cnnviz.ml.inspect import MAPS_PER_PAGE, VALUES_PER_PAGE, ActivationResult
from cnnviz.state.activations import NORMALIZATIONS, ActivationsState, page_text


class MapsPage(QWidget):
    def __init__(self, state: ActivationsState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        v = QVBoxLayout(self)
        v.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.layer_label = QLabel()
        f = QFont(self.layer_label.font())
        f.setBold(True)
        self.layer_label.setFont(f)
        # a long layer name wraps instead of widening the window past a projector's 1280 pixels
        self.layer_label.setWordWrap(True)
        top.addWidget(self.layer_label, 1)
        top.addWidget(QLabel("Colours scaled"))
        self.norm_combo = choice_combo(NORMALIZATIONS, None,
                                       "Per map shows each map's pattern; per layer and across layers "
                                       "show which maps respond most")
        top.addWidget(self.norm_combo)
        self.prev_button = QPushButton("◀")
        self.next_button = QPushButton("▶")
        for b in (self.prev_button, self.next_button):
            b.setFixedWidth(34)
        self.prev_button.setToolTip("Previous page of maps")
        self.next_button.setToolTip("Next page of maps")
        self.prev_button.clicked.connect(state.prev_page)
        self.next_button.clicked.connect(state.next_page)
        self.page_label = QLabel()
        top.addWidget(self.prev_button)
        top.addWidget(self.page_label)
        top.addWidget(self.next_button)
        v.addLayout(top)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.maps_stack = QStackedWidget()
        self.grid = FeatureGridWidget()
        self.grid.tile_clicked.connect(state.choose_map)
        self.vector_chart = BarChartWidget()
        self.maps_stack.addWidget(self.grid)
        self.maps_stack.addWidget(self.vector_chart)
        split.addWidget(self.maps_stack)
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        self.map_view = ImageView("Map")
        self.overlay_view = OverlayView("On the input")
        self.overlay_view.set_alpha(state.alpha)
        sv.addWidget(self.map_view, 1)
        sv.addWidget(self.overlay_view, 1)
        arow = QHBoxLayout()
        arow.addWidget(QLabel("Opacity"))
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(int(state.alpha * 100))
        self.alpha_slider.setToolTip("0: the input only · 100: the map only")
        self.alpha_slider.valueChanged.connect(self._on_alpha_changed)
        arow.addWidget(self.alpha_slider, 1)
        sv.addLayout(arow)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([460, 300])
        self.vsplit = QSplitter(Qt.Orientation.Vertical)
        self.vsplit.addWidget(split)
        v.addWidget(self.vsplit, 1)
        self.explain = None  # the ExplainView, once attach_explain gave it the engine

    # ------------------------------------------------------------------ click to explain
    def attach_explain(self, ctx, image) -> None:
        """Explain a clicked cell in a panel under the maps; ``image()`` is the input the pane
        feeds, sent with the request so the engine finds the pass it computed for it."""
        from cnnviz.gui.panes.activations.explain_view import ExplainView, explain_submitter, stepper_opener
        from cnnviz.gui.panes.activations.network_page import explain_disabled_reason

        self._disabled_reason = explain_disabled_reason
        self.explain = ExplainView(explain_submitter(ctx, self.state, image), self._preview,
                                   stepper_opener(ctx, self))
        self.explain.closed.connect(lambda: self.explain.setVisible(False))
        self.explain.setVisible(False)
        self.explain.install_arrow_keys(self)
        self.vsplit.addWidget(self.explain)
        self.vsplit.setStretchFactor(0, 3)
        self.vsplit.setStretchFactor(1, 2)
        self.grid.cell_clicked.connect(self._on_cell_clicked)
        self.vector_chart.scene().sigMouseClicked.connect(self._on_chart_clicked)

    def _preview(self) -> np.ndarray | None:
        res = self.state.result
        return None if res is None else res.preview

    def explain_unit(self, index: tuple[int, ...]) -> None:
        """Explain the shown layer's output at ``index`` (the panel opens)."""
        res = self.state.result
        if self.explain is None or res is None:
            return
        self.explain.setVisible(True)
        if self.vsplit.sizes()[-1] == 0:
            total = max(400, sum(self.vsplit.sizes()))
            self.vsplit.setSizes([total * 3 // 5, total - total * 3 // 5])
        self.explain.state.select(res.layer, index, res.shape)

    @Slot(int, int, int)
    def _on_cell_clicked(self, channel: int, row: int, col: int) -> None:
        res = self.state.result
        if res is not None and len(res.shape) == 3:
            self.explain_unit((row, col, channel))

    def _on_chart_clicked(self, ev) -> None:
        res = self.state.result
        if res is None or res.kind != "vector" or self.maps_stack.currentWidget() is not self.vector_chart:
            return
        vb = self.vector_chart.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        x = int(round(vb.mapSceneToView(ev.scenePos()).x()))
        n = len(res.vector) if res.vector is not None else 0
        if 0 <= x < n:
            self.explain_unit((res.first + x,))

    @Slot(int)
    def _on_alpha_changed(self, value: int) -> None:
        self.state.alpha = value / 100
        self.overlay_view.set_alpha(self.state.alpha)

    def draw(self, res: ActivationResult) -> None:
        info = self.state.info
        key = (res.model_id, res.input_key, self.state.scaling)
        if self.explain is not None and key != getattr(self, "_explained_input", key):
            self.explain.input_changed()
        self._explained_input = key
        name = res.layer
        row = info.row(name)
        kind = row.type if row is not None else "?"
        preview = res.preview
        if res.kind == "vector":
            self.maps_stack.setCurrentWidget(self.vector_chart)
            v = res.vector
            labels = None
            if info.labels and res.total == len(info.labels):
                labels = info.labels[res.first: res.first + len(v)]
            top = int(np.argmax(v)) if v.size else None
            self.vector_chart.set_values(v, labels, highlight=top,
                                         title=f"{name}: {res.total} values"
                                         + (f" ({res.first}–{res.first + len(v) - 1})"
                                            if res.total > len(v) else ""))
            self.layer_label.setText(f"{name} — {kind}, {res.total} values (bars)")
            self.map_view.set_image(None)
            self.map_view.set_title("A vector has no maps")
            self.overlay_view.set_overlay(preview, None)
            self.overlay_view.set_title("The input")
            self._update_pages(res, VALUES_PER_PAGE)
            return
        index = self.state.map_index
        self.maps_stack.setCurrentWidget(self.grid)
        levels = self.state.levels(res)
        signed = res.layer_range[0] < 0
        self.grid.set_maps(res.maps, res.first, res.total, levels=levels, signed=signed)
        self.grid.set_selected(index)
        n = res.total
        hw = "×".join(str(v) for v in res.shape[:-1])
        self.layer_label.setText(f"{name} — {kind}, {n} map{'s' if n != 1 else ''} of {hw}")
        self._update_pages(res, MAPS_PER_PAGE)
        fmap = res.map
        mlv = levels if levels is not None else map_levels(fmap, signed)
        self.map_view.set_image(fmap, signed=signed, levels=mlv, cmap=None if signed else heat_colormap())
        self.map_view.set_title(f"Map #{index} ({fmap.shape[1]}×{fmap.shape[0]})")
        if res.overlay is not None:
            self.overlay_view.set_overlay(preview, res.overlay, signed=signed, levels=mlv)
            self.overlay_view.set_title(f"Map #{index} on the input")
            self.overlay_view.setToolTip("Each cell of the map is placed at the centre of its receptive "
                                         "field on the input, not stretched over it")
        else:
            self.overlay_view.set_overlay(preview, None)
            self.overlay_view.set_title("This layer's maps do not lie on the image")

    def _update_pages(self, res: ActivationResult, per: int) -> None:
        multi, label, back, on = page_text(res.total, res.first, per)
        self._show_paging(multi)
        if multi:
            self.page_label.setText(label)
            self.prev_button.setEnabled(back)
            self.next_button.setEnabled(on)

    def _show_paging(self, on: bool) -> None:
        for w in (self.prev_button, self.next_button, self.page_label):
            w.setVisible(on)

    def show_message(self, text: str, title: str = "") -> None:
        """No maps: a message in the grid, the layer line set to ``title``."""
        self.maps_stack.setCurrentWidget(self.grid)
        self.grid.set_message(text)
        self.layer_label.setText(title)
        self._show_paging(False)

    def reset_for_model(self, info) -> None:
        """A new model: nothing of the previous one stays (maps, titles, paging, zoom, the
        explained unit)."""
        self.clear()
        if self.explain is not None:
            self.explain.setVisible(False)
            reason = self._disabled_reason(info)
            if reason:
                self.explain.state.disable(reason)
            else:
                self.explain.state.enable()
        self.grid.set_message("")
        self.layer_label.setText(info.name if info is not None else "")
        self._show_paging(False)

    def clear(self) -> None:
        """Every panel and title of the previous model goes: nothing here may describe it."""
        self.map_view.set_image(None)
        self.map_view.set_title("No feature map")
        self.overlay_view.set_overlay(None, None)
        self.overlay_view.set_title("No overlay")
        self.vector_chart.set_values(np.zeros(0), [])
