"""The window's side of the engine: start it, send jobs, receive answers, survive its death.

:class:`EngineClient` is Qt-free. ``submit`` has the signature of ``KerasWorker.submit`` plus
``describe`` (words for "TensorFlow crashed while …"), ``timeout_s`` and
``retry_once_without_onednn``. Callbacks run through ``dispatch(fn, *args)`` (by default called
right away in the client's monitor thread; the window passes a function that posts to the GUI
thread). Whether an answer is stale is decided when it is delivered, as in ``KerasWorker``: a
newer job on the same channel stops the older ones and only the latest one's answer arrives.

One monitor thread owns the engine process: it starts it, reads its messages, watches its
sentinel, and when the engine dies (a signal, ``abort``, the out-of-memory killer, an exit)
reports every job in flight as failed in words, tells the app through ``on_event`` and starts a
fresh engine — at most ``max_restarts`` times in ``restart_window_s`` seconds, after which the
engine is declared dead until :meth:`EngineClient.restart`. A job running past its ``timeout_s``
fails, and the engine is killed and restarted (a hung native call cannot be interrupted).

Several windows may share one client (:meth:`EngineClient.add_listener` gives each its events;
``submit(..., dispatch=...)`` delivers a job's answers through the submitter's own dispatcher).

Events (``on_event(name, info)``): ``engine_ready`` ``{"seconds", "generation", "pid"}``,
``engine_crashed`` ``{"generation", "exitcode", "signal", "jobs", "describe", "restarting",
"retrying"}``, ``engine_hung`` ``{"generation", "job", "channel", "describe", "timeout_s"}``,
``engine_restarted`` ``{"generation", "reason", "env"}`` (the models the old engine held are
gone) and ``engine_dead`` ``{"restarts", "window_s", "exitcode", "signal"}``.
"""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from cnnviz.engine import wire

ONEDNN_OFF = {"TF_ENABLE_ONEDNN_OPTS": "0"}

Dispatch = Callable[..., None]


def _call_now(fn: Callable[..., Any], *args: Any) -> None:
    fn(*args)


def _guarded(dispatch: Dispatch) -> Dispatch:
    """A failing callback (or dispatcher) is printed and must not end the monitor thread."""

    def call(fn: Callable[..., Any], *args: Any) -> None:
        try:
            dispatch(fn, *args)
        except Exception:
            traceback.print_exc()

    return call


class EngineJob:
    """The handle ``submit`` returns: ``id``, ``channel``, ``describe``, ``stop()``, ``stopped``."""

    def __init__(self, client: EngineClient | None, id: int, channel: str, describe: str) -> None:
        self._client = client
        self.id = id
        self.channel = channel
        self.describe = describe
        self.on_done: Callable[[Any], None] | None = None
        self.on_error: Callable[[str], None] | None = None
        self.on_progress: Callable[[Any], None] | None = None
        self.timeout_s: float | None = None
        self.retry_without_onednn = False
        self.retried = False
        self.frames: list = []
        self._stopped = False
        self.sent_generation = 0  # 0: not yet sent to a running engine
        self.started_at: float | None = None
        self.ended = False  # the engine answered (or the job was failed here)
        self.dispatch: Dispatch | None = None  # delivers this job's answers (else the client's)

    def stop(self) -> None:
        """Ask the job to stop; its result (if it still returns one) is kept only if it is the
        channel's latest job."""
        if self._client is None:
            self._stopped = True
        else:
            self._client._stop_jobs([self])

    @property
    def stopped(self) -> bool:
        return self._stopped

    def __repr__(self) -> str:
        return f"<EngineJob {self.id} on {self.channel!r}: {self.describe}>"


class _Generation:
    """One engine process and its pipe."""

    def __init__(self, number: int, process: Any, conn: Any, env: dict[str, str | None]) -> None:
        self.number = number
        self.process = process
        self.conn = conn
        self.env = env
        self.started = time.monotonic()
        self.pid: int | None = None
        self.hello_env: dict[str, str | None] = {}
        self.alive = True
        self.closing = False  # asked to shut down


