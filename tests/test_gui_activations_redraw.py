"""A layer switch in the activations pane: the engine slices the activations it kept for the
input (the model is not run again) and the pane redraws only the maps — the input view, the
prediction and Grad-CAM stay as they are until the input changes."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cnnviz import paths

TIMEOUT = 60_000


def wait_idle(qtbot, pane) -> None:
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT)


def click_layer(qtbot, pane, name: str) -> None:
    table = pane.layer_table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == name)
    rect = table.visualItemRect(table.item(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    wait_idle(qtbot, pane)


@pytest.fixture
def pane(open_activations):
    return open_activations(trust=None)


def _spy(monkeypatch, obj, name: str, calls: list) -> None:
    real = getattr(obj, name)

    def spy(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, spy)


def test_a_layer_switch_slices_the_kept_pass_and_redraws_only_the_maps(pane, qtbot, monkeypatch):
    click_layer(qtbot, pane, "conv2d")
    shown_input = pane.input_view.image_data()
    assert shown_input is not None and pane.prediction_label.text()
    calls: list[str] = []
    _spy(monkeypatch, pane.input_view, "set_image", calls)
    _spy(monkeypatch, pane.prediction, "draw", calls)
    _spy(monkeypatch, pane.gradcam_box, "draw", calls)
    prediction_text = pane.prediction_label.text()

    for name in ("conv2d_1", "max_pooling2d", "dense"):
        click_layer(qtbot, pane, name)
        assert pane.result.layer == name
        assert pane.result.from_cache  # the engine did not run the model for a layer switch
    assert calls == []  # only the maps were drawn again
    assert pane.input_view.image_data() is shown_input
    assert pane.prediction_label.text() == prediction_text
    assert pane.gradcam_view.image_data() is not None

    # another input: the model runs, and everything is drawn for it
    pane.ctx.open_image(paths.sample_image("digit_7"))
    wait_idle(qtbot, pane)
    assert not pane.result.from_cache
    assert "set_image" in calls and "draw" in calls
    assert pane.input_view.image_data() is not shown_input

