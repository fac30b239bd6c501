"""Data parallel training from the training pane: choosing 2 CPU replicas restarts TensorFlow
with the CPU split (the Activations pane reopens its model), the run shares every batch
between the replicas and says so, and bad replica settings keep Start from running."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from cnnviz.engine import testing as testjobs
from cnnviz.ml import distribute
from cnnviz.ml.inspect import LoadRequest, ModelInfo, load_job

LEFT = Qt.MouseButton.LeftButton
TIMEOUT_MS = 120_000


def engine_call(pane, qtbot, fn, *args):
    answers, errors = [], []
    pane.ctx.worker.submit(fn, *args, channel="test", on_done=answers.append, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(answers or errors), timeout=60_000)
    assert not errors, errors[0]
    return answers[0]


@pytest.fixture
def pane(window, tmp_path):
    window.show_pane("training")
    p = window.panes["training"]
    p.set_output_root(tmp_path / "runs")
    p.set_model("mnist_fast")
    p.set_dataset("digits")
    p.samples_spin.setValue(64)
    p.epochs_spin.setValue(1)
    return p


def test_bad_replica_settings_disable_start_with_the_reason(pane, qtbot):
    pane.strategy_combo.setCurrentIndex(pane.strategy_combo.findData("mirrored"))
    pane.replicas_spin.setValue(0)
    assert pane.replicas_problem_label.isVisible()
    assert pane.replicas_problem_label.text() == (
        "The CPU replicas must be a whole number of at least 1 (1 = no split), not 0.")
    assert not pane.start_button.isEnabled() and "not 0" in pane.start_button.toolTip()
    assert not pane.start()  # refused with the reason, nothing runs
    assert "not 0" in pane.outcome_text() and not pane.is_running()
    pane.replicas_spin.setValue(8)
    pane.batch_spin.setValue(4)
    assert pane.replicas_problem_label.text().startswith("8 CPU replicas cannot share a batch of 4")
    assert not pane.start_button.isEnabled()
    pane.batch_spin.setValue(16)
    assert not pane.replicas_problem_label.isVisible() and pane.start_button.isEnabled()
    assert pane.split_label.text() == "Global batch 16 = 8 replicas × 2"


def test_mirrored_on_one_device_runs_and_says_it_has_one_replica(pane, qtbot):
    pane.strategy_combo.setCurrentIndex(pane.strategy_combo.findData("mirrored"))
    pane.batch_spin.setValue(16)
    qtbot.waitUntil(lambda: pane.settings.engine_devices is not None, timeout=TIMEOUT_MS)
    if pane.settings.engine_devices["gpus"] or pane.engine_split() != 1:
        pytest.skip("needs an engine on one undivided CPU")
    assert pane.devices_label.text() == "1 CPU: mirrored runs with one replica"
    assert pane.split_label.text() == "Global batch 16 (one replica)"
    qtbot.mouseClick(pane.start_button, LEFT)
    qtbot.waitUntil(lambda: not pane.is_running() and pane.result is not None, timeout=TIMEOUT_MS)
    assert pane.result.status == "finished", pane.result.message
    assert (pane.result.strategy, pane.result.replicas) == ("mirrored", 1)
    assert "MirroredStrategy with one replica" in pane.log_text()
    assert pane.replicas_label.text() == "1 replica: 16 per step"


@pytest.mark.own_engine
def test_two_cpu_replicas_restart_tensorflow_train_and_the_model_reloads(pane, window, qtbot):
    activations = None
    if "activations" in window.panes:  # its model must survive the restart (it reopens)
        window.show_pane("activations")
        activations = window.panes["activations"]
        activations.trust_prompt = lambda *a: False
        qtbot.waitUntil(lambda: activations.info is not None and not activations.is_busy(), timeout=TIMEOUT_MS)
        window.show_pane("training")
    qtbot.waitUntil(lambda: pane.ctx.worker.ready and pane.settings.engine_devices is not None,
                    timeout=TIMEOUT_MS)
    old_pid = pane.ctx.worker.pid

    pane.strategy_combo.setCurrentIndex(pane.strategy_combo.findData("mirrored"))
    pane.batch_spin.setValue(16)
    pane.replicas_spin.setValue(2)
    assert pane.split_label.text() == "Global batch 16 = 2 replicas × 8"
    if not pane.settings.engine_devices["gpus"]:
        assert pane.devices_label.text() == (
            "2 logical CPUs (TensorFlow restarts to split the CPU when you press Start)")
    restarts = []
    pane.ctx.worker.restarted.connect(lambda: restarts.append(1))
    qtbot.mouseClick(pane.start_button, LEFT)
    assert pane.progress.format() == "Restarting TensorFlow with 2 logical CPUs…"
    assert "Restarting TensorFlow with 2 logical CPUs…" in pane.log_text()
    qtbot.waitUntil(lambda: not pane.is_running() and pane.result is not None, timeout=TIMEOUT_MS)
    result = pane.result
    assert result.status == "finished", result.message
    assert restarts == [1] and pane.ctx.worker.pid != old_pid
    assert engine_call(pane, qtbot, testjobs.getenv, distribute.CPU_REPLICAS_ENV) == "2"
    assert (result.strategy, result.replicas, result.per_replica_batch_size) == ("mirrored", 2, 8)
    assert pane.replicas_label.text() == "2 replicas × 8 = 16 per step"
    assert "MirroredStrategy over 2 replicas" in pane.log_text()
    info = json.loads((result.run_dir / "run.json").read_text())
    assert (info["strategy"], info["replicas"], info["config"]["cpu_replicas"]) == ("mirrored", 2, 2)
    qtbot.waitUntil(lambda: pane.devices_label.text() == "2 logical CPUs", timeout=TIMEOUT_MS)

    loaded = engine_call(pane, qtbot, load_job, LoadRequest(str(result.final_path)))
    assert isinstance(loaded, ModelInfo), loaded

    # Nothing changed: the next run starts in the same engine.
    qtbot.mouseClick(pane.start_button, LEFT)
    qtbot.waitUntil(lambda: not pane.is_running() and pane.result is not None, timeout=TIMEOUT_MS)
    assert pane.result.status == "finished" and restarts == [1]

    if activations is not None:
        qtbot.waitUntil(lambda: not activations.is_busy(), timeout=TIMEOUT_MS)
        window.show_pane("activations")
        first = [r.name for r in activations.info.layers if r.kind == "maps"][0]
        activations.select_layer(first)
        qtbot.waitUntil(lambda: activations.result is not None and activations.result.layer == first
                        and not activations.is_busy(), timeout=TIMEOUT_MS)
