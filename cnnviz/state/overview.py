"""The network overview and the explained unit, as plain Python (no Qt, no Keras).

:class:`OverviewState` holds an :class:`cnnviz.ml.overview.OverviewResult` and the rules of the
"Network" tab: layers are shown a page at a time (a model of 500 layers never builds 500
columns at once), a layer with more maps than a column holds says "+N more", and every column
has its caption (type, output shape, receptive-field size). :func:`rf_rect` places a map cell's
receptive field on the input.

:class:`ExplainState` holds the unit the user clicked (layer, index, the layer's output shape)
and the :class:`cnnviz.ml.explain.UnitExplanation` that came back for it: the words the explain
view shows, the input channels a page at a time, the bar chart of a Dense unit's largest
contributions, and the ←/→ rule (the next output cell along the row, then on the next row).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnviz.state.events import Event
from cnnviz.state.stepper.matrices import fmt

#: Layers shown side by side on one page of the overview.
LAYERS_PER_PAGE = 10
#: Maps drawn in one layer's column before "+N more".
MAPS_PER_COLUMN = 8
#: Input channels of an explained convolution shown at once (window, kernel, products each).
CHANNELS_PER_PAGE = 4
#: Inputs of a Dense unit drawn as bars (the rest are summed into one bar).
TOP_INPUTS = 10
HOVER_HINT = "Hover a map to see its receptive field on the input · click a cell to see how it was computed."
ACTIVATIONS = {"linear": "identity", "relu": "ReLU", "sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax"}


def shape_text(shape: Sequence[int | None] | None) -> str:
    if not shape:
        return "?"
    return "×".join("?" if s is None else str(s) for s in shape)


def rf_size_text(size: tuple[float, float] | None) -> str:
    """The receptive field's size in words: "RF 5×5 px" or that the layer sees it all."""
    if size is None:
        return "RF all"
    h, w = (int(round(s)) for s in size)
    return f"RF {h}×{w} px"


def rf_rect(start: tuple[float, float], jump: tuple[float, float], size: tuple[float, float],
            row: int, col: int) -> tuple[float, float, float, float]:
    """(top, left, height, width) on the input, in pixels, of cell (row, col)'s receptive field.

    Cell (i, j) is centred at ``start + (i, j) * jump`` (pixel centres at integers), so its field
    covers ``size`` pixels around that centre: from ``centre − (size − 1)/2`` to its far edge."""
    cy, cx = start[0] + row * jump[0], start[1] + col * jump[1]
    return (cy - (size[0] - 1) / 2, cx - (size[1] - 1) / 2, float(size[0]), float(size[1]))


