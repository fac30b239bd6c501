"""The training pane's work, as jobs for the one Keras worker: ``fn(job, *args)``.

A job reads ``job.stop_event``, reports with ``job.progress(payload)`` and reaches the worker's
models through ``job.models`` (:class:`cnnviz.ml.store.ModelStore`). Everything it sends or
returns is plain data — dicts, numpy arrays, strings, dataclasses of them: the trained model
stays in the store and only its id crosses to the window.

- :func:`train_job` runs :func:`cnnviz.ml.training.run` with a :class:`TrainingProgressHandle`,
  which recovers each batch's own loss from Keras's running mean, keeps all of them and sends
  them in chunks at most ~20 times a second (always the first batch of the run, the last of each
  epoch, and every epoch);
- :func:`summary_job` builds a zoo model for its Listing-2.2 table (the first Keras import);
- :func:`preview_job` / :func:`preview_from` load a few samples and their random changes (an
  image folder is listed by name and only the samples shown are decoded).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.engine.faults import stage
from cnnviz.ml import datasets as data  # numpy + OpenCV only
from cnnviz.ml import zoo  # Keras is imported only when a model is built
from cnnviz.ml.batchloss import BatchLossRecovery, is_diverged

__all__ = [
    "REPORT_INTERVAL_S",
    "TrainOutcome",
    "TrainingProgressHandle",
    "preview_from",
    "preview_job",
    "summary_job",
    "train_job",
]

REPORT_INTERVAL_S = 0.05  # ~20 progress reports per second at most


class TrainingProgressHandle:
    """The handle :func:`cnnviz.ml.training.run` reports to, on the worker thread.

    Every batch is kept; chunks go to the GUI thread through ``job.progress`` no more often than
    every ``interval`` seconds, plus always the first batch of the run and the last of each
    epoch. Only plain data (numpy arrays, dicts, str) is sent.
    """

    def __init__(self, job: Any, interval: float = REPORT_INTERVAL_S) -> None:
        from cnnviz.ml.training import DIVERGED_LOSS

        self._diverged_at = DIVERGED_LOSS
        self._diverged_sent = False
        self.stop_event = job.stop_event
        self._job = job
        self._interval = float(interval)
        self._last_sent = 0.0
        self._losses = BatchLossRecovery()
        self._info: dict = {}
        self._xs: list[float] = []
        self._raw: list[float] = []
        self._means: list[float] = []
        self.reports = 0

    def on_batch(self, info: dict) -> None:
        batch, batches, mean = int(info["batch"]), max(1, int(info["batches"])), float(info["loss"])
        raw = self._losses.feed(batch, mean)
        x = (int(info["epoch"]) - 1) + batch / batches
        self._info = info
        if is_diverged(mean, self._diverged_at):
            # The run stops here (the engine explains why); no point of a flat plot at 1e30.
            if not self._diverged_sent:
                self._diverged_sent = True
                self._flush(info, time.monotonic())
                self._job.progress({"kind": "diverged", "x": x, "loss": mean,
                                    "epoch": int(info["epoch"]), "batch": batch})
            return
        self._xs.append(x)
        self._raw.append(raw)
        self._means.append(mean)
        now = time.monotonic()
        if info.get("step") == 1 or batch == batches or now - self._last_sent >= self._interval:
            self._flush(info, now)

    def finish(self) -> None:
        """Send the batches still held back (the run ended between two reports)."""
        if self._xs:
            self._flush(self._info, time.monotonic())

    def _flush(self, info: dict, now: float) -> None:
        if not self._xs:
            return
        payload = {
            "kind": "batches",
            "x": np.asarray(self._xs, np.float64),
            "loss": np.asarray(self._raw, np.float64),
            "mean": np.asarray(self._means, np.float64),
            "info": dict(info, metrics=dict(info.get("metrics") or {})),
        }
        self._xs, self._raw, self._means = [], [], []
        self._last_sent = now
        self.reports += 1
        self._job.progress(payload)

    def on_epoch(self, info: dict) -> None:
        self._losses.new_epoch()
        self._job.progress({"kind": "epoch", "info": dict(info, metrics=dict(info.get("metrics") or {}))})

    def on_message(self, text: str) -> None:
        self._job.progress({"kind": "message", "text": str(text)})

    def on_strategy(self, info: dict) -> None:
        """How the batches are shared: strategy, replicas, global and per-replica batch."""
        self._job.progress({"kind": "strategy", "info": dict(info)})

    def on_task_view(self, report: dict) -> None:
        """A segmentation run's masks or a siamese run's pairs at an epoch's end (plain data:
        numpy arrays, lists and numbers; :func:`cnnviz.ml.training.mask_report`/``pair_report``)."""
        self._job.progress({"kind": "task_view", "report": dict(report)})

    def on_gradients(self, report: dict) -> None:
        """A gradient-flow report (cnnviz.ml.gradflow.flow_report: plain lists and numbers)."""
        self._job.progress({"kind": "gradients", "report": dict(report)})


@dataclass
class TrainOutcome:
    """How a run ended, as plain data: :class:`cnnviz.ml.training.TrainResult` with the model
    left in the worker's store. ``model_id`` names it there (None when the run has no model);
    ``model_name`` is the Keras model's name."""

    status: str
    message: str
    model_id: int | None = None
    model_name: str = ""
    run_dir: Path | None = None
    epochs_completed: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    checkpoints: list[Path] = field(default_factory=list)
    last_good_checkpoint: Path | None = None
    final_path: Path | None = None
    device: str = ""
    elapsed_s: float = 0.0
    samples_per_s: float = 0.0
    strategy: str = "none"  # data parallelism: "mirrored" or "none"
    replicas: int = 1
    global_batch_size: int = 0
    per_replica_batch_size: int = 0

    @property
    def ok(self) -> bool:
        """True when the run ended with a usable model (finished or stopped by the user)."""
        return self.status in ("finished", "stopped")

    @property
    def inspectable(self) -> bool:
        """Whether the model is worth opening: a usable run, or a diverged one whose model was
        restored from its last good checkpoint."""
        return self.model_id is not None and (
            self.ok or (self.status == "nan" and self.last_good_checkpoint is not None))


