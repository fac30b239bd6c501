"""LiveComputation and LatestWinsRunner: small jobs at once, large ones in the background, bursts
merged, the latest request winning and stale results dropped."""

from __future__ import annotations

import threading

import shiboken6
from PySide6.QtCore import QObject

from cnnviz.gui.compute import LatestWinsRunner, LiveComputation

LIMIT = 100


class Pane:
    """A stand-in for a pane: its refresh requests a job of the current size and value."""

    def __init__(self, parent: QObject) -> None:
        self.value = 0
        self.size = 1
        self.refreshes = 0
        self.shown: list = []
        self.threads: list[str] = []
        self.gate: threading.Event | None = None
        self.live = LiveComputation(parent, self.refresh, LIMIT, name="test-compute")

    def refresh(self) -> None:
        self.refreshes += 1
        value, gate = self.value, self.gate

        def job():
            self.threads.append(threading.current_thread().name)
            if gate is not None:
                gate.wait(5)
            return value

        self.live.request(job, self.shown.append, self.size)


def test_a_burst_is_one_refresh_and_a_small_job_is_computed_on_the_gui_thread(qtbot):
    parent = QObject()
    pane = Pane(parent)
    for v in range(5):
        pane.value = v
        pane.live.schedule()
    assert pane.live.is_busy() and pane.refreshes == 0
    qtbot.waitUntil(lambda: not pane.live.is_busy(), timeout=2000)
    assert pane.refreshes == 1 and pane.shown == [4]
    assert pane.threads == [threading.current_thread().name]
    assert not pane.live.is_computing()


def test_a_large_job_runs_in_the_background_and_the_latest_wins(qtbot):
    parent = QObject()
    pane = Pane(parent)
    pane.size = LIMIT + 1
    pane.gate = threading.Event()
    pane.value = 1
    pane.live.schedule()
    qtbot.waitUntil(lambda: pane.refreshes == 1, timeout=2000)
    assert pane.live.is_computing() and pane.shown == []  # job 1 is running, held at the gate
    for v in (2, 3, 4):  # requests made meanwhile replace each other
        pane.value = v
        pane.live.schedule()
        qtbot.waitUntil(lambda v=v: pane.refreshes == v, timeout=2000)
    assert pane.live.is_busy()
    pane.gate.set()
    qtbot.waitUntil(lambda: not pane.live.is_busy(), timeout=5000)
    assert pane.shown == [4]  # job 1's result was stale: dropped; 2 and 3 never ran
    assert pane.threads == ["test-compute", "test-compute"]
    pane.live.shutdown()


def test_a_small_request_drops_a_stale_background_result(qtbot):
    parent = QObject()
    pane = Pane(parent)
    pane.size, pane.value, pane.gate = LIMIT + 1, 1, threading.Event()
    pane.live.schedule()
    qtbot.waitUntil(lambda: pane.live.is_computing(), timeout=2000)
    gate, pane.gate = pane.gate, None
    pane.size, pane.value = 1, 2
    pane.live.schedule()
    qtbot.waitUntil(lambda: pane.shown == [2], timeout=2000)
    gate.set()
    qtbot.waitUntil(lambda: not pane.live.is_busy(), timeout=5000)
    qtbot.wait(50)
    assert pane.shown == [2]  # the large job ended later and was not shown


def test_flush_computes_the_current_state_at_once(qtbot):
    parent = QObject()
    pane = Pane(parent)
    pane.size, pane.value, pane.gate = LIMIT + 1, 1, threading.Event()
    pane.live.schedule()
    qtbot.waitUntil(lambda: pane.live.is_computing(), timeout=2000)
    gate, pane.gate = pane.gate, None
    pane.value = 2
    pane.live.flush()  # the background job is still held: the flush computes here
    assert pane.shown == [2]
    gate.set()
    qtbot.waitUntil(lambda: not pane.live.is_busy(), timeout=5000)  # the old job ends unseen
    qtbot.wait(50)
    assert pane.shown == [2]
    refreshes = pane.refreshes
    pane.live.flush()  # nothing pending: nothing done
    assert pane.refreshes == refreshes
    pane.live.shutdown()


def test_runner_keeps_the_error_of_a_failing_job(qtbot):
    runner = LatestWinsRunner()
    got = []

    def fail():
        raise ValueError("no")

    runner.submit(fail, got.append)
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=2000)
    assert got == [] and isinstance(runner.last_error, ValueError)
    runner.shutdown()  # its thread would otherwise wait for the next job a while


def test_a_job_ending_after_its_runner_was_deleted_raises_nothing(qtbot):
    """A runner whose parent is deleted without shutdown() (or whose shutdown timed out) may
    still have a job running: when it ends there is nobody to deliver to, and nothing raises."""
    parent = QObject()
    runner = LatestWinsRunner(parent)
    gate, got, errors = threading.Event(), [], []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)
    try:
        runner.submit(lambda: gate.wait(5), got.append)
        thread = runner._thread
        shiboken6.delete(parent)
        assert not shiboken6.isValid(runner)
        gate.set()
        thread.join(5)
        assert not thread.is_alive()
    finally:
        threading.excepthook = old_hook
    qtbot.wait(20)
    assert errors == [] and got == []


def test_one_thread_serves_jobs_that_follow_each_other_and_ends_when_idle(qtbot):
    runner = LatestWinsRunner()
    runner.IDLE_EXIT_S = 0.2
    threads, got = [], []

    def job(value):
        threads.append(threading.current_thread())
        return value

    for value in range(3):
        runner.submit(lambda v=value: job(v), got.append)
        qtbot.waitUntil(lambda: not runner.is_busy(), timeout=2000)
    assert got == [0, 1, 2]
    assert len(set(threads)) == 1 and threads[0] is not threading.main_thread()
    qtbot.waitUntil(lambda: not threads[0].is_alive(), timeout=2000)  # idle: it ended
    runner.submit(lambda: job(3), got.append)  # a new thread takes the next job
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=2000)
    assert got == [0, 1, 2, 3] and threads[-1] is not threads[0]
    runner.shutdown()
    assert not threads[-1].is_alive()
