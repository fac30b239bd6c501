"""How fast the convolution stepper renders one step of a 256×256 walk.

Measures "step forward + synchronous repaint of the whole pane" (what a user sees while playing
or holding →) on a 256×256 gray crop with a 3×3 kernel, and a random scrub (and stepping a 64×64
crop, whose cells are large enough for the lines between them), against two
references measured in the same run: one ``repaint()`` of an empty widget of the same size, and
one full ``conv2d`` of the same input. Smooth means at least 30 steps per second.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/stepper.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QWidget

from cnnviz import paths
from cnnviz.core.convolution import conv2d
from cnnviz.gui.context import AppContext
from cnnviz.gui.panes.stepper import StepperPane

TARGET = 30.0  # steps per second


def per_call(fn, n: int) -> float:
    fn()  # warm up
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    ctx = AppContext(QSettings(str(Path("/tmp/cnnviz-bench.ini")), QSettings.Format.IniFormat))
    ctx.open_image(paths.sample_image("coffee.jpg"))
    pane = StepperPane(ctx)
    pane.resize(1400, 860)
    pane.show()
    app.processEvents()
    pane.set_source("crop_gray")
    pane.set_crop(0, 0, 256, 256)
    pane.set_kernel_text("1 0 -1; 2 0 -2; 1 0 -1")
    pane.set_padding("same")
    app.processEvents()
    n_steps = pane.state.n_steps
    x = pane.state.image.copy()
    k = pane.state.kernel.copy()

    def step() -> None:
        if not pane.state.step(1):
            pane.state.go_to(0)
        pane.repaint()

    rng = np.random.default_rng(0)

    def scrub() -> None:
        pane.slider.setValue(int(rng.integers(n_steps)))
        pane.repaint()

    empty = QWidget()
    empty.resize(pane.size())
    empty.show()
    app.processEvents()

    t_step = per_call(step, 200)
    t_scrub = per_call(scrub, 100)
    t_empty = per_call(empty.repaint, 200)
    t_conv = per_call(lambda: conv2d(x, k, padding="same"), 50)

    # a 64×64 crop: cells large enough for the lines between them (drawn at 6 px and more)
    pane.set_crop(0, 0, 64, 64)
    app.processEvents()
    small_cell = pane.stage.input_views[0].cell_size()
    t_small = per_call(step, 100)

    pane.set_mode("transpose")
    pane.set_crop(0, 0, 256, 256)
    app.processEvents()
    t_shape = pane.state.output_shape()
    t_transpose = per_call(step, 40)

    print(f"256×256 gray crop, 3×3 kernel, 'same' padding: {n_steps} steps, pane {pane.width()}×{pane.height()}")
    print(f"  step + repaint        {t_step * 1e3:7.2f} ms  -> {1 / t_step:7.1f} steps/s")
    print(f"  random scrub + repaint{t_scrub * 1e3:7.2f} ms  -> {1 / t_scrub:7.1f} jumps/s")
    print(f"  reference: empty widget repaint {t_empty * 1e3:6.2f} ms; full conv2d {t_conv * 1e3:6.2f} ms")
    print(f"  ratio step/empty repaint {t_step / t_empty:6.1f}×   step/full conv2d {t_step / t_conv:6.2f}×")
    print(f"  64×64 crop (cells of {small_cell:.1f} px, lines drawn) step + repaint {t_small * 1e3:6.2f} ms -> {1 / t_small:6.1f} steps/s")
    print(f"  transposed 256×256 → {t_shape[0]}×{t_shape[1]} step + repaint {t_transpose * 1e3:6.2f} ms -> {1 / t_transpose:6.1f} steps/s")
    verdict = "smooth" if min(1 / t_step, 1 / t_small, 1 / t_transpose) >= TARGET else "NOT smooth"
    print(f"target ≥ {TARGET:.0f} steps/s: {verdict}")
    pane.shutdown()


if __name__ == "__main__":
    main()
