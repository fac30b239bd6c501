"""The engine process: jobs sent by reference, progress and answers streamed back, latest
request wins per channel, a training lane beside the inspect lane, native crashes and hangs
noticed and survived, and nothing left running afterwards. No Qt, no TensorFlow."""

from __future__ import annotations

import multiprocessing
import queue
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from cnnviz.engine import testing as jobs
from cnnviz.engine.client import ONEDNN_OFF, EngineClient

pytestmark = [pytest.mark.timeout(60), pytest.mark.own_engine]


def wait_until(predicate, timeout=10.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Events:
    """Records ``on_event`` calls."""

    def __init__(self):
        self.items = []

    def __call__(self, name, info):
        self.items.append((name, info))

    def named(self, name):
        return [info for n, info in self.items if n == name]

    def wait(self, name, count=1, timeout=10.0):
        assert wait_until(lambda: len(self.named(name)) >= count, timeout), f"no {name} event: {self.items}"
        return self.named(name)[count - 1]


class Answer:
    """Collects one job's callbacks."""

    def __init__(self):
        self.done, self.errors, self.progress = [], [], []
        self.finished = threading.Event()

    def kwargs(self):
        return dict(on_done=self._done, on_error=self._error, on_progress=self.progress.append)

    def _done(self, value):
        self.done.append(value)
        self.finished.set()

    def _error(self, message):
        self.errors.append(message)
        self.finished.set()

    def wait(self, timeout=10.0):
        assert self.finished.wait(timeout), "the job never answered"
        return self


def _engine_threads():
    return [t for t in threading.enumerate() if t.name.startswith("cnnviz-engine")]


@pytest.fixture
def no_leaks():
    yield
    assert wait_until(lambda: not multiprocessing.active_children(), 5.0), multiprocessing.active_children()
    assert wait_until(lambda: not _engine_threads(), 5.0), _engine_threads()


@pytest.fixture
def make_engine(no_leaks):
    clients = []

    def make(**kwargs):
        events = Events()
        client = EngineClient(on_event=events, **kwargs)
        client.start()
        clients.append(client)
        return client, events

    yield make
    for client in clients:
        assert client.shutdown(5.0, kill_after=2.0), "the engine did not shut down in time"


@pytest.fixture
def engine(make_engine):
    client, events = make_engine()
    assert client.wait_ready(20), "the engine did not start"
    assert run(client, jobs.echo, None).done == [None]  # numpy and the job module are imported once
    return client, events


def run(client, fn, *args, timeout=10.0, **kwargs):
    answer = Answer()
    client.submit(fn, *args, **answer.kwargs(), **kwargs)
    return answer.wait(timeout)


def test_round_trip_runs_in_the_engine_process(engine):
    client, events = engine
    assert client.ready
    ready = events.named("engine_ready")[0]
    assert ready["pid"] == client.pid and ready["seconds"] >= 0
    value = {"name": "conv2d", "shape": (3, 3), "weights": np.arange(6.0)}
    answer = run(client, jobs.echo, value, channel="layers")
    assert answer.errors == []
    result = answer.done[0]
    assert result["name"] == "conv2d" and result["shape"] == (3, 3)
    np.testing.assert_array_equal(result["weights"], np.arange(6.0))
    assert run(client, jobs.thread_name, channel="activations").done == ["cnnviz-engine-inspect"]
    assert run(client, jobs.thread_name, channel="training").done == ["cnnviz-engine-training"]
    assert not client.is_busy()


def test_the_engine_keeps_its_models_between_jobs(engine):
    client, _ = engine
    assert run(client, jobs.models_kept, "a model").done == [1]
    assert run(client, jobs.models_kept).done == [1]


def test_progress_streams_before_the_answer(engine):
    client, _ = engine
    answer = run(client, jobs.report_progress, 5, 0.01, channel="training")
    assert answer.progress == [0, 1, 2, 3, 4]
    assert answer.done == [5]


def test_an_error_arrives_as_words_and_the_engine_lives_on(engine, capsys):
    client, _ = engine
    answer = run(client, jobs.raise_error, channel="x")
    assert answer.errors == ["the model needs a 28×28 image"]
    assert "ValueError" in capsys.readouterr().err, "the engine's traceback is printed for the log"
    assert run(client, jobs.echo, 16, channel="x").done == [16]


def test_an_answer_that_cannot_be_pickled_is_reported(engine):
    client, _ = engine
    answer = run(client, jobs.unpicklable_result)
    assert "could not be sent back" in answer.errors[0]


def test_a_job_function_must_be_sent_by_reference(engine):
    client, _ = engine

    def local(job):
        return 1

    with pytest.raises((AttributeError, TypeError, Exception), match="local"):
        client.submit(local)
    assert not client.is_busy()


def test_the_latest_request_on_a_channel_wins(engine):
    client, _ = engine
    results = []
    for value in range(6):
        client.submit(jobs.sleep_then_return, 0.05, value * value, channel="layers", on_done=results.append)
    assert wait_until(lambda: not client.is_busy())
    assert results == [25], "only the latest request's answer may be shown"


def test_a_superseded_job_is_asked_to_stop_and_its_answer_dropped(engine):
    client, _ = engine
    old, new = Answer(), Answer()
    first = client.submit(jobs.stop_aware_loop, 30.0, "partial", channel="gradcam", **old.kwargs())
    assert wait_until(lambda: bool(old.progress)), "the first job never started"
    started = time.monotonic()
    client.submit(jobs.echo, "fresh", channel="gradcam", **new.kwargs())
    assert new.wait().done == ["fresh"]
    assert first.stopped
    assert time.monotonic() - started < 2.0, "the old job was not stopped"
    assert wait_until(lambda: not client.is_busy())
    assert old.done == [] and old.errors == [], "a superseded job's answer is stale"


def test_jobs_on_other_channels_are_not_dropped(engine):
    client, _ = engine
    results = []
    client.submit(jobs.sleep_then_return, 0.05, 4, channel="a", on_done=results.append)
    client.submit(jobs.sleep_then_return, 0.05, 9, channel="b", on_done=results.append)
    assert wait_until(lambda: not client.is_busy())
    assert sorted(results) == [4, 9]


def test_a_stopped_latest_job_still_reports_what_it_returns(engine):
    client, _ = engine
    answer = Answer()
    job = client.submit(jobs.stop_aware_loop, 30.0, "partial", channel="training", **answer.kwargs())
    assert wait_until(lambda: bool(answer.progress))
    client.stop_channel("training")
    assert job.stopped
    assert answer.wait().done == ["partial"]


def test_inspect_jobs_answer_while_a_model_trains(engine):
    client, _ = engine
    training = Answer()
    client.submit(jobs.stop_aware_loop, 30.0, channel="training", **training.kwargs())
    assert wait_until(lambda: bool(training.progress))
    started = time.monotonic()
    assert run(client, jobs.echo, "heatmap", channel="activations").done == ["heatmap"]
    assert time.monotonic() - started < 1.0
    assert client.is_busy("training") and not client.is_busy("activations")
    client.stop_channel("training")
    assert wait_until(lambda: not client.is_busy())
    assert training.done == [] and training.errors == [], "a job that gave up (JobStopped) reports nothing"


def test_callbacks_run_through_dispatch(make_engine):
    posted = queue.Queue()
    client, _ = make_engine(dispatch=lambda fn, *args: posted.put((fn, args)))
    answer = Answer()
    client.submit(jobs.report_progress, 2, **answer.kwargs())
    while not answer.finished.is_set():
        fn, args = posted.get(timeout=10)
        fn(*args)  # here, in the test's thread, as the window's event loop would
    assert answer.progress == [0, 1] and answer.done == [2]


@pytest.mark.parametrize(("how", "words"), [("kill", "signal SIGKILL"), ("abort", "signal SIGABRT"), ("exit", "exit code 3")])
def test_a_crash_is_noticed_within_a_second_and_the_engine_restarts(engine, how, words):
    client, events = engine
    old_pid = client.pid
    answer = Answer()
    started = time.monotonic()
    client.submit(jobs.crash, how, channel="gradcam", describe="computing Grad-CAM", **answer.kwargs())
    answer.wait()
    assert time.monotonic() - started < 1.0, "the crash was noticed too late"
    message = answer.errors[0]
    assert message.startswith("TensorFlow crashed while computing Grad-CAM"), message
    assert words in message
    crashed = events.wait("engine_crashed")
    assert crashed["describe"] == "computing Grad-CAM" and crashed["restarting"]
    assert crashed["jobs"][0]["channel"] == "gradcam"
    if how == "exit":
        assert crashed["exitcode"] == 3 and crashed["signal"] is None
    else:
        assert crashed["signal"] == words.split()[-1]
    restarted = events.wait("engine_restarted")
    assert restarted["reason"] == "crashed"
    assert run(client, jobs.echo, "again", channel="gradcam").done == ["again"]
    assert client.pid != old_pid


def test_jobs_waiting_behind_a_crash_fail_with_words(engine):
    client, _ = engine
    crashing, waiting = Answer(), Answer()
    client.submit(jobs.crash, channel="gradcam", describe="computing Grad-CAM", **crashing.kwargs())
    client.submit(jobs.sleep_then_return, 0.2, 1, channel="activations", describe="computing activations",
                  **waiting.kwargs())
    assert waiting.wait().errors[0].startswith("TensorFlow crashed while computing activations")
    assert crashing.wait().errors[0].startswith("TensorFlow crashed while computing Grad-CAM")


def test_a_crash_retried_once_without_onednn(engine):
    client, events = engine
    answer = Answer()
    client.submit(jobs.crash_unless_env, "TF_ENABLE_ONEDNN_OPTS", "0", channel="gradcam",
                  describe="computing Grad-CAM", retry_once_without_onednn=True, **answer.kwargs())
    assert answer.wait().done == ["survived"], answer.errors
    crashed = events.named("engine_crashed")
    assert len(crashed) == 1 and crashed[0]["retrying"] and crashed[0]["restarting"]
    assert events.named("engine_restarted")[0]["env"] == ONEDNN_OFF
    assert client.env_overrides == ONEDNN_OFF
    assert run(client, jobs.getenv, "TF_ENABLE_ONEDNN_OPTS").done == ["0"]


def test_a_second_crash_without_onednn_is_reported_as_failure(engine):
    client, events = engine
    answer = Answer()
    client.submit(jobs.crash, channel="gradcam", describe="computing Grad-CAM",
                  retry_once_without_onednn=True, **answer.kwargs())
    message = answer.wait().errors[0]
    assert message.startswith("TensorFlow crashed while computing Grad-CAM, also with oneDNN turned off"), message
    assert len(events.named("engine_crashed")) == 2
    assert events.wait("engine_restarted", 2)
    assert run(client, jobs.echo, 1).done == [1], "the engine still runs other jobs"


def test_restart_with_an_environment(engine):
    client, events = engine
    assert run(client, jobs.getenv, "TF_ENABLE_ONEDNN_OPTS").done == [None]
    client.restart(env_overrides=ONEDNN_OFF)
    assert events.wait("engine_restarted")["reason"] == "requested"
    assert run(client, jobs.getenv, "TF_ENABLE_ONEDNN_OPTS").done == ["0"]


def test_a_hung_job_times_out_and_the_engine_is_replaced(engine):
    client, events = engine
    old_pid = client.pid
    answer = Answer()
    started = time.monotonic()
    client.submit(jobs.hang, channel="gradcam", describe="computing Grad-CAM", timeout_s=0.5, **answer.kwargs())
    message = answer.wait().errors[0]
    assert 0.5 <= time.monotonic() - started < 2.0
    assert "did not answer within 0.5 s while computing Grad-CAM" in message
    assert events.wait("engine_hung")["timeout_s"] == 0.5
    assert events.wait("engine_restarted")["reason"] == "hung"
    assert run(client, jobs.echo, "ok").done == ["ok"]
    assert client.pid != old_pid


def test_restart_storms_are_bounded(make_engine):
    client, events = make_engine(max_restarts=1)
    assert client.wait_ready(20)
    run(client, jobs.crash)
    events.wait("engine_restarted")
    run(client, jobs.crash)
    dead = events.wait("engine_dead")
    assert dead["signal"] == "SIGKILL" and client.dead and not client.ready
    assert "not available" in run(client, jobs.echo, 1).errors[0]
    client.restart()
    assert client.wait_ready(20)
    assert run(client, jobs.echo, 2).done == [2]


def test_warm_up_reports_ready_after_it_ends(make_engine):
    client, events = make_engine(warm_up=jobs.slow_warm_up)
    ready = events.wait("engine_ready", timeout=20)
    assert client.ready and ready["seconds"] >= 0.2 and "error" not in ready
    assert run(client, jobs.echo, 1).done == [1]


def test_a_failed_warm_up_is_reported_and_jobs_still_answer(make_engine):
    client, events = make_engine(warm_up=jobs.failing_warm_up)
    assert "keras" in events.wait("engine_ready", timeout=20)["error"]
    assert run(client, jobs.echo, 1).done == [1]


def test_shutdown_while_the_engine_starts(no_leaks):
    client = EngineClient()
    client.start()
    assert client.shutdown(5.0)
    assert client.submit(jobs.echo, 1).stopped, "work submitted while closing must not run"


def test_shutdown_before_start(no_leaks):
    client = EngineClient()
    assert client.shutdown(1.0)
    client.start()
    assert not _engine_threads()


def test_jobs_submitted_before_the_engine_is_ready_run(make_engine):
    client, _ = make_engine()
    answer = Answer()
    client.submit(jobs.echo, "early", **answer.kwargs())
    assert answer.wait(20).done == ["early"]


def test_shutdown_with_jobs_running(make_engine):
    client, _ = make_engine()
    assert client.wait_ready(20)
    training, stuck = Answer(), Answer()
    client.submit(jobs.stop_aware_loop, 30.0, channel="training", **training.kwargs())
    client.submit(jobs.hang, channel="gradcam", **stuck.kwargs())
    assert wait_until(lambda: bool(training.progress))
    started = time.monotonic()
    assert client.shutdown(4.0, kill_after=1.0), "the hung job should have been killed"
    assert time.monotonic() - started < 4.0
    assert not client.is_busy()


def test_shutdown_lets_a_stopped_run_answer_and_can_be_polled(make_engine):
    client, _ = make_engine()
    assert client.wait_ready(20)
    training = Answer()
    client.submit(jobs.stop_aware_loop, 30.0, "saved", channel="training", **training.kwargs())
    assert wait_until(lambda: bool(training.progress))
    ended = client.shutdown(0.0)
    assert wait_until(lambda: client.shutdown(0.0)), "polling shutdown never saw the end"
    assert training.done == ["saved"], "the stopped run's last answer is delivered"
    assert not ended or training.done


def test_fifty_megabytes_round_trip(engine):
    client, _ = engine
    array = np.random.default_rng(0).random((50 * 1024 * 1024) // 8)
    run(client, jobs.echo, None)  # the engine imports numpy and the job module once
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        result = run(client, jobs.round_trip, array, timeout=20).done[0]
        timings.append(time.perf_counter() - started)
    seconds = min(timings)
    np.testing.assert_array_equal(result, array)
    assert result.flags.writeable
    print(f"\n50 MB array to the engine and back: {seconds * 1000:.0f} ms, best of 3 ({2 * 50 / seconds:.0f} MB/s)")
    started = time.perf_counter()
    made = run(client, jobs.big_array, 50).done[0]
    print(f"50 MB array made in the engine: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert made.nbytes == 50 * 1024 * 1024
    assert run(client, jobs.array_sum, array).done[0] == (float(array.sum()), True)


def test_the_client_imports_neither_qt_nor_tensorflow():
    code = ("import sys, cnnviz.engine.client, cnnviz.engine.server, cnnviz.engine.jobs; "
            "print([m for m in ('PySide6', 'pyqtgraph', 'tensorflow', 'keras') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "[]"


def test_the_engine_starts_without_qt_or_tensorflow(engine):
    client, _ = engine
    assert run(client, jobs.heavy_modules).done == [[]]


def test_a_failing_callback_does_not_stop_the_engine(engine, capsys):
    client, _ = engine

    def broken(value):
        raise RuntimeError("a bug in the pane")

    client.submit(jobs.echo, 1, on_done=broken)
    assert wait_until(lambda: not client.is_busy())
    assert "a bug in the pane" in capsys.readouterr().err
    assert run(client, jobs.echo, 2).done == [2]


def test_restart_before_start_sets_the_first_engines_environment(make_engine):
    events = Events()
    client = EngineClient(on_event=events)
    client.restart(env_overrides=ONEDNN_OFF)
    client.start()
    try:
        assert run(client, jobs.getenv, "TF_ENABLE_ONEDNN_OPTS", timeout=20).done == ["0"]
        assert not events.named("engine_restarted")
    finally:
        assert client.shutdown(5.0, kill_after=2.0)


def test_an_offline_engine_refuses_connections_to_other_machines_in_words(engine):
    # tests/conftest.py starts every engine with CNNVIZ_OFFLINE=1: a download tried by a test
    # (a Keras dataset the user agreed to fetch) fails at once instead of reaching the internet.
    client, _ = engine
    text = run(client, jobs.try_connect).done[0]
    assert "offline" in text and "10.255.255.1" in text