def train_job(job: Any, config: Any) -> TrainOutcome:
    """Run one training on the worker; the model goes into ``job.models``, its id comes back."""
    from cnnviz.ml import training

    stage("train", str(getattr(config, "model", "")))
    handle = TrainingProgressHandle(job)
    try:
        result = training.run(config, handle)
    finally:
        handle.finish()
    model_id = job.models.put(result.model) if result.model is not None else None
    return outcome_of(result, model_id)


def outcome_of(result: Any, model_id: int | None) -> TrainOutcome:
    """The plain-data copy of a :class:`~cnnviz.ml.training.TrainResult`: every field they share
    (so a field added to both is never forgotten here), the model replaced by its store id."""
    shared = {f.name for f in fields(TrainOutcome)} - {"model_id", "model_name"}
    values = {name: getattr(result, name) for name in shared if hasattr(result, name)}
    values["history"] = {str(k): [float(v) for v in vs] for k, vs in result.history.items()}
    values["checkpoints"] = list(result.checkpoints)
    name = str(getattr(result.model, "name", "") or "") if result.model is not None else ""
    return TrainOutcome(model_id=model_id, model_name=name, **values)


def summary_job(job: Any, model_name: str, functional: bool = False) -> dict:
    """Build a zoo model (uncompiled) for its Listing-2.2 table; imports Keras the first time."""
    from cnnviz.ml import backend

    stage("summary", model_name)
    from cnnviz.ml.training import book_layer_names

    model = book_layer_names(zoo.build(model_name, compile=False, functional=functional))
    rows, totals = zoo.summary_rows(model)
    # each row's layer arithmetic (kernel, stride, channels, receptive field), as the
    # activations pane's layer table reads it
    from cnnviz.ml import activations
    from cnnviz.ml.inspect import layer_arith

    try:
        rfs = activations.receptive_fields(model)
    except ValueError:  # no declared input: sizes and receptive fields stay unknown
        rfs = {}
    arith = [layer_arith(layer, rfs.get(layer.name)) for layer in model.layers]
    return {"model": model_name, "functional": bool(functional), "rows": rows, "totals": totals,
            "arith": arith, "device": backend.device_description()}


def preview_job(job: Any, dataset: str, options: dict, seed: int) -> dict:
    """Load a few samples of a dataset and augment them (numpy/OpenCV; may read files)."""
    return preview_from(data.load(dataset, **options), seed)


def preview_from(ds: data.Dataset | data.FolderDataset, seed: int, columns: int = 4, rows: int = 3) -> dict:
    """``columns`` samples of ``ds`` and ``columns × rows`` random changes of them (Listing 4.4;
    no flip for sets where a mirror image is another symbol)."""
    if isinstance(ds, data.FolderDataset):  # a folder is decoded a few files at a time
        picks, _ = ds.read(columns)
    else:
        x = ds.x_train[:, 0] if ds.task == "pairs" else ds.x_train
        picks = np.asarray(x[:columns])
    aug = data.BOOK_AUGMENTATION if ds.flip_ok else data.BOOK_AUGMENTATION.without_flip()
    augmented = data.augment_preview(picks, n=columns * rows, seed=seed, aug=aug)
    return {"images": np.concatenate([picks, augmented]), "columns": columns, "flip": aug.horizontal_flip,
            "dataset": ds.name}
