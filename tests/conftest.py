"""Shared test set-up: offscreen Qt, TensorFlow quiet, settings and Keras files kept in tmp."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"

import pytest  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    """A QSettings file of the test's own, so recent files never leak between tests."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "cnnviz.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def ctx(qapp, settings):
    from cnnviz.gui.context import AppContext

    context = AppContext(settings)
    yield context
    assert context.shutdown(timeout=5.0), "the Keras worker thread did not stop"


@pytest.fixture
def window(qtbot, settings):
    """The real main window on the bundled default image."""
    from cnnviz import paths
    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import AppContext

    context = AppContext(settings)
    win = MainWindow(context)
    qtbot.addWidget(win)
    context.open_image(paths.default_sample_image())
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    assert context.shutdown(timeout=5.0), "the Keras worker thread did not stop"


@pytest.fixture(autouse=True)
def _no_dangling_worker_threads():
    """Every test must leave no cnnviz worker thread running."""
    yield
    alive = [t for t in threading.enumerate() if t.name.startswith("cnnviz-") and t.is_alive()]
    for t in alive:
        t.join(timeout=5.0)
    alive = [t.name for t in alive if t.is_alive()]
    assert not alive, f"worker threads left running: {alive}"
