"""The stepper's walk and where it stands, as plain Python (no Qt): see :mod:`cnnviz.state.stepper`."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cnnviz.core.convolution import (
    ConvStep,
    ConvWalk,
    PoolStep,
    PoolWalk,
    TransposeStep,
    TransposeWalk,
    pad_input,
    resolve_padding,
)
from cnnviz.state.events import Event
from cnnviz.state.kernels import resize_kernel
from cnnviz.state.stepper import cells, texts
from cnnviz.state.stepper.choices import BOOK_IMAGE, BOOK_KERNEL, MODES, POOLING
from cnnviz.state.stepper.sources import StepperSources

__all__ = ["Settings", "StepperState"]


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


class _OnSources:
    """An attribute or method of :class:`StepperState` that lives on its :attr:`~StepperState.sources`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj, objtype=None):
        return self if obj is None else getattr(obj.sources, self.name)

    def __set__(self, obj, value) -> None:
        setattr(obj.sources, self.name, value)


class StepperState:
    """The stepper's one source of truth: the settings, the walk built from them and the current
    step; :attr:`sources` says where the input and the kernel come from (events: see
    :mod:`cnnviz.state.stepper`)."""

    def __init__(self) -> None:
        self.settings = Settings(image=BOOK_IMAGE.copy(), kernel=BOOK_KERNEL.copy())
        self.walk: Walk | None = None
        self.error: str = ""
        self.position: int = 0
        self._touched: TransposeWalk | None = None
        self.changed = Event()
        self.sources = StepperSources(self.update)
        self._rebuild()

    def snapshot(self) -> StepperState:
        """A copy that notifies nobody and shares nothing the original changes: a GIF export
        renders from it while the user goes on editing."""
        twin = StepperState.__new__(StepperState)
        twin.__dict__.update(self.__dict__)
        twin.settings = replace(self.settings, image=self.image.copy(), kernel=self.kernel.copy())
        twin.changed = Event()
        twin.sources = self.sources.detached(twin.update)
        return twin

    # -- where the input and the kernel come from (see StepperSources) -------------------------
    inputs_changed = _OnSources()
    text_loaded = _OnSources()
    message_changed = _OnSources()
    source = _OnSources()
    kernel_source = _OnSources()
    matrix_text = _OnSources()
    kernel_text = _OnSources()
    crop = _OnSources()
    picture = _OnSources()
    message = _OnSources()
    set_source = _OnSources()
    edit_text = _OnSources()
    type_matrix = _OnSources()
    set_picture = _OnSources()
    set_crop = _OnSources()
    crop_limits = _OnSources()
    set_kernel_source = _OnSources()
    playground_kernel_changed = _OnSources()
    choose_preset = _OnSources()
    type_kernel = _OnSources()

    # -- the words (plain functions of the state in cnnviz.state.stepper.texts) ----------------
    step_lines = texts.step_lines
    formula_lines = texts.formula_lines
    formula_head = texts.formula_head
    operator = texts.operator
    channel_names = texts.channel_names
    input_levels = texts.input_levels
    input_title = texts.input_title
    kernel_title = texts.kernel_title
    output_title = texts.output_title
    hover_hint = texts.hover_hint
    input_hover_text = texts.input_hover_text
    output_hover_text = texts.output_hover_text
    jump_text = texts.jump_text
    export_plan_text = staticmethod(texts.export_plan_text)

    # -- which cells are linked (plain functions of the state in cnnviz.state.stepper.cells) ---
    window_cells = cells.window_cells
    output_cells = cells.output_cells
    winners = cells.winners
    outputs_fed_by = cells.outputs_fed_by
    inputs_of = cells.inputs_of
    step_for_output = cells.step_for_output
    step_for_input = cells.step_for_input
    is_padding = cells.is_padding

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
        self.sources.use_typed_kernel(new)
        self.update(kernel=new)
        self.sources.inputs_changed.emit()

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

    def output_shape(self) -> tuple[int, int] | None:
        return None if self.walk is None else tuple(self.walk.out_shape)

    def kernel_count(self) -> int:
        """How many kernel grids to show: none when pooling, one per typed channel slice."""
        if self.mode in POOLING:
            return 0
        return 1 if self.kernel.ndim == 2 else self.kernel.shape[2]

    def shown_kernel(self, c: int) -> np.ndarray:
        """Kernel slice ``c`` as it slides (flipped for a mathematical convolution)."""
        k = self.kernel if self.kernel.ndim == 2 else self.kernel[:, :, c]
        return k[::-1, ::-1] if self.settings.flip and self.mode == "conv" else k
