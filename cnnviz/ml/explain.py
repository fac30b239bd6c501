"""How one value of a real Keras model was computed: the window it read, the weights, the bias,
the activation — the stepper's arithmetic, on the user's own model.

:func:`explain_unit` takes a layer's output cell (a name as
:func:`cnnviz.ml.activations.layer_activations` gives it, nested models flattened
``outer/inner``, and an index without the batch axis) and recomputes it by hand from the
previous layer's real activations and the layer's weights, in float64, by slicing arrays: the
model is never run again when the activations of that input are given. Every explanation is
checked against the model's own output; a recomputation that does not match, a layer cnnviz
does not know, or a bad request comes back as ``kind="unsupported"`` with the reason in words —
never an exception to parse, never a wrong number.

Where a layer's input comes from: the model's graph is replayed once on symbolic inputs (the
same walk as ``layer_activations``, so the names are the same) and each layer call's input
tensors are matched to the recorded outputs; that map is kept per model.

:func:`explain_job` is the engine job: it reuses the pass the Activations pane already computed
for that image (:mod:`cnnviz.ml.inspect`'s kept activations) and reopens the model after an
engine restart, as the compute job does.

Importable without Keras: Keras is imported inside the functions.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ExplainRequest", "UnitExplanation", "explain_job", "explain_unit"]

#: The model's input, as ``input_layer`` names it (``input:0``, ``input:1``… for several inputs).
INPUT = "input"


@dataclass
class UnitExplanation:
    """One output value of one layer and how it was computed (see the module docstring)."""

    layer: str                      # as layer_activations() names it (nested: "outer/inner")
    layer_type: str                 # Keras class name, e.g. "Conv2D"
    index: tuple[int, ...]          # into the layer's output without the batch axis
    kind: str                       # conv | depthwise | dense | pool_max | pool_avg | transpose | elementwise | unsupported
    value: float                    # the layer's output at index (== layer_activations there)
    reason: str | None = None       # "unsupported" (and refusals): why, in a student's words
    activation: str | None = None   # fused activation's name ("relu", "linear", ...)
    pre_activation: float | None = None   # sum(window * weights) + bias
    bias: float | None = None       # None when use_bias=False
    input_layer: str | None = None  # whose output the window reads ("input" for the model input)
    window: np.ndarray | None = None
    weights: np.ndarray | None = None
    padding: np.ndarray | None = None      # bool, True where a window cell lies in the padding
    origin: tuple[int, int] | None = None  # (row, col) in the input map of window[0, 0]
    strides: tuple[int, int] | None = None
    dilation: tuple[int, int] | None = None
    winner: tuple[int, ...] | None = None  # pool_max: index of the max in window
    terms: list[tuple[str, float]] = field(default_factory=list)
    formula: str = ""
    stages: list[UnitExplanation] = field(default_factory=list)
    receptive_field: tuple[int, int, int, int] | None = None  # (top, left, height, width) on the input
    # --- additions to the shared contract
    note: str | None = None         # a remark a student should read (e.g. the window is all padding)
    input_index: tuple[int, ...] | None = None  # elementwise: the input cell the value comes from
    sources: np.ndarray | None = None  # transpose: (n, 5) ints (row, col, channel, kernel row, kernel col) per window cell
    channel: int | None = None      # the output channel (conv-like layers)
    input_channels: tuple[int, ...] | None = None  # conv: the input channels window[..., k] reads


@dataclass
class ExplainRequest:
    model_id: int
    source: object          # cnnviz.ml.inspect.LoadRequest | None — to reopen the model after an engine restart
    image: np.ndarray       # the uint8 image as the Activations pane sends it
    scaling: str
    layer: str
    index: tuple[int, ...]


class _Unsupported(Exception):
    """Raised inside a handler: the unit cannot be explained, with the reason in words."""


def _n(v: float) -> str:
    """A number as the formulas write it."""
    return f"{float(v):.4g}"


# ============================================================================ the graph


class _Graph:
    """Each layer call's output name, layer object, output shape and its inputs' names."""

    def __init__(self, model) -> None:
        from cnnviz.ml import activations as A

        keras = A._keras()
        inputs = A._model_inputs(model)
        if not inputs:
            raise _Unsupported(
                "The model does not declare its input shape, so cnnviz cannot follow what each "
                "layer reads; save it with an Input layer.")
        fresh = [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype) for t in inputs]
        trace = _InboundTrace()
        trace.seed(fresh)
        seeds = [INPUT] if len(fresh) == 1 else [f"{INPUT}:{i}" for i in range(len(fresh))]
        for t, k in zip(fresh, range(len(fresh))):
            trace.name_of[id(t)] = k  # the model's k-th input (named below)
        trace.run_model(model, fresh[0] if len(fresh) == 1 else fresh)
        self.names: list[str] = list(trace.names)
        self.layers: list[Any] = list(trace.layers)
        taken = set(self.names)
        # a layer the user named "input" keeps its name; the model's input is then called otherwise
        self.input_names = [f"{n} (the model's input)" if n in taken else n for n in seeds]
        self.inbound: list[list[str | None]] = [
            [self.input_names[n] if isinstance(n, int) else n for n in srcs] for srcs in trace.inbound]
        self.position = {n: i for i, n in enumerate(self.names)}
        self.signature = A._signature(model)


def _inbound_trace_class():
    from cnnviz.ml import activations as A

    class InboundTrace(A._Trace):
        """The activations walk, also noting which recorded outputs each layer call reads."""

        def __init__(self) -> None:
            super().__init__()
            self.inbound: list[list[str | None]] = []
            self.name_of: dict[int, str | int] = {}

        def _record(self, name, layer, args, out) -> None:
            keras = A._keras()
            sources = [self.name_of.get(id(t)) for t in keras.tree.flatten(args) if hasattr(t, "shape")]
            first = len(self.names)
            super()._record(name, layer, args, out)
            for k in range(first, len(self.names)):
                self.inbound.append(sources)
                self.name_of[id(self.tensors[k])] = self.names[k]

    return InboundTrace


_trace_cls = None


def _InboundTrace():  # noqa: N802 - builds the class on first use (Keras imported lazily)
    global _trace_cls
    if _trace_cls is None:
        _trace_cls = _inbound_trace_class()
    return _trace_cls()


_graphs: weakref.WeakKeyDictionary[Any, _Graph] = weakref.WeakKeyDictionary()
_graphs_lock = threading.Lock()


def _graph(model) -> _Graph:
    from cnnviz.ml import activations as A

    with _graphs_lock:
        g = _graphs.get(model)
        if g is None or g.signature != A._signature(model):
            g = _Graph(model)
            _graphs[model] = g
        return g


# ============================================================================ numbers


def _np(v, key=None) -> np.ndarray:
    """A weight as numpy, as stored (slices are cast to float64 where used); ``key`` slices the
    variable first, so a big kernel is not copied whole for one of its columns."""
    from cnnviz.ml.backend import keras

    v = v if key is None else v[key]
    if hasattr(v, "numpy"):  # a variable or an eager tensor: one copy (convert_to_numpy makes more)
        return np.asarray(v.numpy())
    return np.asarray(keras().ops.convert_to_numpy(v))


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if len(v) >= 2 else (int(v[0]), int(v[0]))
    return int(v), int(v)


def _same_pad(n: int, k: int, s: int, d: int) -> int:
    """TensorFlow's 'same' padding before the first row/column (the extra one goes after)."""
    total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2


