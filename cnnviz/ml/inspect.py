"""Model inspection jobs: open a Keras model, compute a layer's activations, read its filters.

Each ``*_job(job, request)`` runs where Keras runs (the worker today, a child process later) and
reaches the open models through ``job.models`` (a :class:`cnnviz.ml.store.ModelStore`). Requests
and results are plain dataclasses of numpy arrays, strings and numbers — picklable, never a live
Keras object. :data:`JOBS` names each job by a short kind (``"load"``, ``"adopt"``, ``"reopen"``,
``"compute"``, ``"filters"``) with the channel its requests supersede each other on;
:func:`describe_request` says in words what a request does ("computing Grad-CAM for this
model"), for the message shown when TensorFlow dies while doing it.

The process that holds the models may be replaced (after a crash): a compute or filters request
carries the model's ``source`` (its file), and a job that finds its model gone reopens it from
there under the same id, so the window's ids stay valid.

The engine keeps the all-layer activations of the latest inputs (:class:`ActivationCache`, per
model, keyed on the model, the input's digest and the scaling): the window asks only for what it
shows (one layer, one page of maps), and a layer switch or a page change slices the kept pass
instead of running the model again.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.engine.faults import stage

MAPS_PER_PAGE = 64
VALUES_PER_PAGE = 1024
MAX_FREE_SIDE = 512  # images fed to models without a fixed input size are shrunk to this
#: Memory the engine may keep for the activations of recent inputs (all layers of each pass).
#: A pass bigger than this (a huge model on a big image) is recomputed at each request instead.
ACTIVATION_CACHE_MB = 256
#: Inputs kept per model: the shown image and the compared one.
ACTIVATION_CACHE_PER_MODEL = 2


# ============================================================================ requests


@dataclass
class LoadRequest:
    path: str
    trust: bool = False


@dataclass
class AdoptRequest:
    """A model already in the store (e.g. just trained), to be inspected under ``name``."""

    model_id: int
    name: str


@dataclass
class ReopenRequest:
    """Open ``path`` again under the id the window already knows (after the engine restarted)."""

    model_id: int
    path: str
    trust: bool = False
    name: str | None = None  # the name shown (a model handed over from training keeps its own)


@dataclass
class ComputeRequest:
    model_id: int
    request: int  # increasing number; the latest request wins
    image: np.ndarray
    scaling: str
    layer: str
    page: int = 0
    map_index: int | None = None
    global_range: bool = False  # also compute the range over all layers
    want_prediction: bool = True
    want_gradcam: bool = False
    gradcam_key: tuple | None = None
    gradcam_layer: str | None = None  # None: the last conv layer
    class_index: int | None = None  # None: the top prediction
    compare_image: np.ndarray | None = None
    source: LoadRequest | None = None  # where to reopen the model from if it is gone
    #: a model with two image inputs: the input fed the image ("a" or "b"), and what the other
    #: one gets ("blank": a black image, "same": the same image)
    feed: str = "a"
    other: str = "blank"


@dataclass
class FiltersRequest:
    model_id: int
    layer: str
    source: LoadRequest | None = None


# ============================================================================ results


@dataclass
class LayerRow:
    name: str
    type: str
    shape: tuple | None
    params: int | None
    info: str
    kind: str  # "maps", "vector" or "none" (nothing to compute)
    arith: dict | None = None  # kernel, strides, padding, channels, receptive field (core.layer_arith)


@dataclass
class ModelInfo:
    """What the window needs to know about an opened model."""

    model_id: int
    name: str
    path: str
    format: str
    keras_version: str | None
    trusted: bool
    notes: list[str]
    labels: list[str] | None
    buildable: bool
    spec: tuple | None = None  # (height or None, width or None, channels) of an image input
    spec_reason: str | None = None  # why there are no activations, when spec is None
    layers: list[LayerRow] = field(default_factory=list)
    conv_layers: list[str] = field(default_factory=list)
    spatial_layers: list[str] = field(default_factory=list)
    last_conv: str | None = None
    classifier: bool = False
    params: int = 0
    #: what the model outputs (:data:`cnnviz.ml.outputs.KINDS`) and the output's shape
    output_kind: str = "classes"
    output_shape: tuple | None = None
    flat_input: int | None = None  # the image is fed flattened to this many values
    inputs: int = 1  # 2: two image inputs of the same shape (a siamese network)
    feed_text: str = ""  # how the image is fed, in words, when it is not a plain image input

    def row(self, name: str | None) -> LayerRow | None:
        return next((r for r in self.layers if r.name == name), None)


@dataclass
class LoadRefused:
    """The file was not opened because it would run code or read other files."""

    path: str
    message: str
    findings: list[str]
    hint: str
    trusted: bool
    can_trust: bool  # code can be allowed by trusting the file; links to other files never are
    details: list = field(default_factory=list)  # modelio.CodeDetail per piece of code, shown as text
    custom_classes: list[str] = field(default_factory=list)  # classes neither Keras nor cnnviz provides


@dataclass
class LoadFailed:
    path: str
    message: str


LoadOutcome = ModelInfo | LoadRefused | LoadFailed


@dataclass
class Prediction:
    """The model's output for one input: class probabilities for a classifier; for the other
    kinds of output (``output_kind``) the raw ``output`` (a mask's scores, a reconstruction, the
    values), and how many of its numbers are not finite."""

    probabilities: np.ndarray
    labels: list[str]
    is_probability: bool
    output_kind: str = "classes"
    output: np.ndarray | None = None
    nonfinite: int = 0
    model_input: np.ndarray | None = None  # what the model was fed (for an image output)
    #: a classifier shown several figures on a plain background: each one cropped and
    #: classified on its own, as (x, y, width, height, label, probability, where) in the image's
    #: pixels, ``where`` in words ("top left")
    objects: list | None = None


@dataclass
class GradCam:
    layer: str | None
    heat: np.ndarray | None = None
    class_index: int | None = None
    label: str | None = None
    probability: float | None = None
    error: str | None = None


@dataclass
class InputActivations:
    """One input's pass: what the model saw and one layer's page of outputs."""

    preview: np.ndarray
    input_hw: tuple
    source_hw: tuple
    x_range: tuple
    layer: str
    shape: tuple
    layer_range: tuple
    kind: str  # "maps" or "vector"
    first: int
    total: int
    page: int
    vector: np.ndarray | None = None
    maps: np.ndarray | None = None
    map_index: int | None = None
    auto_map: bool = False  # map_index was chosen as the most active map
    map: np.ndarray | None = None
    overlay: np.ndarray | None = None
    global_range: tuple | None = None
    prediction: Prediction | None = None
    input_key: str = ""  # digest of the input and its scaling: equal keys, equal preview
    from_cache: bool = False  # the model was not run: the engine's kept pass was sliced


@dataclass
class ActivationResult(InputActivations):
    """Everything the pane shows for a :class:`ComputeRequest`."""

    model_id: int = 0
    request: int = 0
    gradcam: GradCam | None = None
    gradcam_key: tuple | None = None
    compare: InputActivations | None = None


@dataclass
class FiltersResult:
    model_id: int
    layer: str
    kernels: np.ndarray  # (kh, kw, in, out)


# ============================================================================ jobs


def _open(req: LoadRequest) -> Any:
    """The loaded model, or the :class:`LoadRefused`/:class:`LoadFailed` outcome."""
    from cnnviz.ml import modelio

    stage("load", req.path)
    try:
        return modelio.load_model(req.path, trust=req.trust)
    except modelio.UnsafeModelError as exc:
        findings = list(exc.findings)
        return LoadRefused(req.path, str(exc), findings, modelio.TRUST_HINT, req.trust,
                           any(k in f for f in findings for k in ("Lambda", "Python", "bytecode")),
                           list(exc.details), list(exc.custom_classes))
    except modelio.ModelLoadError as exc:
        return LoadFailed(req.path, str(exc))


def load_job(job, req: LoadRequest) -> LoadOutcome:
    """Open a model file; a bad or unsafe file is an outcome, not an exception."""
    loaded = _open(req)
    if isinstance(loaded, LoadRefused | LoadFailed):
        return loaded
    return describe(job.models.put(loaded), loaded, Path(req.path).name)


def reopen_job(job, req: ReopenRequest) -> LoadOutcome:
    """Open a model file again under the id the window knows it by (the engine that held it was
    replaced); a job that needed it first may already have reopened it."""
    if req.model_id in job.models:
        loaded = job.models.get(req.model_id)
    else:
        loaded = _open(LoadRequest(req.path, req.trust))
        if isinstance(loaded, LoadRefused | LoadFailed):
            return loaded
        job.models.put_as(req.model_id, loaded)
    return describe(req.model_id, loaded, req.name or Path(req.path).name)


def _model(job, model_id: int, source: LoadRequest | None) -> Any:
    """The open model ``model_id``; reopened from ``source`` if this engine does not hold it."""
    from cnnviz.ml.store import ModelGone

    try:
        return job.models.get(model_id)
    except ModelGone:
        if source is None:
            raise
    loaded = _open(source)
    if isinstance(loaded, LoadRefused | LoadFailed):
        raise ModelGone(f"The model could not be opened again: {loaded.message}")
    job.models.put_as(model_id, loaded)
    return loaded


def adopt_job(job, req: AdoptRequest) -> ModelInfo:
    """Inspect a live model another part of the app put in the store (e.g. just trained). It is
    kept again, wrapped with its summary, under a new id (the same model object, not a copy)."""
    from cnnviz.ml import modelio
    from cnnviz.ml.modelio import _summary_from_model

    stage("adopt", req.name)
    model = job.models.get(req.model_id)
    loaded = modelio.LoadedModel(Path(req.name), model, "in memory", None, _summary_from_model(model), {},
                                 [f"Handed over from training: {req.name}."])
    return describe(job.models.put(loaded), loaded, req.name)


def describe(model_id: int, loaded: Any, name: str) -> ModelInfo:
    """What the window needs to know about a loaded model, as plain data."""
    from cnnviz.ml import activations as A

    info = ModelInfo(
        model_id=model_id, name=name, path=str(loaded.path), format=loaded.format,
        keras_version=loaded.keras_version, trusted=loaded.trusted, notes=list(loaded.notes),
        labels=list(loaded.labels) if loaded.labels else None, buildable=loaded.model is not None,
        params=sum(r.params or 0 for r in loaded.summary),
    )
    by_name = {r.name: r for r in loaded.summary}
    model = loaded.model
    summary_rows = [_row(r.name, r.class_name, r.output_shape, r.params, r.info, "none") for r in loaded.summary]
    if model is None:
        info.spec_reason = ("This file could not be built into a runnable model, so there are no "
                            "activations to show. The architecture and the stored filters are shown.")
        info.layers = summary_rows
        info.conv_layers = list(loaded.filters())
        return info
    from cnnviz.ml import outputs as O

    spec = A.model_input_spec(model, pairs=True)
    info.conv_layers = list(A.conv_layers(model))
    try:
        info.output_kind = O.output_kind(model)
        info.output_shape = tuple(O.output_shape(model))
    except Exception:  # an output cnnviz cannot read is shown as values
        info.output_kind = "values"
    if not spec.is_image:
        info.spec_reason = spec.reason
        info.layers = summary_rows
        return info
    info.spec = (spec.height, spec.width, spec.channels)
    info.flat_input, info.inputs, info.feed_text = spec.flat, spec.inputs, spec.feed_text
    h, w = spec.height or 64, spec.width or 64
    x = np.zeros((h, w, spec.channels), np.float32)
    if spec.flat:
        x = x.reshape(-1)
    acts = A.layer_activations(model, [x, x] if spec.inputs == 2 else x)  # also builds the extractor
    layers = dict(A.flat_layers(model))
    types = {n: type(layer).__name__ for n, layer in layers.items()}
    rfs = A.receptive_fields(model)
    for n, a in acts:
        base = n.split("#")[0].split(":")[0]
        r = by_name.get(base)
        shape = (None,) + tuple(a.shape) if spec.height else (None,) + tuple(
            None if i < 2 and a.ndim == 3 else s for i, s in enumerate(a.shape))
        kind = "maps" if a.ndim >= 2 else "vector"
        arith = layer_arith(layers[base], rfs.get(n), first_call=n == base) if base in layers else None
        info.layers.append(_row(n, types.get(base, r.class_name if r else "?"), shape,
                                r.params if r else None, r.info if r else "", kind, arith))
        if a.ndim == 3:
            info.spatial_layers.append(n)
    info.last_conv = A.last_conv_layer(model)
    out = acts[-1][1] if acts else None
    info.classifier = (out is not None and out.ndim == 1 and bool(info.spatial_layers)
                       and info.output_kind == "classes" and spec.inputs == 1)
    return info


def _row(name, class_name, shape, params, text, kind, arith=None) -> LayerRow:
    return LayerRow(name, class_name or "?", tuple(shape) if shape is not None else None, params, text or "",
                    kind, arith)


def _arith_op(name: str) -> str | None:
    """Which arithmetic a Keras layer class follows (None: not one the table explains)."""
    import re

    if name in ("Dense", "BatchNormalization"):
        return "dense" if name == "Dense" else "bn"
    m = re.fullmatch(r"(Separable|Depthwise)?Conv[123]D(Transpose)?|(Max|Average)Pooling[123]D", name)
    if m is None:
        return None
    return ("separable" if m.group(1) == "Separable" else "depthwise" if m.group(1) else
            "conv_t" if m.group(2) else "pool" if m.group(3) else "conv")


def layer_arith(layer, rf=None, first_call: bool = True) -> dict | None:
    """A conv/pool/transposed-conv/dense/batch-norm layer's numbers for the layer arithmetic
    (:mod:`cnnviz.core.layer_arith`), as plain data; None for other layers.

    ``rf`` is the layer's receptive field (:func:`cnnviz.ml.activations.receptive_fields`);
    ``first_call`` False for a shared layer's later call (its input size is not read then)."""
    op = _arith_op(type(layer).__name__)
    if op is None:
        return None
    try:
        in_shape = tuple(layer.input.shape) if first_call else None
    except (AttributeError, ValueError, TypeError):
        in_shape = None
    out: dict[str, Any] = {"op": op}
    if op == "dense":
        out.update(c_in=_int(in_shape[-1]) if in_shape else None, c_out=int(layer.units),
                   bias=bool(layer.use_bias), whole=in_shape is not None and len(in_shape) == 2)
        return out
    if op == "bn":
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
        c = _int(in_shape[axis]) if in_shape else None
        out.update(c_in=c, c_out=c, center=bool(layer.center), scale=bool(layer.scale))
        return out
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    kernel = tuple(int(k) for k in (kernel if isinstance(kernel, (tuple, list)) else (kernel,)))
    nd = len(kernel)
    strides = getattr(layer, "strides", None) or kernel
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    spatial = (in_shape[2:] if channels_first else in_shape[1:-1]) if in_shape else None
    c_in = (_int(in_shape[1] if channels_first else in_shape[-1]) if in_shape else None)
    out.update(kernel=kernel, strides=_tuple(strides, nd), padding=str(getattr(layer, "padding", "valid")).lower(),
               dilation=_tuple(getattr(layer, "dilation_rate", 1) or 1, nd),
               n_in=tuple(_int(v) for v in spatial) if spatial is not None and len(spatial) == nd else None,
               c_in=c_in, bias=bool(getattr(layer, "use_bias", False)),
               rf=tuple(float(v) for v in rf.size) if rf is not None else None)
    if op == "pool":
        out.update(c_out=c_in)
    elif op == "depthwise":
        out.update(depth_multiplier=int(layer.depth_multiplier), c_out=None if c_in is None else c_in * int(layer.depth_multiplier))
    else:
        out.update(c_out=int(layer.filters))
        if op == "separable":
            out.update(depth_multiplier=int(layer.depth_multiplier))
        if op == "conv_t":
            op_pad = getattr(layer, "output_padding", None)
            out.update(output_padding=None if op_pad is None else _tuple(op_pad, nd))
    return out


