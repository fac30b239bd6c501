"""Click to explain and the network overview, driven as a person uses them: click a cell of a
feature map and read how it was computed (the sum and result equal the map's value there), walk
with ←/→, open the window in the stepper, hover the overview's maps for their receptive field,
page through a model of 500 layers — and the bad inputs that reach the window: a weights-only
file, a layer without spatial output, a window entirely in the padding."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnviz import paths
from cnnviz.state.stepper.matrices import fmt

LEFT = Qt.MouseButton.LeftButton
FIXTURES = paths.resources_dir().parent / "tests" / "fixtures" / "models"
TIMEOUT = 60_000


def wait_idle(qtbot, pane) -> None:
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT)


@pytest.fixture
def pane(open_activations):
    return open_activations()


def click_layer(qtbot, pane, name: str) -> None:
    table = pane.layer_table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == name)
    qtbot.mouseClick(table.viewport(), LEFT, pos=table.visualItemRect(table.item(row, 0)).center())
    wait_idle(qtbot, pane)


def explained(qtbot, view):
    qtbot.waitUntil(lambda: view.state.explanation is not None and not view.state.pending, timeout=TIMEOUT)
    return view.state.explanation


def network_tab(qtbot, pane):
    """Click the Network tab and wait for its overview."""
    bar = pane.views.tabBar()
    i = next(i for i in range(pane.views.count()) if pane.views.tabText(i) == "Network")
    qtbot.mouseClick(bar, LEFT, pos=bar.tabRect(i).center())
    page = pane.views.widget(i)
    assert pane.views.currentWidget() is page
    qtbot.waitUntil(lambda: page.state.result is not None and not page.is_busy(), timeout=TIMEOUT)
    return page


def open_and_wait(qtbot, pane, path) -> None:
    pane.ctx.open_model(str(path))
    qtbot.waitUntil(lambda: pane.info is not None and pane.info.path == str(path), timeout=TIMEOUT)
    wait_idle(qtbot, pane)


def save_model(tmp_path, name, build):
    from cnnviz.ml.backend import keras as get_keras

    path = tmp_path / name
    build(get_keras()).save(path)
    return path


# ---------------------------------------------------------------------------- the maps grid


def test_clicking_a_map_cell_shows_its_computation_and_arrows_walk(window, pane, qtbot):
    click_layer(qtbot, pane, "conv2d_1")
    grid, view = pane.grid, pane.maps_page.explain
    assert not view.isVisible()
    qtbot.mouseClick(grid, LEFT, pos=grid.cell_center(3, 4, 5))
    e = explained(qtbot, view)
    assert view.isVisible() and e.kind == "conv" and tuple(e.index) == (4, 5, 3)
    wait_idle(qtbot, pane)
    value = float(pane.grid.maps()[3][4, 5])
    # the shown result is the map's value at that cell, and the sum + bias is what went in
    assert e.value == pytest.approx(value, rel=1e-4, abs=1e-6)
    lines = view.result_label.text().split("<br>")
    assert lines[-1] == f"Result = {fmt(value)}"
    s = float((np.asarray(e.window, np.float64) * np.asarray(e.weights, np.float64)).sum())
    assert lines[0] == f"Σ window × kernel = {fmt(s)}"
    assert s + e.bias == pytest.approx(e.pre_activation, rel=1e-4, abs=1e-6)
    assert view.title_label.text() == "conv2d_1 (Conv2D) — map #3, cell (row 4, column 5)"
    # sixteen input channels, two drawn at once with their kernel slices
    assert view.channel_label.text().startswith("Input channels 0–1 of 16, from max_pooling2d")
    np.testing.assert_allclose(view.window_views[0].values(), np.asarray(e.window)[:, :, 0], rtol=1e-6)
    np.testing.assert_allclose(view.kernel_views[1].values(), np.asarray(e.weights)[:, :, 1], rtol=1e-6)
    qtbot.mouseClick(view.channel_next, LEFT)
    assert view.channel_label.text().startswith("Input channels 2–3 of 16")
    # → walks to the next cell of the same map; ← back
    qtbot.mouseClick(view.right_button, LEFT)
    e2 = explained(qtbot, view)
    assert tuple(e2.index) == (4, 6, 3)
    assert e2.value == pytest.approx(float(pane.grid.maps()[3][4, 6]), rel=1e-4, abs=1e-6)
    # ← from the maps grid, where the cell was clicked
    pane.grid.setFocus()
    qtbot.keyClick(pane.grid, Qt.Key.Key_Left)
    assert tuple(explained(qtbot, view).index) == (4, 5, 3)
    # the receptive field of the unit is drawn on the input with its size
    assert view.field_view.title() == "Receptive field 8×8 px"
    assert view.field_rect() is not None and view.field_rect()[2:] == (8.0, 8.0)
    assert "8×8 pixels of the input" in view.field_label.text()


def test_open_in_the_stepper_loads_the_window_and_kernel(window, pane, qtbot):
    grid, view = pane.grid, pane.maps_page.explain
    assert pane.result.layer == "conv2d"
    qtbot.mouseClick(grid, LEFT, pos=grid.cell_center(2, 10, 12))
    e = explained(qtbot, view)
    assert view.stepper_button.isEnabled()
    qtbot.mouseClick(view.stepper_button, LEFT)
    stepper = window.panes["stepper"]
    assert window.tabs.currentWidget() is stepper
    st = stepper.state
    np.testing.assert_allclose(st.image, np.asarray(e.window)[:, :, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st.kernel, np.asarray(e.weights)[:, :, 0], rtol=1e-5, atol=1e-6)
    assert st.settings.activation == "relu" and st.settings.bias == pytest.approx(e.bias, rel=1e-5)
    # the stepper computes the same number as the model
    assert st.output()[0, 0] == pytest.approx(float(pane.grid.maps()[2][10, 12]), rel=1e-4, abs=1e-5)
    # another image: the unit shown is explained again for it
    window.show_pane("activations")
    window.ctx.open_image(paths.sample_image("digit_7"))
    wait_idle(qtbot, pane)
    qtbot.waitUntil(lambda: not view.state.pending and view.state.explanation is not e, timeout=TIMEOUT)
    e7 = view.state.explanation
    assert tuple(e7.index) == (10, 12, 2)
    assert e7.value == pytest.approx(float(pane.grid.maps()[2][10, 12]), rel=1e-4, abs=1e-6)
    assert not np.allclose(e7.window, e.window)


def test_a_dense_unit_is_a_bar_chart_of_its_largest_contributions(window, pane, qtbot):
    click_layer(qtbot, pane, "dense_1")
    assert pane.maps_stack.currentWidget() is pane.vector_chart
    view = pane.maps_page.explain
    chart = pane.vector_chart
    vb = chart.getPlotItem().getViewBox()
    scene = vb.mapViewToScene(vb.mapFromView(vb.viewRect().center()).__class__(5.0, 0.0))
    qtbot.mouseClick(chart.viewport(), LEFT, pos=chart.mapFromScene(scene))
    e = explained(qtbot, view)
    assert e.kind == "dense" and tuple(e.index) == (5,)
    assert view.stack.currentWidget() is view.bar_chart
    labels = view.bar_chart.labels()
    assert len(labels) == 11 and labels[-1] == "54 others"
    assert view.bar_chart.values().sum() == pytest.approx(e.pre_activation - e.bias, rel=1e-3, abs=1e-4)
    assert view.field_label.text() == "This unit sees the whole input."
    assert not view.stepper_button.isEnabled()


def test_a_max_pooling_unit_rings_its_winner(window, pane, qtbot):
    click_layer(qtbot, pane, "max_pooling2d")
    view = pane.maps_page.explain
    qtbot.mouseClick(pane.grid, LEFT, pos=pane.grid.cell_center(1, 6, 6))
    e = explained(qtbot, view)
    wait_idle(qtbot, pane)
    assert e.kind == "pool_max" and e.value == pytest.approx(float(pane.grid.maps()[1][6, 6]), rel=1e-5)
    w = np.asarray(e.window)
    assert view.result_label.text().split("<br>")[0] == f"max of the {w.size} window values = {fmt(w.max())}"
    rings = [h for h in view.window_views[0].highlights() if h.ring]
    assert [tuple(c) for c in rings[0].cells] == [tuple(int(i) for i in e.winner[:2])]
    assert not view.kernel_views[0].isVisible() and not view.stepper_button.isEnabled()


# ---------------------------------------------------------------------------- the overview


def test_the_overview_shows_every_layer_and_hover_shows_a_receptive_field(window, pane, qtbot):
    page = network_tab(qtbot, pane)
    names = [r.name for r in pane.info.layers]
    canvas = page.canvas
    assert canvas.column_names() == names
    assert canvas.captions()[0] == ["Conv2D", "26×26×16", "RF 3×3 px"]
    assert canvas.captions()[2] == ["Conv2D", "11×11×32", "RF 8×8 px"]
    assert canvas.captions()[-1] == ["Dense", "10", "RF all"]
    assert canvas.more_texts()[:3] == ["+8 more", "+8 more", "+24 more"]
    assert page.state.result.from_cache  # the pass the Feature maps tab computed, not run again
    # hover a cell of conv2d_1's map #2: its 8×8 field is drawn on the input
    qtbot.mouseMove(canvas, canvas.cell_point("conv2d_1", 2, 4, 5))
    qtbot.waitUntil(lambda: canvas.field() is not None, timeout=5000)
    assert canvas.field() == (8.0, 10.0, 8.0, 8.0)
    assert "receptive field 8×8 px" in page.hint_label.text()
    # click it: explained under the overview
    qtbot.mouseClick(canvas, LEFT, pos=canvas.cell_point("conv2d_1", 2, 4, 5))
    e = explained(qtbot, page.explain)
    assert tuple(e.index) == (4, 5, 2) and e.layer == "conv2d_1"
    # a unit of a layer with no spatial output: a Dense explanation, not a window
    qtbot.mouseClick(canvas, LEFT, pos=canvas.cell_point("dense", -1, 3, 0))
    e = explained(qtbot, page.explain)
    assert e.kind == "dense" and tuple(e.index) == (3,)
    assert page.explain.stack.currentWidget() is page.explain.bar_chart
    # "+8 more" opens the layer in the Feature maps tab, where every map is paged
    qtbot.mouseClick(canvas, LEFT, pos=canvas.more_point("conv2d"))
    wait_idle(qtbot, pane)
    assert pane.views.currentWidget() is pane.maps_page and pane.result.layer == "conv2d"


def test_a_model_of_500_layers_is_paged(window, pane, qtbot, tmp_path):
    def build(keras):
        inp = keras.Input((8, 8, 1))
        x = inp
        for i in range(500):
            x = keras.layers.Activation("linear", name=f"a{i}")(x)
        return keras.Model(inp, x)

    open_and_wait(qtbot, pane, save_model(tmp_path, "deep.keras", build))
    page = network_tab(qtbot, pane)
    n = page.state.layers_per_page  # as many as fit the view's width, at most 10
    pages = -(-500 // n)
    assert 2 <= n <= 10
    assert page.state.page_text() == f"layers 1–{n} of 500 · page 1/{pages}"
    assert page.canvas.column_names() == [f"a{i}" for i in range(n)]
    assert page.next_button.isVisible() and not page.prev_button.isEnabled()
    qtbot.mouseClick(page.next_button, LEFT)
    assert page.canvas.column_names() == [f"a{i}" for i in range(n, 2 * n)]
    assert f"page 2/{pages}" in page.page_label.text() and page.prev_button.isEnabled()


# ---------------------------------------------------------------------------- bad input


def test_a_weights_only_file_says_why_nothing_can_be_explained(window, pane, qtbot):
    open_and_wait(qtbot, pane, FIXTURES / "weights_only.h5")
    bar = pane.views.tabBar()
    i = next(i for i in range(pane.views.count()) if pane.views.tabText(i) == "Network")
    qtbot.mouseClick(bar, LEFT, pos=bar.tabRect(i).center())
    page = pane.views.widget(i)
    assert page.explain.isVisible()
    assert page.explain.title_label.text() == "Explaining a unit is not available"
    assert "holds only weights" in page.explain.kind_label.text()
    assert not page.explain.stepper_button.isEnabled() and not page.explain.right_button.isEnabled()
    assert page.canvas.column_names() == [] and "could not be built" in page.state.message


def test_a_window_entirely_in_the_padding_is_said(window, pane, qtbot, tmp_path):
    # 'same' padding with a dilated 2×2 kernel on a 3×3 input: cell (0, 0) reads rows −2 and 3
    def build(keras):
        inp = keras.Input((3, 3, 1))
        out = keras.layers.Conv2D(1, 2, dilation_rate=5, padding="same", name="wide_holes")(inp)
        return keras.Model(inp, out)

    open_and_wait(qtbot, pane, save_model(tmp_path, "holes.keras", build))
    grid, view = pane.grid, pane.maps_page.explain
    qtbot.mouseClick(grid, LEFT, pos=grid.cell_center(0, 0, 0))
    e = explained(qtbot, view)
    assert np.asarray(e.padding).all()
    assert "whole window lies in the padding" in view.padding_label.text()
    assert view.padding_label.isVisible()
    assert e.value == pytest.approx(float(pane.grid.maps()[0][0, 0]), abs=1e-6)


def test_element_wise_and_transposed_units_are_explained_in_their_own_form(window, pane, qtbot, tmp_path):
    def build(keras):
        inp = keras.Input((6, 6, 1))
        x = keras.layers.Conv2D(2, 3, name="c")(inp)
        x = keras.layers.Activation("relu", name="act")(x)
        out = keras.layers.Conv2DTranspose(1, 2, strides=2, name="up")(x)
        return keras.Model(inp, out)

    open_and_wait(qtbot, pane, save_model(tmp_path, "mixed.keras", build))
    view = pane.maps_page.explain
    for layer in ("act", "up"):
        click_layer(qtbot, pane, layer)
        qtbot.mouseClick(pane.grid, LEFT, pos=pane.grid.cell_center(0, 1, 2))
        e = explained(qtbot, view)
        wait_idle(qtbot, pane)
        assert e.layer == layer and tuple(e.index) == (1, 2, 0)
        assert e.value == pytest.approx(float(pane.grid.maps()[0][1, 2]), rel=1e-4, abs=1e-6)
        assert view.result_label.text().split("<br>")[-1] == f"Result = {fmt(e.value)}"
        if e.kind == "elementwise":
            assert view.stack.currentWidget() is view.words_label and view.words_label.text()
            assert view.formula_label.isVisible() and view.formula_label.text() == e.formula
        else:
            assert e.kind == "transpose" and view.stack.currentWidget() is view.bar_chart
            assert len(view.bar_chart.labels()) == np.asarray(e.window).size
