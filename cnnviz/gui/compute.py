"""Interactive computations off the GUI thread, the latest request winning.

A slider drag or a kernel-painting stroke asks for a new result many times a second.
:class:`LiveComputation` is the one way a pane handles that: ``schedule()`` merges a burst of
changes into one refresh at the next turn of the event loop; the refresh hands the computation
to :meth:`LiveComputation.request`, which computes a small job at once on the GUI thread and
sends a large one to a :class:`LatestWinsRunner`: one thread (kept while requests keep coming)
computes one request at a time, requests made meanwhile replace each other (only the newest
waits), and a result is delivered only if no newer request was made since — stale results are
dropped, never shown.
``flush()`` shows the current state's result at once (tests and screenshots).

Only plain data crosses threads: the job is a function of copies made on the GUI thread, and its
result comes back through a queued signal into a ``@Slot``. The Keras worker is not used here:
it owns the model, and these jobs are numpy/OpenCV only.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, Signal, Slot

Job = Callable[[], Any]
Deliver = Callable[[Any], None]

#: How often (seconds) a thread holding the GIL is asked to hand it over. Python's default, 5 ms,
#: is made for throughput: while the GUI thread runs Python (painting a 15×15 kernel grid, a
#: plot), a background filter waits up to 5 ms each time it needs the GIL between two OpenCV
#: calls, and a whole new 15×15 kernel on a 1080p image took about twice as long to show.
SWITCH_INTERVAL_S = 0.001


def prefer_responsiveness() -> None:
    """Have threads hand the GIL over every :data:`SWITCH_INTERVAL_S` (the window's process
    calls this once: its background work is OpenCV calls strung together by a little Python)."""
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)


#: The event a :class:`LiveComputation` posts to itself to refresh at the next turn of the loop.
_REFRESH = QEvent.Type(QEvent.registerEventType())


class LatestWinsRunner(QObject):
    """Run jobs on a background thread, one at a time, delivering only the newest's result.

    ``submit(job, deliver)`` calls ``job()`` on a thread named ``cnnviz-compute`` and later
    ``deliver(result)`` on the GUI thread — unless :meth:`submit` or :meth:`cancel` was called
    again in between. A job that raises delivers nothing; its exception is kept in ``last_error``.
    """

    _job_done = Signal(int, object)  # generation, result (internal: thread → GUI thread)

    #: Seconds the thread waits for the next job before it ends (a new one starts with the next
    #: job). While a kernel is painted the jobs follow each other closely and one thread serves
    #: them all: a thread per job made the GUI thread wait for each new thread to start, ~0.5 ms
    #: of CPU per kernel edit.
    IDLE_EXIT_S = 2.0

    def __init__(self, parent: QObject | None = None, name: str = "cnnviz-compute") -> None:
        super().__init__(parent)
        self._name = name
        self._generation = 0
        self._pending: tuple[int, Job, Deliver] | None = None
        self._running = False  # a job was handed to the thread and its end is not yet handled
        self._deliver: Deliver | None = None
        self._closed = False
        # shared with the thread, under the condition's lock: the job handed over, the thread
        # (None when none runs) and whether the thread must end
        self._cond = threading.Condition()
        self._work: tuple[int, Job] | None = None
        self._thread: threading.Thread | None = None
        self._stop = False
        self.last_error: BaseException | None = None
        self._job_done.connect(self._on_job_done)

    def submit(self, job: Job, deliver: Deliver) -> None:
        """Compute ``job()`` off the GUI thread and hand the result to ``deliver``; any earlier
        request still waiting is dropped, and one still running will not be delivered."""
        if self._closed:
            return
        self._generation += 1
        self._pending = (self._generation, job, deliver)
        if not self._running:
            self._start_pending()

    def cancel(self) -> None:
        """Forget every request: nothing submitted so far will be delivered."""
        self._generation += 1
        self._pending = None

    def is_busy(self) -> bool:
        """True while a job is running or waiting."""
        return self._running or self._pending is not None

    def shutdown(self, timeout: float = 5.0) -> None:
        """Drop all requests and wait for a running job to end."""
        self._closed = True
        self.cancel()
        with self._cond:
            self._stop = True
            self._work = None
            thread = self._thread
            self._cond.notify()
        if thread is not None:
            thread.join(timeout)
            if not thread.is_alive():
                self._running = False

    def _start_pending(self) -> None:
        generation, job, deliver = self._pending
        self._pending = None
        self._deliver = deliver
        self._running = True
        with self._cond:
            self._work = (generation, job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def _serve(self) -> None:
        """The thread: run the jobs handed over, one at a time, until none comes for
        :attr:`IDLE_EXIT_S` seconds, the runner shuts down, or its Qt object is gone."""
        while True:
            with self._cond:
                while self._work is None and not self._stop:
                    if not self._cond.wait(self.IDLE_EXIT_S):
                        break
                if self._work is None or self._stop:
                    self._thread = None
                    return
                generation, job = self._work
                self._work = None
            try:
                result: Any = (True, job())
            except Exception as exc:  # delivered as data; the GUI thread decides what to say
                result = (False, exc)
            del job
            try:
                self._job_done.emit(generation, result)
            except RuntimeError:
                # The runner's Qt object was deleted while the job ran: its parent went away
                # without shutdown(), or shutdown's join timed out. Nobody is left to deliver to.
                with self._cond:
                    self._thread = None
                return
            del result

    @Slot(int, object)
    def _on_job_done(self, generation: int, result: Any) -> None:
        self._running = False
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


class LiveComputation(QObject):
    """One pane's live result: refreshes coalesced per event-loop turn, small jobs computed at
    once, large ones in the background with the latest request winning.

    ``refresh`` is the pane's redraw: it reads the current state, updates what is cheap and calls
    :meth:`request` with the expensive part. :meth:`schedule` asks for a refresh; every call
    before the refresh runs merges into it (one refresh per turn of the event loop, so a fast
    drag never queues work and no frame of delay is added). The refresh is a posted event of
    normal priority, so it runs before the repaints the same change asked for (Qt posts those
    at low priority): a large job is already computing on another core while the GUI thread
    paints the edited controls.
    """

    def __init__(
        self,
        parent: QObject,
        refresh: Callable[[], None],
        sync_limit: float,
        name: str = "cnnviz-compute",
    ) -> None:
        super().__init__(parent)
        self._refresh = refresh
        self._sync_limit = sync_limit
        self._flushing = False
        self._due = False  # a refresh event is posted and not yet handled
        self.runner = LatestWinsRunner(self, name)

    def schedule(self) -> None:
        """Refresh at the next turn of the event loop; repeated calls before then merge."""
        if not self._due:
            self._due = True
            QCoreApplication.postEvent(self, QEvent(_REFRESH), Qt.EventPriority.NormalEventPriority.value)

    def event(self, event: QEvent) -> bool:
        if event.type() == _REFRESH:
            if self._due:  # not already flushed or shut down
                self._due = False
                self._refresh()
            return True
        return super().event(event)

    def request(self, job: Job, deliver: Deliver, size_hint: float) -> bool:
        """Compute ``job()`` and hand its result to ``deliver``: at once when ``size_hint`` is at
        most the sync limit (or during :meth:`flush`), else off the GUI thread, where a newer
        request replaces this one. Returns True when the job went to the background."""
        if size_hint > self._sync_limit and not self._flushing:
            self.runner.submit(job, deliver)
            return True
        self.runner.cancel()  # a result still computing for an older request must not land
        deliver(job())
        return False

    def is_busy(self) -> bool:
        """True while a refresh is pending or a result is being computed."""
        return self._due or self.runner.is_busy()

    def is_computing(self) -> bool:
        """True while a background job runs or waits."""
        return self.runner.is_busy()

    def flush(self) -> None:
        """Show the result for the current state now, computing it on the GUI thread if it is
        pending or still being computed in the background (tests and screenshots use it)."""
        if self.is_busy():
            self._due = False
            self._flushing = True
            try:
                self._refresh()
            finally:
                self._flushing = False

    def shutdown(self) -> None:
        """Stop refreshing and wait for a running job to end (nothing more is delivered)."""
        self._due = False
        self.runner.shutdown()

