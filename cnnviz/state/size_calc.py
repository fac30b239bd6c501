"""The output-size calculator (no Qt): the student types an input size and a stack of conv or
pooling layers (kernel, stride, padding, dilation) and reads each layer's output size with the
book's formula filled in, the receptive field on the input, or why the settings cannot work."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cnnviz.core.layer_arith import conv_output, conv_output_text, effective_kernel, rf_step
from cnnviz.state.events import Event

#: The most layers the calculator stacks (more would not fit a dialog).
MAX_LAYERS = 8
#: Numbers above this are surely typos (and would make the formulas unreadable).
MAX_NUMBER = 100_000
FIELDS = ("kernel", "stride", "padding", "dilation")
FIELD_WORDS = {"kernel": "kernel size", "stride": "stride", "padding": "padding", "dilation": "dilation"}


@dataclass(frozen=True)
class LayerSettings:
    """One layer as typed (texts, so a half-typed value is kept as it is)."""

    kernel: str = "3"
    stride: str = "1"
    padding: str = "valid"  # "valid", "same" or a number of pixels on each side
    dilation: str = "1"


@dataclass(frozen=True)
class LayerOutcome:
    """What one layer does to the size; ``error`` set when it cannot work (then no size)."""

    size: int | None
    formula: str
    rf: int | None = None  # receptive field on the input, in pixels
    jump: int | None = None  # input pixels between neighbouring outputs
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    input_error: str | None
    layers: list[LayerOutcome]

    @property
    def ok(self) -> bool:
        return self.input_error is None and all(o.error is None for o in self.layers)

    def summary(self, input_text: str) -> str:
        if self.input_error:
            return self.input_error
        sizes = [input_text.strip()] + [str(o.size) for o in self.layers if o.error is None]
        if not self.ok:
            first = next(i for i, o in enumerate(self.layers) if o.error) + 1
            return f"Layer {first} cannot work with these settings (see its row)."
        last = self.layers[-1] if self.layers else None
        text = " → ".join(sizes)
        if last is not None:
            text += (f". One output of the last layer sees {last.rf}×{last.rf} input pixels; "
                     f"neighbouring outputs are {last.jump} pixel{'s' if last.jump != 1 else ''} apart.")
        return text


class NumberError(ValueError):
    pass


def parse_number(text: str, what: str, minimum: int) -> int:
    """A whole number typed in a field, or a :class:`NumberError` in words."""
    t = text.strip()
    if not t:
        raise NumberError(f"Type a {what}.")
    try:
        value = int(t)
    except ValueError:
        try:
            f = float(t)
        except ValueError:
            raise NumberError(f"The {what} “{t}” is not a number. Type a whole number such as 3.") from None
        raise NumberError(f"The {what} must be a whole number of pixels, not {f:g}.") from None
    if value < 0:
        raise NumberError(f"The {what} cannot be negative ({value}).")
    if value < minimum:
        why = {
            "stride": "a stride of 0 would never move the window; 1 moves it one pixel each step",
            "dilation": "1 means no gaps between the kernel's cells",
            "kernel size": "a kernel needs at least one cell",
            "input size": "an image needs at least one pixel",
        }.get(what, "")
        raise NumberError(f"The {what} must be at least {minimum}" + (f": {why}." if why else "."))
    if value > MAX_NUMBER:
        raise NumberError(f"The {what} {value} is too big for this calculator (at most {MAX_NUMBER:,}).")
    return value


def parse_padding(text: str) -> str | int:
    t = text.strip().lower()
    if t in ("valid", "same"):
        return t
    if not t:
        raise NumberError("Type the padding: valid, same or a number of pixels.")
    try:
        value = int(t)
    except ValueError:
        raise NumberError(f"The padding “{text.strip()}” is not valid, same or a whole number of pixels.") from None
    if value < 0:
        raise NumberError(f"The padding cannot be negative ({value}): it is how many rows of zeros "
                          f"are added on each side.")
    if value > MAX_NUMBER:
        raise NumberError(f"The padding {value} is too big for this calculator (at most {MAX_NUMBER:,}).")
    return value


def layer_outcome(n: int, layer: LayerSettings, rf: int = 1, jump: int = 1) -> LayerOutcome:
    """One layer on an input of ``n`` pixels (per side) whose outputs see ``rf`` input pixels,
    ``jump`` pixels apart."""
    try:
        f = parse_number(layer.kernel, "kernel size", 1)
        s = parse_number(layer.stride, "stride", 1)
        p = parse_padding(layer.padding)
        d = parse_number(layer.dilation, "dilation", 1)
    except NumberError as e:
        return LayerOutcome(None, "", error=str(e))
    fe = effective_kernel(f, d)
    if p != "same":
        pad = 0 if p == "valid" else p
        padded = n + 2 * pad
        if fe > padded:
            where = f"the input ({n} pixels)" if pad == 0 else f"the padded input ({n} + 2·{pad} = {padded} pixels)"
            if d > 1 and f <= padded:
                msg = (f"With dilation {d} the {f}-pixel kernel spans {d}·({f} − 1) + 1 = {fe} pixels, "
                       f"more than {where}. Use a smaller dilation or kernel, or more padding.")
            else:
                msg = (f"The {f}×{f} kernel is bigger than {where}: it has nowhere to fit. "
                       f"Use a smaller kernel, more padding or 'same'.")
            return LayerOutcome(None, "", error=msg)
    size = conv_output(n, f, s, p, d)
    new_rf, new_jump = rf_step(rf, jump, f, s, d)
    return LayerOutcome(size, conv_output_text(n, f, s, p, d), new_rf, new_jump)


def compute(input_text: str, layers: list[LayerSettings]) -> Outcome:
    """Every layer's outcome, one after the other; after a layer that cannot work the rest wait."""
    try:
        n = parse_number(input_text, "input size", 1)
    except NumberError as e:
        return Outcome(str(e), [])
    out: list[LayerOutcome] = []
    rf, jump, broken = 1, 1, None
    for i, layer in enumerate(layers):
        if broken is not None:
            out.append(LayerOutcome(None, "", error=f"Waits for layer {broken} to work."))
            continue
        o = layer_outcome(n, layer, rf, jump)
        out.append(o)
        if o.error:
            broken = i + 1
        else:
            n, rf, jump = o.size, o.rf, o.jump
    return Outcome(None, out)


