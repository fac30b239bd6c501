"""Export a stepper walk as an animated GIF (one frame per step) for slides.

The work is a plain function, :func:`export_gif`, that takes a frame renderer and a progress
callback; the pane drives it on the GUI thread with a progress dialog that keeps processing
events (frames are widget grabs, which must happen on the GUI thread), and tests call it
directly. Because the window stays responsive, ``render`` must not draw from anything the user
can change meanwhile: the stepper renders a hidden copy of its stage bound to a snapshot of its
state taken when the export starts. Long walks are sampled evenly down to :data:`MAX_FRAMES` frames so a 65 536-step walk
neither freezes the window nor fills the memory: the caller says so to the user.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

__all__ = ["MAX_FRAMES", "MAX_SIDE", "ExportCancelled", "plan_frames", "qimage_to_pil", "WalkPalette", "export_gif"]

#: most frames one GIF gets; longer walks are sampled evenly (first and last step kept)
MAX_FRAMES = 300
#: frames are scaled down so their longer side is at most this many pixels
MAX_SIDE = 960


class ExportCancelled(Exception):
    """The user cancelled the export; nothing was written."""


def plan_frames(n_steps: int, cap: int = MAX_FRAMES) -> list[int]:
    """Step indices to render: all of them, or ``cap`` evenly spaced ones including the first
    and the last step."""
    if n_steps <= 0:
        return []
    if n_steps <= cap:
        return list(range(n_steps))
    idx = np.round(np.linspace(0, n_steps - 1, cap)).astype(int)
    return sorted({int(i) for i in idx})


def qimage_to_pil(image: QImage, max_side: int = MAX_SIDE) -> Image.Image:
    """A QImage as a Pillow RGB image, scaled down (smoothly) to ``max_side`` if larger."""
    if max(image.width(), image.height()) > max_side:
        image = image.scaled(
            max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = rgb.width(), rgb.height(), rgb.bytesPerLine()
    buf = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    arr = np.ascontiguousarray(buf[:, : 3 * w].reshape(h, w, 3))
    return Image.fromarray(arr, "RGB")


class WalkPalette:
    """One palette for every frame of a walk, and each frame's pixels mapped to it.

    The palette holds the colours of the frames it is made from (the walk's first and last
    step: the start, and the end with every output cell filled) when they are at most 256,
    else 255 chosen from them by median cut. A pixel gets its own colour when the palette has
    it, else the nearest one (each new colour is looked up once per export). Choosing a palette
    per frame took ~25 ms a frame, and its colours flickered from frame to frame."""

    def __init__(self, *frames: Image.Image) -> None:
        colours = np.unique(np.concatenate([_packed(f) for f in frames]))
        if len(colours) > 256:
            stacked = Image.new("RGB", (frames[0].width, frames[0].height * len(frames)))
            for k, f in enumerate(frames):
                stacked.paste(f, (0, k * frames[0].height))
            chosen = stacked.convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
            table = np.asarray(chosen.getpalette(), np.uint8).reshape(-1, 3)
            used = [index for _, index in chosen.getcolors()]  # a "P" image has at most 256
            colours = np.unique(_pack(table[used]))
        self.rgb = _unpack(colours)
        self._index = np.full(1 << 24, -1, np.int16)  # packed colour → palette entry (-1: not looked up yet)
        self._index[colours] = np.arange(len(colours), dtype=np.int16)

    def apply(self, frame: Image.Image) -> Image.Image:
        """``frame`` (RGB) as a "P" image with this palette."""
        packed = _packed(frame)
        index = self._index[packed]
        missing = index < 0
        if missing.any():
            new, inverse = np.unique(packed[missing], return_inverse=True)
            rgb = _unpack(new)
            nearest = np.empty(len(new), np.int16)
            for start in range(0, len(new), 4096):  # a few MB of distances at a time
                d = ((rgb[start:start + 4096, None, :] - self.rgb[None, :, :]) ** 2).sum(axis=2)
                nearest[start:start + 4096] = d.argmin(axis=1)
            self._index[new] = nearest
            index[missing] = nearest[inverse]
        out = Image.fromarray(index.astype(np.uint8).reshape(frame.height, frame.width), "P")
        out.putpalette(self.rgb.astype(np.uint8).ravel().tolist())
        return out


def _pack(rgb: np.ndarray) -> np.ndarray:
    return (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]


def _unpack(packed: np.ndarray) -> np.ndarray:
    """0xRRGGBB integers back to (N, 3) int32 channels."""
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.int32)


def _packed(frame: Image.Image) -> np.ndarray:
    """A frame's pixels as 0xRRGGBB integers, row by row."""
    rgb = frame if frame.mode == "RGB" else frame.convert("RGB")
    return _pack(np.asarray(rgb, np.uint8).reshape(-1, 3))


def export_gif(
    path: str | Path,
    render: Callable[[int], QImage],
    steps: Sequence[int],
    fps: float = 4.0,
    progress: Callable[[int, int], bool] | None = None,
    idle: Callable[[], None] | None = None,
) -> int:
    """Render ``steps`` with ``render(step)`` and write them as a looping GIF; returns the frame
    count. ``progress(done, total)`` is called after each frame and may return False to cancel
    (raises :class:`ExportCancelled`, nothing is written). With ``idle`` the encoding (plain
    Pillow work, about a second for 300 frames) runs on a helper thread while ``idle()`` is
    called every few milliseconds, so a GUI can keep processing events."""
    if not steps:
        raise ValueError("There are no steps to export: the current settings give no output.")
    frames: list[Image.Image] = []
    total = len(steps)
    # one palette for the whole walk, from its first and last frames (see WalkPalette)
    first = qimage_to_pil(render(int(steps[0])))
    last = qimage_to_pil(render(int(steps[-1]))) if len(steps) > 1 else first
    if last.size != first.size:
        last = last.resize(first.size)
    palette = WalkPalette(first, last)
    for k, n in enumerate(steps):
        if k == 0:
            im = first
        elif k == total - 1:
            im = last
        else:
            im = qimage_to_pil(render(int(n)))
            if im.size != first.size:
                im = im.resize(first.size)
        frames.append(palette.apply(im))
        if progress is not None and progress(k + 1, total) is False:
            raise ExportCancelled()
    duration = max(20, int(round(1000.0 / max(fps, 0.1))))
    path = Path(path)

    def save() -> None:
        frames[0].save(
            str(path), format="GIF", save_all=True, append_images=frames[1:], duration=duration,
            loop=0, disposal=1,
        )

    if idle is None:
        save()
        return len(frames)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            save()
        except BaseException as exc:  # re-raised on the calling thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="cnnviz-gif-writer", daemon=True)
    worker.start()
    while worker.is_alive():
        idle()
        worker.join(0.01)
    if failure:
        raise failure[0]
    return len(frames)
