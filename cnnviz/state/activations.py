"""The activations pane's truth and rules, without Qt: which model is open, which layer, page and
map are shown, how colours are scaled, which input is fed, which results are current.

Keras work goes through one narrow seam, the ``submit`` callable given to
:class:`ActivationsState`::

    submit(kind: str, request, on_done: Callable[[result], None], on_error: Callable[[str], None])

``kind`` is a key of :data:`cnnviz.ml.inspect.JOBS` (``"load"``, ``"adopt"``, ``"compute"``,
``"filters"``); ``request`` is that job's request dataclass. ``on_done``/``on_error`` must be
called on the thread that owns the state (the GUI thread), at most once, with the job's result
dataclass or an error in words. The window forwards to the engine (``ctx.worker.submit``, a child
process that owns TensorFlow); tests pass a fake. A newer request supersedes an older one: a result
that is not for the latest request, or for a model replaced since, is dropped here ("latest
request wins").

When the engine crashes it is restarted without the models it held: :meth:`engine_restarted`
reopens the current model from its file under the same id (a model handed over from training
from its saved file, if it has one), and compute/filters requests carry that file too. A feature
that crashed TensorFlow again after the retry with oneDNN turned off is turned off for the model,
with the reason shown (:attr:`ActivationsState.disabled`).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.ml.inspect import (
    MAPS_PER_PAGE,
    VALUES_PER_PAGE,
    ActivationResult,
    AdoptRequest,
    ComputeRequest,
    FiltersRequest,
    FiltersResult,
    GradCam,
    InputActivations,
    LayerRow,
    LoadFailed,
    LoadRefused,
    LoadRequest,
    ModelInfo,
    Prediction,
    ReopenRequest,
)
from cnnviz.state.events import Event

Submit = Callable[[str, Any, Callable[[Any], None], Callable[[str], None]], Any]

NORMALIZATIONS = {
    "map": "Per map",
    "layer": "Per layer",
    "global": "Across all layers",
}
SCALING_TEXT = {  # short names for the combo; cnnviz.ml.activations.SCALINGS has the long ones
    "div255": "÷255 (0…1)",
    "div255_inverted": "÷255, inverted (dark strokes → white)",
    "minus1to1": "−1…1 (MobileNet / Teachable Machine)",
    "imagenet_caffe": "ImageNet caffe (RGB→BGR, minus the mean pixel, no ÷255; "
                      "a gray image: minus the channels' average, 114.8)",
    "imagenet_torch": "ImageNet torch ((÷255 − mean) ÷ std per channel; "
                      "a gray image: the channels' average mean and std)",
    "standardize": "Zero mean, unit variance",
    "none": "Raw 0…255",
}
#: Layers that may come before a model's own input scaling without changing the numbers it
#: expects (resizing, cropping, augmentation that is off when predicting).
_BEFORE_RESCALING = ("InputLayer", "Resizing", "CenterCrop", "RandomFlip", "RandomRotation",
                     "RandomZoom", "RandomTranslation", "RandomContrast", "RandomCrop",
                     "RandomBrightness", "RandomHeight", "RandomWidth", "Dropout", "GaussianNoise",
                     "GaussianDropout")
SOURCES = {"image": "The current image", "canvas": "A drawing (mouse)"}
CANVAS_MAX_SIDE = 128
#: Classes listed in the prediction chart; the rest are summed into one "others" row.
PREDICTION_ROWS = 5
NOT_COMPUTED = "The activations could not be computed: "
STARTING = "Starting TensorFlow…"
#: In a failure message: TensorFlow also crashed in an engine with oneDNN turned off.
CRASHED_AGAIN = "also with oneDNN turned off"
#: The words of failures that come from the engine itself (its crash, hang or restart).
ENGINE_TROUBLE = ("TensorFlow crashed", "TensorFlow did not answer", "TensorFlow was restarted",
                  "TensorFlow is not available")
HANDED_OVER_LOST = ("The model handed over from training was lost when TensorFlow restarted, and it "
                    "has no saved file to reopen: press Inspect on the Training pane to hand it over again.")
FEATURES = {"gradcam": "Grad-CAM", "activations": "The activations", "filters": "The filters"}


def engine_trouble(message: str) -> bool:
    """Whether a failure is the engine's (a crash, a hang, a restart) rather than the job's."""
    return any(m in message for m in ENGINE_TROUBLE)


def disabled_text(feature: str, reason: str) -> str:
    return f"{FEATURES[feature]} is turned off for this model: {reason}"


# ============================================================================ rules


def default_scaling(spec: tuple | None, image: np.ndarray | None, info: ModelInfo | None = None) -> str:
    """÷255, or ÷255 inverted when a small gray model (MNIST-like) is shown a bright image:
    such models learnt white strokes on black, and a scanned dark-on-light digit must be flipped.
    A model that scales its input itself (``info`` starts with a Rescaling or Normalization
    layer, :func:`input_rescaling`) gets the raw pixels 0…255."""
    if info is not None and input_rescaling(info):
        return "none"
    if spec is None or image is None:
        return "div255"
    h, w, c = spec
    small = (h or 999) <= 64 and (w or 999) <= 64
    if c == 1 and small and float(np.mean(image)) > 127:
        return "div255_inverted"
    return "div255"


def looks_like_a_digit(image: np.ndarray) -> bool:
    """A small gray picture (like the bundled MNIST samples) rather than a scene or a photo."""
    h, w = image.shape[:2]
    if max(h, w) > 64:
        return False
    if image.ndim == 3 and image.shape[2] >= 3:
        rgb = image[:, :, :3].astype(np.int16)
        if np.abs(rgb[:, :, 0] - rgb[:, :, 1]).max() > 8 or np.abs(rgb[:, :, 1] - rgb[:, :, 2]).max() > 8:
            return False
    return True


def choose_demo(image: np.ndarray, demos: list[Path]) -> Path | None:
    """The bundled demo model that suits the current image: the digits CNN for a digit-like
    picture, the shapes classifier for anything else (a digits model reading a photo of shapes
    would only show a meaningless guess)."""
    if not demos:
        return None
    wanted = "digits" if looks_like_a_digit(image) else "shapes"
    return next((p for p in demos if p.stem.startswith(wanted)), demos[0])


def can_draw(spec: tuple | None) -> bool:
    """Drawing is offered only for models with a small image input."""
    return spec is not None and max(spec[0] or 999, spec[1] or 999) <= CANVAS_MAX_SIDE


def compare_defaults(current_stem: str) -> tuple[str, ...]:
    """The bundled samples offered as the second input, best first (never the image itself)."""
    return ("digit_5",) if current_stem == "digit_7" else ("digit_7", "digit_5")


def compare_note(normalization: str) -> str:
    """The note under the two inputs: how the colours are scaled now."""
    how = {
        "map": "each map is scaled to its own range, so compare shapes, not brightness "
               "(choose 'Per layer' above to compare strengths)",
        "layer": "both inputs share one scale for this layer, so brighter means stronger in either",
        "global": "both inputs share one scale across all layers, so brighter means stronger in either",
    }.get(normalization, "")
    return f"Both inputs go through the same layer; {how}."


def levels_for(normalization: str, res: InputActivations,
               other: InputActivations | None = None) -> tuple[float, float] | None:
    """Colour levels of a layer's maps: None (each map its own) or one range for the layer, or
    for all layers, shared with ``other`` when two inputs are compared."""
    if normalization == "map":
        return None
    glob = normalization == "global" and res.global_range is not None
    lo, hi = res.global_range if glob else res.layer_range
    theirs = None if other is None else (other.global_range if glob else other.layer_range)
    if theirs is not None:
        lo, hi = min(lo, theirs[0]), max(hi, theirs[1])
    return (min(lo, 0.0), hi if hi > min(lo, 0.0) else min(lo, 0.0) + 1.0)


def layer_cells(row: LayerRow) -> tuple[list[str], str]:
    """The layer table's cells for one row, and its tooltip (with the layer's arithmetic:
    receptive field, output size and parameters with the formulas filled in)."""
    from cnnviz.core.layer_arith import explain

    shape = "—" if row.shape is None else "×".join("?" if v is None else str(v) for v in row.shape[1:])
    params = "" if row.params is None else f"{row.params:,}"
    tip = f"{row.name} ({row.type})" + (f": {row.info}" if row.info else "")
    lines = explain(getattr(row, "arith", None))
    if lines:
        tip += "\n" + "\n".join(lines)
    return [row.name, row.type, shape, params], tip


def class_count(info: ModelInfo) -> int:
    """How many classes (outputs) the model's last vector layer has (0 if none is known)."""
    out = next((r for r in reversed(info.layers) if r.kind == "vector"), None)
    n = out.shape[-1] if out and out.shape else len(info.labels or [])
    return int(n or 0)


