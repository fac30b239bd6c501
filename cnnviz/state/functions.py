"""Activation functions and softmax (book ch. 2, Figs 2.3–2.7 and §2.3.5) as plain Python.

:class:`FunctionsState` holds what the pane shows — the chosen function, its parameter α (leaky
ReLU, ELU), the input marked on the plot, the softmax logits and the true class — and emits
``changed`` after every change. The functions and their derivatives are numpy (they are the
same numbers as ``keras.activations`` and ``tf.GradientTape``; the TensorFlow comparison lives in
``tests/test_functions_tf.py``), and this module also says what each one means.

Two texts correct or complete the book:

* §2.3.5 prints the softmax of its example logits as ``[0, 0, 0.9737, 0.0241, …]`` and then says
  the model "has 0.9737% confidence" in the digit 2: 0.9737 is a probability, i.e. **97.37 %**.
* why the first loss of a freshly built 10-class model is about ln 10 ≈ 2.30: small random
  weights give nearly equal logits, softmax makes them uniform (1/10 each), and cross-entropy is
  −ln(1/10) = ln 10 whatever the true class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cnnviz.state.events import Event

__all__ = [
    "ALPHA_DEFAULTS",
    "BOOK_LOGITS",
    "BOOK_PROBABILITIES",
    "FUNCTIONS",
    "FUNCTION_INFO",
    "X_RANGE",
    "FunctionsState",
    "book_softmax_html",
    "cross_entropy",
    "derivative",
    "evaluate",
    "first_loss_html",
    "softmax",
]

#: key -> menu title, in the order of the menu (the book's figures: 2.3 relu, 2.4 elu,
#: 2.5 sigmoid, 2.6 tanh, 2.7 leaky relu).
FUNCTIONS: dict[str, str] = {
    "step": "Step (Heaviside)",
    "sigmoid": "Sigmoid σ(x)",
    "tanh": "tanh",
    "relu": "ReLU",
    "leaky_relu": "Leaky ReLU",
    "elu": "ELU",
    "softmax": "Softmax (one logit moved)",
}
#: The α of the functions that have one: Keras's defaults (``keras.activations.leaky_relu``'s
#: negative_slope=0.2, ``keras.activations.elu``'s alpha=1.0).
ALPHA_DEFAULTS: dict[str, float] = {"leaky_relu": 0.2, "elu": 1.0}
ALPHA_RANGE = (0.0, 3.0)
X_RANGE = (-6.0, 6.0)  # the plots' x axis and the marker's limits

FUNCTION_INFO: dict[str, str] = {
    "step": (
        "Step: 1 where x ≥ 0, else 0 — the perceptron's all-or-nothing. Its slope is 0 "
        "everywhere (undefined at 0), so gradient descent gets no signal through it: that is "
        "why networks use smooth or piecewise-linear activations instead."
    ),
    "sigmoid": (
        "Sigmoid (Fig. 2.5): 1 / (1 + e^−x) squeezes any input into 0..1. Slope σ(x)(1 − σ(x)), "
        "at most 0.25 at x = 0 and almost 0 for |x| > 5: deep stacks of sigmoids pass back "
        "vanishing gradients."
    ),
    "tanh": (
        "tanh (Fig. 2.6): like the sigmoid but into −1..1 and centred on 0 (tanh x = 2σ(2x) − 1). "
        "Slope 1 − tanh²x, 1 at x = 0, also vanishing for large |x|."
    ),
    "relu": (
        "ReLU (Fig. 2.3, §2.3.4): max(0, x) — negative inputs are cut to 0, positive ones pass "
        "unchanged. Slope 1 for x > 0 and 0 for x < 0 (Keras uses 0 at exactly 0): no vanishing "
        "for positive inputs, and cheap. A unit stuck at negative inputs gets no gradient "
        "(a \"dead\" ReLU)."
    ),
    "leaky_relu": (
        "Leaky ReLU (Fig. 2.7): x for x > 0, α·x otherwise — a small slope α for negative inputs "
        "so no unit dies. Keras's default α (negative_slope) is 0.2."
    ),
    "elu": (
        "ELU (Fig. 2.4): x for x > 0, α(e^x − 1) otherwise — smooth, and negative outputs down to "
        "−α pull the mean activation towards 0. Slope 1 for x > 0, α·e^x below. Keras's α is 1."
    ),
    "softmax": (
        "Softmax as a function of one logit: the probability of the true class while its logit "
        "x moves and the other logits (edited below) stay. It is the sigmoid of x minus the "
        "log-sum-exp of the others, so its slope is p(1 − p)."
    ),
}

#: The output of §2.3.5's example network (ten logits, digit 2 the largest).
BOOK_LOGITS: tuple[float, ...] = (-0.113, 1.24, 12.1, 8.401, -0.999, -3.1144, 0.101, 4.0, 2.909, 5.8)
#: The probabilities the book prints for them (rounded to 4 decimals).
BOOK_PROBABILITIES: tuple[float, ...] = (0, 0, 0.9737, 0.0241, 0, 0, 0, 0.0003, 0.0001, 0.0018)


# ------------------------------------------------------------------------------------------
# the functions


def softmax(logits) -> np.ndarray:
    """exp(z) / Σ exp(z), computed with the largest logit subtracted (the same numbers, and no
    overflow for logits like 1000)."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max())
    return e / e.sum()


