"""Interactive computations off the GUI thread, the latest request winning.

A slider drag or a kernel-painting stroke asks for a new result many times a second. Small
inputs are computed at once on the GUI thread; large ones go through a :class:`LatestWinsRunner`:
one short-lived thread computes one request at a time, requests made meanwhile replace each
other (only the newest waits), and a result is delivered only if no newer request was made
since — stale results are dropped, never shown.

Only plain data crosses threads: the job is a function of copies made on the GUI thread, and its
result comes back through a queued signal into a ``@Slot``. The Keras worker is not used here:
it owns the model, and these jobs are numpy/OpenCV only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

Job = Callable[[], Any]
Deliver = Callable[[Any], None]


class LatestWinsRunner(QObject):
    """Run jobs on a background thread, one at a time, delivering only the newest's result.

    ``submit(job, deliver)`` calls ``job()`` on a thread named ``cnnviz-compute`` and later
    ``deliver(result)`` on the GUI thread — unless :meth:`submit` or :meth:`cancel` was called
    again in between. A job that raises delivers nothing; its exception is kept in ``last_error``.
    """

    _job_done = Signal(int, object)  # generation, result (internal: thread → GUI thread)

    def __init__(self, parent: QObject | None = None, name: str = "cnnviz-compute") -> None:
        super().__init__(parent)
        self._name = name
        self._generation = 0
        self._pending: tuple[int, Job, Deliver] | None = None
        self._thread: threading.Thread | None = None
        self._deliver: Deliver | None = None
        self._closed = False
        self.last_error: BaseException | None = None
        self._job_done.connect(self._on_job_done)

    def submit(self, job: Job, deliver: Deliver) -> None:
        """Compute ``job()`` off the GUI thread and hand the result to ``deliver``; any earlier
        request still waiting is dropped, and one still running will not be delivered."""
        if self._closed:
            return
        self._generation += 1
        self._pending = (self._generation, job, deliver)
        if self._thread is None:
            self._start_pending()

    def cancel(self) -> None:
        """Forget every request: nothing submitted so far will be delivered."""
        self._generation += 1
        self._pending = None

    def is_busy(self) -> bool:
        """True while a job is running or waiting."""
        return self._thread is not None or self._pending is not None

    def shutdown(self, timeout: float = 5.0) -> None:
        """Drop all requests and wait for a running job to end."""
        self._closed = True
        self.cancel()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():
                self._thread = None

    def _start_pending(self) -> None:
        generation, job, deliver = self._pending
        self._pending = None
        self._deliver = deliver
        self._thread = threading.Thread(
            target=self._run, args=(generation, job), name=self._name, daemon=True
        )
        self._thread.start()

    def _run(self, generation: int, job: Job) -> None:
        try:
            result: Any = (True, job())
        except Exception as exc:  # delivered as data; the GUI thread decides what to say
            result = (False, exc)
        try:
            self._job_done.emit(generation, result)
        except RuntimeError:
            pass  # the runner was deleted with its window while the job ran

    @Slot(int, object)
    def _on_job_done(self, generation: int, result: Any) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()  # it has emitted and is returning; this does not wait in practice
        deliver = self._deliver
        self._deliver = None
        ok, value = result
        if not ok:
            self.last_error = value
        if self._pending is not None and not self._closed:
            self._start_pending()  # a newer request: this result is already stale
            return
        if ok and generation == self._generation and not self._closed and deliver is not None:
            deliver(value)
