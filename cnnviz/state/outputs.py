"""What the Activations pane shows of a model's output, by its kind (see
:mod:`cnnviz.ml.outputs`), without Qt:

- ``classes``: the class bars (drawn by the prediction box) and a caption with what to know
  about them (a single-label classifier shown several objects must pick one; NaN scores);
- ``mask``: the argmax mask over the input with a class legend and an opacity, each class's
  share of the pixels and, given the true mask, Jaccard and Dice per class and their mean;
- ``image``: input | output | |difference| on one colour scale, and the mean squared error;
- ``values``: the numbers as bars, a page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnviz.core import masks as M
from cnnviz.ml.inspect import Prediction

#: Bars on one page of a ``values`` output.
VALUES_PER_PAGE = 40
#: Colours of the mask classes (RGB), repeated for more classes.
PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (145, 30, 180),
    (70, 240, 240), (245, 130, 48), (240, 50, 230), (210, 245, 60), (128, 128, 128),
], dtype=np.uint8)
KIND_TITLES = {"classes": "Prediction", "mask": "Predicted mask", "image": "Reconstruction",
               "values": "Output values"}


#: What the scores mean (the view's tooltip on them).
SCORES_HELP = ("Jaccard J = |A∩B| / |A∪B|; Dice D = 2|A∩B| / (|A|+|B|) for the predicted (A) and true "
               "(B) pixels of each class. The book prints Dice without the 2, which would cap it at "
               "0.5; with it, D = 2J / (1 + J) as the book says.")


def colour(index: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in PALETTE[index % len(PALETTE)])


def nonfinite_text(pred: Prediction) -> str:
    """What to say about NaN or infinite numbers in an output ("" when there are none)."""
    if not pred.nonfinite:
        return ""
    total = int(pred.output.size) if pred.output is not None else pred.nonfinite
    return (f"{pred.nonfinite:,} of the output's {total:,} numbers are NaN or infinite (the model "
            "is broken or was trained into overflow); only the finite ones are drawn.")


def classes_caption(pred: Prediction, preview: np.ndarray | None, short: bool = False) -> str:
    """The note under a classifier's bars (``short``: a brief form for a projector)."""
    notes = []
    objects = M.count_objects(preview) if preview is not None else 0
    each = list(getattr(pred, "objects", None) or [])
    objects = max(objects, len(each))
    if objects >= 2 and pred.probabilities.size >= 2 and short:
        notes.append(f"{objects} objects, one label for all" + (" (each alone: hover)." if each else "."))
    elif objects >= 2 and pred.probabilities.size >= 2:
        notes.append(f"This image shows about {objects} separate objects, but a single-label classifier "
                     "must pick one class for the whole image (its scores add up to 100%).")
        if each:
            names = ", ".join(f"{o[4]} {o[5]:.0%}" + (f" ({o[6]})" if len(o) > 6 else "") for o in each)
            notes.append(f"Each object cropped and classified on its own: {names}.")
        else:
            notes.append("Crop one object to ask about it.")
    bad = nonfinite_text(pred)
    if bad:
        notes.append(bad)
    return " ".join(notes)


def class_names(labels: list[str] | None, classes: int) -> list[str]:
    labels = list(labels or [])
    return [labels[i] if i < len(labels) else f"class {i}" for i in range(classes)]


