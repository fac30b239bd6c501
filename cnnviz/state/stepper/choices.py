"""What the stepper offers and how far each setting goes: the modes, paddings, input and kernel
sources with the words their selectors show, the book's examples and :data:`LIMITS`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnviz.core.kernels import PRESETS

#: mode -> what the mode selector says
MODES: dict[str, str] = {
    "conv": "Convolution",
    "max": "Max-pooling",
    "avg": "Average-pooling",
    "transpose": "Transposed convolution",
    "upsample": "UpSampling2D (nearest / bilinear)",
    "dropout": "Dropout",
    "max_grad": "Max-pooling gradient (backprop)",
    "avg_grad": "Average-pooling gradient (backprop)",
}
PADDINGS: dict[str, str] = {
    "valid": "valid (none)",
    "same": "same",
    "explicit": "explicit (pixels per side)",
}
STEP_ACTIVATIONS: tuple[str, ...] = ("linear", "relu", "sigmoid", "tanh")

#: The book's 4×4 image and its 2×2 chess pattern (chapter 1); stride 1 gives
#: [[399, 373, 334], [243, 315, 399], [305, 231, 272]].
BOOK_IMAGE = np.array(
    [[255, 185, 133, 121], [155, 144, 188, 201], [111, 88, 171, 211], [110, 194, 143, 101]],
    dtype=np.float64,
)
BOOK_KERNEL = np.array([[1, 0], [0, 1]], dtype=np.float64)
#: The book's chapter-1 image with two diagonal lines and the diagonal pattern it looks for.
DIAGONAL_IMAGE = np.array(
    [[0, 0, 0, 0, 0, 0, 0], [0, 0, 255, 0, 255, 0, 0], [0, 255, 0, 0, 0, 255, 0], [255, 0, 0, 0, 0, 0, 255]],
    dtype=np.float64,
)
DIAGONAL_KERNEL = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=np.float64)


def _notes_rgb_example() -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The course notes' layer: a 6×6×3 input ⊛ two 3×3×3 filters (a vertical and a horizontal
    edge detector) + a bias each, then ReLU → 4×4×2. The notes draw it without numbers, so
    these are the app's: a bright square in the lower right (warmer in red), the vertical-edge
    filter (columns −1 0 1 on every channel, red counted twice) and the horizontal-edge
    filter (rows −1, 0, 1 on every channel), biases −1 and −4: ReLU zeroes the flat areas."""
    base = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1, 1, 5, 5, 5, 5],
                     [1, 1, 5, 5, 5, 5], [1, 1, 5, 5, 5, 5], [1, 1, 5, 5, 5, 5]], dtype=np.float64)
    image = np.stack([base + 1, base, base - 1], axis=2)
    vertical = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float64)
    horizontal = vertical.T.copy()
    f1 = np.stack([2 * vertical, vertical, vertical], axis=2)
    f2 = np.stack([horizontal, horizontal, horizontal], axis=2)
    return image, np.stack([f1, f2], axis=3), (-1.0, -4.0)


#: the notes' RGB layer (see :func:`_notes_rgb_example`): (6, 6, 3), (3, 3, 3, 2), two biases
NOTES_RGB_IMAGE, NOTES_FILTERS, NOTES_BIASES = _notes_rgb_example()

#: where the input comes from -> what the source selector says
SOURCES: dict[str, str] = {
    "book": "Book 4×4 example (ch. 1)",
    "diagonal": "Book diagonals 4×7 (ch. 1)",
    "notes_rgb": "Notes' RGB example (6×6×3, two 3×3×3 filters)",
    "typed": "Typed matrix",
    "crop_gray": "Gray image crop",
    "crop_rgb": "RGB image crop (3 channels)",
}
CROP_SOURCES = ("crop_gray", "crop_rgb")
EXAMPLES = {
    "book": (BOOK_IMAGE, BOOK_KERNEL),
    "diagonal": (DIAGONAL_IMAGE, DIAGONAL_KERNEL),
    "notes_rgb": (NOTES_RGB_IMAGE, NOTES_FILTERS),
}
#: the other settings an example brings (the notes' layer: a bias per filter, then ReLU)
EXAMPLE_SETTINGS = {"notes_rgb": {"biases": NOTES_BIASES, "activation": "relu"}}
KERNEL_SOURCES: dict[str, str] = {"typed": "Typed (below)", "playground": "From the Kernels tab"}
#: kernel presets offered -> their names in the list (the book's chess pattern first)
KERNEL_PRESETS: dict[str, str] = {"book": "book chess 2×2", **{k: k.replace("_", " ") for k in PRESETS}}
PAD_MODE_NAMES: dict[str, str] = {"zero": "zeros", "replicate": "replicate edge", "reflect": "reflect (mirror)"}
POOLING = ("max", "avg")
GRADIENT = ("max_grad", "avg_grad")  # a pooling layer's backward pass
POOL_LIKE = POOLING + GRADIENT  # the modes with a pooling window
RUNNING = ("transpose", *GRADIENT)  # the output is a running sum, every cell drawn at every step
#: UpSampling2D's interpolations -> what the selector says
INTERPOLATION_NAMES: dict[str, str] = {
    "nearest": "nearest (repeat)",
    "bilinear": "bilinear (half-pixel centres)",
}


@dataclass(frozen=True)
class Limits:
    """The range of every setting: big enough for a lesson, small enough to stay interactive."""

    crop: int = 256  # largest side of an image crop or a typed matrix
    default_crop: int = 8  # side of a crop nobody has resized yet
    kernel: int = 15  # largest side of a kernel or a pooling window
    stride: int = 64
    pad: int = 16  # explicit padding per side, pixels
    dilation: int = 16
    bias: float = 1e6  # |bias|
    speed: tuple[float, float] = (0.25, 60.0)  # steps per second while playing
    crop_origin: int = 10000  # top/left of a crop before an image bounds them
    channels: int = 4  # channels of a typed input
    filters: int = 4  # filters of a typed kernel
    factor: int = 8  # UpSampling2D's size factor
    rate: float = 0.95  # the largest dropout rate
    seed: int = 999999


LIMITS = Limits()
HOVER_HINT = "Hover an input cell to see every output it feeds; click an output cell to jump to its step."
NO_OUTPUT = "No output with these settings:\nsee the reason below."
CHANNEL_NAMES = ("R", "G", "B")
MAX_TERMS = 12  # products written out per channel before "…"
MAX_LISTED = 16  # output cells listed in the hover text before "…"
