"""Opening the window builds what is on the screen: the parts of hidden tabs and panels (explained
units, output pages, the compare tab, the Gradients tab, the Siamese map and triplet tabs) are
built when they are first shown or asked for, and a hidden pane computes nothing until it is shown."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnviz import paths


def test_a_widget_built_when_shown_builds_once_shows_its_parts_and_gives_them_when_asked(qtbot):
    from cnnviz.gui.panes.base import BuiltWhenShown

    class Panel(BuiltWhenShown, QWidget):
        builds = 0

        def _build(self) -> None:
            type(self).builds += 1
            layout = QVBoxLayout(self)
            self.label = QLabel("built")
            layout.addWidget(self.label)
            self.hidden_label = QLabel("hidden")
            self.hidden_label.setVisible(False)
            layout.addWidget(self.hidden_label)

    shown = Panel()
    qtbot.addWidget(shown)
    assert not shown.is_built and Panel.builds == 0
    shown.show()
    qtbot.waitExposed(shown)
    assert shown.is_built and Panel.builds == 1
    # on the screen with the widget at once (not a turn of the event loop later)
    assert shown.label.isVisible() and not shown.hidden_label.isVisible()
    shown.hide()
    shown.show()
    assert Panel.builds == 1

    asked = Panel()
    qtbot.addWidget(asked)
    assert asked.label.text() == "built" and asked.is_built and Panel.builds == 2
    found = Panel()
    qtbot.addWidget(found)
    assert [lab.text() for lab in found.findChildren(QLabel)] == ["built", "hidden"]
    assert found.findChild(QLabel) is found.label
    with pytest.raises(AttributeError, match="no_such_part"):
        asked.no_such_part  # noqa: B018 (the lookup is the test)
    with pytest.raises(AttributeError):
        Panel().no_such_part  # noqa: B018 (not built yet: still no such part)


def test_the_window_opens_without_the_hidden_explain_output_and_gradient_parts(window, qtbot):
    activations = window.panes["activations"]
    network = next(activations.views.widget(i) for i in range(activations.views.count())
                   if activations.views.tabText(i) == "Network")
    assert not activations.maps_page.explain.is_built and not network.explain.is_built
    assert not activations.compare_page.is_built
    assert activations.output_view._built_pages == set()
    functions, matching = window.panes["functions"], window.panes["matching"]
    assert not functions.is_built and not matching.is_built  # whole panes not yet shown
    assert not window.panes["training"].is_built
    gradients = window.panes["training"].side_tabs.gradients  # builds the pane, not its hidden tab
    assert window.panes["training"].is_built and not gradients.is_built
    siamese = window.panes["siamese"]
    assert not siamese.map_page.is_built and not siamese.triplet_page.is_built
    assert len(siamese.triplet_pickers) == 3  # the chosen inputs are there from the start

    # asking for a part builds it: a session, a screenshot or a test finds it in place
    assert [label.text() for label in activations.compare_labels] == ["", ""]
    assert activations.compare_page.is_built
    assert siamese.triplet_label.text() == "" and siamese.triplet_page.is_built
    explain = activations.maps_page.explain
    assert explain.title_label.text() == explain.state.title() != ""
    assert explain.is_built


def test_closing_the_window_builds_no_pane_that_was_never_shown(window, qtbot):
    functions, matching = window.panes["functions"], window.panes["matching"]
    window.close()
    qtbot.waitUntil(lambda: window._close_ready, timeout=10_000)
    assert not window.isVisible()
    assert not functions.is_built and not matching.is_built


def test_a_pane_built_when_first_shown_shows_the_state_it_was_given_meanwhile(window, qtbot):
    functions, matching = window.panes["functions"], window.panes["matching"]
    functions.state.update(function="tanh", x=1.5)
    matching.state.update(method="ncc", top_n=5, scale=1.5)
    window.ctx.set_presentation(True)
    window.ctx.set_presentation(False)
    assert not functions.is_built and not matching.is_built
    window.show_pane("functions")
    assert functions.is_built
    assert functions.function_combo.currentData() == "tanh" and functions.x_spin.value() == 1.5
    assert functions.value_label.text() == functions.state.marker_text() != ""
    window.show_pane("matching")
    assert matching.ncc_radio.isChecked() and matching.top_spin.value() == 5
    assert matching.scale_slider.value() == 30
    assert matching.result is not None and matching.result.method == "ncc"


def test_the_training_pane_built_after_its_form_changed_shows_every_field(window, tmp_path):
    training = window.panes["training"]
    form = training.form
    form.set_model("plain_deep")
    form.set_samples(320)
    form.set_epochs(4)
    form.set_seed(7)
    form.set_reduce_lr(True)
    form.set_gradient_flow(True)
    form.set_learning_rate_text("0.01")
    form.set_output_root(tmp_path / "runs")
    assert not training.is_built
    assert training.model_combo.currentData() == "plain_deep"  # asking for a widget builds them all
    assert training.is_built
    assert (training.samples_spin.value(), training.epochs_spin.value(), training.seed_spin.value()) == (320, 4, 7)
    assert training.reduce_lr_check.isChecked() and training.settings.gradient_check.isChecked()
    assert training.lr_edit.text() == "0.01" and training.output_edit.text() == str(tmp_path / "runs")
    assert training.start_button.isEnabled() and not training.stop_button.isEnabled()


def test_what_a_run_reports_before_the_gradients_tab_is_shown_is_drawn_when_it_is(qtbot):
    from cnnviz.gui.panes.training.gradients import GradientFlowView

    gradients = GradientFlowView()
    qtbot.addWidget(gradients)
    report = {"norms": [1e-5, 1e-3, 1e-2], "layers": ["a", "b", "c"], "epoch": 1, "batch": 1,
              "step": 1, "first": 1e-5, "last": 1e-2, "ratio": 1e-3}
    gradients.start_run("plain_deep")
    gradients.show_report(report)
    gradients.start_run("resnet_small")  # plain_deep's run becomes the grey curve
    gradients.show_report({**report, "norms": [1e-2, 1e-2, 1e-2]})
    assert not gradients.is_built
    gradients.show()
    qtbot.waitExposed(gradients)
    assert gradients.is_built
    assert gradients.curve_points() == ([1, 2, 3], [1e-2, 1e-2, 1e-2])
    assert gradients.earlier_points() == ([1, 2, 3], [1e-5, 1e-3, 1e-2])
    assert "resnet_small" in gradients.status.text()
    assert "1.5¹⁰⁰ ≈ 4.07e17" in gradients.caption.text()
    assert [label.text for _, label in gradients.legend.items] == [
        "plain_deep (previous run)", "resnet_small (this run)"]


def test_an_output_page_is_built_for_the_first_model_of_its_kind(qtbot):
    from cnnviz.gui.panes.activations.output_view import OutputView

    view = OutputView()
    qtbot.addWidget(view)
    view.set_text_scale(1.5)  # a projector, before any page exists
    assert view._built_pages == set()
    chart = view.values_chart  # asked for: its page is built, at the projector's size
    assert view._built_pages == {"values"} and chart._text_scale == pytest.approx(1.5)
    assert view.image_views[0]._title.opts["size"] == "15pt"
    assert view._built_pages == {"values", "image"}
    assert view.stack.count() == 4 and view.stack.currentIndex() == 0


def test_a_hidden_matching_pane_computes_its_scores_when_shown(window, qtbot):
    pane = window.panes["matching"]
    qtbot.wait(50)  # the window's first turns of the event loop
    assert window.current_pane() is not pane
    assert pane.result is None and not pane.is_busy()
    window.show_pane("matching")
    # computed before the pane is first drawn, with the image fitted to its view as laid out
    assert pane.result is not None and pane.score_view.image_data() is not None
    (x0, x1), _ = pane.image_view.view_box.viewRange()
    width = window.ctx.image.shape[1]
    assert x0 == pytest.approx(-0.01 * width, abs=1.0) and x1 == pytest.approx(1.01 * width, abs=1.0)

    window.show_pane("kernels")
    window.ctx.open_image(paths.sample_image("sudoku"))
    first = pane.result
    qtbot.wait(50)
    assert pane.result is first  # hidden: nothing computed for the new image
    pane.flush()  # a session or a screenshot asks for it now
    assert pane.result is not first and pane.result.image_shape == window.ctx.image.shape[:2]
