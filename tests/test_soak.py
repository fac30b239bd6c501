"""300 seeded random actions across every pane of the real window (tabs, kernels, the
stepper, samples, the bundled models and their layers in Activations, a tiny training run
started and stopped): no exception anywhere, and afterwards no thread or child process left."""

from __future__ import annotations

import multiprocessing
import random
import sys
import threading
import time

import pytest
from PySide6.QtWidgets import QApplication

from cnnviz import paths
from cnnviz.core.kernels import PRESETS
from cnnviz.gui.panes import PANES
from cnnviz.gui.panes.activations import demo_models

ACTIONS = 300
SEED = 20240611


@pytest.mark.timeout(240)
@pytest.mark.own_engine
def test_random_actions_across_all_panes(qtbot, settings, tmp_path, monkeypatch):
    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import AppContext

    errors = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: errors.append((kind, value)))
    rng = random.Random(SEED)
    ctx = AppContext(settings)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    ctx.open_image(paths.default_sample_image())
    window.show()
    qtbot.waitExposed(window)
    samples, demos = paths.sample_images(), demo_models()
    activations, training, stepper = window.panes["activations"], window.panes["training"], window.panes["stepper"]
    activations.trust_prompt = lambda *a: False
    training.set_output_root(tmp_path / "runs")
    training.set_model("mnist_fast")
    training.set_dataset("digits")
    training.samples_spin.setValue(64)
    training.epochs_spin.setValue(1)
    training.batch_spin.setValue(16)

    def switch_tab():
        window.show_pane(rng.choice(PANES).name)

    def edit_kernel():
        name = rng.choice(sorted(PRESETS))
        window.panes["kernels"].set_kernel(PRESETS[name], name)

    def step():
        (stepper.step_forward if rng.random() < 0.7 else stepper.step_back)()

    def open_sample():
        ctx.open_image(rng.choice(samples))

    def open_model():
        ctx.open_model(str(rng.choice(demos)))

    def switch_layer():
        info = activations.info
        if info is not None:
            rows = [r.name for r in info.layers if r.kind != "none"]
            if rows:
                activations.select_layer(rng.choice(rows))

    def start_or_stop_training():
        if training.is_running():
            training.stop()
        else:
            training.start()

    actions = [switch_tab] * 4 + [edit_kernel] * 2 + [step] * 2 + [open_sample, open_model] + [switch_layer] * 3 + [
        start_or_stop_training]
    started = time.monotonic()
    app = QApplication.instance()
    for _ in range(ACTIONS):
        rng.choice(actions)()
        deadline = time.monotonic() + rng.uniform(0.0, 0.1)
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
    if training.is_running():
        training.stop()
    qtbot.waitUntil(lambda: not training.is_running(), timeout=60_000)
    qtbot.waitUntil(lambda: not activations.is_busy() and not ctx.worker.is_busy(), timeout=60_000)
    window.close()
    qtbot.waitUntil(lambda: window._close_ready, timeout=60_000)
    assert ctx.shutdown(timeout=10.0)
    assert time.monotonic() - started < 90
    assert errors == [], errors
    assert not multiprocessing.active_children()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("cnnviz-") and t.is_alive()]