class SizeCalcState:
    """What the calculator holds; ``changed`` fires after every edit."""

    def __init__(self, input_size: str = "28", layers: list[LayerSettings] | None = None) -> None:
        self.input_text = input_size
        self.layers: list[LayerSettings] = list(layers) if layers else [LayerSettings()]
        self.changed = Event()

    def outcome(self) -> Outcome:
        return compute(self.input_text, self.layers)

    def summary(self) -> str:
        return self.outcome().summary(self.input_text)

    def set_input(self, text: str) -> None:
        if text != self.input_text:
            self.input_text = text
            self.changed.emit()

    def set_field(self, index: int, field: str, text: str) -> None:
        if field not in FIELDS:
            raise ValueError(f"unknown field {field!r}")
        if getattr(self.layers[index], field) != text:
            self.layers[index] = replace(self.layers[index], **{field: text})
            self.changed.emit()

    def can_add(self) -> bool:
        return len(self.layers) < MAX_LAYERS

    def add_layer(self) -> None:
        """A new layer after the last one, with its settings (the common stack of equal layers)."""
        if self.can_add():
            self.layers.append(self.layers[-1] if self.layers else LayerSettings())
            self.changed.emit()

    def remove_layer(self, index: int) -> None:
        if len(self.layers) > 1 and 0 <= index < len(self.layers):
            del self.layers[index]
            self.changed.emit()
