"""The kernel playground as plain Python: the kernel, how it is applied, and what the pane says.

:class:`KernelPlaygroundState` holds the pane's truth — the kernel, whether it is flipped (true
convolution), gray or per-channel colour, the display mode for signed output, the
gradient-magnitude pair and the border rule — and emits ``changed`` (with ``"kernel"`` or
``"settings"``) after every change. :meth:`KernelPlaygroundState.compute` turns it and an image
into what is shown, with ``cnnviz.core.kernels.apply_kernel`` doing the arithmetic.

It also holds the rules a teacher reads: the sum of the kernel and what it does to brightness,
the result's title, the arithmetic under the mouse (window × kernel = products, and their sum,
borders filled as the filter fills them), and the kernel operations (normalize, transpose,
rotate, resize keeping the centre, back to the last preset).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from cnnviz.core import images
from cnnviz.core.convolution import PAD_MODES
from cnnviz.core.kernels import (
    HAAR_DEFAULT_SIZE,
    HAAR_INFO,
    HAAR_PRESETS,
    HAAR_TITLES,
    PRESET_INFO,
    PRESETS,
    IncrementalFilter,
    apply_kernel_fast,
    gradient_direction,
    gradient_magnitude,
    haar_feature,
    kernel_sum_effect,
    kernel_taps,
    preset,
    validate_kernel,
)
from cnnviz.state.display import area_part, max_abs, symmetric_levels
from cnnviz.state.events import Event

__all__ = [
    "BORDER_NAMES",
    "COLOR_MODES",
    "DISPLAY_MODES",
    "GRADIENT_PAIRS",
    "HAAR_SIZES",
    "MAX_ARITHMETIC_SIDE",
    "MAX_SIDE",
    "SIGNED_RGB_TEXT",
    "SYNC_WORK_LIMIT",
    "DIRECTION_TEXT",
    "direction_wheel",
    "direction_rgb",
    "KernelPlaygroundState",
    "KernelResult",
    "format_cell_value",
    "is_preset",
    "normalized",
    "parse_cell_value",
    "preset_title",
    "resize_kernel",
]

DISPLAY_MODES = {
    "signed": "Signed (blue − · white 0 · red +)",
    "abs": "Absolute value |x|",
    "clipped": "Clipped to 0–255",
}
COLOR_MODES = {"gray": "Gray", "rgb": "RGB, each channel"}
GRADIENT_PAIRS = {
    "off": "Off (the kernel's own result)",
    "sobel": "Sobel x, y — √(gx² + gy²)",
    "gradient": "Gradient x, y — √(gx² + gy²)",
    "kernel": "Kernel, transpose — √(gx² + gy²)",
}
PAIR_KERNELS = {"sobel": ("sobel_x", "sobel_y"), "gradient": ("gradient_x", "gradient_y")}
PAIR_NAMES = {"sobel": "Sobel", "gradient": "gradient", "kernel": "kernel & transpose"}
#: The border rules of ``apply_kernel`` (the keys of ``cnnviz.core.convolution.PAD_MODES``).
BORDER_NAMES = {"reflect": "Mirror (reflect)", "replicate": "Repeat edge", "zero": "Zeros", "symmetric": "Mirror with edge"}
#: In RGB each channel is drawn in its own colour, dark = most negative, mid-gray = 0.
SIGNED_RGB_TEXT = "Signed (per channel, mid-gray 0)"
MAX_ARITHMETIC_SIDE = 7
MAX_SIDE = 15
#: The sizes a Haar feature can be given here: up to the largest kernel the editor holds.
HAAR_SIZES = (4, MAX_SIDE)
#: Above this many multiply-adds (pixels × channels × kernel cells; about a millisecond of work)
#: an update is computed off the GUI thread, which meanwhile paints the edited cell and stays free
#: for the next mouse move: every update of a 1080p image (an edit there kept the window busy for
#: up to 10 ms, and showed its result about 1 ms later than in the background). Below it (the
#: bundled 480×320 sample: a one-cell edit, a whole 3×3 kernel) it is done at once, in the same
#: repaint as the edit.
SYNC_WORK_LIMIT = 1.5e6
ARITHMETIC_HINT = (
    "<span style='color:gray'>Hover over the result to see the window under the kernel, "
    "the products and their sum — the book's arithmetic, pixel by pixel.</span>"
)
#: How the x/y results of a pair are signed so that (gx, gy) points where the image gets brighter:
#: Gradient x/y are right − left and bottom − top; Sobel x/y are printed the other way round.
UPHILL_SIGN = {"gradient": 1.0, "sobel": -1.0}
DIRECTION_TEXT = (
    "<b>Gradient direction</b> (book ch. 3, Fig. 3.3): the hue is the direction of the gradient "
    "atan2(gy, gx) — the wheel shows which colour means which way — and the brightness is its "
    "magnitude, so flat areas are black. The gradient points to where the image gets brighter "
    "fastest: the direction of the largest <b>increase</b> of intensity. The book says "
    "\"decrease\"; that is the opposite direction, −∇I. (Sobel's kernels are printed left minus "
    "right, so their signs are turned here to point uphill as well.)"
)
_CHOICES = {"color": COLOR_MODES, "display": DISPLAY_MODES, "gradient": GRADIENT_PAIRS, "border": BORDER_NAMES}


def is_preset(name: str) -> bool:
    """A kernel of the menus: the book's presets and the Haar features."""
    return name in PRESETS or name in HAAR_PRESETS


