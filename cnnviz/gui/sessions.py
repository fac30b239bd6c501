"""Saving and opening sessions, and the bundled lessons, for the main window.

The window's panes each keep their settings in a Qt-free state with ``to_session()`` and
``apply_session(d)``; :class:`SessionController` collects them into a session
(:mod:`cnnviz.state.session`) and hands a session's parts back. A session is checked whole
before anything changes: every pane's part is first applied to a fresh state of its own, so
a bad value anywhere leaves the window as it was. A missing image or model is not an error:
the rest opens and the window says what is missing.

A lesson is a session shipped in ``resources/lessons/`` with a text beside it (same name,
``.md``): what to look at and what to ask the class, shown in a dock that can be closed.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTextBrowser

from cnnviz import paths
from cnnviz.state.functions import FunctionsState
from cnnviz.state.kernels import KernelPlaygroundState
from cnnviz.state.matching import MatchingState
from cnnviz.state.session import (
    Session,
    SessionError,
    decode_png,
    encode_png,
    lesson_files,
    portable_path,
    read_session,
    resolve_path,
    write_session,
)
from cnnviz.state.siamese import SiameseSettings
from cnnviz.state.stepper import StepperState
from cnnviz.state.training import TrainingForm

ACTIVATION_VIEWS = ("maps", "filters", "compare", "network")  # the Activations tabs, in order
INDEX_NAME = "index.md"


def lesson_notes(session_file: Path) -> str:
    """The text beside a session file (``NAME.md``), or ""."""
    notes = Path(session_file).with_suffix(".md")
    try:
        return notes.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def lessons_index() -> str:
    """The lessons' introduction (which chapters have one, and which not yet)."""
    try:
        return (paths.lessons_dir() / INDEX_NAME).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


