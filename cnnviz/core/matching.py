"""Pattern matching by sliding a pattern over an image (book ch. 1, Figs 1.4–1.11).

Two scores:

* ``"dot"`` — the book's raw sliding dot product Σ image·pattern over the window. Bright areas
  score high whatever their shape, which is exactly the limitation chapter 1 ends on.
* ``"ncc"`` — normalized cross-correlation: both the window and the pattern have their mean
  removed and are divided by their norms, so the score is in [−1, 1] and 1 means "the same shape
  up to brightness and contrast". A flat window (no contrast) scores 0.

Coordinates. The score map is "valid" mode: for an H×W image and an h×w pattern it is
(H − h + 1) × (W − w + 1), and ``scores[r, c]`` is the window whose top-left pixel is image pixel
(r, c). The window's *centre* is image pixel (r + (h − 1) // 2, c + (w − 1) // 2): the middle
pixel for odd sizes, the upper-left of the middle ones for even sizes (the cell TensorFlow's
"same" padding aligns an output with). All positions are (row, column).

Colour: a colour pattern is matched channel by channel and the scores summed (for "ncc" over
all channels together); a gray pattern on a colour image is applied to every channel, as seed
001 describes a filter expanded through the depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from cnnviz.core import images as _images

__all__ = ["MatchResult", "Peak", "match_pattern", "scale_pattern", "METHODS"]

METHODS: tuple[str, ...] = ("dot", "ncc")

# Below this many multiply-adds the score map is computed directly in float64 (exact numbers for
# the book's small examples); above it OpenCV's matchTemplate (DFT-based, float32) takes over.
_DIRECT_LIMIT = 2_000_000


@dataclass(frozen=True)
class Peak:
    """One match: the window's centre and top-left in image coordinates (row, column)."""

    center: tuple[int, int]
    top_left: tuple[int, int]
    score: float


@dataclass(frozen=True)
class MatchResult:
    """Scores of every window position and where the best one is.

    ``scores`` is float64, (H − h + 1, W − w + 1), indexed by window top-left.
    ``best_center`` is the best window's centre in image coordinates (see the module notes),
    ``best_top_left`` its top-left, ``best_score`` its score (the first in row-major order on
    ties). ``pattern_shape`` is (h, w).
    """

    scores: np.ndarray
    method: str
    pattern_shape: tuple[int, int]
    image_shape: tuple[int, int]
    best_top_left: tuple[int, int]
    best_center: tuple[int, int]
    best_score: float
    center_offset: tuple[int, int] = field(default=(0, 0))

    def center_of(self, r: int, c: int) -> tuple[int, int]:
        """Image-coordinate centre of the window whose top-left is (r, c)."""
        return r + self.center_offset[0], c + self.center_offset[1]

    def centered_map(self, fill: float = np.nan) -> np.ndarray:
        """The scores placed on the image grid at each window's centre (H, W), ``fill`` where no
        window is centred (a border of about half the pattern) — handy as an overlay."""
        H, W = self.image_shape
        out = np.full((H, W), fill, dtype=np.float64)
        oh, ow = self.scores.shape
        r0, c0 = self.center_offset
        out[r0 : r0 + oh, c0 : c0 + ow] = self.scores
        return out

    def peaks(self, k: int = 5, min_distance: tuple[int, int] | int | None = None) -> list[Peak]:
        """Up to ``k`` best matches, best first, with non-maximum suppression.

        A candidate is dropped when it lies closer than ``min_distance`` (rows, columns) to a
        better one in both directions; the default is the pattern size, so reported windows do
        not overlap.
        """
        if k < 1:
            return []
        if min_distance is None:
            dr, dc = self.pattern_shape
        elif isinstance(min_distance, int):
            dr = dc = min_distance
        else:
            dr, dc = min_distance
        dr, dc = max(1, int(dr)), max(1, int(dc))
        s = self.scores
        order = np.argsort(-s, axis=None, kind="stable")
        chosen: list[tuple[int, int]] = []
        out: list[Peak] = []
        for flat in order:
            r, c = divmod(int(flat), s.shape[1])
            if any(abs(r - pr) < dr and abs(c - pc) < dc for pr, pc in chosen):
                continue
            chosen.append((r, c))
            out.append(Peak(self.center_of(r, c), (r, c), float(s[r, c])))
            if len(out) >= k:
                break
        return out


