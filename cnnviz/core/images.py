"""Loading, converting and saving images as numpy arrays.

Conventions used everywhere in cnnviz:

* colour images are RGB (not OpenCV's BGR), ``uint8``, shape (H, W, 3);
* grayscale images are ``uint8``, shape (H, W);
* "float" images are ``float32`` in 0..1 (see :func:`to_float`); filter results are float32 with
  their sign kept.

Loading reads the file's bytes with ``np.fromfile`` and decodes them with ``cv2.imdecode``, so
paths with any characters work on every platform. Before decoding, the image size is read from
the file header and compared with a pixel limit, so a decompression bomb is refused without
allocating its pixels.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cnnviz.core._headers import image_dimensions, looks_truncated, sniff_format

__all__ = [
    "MAX_PIXELS",
    "ImageLoadError",
    "ImageTooLargeError",
    "DownscaledImage",
    "load_image",
    "load_image_downscaled",
    "read_image_size",
    "to_gray",
    "to_rgb",
    "to_float",
    "to_uint8",
    "save_image",
    "crop",
    "resize",
    "fit_within",
]

#: Largest image (width × height) :func:`load_image` accepts unless told otherwise. 100 MP is
#: well above any camera photo and keeps a decoded RGB image under 300 MB.
MAX_PIXELS: int = 100_000_000
#: :data:`MAX_PIXELS` as shipped (an application may change MAX_PIXELS from its settings).
DEFAULT_MAX_PIXELS: int = MAX_PIXELS

#: Largest image (width × height) :func:`load_image_downscaled` decodes whole before shrinking it,
#: for formats that cannot be decoded at reduced size (all but JPEG): 500 MP is 1.5 GB of RGB.
MAX_FULL_DECODE_PIXELS: int = 500_000_000

#: Reduced decoding OpenCV offers (libjpeg scales JPEGs while decoding them).
_REDUCED_FLAGS = {
    2: (cv2.IMREAD_REDUCED_COLOR_2, cv2.IMREAD_REDUCED_GRAYSCALE_2),
    4: (cv2.IMREAD_REDUCED_COLOR_4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
    8: (cv2.IMREAD_REDUCED_COLOR_8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
}

#: Largest image file :func:`load_image` reads. A 100 MP 16-bit RGBA TIFF stored uncompressed is
#: 800 MB; anything bigger is not a picture a student opens.
MAX_FILE_BYTES: int = 1024**3

_SUPPORTED = "PNG, JPEG, GIF, BMP, TIFF, WebP and PNM (PGM/PPM/PBM)"

_SUFFIX_FORMAT = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".dib": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".pgm": "PNM",
    ".ppm": "PNM",
    ".pbm": "PNM",
    ".pnm": "PNM",
}


class ImageLoadError(ValueError):
    """An image file could not be loaded; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"Cannot open image '{self.path}': {reason}")


