"""The book's models, built and compiled the way the book compiles them.

``build(name, **options)`` returns a compiled ``keras.Model``; ``NAMES`` lists the models (the
default, ``mnist_fast``, first); ``describe(name)`` gives the one-liner for a list in the GUI;
``summary_rows(model)`` gives the rows and totals of a table like Listing 2.2.

Corrections of the book's misprints, applied here and said where they matter:

- Listing 2.1 passes ``input_shape=(28, 28)`` to a ``Conv2D``; a 2-D convolution needs a channel
  axis, so ``mnist_cnn`` takes ``(28, 28, 1)``. The parameter counts then match Listing 2.2.
- Listing 5.1/5.2 use ``RMSprop(lr=0.0001, decay=1e-6)``; Keras 3 has neither ``lr`` nor
  ``decay``: the learning rate is 1e-4 and the tiny decay is left out.
- Listing 5.6 joins the twin branches with ``Lambda(euclidean_distance)``; cnnviz uses the
  registered :class:`cnnviz.ml.layers.EuclideanDistance` so saved files reload in safe mode.
  Both inputs go through one shared base network (the text says the branches do not share
  weights, but the listing, like every siamese net, calls the same ``base_network`` twice).
- Listing 6.1's Dice metric: the book's formula drops the factor 2 (see
  :func:`cnnviz.ml.layers.dice_coef`).
- Chapter 4 draws the residual block (Figures 4.2 and 4.3) and dense blocks (Figures 4.6 and 4.7)
  without a listing. ``plain_deep``, ``resnet_small`` and ``densenet_small`` are small
  digit-sized versions built here: the plain stack and the residual net have the same 19
  convolutions (the ResNet paper's 20-layer CIFAR net with 8/16/32 filters), so the only
  difference is the shortcuts. Like every listing in the book they have no batch normalization,
  which is what lets the plain stack show the vanishing gradient of section 4.2. Where a
  residual block halves the image and doubles the filters, its shortcut is a projection: a 2×2
  average pooling, then a 1×1 convolution (stride 1), which keeps every pixel of the input (a
  stride-2 1×1 convolution would drop three of four) and which TensorFlow's oneDNN CPU kernels
  train without crashing (their filter gradient of a few-channel stride-2 1×1 convolution
  crashes the process on inputs from about 56×56).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cnnviz.ml import backend

__all__ = [
    "NAMES",
    "OPTIMIZERS",
    "ModelSpec",
    "SPECS",
    "build",
    "describe",
    "spec",
    "summary_rows",
    "make_optimizer",
]

OPTIMIZERS: tuple[str, ...] = ("adam", "rmsprop", "sgd", "adagrad", "adamw")


@dataclass(frozen=True)
class ModelSpec:
    """What the GUI and the training engine need to know about a zoo model before building it."""

    name: str
    title: str
    listing: str
    description: str
    task: str  # "classification" | "segmentation" | "pairs"
    input_shape: tuple[int, int, int]
    num_classes: int
    optimizer: str
    learning_rate: float
    default_dataset: str
    book_params: int | None = None  # total parameters printed in the book, if it prints one
    options: tuple[str, ...] = field(default=())


def make_optimizer(name: str, learning_rate: float):
    """A fresh Keras optimizer by (case-insensitive) name."""
    keras = backend.keras()
    classes = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
        "adagrad": keras.optimizers.Adagrad,
        "adamw": keras.optimizers.AdamW,
    }
    key = str(name).lower()
    if key not in classes:
        raise ValueError(f"unknown optimizer '{name}'; choose one of {', '.join(OPTIMIZERS)}")
    if not (learning_rate > 0):
        raise ValueError(f"the learning rate must be positive, not {learning_rate}")
    return classes[key](learning_rate=float(learning_rate))


# --- builders -------------------------------------------------------------------------------
# Each takes (input_shape, num_classes, **extra) and returns an uncompiled model named after
# the zoo entry.


def _mnist_cnn(input_shape, num_classes):
    """Listing 2.1, with the channel axis the listing forgot."""
    keras = backend.keras()
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            L.Conv2D(filters=32, kernel_size=(3, 3), activation="relu"),
            L.Conv2D(filters=64, kernel_size=(3, 3), activation="relu"),
            L.Flatten(),
            L.Dense(units=128, activation="relu"),
            L.Dense(units=num_classes, activation="softmax"),
        ],
        name="mnist_cnn",
    )


def _mnist_fast(input_shape, num_classes):
    """Listing 2.1 with a max-pooling after each convolution: 57k instead of 4.7M weights."""
    keras = backend.keras()
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            L.Conv2D(filters=16, kernel_size=(3, 3), activation="relu"),
            L.MaxPool2D(pool_size=(2, 2)),
            L.Conv2D(filters=32, kernel_size=(3, 3), activation="relu"),
            L.MaxPool2D(pool_size=(2, 2)),
            L.Flatten(),
            L.Dense(units=64, activation="relu"),
            L.Dense(units=num_classes, activation="softmax"),
        ],
        name="mnist_fast",
    )


def _alexnet_small(input_shape, num_classes):
    """Listing 4.1: AlexNet with filters and units divided by four."""
    keras = backend.keras()
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            L.Conv2D(24, (11, 11), strides=(2, 2), padding="valid", activation="relu"),
            L.MaxPool2D(pool_size=(3, 3), strides=(2, 2), padding="valid"),
            L.Conv2D(64, (5, 5), strides=(1, 1), padding="same", activation="relu"),
            L.MaxPool2D(pool_size=(3, 3), strides=(2, 2), padding="valid"),
            L.Conv2D(96, (3, 3), strides=(1, 1), padding="same", activation="relu"),
            L.Conv2D(96, (3, 3), strides=(1, 1), padding="same", activation="relu"),
            L.Conv2D(64, (3, 3), strides=(1, 1), padding="same", activation="relu"),
            L.MaxPool2D(pool_size=(3, 3), strides=(2, 2), padding="valid"),
            L.Flatten(),
            L.Dense(units=2304, activation="relu"),
            L.Dense(units=1024, activation="relu"),
            L.Dense(1024, activation="relu"),
            L.Dense(num_classes, activation="softmax"),
        ],
        name="alexnet_small",
    )


def _small_cnn(input_shape, num_classes, functional: bool = False):
    """Listing 5.1 (Sequential) or Listing 5.2 (functional): the same network either way."""
    keras = backend.keras()
    L = keras.layers
    if not functional:
        return keras.Sequential(
            [
                keras.Input(shape=input_shape),
                L.Conv2D(filters=16, kernel_size=(3, 3), activation="relu"),
                L.MaxPool2D(pool_size=(3, 3), padding="valid"),
                L.Conv2D(filters=32, kernel_size=(3, 3), activation="relu"),
                L.MaxPool2D(pool_size=(3, 3), padding="valid"),
                L.Flatten(),
                L.Dense(units=num_classes, activation="softmax"),
            ],
            name="small_cnn",
        )
    input_layer = keras.Input(shape=input_shape)
    x = L.Conv2D(filters=16, kernel_size=(3, 3), activation="relu")(input_layer)
    x = L.MaxPool2D(pool_size=(3, 3), padding="valid")(x)
    x = L.Conv2D(filters=32, kernel_size=(3, 3), activation="relu")(x)
    x = L.MaxPool2D(pool_size=(3, 3), padding="valid")(x)
    x = L.Flatten()(x)
    output = L.Dense(units=num_classes, activation="softmax")(x)
    return keras.Model(input_layer, output, name="small_cnn")


def _siamese_base(input_shape):
    """Listing 5.6's ``create_base_network``: the embedding half shared by both inputs."""
    keras = backend.keras()
    L = keras.layers
    inp = keras.Input(shape=input_shape)
    x = L.Conv2D(filters=8, kernel_size=(3, 3), activation="relu")(inp)
    x = L.MaxPool2D(pool_size=(3, 3), padding="valid")(x)
    x = L.Conv2D(filters=16, kernel_size=(3, 3), activation="relu")(x)
    x = L.MaxPool2D(pool_size=(3, 3), padding="valid")(x)
    x = L.Flatten()(x)
    x = L.Dense(128, activation="relu")(x)
    x = L.Dense(128, activation="relu")(x)
    return keras.Model(inp, x, name="base_network")


