"""Pattern matching, the book's chapter-1 experiment, as plain Python: slide a pattern over the
image, score every position, and find the shape.

:class:`MatchingState` holds the pane's truth — the pattern (float weights, 0..1 for patterns cut
from images), where it came from, the method ("dot" — the book's raw dot product — or "ncc"),
the scale factor and how many matches to mark — and emits ``changed`` after every change.
``cnnviz.core.matching`` does the arithmetic; this module says what the numbers mean: the titles,
the best matches, and why brightness wins the dot product while NCC compares shape only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from cnnviz.core.matching import METHODS, MatchResult, Peak, match_pattern, scale_pattern
from cnnviz.state.events import Event

__all__ = [
    "MAX_MARKED",
    "MIN_SIDE",
    "SCALE_MAX",
    "SCALE_MIN",
    "SCALE_STEP",
    "ENLARGE_CHOICES",
    "SYNC_PIXEL_LIMIT",
    "MatchingState",
    "match",
    "pattern_levels",
    "selection_to_box",
]

SCALE_MIN, SCALE_MAX, SCALE_STEP = 20, 300, 5  # percent
MAX_MARKED = 9
#: "Enlarge the figures" (Figs 1.12–1.13): the image is scaled up, the pattern kept.
ENLARGE_CHOICES = (1.0, 1.2, 1.4, 1.6, 2.0)
#: Scores this close to the best (relative) are a tie: the float32 DFT's rounding differs there.
TIE_TOLERANCE = 1e-5
#: The largest pattern side a session file holds (larger ones are not saved).
MAX_SESSION_PATTERN_SIDE = 512
MIN_SIDE = 2  # a selection thinner than this is treated as empty
#: Images with more pixels than this (about a 1080p photo's half) are matched off the GUI thread:
#: a 4K photo takes 0.1–0.6 s per slider tick. Smaller ones are matched at once.
SYNC_PIXEL_LIMIT = 1_000_000
NO_PATTERN = "Pick a pattern: drag a rectangle on the image, or load one."
CIRCLE_NAME = "the book's circle (Fig. 1.5)"
METHOD_TITLES = {"dot": "Dot product Σ image × pattern", "ncc": "Normalized cross-correlation"}
NCC_NOTE = (
    "<b>NCC</b> removes the mean of the window and of the pattern and divides by their "
    "contrast, so it compares shape only: 1 = the same shape, 0 = unrelated or flat, "
    "−1 = inverted."
)


def slider_to_scale(value: int) -> float:
    """The scale factor of a slider position (one position per ``SCALE_STEP`` percent)."""
    return value * SCALE_STEP / 100.0


def scale_to_slider(factor: float) -> int:
    """The slider position nearest to a scale factor."""
    return round(factor * 100 / SCALE_STEP)


def kernel_pattern_name(kernel_name: str) -> str:
    return f"the kernel ({kernel_name})"


def selection_to_box(
    left: float, top: float, width: float, height: float, shape: tuple[int, int]
) -> tuple[int, int, int, int] | str:
    """Pixel box (top, left, height, width) covered by a rectangle in view coordinates (pixel
    (row, col) covers x ∈ [col, col+1), y ∈ [row, row+1)), clipped to the image — or a message
    saying why there is no usable box."""
    h, w = shape
    t0, l0 = math.floor(top), math.floor(left)
    b0, r0 = math.ceil(top + height), math.ceil(left + width)
    if width < 1e-9 or height < 1e-9:
        return "The selection has no area: drag a rectangle around the shape you want to find."
    t, l = max(0, t0), max(0, l0)
    b, r = min(h, b0), min(w, r0)
    if b <= t or r <= l:
        return "The selection lies outside the image: drag a rectangle over the image itself."
    if b - t < MIN_SIDE or r - l < MIN_SIDE:
        return (
            f"The selection is only {b - t}×{r - l} pixels: drag a larger rectangle around the "
            "shape you want to find."
        )
    return t, l, b - t, r - l


def crop_pattern(gray: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, str]:
    """The pattern cut from a gray image (0..255) at ``box``, scaled to 0..1, and its name."""
    t, l, h, w = box
    return gray[t : t + h, l : l + w] / 255.0, f"a {h}×{w} cut at row {t}, column {l}"


def pattern_levels(pat: np.ndarray) -> tuple[float, float]:
    """0..1 for patterns within it (cut from images), else the pattern's own range."""
    lo, hi = float(pat.min()), float(pat.max())
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


