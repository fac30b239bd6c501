"""Time-to-window of ``cnnviz`` against importing Qt alone, as a ratio.

    python bench/startup.py [--runs 5]

Each run starts a fresh interpreter. The app run prints a marker line as soon as its event loop
runs with the main window shown (``CNNVIZ_STARTUP_MARKER``), the line says whether TensorFlow is
imported by then (it must not be: the window comes first), and the clock stops when the marker
arrives. The reference is ``python -c "import PySide6.QtWidgets"`` run to completion. Medians of
``--runs`` runs are compared, so the ratio holds across machines.

The time until the engine is ready (the child process that owns TensorFlow, started right after
the window is shown, has imported it) is timed the same way in separate runs of the same app
(``--engine-child``: ``cnnviz``'s own ``main`` with a 10 ms poll of ``ctx.worker.ready`` added),
and printed. Figures on a shared, busy machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "CNNVIZ_WINDOW_SHOWN"
ENGINE_MARKER = "CNNVIZ_ENGINE_READY"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def time_to_window() -> tuple[float, bool]:
    """Seconds from process start to the marker, and whether TensorFlow was imported by then."""
    env = _env()
    env.update(CNNVIZ_STARTUP_MARKER="1", CNNVIZ_QUIT_AFTER_MS="0")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnviz"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(MARKER):
            elapsed = time.perf_counter() - start
            tf = "tensorflow_imported=True" in line
            proc.stdout.close()
            proc.wait(timeout=60)
            return elapsed, tf
    proc.wait(timeout=60)
    raise RuntimeError(f"cnnviz exited ({proc.returncode}) without showing its window")


def _engine_child() -> int:
    """The app as ``python -m cnnviz`` runs it, printing a line once the engine is ready, then
    closing the window (through the normal close path, which ends the engine)."""
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QTimer

    from cnnviz.gui import app

    start_automation = app._start_automation

    def hook(window) -> None:
        start_automation(window)
        timer = QTimer(window)

        def poll() -> None:
            if window.ctx.has_worker() and window.ctx.worker.ready:
                print(ENGINE_MARKER, flush=True)
                timer.stop()
                window.close()

        timer.setInterval(10)
        timer.timeout.connect(poll)
        timer.start()

    app._start_automation = hook
    from cnnviz.__main__ import main

    return main([])


def time_to_engine() -> tuple[float, float]:
    """Seconds from process start to the window shown and to the engine ready."""
    env = _env()
    env.update(CNNVIZ_STARTUP_MARKER="1")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--engine-child"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    shown = None
    for line in proc.stdout:
        if line.startswith(MARKER):
            shown = time.perf_counter() - start
        elif line.startswith(ENGINE_MARKER):
            ready = time.perf_counter() - start
            proc.stdout.close()
            proc.wait(timeout=60)
            return shown if shown is not None else float("nan"), ready
    proc.wait(timeout=60)
    raise RuntimeError(f"cnnviz exited ({proc.returncode}) before its engine was ready")


def time_qt_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import PySide6.QtWidgets"], env=_env(), check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.engine_child:
        return _engine_child()
    time_qt_import()  # warm the file cache for both
    time_to_window()
    windows, tf_seen = [], []
    qts = []
    for _ in range(args.runs):
        qts.append(time_qt_import())
        t, tf = time_to_window()
        windows.append(t)
        tf_seen.append(tf)
    engine = [time_to_engine() for _ in range(args.runs)]
    window, qt = statistics.median(windows), statistics.median(qts)
    print(f"import PySide6.QtWidgets : {qt * 1000:7.0f} ms (median of {args.runs})")
    print(f"cnnviz time-to-window   : {window * 1000:7.0f} ms (median of {args.runs})")
    print(f"ratio window / Qt import: {window / qt:7.2f}")
    ready = statistics.median(r for _, r in engine)
    print(f"engine ready             : {ready * 1000:7.0f} ms after process start, "
          f"{(ready - statistics.median(w for w, _ in engine)) * 1000:.0f} ms after the window was shown "
          f"(median of {args.runs})")
    print(f"tensorflow imported when the window was shown: {any(tf_seen)}")
    return 1 if any(tf_seen) else 0


if __name__ == "__main__":
    raise SystemExit(main())
