"""The training pane, driven the way a class uses it: pick a model, press Start, watch the
curves, press Stop, continue from a checkpoint, close the window mid-run — and every bad input
ends in words on screen, never a frozen window or a lost checkpoint."""

from __future__ import annotations

import json
import math
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnviz.engine import testing as testjobs
from cnnviz.gui.widgets.loss_plot import EmaSmoother, GrowingSeries, LossPlotWidget, debiased_ema
from cnnviz.ml import datasets as data

LEFT = Qt.MouseButton.LeftButton
RUN_TIMEOUT_MS = 90_000


@pytest.fixture
def pane(window, tmp_path):
    window.show_pane("training")
    p = window.panes["training"]
    p.set_output_root(tmp_path / "runs")
    return p


def configure(pane, *, model="mnist_fast", dataset="digits", samples=256, epochs=1, batch=32) -> None:
    pane.set_model(model)
    pane.set_dataset(dataset)
    pane.samples_spin.setValue(samples)
    pane.epochs_spin.setValue(epochs)
    pane.batch_spin.setValue(batch)


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"'{button.text()}' is disabled"
    qtbot.mouseClick(button, LEFT)


def wait_finished(qtbot, pane, timeout: int = RUN_TIMEOUT_MS):
    qtbot.waitUntil(lambda: not pane.is_running(), timeout=timeout)
    assert pane.result is not None
    return pane.result


def trained_model(pane, qtbot, result):
    """Facts about the run's model, read in the engine's model store (only its id reaches the
    window)."""
    assert result.model_id is not None
    return engine_call(pane, qtbot, testjobs.stored_model_facts, result.model_id)


def engine_call(pane, qtbot, fn, *args):
    """Run a module-level job in the engine and return its answer."""
    answers = []
    pane.ctx.worker.submit(fn, *args, channel="test", on_done=answers.append, on_error=answers.append)
    qtbot.waitUntil(lambda: bool(answers), timeout=60_000)
    assert not isinstance(answers[0], str), answers[0]
    return answers[0]


def run_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


# --- the plot widget alone (no TensorFlow) ---------------------------------------------------


def test_smoothing_is_tensorboards_debiased_ema():
    ys = np.array([4.0, 2.0, np.nan, 1.0, 3.0])
    w = 0.6
    out = debiased_ema(ys, w)
    last, n, expected = 0.0, 0, []
    for y in ys:
        if not math.isfinite(y):
            expected.append(y)
            continue
        last = last * w + (1 - w) * y
        n += 1
        expected.append(last / (1 - w**n))
    np.testing.assert_allclose(out, expected)
    assert out[0] == 4.0  # debiased: starts at the first value, not near zero
    np.testing.assert_allclose(debiased_ema(np.full(50, 0.7)), 0.7)  # a constant passes through
    np.testing.assert_array_equal(debiased_ema(ys, 0.0)[[0, 1, 3, 4]], ys[[0, 1, 3, 4]])
    # Fed in pieces it gives the same curve as in one go.
    sm = EmaSmoother(w)
    np.testing.assert_allclose(np.concatenate([sm.feed(ys[:2]), sm.feed(ys[2:])]), out)


def test_growing_series_doubles_and_keeps_earlier_views():
    s = GrowingSeries(capacity=16)
    s.extend(np.arange(10), np.arange(10) * 2)
    view = s.x
    s.extend(np.arange(10, 40), np.arange(10, 40) * 2)
    assert len(s) == 40 and s.capacity == 64
    np.testing.assert_array_equal(view, np.arange(10))  # an old view is unchanged
    np.testing.assert_array_equal(s.y, np.arange(40) * 2)
    with pytest.raises(ValueError):
        s.extend([1, 2], [1])


