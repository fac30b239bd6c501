"""Siamese-model jobs: open a twin network, measure pair distances, map the shared embedding.

Chapter 5 (Listing 5.6): one base network embeds both images of a pair, a last layer measures
the distance between the two embeddings. These jobs run in the engine (the process that owns
TensorFlow) and reach the open models through ``job.models``. Requests and results are plain
dataclasses of numpy arrays, strings and numbers — never a Keras object. This module imports
Keras only inside the jobs, so the window can import its dataclasses.

A model counts as siamese when it has exactly two image inputs of the same shape and gives one
number per pair. Its embedding is what its last layer receives (for ``siamese_mnist`` the shared
base network's 128 values per image); a model whose last layer does not take the two
embeddings still gives distances, but no embedding map.

After an engine restart the models are gone: a request carries the model's ``source`` (its
file) and the job opens it again under the same id (like :mod:`cnnviz.ml.inspect`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.engine.faults import stage
from cnnviz.ml.inspect import LoadFailed, LoadRefused, LoadRequest, _model, _open

#: Digits per class in the embedding map (from the end of each class: the bundled model was
#: trained on the first 400 of each class, so these are digits it never saw).
MAP_PER_CLASS = 30


# ============================================================================ requests


@dataclass
class AdoptRequest:
    """A model already in the engine's store (just trained), to be used under ``name``."""

    model_id: int
    name: str


@dataclass
class DistancesRequest:
    """Distances between some of ``images`` (uint8, gray or RGB, any size), by index pairs."""

    model_id: int
    images: list[np.ndarray]
    pairs: list[tuple[int, int]]
    source: LoadRequest | None = None


@dataclass
class EmbeddingRequest:
    model_id: int
    per_class: int = MAP_PER_CLASS
    source: LoadRequest | None = None


# ============================================================================ results


@dataclass
class SiameseInfo:
    model_id: int
    name: str
    path: str
    input_shape: tuple[int, int, int]
    embedding_size: int | None  # None: the last layer does not take two embeddings
    params: int
    notes: list[str] = field(default_factory=list)


@dataclass
class NotSiamese:
    """The model opened but is not a siamese model; ``message`` says why in words."""

    path: str
    message: str


@dataclass
class DistancesResult:
    distances: np.ndarray  # one per pair, the model's own output
    embeddings: np.ndarray | None  # (images, size), when the model has an embedding
    previews: list[np.ndarray]  # each image as the model sees it (uint8)


@dataclass
class EmbeddingMap:
    points: np.ndarray  # (N, 2) the digits' embeddings on the first two principal components
    labels: np.ndarray  # (N,) their digit
    mean: np.ndarray  # (size,) subtracted before projecting
    components: np.ndarray  # (2, size) the projection: p = (e - mean) @ components.T
    explained: tuple[float, float]  # share of the variance along each component


# ============================================================================ checks


def _shape_text(shape) -> str:
    return "×".join("?" if s is None else str(s) for s in shape)


def siamese_problem(model) -> str | None:
    """Why ``model`` is not a siamese model, in words; None when it is one."""
    inputs = list(getattr(model, "inputs", None) or [])
    n = len(inputs)
    if n != 2:
        what = "one input" if n == 1 else f"{n} inputs"
        return (f"This is not a siamese model: it has {what}. A siamese model takes two images "
                "(a pair) and runs both through the same base network, then measures how far "
                "apart their embeddings are (Listing 5.6).")
    shapes = [tuple(t.shape[1:]) for t in inputs]
    if shapes[0] != shapes[1]:
        return (f"This is not a siamese model: its two inputs have different shapes "
                f"({_shape_text(shapes[0])} and {_shape_text(shapes[1])}). The twins of a siamese "
                "model share one base network, so both must see images of the same shape.")
    shape = shapes[0]
    if len(shape) != 3 or shape[2] not in (1, 3) or None in shape:
        return (f"This is not a siamese model of images: its inputs have the shape "
                f"{_shape_text(shape)}, not height×width×1 (gray) or height×width×3 (colour).")
    out = getattr(model, "outputs", None) or []
    if len(out) != 1 or int(np.prod([s or 1 for s in out[0].shape[1:]])) != 1:
        return ("This is not a siamese model: it does not give one number (a distance) per "
                "pair of images.")
    return None


def _keras_model(held: Any):
    """The Keras model behind what the store holds (a loaded file or a trained model)."""
    from cnnviz.ml.modelio import LoadedModel

    return held.model if isinstance(held, LoadedModel) else held


_embedders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def embedder(model) -> Callable[[np.ndarray], np.ndarray] | None:
    """``f(x) -> embeddings`` of a batch of prepared images: what the last layer receives for
    the first input; None when the last layer does not take two tensors."""
    if model in _embedders:
        return _embedders[model]
    from cnnviz.ml import backend

    keras = backend.keras()
    fn = None
    try:
        last = model.layers[-1]
        received = last.input
        if isinstance(received, list | tuple) and len(received) == 2:
            sub = keras.Model(model.inputs, received[0])

            def fn(x: np.ndarray) -> np.ndarray:
                return np.asarray(sub([x, x], training=False), dtype=np.float32).reshape(len(x), -1)
    except (AttributeError, ValueError, TypeError):
        fn = None
    _embedders[model] = fn
    return fn


