"""The image view's own drawing: the picture made without pyqtgraph's render for live updates,
the colour bar beside it, and the word-wrapped line that does not lay its panel out again."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QGroupBox, QVBoxLayout

from cnnviz.gui.widgets.color_bar import ColorBar, auto_ticks, bar_ticks
from cnnviz.gui.widgets.image_view import (
    ImageView,
    _lookup_table,
    direct_qimage,
    diverging_colormap,
    gray_colormap,
    heat_colormap,
)
from cnnviz.gui.widgets.steady_label import SteadyLabel


def pixels(qimage: QImage) -> np.ndarray:
    """(h, w) uint32 premultiplied ARGB values of ``qimage``."""
    image = qimage.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    h, w = image.height(), image.width()
    return np.array(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, : 4 * w].copy().view(np.uint32)


def pyqtgraph_pixels(part: np.ndarray, levels, lut) -> np.ndarray:
    """What pyqtgraph's own render draws for ``part``."""
    item = pg.ImageItem(axisOrder="row-major")
    item.setImage(part, levels=levels, lut=lut, autoLevels=False)
    item.render()
    return pixels(item.qimage)


def on_a_colour_step(part: np.ndarray, levels) -> np.ndarray:
    """Where ``(v − low) · 256 / (high − low)`` is within a rounding of a whole number: there
    pyqtgraph's cut and OpenCV's rounding of ``… − ½`` may pick neighbouring colours."""
    lo, hi = levels
    y = (part.astype(np.float64) - lo) * 256.0 / (hi - lo)
    return np.abs(y - np.round(y)) < 1e-3


@pytest.mark.parametrize("cmap", [diverging_colormap, gray_colormap, heat_colormap])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint16, np.int16])
def test_a_one_channel_picture_has_pyqtgraphs_colours(qapp, cmap, dtype):
    rng = np.random.default_rng(7)
    shape = (rng.integers(5, 90), rng.integers(5, 130))
    if dtype in (np.uint16, np.int16):
        part = rng.integers(0 if dtype == np.uint16 else -3000, 3000, shape).astype(dtype)
        levels = (float(part.min()) + 1, float(part.max()) - 1)  # some values beyond the levels
    else:
        part = (rng.normal(size=shape) * 250).astype(dtype)
        levels = (-float(np.abs(part).max()) * 0.8, float(np.abs(part).max()) * 0.9)
    lut = _lookup_table(cmap())
    made = direct_qimage(part, levels, lut)
    assert made is not None
    ours = pixels(made[0])
    theirs = pyqtgraph_pixels(part, levels, lut)
    differ = ours != theirs
    assert not np.any(differ & ~on_a_colour_step(part, levels))