#: Activations over the channel axis: checking them needs every channel's sum at the cell.
_VECTOR_ACTS = ("softmax", "log_softmax")


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - np.max(v))
    return e / e.sum()


def _erf(v: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(v)


_ACTS = {
    "linear": lambda v: v,
    "relu": lambda v: np.maximum(v, 0.0),
    "relu6": lambda v: np.clip(v, 0.0, 6.0),
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "tanh": np.tanh,
    "softmax": _softmax,
    "log_softmax": lambda v: v - np.max(v) - np.log(np.exp(v - np.max(v)).sum()),
    "elu": lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0))),
    "selu": lambda v: 1.0507009873554805 * np.where(v > 0, v, 1.6732632423543772 * np.expm1(np.minimum(v, 0))),
    "softplus": lambda v: np.logaddexp(0.0, v),
    "softsign": lambda v: v / (1.0 + np.abs(v)),
    "silu": lambda v: v / (1.0 + np.exp(-v)),
    "swish": lambda v: v / (1.0 + np.exp(-v)),
    "gelu": lambda v: 0.5 * v * (1.0 + _erf(v / math.sqrt(2.0))),
    "exponential": np.exp,
    "hard_sigmoid": lambda v: np.clip(v / 6.0 + 0.5, 0.0, 1.0),
    "hard_silu": lambda v: v * np.clip(v / 6.0 + 0.5, 0.0, 1.0),
    "hard_swish": lambda v: v * np.clip(v / 6.0 + 0.5, 0.0, 1.0),
    "leaky_relu": lambda v: np.where(v > 0, v, 0.2 * v),
    "mish": lambda v: v * np.tanh(np.logaddexp(0.0, v)),
}


def activation_name(fn) -> str:
    """The name of a Keras activation function ("relu", "linear", …)."""
    if fn is None:
        return "linear"
    return str(getattr(fn, "__name__", None) or type(fn).__name__)


def apply_activation(name: str, values) -> np.ndarray | None:
    """``name``'s activation of ``values`` (a vector over the channel axis for softmax), in
    float64; None for an activation cnnviz does not know."""
    f = _ACTS.get(name)
    if f is None:
        return None
    return np.asarray(f(np.asarray(values, dtype=np.float64)), dtype=np.float64)


# ============================================================================ conv-like layers


def _check_2d(layer, inp: np.ndarray) -> None:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _Unsupported("cnnviz explains channels-last layers only (this one puts channels first).")
    if inp.ndim != 3:
        raise _Unsupported(f"The layer reads an input of shape {inp.shape}, not a stack of 2-D maps.")


def _window_rows(i: int, n: int, k: int, s: int, d: int, pad: int) -> np.ndarray:
    return i * s - pad + np.arange(k) * d


def _gather(inp: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: float = 0.0):
    """inp[rows][:, cols] with cells outside the map set to ``fill``; also the padding mask."""
    h, w = inp.shape[:2]
    rin = (rows >= 0) & (rows < h)
    cin = (cols >= 0) & (cols < w)
    pad = ~(rin[:, None] & cin[None, :])
    win = np.full((len(rows), len(cols)) + inp.shape[2:], fill, dtype=np.float64)
    if rin.any() and cin.any():
        win[np.ix_(np.flatnonzero(rin), np.flatnonzero(cin))] = inp[np.ix_(rows[rin], cols[cin])]
    return win, pad


def _conv_geometry(layer, inp, out, index):
    k = _pair(layer.kernel_size if hasattr(layer, "kernel_size") else layer.pool_size)
    s = _pair(layer.strides if getattr(layer, "strides", None) is not None else k)
    d = _pair(getattr(layer, "dilation_rate", 1) or 1)
    i, j = int(index[0]), int(index[1])
    same = str(getattr(layer, "padding", "valid")).lower() == "same"
    pt = _same_pad(inp.shape[0], k[0], s[0], d[0]) if same else 0
    pl = _same_pad(inp.shape[1], k[1], s[1], d[1]) if same else 0
    rows = _window_rows(i, inp.shape[0], k[0], s[0], d[0], pt)
    cols = _window_rows(j, inp.shape[1], k[1], s[1], d[1], pl)
    return k, s, d, rows, cols