def _prepare(image: np.ndarray, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image)
    pat = np.asarray(pattern)
    for name, arr in (("image", img), ("pattern", pat)):
        if arr.size == 0:
            raise ValueError(f"The {name} is empty.")
        if arr.ndim not in (2, 3):
            raise ValueError(
                f"The {name} must be (height, width) or (height, width, channels); got {arr.shape}."
            )
        if arr.dtype.kind not in "uifb":
            raise ValueError(f"The {name} must hold numbers; got dtype {arr.dtype}.")
    img = img.astype(np.float64)
    pat = pat.astype(np.float64)
    if not np.isfinite(img).all():
        raise ValueError("The image contains NaN or infinite values.")
    if not np.isfinite(pat).all():
        raise ValueError("The pattern contains NaN or infinite values.")
    img3 = img[:, :, None] if img.ndim == 2 else img
    pat3 = pat[:, :, None] if pat.ndim == 2 else pat
    if pat3.shape[2] == 1 and img3.shape[2] > 1:
        pat3 = np.repeat(pat3, img3.shape[2], axis=2)
    elif img3.shape[2] == 1 and pat3.shape[2] > 1:
        img3 = np.repeat(img3, pat3.shape[2], axis=2)
    if img3.shape[2] != pat3.shape[2]:
        raise ValueError(
            f"The pattern has {pat3.shape[2]} channels but the image has {img3.shape[2]}."
        )
    H, W = img3.shape[:2]
    h, w = pat3.shape[:2]
    if h > H or w > W:
        raise ValueError(
            f"The {h}×{w} pattern is larger than the {H}×{W} image, so it fits nowhere: use a "
            "smaller pattern (or scale it down)."
        )
    return img3, pat3


def _direct(img3: np.ndarray, pat3: np.ndarray, method: str) -> np.ndarray:
    H, W, C = img3.shape
    h, w, _ = pat3.shape
    win = np.lib.stride_tricks.sliding_window_view(img3, (h, w), axis=(0, 1))  # (oh, ow, C, h, w)
    p = np.moveaxis(pat3, 2, 0)  # (C, h, w)
    if method == "dot":
        return np.einsum("ijcuv,cuv->ij", win, p)
    p0 = p - p.mean(axis=(1, 2), keepdims=True)
    w0 = win - win.mean(axis=(3, 4), keepdims=True)
    num = np.einsum("ijcuv,cuv->ij", w0, p0)
    ssw = np.einsum("ijcuv,ijcuv->ij", w0, w0)
    flat = _flat_windows(ssw / (h * w), img3)
    den = np.sqrt(np.where(flat, 1.0, ssw) * np.sum(p0 * p0))
    return np.where(flat, 0.0, np.clip(num / den, -1.0, 1.0))


def _flat_windows(variance: np.ndarray, img3: np.ndarray) -> np.ndarray:
    """Windows whose pixel variance (summed over channels) is zero up to rounding: no shape to
    compare, so their ncc score is defined as 0."""
    scale = max(1.0, float(np.abs(img3).max()))
    return variance <= 1e-10 * scale * scale


