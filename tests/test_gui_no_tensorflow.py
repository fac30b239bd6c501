"""The window's process never imports TensorFlow or Keras: the real window, every pane used
(kernels, matching, the stepper, a one-epoch training run, activations opening a bundled model,
its maps, filters and Grad-CAM, Inspect from training), in a process of its own so other tests'
imports cannot hide an import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r'''
import json, sys, time, tempfile

def main():
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from cnnviz import paths
    from cnnviz.core.kernels import PRESETS
    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import AppContext
    from cnnviz.gui.panes.activations import demo_models

    folder = tempfile.mkdtemp()
    ctx = AppContext(QSettings(folder + "/cnnviz.ini", QSettings.Format.IniFormat))
    window = MainWindow(ctx)
    ctx.open_image(paths.sample_image("digit_5"))
    window.show()
    done = {}

    def wait(predicate, what, timeout=180.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app.processEvents()
            if predicate():
                done[what] = True
                return
            time.sleep(0.02)
        raise SystemExit(f"timed out: {what}")

    window.show_pane("kernels")
    window.panes["kernels"].set_kernel(PRESETS["laplacian"], "laplacian")
    window.show_pane("matching")
    window.panes["matching"].schedule_update()
    wait(lambda: not window.panes["matching"].is_busy(), "matching")
    window.show_pane("stepper")
    window.panes["stepper"].step_forward()
    done["stepper"] = True

    training = window.panes["training"]
    window.show_pane("training")
    training.set_model("mnist_fast")
    training.set_dataset("digits")
    training.samples_spin.setValue(64)
    training.epochs_spin.setValue(1)
    training.batch_spin.setValue(16)
    training.set_output_root(folder + "/runs")
    assert training.start()
    wait(lambda: not training.is_running(), "training")
    assert training.result.status == "finished", training.result.message

    activations = window.panes["activations"]
    activations.trust_prompt = lambda *a: False
    window.show_pane("activations")
    wait(lambda: activations.info is not None and activations.result is not None and not activations.is_busy(),
         "activations demo")
    ctx.open_model(str(demo_models()[1]))
    wait(lambda: activations.info.name == demo_models()[1].name and activations.result is not None
         and not activations.is_busy(), "open a bundled model")
    last = [r.name for r in activations.info.layers if r.kind == "maps"][-1]
    activations.select_layer(last)
    wait(lambda: activations.result.layer == last and not activations.is_busy(), "maps")
    assert activations.result.gradcam is not None and activations.result.gradcam.heat is not None
    done["gradcam"] = True
    activations.views.setCurrentIndex(1)
    wait(lambda: activations.state.filters_result is not None and not activations.is_busy(), "filters")

    window.show_pane("training")
    assert training.inspect()
    wait(lambda: activations.info is not None and "mnist_fast" in activations.info.name
         and activations.result is not None and not activations.is_busy(), "inspect from training")

    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras"})
    window.close()
    wait(lambda: window._close_ready, "close")
    assert ctx.shutdown(timeout=10.0)
    print("RESULT " + json.dumps({"heavy": heavy, "done": sorted(done)}), flush=True)

if __name__ == "__main__":
    main()
'''


def test_the_window_process_never_imports_tensorflow_or_keras(tmp_path):
    script = tmp_path / "drive_window.py"
    script.write_text(SCRIPT)
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(root),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["done"] == sorted(["matching", "stepper", "training", "activations demo", "open a bundled model",
                                     "maps", "gradcam", "filters", "inspect from training", "close"])
    assert result["heavy"] == [], f"the window's process imported {result['heavy']}"