def _int(v) -> int | None:
    return None if v is None else int(v)


def _tuple(v, n: int) -> tuple[int, ...]:
    v = tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),)
    return v if len(v) == n else v[:1] * n


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


def _layer_part(model, acts: dict, layer: str, page: int, map_index: int | None, hw) -> dict[str, Any]:
    """The fields of :class:`InputActivations` about one layer's page of outputs."""
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


@dataclass
class _Pass:
    """One input's run through a model: everything a later request for it can slice."""

    model: weakref.ref
    x: np.ndarray
    preview: np.ndarray
    acts: dict[str, np.ndarray]  # every layer's outputs, in the model's order
    nbytes: int
    global_range: tuple | None = None
    prediction: Prediction | None = None


class ActivationCache:
    """The all-layer activations of the latest inputs, per model id, within a memory bound.

    A pass is found again only for the same model object (a model reopened under the same id is
    another one), the same input digest and the same scaling. Each model keeps its
    ``per_model`` latest inputs (a new input drops the oldest); all passes together stay under
    ``max_bytes`` (the least recently used go first) and a pass bigger than that is not kept.
    ``runs`` counts the passes actually computed (the model run on an input).
    """

    def __init__(self, max_bytes: int = ACTIVATION_CACHE_MB << 20,
                 per_model: int = ACTIVATION_CACHE_PER_MODEL) -> None:
        self.max_bytes = int(max_bytes)
        self.per_model = max(1, int(per_model))
        self.runs = 0
        self._items: OrderedDict[tuple, _Pass] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def digest(image: np.ndarray, scaling: str) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{image.shape}|{image.dtype}|{scaling}|".encode())
        h.update(np.ascontiguousarray(image).data)
        return h.hexdigest()

    def get(self, model_id: int, model: Any, key: str) -> _Pass | None:
        with self._lock:
            entry = self._items.get((model_id, key))
            if entry is None:
                return None
            if entry.model() is not model:  # the id now names another model
                self._items.pop((model_id, key))
                return None
            self._items.move_to_end((model_id, key))
            return entry

    def put(self, model_id: int, key: str, entry: _Pass) -> None:
        with self._lock:
            self._items.pop((model_id, key), None)
            for k in [k for k, e in self._items.items() if e.model() is None]:
                del self._items[k]  # models no longer open
            if entry.nbytes > self.max_bytes:
                return
            self._items[(model_id, key)] = entry
            mine = [k for k in self._items if k[0] == model_id]
            for k in mine[:-self.per_model]:
                del self._items[k]
            while sum(e.nbytes for e in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)

    def drop(self, model_id: int | None = None) -> None:
        """Forget the passes of ``model_id`` (every pass with None)."""
        with self._lock:
            for k in [k for k in self._items if model_id is None or k[0] == model_id]:
                del self._items[k]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._items.values())