def _channel_vector(e: UnitExplanation, layer, pre_bias: Callable[[], np.ndarray], part: slice = slice(None)) -> np.ndarray | None:
    """Every output channel's value at the explained cell (``pre_bias()`` plus the layer's bias
    over ``part`` of the channels), only when the activation spans the channel axis (softmax):
    the activation of one unit needs its neighbours then. None otherwise."""
    if e.activation not in _VECTOR_ACTS:
        return None
    vec = pre_bias()
    if e.bias is not None:
        vec = vec + _np(layer.bias)[part]
    return vec


def _bias(layer, o: int) -> float | None:
    if not getattr(layer, "use_bias", False) or getattr(layer, "bias", None) is None:
        return None
    return float(_np(layer.bias, o))


def _not_quantized(layer) -> None:
    if getattr(layer, "quantization_mode", None):
        raise _Unsupported("The layer's weights are quantized; cnnviz explains float weights only.")


def _all_padding_note(pad: np.ndarray) -> str | None:
    if pad.size and pad.all():
        return ("The whole window lies in the padding (zeros), so every product is 0 and the value "
                "is the bias passed through the activation.")
    return None


def _conv(e: UnitExplanation, layer, ins, out) -> np.ndarray:
    inp = ins[0]
    _check_2d(layer, inp)
    _not_quantized(layer)
    if len(e.index) != 3:
        raise _Unsupported("A convolution's output cell is (row, column, channel).")
    k, s, d, rows, cols = _conv_geometry(layer, inp, out, e.index)
    o = e.index[2]
    kshape = tuple(int(v) for v in layer.kernel.shape)  # (kh, kw, cin / groups, cout)
    groups = int(getattr(layer, "groups", 1) or 1)
    per_group_in = kshape[2]
    per_group_out = kshape[3] // groups
    g = o // per_group_out
    chans = np.arange(g * per_group_in, (g + 1) * per_group_in)
    win, pad = _gather(inp[..., chans], rows, cols)
    e.kind = "conv"
    e.window, e.weights, e.padding = win, _f64(_np(layer.kernel, (..., o))), pad
    e.origin, e.strides, e.dilation = (int(rows[0]), int(cols[0])), s, d
    e.channel, e.input_channels = o, tuple(int(c) for c in chans)
    e.bias = _bias(layer, o)
    e.note = _all_padding_note(pad)
    # every output channel of the group at this cell, for activations over the channel axis
    lo, hi = g * per_group_out, (g + 1) * per_group_out

    def group() -> np.ndarray:
        kernel = _np(layer.kernel)
        return _f64(kernel[..., lo:hi].reshape(-1, hi - lo).T @ win.reshape(-1).astype(kernel.dtype))

    vec = _channel_vector(e, layer, group, slice(lo, hi))
    return vec if vec is None or groups == 1 else _fill(out.shape[-1], lo, vec)


def _fill(n: int, lo: int, vec: np.ndarray) -> np.ndarray:
    full = np.full(n, np.nan)
    full[lo:lo + len(vec)] = vec
    return full


def _depthwise_cells(layer, kernel, inp, index):
    k, s, d, rows, cols = _conv_geometry(layer, inp, None, index)
    win, pad = _gather(inp, rows, cols)  # (kh, kw, cin)
    return k, s, d, rows, cols, win, pad


def _depthwise(e: UnitExplanation, layer, ins, out) -> np.ndarray:
    inp = ins[0]
    _check_2d(layer, inp)
    _not_quantized(layer)
    if len(e.index) != 3:
        raise _Unsupported("A convolution's output cell is (row, column, channel).")
    kernel = _np(layer.kernel)  # (kh, kw, cin, m)
    m = kernel.shape[3]
    o = e.index[2]
    c, j = divmod(o, m)
    _, s, d, rows, cols, win, pad = _depthwise_cells(layer, kernel, inp, e.index)
    e.kind = "depthwise"
    e.window, e.weights, e.padding = win[..., c], _f64(kernel[:, :, c, j]), pad
    e.origin, e.strides, e.dilation = (int(rows[0]), int(cols[0])), s, d
    e.channel, e.input_channels = o, (int(c),)
    e.bias = _bias(layer, o)
    e.note = _all_padding_note(pad)
    return _channel_vector(e, layer, lambda: np.einsum("abc,abcm->cm", win, _f64(kernel)).reshape(-1))


def _separable(e: UnitExplanation, layer, ins, out) -> np.ndarray:
    inp = ins[0]
    _check_2d(layer, inp)
    _not_quantized(layer)
    if len(e.index) != 3:
        raise _Unsupported("A convolution's output cell is (row, column, channel).")
    dk = _np(layer.depthwise_kernel)  # (kh, kw, cin, m)
    pk = _np(layer.pointwise_kernel)[0, 0]  # (cin * m, cout)
    m = dk.shape[3]
    o = e.index[2]
    _, s, d, rows, cols, win, pad = _depthwise_cells(layer, dk, inp, e.index)
    dw = np.einsum("abc,abcm->cm", win, _f64(dk)).reshape(-1)  # the depthwise outputs at this cell
    stages = []
    for q in range(dw.size):
        c, jj = divmod(q, m)
        st = UnitExplanation(layer=e.layer, layer_type=e.layer_type, index=(e.index[0], e.index[1], q),
                             kind="depthwise", value=float(dw[q]), activation="linear",
                             pre_activation=float(dw[q]), input_layer=e.input_layer,
                             window=win[..., c], weights=_f64(dk[:, :, c, jj]), padding=pad,
                             origin=(int(rows[0]), int(cols[0])), strides=s, dilation=d,
                             channel=q, input_channels=(int(c),))
        st.formula = (f"depthwise stage {q}: Σ {win.shape[0]}×{win.shape[1]} window of input channel {c} "
                      f"× kernel {jj} = {_n(dw[q])}")
        stages.append(st)
    e.kind = "conv"
    e.stages = stages
    e.window = dw.reshape(1, 1, -1)
    e.weights = _f64(pk[:, o]).reshape(1, 1, -1)
    e.padding = np.zeros((1, 1), bool)
    e.origin, e.strides, e.dilation = (e.index[0], e.index[1]), (1, 1), (1, 1)
    e.channel, e.input_channels = o, tuple(range(dw.size))
    e.bias = _bias(layer, o)
    e.note = _all_padding_note(pad)
    return _channel_vector(e, layer, lambda: _f64(pk).T @ dw)


