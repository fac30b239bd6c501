"""The stepper's words, as plain functions of a :class:`~cnnviz.state.stepper.StepperState`:
the arithmetic of a step, the output-size formula with the numbers substituted, the grid titles
and the input's colour range, the hover and click texts and what a GIF export shows.
:class:`StepperState` offers each as a method of the same name."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.core.convolution import ConvStep, PoolStep, TransposeStep, transpose_output_size
from cnnviz.core.layer_walks import DropoutStep, PoolGradStep, UpsampleStep
from cnnviz.state.stepper import layer_texts
from cnnviz.state.stepper.choices import (
    CHANNEL_NAMES,
    CROP_SOURCES,
    HOVER_HINT,
    MAX_LISTED,
    MAX_TERMS,
    PAD_MODE_NAMES,
    POOL_LIKE,
)
from cnnviz.state.stepper.matrices import factor, fmt

if TYPE_CHECKING:
    from cnnviz.state.stepper.state import StepperState


# the arithmetic of a step
def step_lines(state: StepperState) -> list[str]:
    """The arithmetic of the current step, one line per channel plus the result line."""
    st = state.current()
    if st is None:
        return [state.error] if state.error else []
    if isinstance(st, ConvStep):
        return layer_texts.filter_lines(st) if st.kernel.ndim == 4 else _conv_lines(st)
    if isinstance(st, PoolStep):
        return _pool_lines(st)
    if isinstance(st, UpsampleStep):
        return layer_texts.upsample_lines(state, st)
    if isinstance(st, DropoutStep):
        return layer_texts.dropout_lines(state, st)
    if isinstance(st, PoolGradStep):
        return layer_texts.gradient_lines(state, st)
    return _transpose_lines(state, st)


def _products(window: np.ndarray, kernel: np.ndarray, total: float) -> str:
    terms = [f"{factor(a)}·{factor(b)}" for a, b in zip(window.ravel(), kernel.ravel())]
    if len(terms) > MAX_TERMS:
        more = len(terms) - MAX_TERMS + 1
        terms = terms[: MAX_TERMS - 1] + [f"… ({more} more)"]
    return " + ".join(terms) + f" = {fmt(total)}"


def _conv_lines(st: ConvStep) -> list[str]:
    i, j = st.out_pos
    lines = []
    if st.window.ndim == 2:
        lines.append(f"out({i},{j}) = " + _products(st.window, st.kernel, float(np.sum(st.channel_sums))))
        total = float(np.sum(st.channel_sums))
    else:
        C = st.window.shape[2]
        sums = np.asarray(st.channel_sums).reshape(C)
        for c in range(C):
            name = CHANNEL_NAMES[c] if C == 3 else f"ch{c + 1}"
            lines.append(f"{name}: " + _products(st.window[:, :, c], st.kernel[:, :, c], float(sums[c])))
        total = float(sums.sum())
        lines.append(f"sum {' + '.join(factor(v) for v in sums)} = {fmt(total)}")
    bias, pre, val = float(st.bias), float(st.pre_activation), float(st.value)
    tail = []
    if bias != 0.0:
        tail.append(f"{fmt(total)} + bias {factor(bias)} = {fmt(pre)}")
    if st.activation != "linear":
        tail.append(f"{st.activation}({fmt(pre)}) = {fmt(val)}")
    if tail:
        lines.append(" → ".join(tail + [f"out({i},{j}) = {fmt(val)}"]))
    return lines


def _pool_lines(st: PoolStep) -> list[str]:
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
                f"{name}out({i},{j}) = ({' + '.join(factor(v) for v in real)}) / {st.count} = {fmt(vals[c])}"
            )
    skipped = int(st.valid.size - st.valid.sum())
    if skipped:
        lines.append(f"{skipped} padding cell{'s' if skipped > 1 else ''} in the window take no part.")
    return lines


def _transpose_lines(state: StepperState, st: TransposeStep) -> list[str]:
    i, j = st.in_pos
    k = np.asarray(st.contribution)
    kernel = state.settings.kernel
    if np.ndim(st.value) == 0:
        v = float(st.value)
        head = f"in({i},{j}) = {fmt(v)} scatters {fmt(v)} × kernel:"
        kk = kernel if kernel.ndim == 2 else kernel[:, :, 0]
        terms = [f"{factor(v)}·{factor(a)}={fmt(b)}" for a, b in zip(kk.ravel(), k.ravel())]
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
    if state.position == state.n_steps - 1:
        s = state.settings
        extra = []
        if s.bias != 0.0:
            extra.append(f"+ bias {fmt(s.bias)}")
        if s.activation != "linear":
            extra.append(f"then {s.activation}")
        if extra:
            lines.append("Last input: the sums get " + " ".join(extra) + " (shown now).")
    return lines


def formula_lines(state: StepperState) -> list[str]:
    """The output-size formula per axis with the current numbers, e.g.
    ``Rows: ⌊(5 + 2·1 − 1·(3−1) − 1)/2⌋ + 1 = 3``; the error in words when there is no output."""
    if state.mode in ("upsample", "dropout"):
        return layer_texts.formula_lines(state)
    s = state.settings
    h, w = s.image.shape[:2]
    kh, kw = state.window_size()
    lines = []
    if state.mode == "transpose":
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
        (pt, pb), (pl, pr) = state.pads()
        d = s.dilation if state.mode == "conv" else (1, 1)
        for name, n, f, (a, b), st, dd in (("Rows", h, kh, (pt, pb), s.stride[0], d[0]),
                                           ("Columns", w, kw, (pl, pr), s.stride[1], d[1])):
            ptext = f"2·{a}" if a == b else f"{a} + {b}"
            num = n + a + b - dd * (f - 1) - 1
            o = num // st + 1 if num >= 0 else None
            lines.append(
                f"{name}: ⌊({n} + {ptext} − {dd}·({f}−1) − 1)/{st}⌋ + 1 = "
                + (str(o) if o is not None else f"⌊{fmt(num)}/{st}⌋ + 1 → no output")
            )
    if state.walk is None and state.error:
        lines.append(state.error)
    return lines


# what the grids are called and how they are coloured
def channel_names(state: StepperState) -> list[str]:
    c = state.channels
    return list(CHANNEL_NAMES) if c == 3 else [f"channel {k + 1}" for k in range(c)]


def input_levels(state: StepperState) -> tuple[float, float]:
    """The colour range of the input grid: 0–255 for the book's example and image crops
    (whose values are pixels), else the shown values' own range."""
    x = state.shown_input()
    finite = x[np.isfinite(x)]
    pixels = state.source in CROP_SOURCES or state.source == "book"
    if pixels and (finite.size == 0 or (finite.min() >= 0 and finite.max() <= 255)):
        return (0.0, 255.0)
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def input_title(state: StepperState, c: int) -> str:
    """``"Input 4×4"``, ``"Input R 7×9, padded (zeros)"``…"""
    s = state.settings
    names = channel_names(state)
    h, w = s.image.shape[:2]
    title = ("Input" if state.channels == 1 else f"Input {names[c]}") + f" {h}×{w}"
    if any(sum(p) for p in state.pads()):
        word = PAD_MODE_NAMES.get(s.pad_mode, s.pad_mode) if state.mode == "conv" else (
            "ignored" if state.mode in POOL_LIKE else "")
        title += f", padded ({word})"
    return title


