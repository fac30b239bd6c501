"""Which cells of the stepper's grids are linked, as plain functions of a
:class:`~cnnviz.state.stepper.StepperState`: the window the current step reads and the cells it
writes, max-pooling's winners, the outputs an input cell feeds, an output's receptive field, the
step that computes a cell and which shown cells are padding. :class:`StepperState` offers each as
a method of the same name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnviz.core.convolution import ConvStep, PoolStep, PoolWalk, TransposeStep, TransposeWalk
from cnnviz.core.layer_walks import DropoutStep, PoolGradStep, PoolGradWalk, UpsampleStep

if TYPE_CHECKING:
    from cnnviz.state.stepper.state import StepperState


def window_cells(state: StepperState) -> list[tuple[int, int]]:
    """Input cells (in shown-input coordinates) the current step reads, or scatters from."""
    st = state.current()
    if st is None:
        return []
    if isinstance(st, ConvStep):
        return [(r, c) for r in st.rows for c in st.cols]
    if isinstance(st, (PoolStep, PoolGradStep)):
        r0, c0 = st.window_origin
        ph, pw = state.settings.pool_size
        return [(r0 + u, c0 + v) for u in range(ph) for v in range(pw)]
    if isinstance(st, UpsampleStep):
        return list(st.sources)
    if isinstance(st, DropoutStep):
        return [st.out_pos]
    return [st.in_pos]


def output_cells(state: StepperState) -> list[tuple[int, int]]:
    """Output cells the current step writes (one; a kernel footprint when transposed; where the
    gradient goes — the winner or the whole window — for a pooling gradient)."""
    st = state.current()
    if st is None:
        return []
    if isinstance(st, PoolGradStep):
        return sorted({(r, c) for routes in st.routes for r, c, _ in routes})
    if isinstance(st, TransposeStep):
        return [
            (r, c) for a, r in enumerate(st.rows) for b, c in enumerate(st.cols) if st.inside[a, b]
        ]
    return [st.out_pos]


def winners(state: StepperState) -> list[tuple[int, int]]:
    """Max-pooling: the input cell that won, per channel."""
    st = state.current()
    if isinstance(st, (PoolStep, PoolGradStep)) and st.winner is not None:
        return list(st.winner) if isinstance(st.winner, list) else [st.winner]
    return []


def outputs_fed_by(state: StepperState, r: int, c: int) -> list[tuple[int, int]]:
    """Output cells that shown-input cell (r, c) takes part in."""
    w = state.walk
    if w is None:
        return []
    if isinstance(w, PoolGradWalk):  # the gradient of input cell (r, c) is output cell (r, c)
        (pt, _), (pl, _) = w.pads
        h, wd = state.settings.image.shape[:2]
        return [(r - pt, c - pl)] if (pt <= r < pt + h and pl <= c < pl + wd) else []
    try:
        if isinstance(w, PoolWalk):
            (pt, _), (pl, _) = w.pads
            h, wd = state.settings.image.shape[:2]
            if not (pt <= r < pt + h and pl <= c < pl + wd):
                return []  # pooling never reads its padding
        return w.outputs_fed_by(r, c)
    except IndexError:
        return []


def inputs_of(state: StepperState, i: int, j: int) -> list[tuple[int, int]]:
    """Shown-input cells that output cell (i, j) depends on (its receptive field)."""
    w = state.walk
    if w is None:
        return []
    if isinstance(w, PoolGradWalk):  # the input cell whose gradient it is
        (pt, _), (pl, _) = w.pads
        return [(i + pt, j + pl)]
    try:
        if isinstance(w, TransposeWalk):
            return w.inputs_feeding(i, j)
        return w.receptive_field(i, j)
    except IndexError:
        return []


def step_for_output(state: StepperState, i: int, j: int) -> int | None:
    """The step that computes output cell (i, j) — for a transposed convolution, the last
    input that scatters into it (when the cell is complete)."""
    w = state.walk
    if w is None:
        return None
    if isinstance(w, TransposeWalk):
        feeders = state.inputs_of(i, j)
        return max((w.index_of(a, b) for a, b in feeders), default=None)
    if isinstance(w, PoolGradWalk):  # the last window that routes gradient to it
        (pt, _), (pl, _) = w.pads
        windows = w.outputs_fed_by(i + pt, j + pl)
        return max((w.index_of(a, b) for a, b in windows), default=None)
    try:
        return w.index_of(i, j)
    except IndexError:
        return None


def step_for_input(state: StepperState, r: int, c: int) -> int | None:
    """Transposed mode: the step in which input cell (r, c) scatters."""
    if isinstance(state.walk, TransposeWalk):
        try:
            return state.walk.index_of(r, c)
        except IndexError:
            return None
    return None


def is_padding(state: StepperState, r: int, c: int) -> bool:
    """Whether shown-input cell (r, c) is padding (never where the mode does not pad)."""
    if state.mode in ("transpose", "upsample", "dropout"):
        return False
    (pt, _), (pl, _) = state.pads()
    h, w = state.image.shape[:2]
    return not (pt <= r < pt + h and pl <= c < pl + w)
