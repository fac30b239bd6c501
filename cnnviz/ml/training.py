"""The training loop without Qt: ``run(config, handle) -> TrainResult``.

Why a plain function with a handle: the GUI runs it on its one Keras worker thread, the headless
``cnnviz train`` command runs it in the main thread, and tests call it directly. It is the book's
``model.fit`` (Listing 2.6) with its callbacks — ModelCheckpoint per epoch (Listing 2.4),
ReduceLROnPlateau (Listing 2.5), a CSVLogger — plus one callback that reports progress as plain
dicts, stops on request and stops on a NaN loss.

The handle is any object with:

- ``stop_event``: a ``threading.Event``; setting it stops after the current batch (validation is
  skipped) and keeps the model;
- ``on_batch(info: dict)``, ``on_epoch(info: dict)``, ``on_message(text: str)``,
  ``on_strategy(info: dict)`` (strategy, replicas, global and per-replica batch, once the
  strategy is chosen) — called on the training thread; missing methods are skipped.
  :class:`Handle` is a ready-made one.

Each run writes a folder (``config.out_dir``)::

    checkpoints/epoch-01.keras   one per epoch (and epoch-01.h5 with save_h5); after Stop the
                                 epoch it stopped in is saved as it was at that batch, named
                                 epoch-0N-partial.keras (continuing from it trains epoch N again)
    log.csv                      one row per epoch (Keras's CSVLogger columns and "partial": 1
                                 for an epoch cut short by Stop or a NaN)
    final.keras                  the model at the end (final.h5 with save_h5); not after NaN
    run.json                     the configuration, the result and the history; "status" is
                                 "running" until the run ends (the window writes "interrupted"
                                 if it had to quit before the run could end)

Every model file and run.json is written to a hidden temporary name in the same folder and then
renamed over the real name (``os.replace``), so a process killed mid-save never leaves a
half-written file under a real name. A run that fails removes its empty ``checkpoints`` folder.

Continuing from a checkpoint with ``out_dir`` set to the checkpoint's own run folder appends to
that run: the epoch numbers go on, ``log.csv`` keeps the earlier rows (an epoch cut short and
trained again replaces its row), ``run.json`` keeps its start, history and checkpoints and lists
the legs under ``continued``. Any other ``out_dir`` makes a new run.

Only one run at a time: :func:`busy` tells whether one is going; a second ``run`` returns a
``failed`` result at once.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.ml import backend, distribute, kerascompat, zoo
from cnnviz.ml import datasets as data

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "Handle",
    "busy",
    "run",
    "check_output_dir",
    "mark_interrupted",
    "save_atomic",
    "estimate_batch_bytes",
    "new_run_dir",
]

_RUN_LOCK = threading.Lock()

# A batch may use at most this share of the memory that is free when training starts.
MEMORY_SHARE = 0.6

# A loss this large means training has diverged even while it is still a finite number (a
# clipped cross-entropy cannot exceed about 16; 1e12 leaves room for any sane loss).
DIVERGED_LOSS = 1e12


def _temp_name(path: Path) -> Path:
    """A hidden name next to ``path`` with the same suffix (Keras picks the format by suffix)."""
    return path.with_name(f".{path.stem}.writing-{os.getpid()}{path.suffix}")


def save_atomic(model, path: str | os.PathLike[str]) -> None:
    """``model.save(path)`` through a temporary file renamed over ``path``: a reader (or a
    process killed meanwhile) sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = _temp_name(path)
    try:
        if path.suffix == ".h5":
            save_h5(model, tmp)
        else:
            model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_h5(model, path: str | os.PathLike[str]) -> None:
    """Save in the legacy ``.h5`` format without spoiling later ``.keras`` saves.

    Keras 3.15's legacy HDF5 writer pops ``"optimizer"`` from the model's own compile config,
    so every ``.keras`` file saved afterwards would reload with the default RMSprop and lose
    the optimizer state; the config is put back after writing.
    """
    config = kerascompat.compile_config(model)
    kept = dict(config) if config is not None else None
    try:
        model.save(path)
    finally:
        if kept is not None:
            config.clear()
            config.update(kept)


class TrainingError(RuntimeError):
    """A problem found before training starts; the message says what to change."""


# What TrainConfig.dataset may hold besides a name: a set in memory, or a listed image folder.
LOADED_DATASETS = (data.Dataset, data.FolderDataset)


@dataclass
class TrainConfig:
    """Everything a run needs. ``None`` means "the book's choice for this model"."""

    model: str = zoo.DEFAULT
    # A name from cnnviz.ml.datasets.NAMES (None = the model's default), or a loaded Dataset
    # (e.g. a folder the GUI has already read and shown).
    dataset: str | data.Dataset | None = None
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float | None = None
    optimizer: str | None = None
    validation_split: float = 0.1
    augment: bool = False
    seed: int = 0
    reduce_lr_on_plateau: bool = False
    out_dir: str | os.PathLike[str] | None = None
    save_h5: bool = False
    resume_from: str | os.PathLike[str] | None = None
    max_samples: int | None = None
    functional: bool = False  # small_cnn: Listing 5.2 instead of 5.1
    # e.g. {"path": ..., "cache": ...} for folder
    dataset_options: dict[str, Any] = field(default_factory=dict)
    # Data parallelism (cnnviz.ml.distribute): "auto", "none" or "mirrored"; cpu_replicas > 1
    # splits the CPU into that many logical devices (only before TensorFlow starts).
    strategy: str = "auto"
    cpu_replicas: int = 1
    # Measure the gradient norm of each layer on a fixed batch while training (section 4.2),
    # reported through ``handle.on_gradients(report)`` (cnnviz.ml.gradflow).
    gradient_flow: bool = False

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)  # not asdict(): a Dataset value would be deep-copied
        if isinstance(d["dataset"], LOADED_DATASETS):
            d["dataset"] = d["dataset"].name
        for key in ("out_dir", "resume_from"):
            if d[key] is not None:
                d[key] = str(d[key])
        d["dataset_options"] = {k: (str(v) if isinstance(v, os.PathLike) else v)
                                for k, v in d["dataset_options"].items()}
        return d


