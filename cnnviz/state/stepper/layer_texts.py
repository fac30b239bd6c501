"""The stepper's words for the layers beyond one convolution, pooling and the transposed
convolution: several filters at once, UpSampling2D, Dropout and the pooling gradient — the
arithmetic of a step, the size formula, the grid titles. :mod:`~cnnviz.state.stepper.texts`
hands these steps and modes over to the functions here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnnviz.core.convolution import ConvStep
from cnnviz.core.layer_walks import DropoutStep, DropoutWalk, PoolGradStep, UpsampleStep
from cnnviz.state.stepper.choices import CHANNEL_NAMES, MAX_TERMS
from cnnviz.state.stepper.matrices import factor, fmt

if TYPE_CHECKING:
    from cnnviz.state.stepper.state import StepperState

GRADIENT_RULE = {
    "max": "the max's cell gets all of it (on a tie the first maximum in row-major order, as "
           "TensorFlow does); the others get 0",
    "avg": "every real pixel of the window gets an equal share",
}


def _name(c: int, C: int) -> str:
    return CHANNEL_NAMES[c] if C == 3 else f"ch{c + 1}"


def _products(window: np.ndarray, kernel: np.ndarray, total: float) -> str:
    terms = [f"{factor(a)}·{factor(b)}" for a, b in zip(window.ravel(), kernel.ravel())]
    if len(terms) > MAX_TERMS:
        terms = terms[: MAX_TERMS - 1] + [f"… ({len(terms) - MAX_TERMS + 1} more)"]
    return " + ".join(terms) + f" = {fmt(total)}"


def filter_lines(st: ConvStep) -> list[str]:
    """Several filters at once: per filter, one line per input channel, then its sum, bias and
    activation, ``out(i,j,k)``."""
    i, j = st.out_pos
    win = st.window if st.window.ndim == 3 else st.window[:, :, None]
    C, K = st.kernel.shape[2], st.kernel.shape[3]
    sums = np.asarray(st.channel_sums).reshape(C, K)
    bias, pre, val = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (st.bias, st.pre_activation, st.value))
    lines = []
    for k in range(K):
        head = f"Filter {k + 1}"
        for c in range(C):
            name = "" if C == 1 else f"{_name(c, C)}: "
            lines.append(f"{head} {name}" + _products(win[:, :, c], st.kernel[:, :, c, k], float(sums[c, k])))
            head = " " * len(head)
        total = float(sums[:, k].sum())
        parts = [f"sum {' + '.join(factor(v) for v in sums[:, k])} = {fmt(total)}" if C > 1 else fmt(total)]
        parts.append(f"+ bias {factor(bias[k])} = {fmt(pre[k])}")
        if st.activation != "linear":
            parts.append(f"→ {st.activation}({fmt(pre[k])}) = {fmt(val[k])}")
        parts.append(f"→ out({i},{j},{k + 1}) = {fmt(val[k])}")
        lines.append("  " + " ".join(parts))
    return lines


def upsample_lines(state: StepperState, st: UpsampleStep) -> list[str]:
    """Which input cells output (i, j) reads and with which weights."""
    i, j = st.out_pos
    fh, fw = state.settings.factor
    if state.settings.interpolation == "nearest":
        lines = [f"out({i},{j}) copies in({st.rows[0]},{st.cols[0]}): row ⌊{i}/{fh}⌋ = {st.rows[0]}, "
                 f"column ⌊{j}/{fw}⌋ = {st.cols[0]}"]
    else:
        lines = []
        for what, o, f, p, idx, w in (("row", i, fh, st.position[0], st.rows, st.row_weights),
                                      ("column", j, fw, st.position[1], st.cols, st.col_weights)):
            where = f"{what} ({o} + 0.5)/{f} − 0.5 = {fmt(p)}"
            if len(idx) == 1:
                clamp = "" if abs(p - idx[0]) < 1e-12 else f", clamped to {idx[0]}"
                lines.append(f"{where}{clamp} → {what} {idx[0]} (weight 1)")
            else:
                lines.append(f"{where} → {what}s {idx[0]}, {idx[1]} (weights {fmt(w[0])}, {fmt(w[1])})")
    C = 1 if np.ndim(st.value) == 0 else len(st.value)
    for c in range(C):
        vals = [float(v) if C == 1 else float(v[c]) for v in st.values]
        terms = [f"{fmt(w)}·{factor(v)}" for w, v in zip(st.weights, vals)]
        total = float(st.value) if C == 1 else float(st.value[c])
        name = "" if C == 1 else f"{_name(c, C)}: "
        if len(terms) == 1 and st.weights[0] == 1.0:
            lines.append(f"{name}out({i},{j}) = {fmt(vals[0])}")
        else:
            lines.append(f"{name}out({i},{j}) = " + " + ".join(terms) + f" = {fmt(total)}")
    return lines


def _mean_line(state: StepperState) -> str:
    w = state.walk
    if not isinstance(w, DropoutWalk):
        return ""
    before, after = float(np.mean(state.image)), float(np.mean(w.output))
    if not w.training:
        return f"Inference: the output is the input; mean {fmt(before)} before and after."
    kept = float(w.mask.mean())
    r = fmt(w.rate)
    return (f"Mean before {fmt(before)}, after {fmt(after)} (this mask keeps {fmt(100 * kept, 3)}%, "
            f"expected {fmt(100 * (1 - w.rate), 3)}%); over masks the expectation is kept: "
            f"E[out] = (1 − {r})·x/(1 − {r}) = x.")


def dropout_lines(state: StepperState, st: DropoutStep) -> list[str]:
    i, j = st.out_pos
    r = state.settings.rate
    vals = np.atleast_1d(np.asarray(st.value, dtype=np.float64))
    kept = np.atleast_1d(np.asarray(st.kept))
    outs = np.atleast_1d(np.asarray(st.out, dtype=np.float64))
    lines = []
    for c in range(len(vals)):
        name = "" if len(vals) == 1 else f"{_name(c, len(vals))}: "
        if not st.training:
            lines.append(f"{name}out({i},{j}) = in = {fmt(vals[c])} (inference: dropout is the identity)")
        elif kept[c]:
            lines.append(f"{name}mask 1 (kept): out({i},{j}) = {factor(vals[c])} × 1/(1 − {fmt(r)}) = "
                         f"{factor(vals[c])} × {fmt(st.scale)} = {fmt(outs[c])}")
        else:
            lines.append(f"{name}mask 0 (dropped): out({i},{j}) = 0  (was {fmt(vals[c])})")
    lines.append(_mean_line(state))
    return lines


def gradient_lines(state: StepperState, st: PoolGradStep) -> list[str]:
    i, j = st.out_pos
    g = np.atleast_1d(np.asarray(st.upstream, dtype=np.float64))
    fwd = np.atleast_1d(np.asarray(st.forward, dtype=np.float64))
    C = len(g)
    lines = []
    for c in range(C):
        name = "" if C == 1 else f"{_name(c, C)}: "
        routes = st.routes[c]
        if st.op == "max":
            r, cc, share = routes[0]
            lines.append(f"{name}∂L/∂y({i},{j}) = {fmt(g[c])} goes to the max {fmt(fwd[c])} at in({r},{cc}): "
                         f"∂L/∂x({r},{cc}) += {fmt(share)}")
        else:
            cells = ", ".join(f"({r},{cc})" for r, cc, _ in routes[:MAX_TERMS])
            more = " …" if len(routes) > MAX_TERMS else ""
            lines.append(f"{name}∂L/∂y({i},{j}) = {fmt(g[c])} ÷ {st.count} = {fmt(routes[0][2])} to each of "
                         f"{cells}{more}")
    lines.append(f"Rule: {GRADIENT_RULE[st.op]}; where windows overlap the shares add up.")
    return lines


def formula_lines(state: StepperState) -> list[str]:
    """UpSampling2D and Dropout: the output size per axis with the numbers."""
    s = state.settings
    h, w = s.image.shape[:2]
    if state.mode == "upsample":
        return [f"Rows: {h} · {s.factor[0]} = {h * s.factor[0]}", f"Columns: {w} · {s.factor[1]} = {w * s.factor[1]}"]
    return [f"Rows: {h}, columns: {w} (dropout keeps the shape)"]


def formula_head(state: StepperState) -> tuple[str, str]:
    shape = state.output_shape()
    size = f" {shape[0]}×{shape[1]}" if shape else ""
    if state.mode == "upsample":
        return "Output size" + size, " = (n · factor)"
    if state.mode == "dropout":
        return "Output size" + size, " = input size"
    w = state.walk
    pooled = f" {w.out_shape[0]}×{w.out_shape[1]}" if w is not None else ""
    return "Pooled size" + pooled, " = ⌊(n + 2p − f)/s⌋ + 1; ∂L/∂x has the input's size"


def kernel_title(state: StepperState, c: int, f: int) -> str:
    if state.mode == "dropout":
        w = state.walk
        rate = f" rate {fmt(state.settings.rate)}" + ("" if w is None or w.training else ", inference: all kept")
        names = state.channel_names()
        return "Mask" + ("" if state.channels == 1 else f" {names[c]}") + rate
    if state.mode in ("max_grad", "avg_grad"):
        g = state.shown_kernel(0)
        return f"Upstream ∂L/∂y {g.shape[0]}×{g.shape[1]}"
    names = state.channel_names()
    name = "" if state.kernel_count() == 1 else f" {names[c] if c < len(names) else c + 1}"
    return f"Filter {f + 1}{name}"


def output_title(state: StepperState, c: int) -> str:
    out = state.walk.output
    oh, ow = out.shape[:2]
    if state.mode in ("max_grad", "avg_grad"):
        return f"∂L/∂x {oh}×{ow}" + (f" {state.channel_names()[c]}" if out.ndim == 3 and out.shape[2] > 1 else "")
    return f"Filter {c + 1} out {oh}×{ow}"


def jump_text(state: StepperState, i: int, j: int) -> str:
    if state.mode in ("max_grad", "avg_grad"):
        (pt, _), (pl, _) = state.pads()
        n = len(state.walk.outputs_fed_by(i + pt, j + pl))
        return (f"∂L/∂x({i},{j}) collects from the {n} window{'s' if n != 1 else ''} that contain it; "
                "this is the step of the last one.")
    n = len(state.inputs_of(i, j))
    return f"Output ({i},{j}) reads {n} input cell{'s' if n != 1 else ''}."