def describe(model_id: int, held: Any, name: str) -> SiameseInfo | NotSiamese:
    model = _keras_model(held)
    path = str(getattr(held, "path", name))
    if model is None:
        return NotSiamese(path, "This file could not be built into a runnable model, so it cannot "
                                "measure distances.")
    problem = siamese_problem(model)
    if problem is not None:
        return NotSiamese(path, problem)
    emb = embedder(model)
    size = None
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    if emb is not None:
        size = int(emb(np.zeros((1, *shape), np.float32)).shape[1])
    notes = list(getattr(held, "notes", []) or [])
    return SiameseInfo(model_id, name, path, shape, size, int(model.count_params()), notes)


# ============================================================================ jobs


def open_job(job, req: LoadRequest) -> SiameseInfo | NotSiamese | LoadRefused | LoadFailed:
    """Open a model file (safely: an untrusted file never runs code) and check it is siamese."""
    loaded = _open(req)
    if isinstance(loaded, LoadRefused | LoadFailed):
        return loaded
    model_id = job.models.put(loaded)
    stage("siamese.describe")
    return describe(model_id, loaded, Path(req.path).name)


def adopt_job(job, req: AdoptRequest) -> SiameseInfo | NotSiamese:
    """Use a model another pane put in the store (e.g. just trained)."""
    return describe(req.model_id, job.models.get(req.model_id), req.name)


def prepare(image: np.ndarray, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """An image (uint8 gray or RGB, any size) as the model's input ÷255, and its uint8 preview."""
    from cnnviz.ml.activations import fit_image

    h, w, c = shape
    preview = np.ascontiguousarray(fit_image(image, h, w, c))
    x = preview.astype(np.float32) / np.float32(255.0)
    if c == 1:
        x = x[..., None]
    return x, preview


def distances_job(job, req: DistancesRequest) -> DistancesResult:
    """The model's distance for each pair of images, and each image's embedding."""
    model = _keras_model(_model(job, req.model_id, req.source))
    stage("siamese.distances")
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    prepared = [prepare(img, shape) for img in req.images]
    xs = np.stack([x for x, _ in prepared])
    first = xs[[i for i, _ in req.pairs]]
    second = xs[[j for _, j in req.pairs]]
    d = np.asarray(model([first, second], training=False), dtype=np.float64).reshape(len(req.pairs))
    emb = embedder(model)
    return DistancesResult(d, None if emb is None else emb(xs), [p for _, p in prepared])


def pca_2d(e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    """Points on the first two principal components of the rows of ``e`` (by SVD), the mean,
    the components (2, size) and the share of the variance along each. Each component's sign
    is chosen so its largest entry is positive (the map does not flip between runs)."""
    e = np.asarray(e, np.float64)
    mean = e.mean(axis=0)
    centred = e - mean
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comps = np.zeros((2, e.shape[1]))
    k = min(2, vt.shape[0])
    comps[:k] = vt[:k]
    for i in range(k):
        if comps[i, np.argmax(np.abs(comps[i]))] < 0:
            comps[i] = -comps[i]
    total = float((s ** 2).sum())
    var = [float(s[i] ** 2 / total) if total > 0 and i < len(s) else 0.0 for i in range(2)]
    return centred @ comps.T, mean, comps, (var[0], var[1])


def bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST digits (uint8 N×28×28) and their classes."""
    from cnnviz import paths

    with np.load(paths.resource("data", "mnist_digits.npz"), allow_pickle=False) as data:
        return data["x"], data["y"].astype(np.int64)


def map_digits(per_class: int = MAP_PER_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """The digits of the embedding map: the last ``per_class`` of each class."""
    x, y = bundled_digits()
    idx = np.concatenate([np.flatnonzero(y == d)[-per_class:] for d in range(10)])
    return x[idx], y[idx]


def embedding_job(job, req: EmbeddingRequest) -> EmbeddingMap:
    """The shared base's embeddings of bundled digits, projected to 2-D with PCA."""
    model = _keras_model(_model(job, req.model_id, req.source))
    stage("siamese.embedding")
    emb = embedder(model)
    if emb is None:
        raise ValueError("This model's last layer does not receive the two embeddings, so there "
                         "is no embedding to map; its distances are still shown.")
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    x, y = map_digits(max(1, int(req.per_class)))
    xs = np.stack([prepare(img, shape)[0] for img in x])
    points, mean, comps, var = pca_2d(emb(xs))
    return EmbeddingMap(points.astype(np.float32), y, mean.astype(np.float32), comps.astype(np.float32), var)


#: kind -> (job function, channel). A newer request on a channel supersedes the waiting ones.
JOBS: dict[str, tuple[Callable[..., Any], str]] = {
    "open": (open_job, "siamese.load"),
    "adopt": (adopt_job, "siamese.load"),
    "pair": (distances_job, "siamese.pair"),
    "triplet": (distances_job, "siamese.triplet"),
    "map": (embedding_job, "siamese.map"),
}


def describe_request(kind: str, request: Any) -> str:
    """What a request does, in words that follow "TensorFlow crashed while …"."""
    if kind == "open":
        return f"opening {Path(request.path).name}"
    if kind == "adopt":
        return f"opening {request.name}"
    if kind == "map":
        return "computing the embedding map"
    if kind == "triplet":
        return "computing the triplet distances"
    return "computing the distance of the pair"