def cross_entropy(probabilities, true_class: int) -> float:
    """−ln p[true class]: Keras's categorical cross-entropy for a one-hot label."""
    p = float(np.asarray(probabilities, dtype=np.float64)[true_class])
    return math.inf if p <= 0.0 else -math.log(p)


def _softmax_of_one(x: np.ndarray, logits, k: int) -> np.ndarray:
    """p_k as logit k takes the values ``x`` and the other logits stay."""
    others = np.delete(np.asarray(logits, dtype=np.float64), k)
    lse = np.log(np.sum(np.exp(others - others.max()))) + others.max() if others.size else -np.inf
    return 1.0 / (1.0 + np.exp(np.clip(lse - x, -700.0, 700.0)))


def evaluate(name: str, x, alpha: float | None = None, logits=None, k: int = 0) -> np.ndarray:
    """f(x) for the function ``name`` (float64, the shape of ``x``). ``alpha`` defaults to
    Keras's; ``logits`` and ``k`` are the softmax's other logits and the class followed."""
    x = np.asarray(x, dtype=np.float64)
    a = ALPHA_DEFAULTS.get(name, 0.0) if alpha is None else float(alpha)
    if name == "step":
        return (x >= 0).astype(np.float64)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-np.clip(x, -700.0, 700.0)))
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, x, a * x)
    if name == "elu":
        return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))
    if name == "softmax":
        return _softmax_of_one(x, BOOK_LOGITS if logits is None else logits, k)
    raise ValueError(f"Unknown activation function {name!r}: use one of {', '.join(FUNCTIONS)}.")


def derivative(name: str, x, alpha: float | None = None, logits=None, k: int = 0) -> np.ndarray:
    """f′(x), with the convention TensorFlow's gradients use at the kinks (the right-hand slope
    only where x > 0: ReLU′(0) = 0, leaky ReLU′(0) = α, ELU′(0) = α)."""
    x = np.asarray(x, dtype=np.float64)
    a = ALPHA_DEFAULTS.get(name, 0.0) if alpha is None else float(alpha)
    if name == "step":
        return np.zeros_like(x)
    if name in ("sigmoid", "softmax"):
        s = evaluate(name, x, a, logits, k)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if name == "relu":
        return (x > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(x > 0, 1.0, a)
    if name == "elu":
        return np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0.0)))
    raise ValueError(f"Unknown activation function {name!r}: use one of {', '.join(FUNCTIONS)}.")


# ------------------------------------------------------------------------------------------
# the book's numbers