class EngineClient:
    """Runs jobs in the engine process. ``warm_up=True`` has each new engine import Keras at
    once (``engine_ready`` then follows the import); a module-level function instead is called
    in the engine to warm it up."""

    def __init__(
        self,
        on_event: Callable[[str, dict], None] | None = None,
        *,
        dispatch: Dispatch | None = None,
        warm_up: bool | Callable[[], Any] = False,
        env_overrides: dict[str, str | None] | None = None,
        max_restarts: int = 5,
        restart_window_s: float = 60.0,
        stop_grace_s: float = 1.5,
        shutdown_grace_s: float = 30.0,
    ) -> None:
        self._dispatch = _guarded(dispatch or _call_now)
        self._listeners: list[tuple[Callable[[str, dict], None], Dispatch]] = []
        if on_event is not None:
            self._listeners.append((on_event, self._dispatch))
        self._warm_up = warm_up
        self.env_overrides: dict[str, str | None] = dict(env_overrides or {})
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self._stop_grace_s = stop_grace_s
        self.shutdown_grace_s = shutdown_grace_s
        self._kill_at = float("inf")
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._jobs: dict[int, EngineJob] = {}
        self._latest: dict[str, int] = {}
        self._generation: _Generation | None = None
        self._generations = itertools.count(1)
        self._restarts: collections.deque[float] = collections.deque()
        self._restart_request: dict | None = None
        self._ready = threading.Event()
        self._closing = False
        self._dead = False
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        #: Set once the monitor thread has reaped the last engine process.
        self._finished = threading.Event()

    # -- state -------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True while an engine is running and has answered (and, with warm-up, imported Keras)."""
        return self._ready.is_set()

    @property
    def dead(self) -> bool:
        """True after too many restarts; :meth:`restart` tries again."""
        return self._dead

    @property
    def pid(self) -> int | None:
        generation = self._generation
        return generation.pid if generation is not None else None

    @property
    def monitor_thread(self) -> threading.Thread | None:
        """The thread that owns the engine process (None until :meth:`start`)."""
        return self._thread

    def open_jobs(self, jobs: list[EngineJob]) -> list[EngineJob]:
        """Those of ``jobs`` whose answer has not been delivered yet."""
        with self._lock:
            return [j for j in jobs if self._jobs.get(j.id) is j]

    def add_listener(self, on_event: Callable[[str, dict], None], dispatch: Dispatch | None = None) -> None:
        """Also tell ``on_event`` the engine's events, through ``dispatch`` (default: the
        client's)."""
        with self._lock:
            self._listeners.append((on_event, _guarded(dispatch) if dispatch else self._dispatch))

    def remove_listener(self, on_event: Callable[[str, dict], None]) -> None:
        with self._lock:
            self._listeners = [(fn, d) for fn, d in self._listeners if fn != on_event]

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def is_busy(self, channel: str | None = None) -> bool:
        with self._lock:
            return any(channel is None or j.channel == channel for j in self._jobs.values())

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the engine in the background and return at once."""
        with self._lock:
            if self._thread is not None or self._closing:
                return
            self._thread = threading.Thread(target=self._monitor, name="cnnviz-engine-monitor", daemon=True)
            self._thread.start()

    def restart(self, env_overrides: dict[str, str | None] | None = None, reason: str = "requested") -> None:
        """Replace the engine with a fresh one (jobs in flight fail with words). ``env_overrides``
        are merged into the engine's environment for this and later restarts; a ``None`` value
        removes a variable. Also revives an engine declared dead."""
        with self._lock:
            if self._closing:
                return
            if env_overrides:
                self.env_overrides.update(env_overrides)
            if self._thread is None:
                return  # not started yet: the first engine gets the new environment
            self._restart_request = {"reason": reason}
            self._restarts.clear()
        self._wake()

    def shutdown(self, timeout: float = 2.0, kill_after: float | None = None) -> bool:
        """Ask every job to stop and the engine to end once they have; wait up to ``timeout``
        seconds and say whether everything (engine process, monitor thread) has ended.

        Jobs may still answer meanwhile (a stopped training run saves its model and reports).
        The engine is killed ``kill_after`` seconds (default ``shutdown_grace_s``) after the first
        call; a later call may shorten that (``kill_after=0`` kills at once). Calling again with
        ``timeout=0`` polls, as the window does while it waits to close.
        """
        with self._lock:
            grace = self.shutdown_grace_s if kill_after is None else kill_after
            self._kill_at = min(self._kill_at, time.monotonic() + grace)
            first = not self._closing
            self._closing = True
            jobs = [j for j in self._jobs.values() if not j.stopped] if first else []
            for job in jobs:
                job._stopped = True
            generation = self._generation
            thread = self._thread
        if generation is not None:
            for job in jobs:
                self._send(generation, "stop", job.id)
        self._wake()
        if thread is None:
            self._finished.set()
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # -- jobs --------------------------------------------------------------------------------
    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        channel: str = "default",
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        supersede: bool = True,
        describe: str | None = None,
        timeout_s: float | None = None,
        retry_once_without_onednn: bool = False,
        dispatch: Dispatch | None = None,
    ) -> EngineJob:
        """Run ``fn(job, *args)`` in the engine. ``fn`` must be a module-level function and
        ``args`` plain picklable data (a ``TypeError``/``PicklingError`` is raised here if not).
        ``dispatch`` delivers this job's callbacks (default: the client's ``dispatch``).

        After :meth:`shutdown` the job is returned already stopped and never runs.
        """
        job_id = next(self._ids)
        job = EngineJob(self, job_id, channel, describe or f"running {getattr(fn, '__qualname__', fn)}")
        job.on_done, job.on_error, job.on_progress = on_done, on_error, on_progress
        job.timeout_s = timeout_s
        job.retry_without_onednn = retry_once_without_onednn
        if dispatch is not None:
            job.dispatch = _guarded(dispatch)
        if self._closing:
            job._stopped = True
            return job
        job.frames = wire.encode("submit", job_id, (channel, fn, args))
        with self._lock:
            superseded = []
            if supersede:
                old = self._latest.get(channel)
                if old is not None and old in self._jobs:
                    superseded = [self._jobs[old]]
            self._latest[channel] = job_id
            self._jobs[job_id] = job
            dead = self._dead
            generation = self._generation
            if generation is not None and generation.alive and not dead:
                job.sent_generation = generation.number
        if superseded:
            self._stop_jobs(superseded)
        if dead:
            self._fail(job, "TensorFlow is not available: it crashed too often and was not restarted.")
        elif job.sent_generation:
            self._send_frames(generation, job.frames)
        return job

    def stop_channel(self, channel: str) -> None:
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.channel == channel]
        self._stop_jobs(jobs)

    def _stop_jobs(self, jobs: list[EngineJob]) -> None:
        with self._lock:
            generation = self._generation
            to_send, unsent = [], []
            for job in jobs:
                if job._stopped or job.ended:
                    job._stopped = True
                    continue
                job._stopped = True
                if generation is not None and job.sent_generation == generation.number:
                    to_send.append(job.id)
                else:  # waiting for an engine: it never runs
                    job.ended = True
                    unsent.append(job)
        for job_id in to_send:
            self._send(generation, "stop", job_id)
        for job in unsent:
            self._post("dropped", job)

    # -- delivery (through dispatch) ---------------------------------------------------------
    def _emit(self, name: str, info: dict) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for on_event, dispatch in listeners:
            dispatch(on_event, name, dict(info))

    def _post(self, kind: str, job: EngineJob, payload: Any = None) -> None:
        (job.dispatch or self._dispatch)(self._deliver, kind, job, payload)

    def _fail(self, job: EngineJob, message: str) -> None:
        job.ended = True
        self._post("error", job, message)

    def _deliver(self, kind: str, job: EngineJob, payload: Any) -> None:
        if kind == "progress":
            if job.on_progress is not None and not job.stopped and job.id in self._jobs:
                job.on_progress(payload)
            return
        with self._lock:
            if self._jobs.pop(job.id, None) is None:
                return
            current = self._latest.get(job.channel) == job.id
            job.frames = []
        # A superseded job's answer is stale: drop it. A stopped latest job still reports.
        if current:
            if kind == "done" and job.on_done is not None:
                job.on_done(payload)
            elif kind == "error" and job.on_error is not None:
                job.on_error(payload)

    # -- sending -----------------------------------------------------------------------------
    def _send(self, generation: _Generation, kind: str, job_id: int = 0, body: Any = None) -> None:
        self._send_frames(generation, wire.encode(kind, job_id, body))

    def _send_frames(self, generation: _Generation, frames: list) -> None:
        with self._send_lock:
            if not generation.alive:
                return
            try:
                wire.send_frames(generation.conn, frames)
            except (OSError, EOFError, ValueError):
                pass  # the engine died; the monitor thread notices and reports

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"!")
        except OSError:
            pass

    # -- monitor thread ----------------------------------------------------------------------
    def _monitor(self) -> None:
        reason = None
        try:
            while not self._closing:
                if self._dead:
                    if not self._wait_for_restart_request():
                        break
                    reason = "requested"
                generation = self._spawn()
                if reason is not None:
                    self._emit("engine_restarted", {"generation": generation.number, "reason": reason,
                                                    "env": dict(self.env_overrides)})
                reason = self._session(generation)
        except Exception:  # a bug here must not leave the engine running unnoticed
            traceback.print_exc()
            generation = self._generation
            if generation is not None and generation.alive:
                self._end(generation, graceful=False)
        finally:
            self._abandon_jobs()
            self._wake_r.close()
            self._wake_w.close()
            self._finished.set()

    def _wait_for_restart_request(self) -> bool:
        while not self._closing:
            if self._restart_request is not None:
                with self._lock:
                    self._restart_request = None
                    self._dead = False
                return True
            wait([self._wake_r], 1.0)
            self._drain_wake()
        return False

    def _drain_wake(self) -> None:
        while self._wake_r.poll():
            self._wake_r.recv_bytes()

    def _spawn(self) -> _Generation:
        env = dict(self.env_overrides)
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        from cnnviz.engine import server

        process = self._ctx.Process(target=server.main, args=(child_conn, env), name="cnnviz-engine", daemon=True)
        process.start()
        child_conn.close()
        generation = _Generation(next(self._generations), process, parent_conn, env)
        with self._lock:
            self._generation = generation
            pending = [j for j in self._jobs.values() if not j.ended and not j.stopped]
            for job in pending:
                job.sent_generation = generation.number
                job.started_at = None
        if self._warm_up:
            self._send(generation, "warm_up", 0, None if self._warm_up is True else self._warm_up)
        for job in pending:
            self._send_frames(generation, job.frames)
        return generation

    def _session(self, generation: _Generation) -> str | None:
        """Serve one engine until it dies, hangs, is replaced or the client closes. Returns the
        reason for the next engine (None when closing)."""
        conn, sentinel = generation.conn, generation.process.sentinel
        while True:
            ready = wait([conn, sentinel, self._wake_r], self._poll_interval())
            if self._wake_r in ready:
                self._drain_wake()
            if conn in ready or sentinel in ready:
                try:
                    while conn.poll():
                        self._handle(generation, *self._receive(conn))
                except (EOFError, OSError):
                    return self._on_death(generation)
                if sentinel in ready:
                    return self._on_death(generation)
            if self._closing:
                # Keep reading: stopped jobs may still answer while the engine winds down.
                if not generation.closing:
                    generation.closing = True
                    self._send(generation, "shutdown")
                if time.monotonic() >= self._kill_at:
                    self._end(generation, graceful=False)
                    return None
                continue
            if self._restart_request is not None:
                with self._lock:
                    request, self._restart_request = self._restart_request, None
                self._end(generation, graceful=True)
                self._fail_in_flight(generation, "TensorFlow was restarted while {describe}.")
                return request["reason"]
            hung = self._hung_job(generation)
            if hung is not None:
                return self._on_hang(generation, hung)

    def _receive(self, conn: Any) -> tuple[str, int, Any]:
        try:
            return wire.receive(conn)
        except wire.BodyError as exc:
            return "error", exc.job_id, (f"The answer could not be read ({exc}).", "")

    def _poll_interval(self) -> float:
        with self._lock:
            deadlines = [
                job.started_at + job.timeout_s
                for job in self._jobs.values()
                if job.timeout_s is not None and job.started_at is not None and not job.ended
            ]
        if self._closing:
            deadlines.append(self._kill_at)
        if not deadlines:
            return 1.0
        return min(1.0, max(0.01, min(deadlines) - time.monotonic()))

    def _handle(self, generation: _Generation, kind: str, job_id: int, body: Any) -> None:
        if kind == "hello":
            generation.pid = body["pid"]
            generation.hello_env = body["env"]
            if not self._warm_up:
                self._set_ready(generation, {})
            return
        if kind == "ready":
            self._set_ready(generation, body)
            return
        job = self._jobs.get(job_id)
        if job is None or job.sent_generation != generation.number or job.ended:
            return
        if kind == "started":
            job.started_at = time.monotonic()
        elif kind == "progress":
            self._post("progress", job, body)
        elif kind in ("done", "dropped"):
            job.ended = True
            self._post(kind, job, body)
        elif kind == "error":
            message, trace = body
            if trace:
                print(trace, end="", file=sys.stderr, flush=True)
            job.ended = True
            self._post("error", job, message)

    def _set_ready(self, generation: _Generation, body: dict) -> None:
        self._ready.set()
        info = dict(body)
        info.update(generation=generation.number, pid=generation.pid,
                    seconds=info.get("seconds", time.monotonic() - generation.started))
        self._emit("engine_ready", info)

    def _hung_job(self, generation: _Generation) -> EngineJob | None:
        now = time.monotonic()
        with self._lock:
            for job in self._jobs.values():
                if (job.sent_generation == generation.number and not job.ended and job.timeout_s is not None
                        and job.started_at is not None and now - job.started_at > job.timeout_s):
                    return job
        return None

    def _end(self, generation: _Generation, graceful: bool) -> int | None:
        """Make sure the engine process is gone and reaped; return its exit code."""
        process = generation.process
        if graceful and process.is_alive():
            self._send(generation, "shutdown")
            process.join(self._stop_grace_s)
        with self._send_lock:
            generation.alive = False
        self._ready.clear()
        if process.is_alive():
            process.kill()
        process.join(5.0)
        generation.conn.close()
        return process.exitcode

    def _in_flight(self, generation: _Generation) -> list[EngineJob]:
        with self._lock:
            return [j for j in self._jobs.values() if j.sent_generation == generation.number and not j.ended]

    def _fail_in_flight(self, generation: _Generation, template: str, keep: tuple = ()) -> None:
        for job in self._in_flight(generation):
            if job in keep:
                continue
            if job.stopped:
                job.ended = True
                self._post("dropped", job)
            else:
                self._fail(job, template.format(describe=job.describe))

    def _may_restart(self) -> bool:
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self.restart_window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            return False
        self._restarts.append(now)
        return True

    def _on_death(self, generation: _Generation) -> str | None:
        # The pipe said EOF: wait briefly for the exit status, then reap.
        generation.process.join(1.0)
        exitcode = self._end(generation, graceful=False)
        if self._closing:
            return None
        signame = _signal_name(exitcode)
        how = f"signal {signame}" if signame else f"exit code {exitcode}"
        in_flight = self._in_flight(generation)
        running = [j for j in in_flight if j.started_at is not None]
        restarting = self._may_restart()
        retrying = [j for j in running if j.retry_without_onednn and not j.retried and not j.stopped and restarting]
        for job in retrying:
            job.retried = True
            job.started_at = None
            job.sent_generation = 0
        if retrying:
            self.env_overrides.update(ONEDNN_OFF)
        for job in in_flight:
            if job in retrying:
                continue
            if job.stopped:
                job.ended = True
                self._post("dropped", job)
            elif job.retried:
                self._fail(job, f"TensorFlow crashed while {job.describe}, also with oneDNN turned off ({how}).")
            else:
                self._fail(job, f"TensorFlow crashed while {job.describe} ({how}).")
        self._emit("engine_crashed", {
            "generation": generation.number,
            "exitcode": exitcode,
            "signal": signame,
            "jobs": [{"id": j.id, "channel": j.channel, "describe": j.describe} for j in running],
            "describe": running[0].describe if running else None,
            "restarting": restarting,
            "retrying": [j.id for j in retrying],
        })
        if not restarting:
            self._declare_dead(exitcode, signame)
            return None
        return "crashed"

    def _on_hang(self, generation: _Generation, hung: EngineJob) -> str | None:
        seconds = f"{hung.timeout_s:g}"
        self._fail(hung, f"TensorFlow did not answer within {seconds} s while {hung.describe}, so it was restarted.")
        self._emit("engine_hung", {"generation": generation.number, "job": hung.id, "channel": hung.channel,
                                   "describe": hung.describe, "timeout_s": hung.timeout_s})
        exitcode = self._end(generation, graceful=False)
        self._fail_in_flight(generation, "TensorFlow was restarted while {describe}.")
        if not self._may_restart():
            self._declare_dead(exitcode, _signal_name(exitcode))
            return None
        return "hung"

    def _declare_dead(self, exitcode: int | None, signame: str | None) -> None:
        with self._lock:
            self._dead = True
            waiting = [j for j in self._jobs.values() if not j.ended]
        for job in waiting:
            self._fail(job, "TensorFlow is not available: it crashed too often and was not restarted.")
        self._emit("engine_dead", {"restarts": len(self._restarts), "window_s": self.restart_window_s,
                                   "exitcode": exitcode, "signal": signame})

    def _abandon_jobs(self) -> None:
        """On shutdown: jobs still open end without an answer (answers already on their way
        through ``dispatch`` are still delivered)."""
        with self._lock:
            for job in list(self._jobs.values()):
                if not job.ended:
                    job.ended = True
                    job._stopped = True
                    del self._jobs[job.id]
                job.frames = []


def _signal_name(exitcode: int | None) -> str | None:
    if exitcode is None or exitcode >= 0:
        return None
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"