def test_byte_pictures_are_pyqtgraphs_exactly(qapp):
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (37, 61), dtype=np.uint8)
    lut = _lookup_table(gray_colormap())
    for levels in ((0.0, 255.0), (20.0, 200.0)):
        np.testing.assert_array_equal(pixels(direct_qimage(gray, levels, lut)[0]), pyqtgraph_pixels(gray, levels, lut))
    rgb = rng.integers(0, 256, (23, 41, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pixels(direct_qimage(rgb, (0.0, 255.0), None)[0]), pyqtgraph_pixels(rgb, (0.0, 255.0), None))
    # one channel given as (h, w, 1)
    np.testing.assert_array_equal(
        pixels(direct_qimage(gray[:, :, None], (0.0, 255.0), lut)[0]), pyqtgraph_pixels(gray, (0.0, 255.0), lut)
    )


def test_pictures_it_does_not_make_are_left_to_pyqtgraph(qapp):
    lut = _lookup_table(gray_colormap())
    part = np.ones((8, 8), np.float32)
    with_nan = part.copy()
    with_nan[2, 3] = np.nan  # pyqtgraph draws NaN transparent
    assert direct_qimage(with_nan, (0.0, 1.0), lut) is None
    assert direct_qimage(part, None, lut) is None  # no levels
    assert direct_qimage(part, (0.0, np.inf), lut) is None
    assert direct_qimage(part, (0.0, 1.0), lambda *a: lut) is None  # a table made per image
    assert direct_qimage(part, (0.0, 1.0), lut[:100]) is None  # not 256 colours
    assert direct_qimage(np.ones((8, 8, 4), np.uint8), None, None) is None  # RGBA
    assert direct_qimage(np.ones((8, 8, 3), np.uint8), (10.0, 20.0), None) is None  # levels on bytes
    assert direct_qimage(np.ones((8, 8, 3), np.float32), None, None) is None


def test_values_far_past_the_levels_get_the_end_colours(qapp):
    """Values many colour steps past the levels saturate to the end colours, as pyqtgraph draws
    them; values a billion steps past (or infinite), where OpenCV's rounding would wrap round,
    are drawn by pyqtgraph itself."""
    lut = _lookup_table(diverging_colormap())
    near = np.array([[5.0, -4.0, 0.5, 1e5, -1e5]], np.float32)
    np.testing.assert_array_equal(pixels(direct_qimage(near, (0.0, 1.0), lut)[0]), pyqtgraph_pixels(near, (0.0, 1.0), lut))
    for far in (1e8, 3e9, np.inf, -np.inf, -3e9):
        part = np.array([[far, 0.5]], np.float32)
        assert direct_qimage(part, (0.0, 1.0), lut) is None
    assert direct_qimage(np.array([[3, -3]], np.int16), (0.0, 1e-9), lut) is None  # tiny levels


def test_a_view_draws_a_nan_as_pyqtgraph_does(qtbot):
    view = ImageView("with a hole")
    qtbot.addWidget(view)
    view.resize(300, 240)
    view.show()
    data = np.linspace(-1, 1, 40 * 30, dtype=np.float32).reshape(30, 40)
    data[5, 7] = np.nan
    view.set_image(data, signed=True, levels=(-1.0, 1.0))
    assert view.drawn_image() is not None
    assert (pixels(view.image_item.qimage)[5, 7] >> 24) == 0  # transparent, as pyqtgraph draws it


def test_the_bars_ticks_are_round_and_inside_the_levels():
    assert [t for _, t in bar_ticks(-3.0, 3.0)] == ["−2", "−1", "0", "1", "2"]
    assert bar_ticks(0.0, 3.0) is None
    assert [t for _, t in auto_ticks(0.0, 255.0)] == ["0", "50", "100", "150", "200", "250"]
    assert [t for _, t in auto_ticks(0.0, 1.27)] == ["0", "0.25", "0.5", "0.75", "1", "1.25"]
    assert [t for _, t in auto_ticks(-0.3, 0.7)] == ["−0.2", "0", "0.2", "0.4", "0.6"]
    assert auto_ticks(2.0, 2.0) == [(2.0, "2")]
    for lo, hi in ((-7.3, 1e5), (0.001, 0.0013), (3.0, 9.0), (5.0, 5.0000001), (1e15, 1e15 + 3), (1e-14, 3e-14)):
        ticks = auto_ticks(lo, hi)
        values = [v for v, _ in ticks]
        assert 2 <= len(values) <= 6 and all(lo <= v <= hi for v in values)
        assert len({t for _, t in ticks}) == len(ticks)  # as many digits as it takes to tell them apart
    assert [t for _, t in auto_ticks(-1300.0, -200.0)] == ["−1200", "−1000", "−800", "−600", "−400", "−200"]
    assert auto_ticks(-1e308, 1e308) == [] and auto_ticks(0.0, np.inf) == [] and auto_ticks(np.nan, 1.0) == []


def test_the_bar_draws_its_map_labels_and_title(qtbot):
    view = ImageView("signed")
    qtbot.addWidget(view)
    view.resize(360, 300)
    view.show()
    qtbot.waitExposed(view)
    view.set_image(np.linspace(-3e6, 3e6, 600, dtype=np.float32).reshape(20, 30), signed=True)
    bar = view.color_bar
    assert bar.isVisible() and bar.levels() == (-3.0, 3.0)  # in units of the title's 10⁶
    assert bar.title() == "× 10⁶" and view.bar_labels() == ["−2", "−1", "0", "1", "2"]
    shot = view.grab().toImage()
    rect = bar.mapRectToScene(bar.boundingRect())
    top = view.mapFromScene(rect.topLeft())
    # the gradient runs from the map's high end (top, red) to its low end (bottom, blue)
    x = top.x() + int(bar._bar_rect().center().x())
    high = shot.pixelColor(x, top.y() + int(bar._bar_rect().top()) + 3)
    low = shot.pixelColor(x, top.y() + int(bar._bar_rect().bottom()) - 3)
    assert high.red() > high.blue() and low.blue() > low.red()
    # the labels are drawn: light text right of the gradient
    labels = shot.copy(top.x() + int(bar._bar_rect().right()) + 6, top.y(), bar.scale_width(), int(rect.height()))
    assert max(labels.pixelColor(i, j).lightness() for i in range(labels.width()) for j in range(labels.height())) > 150


def test_linked_bars_share_the_widest_width(qtbot):
    a, b = ColorBar(), ColorBar()
    a.share_width(b)
    narrow = a.maximumWidth()
    assert b.maximumWidth() == narrow
    b.set_scale_width(80)
    assert a.maximumWidth() == b.maximumWidth() > narrow
    b.set_scale_width(10)
    assert a.maximumWidth() == b.maximumWidth() == narrow  # a's own room is wider now


class LayoutRequests(QObject):
    """Counts the layout requests a widget gets."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_a_steady_label_lays_its_panel_out_again_only_for_a_new_height(qtbot):
    from PySide6.QtWidgets import QApplication

    box = QGroupBox("Kernel")
    layout = QVBoxLayout(box)
    line = SteadyLabel()
    layout.addWidget(line)
    layout.addStretch(1)
    qtbot.addWidget(box)
    box.resize(260, 120)
    box.show()
    qtbot.waitExposed(box)
    line.setText("<b>Sum = 1</b> — brightness kept")
    QApplication.processEvents()
    requests = LayoutRequests()
    box.installEventFilter(requests)
    for value in ("1.5", "2", "-0.5", "3.25"):
        line.setText(f"<b>Sum = {value}</b> — brightens")
        QApplication.processEvents()
        assert line.text() == f"<b>Sum = {value}</b> — brightens"
    assert requests.count == 0
    one_line = line.height()
    line.setText("<b>Sum = 0</b> — " + "flat regions go to 0 and only changes survive " * 3)
    QApplication.processEvents()
    assert requests.count >= 1
    qtbot.waitUntil(lambda: line.height() > one_line, timeout=2000)  # the panel made room
    assert line.label.geometry() == line.rect()


def test_a_short_bar_leaves_out_labels_that_would_overlap(qapp):
    from PySide6.QtGui import QFont, QFontMetricsF

    bar = ColorBar()
    bar.setLevels((-3.0, 3.0))
    bar.set_ticks(bar_ticks(-3.0, 3.0))
    font = QFont()
    font.setPixelSize(20)
    bar.set_font(font)
    bar.resize(80, 400)
    assert [t for _, _, t in bar.drawn_ticks()] == ["−2", "−1", "0", "1", "2"]
    bar.resize(80, 110)
    drawn = bar.drawn_ticks()
    assert 1 <= len(drawn) < 5
    line = QFontMetricsF(font).height()
    assert all(a[1] - b[1] >= line for a, b in zip(drawn, drawn[1:]))  # bottom up, a line apart
