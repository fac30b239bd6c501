"""Image filter kernels: the book's presets and a fast way to apply them.

Every preset is a ``float32`` 2-D array. :func:`apply_kernel` slides it over an image the way
chapter 1 of the book does (a sliding dot product, i.e. cross-correlation, which is also what a
Keras ``Conv2D`` computes); ``mode="convolve"`` flips the kernel first for the textbook
mathematical convolution. Results are ``float32`` in the input's own units (0..255 for ``uint8``
images) with negative values kept, because edge detectors produce them and clipping would hide
half of the edges.

A note on the book's kernels (chapter 3): its Sobel-x kernel is printed with a last row of
``1 0 1``; the correct row is ``1 0 -1`` (a Sobel kernel sums to zero), which is what
``PRESETS["sobel_x"]`` holds. The signs follow the book's printed matrices.
"""

from __future__ import annotations

import functools
import sys
import threading

import cv2
import numpy as np

from cnnviz.core.spectrum import SpectrumFilter, usable_cores

__all__ = [
    "PRESETS",
    "PRESET_INFO",
    "HAAR_DEFAULT_SIZE",
    "HAAR_INFO",
    "HAAR_PRESETS",
    "HAAR_TITLES",
    "haar_feature",
    "BORDERS",
    "preset",
    "apply_kernel",
    "apply_kernel_fast",
    "IncrementalFilter",
    "separable_terms",
    "kernel_taps",
    "gradient_magnitude",
    "gradient_direction",
    "kernel_sum_effect",
    "validate_kernel",
]


def _k(rows: list[list[float]], scale: float = 1.0) -> np.ndarray:
    arr = np.array(rows, dtype=np.float64) * scale
    arr = arr.astype(np.float32)
    arr.setflags(write=False)
    return arr


_G5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])

