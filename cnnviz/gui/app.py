"""The main window and the ``cnnviz`` start-up.

This process never imports TensorFlow or Keras: that work runs in the engine, a child process
(:mod:`cnnviz.gui.engine`), started right after the window is first shown. The window never
waits for it; panes that need it say "Starting TensorFlow…" until it is ready.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QActionGroup, QFont, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QTabWidget,
    QToolBar,
    QWidget,
)

from cnnviz import paths
from cnnviz.gui.context import AppContext
from cnnviz.gui.panes import PANES
from cnnviz.gui.panes.base import Pane
from cnnviz.gui.qtutil import IMAGE_FILTER, MODEL_FILTER, MODEL_SUFFIXES
from cnnviz.gui.sessions import SessionController
from cnnviz.state.session import FILE_FILTER as SESSION_FILTER
from cnnviz.state.session import SUFFIX as SESSION_SUFFIX

PRESENTATION_SCALE = 1.6


CLOSE_TITLE = "Quit cnnviz"


class MainWindow(QMainWindow):
    #: How long a close waits (window hidden) for work still going before it ends anyway.
    close_wait_s: float = 30.0
    #: Answers "quit while work is going?" (the question -> True to quit). None: a dialog asks,
    #: unless nobody can answer one (no screen, or ``unattended``), when the window just closes.
    close_prompt = None
    #: True while a script drives the window (screenshots, timed quits): no dialog is shown.
    unattended: bool = False

    def __init__(self, ctx: AppContext | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx if ctx is not None else AppContext(parent=self)
        if self.ctx.parent() is None:
            self.ctx.setParent(self)
        self.setWindowTitle("cnnviz")
        self.setAcceptDrops(True)
        self.resize(1400, 900)
        self._base_font = QFont(QApplication.font())
        self._closing = False
        self._close_ready = False  # True once the engine has ended (or the wait ran out)
        self._engine_requested = False
        self._close_deadline = 0.0
        self._close_timer = QTimer(self)
        self._close_timer.setInterval(50)
        self._close_timer.timeout.connect(self._on_close_wait_tick)

        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.panes: dict[str, Pane] = {}
        for spec in PANES:
            pane = spec.load()(self.ctx, self.tabs)
            self.panes[spec.name] = pane
            self.tabs.addTab(pane, spec.title)

        self._busy = QProgressBar(self)
        self._busy.setRange(0, 0)
        self._busy.setMaximumWidth(120)
        self._busy.setVisible(False)
        self._busy_label = QLabel("")
        self.statusBar().addPermanentWidget(self._busy_label)
        self.statusBar().addPermanentWidget(self._busy)

        self.sessions = SessionController(self)
        self._build_actions()
        self.ctx.message_posted.connect(self._on_message_posted)
        self.ctx.error_posted.connect(self._on_error_posted)
        self.ctx.busy_posted.connect(self.set_busy)
        self.ctx.model_dialog_requested.connect(self.open_model_dialog)
        self.ctx.pane_requested.connect(self.show_pane)
        self.ctx.presentation_changed.connect(self._on_presentation_changed)
        self.ctx.image_changed.connect(self._on_image_changed)

    # -- actions and menus -------------------------------------------------------------------
    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_image_action = file_menu.addAction("&Open image…", self.open_image_dialog)
        self.open_image_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_model_action = file_menu.addAction("Open &model…", self.open_model_dialog)
        self.open_model_action.setShortcut(QKeySequence("Ctrl+M"))
        file_menu.addSeparator()
        self.open_session_action = file_menu.addAction("Open &session…", self.open_session_dialog)
        self.open_session_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.save_session_action = file_menu.addAction("Sa&ve session…", self.save_session_dialog)
        self.save_session_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        file_menu.addSeparator()
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.samples_menu = file_menu.addMenu("&Samples")
        for sample in paths.sample_images():
            act = self.samples_menu.addAction(sample.stem.replace("_", " "))
            act.setData(str(sample))
            act.triggered.connect(self._on_sample_triggered)
        self.image_limit_action = file_menu.addAction("Image size &limit…", self.image_limit_dialog)
        file_menu.addSeparator()
        self.export_action = file_menu.addAction("&Export view as PNG…", self.export_view_dialog)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)

        view_menu = menu.addMenu("&View")
        self.presentation_action = view_menu.addAction("&Presentation mode")
        self.presentation_action.setCheckable(True)
        self.presentation_action.setShortcut(QKeySequence("F5"))
        self.presentation_action.toggled.connect(self.ctx.set_presentation)
        self.fullscreen_action = view_menu.addAction("&Full screen")
        self.fullscreen_action.setCheckable(True)
        self.fullscreen_action.setShortcut(QKeySequence("F11"))
        self.fullscreen_action.toggled.connect(self._on_fullscreen_toggled)
        view_menu.addSeparator()
        group = QActionGroup(self)
        self.pane_actions: dict[str, QAction] = {}
        for i, spec in enumerate(PANES):
            act = view_menu.addAction(spec.title)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.setData(spec.name)
            act.triggered.connect(self._on_pane_action)
            group.addAction(act)
            self.pane_actions[spec.name] = act

        self._build_lessons_menu(menu.addMenu("&Lessons"))

        tools_menu = menu.addMenu("&Tools")
        self.size_calculator_action = tools_menu.addAction("Output-&size calculator…",
                                                           self.open_size_calculator)
        self.size_calculator_action.setStatusTip(
            "How big a convolution's or pooling's output is, for a kernel, stride, padding and "
            "dilation, layer after layer")
        self.size_calculator: QDialog | None = None

        help_menu = menu.addMenu("&Help")
        help_menu.addAction("&About cnnviz", self._about)

        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open_image_action)
        toolbar.addAction(self.open_model_action)
        toolbar.addAction(self.export_action)
        toolbar.addSeparator()
        toolbar.addAction(self.presentation_action)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    def _build_lessons_menu(self, lessons_menu) -> None:
        self.lessons_menu = lessons_menu
        self.lesson_actions: list[QAction] = []
        for title, path in self.sessions.lessons():
            act = lessons_menu.addAction(title)
            act.setData(str(path))
            act.triggered.connect(self._on_lesson_triggered)
            self.lesson_actions.append(act)
        if not self.lesson_actions:
            lessons_menu.addAction("(no lessons installed)").setEnabled(False)
        lessons_menu.addSeparator()
        notes = self.sessions.dock.toggleViewAction()
        notes.setText("Show the lesson &notes")
        lessons_menu.addAction(notes)
        lessons_menu.addAction("&About the lessons", self.sessions.show_index)

    @Slot()
    def _on_lesson_triggered(self) -> None:
        self.open_session(self.sender().data())

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        entries = [("images", p) for p in self.ctx.recent("images")]
        entries += [("models", p) for p in self.ctx.recent("models")]
        if not entries:
            self.recent_menu.addAction("(nothing yet)").setEnabled(False)
            return
        for kind, path in entries:
            act = self.recent_menu.addAction(f"{path.name}  —  {path.parent}")
            act.setData((kind, str(path)))
            act.triggered.connect(self._on_recent_triggered)

    @Slot()
    def _on_recent_triggered(self) -> None:
        kind, path = self.sender().data()
        if kind == "models":
            self.ctx.open_model(path)
        else:
            self.ctx.open_image(path)

    @Slot()
    def _on_sample_triggered(self) -> None:
        self.ctx.open_image(self.sender().data())

    @Slot()
    def _on_pane_action(self) -> None:
        self.show_pane(self.sender().data())

    # -- opening files -----------------------------------------------------------------------
    def open_image_dialog(self) -> None:
        start = str(self.ctx.image_path.parent) if self.ctx.image_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, IMAGE_FILTER)
        if path:
            self.ctx.open_image(path)

    @Slot()
    def open_size_calculator(self) -> QDialog:
        """Tools → Output-size calculator…: the calculator in a window of its own (not modal),
        started from the height of the open image; a second call brings the same window up."""
        from cnnviz.gui.widgets.size_calculator import SizeCalculatorDialog

        if self.size_calculator is None:
            self.size_calculator = SizeCalculatorDialog(int(self.ctx.image.shape[0]), parent=self)
            self.size_calculator.setObjectName("sizeCalculatorDialog")
        self.size_calculator.show()
        self.size_calculator.raise_()
        self.size_calculator.activateWindow()
        return self.size_calculator

    def image_limit_dialog(self) -> QInputDialog:
        """Ask for the image size limit in megapixels (shown without blocking; OK applies it)."""
        dialog = QInputDialog(self)
        dialog.setObjectName("imageLimitDialog")
        dialog.setWindowTitle("Image size limit")
        dialog.setInputMode(QInputDialog.InputMode.DoubleInput)
        dialog.setDoubleDecimals(1)
        dialog.setDoubleRange(0.1, 10_000.0)
        dialog.setDoubleValue(self.ctx.max_image_pixels / 1e6)
        dialog.setLabelText(
            "Largest image opened at full size, in megapixels (width × height ÷ 1 000 000).\n"
            "A larger image is refused, with a button to open it downscaled.\n"
            "Raise it only for files you trust: a 100-megapixel image takes 300 MB.")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.doubleValueSelected.connect(self.ctx.set_max_image_megapixels)
        self._image_limit_dialog = dialog
        dialog.open()
        return dialog

    def open_model_dialog(self) -> None:
        """Starts in the folder of the model opened last (recent models), if it is still there."""
        recent = [p.parent for p in self.ctx.recent("models") if p.parent.is_dir()]
        start = str(recent[0]) if recent else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open Keras model", start, MODEL_FILTER)
        if path:
            self.ctx.open_model(path)

    def open_session_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", "", SESSION_FILTER)
        if path and not self.open_session(path):
            QMessageBox.warning(self, "Open session", self.sessions.last_error)

    def save_session_dialog(self) -> None:
        start = f"cnnviz-{self.current_pane().name}{SESSION_SUFFIX}"
        path, _ = QFileDialog.getSaveFileName(self, "Save session", start, SESSION_FILTER)
        if path:
            self.save_session(path)

    def open_session(self, path: str | Path) -> bool:
        """Show the view a session file (or lesson) holds; False, with nothing changed and the
        reason in ``self.sessions.last_error``, when it cannot be opened."""
        return self.sessions.open(path)

    def save_session(self, path: str | Path) -> Path | None:
        """Save the current view as a session file; returns the file written (None on failure)."""
        return self.sessions.save(path)

    def open_path(self, path: str | Path) -> None:
        """Open a file by its kind: a session or a model by suffix, anything else as an image."""
        path = Path(path)
        if path.suffix.lower() == SESSION_SUFFIX:
            self.open_session(path)
        elif path.suffix.lower() in MODEL_SUFFIXES:
            self.ctx.open_model(path)
        else:
            self.ctx.open_image(path)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                event.acceptProposedAction()
                return
        self.ctx.error_posted.emit("Only files on this computer can be opened.")

    # -- views -------------------------------------------------------------------------------
    @Slot(str)
    def show_pane(self, name: str) -> None:
        pane = self.panes.get(name)
        if pane is not None:
            self.tabs.setCurrentWidget(pane)

    def current_pane(self) -> Pane:
        return self.tabs.currentWidget()

    def export_view_dialog(self) -> None:
        pane = self.current_pane()
        if pane is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export view", f"cnnviz-{pane.name}.png", "PNG image (*.png)"
        )
        if path:
            self.export_view(path)

    def export_view(self, path: str | Path) -> bool:
        image = self.current_pane().export_image()
        ok = image.save(str(path), "PNG")
        if ok:
            self.ctx.post(f"Saved the view to {path}")
        else:
            self.ctx.error_posted.emit(f"Could not write {path}: check the folder exists and is writable.")
        return ok

    @Slot(bool)
    def _on_presentation_changed(self, on: bool) -> None:
        font = QFont(self._base_font)
        if on:
            size = self._base_font.pointSizeF()
            font.setPointSizeF((size if size > 0 else 10) * PRESENTATION_SCALE)
        QApplication.instance().setFont(font)
        self.setFont(font)
        for pane in self.panes.values():
            pane.set_presentation_mode(on)
        if self.presentation_action.isChecked() != on:
            self.presentation_action.setChecked(on)

    @Slot(bool)
    def _on_fullscreen_toggled(self, on: bool) -> None:
        self.showFullScreen() if on else self.showNormal()

    @Slot()
    def _on_image_changed(self) -> None:
        name = self.ctx.image_path.name if self.ctx.image_path else "image"
        reduced = self.ctx.image_reduction.partition(":")[0]  # "decoded at 1/4"
        self.setWindowTitle(f"cnnviz — {name}" + (f" ({reduced})" if reduced else ""))

    @Slot(str, int)
    def _on_message_posted(self, text: str, ms: int) -> None:
        self.statusBar().showMessage(text, ms)

    @Slot(str)
    def _on_error_posted(self, text: str) -> None:
        self.statusBar().showMessage(text, 15000)

    def report_startup_error(self, text: str) -> None:
        """Show a problem found while starting (e.g. an unreadable image on the command line)
        in the status bar once the window is shown."""
        self._startup_error = text
        QTimer.singleShot(0, self, self._on_startup_error_due)

    @Slot()
    def _on_startup_error_due(self) -> None:
        self.ctx.error_posted.emit(self._startup_error)

    def set_busy(self, text: str) -> None:
        """Show (non-empty text) or hide the busy indicator in the status bar."""
        self._busy_label.setText(text)
        self._busy.setVisible(bool(text))

    def about_text(self) -> str:
        """The About box: the version, the keyboard shortcuts (read from the menus) and where
        the documentation is."""
        from cnnviz import __version__

        keys = []
        for menu in (a.menu() for a in self.menuBar().actions()):
            for act in menu.actions() if menu is not None else ():
                shortcut = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                if shortcut:
                    keys.append(f"{shortcut}\t{act.text().replace('&', '')}")
        readme = Path(__file__).resolve().parents[2] / "README.md"
        docs = (f"Documentation: {readme}" if readme.is_file()
                else "Documentation: README.md in the cnnviz source folder")
        return (f"cnnviz {__version__} — explore convolutional neural networks visually.\n\n"
                "Kernels, pattern matching, a convolution stepper, training the book's models "
                "with live plots, and activation heatmaps of your own Keras models.\n\n"
                "Keyboard shortcuts:\n" + "\n".join(keys) + "\n\n" + docs)

    def _about(self) -> None:
        QMessageBox.about(self, "About cnnviz", self.about_text())

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._engine_requested and not self._closing:
            # After this show has been painted: the window never waits for TensorFlow.
            self._engine_requested = True
            QTimer.singleShot(0, self, self._start_engine)

    @Slot()
    def _start_engine(self) -> None:
        if not self._closing:
            self.ctx.start_engine()

    def closeEvent(self, event) -> None:  # noqa: N802
        """One shutdown path: every pane stops its work, then the engine is asked to stop its
        jobs and end.

        Work that is still going (a training batch, then the saving of the model) is waited for
        with the window already hidden and the event loop running: the close is put off until
        the engine has ended, or until ``close_wait_s`` has passed, when a run still going is
        marked "interrupted" in its run.json (its checkpoints, written atomically, stay valid).
        The close then completes and, since a hidden window's close does not count as the last
        window closing, the application is ended explicitly when that close would have ended it.
        """
        if not self._closing and not self._confirm_close():
            event.ignore()  # the user keeps the window and its work going
            return
        if not self._closing:
            self._closing = True
            for pane in self.panes.values():
                pane.shutdown()
            self._close_ready = self.ctx.shutdown(timeout=0.2)
            if not self._close_ready:
                self._close_deadline = time.monotonic() + float(self.close_wait_s)
                self._close_timer.start()
        if self._close_ready:
            super().closeEvent(event)
            return
        event.ignore()
        self.hide()

    def _confirm_close(self) -> bool:
        """Ask before quitting while a pane has work going (a training run): True to quit."""
        questions = [q for q in (p.close_question() for p in self.panes.values()) if q]
        if not questions:
            return True
        prompt = self.close_prompt
        if prompt is None:
            if self.unattended or QApplication.platformName() in ("offscreen", "minimal"):
                return True  # nobody to answer: close as before (the run stops after its batch)
            prompt = self._ask_close
        return bool(prompt("\n\n".join(questions)))

    def _ask_close(self, question: str) -> bool:
        """The dialog behind ``close_prompt``."""
        answer = QMessageBox.question(self, CLOSE_TITLE, question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def _on_close_wait_tick(self) -> None:
        ended = self.ctx.shutdown(timeout=0.0)
        if not ended and time.monotonic() < self._close_deadline:
            return
        self._close_timer.stop()
        if not ended:
            for pane in self.panes.values():
                pane.mark_interrupted()
        ends_application = self._is_last_window()
        self._close_ready = True
        self.close()
        if ends_application:
            QApplication.quit()

    def _is_last_window(self) -> bool:
        """Whether closing this window, had it been on screen, would have ended the application
        (Qt's quit-on-last-window-closed rule: no other visible primary window is left)."""
        app = QApplication.instance()
        if not app.quitOnLastWindowClosed() or self.parentWidget() is not None:
            return False
        if not self.testAttribute(Qt.WidgetAttribute.WA_QuitOnClose):
            return False
        for widget in app.topLevelWidgets():
            if (widget is not self and widget.isWindow() and widget.isVisible()
                    and widget.parentWidget() is None
                    and widget.windowType() != Qt.WindowType.ToolTip
                    and widget.testAttribute(Qt.WidgetAttribute.WA_QuitOnClose)):
                return False
        return True


def _make_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("cnnviz")
    app.setOrganizationName("cnnviz")
    return app


def wait_until_idle(window: MainWindow, pane: Pane, timeout: float = 60.0) -> None:
    """Process events until the pane and the engine have nothing left to do."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        worker_busy = window.ctx.has_worker() and window.ctx.worker.is_busy()
        if not pane.is_busy() and not worker_busy:
            break
        time.sleep(0.02)
    for _ in range(5):
        app.processEvents()


#: Panes whose ``prepare_screenshot`` sets up an example of its own (it would replace a session's).
_SCREENSHOT_SETS_EXAMPLE = ("stepper", "training")


def screenshot(window: MainWindow, pane_name: str, out: str | Path, timeout: float = 120.0,
               keep_settings: bool = False) -> bool:
    """Render a pane to a PNG. ``keep_settings``: show the pane as it is (an opened session)
    rather than the example its screenshot otherwise sets up."""
    window.show_pane(pane_name)
    pane = window.panes[pane_name]
    QApplication.instance().processEvents()
    if not (keep_settings and pane_name in _SCREENSHOT_SETS_EXAMPLE):
        pane.prepare_screenshot()
    wait_until_idle(window, pane, timeout)
    return window.grab().save(str(out), "PNG")


def _start_automation(window: MainWindow) -> None:
    """Hooks for tests and benchmarks, set by environment variables.

    ``CNNVIZ_STARTUP_MARKER=1`` prints one line once the event loop runs with the window shown
    (saying whether TensorFlow is imported by then: it never is in this process); ``CNNVIZ_QUIT_AFTER_MS=N`` closes the window
    N milliseconds after that, through the normal close path.
    """
    if os.environ.get("CNNVIZ_STARTUP_MARKER"):
        QTimer.singleShot(0, window, _print_startup_marker)
    quit_ms = os.environ.get("CNNVIZ_QUIT_AFTER_MS")
    if quit_ms:
        window.unattended = True
        QTimer.singleShot(max(0, int(quit_ms)), window, window.close)


def _print_startup_marker() -> None:
    print(f"CNNVIZ_WINDOW_SHOWN tensorflow_imported={'tensorflow' in sys.modules}", flush=True)


def open_window(args, settings: QSettings | None = None) -> MainWindow:
    """Build the main window as the command line asks and show it (without running the loop)."""
    _make_app()
    ctx = AppContext(settings if settings is not None else QSettings("cnnviz", "cnnviz"))
    window = MainWindow(ctx)
    ctx.setParent(window)
    if args.screenshot:
        w, _, h = args.size.partition("x")
        window.resize(int(w), int(h))
    image = args.image or paths.default_sample_image()
    if not ctx.open_image(image):
        # Keep going on a bundled sample so the user still gets a working window, and say why
        # once the window is up (opening the sample posts its own message first).
        failure = ctx.last_error
        sys.stderr.write(f"cnnviz: {failure}\n")
        ctx.open_image(paths.default_sample_image())
        window.report_startup_error(f"{failure} — showing a bundled sample instead.")
    session = getattr(args, "session", None)
    if session and not window.open_session(session):
        failure = window.sessions.last_error
        sys.stderr.write(f"cnnviz: {failure}\n")
        window.report_startup_error(failure)
    if args.presentation:
        ctx.set_presentation(True)
    if args.pane:
        window.show_pane(args.pane)
    if args.model:
        ctx.open_model(args.model)
    window.show()
    return window


def run(args) -> int:
    if args.screenshot and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    window = open_window(args)
    window.unattended = bool(args.screenshot)
    _start_automation(window)
    if args.screenshot:
        if not args.pane:
            args.pane = window.current_pane().name
        ok = screenshot(window, args.pane, args.screenshot,
                        keep_settings=bool(getattr(args, "session", None)))
        window.close()
        if not ok:
            sys.stderr.write(f"cnnviz: could not write {args.screenshot}\n")
            return 1
        print(f"wrote {args.screenshot}")
        return 0
    return QApplication.instance().exec()