def named(labels: list[str], names: list[str] | None) -> list[str]:
    """``labels`` with the first ones replaced by ``names`` (the user's class names)."""
    names = names or []
    return [names[i] if i < len(names) else label for i, label in enumerate(labels)]


def class_choices(info: ModelInfo, names: list[str] | None = None) -> list[tuple[str, int]]:
    """The Grad-CAM class combo: the top prediction (-1), then every class (named by ``names``
    where given, else by the model's labels)."""
    labels = info.labels or []
    n = class_count(info)
    return [("Top prediction", -1)] + list(zip(named(
        [labels[i] if i < len(labels) else f"class {i}" for i in range(n)], names), range(n)))


def class_names_message(outputs: int, names: int, own: list[str] | None = None) -> str:
    """What a list of ``names`` class names given for a model of ``outputs`` outputs means ("" when
    they match); ``own`` are the names the model came with, which the rest keep."""
    if not outputs or names == outputs:
        return ""
    if names < outputs:
        one = names + 1 == outputs
        rest = f"class {names}" if one else f"class {names} to class {outputs - 1}"
        if own and len(own) >= outputs:
            kept = ", ".join(own[names:outputs])
            return (f"The model has {outputs} outputs but the list names {names} classes: {rest} "
                    f"{'keeps its name' if one else 'keep their names'} from the model file ({kept}).")
        return (f"The model has {outputs} outputs but the list names {names} classes: {rest} "
                f"{'keeps its number' if one else 'keep their numbers'}.")
    return (f"The model has {outputs} outputs but the list names {names} classes: the last "
            f"{names - outputs} {'name is' if names - outputs == 1 else 'names are'} not used.")


def gradcam_layer_choices(info: ModelInfo) -> list[tuple[str, str]]:
    return [(f"Last conv ({info.last_conv})", "")] + [(n, n) for n in info.spatial_layers]


def model_summary(info: ModelInfo) -> list[str]:
    """The model line's parts (HTML-escaped by the view)."""
    bits = [info.name, info.format]
    if info.keras_version:
        bits.append(f"Keras {info.keras_version}")
    if info.params:
        bits.append(f"{info.params:,} parameters")
    if info.spec:
        h, w, c = info.spec
        bits.append(f"input {h or '?'}×{w or '?'}×{c}")
    return bits


NOT_BUILT_TITLE = "Not built: nothing to feed"


