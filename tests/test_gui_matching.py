"""The pattern-matching pane, driven by mouse: drag a selection, switch methods, move the scale
slider. The score map shown must be the core's ``match_pattern`` numbers."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnviz import paths
from cnnviz.core import images
from cnnviz.core.matching import match_pattern, scale_pattern

LEFT = Qt.MouseButton.LeftButton
CIRCLE_CENTRE = (95, 110)  # row, column of the circle in shapes.png
SQUARE_CENTRE = (95, 360)


@pytest.fixture
def pane(window):
    window.show_pane("matching")
    p = window.panes["matching"]
    p.flush()
    return p


def gray_of(ctx) -> np.ndarray:
    return np.asarray(images.to_gray(ctx.image), dtype=np.float32)


def circle() -> np.ndarray:
    return images.load_image(paths.sample_image("circle_pattern"), gray=True).astype(np.float32) / 255.0


def drag_on_image(qtbot, view, start, end, steps: int = 5) -> None:
    """Press at ``start``, move to ``end`` and release (points in image x, y). pyqtgraph ignores
    mouse moves closer than 10 ms apart, so the moves are spaced like a person's."""
    vp = view.viewport()
    a, b = view.widget_pos_of(*start), view.widget_pos_of(*end)
    qtbot.mousePress(vp, LEFT, pos=a)
    for t in np.linspace(0, 1, steps + 1)[1:]:
        qtbot.wait(15)
        qtbot.mouseMove(vp, a + (b - a) * t)
    qtbot.wait(15)
    qtbot.mouseRelease(vp, LEFT, pos=b)


def near(a, b, tol: int = 3) -> bool:
    return abs(a[0] - b[0]) <= tol and abs(a[1] - b[1]) <= tol


def test_opens_on_the_books_circle_and_finds_it(pane):
    expected = match_pattern(gray_of(pane.ctx), circle(), "dot")
    np.testing.assert_allclose(
        pane.score_view.image_data(), expected.centered_map(np.nan).astype(np.float32), rtol=1e-5, equal_nan=True
    )
    assert pane.result.best_center == expected.best_center
    assert near(expected.best_center, CIRCLE_CENTRE)
    box = pane._boxes[0].rect()
    h, w = expected.pattern_shape
    t, l = expected.best_top_left
    assert (box.left(), box.top(), box.width(), box.height()) == (l, t, w, h)
    assert "Why brightness wins" in pane.note_label.text()


def test_dragging_a_rectangle_picks_the_pattern(pane, qtbot):
    drag_on_image(qtbot, pane.image_view, (323.2, 58.3), (396.6, 131.8))  # around the square
    pane.flush()
    gray = gray_of(pane.ctx)
    crop = gray[58:132, 323:397] / 255.0
    np.testing.assert_array_equal(pane.state.pattern, crop)
    expected = match_pattern(gray, crop, "dot")
    np.testing.assert_allclose(
        pane.score_view.image_data(), expected.centered_map(np.nan).astype(np.float32), rtol=1e-5, equal_nan=True
    )
    assert near(pane.result.best_center, SQUARE_CENTRE)
    assert pane.message == ""


def test_ncc_scores_shape_not_brightness(pane, qtbot):
    qtbot.mouseClick(pane.ncc_radio, LEFT)
    pane.flush()
    expected = match_pattern(gray_of(pane.ctx), circle(), "ncc")
    np.testing.assert_allclose(
        pane.score_view.image_data(), expected.centered_map(np.nan).astype(np.float32), atol=1e-4, equal_nan=True
    )
    assert pane.score_view.levels() == (-1.0, 1.0)
    assert pane.result.best_score == pytest.approx(expected.best_score, abs=1e-4) and expected.best_score > 0.9
    assert "NCC" in pane.note_label.text()


def test_wrong_scale_matches_the_wrong_shape(pane):
    assert near(pane.result.best_center, CIRCLE_CENTRE)
    pane.set_scale(1.5)
    pane.flush()
    assert pane.state.scale == pytest.approx(1.5)
    pat = scale_pattern(circle(), 1.5)
    assert pane.pattern_view.image_data().shape == pat.shape
    expected = match_pattern(gray_of(pane.ctx), pat, "dot")
    assert pane.result.best_center == expected.best_center
    assert not near(pane.result.best_center, CIRCLE_CENTRE, tol=20)  # the book's Fig. 1.13 point
    assert "150%" in pane.scale_label.text()


