"""Model inspection: open a Keras model and see what each layer computes for an image.

Threading: every Keras call runs in the module-level ``*_job`` functions below, on the one worker
thread (``ctx.worker``) that owns the models; the opened models live in ``_STORE``, which only
those jobs touch. What comes back to the GUI thread is plain data — dicts of numpy arrays,
strings and numbers — so no widget ever sees a Keras object and the window never waits on one.
Requests on the ``"activations"`` channel supersede each other, so clicking through layers
quickly shows the last one, not a queue.

The pane's truth is one :class:`ActivationsState` (plain Python): the open model's id, the layer,
page and map chosen, the normalisation, the input source and scaling, the Grad-CAM choices.
Widgets write into it and ask for a recompute; results are drawn as they arrive.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz import paths
from cnnviz.core import images
from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.base import Pane, choice_combo, fit_combos
from cnnviz.gui.widgets.bar_chart import BarChartWidget
from cnnviz.gui.widgets.draw_canvas import DrawCanvasWidget, center_like_mnist
from cnnviz.gui.widgets.feature_grid import FeatureGridWidget, map_levels
from cnnviz.gui.widgets.image_view import ImageView, heat_colormap
from cnnviz.gui.widgets.overlay_view import OverlayView

CHANNEL = "activations"
LOAD_CHANNEL = "activations.load"
FILTER_CHANNEL = "activations.filters"
MAPS_PER_PAGE = 64
VALUES_PER_PAGE = 1024
MAX_FREE_SIDE = 512  # images fed to models without a fixed input size are shrunk to this
MAX_STORED_MODELS = 3
NORMALIZATIONS = {
    "map": "Per map",
    "layer": "Per layer",
    "global": "Across all layers",
}
SCALING_TEXT = {  # short names for the combo; cnnviz.ml.activations.SCALINGS has the long ones
    "div255": "÷255 (0…1)",
    "div255_inverted": "÷255, inverted (dark strokes → white)",
    "minus1to1": "−1…1",
    "standardize": "Zero mean, unit variance",
    "none": "Raw 0…255",
}
SOURCES = {"image": "The current image", "canvas": "A drawing (mouse)"}
CANVAS_MAX_SIDE = 128
OPEN_FILE = "__open__"


# ============================================================================ worker side
# Everything in this section runs on the Keras worker thread.

_STORE: dict[int, Any] = {}
_STORE_LOCK = threading.Lock()
_IDS = itertools.count(1)


def _remember(loaded: Any) -> int:
    with _STORE_LOCK:
        mid = next(_IDS)
        _STORE[mid] = loaded
        while len(_STORE) > MAX_STORED_MODELS:
            _STORE.pop(min(_STORE))
        return mid


def _stored(mid: int) -> Any:
    with _STORE_LOCK:
        loaded = _STORE.get(mid)
    if loaded is None:
        raise RuntimeError("That model is no longer open; open it again.")
    return loaded


def load_job(job, path: str, trust: bool) -> dict:
    """Open a model file; returns a plain description (never raises for a bad file)."""
    from cnnviz.ml import modelio

    try:
        loaded = modelio.load_model(path, trust=trust)
    except modelio.UnsafeModelError as exc:
        return {"status": "unsafe", "path": path, "message": str(exc), "findings": list(exc.findings),
                "hint": modelio.TRUST_HINT, "trusted": trust,
                # code can be allowed by trusting the file; links to other files never are
                "can_trust": any(k in f for f in exc.findings for k in ("Lambda", "Python", "bytecode"))}
    except modelio.ModelLoadError as exc:
        return {"status": "error", "path": path, "message": str(exc)}
    return _describe(_remember(loaded), loaded, Path(path).name)


def adopt_job(job, model: Any, name: str) -> dict:
    """Take over a live model handed over by another pane (e.g. just trained)."""
    from cnnviz.ml import modelio
    from cnnviz.ml.modelio import _summary_from_model

    loaded = modelio.LoadedModel(Path(name), model, "in memory", None, _summary_from_model(model), {},
                                 [f"Handed over from training: {name}."])
    return _describe(_remember(loaded), loaded, name)


def _describe(mid: int, loaded: Any, name: str) -> dict:
    """What the GUI needs to know about a model, as plain data."""
    from cnnviz.ml import activations as A

    info: dict[str, Any] = {
        "status": "ok", "model_id": mid, "name": name, "path": str(loaded.path),
        "format": loaded.format, "keras_version": loaded.keras_version, "trusted": loaded.trusted,
        "notes": list(loaded.notes), "labels": list(loaded.labels) if loaded.labels else None,
        "buildable": loaded.model is not None, "spec": None, "spec_reason": None,
        "layers": [], "conv_layers": [], "spatial_layers": [], "last_conv": None,
        "classifier": False, "params": sum(r.params or 0 for r in loaded.summary),
    }
    by_name = {r.name: r for r in loaded.summary}
    model = loaded.model
    if model is None:
        info["spec_reason"] = ("This file could not be built into a runnable model, so there are no "
                               "activations to show. The architecture and the stored filters are shown.")
        info["layers"] = [_row(r.name, r.class_name, r.output_shape, r.params, r.info, "none")
                          for r in loaded.summary]
        info["conv_layers"] = list(loaded.filters())
        return info
    spec = A.model_input_spec(model)
    info["conv_layers"] = A.conv_layers(model)
    if not spec.is_image:
        info["spec_reason"] = spec.reason
        info["layers"] = [_row(r.name, r.class_name, r.output_shape, r.params, r.info, "none")
                          for r in loaded.summary]
        return info
    info["spec"] = (spec.height, spec.width, spec.channels)
    h, w = spec.height or 64, spec.width or 64
    x = np.zeros((h, w, spec.channels), np.float32)
    acts = A.layer_activations(model, x)  # also builds and caches the extractor
    types = {n: type(layer).__name__ for n, layer in A.flat_layers(model)}
    for n, a in acts:
        base = n.split("#")[0].split(":")[0]
        r = by_name.get(base)
        shape = (None,) + tuple(a.shape) if spec.height else (None,) + tuple(
            None if i < 2 and a.ndim == 3 else s for i, s in enumerate(a.shape))
        kind = "maps" if a.ndim >= 2 else "vector"
        info["layers"].append(_row(n, types.get(base, r.class_name if r else "?"), shape,
                                   r.params if r else None, r.info if r else "", kind))
        if a.ndim == 3:
            info["spatial_layers"].append(n)
    info["last_conv"] = A.last_conv_layer(model)
    out = acts[-1][1] if acts else None
    info["classifier"] = out is not None and out.ndim == 1 and bool(info["spatial_layers"])
    return info


def _row(name, class_name, shape, params, text, kind) -> dict:
    return {"name": name, "type": class_name or "?", "shape": tuple(shape) if shape is not None else None,
            "params": params, "info": text or "", "kind": kind}


def _fit_free_size(image: np.ndarray, spec) -> np.ndarray:
    """Shrink an image fed to a model without a fixed size, so its maps stay a sane size."""
    if spec.height is not None and spec.width is not None:
        return image
    h, w = image.shape[:2]
    scale = MAX_FREE_SIDE / max(h, w)
    if scale >= 1:
        return image
    import cv2

    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _layer_part(model, acts: dict, layer: str, page: int, map_index: int | None, hw) -> dict:
    from cnnviz.ml import activations as A

    arr = acts[layer]
    part: dict[str, Any] = {"layer": layer, "shape": tuple(arr.shape),
                            "layer_range": (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)}
    if arr.ndim == 1:
        pages = max(1, -(-arr.size // VALUES_PER_PAGE))
        page = min(max(0, page), pages - 1)
        first = page * VALUES_PER_PAGE
        part.update(kind="vector", first=first, total=int(arr.size), page=page,
                    vector=np.array(arr[first:first + VALUES_PER_PAGE], dtype=np.float32))
        return part
    maps, first, total = A.page_maps(arr, page, MAPS_PER_PAGE)
    part.update(kind="maps", maps=np.array(maps, dtype=np.float32), first=first, total=total,
                page=first // MAPS_PER_PAGE)
    if map_index is None or not 0 <= map_index < total:
        # the most active map of the layer: the enlarged view and the overlay are never blank
        flat = arr.reshape(-1, total) if arr.ndim >= 2 else arr[None]
        map_index = int(np.argmax(np.abs(flat).sum(axis=0)))
        part["auto_map"] = True
    part["map_index"] = map_index
    fmap = np.moveaxis(arr, -1, 0)[map_index]
    if fmap.ndim == 1:
        fmap = fmap[:, None]
    fmap = np.array(fmap, dtype=np.float32)
    part["map"] = fmap
    if arr.ndim == 3:
        part["overlay"] = np.array(A.map_to_input(model, layer, fmap, hw), dtype=np.float32)
    return part


def compute_job(job, req: dict) -> dict:
    """Activations of one layer (one page), the chosen map on the input, the prediction and
    Grad-CAM, for one or two inputs — everything the pane shows for a request."""
    from cnnviz.ml import activations as A

    loaded = _stored(req["model_id"])
    model = loaded.model
    spec = A.model_input_spec(model)
    out: dict[str, Any] = {"model_id": req["model_id"], "request": req["request"]}

    def one(image: np.ndarray, want_prediction: bool) -> tuple[dict, Any]:
        img = _fit_free_size(image, spec)
        x, preview = A.prepare_input(img, model, req["scaling"])
        acts = A.layer_activations(model, x)
        res: dict[str, Any] = {"preview": np.array(preview), "input_hw": tuple(preview.shape[:2]),
                               "source_hw": tuple(image.shape[:2]),
                               "x_range": (float(x.min()), float(x.max()))}
        d = dict(acts)
        layer = req["layer"] if req["layer"] in d else acts[0][0]
        res.update(_layer_part(model, d, layer, req["page"], req["map_index"], preview.shape[:2]))
        if req["global"]:
            lo = min(float(a.min()) for _, a in acts if a.size)
            hi = max(float(a.max()) for _, a in acts if a.size)
            res["global_range"] = (lo, hi)
        if want_prediction:
            p = A.predict_probabilities(model, x, loaded.labels)
            res["prediction"] = {"probabilities": np.array(p.probabilities), "labels": list(p.labels),
                                 "is_probability": bool(p.is_probability)}
        return res, x

    main, x = one(req["image"], req["want_prediction"])
    out.update(main)
    if req["want_gradcam"]:
        layer = req["gradcam_layer"] or A.last_conv_layer(model)
        try:
            heat = A.grad_cam(model, x, req["class_index"], layer)
            p = A.predict_probabilities(model, x, loaded.labels)
            idx = req["class_index"] if req["class_index"] is not None else p.top
            out["gradcam"] = {"heat": np.array(heat), "layer": layer, "class_index": int(idx),
                              "label": p.labels[idx], "probability": float(p.probabilities[idx])}
        except Exception as exc:
            out["gradcam"] = {"error": str(exc).strip() or type(exc).__name__, "layer": layer}
        out["gradcam_key"] = req["gradcam_key"]
    if req["compare_image"] is not None:
        out["compare"], _ = one(req["compare_image"], True)
    return out


def filters_job(job, model_id: int, layer: str) -> dict:
    """A conv layer's kernels as (kh, kw, in, out), from the model or the stored weights."""
    loaded = _stored(model_id)
    if loaded.model is not None:
        from cnnviz.ml import activations as A

        k = A.layer_filters(loaded.model, layer)
    else:
        k = loaded.filters()[layer]
    k = np.array(k, dtype=np.float32)
    if k.ndim == 3:
        k = k[None]
    return {"model_id": model_id, "layer": layer, "kernels": k}


