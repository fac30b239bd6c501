"""The window's handle on the engine: :class:`~cnnviz.engine.client.EngineClient` in Qt terms.

All TensorFlow work runs in the engine, a child process; this process never imports TensorFlow
or Keras. :class:`EngineBridge` (``ctx.worker``) has the client's ``submit`` and posts every
callback into the GUI thread through a queued signal into a ``@Slot``. It turns the engine's
events into Qt signals and words: ``ready_changed(bool)``, ``crashed(text, channels)`` (the
channels of the jobs that were running), ``hung(text, channels)``, ``restarted()`` (the models
the old engine held are gone) and ``dead(text)``.

The engine is started by the window right after it is shown (:meth:`EngineBridge.start`), or
by the first job submitted when there is no window. It imports TensorFlow at once ("warm-up"),
so the first job does not wait for it; nothing here waits for the engine.

A bridge may also wrap a client it does not own (``EngineBridge(client=...)``, one engine shared
by several windows in turn): it then sees the same events and delivers its own jobs' answers,
but :meth:`EngineBridge.shutdown` only stops its own jobs and leaves the engine running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from cnnviz.engine.client import EngineClient, EngineJob

RETRYING = "retrying with TensorFlow's oneDNN optimisations turned off"


def crash_text(info: dict) -> str:
    """The words for an ``engine_crashed`` event."""
    what = info.get("describe")
    text = f"TensorFlow crashed while {what}" if what else "TensorFlow crashed"
    how = f"signal {info['signal']}" if info.get("signal") else f"exit code {info.get('exitcode')}"
    text += f" ({how})"
    if info.get("retrying"):
        return f"{text}; {RETRYING}."
    if info.get("restarting"):
        return f"{text}; it was restarted."
    return f"{text}."


class EngineBridge(QObject):
    ready_changed = Signal(bool)
    crashed = Signal(str, list)  # words, channels of the jobs that were running
    hung = Signal(str, list)
    restarted = Signal()
    dead = Signal(str)
    _posted = Signal(object)

    def __init__(self, parent: QObject | None = None, *, warm_up: bool = True,
                 env_overrides: dict[str, str | None] | None = None, client: EngineClient | None = None) -> None:
        super().__init__(parent)
        self._open = True
        self._started = False
        self._closing = False
        self._posted.connect(self._run_posted)
        self.owns_client = client is None
        if client is None:
            client = EngineClient(self._on_event, dispatch=self._dispatch, warm_up=warm_up,
                                  env_overrides=env_overrides)
        else:
            client.add_listener(self._on_event, self._dispatch)
        self.client = client
        self._jobs: list[EngineJob] = []  # this bridge's jobs in a client it does not own
        self.last_crash = ""

    # -- the client's calls, in the GUI thread ---------------------------------------------------
    def start(self) -> None:
        """Start the engine (in the background; returns at once). Idempotent."""
        if not self._started and self._open:
            self._started = True
            self.client.start()

    @property
    def started(self) -> bool:
        return self._started

    @property
    def ready(self) -> bool:
        return self.client.ready

    @property
    def pid(self) -> int | None:
        return self.client.pid

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> EngineJob:
        """``EngineClient.submit``; starts the engine if nothing has yet."""
        self.start()
        if self.owns_client:
            return self.client.submit(fn, *args, **kwargs)
        if self._closing:  # as a client that was shut down: the job never runs
            job = EngineJob(None, 0, kwargs.get("channel", "default"), kwargs.get("describe") or "")
            job.stop()
            return job
        job = self.client.submit(fn, *args, dispatch=self._dispatch, **kwargs)
        self._jobs = [*self.client.open_jobs(self._jobs), job]
        return job

    def stop_channel(self, channel: str) -> None:
        if self.owns_client:
            self.client.stop_channel(channel)
            return
        for job in self.client.open_jobs(self._jobs):
            if job.channel == channel:
                job.stop()

    def is_busy(self, channel: str | None = None) -> bool:
        if self.owns_client:
            return self.client.is_busy(channel)
        return any(channel is None or j.channel == channel for j in self.client.open_jobs(self._jobs))

    def restart(self, reason: str = "requested", env_overrides: dict[str, str | None] | None = None) -> None:
        """A fresh engine (jobs in flight fail with words; ``restarted`` follows). ``env_overrides``
        go into its environment and every later one's (a ``None`` value removes a variable)."""
        self.client.restart(env_overrides=env_overrides, reason=reason)

    @property
    def env_overrides(self) -> dict[str, str | None]:
        """The environment changes the engine runs (or will next start) with."""
        return dict(self.client.env_overrides)

    def shutdown(self, timeout: float = 2.0, kill_after: float | None = None) -> bool:
        """Stop every job and end the engine; True once it (and its monitor thread) ended.
        Call again with ``timeout=0`` to poll. On a client this bridge does not own: stop its
        own jobs; True once the engine has answered them (the engine keeps running)."""
        if not self.owns_client:
            return self._end_own_jobs(timeout)
        if not self._started:
            self._open = False
            return True
        return self.client.shutdown(timeout, kill_after)

    def _end_own_jobs(self, timeout: float) -> bool:
        """With a client this bridge does not own: stop this bridge's jobs and wait up to
        ``timeout`` seconds for the engine to answer them all (the engine keeps running)."""
        if not self._closing:
            self._closing = True
            self.client.remove_listener(self._on_event)
            for job in self._jobs:
                job.stop()
        deadline = time.monotonic() + timeout
        while True:
            self._jobs = [j for j in self._jobs if not j.ended]
            if not self._jobs:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    # -- from the monitor thread -------------------------------------------------------------------
    def _dispatch(self, fn: Callable[..., Any], *args: Any) -> None:
        if not self._open:
            return
        try:
            self._posted.emit((fn, args))
        except RuntimeError:  # the window and this object are gone
            self._open = False

    @Slot(object)
    def _run_posted(self, item: tuple) -> None:
        fn, args = item
        fn(*args)

    def _on_event(self, name: str, info: dict) -> None:
        if name == "engine_ready":
            self.ready_changed.emit(True)
        elif name == "engine_crashed":
            self.last_crash = crash_text(info)
            self.ready_changed.emit(False)
            self.crashed.emit(self.last_crash, [j["channel"] for j in info.get("jobs", [])])
        elif name == "engine_hung":
            self.ready_changed.emit(False)
            text = (f"TensorFlow did not answer within {info['timeout_s']:g} s while {info['describe']}, "
                    "so it was restarted.")
            self.hung.emit(text, [info["channel"]])
        elif name == "engine_restarted":
            self.restarted.emit()
        elif name == "engine_dead":
            self.ready_changed.emit(False)
            self.dead.emit("TensorFlow crashed too often and was not restarted; restart cnnviz to use "
                           "the model panes again.")