def book_softmax_html() -> str:
    """§2.3.5's example computed, and the misprint named."""
    p = softmax(BOOK_LOGITS)
    shown = ", ".join(f"{v:.4f}".rstrip("0").rstrip(".") if v >= 5e-5 else "0" for v in p)
    return (
        f"<b>The book's example (§2.3.5):</b> softmax of its ten logits is [{shown}] — the "
        f"numbers it prints. The largest, <b>{p[2]:.4f}</b> for the digit 2, is a probability: "
        f"the model is <b>{100 * p[2]:.2f}%</b> confident. The book's \"0.9737% confidence\" is a "
        "misprint for 97.37%."
    )


def first_loss_html(classes: int = 10) -> str:
    """Why an untrained n-class model's first loss is about ln n."""
    p = 1.0 / classes
    return (
        f"<b>Why the first loss of a {classes}-class model is about {math.log(classes):.2f}:</b> "
        "with small random weights the logits are nearly equal, so softmax gives every class "
        f"1/{classes} = {p:.2g}, and cross-entropy is −ln(1/{classes}) = ln {classes} ≈ "
        f"{math.log(classes):.4f}, whatever the true class. A loss well above it means a bad "
        "start (for instance, inputs left at 0..255)."
    )


# ------------------------------------------------------------------------------------------
# the state


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "∞" if v > 0 else ("−∞" if v < 0 else "NaN")
    text = f"{v:.4g}" if abs(v) >= 1e-4 or v == 0 else f"{v:.2e}"
    return text.replace("-", "−")