def _transpose(e: UnitExplanation, layer, ins, out) -> np.ndarray:
    inp = ins[0]
    _check_2d(layer, inp)
    _not_quantized(layer)
    if len(e.index) != 3:
        raise _Unsupported("A convolution's output cell is (row, column, channel).")
    kernel = _np(layer.kernel)  # (kh, kw, cout, cin)
    kh, kw = kernel.shape[:2]
    s = _pair(layer.strides)
    d = _pair(getattr(layer, "dilation_rate", 1) or 1)
    same = str(layer.padding).lower() == "same"
    H, W = out.shape[:2]
    # conv2d_transpose is the gradient of the forward conv2d that maps the output back to the
    # input: output cell (p, q) gets input cell (i, j) through tap (a, b) when p = i·s − pad + a·d
    pt = _same_pad(H, kh, s[0], d[0]) if same else 0
    pl = _same_pad(W, kw, s[1], d[1]) if same else 0
    p, q, o = e.index
    cells = []
    for a in range(kh):
        num = p + pt - a * d[0]
        if num % s[0] or not 0 <= num // s[0] < inp.shape[0]:
            continue
        for b in range(kw):
            numc = q + pl - b * d[1]
            if numc % s[1] or not 0 <= numc // s[1] < inp.shape[1]:
                continue
            cells.append((num // s[0], numc // s[1], a, b))
    cin = inp.shape[2]
    src = np.array([(i, j, c, a, b) for i, j, a, b in cells for c in range(cin)], dtype=np.int64).reshape(-1, 5)
    window = inp[src[:, 0], src[:, 1], src[:, 2]].astype(np.float64) if len(src) else np.zeros(0)
    weights = _f64(kernel[src[:, 3], src[:, 4], o, src[:, 2]]) if len(src) else np.zeros(0)
    e.kind = "transpose"
    e.window, e.weights, e.sources = window, weights, src
    e.strides, e.dilation = s, d
    e.channel = o
    e.bias = _bias(layer, o)
    e.terms = [(f"{e.input_layer}[{i},{j},{c}] × kernel[{a},{b}]", float(v))
               for (i, j, c, a, b), v in zip(src.tolist(), window)]
    if not cells:
        e.note = ("No input cell scatters into this output cell (the stride leaves it between the "
                  "kernel's footprints), so the value is the bias passed through the activation.")
    def scattered() -> np.ndarray:
        vec = np.zeros(kernel.shape[2])
        for i, j, a, b in cells:
            vec += _f64(kernel[a, b]) @ _f64(inp[i, j])
        return vec

    return _channel_vector(e, layer, scattered)


def _dense(e: UnitExplanation, layer, ins, out) -> np.ndarray:
    inp = ins[0]
    _not_quantized(layer)
    u = e.index[-1]
    vec_in = np.asarray(inp[tuple(e.index[:-1])], dtype=np.float64).reshape(-1)
    e.kind = "dense"
    e.window, e.weights = vec_in, _f64(_np(layer.kernel, (slice(None), u)))  # kernel: (n_in, n_out)
    e.channel = u
    e.bias = _bias(layer, u)
    def units() -> np.ndarray:
        # only to check the softmax: no float64 copy; kernelᵀ·x (x·kernel is many times slower
        # through the BLAS that shares the process with TensorFlow)
        kernel = _np(layer.kernel)
        return _f64(kernel.T @ vec_in.astype(kernel.dtype))

    return _channel_vector(e, layer, units)


# ============================================================================ pooling


def _pool(e: UnitExplanation, layer, ins, out) -> None:
    inp = ins[0]
    _check_2d(layer, inp)
    if len(e.index) != 3:
        raise _Unsupported("A pooling layer's output cell is (row, column, channel).")
    is_max = "Max" in type(layer).__name__
    k, s, _, rows, cols = _conv_geometry(layer, inp, out, e.index)
    c = e.index[2]
    win, pad = _gather(inp[..., c], rows, cols)
    e.window, e.padding = win, pad
    e.origin, e.strides, e.channel = (int(rows[0]), int(cols[0])), s, c
    e.input_channels = (int(c),)
    inside = win[~pad]
    if is_max:
        masked = np.where(pad, -np.inf, win)
        w = np.unravel_index(int(np.argmax(masked)), win.shape)
        e.kind, e.winner = "pool_max", (int(w[0]), int(w[1]))
        e.pre_activation = float(win[w])
        e.formula = f"max of the {inside.size} cells in the {k[0]}×{k[1]} window = {_n(win[w])}"
    else:
        e.kind = "pool_avg"
        e.pre_activation = float(inside.mean())
        e.formula = f"mean of the {inside.size} cells in the {k[0]}×{k[1]} window = {_n(inside.sum())} / {inside.size} = {_n(e.pre_activation)}"
    if pad.any():
        e.note = (f"{int(pad.sum())} of the window's cells lie in the padding; "
                  + ("they never win the max." if is_max else "the mean counts only the cells inside the map."))


def _global_pool(e: UnitExplanation, layer, ins, out) -> None:
    inp = ins[0]
    _check_2d(layer, inp)
    c = e.index[-1]
    win = inp[..., c].astype(np.float64)
    e.window, e.padding = win, np.zeros(win.shape, bool)
    e.origin, e.channel, e.input_channels = (0, 0), c, (int(c),)
    if "Max" in type(layer).__name__:
        w = np.unravel_index(int(np.argmax(win)), win.shape)
        e.kind, e.winner, e.pre_activation = "pool_max", (int(w[0]), int(w[1])), float(win[w])
        e.formula = f"max over the whole {win.shape[0]}×{win.shape[1]} map {c} = {_n(win[w])}"
    else:
        e.kind, e.pre_activation = "pool_avg", float(win.mean())
        e.formula = (f"mean over the whole {win.shape[0]}×{win.shape[1]} map {c} = "
                     f"{_n(win.sum())} / {win.size} = {_n(e.pre_activation)}")


# ============================================================================ element-wise layers


def _elementwise(e: UnitExplanation, src: tuple[int, ...] | None) -> None:
    e.kind = "elementwise"
    e.input_index = src


def _batchnorm(e: UnitExplanation, layer, ins, out) -> None:
    inp = ins[0]
    axis = layer.axis if isinstance(layer.axis, int) else (layer.axis[0] if len(layer.axis) == 1 else None)
    if axis is None:
        raise _Unsupported("This BatchNormalization normalises over several axes; cnnviz explains one.")
    axis = axis % (inp.ndim + 1) - 1  # without the batch axis
    c = e.index[axis]
    x = float(inp[e.index])
    mu, var = float(_np(layer.moving_mean)[c]), float(_np(layer.moving_variance)[c])
    g = float(_np(layer.gamma)[c]) if getattr(layer, "scale", True) and layer.gamma is not None else 1.0
    b = float(_np(layer.beta)[c]) if getattr(layer, "center", True) and layer.beta is not None else 0.0
    eps = float(layer.epsilon)
    _elementwise(e, e.index)
    e.channel = c
    e.pre_activation = (x - mu) / math.sqrt(var + eps) * g + b
    e.terms = [("x", x), ("mean μ", mu), ("variance σ²", var), ("ε", eps), ("γ", g), ("β", b)]
    e.formula = (f"(x − μ) / √(σ² + ε) · γ + β = ({_n(x)} − {_n(mu)}) / √({_n(var)} + {_n(eps)}) · "
                 f"{_n(g)} + {_n(b)} = {_n(e.pre_activation)}")


def _activation_layer(e: UnitExplanation, layer, ins, out) -> np.ndarray | None:
    inp = ins[0]
    x = float(inp[e.index])
    name = type(layer).__name__
    _elementwise(e, e.index)
    e.terms = [("x", x)]
    e.pre_activation = x
    if name == "Activation":
        e.activation = activation_name(layer.activation)
        return np.asarray(inp[e.index[:-1]], dtype=np.float64) if len(e.index) else None
    if name == "Softmax":
        e.activation = "softmax"
        if layer.axis not in (-1, inp.ndim):
            raise _Unsupported("This Softmax runs over another axis than the channels; cnnviz explains the last axis.")
        return np.asarray(inp[e.index[:-1]], dtype=np.float64)
    if name == "LeakyReLU":
        slope = float(layer.negative_slope)
        y = x if x > 0 else slope * x
        e.activation = "leaky_relu"
        e.terms.append(("negative slope", slope))
        e.formula = f"leaky_relu(x) = x if x > 0 else {_n(slope)}·x: leaky_relu({_n(x)}) = {_n(y)}"
        _check_own(e, y)
        return None
    if name == "ReLU":
        mx = layer.max_value
        slope = float(layer.negative_slope or 0.0)
        th = float(layer.threshold or 0.0)
        y = x if x >= th else slope * (x - th)
        if mx is not None:
            y = min(y, float(mx))
        e.activation = "relu"
        e.terms += [("negative slope", slope), ("threshold", th)] + ([("max value", float(mx))] if mx is not None else [])
        e.formula = (f"relu({_n(x)})" + (f", capped at {_n(mx)}" if mx is not None else "")
                     + (f", threshold {_n(th)}" if th else "") + (f", slope {_n(slope)} below it" if slope else "")
                     + f" = {_n(y)}")
        _check_own(e, y)
        return None
    raise _Unsupported(f"cnnviz does not know how {name} computes its output.")


def _broadcast(a: np.ndarray, shape) -> np.ndarray:
    a = np.asarray(a)
    return np.broadcast_to(a, shape) if a.shape != tuple(shape) else a


_MERGE_OPS = {
    "Add": ("+", lambda v: float(np.sum(v))),
    "Subtract": ("−", lambda v: float(v[0] - v[1])),
    "Multiply": ("×", lambda v: float(np.prod(v))),
    "Average": (None, lambda v: float(np.mean(v))),
    "Maximum": (None, lambda v: float(np.max(v))),
    "Minimum": (None, lambda v: float(np.min(v))),
}


def _merge(e: UnitExplanation, layer, ins, out, names) -> None:
    name = type(layer).__name__
    sym, f = _MERGE_OPS[name]
    vals = [float(_broadcast(a, out.shape)[e.index]) for a in ins]
    _elementwise(e, e.index)
    e.terms = [(n, v) for n, v in zip(names, vals)]
    e.pre_activation = f(np.array(vals, dtype=np.float64))
    shown = [_n(v) for v in vals]
    if sym:
        e.formula = f" {sym} ".join(shown) + f" = {_n(e.pre_activation)}"
    else:
        e.formula = f"{name.lower()}({', '.join(shown)}) = {_n(e.pre_activation)}"


def _concatenate(e: UnitExplanation, layer, ins, out, names) -> None:
    axis = int(layer.axis) % out.ndim if layer.axis < 0 else int(layer.axis) - 1
    pos = e.index[axis]
    for a, n in zip(ins, names):
        if pos < a.shape[axis]:
            src = e.index[:axis] + (pos,) + e.index[axis + 1:]
            x = float(a[src])
            _elementwise(e, src)
            e.input_layer = n
            e.terms = [(n, x)]
            e.pre_activation = x
            e.formula = (f"position {e.index[axis]} along the joined axis is position {pos} of {n}: "
                         f"{n}{list(src)} = {_n(x)}")
            return
        pos -= a.shape[axis]
    raise _Unsupported("The index lies past the joined inputs.")


def _copy(e: UnitExplanation, inp: np.ndarray, src: tuple[int, ...] | None, what: str, fill: float = 0.0) -> None:
    x = float(inp[src]) if src is not None else fill
    _elementwise(e, src)
    e.terms = [(f"{e.input_layer}{list(src)}", x)] if src is not None else []
    e.pre_activation = x
    e.formula = f"{what} = {_n(x)}"


def _reshape(e: UnitExplanation, layer, ins, out) -> None:
    inp = ins[0]
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise _Unsupported("cnnviz explains channels-last Flatten layers only.")
    flat = int(np.ravel_multi_index(e.index, out.shape))
    src = tuple(int(v) for v in np.unravel_index(flat, inp.shape))
    _copy(e, inp, src, f"value {flat} in reading order is {e.input_layer}{list(src)}")


def _identity(e: UnitExplanation, layer, ins, out) -> None:
    _copy(e, ins[0], e.index, f"{type(layer).__name__} passes its input through unchanged when not training")


def _zero_padding(e: UnitExplanation, layer, ins, out) -> None:
    inp = ins[0]
    _check_2d(layer, inp)
    (top, _), (left, _) = layer.padding
    i, j, c = e.index[0] - top, e.index[1] - left, e.index[2]
    if 0 <= i < inp.shape[0] and 0 <= j < inp.shape[1]:
        _copy(e, inp, (i, j, c), f"the cell shifted by the padding is {e.input_layer}[{i},{j},{c}]")
    else:
        _copy(e, inp, None, "the cell lies in the added border of zeros")


def _cropping(e: UnitExplanation, layer, ins, out) -> None:
    inp = ins[0]
    _check_2d(layer, inp)
    (top, _), (left, _) = layer.cropping
    src = (e.index[0] + top, e.index[1] + left, e.index[2])
    _copy(e, inp, src, f"the cell before cropping is {e.input_layer}{list(src)}")


def _upsampling(e: UnitExplanation, layer, ins, out) -> None:
    inp = ins[0]
    _check_2d(layer, inp)
    if getattr(layer, "interpolation", "nearest") != "nearest":
        raise _Unsupported("cnnviz explains nearest-neighbour upsampling only.")
    sh, sw = _pair(layer.size)
    src = (e.index[0] // sh, e.index[1] // sw, e.index[2])
    _copy(e, inp, src, f"each input cell is repeated {sh}×{sw} times: {e.input_layer}{list(src)}")


def _rescaling(e: UnitExplanation, layer, ins, out) -> None:
    x = float(ins[0][e.index])
    scale = np.broadcast_to(np.asarray(layer.scale, dtype=np.float64), ins[0].shape)[e.index]
    offset = np.broadcast_to(np.asarray(layer.offset, dtype=np.float64), ins[0].shape)[e.index]
    _elementwise(e, e.index)
    e.terms = [("x", x), ("scale", float(scale)), ("offset", float(offset))]
    e.pre_activation = x * float(scale) + float(offset)
    e.formula = f"x · scale + offset = {_n(x)} · {_n(scale)} + {_n(offset)} = {_n(e.pre_activation)}"


def _normalization(e: UnitExplanation, layer, ins, out) -> None:
    inp = ins[0]
    if getattr(layer, "invert", False) or getattr(layer, "mean", None) is None:
        raise _Unsupported("cnnviz explains a Normalization layer that subtracts a mean and divides "
                           "by a deviation; this one does otherwise.")
    x = float(inp[e.index])

    def at(v) -> float:
        a = _np(v)
        a = a.reshape(a.shape[1:]) if a.ndim == inp.ndim + 1 else a
        return float(np.broadcast_to(a, inp.shape)[e.index])

    mu, var = at(layer.mean), at(layer.variance)
    from cnnviz.ml.backend import keras

    eps = float(keras().backend.epsilon())
    sd = max(math.sqrt(var), eps)
    _elementwise(e, e.index)
    e.terms = [("x", x), ("mean μ", mu), ("variance σ²", var)]
    e.pre_activation = (x - mu) / sd
    e.formula = f"(x − μ) / √σ² = ({_n(x)} − {_n(mu)}) / √{_n(var)} = {_n(e.pre_activation)}"


_CONV = {"Conv2D": _conv, "DepthwiseConv2D": _depthwise, "SeparableConv2D": _separable,
         "Conv2DTranspose": _transpose, "Dense": _dense}
_OTHER = {
    "MaxPooling2D": _pool, "AveragePooling2D": _pool,
    "GlobalAveragePooling2D": _global_pool, "GlobalMaxPooling2D": _global_pool,
    "BatchNormalization": _batchnorm,
    "Flatten": _reshape, "Reshape": _reshape,
    "Dropout": _identity, "SpatialDropout2D": _identity, "GaussianNoise": _identity,
    "GaussianDropout": _identity, "AlphaDropout": _identity, "ActivityRegularization": _identity,
    "ZeroPadding2D": _zero_padding, "Cropping2D": _cropping, "UpSampling2D": _upsampling,
    "Rescaling": _rescaling, "Normalization": _normalization,
}
_ACT_LAYERS = ("Activation", "ReLU", "LeakyReLU", "Softmax")


# ============================================================================ explain


def _refuse(layer: str, layer_type: str, index, reason: str, value: float = float("nan")) -> UnitExplanation:
    try:
        idx = tuple(int(i) for i in index)
    except (TypeError, ValueError):
        idx = ()
    return UnitExplanation(layer=layer, layer_type=layer_type, index=idx, kind="unsupported",
                           value=value, reason=reason)


def _check_index(index, shape: tuple[int, ...], layer: str) -> str | None:
    shape_txt = "×".join(str(s) for s in shape)
    if len(index) != len(shape):
        if len(shape) < 3 and len(index) == 3:
            return (f"Layer '{layer}' has no spatial output: it gives {shape_txt} values, not maps of "
                    f"rows × columns × channels, so a cell (row, column, channel) does not exist there. "
                    f"Pick a value by its position ({len(shape)} number{'s' if len(shape) > 1 else ''}).")
        return (f"Layer '{layer}' gives an output of shape {shape_txt}; a position in it has "
                f"{len(shape)} number{'s' if len(shape) > 1 else ''}, not {len(index)}.")
    for axis, (i, n) in enumerate(zip(index, shape)):
        if not 0 <= i < n:
            what = ("row", "column", "channel")[axis] if len(shape) == 3 else f"position {axis + 1}"
            return (f"The index {tuple(index)} is outside layer '{layer}': its output is {shape_txt}, "
                    f"so the {what} goes from 0 to {n - 1}, not {i}.")
    return None


def _receptive_field(model, layer: str, index) -> tuple[int, int, int, int] | None:
    from cnnviz.ml import activations as A

    rf = A.receptive_fields(model).get(layer)
    if rf is None or len(index) != 3:
        return None
    cy = rf.start[0] + index[0] * rf.jump[0]
    cx = rf.start[1] + index[1] * rf.jump[1]
    h, w = rf.size
    return (int(round(cy - (h - 1) / 2)), int(round(cx - (w - 1) / 2)), int(round(h)), int(round(w)))


def explain_unit(model, x, layer_name: str, index, activations: dict | None = None) -> UnitExplanation:
    """How output ``index`` of layer ``layer_name`` was computed for input ``x`` (no batch axis).

    ``activations``: ``{layer name: output without batch axis}`` of a pass already computed for
    ``x`` (then the model is not run). Refusals and layers cnnviz cannot recompute come back
    with ``kind="unsupported"`` and the reason.
    """
    try:
        index = tuple(int(i) for i in (index if isinstance(index, (tuple, list, np.ndarray)) else (index,)))
    except (TypeError, ValueError):
        return _refuse(layer_name, "", (), f"The index {index!r} is not a list of whole numbers.")
    try:
        g = _graph(model)
    except _Unsupported as exc:
        return _refuse(layer_name, "", index, str(exc))
    if layer_name not in g.position:
        near = [n for n in g.names if layer_name.lower() in n.lower() or n.lower() in layer_name.lower()]
        hint = f" Did you mean {', '.join(repr(n) for n in near[:3])}?" if near else ""
        return _refuse(layer_name, "", index, f"The model has no layer named '{layer_name}'.{hint}")
    k = g.position[layer_name]
    layer = g.layers[k]
    ltype = type(layer).__name__
    if activations is None:
        from cnnviz.ml import activations as A

        activations = dict(A.layer_activations(model, x))
    arrays = dict(activations)
    if isinstance(x, (list, tuple)):
        for n, v in zip(g.input_names, x):
            arrays[n] = np.asarray(v)
    else:
        arrays[g.input_names[0]] = np.asarray(x)
    if layer_name not in arrays:
        return _refuse(layer_name, ltype, index, f"The activations of layer '{layer_name}' were not "
                       "computed for this input, so there is nothing to explain yet.")
    out = np.asarray(arrays[layer_name])
    problem = _check_index(index, tuple(out.shape), layer_name)
    if problem:
        return _refuse(layer_name, ltype, index, problem)
    e = UnitExplanation(layer=layer_name, layer_type=ltype, index=index, kind="unsupported",
                        value=float(out[index]))
    names = g.inbound[k]
    if not names or any(n is None or n not in arrays for n in names):
        e.reason = (f"cnnviz cannot tell which values {ltype} '{layer_name}' reads (its input is made "
                    "by an operation that is not a layer), so it does not show how it was computed.")
        return e
    ins = [np.asarray(arrays[n]) for n in names]
    e.input_layer = names[0]
    try:
        _explain_into(e, layer, ins, out, names)
    except _Unsupported as exc:
        return _refuse(layer_name, ltype, index, str(exc), e.value)
    except (AttributeError, TypeError, ValueError, IndexError) as exc:
        return _refuse(layer_name, ltype, index,
                       f"cnnviz could not recompute this {ltype} ({type(exc).__name__}: {exc}).", e.value)
    try:
        e.receptive_field = _receptive_field(model, layer_name, index)
    except Exception:  # a receptive field is a bonus; the explanation stands without it
        e.receptive_field = None
    return e


def _explain_into(e: UnitExplanation, layer, ins, out, names) -> None:
    ltype = type(layer).__name__
    if ltype in _CONV:
        if len(ins) != 1:
            raise _Unsupported(f"This {ltype} reads {len(ins)} inputs; cnnviz explains one.")
        e.activation = activation_name(getattr(layer, "activation", None))
        vec = _CONV[ltype](e, layer, ins, out)
        products = np.asarray(e.window, np.float64) * np.asarray(e.weights, np.float64)
        total = float(products.sum())
        e.pre_activation = total + (e.bias or 0.0)
        _check_activation(e, vec, float(np.abs(products).sum()))
        e.formula = _weighted_formula(e, products, total)
        return
    if ltype in _MERGE_OPS:
        _merge(e, layer, ins, out, names)
    elif ltype == "Concatenate":
        _concatenate(e, layer, ins, out, names)
    elif ltype in _ACT_LAYERS:
        if len(ins) != 1:
            raise _Unsupported(f"This {ltype} reads {len(ins)} inputs; cnnviz explains one.")
        vec = _activation_layer(e, layer, ins, out)
        if e.activation is not None and ltype in ("Activation", "Softmax"):
            x = e.pre_activation
            _check_activation(e, vec if vec is not None and vec.ndim == 1 else np.array([x]), abs(x),
                              channel=e.index[-1] if vec is not None and vec.ndim == 1 else 0)
            e.formula = f"{e.activation}({_n(x)}) = {_n(e.value)}"
        return
    elif ltype in _OTHER:
        if len(ins) != 1:
            raise _Unsupported(f"This {ltype} reads {len(ins)} inputs; cnnviz explains one.")
        _OTHER[ltype](e, layer, ins, out)
    else:
        raise _Unsupported(
            f"cnnviz does not yet show how a {ltype} layer computes its values, so it shows only the "
            "value itself.")
    # element-wise, pooling: the recomputed value must be the model's
    mine = float(e.pre_activation) if e.pre_activation is not None else float("nan")
    scale = max([abs(v) for _, v in e.terms] + [abs(mine), abs(e.value), 1e-3])
    if not abs(mine - e.value) <= 1e-4 * scale + 1e-6:
        raise _Unsupported(_mismatch(e, mine))


def _check_own(e: UnitExplanation, mine: float) -> None:
    scale = max(abs(mine), abs(e.value), abs(e.pre_activation or 0.0), 1e-3)
    if not abs(mine - e.value) <= 1e-4 * scale + 1e-6:
        raise _Unsupported(_mismatch(e, mine))


def _mismatch(e: UnitExplanation, mine: float) -> str:
    return (f"cnnviz's recomputation of this {e.layer_type} gives {_n(mine)}, but the model's output "
            f"is {_n(e.value)}: the layer does something cnnviz does not follow, so the arithmetic is "
            "not shown rather than shown wrong.")


def _check_activation(e: UnitExplanation, vec: np.ndarray | None, scale: float, channel: int | None = None) -> None:
    """The activation of the recomputed sums must give the model's value (or the unit is refused)."""
    ch = e.channel if channel is None else channel
    if e.activation in _VECTOR_ACTS:
        if vec is None or np.isnan(vec).any():
            return
        y = apply_activation(e.activation, vec)
    else:
        y = apply_activation(e.activation, np.array([e.pre_activation]))
        ch = 0
    if y is None:
        return  # an activation cnnviz does not know: the sum is shown, the value is the model's
    mine = float(y[ch])
    scale = max(scale, abs(e.pre_activation or 0.0), abs(e.value), 1e-3)
    if not abs(mine - e.value) <= 1e-4 * scale + 1e-6:
        raise _Unsupported(_mismatch(e, mine))


def _weighted_formula(e: UnitExplanation, products: np.ndarray, total: float) -> str:
    n = products.size
    if e.kind == "conv" and e.stages:
        what = f"{n} depthwise outputs × pointwise weights"
    elif e.kind in ("conv", "depthwise"):
        shape = "×".join(str(s) for s in np.shape(e.window))
        what = f"{n} products (window {shape} × kernel)"
    elif e.kind == "transpose":
        what = f"{n} input cells × their kernel taps"
    else:
        what = f"{n} inputs × weights"
    lines = []
    if e.note:
        lines.append(e.note)
    if e.stages:
        first = e.stages[0]
        kh, kw = np.shape(first.window)
        cin = len({s.input_channels for s in e.stages})
        lines.append(f"depthwise stage: each of the {cin} input channels' {kh}×{kw} window × its "
                     f"{n // max(cin, 1)} kernel(s) gives the {n} depthwise outputs at this cell")
        lines.append("pointwise stage:")
    lines.append(f"Σ {what} = {_n(total)}")
    if e.bias is not None:
        lines.append(f"+ bias {_n(e.bias)} = {_n(e.pre_activation)}")
    act = e.activation or "linear"
    lines.append(f"{act}({_n(e.pre_activation)}) = {_n(e.value)}")
    return "\n".join(lines)


# ============================================================================ the engine job


def explain_job(job, req: ExplainRequest) -> UnitExplanation:
    """Explain one unit for the image the Activations pane shows, from the engine's kept pass of
    that image (the model runs only if the pass is not kept)."""
    from cnnviz.ml import activations as A
    from cnnviz.ml import inspect as I
    from cnnviz.ml.store import ModelGone

    try:
        loaded = I._model(job, req.model_id, req.source)
    except ModelGone as exc:
        return _refuse(req.layer, "", req.index, str(exc))
    model = getattr(loaded, "model", None)
    if model is None:
        return _refuse(req.layer, "", req.index,
                       "This file holds only weights, without the model's layers and how they connect, "
                       "so there is no computation to explain; open the whole model (.keras or a full .h5).")
    spec = A.model_input_spec(model)
    if not spec.is_image:
        return _refuse(req.layer, "", req.index, spec.reason or "The model does not take an image.")
    try:
        p, _key, _kept = I._pass(req.model_id, loaded, req.image, req.scaling, spec)
    except ValueError as exc:  # an unknown scaling, an image the model cannot take
        return _refuse(req.layer, "", req.index, str(exc))
    return explain_unit(model, p.x, req.layer, req.index, activations=p.acts)