# ============================================================================ GUI side


def default_scaling(spec: tuple | None, image: np.ndarray | None) -> str:
    """÷255, or ÷255 inverted when a small gray model (MNIST-like) is shown a bright image:
    such models learnt white strokes on black, and a scanned dark-on-light digit must be flipped."""
    if spec is None or image is None:
        return "div255"
    h, w, c = spec
    small = (h or 999) <= 64 and (w or 999) <= 64
    if c == 1 and small and float(np.mean(image)) > 127:
        return "div255_inverted"
    return "div255"


@dataclass
class ActivationsState:
    """What the pane shows, apart from the image (in the context) and the drawing (its widget)."""

    model_id: int | None = None
    layer: str | None = None
    page: int = 0
    map_index: int | None = None
    normalization: str = "map"
    scaling: str = "div255"
    scaling_chosen: bool = False  # the user picked it: keep it when the image changes
    source: str = "image"
    alpha: float = 0.55
    gradcam_layer: str | None = None  # None: the last conv layer
    class_index: int | None = None  # None: the top prediction
    gradcam_alpha: float = 0.5
    compare_with: str | None = None  # a sample image path, or "canvas"
    filter_layer: str | None = None
    filter_channel: int = -1  # -1: RGB (first layer with 3 input channels)
    filter_page: int = 0


def looks_like_a_digit(image: np.ndarray) -> bool:
    """A small gray picture (like the bundled MNIST samples) rather than a scene or a photo."""
    h, w = image.shape[:2]
    if max(h, w) > 64:
        return False
    if image.ndim == 3 and image.shape[2] >= 3:
        rgb = image[:, :, :3].astype(np.int16)
        if np.abs(rgb[:, :, 0] - rgb[:, :, 1]).max() > 8 or np.abs(rgb[:, :, 1] - rgb[:, :, 2]).max() > 8:
            return False
    return True


def choose_demo(image: np.ndarray, demos: list[Path]) -> Path | None:
    """The bundled demo model that suits the current image: the digits CNN for a digit-like
    picture, the shapes classifier for anything else (a digits model reading a photo of shapes
    would only show a meaningless guess)."""
    if not demos:
        return None
    wanted = "digits" if looks_like_a_digit(image) else "shapes"
    return next((p for p in demos if p.stem.startswith(wanted)), demos[0])


