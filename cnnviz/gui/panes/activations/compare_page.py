"""The "Compare two inputs" tab: the same layer for the current input and a second one."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz import paths
from cnnviz.core import images
from cnnviz.core.images import DownscaledImage
from cnnviz.gui.panes.base import BuiltWhenShown
from cnnviz.gui.qtutil import IMAGE_FILTER, signals_blocked
from cnnviz.gui.widgets.feature_grid import FeatureGridWidget
from cnnviz.gui.widgets.image_view import ImageView
from cnnviz.ml.inspect import ActivationResult
from cnnviz.state.activations import ActivationsState, compare_defaults, compare_note
from cnnviz.state.outputs import output_brief

OPEN_FILE = "__open__"


#: Reads an image file for the second input: ``read(path, use)`` returns the image (a
#: :class:`~cnnviz.core.images.DownscaledImage`) or None after saying why; an image above the size
#: limit is offered downscaled, and handed to ``use`` when the user accepts.
ReadImage = Callable[[str, Callable[[DownscaledImage], object]], "DownscaledImage | None"]


def _read_alone(path: str, use) -> DownscaledImage | None:
    """Read without a window to speak in: under the limit, or not at all."""
    try:
        return DownscaledImage(images.load_image(path), 1, (0, 0), False)
    except images.ImageLoadError:
        return None


class ComparePage(BuiltWhenShown, QWidget):
    """The tab; its two columns of pictures and maps are built when it is first shown (or asked
    for), with the latest result drawn in them."""

    def __init__(self, state: ActivationsState, parent: QWidget | None = None,
                 read: ReadImage | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._read = read or _read_alone
        self._last_draw: tuple | None = None  # draw()'s arguments, drawn once built
        self._cleared = ""  # clear()'s reason, said once built
        self._text_scale, self._title_points = 1.0, 11.0
        v = self._layout = QVBoxLayout(self)
        v.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare the current input with"))
        self.compare_combo = QComboBox()
        for p in paths.sample_images():
            self.compare_combo.addItem(p.name, str(p))
        self.compare_combo.addItem("The drawing", "canvas")
        self.compare_combo.addItem("Another file…", OPEN_FILE)
        self.compare_combo.setCurrentIndex(-1)
        self.compare_combo.currentIndexChanged.connect(self._on_compare_changed)
        top.addWidget(self.compare_combo, 1)
        v.addLayout(top)
        self.compare_note = QLabel()
        self.compare_note.setWordWrap(True)
        self.compare_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        v.addWidget(self.compare_note)
        self.update_note()

    def _build(self) -> None:
        cols = QHBoxLayout()
        self.compare_views: list[ImageView] = []
        self.compare_grids: list[FeatureGridWidget] = []
        self.compare_labels: list[QLabel] = []
        for title in ("Current input", "Second input"):
            col = QVBoxLayout()
            lab = QLabel(title)
            lab.setWordWrap(True)
            view = ImageView(title)
            view.setFixedHeight(170)
            grid = FeatureGridWidget()
            col.addWidget(view)
            col.addWidget(lab)
            col.addWidget(grid, 1)
            cols.addLayout(col, 1)
            self.compare_views.append(view)
            self.compare_grids.append(grid)
            self.compare_labels.append(lab)
        self._layout.insertLayout(1, cols, 1)

    def _built(self) -> None:
        self.set_text_scale(self._text_scale, self._title_points)
        if self._last_draw is not None:
            self.draw(*self._last_draw)
        else:
            self.clear(self._cleared)

    def set_text_scale(self, scale: float, title_points: float) -> None:
        """The maps' numbers and the pictures' titles on a projector (or back)."""
        self._text_scale, self._title_points = scale, title_points
        if self.is_built:
            for grid in self.compare_grids:
                grid.set_text_scale(scale)
            for view in self.compare_views:
                view.set_title_size(title_points)

    def update_note(self) -> None:
        self.compare_note.setText(compare_note(self.state.normalization))

    def _select(self, data: str) -> None:
        """Make ``data`` the combo's current entry, adding a file before the last two entries."""
        with signals_blocked(self.compare_combo):
            idx = self.compare_combo.findData(data)
            if idx < 0:
                self.compare_combo.insertItem(self.compare_combo.count() - 2, Path(data).name, data)
                idx = self.compare_combo.findData(data)
            self.compare_combo.setCurrentIndex(idx)

    def choose(self, data: str) -> bool:
        """Choose the second input: an image file, or ``"canvas"`` for the drawing."""
        self._select(str(data))
        ok = self._set(str(data))
        self.state.request_compute()
        return ok

    def _set(self, data: str) -> bool:
        """Make ``data`` the second input; a file is read under the image size limit (one above
        it is refused in words, with an offer to open it downscaled). False if it was not read."""
        if data == "canvas":
            return self.state.set_compare(data)
        result = self._read(data, lambda reduced: self._use(data, reduced, compute=True))
        if result is None:  # said why; the second input stays, and the list shows it again
            with signals_blocked(self.compare_combo):
                kept = self.state.compare_with
                self.compare_combo.setCurrentIndex(-1 if kept is None else self.compare_combo.findData(kept))
            return False
        self._use(data, result)
        return True

    def _use(self, path: str, result: DownscaledImage, compute: bool = False) -> None:
        reduction = result.describe().partition(":")[0] if result.factor > 1 else ""
        self.state.set_compare_image(path, result.image, reduction)
        if compute:  # read later, from the message bar's "Open downscaled"
            self._select(path)
            self.state.request_compute()

    def choose_default(self, current_stem: str) -> None:
        """A bundled sample as the second input, unless one is chosen already."""
        if self.state.compare_with is not None:
            return
        for stem in compare_defaults(current_stem):
            idx = next((i for i in range(self.compare_combo.count())
                        if Path(str(self.compare_combo.itemData(i))).stem == stem), -1)
            if idx >= 0:
                self._select(str(self.compare_combo.itemData(idx)))
                self._set(str(self.compare_combo.itemData(idx)))
                return

    @Slot(int)
    def _on_compare_changed(self, index: int) -> None:
        if index < 0:
            return
        data = self.compare_combo.itemData(index)
        if data == OPEN_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Second input", "", IMAGE_FILTER)
            if not path:
                return
            self._select(path)
            data = path
        self._set(str(data))
        self.state.request_compute()

    def draw(self, res: ActivationResult, first_name: str, shown: bool) -> None:
        self._last_draw = (res, first_name, shown)
        if not self.is_built:
            return
        second = res.compare
        if second is None:
            if shown and self.state.compare_with is None:
                for grid in self.compare_grids:
                    grid.set_message("Choose a second input above.")
            return
        firsts = [res, second]
        names = [first_name, self.state.compare_name]
        for i, (r, name) in enumerate(zip(firsts, names)):
            self.compare_views[i].set_image(r.preview)
            self.compare_views[i].set_title(name)
            pred = r.prediction or (res.prediction if i == 0 else None)
            text = f"<b>{html.escape(name)}</b>"
            if pred is not None and pred.output_kind == "classes" and pred.probabilities.size:
                p = pred.probabilities
                t = int(np.argmax(p))
                text += f" — predicted <b>{html.escape(pred.labels[t])}</b> ({p[t]:.1%})"
            elif pred is not None:  # a mask, a reconstruction, values: a few words on each
                info = self.state.info
                text += f" — {html.escape(output_brief(pred, info.spec if info is not None else None))}"
            self.compare_labels[i].setText(text)
            lv = self.state.levels(r, firsts[1 - i])
            if r.kind == "vector":
                self.compare_grids[i].set_maps(r.vector[None, None, :], 0, 1, levels=lv)
            else:
                signed = min(res.layer_range[0], second.layer_range[0]) < 0
                self.compare_grids[i].set_maps(r.maps, r.first, r.total, levels=lv, signed=signed)

    def reset_for_model(self, info, current_stem: str = "") -> None:
        """A new model: the previous pictures, captions and second input go; a default second
        input is chosen for this model."""
        self.clear("")
        with signals_blocked(self.compare_combo):
            self.compare_combo.setCurrentIndex(-1)
        self.choose_default(current_stem)

    def clear(self, reason: str) -> None:
        self._last_draw, self._cleared = None, reason
        if not self.is_built:
            return
        for grid in self.compare_grids:
            grid.set_message(reason)
        for view, label in zip(self.compare_views, self.compare_labels):
            view.set_image(None)
            view.set_title("")
            label.setText("")
