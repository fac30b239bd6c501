"""What the convolution stepper shows and the rules it follows, as plain Python (no Qt).

:class:`StepperState` holds the input, the kernel and the layer settings, builds the matching
walk from :mod:`cnnviz.core.convolution` (which does every bit of arithmetic) and keeps the
current step. It also owns where the input and the kernel come from (a typed matrix, the book's
examples, a gray or RGB crop of the app's image; a typed kernel, a preset, the Kernels tab's
kernel), the rules of each mode (pooling's stride follows the pool size, a transposed
convolution takes no explicit padding, which settings a mode uses), the limits of every setting
and the words the pane shows: the arithmetic of a step, the output-size formula with the numbers
substituted, the hover and click texts, the grid titles.

Widgets write into it (:meth:`StepperState.update`, :meth:`~StepperState.set_source`,
:meth:`~StepperState.go_to`, …) and redraw on its events (:class:`cnnviz.state.events.Event`):

- ``changed(what)`` — ``"walk"`` after the walk was rebuilt, ``"position"`` after only the step
  moved, so a view can do the cheap redraw when it can;
- ``inputs_changed()`` — the input source, the kernel source or the crop changed (the view
  shows them in its controls);
- ``text_loaded(which, text)`` — the state put a new matrix (``which == "matrix"``) or kernel
  (``"kernel"``) into its text, e.g. the book's example or a preset: the editor shows it;
- ``message_changed(message, which, span)`` — the problem with the user's last input in words
  (empty when there is none); for a typed matrix ``which``/``span`` point at the bad cell.

Settings that give no output leave ``walk`` at ``None`` and ``error`` holding the reason in
words; nothing raises into the GUI.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, replace

import numpy as np

from cnnviz.core import images
from cnnviz.core.convolution import (
    ConvStep,
    ConvWalk,
    PoolStep,
    PoolWalk,
    TransposeStep,
    TransposeWalk,
    pad_input,
    resolve_padding,
    transpose_output_size,
)
from cnnviz.core.kernels import PRESETS
from cnnviz.state.events import Event
from cnnviz.state.kernels import resize_kernel

__all__ = [
    "MODES",
    "PADDINGS",
    "PAD_MODE_NAMES",
    "STEP_ACTIVATIONS",
    "SOURCES",
    "CROP_SOURCES",
    "KERNEL_SOURCES",
    "KERNEL_PRESETS",
    "BOOK_IMAGE",
    "BOOK_KERNEL",
    "DIAGONAL_IMAGE",
    "DIAGONAL_KERNEL",
    "Limits",
    "LIMITS",
    "HOVER_HINT",
    "MatrixError",
    "parse_matrix",
    "parse_kernel",
    "format_matrix",
    "fmt",
    "StepperState",
]

#: mode -> what the mode selector says
MODES: dict[str, str] = {
    "conv": "Convolution",
    "max": "Max-pooling",
    "avg": "Average-pooling",
    "transpose": "Transposed convolution",
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

#: where the input comes from -> what the source selector says
SOURCES: dict[str, str] = {
    "book": "Book 4×4 example (ch. 1)",
    "diagonal": "Book diagonal lines 4×7 (ch. 1)",
    "typed": "Typed matrix",
    "crop_gray": "Image crop — gray",
    "crop_rgb": "Image crop — RGB channels",
}
CROP_SOURCES = ("crop_gray", "crop_rgb")
_EXAMPLES = {"book": (BOOK_IMAGE, BOOK_KERNEL), "diagonal": (DIAGONAL_IMAGE, DIAGONAL_KERNEL)}
KERNEL_SOURCES: dict[str, str] = {"typed": "Typed (below)", "playground": "From the Kernels tab"}
#: kernel presets offered -> their names in the list (the book's chess pattern first)
KERNEL_PRESETS: dict[str, str] = {"book": "book chess 2×2", **{k: k.replace("_", " ") for k in PRESETS}}
PAD_MODE_NAMES: dict[str, str] = {"zero": "zeros", "replicate": "replicate edge", "reflect": "reflect (mirror)"}
POOLING = ("max", "avg")


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


LIMITS = Limits()
HOVER_HINT = "Hover an input cell to see every output it feeds; click an output cell to jump to its step."
NO_OUTPUT = "No output with these settings:\nsee the reason below."
CHANNEL_NAMES = ("R", "G", "B")
MAX_TERMS = 12  # products written out per channel before "…"
MAX_LISTED = 16  # output cells listed in the hover text before "…"


# ------------------------------------------------------------------------------------------
# typed matrices


class MatrixError(ValueError):
    """A typed matrix that cannot be read; ``row``/``col`` (1-based) and ``span`` (character
    offsets in the text) point at the cell to fix."""

    def __init__(self, message: str, row: int, col: int, span: tuple[int, int]) -> None:
        super().__init__(message)
        self.row, self.col, self.span = row, col, span


_TOKEN = re.compile(r"[^\s,;]+")


def _number(tok: str) -> float:
    t = tok.replace("−", "-")
    if "/" in t:
        num, _, den = t.partition("/")
        return float(num) / float(den)
    return float(t)


def parse_matrix(text: str) -> np.ndarray:
    """Read rows of numbers: rows end with ``;`` or a new line, cells are split by spaces or
    commas; ``1/9`` and ``nan`` are accepted. Raises :class:`MatrixError` naming the cell."""
    rows: list[list[float]] = []
    spans: list[tuple[int, int]] = []  # where each row's text ends, for a missing cell
    pos = 0
    for line in re.split(r"(;|\n)", text):
        if line in (";", "\n"):
            pos += 1
            continue
        start = pos
        pos += len(line)
        cells: list[float] = []
        for m in _TOKEN.finditer(line):
            tok = m.group(0)
            try:
                cells.append(_number(tok))
            except (ValueError, ZeroDivisionError):
                r, c = len(rows) + 1, len(cells) + 1
                raise MatrixError(
                    f"Row {r}, column {c}: '{tok}' is not a number (type e.g. 3, -1.5 or 1/9).",
                    r, c, (start + m.start(), start + m.end()),
                ) from None
        if cells:
            rows.append(cells)
            spans.append((start, pos))
    if not rows:
        raise MatrixError("Type at least one number (rows end with ';' or a new line).", 1, 1, (0, 0))
    width = max(len(r) for r in rows)
    for r, cells in enumerate(rows):
        if len(cells) < width:
            longest = next(i for i, rr in enumerate(rows) if len(rr) == width)
            raise MatrixError(
                f"Row {r + 1}, column {len(cells) + 1} is missing: row {r + 1} has {len(cells)} "
                f"number{'s' if len(cells) != 1 else ''} but row {longest + 1} has {width}.",
                r + 1, len(cells) + 1, spans[r],
            )
    return np.array(rows, dtype=np.float64)


def parse_kernel(text: str) -> np.ndarray:
    """A typed kernel: one matrix, or one per channel separated by ``|`` (stacked to (kh, kw, C))."""
    parts = text.split("|")
    if len(parts) == 1:
        return parse_matrix(text)
    mats = []
    offset = 0
    for i, part in enumerate(parts):
        try:
            mats.append(parse_matrix(part))
        except MatrixError as e:
            raise MatrixError(
                f"Channel {i + 1}: {e}", e.row, e.col, (e.span[0] + offset, e.span[1] + offset)
            ) from None
        offset += len(part) + 1
    if any(m.shape != mats[0].shape for m in mats):
        shapes = ", ".join(f"{m.shape[0]}×{m.shape[1]}" for m in mats)
        raise MatrixError(f"Every channel of the kernel must have the same size; got {shapes}.", 1, 1, (0, 0))
    return np.stack(mats, axis=2)


def fmt(v: float, digits: int = 4) -> str:
    """A number as a student reads it: integers plainly, others with a few significant digits,
    a real minus sign, NaN spelled out."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if abs(v - round(v)) < 1e-9 and abs(v) < 1e15:
        s = str(int(round(v)))
    else:
        s = f"{v:.{digits}g}"
    return s.replace("-", "−")


