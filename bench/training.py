"""Training throughput of cnnviz's engine against a bare ``model.fit``; the GUI's longest stall.

    python bench/training.py [--model mnist_fast] [--epochs 3] [--repeats 3] [--json out.json]

Half one (here): the same zoo model, the same normalized arrays, the same batch size, shuffling
and validation data, trained by a bare ``model.fit`` and by :func:`cnnviz.ml.training.run`
(which adds its progress/stop/NaN callback, a ``.keras`` checkpoint per epoch and the CSV log).
Throughput is training samples per second of epoch wall time (validation and checkpointing
included), leaving out each run's first epoch, where the step function is built. Runs alternate
and the median is reported. Target: ratio ≥ 0.95.

A bare ``fit`` whose callbacks have no batch hooks dispatches them on a thread pool; on a
machine with two busy cores that costs it a little, so the ratio can come out above 1.

Half two (the training pane's): the longest event-loop stall of the real window while its
training pane trains, target ≤ 50 ms — :func:`gui_event_loop_stall`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _data(model_name: str, max_samples: int | None, seed: int):
    """The engine's own preparation, so both sides train on identical arrays."""
    from cnnviz.ml import datasets as data
    from cnnviz.ml import training, zoo

    spec = zoo.spec(model_name)
    ds = data.load(data.default_for(model_name), seed=seed).subset(max_samples, seed=seed)
    x_tr, y_tr, x_val, y_val = training._split(ds, 0.1, seed)
    x, y = data.model_arrays(ds, x_tr, y_tr, spec.input_shape)
    vx, vy = data.model_arrays(ds, x_val, y_val, spec.input_shape)
    return ds, (x, y), (vx, vy)


def bare_fit(model_name: str, epochs: int, batch_size: int, seed: int, arrays) -> float:
    """Samples/s of ``model.fit`` alone (first epoch left out)."""
    from cnnviz.ml import zoo
    from cnnviz.ml.backend import keras

    k = keras()
    ds, (x, y), (vx, vy) = arrays
    k.utils.set_random_seed(seed)
    model = zoo.build(model_name, num_classes=ds.num_classes)
    times: list[float] = []

    class EpochTimer(k.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    model.fit(x, y, batch_size=batch_size, epochs=epochs + 1, shuffle=True,
              validation_data=(vx, vy), callbacks=[EpochTimer()], verbose=0)
    return len(x) * epochs / sum(times[1:])


def engine_run(model_name: str, epochs: int, batch_size: int, seed: int, n_samples: int,
               out_dir: Path) -> float:
    """Samples/s of :func:`cnnviz.ml.training.run` (first epoch left out)."""
    from cnnviz.ml import training

    epoch_times: list[float] = []
    handle = training.Handle(on_epoch=lambda info: epoch_times.append(info["epoch_time_s"]))
    result = training.run(training.TrainConfig(
        model=model_name, epochs=epochs + 1, batch_size=batch_size, seed=seed,
        validation_split=0.1, max_samples=n_samples, out_dir=out_dir), handle)
    if result.status != "finished":
        raise RuntimeError(result.message)
    return result_samples(result) * epochs / sum(epoch_times[1:])


def result_samples(result) -> int:
    info = json.loads((result.run_dir / "run.json").read_text())
    return int(info["train_samples"])


def throughput_ratio(model_name: str = "mnist_fast", epochs: int = 3, batch_size: int = 32,
                     repeats: int = 3, seed: int = 0, max_samples: int | None = None) -> dict:
    """Median samples/s of both, and engine ÷ bare."""
    from cnnviz.ml import backend

    arrays = _data(model_name, max_samples, seed)
    n = len(arrays[0])  # the subset before the split: run() takes the same one with this seed
    bare, engine = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):  # alternate which goes first, so load drift cancels out
            if r % 2:
                engine.append(engine_run(model_name, epochs, batch_size, seed, n, Path(tmp) / f"run{r}"))
                bare.append(bare_fit(model_name, epochs, batch_size, seed, arrays))
            else:
                bare.append(bare_fit(model_name, epochs, batch_size, seed, arrays))
                engine.append(engine_run(model_name, epochs, batch_size, seed, n, Path(tmp) / f"run{r}"))
            print(f"  repeat {r + 1}: bare {bare[-1]:.0f} samples/s, engine {engine[-1]:.0f} samples/s",
                  flush=True)
    b, e = statistics.median(bare), statistics.median(engine)
    return {"model": model_name, "device": backend.device_description(), "epochs_timed": epochs,
            "batch_size": batch_size, "train_samples": len(arrays[1][0]),
            "bare_samples_per_s": b, "engine_samples_per_s": e, "ratio": e / b,
            "bare_all": bare, "engine_all": engine}