def test_use_the_kernel_from_the_kernel_editor(pane, qtbot):
    k = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.float32)
    pane.ctx.set_kernel(k, "diagonal")
    qtbot.mouseClick(pane.kernel_button, LEFT)
    pane.flush()
    np.testing.assert_array_equal(pane.state.pattern, k)
    expected = match_pattern(gray_of(pane.ctx), k, "dot")
    assert pane.result.best_center == expected.best_center


def test_load_a_pattern_file_and_a_broken_one(pane, tmp_path):
    assert pane.load_pattern(paths.sample_image("circle_pattern"))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    assert not pane.load_pattern(bad)
    assert "broken.png" in pane.message
    np.testing.assert_array_equal(pane.state.pattern, circle())  # the previous pattern stays


def test_zero_area_selection_is_refused_with_a_message(pane, qtbot):
    before = pane.state.pattern.copy()
    drag_on_image(qtbot, pane.image_view, (200.5, 40.5), (200.5, 150.5))  # a vertical line
    pane.flush()
    assert "no area" in pane.message or "only" in pane.message
    assert pane.message_label.isVisible()
    np.testing.assert_array_equal(pane.state.pattern, before)
    assert pane.score_view.image_data() is not None  # the previous result is still shown


def test_selection_off_the_image_is_refused(pane, qtbot):
    before = pane.state.pattern.copy()
    pane.image_view.view_box.setRange(xRange=(-400, 900), yRange=(-400, 700), padding=0)
    qtbot.wait(20)
    drag_on_image(qtbot, pane.image_view, (-300, -300), (-100, -150))
    pane.flush()
    assert "outside the image" in pane.message
    np.testing.assert_array_equal(pane.state.pattern, before)


def test_pattern_larger_than_the_image(pane):
    pane.ctx.open_image(paths.sample_image("digit_7"))  # 28×28, the circle is 81×81
    pane.flush()
    assert "larger than" in pane.message and pane.message_label.isVisible()
    assert pane.score_view.image_data() is None
    assert not any(box.isVisible() for box in pane._boxes)
    pane.set_scale(0.2)  # 16×16 fits
    pane.flush()
    assert pane.message == "" and pane.score_view.image_data() is not None


def test_top_matches_are_marked(pane):
    pane.top_spin.setValue(4)
    pane.flush()
    expected = match_pattern(gray_of(pane.ctx), circle(), "dot").peaks(4)
    shown = [b for b in pane._boxes if b.isVisible()]
    assert len(shown) == 4
    for box, peak in zip(shown, expected):
        assert (box.rect().top(), box.rect().left()) == peak.top_left


def test_dragging_the_scale_on_a_big_photo_shows_the_last_scale_only(pane, qtbot):
    """On a big photo the score map is computed in the background while the slider moves; the
    requests made meanwhile are dropped and the map finally shown is the last scale's."""
    rng = np.random.default_rng(5)
    photo = rng.integers(0, 256, (1500, 2600, 3), dtype=np.uint8)
    pane.ctx.set_image(photo)
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=20000)
    assert pane.result is not None and pane.result.image_shape == (1500, 2600)
    shown_scales = []
    pane.score_view.image_item.sigImageChanged.connect(lambda: shown_scales.append(pane.state.scale))
    slider = pane.scale_slider
    values = [slider.value() + d for d in (1, 3, 5, 8, 12, 16)]
    busy_seen = []
    for v in values:  # a quick drag: one value every few milliseconds
        slider.setValue(v)
        qtbot.wait(5)
        busy_seen.append(pane.is_busy())
    assert any(busy_seen)
    assert "computing" in pane.score_view.title()
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=30000)
    final_scale = values[-1] * 5 / 100
    assert pane.state.scale == pytest.approx(final_scale)
    assert len(shown_scales) < len(values)  # intermediate scales were skipped, not queued
    expected = match_pattern(gray_of(pane.ctx), scale_pattern(circle(), final_scale).astype(np.float32), "dot")
    assert pane.result.pattern_shape == expected.pattern_shape
    np.testing.assert_allclose(
        pane.score_view.image_data(), expected.centered_map(np.nan).astype(np.float32), rtol=1e-5, equal_nan=True
    )
    assert pane.result.best_center == expected.best_center
    assert "computing" not in pane.score_view.title()
    h, w = expected.pattern_shape
    assert (pane._boxes[0].rect().height(), pane._boxes[0].rect().width()) == (h, w)
    # nothing stale lands later
    qtbot.wait(300)
    np.testing.assert_allclose(
        pane.score_view.image_data(), expected.centered_map(np.nan).astype(np.float32), rtol=1e-5, equal_nan=True
    )


