"""Convolution arithmetic as Keras/TensorFlow compute it, and its step-by-step walk.

Everything here works on (H, W) or (H, W, C) numpy arrays (one image, channels last) and
computes in float64, so the numbers a student reads in the stepper are exact.

* :func:`conv2d` — ``keras.layers.Conv2D`` / ``tf.nn.conv2d``: cross-correlation (the book's
  sliding dot product); ``flip=True`` gives the mathematical convolution of the book's §1.1.
* :func:`pool2d` — ``MaxPooling2D`` / ``AveragePooling2D``.
* :func:`conv2d_transpose` — ``Conv2DTranspose``: each input cell scatters a scaled copy of the
  kernel into the output, overlaps are summed, then the result is cropped.

Coordinates: an output cell is ``(i, j)`` (row, column). A *padded* coordinate ``(r, c)`` indexes
the input after padding, so the original pixel ``(y, x)`` sits at ``(y + top, x + left)``.

The walks (:class:`ConvWalk`, :class:`PoolWalk`, :class:`TransposeWalk`) give random access to
any step in O(kernel size) without computing the others, so a stepper can jump to step N of a
256×256 input instantly; :func:`conv_steps`, :func:`pool_steps` and
:func:`conv_transpose_steps` iterate over them in row-major order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Padding",
    "ACTIVATIONS",
    "PAD_MODES",
    "output_size",
    "conv_output_shape",
    "pool_output_shape",
    "transpose_output_size",
    "resolve_padding",
    "pad_input",
    "activate",
    "conv2d",
    "pool2d",
    "conv2d_transpose",
    "ConvStep",
    "ConvWalk",
    "conv_steps",
    "PoolStep",
    "PoolWalk",
    "pool_steps",
    "TransposeStep",
    "TransposeWalk",
    "conv_transpose_steps",
]

Padding = str | int | Sequence[int] | Sequence[Sequence[int]]
Pads = tuple[tuple[int, int], tuple[int, int]]

#: pad_mode name -> numpy.pad mode. "reflect" mirrors without repeating the edge pixel.
PAD_MODES: dict[str, str] = {
    "zero": "constant",
    "replicate": "edge",
    "reflect": "reflect",
    "symmetric": "symmetric",
}

ACTIVATIONS: tuple[str, ...] = ("linear", "relu", "sigmoid", "tanh", "leaky_relu")


# --------------------------------------------------------------------------------------------
# argument checking


def _positive_int(value: object, what: str, meaning: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"The {what} must be a whole number ({meaning}); got {value!r}.")
    if value < 1:
        raise ValueError(f"The {what} must be at least 1 ({meaning}); got {value}.")
    return int(value)


def _pair(value: object, what: str, meaning: str) -> tuple[int, int]:
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise ValueError(
                f"The {what} must be one number or a pair (rows, columns); got {value!r}."
            )
        return (_positive_int(value[0], what, meaning), _positive_int(value[1], what, meaning))
    v = _positive_int(value, what, meaning)
    return (v, v)


def _stride(value: object) -> tuple[int, int]:
    return _pair(value, "stride", "how many pixels the window moves each step")


def _dilation(value: object) -> tuple[int, int]:
    return _pair(value, "dilation", "the gap between kernel taps; 1 means no gap")


def _nonneg_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"The {what} must be a whole number of pixels; got {value!r}.")
    if value < 0:
        raise ValueError(f"The {what} cannot be negative; got {value}.")
    return int(value)


def _as_input(x: object, name: str = "input") -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"The {name} must be an array of numbers.") from None
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"The {name} must be (height, width) or (height, width, channels); got shape "
            f"{arr.shape}."
        )
    if arr.size == 0:
        raise ValueError(f"The {name} is empty (shape {arr.shape}).")
    if not np.isfinite(arr).all():
        r, c = np.argwhere(~np.isfinite(arr))[0][:2]
        raise ValueError(
            f"The {name} contains a NaN or infinite value (first at row {r}, column {c}); every "
            "value must be a finite number."
        )
    return arr


def _as_kernel(kernel: object, name: str = "kernel") -> np.ndarray:
    try:
        k = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"The {name} must be a grid of numbers.") from None
    if k.size == 0:
        raise ValueError(f"The {name} is empty (shape {k.shape}): it needs at least one weight.")
    if k.ndim not in (2, 3, 4):
        raise ValueError(
            f"The {name} must be (kh, kw), (kh, kw, channels) or (kh, kw, channels, filters); "
            f"got shape {k.shape}."
        )
    if not np.isfinite(k).all():
        raise ValueError(f"The {name} contains a NaN or infinite weight; all must be finite.")
    return k


def _check_padding_name(padding: str) -> str:
    p = padding.lower()
    if p not in ("valid", "same", "full"):
        raise ValueError(
            f"Unknown padding '{padding}': use 'valid' (no padding), 'same' (output as large as "
            "the input when the stride is 1), 'full', a number of pixels, (rows, columns) or "
            "((top, bottom), (left, right))."
        )
    return p


def _activation_name(activation: str | None) -> str:
    if activation is None:
        return "linear"
    name = str(activation).lower()
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation '{activation}': use None, {', '.join(map(repr, ACTIVATIONS))}."
        )
    return name


def activate(values: np.ndarray | float, activation: str | None) -> np.ndarray | float:
    """Apply an activation by name: None/"linear", "relu", "sigmoid", "tanh", "leaky_relu" (0.2,
    Keras's default slope)."""
    name = _activation_name(activation)
    v = np.asarray(values, dtype=np.float64)
    if name == "linear":
        out = v
    elif name == "relu":
        out = np.maximum(v, 0.0)
    elif name == "leaky_relu":
        out = np.where(v >= 0, v, 0.2 * v)
    elif name == "tanh":
        out = np.tanh(v)
    else:  # sigmoid, written to avoid overflow for large |v|
        e = np.exp(-np.abs(v))
        out = np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return float(out) if np.ndim(values) == 0 else out


# --------------------------------------------------------------------------------------------
# sizes and padding


def output_size(n: int, f: int, p: int = 0, s: int = 1, d: int = 1) -> int:
    """Output length of a convolution: ⌊(n + 2p − d(f−1) − 1) / s⌋ + 1.

    The book's (n − f + 2p)/s + 1 with dilation d and the floor TensorFlow applies. Raises a
    ``ValueError`` when the (dilated) window does not fit in the padded input.
    """
    n = _positive_int(n, "input size", "pixels along this side")
    f = _positive_int(f, "kernel size", "pixels along this side")
    p = _nonneg_int(p, "padding")
    s = _positive_int(s, "stride", "how many pixels the window moves each step")
    d = _positive_int(d, "dilation", "the gap between kernel taps; 1 means no gap")
    span = d * (f - 1) + 1
    if span > n + 2 * p:
        dil = f" with dilation {d} spans {span} pixels, which" if d > 1 else ""
        raise ValueError(
            f"A kernel of size {f}{dil} does not fit in an input of size {n} with padding {p} "
            "on each side: make the kernel smaller or add padding."
        )
    return (n + 2 * p - span) // s + 1


def _same_pads(n: int, span: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + span - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    h: int,
    w: int,
    kh: int,
    kw: int,
    stride: int | tuple[int, int] = 1,
    dilation: int | tuple[int, int] = 1,
    padding: Padding = "valid",
) -> Pads:
    """Padding in pixels, ``((top, bottom), (left, right))``, for any padding specification.

    "valid" adds none. "same" is TensorFlow's rule: the output has ⌈n / stride⌉ cells and the
    total padding ``max((out − 1)·s + d(k − 1) + 1 − n, 0)`` is split with the extra pixel at
    the bottom/right. "full" pads d(k − 1) on every side (every partial overlap is an output).
    An int pads all sides, (ph, pw) pads rows and columns symmetrically, and
    ((top, bottom), (left, right)) is taken as is.
    """
    sh, sw = _stride(stride)
    dh, dw = _dilation(dilation)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    if isinstance(padding, str):
        p = _check_padding_name(padding)
        if p == "valid":
            return ((0, 0), (0, 0))
        if p == "full":
            return ((span_h - 1, span_h - 1), (span_w - 1, span_w - 1))
        return (_same_pads(h, span_h, sh), _same_pads(w, span_w, sw))
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        v = _nonneg_int(padding, "padding")
        return ((v, v), (v, v))
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        a, b = padding
        if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
            if len(a) != 2 or len(b) != 2:
                raise ValueError(
                    f"Padding {padding!r} must look like ((top, bottom), (left, right))."
                )
            return (
                (_nonneg_int(a[0], "padding"), _nonneg_int(a[1], "padding")),
                (_nonneg_int(b[0], "padding"), _nonneg_int(b[1], "padding")),
            )
        ph, pw = _nonneg_int(a, "padding"), _nonneg_int(b, "padding")
        return ((ph, ph), (pw, pw))
    raise ValueError(
        f"Unknown padding {padding!r}: use 'valid', 'same', 'full', a number of pixels, "
        "(rows, columns) or ((top, bottom), (left, right))."
    )


def _fit_output(
    h: int, w: int, kh: int, kw: int, s: tuple[int, int], d: tuple[int, int], pads: Pads,
    what: str = "kernel",
) -> tuple[int, int]:
    (pt, pb), (pl, pr) = pads
    span_h, span_w = d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1
    hp, wp = h + pt + pb, w + pl + pr
    if span_h > hp or span_w > wp:
        covers = f" with dilation {d[0]}×{d[1]} covers {span_h}×{span_w} pixels and" if d != (1, 1) else ""
        pad_text = (
            f"padding {pt}" if pt == pb == pl == pr else f"padding top/bottom {pt}/{pb}, left/right {pl}/{pr}"
        )
        raise ValueError(
            f"The {kh}×{kw} {what}{covers} does not fit in the {h}×{w} input (with {pad_text}): "
            f"make the {what} smaller or add padding."
        )
    return (hp - span_h) // s[0] + 1, (wp - span_w) // s[1] + 1


def conv_output_shape(
    h: int, w: int, kh: int, kw: int, stride: int | tuple[int, int] = 1,
    padding: Padding = "valid", dilation: int | tuple[int, int] = 1,
) -> tuple[int, int]:
    """(OH, OW) of a convolution, with a clear error when the window does not fit."""
    h = _positive_int(h, "input height", "pixels")
    w = _positive_int(w, "input width", "pixels")
    kh = _positive_int(kh, "kernel height", "pixels")
    kw = _positive_int(kw, "kernel width", "pixels")
    s, d = _stride(stride), _dilation(dilation)
    pads = resolve_padding(h, w, kh, kw, s, d, padding)
    return _fit_output(h, w, kh, kw, s, d, pads)


def pool_output_shape(
    h: int, w: int, size: int | tuple[int, int] = 2, stride: int | tuple[int, int] | None = None,
    padding: Padding = "valid",
) -> tuple[int, int]:
    """(OH, OW) of a pooling layer (stride defaults to the pool size, as in Keras)."""
    ph, pw = _pair(size, "pool size", "pixels along each side of the window")
    s = (ph, pw) if stride is None else _stride(stride)
    pads = resolve_padding(h, w, ph, pw, s, 1, padding)
    return _fit_output(h, w, ph, pw, s, (1, 1), pads, "pooling window")


def pad_input(x: np.ndarray, pads: Pads, mode: str = "zero", value: float = 0.0) -> np.ndarray:
    """The input with ``pads = ((top, bottom), (left, right))`` added, as the stepper draws it.

    ``mode``: "zero" (the constant ``value``, 0 by default — what Keras does), "replicate"
    (repeat the edge pixel), "reflect" (mirror without repeating the edge) or "symmetric"
    (mirror repeating it). Channels, if any, are never padded.
    """
    try:
        np_mode = PAD_MODES[mode]
    except KeyError:
        raise ValueError(
            f"Unknown pad_mode '{mode}': use one of {', '.join(map(repr, PAD_MODES))}."
        ) from None
    arr = np.asarray(x)
    (pt, pb), (pl, pr) = pads
    width = [(pt, pb), (pl, pr)] + [(0, 0)] * (arr.ndim - 2)
    if pt == pb == pl == pr == 0:
        return arr.copy()
    if np_mode == "constant":
        return np.pad(arr, width, mode="constant", constant_values=value)
    if np_mode == "reflect" and (arr.shape[0] == 1 and pt + pb > 0 or arr.shape[1] == 1 and pl + pr > 0):
        np_mode = "edge"  # a single row has nothing to mirror
    return np.pad(arr, width, mode=np_mode)


# --------------------------------------------------------------------------------------------
# convolution


@dataclass(frozen=True)
class _ConvSetup:
    x: np.ndarray  # (H, W, C)
    kernel: np.ndarray  # (kh, kw, C, K), already flipped if asked
    squeeze_in: bool  # input was (H, W)
    squeeze_out: bool  # output is (OH, OW)
    kernel_shape_in: tuple[int, ...]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pads: Pads
    pad_mode: str
    out_shape: tuple[int, int]
    bias: np.ndarray  # (K,)
    activation: str


def _setup_conv(x, kernel, stride, padding, pad_mode, dilation, bias, flip, activation) -> _ConvSetup:
    arr = _as_input(x)
    k = _as_kernel(kernel)
    squeeze_in = arr.ndim == 2
    x3 = arr[:, :, None] if squeeze_in else arr
    C = x3.shape[2]
    kshape = k.shape
    if k.ndim == 2:  # one 2-D kernel, used on every channel and summed (seed 001: "expanded to the depth")
        k4 = np.repeat(k[:, :, None, None], C, axis=2)
        squeeze_out = True
    elif k.ndim == 3:
        k4 = k[:, :, :, None]
        squeeze_out = True
    else:
        k4 = k
        squeeze_out = False
    if k4.shape[2] != C:
        raise ValueError(
            f"The kernel has {k4.shape[2]} input channel(s) but the input has {C}: a kernel needs "
            "one slice per input channel (kernel shape (kh, kw, channels[, filters]))."
        )
    if flip:
        k4 = k4[::-1, ::-1]
    if pad_mode not in PAD_MODES:
        raise ValueError(f"Unknown pad_mode '{pad_mode}': use one of {', '.join(map(repr, PAD_MODES))}.")
    s, d = _stride(stride), _dilation(dilation)
    kh, kw = k4.shape[:2]
    H, W = x3.shape[:2]
    pads = resolve_padding(H, W, kh, kw, s, d, padding)
    out_shape = _fit_output(H, W, kh, kw, s, d, pads)
    K = k4.shape[3]
    b = _bias(bias, K)
    return _ConvSetup(
        x3, np.ascontiguousarray(k4), squeeze_in, squeeze_out, kshape, s, d, pads, pad_mode,
        out_shape, b, _activation_name(activation),
    )


def _bias(bias: object, K: int) -> np.ndarray:
    if bias is None:
        return np.zeros(K)
    try:
        b = np.asarray(bias, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError("The bias must be a number or one number per filter.") from None
    if b.size == 1:
        b = np.repeat(b, K)
    if b.size != K:
        raise ValueError(f"The bias has {b.size} values but there are {K} filters: give one per filter.")
    if not np.isfinite(b).all():
        raise ValueError("The bias contains a NaN or infinite value.")
    return b


def _conv_core(xp: np.ndarray, k4: np.ndarray, s, d, out_shape) -> np.ndarray:
    """Shift-and-add: one vectorised multiply-accumulate per kernel tap (memory O(output))."""
    OH, OW = out_shape
    kh, kw, C, K = k4.shape
    out = np.zeros((OH, OW, K))
    rs = (OH - 1) * s[0] + 1
    cs = (OW - 1) * s[1] + 1
    for u in range(kh):
        for v in range(kw):
            r0, c0 = u * d[0], v * d[1]
            patch = xp[r0 : r0 + rs : s[0], c0 : c0 + cs : s[1], :]
            w = k4[u, v]
            if C == 1 and K == 1:
                out[:, :, 0] += patch[:, :, 0] * w[0, 0]
            elif K == 1:
                out[:, :, 0] += patch @ w[:, 0]
            else:
                out += patch @ w
    return out


def conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: Padding = "valid",
    pad_mode: str = "zero",
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray | None = None,
    flip: bool = False,
    activation: str | None = None,
) -> np.ndarray:
    """2-D convolution exactly as ``keras.layers.Conv2D`` / ``tf.nn.conv2d`` compute it.

    ``x`` is (H, W) or (H, W, C). ``kernel`` is (kh, kw) — applied to every channel and summed,
    as seed 001 describes an RGB filter — (kh, kw, C), or (kh, kw, C, K) in Keras's layout.
    Returns float64 (OH, OW), or (OH, OW, K) for a 4-D kernel. ``padding``: "valid", "same"
    (TensorFlow's rule, extra pixel bottom/right), "full", int, (ph, pw) or
    ((top, bottom), (left, right)); ``pad_mode`` fills it with zeros (Keras), "replicate",
    "reflect" or "symmetric". ``flip=True`` flips the kernel for the mathematical convolution.
    ``bias`` (scalar or one per filter) is added, then ``activation``.
    """
    st = _setup_conv(x, kernel, stride, padding, pad_mode, dilation, bias, flip, activation)
    xp = pad_input(st.x, st.pads, st.pad_mode)
    out = _conv_core(xp, st.kernel, st.stride, st.dilation, st.out_shape) + st.bias
    out = activate(out, st.activation)
    return out[:, :, 0] if st.squeeze_out else out


@dataclass(frozen=True)
class ConvStep:
    """One output cell of a convolution, with every number that went into it.

    Shapes follow the call: ``window`` is (kh, kw) for a 2-D input, else (kh, kw, C);
    ``products`` is ``window × kernel`` with the kernel's channels, i.e. (kh, kw), (kh, kw, C) or
    (kh, kw, C, K); ``channel_sums`` is the sum of products per input channel, (C,) or (C, K);
    ``bias``, ``pre_activation`` and ``value`` are floats for a single filter, else (K,) arrays.
    ``pre_activation = products.sum() + bias`` and ``value = activation(pre_activation)``.
    """

    index: int
    out_pos: tuple[int, int]
    window_origin: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    window: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    channel_sums: np.ndarray
    bias: float | np.ndarray
    pre_activation: float | np.ndarray
    value: float | np.ndarray
    activation: str


class _WalkBase:
    out_shape: tuple[int, int]

    def __len__(self) -> int:
        return self.out_shape[0] * self.out_shape[1]

    def _index(self, n: int) -> int:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"step index must be an int, not {type(n).__name__}")
        total = len(self)
        if n < 0:
            n += total
        if not 0 <= n < total:
            raise IndexError(f"step {n} is out of range: there are {total} steps (0 to {total - 1}).")
        return int(n)

    def position(self, n: int) -> tuple[int, int]:
        """The output cell (i, j) of step ``n`` (row-major order)."""
        n = self._index(n)
        return divmod(n, self.out_shape[1])

    def index_of(self, i: int, j: int) -> int:
        """The step number of output cell (i, j)."""
        OH, OW = self.out_shape
        if not (0 <= i < OH and 0 <= j < OW):
            raise IndexError(f"output cell ({i}, {j}) is outside the {OH}×{OW} output.")
        return int(i) * OW + int(j)

    def __getitem__(self, n):
        if isinstance(n, slice):
            return [self._step(k) for k in range(*n.indices(len(self)))]
        return self._step(self._index(n))

    def __iter__(self) -> Iterator:
        for n in range(len(self)):
            yield self._step(n)

    def step_at(self, i: int, j: int):
        """The step that computes output cell (i, j)."""
        return self._step(self.index_of(i, j))


