"""Training through the engine: the window's longest stall and the pane's throughput against a bare fit.

    python bench/training.py [--model mnist_fast] [--epochs 3] [--repeats 3] [--max-samples N]
                             [--library] [--json out.json]

The real window is built (offscreen unless a display is set), its training pane shown, and the
engine (the child process that owns TensorFlow) awaited: TensorFlow imported and the pane's
model summary built. Then the pane's Start button is clicked from inside the event loop and the
loop runs until the run ends.

* GUI stall: a precise 5 ms ``QTimer`` ticks from before the click to the end of the run; a
  tick's lateness is its gap minus the interval, and the longest is the longest time the window
  could not answer — the click, the first batch (the engine building the step function) and
  every progress message included. Target ≤ 20 ms.
* Throughput: the pane's samples per second of epoch wall time (validation and checkpointing
  included, the first epoch, where the step function is built, left out), against a bare
  ``model.fit`` of the same zoo model on the same arrays, batch size, shuffling and validation
  data, timed the same way. The bare fit runs in a fresh interpreter of its own (``--child
  bare``), as the engine is one: each side is one process with TensorFlow and nothing else in
  it, started from the same environment, so the ratio is what the window, the pipe and the
  pane's callbacks cost. The bare runs and the pane runs alternate and medians are compared
  (the pane runs without the 200 Hz probe timer, which would be a load of the bench's own).
  Target ≥ 0.95.
* ``--library`` also compares :func:`cnnviz.ml.training.run` with a bare fit inside one
  process (the old first half of this benchmark), in a child process, so the window's process
  never imports TensorFlow.

A bare ``fit`` whose callbacks have no batch hooks dispatches them on a thread pool; on a
machine with two busy cores that costs it a little, so a ratio can come out above 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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


def _child(argv: list[str]) -> int:
    """``--child bare|library …``: run in a fresh interpreter that imports TensorFlow, print JSON."""
    kind, model, epochs, batch, seed, samples, repeats = argv
    epochs, batch, seed, samples, repeats = int(epochs), int(batch), int(seed), int(samples), int(repeats)
    if kind == "bare":
        out = {"samples_per_s": bare_fit(model, epochs, batch, seed, _data(model, samples or None, seed))}
    else:
        out = throughput_ratio(model, epochs, batch, repeats, seed, samples or None)
    print("BENCH_JSON " + json.dumps(out), flush=True)
    return 0


def _run_child(kind: str, model: str, epochs: int, batch: int, seed: int, samples: int,
               repeats: int = 1) -> dict:
    """Run :func:`_child` in a fresh interpreter, as the engine is one (same environment)."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", kind, model, str(epochs), str(batch),
         str(seed), str(samples), str(repeats)],
        capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"the {kind} run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