def _resize_nearest(a: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2

    if a.shape[:2] == tuple(hw):
        return a
    return cv2.resize(a, (int(hw[1]), int(hw[0])), interpolation=cv2.INTER_NEAREST)


def _as_rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return img[..., :3]


def read_truth_mask(mask: np.ndarray, out_hw: tuple[int, int], source_hw: tuple[int, int] | None,
                    classes: int) -> np.ndarray:
    """A true mask given as an image, as (H, W) class indices of the model's output size.

    Accepted: one value per pixel (a gray image, or a colour image whose channels are equal)
    holding the class numbers 0…classes−1, or 1…classes as in the Oxford-IIIT pets trimaps, or
    0 and 255 for two classes; the size of the model's output, or of the image fed (then it is
    resized like the image). Anything else raises ValueError with what is wrong, in words."""
    m = np.asarray(mask)
    if m.ndim == 3:
        if m.shape[2] >= 3 and not (np.array_equal(m[..., 0], m[..., 1]) and np.array_equal(m[..., 0], m[..., 2])):
            raise ValueError("The mask is a colour picture; a mask holds one class number per pixel "
                             "(a gray image whose values are 0, 1, 2, …).")
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"A mask is a 2-D image of class numbers, not an array of shape {m.shape}.")
    h, w = int(out_hw[0]), int(out_hw[1])
    sizes = {(h, w)}
    if source_hw is not None:
        sizes.add((int(source_hw[0]), int(source_hw[1])))
    if m.shape not in sizes:
        want = " or ".join(f"{b}×{a}" for a, b in sorted(sizes))
        raise ValueError(f"The mask is {m.shape[1]}×{m.shape[0]} pixels, but it must be {want} "
                         "(the size of the image or of the model's mask): open the mask made for this image.")
    values = np.unique(m)
    if values.min() >= 0 and values.max() < classes:
        idx = m.astype(np.int32)
    elif values.min() >= 1 and values.max() <= classes:
        idx = m.astype(np.int32) - 1  # 1…C, as the Oxford pets trimaps number them
    elif classes == 2 and set(values.tolist()) <= {0, 255}:
        idx = (m > 0).astype(np.int32)
    else:
        shown = ", ".join(str(int(v)) for v in values[:8]) + (", …" if values.size > 8 else "")
        raise ValueError(f"The mask holds the values {shown}, but this model has {classes} classes: "
                         f"a mask for it holds 0…{classes - 1} (or 1…{classes}, as in the Oxford "
                         "pets trimaps).")
    return _resize_nearest(idx.astype(np.uint8), (h, w)).astype(np.int32)


@dataclass
class MaskView:
    mask: np.ndarray  # (H, W) class of each pixel
    names: list[str]
    shares: np.ndarray
    overlay: np.ndarray  # (H, W, 3) uint8, the mask's colours over the input
    scores: M.MaskScores | None = None
    legend: list[tuple[str, tuple[int, int, int], float]] = field(default_factory=list)


@dataclass
class ImageOutputView:
    input: np.ndarray  # (H, W) or (H, W, 3) float, what the model was fed
    output: np.ndarray
    difference: np.ndarray
    levels: tuple[float, float]
    mse: float


@dataclass
class ValuesPage:
    values: np.ndarray
    names: list[str]
    first: int
    total: int
    page: int
    pages: int

    @property
    def text(self) -> str:
        last = self.first + self.values.size
        return f"Values {self.first + 1:,}–{last:,} of {self.total:,} (page {self.page + 1} of {self.pages})"


def _finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    vals = [a[np.isfinite(a)] for a in arrays]
    vals = [v for v in vals if v.size]
    if not vals:
        return 0.0, 1.0
    lo, hi = min(float(v.min()) for v in vals), max(float(v.max()) for v in vals)
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _squeeze_gray(a: np.ndarray) -> np.ndarray:
    return a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a