def _siamese_mnist(input_shape, num_classes):
    """Listing 5.6: two inputs, one shared base network, their Euclidean distance."""
    from cnnviz.ml.layers import EuclideanDistance

    keras = backend.keras()
    base_network = _siamese_base(input_shape)
    input_a = keras.Input(shape=input_shape, name="input_a")
    input_b = keras.Input(shape=input_shape, name="input_b")
    processed_a = base_network(input_a)
    processed_b = base_network(input_b)
    distance = EuclideanDistance(name="distance")([processed_a, processed_b])
    return keras.Model([input_a, input_b], distance, name="siamese_mnist")


def _unet_small(input_shape, num_classes):
    """Listing 6.1: the book's small U-Net (two poolings, two transposed convolutions)."""
    keras = backend.keras()
    L = keras.layers
    inputs = keras.Input(input_shape)

    c1 = L.Conv2D(64, (3, 3), activation="relu", padding="same")(inputs)
    c1 = L.Dropout(0.2)(c1)
    c1 = L.Conv2D(64, (3, 3), activation="relu", padding="same")(c1)
    p1 = L.MaxPooling2D((2, 2))(c1)

    c2 = L.Conv2D(128, (3, 3), activation="relu", padding="same")(p1)
    c2 = L.Dropout(0.2)(c2)
    c2 = L.Conv2D(128, (3, 3), activation="relu", padding="same")(c2)
    p2 = L.MaxPooling2D(pool_size=(2, 2))(c2)

    c3 = L.Conv2D(256, (3, 3), activation="relu", padding="same")(p2)
    c3 = L.Dropout(0.3)(c3)
    c3 = L.Conv2D(256, (3, 3), activation="relu", padding="same")(c3)

    u1 = L.Conv2DTranspose(128, (2, 2), strides=(2, 2), padding="same")(c3)
    u1 = L.concatenate([u1, c2])
    c4 = L.Conv2D(128, (3, 3), activation="relu", padding="same")(u1)
    c4 = L.Dropout(0.2)(c4)
    c4 = L.Conv2D(128, (3, 3), activation="relu", padding="same")(c4)

    u2 = L.Conv2DTranspose(64, (2, 2), strides=(2, 2), padding="same")(c4)
    u2 = L.concatenate([u2, c1])
    c5 = L.Conv2D(64, (3, 3), activation="relu", padding="same")(u2)
    c5 = L.Dropout(0.2)(c5)
    c5 = L.Conv2D(64, (3, 3), activation="relu", padding="same")(c5)

    outputs = L.Conv2D(num_classes, (1, 1), activation="softmax")(c5)
    return keras.Model(inputs=[inputs], outputs=[outputs], name="unet_small")


