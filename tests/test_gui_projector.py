"""Presentation mode (F5) at projector sizes: what a class reads off the wall must be whole —
colour bars labelled on both sides of 0, combo texts not cut, images given the room, grids with
readable numbers."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication


@pytest.fixture(autouse=True)
def _font_back(window):
    """Presentation mode enlarges the application's font: put it back for the next test."""
    yield
    window.ctx.set_presentation(False)


def present(window, qtbot, pane: str, size: tuple[int, int] = (1280, 720)):
    window.resize(*size)
    window.ctx.set_presentation(True)
    window.show_pane(pane)
    p = window.panes[pane]
    p.prepare_screenshot()
    QApplication.processEvents()
    qtbot.wait(50)
    QApplication.processEvents()
    return p


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_the_signed_colour_bar_labels_negatives_zero_and_positives_symmetrically(window, qtbot, size):
    pane = present(window, qtbot, "kernels", size)
    assert pane.result_view.color_bar.isVisible()
    labels = pane.result_view.bar_labels()
    values = [float(t.replace("−", "-")) for t in labels]
    assert "0" in labels
    assert any(v < 0 for v in values) and any(v > 0 for v in values), labels
    assert sorted(values) == sorted(-v for v in values), labels  # symmetric about 0
    # after leaving presentation mode too (the labels shrink back and stay whole)
    window.ctx.set_presentation(False)
    QApplication.processEvents()
    assert sorted(float(t.replace("−", "-")) for t in pane.result_view.bar_labels()) == sorted(values)


def _text_space(combo) -> int:
    """The width the closed combo box gives its text, as the style lays it out."""
    from PySide6.QtWidgets import QStyle, QStyleOptionComboBox

    opt = QStyleOptionComboBox()
    combo.initStyleOption(opt)
    cc, sc = QStyle.ComplexControl.CC_ComboBox, QStyle.SubControl.SC_ComboBoxEditField
    return combo.style().subControlRect(cc, opt, sc, combo).width()


def _views(pane):
    """The pane's pictures: its image views, or the stepper's stage of grids."""
    from cnnviz.gui.widgets import ImageView

    if pane.name == "stepper":
        return [pane.stage]
    return [v for v in pane.findChildren(ImageView) if v.isVisible() and v is not getattr(pane, "pattern_view", None)]


@pytest.mark.parametrize("name", ["kernels", "matching", "stepper"])
def test_presentation_at_1280x720_cuts_no_combo_text_and_gives_the_images_the_width(window, qtbot, name):
    from PySide6.QtWidgets import QComboBox

    from cnnviz.gui.panes.base import ChoiceCombo

    pane = present(window, qtbot, name)
    combos = [c for c in pane.findChildren(QComboBox) if c.isVisible()]
    assert combos or name == "matching"
    for combo in combos:
        for i in range(combo.count()):  # whichever choice is made
            combo.setCurrentIndex(i)
            text = combo.shown_text() if isinstance(combo, ChoiceCombo) else combo.currentText()
            space = _text_space(combo)
            assert combo.fontMetrics().horizontalAdvance(text) <= space, (text, space)
            assert combo.currentText().startswith(text)  # a short form, never another choice's words
    views = sum(v.width() for v in _views(pane))
    assert views > pane.controls_scroll.width(), (views, pane.controls_scroll.width())


def test_stepper_grids_at_1280x720_have_cells_of_one_size_and_readable_numbers(window, qtbot):
    """The book's 4×4 example with padding 1: the 6×6 padded input beside a 2×2 kernel and a 3×3
    output gets the height its rows need, not the output's."""
    pane = present(window, qtbot, "stepper")  # the screenshot's walk: padding 1, stride 2
    assert pane.state.shown_input().shape[:2] == (6, 6)
    inp, out = pane.stage.input_views[0], pane.stage.output_views[0]
    assert inp.cell_size() >= 0.9 * out.cell_size(), (inp.cell_size(), out.cell_size())
    assert inp.number_font_px() >= 16, (inp.number_font_px(), inp.size())


def _laid_out_widgets(layout):
    """The visible widgets a layout places, layout by layout: [(layout, [widgets])]."""
    groups, widgets = [], []
    for i in range(layout.count()):
        item = layout.itemAt(i)
        if item.widget() is not None and item.widget().isVisible():
            w = item.widget()
            widgets.append(w)
            if w.layout() is not None:
                groups += _laid_out_widgets(w.layout())
        elif item.layout() is not None:
            groups += _laid_out_widgets(item.layout())
            widgets += [w for lay, ws in groups if lay is item.layout() for w in ws]
    return [(layout, widgets), *groups]


