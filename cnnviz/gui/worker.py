"""The one worker thread that owns Keras.

Training, activations and Grad-CAM all run here, one job at a time (Keras ``predict`` is not
thread-safe). A job is a plain function ``fn(job, *args)``; it reads ``job.stop_event`` to stop
early and calls ``job.progress(payload)`` to report. Only plain data crosses back to the GUI
thread, through a QObject that lives there, into ``@Slot`` methods.

Jobs carry a *channel* (e.g. ``"activations"``): a new job on a channel drops that channel's
jobs still waiting, and results from superseded jobs are never delivered, so quickly switching
layers shows the latest answer instead of a queue of stale ones.
"""

from __future__ import annotations

import itertools
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from cnnviz.ml.store import ModelStore


class JobStopped(Exception):
    """Raised by a job that noticed ``stop_event`` and gave up on its result."""


@dataclass
class Job:
    id: int
    channel: str
    fn: Callable[..., Any]
    args: tuple
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_progress: Callable[[Any], None] | None = None
    #: The worker's open models, reached by id (only the ids travel to the GUI thread).
    models: ModelStore | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    _bridge: _Bridge | None = None

    def progress(self, payload: Any) -> None:
        """Report progress to the GUI thread (called from the job's own thread)."""
        if self._bridge is not None and not self.stop_event.is_set():
            self._bridge.delivered.emit(("progress", self.id, payload))

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()


class _Bridge(QObject):
    """Lives in the GUI thread; a signal emitted from the worker reaches ``_on_delivered`` there."""

    delivered = Signal(object)

    def __init__(self, worker: KerasWorker) -> None:
        super().__init__(worker)
        self._worker = worker
        self.delivered.connect(self._on_delivered)

    @Slot(object)
    def _on_delivered(self, item: tuple) -> None:
        self._worker._deliver(*item)


class KerasWorker(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        #: The Keras models this worker owns; only their ids reach the GUI thread.
        self.models = ModelStore(capacity=3)
        self._bridge = _Bridge(self)
        self._thread = threading.Thread(target=self._run, name="cnnviz-keras", daemon=True)
        self._thread.start()
        self._closed = False

    # -- GUI thread --------------------------------------------------------------------------
    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        channel: str = "default",
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        supersede: bool = True,
    ) -> Job:
        """Queue ``fn(job, *args)``. Callbacks run in the GUI thread.

        After :meth:`shutdown` (the window is closing) the job is returned already stopped and
        never runs: late timers and signals of a closing pane must not start Keras work.
        """
        job = Job(next(self._ids), channel, fn, args, on_done, on_error, on_progress, models=self.models)
        if self._closed:
            job.stop()
            return job
        job._bridge = self._bridge
        with self._lock:
            if supersede:
                old = self._latest.get(channel)
                if old is not None and old in self._jobs:
                    self._jobs[old].stop()
            self._latest[channel] = job.id
            self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def stop_channel(self, channel: str) -> None:
        with self._lock:
            for job in self._jobs.values():
                if job.channel == channel:
                    job.stop()

    def is_busy(self, channel: str | None = None) -> bool:
        with self._lock:
            return any(channel is None or j.channel == channel for j in self._jobs.values())

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Ask every job to stop, end the thread and wait for it. True if it ended in time."""
        self._closed = True
        with self._lock:
            for job in self._jobs.values():
                job.stop()
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _deliver(self, kind: str, job_id: int, payload: Any) -> None:
        job = self._jobs.get(job_id)
        if job is None:
            return
        if kind == "progress":
            if job.on_progress is not None and not job.stopped:
                job.on_progress(payload)
            return
        with self._lock:
            self._jobs.pop(job_id, None)
            current = self._latest.get(job.channel) == job_id
        # A superseded job's result is stale: drop it. A stopped latest job still reports.
        if current:
            if kind == "done" and job.on_done is not None:
                job.on_done(payload)
            elif kind == "error" and job.on_error is not None:
                job.on_error(payload)

    # -- worker thread -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.stopped and self._latest.get(job.channel) != job.id:
                self._bridge.delivered.emit(("dropped", job.id, None))
                continue
            try:
                result = job.fn(job, *job.args)
            except JobStopped:
                self._bridge.delivered.emit(("dropped", job.id, None))
            except Exception as exc:  # reported to the pane as words, the thread lives on
                message = _describe(exc)
                self._bridge.delivered.emit(("error", job.id, message))
                traceback.print_exc()
            else:
                self._bridge.delivered.emit(("done", job.id, result))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory for this job. Try a smaller batch or a smaller model."
    return text
