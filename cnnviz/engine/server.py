"""The engine process: it owns the models and runs jobs on two lanes.

``main(conn, env)`` is the target of the child process. Jobs on the ``"training"`` channel run
on their own thread, so loading a model, activations or Grad-CAM stay answerable while a model
trains; every other channel shares the ``"inspect"`` lane (Keras ``predict`` is not
thread-safe on one model). The main thread only reads the pipe, so a ``stop`` message reaches a
running job at once.

Messages from the window: ``submit`` (body ``(channel, fn, args)``), ``stop``, ``warm_up``
(import Keras now) and ``shutdown``. Messages to the window: ``hello`` (pid and environment),
``ready`` (after warm-up, with the seconds it took), ``started``, ``progress``, ``done``,
``error`` (``(message, traceback)``) and ``dropped`` (a stopped job gave up its result).

With ``CNNVIZ_CPU_REPLICAS=N`` in its environment the engine splits the CPU into N logical
devices (:func:`cnnviz.ml.distribute.configure_cpu_replicas`) first thing, before any job or the
warm-up may touch TensorFlow's devices: TensorFlow accepts the split only then.
"""

from __future__ import annotations

import faulthandler
import os
import queue
import signal
import sys
import threading
import time
import traceback
from typing import Any

from cnnviz.engine import wire
from cnnviz.engine.jobs import Job, JobStopped, describe_exception
from cnnviz.ml.distribute import CPU_REPLICAS_ENV

TRAINING_CHANNEL = "training"
#: Environment variables the engine reports in its ``hello`` message.
REPORTED_ENV = ("TF_ENABLE_ONEDNN_OPTS", "CUDA_VISIBLE_DEVICES", "KERAS_BACKEND", CPU_REPLICAS_ENV)


def lane_of(channel: str) -> str:
    return "training" if channel == TRAINING_CHANNEL else "inspect"


