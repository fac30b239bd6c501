"""Time-to-window of ``cnnviz`` against importing Qt alone, as a ratio.

    python bench/startup.py [--runs 5]

Each run starts a fresh interpreter. The app run prints a marker line as soon as its event loop
runs with the main window shown (``CNNVIZ_STARTUP_MARKER``), the line says whether TensorFlow is
imported by then (it must not be: the window comes first), and the clock stops when the marker
arrives. The reference is ``python -c "import PySide6.QtWidgets"`` run to completion. Medians of
``--runs`` runs are compared, so the ratio holds across machines.
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


def time_qt_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import PySide6.QtWidgets"], env=_env(), check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    time_qt_import()  # warm the file cache for both
    time_to_window()
    windows, tf_seen = [], []
    qts = []
    for _ in range(args.runs):
        qts.append(time_qt_import())
        t, tf = time_to_window()
        windows.append(t)
        tf_seen.append(tf)
    window, qt = statistics.median(windows), statistics.median(qts)
    print(f"import PySide6.QtWidgets : {qt * 1000:7.0f} ms (median of {args.runs})")
    print(f"cnnviz time-to-window   : {window * 1000:7.0f} ms (median of {args.runs})")
    print(f"ratio window / Qt import: {window / qt:7.2f}")
    print(f"tensorflow imported when the window was shown: {any(tf_seen)}")
    return 1 if any(tf_seen) else 0


if __name__ == "__main__":
    raise SystemExit(main())