def test_activations_right_column_at_1280x720_overlaps_nothing_and_cuts_no_text(window, qtbot):
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QComboBox, QLabel

    from cnnviz import paths
    from cnnviz.gui.panes.base import ChoiceCombo

    window.ctx.open_image(paths.sample_image("shapes"))
    window.show_pane("activations")
    pane = window.panes["activations"]
    pane.open_model(paths.resources_dir() / "models" / "shapes_cnn.keras")
    qtbot.waitUntil(lambda: pane.info is not None and pane.info.name == "shapes_cnn.keras"
                    and pane.result is not None and not pane.is_busy(), timeout=120_000)
    pane = present(window, qtbot, "activations")
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=60_000)
    QApplication.processEvents()
    column = pane.right_column
    assert pane.gradcam_box.isVisible() and pane.prediction_chart.isVisible()
    assert window.width() <= 1280 and pane.views.width() >= 0.45 * window.width()  # the maps keep the room

    def rect(w) -> QRect:
        return QRect(w.mapTo(column, w.rect().topLeft()), w.size())

    checked = 0
    for _layout, widgets in _laid_out_widgets(column.layout()):
        for i, a in enumerate(widgets):
            for b in widgets[i + 1:]:
                if a.isAncestorOf(b) or b.isAncestorOf(a):
                    continue
                assert not rect(a).intersects(rect(b)), (a, rect(a), b, rect(b))
                checked += 1
    assert checked > 10
    # each picture keeps the height it needs, and every label shows its whole text
    for view in (pane.input_view, pane.prediction_chart, pane.gradcam_view):
        assert view.height() >= view.minimumHeight() > 0, view
    # the probabilities beside the bars are whole inside the chart
    chart = pane.prediction_chart
    texts = [t for t in chart.getPlotItem().items if hasattr(t, "toPlainText") or hasattr(t, "textItem")]
    assert texts
    plot_area = chart.getPlotItem().vb.sceneBoundingRect()
    for t in texts:
        box = t.sceneBoundingRect()
        assert plot_area.left() <= box.left() and box.right() <= plot_area.right(), (t.textItem.toPlainText(), box, plot_area)
    for combo in column.findChildren(QComboBox):  # the closed combo boxes show whole words
        if combo.isVisible() and combo.count():
            shown = combo.shown_text() if isinstance(combo, ChoiceCombo) else combo.currentText()
            assert combo.fontMetrics().horizontalAdvance(shown) <= _text_space(combo), shown
    for label in column.findChildren(QLabel):
        if not label.isVisible() or not label.text():
            continue
        if label.wordWrap():
            assert label.height() >= label.heightForWidth(label.width()), label.text()
        else:
            assert label.width() >= label.sizeHint().width(), label.text()


def _training_at_1280x720(window, qtbot, task: str | None = None):
    """The training pane on a projector with a finished run's words and summary (no training)."""
    from cnnviz.state import training as words

    window.resize(1280, 720)
    window.ctx.set_presentation(True)
    window.show_pane("training")
    pane = window.panes["training"]
    m = pane.monitor
    m.set_device("CPU")
    m.show_replicas(1, 16)
    m.lr_label.setText(words.lr_text(0.001))
    m.speed_label.setText(words.speed_text(1047.0))
    m.eta_label.setText("0:06 in all")
    pane.side.show_summary({"model": "mnist_fast", "functional": False, "totals": (56714, 56714, 0),
                            "rows": [("conv2d", "Conv2D", "(None, 26, 26, 32)", 320),
                                     ("max_pooling2d", "MaxPooling2D", "(None, 13, 13, 32)", 0),
                                     ("dense", "Dense", "(None, 10)", 54090)]})
    if task is not None:
        pane.side.start_task_view(task, 3)
    pane.set_presentation_mode(True)
    window.resize(1280, 720)
    QApplication.processEvents()
    qtbot.wait(50)
    QApplication.processEvents()
    return pane