#: The engine's kept passes (one process holds the models, so one cache).
activation_cache = ActivationCache()


def _pass(model_id: int, loaded: Any, image: np.ndarray, scaling: str, spec,
          feed: str = "a", other: str = "blank") -> tuple[_Pass, str, bool]:
    """The kept pass of ``image`` through the model, computed now if it is not kept; also its
    key and whether it was kept. A model with two image inputs gets the image on input ``feed``
    and, on the other, the same image (``other="same"``) or a black one."""
    from cnnviz.ml import activations as A

    model = loaded.model
    two = getattr(spec, "inputs", 1) == 2
    key = ActivationCache.digest(image, scaling + (f"|{feed}|{other}" if two else ""))
    entry = activation_cache.get(model_id, model, key)
    if entry is not None:
        return entry, key, True
    img = _fit_free_size(image, spec)
    x, preview = A.prepare_input(img, model, scaling, pairs=True)
    if two:
        blank = np.zeros_like(x) if other == "blank" else x
        x = [x, blank] if feed != "b" else [blank, x]
    acts = A.layer_activations(model, x)
    activation_cache.runs += 1
    entry = _Pass(weakref.ref(model), x, np.array(preview), dict(acts),
                  sum(a.nbytes for _, a in acts) + sum(np.asarray(v).nbytes for v in (x if two else [x]))
                  + preview.nbytes)
    activation_cache.put(model_id, key, entry)
    return entry, key, False


