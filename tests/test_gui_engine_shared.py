"""Windows that share one engine: a bridge on a client it does not own delivers its own jobs'
answers in the GUI thread, hears the engine's events, and on shutdown stops only its own jobs
and leaves the engine running for the next window. A window whose engine starts on demand
starts no process until its first job; one that never submits a job never starts one."""

from __future__ import annotations

import threading

import pytest

from cnnviz.engine import testing as jobs
from cnnviz.engine.client import EngineClient

TIMEOUT = 30_000


@pytest.fixture
def client():
    engine = EngineClient()  # no warm-up: these jobs need no TensorFlow
    yield engine
    assert engine.shutdown(timeout=10.0, kill_after=5.0)


def test_a_bridge_on_a_shared_client_stops_only_its_own_jobs_and_leaves_the_engine_running(qtbot, qapp, client):
    from cnnviz.gui.engine import EngineBridge

    first, second = EngineBridge(client=client), EngineBridge(client=client)
    ready = []
    first.ready_changed.connect(ready.append)
    answers = []
    first.submit(jobs.echo, "one", channel="first", on_done=lambda v: answers.append(
        (v, threading.current_thread() is threading.main_thread())))
    qtbot.waitUntil(lambda: bool(answers), timeout=TIMEOUT)
    assert answers == [("one", True)] and ready == [True]
    pid = client.pid

    started = []
    second.submit(jobs.run_until_stopped, channel="training", on_progress=started.append)  # a lane of its own
    qtbot.waitUntil(lambda: bool(started), timeout=TIMEOUT)
    mine = []
    first.submit(jobs.run_until_stopped, channel="first", on_progress=mine.append)
    qtbot.waitUntil(lambda: bool(mine), timeout=TIMEOUT)
    assert first.is_busy("first") and not first.is_busy("training") and second.is_busy()
    assert first.shutdown(timeout=5.0), "the first window's job did not stop"
    assert first.submit(jobs.echo, "late").stopped, "work submitted while the window closes must not run"
    assert second.is_busy("training"), "closing one window must not stop another window's job"

    second.stop_channel("training")
    qtbot.waitUntil(lambda: not second.is_busy(), timeout=TIMEOUT)
    later = []
    second.submit(jobs.echo, "two", channel="second", on_done=later.append)
    qtbot.waitUntil(lambda: bool(later), timeout=TIMEOUT)
    assert later == ["two"] and client.pid == pid and not client.dead
    assert second.shutdown(timeout=5.0)


def test_an_on_demand_engine_starts_with_the_first_job_not_with_the_window(qtbot, settings, client):
    from cnnviz import paths
    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import ENGINE_START_ON_DEMAND, AppContext

    ctx = AppContext(settings, engine=client, engine_start=ENGINE_START_ON_DEMAND)
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    ctx.open_image(paths.default_sample_image())
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(200)  # the turn of the event loop that would start the engine
    assert client.monitor_thread is None
    answers = []
    ctx.worker.submit(jobs.echo, 7, channel="test", on_done=answers.append)
    qtbot.waitUntil(lambda: bool(answers), timeout=TIMEOUT)
    assert answers == [7] and ctx.worker.started and client.pid is not None
    window.close()
    assert ctx.shutdown(timeout=5.0)


def test_a_window_that_submits_no_job_starts_no_engine(window, qtbot):
    window.show_pane("kernels")
    pane = window.panes["kernels"]
    pane.set_kernel(pane.ctx.kernel * 2.0, "doubled")
    qtbot.wait(200)
    window.show_pane("stepper")
    window.panes["stepper"].step_forward()
    qtbot.wait(200)
    assert not window.ctx.worker.started, "no pane used the engine, so nothing may have started it"