def build_failure(info: ModelInfo) -> str | None:
    """Why a model file could not be built into a runnable model, in words (None when it was
    built). The reason is the last note the loader wrote (it says what stopped the build)."""
    if info.buildable:
        return None
    reason = next((n for n in reversed(info.notes) if n.strip()), "").strip()
    if not reason:
        reason = "no reason was given by the loader."
    return reason


def no_activations_text(info: ModelInfo | None, reason: str) -> tuple[str, str]:
    """What the pane says when it has no activations: (the message in the maps grid, the title
    of the input view). A model that could not be built says why, not that it has no image
    input; every model says what is still there to look at."""
    if info is None:
        return reason, "No image input"
    still = ["the layer table (left)"]
    if info.conv_layers:
        still.append("the stored filters (Filters tab)")
    if not info.buildable:
        weights = "its stored weights" if info.params else ""
        shown = ", ".join(([weights] if weights else []) + still)
        why = build_failure(info)
        text = (f"This model could not be built, so there are no activations to show. Why: {why}"
                f"\n\nStill available: {shown}.")
        return text, NOT_BUILT_TITLE
    return reason + "\n\nStill available: " + " and ".join(still) + ".", "No image input"


#: The question asked before a model file that contains code is opened, and its two answers.
TRUST_TITLE = "Do you trust this file?"
TRUST_BUTTON = "Trust and open"
DECLINE_BUTTON = "Don't open"


def trust_question(name: str, findings: list[str], hint: str) -> tuple[str, str]:
    """The trust dialog's words (rich text): the question about ``name`` and, below it, what the
    file contains (``findings``), what opening it means and ``hint`` (how to decide)."""
    from html import escape as _escape

    def escape(text: str) -> str:  # a file's name or a finding is shown as text, never as markup
        return _escape(text, quote=False)

    question = f"<b>{TRUST_TITLE}</b><br>'{escape(name)}' contains:"
    meaning = ("• " + "<br>• ".join(escape(f) for f in findings) + "<br><br>"
               "Opening it runs that code on this computer with your permissions. " + escape(hint))
    return question, meaning


def trust_declined_text(outcome: LoadRefused, kept: str = "") -> str:
    """What the message bar says after the user did not trust the file (``kept``: what stays)."""
    return (f"Not opened: '{Path(outcome.path).name}' was refused because it contains "
            + "; ".join(outcome.findings) + "." + kept)


def trust_unattended_text(outcome: LoadRefused) -> str:
    """What the message bar says when nobody can answer the question (a screenshot is taken)."""
    return (f"Not opened: '{Path(outcome.path).name}' contains " + "; ".join(outcome.findings)
            + f". Nobody can answer '{TRUST_TITLE}' while a screenshot is taken, so it was "
              "refused; open it in the window to decide.")


def trust_details(outcome: LoadRefused) -> str:
    """The trust dialog's details: what the file contains, piece by piece — each Lambda's name
    and its code as text (disassembled; never run), and the custom classes it names."""
    parts: list[str] = []
    for d in outcome.details:
        head = f"{d.kind} layer '{d.layer}'"
        if d.readable:
            parts.append(f"{head}: its code, disassembled (shown here, not run):\n{d.code}")
        else:
            parts.append(f"{head}: its code cannot be read here ({d.reason}). The stored text "
                         f"begins:\n{d.code}")
    if outcome.custom_classes:
        parts.append("Custom classes it names (not part of Keras or cnnviz): "
                     + ", ".join(outcome.custom_classes))
    if not parts:
        parts = ["It contains:"] + [f"• {f}" for f in outcome.findings]
    return "\n\n".join(parts)


def input_rescaling(info: ModelInfo) -> str | None:
    """The layer at the model's start that scales its input ("Rescaling 1/255", possibly inside
    a nested model), or None when the model takes the numbers as they are fed."""
    for row in info.layers:
        base = row.type
        if base in ("Rescaling", "Normalization"):
            return f"{base} {row.info}".strip()
        if base not in _BEFORE_RESCALING:
            return None
    return None


#: What the model column says about a failure the pane's message bar shows in full.
SEE_MESSAGE = "Not opened — see the message above."


def column_error(text: str) -> str:
    """The model column's words for an error: a model or image that was not opened is said once,
    in full, in the pane's message bar, and the column points there; the engine's own trouble (a
    crash, a hang) stays in full where the column shows the model's state."""
    return text if engine_trouble(text) else SEE_MESSAGE


def model_notes(info: ModelInfo) -> list[str]:
    notes = list(info.notes)
    rescaling = input_rescaling(info)
    if rescaling:
        notes.insert(0, f"The model rescales its input itself ({rescaling}): feed raw 0…255 "
                        "(the scaling is set to Raw).")
    if info.spec_reason:
        notes.insert(0, info.spec_reason)
    return notes[:6]