def main(conn: Any, env: dict[str, str | None] | None = None) -> None:
    """Entry point of the engine process."""
    for name, value in (env or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    # Ctrl+C in the terminal reaches the whole process group: the window decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()
    _die_with_parent()
    if os.environ.get(OFFLINE_ENV) == "1":
        refuse_connections_to_other_machines()
    Server(conn).run()


#: With ``CNNVIZ_OFFLINE=1`` the engine opens no connection to another machine (a classroom
#: without internet, and the test suite): a Keras dataset or weights download fails at once with
#: a plain reason instead of waiting on the network.
OFFLINE_ENV = "CNNVIZ_OFFLINE"
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def refuse_connections_to_other_machines() -> None:
    """Make every socket connection to a host other than this computer fail with words."""
    import socket

    real_connect = socket.socket.connect

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOOPBACK:
            raise ConnectionRefusedError(
                f"cnnviz is set to work offline ({OFFLINE_ENV}=1): no connection to {host}")
        return real_connect(sock, address)

    socket.socket.connect = connect


def _die_with_parent() -> None:
    """On Linux, have the kernel end the engine if the window's process dies (a hung native call
    would never read the end of the pipe)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class _Lane:
    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"cnnviz-engine-{name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        server = self.server
        server.devices_ready.wait()
        while True:
            job = self.queue.get()
            if job is None:
                return
            try:
                if job.stopped:
                    server.send("dropped", job.id)
                    continue
                server.send("started", job.id)
                try:
                    result = job.fn(job, *job.args)
                except JobStopped:
                    server.send("dropped", job.id)
                except Exception as exc:  # reported as words; the lane lives on
                    server.send("error", job.id, (describe_exception(exc), traceback.format_exc()))
                else:
                    server.send_result(job.id, result)
            finally:
                server.forget(job.id)


class Server:
    def __init__(self, conn: Any) -> None:
        from cnnviz.ml.store import ModelStore

        self.conn = conn
        # Ids differ between engines, so an id from an engine that was replaced never names
        # another model in the next one (they stay below 2**31: the window passes them in Qt).
        self.models = ModelStore(capacity=3, first_id=(os.getpid() % 200_000) * 10_000 + 1)
        self._send_lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._jobs_lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self._closed = False
        self.devices_ready = threading.Event()  # set once the CPU split (if any) is in place
        self.split_error = ""

    # -- sending (any thread) ----------------------------------------------------------------
    def send(self, kind: str, job_id: int = 0, body: Any = None) -> None:
        frames = wire.encode(kind, job_id, body)
        with self._send_lock:
            if self._closed:
                return
            try:
                wire.send_frames(self.conn, frames)
            except (OSError, EOFError):
                self._closed = True  # the window is gone; the main thread sees EOF and ends

    def send_result(self, job_id: int, result: Any) -> None:
        try:
            frames = wire.encode("done", job_id, result)
        except Exception as exc:
            message = f"The result could not be sent back to the window ({describe_exception(exc)})."
            self.send("error", job_id, (message, traceback.format_exc()))
            return
        with self._send_lock:
            if not self._closed:
                try:
                    wire.send_frames(self.conn, frames)
                except (OSError, EOFError):
                    self._closed = True

    def _progress(self, job_id: int, payload: Any) -> None:
        self.send("progress", job_id, payload)

    def forget(self, job_id: int) -> None:
        with self._jobs_lock:
            self._jobs.pop(job_id, None)

    # -- main thread -------------------------------------------------------------------------
    def run(self) -> None:
        env = {name: os.environ.get(name) for name in REPORTED_ENV}
        self.send("hello", 0, {"pid": os.getpid(), "env": env})
        from cnnviz.ml.distribute import cpu_replicas_from_env

        replicas = cpu_replicas_from_env()
        if replicas > 1:
            threading.Thread(target=self._split_cpu, args=(replicas,), name="cnnviz-engine-cpu-split",
                             daemon=True).start()
        else:
            self.devices_ready.set()
        asked = False
        try:
            asked = self._loop()
        finally:
            # Asked to shut down: let stopped jobs finish and answer (the window kills the engine
            # if that takes too long). The window gone: leave soon.
            self._finish(None if asked else 2.0)

    def _loop(self) -> bool:
        """Serve messages; True when asked to shut down, False when the window went away."""
        while True:
            try:
                kind, job_id, body = wire.receive(self.conn)
            except (EOFError, OSError):
                return False
            except wire.BodyError as exc:
                if exc.kind == "submit":
                    message = f"The engine could not load this job ({exc})."
                    self.send("error", exc.job_id, (message, ""))
                continue
            if kind == "submit":
                channel, fn, args = body
                job = Job(job_id, channel, fn, tuple(args), models=self.models, report=self._progress)
                with self._jobs_lock:
                    self._jobs[job_id] = job
                self._lane(lane_of(channel)).queue.put(job)
            elif kind == "stop":
                with self._jobs_lock:
                    job = self._jobs.get(job_id)
                if job is not None:
                    job.stop()
            elif kind == "warm_up":
                threading.Thread(target=self._warm_up, args=(body,), name="cnnviz-engine-warm-up", daemon=True).start()
            elif kind == "shutdown":
                return True

    def _lane(self, name: str) -> _Lane:
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = _Lane(self, name)
        return lane

    def _split_cpu(self, replicas: int) -> None:
        """Split the CPU into ``replicas`` logical devices before anything else touches them (a
        failure is left for the training run to explain: it checks the devices it gets)."""
        try:
            from cnnviz.ml.distribute import configure_cpu_replicas

            configure_cpu_replicas(replicas)
        except Exception as exc:
            self.split_error = describe_exception(exc)
            print(f"cnnviz engine: the CPU could not be split: {self.split_error}", file=sys.stderr)
        finally:
            self.devices_ready.set()

    def _warm_up(self, fn: Any = None) -> None:
        """Import Keras (or call ``fn``) now, so the first job does not wait for it."""
        start = time.perf_counter()
        self.devices_ready.wait()
        try:
            if fn is None:
                from cnnviz.ml.backend import keras as fn
            fn()
        except Exception as exc:  # the jobs will report the same failure in words
            self.send("ready", 0, {"seconds": time.perf_counter() - start, "error": describe_exception(exc)})
            return
        self.send("ready", 0, {"seconds": time.perf_counter() - start})

    def _finish(self, grace_s: float | None) -> None:
        with self._jobs_lock:
            for job in self._jobs.values():
                job.stop()
        for lane in self._lanes.values():
            lane.queue.put(None)
        deadline = None if grace_s is None else time.monotonic() + grace_s
        for lane in self._lanes.values():
            lane.thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if any(lane.thread.is_alive() for lane in self._lanes.values()):
            # A job stuck in native code: leave without waiting for it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