def _opencv(img3: np.ndarray, pat3: np.ndarray, method: str) -> np.ndarray:
    img32 = np.ascontiguousarray(img3.astype(np.float32))
    pat32 = np.ascontiguousarray(pat3.astype(np.float32))
    if img32.shape[2] > 4:  # matchTemplate takes up to 4 channels; sum the rest by hand
        if method == "dot":
            return sum(
                _opencv(img3[:, :, c : c + 1], pat3[:, :, c : c + 1], "dot")
                for c in range(img3.shape[2])
            )
        return _direct(img3, pat3, method)
    flag = cv2.TM_CCORR if method == "dot" else cv2.TM_CCOEFF_NORMED
    if img32.shape[2] == 1:
        img32, pat32 = img32[:, :, 0], pat32[:, :, 0]
    scores = cv2.matchTemplate(img32, pat32, flag).astype(np.float64)
    if method == "ncc":
        # OpenCV's own guard for flat windows differs from ours; recompute which windows are flat
        h, w = pat3.shape[:2]
        mean = cv2.boxFilter(img3, cv2.CV_64F, (w, h), normalize=True, borderType=cv2.BORDER_ISOLATED)
        mean_sq = cv2.boxFilter(img3 * img3, cv2.CV_64F, (w, h), normalize=True,
                                borderType=cv2.BORDER_ISOLATED)
        var = (mean_sq - mean * mean)
        var = var.reshape(var.shape[0], var.shape[1], -1).sum(axis=2)
        r0, c0 = h // 2, w // 2
        var = var[r0 : r0 + scores.shape[0], c0 : c0 + scores.shape[1]]
        scores = np.where(_flat_windows(var, img3), 0.0, np.clip(scores, -1.0, 1.0))
    return scores


def match_pattern(
    image: np.ndarray, pattern: np.ndarray, method: str = "dot", *, engine: str = "auto"
) -> MatchResult:
    """Slide ``pattern`` over ``image`` and score every position (valid mode).

    ``method``: "dot" (the book's sliding dot product) or "ncc" (normalized cross-correlation,
    in [−1, 1]). Values are used in their own units (uint8 stays 0..255). ``engine``: "auto"
    (exact float64 for small inputs, OpenCV's ``matchTemplate`` — TM_CCORR / TM_CCOEFF_NORMED —
    for large ones), "numpy" or "opencv". See the module notes for the coordinates.
    """
    m = str(method).lower()
    if m not in METHODS:
        raise ValueError(f"Unknown matching method '{method}': use 'dot' or 'ncc'.")
    if engine not in ("auto", "numpy", "opencv"):
        raise ValueError(f"Unknown engine '{engine}': use 'auto', 'numpy' or 'opencv'.")
    img3, pat3 = _prepare(image, pattern)
    H, W, C = img3.shape
    h, w = pat3.shape[:2]
    if m == "ncc" and float(np.ptp(pat3)) == 0.0:
        raise ValueError(
            "The pattern is a single flat value, so normalized correlation is undefined for it: "
            "use method='dot' or a pattern with some contrast."
        )
    work = (H - h + 1) * (W - w + 1) * h * w * C
    use_direct = engine == "numpy" or (engine == "auto" and work <= _DIRECT_LIMIT)
    scores = _direct(img3, pat3, m) if use_direct else _opencv(img3, pat3, m)
    flat = int(np.argmax(scores))
    r, c = divmod(flat, scores.shape[1])
    off = ((h - 1) // 2, (w - 1) // 2)
    return MatchResult(
        scores=scores,
        method=m,
        pattern_shape=(h, w),
        image_shape=(H, W),
        best_top_left=(r, c),
        best_center=(r + off[0], c + off[1]),
        best_score=float(scores[r, c]),
        center_offset=off,
    )


def scale_pattern(pattern: np.ndarray, factor: float, *, interpolation: str = "auto") -> np.ndarray:
    """The pattern resized by ``factor`` (at least 1×1), for the matching pane's scale slider.

    Chapter 1 shows the sliding pattern failing when objects change size; scaling the pattern is
    how the app lets a student find the circle again. Keeps the pattern's dtype family.
    """
    try:
        f = float(factor)
    except (TypeError, ValueError):
        raise ValueError(f"The scale factor must be a number; got {factor!r}.") from None
    if not np.isfinite(f) or f <= 0:
        raise ValueError(f"The scale factor must be a positive number; got {factor!r}.")
    pat = np.asarray(pattern)
    if pat.size == 0 or pat.ndim not in (2, 3):
        raise ValueError(f"The pattern must be a non-empty (h, w) or (h, w, C) array; got {pat.shape}.")
    h, w = pat.shape[:2]
    new_h, new_w = max(1, round(h * f)), max(1, round(w * f))
    if (new_h, new_w) == (h, w):
        return pat.copy()
    out = _images.resize(pat, width=new_w, height=new_h, interpolation=interpolation)
    if pat.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out
