"""The Siamese pane's rules and words, without Qt: pair distances, the same/different verdict,
the contrastive and triplet losses written out with their numbers, and the pane's session part.

Chapter 5 of the book: a siamese network embeds two images with one shared base network and
measures the Euclidean distance ``d`` between the embeddings. Listing 5.6 trains it with the
contrastive loss ``y·d² + (1 − y)·max(m − d, 0)²`` where **y = 1 means the same digit** and
y = 0 different digits (margin m = 1). The triplet loss (section 5.6) compares an anchor with a
positive (same) and a negative (different) example: ``max(d(a,p) − d(a,n) + α, 0)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnviz.state.events import Event

BUNDLED_MODEL = "resources:models/siamese_digits.keras"

#: How an input of a pair or triplet is chosen.
INPUT_KINDS = {
    "digit": "Bundled digit",
    "canvas": "The drawing",
    "image": "The current image",
}

Y_CONVENTION = ("The book (Listing 5.6) labels a pair y = 1 when both images show the same digit "
                "and y = 0 when they differ: same pairs are pulled together (y·d²), different "
                "pairs pushed at least the margin m apart ((1 − y)·max(m − d, 0)²).")
BLANK_CANVAS = ("The drawing is empty: draw a digit on the canvas first (white strokes on black, "
                "like MNIST), or choose a bundled digit.")

DEFAULT_MARGIN = 1.0
DEFAULT_THRESHOLD = 0.5
DEFAULT_ALPHA = 0.2


class InputError(ValueError):
    """A value or input the student gave that cannot be used; the message says why."""


def checked_number(value, what: str, hi: float = 100.0) -> float:
    """``value`` as a number from 0 to ``hi``; :class:`InputError` in words otherwise."""
    try:
        v = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise InputError(f"The {what} must be a number, like 0.5; '{value}' is not one.") from None
    if math.isnan(v) or math.isinf(v):
        raise InputError(f"The {what} must be an ordinary number, not {value}.")
    if v < 0:
        raise InputError(f"The {what} cannot be negative ({_n(v)}): it is a distance, and "
                         "distances are never below 0.")
    if v > hi:
        raise InputError(f"The {what} must be at most {_n(hi)} (found {_n(v)}).")
    return v


def _n(x: float, digits: int = 3) -> str:
    """A number as the formulas print it: no trailing zeros, a true minus sign (−, as in the
    formulas around it, not a hyphen)."""
    text = f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text.replace("-", "−")


def contrastive_loss(d: float, y: int, margin: float) -> float:
    """Listing 5.6's loss for one pair: ``y·d² + (1 − y)·max(m − d, 0)²`` (y = 1: same)."""
    return float(y * d * d + (1 - y) * max(margin - d, 0.0) ** 2)


def contrastive_text(d: float, y: int, margin: float) -> str:
    """The formula with this pair's numbers filled in, step by step."""
    hinge = max(margin - d, 0.0)
    loss = contrastive_loss(d, y, margin)
    return (f"L = y·d² + (1 − y)·max(m − d, 0)²\n"
            f"  = {y}·{_n(d)}² + (1 − {y})·max({_n(margin)} − {_n(d)}, 0)²\n"
            f"  = {_n(y * d * d, 4)} + {1 - y}·{_n(hinge)}²\n"
            f"  = {_n(loss, 4)}")


def triplet_loss(d_ap: float, d_an: float, alpha: float) -> float:
    """``max(d(a,p) − d(a,n) + α, 0)``."""
    return float(max(d_ap - d_an + alpha, 0.0))


def triplet_text(d_ap: float, d_an: float, alpha: float) -> str:
    loss = triplet_loss(d_ap, d_an, alpha)
    inside = d_ap - d_an + alpha
    verdict = ("L = 0: the negative is at least α farther from the anchor than the positive — "
               "this triplet teaches nothing more." if loss == 0 else
               "L > 0: the negative is not yet α farther away than the positive; training would "
               "pull the positive in and push the negative out.")
    return (f"d(a,p) = {_n(d_ap)}    d(a,n) = {_n(d_an)}    α = {_n(alpha)}\n"
            f"L = max(d(a,p) − d(a,n) + α, 0)\n"
            f"  = max({_n(d_ap)} − {_n(d_an)} + {_n(alpha)}, 0)\n"
            f"  = max({_n(inside, 4)}, 0) = {_n(loss, 4)}\n"
            f"{verdict}")