# --- chapter 4: depth, shortcuts and dense connections ----------------------------------------
# The plain stack and the residual net share one layout: a 3×3 convolution with 8 filters, then
# three stages of three blocks of two 3×3 convolutions with 8, 16 and 32 filters (the first
# convolution of stages 2 and 3 has stride 2), global average pooling and a softmax. That is
# 1 + 3·3·2 = 19 convolutions and one dense layer, the ResNet paper's 20-layer CIFAR net.

DEEP_STAGES: tuple[int, ...] = (8, 16, 32)
"""Filters per stage of ``plain_deep``/``resnet_small`` (the image is halved between stages)."""
DEEP_BLOCKS: int = 3
"""Blocks of two 3×3 convolutions per stage."""
DENSE_GROWTH: int = 8
"""``densenet_small``: feature maps each layer of a dense block adds (the growth rate k)."""
DENSE_LAYERS: int = 4
"""``densenet_small``: layers per dense block."""
DENSE_STEM: int = 16
"""``densenet_small``: filters of the first convolution (2k, as in DenseNet)."""


def _deep_stack(input_shape, num_classes, residual: bool, name: str):
    """Section 4.2: the plain stack, or the same convolutions with Figure 4.2's shortcuts."""
    keras = backend.keras()
    L = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = L.Conv2D(DEEP_STAGES[0], (3, 3), padding="same", activation="relu", name="conv1")(inputs)
    channels = DEEP_STAGES[0]
    for s, filters in enumerate(DEEP_STAGES, start=1):
        for b in range(1, DEEP_BLOCKS + 1):
            stride = 2 if (s > 1 and b == 1) else 1
            tag = f"stage{s}_block{b}"
            h = L.Conv2D(filters, (3, 3), strides=stride, padding="same", activation="relu",
                         name=f"{tag}_conv1")(x)
            if not residual:
                x = L.Conv2D(filters, (3, 3), padding="same", activation="relu", name=f"{tag}_conv2")(h)
            else:
                h = L.Conv2D(filters, (3, 3), padding="same", name=f"{tag}_conv2")(h)
                shortcut = x  # the identity of Figure 4.2
                if stride != 1 or filters != channels:  # a projection where the shape changes
                    if stride != 1:
                        shortcut = L.AveragePooling2D((stride, stride), padding="same",
                                                      name=f"{tag}_shortcut_pool")(shortcut)
                    shortcut = L.Conv2D(filters, (1, 1), name=f"{tag}_shortcut")(shortcut)
                x = L.Add(name=f"{tag}_add")([h, shortcut])
                x = L.ReLU(name=f"{tag}_relu")(x)
            channels = filters
    x = L.GlobalAveragePooling2D(name="pool")(x)
    outputs = L.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def _plain_deep(input_shape, num_classes):
    """Section 4.2's deep plain stack: 19 convolutions in a row, no shortcuts."""
    return _deep_stack(input_shape, num_classes, residual=False, name="plain_deep")


