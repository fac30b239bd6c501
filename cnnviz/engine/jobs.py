"""The job handle a job function receives, and the exception it raises to give up.

A job function is a plain module-level function ``fn(job, *args)``: it reads ``job.stopped``
(or ``job.stop_event``) to stop early, calls ``job.progress(payload)`` to report, reaches the
open models through ``job.models`` and returns plain data. This module imports neither Qt nor
TensorFlow, so the same functions run in the engine process and in tests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class JobStopped(Exception):
    """Raised by a job that noticed ``stop_event`` and gave up on its result."""


class Job:
    """What a job function sees: its id and channel, a stop flag, progress and the models."""

    def __init__(
        self,
        id: int,
        channel: str,
        fn: Callable[..., Any],
        args: tuple,
        *,
        models: Any = None,
        report: Callable[[int, Any], None] | None = None,
    ) -> None:
        self.id = id
        self.channel = channel
        self.fn = fn
        self.args = args
        #: The :class:`cnnviz.ml.store.ModelStore` of the process that runs the job.
        self.models = models
        self.stop_event = threading.Event()
        self._report = report

    def progress(self, payload: Any) -> None:
        """Report ``payload`` to whoever submitted the job (dropped once the job is stopped)."""
        if self._report is not None and not self.stop_event.is_set():
            self._report(self.id, payload)

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    def __repr__(self) -> str:
        return f"<Job {self.id} on {self.channel!r}: {getattr(self.fn, '__qualname__', self.fn)}>"


def describe_exception(exc: BaseException) -> str:
    """The words shown for a job that failed with ``exc``."""
    if isinstance(exc, MemoryError):
        return "The computer ran out of memory for this job. Try a smaller batch or a smaller model."
    return str(exc).strip() or exc.__class__.__name__