def test_training_pane_fits_1280x720_its_status_words_wrap_apart(window, qtbot):
    from PySide6.QtCore import QRect

    pane = _training_at_1280x720(window, qtbot)
    assert window.width() <= 1280, window.width()
    m = pane.monitor
    rows = m.info_flow.rows()
    shown = [w for row in rows for w in row]
    assert m.replicas_label in shown and m.speed_label in shown and m.smoothing_spin.parentWidget() in shown
    for w in shown:  # each item whole, inside the column
        assert w.width() >= w.sizeHint().width(), w
        assert w.geometry().right() <= m.info_row.width(), w
        assert m.info_row.height() >= w.geometry().bottom()
    for row in rows:  # "16 per step", a gap, then "Smoothing": words never touch
        for a, b in zip(row, row[1:]):
            assert b.geometry().left() - a.geometry().right() >= 8, (a, b)
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            assert not QRect(a.geometry()).intersects(b.geometry()), (a, b)
    # a wide window has them in one row again
    window.ctx.set_presentation(False)
    window.resize(1900, 900)
    QApplication.processEvents()
    assert len(m.info_flow.rows()) == 1, m.info_flow.rows()


def test_training_settings_at_1280x720_wrap_and_show_short_choices_never_scroll_sideways(window, qtbot):
    from PySide6.QtWidgets import QLabel

    from cnnviz.gui.panes.base import ChoiceCombo

    pane = _training_at_1280x720(window, qtbot)
    s = pane.settings
    scroll = s._scroll
    assert not scroll.horizontalScrollBar().isVisible()
    assert s.settings_box.width() <= scroll.viewport().width()
    assert s.settings_box.width() >= s.settings_box.minimumSizeHint().width()
    for label in s.settings_box.findChildren(QLabel):
        if label.isVisible() and label.wordWrap() and label.text():
            assert label.width() <= scroll.viewport().width(), label.text()
            assert label.height() >= label.heightForWidth(label.width()), label.text()
    for combo in (s.model_combo, s.dataset_combo, s.optimizer_combo, s.strategy_combo):
        assert isinstance(combo, ChoiceCombo)
        for i in range(combo.count()):
            combo.setCurrentIndex(i)
            text = combo.shown_text()
            assert combo.fontMetrics().horizontalAdvance(text) <= _text_space(combo), (text, _text_space(combo))
            assert combo.currentText().startswith(text)
    s.model_combo.setCurrentIndex(s.model_combo.findData("mnist_fast"))
    assert s.model_combo.shown_text() == "Fast MNIST CNN", s.model_combo.shown_text()


def test_training_side_column_at_1280x720_shows_every_tab_and_the_whole_summary(window, qtbot):
    pane = _training_at_1280x720(window, qtbot, task="segmentation")
    assert window.width() <= 1280, window.width()
    side = pane.side
    assert side.width() > 0 and side.task_tab_title() == "Masks"
    # the curves keep the room (the settings fold away on a projector while masks are shown)
    assert pane.monitor.width() >= 600 > pane.settings.width(), (pane.monitor.width(), pane.settings.width())
    bar = side.tabBar()
    for i in range(side.count()):  # every tab in sight, its name whole
        rect = bar.tabRect(i)
        assert rect.right() <= bar.width(), (bar.tabText(i), rect, bar.width())
        assert rect.width() >= bar.fontMetrics().horizontalAdvance(bar.tabText(i)), bar.tabText(i)
    side.setCurrentIndex(0)
    QApplication.processEvents()
    table = side.summary_table
    header = table.horizontalHeader()
    assert header.length() <= table.viewport().width(), (header.length(), table.viewport().width())
    assert not table.horizontalScrollBar().isVisible()
    for c, label in enumerate(("Layer (type)", "Output shape", "Param #")):  # on two lines if need be
        shown = table.horizontalHeaderItem(c).text()
        assert shown.replace("\n", " ") == label
        for line in shown.split("\n"):
            assert header.sectionSize(c) >= header.fontMetrics().horizontalAdvance(line), line
    metrics = table.fontMetrics()
    for r in range(table.rowCount()):  # every cell whole: wrapped at its spaces, not cut
        for c in range(3):
            text = table.item(r, c).text()
            words_in = text.split(" ")
            assert all(metrics.horizontalAdvance(w) <= header.sectionSize(c) for w in words_in), text
            lines = 1 if metrics.horizontalAdvance(text) <= header.sectionSize(c) - 8 else len(words_in)
            assert table.rowHeight(r) >= min(lines, 2) * metrics.height(), (text, table.rowHeight(r))