def format_matrix(m: np.ndarray) -> str:
    """A 2-D (or per-channel 3-D) array back as text :func:`parse_kernel` reads."""
    m = np.asarray(m)
    if m.ndim == 3:
        return "\n|\n".join(format_matrix(m[:, :, c]) for c in range(m.shape[2]))
    return "\n".join(" ".join(fmt(v, 6).replace("−", "-") for v in row) for row in m)


def _factor(v: float) -> str:
    s = fmt(v)
    return f"({s})" if s.startswith("−") else s


# ------------------------------------------------------------------------------------------
# the state


@dataclass
class Settings:
    """Everything the user chose; :class:`StepperState` rebuilds its walk from these."""

    mode: str = "conv"
    image: np.ndarray | None = None  # (H, W) or (H, W, C), float64
    kernel: np.ndarray | None = None  # (kh, kw) or (kh, kw, C)
    pool_size: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (1, 1)
    padding: str = "valid"  # valid | same | explicit
    pads: tuple[tuple[int, int], tuple[int, int]] = ((1, 1), (1, 1))  # for "explicit"
    pad_mode: str = "zero"
    dilation: tuple[int, int] = (1, 1)
    bias: float = 0.0
    activation: str = "linear"
    flip: bool = False


Walk = ConvWalk | PoolWalk | TransposeWalk
Step = ConvStep | PoolStep | TransposeStep
_FIELDS = set(Settings.__dataclass_fields__)


