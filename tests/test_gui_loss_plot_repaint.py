"""What the window repaints while a model trains: the axes of a loss plot are cached and drawn
again only when they change, and between epochs only the per-batch plot redraws, ~3 times a
second — the rest of the CPU is TensorFlow's."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QGraphicsItem

from cnnviz.gui.panes.training import monitor as M
from cnnviz.gui.widgets.loss_plot import LossPlotWidget
from cnnviz.state.training import RunProgress


def _count_axis_paints(monkeypatch) -> dict:
    counts: dict = {}
    real = pg.AxisItem.paint

    def paint(self, *args):
        counts[self.orientation] = counts.get(self.orientation, 0) + 1
        return real(self, *args)

    monkeypatch.setattr(pg.AxisItem, "paint", paint)
    return counts


def _repaint(widget) -> None:
    widget.viewport().repaint()
    QApplication.processEvents()


def test_new_points_repaint_the_curves_not_the_axes(qtbot, monkeypatch):
    counts = _count_axis_paints(monkeypatch)
    plot = LossPlotWidget("Loss per batch", "loss", "epoch")
    qtbot.addWidget(plot)
    plot.add_series("loss", "smoothed", "#1f77b4", smoothed=True)
    plot.resize(800, 300)
    plot.show()
    qtbot.waitExposed(plot)
    for side in ("left", "bottom"):
        assert plot.getPlotItem().getAxis(side).cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache
    plot.set_x_range(0, 3)
    rng = np.random.default_rng(0)
    plot.extend("loss", [0.0, 0.005, 0.01], [2.5, 1.0, 0.1])  # the range the later losses stay in
    plot.flush()
    _repaint(plot)
    qtbot.wait(100)  # the plot settles (its first layout and ranges)
    _repaint(plot)
    assert counts  # drawn once
    counts.clear()
    _repaint(plot)
    assert counts == {}  # nothing changed: the cached axes are reused
    for i in range(5):  # reports of batches inside the range shown
        xs = 0.02 + i * 0.1 + np.arange(20) / 200
        plot.extend("loss", xs, rng.uniform(0.2, 2.0, 20))
        plot.flush()
        _repaint(plot)
    assert counts == {}, "an axis was drawn again though only the curves changed"
    # a change of the axes themselves is drawn
    plot.set_x_range(0, 10)

    def bottom_drawn() -> bool:
        _repaint(plot)
        return counts.get("bottom", 0) >= 1

    qtbot.waitUntil(bottom_drawn, timeout=2000)


def _batches(epoch: int, batch: int, batches: int = 100, epochs: int = 3) -> dict:
    step = (epoch - 1) * batches + batch
    info = {"epoch": epoch, "epochs": epochs, "batch": batch, "batches": batches, "step": step,
            "steps": epochs * batches, "samples_per_s": 1000.0, "lr": 0.001}
    return {"x": [epoch - 1 + batch / batches], "loss": [2.0 / step], "info": info}


def test_between_epochs_only_the_batch_plot_redraws_about_3_times_a_second(qtbot, monkeypatch):
    progress = RunProgress()
    mon = M.RunMonitor(progress, 3)
    qtbot.addWidget(mon)
    mon.resize(900, 700)
    mon.show()
    qtbot.waitExposed(mon)
    mon.set_running(True, None)
    redraws: dict = {}
    for name in ("batch_plot", "loss_plot", "metric_plot"):
        plot = getattr(mon, name)
        real = plot._redraw

        def counted(real=real, name=name):
            redraws[name] = redraws.get(name, 0) + 1
            real()

        monkeypatch.setattr(plot, "_redraw", counted)
    assert 0 < mon.batch_plot._redraw_timer.interval() <= 340  # the curve still moves ≥ ~3 times a second
    for b in range(1, 60):
        mon.show_batches(_batches(1, b), stopping=False)
    qtbot.waitUntil(lambda: redraws.get("batch_plot", 0) >= 1, timeout=2000)
    qtbot.wait(50)
    assert "loss_plot" not in redraws and "metric_plot" not in redraws
    assert not mon.loss_plot._redraw_timer.isActive() and not mon.metric_plot._redraw_timer.isActive()
    assert len(mon.batch_plot.series("loss")) == 59
    # the epoch's end draws the epoch plots
    mon.show_epoch({"epoch": 1, "epochs": 3, "loss": 0.5, "val_loss": 0.6, "metrics": {"accuracy": 0.8},
                    "val_metrics": {"accuracy": 0.7}})
    assert redraws.get("loss_plot", 0) >= 1
    # ... one per frame: the accuracy plot follows within one redraw interval, not in the same one
    assert "metric_plot" not in redraws
    qtbot.waitUntil(lambda: redraws.get("metric_plot", 0) >= 1, timeout=2000)
    assert len(mon.metric_plot.curve("accuracy").xData) == 1
    mon.set_running(False, None)
    assert mon.batch_plot._redraw_timer.interval() < M.TRAINING_REDRAW_MS


def test_the_placeholder_goes_with_the_first_point_not_at_the_next_redraw(qtbot):
    plot = LossPlotWidget("Loss per epoch", "loss", "epoch")
    qtbot.addWidget(plot)
    plot.add_series("loss", "train", "#1f77b4", symbol="o")
    plot.resize(500, 300)
    plot.show()
    qtbot.waitExposed(plot)
    plot.set_redraw_interval(60_000)  # no redraw comes in this test
    plot.set_placeholder("Waiting for the first epoch…")
    placeholder = plot._placeholder
    assert placeholder.isVisible()
    plot.extend("loss", [float("nan")], [1.0])  # nothing to draw: it still waits
    assert placeholder.isVisible()
    plot.append("loss", 1.0, 0.5)
    assert plot._redraw_timer.isActive()  # the point itself is drawn later, coalesced
    assert not placeholder.isVisible()
    plot.flush()
    assert not placeholder.isVisible()
    plot.clear_data()  # a new run waits again
    plot.set_placeholder("Waiting for the first epoch…")
    assert placeholder.isVisible()


def test_a_title_wrapped_on_a_narrow_plot_gets_the_height_of_its_lines(qtbot):
    plot = LossPlotWidget("Accuracy per epoch (Figure 2.20)", "accuracy", "epoch", integer_x=True)
    qtbot.addWidget(plot)
    plot.add_series("accuracy", "train", "#1f77b4", symbol="o")
    plot.set_presentation_mode(True)  # a projector's 18 pt title
    plot.resize(900, 400)
    plot.show()
    qtbot.waitExposed(plot)
    QApplication.processEvents()
    one_line = plot.title_height()
    item = plot.getPlotItem()

    def title_above_the_plot() -> bool:
        QApplication.processEvents()
        title = item.titleLabel.mapRectToScene(item.titleLabel.item.boundingRect())
        return title.bottom() <= item.vb.sceneBoundingRect().top() + 1

    assert title_above_the_plot()
    plot.resize(330, 400)  # half of a narrow column: the title wraps onto two lines
    qtbot.waitUntil(lambda: plot.title_height() > 1.5 * one_line, timeout=2000)
    assert title_above_the_plot(), (item.titleLabel.item.boundingRect(), item.vb.sceneBoundingRect())
    plot.set_title("Dice score per epoch (Listing 6.3)")  # a new heading keeps the fit
    assert plot.title() == "Dice score per epoch (Listing 6.3)"
    qtbot.waitUntil(title_above_the_plot, timeout=2000)
    plot.resize(900, 400)  # wide again: one line
    qtbot.waitUntil(lambda: plot.title_height() < 1.5 * one_line, timeout=2000)