#: name -> read-only float32 kernel. Use :func:`preset` for an editable copy.
PRESETS: dict[str, np.ndarray] = {
    "identity": _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "gradient_x": _k([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
    "gradient_y": _k([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
    "sobel_x": _k([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
    "sobel_y": _k([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    "laplacian": _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "laplacian_8": _k([[1, 1, 1], [1, -8, 1], [1, 1, 1]]),
    "box_blur": _k([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 1 / 9),
    "box_blur_5": _k(np.ones((5, 5)).tolist(), 1 / 25),
    "gaussian_3": _k([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    "gaussian_5": _k(_G5.tolist(), 1 / 256),
    "sharpen": _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "emboss": _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "outline": _k([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "diagonal": _k([[0, 0, 1], [0, 1, 0], [1, 0, 0]]),
    "chess_2x2": _k([[1, 0], [0, 1]]),
}

#: name -> one-line description: what the kernel does, what it sums to, and the brightness effect.
PRESET_INFO: dict[str, str] = {
    "identity": "Identity: copies each pixel unchanged. Sums to 1, so brightness is kept.",
    "gradient_x": (
        "Horizontal gradient (book ch. 3): right column minus left column, so it lights up "
        "vertical edges where the image gets brighter to the right (negative where darker). "
        "Sums to 0: flat areas become 0. Sobel x is printed with the opposite sign (left minus "
        "right): same edges, colours swapped; the book prints both this way, so both are kept."
    ),
    "gradient_y": (
        "Vertical gradient (book ch. 3): bottom row minus top row, so it lights up horizontal "
        "edges where the image gets brighter downwards (negative where darker). Sums to 0. "
        "Sobel y is printed with the opposite sign (top minus bottom)."
    ),
    "sobel_x": (
        "Sobel x (book ch. 3, last row corrected to 1 0 -1): like the gradient but the middle "
        "row counts twice, which smooths noise; left minus right, so it is positive where the "
        "image gets darker to the right — the opposite sign of Gradient x (right minus left), "
        "as the book prints them: same edges, colours swapped. Sums to 0: an edge detector."
    ),
    "sobel_y": (
        "Sobel y (book ch. 3): top row minus bottom row with the middle column counted twice, "
        "so it is positive where the image gets darker downwards — the opposite sign of "
        "Gradient y (bottom minus top), as the book prints them; finds horizontal edges. "
        "Sums to 0: an edge detector."
    ),
    "laplacian": (
        "Laplacian, 4 neighbours (book ch. 3): a second derivative that finds edges in every "
        "direction (inward and outward). Sums to 0: flat areas become 0."
    ),
    "laplacian_8": (
        "Laplacian with the 8 neighbours, diagonals included: stronger, direction-free edge "
        "response. Sums to 0."
    ),
    "box_blur": "Box blur: the average of the 3×3 neighbourhood. Sums to 1: brightness kept.",
    "box_blur_5": "Box blur 5×5: the average of 25 pixels, a stronger blur. Sums to 1.",
    "gaussian_3": (
        "Gaussian blur 3×3: a weighted average favouring the centre, a softer blur than the box. "
        "Sums to 1: brightness kept."
    ),
    "gaussian_5": "Gaussian blur 5×5 (binomial weights / 256): a smooth blur. Sums to 1.",
    "sharpen": (
        "Sharpen: the pixel plus its difference from its 4 neighbours, so edges get more "
        "contrast. Sums to 1: overall brightness kept."
    ),
    "emboss": (
        "Emboss: light from the bottom-right, dark from the top-left, giving a raised relief look. "
        "Sums to 1: brightness kept."
    ),
    "outline": (
        "Outline: the pixel minus its 8 neighbours (the negative 8-neighbour Laplacian); outlines "
        "every edge. Sums to 0: flat areas go black."
    ),
    "diagonal": (
        "Diagonal pattern (book ch. 1): matches lines running from bottom-left to top-right. Sums "
        "to 3: brightens up to three times."
    ),
    "chess_2x2": (
        "The 2×2 chess pattern of the book's first worked example: adds a pixel and its "
        "lower-right neighbour. Sums to 2: doubles brightness."
    ),
}

# ------------------------------------------------------------------------------------------
# Haar-like features (book ch. 5, Fig. 5.1)

#: preset name -> the menu's title. The rectangles are +1 (white in Fig. 5.1) and −1 (black).
HAAR_TITLES: dict[str, str] = {
    "haar_two_x": "Haar: two rectangles side by side",
    "haar_two_y": "Haar: two rectangles stacked",
    "haar_three_x": "Haar: three rectangles side by side",
    "haar_three_y": "Haar: three rectangles stacked",
    "haar_four": "Haar: four rectangles (diagonal)",
}
HAAR_DEFAULT_SIZE = 12  # divisible by 2 and 3: every rectangle of a preset is the same size
_VJ = (
    " Viola and Jones computed such features at every position and size with an integral image "
    "(each rectangle's sum from 4 look-ups), which made their face detector fast."
)
HAAR_INFO: dict[str, str] = {
    "haar_two_x": (
        "Haar two-rectangle feature, side by side (book ch. 5, Fig. 5.1): right half +1, left half "
        "−1 — positive where the image is brighter on the right, a vertical edge seen at the scale "
        "of the feature (a coarse Gradient x)." + _VJ
    ),
    "haar_two_y": (
        "Haar two-rectangle feature, stacked: bottom half +1, top half −1 — positive where the lower "
        "half is brighter, a horizontal edge such as dark eyes above bright cheeks." + _VJ
    ),
    "haar_three_x": (
        "Haar three-rectangle feature, side by side: middle third +1, outer thirds −1 — a bright "
        "vertical bar between darker sides (the bridge of the nose between the eyes); negative on a "
        "dark bar." + _VJ
    ),
    "haar_three_y": (
        "Haar three-rectangle feature, stacked: middle third +1, top and bottom −1 — a bright "
        "horizontal band between darker ones (a dark line gives a negative response)." + _VJ
    ),
    "haar_four": (
        "Haar four-rectangle feature: top-left and bottom-right +1, the other two −1 — a diagonal, "
        "chessboard-like contrast; flat areas and plain edges give about 0." + _VJ
    ),
}


def _parts(size: int, n: int) -> list[int]:
    """``size`` cut into ``n`` runs of equal length, the remainder added to run ``n // 2`` (the
    middle one of three, so the feature stays symmetric)."""
    base, extra = divmod(size, n)
    runs = [base] * n
    runs[n // 2] += extra
    return runs


def _bands(size: int, signs: list[float]) -> np.ndarray:
    return np.repeat(np.array(signs, np.float32), _parts(size, len(signs)))


def haar_feature(name: str, size: int) -> np.ndarray:
    """The Haar-like feature ``name`` (a key of :data:`HAAR_TITLES`) as a size × size float32
    kernel of +1 and −1. Sizes that the rectangles do not divide give the middle (or second)
    rectangle the extra rows or columns."""
    if name not in HAAR_TITLES:
        raise ValueError(f"There is no Haar feature called '{name}'. Choose one of: {', '.join(HAAR_TITLES)}.")
    parts = 3 if "three" in name else 2
    if not (parts <= int(size) <= 64):
        raise ValueError(f"A {parts}-part Haar feature needs a size of {parts} to 64 pixels; got {size}.")
    size = int(size)
    if name == "haar_four":
        b = _bands(size, [1.0, -1.0])
        return np.outer(b, b).astype(np.float32)
    signs = [-1.0, 1.0] if parts == 2 else [-1.0, 1.0, -1.0]
    line = _bands(size, signs)
    grid = np.tile(line, (size, 1)) if name.endswith("_x") else np.tile(line[:, None], (1, size))
    return grid.astype(np.float32)


def _frozen(k: np.ndarray) -> np.ndarray:
    k.setflags(write=False)
    return k


#: name -> read-only float32 kernel at :data:`HAAR_DEFAULT_SIZE` (kept apart from
#: :data:`PRESETS`, the 3×3-ish kernels of the book's chapters 1 and 3).
HAAR_PRESETS: dict[str, np.ndarray] = {name: _frozen(haar_feature(name, HAAR_DEFAULT_SIZE)) for name in HAAR_TITLES}

# border name -> OpenCV border flag. "reflect" mirrors without repeating the edge pixel
# (numpy/PyTorch "reflect", OpenCV REFLECT_101); "symmetric" repeats it (OpenCV REFLECT).
BORDERS: dict[str, int] = {
    "zero": cv2.BORDER_CONSTANT,
    "replicate": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
    "symmetric": cv2.BORDER_REFLECT,
}


def preset(name: str) -> np.ndarray:
    """An editable float32 copy of the preset kernel called ``name`` (a Haar feature at its
    default size included)."""
    try:
        return (PRESETS[name] if name in PRESETS else HAAR_PRESETS[name]).copy()
    except KeyError:
        raise ValueError(
            f"There is no preset kernel called '{name}'. Choose one of: {', '.join([*PRESETS, *HAAR_PRESETS])}."
        ) from None


def validate_kernel(kernel: object, *, name: str = "kernel") -> np.ndarray:
    """The kernel as a float32 2-D array, or a ``ValueError`` a student can act on.

    Refuses empty kernels, anything that is not 2-D, non-numbers, and NaN or infinite entries
    (one NaN would turn the whole result into NaN).
    """
    try:
        arr = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"The {name} must be a grid of numbers; got something that is not numeric."
        ) from None
    if arr.size == 0:
        raise ValueError(f"The {name} is empty: it needs at least one row and one column.")
    if arr.ndim != 2:
        raise ValueError(
            f"The {name} must be a 2-D grid of numbers (rows × columns); got {arr.ndim} "
            f"dimension(s) with shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"The {name} contains {arr[tuple(bad)]} at row {bad[0]}, column {bad[1]}; every entry "
            "must be a finite number."
        )
    return arr.astype(np.float32)


def _check_image(image: object) -> np.ndarray:
    img = np.asarray(image)
    if img.size == 0:
        raise ValueError("The image is empty (it has no pixels).")
    if img.ndim not in (2, 3):
        raise ValueError(
            f"The image must be (H, W) gray or (H, W, C) colour; got shape {img.shape}."
        )
    if img.dtype == np.bool_:
        img = img.astype(np.uint8)
    elif img.dtype.kind not in "uif":
        raise ValueError(f"The image must hold numbers; got dtype {img.dtype}.")
    return img


def _all_finite(img: np.ndarray) -> bool:
    # one pass summing |x| in double (about a third of a 3×3 filter's time): any NaN or inf
    # poisons the sum, and finite float32 values cannot overflow a double
    if img.ndim == 2 or img.shape[2] <= 4:
        return bool(np.isfinite(cv2.norm(np.ascontiguousarray(img), cv2.NORM_L1)))
    return bool(np.isfinite(img.sum(dtype=np.float64)))


def _require_finite(img: np.ndarray) -> None:
    """Refuse a float image holding NaN or infinity, in words."""
    if not _all_finite(img):
        raise ValueError("The image contains NaN or infinite values; every pixel must be finite.")


def _slid(k: np.ndarray, mode: str) -> tuple[np.ndarray, tuple[int, int]]:
    """The kernel as slid over the image (flipped for convolve) and its anchor (x, y)."""
    kh, kw = k.shape
    if mode == "convolve":
        return np.ascontiguousarray(k[::-1, ::-1]), (kw - 1 - kw // 2, kh - 1 - kh // 2)
    return k, (kw // 2, kh // 2)


def _prepared(image, kernel, mode, flip, border, check_finite):
    """apply_kernel's checks: the image (float32 or a dtype filter2D reads), the kernel as
    slid (flipped for convolve), its anchor and the OpenCV border flag."""
    k = validate_kernel(kernel)
    if flip is not None:
        mode = "convolve" if flip else "correlate"
    if mode not in ("correlate", "convolve"):
        raise ValueError(f"Unknown mode '{mode}': use 'correlate' or 'convolve'.")
    try:
        border_flag = BORDERS[border]
    except KeyError:
        raise ValueError(
            f"Unknown border '{border}': use one of {', '.join(map(repr, BORDERS))}."
        ) from None
    img = _check_image(image)
    if img.dtype.kind == "f":
        if img.dtype != np.float32:
            img = img.astype(np.float32)
        if check_finite:
            _require_finite(img)
    elif img.dtype not in (np.uint8, np.uint16, np.int16):
        img = img.astype(np.float32)
    k, anchor = _slid(k, mode)
    return img, k, anchor, border_flag


def _per_channel(img: np.ndarray, filt) -> np.ndarray:
    """``filt`` applied to the image: in one call for up to 4 interleaved channels (what OpenCV
    handles natively), else channel by channel."""
    channels = img.shape[2] if img.ndim == 3 else 1
    if channels <= 4:
        out = filt(img)
        if img.ndim == 3 and out.ndim == 2:
            out = out[:, :, None]
        return out
    return np.stack([filt(np.ascontiguousarray(img[:, :, c])) for c in range(channels)], axis=2)


def apply_kernel(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    mode: str = "correlate",
    flip: bool | None = None,
    border: str = "reflect",
    check_finite: bool = True,
) -> np.ndarray:
    """Filter a gray (H, W) or colour (H, W, C) image with a 2-D kernel, each channel separately.

    The output has the input's shape and is ``float32`` in the input's units (a ``uint8`` image
    gives values around 0..255, negative ones kept). ``mode="correlate"`` slides the kernel as
    is (the book's sliding dot product and Keras's Conv2D); ``mode="convolve"`` (or
    ``flip=True``) flips it in both directions first. The kernel's centre is at
    (kh // 2, kw // 2), mirrored for ``convolve`` so both modes stay centred on even sizes.
    ``border`` says how the image is extended past its edges: "reflect" (mirror, default),
    "symmetric" (mirror repeating the edge), "replicate" (repeat the edge) or "zero".

    Runs as one ``cv2.filter2D`` call straight into float32, so it costs what OpenCV costs.
    Float images are first scanned for NaN/inf (a ``ValueError`` names the problem); callers
    that made the image themselves can skip that pass with ``check_finite=False``.
    """
    img, k, anchor, border_flag = _prepared(image, kernel, mode, flip, border, check_finite)
    return _per_channel(
        img, lambda x: cv2.filter2D(x, cv2.CV_32F, k, anchor=anchor, borderType=border_flag)
    )


#: Singular values below this fraction of the largest are dropped from a kernel's separable
#: form: what they would add is below float32's own rounding.
SEPARABLE_RTOL = 1e-6
#: The separable form is used when its taps (rank × (rows + cols)), times this factor for the
#: extra passes, are fewer than the direct filter's: the factor is larger for colour images,
#: where OpenCV's separable passes cost relatively more.
SEPARABLE_GAIN = 1.8
SEPARABLE_GAIN_COLOUR = 2.0
#: From this many cells on, ``cv2.filter2D`` filters a float32 image through the frequency
#: domain, which on a 1080p image is about twice as slow as summing directly (15×15: ~20 ms
#: against ~10 ms on two cores): :func:`apply_kernel_fast` sums such kernels in row blocks of
#: fewer cells instead (:func:`_direct_in_blocks`).
DFT_CELLS = 130


def separable_terms(kernel: np.ndarray, rtol: float = SEPARABLE_RTOL) -> list[tuple[np.ndarray, np.ndarray]]:
    """The kernel as a sum of outer products ``column ⊗ row`` (its singular value decomposition,
    terms whose singular value is below ``rtol`` × the largest dropped): one term for Sobel,
    Gaussian, box and most Haar features, two for the four-rectangle Haar feature, up to
    min(rows, cols) for a random kernel. An all-zero kernel gives one zero term."""
    k = validate_kernel(kernel).astype(np.float64)
    u, s, vt = np.linalg.svd(k)
    if s[0] <= 0.0:
        return [(np.zeros(k.shape[0], np.float32), np.zeros(k.shape[1], np.float32))]
    rank = int(np.count_nonzero(s > s[0] * rtol))
    return [
        ((u[:, i] * s[i]).astype(np.float32), vt[i].astype(np.float32)) for i in range(rank)
    ]


def _separable_plan(k: np.ndarray, channels: int = 1) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The separable terms when they are cheaper than the direct filter, else None."""
    kh, kw = k.shape
    gain = SEPARABLE_GAIN if channels == 1 else SEPARABLE_GAIN_COLOUR
    direct = k.size
    if min(kh, kw) <= 1 or (kh + kw) * gain >= direct:
        return None  # not even one separable term would pay (a 3×3 kernel)
    terms = _terms_of(k.shape, np.ascontiguousarray(k, np.float32).tobytes())
    return terms if len(terms) * (kh + kw) * gain < direct else None


@functools.lru_cache(maxsize=16)
def _terms_of(shape: tuple[int, int], data: bytes) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`separable_terms` of the float32 kernel of this shape and bytes, remembered: the
    window asks what an update will cost and the filter then plans it, for the same kernel."""
    terms = separable_terms(np.frombuffer(data, np.float32).reshape(shape))
    for column, row in terms:
        column.setflags(write=False)
        row.setflags(write=False)
    return terms


def kernel_taps(kernel: np.ndarray, channels: int = 1) -> float:
    """Multiply-adds per pixel and channel that :func:`apply_kernel_fast` spends on ``kernel``
    for an image of ``channels`` channels (its cells, or rank × (rows + cols) times the cost of
    the extra passes for the separable form): what an update costs."""
    k = validate_kernel(kernel)
    terms = _separable_plan(k, channels)
    if terms is None:
        return float(k.size)
    gain = SEPARABLE_GAIN if channels == 1 else SEPARABLE_GAIN_COLOUR
    return float(len(terms) * (k.shape[0] + k.shape[1]) * gain)


def apply_kernel_fast(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    mode: str = "correlate",
    flip: bool | None = None,
    border: str = "reflect",
    check_finite: bool = True,
) -> np.ndarray:
    """:func:`apply_kernel` (same arguments, same result up to float32 rounding), faster for
    kernels of low rank.

    A kernel that is a sum of a few outer products (Sobel, Gaussian, box and Haar features are
    one or two) is applied as that many ``cv2.sepFilter2D`` passes — rows then columns, with the
    same anchor and OpenCV border handling — instead of one pass over every cell, when that is
    cheaper: a 15×15 box costs 30 taps a pixel instead of 225. Other kernels are summed
    directly by ``cv2.filter2D``, in row blocks below :data:`DFT_CELLS` cells for larger kernels
    (where :func:`apply_kernel` goes through the frequency domain), and in row bands on several
    threads for large work."""
    img, k, anchor, border_flag = _prepared(image, kernel, mode, flip, border, check_finite)
    terms = _separable_plan(k, img.shape[2] if img.ndim == 3 else 1)
    if terms is None:
        def direct(x: np.ndarray) -> np.ndarray:
            return _direct_in_blocks(x, k, anchor, border_flag)

        return _per_channel(img, lambda x: _in_bands(direct, x, k.shape[0], anchor[1], k.size))

    def separable(x: np.ndarray) -> np.ndarray:
        out = None
        for column, row in terms:
            part = cv2.sepFilter2D(x, cv2.CV_32F, row, column, anchor=anchor, borderType=border_flag)
            if out is None:
                out = part
            else:
                cv2.add(out, part, dst=out)
        return out

    return _per_channel(img, separable)


def _direct_in_blocks(x: np.ndarray, k: np.ndarray, anchor: tuple[int, int], border_flag: int) -> np.ndarray:
    """``cv2.filter2D(x, CV_32F, k, anchor=anchor, borderType=border_flag)``, summed directly
    even for kernels OpenCV would filter through the frequency domain: the kernel is cut into
    blocks of whole rows, each small enough to be summed directly, and their results are added.
    Each block slides over the image padded once by the border rule, so the sum is the same
    correlation up to float32 rounding (the terms are added in another order)."""
    kh, kw = k.shape
    if k.size < DFT_CELLS or x.dtype != np.float32 or kw >= DFT_CELLS:
        return cv2.filter2D(x, cv2.CV_32F, k, anchor=anchor, borderType=border_flag)
    ax, ay = anchor
    h, w = x.shape[:2]
    padded = cv2.copyMakeBorder(x, ay, kh - 1 - ay, ax, kw - 1 - ax, border_flag, value=0)
    step = (DFT_CELLS - 1) // kw
    out: np.ndarray | None = None
    for r0 in range(0, kh, step):
        block = np.ascontiguousarray(k[r0 : r0 + step])
        # anchored at its top-left cell, a block's first h × w outputs read only padded pixels
        # (the border rule given here fills the rows and columns past them, which are dropped)
        rows = padded[r0 : r0 + h + block.shape[0] - 1]
        part = cv2.filter2D(rows, cv2.CV_32F, block, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)[:h, :w]
        if out is None:
            out = np.array(part)
        else:
            cv2.add(out, part, dst=out)
    return out


#: A direct filter of at least this many cells times pixels is split into row bands filtered on
#: several threads at once: OpenCV's ``filter2D`` runs on one core for colour images and for the
#: large kernels it filters through the frequency domain.
BAND_MIN_WORK = 2.0e7
#: Each band has at least this many rows (fewer would spend more on the overlap than they save).
BAND_MIN_ROWS = 128
#: Smaller kernels are left to OpenCV, which spreads their rows over the cores itself.
BAND_MIN_CELLS = 50


def _band_count(rows: int, cells: int, work: float) -> int:
    cores = min(usable_cores(), cv2.getNumThreads() or 1)
    if cores < 2 or cells < BAND_MIN_CELLS or work < BAND_MIN_WORK:
        return 1
    return max(1, min(cores, rows // BAND_MIN_ROWS))


def _in_bands(filt, x: np.ndarray, kh: int, anchor_row: int, cells: int) -> np.ndarray:
    """``filt(x)`` (a float32 filter of ``kh`` rows anchored at row ``anchor_row``) computed in
    horizontal bands on several threads at once, with the same result: each band is filtered
    with the ``kh - 1`` rows of image it needs around it, so only the image's own top and
    bottom rows meet the border rule, as in one call. OpenCV releases the GIL while it filters."""
    h = x.shape[0]
    n = _band_count(h, cells, float(x.size) * cells)
    if n == 1:
        return filt(x)
    out = np.empty(x.shape, np.float32)
    above, below = anchor_row, kh - 1 - anchor_row
    errors: list[BaseException] = []

    def band(i: int) -> None:
        try:
            r0, r1 = h * i // n, h * (i + 1) // n
            s0, s1 = max(0, r0 - above), min(h, r1 + below)
            part = filt(x[s0:s1])
            out[r0:r1] = part[r0 - s0 : r1 - s0].reshape(out[r0:r1].shape)
        except BaseException as exc:  # re-raised on the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=band, args=(i,), name="cnnviz-filter-band", daemon=True) for i in range(1, n)]
    for t in threads:
        t.start()
    band(0)
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


#: Whole filters of images of at least this many pixels with kernels of at least
#: :data:`DFT_CELLS` cells (and not of low rank) go through the image's spectrum, computed once
#: per image (:class:`cnnviz.core.spectrum.SpectrumFilter`): a new 15×15 kernel on a 1080p image
#: then costs a kernel transform, a product and an inverse transform.
SPECTRUM_MIN_PIXELS = 512 * 512
#: The spectrum's image is padded by this many pixels (by the border rule): kernels up to
#: 17×17 fit.
SPECTRUM_PAD = 8


#: A reference count of 2 (a list's and getrefcount's own) means nobody else holds an object:
#: true of CPython with its global interpreter lock, not promised by other interpreters.
_COUNTS_TELL_OWNERS = sys.implementation.name == "cpython" and getattr(sys, "_is_gil_enabled", lambda: True)()


class IncrementalFilter:
    """:func:`apply_kernel_fast` that remembers its last result, so that a kernel changed in a few
    cells (painting, typing a value) costs a few passes over the image instead of a whole filter.

    Filtering is linear in the kernel: changing cell (i, j) by d changes the result by d times
    the image shifted by (i, j) (border filled as the filter fills it). :meth:`apply` takes that
    way when it is cheaper, from a result computed for the same image object, mode and border;
    other calls compute anew — through the image's spectrum, kept for the next whole kernel,
    when the image is large and the kernel has many cells and is not of low rank (see
    :data:`SPECTRUM_MIN_PIXELS`). Each step rounds once in float32, so at most :attr:`MAX_STEPS`
    steps are chained before a full filter: the result stays within about ``MAX_STEPS`` float32
    roundings of the largest value (rtol 1e-5) of the direct filter. Each call returns an array
    of its own, and an earlier result is never changed while anything still holds it: the memory
    of one nobody holds any more is written again (a fresh 1080p RGB result costs ~1 ms of page
    faults before its first value is written). Safe to call from two threads; the newest result
    wins the memory."""

    #: Incremental steps in a row before a full filter again.
    MAX_STEPS = 32
    #: Cost of one changed cell (one scaled add over the image) in taps of the direct filter.
    STEP_TAPS = 2.0

    #: Results kept to be written again once nobody holds them.
    SPARE_RESULTS = 3

    def __init__(self) -> None:
        self._last: tuple | None = None  # (source, mode, border, slid kernel, result, steps)
        self._padded: tuple | None = None  # (source, border, shape, anchor, padded image)
        self._spectrum: tuple | None = None  # (source, border, SpectrumFilter)
        self._results: list[np.ndarray] = []  # results returned lately, newest last
        self._results_lock = threading.Lock()

    def clear(self) -> None:
        self._last = self._padded = self._spectrum = None
        with self._results_lock:
            self._results.clear()

    def _new_result(self, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 array of ``shape`` for a new result: the memory of an earlier result that
        nothing outside this filter holds any more (its values are overwritten), else a new one.
        Who holds an array is read from its reference count, which tells it only in CPython with
        its global interpreter lock: elsewhere every result is a new array."""
        if not _COUNTS_TELL_OWNERS:
            return np.empty(shape, np.float32)
        with self._results_lock:
            results = self._results
            for i in range(len(results)):
                # held by the list and getrefcount's argument only: nobody else has it (a view of
                # it, e.g. a crop shown by an image view, holds it too)
                if results[i].shape == shape and sys.getrefcount(results[i]) <= 2:
                    out = results.pop(i)
                    break
            else:
                out = np.empty(shape, np.float32)
            results.append(out)
            del results[: -self.SPARE_RESULTS]
            return out

    def _changes(self, source: np.ndarray, kernel: np.ndarray, mode: str, border: str):
        """(slid kernel, anchor, cells changed as slid, last entry) when an incremental update
        applies, else None."""
        last = self._last
        if last is None or last[0] is not source or last[1] != mode or last[2] != border:
            return None
        if kernel.shape != last[3].shape or last[5] >= self.MAX_STEPS:
            return None
        slid, anchor = _slid(kernel, mode)
        cells = np.argwhere(slid != last[3])
        channels = source.shape[2] if source.ndim == 3 else 1
        if len(cells) * self.STEP_TAPS >= kernel_taps(kernel, channels):
            return None
        return slid, anchor, cells, last

    def taps(self, source: np.ndarray, kernel: np.ndarray, *, mode: str = "correlate", border: str = "reflect") -> float:
        """Multiply-adds per pixel and channel that :meth:`apply` will spend (see
        :func:`kernel_taps`)."""
        k = validate_kernel(kernel)
        found = self._changes(source, k, mode, border)
        if found is None:
            return kernel_taps(k, source.shape[2] if source.ndim == 3 else 1)
        return max(1.0, len(found[2]) * self.STEP_TAPS)

    def apply(
        self,
        source: np.ndarray,
        kernel: np.ndarray,
        *,
        mode: str = "correlate",
        border: str = "reflect",
        check_finite: bool = True,
    ) -> np.ndarray:
        """:func:`apply_kernel_fast` of ``source`` (float32) with ``kernel``."""
        k = validate_kernel(kernel)
        simple = source.dtype == np.float32 and (source.ndim == 2 or source.shape[2] <= 4)
        found = self._changes(source, k, mode, border) if simple else None
        if found is None:
            slid, anchor = _slid(k, mode)
            spectrum = self._spectrum_for(source, k, mode, border) if simple else None
            if spectrum is not None:
                if check_finite:
                    _require_finite(source)
                out = spectrum.correlate(slid, anchor, out=self._new_result(source.shape))
            else:
                out = apply_kernel_fast(source, k, mode=mode, border=border, check_finite=check_finite)
            self._last = (source, mode, border, np.array(slid, np.float32), out, 0)
            return out
        slid, anchor, cells, last = found
        padded = self._padded_source(source, border, k.shape, anchor)
        h, w = source.shape[:2]
        previous = last[4]
        out = self._new_result(previous.shape)  # the last result is kept as it is
        if len(cells) == 0:
            out[...] = previous
        src = previous
        for i, j in cells:
            d = float(slid[i, j]) - float(last[3][i, j])
            cv2.scaleAdd(padded[i : i + h, j : j + w], d, src, dst=out)
            src = out
        self._last = (source, mode, border, np.array(slid, np.float32), out, last[5] + 1)
        return out

    def _spectrum_for(self, source: np.ndarray, k: np.ndarray, mode: str, border: str) -> SpectrumFilter | None:
        """The source's spectrum (computed now if this source has none yet) when the whole
        filter is cheaper through it: a large image and a kernel of many cells that is not of
        low rank; else None."""
        h, w = source.shape[:2]
        if h * w < SPECTRUM_MIN_PIXELS or k.size < DFT_CELLS or max(k.shape) > 2 * SPECTRUM_PAD + 1:
            return None
        if min(h, w) <= SPECTRUM_PAD or _separable_plan(k, source.shape[2] if source.ndim == 3 else 1) is not None:
            return None
        cached = self._spectrum
        if cached is not None and cached[0] is source and cached[1] == border:
            return cached[2]
        spectrum = SpectrumFilter(source, BORDERS[border], SPECTRUM_PAD)
        self._spectrum = (source, border, spectrum)
        return spectrum

    def _padded_source(self, source: np.ndarray, border: str, shape: tuple, anchor: tuple) -> np.ndarray:
        cached = self._padded
        if cached is not None and cached[0] is source and cached[1:4] == (border, shape, anchor):
            return cached[4]
        kh, kw = shape
        ax, ay = anchor
        padded = cv2.copyMakeBorder(source, ay, kh - 1 - ay, ax, kw - 1 - ax, BORDERS[border], value=0)
        if source.ndim == 3 and padded.ndim == 2:
            padded = padded[:, :, None]
        self._padded = (source, border, shape, anchor, padded)
        return padded


def gradient_magnitude(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """sqrt(gx² + gy²) as float32: how strong the edge is, whatever its direction."""
    gx = np.asarray(gx, dtype=np.float32)
    gy = np.asarray(gy, dtype=np.float32)
    if gx.shape != gy.shape:
        raise ValueError(f"The two gradients must have the same shape; got {gx.shape} and {gy.shape}.")
    return np.hypot(gx, gy, dtype=np.float32)


def gradient_direction(gx: np.ndarray, gy: np.ndarray, *, degrees: bool = True) -> np.ndarray:
    """atan2(gy, gx) as float32: the direction in which brightness rises (0 = to the right)."""
    gx = np.asarray(gx, dtype=np.float32)
    gy = np.asarray(gy, dtype=np.float32)
    angle = np.arctan2(gy, gx, dtype=np.float32)
    return np.degrees(angle).astype(np.float32) if degrees else angle


def kernel_sum_effect(kernel: np.ndarray) -> str:
    """A sentence on what the kernel's sum does to brightness (book ch. 3)."""
    k = validate_kernel(kernel)
    total = float(np.sum(k, dtype=np.float64))
    shown = f"{total:.4g}"
    if abs(total) < 1e-6:
        return (
            "sums to 0: flat regions go to 0 and only changes survive — an edge detector "
            "(expect negative values)."
        )
    if abs(total - 1.0) < 1e-6:
        return "sums to 1: brightness kept (flat regions stay as they are)."
    if total > 1.0:
        return f"sums to {shown} (>1): brightens — flat regions are multiplied by {shown}."
    if total > 0.0:
        return f"sums to {shown} (<1): darkens — flat regions are multiplied by {shown}."
    return (
        f"sums to {shown} (negative): inverts — flat bright regions become negative "
        f"(multiplied by {shown})."
    )