class StepperState:
    """The stepper's one source of truth: where the input and kernel come from, the settings,
    the walk built from them and the current step (events: see the module's docstring)."""

    def __init__(self) -> None:
        self.settings = Settings(image=BOOK_IMAGE.copy(), kernel=BOOK_KERNEL.copy())
        self.walk: Walk | None = None
        self.error: str = ""
        self.position: int = 0
        self._touched: TransposeWalk | None = None
        self.changed = Event()
        self.inputs_changed = Event()
        self.text_loaded = Event()
        self.message_changed = Event()
        self.source = "book"  # a key of SOURCES
        self.kernel_source = "typed"  # a key of KERNEL_SOURCES
        self.matrix_text = format_matrix(BOOK_IMAGE)  # what the matrix editor holds
        self.kernel_text = format_matrix(BOOK_KERNEL)  # what the kernel editor holds
        self.crop = (0, 0, LIMITS.default_crop, LIMITS.default_crop)  # top, left, height, width
        self.picture: np.ndarray | None = None  # the app's image, cropped by the crop sources
        self.message = ""  # the problem with the last input, in words
        self._rebuild()

    def snapshot(self) -> StepperState:
        """A copy that notifies nobody and shares nothing the original changes: a GIF export
        renders from it while the user goes on editing."""
        twin = copy.copy(self)
        twin.settings = replace(self.settings, image=self.image.copy(), kernel=self.kernel.copy())
        for name in ("changed", "inputs_changed", "text_loaded", "message_changed"):
            setattr(twin, name, Event())
        return twin

    # -- where the input comes from ----------------------------------------------------------
    def set_source(self, key: str) -> None:
        """Take the input from ``key`` (one of :data:`SOURCES`): the book's examples load their
        own kernel too, ``"typed"`` reads :attr:`matrix_text`, a crop cuts :attr:`picture`."""
        if key not in SOURCES:
            raise ValueError(f"Unknown source '{key}': use one of {', '.join(SOURCES)}.")
        self.source = key
        self._set_message("")
        if key in _EXAMPLES:
            image, kernel = _EXAMPLES[key]
            self._load_text("matrix", image)
            self._use_typed_kernel(kernel)
            self.update(image=image, kernel=kernel)
        elif key == "typed":
            self._apply_matrix_text()
        else:
            self._centre_untouched_crop()
            self._apply_crop()
        self.inputs_changed.emit()

    def edit_text(self, which: str, text: str) -> None:
        """The user is typing in the matrix (``"matrix"``) or kernel (``"kernel"``) editor; it is
        read by :meth:`type_matrix` / :meth:`type_kernel` once the typing pauses."""
        if which == "matrix":
            self.matrix_text = text
        else:
            self.kernel_text = text

    def type_matrix(self, text: str | None = None) -> None:
        """Read the typed matrix (``text`` or :attr:`matrix_text`) as the input; the source
        becomes ``"typed"``. A matrix that cannot be read leaves the last good one in place."""
        if text is not None:
            self.matrix_text = text
        if self.source != "typed":
            self.source = "typed"
            self.inputs_changed.emit()
        self._apply_matrix_text()

    def _apply_matrix_text(self) -> None:
        try:
            m = parse_matrix(self.matrix_text)
        except MatrixError as e:
            self._parse_error(e, "matrix")
            return
        if max(m.shape) > LIMITS.crop:
            self._set_message(f"A typed matrix can have at most {LIMITS.crop} rows and columns.")
            return
        self._set_message("")
        self.update(image=m)

    def set_picture(self, picture: np.ndarray) -> None:
        """The app's image changed; a crop source cuts the new one."""
        self.picture = picture
        if self.source in CROP_SOURCES:
            self._apply_crop()
            self.inputs_changed.emit()

    def set_crop(self, top: int, left: int, height: int, width: int) -> None:
        """Where the crop sources cut :attr:`picture` (clamped to it when applied)."""
        self.crop = (int(top), int(left), int(height), int(width))
        if self.source in CROP_SOURCES:
            self._apply_crop()
        self.inputs_changed.emit()

    def crop_limits(self) -> tuple[int, int, int, int]:
        """The largest (top, left, height, width) a crop of :attr:`picture` may have."""
        if self.picture is None:
            return (LIMITS.crop_origin, LIMITS.crop_origin, LIMITS.crop, LIMITS.crop)
        h, w = self.picture.shape[:2]
        return max(0, h - 1), max(0, w - 1), min(LIMITS.crop, h), min(LIMITS.crop, w)

    def _centre_untouched_crop(self) -> None:
        """A crop nobody has moved or resized yet starts in the middle of the picture."""
        top, left, ch, cw = self.crop
        d = LIMITS.default_crop
        if self.picture is not None and not (ch > d or cw > d or top or left):
            h, w = self.picture.shape[:2]
            self.crop = (max(0, h // 2 - d // 2), max(0, w // 2 - d // 2), ch, cw)

    def _apply_crop(self) -> None:
        if self.picture is None:
            return
        mt, ml, mh, mw = self.crop_limits()
        top, left, ch, cw = self.crop
        top, left, ch, cw = min(top, mt), min(left, ml), max(1, min(ch, mh)), max(1, min(cw, mw))
        self.crop = (top, left, ch, cw)
        h, w = self.picture.shape[:2]
        top, left = min(top, max(0, h - ch)), min(left, max(0, w - cw))
        try:
            part = images.crop(self.picture, top, left, ch, cw)
        except ValueError as e:
            self._set_message(str(e))
            return
        data = images.to_gray(part) if self.source == "crop_gray" else images.to_rgb(part)
        self._set_message("")
        self.update(image=np.asarray(data, dtype=np.float64))

    # -- where the kernel comes from ---------------------------------------------------------
    def set_kernel_source(self, key: str, playground: np.ndarray | None = None) -> None:
        """``"typed"`` reads :attr:`kernel_text`; ``"playground"`` follows the Kernels tab's
        kernel (``playground`` now, then :meth:`playground_kernel_changed`)."""
        if key not in KERNEL_SOURCES:
            raise ValueError(f"Unknown kernel source '{key}': use one of {', '.join(KERNEL_SOURCES)}.")
        self.kernel_source = key
        if key == "playground":
            if playground is not None:
                self.playground_kernel_changed(playground)
        else:
            self._apply_kernel_text()
        self.inputs_changed.emit()

    def playground_kernel_changed(self, kernel: np.ndarray) -> None:
        """The Kernels tab's kernel changed: used when the kernel source is ``"playground"``."""
        if self.kernel_source != "playground":
            return
        k = np.asarray(kernel, dtype=np.float64)
        self._load_text("kernel", k)
        self.update(kernel=k)

    def choose_preset(self, key: str) -> None:
        """Use a kernel of :data:`KERNEL_PRESETS` (it becomes the typed kernel)."""
        k = BOOK_KERNEL if key == "book" else PRESETS[key]
        self._use_typed_kernel(k)
        self.update(kernel=k)
        self.inputs_changed.emit()

    def type_kernel(self, text: str | None = None) -> None:
        """Read the typed kernel (``text`` or :attr:`kernel_text`); one that cannot be read, or
        is larger than :attr:`Limits.kernel`, leaves the last good one in place."""
        if text is not None:
            self.kernel_text = text
        self._apply_kernel_text()

    def _apply_kernel_text(self) -> None:
        try:
            k = parse_kernel(self.kernel_text)
        except MatrixError as e:
            self._parse_error(e, "kernel")
            return
        if max(k.shape[:2]) > LIMITS.kernel:
            self._set_message(f"A kernel can have at most {LIMITS.kernel} rows and columns.")
            return
        self._set_message("")
        if self.kernel_source != "typed":
            self.kernel_source = "typed"
            self.inputs_changed.emit()
        self.update(kernel=k)

    def _use_typed_kernel(self, k: np.ndarray) -> None:
        self.kernel_source = "typed"
        self._load_text("kernel", k)

    def _load_text(self, which: str, m: np.ndarray) -> None:
        text = format_matrix(m)
        self.edit_text(which, text)
        self.text_loaded.emit(which, text)

    def _parse_error(self, e: MatrixError, which: str) -> None:
        what = "input" if which == "matrix" else "kernel"
        self._set_message(f"{e} The {what} shown is the last one that could be read.", which, e.span)

    def _set_message(self, text: str, which: str = "", span: tuple[int, int] | None = None) -> None:
        self.message = text
        self.message_changed.emit(text, which, span)

    # -- mode rules --------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Switch mode the way Keras's layers default: entering pooling makes the stride the
        pool size and leaving it makes it 1; a transposed convolution takes no explicit padding
        (it falls back to ``"valid"``)."""
        old = self.mode
        changes: dict = {"mode": mode}
        pooling = mode in POOLING
        if pooling and old not in POOLING:
            changes["stride"] = self.settings.pool_size
        elif not pooling and old in POOLING:
            changes["stride"] = (1, 1)
        if mode == "transpose" and self.settings.padding == "explicit":
            changes["padding"] = "valid"
        self.update(**changes)

    def set_window_size(self, rows: int, cols: int) -> None:
        """Resize the sliding window: the pool size when pooling (the stride follows while it
        equals the pool size, Keras's default), else the kernel, grown or cropped around its
        centre as the kernel editor does (:func:`cnnviz.state.kernels.resize_kernel`)."""

        if self.mode in POOLING:
            old = self.settings.pool_size
            changes = {"pool_size": (rows, cols)}
            if tuple(self.settings.stride) == tuple(old):
                changes["stride"] = (rows, cols)
            self.update(**changes)
            return
        k = self.kernel
        if k.shape[:2] == (rows, cols):
            return
        if k.ndim == 2:
            new = resize_kernel(k, rows, cols).astype(np.float64)
        else:
            new = np.stack([resize_kernel(k[:, :, c], rows, cols) for c in range(k.shape[2])], axis=2)
        self._use_typed_kernel(new)
        self.update(kernel=new)
        self.inputs_changed.emit()

    def uses(self) -> dict[str, bool]:
        """Which settings the current mode uses (the others are shown disabled)."""
        mode = self.mode
        pooling = mode in POOLING
        return {
            "kernel": not pooling,  # the kernel's source, preset and text
            "flip": mode == "conv",
            "pad_mode": mode == "conv",
            "dilation": not pooling,
            "bias": not pooling,
            "activation": not pooling,
            "explicit_padding": mode != "transpose",
            "pads": self.settings.padding == "explicit",
        }

    def window_size_label(self) -> str:
        return "Pool size" if self.mode in POOLING else "Size"

    # -- settings ----------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def image(self) -> np.ndarray:
        return self.settings.image

    @property
    def kernel(self) -> np.ndarray:
        return self.settings.kernel

    @property
    def channels(self) -> int:
        img = self.settings.image
        return 1 if img.ndim == 2 else img.shape[2]

    def window_size(self) -> tuple[int, int]:
        """The sliding window: the pool size when pooling, else the kernel's (kh, kw)."""
        if self.mode in ("max", "avg"):
            return self.settings.pool_size
        k = self.settings.kernel
        return int(k.shape[0]), int(k.shape[1])

    def update(self, **changes) -> None:
        """Change settings and rebuild the walk; the step number is kept where it still exists."""
        unknown = set(changes) - _FIELDS
        if unknown:
            raise TypeError(f"unknown stepper setting(s): {', '.join(sorted(unknown))}")
        s = self.settings
        for name, value in changes.items():
            if name in ("image", "kernel"):
                value = np.array(value, dtype=np.float64)
            elif name in ("stride", "dilation", "pool_size"):
                value = (int(value), int(value)) if np.ndim(value) == 0 else (int(value[0]), int(value[1]))
            elif name == "pads":
                (t, b), (l, r) = value
                value = ((int(t), int(b)), (int(l), int(r)))
            elif name == "bias":
                value = float(value)
            if name == "mode" and value not in MODES:
                raise ValueError(f"Unknown mode '{value}': use one of {', '.join(MODES)}.")
            setattr(s, name, value)
        self._rebuild()

    def _padding_arg(self):
        s = self.settings
        return s.pads if s.padding == "explicit" else s.padding

    def _rebuild(self) -> None:
        s = self.settings
        self.walk, self._touched, self.error = None, None, ""
        try:
            if s.mode == "conv":
                k = s.kernel
                if k.ndim == 3 and k.shape[2] != self.channels:
                    raise ValueError(
                        f"The kernel has {k.shape[2]} channel slices but the input has "
                        f"{self.channels}: type one slice per channel (separated by '|') or one "
                        "2-D kernel for all of them."
                    )
                self.walk = ConvWalk(
                    s.image, k, s.stride, self._padding_arg(), s.pad_mode, s.dilation,
                    s.bias, s.flip, s.activation,
                )
            elif s.mode in ("max", "avg"):
                self.walk = PoolWalk(s.image, s.pool_size, s.stride, self._padding_arg(), s.mode)
            else:
                if s.padding == "explicit":
                    raise ValueError(
                        "A transposed convolution takes padding 'valid' or 'same' (as Keras's "
                        "Conv2DTranspose), not pixels per side."
                    )
                k = s.kernel
                if k.ndim == 3 and k.shape[2] != self.channels:
                    raise ValueError(
                        f"The kernel has {k.shape[2]} channel slices but the input has {self.channels}."
                    )
                self.walk = TransposeWalk(
                    s.image, k, s.stride, s.padding, None, s.dilation, s.bias, s.activation
                )
                self._touched = TransposeWalk(
                    np.ones(s.image.shape[:2]), np.ones(k.shape[:2]), s.stride, s.padding, None,
                    s.dilation,
                )
        except (ValueError, IndexError) as exc:
            self.walk = None
            self.error = str(exc)
        n = self.n_steps
        self.position = min(max(self.position, 0), max(n - 1, 0))
        self.changed.emit("walk")

    # -- stepping ----------------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return len(self.walk) if self.walk is not None else 0

    def go_to(self, n: int) -> None:
        """Jump to step ``n`` (clamped to the walk)."""
        n = min(max(int(n), 0), max(self.n_steps - 1, 0))
        if n != self.position:
            self.position = n
            self.changed.emit("position")

    def step(self, delta: int = 1) -> bool:
        """Move by ``delta`` steps; False when already at the end (or start) of the walk."""
        before = self.position
        self.go_to(self.position + delta)
        return self.position != before

    def at_end(self) -> bool:
        return self.position >= self.n_steps - 1

    def current(self) -> Step | None:
        if self.walk is None:
            return None
        return self.walk[self.position]

    # -- what the grids show -----------------------------------------------------------------
    def pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """Padding in pixels ((top, bottom), (left, right)); zero for a transposed convolution."""
        if self.walk is not None and hasattr(self.walk, "pads"):
            return self.walk.pads
        if self.mode == "transpose":
            return ((0, 0), (0, 0))
        kh, kw = self.window_size()
        s = self.settings
        try:
            return resolve_padding(
                s.image.shape[0], s.image.shape[1], kh, kw, s.stride,
                s.dilation if self.mode == "conv" else 1, self._padding_arg(),
            )
        except ValueError:
            return ((0, 0), (0, 0))

    def shown_input(self) -> np.ndarray:
        """The input as drawn: padded (with the pad mode's values) except for transposed mode.

        Pooling pads are drawn as zeros only for colour; they take no part (see ``pad_label``).
        """
        s = self.settings
        if self.mode == "transpose":
            return s.image
        mode = s.pad_mode if self.mode == "conv" else "zero"
        try:
            return pad_input(s.image, self.pads(), mode)
        except ValueError:
            return s.image

    def pad_label(self) -> str | None:
        """Text for padding cells when their value is not used (pooling ignores padding)."""
        return "—" if self.mode in ("max", "avg") else None

    def output(self) -> np.ndarray | None:
        """The output shown at this step, (OH, OW) or (OH, OW, C) for pooling a colour input.

        Convolution and pooling show the whole result and :meth:`filled` says how many cells
        (row-major) are computed so far; a transposed convolution shows its running sum.
        """
        w = self.walk
        if w is None:
            return None
        if isinstance(w, TransposeWalk):
            if self.position >= len(w) - 1:
                return w.output
            return w.output_after(self.position)
        return w.output

    def filled(self) -> int | None:
        """How many output cells (row-major) are computed at this step; None when all are
        meaningful but some may be untouched (transposed: see :meth:`untouched`)."""
        if self.walk is None:
            return 0
        if isinstance(self.walk, TransposeWalk):
            return None
        return self.position + 1

    def untouched(self) -> np.ndarray | None:
        """Transposed mode: the output cells no input has scattered into yet."""
        if self._touched is None:
            return None
        return self._touched.output_after(self.position) <= 0

    def output_levels(self) -> tuple[float, float]:
        """(min, max) of the final output, so colours stay put while the grid fills in."""
        if self.walk is None:
            return (0.0, 1.0)
        out = self.walk.output
        vals = [float(np.min(out)), float(np.max(out))]
        if isinstance(self.walk, TransposeWalk):
            w = self.walk
            part = w.output_after(len(w) - 1)
            vals += [float(np.min(part)), float(np.max(part))]
        return min(vals), max(vals)

    def displayed_output(self) -> np.ndarray | None:
        """The numbers the output grid shows now, NaN where a cell is still empty."""
        out = self.output()
        if out is None:
            return None
        shown = np.array(out, dtype=np.float64, copy=True)
        f = self.filled()
        if f is not None:
            flat = shown.reshape(shown.shape[0] * shown.shape[1], -1)
            flat[f:] = np.nan
        else:
            mask = self.untouched()
            if mask is not None:
                shown[mask] = np.nan
        return shown

    # -- highlights --------------------------------------------------------------------------
    def window_cells(self) -> list[tuple[int, int]]:
        """Input cells (in shown-input coordinates) the current step reads, or scatters from."""
        st = self.current()
        if st is None:
            return []
        if isinstance(st, ConvStep):
            return [(r, c) for r in st.rows for c in st.cols]
        if isinstance(st, PoolStep):
            r0, c0 = st.window_origin
            ph, pw = self.settings.pool_size
            return [(r0 + u, c0 + v) for u in range(ph) for v in range(pw)]
        return [st.in_pos]

    def output_cells(self) -> list[tuple[int, int]]:
        """Output cells the current step writes (one; a kernel footprint when transposed)."""
        st = self.current()
        if st is None:
            return []
        if isinstance(st, TransposeStep):
            return [
                (r, c) for a, r in enumerate(st.rows) for b, c in enumerate(st.cols) if st.inside[a, b]
            ]
        return [st.out_pos]

    def winners(self) -> list[tuple[int, int]]:
        """Max-pooling: the input cell that won, per channel."""
        st = self.current()
        if isinstance(st, PoolStep) and st.winner is not None:
            return list(st.winner) if isinstance(st.winner, list) else [st.winner]
        return []

    def outputs_fed_by(self, r: int, c: int) -> list[tuple[int, int]]:
        """Output cells that shown-input cell (r, c) takes part in."""
        w = self.walk
        if w is None:
            return []
        try:
            if isinstance(w, PoolWalk):
                (pt, _), (pl, _) = w.pads
                h, wd = self.settings.image.shape[:2]
                if not (pt <= r < pt + h and pl <= c < pl + wd):
                    return []  # pooling never reads its padding
            return w.outputs_fed_by(r, c)
        except IndexError:
            return []

    def inputs_of(self, i: int, j: int) -> list[tuple[int, int]]:
        """Shown-input cells that output cell (i, j) depends on (its receptive field)."""
        w = self.walk
        if w is None:
            return []
        try:
            if isinstance(w, TransposeWalk):
                return w.inputs_feeding(i, j)
            return w.receptive_field(i, j)
        except IndexError:
            return []

    def step_for_output(self, i: int, j: int) -> int | None:
        """The step that computes output cell (i, j) — for a transposed convolution, the last
        input that scatters into it (when the cell is complete)."""
        w = self.walk
        if w is None:
            return None
        if isinstance(w, TransposeWalk):
            feeders = self.inputs_of(i, j)
            return max((w.index_of(a, b) for a, b in feeders), default=None)
        try:
            return w.index_of(i, j)
        except IndexError:
            return None

    def step_for_input(self, r: int, c: int) -> int | None:
        """Transposed mode: the step in which input cell (r, c) scatters."""
        if isinstance(self.walk, TransposeWalk):
            try:
                return self.walk.index_of(r, c)
            except IndexError:
                return None
        return None

    # -- words -------------------------------------------------------------------------------
    def step_lines(self) -> list[str]:
        """The arithmetic of the current step, one line per channel plus the result line."""
        st = self.current()
        if st is None:
            return [self.error] if self.error else []
        if isinstance(st, ConvStep):
            return self._conv_lines(st)
        if isinstance(st, PoolStep):
            return self._pool_lines(st)
        return self._transpose_lines(st)

    @staticmethod
    def _products(window: np.ndarray, kernel: np.ndarray, total: float) -> str:
        terms = [f"{_factor(a)}·{_factor(b)}" for a, b in zip(window.ravel(), kernel.ravel())]
        if len(terms) > MAX_TERMS:
            more = len(terms) - MAX_TERMS + 1
            terms = terms[: MAX_TERMS - 1] + [f"… ({more} more)"]
        return " + ".join(terms) + f" = {fmt(total)}"

    def _conv_lines(self, st: ConvStep) -> list[str]:
        i, j = st.out_pos
        lines = []
        if st.window.ndim == 2:
            lines.append(f"out({i},{j}) = " + self._products(st.window, st.kernel, float(np.sum(st.channel_sums))))
            total = float(np.sum(st.channel_sums))
        else:
            C = st.window.shape[2]
            sums = np.asarray(st.channel_sums).reshape(C)
            for c in range(C):
                name = CHANNEL_NAMES[c] if C == 3 else f"ch{c + 1}"
                lines.append(f"{name}: " + self._products(st.window[:, :, c], st.kernel[:, :, c], float(sums[c])))
            total = float(sums.sum())
            lines.append(f"sum {' + '.join(_factor(v) for v in sums)} = {fmt(total)}")
        bias, pre, val = float(st.bias), float(st.pre_activation), float(st.value)
        tail = []
        if bias != 0.0:
            tail.append(f"{fmt(total)} + bias {_factor(bias)} = {fmt(pre)}")
        if st.activation != "linear":
            tail.append(f"{st.activation}({fmt(pre)}) = {fmt(val)}")
        if tail:
            lines.append(" → ".join(tail + [f"out({i},{j}) = {fmt(val)}"]))
        return lines

    def _pool_lines(self, st: PoolStep) -> list[str]:
        i, j = st.out_pos
        win = st.window if st.window.ndim == 3 else st.window[:, :, None]
        C = win.shape[2]
        vals = np.atleast_1d(np.asarray(st.value, dtype=np.float64))
        lines = []
        for c in range(C):
            real = [float(v) for v, ok in zip(win[:, :, c].ravel(), st.valid.ravel()) if ok]
            name = (CHANNEL_NAMES[c] + ": ") if C == 3 else ("" if C == 1 else f"ch{c + 1}: ")
            listed = ", ".join(fmt(v) for v in real)
            if st.op == "max":
                lines.append(f"{name}out({i},{j}) = max({listed}) = {fmt(vals[c])}")
            else:
                lines.append(
                    f"{name}out({i},{j}) = ({' + '.join(_factor(v) for v in real)}) / {st.count} = {fmt(vals[c])}"
                )
        skipped = int(st.valid.size - st.valid.sum())
        if skipped:
            lines.append(f"{skipped} padding cell{'s' if skipped > 1 else ''} in the window take no part.")
        return lines

    def _transpose_lines(self, st: TransposeStep) -> list[str]:
        i, j = st.in_pos
        k = np.asarray(st.contribution)
        kernel = self.settings.kernel
        if np.ndim(st.value) == 0:
            v = float(st.value)
            head = f"in({i},{j}) = {fmt(v)} scatters {fmt(v)} × kernel:"
            kk = kernel if kernel.ndim == 2 else kernel[:, :, 0]
            terms = [f"{_factor(v)}·{_factor(a)}={fmt(b)}" for a, b in zip(kk.ravel(), k.ravel())]
        else:
            vals = ", ".join(f"{CHANNEL_NAMES[c] if len(st.value) == 3 else c}={fmt(x)}" for c, x in enumerate(st.value))
            head = f"in({i},{j}) = ({vals}) scatters the sum over channels of value × kernel slice:"
            terms = [fmt(b) for b in k.ravel()]
        if len(terms) > MAX_TERMS:
            terms = terms[: MAX_TERMS - 1] + [f"… ({len(terms) - MAX_TERMS + 1} more)"]
        rows = list(st.rows)
        cols = list(st.cols)
        where = f"added at output rows {rows[0]}–{rows[-1]}, columns {cols[0]}–{cols[-1]}"
        lines = [head + "  " + "  ".join(terms), where + "; overlaps are summed."]
        if not st.inside.all():
            lines.append(f"{int((~st.inside).sum())} of the kernel's cells fall outside the output and are cropped.")
        if self.position == self.n_steps - 1:
            s = self.settings
            extra = []
            if s.bias != 0.0:
                extra.append(f"+ bias {fmt(s.bias)}")
            if s.activation != "linear":
                extra.append(f"then {s.activation}")
            if extra:
                lines.append("Last input: the sums get " + " ".join(extra) + " (shown now).")
        return lines

    def formula_lines(self) -> list[str]:
        """The output-size formula per axis with the current numbers, e.g.
        ``Rows: ⌊(5 + 2·1 − 1·(3−1) − 1)/2⌋ + 1 = 3``; the error in words when there is no output."""
        s = self.settings
        h, w = s.image.shape[:2]
        kh, kw = self.window_size()
        lines = []
        if self.mode == "transpose":
            for name, n, f, st, d in (("Rows", h, kh, s.stride[0], s.dilation[0]),
                                      ("Columns", w, kw, s.stride[1], s.dilation[1])):
                ktext = f"{f}" if d == 1 else f"{d}·({f}−1)+1"
                try:
                    o = transpose_output_size(n, f, st, s.padding if s.padding != "explicit" else "valid", None, d)
                except ValueError:
                    o = None
                if s.padding == "same":
                    expr = f"{n}·{st}"
                else:
                    expr = f"({n} − 1)·{st} + max({ktext}, {st})"
                lines.append(f"{name}: {expr} = {o if o is not None else '—'}")
        else:
            (pt, pb), (pl, pr) = self.pads()
            d = s.dilation if self.mode == "conv" else (1, 1)
            for name, n, f, (a, b), st, dd in (("Rows", h, kh, (pt, pb), s.stride[0], d[0]),
                                               ("Columns", w, kw, (pl, pr), s.stride[1], d[1])):
                ptext = f"2·{a}" if a == b else f"{a} + {b}"
                num = n + a + b - dd * (f - 1) - 1
                o = num // st + 1 if num >= 0 else None
                lines.append(
                    f"{name}: ⌊({n} + {ptext} − {dd}·({f}−1) − 1)/{st}⌋ + 1 = "
                    + (str(o) if o is not None else f"⌊{fmt(num)}/{st}⌋ + 1 → no output")
                )
        if self.walk is None and self.error:
            lines.append(self.error)
        return lines

    def output_shape(self) -> tuple[int, int] | None:
        return None if self.walk is None else tuple(self.walk.out_shape)

    # -- what the grids are called and how they are coloured -----------------------------------
    def channel_names(self) -> list[str]:
        c = self.channels
        return list(CHANNEL_NAMES) if c == 3 else [f"channel {k + 1}" for k in range(c)]

    def input_levels(self) -> tuple[float, float]:
        """The colour range of the input grid: 0–255 for the book's example and image crops
        (whose values are pixels), else the shown values' own range."""
        x = self.shown_input()
        finite = x[np.isfinite(x)]
        pixels = self.source in CROP_SOURCES or self.source == "book"
        if pixels and (finite.size == 0 or (finite.min() >= 0 and finite.max() <= 255)):
            return (0.0, 255.0)
        return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)

    def input_title(self, c: int) -> str:
        """``"Input 4×4"``, ``"Input R 7×9, padded (zeros)"``…"""
        s = self.settings
        names = self.channel_names()
        h, w = s.image.shape[:2]
        title = ("Input" if self.channels == 1 else f"Input {names[c]}") + f" {h}×{w}"
        if any(sum(p) for p in self.pads()):
            word = PAD_MODE_NAMES.get(s.pad_mode, s.pad_mode) if self.mode == "conv" else (
                "ignored" if self.mode in POOLING else "")
            title += f", padded ({word})"
        return title

    def kernel_count(self) -> int:
        """How many kernel grids to show: none when pooling, one per typed channel slice."""
        if self.mode in POOLING:
            return 0
        return 1 if self.kernel.ndim == 2 else self.kernel.shape[2]

    def shown_kernel(self, c: int) -> np.ndarray:
        """Kernel slice ``c`` as it slides (flipped for a mathematical convolution)."""
        k = self.kernel if self.kernel.ndim == 2 else self.kernel[:, :, c]
        return k[::-1, ::-1] if self.settings.flip and self.mode == "conv" else k

    def kernel_title(self, c: int) -> str:
        flipped = self.settings.flip and self.mode == "conv"
        if self.kernel_count() == 1:
            return "Kernel" + (" (flipped)" if flipped else "") + (" — same on R, G, B" if self.channels == 3 else "")
        names = self.channel_names()
        return f"Kernel {names[c] if c < len(names) else c + 1}"

    def output_title(self, c: int) -> str:
        if self.walk is None:
            return "Output"
        out = self.walk.output  # the final output: the running one has its shape
        oh, ow = out.shape[:2]
        return f"Output {oh}×{ow}" + (f" {self.channel_names()[c]}" if out.ndim == 3 and out.shape[2] > 1 else "")

    def operator(self) -> str:
        """The sign between the input and the kernel."""
        return {"max": "max", "avg": "avg", "transpose": "⊛ᵀ"}.get(self.mode, "⊛")

    def formula_head(self) -> tuple[str, str]:
        """The formula's title and what follows it: the general formula, or "(transposed)"."""
        shape = self.output_shape()
        head = "Output size" + (f" {shape[0]}×{shape[1]}" if shape else "")
        if self.mode == "transpose":
            return head, " (transposed)"
        return head, " = ⌊(n + 2p − d(f−1) − 1)/s⌋ + 1"

    # -- hover and click texts ---------------------------------------------------------------
    def is_padding(self, r: int, c: int) -> bool:
        """Whether shown-input cell (r, c) is padding (never in a transposed convolution)."""
        if self.mode == "transpose":
            return False
        (pt, _), (pl, _) = self.pads()
        h, w = self.image.shape[:2]
        return not (pt <= r < pt + h and pl <= c < pl + w)

    def hover_hint(self) -> str:
        return HOVER_HINT if self.n_steps else ""

    def input_hover_text(self, channel: int, r: int, c: int) -> str:
        """What hovering shown-input cell (r, c) says: its value and every output it feeds."""
        x = self.shown_input()
        v = x[r, c] if x.ndim == 2 else x[r, c, channel]
        feeds = self.outputs_fed_by(r, c)
        pad = self.is_padding(r, c)
        where = "Padding cell" if pad else "Input cell"
        if self.mode != "transpose":
            (pt, _), (pl, _) = self.pads()
            coords = f"({r - pt}, {c - pl})" if not pad else f"(padded {r}, {c})"
        else:
            coords = f"({r}, {c})"
        if self.mode in POOLING and pad:
            return f"Padding cell {coords}: pooling never reads padding."
        if not feeds:
            return f"{where} {coords} = {fmt(v)} feeds no output cell (the stride skips it)."
        listed = ", ".join(f"({i},{j})" for i, j in feeds[:MAX_LISTED]) + (" …" if len(feeds) > MAX_LISTED else "")
        return f"{where} {coords} = {fmt(v)} feeds {len(feeds)} output cell{'s' if len(feeds) != 1 else ''}: {listed}"

    def output_hover_text(self, i: int, j: int) -> str | None:
        """What hovering output cell (i, j) says; None when there is nothing to say."""
        out = self.displayed_output()
        if out is None or i < 0:
            return None
        v = out[i, j] if out.ndim == 2 else out[i, j, 0]
        value = "not computed yet" if math.isnan(v) else f"= {fmt(v)}"
        return f"Output ({i},{j}) {value}. Click to jump to its step."

    def jump_text(self, i: int, j: int) -> str:
        """What clicking output cell (i, j) says (the pane jumps to its step)."""
        field = self.inputs_of(i, j)
        if self.mode != "transpose":
            return f"Output ({i},{j}) reads {len(field)} input cell{'s' if len(field) != 1 else ''} (its receptive field)."
        return (f"Output ({i},{j}) receives the kernels of {len(field)} input cell(s); "
                "this is the step where the last of them lands.")

    @staticmethod
    def export_plan_text(n_steps: int, n_frames: int) -> str:
        """What a GIF export of ``n_frames`` frames of an ``n_steps``-step walk shows."""
        if n_frames < n_steps:
            return (f"The walk has {n_steps} steps; the GIF shows {n_frames} of them, evenly spaced "
                    f"(about every {n_steps / n_frames:.0f}th step), to keep the file and the export small.")
        return f"The GIF shows all {n_steps} steps."
