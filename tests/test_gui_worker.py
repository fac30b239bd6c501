"""The one Keras worker thread: results reach the GUI thread, stale ones are dropped, errors
arrive as words, and shutdown stops a running job and joins the thread."""

from __future__ import annotations

import threading
import time

from cnnviz.gui.worker import JobStopped


def _slow_square(job, value, delay=0.05):
    time.sleep(delay)
    return value * value


def test_result_and_progress_arrive_in_the_gui_thread(qtbot, ctx):
    seen = {}

    def job_fn(job, n):
        for i in range(n):
            job.progress(i)
        return threading.current_thread().name

    def on_progress(i):
        seen.setdefault("progress", []).append((i, threading.current_thread() is threading.main_thread()))

    def on_done(name):
        seen["done"] = (name, threading.current_thread() is threading.main_thread())

    ctx.worker.submit(job_fn, 3, channel="t", on_done=on_done, on_progress=on_progress)
    qtbot.waitUntil(lambda: "done" in seen, timeout=5000)
    assert seen["done"] == ("cnnviz-keras", True)
    assert [i for i, _ in seen["progress"]] == [0, 1, 2]
    assert all(in_gui for _, in_gui in seen["progress"])


def test_a_newer_job_on_the_same_channel_supersedes_the_older(qtbot, ctx):
    results = []
    for value in range(6):
        ctx.worker.submit(_slow_square, value, channel="layers", on_done=results.append)
    qtbot.waitUntil(lambda: not ctx.worker.is_busy(), timeout=5000)
    assert results == [25], "only the latest request's answer may be shown"


def test_jobs_on_other_channels_are_not_dropped(qtbot, ctx):
    results = []
    ctx.worker.submit(_slow_square, 2, channel="a", on_done=results.append)
    ctx.worker.submit(_slow_square, 3, channel="b", on_done=results.append)
    qtbot.waitUntil(lambda: not ctx.worker.is_busy(), timeout=5000)
    assert sorted(results) == [4, 9]


def test_an_error_arrives_as_a_message_and_the_thread_lives_on(qtbot, ctx):
    errors, results = [], []

    def broken(job):
        raise ValueError("the model needs a 28×28 image")

    ctx.worker.submit(broken, channel="x", on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors == ["the model needs a 28×28 image"]
    ctx.worker.submit(_slow_square, 4, channel="x", on_done=results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    assert results == [16]


def test_shutdown_stops_a_running_job_and_joins(qtbot, ctx):
    started = threading.Event()

    def long_job(job):
        started.set()
        while not job.stop_event.is_set():
            time.sleep(0.01)
        raise JobStopped

    ctx.worker.submit(long_job, channel="train")
    assert started.wait(5)
    assert ctx.worker.shutdown(timeout=2.0), "the running job did not notice stop_event"
    late = ctx.worker.submit(_slow_square, 5, channel="train")
    assert late.stopped, "work submitted while the window closes must not run"
