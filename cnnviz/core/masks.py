"""Segmentation masks: the per-pixel class of a model's output, each class's share of the
pixels, and the book's overlap scores (chapter 6) per class and their mean.

Jaccard (intersection over union):  J(A, B) = |A ∩ B| / (|A| + |B| − |A ∩ B|).
Dice:                               D(A, B) = 2·|A ∩ B| / (|A| + |B|).

The book prints Dice without the factor 2 (``|A ∩ B| / (|A| + |B|)``), which can never exceed
0.5; its own conversions J = D / (2 − D) and D = 2J / (1 + J) hold only with the factor 2, which
is what is computed here.

Pure numpy: no Qt, no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MaskScores", "argmax_mask", "class_shares", "count_objects", "dice", "jaccard", "mask_scores",
           "object_boxes", "square_crop"]


def argmax_mask(output: np.ndarray) -> np.ndarray:
    """The class of each pixel of an (H, W, C) score map, as an (H, W) int array. Non-finite
    scores never win (a pixel whose scores are all NaN gets class 0)."""
    y = np.asarray(output, dtype=np.float64)
    if y.ndim != 3:
        raise ValueError(f"a mask needs an (height, width, classes) output, not shape {y.shape}")
    if y.shape[-1] == 1:  # one sigmoid channel: foreground where p > 0.5
        return (np.nan_to_num(y[..., 0], nan=0.0) > 0.5).astype(np.int32)
    y = np.where(np.isfinite(y), y, -np.inf)
    return np.argmax(y, axis=-1).astype(np.int32)


def class_shares(mask: np.ndarray, classes: int) -> np.ndarray:
    """The fraction of the pixels of each class 0…classes−1 (sums to 1)."""
    m = np.asarray(mask).reshape(-1)
    counts = np.bincount(np.clip(m, 0, classes - 1), minlength=classes)[:classes]
    return counts / max(1, m.size)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of two boolean masks; 1.0 when both are empty (they agree)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    inter = int(np.logical_and(a, b).sum())
    union = int(a.sum()) + int(b.sum()) - inter
    return 1.0 if union == 0 else inter / union


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """2·|A ∩ B| / (|A| + |B|) of two boolean masks (the book's formula with its factor 2);
    1.0 when both are empty."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


@dataclass(frozen=True)
class MaskScores:
    """Jaccard and Dice of a predicted mask against the true one, per class and their means."""

    jaccard: np.ndarray  # (classes,)
    dice: np.ndarray  # (classes,)

    @property
    def mean_jaccard(self) -> float:
        return float(np.mean(self.jaccard)) if self.jaccard.size else 0.0

    @property
    def mean_dice(self) -> float:
        return float(np.mean(self.dice)) if self.dice.size else 0.0


def mask_scores(predicted: np.ndarray, truth: np.ndarray, classes: int) -> MaskScores:
    """Per-class Jaccard and Dice of two (H, W) class masks of the same size."""
    p, t = np.asarray(predicted), np.asarray(truth)
    if p.shape != t.shape:
        raise ValueError(f"The true mask is {t.shape[1]}×{t.shape[0]} pixels but the model's mask is "
                         f"{p.shape[1]}×{p.shape[0]}; they must be the same size.")
    j = np.array([jaccard(p == c, t == c) for c in range(classes)], dtype=np.float64)
    d = np.array([dice(p == c, t == c) for c in range(classes)], dtype=np.float64)
    return MaskScores(j, d)


def object_boxes(image: np.ndarray, min_share: float = 0.005) -> list[tuple[int, int, int, int]]:
    """The separate figures an image shows on a plain background, as (x, y, width, height)
    boxes, largest first: the connected regions (each at least ``min_share`` of the pixels) of
    whichever side of an Otsu threshold is the minority. A photo (no plain background) has none:
    its regions are not objects."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if img.size == 0 or int(img.max()) == int(img.min()):
        return []
    _, fg = cv2.threshold(img, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if fg.mean() > 0.5:
        fg = 1 - fg
    background = img[fg == 0].astype(np.float32)
    if background.size == 0:
        return []
    plain = float(np.mean(np.abs(background - np.median(background)) <= 12))
    if plain < 0.9:  # a textured background: a photo, whose regions are not objects
        return []
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    keep = [tuple(int(v) for v in stats[i, :4]) for i in range(1, n)
            if stats[i, cv2.CC_STAT_AREA] >= max(4, min_share * img.size)]
    return sorted(keep, key=lambda b: -b[2] * b[3])


def count_objects(image: np.ndarray, min_share: float = 0.005) -> int:
    """About how many separate figures an image shows on a plain background (see
    :func:`object_boxes`); 0 for a photo."""
    return len(object_boxes(image, min_share))


def square_crop(image: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.2) -> np.ndarray:
    """A square piece of ``image`` around ``box`` with ``margin`` of its size on each side
    (clipped at the image's edges)."""
    x, y, w, h = box
    side = int(round(max(w, h) * (1 + 2 * margin)))
    cx, cy = x + w / 2, y + h / 2
    H, W = image.shape[:2]
    x0, y0 = max(0, int(round(cx - side / 2))), max(0, int(round(cy - side / 2)))
    x1, y1 = min(W, x0 + side), min(H, y0 + side)
    return np.ascontiguousarray(image[y0:y1, x0:x1])