def test_loss_plot_holds_100000_points_clipped_and_downsampled(qtbot):
    plot = LossPlotWidget("Loss per batch", "loss", "step")
    qtbot.addWidget(plot)
    plot.resize(800, 300)
    plot.show()
    qtbot.waitExposed(plot)
    plot.add_series("loss", "smoothed", "#1f77b4", smoothed=True)
    rng = np.random.default_rng(0)
    n, chunk = 100_000, 1_000
    ys = 2.0 * np.exp(-np.arange(n) / 20_000) + rng.normal(0, 0.2, n)
    for start in range(0, n, chunk):  # as training reports arrive, each followed by a redraw
        plot.extend("loss", np.arange(start, start + chunk, dtype=np.float64), ys[start:start + chunk])
        plot.flush()
    curve, smooth = plot.curve("loss"), plot.smoothed_curve("loss")
    assert len(plot.series("loss")) == n and plot.series("loss").capacity == 131_072
    assert len(curve.xData) == n and len(smooth.yData) == n  # the items hold every point ...
    np.testing.assert_allclose(smooth.yData, debiased_ema(ys))  # ... smoothed at full resolution
    for item in (curve, smooth):
        assert item.opts["clipToView"] and item.opts["autoDownsample"]
    assert curve.opts["downsampleMethod"] == "peak"  # spikes in the raw losses stay visible
    assert smooth.opts["downsampleMethod"] == "mean"
    assert plot.getPlotItem().ctrl.clipToViewCheck.isChecked()
    plot.grab()  # draw once at the widget's size
    shown_x, _ = curve.getData()
    assert len(shown_x) < n // 10, "auto downsampling should draw a few points per pixel"
    assert len(smooth.getData()[0]) < n // 50
    # Zoomed into the newest tenth, only that part (plus one point each side) is drawn.
    plot.getPlotItem().setXRange(90_000, 100_000, padding=0)
    plot.grab()
    shown_x, _ = curve.getData()
    assert shown_x.min() >= 89_000


def test_non_finite_points_are_not_drawn(qtbot):
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    plot.add_series("loss", "train", "#1f77b4", symbol="o")
    plot.extend("loss", [1, 2, 3, 4], [0.5, np.nan, np.inf, 0.25])
    plot.flush()
    np.testing.assert_array_equal(plot.curve("loss").yData, [0.5, 0.25])


# --- the pane ------------------------------------------------------------------------------


def test_the_plot_legends_sit_outside_the_plot_area(qtbot):
    from cnnviz.gui.panes.training.monitor import RunMonitor
    from cnnviz.state.training import RunProgress

    monitor = RunMonitor(RunProgress(), 3)
    qtbot.addWidget(monitor)
    monitor.resize(700, 600)
    monitor.show()
    monitor.show_epoch({"epoch": 1, "epochs": 3, "loss": 1.0, "val_loss": 0.9,
                        "metrics": {"accuracy": 0.5, "val_accuracy": 0.6}})
    qtbot.wait(100)
    for plot in (monitor.batch_plot, monitor.loss_plot, monitor.metric_plot):
        legend, view = plot.legend, plot.getPlotItem().getViewBox()
        assert legend.isVisible() and legend.items
        area = view.mapRectToScene(view.boundingRect())
        box = legend.mapRectToScene(legend.boundingRect())
        assert not area.intersects(box), (plot, area, box)
        assert plot.sceneRect().contains(box)  # and not cut off


def test_a_legend_goes_beside_the_title_when_both_fit_else_under_the_axis(qtbot):
    """On a projector's 720 lines the legend strips under the axes took ~60 px of each plot's
    height: a legend that fits beside its title goes there, without covering the title or the
    curves; a narrow plot keeps it under the axis."""
    from cnnviz.gui.panes.training.monitor import RunMonitor
    from cnnviz.state.training import RunProgress

    monitor = RunMonitor(RunProgress(), 3)
    qtbot.addWidget(monitor)
    monitor.show_epoch({"epoch": 1, "epochs": 3, "loss": 1.0, "val_loss": 0.9,
                        "metrics": {"accuracy": 0.5, "val_accuracy": 0.6}})
    plots = monitor.plots()
    monitor.resize(1000, 600)
    monitor.show()
    qtbot.waitUntil(lambda: all(p.legend_place() == "title" for p in plots))

    def check(plot) -> None:
        item = plot.getPlotItem()
        legend = plot.legend.mapRectToScene(plot.legend.boundingRect())
        title = item.titleLabel.item
        text = title.mapRectToScene(title.boundingRect())
        area = item.vb.mapRectToScene(item.vb.boundingRect())
        assert not legend.intersects(area) and plot.sceneRect().contains(legend), plot.title()
        assert not legend.intersects(text), (plot.title(), legend, text)

    for plot in plots:
        check(plot)
        assert plot._legend_strip.maximumHeight() == 0  # no strip left under the axis
    area_beside = monitor.batch_plot.getPlotItem().vb.height()
    # a projector: large text in a small window
    for plot in plots:
        plot.set_presentation_mode(True)
    monitor.resize(860, 560)
    qtbot.waitUntil(lambda: [p.legend_place() for p in plots] == ["title", "below", "below"])
    for plot in plots:
        check(plot)
    for plot in plots[1:]:
        strip = plot._legend_strip
        assert strip.maximumHeight() > 0
        assert strip.mapRectToScene(strip.boundingRect()).contains(plot.legend.mapRectToScene(plot.legend.boundingRect()))
    # the per-batch plot keeps most of its area: the legend strip would have taken ~60 px
    assert monitor.batch_plot.getPlotItem().vb.height() > 120 and area_beside > 120