def kernel_title(state: StepperState, c: int, f: int = 0) -> str:
    if state.mode in ("dropout", "max_grad", "avg_grad") or state.kernel.ndim == 4:
        return layer_texts.kernel_title(state, c, f)
    flipped = state.settings.flip and state.mode == "conv"
    if state.kernel_count() == 1:
        return "Kernel" + (" (flipped)" if flipped else "") + (" — same on R, G, B" if state.channels == 3 else "")
    names = channel_names(state)
    return f"Kernel {names[c] if c < len(names) else c + 1}"


def output_title(state: StepperState, c: int) -> str:
    if state.walk is None:
        return "Output"
    if state.mode in ("max_grad", "avg_grad") or (state.mode == "conv" and state.kernel.ndim == 4):
        return layer_texts.output_title(state, c)
    out = state.walk.output  # the final output: the running one has its shape
    oh, ow = out.shape[:2]
    return f"Output {oh}×{ow}" + (f" {channel_names(state)[c]}" if out.ndim == 3 and out.shape[2] > 1 else "")


def operator(state: StepperState) -> str:
    """The sign between the input and the kernel."""
    return {"max": "max", "avg": "avg", "transpose": "⊛ᵀ", "upsample": "↑", "dropout": "⊙",
            "max_grad": "∂", "avg_grad": "∂"}.get(state.mode, "⊛")


