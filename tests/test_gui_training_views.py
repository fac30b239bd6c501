"""The training pane's Masks and Pairs tabs, driven as a class uses them: a U-Net run on the
segmentation data shows its validation masks beside the true ones with Jaccard and Dice per
epoch, a siamese run its pairs with their distances and the pair accuracy, a classifier run
neither; the per-batch plot stops saying it waits as soon as a batch is counted."""

from __future__ import annotations

import csv
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnviz.gui.panes.training.monitor import RunMonitor
from cnnviz.gui.panes.training.pane import TrainingPane
from cnnviz.state import training as words
from cnnviz.state.training import RunProgress

RUN_TIMEOUT_MS = 90_000


@pytest.fixture
def pane(window, tmp_path):
    window.show_pane("training")
    p = window.panes["training"]
    p.set_output_root(tmp_path / "runs")
    return p


def configure(pane, *, model, dataset, samples, epochs=1, batch=16, val=0.25) -> None:
    pane.set_model(model)
    pane.set_dataset(dataset)
    pane.samples_spin.setValue(samples)
    pane.epochs_spin.setValue(epochs)
    pane.batch_spin.setValue(batch)
    pane.val_spin.setValue(val)


def start_and_finish(pane, qtbot):
    assert pane.start_button.isEnabled()
    qtbot.mouseClick(pane.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not pane.is_running(), timeout=RUN_TIMEOUT_MS)
    assert pane.result is not None and pane.result.status == "finished", pane.outcome_text()
    return pane.result


def tab_titles(pane) -> list[str]:
    return [pane.side.tabText(i) for i in range(pane.side.count())]