def page_text(total: int, first: int, per: int) -> tuple[bool, str, bool, bool]:
    """Paging of a layer: (several pages?, label, can go back, can go on)."""
    pages = max(1, -(-total // per))
    page = first // per
    if pages <= 1:
        return False, "", False, False
    last = min(total, first + per)
    return True, f"{first}–{last - 1} of {total} (page {page + 1}/{pages})", page > 0, page + 1 < pages


def input_note(res: InputActivations, what: str, channels: int) -> str:
    """What was fed: the source, its size, the resize, gray or RGB, the value range."""
    sh, sw = res.source_hw
    ih, iw = res.input_hw
    parts = [f"{what} ({sw}×{sh})"]
    if (sh, sw) != (ih, iw):
        parts.append(f"resized to {iw}×{ih}")
    parts.append("gray" if channels == 1 else "RGB")
    lo, hi = res.x_range
    parts.append(f"values {lo:.3g}…{hi:.3g}")
    return "Fed: " + ", ".join(parts) + "."


@dataclass
class PredictionRows:
    values: np.ndarray
    names: list[str]
    top_label: str
    top_probability: float
    shown: int
    classes: int
    is_probability: bool


def prediction_rows(pred: Prediction, class_names: list[str] | None = None) -> PredictionRows:
    """The likeliest classes and the rest summed: five rows and "others" stay readable in the
    panel's height at any window size; ten classes' labels and percentages would overlap.
    ``class_names`` (the user's) replace the model's labels where given."""
    p = pred.probabilities
    labels = named(list(pred.labels), class_names)
    order = np.argsort(-p)[:PREDICTION_ROWS]
    values, names = list(p[order]), [labels[i] for i in order]
    if p.size > len(order):
        values.append(max(0.0, float(p.sum() - p[order].sum())))
        names.append(f"{p.size - len(order)} others")
    top = order[0]
    return PredictionRows(np.asarray(values), names, labels[top], float(p[top]), len(order), p.size,
                          pred.is_probability)


@dataclass
class FilterPage:
    """One page of a conv layer's filters, ready to draw."""

    first: int
    last: int
    total: int
    pages: int
    rgb_tiles: list[np.ndarray] | None  # colour patches (filters over 3 inputs, seen as RGB)
    maps: np.ndarray | None  # (n, kh, kw) weights on one input channel
    limit: float  # the layer's largest |weight|
    channel: int
    label: str
    text: str


def filter_page(fr: FiltersResult, channel: int, page: int, why_only_filters: str | None) -> FilterPage:
    k = fr.kernels
    kh, kw, cin, cout = k.shape
    pages = max(1, -(-cout // MAPS_PER_PAGE))
    page = min(page, pages - 1)
    first = page * MAPS_PER_PAGE
    last = min(cout, first + MAPS_PER_PAGE)
    m = float(np.abs(k).max()) or 1.0
    tiles = maps = None
    if channel == -1 and cin == 3:
        tiles = [np.clip(np.round(127.5 + 127.5 * k[:, :, :, o] / m), 0, 255).astype(np.uint8)
                 for o in range(first, last)]
        how = ("Each filter shown as a colour patch: its weights on the red, green and blue inputs "
               "(gray = 0, brighter = positive). A filter that looks for a colour shows that colour.")
    else:
        channel = max(0, min(channel, cin - 1))
        maps = np.moveaxis(k[:, :, channel, first:last], -1, 0)
        how = (f"The weights each filter applies to input channel {channel}: red adds, blue subtracts, "
               "white is 0.")
    label = f"{first + 1}–{last} of {cout}" if pages > 1 else f"{cout} filters"
    text = f"{fr.layer}: {cout} filters of {kh}×{kw}×{cin}. {how}"
    if why_only_filters:
        text = f"{why_only_filters}\n\n{text}"  # why only the filters are here
    return FilterPage(first, last, cout, pages, tiles, maps, m, channel, label, text)


def filter_channel_choices(kernels: np.ndarray) -> list[tuple[str, int]]:
    """The input channels of a layer's filters; all three as RGB first for an RGB input."""
    cin = kernels.shape[2]
    rgb = cin == 3
    return ([("All three as RGB", -1)] if rgb else []) + [
        (f"{c}" + (f" ({'RGB'[c]})" if rgb else ""), c) for c in range(cin)]


# ============================================================================ the controller


class ActivationsState:
    """What the activations pane shows and how it gets it.

    ``submit``: see the module docstring. ``image``: returns the context's current image.
    ``ask_trust``: decides whether a refused file may run its code (the view sets it).

    Events (all emitted on the owner's thread): ``model_changed(info)`` a model was adopted;
    ``result_changed()`` redraw the result; ``filters_changed()`` redraw the filters;
    ``filter_layer_changed(name)``, ``scaling_changed(key)``, ``source_changed(key)`` a choice
    changed from here; ``compute_wanted()`` schedule :meth:`compute`; ``no_activations(reason)``;
    ``compute_failed(message)``; ``filters_failed(message)``; ``error(text)``; ``error_cleared()``;
    ``busy(text)`` ("" when idle); ``posted(text)`` a status-bar message.
    """

    def __init__(self, submit: Submit, image: Callable[[], np.ndarray | None] = lambda: None) -> None:
        self._submit = submit
        self._image = image
        self.ask_trust: Callable[[LoadRefused], bool] = lambda outcome: False
        # the choices
        self.model_id: int | None = None
        self.layer: str | None = None
        self.page = 0
        self.map_index: int | None = None
        self.normalization = "map"
        self.scaling = "div255"
        self.scaling_chosen = False  # the user picked it: keep it when the image changes
        self.source = "image"
        self.alpha = 0.55
        self.gradcam_layer: str | None = None  # None: the last conv layer
        self.class_index: int | None = None  # None: the top prediction
        self.gradcam_alpha = 0.5
        self.compare_with: str | None = None  # a sample image path, or "canvas"
        self.compare_image: np.ndarray | None = None
        self.compare_name = ""
        self.filter_layer: str | None = None
        self.filter_channel = -1  # -1: RGB (first layer with 3 input channels)
        self.filter_page = 0
        # what is shown
        self.info: ModelInfo | None = None
        #: Where the current model can be opened again from (None: a model handed over from
        #: training that was never saved).
        self.model_source: LoadRequest | None = None
        #: feature ("gradcam", "activations", "filters") -> why it is turned off for this model
        self.disabled: dict[str, str] = {}
        self.model_lost = False  # the engine restarted and the model could not be reopened
        #: Kinds of work ("compute", "filters") whose last request failed because the engine
        #: crashed or hung: not asked for again by itself after a restart (it may do it again).
        self.troubled: set[str] = set()
        #: Whether the engine has started; loading says "Starting TensorFlow…" until then.
        self.engine_ready = True
        self.result: ActivationResult | None = None
        self.filters_result: FiltersResult | None = None
        self.last_error = ""
        # loading
        self.started = False
        self.pending: tuple[str, bool] | None = None
        self.loading = 0
        self.unattended = False  # nobody can answer a question (screenshots)
        # the cache keys: what the shown prediction and Grad-CAM were computed for
        self.input_version = 0
        self.gradcam_shown: tuple | None = None
        self.prediction_shown: tuple | None = None
        self._requests = itertools.count(1)
        self.latest_request = 0

        # events (see the class docstring)
        self.model_changed = Event()
        self.result_changed = Event()
        self.filters_changed = Event()
        self.filter_layer_changed = Event()
        self.scaling_changed = Event()
        self.source_changed = Event()
        self.compute_wanted = Event()
        self.no_activations = Event()
        self.compute_failed = Event()
        self.filters_failed = Event()
        self.error = Event()
        self.error_cleared = Event()
        self.busy = Event()
        self.posted = Event()
        #: model path -> the class names the user gave it (Class names…), kept for the session
        self.user_class_names: dict[str, list[str]] = {}
        self.class_names_changed = Event()

    # ------------------------------------------------------------------ opening models
    def start(self, demos: list[Path]) -> bool:
        """The pane is shown for the first time: open what was asked for, or the demo model that
        suits the image. False if there is nothing to open."""
        self.started = True
        if self.pending is not None:
            path, trust = self.pending
            self.pending = None
            self._submit_load(path, trust)
        elif self.info is None and not self.loading:
            image = self._image()
            demo = choose_demo(image, demos) if image is not None else (demos[0] if demos else None)
            if demo is None:
                return False
            self.open_model(demo)
        return True

    def open_model(self, path: str | Path, trust: bool = False) -> None:
        """Open a model file (the current model stays until it has loaded); before the pane
        started, the request waits for :meth:`start`."""
        if not self.started:
            self.pending = (str(path), trust)
            return
        self._submit_load(str(path), trust)

    def offer(self, model_id: int, name: str, path: str | None = None) -> None:
        """Inspect a model that sits in the engine's store under ``model_id``; ``path`` is the
        file it was saved to (to reopen it should the engine restart), if any."""
        self.started = True
        self.loading = 1  # only the latest load reports back (they share a channel)
        self.busy.emit(self._busy_text())
        source = LoadRequest(str(path)) if path else None
        self._submit("adopt", AdoptRequest(int(model_id), name),
                     functools.partial(self._on_loaded, source=source), self._on_load_failed)

    def _busy_text(self) -> str:
        return "Opening model…" if self.engine_ready else STARTING

    def _submit_load(self, path: str, trust: bool) -> None:
        self.loading = 1  # only the latest load reports back (they share a channel)
        self.busy.emit(self._busy_text())
        request = LoadRequest(path, trust)
        self._submit("load", request, functools.partial(self._on_loaded, source=request), self._on_load_failed)

    def set_engine_ready(self, ready: bool) -> None:
        self.engine_ready = bool(ready)
        if self.loading:
            self.busy.emit(self._busy_text())

    def engine_restarted(self) -> None:
        """The engine was replaced and the models it held are gone: open the current one again
        (a model that failed to open is not retried: it may be what crashed TensorFlow)."""
        if self.info is None or self.model_id is None:
            return
        if self.model_source is None:
            self.model_lost = True
            self.result_shown_lost()
            return
        self.loading = 1  # only the latest load reports back (they share a channel)
        self.busy.emit("Reopening the model…")
        request = ReopenRequest(self.model_id, self.model_source.path, self.model_source.trust, self.info.name)
        self._submit("reopen", request, self._on_reopened, self._on_reopen_failed)

    def result_shown_lost(self) -> None:
        self.report_error(HANDED_OVER_LOST)
        self.compute_failed.emit(HANDED_OVER_LOST)

    def _on_reopened(self, outcome: ModelInfo | LoadRefused | LoadFailed) -> None:
        self._load_finished()
        if not isinstance(outcome, ModelInfo):
            self._on_reopen_failed(outcome.message)
            return
        if outcome.model_id != self.model_id:
            return  # another model was opened meanwhile
        self.info = outcome
        self.model_lost = False
        self.posted.emit(f"Reopened the model {outcome.name} after TensorFlow restarted")
        if "compute" not in self.troubled:
            self.request_compute()
        if "filters" not in self.troubled:
            self.request_filters()

    def _on_reopen_failed(self, message: str) -> None:
        self._load_finished()
        if engine_trouble(message):
            return  # the engine died again: its restart reopens the model once more
        self.model_lost = True
        self.report_error(f"The model could not be reopened after TensorFlow restarted: {message}")

    def _load_finished(self) -> None:
        self.loading = 0
        if not self.loading:
            self.busy.emit("")

    def _on_load_failed(self, message: str) -> None:
        self._load_finished()
        self.report_error(f"The model could not be opened: {message}")

    def _kept(self) -> str:
        return " The previous model stays open." if self.info is not None else ""

    def _on_loaded(self, outcome: ModelInfo | LoadRefused | LoadFailed, source: LoadRequest | None = None) -> None:
        self._load_finished()
        if isinstance(outcome, LoadRefused):
            if outcome.trusted or not outcome.can_trust:  # trusting would not help: nothing to ask
                self.report_error(outcome.message + self._kept())
            elif self.unattended:
                # A screenshot runs with nobody to answer the question: refuse, and say why.
                self.report_error(trust_unattended_text(outcome))
            elif self.ask_trust(outcome):
                self.open_model(outcome.path, trust=True)
            else:
                self.report_error(trust_declined_text(outcome, self._kept()))
            return
        if isinstance(outcome, LoadFailed):
            self.report_error(outcome.message + self._kept())
            return
        if source is not None and not source.trust and outcome.trusted:
            source = LoadRequest(source.path, True)
        self.adopt(outcome, source)

    # ------------------------------------------------------------------ class names
    def class_names(self) -> list[str] | None:
        """The current model's class names: the user's (Class names…), else those found with
        the model file (labels.txt, stored class_names), else None."""
        if self.info is None:
            return None
        return self.user_class_names.get(self.info.path) or self.info.labels or None

    def set_class_names(self, names: list[str] | None) -> str:
        """Name the current model's classes (empty or None: back to the file's own names) for
        this session; returns what a count that does not match the outputs means ("" if it
        matches). The prediction and Grad-CAM show the names at once (``class_names_changed``)."""
        if self.info is None:
            return "Open a model first: the names belong to a model."
        names = [str(n).strip() for n in (names or []) if str(n).strip()]
        if names:
            self.user_class_names[self.info.path] = names
        else:
            self.user_class_names.pop(self.info.path, None)
        self.class_names_changed.emit(self.class_names())
        return class_names_message(class_count(self.info), len(names), self.info.labels) if names else ""

    def report_error(self, text: str) -> None:
        self.last_error = text
        self.error.emit(text)

    def adopt(self, info: ModelInfo, source: LoadRequest | None = None) -> None:
        """Show a newly opened model: every choice about the previous one is reset. ``source``
        is where it can be opened again from."""
        self.info = info
        self.model_id = info.model_id
        self.model_source = source
        self.disabled = {}
        self.troubled = set()
        self.model_lost = False
        self.page, self.map_index, self.class_index, self.gradcam_layer = 0, None, None, None
        # the second input is chosen again for this model (the view offers a default)
        self.compare_with, self.compare_image, self.compare_name = None, None, ""
        # a model with two image inputs: the image goes to input A, input B gets a blank (or
        # what the session that opened this model says)
        self.feed, self.other = getattr(self, "session_feed", None) or ("a", "blank")
        self.session_feed = None
        # the class names a session typed for this model (an empty list: the file's own names)
        names, self.session_class_names = getattr(self, "session_class_names", None), None
        if names is not None:
            if names:
                self.user_class_names[info.path] = names
            else:
                self.user_class_names.pop(info.path, None)
        self.filter_layer = info.conv_layers[0] if info.conv_layers else None
        self.filter_page, self.filter_channel = 0, -1
        self.scaling_chosen = False
        self.result = None
        self.filters_result = None
        self.gradcam_shown = self.prediction_shown = None
        self.last_error = ""
        if not can_draw(info.spec) and self.source == "canvas":
            self.source = "image"
            self.source_changed.emit(self.source)
        self.apply_default_scaling()
        self.model_changed.emit(info)
        if info.spec is None:
            self._no_activations()
        self.request_filters()
        self.posted.emit(f"Opened the model {info.name}")

    def _no_activations(self) -> None:
        self.result = None
        self.no_activations.emit(self.info.spec_reason or "")

    def first_layer(self) -> str | None:
        """The layer shown first: the first with maps, else the first with outputs."""
        layers = [r for r in (self.info.layers if self.info else []) if r.kind != "none"]
        if not layers:
            return None
        return next((r.name for r in layers if r.kind == "maps"), layers[0].name)

    @property
    def can_compute(self) -> bool:
        return (self.info is not None and self.info.spec is not None and not self.model_lost
                and "activations" not in self.disabled)

    # ------------------------------------------------------------------ choices
    def set_layer(self, name: str) -> None:
        if name != self.layer:
            self.page, self.map_index = 0, None
        self.layer = name
        row = self.info.row(name) if self.info is not None else None
        if not self.can_compute or row is None or row.kind == "none":
            if self.info is not None and self.info.spec is None:
                self._no_activations()
            return
        if name in self.info.conv_layers and self.filter_layer != name:
            self.set_filter_layer(name)
            self.filter_layer_changed.emit(name)
        self.request_compute()

    def choose_map(self, index: int) -> None:
        self.map_index = index
        self.request_compute()

    def _per_page(self) -> int:
        return VALUES_PER_PAGE if self.result is not None and self.result.kind == "vector" else MAPS_PER_PAGE

    def prev_page(self) -> None:
        if self.page > 0:
            self.page -= 1
            self.map_index = None
            self.request_compute()

    def next_page(self) -> None:
        r = self.result
        if r is not None and (self.page + 1) * self._per_page() < r.total:
            self.page += 1
            self.map_index = None
            self.request_compute()

    def set_normalization(self, mode: str) -> None:
        self.normalization = mode
        if mode == "global":
            self.request_compute()
        else:
            self.result_changed.emit()

    def set_class(self, index: int | None) -> None:
        self.class_index = None if index is None or index < 0 else int(index)
        self.request_compute()

    def set_gradcam_layer(self, name: str | None) -> None:
        self.gradcam_layer = name or None
        self.request_compute()

    def set_scaling(self, key: str) -> None:
        self.scaling = key
        self.scaling_chosen = True
        self.input_version += 1
        self.request_compute()

    def set_source(self, key: str) -> None:
        self.source = key
        if not self.scaling_chosen:
            self.apply_default_scaling()
        self.input_version += 1
        self.request_compute()

    def apply_default_scaling(self) -> None:
        if self.scaling_chosen or self.info is None:
            return
        self.scaling = (default_scaling(None, None, self.info) if self.source == "canvas"
                        else default_scaling(self.info.spec, self._image(), self.info))
        self.scaling_changed.emit(self.scaling)

    def image_changed(self) -> None:
        self.apply_default_scaling()
        if self.source == "image":
            self.input_version += 1
            self.request_compute()

    def drawing_changed(self) -> bool:
        """The drawing changed; True if it is fed (then a recompute is due)."""
        if self.compare_with == "canvas" or self.source == "canvas":
            self.input_version += 1
            return True
        return False

    def set_compare(self, data: str) -> bool:
        """The second input: an image file, or ``"canvas"`` for the drawing. False (and an error
        reported) if the file cannot be read."""
        if data == "canvas":
            self.compare_with, self.compare_image, self.compare_name = "canvas", None, "the drawing"
            return True
        from cnnviz.core import images

        try:
            img = images.load_image(data)
        except images.ImageLoadError as exc:
            self.report_error(str(exc))
            self.compare_name = ""
            return False
        self.set_compare_image(data, img)
        return True

    def set_compare_image(self, path: str | Path, image: np.ndarray, reduction: str = "") -> None:
        """The second input: ``image``, read from the file ``path`` by the view (under the image
        size limit; ``reduction`` says how it was shrunk, e.g. "decoded at 1/4", for its name)."""
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        self.compare_with = str(path)
        self.compare_image = np.ascontiguousarray(image, dtype=np.uint8)
        self.compare_name = Path(path).name + (f" ({reduction})" if reduction else "")

    # ------------------------------------------------------------------ computing
    def request_compute(self) -> None:
        """Ask the view to schedule :meth:`compute` (it coalesces several changes)."""
        if self.can_compute:
            self.compute_wanted.emit()

    def compare_input(self, shown: bool, canvas: Callable[[], np.ndarray]) -> np.ndarray | None:
        """The second input, when the compare page is shown and one is chosen."""
        if not shown or self.compare_with is None:
            return None
        return canvas() if self.compare_with == "canvas" else self.compare_image

    def compute_request(self, image: np.ndarray | None,
                        compare: np.ndarray | None = None) -> ComputeRequest | None:
        """The request for what is shown now; the prediction and Grad-CAM are asked for only
        when their inputs changed since the ones shown."""
        if not self.can_compute or self.layer is None or image is None:
            return None
        gkey = (self.model_id, self.input_version, self.scaling, self.gradcam_layer, self.class_index)
        pkey = self._prediction_key()
        return ComputeRequest(
            model_id=self.model_id, request=next(self._requests), image=np.array(image),
            scaling=self.scaling, layer=self.layer, page=self.page, map_index=self.map_index,
            global_range=self.normalization == "global",
            want_prediction=pkey != self.prediction_shown,
            want_gradcam=self.info.classifier and gkey != self.gradcam_shown and "gradcam" not in self.disabled,
            gradcam_key=gkey, gradcam_layer=self.gradcam_layer, class_index=self.class_index,
            compare_image=None if compare is None else np.array(compare), source=self.model_source,
            feed=self.feed, other=self.other)

    def _prediction_key(self) -> tuple:
        """What the shown prediction was computed for: the model, the input, its scaling and,
        for two image inputs, which one was fed and what the other got."""
        feed = (getattr(self, "feed", "a"), getattr(self, "other", "blank"))
        return (self.model_id, self.input_version, self.scaling, *feed)

    def compute(self, image: np.ndarray | None, compare: np.ndarray | None = None) -> ComputeRequest | None:
        """Submit the request for what is shown now (None if there is nothing to compute)."""
        req = self.compute_request(image, compare)
        if req is None:
            return None
        self.latest_request = req.request
        self._submit("compute", req, self._on_computed,
                     functools.partial(self._on_compute_failed, gradcam=req.want_gradcam))
        return req

    def _on_compute_failed(self, message: str, gradcam: bool = False) -> None:
        if engine_trouble(message) and CRASHED_AGAIN not in message:
            self.troubled.add("compute")
        if CRASHED_AGAIN in message:
            feature = "gradcam" if gradcam else "activations"
            self.disabled[feature] = message
            self.report_error(disabled_text(feature, message))
            if feature == "gradcam":
                self.gradcam_shown = None
                self.request_compute()  # the rest of the view still works
            else:
                self.compute_failed.emit(disabled_text(feature, message))
            return
        self.report_error(NOT_COMPUTED + message)
        self.compute_failed.emit(message)

    def engine_trouble(self, text: str) -> None:
        """The engine crashed or hung while doing this pane's work: say what (and that it is
        being retried or restarted)."""
        self.report_error(text)

    def _on_computed(self, res: ActivationResult) -> None:
        if res.model_id != self.model_id or res.request != self.latest_request:
            return  # for a model replaced since, or superseded by a newer request
        prev = self.result
        if prev is not None:  # what was not recomputed is still true
            if res.prediction is None:
                res.prediction = prev.prediction
            if res.gradcam is None:
                res.gradcam = prev.gradcam
            if res.global_range is None and self.normalization == "global":
                res.global_range = prev.global_range
        self.result = res
        self.troubled.discard("compute")
        if res.map_index is not None:
            self.map_index = res.map_index
        self.page = res.page
        if res.gradcam_key is not None:
            self.gradcam_shown = res.gradcam_key
        self.prediction_shown = self._prediction_key() if res.prediction is not None else None
        if "gradcam" in self.disabled and res.gradcam is None:
            res.gradcam = GradCam(self.gradcam_layer or self.info.last_conv,
                                  error=disabled_text("gradcam", self.disabled["gradcam"]))
        if self.last_error.startswith(NOT_COMPUTED) or engine_trouble(self.last_error):
            if self.disabled:  # what is turned off stays said
                text = disabled_text(*next(iter(self.disabled.items())))
                if self.last_error != text:
                    self.report_error(text)
            else:
                self.last_error = ""
                self.error_cleared.emit()
        self.result_changed.emit()

    def levels(self, res: InputActivations, other: InputActivations | None = None) -> tuple[float, float] | None:
        return levels_for(self.normalization, res, other)

    # ------------------------------------------------------------------ filters
    def set_filter_layer(self, name: str) -> None:
        self.filter_layer = name
        self.filter_page = 0
        self.filter_channel = -1
        self.request_filters()

    def set_filter_channel(self, channel: int) -> None:
        self.filter_channel = int(channel)
        self.filters_changed.emit()

    def filter_prev(self) -> None:
        if self.filter_page > 0:
            self.filter_page -= 1
            self.filters_changed.emit()

    def filter_next(self) -> None:
        fr = self.filters_result
        if fr is not None and (self.filter_page + 1) * MAPS_PER_PAGE < fr.kernels.shape[3]:
            self.filter_page += 1
            self.filters_changed.emit()

    def request_filters(self) -> None:
        """Read the chosen layer's filters, unless they are the ones already read."""
        if self.info is None or not self.filter_layer:
            return
        fr = self.filters_result
        if fr is not None and fr.model_id == self.model_id and fr.layer == self.filter_layer:
            self.filters_changed.emit()
            return
        if "filters" in self.disabled:
            self.filters_failed.emit(disabled_text("filters", self.disabled["filters"]))
            return
        self._submit("filters", FiltersRequest(self.model_id, self.filter_layer, self.model_source),
                     self._on_filters_done, self._on_filters_failed)

    def _on_filters_failed(self, message: str) -> None:
        if engine_trouble(message):
            self.troubled.add("filters")
        if CRASHED_AGAIN in message:
            self.disabled["filters"] = message
            message = disabled_text("filters", message)
        self.filters_failed.emit(message)

    def _on_filters_done(self, res: FiltersResult) -> None:
        if res.model_id != self.model_id:
            return
        self.filters_result = res
        self.troubled.discard("filters")
        if self.filter_channel == -1 and res.kernels.shape[2] != 3:
            self.filter_channel = 0
        self.filters_changed.emit()

    def filter_view(self) -> FilterPage | None:
        """The page of filters to draw now (None before any were read)."""
        fr = self.filters_result
        if fr is None:
            return None
        why = self.info.spec_reason if self.info is not None and not self.info.buildable else None
        view = filter_page(fr, self.filter_channel, self.filter_page, why)
        self.filter_page = view.first // MAPS_PER_PAGE
        return view

    # ------------------------------------------------------------------ sessions
    def to_session(self) -> dict:
        """The pane's part of a session file (see :mod:`cnnviz.state.session`): the model's file
        (none for a model handed over from training and never saved) and the choices about it."""
        from cnnviz.state.session import portable_path

        model = self.model_source.path if self.model_source is not None else (self.pending[0] if self.pending else None)
        compare = self.compare_with
        return {
            "model": portable_path(model) if model else None,
            "layer": self.layer,
            "normalization": self.normalization,
            "source": self.source,
            "compare_with": portable_path(compare) if compare and compare != "canvas" else compare,
            "alpha": self.alpha,
            "feed": getattr(self, "feed", "a"),
            "other": getattr(self, "other", "blank"),
            # the names typed with "Class names…" for this model (None: the file's own)
            "class_names": (self.user_class_names.get(self.info.path)
                            if self.info is not None else None),
        }

    def apply_session(self, d: dict, base_dir: Path | None = None) -> dict:
        """Open a session's model (the choices about it are applied once it has loaded, by the
        view, from what this returns). Everything is checked first: a bad value raises
        :class:`~cnnviz.state.session.SessionError` and changes nothing. Returns ``{"layer",
        "normalization", "source", "compare_with" (a Path, "canvas" or None), "alpha",
        "missing" (what could not be found, in words, or ""), "feed", "other"}``; the last two
        (which of two image inputs gets the image, what the other gets) apply here, when the
        session's model is adopted, and so do its "class_names" (a list of texts typed with
        "Class names…"; an empty list or null: the model file's own names)."""
        from cnnviz.state.session import Fields, SessionError, resolve_path

        f = Fields(d, "activations")
        model = f.optional_text("model")
        plan = {
            "layer": f.optional_text("layer"),
            "normalization": f.choice("normalization", NORMALIZATIONS, self.normalization),
            "source": f.choice("source", ("image", "canvas"), self.source),
            "alpha": f.number("alpha", 0.0, 1.0, self.alpha),
            "compare_with": None,
            "missing": "",
            # a model with two image inputs: which gets the image, what the other gets
            "feed": f.choice("feed", ("a", "b"), "a"),
            "other": f.choice("other", ("blank", "same"), "blank"),
        }
        names = f.get("class_names")
        if "class_names" in f and names is not None and (
                not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise SessionError(f"The session's activations setting \"class_names\" must be a list "
                               f"of class names (text, one for each class); found {names!r}.")
        compare = f.optional_text("compare_with")
        missing = []
        if compare == "canvas":
            plan["compare_with"] = "canvas"
        elif compare:
            path = resolve_path(compare, base_dir)
            if path.is_file():
                plan["compare_with"] = path
            else:
                missing.append(f"the second image {compare}")
        if model:
            path = resolve_path(model, base_dir)
            if path.is_file():
                self.session_feed = (plan["feed"], plan["other"])  # applied when it is adopted
                if "class_names" in f:  # so are the names typed for it
                    self.session_class_names = [n.strip() for n in names or [] if n.strip()]
                self.open_model(path)
            else:
                missing.append(f"the model {model}")
        plan["missing"] = " and ".join(missing)
        return plan
