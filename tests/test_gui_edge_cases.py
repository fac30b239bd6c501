"""Odd images on every pane: a single pixel, a 1×5000 strip and a 16-bit image.

Each pane must take them without an exception and say in words what it can and cannot show
(never a traceback in a label).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QLabel

from cnnviz.gui.app import wait_until_idle


def _write(path, img) -> str:
    assert cv2.imwrite(str(path), img)
    return str(path)


@pytest.fixture
def odd_images(tmp_path):
    rng = np.random.default_rng(0)
    return {
        "pixel": _write(tmp_path / "pixel.png", np.full((1, 1, 3), 200, np.uint8)),
        "strip": _write(tmp_path / "strip.png", rng.integers(0, 256, (1, 5000), dtype=np.uint8)),
        "deep": _write(tmp_path / "deep.png", rng.integers(0, 65536, (40, 60, 3), dtype=np.uint16)),
    }


def _texts(pane) -> str:
    return "\n".join(label.text() for label in pane.findChildren(QLabel) if label.isVisible())


def _visit_every_pane(window, qtbot) -> None:
    for name, pane in window.panes.items():
        window.show_pane(name)
        qtbot.wait(10)
        if name == "stepper":
            for key in ("crop_gray", "crop_rgb"):
                pane.source_combo.setCurrentIndex(pane.source_combo.findData(key))
                pane.step_forward()
                pane.go_to_end()
        if name in ("kernels", "matching", "activations"):
            pane.flush()
        wait_until_idle(window, pane, timeout=60)
        text = _texts(pane)
        assert "Traceback" not in text and 'File "' not in text, f"{name} shows a traceback:\n{text}"


@pytest.mark.parametrize("kind", ["pixel", "strip", "deep"])
def test_an_odd_image_visits_every_pane_without_an_exception(window, qtbot, odd_images, kind):
    with qtbot.capture_exceptions() as exceptions:
        assert window.ctx.open_image(odd_images[kind])
        _visit_every_pane(window, qtbot)
        # and back to an ordinary image: every pane recovers
        window.ctx.open_image(odd_images["deep"] if kind != "deep" else odd_images["pixel"])
        _visit_every_pane(window, qtbot)
    assert not exceptions, "".join(str(e[1]) for e in exceptions)


def test_a_single_pixel_is_explained_in_words_where_nothing_can_be_computed(window, qtbot, odd_images):
    with qtbot.capture_exceptions() as exceptions:
        window.ctx.open_image(odd_images["pixel"])
        kernels = window.panes["kernels"]
        window.show_pane("kernels")
        kernels.flush()
        matching = window.panes["matching"]
        window.show_pane("matching")
        matching.flush()
        # the book's circle (81×81) cannot slide over one pixel: the pane says so
        assert matching.message_label.isVisible()
        assert matching.message_label.text().strip()
    assert not exceptions, "".join(str(e[1]) for e in exceptions)


def test_a_corrupt_image_on_the_stepper_crop_keeps_the_walk(window, qtbot, tmp_path):
    stepper = window.panes["stepper"]
    window.show_pane("stepper")
    stepper.source_combo.setCurrentIndex(stepper.source_combo.findData("crop_gray"))
    stepper.step_forward()
    before = stepper.state.position
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    errors = []
    window.ctx.error_posted.connect(errors.append)
    with qtbot.capture_exceptions() as exceptions:
        assert not window.ctx.open_image(broken)
        qtbot.wait(20)
    assert not exceptions
    assert errors and "Traceback" not in errors[0]
    assert stepper.source_combo.currentData() == "crop_gray"
    assert stepper.state.position == before


def test_presentation_toggled_while_the_stepper_plays(window, qtbot):
    stepper = window.panes["stepper"]
    window.show_pane("stepper")
    with qtbot.capture_exceptions() as exceptions:
        stepper.toggle_play()
        qtbot.wait(50)
        window.ctx.set_presentation(True)
        qtbot.wait(50)
        window.ctx.set_presentation(False)
        qtbot.wait(50)
        stepper.toggle_play()
    assert not exceptions, "".join(str(e[1]) for e in exceptions)
