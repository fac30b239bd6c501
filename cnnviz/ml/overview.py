"""The network overview job: the current input flowing through every layer, as small pictures.

:func:`overview_job` runs in the engine and slices the pass that :mod:`cnnviz.ml.inspect` keeps
for the shown input (the Activations pane has usually computed it already, so the model is not
run again). Per layer it returns the name, the Keras type, the output shape, the receptive field
on the input and a few thumbnails — the first ``max_maps`` maps shrunk to at most ``thumb``
pixels a side (float16), or the first ``max_values`` numbers of a vector — and how many there
are in all. Everything is plain picklable data; the window draws it without Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnviz.engine.faults import stage

#: Maps per layer sent as thumbnails (the view shows "+N more" for the rest).
MAX_MAPS = 8
#: Numbers per vector layer sent (a thin column of cells).
MAX_VALUES = 24
#: Largest side of a thumbnail, in cells.
THUMB = 32


@dataclass
class OverviewRequest:
    model_id: int
    source: object  # cnnviz.ml.inspect.LoadRequest | None: where to reopen the model from
    image: np.ndarray  # the uint8 image as the Activations pane feeds it
    scaling: str
    max_maps: int = MAX_MAPS
    max_values: int = MAX_VALUES
    thumb: int = THUMB


@dataclass
class OverviewLayer:
    name: str
    type: str  # Keras class name
    shape: tuple  # output shape without the batch axis
    kind: str  # "maps" (H, W, C), "vector" (N,) or "other" (sequences, …)
    count: int  # maps (channels) of a "maps" layer, numbers of a vector, else the size
    thumbs: np.ndarray | None = None  # (n, th, tw) float16, the first maps shrunk
    values: np.ndarray | None = None  # (n,) float32, the first numbers of a vector
    levels: tuple[float, float] = (0.0, 1.0)  # the layer's min and max (every map, not only the shown)
    rf_jump: tuple[float, float] | None = None  # receptive field (None: sees the whole input)
    rf_size: tuple[float, float] | None = None
    rf_start: tuple[float, float] | None = None


@dataclass
class OverviewResult:
    model_id: int
    input_key: str
    preview: np.ndarray  # the input as the model sees it
    layers: list[OverviewLayer] = field(default_factory=list)
    from_cache: bool = False  # the kept pass was sliced (the model was not run)


def _thumbs(arr: np.ndarray, n: int, side: int) -> np.ndarray:
    """The first ``n`` maps of (H, W, C) as (n, th, tw) float16, shrunk to at most ``side``."""
    import cv2

    h, w = arr.shape[:2]
    maps = np.moveaxis(np.asarray(arr[..., :n], dtype=np.float32), -1, 0)
    scale = min(1.0, side / max(h, w, 1))
    if scale >= 1.0:
        return maps.astype(np.float16)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    return np.stack([cv2.resize(m, (tw, th), interpolation=cv2.INTER_AREA) for m in maps]).astype(np.float16)


def summarize(name: str, type_name: str, arr: np.ndarray, rf, req: OverviewRequest) -> OverviewLayer:
    """One layer of the overview from its output ``arr`` (no batch axis) and receptive field."""
    arr = np.asarray(arr)
    finite = arr[np.isfinite(arr)] if arr.size else arr
    levels = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    row = OverviewLayer(name, type_name, tuple(int(s) for s in arr.shape), "other", int(arr.size), levels=levels)
    if arr.ndim == 3:
        row.kind, row.count = "maps", int(arr.shape[-1])
        row.thumbs = _thumbs(arr, max(0, int(req.max_maps)), max(1, int(req.thumb)))
    elif arr.ndim == 1:
        row.kind = "vector"
        row.values = np.array(arr[: max(0, int(req.max_values))], dtype=np.float32)
    if rf is not None and arr.ndim == 3:
        row.rf_jump, row.rf_size, row.rf_start = (tuple(float(v) for v in rf.jump), tuple(float(v) for v in rf.size),
                                                  tuple(float(v) for v in rf.start))
    return row


def overview_job(job, req: OverviewRequest) -> OverviewResult:
    """Every layer's outputs for the shown input, in small pictures (see the module docstring)."""
    from cnnviz.ml import activations as A
    from cnnviz.ml import inspect

    loaded = inspect._model(job, req.model_id, req.source)
    stage("overview")
    model = loaded.model
    if model is None:
        raise ValueError("This file could not be built into a runnable model, so there is no "
                         "overview of its outputs.")
    spec = A.model_input_spec(model)
    p, key, kept = inspect._pass(req.model_id, loaded, req.image, req.scaling, spec)
    rfs = A.receptive_fields(model)
    types = {n: type(layer).__name__ for n, layer in A.flat_layers(model)}
    layers = []
    for name, arr in p.acts.items():
        if job is not None and getattr(job, "stopped", False):
            break
        base = name.split("#")[0].split(":")[0]
        layers.append(summarize(name, types.get(base, "?"), arr, rfs.get(name), req))
    return OverviewResult(req.model_id, key, np.array(p.preview), layers, kept)
