"""Data-parallel training with ``tf.distribute``: which strategy, over how many replicas.

- ``"none"``: the default strategy, one replica.
- ``"mirrored"``: :class:`tf.distribute.MirroredStrategy` — every replica holds a copy of the
  model, each batch is split between them, and their gradients are summed before the update.
  The replicas are the GPUs, or without a GPU the logical CPUs of ``cpu_replicas``; with a
  single device it still runs, with one replica.
- ``"auto"``: mirrored when more than one GPU is visible (or, without a GPU, when the CPU was
  split into several replicas), else none.

``cpu_replicas`` splits the CPU into N logical devices (``tf.config.set_logical_device_
configuration``) so data parallelism can be tried on a laptop. TensorFlow accepts that only
before it initialises its devices, so :func:`configure_cpu_replicas` must run at the start of
the process that trains (``cnnviz train --cpu-replicas N`` does).

Several machines (``MultiWorkerMirroredStrategy``) are not offered: Keras 3's ``fit`` does not
work with it (keras-team/keras#20585).

TensorFlow is imported only inside the functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CPU_REPLICAS_ENV", "STRATEGIES", "Plan", "batch_split", "check", "configure_cpu_replicas",
           "cpu_replicas_from_env", "devices", "plan"]

STRATEGIES: tuple[str, ...] = ("auto", "none", "mirrored")
#: The environment variable that asks a fresh engine process to split its CPU into N logical
#: devices before anything else touches TensorFlow's devices (unset or 1: no split).
CPU_REPLICAS_ENV = "CNNVIZ_CPU_REPLICAS"


def cpu_replicas_from_env(environ=None) -> int:
    """The CPU split :data:`CPU_REPLICAS_ENV` asks for (1 when unset or not a whole number ≥ 1)."""
    import os

    text = (os.environ if environ is None else environ).get(CPU_REPLICAS_ENV) or ""
    try:
        n = int(text)
    except ValueError:
        return 1
    return max(1, n)


def check(strategy: str, cpu_replicas: int, batch_size: int) -> None:
    """ValueError with words for settings that cannot work, before TensorFlow is touched."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy '{strategy}'; choose one of {', '.join(STRATEGIES)}.")
    if isinstance(cpu_replicas, bool) or int(cpu_replicas) != cpu_replicas or cpu_replicas < 1:
        raise ValueError(f"The CPU replicas must be a whole number of at least 1 (1 = no split), "
                         f"not {cpu_replicas}.")
    if strategy != "none" and int(cpu_replicas) > int(batch_size) >= 1:
        raise ValueError(
            f"{cpu_replicas} CPU replicas cannot share a batch of {batch_size}: each replica needs "
            f"at least one sample of every batch. Choose a batch size of at least {cpu_replicas} "
            f"(a multiple of {cpu_replicas} gives every replica the same share) or fewer replicas."
        )


def replica_share(batch_size: int, replicas: int) -> str:
    """Each replica's part of a global batch: "16", or "10–11" when it does not divide evenly."""
    b, n = int(batch_size), max(1, int(replicas))
    lo, hi = b // n, math.ceil(b / n)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def batch_split(batch_size: int, replicas: int) -> str:
    """"32 = 2 replicas × 16" — how a global batch is shared (uneven shares say so)."""
    b, n = int(batch_size), max(1, int(replicas))
    if n == 1:
        return f"{b} (one replica)"
    return f"{b} = {n} replicas × {replica_share(b, n)}"


def configure_cpu_replicas(n: int) -> None:
    """Split the CPU into ``n`` logical devices (n ≥ 2; 1 leaves it whole). Must run before
    TensorFlow initialises its devices; afterwards only the same split is accepted, anything
    else is a ValueError that says to choose it when the process starts."""
    from cnnviz.ml.backend import tensorflow

    n = int(n)
    tf = tensorflow()
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if (current is None and n <= 1) or (current is not None and len(current) == n):
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have == n:
            return
        raise ValueError(
            f"The CPU can only be split into {n} replicas before TensorFlow starts, and in this "
            f"process it has already started with {have}. Choose the CPU replicas when the "
            f"process starts: `cnnviz train --cpu-replicas {n} ...`."
        ) from None


def devices(job=None) -> dict:
    """The devices TensorFlow sees in this process: ``{"gpus": [names], "cpus": N logical}``
    (an engine job: ``job`` is unused)."""
    from cnnviz.ml.backend import tensorflow

    tf = tensorflow()
    return {"gpus": [d.name for d in tf.config.list_logical_devices("GPU")],
            "cpus": len(tf.config.list_logical_devices("CPU"))}


@dataclass
class Plan:
    """The strategy a run uses: ``name`` "mirrored" or "none", the ``tf.distribute`` object
    (None for none), the replicas and their devices, and a sentence for the log."""

    name: str
    strategy: Any
    replicas: int
    devices: list[str] = field(default_factory=list)

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else _NullScope()

    def describe(self, batch_size: int) -> str:
        devices = ", ".join(d.replace("/device:", "").replace("/job:localhost/replica:0/task:0", "")
                            for d in self.devices)
        if self.name == "none":
            return f"One replica, no data parallelism: global batch {batch_split(batch_size, 1)}."
        if self.replicas == 1:
            return (f"MirroredStrategy with one replica ({devices}): it runs, but nothing is "
                    f"parallel — split the CPU with --cpu-replicas N or use several GPUs. "
                    f"Global batch {batch_split(batch_size, 1)}.")
        return (f"Data parallel: MirroredStrategy over {self.replicas} replicas ({devices}); "
                f"global batch {batch_split(batch_size, self.replicas)} per replica.")


def plan(strategy: str, cpu_replicas: int = 1) -> Plan:
    """Choose and create the strategy (TensorFlow's devices are initialised here)."""
    from cnnviz.ml.backend import tensorflow

    tf = tensorflow()
    if int(cpu_replicas) > 1:
        configure_cpu_replicas(int(cpu_replicas))
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if strategy == "auto":
        strategy = "mirrored" if len(gpus) > 1 or (not gpus and len(cpus) > 1) else "none"
    if strategy == "none":
        return Plan("none", None, 1, gpus[:1] or cpus[:1])
    devices = gpus or cpus
    mirrored = tf.distribute.MirroredStrategy(devices=devices)
    return Plan("mirrored", mirrored, int(mirrored.num_replicas_in_sync), devices)


class _NullScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
