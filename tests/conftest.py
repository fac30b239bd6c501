"""Shared test set-up: offscreen Qt, TensorFlow quiet, settings and Keras files kept in tmp."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"
# Keras keeps downloaded datasets and keras.json under KERAS_HOME. A folder of the test session's
# own (set before anything imports Keras) means a machine with MNIST or CIFAR-10 cached behaves
# like a fresh one, and a user's keras.json cannot change the backend or the image layout.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="cnnviz-test-keras-home-")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], ignore_errors=True)

import pytest  # noqa: E402


class NetworkAccessError(RuntimeError):
    """A test tried to reach the internet (tests must work offline)."""


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any attempt to open a connection to another machine fails loudly (a download that a test
    did not mean to make). Local connections (e.g. a test's own server) still work."""
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            raise NetworkAccessError(f"tests must not use the network (tried to reach {address})")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


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
    # Keyboard shortcuts reach only the active window; on a real X server without a window
    # manager nothing activates a new window by itself.
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
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
