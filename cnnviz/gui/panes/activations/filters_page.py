"""The "Filters" tab: a conv layer's kernels, per input channel or as colour patches."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cnnviz.gui.qtutil import signals_blocked
from cnnviz.gui.widgets.feature_grid import FeatureGridWidget
from cnnviz.ml.inspect import ModelInfo
from cnnviz.state.activations import ActivationsState, filter_channel_choices


class FiltersPage(QWidget):
    def __init__(self, state: ActivationsState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        v = QVBoxLayout(self)
        v.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Layer"))
        self.filter_layer_combo = QComboBox()
        self.filter_layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        top.addWidget(self.filter_layer_combo, 1)
        top.addWidget(QLabel("Input channel"))
        self.filter_channel_combo = QComboBox()
        self.filter_channel_combo.currentIndexChanged.connect(self._on_channel_changed)
        top.addWidget(self.filter_channel_combo)
        self.filter_prev = QPushButton("◀")
        self.filter_next = QPushButton("▶")
        for b in (self.filter_prev, self.filter_next):
            b.setFixedWidth(34)
        self.filter_prev.clicked.connect(state.filter_prev)
        self.filter_next.clicked.connect(state.filter_next)
        self.filter_page_label = QLabel()
        top.addWidget(self.filter_prev)
        top.addWidget(self.filter_page_label)
        top.addWidget(self.filter_next)
        v.addLayout(top)
        self.filter_grid = FeatureGridWidget()
        v.addWidget(self.filter_grid, 1)
        self.filter_label = QLabel()
        self.filter_label.setWordWrap(True)
        v.addWidget(self.filter_label)
        self._shown_kernels = None  # the kernels the channel combo was filled for

        state.filters_changed.connect(self.draw)
        state.filters_failed.connect(self._on_failed)
        state.filter_layer_changed.connect(self._show_layer)

    def reset_for_model(self, info: ModelInfo) -> None:
        self.show_model(info)

    def show_model(self, info: ModelInfo) -> None:
        with signals_blocked(self.filter_layer_combo):
            self.filter_layer_combo.clear()
            for name in info.conv_layers:
                self.filter_layer_combo.addItem(name, name)
        self._shown_kernels = None
        if not info.conv_layers:
            self.filter_grid.set_message("This model has no convolution layers, so it has no filters to show.")
            self.filter_channel_combo.clear()
            self.filter_label.setText("")

    def _show_layer(self, name: str) -> None:
        with signals_blocked(self.filter_layer_combo):
            self.filter_layer_combo.setCurrentIndex(self.filter_layer_combo.findData(name))

    @Slot(int)
    def _on_layer_changed(self, index: int) -> None:
        if index >= 0:
            self.state.set_filter_layer(self.filter_layer_combo.itemData(index))

    @Slot(int)
    def _on_channel_changed(self, index: int) -> None:
        if index >= 0:
            self.state.set_filter_channel(int(self.filter_channel_combo.itemData(index)))

    def _on_failed(self, message: str) -> None:
        self.filter_grid.set_message(f"The filters could not be read: {message}")

    def draw(self) -> None:
        fr = self.state.filters_result
        view = self.state.filter_view()
        if view is None:
            return
        with signals_blocked(self.filter_channel_combo):
            if self._shown_kernels is not fr.kernels:
                self._shown_kernels = fr.kernels
                self.filter_channel_combo.clear()
                for text, data in filter_channel_choices(fr.kernels):
                    self.filter_channel_combo.addItem(text, data)
            self.filter_channel_combo.setCurrentIndex(self.filter_channel_combo.findData(self.state.filter_channel))
        names = [f"#{o}" for o in range(view.first, view.last)]
        if view.rgb_tiles is not None:
            self.filter_grid.set_rgb_tiles(view.rgb_tiles, names, view.first, view.total)
        else:
            self.filter_grid.set_maps(view.maps, view.first, view.total, levels=(-view.limit, view.limit),
                                      signed=True, bar_note="one scale for the layer")
        self.filter_page_label.setText(view.label)
        self.filter_prev.setEnabled(view.first > 0)
        self.filter_next.setEnabled(view.last < view.total)
        self.filter_label.setText(view.text)
