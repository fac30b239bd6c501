"""The GIF writer: one palette for the whole walk, frames that keep their colours, and the
grid's translucent lines laid over the cells once."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from cnnviz.gui.export_anim import export_gif


def _qimage(rgb: np.ndarray) -> QImage:
    h, w, _ = rgb.shape
    return QImage(np.ascontiguousarray(rgb).data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _walk(step: int, steps: int, rng_seed: int = 0) -> np.ndarray:
    """A stepper-like frame: a fixed input of many shades, an output filled cell by cell, and
    an orange window and a green output cell that move with the step."""
    rng = np.random.default_rng(rng_seed)
    frame = np.full((120, 200, 3), 236, np.uint8)
    cells = rng.integers(0, 256, (8, 8)).astype(np.uint8)
    frame[10:90, 10:90] = np.repeat(np.repeat(cells, 10, 0), 10, 1)[..., None]
    outputs = rng.integers(0, 6, 36)
    colours = np.array([[198, 40, 40], [21, 101, 192], [250, 250, 250], [120, 160, 210], [230, 140, 140], [30, 30, 30]], np.uint8)
    for k in range(min(36, round((step + 1) * 36 / steps))):
        r, c = divmod(k, 6)
        frame[10 + 12 * r:20 + 12 * r, 110 + 12 * c:120 + 12 * c] = colours[outputs[k]]
    y, x = divmod(step % 36, 6)
    frame[10 + 12 * y:40 + 12 * y, 10 + 12 * x, :] = (249, 115, 22)  # the window's edge
    frame[8 + 12 * y:22 + 12 * y, 108 + 12 * x, :] = (15, 157, 88)  # the output cell's edge
    return frame


def test_every_frame_keeps_its_colours_with_one_palette(tmp_path):
    steps = list(range(24))
    path = tmp_path / "walk.gif"
    assert export_gif(path, lambda n: _qimage(_walk(n, len(steps))), steps) == len(steps)
    with Image.open(path) as gif:
        assert gif.n_frames == len(steps)
        palettes = set()
        for k in steps:
            gif.seek(k)
            palettes.add(bytes(gif.getpalette() or b""))
            np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), _walk(k, len(steps)), err_msg=f"frame {k}")
    assert len(palettes - {b""}) == 1  # one palette (later frames may use the file's global one): no flicker


def test_a_colour_only_a_middle_frame_has_is_drawn_close_to_it(tmp_path):
    def render(n: int) -> QImage:
        frame = _walk(n, 5)
        if n == 2:
            frame[50:60, 150:160] = (140, 60, 200)  # in neither the first nor the last frame
        return _qimage(frame)

    path = tmp_path / "walk.gif"
    export_gif(path, render, list(range(5)))
    with Image.open(path) as gif:
        gif.seek(2)
        shown = np.asarray(gif.convert("RGB")).astype(int)
    expected = _walk(2, 5).astype(int)
    expected[50:60, 150:160] = (140, 60, 200)
    error = np.abs(shown - expected)
    assert error[50:60, 150:160].max() <= 80  # the nearest colour of the walk's palette
    error[50:60, 150:160] = 0
    assert error.max() == 0


def test_frames_of_many_colours_share_a_chosen_palette_as_closely_as_one_of_their_own(tmp_path):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)  # ~4800 colours: more than a GIF holds

    def frame(n: int) -> np.ndarray:
        shifted = base.astype(int) + 4 * n
        return np.clip(shifted, 0, 255).astype(np.uint8)

    path = tmp_path / "many.gif"
    export_gif(path, lambda n: _qimage(frame(n)), list(range(6)))
    with Image.open(path) as gif:
        for k in range(6):
            gif.seek(k)
            shown = np.asarray(gif.convert("RGB")).astype(int)
            own = np.asarray(Image.fromarray(frame(k)).convert("P", palette=Image.Palette.ADAPTIVE, colors=255).convert("RGB"))
            error, own_error = np.abs(shown - frame(k)).mean(), np.abs(own.astype(int) - frame(k)).mean()
            assert error <= 1.2 * own_error + 0.5, (k, error, own_error)
