"""The main window: opening images every way a person does, errors in words, recent files across
runs, classroom mode, export, shortcuts and closing."""

from __future__ import annotations

import struct
import time
import zlib

import cv2
import numpy as np
from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from cnnviz import paths
from cnnviz.core import images


def drop_files(window, *files) -> bool:
    """Drag files from a file manager onto the window and drop them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    pos = QPoint(window.width() // 2, window.height() // 2)
    action = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(pos.toPointF(), action, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return True


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_drag_and_drop_an_image_opens_it_in_every_pane(window, qtbot):
    sudoku = paths.sample_image("sudoku")
    assert drop_files(window, sudoku)
    assert window.ctx.image_path == sudoku
    np.testing.assert_array_equal(window.ctx.image, images.load_image(sudoku))
    assert "sudoku.png" in window.windowTitle()
    kernels = window.panes["kernels"]
    kernels.flush()
    assert kernels.original_view.image_shape() == window.ctx.image.shape[:2]


def test_unreadable_image_is_reported_and_the_previous_image_kept(window, qtbot, tmp_path):
    before = window.ctx.image.copy()
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    assert drop_files(window, bad)
    assert "holiday.jpg" in window.statusBar().currentMessage()
    np.testing.assert_array_equal(window.ctx.image, before)
    assert window.ctx.image_path == paths.default_sample_image()


def test_huge_image_is_refused_before_decoding(window, tmp_path):
    before = window.ctx.image.copy()
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(100_000, 100_000))
    assert not window.ctx.open_image(bomb)
    message = window.statusBar().currentMessage()
    assert "bomb.png" in message and "megapixels" in message
    np.testing.assert_array_equal(window.ctx.image, before)


def test_samples_menu_opens_a_sample(window):
    actions = {a.text(): a for a in window.samples_menu.actions()}
    names = {p.stem.replace("_", " ") for p in paths.sample_images()}
    assert names <= set(actions) and {"shapes", "circle pattern", "sudoku", "digit 5", "cat"} <= set(actions)
    actions["cartoon"].trigger()
    assert window.ctx.image_path.name == "cartoon.png"
    assert window.ctx.image.shape == images.load_image(paths.sample_image("cartoon")).shape


def test_recent_files_survive_into_a_second_window(qtbot, settings):
    from cnnviz.gui.app import MainWindow
    from cnnviz.gui.context import AppContext

    first = MainWindow(AppContext(settings))
    qtbot.addWidget(first)
    first.ctx.open_image(paths.sample_image("sudoku"))
    first.ctx.open_image(paths.sample_image("cat"))
    first.close()

    second = MainWindow(AppContext(settings))
    qtbot.addWidget(second)
    assert second.ctx.recent("images")[:2] == [paths.sample_image("cat").resolve(), paths.sample_image("sudoku").resolve()]
    second._fill_recent_menu()
    entries = [a for a in second.recent_menu.actions() if a.data()]
    assert entries[0].text().startswith("cat.jpg")
    entries[1].trigger()
    assert second.ctx.image_path.name == "sudoku.png"
    second.close()


def test_presentation_mode_enlarges_the_font_and_back(window, qtbot):
    app = QApplication.instance()
    size = app.font().pointSizeF()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    try:
        assert window.ctx.presentation and window.presentation_action.isChecked()
        assert app.font().pointSizeF() >= size * 1.5
        assert window.panes["kernels"].original_view.title()  # titles are still there
    finally:
        window.presentation_action.setChecked(False)
    assert app.font().pointSizeF() == size


def test_export_view_writes_a_png(window, tmp_path):
    out = tmp_path / "view.png"
    window.panes["kernels"].flush()
    assert window.export_view(out)
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
    assert float(img.std()) > 10
    assert "view.png" in window.statusBar().currentMessage()
    assert not window.export_view(tmp_path / "no-such-folder" / "x.png")


def test_pane_shortcuts_switch_tabs(window, qtbot):
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.current_pane().name == "matching"
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.current_pane().name == "kernels"


def test_closing_the_window(window, qtbot):
    kernels = window.panes["kernels"]
    kernels.schedule_update()
    assert window.close()
    assert not window.isVisible()
    assert not kernels.is_busy()


def test_closing_while_the_worker_is_busy_hides_at_once_and_ends_the_event_loop_after_it(window, qtbot):
    """The close waits for work still going with the window hidden and the event loop running,
    then ends the application as closing its last window does."""
    from cnnviz.engine import testing as testjobs

    ran = []  # a batch that does not look at the stop request, in the engine
    window.ctx.worker.submit(testjobs.busy_batch, 0.6, channel="busy", on_progress=ran.append)
    qtbot.waitUntil(lambda: bool(ran), timeout=30_000)
    app = QApplication.instance()
    assert window.close() is False  # put off until the worker has ended ...
    assert not window.isVisible()  # ... with the window gone from the screen at once
    assert not window._close_ready
    safety = QTimer()
    safety.setSingleShot(True)
    safety.timeout.connect(app.quit)
    safety.start(20_000)
    started = time.monotonic()
    app.exec()
    assert safety.isActive(), "the event loop did not end after the worker did"
    safety.stop()
    assert time.monotonic() - started < 10.0
    assert window._close_ready and not window.isVisible()
    assert window.ctx.shutdown(timeout=0.0)


def test_only_the_last_visible_window_ends_the_application(window, qtbot):
    app = QApplication.instance()
    assert app.quitOnLastWindowClosed() and window._is_last_window()
    other = QWidget()
    qtbot.addWidget(other)
    other.show()
    assert not window._is_last_window()
    tip = QWidget(None, Qt.WindowType.ToolTip)
    qtbot.addWidget(tip)
    other.hide()
    tip.show()
    assert window._is_last_window()


def test_about_box_shows_the_version_the_shortcuts_and_where_the_docs_are(window, qtbot):
    from PySide6.QtWidgets import QMessageBox

    from cnnviz import __version__

    seen = []

    def read_and_close():
        boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()]
        if boxes:
            seen.append(boxes[0].text())
            boxes[0].accept()
        else:
            QTimer.singleShot(20, read_and_close)

    QTimer.singleShot(20, read_and_close)
    about = next(a for m in window.menuBar().actions() if m.menu() for a in m.menu().actions()
                 if a.text() == "&About cnnviz")
    about.trigger()
    assert seen, "no About box"
    text = seen[0]
    assert f"cnnviz {__version__}" in text
    assert "Ctrl+M\tOpen model" in text and "F5\tPresentation mode" in text and "Ctrl+1\t" in text
    assert "README.md" in text


def test_open_model_dialog_starts_in_the_last_models_folder(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "net.keras").write_bytes(b"x")
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda parent, title, start, *a: asked.append(start) or ("", ""))
    window.open_model_action.trigger()
    assert asked == [""]  # nothing opened yet
    window.ctx.add_recent("models", folder / "net.keras")
    window.open_model_action.trigger()
    assert asked[-1] == str(folder.resolve())


def test_the_default_runs_folder_names_cnnviz_once(qapp, tmp_path, monkeypatch):
    from cnnviz.gui.panes.training import default_runs_root

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    names = qapp.applicationName(), qapp.organizationName()
    qapp.setApplicationName("cnnviz")  # as the program names itself
    qapp.setOrganizationName("cnnviz")
    try:
        root = default_runs_root()
    finally:
        qapp.setApplicationName(names[0])
        qapp.setOrganizationName(names[1])
    assert root == tmp_path / "cnnviz" / "runs"