def preset_title(name: str) -> str:
    """'sobel_x' → 'Sobel x', for menus."""
    if name in HAAR_TITLES:
        return HAAR_TITLES[name]
    return name.replace("_", " ").capitalize().replace("Laplacian 8", "Laplacian (8 neighbours)")


# ------------------------------------------------------------------------------------------
# kernel values


def resize_kernel(kernel: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The kernel grown (zeros around) or cropped to rows × cols, keeping its centre in place."""
    if not (1 <= rows <= MAX_SIDE and 1 <= cols <= MAX_SIDE):
        raise ValueError(f"A kernel side must be between 1 and {MAX_SIDE}; got {rows}×{cols}.")
    k = np.asarray(kernel, dtype=np.float32)
    out = np.zeros((rows, cols), np.float32)
    kh, kw = k.shape
    # centre cell (kh // 2, kw // 2) maps onto (rows // 2, cols // 2)
    dr, dc = rows // 2 - kh // 2, cols // 2 - kw // 2
    r0, c0 = max(0, -dr), max(0, -dc)
    r1, c1 = min(kh, rows - dr), min(kw, cols - dc)
    if r1 > r0 and c1 > c0:
        out[r0 + dr : r1 + dr, c0 + dc : c1 + dc] = k[r0:r1, c0:c1]
    return out


def parse_cell_value(text: str) -> float:
    """A typed cell value as a float; fractions like ``1/9`` are accepted. ValueError otherwise."""
    t = text.strip().replace(",", ".").replace("−", "-")
    if not t:
        raise ValueError("An empty cell is not a number; type 0 to clear it.")
    try:
        if "/" in t:
            num, _, den = t.partition("/")
            value = float(num) / float(den)
        else:
            value = float(t)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"'{text}' is not a number. Type a value such as 1, -2, 0.25 or 1/9.") from None
    if not math.isfinite(value):
        raise ValueError(
            f"'{text}' is not a finite number: a kernel cell must be an ordinary number "
            "(one NaN or infinity would turn the whole result into NaN)."
        )
    return value


def format_cell_value(v: float) -> str:
    """Short text for a cell: integers without decimals, others with up to 3 significant digits."""
    if abs(v - round(v)) < 1e-6:
        return str(int(round(v)))
    return f"{v:.3g}".replace("0.", ".", 1) if 0 < abs(v) < 1 else f"{v:.3g}"


def normalized(kernel: np.ndarray) -> tuple[np.ndarray, str]:
    """Scale a kernel so it sums to 1, or (if it sums to 0) so its positive weights sum to 1."""
    k = np.asarray(kernel, dtype=np.float32)
    total = float(k.sum(dtype=np.float64))
    if abs(total) > 1e-6:
        return (k / total).astype(np.float32), "Divided by its sum: the kernel now sums to 1 (brightness kept)."
    positive = float(k[k > 0].sum(dtype=np.float64))
    if positive > 0:
        return (
            (k / positive).astype(np.float32),
            "It sums to 0 (an edge detector), so it was scaled to make its positive weights sum to 1.",
        )
    return k, "An all-zero kernel cannot be normalized."


# ------------------------------------------------------------------------------------------
# the state


@dataclass
class KernelResult:
    """What the result view shows, and the numbers behind it."""

    shown: np.ndarray | None  # float32 array handed to the view
    signed: bool = False
    levels: tuple[float, float] | None = None
    heat: bool = False  # magnitude: dark-to-bright heat map
    message: str = ""  # why nothing is shown, or a note
    raw: np.ndarray | None = None  # signed filter output (or the magnitude)
    gx: np.ndarray | None = None
    gy: np.ndarray | None = None
    rendered: np.ndarray | None = None  # ``shown`` as bytes ready to draw (the direction's colours)
    direction: bool = False  # ``shown`` is the direction as hue (RGB bytes), no colour bar
    display: tuple | None = None  # (geometry, the part of ``shown`` the view draws, averaged)


@dataclass
class KernelPlaygroundState:
    """Everything the kernel playground shows is a function of this and the image.

    Change it through :meth:`set_kernel`, :meth:`update` and the kernel operations: they emit
    ``changed("kernel")`` or ``changed("settings")``. ``chosen_preset`` is the preset
    :meth:`reset` goes back to (the last one chosen, identity if none)."""

    kernel: np.ndarray = field(default_factory=lambda: preset("sobel_x"))
    kernel_name: str = "sobel_x"
    convolve: bool = False
    color: str = "gray"
    display: str = "signed"
    gradient: str = "off"
    border: str = "reflect"
    chosen_preset: str = ""
    haar_size: int = HAAR_DEFAULT_SIZE
    direction: bool = False  # the gradient's direction as hue (gradient and Sobel pairs)
    #: The last filtered result, shared with snapshots: an edit of a few cells updates it
    #: instead of filtering the whole image again (see :class:`IncrementalFilter`).
    filter_cache: IncrementalFilter = field(default_factory=IncrementalFilter, repr=False, compare=False)
    changed: Event = field(default_factory=Event, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kernel = np.array(self.kernel, dtype=np.float32)
        if not self.chosen_preset:
            self.chosen_preset = self.kernel_name if is_preset(self.kernel_name) else "identity"

    # -- changes -------------------------------------------------------------------------------
    def set_kernel(self, kernel: np.ndarray, name: str = "custom") -> None:
        """Use ``kernel`` (a float32 copy is kept) under ``name`` ("custom" unless a preset)."""
        self.kernel = np.array(kernel, dtype=np.float32)
        self.kernel_name = name
        self.changed.emit("kernel")

    def _preset_kernel(self, name: str) -> np.ndarray:
        return haar_feature(name, self.haar_size) if name in HAAR_PRESETS else preset(name)

    def choose_preset(self, name: str) -> None:
        """Load a preset (a Haar feature at :attr:`haar_size`); it also becomes the one
        :meth:`reset` goes back to."""
        self.chosen_preset = name
        self.set_kernel(self._preset_kernel(name), name)

    def reset(self) -> None:
        """Back to the last preset chosen (identity if none)."""
        self.set_kernel(self._preset_kernel(self.chosen_preset), self.chosen_preset)

    @property
    def is_haar(self) -> bool:
        """Whether the kernel is a Haar feature (the pane then offers its size)."""
        return self.kernel_name in HAAR_PRESETS

    def set_haar_size(self, size: int) -> None:
        """The side of Haar features (4–15 px); the Haar feature shown is redrawn at it."""
        size = int(size)
        if not HAAR_SIZES[0] <= size <= HAAR_SIZES[1]:
            raise ValueError(f"A Haar feature here is {HAAR_SIZES[0]} to {HAAR_SIZES[1]} pixels wide; got {size}.")
        self.haar_size = size
        if self.is_haar:
            self.set_kernel(haar_feature(self.kernel_name, size), self.kernel_name)

    def normalize(self) -> str:
        """Scale the kernel (see :func:`normalized`); returns the sentence saying how."""
        k, note = normalized(self.kernel)
        self.set_kernel(k, "custom")
        return note

    def transpose(self) -> None:
        self.set_kernel(np.ascontiguousarray(self.kernel.T), "custom")

    def rotate(self) -> None:
        """Rotate 90° clockwise."""
        self.set_kernel(np.ascontiguousarray(np.rot90(self.kernel, -1)), "custom")

    def resize(self, rows: int, cols: int) -> None:
        """Grow or crop to rows × cols keeping the centre (nothing happens at the same size)."""
        if (rows, cols) != self.kernel.shape:
            self.set_kernel(resize_kernel(self.kernel, rows, cols), "custom")

    @staticmethod
    def accepts(kernel: np.ndarray) -> bool:
        """Whether the playground can show ``kernel`` (2-D, 1–15 per side)."""
        return kernel.ndim == 2 and 1 <= kernel.shape[0] <= MAX_SIDE and 1 <= kernel.shape[1] <= MAX_SIDE

    def same_kernel(self, kernel: np.ndarray) -> bool:
        return kernel.shape == self.kernel.shape and np.array_equal(kernel, self.kernel)

    def update(self, **settings) -> None:
        """Change ``convolve``, ``color``, ``display``, ``gradient`` or ``border``; a value that
        is not one of the choices raises ValueError."""
        for key, value in settings.items():
            if key in ("convolve", "direction"):
                value = bool(value)
            elif key not in _CHOICES:
                raise ValueError(f"Unknown kernel playground setting {key!r}.")
            elif value not in _CHOICES[key]:
                raise ValueError(f"{value!r} is not a {key} choice: use one of {', '.join(_CHOICES[key])}.")
            setattr(self, key, value)
        self.changed.emit("settings")

    def snapshot(self) -> KernelPlaygroundState:
        """A copy that later edits do not touch (computed while the user keeps painting)."""
        return replace(self, kernel=np.array(self.kernel, copy=True))

    # -- what it means ---------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return "convolve" if self.convolve else "correlate"

    @property
    def direction_enabled(self) -> bool:
        """The direction can be drawn for the named gradient pairs, whose uphill sign is known."""
        return self.gradient in UPHILL_SIGN

    @property
    def shows_direction(self) -> bool:
        return self.direction and self.direction_enabled

    def uphill_sign(self) -> float:
        """The factor that makes the pair's (gx, gy) point uphill: the pair's own sign, turned
        again when the kernels are flipped (a flipped antisymmetric kernel changes sign)."""
        return UPHILL_SIGN.get(self.gradient, 1.0) * (-1.0 if self.convolve else 1.0)

    @property
    def display_enabled(self) -> bool:
        """The display mode applies to the kernel's own result, not to a gradient magnitude."""
        return self.gradient == "off"

    def display_text(self, key: str) -> str:
        """What the display choice says: "signed" draws blue–white–red for gray, mid-gray = 0 per
        channel for RGB."""
        if key == "signed" and self.color == "rgb":
            return SIGNED_RGB_TEXT
        return DISPLAY_MODES[key]

    def source(self, image: np.ndarray) -> np.ndarray:
        """The image the kernel slides over: gray (H, W) or RGB (H, W, 3), float32 0..255."""
        img = images.to_gray(image) if self.color == "gray" else images.to_rgb(image)
        return np.asarray(img, dtype=np.float32)

    def original_title(self, image_shape: tuple[int, ...]) -> str:
        return f"Original ({'gray' if self.color == 'gray' else 'RGB'}, {image_shape[1]}×{image_shape[0]})"

    def pair(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The (x, y) kernels whose gradient magnitude is shown, or None when that is off."""
        if self.gradient == "off":
            return None
        if self.gradient == "kernel":
            return self.kernel, np.ascontiguousarray(self.kernel.T)
        kx, ky = PAIR_KERNELS[self.gradient]
        return PRESETS[kx], PRESETS[ky]

    def work(self, source: np.ndarray) -> float:
        """Multiply-adds one update costs: decides whether it runs off the GUI thread."""
        pair = self.pair()
        try:
            channels = source.shape[2] if source.ndim == 3 else 1
            if pair is None:
                taps = self.filter_cache.taps(source, self.kernel, mode=self.mode, border=self.border)
            else:
                taps = sum(kernel_taps(k, channels) for k in pair)
        except ValueError:
            return 0.0  # an invalid kernel: the message is shown at once
        return float(source.size) * taps

    def compute(
        self,
        source: np.ndarray,
        check_finite: bool = True,
        geometry: tuple[int, int, int, int, int, int] | None = None,
    ) -> KernelResult:
        """Filter ``source`` (from :meth:`source`) and prepare it for display; with the
        ``geometry`` the result view will render (see :func:`~cnnviz.state.display.area_part`),
        the part it shows is averaged down here too (``display``): off the GUI thread when the
        filter is.
        """
        result = self._compute(source, check_finite)
        if geometry is not None and result.shown is not None:
            result.display = (tuple(geometry), area_part(result.shown, geometry))
        return result

    def _compute(self, source: np.ndarray, check_finite: bool) -> KernelResult:
        """Filter ``source`` (from :meth:`source`) and prepare it for display.

        The filter runs at full resolution (low-rank kernels as separable passes, see
        :func:`cnnviz.core.kernels.apply_kernel_fast`; a kernel changed in a few cells since the last
        result updates that result, see :class:`~cnnviz.core.kernels.IncrementalFilter`); mapping
        values to colours is left to the view, which does it only for the part it shows, at the
        resolution it shows it.
        ``check_finite=False`` skips the NaN scan for images that cannot hold NaN (made from
        integer pixels)."""
        try:
            kernel = validate_kernel(self.kernel)
        except ValueError as exc:
            return KernelResult(None, message=str(exc))
        h, w = source.shape[:2]
        pair = self.pair()
        kernels = [kernel] if pair is None else list(pair)
        for k in kernels:
            if k.shape[0] > h or k.shape[1] > w:
                return KernelResult(
                    None,
                    message=(
                        f"The kernel ({k.shape[0]}×{k.shape[1]}) is larger than the image "
                        f"({h}×{w}): almost every window would hang over the border, so the result "
                        "would show the border rule, not the image. Make the kernel smaller or open "
                        "a bigger image."
                    ),
                )
        if pair is not None:
            gx = apply_kernel_fast(source, pair[0], mode=self.mode, border=self.border, check_finite=check_finite)
            gy = apply_kernel_fast(source, pair[1], mode=self.mode, border=self.border, check_finite=False)
            mag = gradient_magnitude(gx, gy)
            top = max_abs(mag) or 1.0
            if self.shows_direction:
                sign = self.uphill_sign()
                rgb = direction_rgb(sign * gx, sign * gy, mag, top)
                return KernelResult(rgb, levels=(0.0, 255.0), raw=mag, gx=gx, gy=gy, rendered=rgb, direction=True)
            return KernelResult(mag, levels=(0.0, top), heat=source.ndim == 2, raw=mag, gx=gx, gy=gy)
        raw = self.filter_cache.apply(source, kernel, mode=self.mode, border=self.border, check_finite=check_finite)
        if self.display == "signed":
            return KernelResult(raw, signed=True, levels=symmetric_levels(raw), raw=raw)
        if self.display == "abs":
            top = max_abs(raw) or 1.0
            return KernelResult(np.abs(raw), levels=(0.0, top), raw=raw)
        return KernelResult(np.clip(raw, 0.0, 255.0), levels=(0.0, 255.0), raw=raw)

    # -- texts ---------------------------------------------------------------------------------
    def result_title(self) -> str:
        name = preset_title(self.kernel_name) if is_preset(self.kernel_name) else "Custom kernel"
        op = "convolution (flipped)" if self.convolve else "correlation"
        if self.shows_direction:
            return f"Gradient direction (hue) and magnitude (brightness), {PAIR_NAMES[self.gradient]} · {op}"
        if self.gradient != "off":
            return f"Gradient magnitude √(gx² + gy²), {PAIR_NAMES[self.gradient]} · {op}"
        shown = {
            "signed": "signed, 0 = white" if self.color == "gray" else "signed, mid-gray = 0",
            "abs": "absolute value",
            "clipped": "clipped to 0–255",
        }[self.display]
        return f"{name} · {op} · {shown}"

    def sum_html(self) -> str:
        """"Sum = … — what that does to brightness", coloured: green 0, blue 1, orange otherwise."""
        k = self.kernel
        total = float(k.sum(dtype=np.float64))
        effect = kernel_sum_effect(k)
        colour = "#188038" if abs(total) < 1e-6 else ("#1a73e8" if abs(total - 1) < 1e-6 else "#e37400")
        return (
            f"<b>Sum = {format_cell_value(total) if abs(total) < 1e4 else f'{total:.3g}'}</b> — "
            f"<span style='color:{colour}'>{html.escape(effect.split(':', 1)[-1].strip())}</span>"
        )

    def info_text(self) -> str:
        """What the kernel does, in the book's words (presets only)."""
        if self.is_haar:
            h, w = self.kernel.shape
            return f"{HAAR_INFO[self.kernel_name]} Here {h}×{w} pixels."
        return PRESET_INFO.get(self.kernel_name, "A kernel of your own.")

    # -- the arithmetic under the mouse ----------------------------------------------------------
    def effective_kernel(self, kernel: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, int]]:
        """The weights as they lie over the image and the window's anchor (row, col) in them.

        Correlation uses the kernel as drawn with its centre at (kh // 2, kw // 2); convolution
        flips it both ways first (the mirrored anchor keeps even sizes centred the same way).
        """
        k = self.kernel if kernel is None else kernel
        kh, kw = k.shape
        if self.convolve:
            return k[::-1, ::-1], (kh - 1 - kh // 2, kw - 1 - kw // 2)
        return k, (kh // 2, kw // 2)

    def window(self, source: np.ndarray, row: int, col: int, kernel: np.ndarray | None = None) -> np.ndarray:
        """The pixels under the kernel when its anchor sits on (row, col), borders filled the way
        the filter fills them. Shape (kh, kw) or (kh, kw, C)."""
        k, (ar, ac) = self.effective_kernel(kernel)
        kh, kw = k.shape
        r0, c0 = row - ar, col - ac
        h, w = source.shape[:2]
        top, left = max(0, -r0), max(0, -c0)
        bottom, right = max(0, r0 + kh - h), max(0, c0 + kw - w)
        crop = source[max(0, r0) : min(h, r0 + kh), max(0, c0) : min(w, c0 + kw)]
        if top or left or bottom or right:
            pads = [(top, bottom), (left, right)] + ([(0, 0)] if source.ndim == 3 else [])
            mode = PAD_MODES[self.border]
            if crop.size == 0 or mode == "constant":
                return np.pad(crop, pads, mode="constant")
            # mirror/edge padding needs the image beyond the crop: pad a neighbourhood instead
            return _padded_window(source, r0, c0, kh, kw, mode)
        return crop

    def inspectable(self, source: np.ndarray, row: int, col: int) -> bool:
        """Whether the arithmetic of pixel (row, col) can be written out for ``source``: the
        pixel lies in it and every kernel fits it (a larger one shows no result)."""
        h, w = source.shape[:2]
        if not (0 <= row < h and 0 <= col < w):
            return False
        pair = self.pair()
        kernels = [self.kernel] if pair is None else list(pair)
        return all(k.shape[0] <= h and k.shape[1] <= w and np.isfinite(k).all() for k in kernels)

    def arithmetic(self, source: np.ndarray, raw: np.ndarray | None, row: int, col: int) -> dict:
        """The numbers behind result pixel (row, col): window, weights, products, sums, value
        (``raw[row, col]``, None without ``raw``, the result computed from ``source``) — or, for
        a gradient magnitude, gx, gy and √(gx² + gy²). For colour, one entry per channel.

        Everything but the value is a function of the state and ``source`` alone: the panel
        follows every change at once, without waiting for the filtered image."""
        if self.gradient != "off":
            kx, ky = self.pair()
            wx, wy = self.window(source, row, col, kx), self.window(source, row, col, ky)
            ex, _ = self.effective_kernel(kx)
            ey, _ = self.effective_kernel(ky)
            sx = np.einsum("ij,ij...->...", ex.astype(np.float64), wx.astype(np.float64))
            sy = np.einsum("ij,ij...->...", ey.astype(np.float64), wy.astype(np.float64))
            return {"gx": sx, "gy": sy, "sum": np.hypot(sx, sy), "value": None if raw is None else raw[row, col]}
        k, _ = self.effective_kernel()
        win = self.window(source, row, col)
        k64 = k.astype(np.float64)
        products = win.astype(np.float64) * (k64[:, :, None] if win.ndim == 3 else k64)
        return {
            "window": win,
            "weights": k,
            "products": products,
            "sum": products.sum(axis=(0, 1)),
            "value": None if raw is None else raw[row, col],
        }

    def arithmetic_html(self, source: np.ndarray, raw: np.ndarray | None, row: int, col: int) -> str:
        """The hover panel's text for result pixel (row, col) (``raw`` is not needed for it)."""
        data = self.arithmetic(source, raw, row, col)
        head = f"<b>Pixel row {row}, column {col}</b>"
        if "gx" in data:
            parts = []
            names = ["R", "G", "B"]
            gx, gy, mag = np.atleast_1d(data["gx"]), np.atleast_1d(data["gy"]), np.atleast_1d(data["sum"])
            sign = self.uphill_sign()
            for i in range(gx.size):
                label = f"{names[i]}: " if gx.size > 1 else ""
                text = f"{label}gx = {gx[i]:.1f}, gy = {gy[i]:.1f}, √(gx² + gy²) = <b>{mag[i]:.2f}</b>"
                if self.shows_direction and mag[i] > 0:
                    angle = round(math.degrees(math.atan2(sign * gy[i], sign * gx[i]))) + 0  # no "-0"
                    angle = 180 if angle == -180 else angle
                    text += f", direction <b>{angle}°</b> (0° = right, 90° = down: towards brighter)"
                parts.append(text)
            return head + "<br>" + "<br>".join(parts)
        weights = data["weights"]
        window, products, total = data["window"], data["products"], np.atleast_1d(data["sum"])
        if window.ndim == 3:
            sums = ", ".join(f"{n} = <b>{v:.2f}</b>" for n, v in zip("RGB", total))
            table = self._arithmetic_table(window[:, :, 0], weights, products[:, :, 0], "red channel")
            return f"{head} — sums of products: {sums}<br>{table}"
        table = self._arithmetic_table(window, weights, products, "")
        return f"{head} — sum of products = <b>{float(total[0]):.2f}</b><br>{table}"

    def _arithmetic_table(self, window: np.ndarray, weights: np.ndarray, products: np.ndarray, note: str) -> str:
        kh, kw = weights.shape
        total = float(products.sum())
        flip = " (kernel flipped)" if self.convolve else ""
        if max(kh, kw) > MAX_ARITHMETIC_SIDE:
            return (
                f"Σ window × kernel{flip} = <b>{total:.2f}</b> "
                f"({kh}×{kw} products — too many to list; use a kernel of 7×7 or less to see them)"
            )

        def cells(arr: np.ndarray, fmt) -> str:
            rows = []
            for r in range(arr.shape[0]):
                tds = "".join(f"<td align='right'>&nbsp;{fmt(v)}&nbsp;</td>" for v in arr[r])
                rows.append(f"<tr>{tds}</tr>")
            return f"<table cellspacing='0' style='font-family:monospace'>{''.join(rows)}</table>"

        def num(v: float) -> str:
            return format_cell_value(float(v)) if abs(v) < 1e5 else f"{v:.3g}"

        window_html = cells(window, lambda v: f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}")
        weights_html = cells(weights, num)
        prod_html = cells(products, lambda v: f"{v:.1f}" if not float(v).is_integer() else f"{v:.0f}")
        label = f" ({note})" if note else ""
        return (
            "<table cellspacing='6'><tr>"
            f"<td valign='middle'>window{label}<br>{window_html}</td>"
            "<td valign='middle' style='font-size:large'>×</td>"
            f"<td valign='middle'>kernel{flip}<br>{weights_html}</td>"
            "<td valign='middle' style='font-size:large'>=</td>"
            f"<td valign='middle'>products<br>{prod_html}</td>"
            f"<td valign='middle'>&nbsp;sum&nbsp;=&nbsp;<b>{total:.2f}</b></td>"
            "</tr></table>"
        )


    # -- sessions ----------------------------------------------------------------------------
    def to_session(self) -> dict:
        """The playground's part of a session file (see :mod:`cnnviz.state.session`)."""
        from cnnviz.state.session import matrix_to_json

        return {
            "kernel": matrix_to_json(self.kernel), "kernel_name": self.kernel_name,
            "chosen_preset": self.chosen_preset, "haar_size": self.haar_size,
            "convolve": self.convolve, "color": self.color, "display": self.display,
            "gradient": self.gradient, "border": self.border, "direction": self.direction,
        }

    def apply_session(self, d: dict) -> None:
        """Show a session's kernel and settings; everything is checked first, so a bad value
        raises :class:`~cnnviz.state.session.SessionError` and changes nothing."""
        from cnnviz.state.session import Fields, SessionError

        f = Fields(d, "kernel")
        kernel = f.matrix("kernel", MAX_SIDE, self.kernel)
        name = f.text("kernel_name", "custom" if "kernel" in f else self.kernel_name)
        if not is_preset(name) and name != "custom":
            raise SessionError(f"The session's kernel setting \"kernel_name\" must be a preset's name or \"custom\"; found {name!r}.")
        chosen = f.text("chosen_preset", self.chosen_preset)
        if not is_preset(chosen):
            raise SessionError(f"The session's kernel setting \"chosen_preset\" must be a preset's name; found {chosen!r}.")
        values = {
            "haar_size": f.number("haar_size", *HAAR_SIZES, self.haar_size, integer=True),
            "convolve": f.flag("convolve", self.convolve),
            "direction": f.flag("direction", self.direction),
            **{key: f.choice(key, _CHOICES[key], getattr(self, key)) for key in _CHOICES},
        }
        with self.changed.blocked():
            for key, value in values.items():
                setattr(self, key, value)
            self.chosen_preset = chosen
        self.set_kernel(kernel, name)


def direction_rgb(gx: np.ndarray, gy: np.ndarray, mag: np.ndarray, top: float) -> np.ndarray:
    """The gradient as colour: hue = direction atan2(gy, gx) (0° = right, in image coordinates,
    where y grows downwards), value = magnitude / ``top``. Colour images take, per pixel, the
    channel with the largest magnitude. Returns (H, W, 3) uint8 RGB."""
    if mag.ndim == 3:
        pick = np.argmax(mag, axis=2)[..., None]
        gx, gy, mag = (np.take_along_axis(a, pick, axis=2)[..., 0] for a in (gx, gy, mag))
    angle = np.mod(gradient_direction(gx, gy), 360.0)
    hsv = np.empty(mag.shape + (3,), np.uint8)
    hsv[..., 0] = np.round(angle / 2.0).astype(np.int32) % 180  # OpenCV's 8-bit hue is 0..179
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag * (255.0 / top), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def direction_wheel(size: int = 96) -> np.ndarray:
    """The legend of :func:`direction_rgb`: each point's colour is that of a gradient pointing
    from the centre to it (bright at the rim, black at the centre), white outside the disc.
    (size, size, 3) uint8 RGB."""
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - c
    r = np.hypot(xx, yy)
    rgb = direction_rgb(xx, yy, np.minimum(r, c), c)
    rgb[r > c + 0.5] = 255
    return rgb


def _padded_window(source: np.ndarray, r0: int, c0: int, kh: int, kw: int, mode: str) -> np.ndarray:
    h, w = source.shape[:2]
    pr, pc = kh + 1, kw + 1
    rs, re = max(0, r0 - pr), min(h, r0 + kh + pr)
    cs, ce = max(0, c0 - pc), min(w, c0 + kw + pc)
    # the part touching a border must include that border; take the whole side when it does
    rs, re = (0 if r0 < 0 else rs), (h if r0 + kh > h else re)
    cs, ce = (0 if c0 < 0 else cs), (w if c0 + kw > w else ce)
    local = source[rs:re, cs:ce]
    pads = [(pr, pr), (pc, pc)] + ([(0, 0)] if source.ndim == 3 else [])
    padded = np.pad(local, pads, mode=mode)
    y, x = r0 - rs + pr, c0 - cs + pc
    return padded[y : y + kh, x : x + kw]