@dataclass
class TrainResult:
    """What a run ended with. ``status`` is "finished", "stopped", "nan" or "failed".

    ``epochs_completed`` counts from the start of training (a resumed run includes the epochs
    of its checkpoint); after Stop it is the epoch the run stopped in. ``last_good_checkpoint``
    is the newest checkpoint with finite weights (the resumed-from file if the run saved none).
    ``model`` is None only for "failed".
    """

    status: str
    message: str
    model: Any = None
    run_dir: Path | None = None
    epochs_completed: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    checkpoints: list[Path] = field(default_factory=list)
    last_good_checkpoint: Path | None = None
    final_path: Path | None = None
    device: str = ""
    elapsed_s: float = 0.0
    samples_per_s: float = 0.0
    strategy: str = "none"  # "mirrored" or "none"
    replicas: int = 1
    global_batch_size: int = 0
    per_replica_batch_size: int = 0

    @property
    def ok(self) -> bool:
        """True when the run ended with a usable model (finished or stopped by the user)."""
        return self.status in ("finished", "stopped")


class Handle:
    """A plain progress/stop handle; subclass it or give callables to the constructor."""

    def __init__(
        self,
        on_batch: Callable[[dict], None] | None = None,
        on_epoch: Callable[[dict], None] | None = None,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        self.stop_event = threading.Event()
        self._on_batch, self._on_epoch, self._on_message = on_batch, on_epoch, on_message

    def stop(self) -> None:
        """Ask the run to stop after the current batch."""
        self.stop_event.set()

    def on_batch(self, info: dict) -> None:
        if self._on_batch:
            self._on_batch(info)

    def on_epoch(self, info: dict) -> None:
        if self._on_epoch:
            self._on_epoch(info)

    def on_message(self, text: str) -> None:
        if self._on_message:
            self._on_message(text)


def busy() -> bool:
    """Whether a training run is in progress in this process."""
    return _RUN_LOCK.locked()


def _snake_case(name: str) -> str:
    """A layer class name as Keras turns it into a layer name (``MaxPooling2D`` -> ``max_pooling2d``)."""
    name = re.sub(r"\W+", "", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name))
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def book_layer_names(model):
    """Give the layers Keras named by itself the names they get in a fresh program
    (``conv2d``, ``conv2d_1``, …), as the book's summaries print them.

    Keras numbers automatic names per process, so the second model built in the engine would
    have ``conv2d_2``: the training pane's summary and the trained model handed to the
    activations pane would then disagree. Names chosen by the model's code are kept."""
    seen: dict[str, int] = {}
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        if re.fullmatch(re.escape(base) + r"(_\d+)?", layer.name):
            k = seen.get(base, 0)
            seen[base] = k + 1
            layer.name = base if k == 0 else f"{base}_{k}"
    return model


def new_run_dir(root: str | os.PathLike[str], model: str) -> Path:
    """A fresh run folder name under ``root``: ``<root>/<yyyymmdd-hhmmss>-<model>`` (not created)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{model}"
    candidate, k = base, 1
    while candidate.exists():
        k += 1
        candidate = base.with_name(f"{base.name}-{k}")
    return candidate


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create the run folder and prove it is writable by writing a file there, so a bad folder
    is reported before any training time is spent (permission bits alone say nothing for root)."""
    p = Path(path).expanduser()
    try:
        (p / "checkpoints").mkdir(parents=True, exist_ok=True)
        probe = p / ".cnnviz-write-test"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TrainingError(
            f"The output folder '{p}' cannot be written ({reason}). Choose another folder for "
            f"the checkpoints and logs."
        ) from None
    return p


def _send(handle: Any, method: str, payload: Any) -> None:
    fn = getattr(handle, method, None)
    if callable(fn):
        fn(payload)