def test_summary_table_is_built_off_the_gui_thread_like_listing_2_2(window, qtbot):
    # Checked right after the pane is first shown, before any event is processed: the table is
    # built on the worker, so the window is up meanwhile (a fixture would let pytest-qt process
    # events, and with TensorFlow already imported the summary could land before the check).
    pane = window.panes["training"]
    window.show_pane("training")
    assert pane.summary_title.text() == "Loading TensorFlow…"
    assert pane.summary_table.rowCount() == 0
    pane.set_model("mnist_cnn")
    qtbot.waitUntil(lambda: pane.summary_table.rowCount() == 5, timeout=60_000)
    # Layer names carry Keras's session-wide counters (conv2d, conv2d_1, …): compare the rest.
    rows = [(re.sub(r"^\w+? \(", "(", layer), shape, params) for layer, shape, params in pane.summary_rows()]
    assert rows == [
        ("(Conv2D)", "(None, 26, 26, 32)", "320"),
        ("(Conv2D)", "(None, 24, 24, 64)", "18,496"),
        ("(Flatten)", "(None, 36864)", "0"),
        ("(Dense)", "(None, 128)", "4,718,720"),
        ("(Dense)", "(None, 10)", "1,290"),
    ]
    assert "4,738,826" in pane.totals_label.text() and "as in the book" in pane.totals_label.text()
    assert pane.device_label.text().startswith("Device: ") and pane.device
    pane.set_model("small_cnn")
    assert pane.functional_check.isVisible()
    pane.functional_check.setChecked(True)
    qtbot.waitUntil(lambda: "(functional)" in pane.summary_title.text(), timeout=30_000)
    assert pane.summary_rows()[0][0].startswith("input_layer")  # functional models list the input
    assert "5,733" in pane.totals_label.text()