def test_a_unet_run_shows_its_validation_masks_and_their_jaccard_and_dice(pane, qtbot):
    configure(pane, model="unet_small", dataset="segmentation", samples=8, batch=4)
    qtbot.mouseClick(pane.start_button, Qt.MouseButton.LeftButton)
    assert pane.side.task_tab_title() == "Masks"  # at once, waiting for the first epoch
    assert tab_titles(pane).index("Masks") == tab_titles(pane).index("Gradients") + 1
    assert "end of the first epoch" in pane.side.task_view.caption.text()
    qtbot.waitUntil(lambda: not pane.is_running(), timeout=RUN_TIMEOUT_MS)
    assert pane.result.status == "finished", pane.outcome_text()
    view = pane.side.task_view
    assert view.shown_images() == 2 * 2  # 2 validation images: predicted and true mask each
    pane.side.setCurrentWidget(view)
    assert view.isVisible()
    text = view.caption.text()
    assert "Epoch 1, on 2 validation images: mean Jaccard" in text and "mean Dice" in text
    legend = view.legend_label.text()
    assert all(name in legend for name in ("object", "border", "background")) and "J " in legend
    report = view.record.latest
    assert view.points("mean Jaccard") == ([1.0], [pytest.approx(report["mean_jaccard"])])
    assert view.points("mean Dice") == ([1.0], [pytest.approx(report["mean_dice"])])
    # recorded in the run folder as extra columns
    run_dir = pane.result.run_dir
    with open(run_dir / "log.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert float(row["val_mask_jaccard"]) == pytest.approx(report["mean_jaccard"])
    assert float(row["val_mask_dice"]) == pytest.approx(report["mean_dice"])
    history = json.loads((run_dir / "run.json").read_text())["history"]
    assert history["val_mask_dice"] == [pytest.approx(report["mean_dice"])]
    # plotted in their tab, not again among the run's metrics
    assert not pane.metric_plot.has_series("val_mask_jaccard")


def test_a_siamese_run_shows_pairs_then_a_classifier_run_neither_tab(pane, qtbot):
    configure(pane, model="siamese_mnist", dataset="digit_pairs", samples=64, batch=16)
    pane.set_presentation_mode(True)  # on a projector the side column folds away…
    assert pane._splitter.sizes()[2] == 0
    try:
        start_and_finish(pane, qtbot)
        assert pane._splitter.sizes()[2] > 0  # …but not while it shows a run's pairs
    finally:
        pane.set_presentation_mode(False)
    assert pane.side.task_tab_title() == "Pairs"
    view = pane.side.task_view
    assert view.shown_images() == 8  # 4 same and 4 different pairs of 16 validation pairs
    assert all(row[0].image.shape[1] > row[0].image.shape[0] for row in view.thumbs)  # a pair, side by side
    labels = [label.text() for label in view.labels]
    assert all(t.startswith("d = ") for t in labels) and len(labels) == 8
    report = view.record.latest
    expected = [words.pair_label(d, s, 0.5) for d, s in zip(report["distances"], report["same"])]
    same_column, different_column = labels[0::2], labels[1::2]  # same pairs left, different right
    assert same_column == expected[:4] and different_column == expected[4:]
    acc = view.record.latest["accuracy"]
    assert view.points("pair accuracy") == ([1.0], [pytest.approx(acc)])
    assert f"{acc:.1%} classified right" in view.caption.text()
    assert "distance below 0.5" in view.caption.text()

    configure(pane, model="mnist_fast", dataset="digits", samples=64, batch=32)
    start_and_finish(pane, qtbot)
    assert pane.side.task_tab_title() is None
    assert "Masks" not in tab_titles(pane) and "Pairs" not in tab_titles(pane)


def test_a_report_for_a_run_whose_task_the_pane_did_not_know_brings_its_tab(qtbot):
    """A user model trained from a file: the engine decides by the data's task and the model's
    output; the tab follows its first report."""
    from cnnviz.gui.panes.training.side import SideTabs

    side = SideTabs()
    qtbot.addWidget(side)
    side.start_task_view(None, 2)
    assert side.task_tab_title() is None
    rng = np.random.default_rng(0)
    side.show_task_report({
        "task": "segmentation", "epoch": 1, "images": rng.integers(0, 255, (1, 8, 8, 3), dtype=np.uint8),
        "truth": np.zeros((1, 8, 8), np.int32), "predicted": np.ones((1, 8, 8), np.int32),
        "class_names": ["a", "b"], "jaccard": [0.0, 0.0], "dice": [0.0, 0.0], "mean_jaccard": 0.0,
        "mean_dice": 0.0, "samples": 1, "nonfinite": 3, "values": 128})
    assert side.task_tab_title() == "Masks"
    assert side.task_view.shown_images() == 2
    side.resize(140, 700)  # a narrow column (a projector's large text): the pictures shrink to fit
    side.show()
    qtbot.waitUntil(lambda: side.task_view.thumbs[0][0].pixmap().width() < 80)
    row = side.task_view.thumbs[0]
    assert row[1].geometry().right() <= side.task_view.width()
    assert "3 of the model's 128 mask scores are NaN" in side.task_view.caption.text()


def test_the_batch_plot_stops_waiting_as_soon_as_the_first_batch_is_counted(qtbot):
    run = RunProgress()
    monitor = RunMonitor(run, 2)
    qtbot.addWidget(monitor)
    monitor.show()
    run.reset(2)
    monitor.reset()
    placeholder = monitor.batch_plot._placeholder
    assert placeholder.isVisible() and "Waiting" in placeholder.textItem.toPlainText()
    info = {"epoch": 1, "epochs": 2, "batch": 1, "batches": 87, "step": 1, "steps": 174, "loss": 2.3,
            "metrics": {}, "lr": 1e-3, "samples_per_s": 0.0, "eta_s": None, "elapsed_s": 0.1}
    monitor.show_batches({"x": np.array([1 / 87]), "loss": np.array([2.3]), "mean": np.array([2.3]),
                          "info": info}, stopping=False)
    assert "1 of 87" in monitor.progress.text() or "1/87" in monitor.progress.text()
    assert not placeholder.isVisible()  # no redraw waited for: the words agree with the bar


def test_the_training_pane_class_stays_under_500_lines():
    lines, _ = inspect.getsourcelines(TrainingPane)
    assert len(lines) < 500
    assert len(Path(inspect.getsourcefile(TrainingPane)).read_text().splitlines()) < 500


@pytest.mark.parametrize("model, dataset", [("unet_small", "segmentation"), ("siamese_mnist", "digit_pairs")])
def test_the_screenshot_example_can_be_a_unet_or_siamese_run(pane, monkeypatch, model, dataset):
    monkeypatch.setenv("CNNVIZ_TRAINING_EXAMPLE", model)
    monkeypatch.setattr(pane, "start", lambda *a, **k: False)  # the settings only: no training here
    pane.prepare_screenshot()
    assert (pane.model_name(), pane.dataset_name()) == (model, dataset)
