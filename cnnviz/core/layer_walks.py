"""UpSampling2D, Dropout and the pooling layers' gradient, as Keras/TensorFlow compute them, with
their step-by-step walks.

Like :mod:`cnnviz.core.convolution`, everything works on (H, W) or (H, W, C) numpy arrays in
float64.

* :func:`upsample2d` — ``keras.layers.UpSampling2D``: "nearest" repeats every pixel
  ``factor`` times; "bilinear" is ``tf.image.resize``'s bilinear rule with half-pixel centres:
  output pixel ``i`` looks at input position ``(i + 0.5)/factor − 0.5`` (clamped to the image)
  and mixes the two nearest pixels by their distance.
* :func:`dropout` — ``keras.layers.Dropout``: in training each value is dropped (set to 0) with
  probability ``rate`` and the kept ones are scaled by ``1/(1 − rate)``, so the expected value is
  unchanged; at inference it is the identity. The mask comes from a seeded numpy generator, not
  TensorFlow's (which differs), so a lesson can show the same mask again.
* :func:`pool2d_grad` — the gradient of ``MaxPooling2D`` / ``AveragePooling2D``: each window's
  upstream gradient goes to the window's winner (max; on ties the first maximum in row-major
  order, as TensorFlow's CPU kernel does) or is spread evenly over the window's real pixels
  (average); overlapping windows add up.

The walks (:class:`UpsampleWalk`, :class:`DropoutWalk`, :class:`PoolGradWalk`) give random
access to any step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnviz.core.convolution import Padding, PoolWalk, _as_input, _pair, _WalkBase, pad_input

__all__ = [
    "INTERPOLATIONS",
    "upsample_taps",
    "upsample2d",
    "UpsampleStep",
    "UpsampleWalk",
    "dropout_mask",
    "dropout",
    "DropoutStep",
    "DropoutWalk",
    "pool2d_grad",
    "PoolGradStep",
    "PoolGradWalk",
]

INTERPOLATIONS: tuple[str, ...] = ("nearest", "bilinear")


# --------------------------------------------------------------------------------------------
# UpSampling2D


def _interpolation(name: str) -> str:
    n = str(name).lower()
    if n not in INTERPOLATIONS:
        raise ValueError(f"Unknown interpolation '{name}': use 'nearest' or 'bilinear'.")
    return n


def upsample_taps(n: int, factor: int, interpolation: str = "nearest") -> list[tuple[float, list[int], list[float]]]:
    """Per output index along one axis of length ``n·factor``: (the input position it looks at,
    the input indices it reads, their weights). Nearest reads ``i // factor``; bilinear reads
    ``p = (i + 0.5)/factor − 0.5`` clamped to [0, n − 1] from ⌊p⌋ and ⌊p⌋ + 1 with weights
    1 − (p − ⌊p⌋) and p − ⌊p⌋ (one tap when p is a whole number)."""
    interp = _interpolation(interpolation)
    taps = []
    for i in range(n * factor):
        if interp == "nearest":
            taps.append((float(i // factor), [i // factor], [1.0]))
            continue
        p = (i + 0.5) / factor - 0.5
        pc = min(max(p, 0.0), float(n - 1))
        lo = int(math.floor(pc))
        frac = pc - lo
        if frac == 0.0 or lo + 1 >= n:
            taps.append((p, [lo], [1.0]))
        else:
            taps.append((p, [lo, lo + 1], [1.0 - frac, frac]))
    return taps


def _axis_matrix(n: int, factor: int, interpolation: str) -> np.ndarray:
    m = np.zeros((n * factor, n))
    for i, (_, idx, w) in enumerate(upsample_taps(n, factor, interpolation)):
        m[i, idx] = w
    return m


def upsample2d(x: np.ndarray, factor: int | tuple[int, int] = 2, interpolation: str = "nearest") -> np.ndarray:
    """``keras.layers.UpSampling2D(size=factor, interpolation=...)``: (H, W[, C]) → (H·fh, W·fw[, C])."""
    arr = _as_input(x)
    fh, fw = _pair(factor, "size factor", "how many times each side grows")
    x3 = arr[:, :, None] if arr.ndim == 2 else arr
    mr = _axis_matrix(x3.shape[0], fh, interpolation)
    mc = _axis_matrix(x3.shape[1], fw, interpolation)
    out = np.einsum("ir,rcz,jc->ijz", mr, x3, mc)
    return out[:, :, 0] if arr.ndim == 2 else out


@dataclass(frozen=True)
class UpsampleStep:
    """One output cell of an upsampling: the input cells it reads and their weights.

    ``position`` is the (row, column) input position it looks at (before clamping);
    ``sources[k]`` (an input cell) has weight ``weights[k]`` and value ``values[k]`` (a float, or
    a (C,) array); ``value = Σ weights[k]·values[k]``.
    """

    index: int
    out_pos: tuple[int, int]
    position: tuple[float, float]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    row_weights: tuple[float, ...]
    col_weights: tuple[float, ...]
    sources: tuple[tuple[int, int], ...]
    weights: tuple[float, ...]
    values: tuple
    value: float | np.ndarray


class UpsampleWalk(_WalkBase):
    """Random access to the output cells of :func:`upsample2d`: ``walk[n]``, ``walk.step_at(i, j)``,
    ``walk.output``, ``walk.out_shape``, ``walk.factor``, ``walk.interpolation``."""

    def __init__(self, x: np.ndarray, factor: int | tuple[int, int] = 2, interpolation: str = "nearest") -> None:
        arr = _as_input(x)
        self.factor = _pair(factor, "size factor", "how many times each side grows")
        self.interpolation = _interpolation(interpolation)
        self._squeeze = arr.ndim == 2
        self._x = arr[:, :, None] if self._squeeze else arr
        H, W = self._x.shape[:2]
        self.in_shape = (H, W)
        self.out_shape = (H * self.factor[0], W * self.factor[1])
        self._rt = upsample_taps(H, self.factor[0], self.interpolation)
        self._ct = upsample_taps(W, self.factor[1], self.interpolation)
        self.output = upsample2d(arr, self.factor, self.interpolation)

    def receptive_field(self, i: int, j: int) -> list[tuple[int, int]]:
        """The input cells output cell (i, j) reads."""
        self.index_of(i, j)
        return [(r, c) for r in self._rt[i][1] for c in self._ct[j][1]]

    def outputs_fed_by(self, r: int, c: int) -> list[tuple[int, int]]:
        """The output cells that read input cell (r, c) (with a weight above zero)."""
        rows = [i for i, (_, idx, _w) in enumerate(self._rt) if r in idx]
        cols = [j for j, (_, idx, _w) in enumerate(self._ct) if c in idx]
        return [(i, j) for i in rows for j in cols]

    def _step(self, n: int) -> UpsampleStep:
        i, j = divmod(n, self.out_shape[1])
        pr, rows, rw = self._rt[i]
        pc, cols, cw = self._ct[j]
        sources, weights, values = [], [], []
        total = np.zeros(self._x.shape[2])
        for r, a in zip(rows, rw):
            for c, b in zip(cols, cw):
                v = self._x[r, c, :]
                sources.append((r, c))
                weights.append(a * b)
                values.append(float(v[0]) if self._squeeze else v.copy())
                total += a * b * v
        out = self.output[i, j] if self._squeeze else self.output[i, j, :]
        return UpsampleStep(
            index=n, out_pos=(i, j), position=(pr, pc), rows=tuple(rows), cols=tuple(cols),
            row_weights=tuple(rw), col_weights=tuple(cw), sources=tuple(sources),
            weights=tuple(weights), values=tuple(values),
            value=float(out) if self._squeeze else np.array(out),
        )


# --------------------------------------------------------------------------------------------
# Dropout


def _rate(rate: float) -> float:
    r = float(rate)
    if not 0.0 <= r < 1.0:
        raise ValueError(f"The dropout rate must be at least 0 and below 1 (got {rate}).")
    return r


def dropout_mask(shape: tuple[int, ...], rate: float, seed: int = 0) -> np.ndarray:
    """Which values are kept (True) — each is dropped with probability ``rate`` — from
    ``numpy.random.default_rng(seed)``, so the same seed gives the same mask."""
    r = _rate(rate)
    return np.random.default_rng(int(seed)).random(shape) >= r


def dropout(x: np.ndarray, rate: float, seed: int = 0, training: bool = True) -> np.ndarray:
    """``keras.layers.Dropout(rate)(x, training=training)`` with the mask of :func:`dropout_mask`:
    kept values × 1/(1 − rate), dropped ones 0; the identity when not training."""
    arr = _as_input(x)
    r = _rate(rate)
    if not training or r == 0.0:
        return arr.copy()
    return np.where(dropout_mask(arr.shape, r, seed), arr / (1.0 - r), 0.0)


@dataclass(frozen=True)
class DropoutStep:
    """One cell of a dropout: its ``value``, whether it is ``kept`` (a bool, or a (C,) array),
    the ``scale`` 1/(1 − rate) (1 at inference) and the result ``out``."""

    index: int
    out_pos: tuple[int, int]
    value: float | np.ndarray
    kept: bool | np.ndarray
    scale: float
    out: float | np.ndarray
    training: bool


class DropoutWalk(_WalkBase):
    """Random access to the cells of :func:`dropout`. ``mask`` (what is kept, the input's shape;
    all True at inference), ``scale``, ``output``, ``out_shape``, ``rate``, ``training``."""

    def __init__(self, x: np.ndarray, rate: float, seed: int = 0, training: bool = True) -> None:
        arr = _as_input(x)
        self.rate = _rate(rate)
        self.seed = int(seed)
        self.training = bool(training)
        self._x = arr
        self.out_shape = arr.shape[:2]
        active = self.training and self.rate > 0.0
        self.mask = dropout_mask(arr.shape, self.rate, self.seed) if active else np.ones(arr.shape, bool)
        self.scale = 1.0 / (1.0 - self.rate) if active else 1.0
        self.output = dropout(arr, self.rate, self.seed, self.training)

    def receptive_field(self, i: int, j: int) -> list[tuple[int, int]]:
        self.index_of(i, j)
        return [(i, j)]

    def outputs_fed_by(self, r: int, c: int) -> list[tuple[int, int]]:
        return [(r, c)] if 0 <= r < self.out_shape[0] and 0 <= c < self.out_shape[1] else []

    def _step(self, n: int) -> DropoutStep:
        i, j = divmod(n, self.out_shape[1])
        two = self._x.ndim == 2
        v, k, o = self._x[i, j], self.mask[i, j], self.output[i, j]
        return DropoutStep(
            index=n, out_pos=(i, j), value=float(v) if two else np.array(v),
            kept=bool(k) if two else np.array(k), scale=self.scale,
            out=float(o) if two else np.array(o), training=self.training,
        )


# --------------------------------------------------------------------------------------------
# the pooling gradient


def _upstream(upstream: np.ndarray, out_shape: tuple[int, int], C: int) -> np.ndarray:
    g = np.asarray(upstream, dtype=np.float64)
    if g.ndim == 2:
        g = np.repeat(g[:, :, None], C, axis=2)
    if g.shape[:2] != tuple(out_shape) or g.shape[2] != C:
        raise ValueError(
            f"The upstream gradient has the pooled output's shape, {out_shape[0]}×{out_shape[1]}"
            f"{'' if C == 1 else f'×{C}'}; got {'×'.join(map(str, np.shape(upstream)))}."
        )
    if not np.isfinite(g).all():
        raise ValueError("The upstream gradient contains a NaN or infinite value.")
    return g


def _grad_routes(pw: PoolWalk, g3: np.ndarray, upto: int | None = None) -> np.ndarray:
    """∂L/∂x (padded, (Hp, Wp, C)) from the upstream gradient ``g3`` of steps 0..upto."""
    st = pw._st
    OH, OW = pw.out_shape
    s, (ph, pw_) = pw.stride, pw.size
    xp = pad_input(st.x, pw.pads, "zero", value=-np.inf)
    C = xp.shape[2]
    grad = np.zeros(xp.shape)
    keep = np.ones((OH, OW, 1))
    if upto is not None:
        keep = (np.arange(OH * OW) <= upto).reshape(OH, OW, 1).astype(float)
    g = g3 * keep
    rs, cs = (OH - 1) * s[0] + 1, (OW - 1) * s[1] + 1
    if pw.op == "max":
        best = np.full((OH, OW, C), -np.inf)
        arg = np.zeros((OH, OW, C), dtype=int)
        for u in range(ph):
            for v in range(pw_):
                patch = xp[u : u + rs : s[0], v : v + cs : s[1]]
                better = patch > best  # strictly: the first maximum in row-major order wins
                best = np.where(better, patch, best)
                arg = np.where(better, u * pw_ + v, arg)
        ii, jj, cc = np.indices((OH, OW, C))
        rows = ii * s[0] + arg // pw_
        cols = jj * s[1] + arg % pw_
        np.add.at(grad, (rows, cols, cc), g)
        return grad
    ones = pad_input(np.ones(st.x.shape[:2]), pw.pads, "zero")
    count = np.zeros((OH, OW))
    for u in range(ph):
        for v in range(pw_):
            count += ones[u : u + rs : s[0], v : v + cs : s[1]]
    share = g / count[:, :, None]
    for u in range(ph):
        for v in range(pw_):
            grad[u : u + rs : s[0], v : v + cs : s[1]] += share
    return grad * ones[:, :, None]


def _crop(grad: np.ndarray, pads, squeeze: bool) -> np.ndarray:
    (pt, _), (pl, _) = pads
    H, W = grad.shape[0] - sum(pads[0]), grad.shape[1] - sum(pads[1])
    out = grad[pt : pt + H, pl : pl + W]
    return out[:, :, 0] if squeeze else out


def pool2d_grad(
    x: np.ndarray,
    upstream: np.ndarray,
    size: int | tuple[int, int] = 2,
    stride: int | tuple[int, int] | None = None,
    padding: Padding = "valid",
    op: str = "max",
) -> np.ndarray:
    """∂L/∂x of ``MaxPooling2D`` / ``AveragePooling2D`` given ∂L/∂y (``upstream``, the pooled
    output's shape): what ``tf.GradientTape`` gives for ``sum(pool(x) · upstream)``."""
    return PoolGradWalk(x, upstream, size, stride, padding, op).output


@dataclass(frozen=True)
class PoolGradStep:
    """Where the upstream gradient of one pooled output cell goes.

    ``upstream`` is ∂L/∂y at ``out_pos`` (float, or (C,)); ``window_origin`` is the window's
    top-left padded coordinate; ``routes[c]`` lists (row, col, share) in input coordinates for
    channel ``c`` (max: the winner gets all; average: every real pixel gets upstream/count);
    ``winner`` is the padded coordinate of the max per channel (None for average)."""

    index: int
    out_pos: tuple[int, int]
    window_origin: tuple[int, int]
    window: np.ndarray
    valid: np.ndarray
    op: str
    upstream: float | np.ndarray
    forward: float | np.ndarray
    count: int
    winner: tuple[int, int] | list[tuple[int, int]] | None
    routes: tuple[tuple[tuple[int, int, float], ...], ...]


class PoolGradWalk(_WalkBase):
    """One step per pooled output cell, routing its upstream gradient back to the input.

    ``output`` is ∂L/∂x (the input's shape), ``output_after(n)`` the gradient once steps 0..n
    have been routed; ``forward`` is the :class:`~cnnviz.core.convolution.PoolWalk` of the
    forward pass (its ``pads``, ``size``, ``stride``, ``out_shape``)."""

    def __init__(
        self,
        x: np.ndarray,
        upstream: np.ndarray,
        size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] | None = None,
        padding: Padding = "valid",
        op: str = "max",
    ) -> None:
        self.forward = PoolWalk(x, size, stride, padding, op)
        fw = self.forward
        self.op, self.pads, self.size, self.stride = fw.op, fw.pads, fw.size, fw.stride
        self.out_shape = fw.out_shape
        self._squeeze = fw._st.squeeze
        self.in_shape = fw._st.x.shape[:2]
        C = fw._st.x.shape[2]
        self._g = _upstream(upstream, fw.out_shape, C)
        self.upstream = self._g[:, :, 0] if (self._squeeze and np.ndim(upstream) == 2) else self._g
        self.output = _crop(_grad_routes(fw, self._g), fw.pads, self._squeeze)

    def receptive_field(self, i: int, j: int) -> list[tuple[int, int]]:
        return self.forward.receptive_field(i, j)

    def outputs_fed_by(self, r: int, c: int) -> list[tuple[int, int]]:
        return self.forward.outputs_fed_by(r, c)

    def output_after(self, n: int) -> np.ndarray:
        """∂L/∂x once the upstream gradients of steps 0..n have been routed."""
        n = self._index(n)
        if n == len(self) - 1:
            return self.output
        return _crop(_grad_routes(self.forward, self._g, n), self.pads, self._squeeze)

    def _step(self, n: int) -> PoolGradStep:
        ps = self.forward[n]
        i, j = ps.out_pos
        (pt, _), (pl, _) = self.pads
        g = self._g[i, j, :]
        C = g.shape[0]
        routes = []
        winners = ps.winner if isinstance(ps.winner, list) else [ps.winner]
        r0, c0 = ps.window_origin
        for c in range(C):
            if self.op == "max":
                wr, wc = winners[c]
                routes.append(((wr - pt, wc - pl, float(g[c])),))
            else:
                share = float(g[c]) / ps.count
                routes.append(tuple(
                    (r0 + u - pt, c0 + v - pl, share)
                    for u in range(self.size[0]) for v in range(self.size[1]) if ps.valid[u, v]
                ))
        return PoolGradStep(
            index=n, out_pos=(i, j), window_origin=ps.window_origin, window=ps.window,
            valid=ps.valid, op=self.op, upstream=float(g[0]) if self._squeeze else g.copy(),
            forward=ps.value, count=ps.count, winner=ps.winner, routes=tuple(routes),
        )