def _prediction(model, x, labels) -> Prediction:
    """The model's output for one input, read by its kind (class probabilities, or the raw
    output of a mask, image or values model)."""
    from cnnviz.ml import activations as A
    from cnnviz.ml import outputs as O

    kind = O.output_kind(model)
    y = O.model_output(model, x)
    bad = int(y.size - np.count_nonzero(np.isfinite(y)))
    if kind == "classes":
        pr = A.probabilities_from_output(y, labels)
        return Prediction(np.array(pr.probabilities), list(pr.labels), bool(pr.is_probability),
                          "classes", np.array(y, np.float32).reshape(-1), bad)
    names = list(labels) if labels else []
    fed = np.array(x[0] if isinstance(x, list) else x, np.float32) if kind == "image" else None
    return Prediction(np.zeros(0, np.float32), names, False, kind, np.array(y, np.float32), bad, fed)


#: At most this many figures of a scene are classified one by one.
MAX_OBJECTS = 8


def _per_object(model, labels, image: np.ndarray, scaling: str) -> list:
    """Each figure of a scene on a plain background, cropped and classified on its own (a
    single-label classifier names one class for the whole image); [] for fewer than two."""
    from cnnviz.core.masks import object_boxes, square_crop
    from cnnviz.ml import activations as A

    boxes = object_boxes(image)[:MAX_OBJECTS]
    if len(boxes) < 2:
        return []
    H, W = image.shape[:2]
    out = []
    for box in boxes:
        # the figure fills about half of its crop, as a figure fills a training image
        x, _ = A.prepare_input(square_crop(image, box, margin=0.6), model, scaling)
        pr = A.predict_probabilities(model, x, labels)
        out.append((*box, pr.labels[pr.top], float(pr.probabilities[pr.top]), _where(box, H, W)))
    return sorted(out, key=lambda o: (round(3 * (o[1] + o[3] / 2) / H), o[0]))  # rows, then left to right


