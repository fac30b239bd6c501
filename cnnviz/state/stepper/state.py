"""The stepper's walk and where it stands, as plain Python (no Qt): see :mod:`cnnviz.state.stepper`."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cnnviz.core.convolution import ConvStep, PoolStep, TransposeStep, TransposeWalk
from cnnviz.core.layer_walks import DropoutStep, PoolGradStep, UpsampleStep
from cnnviz.state.events import Event
from cnnviz.state.kernels import resize_kernel
from cnnviz.state.stepper import cells, grids, texts, walks
from cnnviz.state.stepper.choices import BOOK_IMAGE, BOOK_KERNEL, INTERPOLATION_NAMES, LIMITS, MODES, POOL_LIKE
from cnnviz.state.stepper.matrices import MatrixError, parse_matrix
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
    biases: tuple[float, ...] = ()  # one per filter of a (kh, kw, C, K) kernel
    factor: tuple[int, int] = (2, 2)  # UpSampling2D's size
    interpolation: str = "nearest"
    rate: float = 0.5  # dropout
    seed: int = 0
    training: bool = True
    upstream: np.ndarray | None = None  # the pooling gradient's ∂L/∂y (None: 1, 2, 3, …)


Walk = walks.Walk
Step = ConvStep | PoolStep | TransposeStep | UpsampleStep | DropoutStep | PoolGradStep
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
        self.upstream_text = ""  # what the upstream-gradient editor holds
        self._touched: TransposeWalk | None = None
        self.changed = Event()
        self.sources = StepperSources(self.update)
        self._rebuild()

    def snapshot(self) -> StepperState:
        """A copy that notifies nobody and shares nothing the original changes: a GIF export
        renders from it while the user goes on editing."""
        twin = StepperState.__new__(StepperState)
        twin.__dict__.update(self.__dict__)
        up = self.settings.upstream
        twin.settings = replace(self.settings, image=self.image.copy(), kernel=self.kernel.copy(),
                                upstream=None if up is None else up.copy())
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
    legend_keys = texts.legend_keys
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

    # -- what the grids show (plain functions of the state in cnnviz.state.stepper.grids) ------
    pads = grids.pads
    shown_input = grids.shown_input
    pad_label = grids.pad_label
    output = grids.output
    filled = grids.filled
    untouched = grids.untouched
    output_levels = grids.output_levels
    displayed_output = grids.displayed_output
    output_shape = grids.output_shape
    kernel_count = grids.kernel_count
    filter_count = grids.filters
    shown_kernel = grids.shown_kernel

    # -- mode rules --------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Switch mode the way Keras's layers default: entering pooling (or its gradient) makes
        the stride the pool size and leaving it makes it 1; a transposed convolution takes no
        explicit padding (it falls back to ``"valid"``)."""
        old = self.mode
        changes: dict = {"mode": mode}
        pooling = mode in POOL_LIKE
        if pooling and old not in POOL_LIKE:
            changes["stride"] = self.settings.pool_size
        elif not pooling and old in POOL_LIKE:
            changes["stride"] = (1, 1)
        if mode == "transpose" and self.settings.padding == "explicit":
            changes["padding"] = "valid"
        self.update(**changes)

    def set_window_size(self, rows: int, cols: int) -> None:
        """Resize the sliding window: the pool size when pooling (the stride follows while it
        equals the pool size, Keras's default), UpSampling2D's size factor, else the kernel,
        grown or cropped around its centre as the kernel editor does
        (:func:`cnnviz.state.kernels.resize_kernel`); dropout has no window."""
        if self.mode == "upsample":
            self.update(factor=(rows, cols))
            return
        if self.mode == "dropout":
            return
        if self.mode in POOL_LIKE:
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
            flat = k.reshape(k.shape[0], k.shape[1], -1)
            new = np.stack([resize_kernel(flat[:, :, c], rows, cols) for c in range(flat.shape[2])], axis=2)
            new = new.reshape(rows, cols, *k.shape[2:])
        self.sources.use_typed_kernel(new)
        self.update(kernel=new)
        self.sources.inputs_changed.emit()

    def uses(self) -> dict[str, bool]:
        """Which settings the current mode uses (the others are shown disabled)."""
        mode = self.mode
        weighted = mode in ("conv", "transpose")
        windowed = weighted or mode in POOL_LIKE
        return {
            "kernel": weighted,  # the kernel's source, preset and text
            "flip": mode == "conv",
            "pad_mode": mode == "conv",
            "dilation": weighted,
            "bias": weighted and self.filter_count() == 1,
            "activation": weighted,
            "explicit_padding": mode != "transpose",
            "pads": self.settings.padding == "explicit",
            "stride": windowed,
            "padding": windowed,
            "window": mode != "dropout",
        }

    def mode_options(self) -> dict[str, bool]:
        """Which of the settings only some modes have are shown: one bias per filter, the
        interpolation, dropout's rate, seed and training switch, the upstream gradient."""
        mode = self.mode
        return {
            "biases": mode == "conv" and self.filter_count() > 1,
            "interpolation": mode == "upsample",
            "dropout": mode == "dropout",
            "upstream": mode in ("max_grad", "avg_grad"),
        }

    def type_upstream(self, text: str) -> None:
        """Read a typed upstream gradient ∂L/∂y (rows as in the matrix editor); an empty text
        means 1, 2, 3, … in the pooled output's shape. One that cannot be read is said in
        :attr:`message` and leaves the last good one in place."""
        self.upstream_text = text
        if not text.strip():
            self.sources._set_message("")
            self.update(upstream=None)
            return
        try:
            g = parse_matrix(text)
        except MatrixError as e:
            self.sources._set_message(f"Upstream gradient: {e}")
            return
        self.sources._set_message("")
        self.update(upstream=g)

    def set_biases(self, text: str) -> None:
        """One bias per filter, typed as numbers split by commas or spaces."""
        try:
            values = [float(t.replace("−", "-")) for t in text.replace(",", " ").split()]
        except ValueError:
            self.sources._set_message(f"Biases: '{text}' is not a list of numbers (e.g. -1, 2).")
            return
        self.sources._set_message("")
        self.update(biases=values)

    def window_size_label(self) -> str:
        if self.mode == "upsample":
            return "Size factor"
        return "Pool size" if self.mode in POOL_LIKE else "Size"

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
        """The sliding window: the pool size when pooling, UpSampling2D's size factor, 1×1 for
        dropout, else the kernel's (kh, kw)."""
        if self.mode in POOL_LIKE:
            return self.settings.pool_size
        if self.mode == "upsample":
            return self.settings.factor
        if self.mode == "dropout":
            return (1, 1)
        k = self.settings.kernel
        return int(k.shape[0]), int(k.shape[1])

    def update(self, **changes) -> None:
        """Change settings and rebuild the walk; the step number is kept where it still exists."""
        unknown = set(changes) - _FIELDS
        if unknown:
            raise TypeError(f"unknown stepper setting(s): {', '.join(sorted(unknown))}")
        s = self.settings
        for name, value in changes.items():
            if name in ("image", "kernel") or name == "upstream" and value is not None:
                value = np.array(value, dtype=np.float64)
            elif name == "biases":
                value = tuple(float(b) for b in value)
            elif name == "rate":
                value = min(max(float(value), 0.0), LIMITS.rate)
            elif name in ("seed", "training"):
                value = int(value) if name == "seed" else bool(value)
            elif name in ("stride", "dilation", "pool_size", "factor"):
                value = (int(value), int(value)) if np.ndim(value) == 0 else (int(value[0]), int(value[1]))
            elif name == "pads":
                (t, b), (l, r) = value
                value = ((int(t), int(b)), (int(l), int(r)))
            elif name == "bias":
                value = float(value)
            if name == "mode" and value not in MODES:
                raise ValueError(f"Unknown mode '{value}': use one of {', '.join(MODES)}.")
            if name == "interpolation" and value not in INTERPOLATION_NAMES:
                raise ValueError(f"Unknown interpolation '{value}': use {' or '.join(INTERPOLATION_NAMES)}.")
            setattr(s, name, value)
        self._rebuild()

    def _padding_arg(self):
        s = self.settings
        return s.pads if s.padding == "explicit" else s.padding

    def _rebuild(self) -> None:
        self.walk, self._touched, self.error = None, None, ""
        try:
            self.walk, self._touched = walks.build(self.settings)
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

    # -- sessions ----------------------------------------------------------------------------
    _SESSION_PAIRS = {"pool_size": "kernel", "stride": "stride", "dilation": "dilation", "factor": "factor"}

    def to_session(self) -> dict:
        """The stepper's part of a session file (see :mod:`cnnviz.state.session`): where the
        input and kernel come from (with the typed matrices), every setting and the step."""
        s = self.settings
        d = {
            "source": self.source, "kernel_source": self.kernel_source,
            "matrix_text": self.matrix_text, "kernel_text": self.kernel_text,
            "crop": list(self.crop), "mode": s.mode, "padding": s.padding,
            "pads": [s.pads[0][0], s.pads[0][1], s.pads[1][0], s.pads[1][1]],
            "pad_mode": s.pad_mode, "bias": s.bias, "activation": s.activation, "flip": s.flip,
            "biases": list(s.biases), "interpolation": s.interpolation, "rate": s.rate,
            "seed": s.seed, "training": s.training, "upstream_text": self.upstream_text,
            "position": self.position,
        }
        for name in self._SESSION_PAIRS:
            d[name] = list(getattr(s, name))
        return d

    def _check_session(self, d: dict) -> tuple[dict, dict]:
        from cnnviz.state.session import Fields, SessionError
        from cnnviz.state.stepper.choices import (
            KERNEL_SOURCES,
            PAD_MODE_NAMES,
            PADDINGS,
            SOURCES,
            STEP_ACTIVATIONS,
        )
        from cnnviz.state.stepper.matrices import parse_filters, parse_kernel

        f = Fields(d, "stepper")
        s = self.settings
        inputs = {
            "source": f.choice("source", SOURCES, self.source),
            "kernel_source": f.choice("kernel_source", KERNEL_SOURCES, self.kernel_source),
            "matrix_text": f.text("matrix_text", self.matrix_text),
            "kernel_text": f.text("kernel_text", self.kernel_text),
            "crop": f.integers("crop", 4, 0, LIMITS.crop_origin, self.crop),
            "upstream_text": f.text("upstream_text", self.upstream_text),
            "position": f.number("position", 0, 10**7, self.position, integer=True),
        }
        for key, parse in (("matrix_text", parse_kernel), ("kernel_text", parse_filters)):
            if key in f:
                try:
                    parse(inputs[key])
                except MatrixError as e:
                    raise SessionError(f"The session's stepper setting \"{key}\" cannot be read: {e}") from None
        limits = {"kernel": LIMITS.kernel, "stride": LIMITS.stride, "dilation": LIMITS.dilation, "factor": LIMITS.factor}
        settings = {
            "mode": f.choice("mode", MODES, s.mode),
            "padding": f.choice("padding", PADDINGS, s.padding),
            "pad_mode": f.choice("pad_mode", PAD_MODE_NAMES, s.pad_mode),
            "bias": f.number("bias", -LIMITS.bias, LIMITS.bias, s.bias),
            "activation": f.choice("activation", STEP_ACTIVATIONS, s.activation),
            "flip": f.flag("flip", s.flip),
            "biases": f.numbers("biases", s.biases, max_len=LIMITS.filters),
            "interpolation": f.choice("interpolation", INTERPOLATION_NAMES, s.interpolation),
            "rate": f.number("rate", 0.0, LIMITS.rate, s.rate),
            "seed": f.number("seed", 0, LIMITS.seed, s.seed, integer=True),
            "training": f.flag("training", s.training),
        }
        pads = f.integers("pads", 4, 0, LIMITS.pad)
        settings["pads"] = s.pads if pads is None else ((pads[0], pads[1]), (pads[2], pads[3]))
        for name, limit in self._SESSION_PAIRS.items():
            settings[name] = f.integers(name, 2, 1, limits[limit], getattr(s, name))
        return inputs, settings

    def apply_session(self, d: dict, playground: np.ndarray | None = None) -> None:
        """Show a session's inputs, settings and step; everything is checked first, so a bad
        value raises :class:`~cnnviz.state.session.SessionError` and changes nothing.
        ``playground``: the Kernels tab's kernel, for a session whose kernel follows it."""
        from cnnviz.state.stepper.choices import CROP_SOURCES

        inputs, settings = self._check_session(d)
        src = self.sources
        src.crop = tuple(inputs["crop"])
        for which in ("matrix", "kernel"):
            src.edit_text(which, inputs[f"{which}_text"])
            src.text_loaded.emit(which, inputs[f"{which}_text"])
        source = inputs["source"]
        src.set_source(source)  # the book's examples load their own kernel and settings
        if source in CROP_SOURCES:
            src.set_crop(*inputs["crop"])
        src.edit_text("kernel", inputs["kernel_text"])
        src.text_loaded.emit("kernel", inputs["kernel_text"])
        if inputs["kernel_source"] == "playground":
            src.set_kernel_source("playground", playground)
        else:
            src.kernel_source = "typed"
            src.type_kernel()
            src.inputs_changed.emit()
        self.update(**settings)
        self.type_upstream(inputs["upstream_text"])
        self.go_to(inputs["position"])

    def load_window(self, window: np.ndarray, kernel: np.ndarray, bias: float = 0.0,
                    activation: str = "linear") -> None:
        """Show one unit of a real model: its input ``window`` ((kh, kw) or (kh, kw, C)) typed as
        the matrix, ``kernel`` of the same shape as the typed kernel, its ``bias`` and
        ``activation`` — a valid, stride-1 convolution without flipping (Keras's), at its first
        step. It goes through :meth:`apply_session`, so it is checked like a session and a bad
        value changes nothing."""
        from cnnviz.state.stepper.matrices import format_matrix

        self.apply_session({
            "source": "typed", "kernel_source": "typed",
            "matrix_text": format_matrix(np.asarray(window, dtype=np.float64)),
            "kernel_text": format_matrix(np.asarray(kernel, dtype=np.float64)),
            "mode": "conv", "padding": "valid", "pad_mode": "zero", "flip": False,
            "stride": [1, 1], "dilation": [1, 1], "bias": float(bias), "activation": activation,
            "biases": [], "position": 0,
        })