class ImageTooLargeError(ImageLoadError):
    """The image has more pixels than the limit; :func:`load_image_downscaled` can still open it.

    ``size`` is its (width, height), ``limit`` the pixel limit it was checked against."""

    def __init__(self, path: str | os.PathLike[str], reason: str, size: tuple[int, int],
                 limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(path, reason)


@dataclass(frozen=True)
class DownscaledImage:
    """An image decoded at ``1/factor`` of its size (``factor`` 1: decoded whole)."""

    image: np.ndarray
    factor: int
    original_size: tuple[int, int]  # (width, height) in the file
    #: True when the format was decoded at reduced size (JPEG); False when it was decoded whole
    #: and then shrunk.
    reduced_decode: bool

    def describe(self) -> str:
        """Words for a caption: "decoded at 1/4: 3000×2250 from 12000×9000"."""
        h, w = self.image.shape[:2]
        ow, oh = self.original_size
        if self.factor == 1:
            return f"{w}×{h}"
        how = "" if self.reduced_decode else " (decoded whole, then shrunk)"
        return f"decoded at 1/{self.factor}: {w}×{h} from {ow}×{oh}{how}"


def downscale_factor(width: int, height: int, max_pixels: int) -> int:
    """The smallest power of two ``f`` for which a ``width`` × ``height`` image decoded at 1/f
    (sides rounded up, as libjpeg does) has at most ``max_pixels`` pixels (1 if it already fits)."""
    f = 1
    while max_pixels > 0 and -(-width // f) * -(-height // f) > max_pixels:
        f *= 2
    return f


def read_image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) of an image file from its header alone, or None if the format is unknown.

    Cheap enough for a file browser: only the first 256 KiB are read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device would block or never end
            return None
        head = os.read(fd, 256 * 1024)
    finally:
        os.close(fd)
    return image_dimensions(head)


def load_image(
    path: str | os.PathLike[str], gray: bool = False, *, max_pixels: int | None = None
) -> np.ndarray:
    """Load an image file as RGB ``uint8`` (H, W, 3), or (H, W) when ``gray=True``.

    * 16-bit images are scaled to 8 bit (65535 → 255), float images are clipped to 0..1 first.
    * Transparency is composited over a white background (how image viewers show it), so a
      black drawing on a transparent background stays visible.
    * Grayscale files give a 3-channel image with equal channels unless ``gray=True``.
    * ``gray=True`` converts colour with the ITU-R BT.601 weights (0.299 R + 0.587 G + 0.114 B).
    * ``max_pixels`` (default :data:`MAX_PIXELS`, read at call time) caps width × height; the
      check uses the file header, before any pixel is decoded.

    Raises :class:`ImageLoadError` for a missing path, a folder, an empty, truncated, oversized or
    unreadable file.
    """
    return _load(Path(path), gray, MAX_PIXELS if max_pixels is None else int(max_pixels)).image


def load_image_downscaled(
    path: str | os.PathLike[str], gray: bool = False, *, max_pixels: int | None = None
) -> DownscaledImage:
    """Load an image too large for ``max_pixels`` at 1/2, 1/4, 1/8 ... of its size: the smallest
    such factor that brings it under the limit (an image that fits is loaded whole, factor 1).

    JPEGs are decoded at the reduced size (libjpeg scales while decoding: the full image is never
    in memory). Other formats cannot be: OpenCV decodes them whole and then shrinks them, so
    those are refused above :data:`MAX_FULL_DECODE_PIXELS`.
    """
    return _load(Path(path), gray, MAX_PIXELS if max_pixels is None else int(max_pixels),
                 downscale=True)


def _load(p: Path, gray: bool, limit: int, downscale: bool = False) -> DownscaledImage:
    data = _read_regular_file(p)
    if data.size == 0:
        raise ImageLoadError(p, "the file is empty (0 bytes).")

    raw = data.tobytes()
    fmt = sniff_format(raw)
    expected = _SUFFIX_FORMAT.get(p.suffix.lower())
    if fmt is None:
        _refuse_unknown(p, raw, expected)
    dims = image_dimensions(raw)
    if dims is not None:
        width, height = dims
        if width <= 0 or height <= 0:
            raise ImageLoadError(p, f"its header gives an impossible size of {width}×{height}.")
    factor = 1
    if dims is not None:
        if limit > 0 and width * height > limit and not downscale:
            raise ImageTooLargeError(
                p,
                f"the image is {width}×{height} = {width * height / 1e6:.1f} megapixels, "
                f"more than the limit of {limit / 1e6:g} megapixels. Open it downscaled, resize "
                "it first, or raise the limit if you trust the file.",
                (width, height), limit,
            )
        factor = downscale_factor(width, height, limit)
        decoded_pixels = width * height if fmt != "JPEG" else width * height // min(factor, 8) ** 2
        if factor > 1 and decoded_pixels > MAX_FULL_DECODE_PIXELS:
            raise ImageLoadError(
                p,
                f"the image is {width}×{height} = {width * height / 1e6:.1f} megapixels. {fmt} "
                "cannot be decoded at a reduced size, so it would have to be decoded whole "
                f"first, which needs more than the {MAX_FULL_DECODE_PIXELS / 1e6:g} megapixels "
                "cnnviz allows. Shrink it with an image editor first.",
            )
    if looks_truncated(fmt, raw):
        raise ImageLoadError(p, f"the {fmt} file is incomplete (truncated); it ends too early.")

    reduced = factor > 1 and fmt == "JPEG"
    if reduced:  # libjpeg decodes at 1/2, 1/4 or 1/8 directly (EXIF orientation applied)
        flags = _REDUCED_FLAGS[min(factor, 8)][1 if gray else 0]
    elif fmt == "JPEG":  # EXIF orientation, which IMREAD_UNCHANGED would ignore; no alpha
        flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
    else:
        flags = cv2.IMREAD_UNCHANGED
    try:
        decoded = cv2.imdecode(data, flags)
    except cv2.error:
        decoded = None
    if decoded is None or decoded.size == 0:
        raise ImageLoadError(p, f"the {fmt} data is damaged and could not be decoded.")
    if dims is None:
        dims = (decoded.shape[1], decoded.shape[0])
        if limit > 0 and decoded.shape[0] * decoded.shape[1] > limit:  # no parsed header
            if not downscale:
                raise ImageTooLargeError(
                    p,
                    f"the image is {decoded.shape[1]}×{decoded.shape[0]} pixels, more than the "
                    f"limit of {limit / 1e6:g} megapixels.",
                    dims, limit,
                )
            factor = downscale_factor(dims[0], dims[1], limit)
    img = _to_rgb_or_gray(_to_uint8_depth(decoded), gray)
    rest = factor // min(factor, 8) if reduced else factor
    if rest > 1:
        # What libjpeg did not reduce (other formats, or JPEG beyond 1/8) is shrunk by area
        # averaging to the size a reduced decode gives: each side divided, rounded up.
        h, w = img.shape[:2]
        img = cv2.resize(img, (-(-w // rest), -(-h // rest)), interpolation=cv2.INTER_AREA)
    return DownscaledImage(np.ascontiguousarray(img), factor, dims, reduced)


def _to_rgb_or_gray(img: np.ndarray, gray: bool) -> np.ndarray:
    """RGB (H, W, 3) or, with ``gray``, (H, W) ``uint8`` from what OpenCV decoded (BGR, BGRA,
    gray, gray + alpha); transparency is composited over white."""
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.ascontiguousarray(img) if gray else cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    channels = img.shape[2]
    if channels == 2:  # gray + alpha
        rgb = cv2.cvtColor(_composite_white(img[:, :, :1], img[:, :, 1]), cv2.COLOR_GRAY2RGB)
    elif channels == 4:
        rgb = cv2.cvtColor(_composite_white(img[:, :, :3], img[:, :, 3]), cv2.COLOR_BGR2RGB)
    else:
        rgb = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_BGR2RGB)
    return to_gray(rgb) if gray else rgb


def _read_regular_file(p: Path) -> np.ndarray:
    """The bytes of a regular file of sane size.

    Why: reading a FIFO blocks until someone writes to it and a device such as /dev/zero never
    ends, so the path is opened without blocking and checked on the open handle.
    """
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ImageLoadError(p, "no file or folder exists at this path.") from None
    except IsADirectoryError:
        raise ImageLoadError(p, "this is a folder, not an image file.") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ImageLoadError(p, f"the file cannot be read ({reason}).") from None
    st = os.fstat(fd)
    reason = None
    if stat.S_ISDIR(st.st_mode):
        reason = "this is a folder, not an image file."
    elif not stat.S_ISREG(st.st_mode):
        reason = "this is not a regular file (a pipe, socket or device)."
    elif st.st_size > MAX_FILE_BYTES:
        reason = (f"the file is {st.st_size / 1024**3:.1f} GB, more than the "
                  f"{MAX_FILE_BYTES / 1024**3:g} GB an image may have.")
    if reason is not None:
        os.close(fd)
        raise ImageLoadError(p, reason)
    with os.fdopen(fd, "rb") as fh:
        try:
            return np.fromfile(fh, dtype=np.uint8, count=MAX_FILE_BYTES)
        except OSError as exc:
            raise ImageLoadError(p, f"the file cannot be read ({exc.strerror or exc}).") from None


def _first_bytes(raw: bytes, n: int = 8) -> str:
    """The file's first bytes in words: as text when they are printable (“this is ”), else in
    hexadecimal (the bytes 00 00 01 00) — never a Python bytes literal."""
    head = raw[:n]
    if not head:
        return "nothing: the file is empty"
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    if text and text.isprintable():
        return f"the text “{text}”"
    return "the bytes " + " ".join(f"{b:02X}" for b in head)


def _refuse_unknown(p: Path, raw: bytes, expected: str | None) -> None:
    """Refuse data whose format the header check does not know, so every decoded image has been
    checked against the pixel limit first (OpenCV also reads HDR, PFM, PAM, EXR, ... whose size
    would only be known after the pixels were allocated)."""
    head = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in raw[:4096].lower()):
        raise ImageLoadError(
            p, "this is an SVG drawing (vector graphics), which cnnviz cannot show. Export it as "
            "PNG first.")
    if expected is not None:
        raise ImageLoadError(
            p,
            f"the file name ends in '{p.suffix}' but its contents are not {expected} data "
            f"(it starts with {_first_bytes(raw)}). Is it really an image?",
        )
    raise ImageLoadError(
        p, f"this is not an image format cnnviz can read (it starts with {_first_bytes(raw)}); it "
        f"reads {_SUPPORTED}.")


def _to_uint8_depth(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint8:
        return img
    if img.dtype == np.uint16:
        # exact rounding of v * 255 / 65535
        return ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if img.dtype == np.int8:
        return (img.astype(np.int16) + 128).astype(np.uint8)
    if img.dtype == np.int16:
        return ((img.astype(np.int32) + 32768) * 255 // 65535).astype(np.uint8)
    if img.dtype in (np.float16, np.float32, np.float64):
        f = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return np.round(np.clip(f, 0.0, 1.0) * 255.0).astype(np.uint8)
    info = np.iinfo(img.dtype)
    f = (img.astype(np.float64) - info.min) / (info.max - info.min)
    return np.round(f * 255.0).astype(np.uint8)


def _composite_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = color.astype(np.float32) * a + 255.0 * (1.0 - a)
    out = np.round(out).astype(np.uint8)
    return out[:, :, 0] if out.shape[2] == 1 else out


def to_gray(img: np.ndarray) -> np.ndarray:
    """Grayscale (H, W) version of an RGB or gray image, same dtype family.

    Uses the BT.601 luma weights 0.299 R + 0.587 G + 0.114 B. A gray image is returned unchanged.
    """
    img = np.asarray(img)
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"to_gray expects an (H, W) or (H, W, 3) image, got shape {img.shape}.")
    rgb = np.ascontiguousarray(img[:, :, :3])
    if rgb.dtype in (np.uint8, np.uint16, np.float32):
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    weights = np.array([0.299, 0.587, 0.114])
    return (rgb.astype(np.float64) @ weights).astype(np.float32)


def to_rgb(img: np.ndarray) -> np.ndarray:
    """(H, W, 3) version of a gray or RGB image (gray is repeated into the three channels)."""
    img = np.asarray(img)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    if img.ndim == 3 and img.shape[2] >= 3:
        return img[:, :, :3]
    raise ValueError(f"to_rgb expects an (H, W) or (H, W, 3) image, got shape {img.shape}.")


def to_float(img: np.ndarray) -> np.ndarray:
    """``float32`` image in 0..1: uint8 is divided by 255, uint16 by 65535, floats are kept."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.astype(np.float32) * np.float32(1.0 / 255.0)
    if img.dtype == np.uint16:
        return img.astype(np.float32) * np.float32(1.0 / 65535.0)
    if img.dtype == np.bool_:
        return img.astype(np.float32)
    return img.astype(np.float32, copy=False)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """``uint8`` image from a 0..1 float image (clipped and rounded); uint8 is returned as is."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    return _to_uint8_depth(img.astype(np.float32) if img.dtype.kind == "f" else img)


def save_image(path: str | os.PathLike[str], img: np.ndarray) -> None:
    """Save an RGB or gray image; the format follows the file suffix (PNG if there is none).

    Float images are taken as 0..1 and converted to 8 bit. Works with non-ASCII paths.
    """
    p = Path(path)
    suffix = p.suffix.lower() or ".png"
    arr = to_uint8(np.asarray(img))
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA)
    elif arr.ndim != 2:
        raise ValueError(f"save_image expects an (H, W) or (H, W, 3) image, got shape {arr.shape}.")
    ok, buf = cv2.imencode(suffix, arr)
    if not ok:
        raise ValueError(f"Cannot save '{p}': the format '{suffix}' is not supported.")
    buf.tofile(str(p))


def crop(img: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """A copy of the rectangle at (top, left) of size height × width, clipped to the image."""
    img = np.asarray(img)
    h, w = img.shape[:2]
    r0, c0 = max(0, int(top)), max(0, int(left))
    r1, c1 = min(h, int(top) + int(height)), min(w, int(left) + int(width))
    if r1 <= r0 or c1 <= c0:
        raise ValueError(
            f"The crop rectangle (top {top}, left {left}, {height}×{width}) lies outside the "
            f"{h}×{w} image."
        )
    return img[r0:r1, c0:c1].copy()


_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
}


def resize(
    img: np.ndarray,
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float | None = None,
    interpolation: str = "auto",
) -> np.ndarray:
    """Resize to ``width`` and/or ``height`` (the other keeps the aspect ratio) or by ``scale``.

    ``interpolation`` is "nearest", "linear", "cubic", "area" or "auto" (area when shrinking,
    linear when enlarging, which avoids aliasing and blockiness respectively).
    """
    img = np.asarray(img)
    h, w = img.shape[:2]
    if scale is not None:
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"The resize scale must be a positive number, got {scale}.")
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    elif width is not None and height is not None:
        new_w, new_h = int(width), int(height)
    elif width is not None:
        new_w = int(width)
        new_h = max(1, round(h * new_w / w))
    elif height is not None:
        new_h = int(height)
        new_w = max(1, round(w * new_h / h))
    else:
        raise ValueError("resize needs a width, a height or a scale.")
    if new_w <= 0 or new_h <= 0:
        raise ValueError(f"The new size {new_w}×{new_h} must be at least 1×1.")
    if interpolation == "auto":
        flag = cv2.INTER_AREA if new_w * new_h < w * h else cv2.INTER_LINEAR
    else:
        try:
            flag = _INTERPOLATION[interpolation]
        except KeyError:
            raise ValueError(
                f"Unknown interpolation '{interpolation}'; use one of "
                f"{', '.join(['auto', *_INTERPOLATION])}."
            ) from None
    src = img if img.dtype != np.float64 else img.astype(np.float32)
    if src.dtype == np.bool_:
        src = src.astype(np.uint8)
    return cv2.resize(np.ascontiguousarray(src), (new_w, new_h), interpolation=flag)


def fit_within(img: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink an image so its longer side is at most ``max_side`` (unchanged if already small)."""
    h, w = np.asarray(img).shape[:2]
    longest = max(h, w)
    if longest <= max_side:
        return img
    return resize(img, scale=max_side / longest, interpolation="area")
