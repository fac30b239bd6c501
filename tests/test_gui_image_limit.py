"""The image size limit: a setting (File → Image size limit…) and opening a larger image
downscaled from the refusal's "Open downscaled" button."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QInputDialog

from cnnviz.core import images
from cnnviz.gui.context import IMAGE_LIMIT_KEY


@pytest.fixture(autouse=True)
def _limit_restored(monkeypatch):
    """The limit is process-wide (every image open uses it): put it back after each test."""
    monkeypatch.setattr(images, "MAX_PIXELS", images.MAX_PIXELS)


def _photo(path, w=1600, h=1200):
    yy, xx = np.mgrid[0:h, 0:w]
    bgr = np.stack([xx * 255 // w, yy * 255 // h, (xx ^ yy) & 255], axis=2).astype(np.uint8)
    ok, buf = cv2.imencode(path.suffix, bgr)
    assert ok
    buf.tofile(str(path))
    return path


def _set_limit_in_menu(qtbot, window, megapixels: float) -> None:
    """File → Image size limit…, type the number, OK — as a person does."""
    window.image_limit_action.trigger()
    shown = [d for d in window.findChildren(QInputDialog, "imageLimitDialog") if d.isVisible()]
    assert len(shown) == 1
    dialog = shown[0]
    assert "megapixels" in dialog.labelText()
    dialog.setDoubleValue(megapixels)
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=2000)


def test_limit_setting_changes_what_is_refused_and_is_remembered(qtbot, window, tmp_path, make_context):
    photo = _photo(tmp_path / "photo.jpg")  # 1.92 megapixels
    assert window.ctx.open_image(photo)  # under the shipped 100 MP

    _set_limit_in_menu(qtbot, window, 1.0)
    assert window.ctx.max_image_pixels == 1_000_000
    assert float(window.ctx.settings.value(IMAGE_LIMIT_KEY)) == 1.0
    before = window.ctx.image.copy()
    assert not window.ctx.open_image(photo)
    message = window.current_pane().message_bar.text()
    assert "1600×1200" in message and "limit of 1 megapixels" in message
    assert "File → Image size limit…" in message
    np.testing.assert_array_equal(window.ctx.image, before)
    # every image open in the process follows the setting, not only the window's
    with pytest.raises(images.ImageTooLargeError):
        images.load_image(photo)

    # a new window with the same settings starts with the same limit
    other = make_context(window.ctx.settings)
    assert other.max_image_pixels == 1_000_000

    _set_limit_in_menu(qtbot, window, 2.0)
    assert window.ctx.open_image(photo)
    assert window.ctx.image.shape == (1200, 1600, 3)


def test_open_downscaled_button_opens_the_reduced_image(qtbot, window, tmp_path):
    photo = _photo(tmp_path / "big photo.jpg")
    window.ctx.set_max_image_megapixels(0.4)
    assert not window.ctx.open_image(photo)
    pane = window.current_pane()
    bar = pane.message_bar
    assert bar.isVisible() and "big photo.jpg" in bar.text()
    button = bar.action_button()
    assert button is not None and button.text() == "Open downscaled" and button.isVisible()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.ctx.image.shape == (300, 400, 3)  # 1/2 would be 800×600 = 0.48 MP
    assert window.ctx.image_path == photo
    assert window.ctx.image_reduction == "decoded at 1/4: 400×300 from 1600×1200"
    assert "decoded at 1/4: 400×300 from 1600×1200" in window.statusBar().currentMessage()
    assert "(decoded at 1/4)" in window.windowTitle()
    assert not bar.isVisible()

    # opening an image at full size says nothing about a reduction
    window.ctx.set_max_image_megapixels(100)
    assert window.ctx.open_image(photo)
    assert window.ctx.image_reduction == "" and "decoded" not in window.windowTitle()


def test_the_button_belongs_to_its_message(qtbot, window, tmp_path):
    photo = _photo(tmp_path / "photo.png", 900, 900)
    window.ctx.set_max_image_megapixels(0.5)
    assert not window.ctx.open_image(photo)
    bar = window.current_pane().message_bar
    assert bar.action_button() is not None
    window.current_pane().show_message("Something else went wrong.", "error")
    qtbot.waitUntil(lambda: bar.action_button() is None, timeout=2000)

    assert not window.ctx.open_image(photo)
    assert bar.action_button() is not None
    qtbot.mouseClick(bar.close_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bar.action_button() is None, timeout=2000)
    # a PNG cannot be decoded reduced: it is decoded whole and shrunk, and the caption says so
    assert not window.ctx.open_image(photo)
    qtbot.mouseClick(bar.action_button(), Qt.MouseButton.LeftButton)
    assert window.ctx.image.shape == (450, 450, 3)
    assert "decoded whole, then shrunk" in window.ctx.image_reduction


def test_bad_limit_is_refused_in_words(ctx):
    with pytest.raises(ValueError, match="more than 0 megapixels"):
        ctx.set_max_image_megapixels(0)


def test_a_pattern_above_the_limit_is_offered_downscaled_in_the_matching_pane(qtbot, window, tmp_path,
                                                                              monkeypatch):
    from cnnviz.gui.panes import matching

    photo = _photo(tmp_path / "big pattern.jpg")
    window.ctx.set_max_image_megapixels(0.4)
    window.show_pane("matching")
    pane = window.panes["matching"]
    pane.flush()
    before = pane.state.pattern.copy()
    monkeypatch.setattr(matching.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(photo), "")))
    qtbot.mouseClick(pane.load_button, Qt.MouseButton.LeftButton)  # Load… and pick the file

    bar = pane.message_bar
    assert bar.isVisible() and "big pattern.jpg" in bar.text() and "Open it downscaled" in bar.text()
    assert "File → Image size limit…" in bar.text()
    np.testing.assert_array_equal(pane.state.pattern, before)  # nothing is lost
    button = bar.action_button()
    assert button is not None and button.text() == "Open downscaled" and button.isVisible()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert pane.state.pattern.shape == (300, 400)  # at 1/4, gray, in this pane
    assert pane.state.pattern_name == "big pattern.jpg"
    assert not bar.isVisible() and pane.message == ""
    assert window.ctx.image.shape != (300, 400, 3)  # the shared image is not touched