def clip_rect(rect: tuple[float, float, float, float], hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """``rect`` cut to an image of ``hw`` pixels (the part of a field that lies on the image)."""
    top, left, h, w = rect
    bottom, right = min(top + h, hw[0]), min(left + w, hw[1])
    top, left = max(top, 0.0), max(left, 0.0)
    return (top, left, max(0.0, bottom - top), max(0.0, right - left))


class OverviewState:
    """The overview's result, its page of layers and the texts of its columns.

    Events: ``changed()`` a new result or page; ``failed(message)`` the overview could not be
    computed (in words)."""

    def __init__(self, layers_per_page: int = LAYERS_PER_PAGE, maps_per_column: int = MAPS_PER_COLUMN) -> None:
        self.layers_per_page = max(1, int(layers_per_page))
        self.maps_per_column = max(1, int(maps_per_column))
        self.result: Any = None  # cnnviz.ml.overview.OverviewResult
        self.page = 0
        self.message = "The overview appears when a model is open and has computed an input."
        self.changed = Event()
        self.failed = Event()

    # -- the result ----------------------------------------------------------------------------
    def set_result(self, res: Any) -> None:
        """Show ``res``; the page is kept when the same model computes another input."""
        same_model = self.result is not None and res is not None and self.result.model_id == res.model_id
        self.result = res
        if not same_model:
            self.page = 0
        self.page = min(self.page, self.pages - 1)
        self.message = ""
        self.changed.emit()

    def clear(self, message: str) -> None:
        """Nothing to show, and why."""
        self.result = None
        self.page = 0
        self.message = message
        self.changed.emit()

    def fail(self, message: str) -> None:
        self.message = f"The overview could not be computed: {message}"
        self.failed.emit(self.message)

    @property
    def layers(self) -> list:
        return list(self.result.layers) if self.result is not None else []

    def layer(self, name: str):
        return next((lay for lay in self.layers if lay.name == name), None)

    # -- pages ---------------------------------------------------------------------------------
    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.layers) / self.layers_per_page))

    def page_layers(self) -> list:
        first = self.page * self.layers_per_page
        return self.layers[first:first + self.layers_per_page]

    def page_text(self) -> str:
        n = len(self.layers)
        if n <= self.layers_per_page:
            return f"{n} layer{'s' if n != 1 else ''}"
        first = self.page * self.layers_per_page
        last = min(n, first + self.layers_per_page)
        return f"layers {first + 1}–{last} of {n} · page {self.page + 1}/{self.pages}"

    def go_to_page(self, page: int) -> bool:
        page = min(max(int(page), 0), self.pages - 1)
        if page == self.page:
            return False
        self.page = page
        self.changed.emit()
        return True

    def next_page(self) -> bool:
        return self.go_to_page(self.page + 1)

    def prev_page(self) -> bool:
        return self.go_to_page(self.page - 1)

    def set_layers_per_page(self, n: int) -> bool:
        """Show ``n`` layers a page (the view fits them to its width); the first layer shown
        stays on the page shown."""
        n = max(1, int(n))
        if n == self.layers_per_page:
            return False
        first = self.page * self.layers_per_page
        self.layers_per_page = n
        self.page = min(first // n, self.pages - 1)
        self.changed.emit()
        return True

    def page_of(self, name: str) -> int | None:
        names = [lay.name for lay in self.layers]
        return names.index(name) // self.layers_per_page if name in names else None

    # -- the texts of a column -----------------------------------------------------------------
    @staticmethod
    def caption(lay) -> list[str]:
        """The lines under a column: type, output shape, receptive field."""
        lines = [lay.type, shape_text(lay.shape)]
        if lay.kind == "maps":
            lines.append(rf_size_text(lay.rf_size))
        elif lay.kind == "vector":
            lines.append("RF all")
        return lines

    def shown_count(self, lay) -> int:
        """How many maps (or numbers) of ``lay`` its column draws."""
        if lay.kind == "maps":
            return min(lay.count, self.maps_per_column, len(lay.thumbs) if lay.thumbs is not None else 0)
        if lay.kind == "vector":
            return len(lay.values) if lay.values is not None else 0
        return 0

    def more_text(self, lay) -> str:
        """"+248 more" when the column leaves maps out; "" when it shows them all."""
        rest = lay.count - self.shown_count(lay) if lay.kind in ("maps", "vector") else 0
        return f"+{rest} more" if rest > 0 else ""

    @staticmethod
    def field_of(lay, row: int, col: int) -> tuple[float, float, float, float] | None:
        """The receptive field of ``lay``'s cell (row, col) on the input (None: the whole input)."""
        if lay.rf_size is None or lay.rf_start is None or lay.rf_jump is None:
            return None
        return rf_rect(lay.rf_start, lay.rf_jump, lay.rf_size, row, col)

    def hover_text(self, lay, channel: int, row: int, col: int) -> str:
        """What the status line says for the hovered cell of map ``channel``."""
        head = f"{lay.name} map #{channel}, cell ({row}, {col})"
        rect = self.field_of(lay, row, col)
        if rect is None:
            return f"{head}: sees the whole input · click to see how it was computed"
        top, left, h, w = rect
        return (f"{head}: receptive field {int(round(h))}×{int(round(w))} px from row {fmt(top)}, "
                f"column {fmt(left)} of the input · click to see how it was computed")


# ============================================================================ the explained unit


def neighbour(index: Sequence[int], shape: Sequence[int], step: int) -> tuple[int, ...] | None:
    """The output cell ``step`` (±1) away along the row: past a row's end the next row begins,
    the channel stays. None past the first or the last cell of the map."""
    index = tuple(int(i) for i in index)
    if len(index) == 3 and len(shape) >= 2:
        h, w = int(shape[0]), int(shape[1])
        flat = index[0] * w + index[1] + step
        if not 0 <= flat < h * w:
            return None
        return (flat // w, flat % w, index[2])
    if len(index) == 1 and shape:
        i = index[0] + step
        return (i,) if 0 <= i < int(shape[0]) else None
    return None


def index_text(index: Sequence[int]) -> str:
    if len(index) == 3:
        return f"map #{index[2]}, cell (row {index[0]}, column {index[1]})"
    if len(index) == 1:
        return f"unit #{index[0]}"
    return "(" + ", ".join(str(i) for i in index) + ")"


KIND_WORDS = {
    "conv": "a convolution: the window of every input channel times its kernel slice, summed, plus the bias",
    "depthwise": "a depthwise convolution: one input channel's window times its own kernel, plus the bias",
    "dense": "a Dense unit: every input times its weight, summed, plus the bias",
    "pool_max": "max pooling: the largest value in the window",
    "pool_avg": "average pooling: the mean of the window",
    "transpose": "a transposed convolution: the input cells that scatter into this cell, each times a weight",
    "elementwise": "an element-wise layer: its inputs at this cell and the formula",
}


class ExplainState:
    """The clicked unit and its explanation.

    Events: ``wanted(layer, index)`` ask the engine for this unit; ``changed()`` redraw."""

    def __init__(self, channels_per_page: int = CHANNELS_PER_PAGE) -> None:
        self.channels_per_page = max(1, int(channels_per_page))
        self.layer: str | None = None
        self.index: tuple[int, ...] | None = None
        self.shape: tuple[int, ...] = ()
        self.explanation: Any = None  # cnnviz.ml.explain.UnitExplanation
        self.channel_page = 0
        self.disabled = ""  # why no unit can be explained for this model ("" when one can)
        self.pending = False
        self.error = ""
        self.wanted = Event()
        self.changed = Event()

    # -- choosing ------------------------------------------------------------------------------
    def disable(self, reason: str) -> None:
        """This model's units cannot be explained (e.g. a weights-only file): say why."""
        self.disabled = reason
        self.layer, self.index, self.explanation = None, None, None
        self.changed.emit()

    def enable(self) -> None:
        self.disabled = ""
        self.layer, self.index, self.explanation, self.error = None, None, None, ""
        self.changed.emit()

    def select(self, layer: str, index: Sequence[int], shape: Sequence[int]) -> bool:
        """Explain ``layer``'s output at ``index``; False (and nothing asked) while disabled."""
        if self.disabled:
            self.changed.emit()
            return False
        self.layer, self.index, self.shape = layer, tuple(int(i) for i in index), tuple(int(s) for s in shape)
        self.pending, self.error = True, ""
        self.wanted.emit(layer, self.index)
        return True

    def can_step(self, step: int) -> bool:
        return (self.index is not None and not self.disabled
                and neighbour(self.index, self.shape, step) is not None)

    def step(self, step: int) -> bool:
        """Walk to the neighbouring output cell (see :func:`neighbour`)."""
        if self.index is None or self.layer is None:
            return False
        nxt = neighbour(self.index, self.shape, step)
        if nxt is None:
            return False
        return self.select(self.layer, nxt, self.shape)

    def set_explanation(self, e: Any) -> None:
        if e is None or (self.layer is not None and (e.layer != self.layer or tuple(e.index) != self.index)):
            return  # an answer for a unit left since
        self.explanation = e
        self.pending = False
        self.channel_page = 0
        self.changed.emit()

    def fail(self, message: str) -> None:
        self.pending = False
        self.error = f"This unit could not be explained: {message}"
        self.changed.emit()

    # -- the words -----------------------------------------------------------------------------
    def title(self) -> str:
        if self.disabled:
            return "Explaining a unit is not available"
        if self.layer is None or self.index is None:
            return "Click any cell of a feature map to see how it was computed"
        e = self.explanation
        kind = f" ({e.layer_type})" if e is not None and e.layer_type else ""
        return f"{self.layer}{kind} — {index_text(self.index)}"

    def kind_text(self) -> str:
        e = self.explanation
        if self.disabled:
            return self.disabled
        if self.error:
            return self.error
        if e is None:
            return "Computing…" if self.pending else ""
        if e.kind == "unsupported":
            return e.reason or "This layer's arithmetic cannot be shown."
        return "This is " + KIND_WORDS.get(e.kind, e.kind) + "."

    def padding_note(self) -> str:
        """Said when every cell of the window lies in the padding."""
        e = self.explanation
        if e is None or e.padding is None or not np.asarray(e.padding).size:
            return ""
        pad = np.asarray(e.padding, dtype=bool)
        if pad.all() and getattr(e, "note", None):
            return e.note
        if pad.all():
            base = "the bias alone" if e.bias is not None else "0"
            return ("The whole window lies in the padding: every input it reads is a 0 added around "
                    f"the map, so the sum is 0 and the result is {base} through the activation.")
        if pad.any():
            return f"{int(pad.sum())} of the window's {pad.size} cells lie in the padding (zeros, marked)."
        return ""

    def window_sum(self) -> float | None:
        """Σ window × weights (the products the view writes), or None without weights."""
        e = self.explanation
        if e is None or e.window is None or e.weights is None:
            return None
        return float(np.sum(np.asarray(e.window, np.float64) * np.asarray(e.weights, np.float64)))

    def result_lines(self) -> list[str]:
        """Sum, bias, activation, result — with their numbers."""
        e = self.explanation
        if e is None or e.kind == "unsupported":
            return []
        lines: list[str] = []
        s = self.window_sum()
        if s is not None:
            lines.append(f"Σ window × kernel = {fmt(s)}")
            if e.bias is not None:
                lines.append(f"+ bias {fmt(e.bias)} = {fmt(s + e.bias)}")
            else:
                lines.append("no bias (use_bias=False)")
        elif e.kind == "pool_max" and e.window is not None:
            lines.append(f"max of the {np.asarray(e.window).size} window values = {fmt(np.max(e.window))}")
        elif e.kind == "pool_avg" and e.window is not None:
            w = np.asarray(e.window)
            lines.append(f"mean of the {w.size} window values = {fmt(float(np.sum(w)))} / {w.size} = "
                         f"{fmt(float(np.mean(w)))}")
        if e.pre_activation is not None and e.activation and e.activation != "linear":
            name = ACTIVATIONS.get(e.activation, e.activation)
            lines.append(f"{name}({fmt(e.pre_activation)}) = {fmt(e.value)}")
        lines.append(f"Result = {fmt(e.value)}")
        return lines

    def formula_text(self) -> str:
        e = self.explanation
        return e.formula if e is not None and e.formula else ""

    # -- the channels of a convolution's window ------------------------------------------------
    def channels(self) -> int:
        e = self.explanation
        if e is None or e.window is None:
            return 0
        w = np.asarray(e.window)
        return int(w.shape[2]) if w.ndim == 3 else 1

    @property
    def channel_pages(self) -> int:
        return max(1, math.ceil(self.channels() / self.channels_per_page))

    def channels_on_page(self) -> list[int]:
        first = self.channel_page * self.channels_per_page
        return list(range(first, min(self.channels(), first + self.channels_per_page)))

    def set_channel_page(self, page: int) -> bool:
        page = min(max(int(page), 0), self.channel_pages - 1)
        if page == self.channel_page:
            return False
        self.channel_page = page
        self.changed.emit()
        return True

    def channel_page_text(self) -> str:
        c = self.channels()
        e = self.explanation
        layer = getattr(e, "input_layer", None)
        src = (", from the model's input" if layer == "input" else f", from {layer}" if layer
               else ", from the previous layer")
        if c <= self.channels_per_page:
            return f"{c} input channel{'s' if c != 1 else ''}{src}"
        ch = self.channels_on_page()
        return (f"Input channels {ch[0]}–{ch[-1]} of {c}{src} · page {self.channel_page + 1}/"
                f"{self.channel_pages}")

    def channel_grids(self, c: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Channel ``c``'s window, kernel slice and products (2-D each)."""
        e = self.explanation
        w = np.asarray(e.window, np.float64)
        w = w[:, :, c] if w.ndim == 3 else w
        if e.weights is None:
            return w, None, None
        k = np.asarray(e.weights, np.float64)
        k = k[:, :, c] if k.ndim == 3 else k
        return w, k, w * k

    def channel_name(self, c: int) -> str:
        """Which input channel window[..., c] is (a grouped convolution reads only some)."""
        e = self.explanation
        chans = getattr(e, "input_channels", None)
        q = chans[c] if chans is not None and c < len(chans) else c
        if getattr(e, "stages", None):  # a separable conv: the window holds the depthwise outputs
            return f"depthwise output {q}"
        return f"input channel {q}"

    def channel_sum_text(self, c: int) -> str:
        _, _, prod = self.channel_grids(c)
        if prod is None:
            return self.channel_name(c)
        return f"{self.channel_name(c)}: Σ window × kernel = {fmt(float(prod.sum()))}"

    # -- a Dense unit --------------------------------------------------------------------------
    def dense_bars(self, top: int = TOP_INPUTS) -> tuple[list[str], np.ndarray]:
        """The largest contributions weight × input (by size), then the rest summed in one bar."""
        e = self.explanation
        if e is None or e.window is None or e.weights is None:
            return [], np.zeros(0, np.float32)
        prod = np.asarray(e.window, np.float64).reshape(-1) * np.asarray(e.weights, np.float64).reshape(-1)
        order = np.argsort(-np.abs(prod), kind="stable")[:top]
        labels = [f"in #{i}" for i in order]
        values = [float(prod[i]) for i in order]
        rest = prod.size - len(order)
        if rest > 0:
            mask = np.ones(prod.size, bool)
            mask[order] = False
            labels.append(f"{rest} others")
            values.append(float(prod[mask].sum()))
        return labels, np.array(values, np.float32)

    # -- the receptive field -------------------------------------------------------------------
    def field_text(self) -> str:
        e = self.explanation
        if e is None or e.receptive_field is None:
            return "This unit sees the whole input." if e is not None and e.kind == "dense" else ""
        top, left, h, w = e.receptive_field
        return (f"Receptive field: {int(h)}×{int(w)} pixels of the input, from row {int(top)}, "
                f"column {int(left)}")

    # -- to the stepper ------------------------------------------------------------------------
    def can_open_in_stepper(self) -> bool:
        e = self.explanation
        return (e is not None and e.kind in ("conv", "depthwise") and e.window is not None
                and e.weights is not None and not self.stepper_refusal())

    def stepper_refusal(self, largest_kernel: int = 15) -> str:
        """Why this window cannot go to the stepper ("" when it can)."""
        e = self.explanation
        if e is None or e.window is None or e.weights is None or e.kind not in ("conv", "depthwise"):
            return "Only a convolution's window and kernel can be opened in the stepper."
        kh, kw = np.asarray(e.window).shape[:2]
        if max(kh, kw) > largest_kernel:
            return (f"The stepper takes kernels up to {largest_kernel}×{largest_kernel}; this one is "
                    f"{kh}×{kw}.")
        return ""

    def stepper_inputs(self, max_channels: int) -> tuple[np.ndarray, np.ndarray, float, str, str]:
        """(window, kernel, bias, activation, note) for the stepper: every input channel when
        they fit ``max_channels``, else the first channel shown on this page alone."""
        e = self.explanation
        w = np.asarray(e.window, np.float64)
        k = np.asarray(e.weights, np.float64)
        note = ""
        bias = float(e.bias or 0.0)
        if w.ndim == 3 and w.shape[2] > max_channels:
            c = self.channels_on_page()[0] if self.channels_on_page() else 0
            w, k = w[:, :, c], k[:, :, c]
            bias = 0.0
            note = (f"The stepper takes at most {max_channels} input channels: channel {c} of "
                    f"{e.window.shape[2]} is loaded alone, without the bias, so its result is that "
                    f"channel's part of the sum ({fmt(float((w * k).sum()))}).")
        act = e.activation if e.activation in ("linear", "relu", "sigmoid", "tanh") else "linear"
        if note and act != "linear":
            act = "linear"
        return w, k, bias, act, note