@dataclass
class MatchingState:
    """What the matching pane shows is a function of this and the image.

    Change it through :meth:`set_pattern` and :meth:`update`; both emit ``changed``."""

    pattern: np.ndarray | None = None  # float32 (h, w) weights
    pattern_name: str = ""
    method: str = "dot"
    scale: float = 1.0
    top_n: int = 3
    enlarge: float = 1.0  # the image's scale: bigger figures, the same pattern (Figs 1.12–1.13)
    changed: Event = field(default_factory=Event, init=False, repr=False, compare=False)

    # -- changes -------------------------------------------------------------------------------
    def set_pattern(self, pattern: np.ndarray, name: str) -> str:
        """Use ``pattern`` (float weights, (h, w)) and reset the scale to 100 %. Returns "" or,
        when it cannot be a pattern (not a finite 2-D grid), why — the state is then unchanged."""
        pat = np.asarray(pattern, dtype=np.float32)
        if pat.ndim != 2 or pat.size == 0 or not np.isfinite(pat).all():
            return f"'{name}' cannot be used as a pattern: it must be a finite 2-D grid."
        self.pattern = pat
        self.pattern_name = name
        self.scale = 1.0
        self.changed.emit()
        return ""

    def update(self, **settings) -> None:
        """Change ``method`` ("dot" or "ncc"), ``scale`` (a factor) or ``top_n`` (1–9)."""
        for key, value in settings.items():
            if key == "method" and value not in METHODS:
                raise ValueError(f"{value!r} is not a method: use one of {', '.join(METHODS)}.")
            if key == "top_n" and not 1 <= int(value) <= MAX_MARKED:
                raise ValueError(f"Between 1 and {MAX_MARKED} matches can be marked; got {value}.")
            if key == "enlarge" and value not in ENLARGE_CHOICES:
                raise ValueError(f"The figures can be enlarged by {', '.join(map(str, ENLARGE_CHOICES))}; got {value}.")
            if key not in ("method", "scale", "top_n", "enlarge"):
                raise ValueError(f"Unknown matching setting {key!r}.")
            setattr(self, key, value)
        self.changed.emit()

    def snapshot(self) -> MatchingState:
        """A copy for a background computation (the pattern array is replaced, never edited)."""
        return replace(self)

    # -- computing -------------------------------------------------------------------------------
    def enlarged(self, gray: np.ndarray) -> np.ndarray:
        """The image the pattern slides over: ``gray`` scaled by :attr:`enlarge` (bilinear)."""
        if self.enlarge == 1.0:
            return gray
        h, w = gray.shape[:2]
        size = (round(w * self.enlarge), round(h * self.enlarge))
        return cv2.resize(np.asarray(gray, np.float32), size, interpolation=cv2.INTER_LINEAR)

    def scaled_pattern(self) -> np.ndarray | None:
        if self.pattern is None:
            return None
        return np.asarray(scale_pattern(self.pattern, self.scale), dtype=np.float32)

    def compute(self, gray: np.ndarray) -> tuple[MatchResult | None, str]:
        """Match the scaled pattern on a gray image; (result, "") or (None, why not)."""
        pat = self.scaled_pattern()
        if pat is None:
            return None, NO_PATTERN
        try:
            return match_pattern(gray, pat, self.method), ""
        except ValueError as exc:
            return None, str(exc)

    # -- texts ---------------------------------------------------------------------------------
    def scale_text(self, pat: np.ndarray) -> str:
        return f"{round(self.scale * 100)}% ({pat.shape[0]}×{pat.shape[1]})"

    @staticmethod
    def pattern_title(pat: np.ndarray) -> str:
        return f"Pattern: {pat.shape[0]}×{pat.shape[1]}"

    @staticmethod
    def computing_title(pat: np.ndarray) -> str:
        return f"Score map — computing… ({pat.shape[0]}×{pat.shape[1]} pattern)"

    @staticmethod
    def score_title(res: MatchResult | None) -> str:
        if res is None:
            return "Score map — nothing to show"
        if res.method == "ncc":
            return "Score map: normalized cross-correlation"
        return "Score map: dot product Σ image × pattern"

    @staticmethod
    def score_levels(res: MatchResult) -> tuple[float, float]:
        """NCC lies in −1..1; dot products span their own range."""
        if res.method == "ncc":
            return -1.0, 1.0
        lo, hi = float(res.scores.min()), float(res.scores.max())
        return lo, (hi if hi > lo else lo + 1.0)

    @staticmethod
    def tied(res: MatchResult) -> int:
        """How many separate places (non-overlapping windows) share the best score."""
        peaks = res.peaks(MAX_MARKED)
        top = peaks[0].score
        return sum(1 for p in peaks if abs(p.score - top) <= TIE_TOLERANCE * max(abs(top), 1.0))

    def peaks(self, res: MatchResult) -> list[Peak]:
        """The best matches to mark, best first (windows do not overlap)."""
        return res.peaks(self.top_n)

    def result_html(self, res: MatchResult, pat: np.ndarray, peaks: list[Peak]) -> str:
        """The best match and the next ones, for the panel under the views."""
        best = res.peaks(1)[0]
        r, c = best.center
        lines = [
            f"Pattern: {self.pattern_name}, scaled to {pat.shape[0]}×{pat.shape[1]}.",
            f"<b>Best match</b> centred at row {r}, column {c}, score <b>{best.score:.4g}</b>.",
        ]
        others = ", ".join(f"{i + 2}: (row {p.center[0]}, column {p.center[1]}) {p.score:.4g}" for i, p in enumerate(peaks[1:]))
        if others:
            lines.append(f"Next best: {others}.")
        return "<br>".join(lines)

    @staticmethod
    def note_html(res: MatchResult, pat: np.ndarray) -> str:
        """What the score means: for the dot product, why brightness wins (with the best
        possible score, a white window's); for NCC, that it compares shape only."""
        if res.method != "dot":
            best = res.peaks(1)[0].score
            if best < 0.8:
                return NCC_NOTE + (
                    f" Here the best is only <b>{best:.2f}</b>: no window looks like the pattern "
                    "(with enlarged figures no window shows the disc with its dark surround), and "
                    "NCC says so instead of rewarding the bright area inside a big figure."
                )
            return NCC_NOTE
        best = res.peaks(1)[0]
        white = 255.0 * float(pat.sum(dtype=np.float64))
        tied = MatchingState.tied(res)
        if white > 0 and tied > 1:
            return (
                f"<b>A tie:</b> {tied} separate places reach the top score "
                f"<b>{best.score:.4g}</b>, {100 * best.score / white:.0f}% of a white window's "
                "255 × Σpattern. Every figure that holds the whole pattern scores the same, so the "
                "dot product cannot tell the circle from the others any more — the book's "
                "Figs 1.12–1.13, where the hexagon \"wins\": the dot product rewards bright area, "
                "not shape. NCC normalises the brightness away and compares shape only."
            )
        if white > 0:
            return (
                "<b>Why brightness wins:</b> the dot product adds up pixel × weight, so a brighter "
                f"window always scores more. A pure white window would score 255 × Σpattern = "
                f"<b>{white:.4g}</b>, the best possible — "
                f"the best match here reaches {100 * best.score / white:.0f}% of it."
            )
        return (
            "<b>Why brightness wins:</b> the dot product adds up pixel × weight, so where "
            "the weights are positive a brighter window always scores more."
        )


    # -- sessions ----------------------------------------------------------------------------
    def to_session(self) -> dict:
        """The pane's part of a session file (see :mod:`cnnviz.state.session`)."""
        from cnnviz.state.session import matrix_to_json

        d = {"method": self.method, "scale": self.scale, "top_n": self.top_n, "enlarge": self.enlarge}
        if self.pattern is not None and max(self.pattern.shape) <= MAX_SESSION_PATTERN_SIDE:
            d["pattern"] = matrix_to_json(self.pattern)
            d["pattern_name"] = self.pattern_name
        return d

    def apply_session(self, d: dict) -> None:
        """Show a session's pattern and settings; everything is checked first, so a bad value
        raises :class:`~cnnviz.state.session.SessionError` and changes nothing."""
        from cnnviz.state.session import Fields

        f = Fields(d, "matching")
        pattern = f.matrix("pattern", MAX_SESSION_PATTERN_SIDE)
        name = f.text("pattern_name", "the saved pattern")
        values = {
            "method": f.choice("method", METHODS, self.method),
            "scale": f.number("scale", SCALE_MIN / 100, SCALE_MAX / 100, self.scale),
            "top_n": f.number("top_n", 1, MAX_MARKED, self.top_n, integer=True),
            "enlarge": f.choice("enlarge", ENLARGE_CHOICES, self.enlarge),
        }
        with self.changed.blocked():
            if pattern is not None:
                self.set_pattern(pattern, name)
            else:
                self.pattern, self.pattern_name = None, ""
            for key, value in values.items():
                setattr(self, key, value)
        self.changed.emit()


def match(state: MatchingState, gray: np.ndarray) -> tuple[MatchResult | None, str, np.ndarray | None]:
    """The match and its score map aligned with the image (NaN where no window fits): plain
    data, so it can be computed on any thread."""
    result, why = state.compute(gray)
    scores = None if result is None else result.centered_map(np.nan).astype(np.float32)
    return result, why, scores