def formula_head(state: StepperState) -> tuple[str, str]:
    """The formula's title and what follows it: the general formula, or "(transposed)"."""
    shape = state.output_shape()
    head = "Output size" + (f" {shape[0]}×{shape[1]}" if shape else "")
    if state.mode == "transpose":
        return head, " (transposed)"
    if state.mode in ("upsample", "dropout", "max_grad", "avg_grad"):
        return layer_texts.formula_head(state)
    return head, " = ⌊(n + 2p − d(f−1) − 1)/s⌋ + 1"


# hover and click texts
def legend_keys(state: StepperState) -> list[str]:
    """The legend entries that mean something in the current mode and settings, in order:
    a padding swatch only when there are padding cells, the max-pooling winner only when
    pooling picks one, the small ×numbers only where the window's cells carry them."""
    mode = state.mode
    keys = [] if mode == "dropout" else ["window"]
    keys += ["output cell", "fed by the hovered cell"]
    if mode in ("max", "max_grad"):
        keys.append("max winner")
    if any(state.pads()[0]) or any(state.pads()[1]):
        keys.append("padding")
    if mode == "conv":
        keys.append("×k = kernel weight")
    elif mode == "upsample" and state.settings.interpolation == "bilinear":
        keys.append("×w = interpolation weight")
    return keys


def hover_hint(state: StepperState) -> str:
    return HOVER_HINT if state.n_steps else ""


def input_hover_text(state: StepperState, channel: int, r: int, c: int) -> str:
    """What hovering shown-input cell (r, c) says: its value and every output it feeds."""
    x = state.shown_input()
    v = x[r, c] if x.ndim == 2 else x[r, c, channel]
    feeds = state.outputs_fed_by(r, c)
    pad = state.is_padding(r, c)
    where = "Padding cell" if pad else "Input cell"
    if state.mode != "transpose":
        (pt, _), (pl, _) = state.pads()
        coords = f"({r - pt}, {c - pl})" if not pad else f"(padded {r}, {c})"
    else:
        coords = f"({r}, {c})"
    if state.mode in POOL_LIKE and pad:
        return f"Padding cell {coords}: pooling never reads padding."
    if not feeds:
        return f"{where} {coords} = {fmt(v)} feeds no output cell (the stride skips it)."
    listed = ", ".join(f"({i},{j})" for i, j in feeds[:MAX_LISTED]) + (" …" if len(feeds) > MAX_LISTED else "")
    return f"{where} {coords} = {fmt(v)} feeds {len(feeds)} output cell{'s' if len(feeds) != 1 else ''}: {listed}"


def output_hover_text(state: StepperState, i: int, j: int) -> str | None:
    """What hovering output cell (i, j) says; None when there is nothing to say."""
    out = state.displayed_output()
    if out is None or i < 0:
        return None
    v = out[i, j] if out.ndim == 2 else out[i, j, 0]
    value = "not computed yet" if math.isnan(v) else f"= {fmt(v)}"
    return f"Output ({i},{j}) {value}. Click to jump to its step."


def jump_text(state: StepperState, i: int, j: int) -> str:
    """What clicking output cell (i, j) says (the pane jumps to its step)."""
    if state.mode in ("upsample", "dropout", "max_grad", "avg_grad"):
        return layer_texts.jump_text(state, i, j)
    field = state.inputs_of(i, j)
    if state.mode != "transpose":
        return f"Output ({i},{j}) reads {len(field)} input cell{'s' if len(field) != 1 else ''} (its receptive field)."
    return (f"Output ({i},{j}) receives the kernels of {len(field)} input cell(s); "
            "this is the step where the last of them lands.")


def export_plan_text(n_steps: int, n_frames: int) -> str:
    """What a GIF export of ``n_frames`` frames of an ``n_steps``-step walk shows."""
    if n_frames < n_steps:
        return (f"The walk has {n_steps} steps; the GIF shows {n_frames} of them, evenly spaced "
                f"(about every {n_steps / n_frames:.0f}th step), to keep the file and the export small.")
    return f"The GIF shows all {n_steps} steps."