class PaneBench:
    """The real window with its training pane shown, the engine started and warm.

    :meth:`probe` runs the event loop with a ``QTimer`` ticking every ``interval_ms`` ms (a
    precise timer) until a condition holds; a tick's lateness (its gap minus the interval) is
    how long the GUI thread could not answer. Without the probe the same loop runs with only a
    50 ms poll, so the pane's throughput is not charged with a 200 Hz timer of the bench's own.
    """

    def __init__(self, model_name: str, epochs: int, max_samples: int, batch_size: int, root: Path,
                 interval_ms: int = 5, timeout_s: float = 300.0) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from cnnviz.gui.app import MainWindow
        from cnnviz.gui.context import AppContext

        self.app = QApplication.instance() or QApplication([sys.argv[0]])
        self.app.setQuitOnLastWindowClosed(False)
        self.interval_ms = interval_ms
        self.timeout_s = timeout_s
        self.ctx = AppContext(QSettings(str(root / "bench.ini"), QSettings.Format.IniFormat))
        self.window = MainWindow(self.ctx)
        t0 = time.perf_counter()
        self.window.show()
        self.window.show_pane("training")
        self.pane = pane = self.window.panes["training"]
        # The engine starts after the window is shown and imports TensorFlow at once; the pane's
        # model summary is its first job. The GUI thread's longest stall meanwhile is reported.
        gaps = self.probe(lambda: self.ctx.has_worker() and self.ctx.worker.ready and not pane.is_busy())
        self.engine_ready_s = time.perf_counter() - t0
        self.warmup_max_ms = max(self._late(gaps), default=0.0)
        pane.set_model(model_name)
        pane.samples_spin.setValue(max_samples)
        pane.epochs_spin.setValue(epochs)
        pane.batch_spin.setValue(batch_size)
        pane.set_output_root(root / "runs")
        self.model_name, self.epochs, self.samples, self.batch_size = model_name, epochs, max_samples, batch_size

    def _late(self, gaps: list[float]) -> list[float]:
        return [max(0.0, g * 1000.0 - self.interval_ms) for g in gaps]

    def probe(self, done, on_tick=None, ticking: bool = True, at_start=None) -> list[float]:
        from PySide6.QtCore import QEventLoop, Qt, QTimer

        gaps: list[float] = []
        last = [time.perf_counter()]
        deadline = time.monotonic() + self.timeout_s
        loop = QEventLoop()

        def tick() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now
            if on_tick is not None:
                on_tick(len(gaps))

        def check() -> None:
            if done() or time.monotonic() > deadline:
                loop.quit()

        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.setInterval(self.interval_ms)
        timer.timeout.connect(tick)
        poll = QTimer()
        poll.setInterval(50)
        poll.timeout.connect(check)
        if at_start is not None:  # in the loop, a few ticks in: what the click itself costs counts
            QTimer.singleShot(20, at_start)
        last[0] = time.perf_counter()
        if ticking:
            timer.start()
        poll.start()
        loop.exec()
        timer.stop()
        poll.stop()
        if time.monotonic() > deadline:
            raise RuntimeError("the window did not get there in time")
        return gaps

    def train(self, probe: bool) -> dict:
        """Press Start and run the event loop until the run ends."""
        pane = self.pane
        first_batch_at: list[int] = []
        clicked = [False]

        def on_tick(n: int) -> None:
            if not first_batch_at and pane._batches_seen:
                first_batch_at.append(n)

        def click() -> None:
            clicked[0] = True
            pane.start_button.click()

        cpu0 = time.thread_time()
        gaps = self.probe(lambda: clicked[0] and not pane.is_running(), on_tick, ticking=probe, at_start=click)
        gui_cpu = time.thread_time() - cpu0
        result = pane.result
        if result is None or result.status != "finished":
            raise RuntimeError(pane.outcome_text())
        rates = [e["samples_per_s"] for e in pane.epoch_reports[1:] if not e.get("partial")]
        late = self._late(gaps)
        split = first_batch_at[0] if first_batch_at else len(late)
        ordered = sorted(late)
        return {
            "device": result.device, "elapsed_s": result.elapsed_s, "gui_thread_cpu_s": gui_cpu,
            "pane_samples_per_s": statistics.median(rates) if rates else None, "ticks": len(late),
            "max_ms": max(late, default=0.0),
            "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] if late else 0.0,
            "median_ms": statistics.median(late) if late else 0.0,
            "max_until_first_batch_ms": max(late[:split], default=0.0),
            "max_after_first_batch_ms": max(late[split:], default=0.0),
        }

    def close(self) -> None:
        self.window.close()
        self.probe(lambda: self.ctx.shutdown(timeout=0.0), ticking=False)