class SessionController(QObject):
    """Collects the window's state into sessions and distributes opened ones; owns the lesson
    dock."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.ctx = window.ctx
        self.last_error = ""  # why the last session could not be opened ("" if it could)
        self.last_missing = ""  # what the last opened session lacked ("" if nothing)
        self.current: Session | None = None
        self._model_hook = None  # applies a session's choices once its model has loaded
        self.dock = QDockWidget("Lesson", window)
        self.dock.setObjectName("lessonDock")
        self.dock.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea)
        self.notes = QTextBrowser(self.dock)
        self.notes.setOpenExternalLinks(True)
        self.notes.setMinimumWidth(260)
        self.dock.setWidget(self.notes)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()

    # -- the lesson dock -----------------------------------------------------------------------
    def show_notes(self, title: str, text: str) -> None:
        self.dock.setWindowTitle(title or "Lesson")
        self.notes.setMarkdown(text)
        self.dock.show()
        self.dock.raise_()

    def show_index(self) -> None:
        self.show_notes("Lessons", lessons_index())

    # -- collecting ------------------------------------------------------------------------------
    def collect(self) -> tuple[Session, str]:
        """The window as a session, and a note on what could not be kept ("" if nothing)."""
        w = self.window
        parts: dict[str, dict] = {}
        for name, state in self._states().items():
            parts[name] = state.to_session()
        act = w.panes.get("activations")
        if act is not None:
            parts["activations"]["view"] = ACTIVATION_VIEWS[max(0, act.views.currentIndex())]
        image, note = self._image_part()
        return Session(pane=w.current_pane().name, image=image, panes=parts), note

    def _states(self) -> dict:
        p = self.window.panes
        found = {"kernels": getattr(p.get("kernels"), "state", None),
                 "matching": getattr(p.get("matching"), "state", None),
                 "stepper": getattr(p.get("stepper"), "state", None),
                 "functions": getattr(p.get("functions"), "state", None),
                 "training": getattr(p.get("training"), "form", None),
                 "siamese": p.get("siamese"),  # the pane: applying a part also opens its model
                 "activations": getattr(p.get("activations"), "state", None)}
        return {k: v for k, v in found.items() if v is not None}

    def _image_part(self) -> tuple[dict | None, str]:
        ctx = self.ctx
        part: dict = {}
        if ctx.image_path is not None:
            part["path"] = portable_path(ctx.image_path)
            part["name"] = ctx.image_path.name
            if part["path"].startswith(("samples:", "resources:")):
                return part, ""
        embedded = encode_png(ctx.image)
        if embedded is not None:
            part["png_base64"] = embedded
        if not part:
            return None, "The image has no file and is too large to keep inside the session: it was not saved."
        return part, ""

    def save(self, path: str | Path) -> Path | None:
        """Write the window's session to ``path`` (``.cnnviz`` is added if missing)."""
        session, note = self.collect()
        try:
            written = write_session(path, session)
        except (OSError, ValueError) as exc:
            self.ctx.error_posted.emit(f"Could not save the session to {path}: {getattr(exc, 'strerror', None) or exc}")
            return None
        self.ctx.post(f"Saved the session to {written}" + (f" — {note}" if note else ""), 8000)
        return written

    # -- distributing ---------------------------------------------------------------------------
    def open(self, path: str | Path, notes: str | None = None) -> bool:
        """Open a session file: the window shows exactly the view it holds. A broken file, or one
        from a newer cnnviz, changes nothing and says why (False)."""
        path = Path(path)
        self.last_error = self.last_missing = ""
        try:
            session = read_session(path, self.window.panes)
            image = self._check(session)
        except SessionError as exc:
            self.last_error = str(exc)
            self.ctx.error_posted.emit(self.last_error)
            return False
        self._apply(session, image)
        self.current = session
        text = lesson_notes(path) if notes is None else notes
        if text:
            self.show_notes(session.title, text)
        missing = f"Not found: {self.last_missing} — the rest of the session is shown." if self.last_missing else ""
        if missing:
            self.ctx.error_posted.emit(missing)
        else:
            self.ctx.post(f"Opened {session.title or path.name}", 6000)
        return True

    def _check(self, session: Session):
        """Everything is checked before anything changes: each part is applied to a fresh state.
        Returns the image to show: a Path, an embedded picture (array), or a str naming what is
        missing."""
        states = self._states()
        for name, d in session.panes.items():
            if name == "kernels":
                KernelPlaygroundState().apply_session(d)
            elif name == "matching":
                MatchingState().apply_session(d)
            elif name == "stepper":
                StepperState().apply_session(d)
            elif name == "functions":
                FunctionsState().apply_session(d)
            elif name == "training" and "training" in states:
                TrainingForm(states["training"].default_runs_root).apply_session(d)
            elif name == "siamese":
                SiameseSettings().apply_session(d)
            elif name == "activations":
                self._check_activations(d)
        if session.image is None:
            return None
        path_text = session.image.get("path")
        if path_text:
            path = resolve_path(path_text, session.base_dir)
            if path.is_file():
                return path
        if "png_base64" in session.image:
            return decode_png(session.image["png_base64"])
        return f"the image {path_text}"

    @staticmethod
    def _check_activations(d: dict) -> None:
        from cnnviz.state.activations import ActivationsState
        from cnnviz.state.session import Fields

        probe = ActivationsState(lambda *a, **k: None)
        probe.apply_session({k: v for k, v in d.items() if k != "model"})
        Fields(d, "activations").choice("view", ACTIVATION_VIEWS)

    def _apply(self, session: Session, image) -> None:
        w, ctx = self.window, self.ctx
        missing: list[str] = []
        if isinstance(image, Path):
            if not ctx.open_image(image):
                missing.append(f"the image {image}")
        elif isinstance(image, str):
            missing.append(image)
        elif image is not None:
            name = (session.image or {}).get("name", "")
            ctx.set_image(image, None)
            if name:
                w.setWindowTitle(f"cnnviz — {name} (kept in the session)")
        states = self._states()
        parts = session.panes
        if "kernels" in parts:
            states["kernels"].apply_session(parts["kernels"])
            w.panes["kernels"].flush()
        if "matching" in parts:
            states["matching"].apply_session(parts["matching"])
            self._sync_matching(w.panes["matching"])
        if "stepper" in parts:
            kernel = states["kernels"].kernel if "kernels" in states else ctx.kernel
            states["stepper"].apply_session(parts["stepper"], playground=kernel)
        if "functions" in parts and "functions" in states:
            states["functions"].apply_session(parts["functions"])
        if "training" in parts and "training" in states:
            states["training"].apply_session(parts["training"])
        if "siamese" in parts and "siamese" in states:
            states["siamese"].apply_session(parts["siamese"])
        if "activations" in parts and "activations" in states:
            plan = states["activations"].apply_session(parts["activations"], session.base_dir)
            plan["view"] = parts["activations"].get("view", "maps")
            if plan["missing"]:
                missing.append(plan["missing"])
            elif parts["activations"].get("model"):
                self._when_model_loaded(plan)
        self.last_missing = " and ".join(missing)
        w.show_pane(session.pane)

    @staticmethod
    def _sync_matching(pane) -> None:
        """The matching pane's method buttons and match count follow its state."""
        s = pane.state
        for widget, on in ((pane.dot_radio, s.method == "dot"), (pane.ncc_radio, s.method == "ncc")):
            widget.blockSignals(True)
            widget.setChecked(on)
            widget.blockSignals(False)
        pane.top_spin.blockSignals(True)
        pane.top_spin.setValue(s.top_n)
        pane.top_spin.blockSignals(False)

    def _when_model_loaded(self, plan: dict) -> None:
        """The choices about a model (its layer, the second input, the view) apply once it has
        loaded: the pane first resets itself for the new model, then these are chosen."""
        pane = self.window.panes["activations"]
        state = pane.state

        def chosen() -> None:
            info = state.info
            if info is None:
                return
            if plan["compare_with"] is not None:
                pane.compare_page.choose(str(plan["compare_with"]))
            for combo, key in ((pane.norm_combo, "normalization"), (pane.source_combo, "source")):
                index = combo.findData(plan[key])
                if index >= 0 and combo.model().item(index).isEnabled():
                    combo.setCurrentIndex(index)
            pane.views.setCurrentIndex(ACTIVATION_VIEWS.index(plan["view"]))
            layer = plan["layer"]
            if layer and info.row(layer) is not None:
                pane.select_layer(layer)

        def on_loaded(_info) -> None:
            self._forget_model_hook()
            QTimer.singleShot(0, self, chosen)

        self._forget_model_hook()
        self._model_hook = on_loaded
        state.model_changed.connect(on_loaded)
        if plan["view"] != "maps":
            pane.views.setCurrentIndex(ACTIVATION_VIEWS.index(plan["view"]))

    def _forget_model_hook(self) -> None:
        hook, self._model_hook = self._model_hook, None
        if hook is not None:
            self.window.panes["activations"].state.model_changed.disconnect(hook)

    # -- lessons ---------------------------------------------------------------------------------
    @staticmethod
    def lessons() -> list[tuple[str, Path]]:
        """(title, file) of each bundled lesson, in order."""
        out = []
        for path in lesson_files():
            try:
                title = read_session(path).title or path.stem
            except SessionError:
                continue
            out.append((title, path))
        return out