def _where(box, height: int, width: int) -> str:
    """Where a box sits in an image, in words ("top left", "middle", "bottom right")."""
    x, y, w, h = box
    row = ("top", "middle", "bottom")[min(2, int(3 * (y + h / 2) / max(1, height)))]
    col = ("left", "centre", "right")[min(2, int(3 * (x + w / 2) / max(1, width)))]
    if row == "middle" and col == "centre":
        return "centre"
    return f"{row} {col}" if col != "centre" else row if row != "middle" else col


def compute_job(job, req: ComputeRequest) -> ActivationResult:
    """Activations of one layer (one page), the chosen map on the input, the prediction and
    Grad-CAM, for one or two inputs — everything the pane shows for a request. The model runs
    only for an input it has not seen last: otherwise the kept pass is sliced."""
    from cnnviz.ml import activations as A

    loaded = _model(job, req.model_id, req.source)
    stage("compute")
    model = loaded.model
    spec = A.model_input_spec(model, pairs=True)

    def one(image: np.ndarray, want_prediction: bool) -> tuple[dict[str, Any], Any]:
        p, key, kept = _pass(req.model_id, loaded, image, req.scaling, spec, req.feed, req.other)
        x, preview, d = p.x, p.preview, p.acts
        fed = x[1 if req.feed == "b" else 0] if isinstance(x, list) else x
        res: dict[str, Any] = {"preview": preview, "input_hw": tuple(preview.shape[:2]),
                               "source_hw": tuple(image.shape[:2]),
                               "x_range": (float(fed.min()), float(fed.max())),
                               "input_key": key, "from_cache": kept}
        layer = req.layer if req.layer in d else next(iter(d))
        res.update(_layer_part(model, d, layer, req.page, req.map_index, preview.shape[:2]))
        if req.global_range:
            if p.global_range is None:
                p.global_range = (min(float(a.min()) for a in d.values() if a.size),
                                  max(float(a.max()) for a in d.values() if a.size))
            res["global_range"] = p.global_range
        if want_prediction:
            if p.prediction is None:
                p.prediction = _prediction(model, x, loaded.labels)
                if p.prediction.output_kind == "classes" and spec.inputs == 1:
                    p.prediction.objects = _per_object(model, loaded.labels, image, req.scaling)
            res["prediction"] = p.prediction
        return res, x

    main, x = one(req.image, req.want_prediction)
    out = ActivationResult(**main, model_id=req.model_id, request=req.request)
    if req.want_gradcam:
        layer = req.gradcam_layer or A.last_conv_layer(model)
        stage("gradcam")
        try:
            heat = A.grad_cam(model, x, req.class_index, layer)
            p = A.predict_probabilities(model, x, loaded.labels)
            idx = req.class_index if req.class_index is not None else p.top
            out.gradcam = GradCam(layer, np.array(heat), int(idx), p.labels[idx], float(p.probabilities[idx]))
        except Exception as exc:
            out.gradcam = GradCam(layer, error=str(exc).strip() or type(exc).__name__)
        out.gradcam_key = req.gradcam_key
    if req.compare_image is not None:
        second, _ = one(req.compare_image, True)
        out.compare = InputActivations(**second)
    return out