class OutputsState:
    """The output view's choices (opacity, the true mask, the page of values) and what it draws
    for the current :class:`~cnnviz.ml.inspect.Prediction`."""

    def __init__(self) -> None:
        self.opacity = 0.5
        self.page = 0
        self.truth: np.ndarray | None = None  # (H, W) class indices of the output's size
        self.truth_name = ""
        self.truth_error = ""
        self.truth_key: object = None
        self.pred: Prediction | None = None
        self.preview: np.ndarray | None = None
        self.source_hw: tuple[int, int] | None = None
        self.labels: list[str] | None = None
        self.image_shape: tuple | None = None

    @property
    def kind(self) -> str:
        return self.pred.output_kind if self.pred is not None else "classes"

    def reset(self) -> None:
        """A new model: its output, its true mask and the page go."""
        self.page = 0
        self.truth, self.truth_name, self.truth_error, self.truth_key = None, "", "", None
        self.pred = self.preview = None
        self.source_hw = None

    def show(self, pred: Prediction | None, preview: np.ndarray | None, source_hw=None,
             labels: list[str] | None = None, image_shape: tuple | None = None) -> None:
        self.pred, self.preview = pred, preview
        self.source_hw = tuple(source_hw) if source_hw is not None else None
        self.labels, self.image_shape = labels, image_shape
        if pred is not None and pred.output_kind == "values":
            self.page = min(self.page, self.values_pages() - 1)

    def image_changed(self, image_key: object = None) -> None:
        """Another image is fed: a true mask belongs to the image it was opened for (``image_key``
        names the image now fed; a mask given for that very image stays)."""
        if image_key is not None and image_key == self.truth_key:
            return
        self.truth, self.truth_name, self.truth_error, self.truth_key = None, "", "", None

    # ---------------------------------------------------------------- mask
    @property
    def classes(self) -> int:
        if self.pred is None or self.pred.output is None or self.pred.output.ndim != 3:
            return 0
        return max(2, int(self.pred.output.shape[-1]))

    def set_truth(self, mask: np.ndarray | None, name: str = "", image_key: object = None) -> str:
        """Use ``mask`` (an image of class numbers) as the true mask of the image ``image_key``;
        returns "" or what is wrong with it (the previous true mask is kept then)."""
        if mask is None:
            self.truth, self.truth_name, self.truth_error, self.truth_key = None, "", "", None
            return ""
        if self.kind != "mask" or self.pred is None or self.pred.output is None:
            self.truth_error = "Open a segmentation model first: only a mask can be compared with a true mask."
            return self.truth_error
        try:
            self.truth = read_truth_mask(mask, self.pred.output.shape[:2], self.source_hw, self.classes)
        except ValueError as exc:
            self.truth_error = str(exc)
            return self.truth_error
        self.truth_name, self.truth_error, self.truth_key = name, "", image_key
        return ""

    def mask_view(self) -> MaskView | None:
        if self.kind != "mask" or self.pred is None or self.pred.output is None:
            return None
        out = self.pred.output
        mask = M.argmax_mask(out)
        classes = self.classes
        names = class_names(self.labels or self.pred.labels, classes)
        shares = M.class_shares(mask, classes)
        base = self.preview if self.preview is not None else np.zeros(mask.shape, np.uint8)
        base = _as_rgb(base).astype(np.float32)
        shown = _resize_nearest(mask.astype(np.uint8), base.shape[:2]).astype(np.int32)
        colours = PALETTE[shown % len(PALETTE)].astype(np.float32)
        a = float(self.opacity)
        overlay = np.clip((1 - a) * base + a * colours, 0, 255).astype(np.uint8)
        scores = None
        if self.truth is not None and self.truth.shape == mask.shape:
            scores = M.mask_scores(mask, self.truth, classes)
        legend = [(names[i], colour(i), float(shares[i])) for i in range(classes)]
        return MaskView(mask, names, shares, overlay, scores, legend)

    def scores_text(self, view: MaskView) -> str:
        if view.scores is None:
            return ("Open the true mask of this image (Open mask…), or feed a sample of the bundled "
                    "segmentation data with its own (Sample), to see Jaccard and Dice.")
        s = view.scores
        return (f"Against {self.truth_name or 'the true mask'}: mean Jaccard {s.mean_jaccard:.3f}, "
                f"mean Dice {s.mean_dice:.3f} (per class in the legend).")

    # ---------------------------------------------------------------- image
    def image_view(self) -> ImageOutputView | None:
        if self.kind != "image" or self.pred is None or self.pred.output is None:
            return None
        from cnnviz.ml.outputs import as_image  # numpy only; Keras is imported lazily there

        out = as_image(self.pred.output, self.image_shape)
        fed = self.pred.model_input
        if fed is not None:
            fed = as_image(fed, self.image_shape) if fed.ndim != 3 else fed
        if fed is None or fed.shape != out.shape:
            base = self.preview if self.preview is not None else np.zeros(out.shape[:2], np.uint8)
            fed = _resize_nearest(np.asarray(base, np.float32) / 255.0, out.shape[:2])
            if fed.ndim == 2:
                fed = fed[..., None]
            if fed.shape[2] != out.shape[2]:
                fed = np.repeat(fed.mean(axis=2, keepdims=True), out.shape[2], axis=2)
        out, fed = _squeeze_gray(np.asarray(out, np.float32)), _squeeze_gray(np.asarray(fed, np.float32))
        diff = np.abs(out - fed)
        levels = _finite_range(fed, out, diff)
        ok = np.isfinite(diff)
        mse = float(np.mean(diff[ok] ** 2)) if ok.any() else float("nan")
        clean = [np.where(np.isfinite(a), a, levels[0]).astype(np.float32) for a in (fed, out, diff)]
        return ImageOutputView(clean[0], clean[1], clean[2], levels, mse)

    # ---------------------------------------------------------------- values
    def values_pages(self) -> int:
        n = int(self.pred.output.size) if self.pred is not None and self.pred.output is not None else 0
        return max(1, -(-n // VALUES_PER_PAGE))

    def values_page(self) -> ValuesPage | None:
        if self.kind != "values" or self.pred is None or self.pred.output is None:
            return None
        flat = np.asarray(self.pred.output, np.float32).reshape(-1)
        pages = self.values_pages()
        self.page = min(max(0, self.page), pages - 1)
        first = self.page * VALUES_PER_PAGE
        vals = flat[first:first + VALUES_PER_PAGE]
        shown = np.where(np.isfinite(vals), vals, 0.0).astype(np.float32)
        names = [f"{first + i}" + ("" if np.isfinite(v) else " (NaN)") for i, v in enumerate(vals)]
        return ValuesPage(shown, names, first, int(flat.size), self.page, pages)

    def next_page(self) -> None:
        self.page = min(self.page + 1, self.values_pages() - 1)

    def prev_page(self) -> None:
        self.page = max(self.page - 1, 0)

    def values_summary(self) -> str:
        flat = np.asarray(self.pred.output, np.float64).reshape(-1)
        ok = flat[np.isfinite(flat)]
        if not ok.size:
            return "No finite value to show."
        if flat.size == 1:
            return f"The model outputs one number: {ok[0]:.4g}."
        return (f"{flat.size:,} numbers: min {ok.min():.3g}, max {ok.max():.3g}, mean {ok.mean():.3g}; "
                "not class scores (a regression, an embedding or a distance), so shown as they are.")

    # ---------------------------------------------------------------- caption
    def caption(self, short: bool = False) -> str:
        """The text under the view (``short``: a classifier's note in brief, for a projector)."""
        if self.pred is None:
            return ""
        bad = nonfinite_text(self.pred)
        kind = self.kind
        if kind == "classes":
            return classes_caption(self.pred, self.preview, short)
        if kind == "mask":
            view = self.mask_view()
            text = self.scores_text(view)
        elif kind == "image":
            view = self.image_view()
            text = (f"Mean squared error between input and output: {view.mse:.4g} "
                    f"(one colour scale {view.levels[0]:.3g}…{view.levels[1]:.3g} for all three).")
        else:
            text = self.values_summary()
        return " ".join(t for t in (text, self.truth_error, bad) if t)


def segmentation_sample(size: int, channels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One image of the bundled segmentation data with its true mask and class names."""
    from cnnviz.ml.datasets import make_segmentation  # numpy and OpenCV only

    data = make_segmentation(n=1, size=max(16, int(size)), channels=3, seed=int(seed))
    img = data.x_train[0]
    if channels == 1:
        img = img.mean(axis=2).astype(np.uint8)
    return img, data.y_train[0], list(data.class_names)


def read_mask_file(path: str | Path) -> np.ndarray:
    """A mask image file as an array of its values (unchanged: no colour conversion)."""
    import cv2

    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise ValueError(f"{Path(path).name} could not be read as an image.")
    if m.ndim == 3 and m.shape[2] >= 3:
        m = m[..., 2::-1] if m.shape[2] == 3 else m[..., [2, 1, 0]]
    return m


def output_brief(pred: Prediction, image_shape: tuple | None = None) -> str:
    """A few words on one output, by its kind, for a caption beside another input's
    ("predicted 7 (98.0%)", "mask: object 7%, background 93%", "reconstruction MSE 0.0031",
    "output 0.762")."""
    kind = pred.output_kind
    if kind == "classes":
        p = np.asarray(pred.probabilities)
        if not p.size:
            return ""
        t = int(np.argmax(p))
        label = pred.labels[t] if t < len(pred.labels) else f"class {t}"
        return f"predicted {label} ({p[t]:.1%})"
    s = OutputsState()
    s.show(pred, None, labels=pred.labels or None, image_shape=image_shape)
    if kind == "mask":
        view = s.mask_view()
        parts = [f"{name} {share:.0%}" for name, _, share in view.legend if share > 0]
        return "mask: " + ", ".join(parts)
    if kind == "image":
        view = s.image_view()
        return f"reconstruction MSE {view.mse:.3g}"
    flat = np.asarray(pred.output, np.float64).reshape(-1)
    ok = flat[np.isfinite(flat)]
    if flat.size == 1:
        return f"output {ok[0]:.4g}" if ok.size else "output NaN"
    return f"{flat.size:,} values, mean {ok.mean():.3g}" if ok.size else f"{flat.size:,} values, none finite"
