"""How fast the training pane's loss plot stays as the curve grows to 100 000 points and more.

    python bench/loss_plot.py [--points 100000] [--chunk 50]

A training report adds a chunk of batch losses (about 20 reports a second); each is followed
by a redraw. Measured per report, at the curve's full length: ``extend`` (buffers, incremental
debiased EMA) + ``setData`` + painting the widget at 800×300, with pyqtgraph's clip-to-view and
peak downsampling on (as the pane uses it) and, for contrast, off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def update_cost(points: int, chunk: int = 50, fast: bool = True, repeats: int = 20) -> dict:
    """Median ms of one report (extend + flush + paint) once the curve holds ``points``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from cnnviz.gui.widgets.loss_plot import LossPlotWidget

    app = QApplication.instance() or QApplication([sys.argv[0]])
    plot = LossPlotWidget("Loss per batch", "loss", "epoch")
    plot.resize(800, 300)
    plot.show()
    plot.add_series("loss", "smoothed", "#1f77b4", smoothed=True)
    if not fast:
        plot.getPlotItem().setClipToView(False)
        plot.getPlotItem().setDownsampling(auto=False, ds=1)
    rng = np.random.default_rng(0)
    ys = 2.0 * np.exp(-np.arange(points + chunk * repeats) / (points / 5)) + rng.normal(0, 0.2, points + chunk * repeats)
    xs = np.arange(len(ys), dtype=np.float64)
    plot.extend("loss", xs[:points], ys[:points])
    plot.flush()
    plot.grab()
    app.processEvents()
    times = []
    for r in range(repeats):
        a = points + r * chunk
        t0 = time.perf_counter()
        plot.extend("loss", xs[a:a + chunk], ys[a:a + chunk])
        plot.flush()
        plot.grab()
        times.append((time.perf_counter() - t0) * 1000.0)
    shown = len(plot.curve("loss").getData()[0])
    plot.close()
    plot.deleteLater()
    app.processEvents()
    return {"points": points, "fast": fast, "median_ms": statistics.median(times), "max_ms": max(times),
            "drawn_points": shown}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--chunk", type=int, default=50)
    args = p.parse_args(argv)
    print(f"loss plot: one report of {args.chunk} batches + redraw + paint at 800x300")
    for n in (1_000, 10_000, args.points, 10 * args.points):
        fast = update_cost(n, args.chunk, fast=True)
        line = (f"  {n:>9,} points: {fast['median_ms']:7.1f} ms median, {fast['max_ms']:7.1f} ms max "
                f"(draws {fast['drawn_points']:,} points)")
        if n <= args.points:
            slow = update_cost(n, args.chunk, fast=False, repeats=5)
            line += f"   without clip/downsampling: {slow['median_ms']:7.1f} ms"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