class ActivationsPane(Pane):
    """A model's layers, their feature maps on the current image, its filters, its prediction
    and Grad-CAM; a drawing canvas as input; two inputs side by side."""

    name = "activations"
    title = "Activations"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.state = ActivationsState()
        self.info: dict | None = None  # the open model's description (plain data)
        self.result: dict | None = None  # the last compute result shown
        self.filters_result: dict | None = None
        self.trust_prompt: Callable[[str, str, list[str], str], bool] = self._ask_trust
        self.last_error = ""
        self._started = False
        self._pending: tuple[str, bool] | None = None
        self._loading = 0
        self._requests = itertools.count(1)
        self._gradcam_shown: tuple | None = None
        self._prediction_shown: tuple | None = None
        self._input_version = 0
        self._compare_image: np.ndarray | None = None
        self._compare_name = ""
        self._updating = True
        self._presentation = False

        self._compute_timer = QTimer(self)
        self._compute_timer.setSingleShot(True)
        self._compute_timer.setInterval(0)
        self._compute_timer.timeout.connect(self._on_compute_due)
        self._canvas_timer = QTimer(self)
        self._canvas_timer.setSingleShot(True)
        self._canvas_timer.setInterval(100)
        self._canvas_timer.timeout.connect(self._on_canvas_due)
        self._start_timer = QTimer(self)
        self._start_timer.setSingleShot(True)
        self._start_timer.setInterval(30)  # let the window paint first: the first load imports TensorFlow
        self._start_timer.timeout.connect(self._start)

        self._build_ui()
        self._updating = False
        ctx.model_requested.connect(self._on_model_requested)
        ctx.model_object_offered.connect(self._on_model_offered)
        ctx.image_changed.connect(self._on_image_changed)
        self._show_no_model("Opening the demo model…")

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QHBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        self._splitter = QSplitter(Qt.Orientation.Horizontal, self)
        root.addWidget(self._splitter)

        # -- left: model, layers, input
        left = QWidget()
        left.setMinimumWidth(290)
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 4, 0)
        mbox = QGroupBox("Model")
        ml = QVBoxLayout(mbox)
        row = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(12)
        self.model_combo.setToolTip("The demo models shipped with cnnviz and the models opened so far")
        for p in self._demo_models():
            self.model_combo.addItem(f"{p.stem} (demo)", str(p))
        self.model_combo.addItem("Open a model file…", OPEN_FILE)
        self.model_combo.setCurrentIndex(-1)
        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        row.addWidget(self.model_combo, 1)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a .keras or .h5 model (Ctrl+M); you can also drop one on the window")
        self.open_button.clicked.connect(self._on_open_clicked)
        row.addWidget(self.open_button)
        ml.addLayout(row)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setTextFormat(Qt.TextFormat.RichText)
        ml.addWidget(self.model_label)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.RichText)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        ml.addWidget(self.message_label)
        lv.addWidget(mbox)

        self.layer_table = QTableWidget(0, 4)
        self.layer_table.setHorizontalHeaderLabels(["Layer", "Type", "Output shape", "Params"])
        self.layer_table.verticalHeader().setVisible(False)
        self.layer_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.layer_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.layer_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.layer_table.setWordWrap(False)
        header = self.layer_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for c in (2, 3):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.layer_table.setToolTip("Click a layer to see its outputs")
        self.layer_table.currentCellChanged.connect(self._on_layer_row_changed)
        lv.addWidget(self.layer_table, 1)

        ibox = QGroupBox("Input")
        form = QFormLayout(ibox)
        self.source_combo = choice_combo(SOURCES, self._on_source_changed)
        form.addRow("Feed", self.source_combo)
        self.scaling_combo = choice_combo(SCALING_TEXT, self._on_scaling_changed,
                                          "How pixels become the numbers the model was trained on")
        form.addRow("Scaling", self.scaling_combo)
        self.input_label = QLabel()
        self.input_label.setWordWrap(True)
        form.addRow(self.input_label)
        lv.addWidget(ibox)
        fit_combos(left)  # long entries give way to the labels ("Scaling" was cut on a projector)
        self._splitter.addWidget(left)

        # -- centre: feature maps, filters, compare
        self.views = QTabWidget()
        self.views.setDocumentMode(True)
        self.views.currentChanged.connect(self._on_view_changed)
        self.views.addTab(self._build_maps_page(), "Feature maps")
        self.views.addTab(self._build_filters_page(), "Filters")
        self.views.addTab(self._build_compare_page(), "Compare two inputs")
        self._splitter.addWidget(self.views)

        # -- right: what the model sees, the drawing, the prediction, Grad-CAM
        right = QWidget()
        right.setMinimumWidth(280)
        rv = QVBoxLayout(right)
        rv.setContentsMargins(4, 0, 0, 0)
        self.canvas_box = QGroupBox("Draw")
        cl = QVBoxLayout(self.canvas_box)
        self.canvas = DrawCanvasWidget()
        self.canvas.drawing_changed.connect(self._on_drawing_changed)
        cl.addWidget(self.canvas, 1)
        crow = QHBoxLayout()
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self._on_clear_clicked)
        self.center_check = QCheckBox("Centre like MNIST")
        self.center_check.setChecked(True)
        self.center_check.setToolTip("Crop the strokes, fit them in 20×20 and centre them by mass in 28×28, "
                                     "as the MNIST digits were prepared")
        self.center_check.toggled.connect(self._on_center_toggled)
        crow.addWidget(self.clear_button)
        crow.addWidget(self.center_check)
        crow.addStretch(1)
        cl.addLayout(crow)
        self.canvas_box.setVisible(False)
        rv.addWidget(self.canvas_box, 3)
        self.input_view = ImageView("What the model sees")
        self.input_view.setMinimumHeight(110)
        rv.addWidget(self.input_view, 2)
        self.prediction_chart = BarChartWidget("Prediction")
        self.prediction_chart.setMinimumHeight(140)
        rv.addWidget(self.prediction_chart, 3)
        self.prediction_label = QLabel()
        self.prediction_label.setWordWrap(True)
        rv.addWidget(self.prediction_label)
        gbox = QGroupBox("Grad-CAM")
        gbox.setToolTip("Where the model looks: the regions that raise the chosen class's score")
        gl = QVBoxLayout(gbox)
        gl.setContentsMargins(4, 4, 4, 4)
        grow = QFormLayout()
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose evidence is shown")
        self.class_combo.currentIndexChanged.connect(self._on_class_changed)
        self.gradcam_layer_combo = QComboBox()
        self.gradcam_layer_combo.setToolTip("The layer whose maps are weighted (default: the last convolution)")
        self.gradcam_layer_combo.currentIndexChanged.connect(self._on_gradcam_layer_changed)
        grow.addRow("Class", self.class_combo)
        grow.addRow("Layer", self.gradcam_layer_combo)
        gl.addLayout(grow)
        self.gradcam_view = OverlayView("")
        self.gradcam_view.set_alpha(self.state.gradcam_alpha)
        self.gradcam_view.setMinimumHeight(120)
        gl.addWidget(self.gradcam_view, 1)
        arow = QHBoxLayout()
        arow.addWidget(QLabel("Opacity"))
        self.gradcam_alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.gradcam_alpha_slider.setRange(0, 100)
        self.gradcam_alpha_slider.setValue(int(self.state.gradcam_alpha * 100))
        self.gradcam_alpha_slider.valueChanged.connect(self._on_gradcam_alpha_changed)
        arow.addWidget(self.gradcam_alpha_slider, 1)
        gl.addLayout(arow)
        self.gradcam_label = QLabel()
        self.gradcam_label.setWordWrap(True)
        gl.addWidget(self.gradcam_label)
        self.gradcam_box = gbox
        rv.addWidget(gbox, 4)
        self._splitter.addWidget(right)
        self._splitter.setStretchFactor(0, 0)
        self._splitter.setStretchFactor(1, 1)
        self._splitter.setStretchFactor(2, 0)
        self._splitter.setSizes([360, 730, 310])

    def _build_maps_page(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.layer_label = QLabel()
        f = QFont(self.layer_label.font())
        f.setBold(True)
        self.layer_label.setFont(f)
        top.addWidget(self.layer_label, 1)
        top.addWidget(QLabel("Colours scaled"))
        self.norm_combo = choice_combo(NORMALIZATIONS, self._on_norm_changed,
                                       "Per map shows each map's pattern; per layer and across layers "
                                       "show which maps respond most")
        top.addWidget(self.norm_combo)
        self.prev_button = QPushButton("◀")
        self.next_button = QPushButton("▶")
        for b in (self.prev_button, self.next_button):
            b.setFixedWidth(34)
        self.prev_button.setToolTip("Previous page of maps")
        self.next_button.setToolTip("Next page of maps")
        self.prev_button.clicked.connect(self._on_prev_page)
        self.next_button.clicked.connect(self._on_next_page)
        self.page_label = QLabel()
        top.addWidget(self.prev_button)
        top.addWidget(self.page_label)
        top.addWidget(self.next_button)
        v.addLayout(top)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.maps_stack = QStackedWidget()
        self.grid = FeatureGridWidget()
        self.grid.tile_clicked.connect(self._on_tile_clicked)
        self.vector_chart = BarChartWidget()
        self.maps_stack.addWidget(self.grid)
        self.maps_stack.addWidget(self.vector_chart)
        split.addWidget(self.maps_stack)
        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        self.map_view = ImageView("Map")
        self.overlay_view = OverlayView("On the input")
        self.overlay_view.set_alpha(self.state.alpha)
        sv.addWidget(self.map_view, 1)
        sv.addWidget(self.overlay_view, 1)
        arow = QHBoxLayout()
        arow.addWidget(QLabel("Opacity"))
        self.alpha_slider = QSlider(Qt.Orientation.Horizontal)
        self.alpha_slider.setRange(0, 100)
        self.alpha_slider.setValue(int(self.state.alpha * 100))
        self.alpha_slider.setToolTip("0: the input only · 100: the map only")
        self.alpha_slider.valueChanged.connect(self._on_alpha_changed)
        arow.addWidget(self.alpha_slider, 1)
        sv.addLayout(arow)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([460, 300])
        v.addWidget(split, 1)
        return page

    def _build_filters_page(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Layer"))
        self.filter_layer_combo = QComboBox()
        self.filter_layer_combo.currentIndexChanged.connect(self._on_filter_layer_changed)
        top.addWidget(self.filter_layer_combo, 1)
        top.addWidget(QLabel("Input channel"))
        self.filter_channel_combo = QComboBox()
        self.filter_channel_combo.currentIndexChanged.connect(self._on_filter_channel_changed)
        top.addWidget(self.filter_channel_combo)
        self.filter_prev = QPushButton("◀")
        self.filter_next = QPushButton("▶")
        for b in (self.filter_prev, self.filter_next):
            b.setFixedWidth(34)
        self.filter_prev.clicked.connect(self._on_filter_prev)
        self.filter_next.clicked.connect(self._on_filter_next)
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
        return page

    def _build_compare_page(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare the current input with"))
        self.compare_combo = QComboBox()
        self._fill_compare_combo()
        self.compare_combo.currentIndexChanged.connect(self._on_compare_changed)
        top.addWidget(self.compare_combo, 1)
        v.addLayout(top)
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
        v.addLayout(cols, 1)
        note = QLabel()
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        v.addWidget(note)
        self.compare_note = note
        self._update_compare_note()
        return page

    def _update_compare_note(self) -> None:
        """The note under the two inputs says how the colours are scaled now."""
        mode = getattr(self.state, "normalization", "map")
        how = {
            "map": "each map is scaled to its own range, so compare shapes, not brightness "
                   "(choose 'Per layer' above to compare strengths)",
            "layer": "both inputs share one scale for this layer, so brighter means stronger in either",
            "global": "both inputs share one scale across all layers, so brighter means stronger in either",
        }.get(mode, "")
        self.compare_note.setText(f"Both inputs go through the same layer; {how}.")

    def _fill_compare_combo(self) -> None:
        self.compare_combo.blockSignals(True)
        self.compare_combo.clear()
        for p in paths.sample_images():
            self.compare_combo.addItem(p.name, str(p))
        self.compare_combo.addItem("The drawing", "canvas")
        self.compare_combo.addItem("Another file…", OPEN_FILE)
        self.compare_combo.setCurrentIndex(-1)
        self.compare_combo.blockSignals(False)

    @staticmethod
    def _demo_models() -> list[Path]:
        folder = None
        try:
            folder = paths.resource("models")
        except FileNotFoundError:
            return []
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix in (".keras", ".h5"))

    # ------------------------------------------------------------------ opening models
    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._started:
            self._started = True
            self._start_timer.start()

    @Slot()
    def _start(self) -> None:
        if self._pending is not None:
            path, trust = self._pending
            self._pending = None
            self._submit_load(path, trust)
        elif self.info is None and not self._loading:
            demo = choose_demo(self.ctx.image, self._demo_models())
            if demo is not None:
                self.open_model(demo)
            else:
                self._show_no_model("No model is open. Open a .keras or .h5 file (Ctrl+M) or drop one here.")

    def open_model(self, path: str | Path, trust: bool = False) -> None:
        """Open a model file on the worker (the current model stays until it has loaded)."""
        if not self._started:
            self._pending = (str(path), trust)
            return
        self._submit_load(str(path), trust)

    @Slot(str, bool)
    def _on_model_requested(self, path: str, trusted: bool) -> None:
        self.open_model(path, trusted)

    @Slot(object, str)
    def _on_model_offered(self, model: object, name: str) -> None:
        self._started = True
        self._loading += 1
        self._set_busy("Opening model…")
        self.ctx.worker.submit(adopt_job, model, name, channel=LOAD_CHANNEL,
                               on_done=self._on_loaded, on_error=self._on_load_failed)

    def _submit_load(self, path: str, trust: bool) -> None:
        self._loading += 1
        self._set_busy("Loading TensorFlow…" if "keras" not in sys.modules else "Opening model…")
        self.ctx.worker.submit(load_job, path, trust, channel=LOAD_CHANNEL,
                               on_done=self._on_loaded, on_error=self._on_load_failed)

    def _set_busy(self, text: str) -> None:
        self.ctx.set_busy(text)

    def _load_finished(self) -> None:
        self._loading = max(0, self._loading - 1)
        if not self._loading:
            self._set_busy("")

    def _on_load_failed(self, message: str) -> None:
        self._load_finished()
        self._report_error(f"The model could not be opened: {message}")

    def _on_loaded(self, info: dict) -> None:
        self._load_finished()
        status = info.get("status")
        if status == "unsafe":
            name = Path(info["path"]).name
            if info["trusted"] or not info["can_trust"]:  # trusting would not help: nothing to ask
                kept = " The previous model stays open." if self.info is not None else ""
                self._report_error(info["message"] + kept)
                return
            if getattr(self, "_unattended", False):
                # A screenshot runs with nobody to answer the question: refuse, and say why.
                self._report_error(f"Not opened: '{name}' contains " + "; ".join(info["findings"])
                                   + ". Nobody can answer 'Do you trust this file?' while a "
                                     "screenshot is taken, so it was refused; open it in the "
                                     "window to decide.")
                return
            if self.trust_prompt(name, info["message"], info["findings"], info["hint"]):
                self.open_model(info["path"], trust=True)
            else:
                kept = " The previous model stays open." if self.info is not None else ""
                self._report_error(f"Not opened: '{name}' was refused because it contains "
                                   + "; ".join(info["findings"]) + "." + kept)
            return
        if status == "error":
            kept = " The previous model stays open." if self.info is not None else ""
            self._report_error(info["message"] + kept)
            return
        self._adopt(info)

    def _ask_trust(self, name: str, message: str, findings: list[str], hint: str) -> bool:
        """The dialog behind ``trust_prompt``: the user decides whether the file may run code."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Do you trust this file?")
        box.setText(f"<b>Do you trust this file?</b><br>'{name}' contains:")
        box.setInformativeText("• " + "<br>• ".join(findings) + "<br><br>"
                               "Opening it runs that code on this computer with your permissions. "
                               + hint)
        box.setDetailedText(message)
        yes = box.addButton("Trust and open", QMessageBox.ButtonRole.YesRole)
        box.addButton("Don't open", QMessageBox.ButtonRole.NoRole)
        box.exec()
        return box.clickedButton() is yes

    def _report_error(self, text: str) -> None:
        self.last_error = text
        self.message_label.setText(f"<span style='color:#d93025'><b>{_esc(text)}</b></span>")
        self.ctx.error_posted.emit(text)

    # ------------------------------------------------------------------ a model arrived
    def _adopt(self, info: dict) -> None:
        self.info = info
        s = self.state
        s.model_id = info["model_id"]
        s.page, s.map_index, s.class_index, s.gradcam_layer = 0, None, None, None
        s.filter_layer, s.filter_page, s.filter_channel = None, 0, -1
        s.scaling_chosen = False
        self.result = None
        self.filters_result = None
        self._gradcam_shown = self._prediction_shown = None
        self.last_error = ""
        self._updating = True
        try:
            self._note_model_in_combo(info)
            self._fill_layer_table(info)
            self._fill_gradcam_controls(info)
            self._fill_filter_controls(info)
            spec = info["spec"]
            can_draw = spec is not None and max(spec[0] or 999, spec[1] or 999) <= CANVAS_MAX_SIDE
            self.source_combo.model().item(1).setEnabled(can_draw)
            if not can_draw and s.source == "canvas":
                s.source = "image"
                self.source_combo.setCurrentIndex(0)
            self._apply_default_scaling()
            self._default_compare()
        finally:
            self._updating = False
        self.canvas_box.setVisible(s.source == "canvas")
        self._show_model_text(info)
        layers = [r for r in info["layers"] if r["kind"] != "none"]
        if layers:
            first = next((r["name"] for r in layers if r["kind"] == "maps"), layers[0]["name"])
            self.select_layer(first)
        if info["spec"] is None:
            self._show_no_activations(info["spec_reason"] or "")
            if not info["buildable"] and info["conv_layers"]:
                # Nothing can run: the stored kernels are what this file has to show.
                self.views.setCurrentIndex(1)
        self._request_filters()
        self.ctx.post(f"Opened the model {info['name']}")

    def _note_model_in_combo(self, info: dict) -> None:
        path = info["path"]
        idx = self.model_combo.findData(path)
        if idx < 0:
            idx = self.model_combo.count() - 1  # before "Open a model file…"
            self.model_combo.insertItem(idx, info["name"], path)
        self.model_combo.setCurrentIndex(idx)

    def _show_model_text(self, info: dict) -> None:
        bits = [f"<b>{_esc(info['name'])}</b>", _esc(info["format"])]
        if info["keras_version"]:
            bits.append(f"Keras {_esc(info['keras_version'])}")
        if info["params"]:
            bits.append(f"{info['params']:,} parameters")
        if info["spec"]:
            h, w, c = info["spec"]
            bits.append(f"input {h or '?'}×{w or '?'}×{c}")
        if info["trusted"]:
            bits.append("<span style='color:#d93025'>trusted: its code ran</span>")
        self.model_label.setText(" · ".join(bits))
        notes = list(info["notes"])
        if info["spec_reason"]:
            notes.insert(0, info["spec_reason"])
        self.message_label.setText("<br>".join(_esc(n) for n in notes[:6]))

    def _fill_layer_table(self, info: dict) -> None:
        t = self.layer_table
        t.setRowCount(0)
        t.setRowCount(len(info["layers"]))
        for i, r in enumerate(info["layers"]):
            shape = "—" if r["shape"] is None else "×".join("?" if v is None else str(v) for v in r["shape"][1:])
            params = "" if r["params"] is None else f"{r['params']:,}"
            cells = [r["name"], r["type"], shape, params]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, r["name"])
                tip = f"{r['name']} ({r['type']})" + (f": {r['info']}" if r["info"] else "")
                item.setToolTip(tip)
                if c == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                t.setItem(i, c, item)
        t.clearSelection()

    def _fill_gradcam_controls(self, info: dict) -> None:
        self.class_combo.clear()
        self.gradcam_layer_combo.clear()
        ok = info["classifier"]
        self.gradcam_box.setEnabled(ok)
        if not ok:
            self.gradcam_view.set_overlay(None, None)
            self.gradcam_label.setText("Grad-CAM needs a classifier with convolution maps."
                                       if info["spec"] is not None else "")
            return
        self.class_combo.addItem("Top prediction", -1)
        labels = info["labels"] or []
        out = next((r for r in reversed(info["layers"]) if r["kind"] == "vector"), None)
        n = out["shape"][-1] if out and out["shape"] else len(labels)
        for i in range(int(n or 0)):
            self.class_combo.addItem(labels[i] if i < len(labels) else f"class {i}", i)
        last = info["last_conv"]
        self.gradcam_layer_combo.addItem(f"Last conv ({last})", "")
        for name in info["spatial_layers"]:
            self.gradcam_layer_combo.addItem(name, name)

    def _fill_filter_controls(self, info: dict) -> None:
        self.filter_layer_combo.clear()
        for name in info["conv_layers"]:
            self.filter_layer_combo.addItem(name, name)
        if info["conv_layers"]:
            self.state.filter_layer = info["conv_layers"][0]
        else:
            self.filter_grid.set_message("This model has no convolution layers, so it has no filters to show.")
            self.filter_channel_combo.clear()
            self.filter_label.setText("")

    def _apply_default_scaling(self) -> None:
        s = self.state
        if s.scaling_chosen or self.info is None:
            return
        s.scaling = "div255" if s.source == "canvas" else default_scaling(self.info["spec"], self.ctx.image)
        self._updating, was = True, self._updating
        self.scaling_combo.setCurrentIndex(self.scaling_combo.findData(s.scaling))
        self._updating = was

    def _default_compare(self) -> None:
        if self.state.compare_with is not None:
            return
        current = self.ctx.image_path.stem if self.ctx.image_path else ""
        for stem in (("digit_5",) if current == "digit_7" else ("digit_7", "digit_5")):
            idx = next((i for i in range(self.compare_combo.count())
                        if Path(str(self.compare_combo.itemData(i))).stem == stem), -1)
            if idx >= 0:
                self.compare_combo.setCurrentIndex(idx)
                self._set_compare(str(self.compare_combo.itemData(idx)))
                return

    # ------------------------------------------------------------------ choosing things
    def select_layer(self, name: str) -> None:
        """Show ``name``'s outputs (selects its row in the table)."""
        for row in range(self.layer_table.rowCount()):
            item = self.layer_table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == name:
                if self.layer_table.currentRow() != row:
                    self.layer_table.setCurrentCell(row, 0)
                else:
                    self._set_layer(name)
                return

    @Slot(int, int, int, int)
    def _on_layer_row_changed(self, row: int, col: int, prev_row: int, prev_col: int) -> None:
        if self._updating or row < 0:
            return
        item = self.layer_table.item(row, 0)
        if item is not None:
            self._set_layer(item.data(Qt.ItemDataRole.UserRole))

    def _set_layer(self, name: str) -> None:
        s = self.state
        if name != s.layer:
            s.page, s.map_index = 0, None
        s.layer = name
        row = self._layer_row(name)
        if self.info is None or self.info["spec"] is None or row is None or row["kind"] == "none":
            if self.info is not None and self.info["spec"] is None:
                self._show_no_activations(self.info["spec_reason"] or "")
            return
        if name in self.info["conv_layers"] and self.filter_layer_combo.currentData() != name:
            self.filter_layer_combo.setCurrentIndex(self.filter_layer_combo.findData(name))
        self.request_compute()

    def _layer_row(self, name: str | None) -> dict | None:
        if self.info is None:
            return None
        return next((r for r in self.info["layers"] if r["name"] == name), None)

    @Slot(int)
    def _on_tile_clicked(self, index: int) -> None:
        self.state.map_index = index
        self.request_compute()

    @Slot()
    def _on_prev_page(self) -> None:
        if self.state.page > 0:
            self.state.page -= 1
            self.state.map_index = None
            self.request_compute()

    @Slot()
    def _on_next_page(self) -> None:
        r = self.result
        per = VALUES_PER_PAGE if r and r.get("kind") == "vector" else MAPS_PER_PAGE
        if r and (self.state.page + 1) * per < r.get("total", 0):
            self.state.page += 1
            self.state.map_index = None
            self.request_compute()

    @Slot(int)
    def _on_norm_changed(self, index: int) -> None:
        if self._updating:
            return
        self.state.normalization = self.norm_combo.itemData(index)
        self._update_compare_note()
        if self.state.normalization == "global":
            self.request_compute()
        else:
            self._draw_result()

    @Slot(int)
    def _on_alpha_changed(self, value: int) -> None:
        self.state.alpha = value / 100
        self.overlay_view.set_alpha(self.state.alpha)

    @Slot(int)
    def _on_gradcam_alpha_changed(self, value: int) -> None:
        self.state.gradcam_alpha = value / 100
        self.gradcam_view.set_alpha(self.state.gradcam_alpha)

    @Slot(int)
    def _on_class_changed(self, index: int) -> None:
        if self._updating or index < 0:
            return
        data = self.class_combo.itemData(index)
        self.state.class_index = None if data is None or data < 0 else int(data)
        self.request_compute()

    @Slot(int)
    def _on_gradcam_layer_changed(self, index: int) -> None:
        if self._updating or index < 0:
            return
        self.state.gradcam_layer = self.gradcam_layer_combo.itemData(index) or None
        self.request_compute()

    @Slot(int)
    def _on_scaling_changed(self, index: int) -> None:
        if self._updating:
            return
        self.state.scaling = self.scaling_combo.itemData(index)
        self.state.scaling_chosen = True
        self._input_version += 1
        self.request_compute()

    @Slot(int)
    def _on_source_changed(self, index: int) -> None:
        if self._updating:
            return
        self.state.source = self.source_combo.itemData(index)
        self.canvas_box.setVisible(self.state.source == "canvas")
        if not self.state.scaling_chosen:
            self._apply_default_scaling()
        self._input_version += 1
        self.request_compute()

    @Slot()
    def _on_image_changed(self) -> None:
        self._apply_default_scaling()
        if self.state.source == "image":
            self._input_version += 1
            self.request_compute()

    @Slot()
    def _on_drawing_changed(self) -> None:
        if self.state.compare_with == "canvas" or self.state.source == "canvas":
            self._input_version += 1
            if not self._canvas_timer.isActive():
                self._canvas_timer.start()  # throttled: updates every 100 ms while drawing

    @Slot()
    def _on_canvas_due(self) -> None:
        self.request_compute()

    @Slot()
    def _on_clear_clicked(self) -> None:
        self.canvas.clear()

    @Slot(bool)
    def _on_center_toggled(self, on: bool) -> None:
        self._on_drawing_changed()

    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        if self._updating or index < 0:
            return
        data = self.model_combo.itemData(index)
        if data == OPEN_FILE:
            self._updating = True
            current = self.model_combo.findData(self.info["path"]) if self.info else -1
            self.model_combo.setCurrentIndex(current)
            self._updating = False
            self._on_open_clicked()
        elif self.info is None or data != self.info["path"]:
            self.open_model(data)

    @Slot()
    def _on_open_clicked(self) -> None:
        self.ctx.request_model_dialog()

    @Slot(int)
    def _on_view_changed(self, index: int) -> None:
        if self.views.widget(index) is self.views.widget(2):
            self.request_compute()
        elif index == 1:
            self._request_filters()

    @Slot(int)
    def _on_compare_changed(self, index: int) -> None:
        if index < 0:
            return
        data = self.compare_combo.itemData(index)
        if data == OPEN_FILE:
            from cnnviz.gui.qtutil import IMAGE_FILTER

            path, _ = QFileDialog.getOpenFileName(self, "Second input", "", IMAGE_FILTER)
            if not path:
                return
            idx = self.compare_combo.findData(path)
            if idx < 0:
                self.compare_combo.blockSignals(True)
                self.compare_combo.insertItem(self.compare_combo.count() - 2, Path(path).name, path)
                idx = self.compare_combo.findData(path)
                self.compare_combo.setCurrentIndex(idx)
                self.compare_combo.blockSignals(False)
            data = path
        self._set_compare(str(data))
        self.request_compute()

    def set_compare_input(self, path_or_canvas: str) -> bool:
        """Choose the second input: an image file, or ``"canvas"`` for the drawing."""
        idx = self.compare_combo.findData(str(path_or_canvas))
        if idx < 0:
            self.compare_combo.blockSignals(True)
            self.compare_combo.insertItem(self.compare_combo.count() - 2, Path(path_or_canvas).name,
                                          str(path_or_canvas))
            idx = self.compare_combo.findData(str(path_or_canvas))
            self.compare_combo.blockSignals(False)
        self.compare_combo.setCurrentIndex(idx)
        return self._compare_name != ""

    def _set_compare(self, data: str) -> None:
        if data == "canvas":
            self.state.compare_with = "canvas"
            self._compare_image = None
            self._compare_name = "the drawing"
            return
        try:
            img = images.load_image(data)
        except images.ImageLoadError as exc:
            self._report_error(str(exc))
            self._compare_name = ""
            return
        self.state.compare_with = data
        self._compare_image = np.ascontiguousarray(img, dtype=np.uint8)
        self._compare_name = Path(data).name

    # ------------------------------------------------------------------ filters
    @Slot(int)
    def _on_filter_layer_changed(self, index: int) -> None:
        if index < 0:
            return
        self.state.filter_layer = self.filter_layer_combo.itemData(index)
        self.state.filter_page = 0
        self.state.filter_channel = -1
        self._request_filters()

    @Slot(int)
    def _on_filter_channel_changed(self, index: int) -> None:
        if self._updating or index < 0:
            return
        self.state.filter_channel = int(self.filter_channel_combo.itemData(index))
        self._draw_filters()

    @Slot()
    def _on_filter_prev(self) -> None:
        if self.state.filter_page > 0:
            self.state.filter_page -= 1
            self._draw_filters()

    @Slot()
    def _on_filter_next(self) -> None:
        fr = self.filters_result
        if fr is not None and (self.state.filter_page + 1) * MAPS_PER_PAGE < fr["kernels"].shape[3]:
            self.state.filter_page += 1
            self._draw_filters()

    def _request_filters(self) -> None:
        s = self.state
        if self.info is None or not s.filter_layer:
            return
        fr = self.filters_result
        if fr is not None and fr["model_id"] == s.model_id and fr["layer"] == s.filter_layer:
            self._draw_filters()
            return
        self.ctx.worker.submit(filters_job, s.model_id, s.filter_layer, channel=FILTER_CHANNEL,
                               on_done=self._on_filters_done, on_error=self._on_filters_failed)

    def _on_filters_done(self, res: dict) -> None:
        if res["model_id"] != self.state.model_id:
            return
        self.filters_result = res
        k = res["kernels"]
        self._updating, was = True, self._updating
        self.filter_channel_combo.clear()
        first_rgb = k.shape[2] == 3
        if first_rgb:
            self.filter_channel_combo.addItem("All three as RGB", -1)
        for c in range(k.shape[2]):
            self.filter_channel_combo.addItem(f"{c}" + (f" ({'RGB'[c]})" if first_rgb else ""), c)
        if self.state.filter_channel == -1 and not first_rgb:
            self.state.filter_channel = 0
        self.filter_channel_combo.setCurrentIndex(self.filter_channel_combo.findData(self.state.filter_channel))
        self._updating = was
        self._draw_filters()

    def _on_filters_failed(self, message: str) -> None:
        self.filter_grid.set_message(f"The filters could not be read: {message}")

    def _draw_filters(self) -> None:
        fr = self.filters_result
        if fr is None:
            return
        k = fr["kernels"]
        kh, kw, cin, cout = k.shape
        s = self.state
        pages = max(1, -(-cout // MAPS_PER_PAGE))
        s.filter_page = min(s.filter_page, pages - 1)
        first = s.filter_page * MAPS_PER_PAGE
        last = min(cout, first + MAPS_PER_PAGE)
        m = float(np.abs(k).max()) or 1.0
        if s.filter_channel == -1 and cin == 3:
            tiles = [np.clip(np.round(127.5 + 127.5 * k[:, :, :, o] / m), 0, 255).astype(np.uint8)
                     for o in range(first, last)]
            self.filter_grid.set_rgb_tiles(tiles, [f"#{o}" for o in range(first, last)], first, cout)
            how = ("Each filter shown as a colour patch: its weights on the red, green and blue inputs "
                   "(gray = 0, brighter = positive). A filter that looks for a colour shows that colour.")
        else:
            c = max(0, min(s.filter_channel, cin - 1))
            maps = np.moveaxis(k[:, :, c, first:last], -1, 0)
            self.filter_grid.set_maps(maps, first, cout, levels=(-m, m), signed=True,
                                      bar_note="one scale for the layer")
            how = (f"The weights each filter applies to input channel {c}: red adds, blue subtracts, "
                   "white is 0.")
        self.filter_page_label.setText(f"{first + 1}–{last} of {cout}" if pages > 1 else f"{cout} filters")
        self.filter_prev.setEnabled(s.filter_page > 0)
        self.filter_next.setEnabled(s.filter_page + 1 < pages)
        text = f"{fr['layer']}: {cout} filters of {kh}×{kw}×{cin}. {how}"
        if self.info is not None and not self.info["buildable"]:
            text = f"{self.info['spec_reason']}\n\n{text}"  # why only the filters are here
        self.filter_label.setText(text)

    # ------------------------------------------------------------------ computing
    def request_compute(self) -> None:
        """Ask for a recompute at the next turn of the event loop (coalesces several changes)."""
        if self.info is None or self.info["spec"] is None:
            return
        self._compute_timer.start()

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
        spec = self.info["spec"] if self.info else None
        if self.center_check.isChecked() and spec is not None and spec[2] == 1 and spec[0] and spec[1]:
            side = min(spec[0], spec[1])
            return center_like_mnist(img, out=side)
        return img

    @Slot()
    def _on_compute_due(self) -> None:
        s = self.state
        if self.info is None or self.info["spec"] is None or s.layer is None:
            return
        image = self.model_input_image()
        if image is None:
            return
        gkey = (s.model_id, self._input_version, s.scaling, s.gradcam_layer, s.class_index)
        pkey = (s.model_id, self._input_version, s.scaling)
        compare = None
        if self.views.currentIndex() == 2 and s.compare_with is not None:
            compare = self._canvas_input() if s.compare_with == "canvas" else self._compare_image
        req = {
            "model_id": s.model_id, "request": next(self._requests), "image": np.array(image),
            "scaling": s.scaling, "layer": s.layer, "page": s.page, "map_index": s.map_index,
            "global": s.normalization == "global",
            "want_prediction": pkey != self._prediction_shown, "prediction_key": pkey,
            "want_gradcam": self.info["classifier"] and gkey != self._gradcam_shown,
            "gradcam_key": gkey, "gradcam_layer": s.gradcam_layer, "class_index": s.class_index,
            "compare_image": None if compare is None else np.array(compare),
        }
        self.ctx.worker.submit(compute_job, req, channel=CHANNEL, on_done=self._on_computed,
                               on_error=self._on_compute_failed)

    def _on_compute_failed(self, message: str) -> None:
        self._report_error(f"The activations could not be computed: {message}")
        self.grid.set_message(message)

    def _on_computed(self, res: dict) -> None:
        s = self.state
        if res["model_id"] != s.model_id:
            return  # a result for a model that has been replaced since
        prev = self.result
        if "prediction" not in res and prev is not None and "prediction" in prev:
            res["prediction"] = prev["prediction"]
        if "gradcam" not in res and prev is not None and "gradcam" in prev:
            res["gradcam"] = prev["gradcam"]
        if "global_range" not in res and prev is not None and "global_range" in prev \
                and s.normalization == "global":
            res["global_range"] = prev["global_range"]
        self.result = res
        if res.get("map_index") is not None:
            s.map_index = res["map_index"]
        s.page = res.get("page", s.page)
        if "gradcam_key" in res:
            self._gradcam_shown = res["gradcam_key"]
        self._prediction_shown = (s.model_id, self._input_version, s.scaling) if "prediction" in res else None
        if self.last_error.startswith("The activations could not"):
            self.last_error = ""
            self._show_model_text(self.info)
        self._draw_result()

    # ------------------------------------------------------------------ drawing results
    def _levels_for(self, res: dict, other: dict | None = None) -> tuple[float, float] | None:
        mode = self.state.normalization
        if mode == "map":
            return None
        key = "global_range" if mode == "global" and "global_range" in res else "layer_range"
        lo, hi = res[key]
        if other is not None and key in other:
            lo, hi = min(lo, other[key][0]), max(hi, other[key][1])
        return (min(lo, 0.0), hi if hi > min(lo, 0.0) else min(lo, 0.0) + 1.0)

    def _draw_result(self) -> None:
        res = self.result
        if res is None or self.info is None:
            return
        s = self.state
        name = res["layer"]
        row = self._layer_row(name) or {"type": "?"}
        preview = res["preview"]
        self.input_view.set_image(preview)
        self.input_view.set_title(f"Model input {preview.shape[1]}×{preview.shape[0]}")
        self.input_view.setToolTip("The image as the model sees it: resized, gray or RGB, inverted "
                                   "if that scaling is chosen")
        self._show_input_note(res)
        if res["kind"] == "vector":
            self.maps_stack.setCurrentWidget(self.vector_chart)
            v = res["vector"]
            labels = None
            if self.info["labels"] and res["total"] == len(self.info["labels"]):
                labels = self.info["labels"][res["first"]: res["first"] + len(v)]
            top = int(np.argmax(v)) if v.size else None
            self.vector_chart.set_values(v, labels, highlight=top,
                                         title=f"{name}: {res['total']} values"
                                         + (f" ({res['first']}–{res['first'] + len(v) - 1})"
                                            if res["total"] > len(v) else ""))
            self.layer_label.setText(f"{name} — {row['type']}, {res['total']} values (bars)")
            self.map_view.set_image(None)
            self.map_view.set_title("A vector has no maps")
            self.overlay_view.set_overlay(preview, None)
            self.overlay_view.set_title("The input")
            self._update_pages(res, VALUES_PER_PAGE)
        else:
            self.maps_stack.setCurrentWidget(self.grid)
            levels = self._levels_for(res)
            signed = res["layer_range"][0] < 0
            self.grid.set_maps(res["maps"], res["first"], res["total"], levels=levels, signed=signed)
            self.grid.set_selected(s.map_index)
            n = res["total"]
            hw = "×".join(str(v) for v in res["shape"][:-1])
            self.layer_label.setText(f"{name} — {row['type']}, {n} map{'s' if n != 1 else ''} of {hw}")
            self._update_pages(res, MAPS_PER_PAGE)
            fmap = res["map"]
            mlv = levels if levels is not None else map_levels(fmap, signed)
            self.map_view.set_image(fmap, signed=signed, levels=mlv,
                                    cmap=None if signed else heat_colormap())
            self.map_view.set_title(f"Map #{s.map_index} ({fmap.shape[1]}×{fmap.shape[0]})")
            if "overlay" in res:
                self.overlay_view.set_overlay(preview, res["overlay"], signed=signed, levels=mlv)
                self.overlay_view.set_title(f"Map #{s.map_index} on the input")
                self.overlay_view.setToolTip("Each cell of the map is placed at the centre of its receptive "
                                             "field on the input, not stretched over it")
            else:
                self.overlay_view.set_overlay(preview, None)
                self.overlay_view.set_title("This layer's maps do not lie on the image")
        self._draw_prediction(res.get("prediction"))
        self._draw_gradcam(res)
        self._draw_compare(res)

    def _update_pages(self, res: dict, per: int) -> None:
        total, first = res["total"], res["first"]
        pages = max(1, -(-total // per))
        page = first // per
        multi = pages > 1
        for w in (self.prev_button, self.next_button, self.page_label):
            w.setVisible(multi)
        if multi:
            last = min(total, first + per)
            self.page_label.setText(f"{first}–{last - 1} of {total} (page {page + 1}/{pages})")
            self.prev_button.setEnabled(page > 0)
            self.next_button.setEnabled(page + 1 < pages)

    def _show_input_note(self, res: dict) -> None:
        s = self.state
        sh, sw = res["source_hw"]
        ih, iw = res["input_hw"]
        c = self.info["spec"][2]
        what = "the drawing" if s.source == "canvas" else (self.ctx.image_path.name if self.ctx.image_path
                                                           else "the image")
        parts = [f"{what} ({sw}×{sh})"]
        if (sh, sw) != (ih, iw):
            parts.append(f"resized to {iw}×{ih}")
        parts.append("gray" if c == 1 else "RGB")
        lo, hi = res["x_range"]
        parts.append(f"values {lo:.3g}…{hi:.3g}")
        self.input_label.setText("Fed: " + ", ".join(parts) + ".")

    def _draw_prediction(self, pred: dict | None) -> None:
        if pred is None:
            self.prediction_chart.set_values(np.zeros(0), [], horizontal=True)
            self.prediction_label.setText("")
            return
        p = pred["probabilities"]
        labels = pred["labels"]
        # Five rows and "others" stay readable in the panel's height at any window size; ten
        # classes' labels and percentages would overlap.
        order = np.argsort(-p)[:PREDICTION_ROWS]
        values, names = list(p[order]), [labels[i] for i in order]
        if p.size > len(order):
            values.append(max(0.0, float(p.sum() - p[order].sum())))
            names.append(f"{p.size - len(order)} others")
        self.prediction_chart.set_values(np.asarray(values), names, horizontal=True,
                                         highlight=0, fmt="{:.1%}", limits=(0, 1))
        top = order[0]
        note = "" if pred["is_probability"] else " (the output is not a softmax; shown through one)"
        more = f" — top {len(order)} of {p.size}" if p.size > len(order) else ""
        self.prediction_label.setText(f"Predicted <b>{_esc(labels[top])}</b> ({p[top]:.1%}){more}{note}")

    def _draw_gradcam(self, res: dict) -> None:
        g = res.get("gradcam")
        if g is None or not self.info["classifier"]:
            return
        if "error" in g:
            self.gradcam_view.set_overlay(res["preview"], None)
            self.gradcam_label.setText(f"Grad-CAM failed at {g.get('layer')}: {g['error']}")
            return
        self.gradcam_view.set_overlay(res["preview"], g["heat"], levels=(0.0, 1.0), bar_label="")
        self.gradcam_view.set_alpha(self.state.gradcam_alpha)
        self.gradcam_view.set_title(f"“{g['label']}” ({g['probability']:.0%})")
        self.gradcam_label.setText(f"Evidence for “{_esc(g['label'])}” from layer {_esc(g['layer'])}: "
                                   "bright = the regions that raise that class's score.")
        self.gradcam_view.setToolTip(self.gradcam_label.text())

    def _draw_compare(self, res: dict) -> None:
        second = res.get("compare")
        if second is None:
            if self.views.currentIndex() == 2 and self.state.compare_with is None:
                for grid in self.compare_grids:
                    grid.set_message("Choose a second input above.")
            return
        firsts = [res, second]
        names = ["the drawing" if self.state.source == "canvas" else
                 (self.ctx.image_path.name if self.ctx.image_path else "current image"), self._compare_name]
        for i, (r, name) in enumerate(zip(firsts, names)):
            self.compare_views[i].set_image(r["preview"])
            self.compare_views[i].set_title(name)
            pred = r.get("prediction") or (res.get("prediction") if i == 0 else None)
            text = f"<b>{_esc(name)}</b>"
            if pred is not None:
                p = pred["probabilities"]
                t = int(np.argmax(p))
                text += f" — predicted <b>{_esc(pred['labels'][t])}</b> ({p[t]:.1%})"
            self.compare_labels[i].setText(text)
            if r["kind"] == "vector":
                v = r["vector"]
                self.compare_grids[i].set_maps(v[None, None, :], 0, 1,
                                               levels=self._levels_for(r, firsts[1 - i]))
            else:
                lv = self._levels_for(r, firsts[1 - i])
                signed = min(res["layer_range"][0], second["layer_range"][0]) < 0
                self.compare_grids[i].set_maps(r["maps"], r["first"], r["total"], levels=lv, signed=signed)

    def _show_no_model(self, text: str) -> None:
        self.grid.set_message(text)
        self.layer_label.setText("")
        for w in (self.prev_button, self.next_button, self.page_label):
            w.setVisible(False)

    def _show_no_activations(self, reason: str) -> None:
        self.result = None
        self.maps_stack.setCurrentWidget(self.grid)
        self.grid.set_message(reason + "\n\nThe layers are listed on the left"
                              + (" and the filters are on the Filters tab." if self.info and self.info["conv_layers"]
                                 else "."))
        self.layer_label.setText(self.info["name"] if self.info else "")
        for w in (self.prev_button, self.next_button, self.page_label):
            w.setVisible(False)
        # Every panel and title of the previous model goes: nothing here may describe it.
        self.map_view.set_image(None)
        self.map_view.set_title("No feature map")
        self.overlay_view.set_overlay(None, None)
        self.overlay_view.set_title("No overlay")
        self.input_view.set_image(None)
        self.input_view.set_title("No image input")
        self.input_label.setText("")
        self.gradcam_view.set_overlay(None, None)
        self.gradcam_view.set_title("No Grad-CAM")
        self.gradcam_view.setToolTip("")
        self.gradcam_label.setText("Grad-CAM needs a classifier that takes an image.")
        self.vector_chart.set_values(np.zeros(0), [])
        self._draw_prediction(None)
        for grid in self.compare_grids:
            grid.set_message(reason)
        for view, label in zip(self.compare_views, self.compare_labels):
            view.set_image(None)
            view.set_title("")
            label.setText("")

    # ------------------------------------------------------------------ pane hooks
    def is_busy(self) -> bool:
        worker_busy = self.ctx.has_worker() and any(
            self.ctx.worker.is_busy(ch) for ch in (CHANNEL, LOAD_CHANNEL, FILTER_CHANNEL))
        return bool(self._loading or self._compute_timer.isActive() or self._canvas_timer.isActive()
                    or self._start_timer.isActive() or worker_busy
                    or (not self._started and self._pending is not None))

    def prepare_screenshot(self) -> None:
        self._unattended = True  # no one is there to answer questions
        if not self._started or self._start_timer.isActive():
            self._started = True
            self._start_timer.stop()
            self._start()

    def set_presentation_mode(self, on: bool) -> None:
        self._presentation = on
        scale = 1.5 if on else 1.0
        for g in [self.grid, self.filter_grid, *self.compare_grids]:
            g.set_text_scale(scale)
        for chart in (self.prediction_chart, self.vector_chart):
            chart.set_text_scale(scale)
        if self.result is not None:
            self._draw_prediction(self.result.get("prediction"))
        for view in (self.input_view, self.map_view, self.overlay_view, self.gradcam_view, *self.compare_views):
            view.set_title_size(15 if on else 11)
        # on a projector the type column and the Grad-CAM caption give way (both stay in tooltips)
        self.layer_table.setColumnHidden(1, on)
        table_font = QFont(self.font())
        if on and table_font.pointSizeF() > 0:
            table_font.setPointSizeF(table_font.pointSizeF() * 0.8)
        self.layer_table.setFont(table_font)
        self.gradcam_label.setVisible(not on)
        total = max(1000, sum(self._splitter.sizes()))
        left, right = (450, 370) if on else (360, 310)
        self._splitter.setSizes([left, total - left - right, right])

    def shutdown(self) -> None:
        self._start_timer.stop()
        self._compute_timer.stop()
        self._canvas_timer.stop()


#: Classes listed in the prediction chart; the rest are summed into one "others" row.
PREDICTION_ROWS = 5


def _esc(text: str) -> str:
    import html

    return html.escape(str(text))