def _resnet_small(input_shape, num_classes):
    """Figures 4.2-4.3: the same 19 convolutions in residual blocks with identity shortcuts."""
    return _deep_stack(input_shape, num_classes, residual=True, name="resnet_small")


def _densenet_small(input_shape, num_classes):
    """Figures 4.6-4.7: three dense blocks joined by transition layers.

    In a dense block every layer sees the concatenation of the block's input and of all earlier
    layers' outputs and adds ``DENSE_GROWTH`` maps of its own; a transition (1×1 convolution
    halving the maps, 2×2 average pooling) joins two blocks, as in the DenseNet paper.
    """
    keras = backend.keras()
    L = keras.layers
    inputs = keras.Input(shape=input_shape, name="image")
    x = L.Conv2D(DENSE_STEM, (3, 3), padding="same", activation="relu", name="conv1")(inputs)
    channels = DENSE_STEM
    blocks = 3
    for d in range(1, blocks + 1):
        for n in range(1, DENSE_LAYERS + 1):
            h = L.Conv2D(DENSE_GROWTH, (3, 3), padding="same", activation="relu",
                         name=f"dense{d}_layer{n}_conv")(x)
            x = L.Concatenate(name=f"dense{d}_layer{n}_concat")([x, h])
            channels += DENSE_GROWTH
        if d < blocks:
            channels //= 2
            x = L.Conv2D(channels, (1, 1), activation="relu", name=f"transition{d}_conv")(x)
            x = L.AveragePooling2D((2, 2), padding="same", name=f"transition{d}_pool")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    outputs = L.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="densenet_small")


def _compile_args(name: str) -> dict[str, Any]:
    """The loss and metrics each listing compiles with."""
    if name == "siamese_mnist":
        from cnnviz.ml.layers import contrastive_loss, pair_accuracy

        return {"loss": contrastive_loss, "metrics": [pair_accuracy]}
    if name == "unet_small":
        from cnnviz.ml.layers import dice_coef, jaccard

        return {"loss": "categorical_crossentropy", "metrics": ["accuracy", "mse", jaccard, dice_coef]}
    return {"loss": "categorical_crossentropy", "metrics": ["accuracy"]}


SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec(
            "mnist_fast", "Fast MNIST CNN", "Listing 2.1, pooled",
            "Listing 2.1 with max-pooling: 57k weights, an epoch of digits in seconds on a CPU",
            "classification", (28, 28, 1), 10, "adam", 1e-3, "digits",
        ),
        ModelSpec(
            "mnist_cnn", "MNIST CNN", "Listing 2.1",
            "The book's first CNN: two 3×3 convolutions (32, 64), Dense 128, softmax 10 — 4.7M weights",
            "classification", (28, 28, 1), 10, "adam", 1e-3, "digits", book_params=4_738_826,
        ),
        ModelSpec(
            "alexnet_small", "AlexNet (quarter size)", "Listing 4.1",
            "AlexNet with a quarter of the filters and units, 128×128 grayscale, 8 classes",
            "classification", (128, 128, 1), 8, "adam", 1e-3, "shapes",
        ),
        ModelSpec(
            "small_cnn", "Small CNN", "Listings 5.1/5.2",
            "Two convolutions and poolings on 32×32 colour images, 5 classes (Sequential or functional)",
            "classification", (32, 32, 3), 5, "rmsprop", 1e-4, "shapes", book_params=5_733,
            options=("functional",),
        ),
        ModelSpec(
            "plain_deep", "Deep plain CNN", "Section 4.2",
            "19 3×3 convolutions in a row (8/16/32 filters), no shortcuts: the deep stack whose "
            "gradients vanish before they reach the first layers; 28×28 digits or shapes",
            "classification", (28, 28, 1), 10, "adam", 1e-3, "digits",
        ),
        ModelSpec(
            "resnet_small", "Small ResNet", "Figures 4.2–4.3",
            "The same 19 convolutions in residual blocks: identity shortcuts (Figure 4.2), a "
            "pooled 1×1 projection where the shape changes; 28×28 digits or shapes",
            "classification", (28, 28, 1), 10, "adam", 1e-3, "digits",
        ),
        ModelSpec(
            "densenet_small", "Small DenseNet", "Figures 4.6–4.7",
            "Three dense blocks (each layer concatenates all earlier maps, growth 8) joined by 1×1 "
            "transition layers with pooling; 28×28 digits or shapes",
            "classification", (28, 28, 1), 10, "adam", 1e-3, "digits",
        ),
        ModelSpec(
            "siamese_mnist", "Siamese CNN", "Listing 5.6",
            "Twin networks with shared weights, Euclidean distance and contrastive loss, on digit pairs",
            "pairs", (28, 28, 1), 1, "rmsprop", 1e-3, "digit_pairs",
        ),
        ModelSpec(
            "unet_small", "Small U-Net", "Listing 6.1",
            "Encoder-decoder with skip connections, per-pixel object/border/background, Jaccard and Dice",
            "segmentation", (128, 128, 3), 3, "adam", 1e-3, "segmentation", book_params=1_862_979,
        ),
    )
}