def filters_job(job, req: FiltersRequest) -> FiltersResult:
    """A conv layer's kernels as (kh, kw, in, out), from the model or the stored weights."""
    loaded = _model(job, req.model_id, req.source)
    stage("filters", req.layer)
    if loaded.model is not None:
        from cnnviz.ml import activations as A

        k = A.layer_filters(loaded.model, req.layer)
    else:
        k = loaded.filters()[req.layer]
    k = np.array(k, dtype=np.float32)
    if k.ndim == 3:
        k = k[None]
    return FiltersResult(req.model_id, req.layer, k)


#: kind -> (job function, channel). A newer request on a channel supersedes the waiting ones.
JOBS: dict[str, tuple[Callable[..., Any], str]] = {
    "load": (load_job, "activations.load"),
    "adopt": (adopt_job, "activations.load"),
    "reopen": (reopen_job, "activations.load"),
    "compute": (compute_job, "activations"),
    "filters": (filters_job, "activations.filters"),
}


def describe_request(kind: str, request: Any) -> str:
    """What a request does, in words that follow "TensorFlow crashed while …"."""
    if kind == "load":
        return f"opening {Path(request.path).name}"
    if kind == "reopen":
        return f"reopening {request.name or Path(request.path).name}"
    if kind == "adopt":
        return f"opening {request.name}"
    if kind == "filters":
        return f"reading the filters of {request.layer}"
    if kind == "compute" and request.want_gradcam:
        return "computing Grad-CAM for this model"
    return f"computing the activations of {getattr(request, 'layer', 'this model')}"