def gui_training(model_name: str = "mnist_fast", epochs: int = 3, max_samples: int = 0,
                 batch_size: int = 32, repeats: int = 3, seed: int = 0) -> dict:
    """The training pane through the engine: throughput against a bare ``model.fit`` (median
    of ``repeats`` each, alternating), then one run with the stall probe."""
    with tempfile.TemporaryDirectory() as tmp:
        bench = PaneBench(model_name, epochs + 1, max_samples, batch_size, Path(tmp))
        print(f"  engine ready (TensorFlow imported, summary built) {bench.engine_ready_s:.1f} s after "
              f"the window was shown; longest GUI stall meanwhile {bench.warmup_max_ms:.1f} ms", flush=True)
        pane_runs, bare = [], []
        try:
            for r in range(repeats):  # alternate which goes first, so load drift cancels out
                for side in (("bare", "pane") if r % 2 == 0 else ("pane", "bare")):
                    if side == "bare":
                        bare.append(_run_child("bare", model_name, epochs, batch_size, seed,
                                               max_samples)["samples_per_s"])
                    else:
                        pane_runs.append(bench.train(probe=False))
                print(f"  repeat {r + 1}: bare fit {bare[-1]:.0f} samples/s, pane "
                      f"{pane_runs[-1]['pane_samples_per_s'] or 0:.0f} samples/s", flush=True)
            stall = bench.train(probe=True)
        finally:
            bench.close()
    rates = [p["pane_samples_per_s"] for p in pane_runs if p["pane_samples_per_s"]]
    return {"model": model_name, "epochs_timed": epochs, "samples": max_samples, "batch_size": batch_size,
            "device": stall["device"], "engine_ready_s": bench.engine_ready_s,
            "warmup_max_stall_ms": bench.warmup_max_ms,
            "bare_all": bare, "pane_all": rates,
            "bare_samples_per_s": statistics.median(bare),
            "pane_samples_per_s": statistics.median(rates) if rates else None,
            "gui_thread_cpu_s": statistics.median(p["gui_thread_cpu_s"] for p in pane_runs),
            "pane_elapsed_s": statistics.median(p["elapsed_s"] for p in pane_runs),
            "interval_ms": bench.interval_ms, "stall": stall}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mnist_fast")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (one more is run first)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-samples", type=int, default=0, help="0: all")
    p.add_argument("--library", action="store_true",
                   help="also compare cnnviz.ml.training.run with a bare fit in one process")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    print(f"training: {args.model}, batch {args.batch_size}, {args.epochs} timed epochs, "
          f"{args.repeats} repeats, samples {args.max_samples or 'all'}; figures are noisy on a shared machine",
          flush=True)
    out: dict = {}
    if args.library:
        lib = _run_child("library", args.model, args.epochs, args.batch_size, 0, args.max_samples, args.repeats)
        out["library"] = lib
        print(f"device: {lib['device']}")
        print(f"bare model.fit:        {lib['bare_samples_per_s']:8.0f} samples/s")
        print(f"cnnviz.training.run:   {lib['engine_samples_per_s']:8.0f} samples/s")
        print(f"ratio run/bare:        {lib['ratio']:8.3f}   (target >= 0.95)")
    g = gui_training(args.model, args.epochs, args.max_samples, args.batch_size, max(1, args.repeats))
    out["gui"] = g
    s = g["stall"]
    print(f"device: {g['device']}")
    print(f"bare model.fit (own process):  {g['bare_samples_per_s']:8.0f} samples/s  "
          f"(median of {', '.join(f'{r:.0f}' for r in g['bare_all'])})")
    if g["pane_samples_per_s"]:
        print(f"training pane (engine):        {g['pane_samples_per_s']:8.0f} samples/s  "
              f"(median of {', '.join(f'{r:.0f}' for r in g['pane_all'])}; the GUI thread used "
              f"{g['gui_thread_cpu_s']:.2f} s of CPU in {g['pane_elapsed_s']:.1f} s, {os.cpu_count()} cores)")
        print(f"ratio pane/bare:               {g['pane_samples_per_s'] / g['bare_samples_per_s']:8.3f}   "
              f"(target >= 0.95)")
    print(f"GUI longest stall:             {s['max_ms']:8.1f} ms (target <= 20, first batch included) "
          f"while the pane trained; a {g['interval_ms']} ms timer's lateness: p99 {s['p99_ms']:.1f} ms, "
          f"median {s['median_ms']:.1f} ms, until the first batch {s['max_until_first_batch_ms']:.1f} ms, "
          f"after it {s['max_after_first_batch_ms']:.1f} ms")
    print(f"engine ready after the window was shown: {g['engine_ready_s']:.1f} s (longest GUI stall "
          f"meanwhile {g['warmup_max_stall_ms']:.1f} ms)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