_BUILDERS: dict[str, Callable[..., Any]] = {
    "mnist_fast": _mnist_fast,
    "mnist_cnn": _mnist_cnn,
    "alexnet_small": _alexnet_small,
    "small_cnn": _small_cnn,
    "plain_deep": _plain_deep,
    "resnet_small": _resnet_small,
    "densenet_small": _densenet_small,
    "siamese_mnist": _siamese_mnist,
    "unet_small": _unet_small,
}

_FUNCTIONAL_ONLY = ("siamese_mnist", "unet_small", "plain_deep", "resnet_small", "densenet_small")

NAMES: tuple[str, ...] = tuple(SPECS)
"""The zoo's model names; the first is the default."""

DEFAULT: str = NAMES[0]


def spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of one model; ``ValueError`` names the choices otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; choose one of {', '.join(NAMES)}") from None


def describe(name: str) -> str:
    """One line for a model list: title, listing and what it is."""
    s = spec(name)
    return f"{s.title} ({s.listing}) — {s.description}"


def build(
    name: str,
    *,
    learning_rate: float | None = None,
    optimizer: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
    functional: bool = False,
    compile: bool = True,
):
    """Build zoo model ``name`` and compile it with the book's loss, optimizer and metrics.

    ``learning_rate``/``optimizer`` override the book's choice; ``input_shape`` and
    ``num_classes`` adapt the network to another dataset (the siamese net has no classes);
    ``functional`` picks Listing 5.2 over 5.1 for ``small_cnn``.
    """
    s = spec(name)
    shape = tuple(int(v) for v in (input_shape or s.input_shape))
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels), not {input_shape}")
    classes = int(num_classes or s.num_classes)
    if s.task != "pairs" and classes < 2:
        raise ValueError(f"{name} needs at least two classes, not {classes}")
    builder = _BUILDERS[name]
    try:
        if name == "small_cnn":
            model = builder(shape, classes, functional=bool(functional))
        else:
            if functional and name not in _FUNCTIONAL_ONLY:
                raise ValueError(f"{name} has only a Sequential build; 'functional' applies to small_cnn")
            model = builder(shape, classes)
    except ValueError as exc:
        if "negative" in str(exc).lower() or "shape" in str(exc).lower():
            raise ValueError(
                f"{name} cannot take {shape[0]}×{shape[1]} inputs: its layers shrink the image "
                f"below one pixel (it is built for {s.input_shape[0]}×{s.input_shape[1]})"
            ) from exc
        raise
    if compile:
        opt = make_optimizer(optimizer or s.optimizer, learning_rate or s.learning_rate)
        model.compile(optimizer=opt, **_compile_args(name))
    return model


def _shape_text(shape) -> str:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _output_shape(layer) -> str:
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return "?"
    if isinstance(out, (list, tuple)):
        return ", ".join(_shape_text(tuple(o.shape)) for o in out)
    return _shape_text(tuple(out.shape))


def summary_rows(model) -> tuple[list[tuple[str, str, str, int]], tuple[int, int, int]]:
    """Rows ``(layer name, layer type, output shape, params)`` and totals
    ``(total, trainable, non-trainable)``, as in the book's Listing 2.2.

    Functional models list their input layers (as Listing 5.4 does); Sequential ones do not
    (Listing 5.3). A nested model (the siamese base network) is one row.
    """
    import math

    rows: list[tuple[str, str, str, int]] = []
    for layer in model.layers:
        rows.append((layer.name, type(layer).__name__, _output_shape(layer), int(layer.count_params())))

    def size(weights) -> int:
        return int(sum(math.prod(w.shape) for w in weights))

    trainable = size(model.trainable_weights)
    non_trainable = size(model.non_trainable_weights)
    return rows, (trainable + non_trainable, trainable, non_trainable)