def test_screenshot_waits_for_a_background_score_map(window, qtbot):
    from cnnviz.gui.app import wait_until_idle

    pane = window.panes["matching"]
    window.show_pane("matching")
    pane.ctx.set_image(np.random.default_rng(6).integers(0, 256, (1400, 2400), dtype=np.uint8))
    pane.set_scale(1.5)
    qtbot.wait(20)
    assert pane.is_busy()
    wait_until_idle(window, pane, timeout=30)
    assert not pane.is_busy()
    assert pane.result.pattern_shape == scale_pattern(circle(), 1.5).shape
    assert pane.result.image_shape == (1400, 2400)


def test_image_and_score_map_zoom_and_pan_together(pane, qtbot):
    from PySide6.QtCore import QRectF

    a, b = pane.image_view.view_box, pane.score_view.view_box
    a.setRange(QRectF(60, 50, 100, 80), padding=0)
    # the score map is narrower (its colour bar): same rows, same zoom, same centre
    def follows(src, dst) -> bool:
        (sx0, sx1), (sy0, sy1) = src.viewRange()
        (dx0, dx1), (dy0, dy1) = dst.viewRange()
        return abs(sy0 - dy0) < 0.5 and abs(sy1 - dy1) < 0.5 and abs((sx0 + sx1) - (dx0 + dx1)) < 1.0

    qtbot.waitUntil(lambda: follows(a, b), timeout=2000)
    (y0, y1) = b.viewRange()[1]
    assert y0 < 51 and y1 > 129 and y1 - y0 < 300  # zoomed in on the same pixels
    b.scaleBy((0.5, 0.5))  # zoom in on the score map: the image follows
    qtbot.waitUntil(lambda: follows(b, a), timeout=2000)
    assert a.viewRange()[1][1] - a.viewRange()[1][0] == pytest.approx((y1 - y0) / 2, rel=0.05)
    b.translateBy(x=20, y=15)  # pan the score map: the image follows
    qtbot.waitUntil(lambda: follows(b, a), timeout=2000)


def test_on_a_projector_the_ranks_of_the_matches_and_the_bars_power_of_ten_are_readable(pane, qtbot, window):
    """F5: the numbers 1, 2, 3 beside the marked matches and the score bar's "× 10⁶" are drawn
    at least 14 px high (they were a fixed small size), and shrink back afterwards."""
    from PySide6.QtGui import QFontInfo
    from PySide6.QtWidgets import QApplication

    pane.flush()
    window.resize(1280, 720)
    try:
        window.ctx.set_presentation(True)
        for _ in range(3):
            QApplication.processEvents()
            qtbot.wait(30)
        shown = [label for label in pane._labels if label.isVisible()]
        assert [label.textItem.toPlainText() for label in shown] == ["1", "2", "3"]
        for label in shown:
            assert QFontInfo(label.textItem.font()).pixelSize() >= 14
        bar = pane.score_view.color_bar
        assert "10⁶" in bar.title() and bar.isVisible()
        assert QFontInfo(bar.font()).pixelSize() >= 14
    finally:
        window.ctx.set_presentation(False)
    QApplication.processEvents()
    assert QFontInfo(pane._labels[0].textItem.font()).pixelSize() < 14
