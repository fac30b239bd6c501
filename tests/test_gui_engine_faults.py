"""TensorFlow dies or stops answering while the window waits for it: the pane that waited says
what was being done and that it failed, the engine restarts, the activations pane reopens its
model and stays usable, Grad-CAM is retried once without oneDNN, a training run is marked
"crashed" and can be continued, and closing while the engine starts is clean. Each case runs the
real engine process; the faults are staged with the engine's test hooks or a real SIGKILL."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from cnnviz import paths
from cnnviz.engine import testing as testjobs
from cnnviz.engine.faults import CRASH_ON, HANG_ON
from cnnviz.gui.panes.activations import demo_models
from cnnviz.gui.panes.activations.pane import INSPECT_TIMEOUT_S

TIMEOUT = 90_000

# Each case crashes, hangs or restarts an engine of its own.
pytestmark = pytest.mark.own_engine


def make_window(qtbot, settings, image="digit_5"):
    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import AppContext

    context = AppContext(settings)
    win = MainWindow(context)
    qtbot.addWidget(win)
    context.open_image(paths.sample_image(image))
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture
def open_window(qtbot, settings):
    windows = []

    def make(image="digit_5"):
        win = make_window(qtbot, settings, image)
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.close()
        assert win.ctx.shutdown(timeout=10.0, kill_after=5.0), "the engine did not end"


def activations_ready(window, qtbot):
    window.show_pane("activations")
    pane = window.panes["activations"]
    pane.trust_prompt = lambda *a: False
    qtbot.waitUntil(lambda: pane.info is not None and pane.result is not None and not pane.is_busy(),
                    timeout=TIMEOUT)
    return pane


def engine_call(window, qtbot, fn, *args):
    answers = []
    window.ctx.worker.submit(fn, *args, channel="test", on_done=answers.append, on_error=answers.append)
    qtbot.waitUntil(lambda: bool(answers), timeout=TIMEOUT)
    return answers[0]


def status_text(window) -> str:
    return window.statusBar().currentMessage()


@pytest.fixture(scope="module")
def onednn_model(tmp_path_factory):
    """The tiny model with a 1×1 stride-2 Conv2D on 8 channels, saved by an engine."""
    from cnnviz.engine.client import EngineClient

    path = tmp_path_factory.mktemp("onednn") / "onednn_case.keras"
    client = EngineClient()
    client.start()
    answers = []
    client.submit(testjobs.save_onednn_model, str(path), on_done=answers.append, on_error=answers.append)
    deadline = time.monotonic() + 90
    while not answers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.shutdown(10.0, kill_after=5.0)
    assert answers == [str(path)], answers
    return path


@pytest.mark.parametrize("crash_on, again", [("gradcam@onednn", False), ("gradcam", True)])
def test_grad_cam_crash_is_told_retried_without_onednn_then_turned_off(
        open_window, qtbot, monkeypatch, onednn_model, crash_on, again):
    monkeypatch.setenv(CRASH_ON, crash_on)
    window = open_window("shapes")
    pane = window.panes["activations"]
    window.show_pane("activations")
    pane.trust_prompt = lambda *a: False
    crashes = []
    window.ctx.worker.crashed.connect(lambda text, channels: crashes.append(text))
    first_pid = None
    qtbot.waitUntil(lambda: window.ctx.worker.ready, timeout=TIMEOUT)
    first_pid = window.ctx.worker.pid
    window.ctx.open_model(str(onednn_model))
    qtbot.waitUntil(lambda: bool(crashes), timeout=TIMEOUT)
    # Within a second of the crash, in words, in the pane and in the status bar.
    said = "TensorFlow crashed while computing Grad-CAM for this model"
    assert said in crashes[0] and "retrying with TensorFlow's oneDNN optimisations turned off" in crashes[0]
    qtbot.waitUntil(lambda: said in pane.message_label.text(), timeout=1000)
    assert said in status_text(window)
    qtbot.waitUntil(lambda: pane.info is not None and pane.info.name == "onednn_case.keras"
                    and pane.result is not None and not pane.is_busy(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not pane.is_busy() and not window.ctx.worker.is_busy(), timeout=TIMEOUT)
    assert window.ctx.worker.pid != first_pid
    assert engine_call(window, qtbot, testjobs.getenv, "TF_ENABLE_ONEDNN_OPTS") == "0"
    if not again:
        assert len(crashes) == 1
        assert pane.result.gradcam is not None and pane.result.gradcam.heat is not None
        assert pane.state.disabled == {}
    else:
        # It crashed with oneDNN off too: Grad-CAM is off for this model, with the reason.
        assert len(crashes) == 2
        assert "also with oneDNN turned off" in pane.state.disabled["gradcam"]
        assert "Grad-CAM is turned off for this model" in pane.last_error
        assert "Grad-CAM is turned off for this model" in pane.gradcam_label.text()
        assert pane.result.maps is not None  # the activations still work
    # The window stays usable: another layer computes.
    pane.select_layer("pointwise")
    qtbot.waitUntil(lambda: pane.result is not None and pane.result.layer == "pointwise"
                    and not pane.is_busy(), timeout=TIMEOUT)
    window.show_pane("kernels")
    QApplication.processEvents()


def test_an_engine_that_hangs_is_restarted_with_a_message(open_window, qtbot, monkeypatch):
    monkeypatch.setenv(HANG_ON, "filters@conv2d_1")  # the digits model's second conv layer
    window = open_window()
    pane = activations_ready(window, qtbot)
    pid = window.ctx.worker.pid
    pane.inspect_timeout_s = 2.0
    conv2 = pane.info.conv_layers[1]
    assert conv2 == "conv2d_1"
    started = time.monotonic()
    pane.state.set_filter_layer(conv2)
    said = "TensorFlow did not answer within 2 s while reading the filters of conv2d_1, so it was restarted"
    qtbot.waitUntil(lambda: said in pane.message_label.text(), timeout=TIMEOUT)
    assert time.monotonic() - started < 10
    assert said in status_text(window)
    pane.inspect_timeout_s = INSPECT_TIMEOUT_S  # a fresh engine's first answer may take seconds
    qtbot.waitUntil(lambda: window.ctx.worker.ready and window.ctx.worker.pid != pid, timeout=TIMEOUT)
    # Reopened and usable: another layer's maps are computed in the new engine.
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT)
    last = [r.name for r in pane.info.layers if r.kind == "maps"][-1]
    pane.select_layer(last)
    qtbot.waitUntil(lambda: pane.result.layer == last and not pane.is_busy(), timeout=TIMEOUT)
    assert not window.ctx.worker.client.dead


def test_a_model_that_crashes_the_engine_while_loading_is_not_reopened(open_window, qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv(CRASH_ON, "load@crashme")
    bad = tmp_path / "crashme.keras"
    shutil.copy(demo_models()[0], bad)
    window = open_window()
    pane = activations_ready(window, qtbot)
    before = pane.info.name
    crashes = []
    window.ctx.worker.crashed.connect(lambda text, channels: crashes.append(text))
    window.ctx.open_model(str(bad))
    said = "TensorFlow crashed while opening crashme.keras"
    qtbot.waitUntil(lambda: said in pane.message_label.text(), timeout=TIMEOUT)
    assert said in pane.last_error and said in status_text(window)
    qtbot.waitUntil(lambda: window.ctx.worker.ready and not pane.is_busy(), timeout=TIMEOUT)
    time.sleep(1.0)
    QApplication.processEvents()
    assert len(crashes) == 1, "the file that crashed TensorFlow must not be opened again by itself"
    assert pane.info.name == before  # the previous model stays, reopened in the new engine
    last = [r.name for r in pane.info.layers if r.kind == "maps"][-1]
    pane.select_layer(last)
    qtbot.waitUntil(lambda: pane.result.layer == last and not pane.is_busy(), timeout=TIMEOUT)


def test_sigkill_mid_compute_in_activations_recovers(open_window, qtbot, monkeypatch):
    # The compute hangs (a staged fault), so the engine is surely mid-request when killed.
    window = open_window()
    pane = activations_ready(window, qtbot)
    monkeypatch.setenv(HANG_ON, "compute@onednn")
    old_pid = window.ctx.worker.pid
    window.ctx.worker.restart()  # an engine that hangs on compute from now on
    qtbot.waitUntil(lambda: window.ctx.worker.ready and window.ctx.worker.pid not in (None, old_pid),
                    timeout=TIMEOUT)
    pid = window.ctx.worker.pid
    last = [r.name for r in pane.info.layers if r.kind == "maps"][-1]
    pane.select_layer(last)  # its computation hangs in this engine
    qtbot.waitUntil(lambda: window.ctx.worker.is_busy("activations"), timeout=TIMEOUT)
    time.sleep(1.0)
    monkeypatch.delenv(HANG_ON)  # the next engine computes normally
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "TensorFlow crashed while computing" in pane.message_label.text(), timeout=2000)
    assert "TensorFlow crashed while computing" in status_text(window)
    qtbot.waitUntil(lambda: window.ctx.worker.ready and window.ctx.worker.pid != pid, timeout=TIMEOUT)
    # The window recovers: the model was reopened in the new engine and another layer computes.
    first = [r.name for r in pane.info.layers if r.kind == "maps"][0]
    pane.select_layer(first)
    qtbot.waitUntil(lambda: pane.result.layer == first and not pane.is_busy(), timeout=TIMEOUT)


def test_sigkill_mid_training_marks_the_run_crashed_and_it_can_continue(open_window, qtbot, tmp_path):
    window = open_window()
    window.show_pane("training")
    pane = window.panes["training"]
    pane.set_model("mnist_fast")
    pane.set_dataset("digits")
    pane.samples_spin.setValue(1024)
    pane.epochs_spin.setValue(20)
    pane.batch_spin.setValue(8)
    pane.set_output_root(tmp_path / "runs")
    assert pane.start()
    # (d) A second Start while a run trains is refused with a message.
    assert not pane.start()
    assert "already in progress" in pane.outcome_text()
    qtbot.waitUntil(lambda: pane._last_info is not None and pane._last_info["epoch"] >= 2, timeout=TIMEOUT)
    run_dir = next((tmp_path / "runs").iterdir())
    os.kill(window.ctx.worker.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not pane.is_running(), timeout=2000)
    text = pane.outcome_text()
    assert "TensorFlow crashed while training mnist_fast" in text and '"crashed"' in text
    assert "epoch-01.keras" in text and "Continue" in text
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "crashed"
    checkpoint = Path(info["last_good_checkpoint"])
    assert checkpoint.name == "epoch-01.keras" and checkpoint.is_file()
    assert pane.continue_button.isEnabled() and pane.start_button.isEnabled()
    # Continue from the kept checkpoint in the restarted engine.
    qtbot.waitUntil(lambda: window.ctx.worker.ready, timeout=TIMEOUT)
    assert pane.continue_from(checkpoint)
    qtbot.waitUntil(lambda: pane._batches_seen >= 1, timeout=TIMEOUT)
    pane.stop()
    qtbot.waitUntil(lambda: not pane.is_running(), timeout=TIMEOUT)
    assert pane.result.status == "stopped", pane.result.message


def test_closing_the_window_while_the_engine_starts_is_clean(qtbot, settings):
    window = make_window(qtbot, settings)
    qtbot.waitUntil(lambda: window.ctx.has_worker() and window.ctx.worker.started, timeout=5000)
    assert not window.ctx.worker.ready
    started = time.monotonic()
    window.close()
    qtbot.waitUntil(lambda: window._close_ready, timeout=20_000)
    assert time.monotonic() - started < 10
    assert window.ctx.shutdown(timeout=5.0)
    assert not multiprocessing.active_children()
