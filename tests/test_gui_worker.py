"""The window's handle on the engine (``ctx.worker``): results reach the GUI thread, stale ones
are dropped, errors arrive as words, and shutdown stops a running job and ends the engine. The
jobs run in the engine process, never in the window's."""

from __future__ import annotations

import os
import threading

import pytest

from cnnviz.engine import testing as jobs

TIMEOUT = 30_000  # the first job waits for the engine process to start


def test_result_and_progress_arrive_in_the_gui_thread(qtbot, ctx):
    seen = {}

    def on_progress(i):
        seen.setdefault("progress", []).append((i, threading.current_thread() is threading.main_thread()))

    def on_done(where):
        seen["done"] = (where, threading.current_thread() is threading.main_thread())

    ctx.worker.submit(jobs.progress_then_where, 3, channel="t", on_done=on_done, on_progress=on_progress)
    qtbot.waitUntil(lambda: "done" in seen, timeout=TIMEOUT)
    (thread_name, pid), in_gui = seen["done"]
    assert thread_name == "cnnviz-engine-inspect" and pid != os.getpid() and in_gui
    assert [i for i, _ in seen["progress"]] == [0, 1, 2]
    assert all(in_gui for _, in_gui in seen["progress"])


def test_a_newer_job_on_the_same_channel_supersedes_the_older(qtbot, ctx):
    results = []
    for value in range(6):
        ctx.worker.submit(jobs.slow_square, value, channel="layers", on_done=results.append)
    qtbot.waitUntil(lambda: not ctx.worker.is_busy(), timeout=TIMEOUT)
    assert results == [25], "only the latest request's answer may be shown"


def test_jobs_on_other_channels_are_not_dropped(qtbot, ctx):
    results = []
    ctx.worker.submit(jobs.slow_square, 2, channel="a", on_done=results.append)
    ctx.worker.submit(jobs.slow_square, 3, channel="b", on_done=results.append)
    qtbot.waitUntil(lambda: not ctx.worker.is_busy(), timeout=TIMEOUT)
    assert sorted(results) == [4, 9]


def test_an_error_arrives_as_a_message_and_the_engine_lives_on(qtbot, ctx):
    errors, results = [], []
    ctx.worker.submit(jobs.raise_error, channel="x", on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors), timeout=TIMEOUT)
    assert errors == ["the model needs a 28×28 image"]
    ctx.worker.submit(jobs.slow_square, 4, channel="x", on_done=results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=TIMEOUT)
    assert results == [16]


@pytest.mark.own_engine
def test_shutdown_stops_a_running_job_and_ends_the_engine(qtbot, ctx):
    started = []
    ctx.worker.submit(jobs.run_until_stopped, channel="train", on_progress=started.append)
    qtbot.waitUntil(lambda: bool(started), timeout=TIMEOUT)
    assert ctx.worker.shutdown(timeout=5.0), "the running job did not notice the stop request"
    late = ctx.worker.submit(jobs.slow_square, 5, channel="train")
    assert late.stopped, "work submitted while the window closes must not run"
