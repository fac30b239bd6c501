"""What the stepper's grids show, as plain functions of a
:class:`~cnnviz.state.stepper.StepperState`: the input as drawn (padded or not), the output as it
fills in, its colour range and the kernel slices (or, for the layers without a kernel, the
dropout mask and the upstream gradient). :class:`StepperState` offers each as a method of the
same name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnnviz.core.convolution import TransposeWalk, pad_input, resolve_padding
from cnnviz.core.layer_walks import DropoutWalk, PoolGradWalk
from cnnviz.state.stepper.choices import GRADIENT, POOL_LIKE, RUNNING
from cnnviz.state.stepper.walks import filter_count

if TYPE_CHECKING:
    from cnnviz.state.stepper.state import StepperState

UNPADDED = ("transpose", "upsample", "dropout")  # modes whose input is never padded


def pads(state: StepperState) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding in pixels ((top, bottom), (left, right)); zero for the modes without padding."""
    if state.walk is not None and hasattr(state.walk, "pads"):
        return state.walk.pads
    if state.mode in UNPADDED:
        return ((0, 0), (0, 0))
    kh, kw = state.window_size()
    s = state.settings
    try:
        return resolve_padding(
            s.image.shape[0], s.image.shape[1], kh, kw, s.stride,
            s.dilation if state.mode == "conv" else 1, state._padding_arg(),
        )
    except ValueError:
        return ((0, 0), (0, 0))


def shown_input(state: StepperState) -> np.ndarray:
    """The input as drawn: padded (with the pad mode's values) where the mode pads.

    Pooling pads are drawn as zeros only for colour; they take no part (see ``pad_label``).
    """
    s = state.settings
    if state.mode in UNPADDED:
        return s.image
    mode = s.pad_mode if state.mode == "conv" else "zero"
    try:
        return pad_input(s.image, pads(state), mode)
    except ValueError:
        return s.image


def pad_label(state: StepperState) -> str | None:
    """Text for padding cells when their value is not used (pooling ignores padding)."""
    return "—" if state.mode in POOL_LIKE else None


def output(state: StepperState) -> np.ndarray | None:
    """The output shown at this step, (OH, OW) or (OH, OW, C/K).

    Most modes show the whole result and :meth:`filled` says how many cells (row-major) are
    computed so far; a transposed convolution and a pooling gradient show their running sum.
    """
    w = state.walk
    if w is None:
        return None
    if state.mode in RUNNING:
        if state.position >= len(w) - 1:
            return w.output
        return w.output_after(state.position)
    return w.output


def filled(state: StepperState) -> int | None:
    """How many output cells (row-major) are computed at this step; None when every cell is
    drawn at every step (a running sum: see :meth:`untouched`)."""
    if state.walk is None:
        return 0
    if state.mode in RUNNING:
        return None
    return state.position + 1


def untouched(state: StepperState) -> np.ndarray | None:
    """Transposed mode: the output cells no input has scattered into yet."""
    if state._touched is None:
        return None
    return state._touched.output_after(state.position) <= 0


def output_levels(state: StepperState) -> tuple[float, float]:
    """(min, max) of the final output, so colours stay put while the grid fills in."""
    if state.walk is None:
        return (0.0, 1.0)
    out = state.walk.output
    vals = [float(np.min(out)), float(np.max(out))]
    if isinstance(state.walk, TransposeWalk):
        w = state.walk
        part = w.output_after(len(w) - 1)
        vals += [float(np.min(part)), float(np.max(part))]
    return min(vals), max(vals)


def displayed_output(state: StepperState) -> np.ndarray | None:
    """The numbers the output grid shows now, NaN where a cell is still empty."""
    out = output(state)
    if out is None:
        return None
    shown = np.array(out, dtype=np.float64, copy=True)
    f = filled(state)
    if f is not None:
        flat = shown.reshape(shown.shape[0] * shown.shape[1], -1)
        flat[f:] = np.nan
    else:
        mask = untouched(state)
        if mask is not None:
            shown[mask] = np.nan
    return shown


def output_shape(state: StepperState) -> tuple[int, int] | None:
    return None if state.walk is None else tuple(state.walk.out_shape)


def kernel_count(state: StepperState) -> int:
    """How many grids the kernel column shows per filter: one per typed channel slice; none
    when pooling or upsampling; the mask per channel for dropout; the upstream gradient for a
    pooling gradient."""
    mode = state.mode
    if mode in ("max", "avg", "upsample"):
        return 0
    if mode in GRADIENT:
        return 1
    if mode == "dropout":
        return state.channels
    return 1 if state.kernel.ndim == 2 else state.kernel.shape[2]


def filters(state: StepperState) -> int:
    """How many filters the kernel column shows side by side (a convolution's K)."""
    return filter_count(state.settings) if state.mode == "conv" else 1


def shown_kernel(state: StepperState, c: int, f: int = 0) -> np.ndarray:
    """Kernel slice ``c`` of filter ``f`` as it slides (flipped for a mathematical convolution);
    dropout's mask (1 kept, 0 dropped) for channel ``c``; the upstream gradient ∂L/∂y."""
    w = state.walk
    if state.mode == "dropout":
        if not isinstance(w, DropoutWalk):
            return np.zeros((1, 1))
        m = w.mask if w.mask.ndim == 2 else w.mask[:, :, c]
        return m.astype(np.float64)
    if state.mode in GRADIENT:
        if not isinstance(w, PoolGradWalk):
            return np.zeros((1, 1))
        g = w.upstream
        return g if g.ndim == 2 else g[:, :, c]
    k = state.kernel
    if k.ndim == 3:
        k = k[:, :, c]
    elif k.ndim == 4:
        k = k[:, :, c, f]
    return k[::-1, ::-1] if state.settings.flip and state.mode == "conv" else k