@dataclass
class FunctionsState:
    """What the functions pane shows. Change it through :meth:`update`, :meth:`set_logit` and
    :meth:`set_logits`; each emits ``changed``."""

    function: str = "relu"
    alpha: float = ALPHA_DEFAULTS["leaky_relu"]
    x: float = 1.0
    logits: list[float] = field(default_factory=lambda: list(BOOK_LOGITS))
    true_class: int = 2
    changed: Event = field(default_factory=Event, init=False, repr=False, compare=False)

    # -- changes -------------------------------------------------------------------------------
    def update(self, **settings) -> None:
        """Change ``function``, ``alpha``, ``x`` or ``true_class``; bad values raise ValueError.
        Choosing a function with an α resets α to its Keras default; x is kept in the plot."""
        for key, value in settings.items():
            if key == "function":
                if value not in FUNCTIONS:
                    raise ValueError(f"{value!r} is not a function: use one of {', '.join(FUNCTIONS)}.")
                if value != self.function and value in ALPHA_DEFAULTS:
                    self.alpha = ALPHA_DEFAULTS[value]
            elif key == "alpha":
                value = float(value)
                if not ALPHA_RANGE[0] <= value <= ALPHA_RANGE[1]:
                    raise ValueError(f"α must lie in {ALPHA_RANGE[0]:g}..{ALPHA_RANGE[1]:g}; got {value}.")
            elif key == "x":
                value = min(X_RANGE[1], max(X_RANGE[0], float(value)))
            elif key == "true_class":
                value = int(value)
                if not 0 <= value < len(self.logits):
                    raise ValueError(f"The true class must be 0..{len(self.logits) - 1}; got {value}.")
            else:
                raise ValueError(f"Unknown functions setting {key!r}.")
            setattr(self, key, value)
        self.changed.emit()

    def set_logit(self, index: int, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError("A logit must be a finite number.")
        self.logits[index] = value
        self.changed.emit()

    def set_logits(self, values) -> None:
        """Replace all logits (at least two, finite); the true class is kept if it still exists."""
        vals = [float(v) for v in values]
        if len(vals) < 2 or not all(math.isfinite(v) for v in vals):
            raise ValueError("Softmax needs at least two finite logits.")
        self.logits = vals
        self.true_class = min(self.true_class, len(vals) - 1)
        self.changed.emit()

    def reset_logits(self) -> None:
        """The book's ten logits, true class 2."""
        self.logits = list(BOOK_LOGITS)
        self.true_class = 2
        self.changed.emit()

    def equal_logits(self) -> None:
        """Ten equal logits: what an untrained model outputs, loss ln 10."""
        self.logits = [0.0] * 10
        self.changed.emit()

    # -- values --------------------------------------------------------------------------------
    @property
    def has_alpha(self) -> bool:
        return self.function in ALPHA_DEFAULTS

    def _args(self) -> dict:
        return {"alpha": self.alpha, "logits": self.logits, "k": self.true_class}

    def curve(self, n: int = 601) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x, f(x), f′(x) over :data:`X_RANGE` for the plots."""
        xs = np.linspace(X_RANGE[0], X_RANGE[1], n)
        return xs, evaluate(self.function, xs, **self._args()), derivative(self.function, xs, **self._args())

    def value(self) -> float:
        return float(evaluate(self.function, self.x, **self._args()))

    def slope(self) -> float:
        return float(derivative(self.function, self.x, **self._args()))

    def probabilities(self) -> np.ndarray:
        return softmax(self.logits)

    def loss(self) -> float:
        return cross_entropy(self.probabilities(), self.true_class)

    # -- texts -----------------------------------------------------------------------------------
    def title(self) -> str:
        name = FUNCTIONS[self.function]
        return f"{name} (α = {self.alpha:g})" if self.has_alpha else name

    def info_text(self) -> str:
        return FUNCTION_INFO[self.function]

    def marker_text(self) -> str:
        """What the marker reads: input, value and slope."""
        return f"x = {_fmt(self.x)}   f(x) = {_fmt(self.value())}   f′(x) = {_fmt(self.slope())}"

    def softmax_rows(self) -> list[tuple[str, str, str, str]]:
        """(class, logit, exp(logit), probability) texts, one row per class. exp is written as
        e^z itself (not shifted) while it fits a float; the probabilities use the stable form."""
        p = self.probabilities()
        rows = []
        for i, z in enumerate(self.logits):
            e = math.exp(z) if z < 700 else math.inf
            rows.append((str(i), _fmt(z), _fmt(e), f"{p[i]:.4f} ({100 * p[i]:.2f}%)"))
        return rows

    def exp_sum(self) -> float:
        z = np.asarray(self.logits, dtype=np.float64)
        return float(np.exp(z).sum()) if z.max() < 700 else math.inf

    def softmax_summary_html(self) -> str:
        """The sum of exps, the winner and the cross-entropy for the true class."""
        p = self.probabilities()
        k = self.true_class
        best = int(np.argmax(p))
        loss = self.loss()
        n = len(self.logits)
        uniform = math.log(n)
        lines = [
            f"Σ e<sup>z</sup> = <b>{_fmt(self.exp_sum())}</b>; probabilities p = e<sup>z</sup> / Σ, "
            f"they sum to {p.sum():.4f}.",
            f"Predicted class <b>{best}</b> ({100 * p[best]:.2f}%).",
            f"Cross-entropy for true class {k}: −ln p[{k}] = −ln {p[k]:.4g} = <b>{_fmt(loss)}</b> "
            f"(uniform guess: ln {n} = {uniform:.3f}).",
        ]
        return "<br>".join(lines)

    # -- sessions ----------------------------------------------------------------------------
    def to_session(self) -> dict:
        """The pane's part of a session file (see :mod:`cnnviz.state.session`)."""
        return {"function": self.function, "alpha": self.alpha, "x": self.x,
                "logits": list(self.logits), "true_class": self.true_class}

    def apply_session(self, d: dict) -> None:
        """Show a session's function and logits; everything is checked first, so a bad value
        raises :class:`~cnnviz.state.session.SessionError` and changes nothing."""
        from cnnviz.state.session import Fields, SessionError

        f = Fields(d, "functions")
        logits = f.numbers("logits", self.logits, max_len=32)
        if len(logits) < 2:
            raise SessionError("The session's functions setting \"logits\" must hold at least two numbers.")
        values = {
            "function": f.choice("function", FUNCTIONS, self.function),
            "alpha": f.number("alpha", *ALPHA_RANGE, self.alpha),
            "x": f.number("x", *X_RANGE, self.x),
            "true_class": f.number("true_class", 0, len(logits) - 1, min(self.true_class, len(logits) - 1), integer=True),
        }
        with self.changed.blocked():
            self.logits = list(logits)
            self.function = values.pop("function")
            for key, value in values.items():
                setattr(self, key, value)
        self.changed.emit()