def _available_memory() -> int | None:
    """Bytes of RAM free for new allocations (Linux MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _available_gpu_memory(tf) -> int | None:
    """Bytes free on the first GPU: its total (from nvidia-smi, or the logical device's memory
    limit) less what TensorFlow holds there now; None when unknown."""
    total = None
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
        total = int(out.split()[0]) * 1024**2
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        pass
    if total is None:
        return None
    try:
        used = int(tf.config.experimental.get_memory_info("GPU:0")["current"])
    except (ValueError, RuntimeError, KeyError, AttributeError):
        used = 0
    return max(0, total - used)


def estimate_batch_bytes(model, batch_size: int) -> int:
    """A rough upper estimate of the memory one training step needs: every layer's output for
    each sample, kept for the backward pass and matched by a gradient of the same size, plus the
    weights with their gradients and Adam's two slots. (A U-Net batch of 76 that this puts at
    10 GB trained within 24 GB of RAM.)"""
    per_sample = 0
    for layer in _flat_layers(model):
        try:
            outputs = layer.output
        except (AttributeError, ValueError):
            continue
        for out in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
            dims = [d for d in tuple(out.shape)[1:] if d is not None]
            per_sample += math.prod(dims) if dims else 1
    weights = int(model.count_params())
    return int(batch_size) * per_sample * 4 * 2 + weights * 4 * 4


def _flat_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _flat_layers(layer)
        else:
            yield layer


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


# --- progress, stop and NaN detection ------------------------------------------------------


class _RunState:
    def __init__(self) -> None:
        self.nan_at: tuple[int, int] | None = None  # (epoch, batch), 1-based
        self.stopped_at: tuple[int, int] | None = None
        self.good_epochs: list[int] = []
        self.checkpoints: dict[int, list[Path]] = {}
        self.trained_samples = 0
        self.bad_loss = float("nan")
        self.train_time = 0.0
        self.partial_epochs: list[int] = []  # epochs cut short by Stop or a NaN (1-based)


def _make_callbacks(keras, handle, state: _RunState, *, epochs: int, initial_epoch: int,
                    steps: int, n_train: int, batch_size: int):
    """The monitor (first in the list) and the reporter (last)."""
    stop_event: threading.Event = getattr(handle, "stop_event", None) or threading.Event()

    class Monitor(keras.callbacks.Callback):
        """Stops on request and on a non-finite loss; checks the weights before checkpoints."""

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not (math.isfinite(float(loss)) and abs(float(loss)) < DIVERGED_LOSS):
                state.nan_at = (self._epoch + 1, batch + 1)
                state.bad_loss = float(loss)
                self.model.stop_training = True

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_test_begin(self, logs=None):
            if state.nan_at or state.stopped_at or stop_event.is_set():
                self.model.stop_evaluating = True

        def on_epoch_end(self, epoch, logs=None):
            if state.nan_at is None and not state.stopped_at:
                # A finite loss can still leave infinite weights after the last update.
                for w in self.model.weights:
                    if not np.all(np.isfinite(np.asarray(w))):
                        state.nan_at = (epoch + 1, steps)
                        self.model.stop_training = True
                        break
            if state.nan_at is None:
                state.good_epochs.append(epoch + 1)

    class Checkpoint(keras.callbacks.ModelCheckpoint):
        """Listing 2.4's ModelCheckpoint that refuses to save a model whose loss became NaN,
        writes each file atomically, names the epoch cut short by Stop ``epoch-0N-partial``
        and writes an ``.h5`` twin on request."""

        save_h5 = False

        def on_epoch_end(self, epoch, logs=None):
            if state.nan_at is not None:
                return
            path = Path(kerascompat.checkpoint_file_path(self, epoch, logs))
            if state.stopped_at is not None:
                path = path.with_name(f"{path.stem}-partial{path.suffix}")
            path.parent.mkdir(parents=True, exist_ok=True)
            save_atomic(self.model, path)
            state.checkpoints.setdefault(epoch + 1, []).append(path)
            if self.save_h5:
                save_atomic(self.model, path.with_suffix(".h5"))
                state.checkpoints[epoch + 1].append(path.with_suffix(".h5"))

    class Reporter(keras.callbacks.Callback):
        """Turns Keras logs into the plain dicts of the handle protocol."""

        def on_train_begin(self, logs=None):
            self._t0 = time.perf_counter()
            self._rate_t = None
            self._rate_samples = 0
            self._lr = self._read_lr()

        def _read_lr(self) -> float:
            try:
                return float(np.asarray(self.model.optimizer.learning_rate))
            except Exception:  # an optimizer without a plain learning rate
                return float("nan")

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch
            self._epoch_t0 = time.perf_counter()
            self._epoch_samples = 0
            self._lr = self._read_lr()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            done_before = batch * batch_size
            samples = max(0, min(batch_size, n_train - done_before))
            self._epoch_samples += samples
            state.trained_samples += samples
            # The rate leaves out the first batch, which includes building the step function.
            if self._rate_t is None:
                self._rate_t = now
            else:
                self._rate_samples += samples
            span = now - self._rate_t
            rate = self._rate_samples / span if span > 0 and self._rate_samples else 0.0
            step_in_run = (self._epoch - initial_epoch) * steps + batch + 1
            total_steps = (epochs - initial_epoch) * steps
            remaining = (total_steps - step_in_run) * batch_size
            logs = logs or {}
            loss = logs.get("loss")
            info = {
                "epoch": self._epoch + 1,
                "epochs": epochs,
                "batch": batch + 1,
                "batches": steps,
                "step": step_in_run,
                "steps": total_steps,
                "loss": float(loss) if loss is not None else float("nan"),
                "metrics": {k: float(v) for k, v in logs.items() if k != "loss"},
                "lr": self._lr,
                "samples_per_s": rate,
                "eta_s": remaining / rate if rate > 0 else None,
                "elapsed_s": now - self._t0,
            }
            _send(handle, "on_batch", info)
            # Checked after reporting, so a Stop pressed while this batch ran (or in on_batch
            # itself) ends the run here: the current batch is finished, no other starts.
            if stop_event.is_set() and state.nan_at is None and not state.stopped_at:
                state.stopped_at = (self._epoch + 1, batch + 1)
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            logs = dict(logs or {})
            partial = bool(state.stopped_at) or state.nan_at is not None
            if partial and epoch + 1 not in state.partial_epochs:
                state.partial_epochs.append(epoch + 1)
            if partial:  # a validation cut short by Stop says nothing
                logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
            saved = state.checkpoints.get(epoch + 1, [])
            epoch_time = now - self._epoch_t0
            val_loss = logs.get("val_loss")
            _send(handle, "on_epoch", {
                "epoch": epoch + 1,
                "epochs": epochs,
                "loss": float(logs.get("loss", float("nan"))),
                "val_loss": float(val_loss) if val_loss is not None else None,
                "metrics": {k: float(v) for k, v in logs.items() if k not in ("loss", "val_loss", "learning_rate")},
                "lr": self._read_lr(),
                "elapsed_s": now - self._t0,
                "epoch_time_s": epoch_time,
                "samples_per_s": self._epoch_samples / epoch_time if epoch_time > 0 else 0.0,
                "checkpoint": str(saved[0]) if saved else None,
                "partial": partial,
                "nan": state.nan_at is not None,
            })

        def on_train_end(self, logs=None):
            state.train_time = time.perf_counter() - self._t0

    return Monitor(), Checkpoint, Reporter()


def _epoch_log(keras, path: Path, state: _RunState, keep_before: int):
    """Keras's CSVLogger with a ``partial`` column (1 for an epoch cut short by Stop or a NaN,
    whose means are not those of a whole epoch). A continued run keeps the rows of the epochs
    before ``keep_before`` (0-based, as in the file) and appends its own."""
    rows: list[dict[str, str]] = []
    if keep_before > 0 and path.is_file():
        import csv

        with open(path, newline="") as fh:
            rows = [r for r in csv.DictReader(fh)
                    if r.get("epoch", "").isdigit() and int(r["epoch"]) < keep_before]

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            import csv

            row = {"epoch": str(epoch)}
            row.update({k: str(float(v)) for k, v in sorted((logs or {}).items())
                        if np.ndim(v) == 0})
            row["partial"] = "1" if epoch + 1 in state.partial_epochs or state.nan_at or state.stopped_at else "0"
            rows.append(row)
            keys = ["epoch"] + sorted({k for r in rows for k in r} - {"epoch", "partial"}) + ["partial"]
            tmp = _temp_name(path)
            try:
                with open(tmp, "w", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=keys, restval="NA")
                    writer.writeheader()
                    writer.writerows(rows)
                os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()

    return EpochLog()


GRADIENT_SAMPLES = 32  # the fixed batch the gradient norms are measured on
GRADIENT_REPORTS_PER_EPOCH = 10


def _gradient_flow_callback(handle, ds, x_tr, y_tr, input_shape, steps: int, streaming: bool, dist, say):
    """The gradient-flow callback (cnnviz.ml.gradflow) on the first training samples, about
    ten reports an epoch; None (said why) where it cannot measure."""
    from cnnviz.ml import gradflow

    if streaming:
        say("Gradient flow is measured on data held in memory; an image folder is read while training.")
        return None
    if dist.replicas > 1:
        say("Gradient flow is not measured while the batch is shared by several replicas.")
        return None
    n = min(GRADIENT_SAMPLES, len(x_tr))
    fx, fy = data.model_arrays(ds, x_tr[:n], y_tr[:n], input_shape)
    fx = list(fx) if isinstance(fx, tuple) else fx
    every = max(1, steps // GRADIENT_REPORTS_PER_EPOCH)
    return gradflow.make_callback(handle, fx, fy, every_n_batches=every)


# --- what a segmentation or siamese run does, each epoch ------------------------------------

VIEW_SAMPLES = 4  # validation images (or pairs of each kind) shown in the pane's tab
MASK_SCORE_SAMPLES = 32  # the fixed validation subset the masks' Jaccard and Dice are measured on
PAIR_SCORE_SAMPLES = 2000  # pairs the pair accuracy is measured on (all of a bundled set's)
PAIR_THRESHOLD = 0.5  # the book's rule: a distance below 0.5 means "the same digit"


def mask_report(scores: np.ndarray, truth: np.ndarray, images: np.ndarray, names: list[str],
                shown: int = VIEW_SAMPLES) -> dict:
    """An epoch's masks as plain data: ``scores`` (N, H, W, C) the model's outputs on the fixed
    validation subset, ``truth`` (N, H, W) the true classes, ``images`` (N, H, W, c) uint8.
    Jaccard and Dice per class are the means over the images of
    :func:`cnnviz.core.masks.mask_scores` (the book's Dice, with its factor 2); the mean is over
    the classes. Non-finite scores are counted (such a pixel's class is read from its finite
    scores, class 0 when none is)."""
    from cnnviz.core import masks as M

    scores = np.asarray(scores)
    classes = max(2, int(scores.shape[-1]))
    predicted = np.stack([M.argmax_mask(s) for s in scores]) if len(scores) else np.zeros((0, 1, 1), np.int32)
    per = [M.mask_scores(p, t, classes) for p, t in zip(predicted, truth)]
    jac = np.mean([s.jaccard for s in per], axis=0) if per else np.zeros(classes)
    dic = np.mean([s.dice for s in per], axis=0) if per else np.zeros(classes)
    names = [names[i] if i < len(names) else f"class {i}" for i in range(classes)]
    return {
        "task": "segmentation",
        "images": np.asarray(images[:shown], np.uint8),
        "truth": np.asarray(truth[:shown], np.int32),
        "predicted": predicted[:shown].astype(np.int32),
        "class_names": names,
        "jaccard": [float(v) for v in jac],
        "dice": [float(v) for v in dic],
        "mean_jaccard": float(np.mean(jac)),
        "mean_dice": float(np.mean(dic)),
        "samples": len(per),
        "nonfinite": int(np.count_nonzero(~np.isfinite(scores))),
        "values": int(scores.size),
    }


def pair_report(distances: np.ndarray, same: np.ndarray, first: np.ndarray, second: np.ndarray,
                shown: int = VIEW_SAMPLES, threshold: float = PAIR_THRESHOLD) -> dict:
    """An epoch's pairs as plain data: the pair accuracy at ``threshold`` (a distance below it
    says "same"; a NaN distance says neither, so it counts as wrong) and ``shown`` pairs of
    each kind (same, different) with their distances. ``first``/``second`` are uint8 images."""
    d = np.asarray(distances, np.float64).reshape(-1)
    truth = np.asarray(same).reshape(-1) >= 0.5
    finite = np.isfinite(d)
    said_same = finite & (d < threshold)
    right = (said_same == truth) & finite
    picks = list(np.flatnonzero(truth)[:shown]) + list(np.flatnonzero(~truth)[:shown])
    return {
        "task": "pairs",
        "accuracy": float(np.mean(right)) if d.size else float("nan"),
        "threshold": float(threshold),
        "samples": int(d.size),
        "nonfinite": int(np.count_nonzero(~finite)),
        "first": np.asarray(first[picks], np.uint8),
        "second": np.asarray(second[picks], np.uint8),
        "distances": [float(d[i]) for i in picks],
        "same": [bool(truth[i]) for i in picks],
    }


def _task_view_callback(keras, handle, state: _RunState, ds, model, x_val, y_val, input_shape, say):
    """The callback that measures, at each whole epoch's end, what a segmentation run's masks
    or a siamese run's pairs look like on a fixed validation subset (logs ``val_mask_jaccard``
    and ``val_mask_dice``, or ``val_pair_accuracy``, and sends the report to
    ``handle.on_task_view``). None for other runs: chosen by the dataset's task and the model's
    output, never by the model's name."""
    from cnnviz.ml import outputs

    task = getattr(ds, "task", "classification")
    if task == "segmentation" and outputs.output_kind(model) != "mask":
        return None
    if task == "pairs" and len(model.inputs) != 2:
        return None
    if task not in ("segmentation", "pairs"):
        return None
    if x_val is None or not len(x_val):
        say("Keep some validation samples to see the " + ("masks" if task == "segmentation" else "pairs")
            + " each epoch.")
        return None
    n = min(len(x_val), MASK_SCORE_SAMPLES if task == "segmentation" else PAIR_SCORE_SAMPLES)
    vx, vy = data.model_arrays(ds, x_val[:n], y_val[:n], input_shape)
    if task == "segmentation":
        images = data.adapt_images(np.asarray(x_val[:VIEW_SAMPLES]), input_shape)
        truth = np.argmax(vy, axis=-1)
    else:
        vx = list(vx)
        firsts = data.adapt_images(np.asarray(x_val[:n, 0]), input_shape)
        seconds = data.adapt_images(np.asarray(x_val[:n, 1]), input_shape)
    batch = 32

    class TaskView(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if state.nan_at is not None or state.stopped_at is not None:
                return  # a cut-short epoch: the tab keeps the last whole epoch's values
            out = self.model.predict(vx, batch_size=batch, verbose=0)
            out = np.asarray(out[0] if isinstance(out, (list, tuple)) else out, np.float32)
            if task == "segmentation":
                report = mask_report(out, truth, images, list(ds.class_names))
                if logs is not None:
                    logs["val_mask_jaccard"] = report["mean_jaccard"]
                    logs["val_mask_dice"] = report["mean_dice"]
            else:
                report = pair_report(out, vy, firsts, seconds)
                if logs is not None:
                    logs["val_pair_accuracy"] = report["accuracy"]
            report["epoch"] = epoch + 1
            _send(handle, "on_task_view", report)

    return TaskView()


def _continues_run(config: TrainConfig, run_dir: Path) -> dict | None:
    """The run.json of the run a continuation appends to: the checkpoint's own run folder
    given as ``out_dir`` (same folder, curves and epoch numbers carried on); else None."""
    if config.resume_from is None:
        return None
    source = Path(config.resume_from).expanduser()
    folder = source.parent.parent if source.parent.name == "checkpoints" else source.parent
    try:
        if folder.resolve() != run_dir.resolve():
            return None
        info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


class _AugmentedBatches:
    """Batches for ``fit`` with fresh Listing-4.4 augmentation each epoch (uint8 in, float out)."""

    def __new__(cls, *args, **kwargs):
        keras = backend.keras()

        class Batches(keras.utils.PyDataset):
            def __init__(self, ds, x, y, input_shape, batch_size, seed, aug):
                super().__init__(workers=1, use_multiprocessing=False)
                self.ds, self.x, self.y = ds, x, y
                self.input_shape, self.batch_size, self.aug = input_shape, batch_size, aug
                self.rng = np.random.default_rng(seed)
                self.order = self.rng.permutation(len(x))

            def __len__(self):
                return math.ceil(len(self.x) / self.batch_size)

            def __getitem__(self, index):
                idx = self.order[index * self.batch_size:(index + 1) * self.batch_size]
                x, y = self.x[idx], self.y[idx]
                if self.ds.task == "segmentation":
                    x, y = data.augment(x, self.rng, self.aug, masks=y)
                else:
                    x = data.augment(x, self.rng, self.aug)
                bx, by = data.model_arrays(self.ds, x, y, self.input_shape)
                return bx, by  # a pair of inputs stays a tuple for tf.data

            def on_epoch_end(self):
                self.order = self.rng.permutation(len(self.x))

        return Batches(*args, **kwargs)


def _stream_watch(keras, streams, say):
    """A callback that, after each whole epoch, says which files of a streamed folder could not
    be read (broken, or deleted while training); those are skipped, never a crash."""

    class StreamWatch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            for stream in streams:
                stream.begin_epoch()

        def on_epoch_end(self, epoch, logs=None):
            if self.model.stop_training:  # cut short: files not reached are not unreadable
                return
            new = [item for stream in streams for item in stream.end_epoch()]
            if new:
                total = len(streams[0].folder.skipped)
                say(f"{data.skipped_message(new)} (epoch {epoch + 1}; {total} skipped in all).")

    return StreamWatch()


# --- the run -------------------------------------------------------------------------------


def _validate(config: TrainConfig) -> None:
    zoo.spec(config.model)  # raises for an unknown model
    if isinstance(config.dataset, LOADED_DATASETS):
        if config.dataset.task != zoo.spec(config.model).task:
            raise TrainingError(
                f"The dataset '{config.dataset.name}' is for {config.dataset.task}; "
                f"{config.model} needs a {zoo.spec(config.model).task} dataset."
            )
    elif config.dataset is not None:
        if config.dataset not in data.NAMES:
            raise TrainingError(f"Unknown dataset '{config.dataset}'; choose one of {', '.join(data.NAMES)}.")
        if config.dataset not in data.compatible(config.model):
            raise TrainingError(
                f"The dataset '{config.dataset}' does not suit {config.model} (a "
                f"{zoo.spec(config.model).task} model); choose one of "
                f"{', '.join(data.compatible(config.model))}."
            )
    if int(config.epochs) < 1:
        raise TrainingError(f"Train for at least one epoch, not {config.epochs}.")
    if int(config.batch_size) < 1:
        raise TrainingError(f"The batch size must be at least 1, not {config.batch_size}.")
    if not 0.0 <= float(config.validation_split) < 1.0:
        raise TrainingError(f"The validation split must be between 0 and 1 (e.g. 0.1), not {config.validation_split}.")
    if config.learning_rate is not None and not (math.isfinite(config.learning_rate) and config.learning_rate > 0):
        raise TrainingError(f"The learning rate must be a positive number, not {config.learning_rate}.")
    if config.optimizer is not None and config.optimizer.lower() not in zoo.OPTIMIZERS:
        raise TrainingError(f"Unknown optimizer '{config.optimizer}'; choose one of {', '.join(zoo.OPTIMIZERS)}.")
    if not 0 <= int(config.seed) < 2**32:
        raise TrainingError(f"The seed must be a whole number from 0 to {2**32 - 1}, not {config.seed}.")
    if config.max_samples is not None and int(config.max_samples) < 2:
        raise TrainingError("max_samples must be at least 2.")
    try:
        distribute.check(config.strategy, config.cpu_replicas, int(config.batch_size))
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    if config.out_dir is None:
        raise TrainingError("Choose an output folder for the checkpoints and logs.")
    if config.resume_from is not None and not Path(config.resume_from).is_file():
        raise TrainingError(f"The checkpoint '{config.resume_from}' to continue from does not exist.")


def _split(ds: data.Dataset, fraction: float, seed: int):
    """Training and validation arrays: the dataset's own test part, or a seeded random split
    (shuffled first — Keras's validation_split would take the last samples unshuffled). An
    image folder is split into two lists of files the same way (nothing is read)."""
    if isinstance(ds, data.FolderDataset):
        try:
            train, val = ds.split(fraction, seed)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        return train, None, val, None
    if ds.x_val is not None and ds.y_val is not None and fraction > 0:
        return ds.x_train, ds.y_train, ds.x_val, ds.y_val
    if fraction <= 0:
        return ds.x_train, ds.y_train, None, None
    order = np.random.default_rng(seed + 1).permutation(len(ds))
    n_val = max(1, int(round(len(ds) * fraction)))
    if len(ds) - n_val < 1:
        raise TrainingError(f"Only {len(ds)} samples: too few to keep {fraction:.0%} for validation.")
    val, train = order[:n_val], order[n_val:]
    return ds.x_train[train], ds.y_train[train], ds.x_train[val], ds.y_train[val]


def _epoch_from_checkpoint(path: Path) -> int:
    """The epochs a checkpoint has completed: from its name, else from its run.json.

    ``epoch-03.keras`` was written after epoch 3, so training continues with epoch 4;
    ``epoch-03-partial.keras`` was written when Stop cut epoch 3 short, so epoch 3 is trained
    again from its start (from the weights it had reached)."""
    run_json = path.parent.parent / "run.json" if path.parent.name == "checkpoints" else path.parent / "run.json"
    match = re.search(r"epoch-(\d+)(-partial)?", path.name)
    if match:
        return int(match.group(1)) - (1 if match.group(2) else 0)
    try:
        info = json.loads(run_json.read_text())
        return int(info.get("epochs_completed", 0))
    except (OSError, ValueError):
        return 0


def _lr_advice(lr: float, book_lr: float, optimizer: str) -> str:
    if lr > 10 * book_lr:
        return (f"the learning rate {lr:g} is probably too high for {optimizer}; try "
                f"{book_lr:g} (the book's value)")
    return ("the data may contain invalid values (NaN or infinity), or the learning rate "
            f"{lr:g} is still too high; try a smaller one")


def _write_json(path: Path, payload: dict) -> None:
    tmp = _temp_name(path)
    try:
        tmp.write_text(json.dumps(payload, indent=2, default=str))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def mark_interrupted(run_dir: str | os.PathLike[str], message: str, status: str = "interrupted") -> bool:
    """Record in ``run.json`` that the program quit before a run could end (its last saved
    checkpoint is what is left). Only a run still marked "running" is changed; True if it was.
    ``status`` is "interrupted" (the window closed first) or "crashed" (TensorFlow died)."""
    path = Path(run_dir) / "run.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(info, dict) or info.get("status") != "running":
        return False
    ckpt_dir = Path(run_dir) / "checkpoints"
    saved = sorted(ckpt_dir.glob("epoch-*.keras"), key=lambda p: p.stat().st_mtime) if ckpt_dir.is_dir() else []
    info.update(status=status, message=message,
                last_good_checkpoint=str(saved[-1]) if saved else None,
                finished=datetime.now(UTC).isoformat(timespec="seconds"))
    try:
        _write_json(path, info)
    except OSError:
        return False
    return True


def _remove_empty_checkpoints(run_dir: Path | None) -> None:
    """A run that failed before saving anything leaves no empty ``checkpoints`` folder behind."""
    if run_dir is None:
        return
    try:
        (Path(run_dir) / "checkpoints").rmdir()  # only succeeds when empty
    except OSError:
        pass


def run(config: TrainConfig, handle: Any = None) -> TrainResult:
    """Train ``config.model`` on ``config.dataset`` and write the run folder.

    Never raises for the problems a user can cause (unknown names, a folder that cannot be
    written, a dataset that is not downloaded, a batch too large for memory, NaN, a second
    run): those end in a ``failed`` or ``nan`` result whose ``message`` says what to do, and
    are also sent to ``handle.on_message``.
    """
    handle = handle if handle is not None else Handle()
    if not _RUN_LOCK.acquire(blocking=False):
        msg = "A training run is already in progress; stop it or wait until it ends."
        _send(handle, "on_message", msg)
        return TrainResult("failed", msg)
    try:
        return _run_locked(config, handle)
    except (TrainingError, data.DatasetUnavailableError, ValueError) as exc:
        msg = str(exc)
        _send(handle, "on_message", msg)
        run_dir = Path(config.out_dir).expanduser() if config.out_dir else None
        _remove_empty_checkpoints(run_dir)
        return TrainResult("failed", msg, run_dir=run_dir)
    finally:
        _RUN_LOCK.release()


def _run_locked(config: TrainConfig, handle: Any) -> TrainResult:
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    _validate(config)
    spec = zoo.spec(config.model)
    run_dir = check_output_dir(config.out_dir)  # before any data or model work
    previous = _continues_run(config, run_dir)  # the run this continues, in its own folder
    ckpt_dir = run_dir / "checkpoints"
    say = lambda text: _send(handle, "on_message", text)  # noqa: E731

    keras = backend.keras()
    tf = backend.tensorflow()
    device = backend.device_description()
    say(f"Training on {device}.")

    # Data, adapted to the model's input.
    if isinstance(config.dataset, LOADED_DATASETS):
        ds = config.dataset
        dataset_name = ds.name
    else:
        dataset_name = config.dataset or data.default_for(config.model)
        options = dict(config.dataset_options)
        options.setdefault("seed", config.seed)
        if dataset_name in ("shapes", "segmentation"):
            options.setdefault("size", spec.input_shape[0])
            options.setdefault("channels", spec.input_shape[2])
        if dataset_name == "folder":
            options.setdefault("size", spec.input_shape[:2])
            options.setdefault("channels", spec.input_shape[2])
        ds = data.load(dataset_name, **options)
    for text in ds.messages:
        say(text)
    ds = ds.subset(config.max_samples, seed=config.seed)
    # A folder is split into lists of files (x_tr/x_val are FolderDatasets, y_* None); other
    # sets into arrays.
    streaming = isinstance(ds, data.FolderDataset)
    x_tr, y_tr, x_val, y_val = _split(ds, float(config.validation_split), int(config.seed))
    n_train = int(len(x_tr))
    n_val = int(len(x_val)) if x_val is not None else 0

    batch_size = int(config.batch_size)
    if batch_size > n_train:
        say(f"The batch size {batch_size} is larger than the {n_train} training samples; using {n_train}.")
        batch_size = n_train
    steps = math.ceil(n_train / batch_size)

    # Data parallelism: the replicas share each (global) batch.
    try:
        dist = distribute.plan(config.strategy, int(config.cpu_replicas))
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    if dist.replicas > batch_size:
        raise TrainingError(
            f"A batch of {batch_size} cannot be shared by {dist.replicas} replicas: each needs at "
            f"least one sample. Choose a batch size of at least {dist.replicas}"
            + (" (and at least as many training samples)." if batch_size < int(config.batch_size) else ".")
        )
    per_replica = batch_size // dist.replicas
    say(dist.describe(batch_size))
    _send(handle, "on_strategy", {"strategy": dist.name, "replicas": dist.replicas,
                                  "global_batch_size": batch_size, "per_replica_batch_size": per_replica})

    # The model: fresh from the zoo, or a checkpoint to continue from.
    keras.utils.set_random_seed(int(config.seed))
    gpus = tf.config.list_physical_devices("GPU")
    initial_epoch = 0
    with dist.scope():
        if config.resume_from is not None:
            from cnnviz.ml import layers as _registered  # noqa: F401  (custom objects)

            source = Path(config.resume_from)
            try:
                model = keras.models.load_model(source)
            except Exception as exc:
                raise TrainingError(f"The checkpoint '{source}' cannot be loaded: {exc}") from None
            if not getattr(model, "optimizer", None) or not getattr(model, "compiled", True):
                model.compile(optimizer=zoo.make_optimizer(config.optimizer or spec.optimizer,
                                                           config.learning_rate or spec.learning_rate),
                              **zoo._compile_args(config.model))
            elif config.learning_rate is not None:
                model.optimizer.learning_rate.assign(float(config.learning_rate))
            initial_epoch = _epoch_from_checkpoint(source)
            if "-partial" in source.stem:
                say(f"Continuing from {source.name} (saved when epoch {initial_epoch + 1} was "
                    f"stopped; that epoch is trained again from its start).")
            else:
                say(f"Continuing from {source.name} (after epoch {initial_epoch}).")
        else:
            model = zoo.build(
                config.model,
                learning_rate=config.learning_rate,
                optimizer=config.optimizer,
                num_classes=ds.num_classes if spec.task != "pairs" else None,
                functional=config.functional,
            )
            book_layer_names(model)
    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])

    # Memory: the data as float32 (a streamed folder holds a few batches only), and one step.
    data_bytes = 0 if streaming else (n_train + n_val) * math.prod(input_shape) * 4
    if ds.task == "pairs":
        data_bytes *= 2
    step_bytes = estimate_batch_bytes(model, batch_size)
    free = _available_memory()
    # On a GPU the training step lives in the GPU's memory and the arrays in the host's; on a
    # CPU both share the host's RAM.
    gpu_free = _available_gpu_memory(tf) if gpus else None
    if gpu_free is not None:
        step_need, step_free, where = step_bytes, gpu_free, "on the GPU"
        if free is not None and not config.augment and data_bytes > MEMORY_SHARE * free:
            raise TrainingError(
                f"The data for {config.model} needs about {_gb(data_bytes)} of memory, more than "
                f"the {_gb(free)} free. Choose fewer samples or turn on augmentation (which "
                f"prepares one batch at a time)."
            )
    else:
        step_need, step_free, where = step_bytes + (0 if config.augment else data_bytes), free, ""
    if step_free is not None and step_need > MEMORY_SHARE * step_free:
        suggestion = max(1, int(batch_size * MEMORY_SHARE * step_free / max(step_bytes, 1) / 2))
        extra = "" if gpu_free is not None else f" (plus {_gb(data_bytes)} for the data)"
        raise TrainingError(
            f"A batch of {batch_size} would need about {_gb(step_bytes)} of memory for "
            f"{config.model}{extra}, more than the {_gb(step_free)} free{(' ' + where) if where else ''}. "
            f"Choose a smaller batch size (at most about {suggestion}) or fewer samples."
        )

    optimizer_name = type(model.optimizer).__name__ if getattr(model, "optimizer", None) else "?"
    run_info: dict[str, Any] = {
        "cnnviz_run": 1,
        "config": config.to_json(),
        "model": config.model,
        "dataset": dataset_name,
        "dataset_description": ds.description,
        "attribution": ds.attribution,
        "class_names": ds.class_names,
        "task": ds.task,
        "input_shape": list(input_shape),
        "train_samples": n_train,
        "val_samples": n_val,
        "batch_size": batch_size,
        "strategy": dist.name,
        "replicas": dist.replicas,
        "replica_devices": list(dist.devices),
        "global_batch_size": batch_size,
        "per_replica_batch_size": per_replica,
        "streamed": streaming,
        "optimizer": optimizer_name,
        "initial_epoch": initial_epoch,
        "device": device,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "started": started_at,
        "status": "running",
    }
    if previous is not None:
        # The same run goes on: its start, its first epoch and its earlier legs are kept.
        run_info.update(
            started=previous.get("started", started_at),
            initial_epoch=int(previous.get("initial_epoch") or 0),
            continued=list(previous.get("continued") or []) + [
                {"started": started_at, "from": Path(config.resume_from).name, "after_epoch": initial_epoch}],
        )
    _write_json(run_dir / "run.json", run_info)

    stop_event = getattr(handle, "stop_event", None)
    if stop_event is not None and stop_event.is_set():
        msg = "Stopped before the first batch; the model is untrained."
        say(msg)
        run_info.update(status="stopped", message=msg, epochs_completed=initial_epoch,
                        elapsed_s=time.perf_counter() - started)
        if previous is not None:  # nothing trained: the run's record stays as it was
            run_info.update({k: previous[k] for k in ("history", "partial_epochs", "checkpoints",
                                                      "last_good_checkpoint") if k in previous})
        _write_json(run_dir / "run.json", run_info)
        return TrainResult("stopped", msg, model, run_dir, initial_epoch, device=device,
                           elapsed_s=time.perf_counter() - started, strategy=dist.name,
                           replicas=dist.replicas, global_batch_size=batch_size,
                           per_replica_batch_size=per_replica)

    # Arrays (or a folder's tf.data pipelines) and callbacks.
    streams = []
    if streaming:
        aug = None
        if config.augment:
            aug = data.BOOK_AUGMENTATION if ds.flip_ok else data.BOOK_AUGMENTATION.without_flip()
        streams.append(x_tr.stream(input_shape, batch_size, shuffle=True, seed=int(config.seed),
                                   augmentation=aug))
        fit_x, fit_y = streams[0].dataset, None
        if x_val is not None:
            streams.append(x_val.stream(input_shape, batch_size, shuffle=False))
    elif config.augment:
        aug = data.BOOK_AUGMENTATION if ds.flip_ok else data.BOOK_AUGMENTATION.without_flip()
        fit_x = _AugmentedBatches(ds, data.adapt_images(x_tr, input_shape) if ds.task != "pairs" else x_tr,
                                  y_tr, input_shape, batch_size, int(config.seed), aug)
        fit_y = None
    else:
        fx, fit_y = data.model_arrays(ds, x_tr, y_tr, input_shape)
        fit_x = list(fx) if isinstance(fx, tuple) else fx
    validation = None
    if streaming:
        validation = streams[1].dataset if len(streams) > 1 else None
    elif x_val is not None:
        vx, vy = data.model_arrays(ds, x_val, y_val, input_shape)
        validation = (list(vx) if isinstance(vx, tuple) else vx, vy)

    epochs = initial_epoch + int(config.epochs)
    state = _RunState()
    monitor, Checkpoint, reporter = _make_callbacks(
        keras, handle, state, epochs=epochs, initial_epoch=initial_epoch, steps=steps,
        n_train=n_train, batch_size=batch_size,
    )
    checkpoint = Checkpoint(str(ckpt_dir / "epoch-{epoch:02d}.keras"), monitor="loss",
                            save_best_only=False, save_weights_only=False, verbose=0)
    checkpoint.save_h5 = bool(config.save_h5)
    callbacks = [monitor, checkpoint]
    if streams:
        callbacks.insert(0, _stream_watch(keras, streams, say))
    callbacks.append(_epoch_log(keras, run_dir / "log.csv", state,
                                keep_before=initial_epoch if previous is not None else 0))
    if config.gradient_flow:
        flow = _gradient_flow_callback(handle, ds, x_tr, y_tr, input_shape, steps, streaming, dist, say)
        if flow is not None:
            callbacks.append(flow)
    if not streaming:
        view = _task_view_callback(keras, handle, state, ds, model, x_val, y_val, input_shape, say)
        if view is not None:
            callbacks.insert(callbacks.index(checkpoint), view)  # its numbers reach log.csv and run.json
    if config.reduce_lr_on_plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss" if validation is not None else "loss",
            mode="min", factor=0.2, patience=2, min_lr=1e-6, verbose=0))
    callbacks.append(reporter)

    say(f"{config.model} on {dataset_name}: {n_train} training and "
        f"{n_val} validation samples, batch {batch_size}, "
        f"{steps} batches per epoch"
        + (" (images read while training)." if streaming else "."))
    history: dict[str, list[float]] = {}
    failure: str | None = None
    try:
        fit_kwargs: dict[str, Any] = dict(
            epochs=epochs, initial_epoch=initial_epoch, validation_data=validation,
            callbacks=callbacks, verbose=0,
        )
        if streaming:
            # The pipeline shuffles by itself; its length is learnt in the first epoch (files
            # that cannot be read are dropped), which Keras would report as running out of data.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                h = model.fit(fit_x, shuffle=False, **fit_kwargs)
        elif fit_y is None:
            h = model.fit(fit_x, **fit_kwargs)
        else:
            h = model.fit(fit_x, fit_y, batch_size=batch_size, shuffle=True, **fit_kwargs)
        history = {k: [float(v) for v in vals] for k, vals in h.history.items()}
    except (tf.errors.ResourceExhaustedError, MemoryError) as exc:
        failure = (f"Training ran out of memory with a batch of {batch_size} "
                   f"({type(exc).__name__}). Choose a smaller batch size or fewer samples.")

    # The outcome.
    last_good: Path | None = None
    good = [e for e in state.good_epochs if e in state.checkpoints]
    if good:
        last_good = state.checkpoints[good[-1]][0]
    elif config.resume_from is not None:
        last_good = Path(config.resume_from)
    checkpoints = [p for e in sorted(state.checkpoints) for p in state.checkpoints[e]]
    epochs_completed = good[-1] if good else initial_epoch
    final_path: Path | None = None

    if failure is not None:
        status, msg = "failed", failure
    elif state.nan_at is not None:
        epoch, batch = state.nan_at
        lr = float(config.learning_rate or (spec.learning_rate if config.resume_from is None else reporter._lr))
        advice = _lr_advice(lr, spec.learning_rate, (config.optimizer or spec.optimizer))
        if last_good is not None:
            kept = f"The last good checkpoint ({last_good.name}) is kept and the model is restored from it."
            try:
                model.load_weights(last_good)
            except Exception as exc:  # the file is still there for the user
                kept += f" (Restoring it failed: {exc})"
        else:
            kept = "No epoch finished before it, so there is no checkpoint; the model's weights are unusable."
        status = "nan"
        what = ("became NaN" if math.isnan(state.bad_loss) or not math.isfinite(state.bad_loss)
                else f"exploded to {state.bad_loss:.3g}")
        msg = f"The loss {what} at epoch {epoch} batch {batch} — {advice}. {kept}"
    elif state.stopped_at is not None:
        epoch, batch = state.stopped_at
        status, msg = "stopped", f"Stopped at epoch {epoch} batch {batch}; the model is kept."
    else:
        status, msg = "finished", f"Finished {int(config.epochs)} epoch(s)."

    if status in ("finished", "stopped"):
        final_path = run_dir / "final.keras"
        save_atomic(model, final_path)
        if config.save_h5:
            save_atomic(model, run_dir / "final.h5")
        epochs_completed = epochs if status == "finished" else epochs_completed
        msg += f" Saved {final_path}."
    if status == "failed":
        _remove_empty_checkpoints(run_dir)
    say(msg)

    elapsed = time.perf_counter() - started
    rate = state.trained_samples / state.train_time if state.train_time > 0 else 0.0
    saved = [str(p.relative_to(run_dir)) for p in checkpoints]
    partial_epochs = list(state.partial_epochs)
    run_history = history
    if previous is not None:
        # Earlier epochs first; an epoch trained again (after a partial one) replaces its row.
        keep = max(0, initial_epoch - int(previous.get("initial_epoch") or 0))
        old = previous.get("history") if isinstance(previous.get("history"), dict) else {}
        run_history = {k: list(old.get(k, []))[:keep] + history.get(k, [])
                       for k in dict.fromkeys([*old, *history])}
        partial_epochs = [e for e in previous.get("partial_epochs") or [] if e <= initial_epoch] + partial_epochs
        saved = [c for c in previous.get("checkpoints") or [] if c not in saved] + saved
    run_info.update(
        status=status, message=msg, epochs_completed=epochs_completed, history=run_history,
        partial_epochs=partial_epochs,
        checkpoints=saved,
        last_good_checkpoint=str(last_good) if last_good else None,
        final=final_path.name if final_path else None,
        nan_at=list(state.nan_at) if state.nan_at else None,
        stopped_at=list(state.stopped_at) if state.stopped_at else None,
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        elapsed_s=elapsed, samples_per_s=rate,
    )
    _write_json(run_dir / "run.json", run_info)
    return TrainResult(status, msg, model, run_dir, epochs_completed, history, checkpoints,
                       last_good, final_path, device, elapsed, rate, dist.name, dist.replicas,
                       batch_size, per_replica)