def gui_event_loop_stall(model_name: str = "mnist_fast", epochs: int = 3, max_samples: int = 4096,
                         batch_size: int = 32, interval_ms: int = 5, timeout_s: float = 300.0,
                         probe: bool = True) -> dict:
    """The training pane's half: the longest event-loop stall (ms) while the pane trains, and
    the pane's own training throughput (median samples/s of the epochs after the first).

    The real window is built (offscreen unless a display is set), the training pane shown and
    its model summary — the first Keras import — awaited, so what is measured is training, not
    the import. Then Start is pressed and a ``QTimer`` ticks every ``interval_ms`` ms (precise
    timer) until the run ends; a tick's lateness is its gap minus the interval. The first fit
    builds the step function while holding the GIL, so the worst stall up to the first batch
    is reported apart as well. Target ≤ 50 ms.

    The probe timer itself wakes the GUI thread 200 times a second and takes the GIL each time,
    so the pane's throughput is measured with ``probe=False`` (no ticking timer) and the stall
    with ``probe=True``.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import AppContext

    app = QApplication.instance() or QApplication([sys.argv[0]])
    importing = "tensorflow" not in sys.modules
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AppContext(QSettings(str(Path(tmp) / "bench.ini"), QSettings.Format.IniFormat))
        window = MainWindow(ctx)
        window.show()
        window.show_pane("training")
        pane = window.panes["training"]
        deadline = time.monotonic() + timeout_s
        # The summary imports Keras on the worker; the longest gap between event-loop turns
        # meanwhile is what a user sees of that import (reported, not part of the target).
        import_gap = 0.0
        last_turn = time.perf_counter()
        while pane.is_busy() and time.monotonic() < deadline:
            app.processEvents()
            now = time.perf_counter()
            import_gap = max(import_gap, now - last_turn)
            time.sleep(0.002)
            last_turn = time.perf_counter()
        pane.set_model(model_name)
        pane.samples_spin.setValue(max_samples)
        pane.epochs_spin.setValue(epochs)
        pane.batch_spin.setValue(batch_size)
        pane.set_output_root(Path(tmp) / "runs")

        gaps: list[float] = []
        first_batch_at: list[int] = []  # index into gaps when the first batch was shown
        last = [time.perf_counter()]

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now
            if not first_batch_at and pane._batches_seen:
                first_batch_at.append(len(gaps))

        loop = QEventLoop()

        def check_done() -> None:
            if not pane.is_running() or time.monotonic() > deadline:
                loop.quit()

        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(interval_ms)
        timer.timeout.connect(tick)
        poll = QTimer()
        poll.setInterval(50)
        poll.timeout.connect(check_done)
        if not pane.start():
            raise RuntimeError(pane.outcome_text())
        last[0] = time.perf_counter()
        if probe:
            timer.start()
        poll.start()
        cpu0 = time.thread_time()
        loop.exec()
        gui_cpu = time.thread_time() - cpu0  # the GUI thread's own CPU time while training
        timer.stop()
        poll.stop()
        result = pane.result
        window.close()
        if result is None or result.status != "finished":
            raise RuntimeError(result.message if result is not None else "the run did not end in time")

    # The pane's own throughput, measured like the engine's: epoch wall time, first epoch out.
    rates = [e["samples_per_s"] for e in pane.epoch_reports[1:] if not e.get("partial")]
    late = [max(0.0, g * 1000.0 - interval_ms) for g in gaps]
    split = first_batch_at[0] if first_batch_at else len(late)
    ordered = sorted(late)
    return {
        "model": model_name, "epochs": epochs, "samples": max_samples, "batch_size": batch_size,
        "interval_ms": interval_ms, "ticks": len(late), "device": result.device,
        "train_samples_per_s": result.samples_per_s, "elapsed_s": result.elapsed_s,
        "pane_samples_per_s": statistics.median(rates) if rates else None,
        "gui_thread_cpu_s": gui_cpu,
        "max_ms": max(late) if late else 0.0,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] if late else 0.0,
        "median_ms": statistics.median(late) if late else 0.0,
        "max_until_first_batch_ms": max(late[:split]) if late[:split] else 0.0,
        "max_after_first_batch_ms": max(late[split:]) if late[split:] else 0.0,
        "tensorflow_import_max_gap_ms": import_gap * 1000.0 if importing else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist_fast")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (one more is run first)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-samples", type=int)
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    print(f"training throughput: {args.model}, batch {args.batch_size}, {args.epochs} timed epochs, "
          f"{args.repeats} repeats", flush=True)
    result = throughput_ratio(args.model, args.epochs, args.batch_size, args.repeats,
                              max_samples=args.max_samples)
    print(f"device: {result['device']}")
    print(f"bare model.fit:        {result['bare_samples_per_s']:8.0f} samples/s")
    print(f"cnnviz.training.run:   {result['engine_samples_per_s']:8.0f} samples/s")
    print(f"ratio engine/bare:     {result['ratio']:8.3f}   (target >= 0.95)")
    # The same model, data and batch size as above, trained from the pane (one more epoch,
    # left out of the rate as above).
    # Throughput without the stall probe (its 5 ms timer is a load of its own), median of the
    # repeats like the bare runs; then one run with the probe for the stall.
    pane_runs = [gui_event_loop_stall(args.model, epochs=args.epochs + 1, max_samples=args.max_samples or 0,
                                      batch_size=args.batch_size, probe=False)
                 for _ in range(max(1, args.repeats))]
    pane_rates = [r["pane_samples_per_s"] for r in pane_runs if r["pane_samples_per_s"]]
    if pane_rates:
        pane_rate = statistics.median(pane_rates)
        cpu = statistics.median(r["gui_thread_cpu_s"] for r in pane_runs)
        elapsed = statistics.median(r["elapsed_s"] for r in pane_runs)
        result["pane_samples_per_s"] = pane_rate
        print(f"training pane:         {pane_rate:8.0f} samples/s   "
              f"ratio pane/bare {pane_rate / result['bare_samples_per_s']:.3f}   (target >= 0.95; "
              f"median of {len(pane_rates)}: {', '.join(f'{r:.0f}' for r in pane_rates)}; the GUI thread "
              f"used {cpu:.2f} s of CPU in {elapsed:.1f} s, {os.cpu_count()} cores)")
    stall = gui_event_loop_stall(args.model, epochs=args.epochs + 1, max_samples=args.max_samples or 0,
                                 batch_size=args.batch_size)
    result["gui_stall"] = stall
    samples = stall["samples"] or "all"
    print(f"GUI longest stall:     {stall['max_ms']:8.1f} ms (target <= 50) while the training pane "
          f"trained {samples} samples x {stall['epochs']} epochs; a {stall['interval_ms']} ms "
          f"timer's lateness: p99 {stall['p99_ms']:.1f} ms, until the first batch "
          f"{stall['max_until_first_batch_ms']:.1f} ms, after it {stall['max_after_first_batch_ms']:.1f} ms")
    if stall["tensorflow_import_max_gap_ms"] is not None:
        print(f"GUI gap while TensorFlow loads on the worker: {stall['tensorflow_import_max_gap_ms']:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