def verdict(d: float, threshold: float) -> str:
    """"same" when the distance is below the threshold, else "different"."""
    return "same" if d < threshold else "different"


def verdict_text(d: float, threshold: float, truth: bool | None) -> str:
    v = verdict(d, threshold)
    sign = "<" if v == "same" else "≥"
    text = f"d = {_n(d)} {sign} threshold {_n(threshold)}: the model says {v.upper()}"
    if truth is not None:
        right = (v == "same") == truth
        text += f" — {'right' if right else 'wrong'} (the digits are {'the same' if truth else 'different'})"
    return text


def blank(image: np.ndarray | None) -> bool:
    """True for a drawing with (almost) nothing on it."""
    return image is None or int(np.count_nonzero(np.asarray(image) > 20)) < 3


@dataclass
class InputChoice:
    """One input of a pair or triplet: its kind and, for a bundled digit, its class and index."""

    kind: str = "digit"
    digit: int = 0
    index: int = 0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "digit": self.digit, "index": self.index}


class Digits:
    """The bundled digits by class (``resources/data/mnist_digits.npz``)."""

    def __init__(self) -> None:
        from cnnviz import paths

        with np.load(paths.resource("data", "mnist_digits.npz"), allow_pickle=False) as data:
            x, y = data["x"], data["y"].astype(np.int64)
        self.by_class = [x[y == d] for d in range(10)]

    def count(self, digit: int) -> int:
        return len(self.by_class[digit])

    def image(self, digit: int, index: int) -> np.ndarray:
        return self.by_class[digit][index % self.count(digit)]

    def random(self, rng: np.random.Generator, digit: int | None = None,
               not_digit: int | None = None) -> tuple[int, int]:
        if digit is None:
            choices = [d for d in range(10) if d != not_digit]
            digit = int(rng.choice(choices))
        return digit, int(rng.integers(self.count(digit)))


class SiameseSettings:
    """The pane's numbers (margin, threshold, α) and input choices, with its session part."""

    def __init__(self) -> None:
        self.margin = DEFAULT_MARGIN
        self.threshold = DEFAULT_THRESHOLD
        self.alpha = DEFAULT_ALPHA
        self.pair = [InputChoice("digit", 4, 0), InputChoice("digit", 9, 0)]
        self.triplet = [InputChoice("digit", 7, 0), InputChoice("digit", 7, 1), InputChoice("digit", 1, 0)]
        self.model = BUNDLED_MODEL
        self.changed = Event()

    def set_number(self, name: str, value) -> float:
        what = {"margin": "margin m", "threshold": "threshold", "alpha": "margin α"}[name]
        v = checked_number(value, what)
        setattr(self, name, v)
        self.changed.emit(name)
        return v

    def to_session(self) -> dict:
        return {"model": self.model, "margin": self.margin, "threshold": self.threshold,
                "alpha": self.alpha, "pair": [c.to_dict() for c in self.pair],
                "triplet": [c.to_dict() for c in self.triplet]}

    def apply_session(self, d: dict) -> None:
        """Take a session's part; everything is checked first (:class:`SessionError` in words),
        so a bad value changes nothing."""
        from cnnviz.state.session import Fields, SessionError

        f = Fields(d, "siamese")
        model = f.optional_text("model", self.model)
        numbers = {k: f.number(k, 0.0, 100.0, getattr(self, k)) for k in ("margin", "threshold", "alpha")}

        def choices(key: str, n: int, current: list[InputChoice]) -> list[InputChoice]:
            raw = d.get(key)
            if raw is None:
                return current
            if not isinstance(raw, list) or len(raw) != n or not all(isinstance(c, dict) for c in raw):
                raise SessionError(f"The session's siamese setting \"{key}\" must list {n} inputs.")
            out = []
            for c in raw:
                g = Fields(c, "siamese")
                out.append(InputChoice(g.choice("kind", INPUT_KINDS, "digit"),
                                       int(g.number("digit", 0, 9, 0, integer=True)),
                                       int(g.number("index", 0, 10_000, 0, integer=True))))
            return out

        pair = choices("pair", 2, self.pair)
        triplet = choices("triplet", 3, self.triplet)
        self.model = model or BUNDLED_MODEL
        for k, v in numbers.items():
            setattr(self, k, float(v))
        self.pair, self.triplet = pair, triplet
        self.changed.emit("session")
