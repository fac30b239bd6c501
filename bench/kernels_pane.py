"""Benchmark: the kernel playground's edit → painted result on a 1080p image.

Run from the repository root:  QT_QPA_PLATFORM=offscreen python bench/kernels_pane.py [--repeats N]

Each measurement goes through the real pane in the real main window: type a value into a kernel
cell (as a person would) and process events until the pane has the new result and the event loop
has painted the result view (what a user sees: "edit → painted"; the paints are counted, and a
view the event loop did not paint is repainted once, inside the time). The older way of measuring,
which repainted the view once more after the event loop had already painted it, is printed beside
it ("+ forced repaint") so the two can be compared. The time is compared with a raw ``apply_kernel`` of
the same kernel on the same data, measured alternately in the same run (so machine load hits
both alike). Kernels of 3×3, 7×7 and 15×15 on gray and RGB, each random (full rank: the filter itself is the
cost) and low rank (a Gaussian-like outer product, rank 1, plus the edited cell: what Sobel,
Gaussian, box and Haar kernels are; the pane applies them as separable passes), and "whole"
rows where every repetition puts a new random kernel in (as picking a preset does), so the whole
image is filtered again instead of updating the last result for one changed cell. Targets: gray
≤ 16.7 ms (one frame at 60 Hz), RGB ≤ 33 ms (two frames). Large kernels are computed off the GUI thread:
the last column says how long the GUI thread itself was busy at a stretch (what makes painting
stutter), the repaint itself excluded. On a busy machine the CPU time the process spent (all its
threads: the edit, the filter, the paint; and the raw filter's) is printed too: it moves far less
with other programs' load than the wall-clock times do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

FRAME_MS = 1000 / 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--colors", default="gray,rgb", help="comma-separated: gray, rgb")
    parser.add_argument("--sides", default="3,7,15", help="comma-separated kernel sides")
    parser.add_argument("--kinds", default="random,low-rank,whole", help="comma-separated: random, low-rank, whole")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from cnnviz.core.kernels import apply_kernel
    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import AppContext

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(Path(os.environ.get("TMPDIR", "/tmp")) / "cnnviz-bench.ini"), QSettings.Format.IniFormat)
    ctx = AppContext(settings)
    window = MainWindow(ctx)
    window.resize(1600, 1000)
    rng = np.random.default_rng(0)
    ctx.set_image(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8))
    window.show()
    window.show_pane("kernels")
    pane = window.panes["kernels"]
    view = pane.result_view.viewport()

    from PySide6.QtCore import QEvent, QObject

    class PaintCounter(QObject):
        """Counts the result view's paints (the event loop's and forced ones alike)."""

        count = 0

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
            if event.type() == QEvent.Type.Paint:
                self.count += 1
            return False

    paints = PaintCounter()
    view.installEventFilter(paints)
    stalls: list[float] = []

    def turn() -> None:
        """One turn of the event loop, timed: the GUI thread cannot react for that long."""
        t = time.perf_counter()
        app.processEvents()
        stalls.append(time.perf_counter() - t)

    def settle() -> None:
        turn()
        while pane.is_busy():
            turn()
            time.sleep(0.0002)
        turn()

    settle()
    print(f"kernel playground, 1080p (1920×1080) image, edit → painted result (median of {args.repeats})")
    print(f"targets: gray ≤ {FRAME_MS:.1f} ms (one frame at 60 Hz), RGB ≤ {2 * FRAME_MS:.1f} ms; "
          "overhead = edit → painted − raw apply_kernel")
    for color in args.colors.split(","):
        pane.color_combo.setCurrentIndex(pane.color_combo.findData(color))
        target = FRAME_MS if color == "gray" else 2 * FRAME_MS
        for side in (int(v) for v in args.sides.split(",")):
            for kind in args.kinds.split(","):
                if kind != "low-rank":
                    kernel = rng.normal(size=(side, side)).astype(np.float32)
                else:
                    bump = np.exp(-0.5 * ((np.arange(side) - side // 2) / max(1.0, side / 4)) ** 2)
                    kernel = np.outer(bump, bump).astype(np.float32)
                pane.set_kernel(kernel, "custom")
                settle()
                view.repaint()
                source = pane._source
                edits, forced, raws, blocked, painted, cpu_edit, cpu_raw = [], [], [], [], [], [], []
                for i in range(args.repeats + 1):
                    value = f"{(i % 7) - 3 + 0.5:g}"
                    fresh = rng.normal(size=(side, side)).astype(np.float32) if kind == "whole" else None
                    stalls.clear()
                    before = paints.count
                    c0 = time.process_time()
                    t0 = time.perf_counter()
                    if fresh is not None:
                        pane.set_kernel(fresh, "custom")
                    else:
                        pane.editor.set_cell(side // 2, side // 2, value)
                    stalls.append(time.perf_counter() - t0)
                    settle()
                    if paints.count == before:
                        view.repaint()  # not painted by the event loop: the user would not see it yet
                    t1 = time.perf_counter()
                    c1 = time.process_time()
                    blocked.append(max(stalls))
                    n_paints = paints.count - before
                    view.repaint()  # the older measure: one more paint after the event loop's
                    t2 = time.perf_counter()
                    c2 = time.process_time()
                    apply_kernel(source, pane.state.kernel, check_finite=False)
                    t3 = time.perf_counter()
                    c3 = time.process_time()
                    if i:  # the first round warms caches
                        edits.append(t1 - t0)
                        forced.append(t2 - t0)
                        raws.append(t3 - t2)
                        painted.append(n_paints)
                        cpu_edit.append(c1 - c0)
                        cpu_raw.append(c3 - c2)
                edit = statistics.median(edits) * 1e3
                raw = statistics.median(raws) * 1e3
                mark = "ok" if edit <= target else "over"
                stall = statistics.median(blocked) * 1e3
                print(
                    f"  {color:>4} {side:>2}×{side:<2} {kind:<8}: edit → painted {edit:6.1f} ms "
                    f"(best {min(edits) * 1e3:5.1f}, max {max(edits) * 1e3:6.1f}; "
                    f"{statistics.median(painted):g} paint(s)) | + forced repaint "
                    f"{statistics.median(forced) * 1e3:6.1f} (best {min(forced) * 1e3:5.1f}) | "
                    f"raw apply_kernel {raw:6.1f} ms (best {min(raws) * 1e3:5.1f}) | "
                    f"ratio {edit / raw:5.2f} | overhead {edit - raw:+6.1f} ms | "
                    f"≤ {target:.1f} ms: {mark:<4} | longest GUI-thread stall {stall:5.1f} ms | "
                    f"CPU edit {statistics.median(cpu_edit) * 1e3:6.1f} ms, raw {statistics.median(cpu_raw) * 1e3:6.1f} ms",
                    flush=True,
                )
    window.close()
    ctx.shutdown(timeout=5.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