class ConvWalk(_WalkBase):
    """Random access to the steps of a convolution: ``walk[n]``, ``walk.step_at(i, j)``.

    Takes the same arguments as :func:`conv2d`. Attributes: ``padded`` (the padded input, what a
    stepper draws, (Hp, Wp) or (Hp, Wp, C)), ``pads`` ((top, bottom), (left, right)), ``stride``,
    ``dilation``, ``kernel`` (as used: flipped when ``flip=True``, same shape as given or
    broadcast over channels for a 2-D kernel on a colour input), ``out_shape`` (OH, OW) and
    ``output`` (the whole result, what :func:`conv2d` returns).
    """

    def __init__(
        self,
        x: np.ndarray,
        kernel: np.ndarray,
        stride: int | tuple[int, int] = 1,
        padding: Padding = "valid",
        pad_mode: str = "zero",
        dilation: int | tuple[int, int] = 1,
        bias: float | np.ndarray | None = None,
        flip: bool = False,
        activation: str | None = None,
    ) -> None:
        st = _setup_conv(x, kernel, stride, padding, pad_mode, dilation, bias, flip, activation)
        self._st = st
        self.pads: Pads = st.pads
        self.stride: tuple[int, int] = st.stride
        self.dilation: tuple[int, int] = st.dilation
        self.out_shape: tuple[int, int] = st.out_shape
        self.activation: str = st.activation
        self.pad_mode: str = st.pad_mode
        self._xp = pad_input(st.x, st.pads, st.pad_mode)
        self.padded: np.ndarray = self._xp[:, :, 0] if st.squeeze_in else self._xp
        k4 = st.kernel
        if st.squeeze_out:
            k3 = k4[:, :, :, 0]
            self.kernel: np.ndarray = k3[:, :, 0] if st.squeeze_in else k3
        else:
            self.kernel = k4
        self.kernel_size: tuple[int, int] = (k4.shape[0], k4.shape[1])
        self.n_filters: int = k4.shape[3]
        self.bias = st.bias
        pre = _conv_core(self._xp, k4, st.stride, st.dilation, st.out_shape) + st.bias
        out = activate(pre, st.activation)
        self.pre_activation: np.ndarray = pre[:, :, 0] if st.squeeze_out else pre
        self.output: np.ndarray = out[:, :, 0] if st.squeeze_out else out
        kh, kw = self.kernel_size
        self._du = np.arange(kh) * st.dilation[0]
        self._dv = np.arange(kw) * st.dilation[1]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of the unpadded input."""
        st = self._st
        return st.x.shape[:2] if st.squeeze_in else st.x.shape

    def window_origin(self, i: int, j: int) -> tuple[int, int]:
        """Top-left padded coordinate of the window for output cell (i, j)."""
        return i * self.stride[0], j * self.stride[1]

    def receptive_field(self, i: int, j: int) -> list[tuple[int, int]]:
        """The padded-input cells (r, c) read for output cell (i, j), row-major (kh·kw cells)."""
        self.index_of(i, j)
        r0, c0 = self.window_origin(i, j)
        return [(r0 + int(du), c0 + int(dv)) for du in self._du for dv in self._dv]

    def outputs_fed_by(self, r: int, c: int) -> list[tuple[int, int]]:
        """The output cells (i, j) whose window reads padded-input cell (r, c)."""
        rows = _hits(r, self._du, self.stride[0], self.out_shape[0])
        cols = _hits(c, self._dv, self.stride[1], self.out_shape[1])
        return [(i, j) for i in rows for j in cols]

    def is_padding(self, r: int, c: int) -> bool:
        """True when padded cell (r, c) lies in the padding, not on an input pixel."""
        (pt, _), (pl, _) = self.pads
        H, W = self._st.x.shape[:2]
        return not (pt <= r < pt + H and pl <= c < pl + W)

    def to_input(self, r: int, c: int) -> tuple[int, int]:
        """Input pixel (y, x) of padded cell (r, c) (may be outside the input for padding)."""
        return r - self.pads[0][0], c - self.pads[1][0]

    def output_until(self, n: int) -> np.ndarray:
        """The output with only steps 0..n filled in and NaN elsewhere (the stepper's progress)."""
        n = self._index(n)
        out = self.output.astype(np.float64, copy=True)
        flat = out.reshape(len(self), -1)
        flat[n + 1 :] = np.nan
        return out

    def _step(self, n: int) -> ConvStep:
        st = self._st
        i, j = divmod(n, self.out_shape[1])
        r0, c0 = i * self.stride[0], j * self.stride[1]
        rows = r0 + self._du
        cols = c0 + self._dv
        win = self._xp[rows[:, None], cols[None, :], :]  # (kh, kw, C)
        prods4 = win[:, :, :, None] * st.kernel  # (kh, kw, C, K)
        sums = prods4.sum(axis=(0, 1))  # (C, K)
        pre = sums.sum(axis=0) + st.bias  # (K,)
        val = np.asarray(activate(pre, st.activation))
        if st.squeeze_out:
            prods = prods4[:, :, :, 0]
            if st.squeeze_in:
                prods = prods[:, :, 0]
            sums_out = sums[:, 0]
            bias: float | np.ndarray = float(st.bias[0])
            pre_out: float | np.ndarray = float(pre[0])
            value: float | np.ndarray = float(val[0])
        else:
            prods, sums_out, bias, pre_out, value = prods4, sums, st.bias.copy(), pre, val
        return ConvStep(
            index=n,
            out_pos=(i, j),
            window_origin=(int(r0), int(c0)),
            rows=tuple(int(r) for r in rows),
            cols=tuple(int(c) for c in cols),
            window=win[:, :, 0] if st.squeeze_in else win,
            kernel=self.kernel,
            products=prods,
            channel_sums=sums_out,
            bias=bias,
            pre_activation=pre_out,
            value=value,
            activation=st.activation,
        )


def _hits(r: int, offsets: np.ndarray, s: int, n_out: int) -> list[int]:
    """Output indices i with i·s + offset == r for some tap offset, in increasing order."""
    found = set()
    for off in offsets:
        q = r - int(off)
        if q >= 0 and q % s == 0 and q // s < n_out:
            found.add(q // s)
    return sorted(found)


def conv_steps(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: Padding = "valid",
    pad_mode: str = "zero",
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray | None = None,
    flip: bool = False,
    activation: str | None = None,
) -> Iterator[ConvStep]:
    """One :class:`ConvStep` per output cell, row-major; same arguments as :func:`conv2d`.

    For random access build a :class:`ConvWalk` instead.
    """
    walk = ConvWalk(x, kernel, stride, padding, pad_mode, dilation, bias, flip, activation)
    return iter(walk)


# --------------------------------------------------------------------------------------------
# pooling


def _pool_op(op: str) -> str:
    name = str(op).lower()
    if name in ("max",):
        return "max"
    if name in ("avg", "average", "mean"):
        return "avg"
    raise ValueError(f"Unknown pooling op '{op}': use 'max' or 'avg'.")


def _pool_sums(
    x3: np.ndarray, size: tuple[int, int], s: tuple[int, int], pads: Pads,
    out_shape: tuple[int, int], op: str,
) -> np.ndarray:
    OH, OW = out_shape
    rs, cs = (OH - 1) * s[0] + 1, (OW - 1) * s[1] + 1
    if op == "max":
        xp = pad_input(x3, pads, "zero", value=-np.inf)
        out = np.full((OH, OW, x3.shape[2]), -np.inf)
        for u in range(size[0]):
            for v in range(size[1]):
                np.maximum(out, xp[u : u + rs : s[0], v : v + cs : s[1]], out=out)
        return out
    xp = pad_input(x3, pads, "zero")
    ones = pad_input(np.ones(x3.shape[:2]), pads, "zero")
    total = np.zeros((OH, OW, x3.shape[2]))
    count = np.zeros((OH, OW))
    for u in range(size[0]):
        for v in range(size[1]):
            total += xp[u : u + rs : s[0], v : v + cs : s[1]]
            count += ones[u : u + rs : s[0], v : v + cs : s[1]]
    return total / count[:, :, None]


@dataclass(frozen=True)
class _PoolSetup:
    x: np.ndarray
    squeeze: bool
    size: tuple[int, int]
    stride: tuple[int, int]
    pads: Pads
    out_shape: tuple[int, int]
    op: str


def _setup_pool(x, size, stride, padding, op) -> _PoolSetup:
    arr = _as_input(x)
    x3 = arr[:, :, None] if arr.ndim == 2 else arr
    ps = _pair(size, "pool size", "pixels along each side of the window")
    s = ps if stride is None else _stride(stride)
    o = _pool_op(op)
    H, W = x3.shape[:2]
    pads = resolve_padding(H, W, ps[0], ps[1], s, 1, padding)
    out_shape = _fit_output(H, W, ps[0], ps[1], s, (1, 1), pads, "pooling window")
    # a window made only of padding has nothing to pool (Keras would give -inf or NaN)
    (pt, pb), (pl, pr) = pads
    if max(pt, pb) >= ps[0] or max(pl, pr) >= ps[1]:
        raise ValueError(
            f"Padding {pads} is as large as the {ps[0]}×{ps[1]} pooling window, so some windows "
            "would hold only padding: use less padding than the window size."
        )
    return _PoolSetup(x3, arr.ndim == 2, ps, s, pads, out_shape, o)


def pool2d(
    x: np.ndarray,
    size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
    padding: Padding = "valid",
    op: str = "max",
) -> np.ndarray:
    """Max or average pooling exactly as ``MaxPooling2D`` / ``AveragePooling2D`` compute it.

    Each channel is pooled on its own. ``stride`` defaults to ``size`` (Keras's default).
    Padded cells never take part: they never win a max and are left out of an average's count
    (TensorFlow's "same" average divides by the number of real pixels in the window).
    Returns float64 (OH, OW) or (OH, OW, C).
    """
    st = _setup_pool(x, size, stride, padding, op)
    out = _pool_sums(st.x, st.size, st.stride, st.pads, st.out_shape, st.op)
    return out[:, :, 0] if st.squeeze else out


@dataclass(frozen=True)
class PoolStep:
    """One output cell of a pooling layer.

    ``window`` holds the padded window (size (ph, pw), or (ph, pw, C)); padded cells are NaN
    because they take no part. ``valid`` is the (ph, pw) mask of real input pixels. For "max",
    ``winner`` is the padded coordinate (r, c) of the cell that won (first in row-major order on
    ties), one per channel as a list for a colour input. ``count`` is how many real pixels were
    averaged. ``value`` is a float, or (C,) array for a colour input.
    """

    index: int
    out_pos: tuple[int, int]
    window_origin: tuple[int, int]
    window: np.ndarray
    valid: np.ndarray
    op: str
    value: float | np.ndarray
    winner: tuple[int, int] | list[tuple[int, int]] | None
    count: int


class PoolWalk(_WalkBase):
    """Random access to pooling steps; same arguments as :func:`pool2d`.

    Attributes: ``padded`` (input with NaN in the padding), ``pads``, ``size``, ``stride``,
    ``out_shape``, ``output``.
    """

    def __init__(
        self,
        x: np.ndarray,
        size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] | None = None,
        padding: Padding = "valid",
        op: str = "max",
    ) -> None:
        st = _setup_pool(x, size, stride, padding, op)
        self._st = st
        self.size, self.stride, self.pads, self.out_shape, self.op = (
            st.size, st.stride, st.pads, st.out_shape, st.op,
        )
        self._xp = pad_input(st.x, st.pads, "zero", value=np.nan)
        self.padded: np.ndarray = self._xp[:, :, 0] if st.squeeze else self._xp
        out = _pool_sums(st.x, st.size, st.stride, st.pads, st.out_shape, st.op)
        self.output: np.ndarray = out[:, :, 0] if st.squeeze else out
        self._du = np.arange(st.size[0])
        self._dv = np.arange(st.size[1])

    def receptive_field(self, i: int, j: int) -> list[tuple[int, int]]:
        """Padded cells (r, c) in the window of output cell (i, j), row-major."""
        self.index_of(i, j)
        r0, c0 = i * self.stride[0], j * self.stride[1]
        return [(r0 + int(u), c0 + int(v)) for u in self._du for v in self._dv]

    def outputs_fed_by(self, r: int, c: int) -> list[tuple[int, int]]:
        """Output cells whose window contains padded cell (r, c)."""
        rows = _hits(r, self._du, self.stride[0], self.out_shape[0])
        cols = _hits(c, self._dv, self.stride[1], self.out_shape[1])
        return [(i, j) for i in rows for j in cols]

    def _step(self, n: int) -> PoolStep:
        st = self._st
        i, j = divmod(n, self.out_shape[1])
        r0, c0 = i * st.stride[0], j * st.stride[1]
        win = self._xp[r0 : r0 + st.size[0], c0 : c0 + st.size[1], :]
        valid = ~np.isnan(win[:, :, 0])
        count = int(valid.sum())
        vals = self.output[i, j] if st.squeeze else self.output[i, j, :]
        winner: tuple[int, int] | list[tuple[int, int]] | None = None
        if st.op == "max":
            filled = np.where(np.isnan(win), -np.inf, win)
            flat = filled.reshape(-1, win.shape[2]).argmax(axis=0)
            cells = [(r0 + int(f) // st.size[1], c0 + int(f) % st.size[1]) for f in flat]
            winner = cells[0] if st.squeeze else cells
        return PoolStep(
            index=n,
            out_pos=(i, j),
            window_origin=(r0, c0),
            window=win[:, :, 0].copy() if st.squeeze else win.copy(),
            valid=valid,
            op=st.op,
            value=float(vals) if st.squeeze else np.array(vals),
            winner=winner,
            count=count,
        )


def pool_steps(
    x: np.ndarray,
    size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
    padding: Padding = "valid",
    op: str = "max",
) -> Iterator[PoolStep]:
    """One :class:`PoolStep` per output cell, row-major; same arguments as :func:`pool2d`."""
    return iter(PoolWalk(x, size, stride, padding, op))


# --------------------------------------------------------------------------------------------
# transposed convolution


def transpose_output_size(
    n: int, f: int, s: int = 1, padding: str = "valid", output_padding: int | None = None,
    d: int = 1,
) -> int:
    """Output length of ``Conv2DTranspose`` (Keras's rule).

    "valid": (n − 1)·s + max(k, s) without ``output_padding``, else (n − 1)·s + k + op;
    "same": n·s without ``output_padding``, else (n − 1)·s + k mod 2 + op; with k = d(f − 1) + 1.
    """
    n = _positive_int(n, "input size", "pixels along this side")
    f = _positive_int(f, "kernel size", "pixels along this side")
    s = _positive_int(s, "stride", "how many pixels the window moves each step")
    d = _positive_int(d, "dilation", "the gap between kernel taps; 1 means no gap")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(
            f"Unknown padding {padding!r} for a transposed convolution: use 'valid' or 'same'."
        )
    k = d * (f - 1) + 1
    if output_padding is not None:
        op = _nonneg_int(output_padding, "output padding")
        if op >= s:
            raise ValueError(
                f"The output padding ({op}) must be smaller than the stride ({s}): it only picks "
                "which of the output sizes that map back to the input is produced."
            )
    if padding.lower() == "valid":
        return (n - 1) * s + (max(k, s) if output_padding is None else k + output_padding)
    if output_padding is None:
        return n * s
    return (n - 1) * s + k % 2 + output_padding


@dataclass(frozen=True)
class _TransposeSetup:
    x: np.ndarray  # (H, W, C)
    kernel: np.ndarray  # (kh, kw, K, C)
    squeeze_in: bool
    squeeze_out: bool
    stride: tuple[int, int]
    dilation: tuple[int, int]
    out_shape: tuple[int, int]
    crop: tuple[int, int]  # (top, left) cut from the scatter canvas
    canvas_shape: tuple[int, int]
    bias: np.ndarray
    activation: str


def _setup_transpose(x, kernel, stride, padding, output_padding, dilation, bias, activation):
    arr = _as_input(x)
    k = _as_kernel(kernel)
    squeeze_in = arr.ndim == 2
    x3 = arr[:, :, None] if squeeze_in else arr
    C = x3.shape[2]
    if k.ndim == 2:
        k4 = np.repeat(k[:, :, None, None], C, axis=3)
        squeeze_out = True
    elif k.ndim == 3:  # (kh, kw, C): one output channel
        k4 = k[:, :, None, :]
        squeeze_out = True
    else:
        k4 = k
        squeeze_out = False
    if k4.shape[3] != C:
        raise ValueError(
            f"The transposed-convolution kernel has {k4.shape[3]} input channel(s) (its last axis "
            f"in Keras's (kh, kw, filters, channels) layout) but the input has {C}."
        )
    s, d = _stride(stride), _dilation(dilation)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(
            f"Unknown padding {padding!r} for a transposed convolution: use 'valid' or 'same'."
        )
    ops: tuple[int | None, int | None]
    if output_padding is None:
        ops = (None, None)
    elif isinstance(output_padding, (tuple, list)):
        if len(output_padding) != 2:
            raise ValueError("The output padding must be one number or a pair (rows, columns).")
        ops = (output_padding[0], output_padding[1])
    else:
        ops = (output_padding, output_padding)
    H, W = x3.shape[:2]
    kh, kw = k4.shape[:2]
    out_shape = []
    crop = []
    canvas = []
    for n, f, si, di, op in ((H, kh, s[0], d[0], ops[0]), (W, kw, s[1], d[1], ops[1])):
        o = transpose_output_size(n, f, si, padding, op, di)
        span = di * (f - 1) + 1
        if padding.lower() == "same":
            # TF computes the gradient of a "same" conv2d whose input has length o; that forward
            # conv pads `before` pixels at the top/left, which is what is cut off here.
            if -(-o // si) != n:
                raise ValueError(
                    f"With padding 'same', stride {si} and output padding {op}, the output would "
                    f"have {o} pixels, which a stride-{si} 'same' convolution cannot map back to "
                    f"{n}: use a larger output padding."
                )
            before = max((n - 1) * si + span - o, 0) // 2
        else:
            before = 0
        full = (n - 1) * si + span
        out_shape.append(o)
        crop.append(before)
        canvas.append(max(full, before + o))
    K = k4.shape[2]
    return _TransposeSetup(
        x3, np.ascontiguousarray(k4), squeeze_in, squeeze_out, s, d, (out_shape[0], out_shape[1]),
        (crop[0], crop[1]), (canvas[0], canvas[1]), _bias(bias, K), _activation_name(activation),
    )


def _transpose_canvas(x3: np.ndarray, st: _TransposeSetup) -> np.ndarray:
    H, W, C = x3.shape
    kh, kw, K, _ = st.kernel.shape
    canvas = np.zeros((st.canvas_shape[0], st.canvas_shape[1], K))
    rs, cs = (H - 1) * st.stride[0] + 1, (W - 1) * st.stride[1] + 1
    for u in range(kh):
        for v in range(kw):
            r0, c0 = u * st.dilation[0], v * st.dilation[1]
            canvas[r0 : r0 + rs : st.stride[0], c0 : c0 + cs : st.stride[1]] += x3 @ st.kernel[u, v].T
    return canvas


def _transpose_finish(canvas: np.ndarray, st: _TransposeSetup, with_bias: bool = True) -> np.ndarray:
    (ct, cl), (oh, ow) = st.crop, st.out_shape
    out = canvas[ct : ct + oh, cl : cl + ow]
    if with_bias:
        out = activate(out + st.bias, st.activation)
    return out[:, :, 0] if st.squeeze_out else out


def conv2d_transpose(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: str = "valid",
    output_padding: int | tuple[int, int] | None = None,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray | None = None,
    activation: str | None = None,
) -> np.ndarray:
    """Transposed convolution exactly as ``keras.layers.Conv2DTranspose`` computes it.

    Every input cell multiplies the kernel and adds it into the output at
    (i·stride, j·stride) (book §6.3); overlaps are summed and the result is cropped to the
    size :func:`transpose_output_size` gives ("same" crops from the top/left as TensorFlow does).
    ``kernel`` is (kh, kw), (kh, kw, C) or Keras's (kh, kw, filters, channels). Returns float64
    (OH, OW) or (OH, OW, filters).
    """
    st = _setup_transpose(x, kernel, stride, padding, output_padding, dilation, bias, activation)
    return _transpose_finish(_transpose_canvas(st.x, st), st)


@dataclass(frozen=True)
class TransposeStep:
    """One input cell of a transposed convolution scattering its scaled kernel into the output.

    ``in_pos`` is the input cell (i, j) and ``value`` its value (float, or (C,) for a colour
    input). ``contribution`` is the scaled kernel it adds, summed over input channels: (kh, kw)
    for one filter, else (kh, kw, K). ``rows``/``cols`` are the output coordinates each kernel
    tap lands on (negative or ≥ the output size when cropped away); ``inside`` is the (kh, kw)
    mask of taps that land in the output; ``origin`` = (rows[0], cols[0]).
    """

    index: int
    in_pos: tuple[int, int]
    value: float | np.ndarray
    origin: tuple[int, int]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    inside: np.ndarray
    contribution: np.ndarray


class TransposeWalk:
    """Random access to the scatter steps of :func:`conv2d_transpose` (one per input cell).

    ``walk[n]``, ``walk.step_at(i, j)``, ``len(walk)`` = H·W; ``walk.output`` is the final
    result and ``walk.output_after(n)`` the running output once steps 0..n have scattered (before
    bias and activation, which apply at the end). ``out_shape``, ``crop`` ((top, left) cut from
    the scatter canvas) and ``canvas_shape`` describe the geometry.
    """

    def __init__(
        self,
        x: np.ndarray,
        kernel: np.ndarray,
        stride: int | tuple[int, int] = 1,
        padding: str = "valid",
        output_padding: int | tuple[int, int] | None = None,
        dilation: int | tuple[int, int] = 1,
        bias: float | np.ndarray | None = None,
        activation: str | None = None,
    ) -> None:
        st = _setup_transpose(x, kernel, stride, padding, output_padding, dilation, bias, activation)
        self._st = st
        self.stride, self.dilation = st.stride, st.dilation
        self.out_shape: tuple[int, int] = st.out_shape
        self.crop: tuple[int, int] = st.crop
        self.canvas_shape: tuple[int, int] = st.canvas_shape
        self.in_shape: tuple[int, int] = st.x.shape[:2]
        self._canvas = _transpose_canvas(st.x, st)
        self.output: np.ndarray = _transpose_finish(self._canvas, st)
        kh, kw = st.kernel.shape[:2]
        self._du = np.arange(kh) * st.dilation[0]
        self._dv = np.arange(kw) * st.dilation[1]

    def __len__(self) -> int:
        return self.in_shape[0] * self.in_shape[1]

    def _index(self, n: int) -> int:
        return _WalkBase._index(self, n)  # type: ignore[arg-type]

    def __getitem__(self, n):
        if isinstance(n, slice):
            return [self._step(k) for k in range(*n.indices(len(self)))]
        return self._step(self._index(n))

    def __iter__(self) -> Iterator[TransposeStep]:
        for n in range(len(self)):
            yield self._step(n)

    def index_of(self, i: int, j: int) -> int:
        H, W = self.in_shape
        if not (0 <= i < H and 0 <= j < W):
            raise IndexError(f"input cell ({i}, {j}) is outside the {H}×{W} input.")
        return int(i) * W + int(j)

    def step_at(self, i: int, j: int) -> TransposeStep:
        """The step in which input cell (i, j) scatters its kernel."""
        return self._step(self.index_of(i, j))

    def outputs_fed_by(self, i: int, j: int) -> list[tuple[int, int]]:
        """Output cells that input cell (i, j) adds into (cropped ones left out)."""
        s = self.step_at(i, j)
        return [
            (r, c) for a, r in enumerate(s.rows) for b, c in enumerate(s.cols) if s.inside[a, b]
        ]

    def inputs_feeding(self, r: int, c: int) -> list[tuple[int, int]]:
        """Input cells (i, j) whose scattered kernel lands on output cell (r, c)."""
        H, W = self.in_shape
        rows = _hits(r + self.crop[0], self._du, self.stride[0], H)
        cols = _hits(c + self.crop[1], self._dv, self.stride[1], W)
        return [(i, j) for i in rows for j in cols]

    def output_after(self, n: int) -> np.ndarray:
        """The running output after steps 0..n (sum of their scattered kernels, no bias)."""
        n = self._index(n)
        st = self._st
        H, W = self.in_shape
        if n == len(self) - 1:
            return _transpose_finish(self._canvas, st, with_bias=False)
        mask = (np.arange(H * W) <= n).reshape(H, W, 1)
        return _transpose_finish(_transpose_canvas(st.x * mask, st), st, with_bias=False)

    def _step(self, n: int) -> TransposeStep:
        st = self._st
        i, j = divmod(n, self.in_shape[1])
        v = st.x[i, j, :]  # (C,)
        contrib = st.kernel @ v  # (kh, kw, K)
        rows = i * st.stride[0] + self._du - st.crop[0]
        cols = j * st.stride[1] + self._dv - st.crop[1]
        inside = ((rows >= 0) & (rows < st.out_shape[0]))[:, None] & (
            (cols >= 0) & (cols < st.out_shape[1])
        )[None, :]
        return TransposeStep(
            index=n,
            in_pos=(i, j),
            value=float(v[0]) if st.squeeze_in else v.copy(),
            origin=(int(rows[0]), int(cols[0])),
            rows=tuple(int(r) for r in rows),
            cols=tuple(int(c) for c in cols),
            inside=inside,
            contribution=contrib[:, :, 0] if st.squeeze_out else contrib,
        )


def conv_transpose_steps(
    x: np.ndarray,
    kernel: np.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: str = "valid",
    output_padding: int | tuple[int, int] | None = None,
    dilation: int | tuple[int, int] = 1,
    bias: float | np.ndarray | None = None,
    activation: str | None = None,
) -> Iterator[TransposeStep]:
    """One :class:`TransposeStep` per input cell, row-major; arguments of :func:`conv2d_transpose`."""
    return iter(TransposeWalk(x, kernel, stride, padding, output_padding, dilation, bias, activation))