def test_training_from_the_pane_shows_live_curves_and_hands_over_the_model(pane, window, qtbot, tmp_path):
    configure(pane, samples=512, epochs=2, batch=16)
    click(qtbot, pane.start_button)
    assert not pane.start_button.isEnabled() and pane.stop_button.isEnabled()
    assert not pane.settings_box.isEnabled()
    curve = pane.batch_plot.curve("loss")
    qtbot.waitUntil(lambda: curve.xData is not None and len(curve.xData) > 0, timeout=RUN_TIMEOUT_MS)
    assert pane.progress.maximum() > 1 and pane.progress.format().startswith("Epoch 1/2")
    result = wait_finished(qtbot, pane)
    assert result.status == "finished", result.message
    # A finished run has drawn every epoch at once (a screenshot taken now shows them all).
    for plot, key in ((pane.loss_plot, "loss"), (pane.metric_plot, "accuracy")):
        assert plot.curve(key).xData is not None and len(plot.curve(key).xData) == 2

    # Every batch arrived, though reports were sent at most ~20 times a second.
    steps = pane._last_info["steps"]
    assert len(pane.batch_plot.series("loss")) == steps == 2 * pane._last_info["batches"]
    x = pane.batch_plot.series("loss").x
    assert np.all(np.diff(x) > 0) and x[-1] == pytest.approx(2.0)  # x in epochs
    np.testing.assert_allclose(pane.batch_plot.smoothed("loss").y,
                               debiased_ema(pane.batch_plot.series("loss").y))
    pane.smoothing_spin.setValue(0.9)  # TensorBoard's slider: recomputed from every batch
    qtbot.waitUntil(lambda: pane.batch_plot.smoothing == pytest.approx(0.9), timeout=2000)
    np.testing.assert_allclose(pane.batch_plot.smoothed_curve("loss").yData,
                               debiased_ema(pane.batch_plot.series("loss").y, 0.9))
    # The per-epoch plots (Figures 2.19, 2.20) have one point per epoch, as in history.
    np.testing.assert_allclose(pane.loss_plot.series("loss").y, result.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(pane.loss_plot.series("val_loss").y, result.history["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(pane.metric_plot.series("accuracy").y, result.history["accuracy"], rtol=1e-6)
    np.testing.assert_allclose(pane.metric_plot.series("val_accuracy").y, result.history["val_accuracy"], rtol=1e-6)
    assert pane.progress.value() == pane.progress.maximum()
    assert "CPU" in pane.device_label.text() or "GPU" in pane.device_label.text() or result.device in pane.device_label.text()
    assert "samples/s" in pane.speed_label.text()

    # The run folder, shown with a button to open it.
    run_dir = result.run_dir
    assert run_folders(tmp_path / "runs") == [run_dir]
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"epoch-01.keras", "epoch-02.keras"}
    assert (run_dir / "log.csv").is_file() and (run_dir / "final.keras").is_file()
    assert run_dir.name in pane.run_dir_label.text() and pane.open_folder_button.isEnabled()
    assert pane.outcome_text().startswith("Finished 2 epoch(s).")
    assert pane.start_button.isEnabled() and not pane.stop_button.isEnabled()

    # Inspect hands the model (its id in the worker's store) to the activations pane.
    model = trained_model(pane, qtbot, result)
    with qtbot.waitSignal(window.ctx.model_offered, timeout=5000) as signal:
        click(qtbot, pane.inspect_button)
    model_id, name, saved = signal.args
    assert model_id == result.model_id
    assert engine_call(pane, qtbot, testjobs.stored_model_facts, model_id)["identity"] == model["identity"]
    assert saved == str(run_dir / "final.keras")
    assert "mnist_fast" in name and run_dir.name in name
    if "activations" in window.panes:
        activations = window.panes["activations"]
        assert window.current_pane() is activations
        # Let it finish taking the model in before the window closes.
        qtbot.waitUntil(lambda: not activations.is_busy() and not window.ctx.worker.is_busy(),
                        timeout=60_000)


def test_stop_in_the_first_batch_keeps_the_model(pane, qtbot, tmp_path):
    configure(pane, samples=2048, epochs=3, batch=8)
    click(qtbot, pane.start_button)
    qtbot.waitUntil(lambda: pane._batches_seen >= 1, timeout=RUN_TIMEOUT_MS)
    click(qtbot, pane.stop_button)
    assert not pane.stop_button.isEnabled()
    assert "stopping after this batch" in pane.progress.format()
    result = wait_finished(qtbot, pane)
    assert result.status == "stopped", result.message
    epoch, batch = json.loads((result.run_dir / "run.json").read_text())["stopped_at"]
    assert epoch == 1 and batch < pane._last_info["batches"]
    assert pane.outcome_text().startswith("Stopped at epoch 1 batch")
    assert result.final_path.is_file()
    # The epoch cut short is saved under its own name, so continuing trains it again.
    assert (result.run_dir / "checkpoints" / "epoch-01-partial.keras").is_file()
    assert not (result.run_dir / "checkpoints" / "epoch-01.keras").exists()
    assert trained_model(pane, qtbot, result)["weights_finite"]
    assert pane.start_button.isEnabled() and pane.inspect_button.isEnabled()

    # Stop pressed at once, before the first batch: an untrained model, said so.
    click(qtbot, pane.start_button)
    click(qtbot, pane.stop_button)
    result = wait_finished(qtbot, pane)
    assert result.status == "stopped" and "before the first batch" in pane.outcome_text()
    assert pane.batch_plot.series("loss").x.size == 0
    assert pane.start_button.isEnabled()


def test_continue_goes_on_in_the_same_run_and_an_earlier_checkpoint_starts_a_new_one(pane, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    configure(pane, samples=256, epochs=2, batch=32)
    click(qtbot, pane.start_button)
    first = wait_finished(qtbot, pane)
    assert first.status == "finished", first.message
    batches = len(pane.batch_plot.series("loss"))
    end = first.run_dir / "checkpoints" / "epoch-02.keras"
    pane.epochs_spin.setValue(1)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(end), ""))
    click(qtbot, pane.continue_button)
    assert "Continuing the run" in pane.log_text()
    again = wait_finished(qtbot, pane)
    assert again.status == "finished", again.message
    # The same run goes on: one folder, epochs 1-3 on the curves and in its files.
    assert again.run_dir == first.run_dir and run_folders(tmp_path / "runs") == [first.run_dir]
    assert list(pane.loss_plot.series("loss").x) == [1, 2, 3]
    assert len(pane.batch_plot.series("loss")) == batches * 3 // 2
    info = json.loads((first.run_dir / "run.json").read_text())
    assert info["epochs_completed"] == 3 and len(info["history"]["loss"]) == 3
    assert len((first.run_dir / "log.csv").read_text().strip().splitlines()) == 1 + 3

    # From an earlier checkpoint: a new run, said so, the earlier run's curves in grey.
    earlier = first.run_dir / "checkpoints" / "epoch-01.keras"
    assert pane.continue_from(earlier)
    assert "starts a new run" in pane.log_text()
    third = wait_finished(qtbot, pane)
    assert third.status == "finished" and third.run_dir != first.run_dir
    assert len(run_folders(tmp_path / "runs")) == 2
    assert list(pane.loss_plot.series("loss").x) == [2]
    assert list(pane.loss_plot.series("earlier:loss").x) == [1, 2, 3]
    assert "earlier:accuracy" in list(pane.metric_plot.keys())
    # A fresh start shows no earlier curves.
    pane.epochs_spin.setValue(1)
    assert pane.start()
    shown = [list(p.keys()) for p in pane.monitor.plots()]
    assert not [k for keys in shown for k in keys if k.startswith("earlier:")]
    assert wait_finished(qtbot, pane).status == "finished"


def test_gradient_flow_of_plain_deep_then_resnet_small_side_by_side(pane, qtbot):
    view = pane.side_tabs.gradients
    assert "1.5¹⁰⁰ ≈ 4.07e17" in view.caption.text() and "0.8¹⁰⁰ ≈ 2.04e-10" in view.caption.text()
    # three batches: a measurement after each (every layer's norm is what is drawn)
    configure(pane, model="plain_deep", samples=96, epochs=1, batch=32)
    pane.settings.gradient_check.setChecked(True)
    assert pane.form.gradient_flow
    click(qtbot, pane.start_button)
    assert pane.side_tabs.currentWidget() is view
    assert wait_finished(qtbot, pane).status == "finished"
    x, y = view.curve_points()
    assert len(x) == len(view.latest["layers"]) > 5 and all(v > 0 for v in y)
    assert "plain_deep, epoch 1" in view.status.text()
    plain = list(y)

    configure(pane, model="resnet_small", samples=96, epochs=1, batch=32)
    assert pane.settings.gradient_check.isChecked()
    click(qtbot, pane.start_button)
    assert view.earlier_points()[1] == plain  # the previous run stays, greyed
    assert wait_finished(qtbot, pane).status == "finished"
    assert view.curve_points()[1] and view.earlier_points()[1] == plain
    assert "resnet_small" in view.status.text()
    names = [label.text for _, label in view.legend.items]
    assert names == ["plain_deep (previous run)", "resnet_small (this run)"]


def test_a_second_run_cannot_start_while_one_is_running(pane, qtbot, tmp_path):
    configure(pane, samples=2048, epochs=3, batch=8)
    assert pane.start()
    qtbot.waitUntil(lambda: pane._batches_seen >= 1, timeout=RUN_TIMEOUT_MS)
    assert not pane.start_button.isEnabled() and not pane.continue_button.isEnabled()
    assert not pane.start()  # e.g. a keyboard shortcut or a second click that got through
    assert "already in progress" in pane.outcome_text()
    assert len(run_folders(tmp_path / "runs")) == 1
    pane.stop()
    assert wait_finished(qtbot, pane).status == "stopped"


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cnnviz-") and t.is_alive()]


@pytest.mark.own_engine
def test_closing_the_window_mid_epoch_joins_the_worker_and_keeps_the_checkpoint(pane, window, qtbot, qtlog, tmp_path):
    configure(pane, samples=2048, epochs=5, batch=8)
    assert pane.start()
    qtbot.waitUntil(lambda: pane._last_info is not None and pane._last_info["epoch"] >= 2,
                    timeout=RUN_TIMEOUT_MS)
    run_dir = run_folders(tmp_path / "runs")[0]
    window.close()
    assert not window.isVisible()  # gone from the screen at once
    qtbot.waitUntil(lambda: not worker_threads(), timeout=30_000)
    qtbot.waitUntil(lambda: getattr(window, "_close_ready", False))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "stopped" and info["stopped_at"][0] == 2
    from cnnviz.ml.backend import keras

    model = keras().models.load_model(run_dir / "checkpoints" / "epoch-01.keras")
    assert model.count_params() > 0 and (run_dir / "final.keras").is_file()
    assert (run_dir / "checkpoints" / "epoch-02-partial.keras").is_file()
    assert not [r for r in qtlog.records if "QThread" in r.message]


@pytest.mark.own_engine
def test_closing_during_a_slow_unet_batch_waits_for_it_and_saves_the_model(pane, window, qtbot, tmp_path):
    """A U-Net batch of 16 on a CPU takes seconds: the window hides at once, the batch finishes
    and the model is saved before the program ends."""
    configure(pane, model="unet_small", dataset="segmentation", samples=64, epochs=1, batch=16)
    assert pane.start()
    qtbot.waitUntil(lambda: pane._batches_seen >= 1, timeout=RUN_TIMEOUT_MS)
    run_dir = run_folders(tmp_path / "runs")[0]
    window.close()
    assert not window.isVisible()
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    qtbot.waitUntil(lambda: not worker_threads(), timeout=60_000)
    qtbot.waitUntil(lambda: getattr(window, "_close_ready", False))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "stopped", info.get("message")
    from cnnviz.ml import layers  # noqa: F401 (the U-Net's metrics, registered for loading here)
    from cnnviz.ml.backend import keras

    model = keras().saving.load_model(run_dir / "final.keras")
    assert model.inputs[0].shape[1:] == (128, 128, 3)
    assert not [p.name for p in run_dir.rglob(".*")]  # no temporary file left behind


def test_closing_mid_run_asks_first_and_no_keeps_the_window_and_the_run(pane, window, qtbot, tmp_path):
    configure(pane, samples=2048, epochs=3, batch=8)
    asked = []
    window.close_prompt = lambda question: asked.append(question) or False  # the user says No
    assert pane.start()
    qtbot.waitUntil(lambda: pane._batches_seen >= 1, timeout=RUN_TIMEOUT_MS)
    assert window.close() is False
    assert asked == ["Training is running. Stop after this batch and quit?"]
    assert window.isVisible() and pane.is_running() and not window._closing
    seen = pane._batches_seen
    qtbot.waitUntil(lambda: pane._batches_seen > seen, timeout=RUN_TIMEOUT_MS)  # still training
    pane.stop()
    assert wait_finished(qtbot, pane).status == "stopped"
    # Nothing running: no question.
    asked.clear()
    window.close_prompt = lambda question: asked.append(question) or True
    window.close()
    qtbot.waitUntil(lambda: window._close_ready, timeout=30_000)
    assert asked == [] and not window.isVisible()


def test_a_run_still_going_when_the_close_wait_ends_is_marked_interrupted(pane, window, qtbot, tmp_path):
    configure(pane, model="unet_small", dataset="segmentation", samples=64, epochs=1, batch=16)
    assert pane.start()
    qtbot.waitUntil(lambda: pane._batches_seen >= 1, timeout=RUN_TIMEOUT_MS)
    run_dir = run_folders(tmp_path / "runs")[0]
    window.close_wait_s = 0.0  # the program must end now: no time for the batch in progress
    window.close()
    qtbot.waitUntil(lambda: getattr(window, "_close_ready", False))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "interrupted" and "closed before" in info["message"]
    # (In this test process the worker still ends the batch and records how the run ended.)
    assert window.ctx.shutdown(timeout=60.0)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"


def test_nan_loss_is_explained_and_the_last_good_checkpoint_kept(pane, qtbot):
    configure(pane, samples=256, epochs=1, batch=32)
    assert pane.start()
    first = wait_finished(qtbot, pane)
    assert first.status == "finished", first.message
    checkpoint = first.run_dir / "checkpoints" / "epoch-01.keras"
    before = checkpoint.read_bytes()

    pane.set_model("small_cnn")  # continuing takes the model and data from the run's run.json
    pane.lr_edit.setText("1e6")
    pane.epochs_spin.setValue(2)
    assert pane.continue_from(checkpoint)
    assert pane.model_name() == "mnist_fast" and pane.dataset_name() == "digits"
    result = wait_finished(qtbot, pane)
    assert result.status == "nan", result.message
    text = pane.outcome_text()
    assert "at epoch 2 batch" in text and "probably too high" in text and "kept" in text
    assert str(checkpoint) in text
    assert pane.progress.format() == "Stopped: the loss diverged"
    assert np.all(np.isfinite(pane.batch_plot.curve("loss").yData))
    marks = pane.batch_plot.marks()  # where it happened, on the per-batch plot
    assert len(marks) == 1 and marks[0].startswith("loss ")
    # The diverged epoch is not plotted (epoch 1 is the run's own, carried on: same run).
    assert list(pane.loss_plot.series("loss").x) == [1]
    assert checkpoint.read_bytes() == before
    assert result.last_good_checkpoint == checkpoint
    assert pane.inspect_button.isEnabled()  # the model was restored from that checkpoint


def write_class(folder: Path, kind: str, n: int) -> None:
    folder.mkdir(parents=True)
    for i in range(n):
        canvas = np.zeros((40, 40), np.float32)
        data.draw_shape(canvas, kind, (20 + i % 5 - 2, 20), 10 + i % 4, 0.3 * i, 255)
        cv2.imwrite(str(folder / f"{i}.png"), canvas.astype(np.uint8))


def test_image_folder_with_one_class_or_unreadable_files(pane, qtbot, tmp_path):
    images = tmp_path / "images"
    write_class(images / "circles", "circle", 10)
    (images / "circles" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a JPEG at all")
    configure(pane, samples=0, epochs=1, batch=8)
    pane.set_folder(images)
    assert pane.folder_widget.isVisible()
    assert pane.start()
    result = wait_finished(qtbot, pane)
    assert result.status == "failed"
    assert "at least two classes" in pane.outcome_text() and "circles" in pane.outcome_text()
    assert pane.start_button.isEnabled()

    write_class(images / "squares", "square", 10)
    assert pane.start()
    result = wait_finished(qtbot, pane)
    assert result.status == "finished", result.message
    assert "Skipped 1 file(s)" in pane.log_text() and "broken.jpg" in pane.log_text()
    assert trained_model(pane, qtbot, result)["output_shape"][-1] == 2

    assert pane.start_button.isEnabled()
    pane.set_folder(tmp_path / "no-such-folder")
    assert pane.start()
    assert wait_finished(qtbot, pane).status == "failed"
    assert "is not a folder" in pane.outcome_text()


def test_a_batch_too_large_for_memory_is_a_message(pane, window, qtbot):
    from cnnviz.ml import training

    free = training._available_memory()
    if free is None:
        pytest.skip("free memory unknown on this platform")
    sizes = []
    # in the engine, like everything that builds a model
    window.ctx.worker.submit(testjobs.unet_bytes_per_sample, channel="test", on_done=sizes.append)
    qtbot.waitUntil(lambda: bool(sizes), timeout=60_000)
    batch = int(2 * training.MEMORY_SHARE * free / sizes[0]) + 1  # twice what fits
    if batch > 4000:
        pytest.skip("too much memory here to generate a dataset that large quickly")
    configure(pane, model="unet_small", dataset="segmentation", samples=batch, epochs=1, batch=batch)
    pane.val_spin.setValue(0.0)
    assert pane.start()
    result = wait_finished(qtbot, pane)
    assert result.status == "failed", result.message
    text = pane.outcome_text()
    assert f"A batch of {batch} would need about" in text and "smaller batch size" in text
    assert pane.start_button.isEnabled() and pane.batch_plot.series("loss").x.size == 0


def test_an_output_folder_that_cannot_be_written_or_a_bad_learning_rate(pane, qtbot, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("a regular file where a folder should be")  # not writable even for root
    pane.set_output_root(blocker / "runs")
    configure(pane)
    assert pane.start()
    result = wait_finished(qtbot, pane)
    assert result.status == "failed"
    assert "cannot be written" in pane.outcome_text() and "afile" in pane.outcome_text()
    assert pane.batch_plot.series("loss").x.size == 0 and pane.start_button.isEnabled()

    pane.set_output_root(tmp_path / "runs")
    pane.lr_edit.setText("fast please")
    assert not pane.start()
    assert "not a number" in pane.outcome_text() and not pane.is_running()
    assert not (tmp_path / "runs").exists()


def test_augmentation_preview_shows_listing_4_4_changes(pane, qtbot):
    pane.set_model("mnist_fast")
    pane.set_dataset("digits")
    pane.augment_check.setChecked(True)
    assert pane.side_tabs.currentIndex() == 1
    assert pane.preview_grid.count() == 16
    assert "no flip" in pane.preview_caption.text()  # a mirrored digit is another symbol
    first = pane.preview_grid.mosaic_array().copy()
    click(qtbot, pane.preview_button)
    second = pane.preview_grid.mosaic_array()
    assert first.shape == second.shape and not np.array_equal(first, second)
    h = 28
    np.testing.assert_array_equal(first[:h], second[:h])  # the originals on top stay the same
    pane.set_model("small_cnn")  # shapes may be mirrored
    qtbot.waitUntil(lambda: pane.preview_grid.count() == 16, timeout=10_000)
    assert "flip." in pane.preview_caption.text() and "no flip" not in pane.preview_caption.text()
    pane.augment_check.setChecked(False)
    assert pane.preview_grid.count() == 0


def test_presentation_mode_enlarges_the_plots(pane, window):
    axis = pane.batch_plot.getPlotItem().getAxis("bottom")
    normal = axis.style["tickFont"].pointSize()
    window.presentation_action.setChecked(True)
    big = axis.style["tickFont"].pointSize()
    assert big >= normal + 4
    assert pane.loss_plot.presentation_mode() and pane.metric_plot.presentation_mode()
    assert pane.batch_plot.smoothed_curve("loss").opts["pen"].widthF() > 3
    window.presentation_action.setChecked(False)
    assert axis.style["tickFont"].pointSize() == normal


def test_a_plot_off_screen_draws_what_arrived_once_it_is_shown(qtbot):
    plot = LossPlotWidget()
    qtbot.addWidget(plot)
    plot.add_series("loss", "train", "#1f77b4", smoothed=True)
    plot.extend("loss", [0.1, 0.2, 0.3], [1.0, 0.8, 0.6])
    qtbot.wait(300)  # past the coalesced redraw: nothing drawn while hidden
    assert plot.curve("loss").xData is None or len(plot.curve("loss").xData) == 0
    plot.show()
    qtbot.waitUntil(lambda: plot.curve("loss").xData is not None and len(plot.curve("loss").xData) == 3)
    np.testing.assert_allclose(plot.smoothed_curve("loss").xData, [0.1, 0.2, 0.3])


def test_a_dataset_not_on_this_computer_is_downloaded_only_when_the_user_agrees(pane, qtbot, tmp_path):
    assert not data.is_cached("mnist")  # the tests' own empty Keras folder
    configure(pane, dataset="mnist", samples=256)
    assert "(not downloaded)" in pane.dataset_combo.currentText()
    asked: list[tuple[str, str]] = []

    pane.download_prompt = lambda name, size: asked.append((name, size)) or False
    assert not pane.start()
    assert asked == [("mnist", "11 MB")]
    assert "MNIST is not downloaded, so nothing was trained" in pane.outcome_text()
    assert run_folders(tmp_path / "runs") == [] and pane.start_button.isEnabled()

    # Agreed, but this computer cannot reach the internet: a plain message, not a traceback.
    pane.download_prompt = lambda name, size: asked.append((name, size)) or True
    assert pane.start()
    result = wait_finished(qtbot, pane)
    assert result.status == "failed" and len(asked) == 2
    text = pane.outcome_text()
    assert "mnist could not be downloaded" in text and "use the bundled 'digits' set" in text
    assert "Traceback" not in text and pane.start_button.isEnabled()
    assert not data.is_cached("mnist")
