"""Time all-layer activation extraction against one plain forward pass of the same model.

The extraction side is the whole ``cnnviz.ml.activations.layer_activations`` call on one input
(its cached extractor model called directly inside one ``tf.function``, every layer's output
returned as numpy). The baseline is the same model called directly the same way (``tf.function``
around ``model(x, training=False)``, output as numpy) — the fair comparison, printed as the
ratio. ``predict_on_batch`` of the plain model is printed too, with the ratio against it.
Medians after a warm-up, the calls interleaved so machine noise hits both sides alike.
Target: ratio ≤ 1.2×.

Then "layer switch → repainted maps" with the real window (offscreen unless a display is set):
the activations pane opens a model in the engine (the child process that owns TensorFlow), and
the clock runs from selecting another row of the layer table (``setCurrentCell``, as a click
does) until the state's result has been delivered and the feature-map grid has received its
paint event and the event loop has finished that turn (the paint included). The reference is
the same path in the bench process with the engine replaced by a direct call: the state's
``submit`` calls the same job function (:func:`cnnviz.ml.inspect.compute_job`, i.e.
``layer_activations`` and the same page extraction) on a :class:`~cnnviz.ml.store.ModelStore`
of its own and hands the result straight back — no pickling, no pipe, no second process — and
the same pane draws and paints it. Medians over the same sequence of layers after one warm-up
pass of it; the engine runs first (the window's process has not imported TensorFlow then),
then the in-process reference. Target: ≤ 1.3×. A 224×224×3 MobileNetV2 (built offline with
``weights=None`` in a child process, saved to a temporary ``.keras``) is switched the same way:
target ≤ 100 ms. Figures from a shared, busy machine are noisy.

    .venv/bin/python bench/activations.py [--runs 200] [--switches 30] [--no-table] [--no-switch]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _models(keras):
    out = []
    try:
        from cnnviz.ml import zoo

        out.append(("mnist_fast 28×28×1 (zoo)", zoo.build("mnist_fast", compile=False)))
        try:
            out.append(("small_cnn 64×64×3 (zoo)", zoo.build("small_cnn", compile=False,
                                                             input_shape=(64, 64, 3))))
        except Exception:
            pass
    except ImportError:
        pass
    L = keras.layers
    out.append(("vgg-like 128×128×3", keras.Sequential([
        keras.Input((128, 128, 3)),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.Conv2D(32, 3, padding="same", activation="relu"),
        L.MaxPooling2D(), L.Conv2D(64, 3, padding="same", activation="relu"),
        L.Conv2D(64, 3, padding="same", activation="relu"), L.MaxPooling2D(),
        L.Conv2D(128, 3, padding="same", activation="relu"), L.GlobalAveragePooling2D(),
        L.Dense(10, activation="softmax")])))
    return out


def _time(fns: dict, runs: int) -> dict[str, float]:
    for fn in fns.values():
        for _ in range(5):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for key, fn in fns.items():
            t = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


def _build_mobilenet(path: Path) -> None:
    """A MobileNetV2 (224×224×3, random weights, nothing downloaded) saved to ``path``, built in a
    child process so that the window's process does not import TensorFlow for it."""
    code = ("import os, sys; os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3'); import keras; "
            "keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3)).save(sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, stderr=subprocess.DEVNULL)


class SwitchBench:
    """The real window on its activations pane; :meth:`switch` times one layer switch."""

    def __init__(self, root: Path) -> None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
        from PySide6.QtWidgets import QApplication

        from cnnviz.gui.app import MainWindow
        from cnnviz.gui.context import AppContext

        self.app = QApplication.instance() or QApplication([sys.argv[0]])
        self.app.setQuitOnLastWindowClosed(False)
        self.ctx = AppContext(QSettings(str(root / "bench.ini"), QSettings.Format.IniFormat))
        self.window = MainWindow(self.ctx)
        self.window.resize(1400, 900)
        self.window.show()
        self.window.show_pane("activations")
        self.pane = self.window.panes["activations"]
        self.engine_submit = self.pane.state._submit
        self._got_result = False
        self._painted = False
        self._check = None
        bench = self

        class PaintSeen(QObject):
            def eventFilter(self, obj, event):  # noqa: N802 (Qt name)
                if event.type() == QEvent.Type.Paint and bench._got_result and not bench._painted:
                    bench._painted = True
                    if bench._check is not None:
                        QTimer.singleShot(0, bench._check)  # after this paint
                return False

        self._filter = PaintSeen()
        for w in (self.pane.grid, self.pane.vector_chart):  # maps, or the bars of a vector
            w.installEventFilter(self._filter)
            if hasattr(w, "viewport"):
                w.viewport().installEventFilter(self._filter)
        self.pane.state.result_changed.connect(self._on_result)

    def _on_result(self) -> None:
        self._got_result = True

    def wait(self, done, timeout: float = 120.0) -> None:
        """Run the event loop until ``done()``; checked every 20 ms and at once after a paint
        seen by the filter (the turn after it, so the paint itself is included)."""
        from PySide6.QtCore import QEventLoop, QTimer

        deadline = time.monotonic() + timeout
        loop = QEventLoop()

        def check() -> None:
            if done() or time.monotonic() > deadline:
                loop.quit()

        poll = QTimer()
        poll.setInterval(20)
        poll.timeout.connect(check)
        poll.start()
        self._check = check
        if not done():
            loop.exec()
        poll.stop()
        self._check = None
        if not done():
            raise RuntimeError("the pane did not get there in time: " + self.pane.last_error)

    def open(self, path: Path) -> list[int]:
        """Open ``path`` (in the engine) and wait for its first maps; the rows of its layers
        that have outputs to show."""
        pane = self.pane
        pane.open_model(path)
        self.wait(lambda: (pane.info is not None and Path(pane.info.path) == Path(path)
                           and pane.result is not None and not pane.is_busy()))
        return [i for i, r in enumerate(pane.info.layers) if r.kind != "none"]

    def switch(self, row: int) -> float:
        """Seconds from selecting ``row`` to its maps painted."""
        if self.pane.layer_table.currentRow() == row:
            raise ValueError("not a switch")
        self._got_result = self._painted = False
        t0 = time.perf_counter()
        self.pane.layer_table.setCurrentCell(row, 0)
        self.wait(lambda: self._painted)
        return time.perf_counter() - t0

    def in_process(self) -> None:
        """Replace the engine by direct calls of the same job functions in this process."""
        from cnnviz.engine.jobs import Job
        from cnnviz.ml.inspect import JOBS
        from cnnviz.ml.store import ModelStore

        models = ModelStore()

        def submit(kind, request, on_done, on_error) -> None:
            fn, channel = JOBS[kind]
            try:
                result = fn(Job(0, channel, fn, (request,), models=models), request)
            except Exception as exc:
                on_error(str(exc))
                return
            on_done(result)

        self.pane.state._submit = submit

    def through_engine(self) -> None:
        self.pane.state._submit = self.engine_submit

    def close(self) -> None:
        self.window.close()
        self.wait(lambda: self.ctx.shutdown(timeout=0.0), timeout=60.0)


def _sequence(rows: list[int], n: int) -> list[int]:
    """``n`` rows spread over the model, each different from the one before."""
    step = max(1, len(rows) // max(1, n))
    seq = [rows[(k * step + k // len(rows)) % len(rows)] for k in range(n)]
    seq = [r for i, r in enumerate(seq) if i == 0 or r != seq[i - 1]]
    while len(seq) > 2 and seq[-1] == seq[0]:  # the sequence is run twice in a row
        seq.pop()
    return seq


def _away(bench: SwitchBench, seq: list[int], rows: list[int]) -> None:
    """Make sure the first switch of ``seq`` is one (the current row is not its first)."""
    if bench.pane.layer_table.currentRow() == seq[0]:
        bench.switch(next(r for r in rows if r != seq[0]))


def layer_switches(switches: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mobilenet = tmp / "mobilenet_v2_224.keras"
        t = time.perf_counter()
        _build_mobilenet(mobilenet)
        print(f"(MobileNetV2 built and saved in {time.perf_counter() - t:.1f} s)", flush=True)
        models = [ROOT / "resources/models/digits_cnn.keras", ROOT / "resources/models/shapes_cnn.keras", mobilenet]
        bench = SwitchBench(tmp)
        engine: dict[str, tuple[list[int], list[float]]] = {}
        try:
            for path in models:  # through the engine: this process has no TensorFlow yet
                rows = bench.open(path)
                seq = _sequence(rows, switches)
                _away(bench, seq, rows)
                for r in seq:  # warm-up: each layer once
                    bench.switch(r)
                times = [bench.switch(r) for r in seq]
                engine[path.name] = (seq, times)
                print(f"  {path.name}: engine median {statistics.median(times) * 1e3:.1f} ms", flush=True)
            print("layer switch → repainted maps (median; in-process: the same job called directly "
                  "in the window's process, same repaint)")
            print(f"{'model':<26}{'layers':>7}{'switches':>9}{'engine ms':>11}{'in-process ms':>15}"
                  f"{'ratio':>8}{'engine max ms':>15}")
            for path in models:
                seq, times = engine[path.name]
                bench.through_engine()
                rows = bench.open(path)
                bench.in_process()
                _away(bench, seq, rows)
                for r in seq:
                    bench.switch(r)
                direct = [bench.switch(r) for r in seq]
                e, d = statistics.median(times), statistics.median(direct)
                print(f"{path.name:<26}{len(bench.pane.info.layers):>7}{len(seq):>9}{e * 1e3:>11.1f}"
                      f"{d * 1e3:>15.1f}{e / d:>7.2f}×{max(times) * 1e3:>15.1f}", flush=True)
            print("targets: engine/in-process ≤ 1.3× (bundled models); MobileNetV2 224×224×3 switch ≤ 100 ms")
        finally:
            bench.through_engine()
            bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--switches", type=int, default=30)
    parser.add_argument("--no-table", action="store_true", help="skip the all-layers/model() table")
    parser.add_argument("--no-switch", action="store_true", help="skip the layer switch in the window")
    args = parser.parse_args()
    if not args.no_switch:
        layer_switches(args.switches)
    if not args.no_table:
        table(args.runs)


def table(runs: int) -> None:
    from cnnviz.ml import activations
    from cnnviz.ml.backend import device_description
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    import tensorflow as tf

    print(f"device: {device_description()}; keras {keras.__version__}; tensorflow {tf.__version__}; "
          f"median of {runs} runs, one input (batch of 1)")
    print(f"{'model':<26}{'layers':>7}{'model() ms':>12}{'predict_on_batch ms':>21}"
          f"{'all layers ms':>15}{'ratio':>8}{'vs predict_on_batch':>21}")
    for name, model in _models(keras):
        shape = tuple(model.inputs[0].shape[1:])
        x = np.random.default_rng(0).uniform(size=shape).astype("float32")
        batch = x[None]
        direct = tf.function(lambda v, m=model: m(v, training=False), reduce_retracing=True)
        t = _time({
            "direct": lambda: np.asarray(direct(batch))[0],
            "pob": lambda: model.predict_on_batch(batch),
            "all": lambda: activations.layer_activations(model, x),
        }, runs)
        n = len(activations.flat_layers(model))
        print(f"{name:<26}{n:>7}{t['direct'] * 1e3:>12.2f}{t['pob'] * 1e3:>21.2f}{t['all'] * 1e3:>15.2f}"
              f"{t['all'] / t['direct']:>7.2f}×{t['all'] / t['pob']:>20.2f}×")


if __name__ == "__main__":
    main()
