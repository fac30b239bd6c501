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
# Engines started by the tests open no connection to another machine either (the fixture
# below guards this process only).
os.environ["CNNVIZ_OFFLINE"] = "1"
# A Lambda in the test fixtures writes this file if its code ever runs. Set before any engine
# starts, so code run in the engine's process would leave the file too.
os.environ["CNNVIZ_LAMBDA_MARKER"] = os.path.join(os.environ["KERAS_HOME"], "lambda-code-ran.txt")

import pytest  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "own_engine: no shared engine is alive during the test, and its window gets an "
        "engine of its own, started as the product starts it (right after the window is shown)")


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


class _SharedEngine:
    """One engine process for the tests' windows, created on first use and started by the first
    job that needs it (one TensorFlow import for many windows instead of one each). A window
    wrapping it stops only its own jobs when it closes; models are named by ids unique to the
    engine, so tests do not see each other's models. It is ended before a test marked
    ``own_engine`` (that test may count processes and threads) and at the end of the session;
    the next window that needs it gets a fresh one."""

    def __init__(self) -> None:
        self._client = None

    def client(self):
        if self._client is None:
            from cnnviz.engine.client import EngineClient
            from cnnviz.engine.faults import CRASH_ON, HANG_ON

            # The faults a test stages in its environment are for an engine of its own.
            self._client = EngineClient(warm_up=True, env_overrides={CRASH_ON: None, HANG_ON: None})
        return self._client

    def monitor_thread(self):
        return self._client.monitor_thread if self._client is not None else None

    def end(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            assert client.shutdown(timeout=30.0, kill_after=10.0), "the shared engine did not end"


_SHARED_ENGINE = _SharedEngine()


@pytest.fixture(scope="session", autouse=True)
def _shared_engine_ends_with_the_session():
    yield
    _SHARED_ENGINE.end()


@pytest.fixture(autouse=True)
def _own_engine(request):
    """A test marked ``own_engine`` runs with no shared engine alive."""
    if request.node.get_closest_marker("own_engine") is not None:
        _SHARED_ENGINE.end()


@pytest.fixture
def make_context(request, settings, _own_engine):
    """``make_context()`` -> an AppContext on the shared engine, started on demand (no process
    and no TensorFlow for a test that submits no job); with ``@pytest.mark.own_engine``, one
    that starts an engine of its own right after its window is shown, as the product does."""
    from cnnviz.gui.context import ENGINE_START_ON_DEMAND, AppContext

    own = request.node.get_closest_marker("own_engine") is not None

    def make(context_settings=None):
        if own:
            return AppContext(context_settings or settings)
        return AppContext(context_settings or settings, engine=_SHARED_ENGINE.client(),
                          engine_start=ENGINE_START_ON_DEMAND)

    return make


@pytest.fixture
def ctx(qapp, make_context):
    context = make_context()
    yield context
    assert context.shutdown(timeout=5.0), "the Keras worker thread did not stop"


@pytest.fixture
def window(qtbot, make_context):
    """The real main window on the bundled default image."""
    from cnnviz import paths
    from cnnviz.gui.app import MainWindow

    context = make_context()
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


#: How long a test waits for the engine to open a model and compute (its first job imports Keras).
MODEL_TIMEOUT_MS = 60_000


@pytest.fixture
def open_activations(window, qtbot):
    """``open_activations(image="digit_5", trust=…)``: the window's Activations pane shown on a
    bundled sample image with the demo model open, once its first result is drawn and it is idle.
    ``trust`` answers the pane's question about files with code (refused by default; None keeps
    the pane's own question)."""

    def show(image: str = "digit_5", trust=lambda *a: False):
        from cnnviz import paths

        window.ctx.open_image(paths.sample_image(image))
        window.show_pane("activations")
        p = window.panes["activations"]
        if trust is not None:
            p.trust_prompt = trust
        qtbot.waitUntil(lambda: p.info is not None and p.result is not None, timeout=MODEL_TIMEOUT_MS)
        qtbot.waitUntil(lambda: not p.is_busy(), timeout=MODEL_TIMEOUT_MS)
        return p

    return show


@pytest.fixture(autouse=True)
def _no_dangling_worker_threads():
    """Every test must leave no cnnviz worker thread running (but the shared engine's, which
    outlives the tests by design)."""
    yield
    kept = _SHARED_ENGINE.monitor_thread()
    alive = [t for t in threading.enumerate() if t.name.startswith("cnnviz-") and t.is_alive() and t is not kept]
    for t in alive:
        t.join(timeout=5.0)
    alive = [t.name for t in alive if t.is_alive()]
    assert not alive, f"worker threads left running: {alive}"
