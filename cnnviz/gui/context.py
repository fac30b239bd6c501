"""The state every pane shares: the current image, the current kernel, the open model, settings.

One instance lives for the whole window. Panes never keep a second copy of what is here; they
read it on the ``*_changed`` signals.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal

from cnnviz.core import images
from cnnviz.core.kernels import PRESETS
from cnnviz.gui.compute import prefer_responsiveness

MAX_RECENT = 10

#: The settings key of the image size limit, in megapixels (File → Image size limit…).
IMAGE_LIMIT_KEY = "images/max_megapixels"
#: Where the limit is set, in the app's words.
IMAGE_LIMIT_WHERE = "File → Image size limit…"
#: The text of the message bar's button that opens a too-large image downscaled.
OPEN_DOWNSCALED = "Open downscaled"
#: Its tooltip.
DOWNSCALED_TIP = ("Open the image at 1/2, 1/4 or 1/8 of its size, the smallest reduction that "
                  "fits under the image size limit")

#: When the engine starts: right after the window is shown (so TensorFlow is warm by the first
#: job), or only when the first job is submitted.
ENGINE_START_SHOWN = "shown"
ENGINE_START_ON_DEMAND = "on-demand"


class AppContext(QObject):
    image_changed = Signal()
    kernel_changed = Signal()
    model_requested = Signal(str, bool)  # path, trusted
    #: the id of a model in the engine's ModelStore, its name, and its saved file ("" if none)
    model_offered = Signal(int, str, str)
    presentation_changed = Signal(bool)
    message_posted = Signal(str, int)  # text, milliseconds (0 = until replaced)
    error_posted = Signal(str)
    pane_requested = Signal(str)
    busy_posted = Signal(str)  # text for the busy indicator ("" hides it)
    model_dialog_requested = Signal()  # a pane asks the window to show its Open-model dialog
    engine_created = Signal(object)  # the EngineBridge, when ``worker`` first makes it

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None, *,
                 engine=None, engine_start: str = ENGINE_START_SHOWN) -> None:
        """``engine``: an :class:`~cnnviz.engine.client.EngineClient` to use instead of starting
        one of this context's own (it is not ended with the context). ``engine_start``:
        :data:`ENGINE_START_SHOWN` or :data:`ENGINE_START_ON_DEMAND`."""
        super().__init__(parent)
        prefer_responsiveness()  # the panes' background filters need the GIL often and briefly
        if engine_start not in (ENGINE_START_SHOWN, ENGINE_START_ON_DEMAND):
            raise ValueError(f"engine_start must be {ENGINE_START_SHOWN!r} or {ENGINE_START_ON_DEMAND!r}")
        self._engine_client = engine
        self.engine_start = engine_start
        self.settings = settings if settings is not None else QSettings("cnnviz", "cnnviz")
        self.image: np.ndarray = np.zeros((64, 64, 3), np.uint8)
        self.image_path: Path | None = None
        #: How the image was reduced when it was opened ("decoded at 1/4: 3000×2250 from
        #: 12000×9000"), or "" when it was opened at its full size.
        self.image_reduction: str = ""
        #: Counts every :meth:`set_image`; caches of derived images key on it (never on ``id()``,
        #: which Python reuses once an array is freed).
        self.image_generation: int = 0
        self.kernel: np.ndarray = PRESETS["sobel_x"].copy()
        self.kernel_name: str = "sobel_x"
        self.presentation: bool = False
        self.last_error: str = ""
        self._worker = None
        #: The pane the user is looking at (set when a pane is shown); errors go to its bar.
        self.current_pane = None
        self.error_posted.connect(self._to_current_pane)
        images.MAX_PIXELS = self.max_image_pixels  # every image open in this process uses it

    # -- image -------------------------------------------------------------------------------
    @property
    def max_image_pixels(self) -> int:
        """The largest image (width × height) opened at full size, from the settings."""
        try:
            mp = float(self.settings.value(IMAGE_LIMIT_KEY, images.DEFAULT_MAX_PIXELS / 1e6))
        except (TypeError, ValueError):
            mp = images.DEFAULT_MAX_PIXELS / 1e6
        return max(1, int(round(mp * 1e6))) if mp > 0 else images.DEFAULT_MAX_PIXELS

    def set_max_image_megapixels(self, megapixels: float) -> None:
        """Set (and remember) the image size limit; every later image open uses it."""
        megapixels = float(megapixels)
        if not megapixels > 0:
            raise ValueError(f"The image size limit must be more than 0 megapixels, got {megapixels:g}.")
        self.settings.setValue(IMAGE_LIMIT_KEY, megapixels)
        self.settings.sync()
        images.MAX_PIXELS = self.max_image_pixels
        self.post(f"Images above {megapixels:g} megapixels are now refused (or opened downscaled).")

    def open_image(self, path: str | Path, *, downscaled: bool = False) -> bool:
        """Load an image file as the shared image; on failure say why and keep the current image.
        ``downscaled``: open an image above the size limit at 1/2, 1/4, 1/8 ... of its size. An
        image refused for its size offers that in the message bar (an "Open downscaled" button)."""
        path = Path(path)
        result = self.read_image(path, downscaled=downscaled,
                                 use=lambda reduced: self._use_image(path, reduced))
        if result is None:
            return False
        self._use_image(path, result)
        return True

    def _use_image(self, path: Path, result: images.DownscaledImage) -> None:
        img = result.image
        self.set_image(img, path, reduction=result.describe() if result.factor > 1 else "")
        self.add_recent("images", path)
        size = self.image_reduction or f"{img.shape[1]}×{img.shape[0]}"
        self.post(f"Opened {path.name} ({size})", 0 if self.image_reduction else 5000)

    def read_image(self, path: str | Path, *, pane=None, gray: bool = False,
                   downscaled: bool = False,
                   use: Callable[[images.DownscaledImage], object] | None = None,
                   ) -> images.DownscaledImage | None:
        """Read an image file under the image size limit — every image the window opens comes
        through here. Returns the image (``gray``: (H, W)), or None after saying why in words
        (the status bar and the message bar of ``pane``, the current pane when None).

        ``downscaled``: read an image above the limit at 1/2, 1/4, 1/8 ... of its size. Without
        it, an image refused for its size is offered that way: the refusal in the pane's bar has
        an "Open downscaled" button, which reads it reduced and hands it to ``use``."""
        path = Path(path)
        try:
            if downscaled:
                return images.load_image_downscaled(path, gray, max_pixels=self.max_image_pixels)
            return images.DownscaledImage(
                images.load_image(path, gray, max_pixels=self.max_image_pixels), 1, (0, 0), False)
        except images.ImageLoadError as exc:
            from cnnviz.gui.widgets.message_bar import plain_text

            text = plain_text(str(exc))  # no Python bytes literal reaches the user
            too_large = isinstance(exc, images.ImageTooLargeError)
            if too_large:
                said = "raise the limit if you trust the file."
                where = f"raise the limit in {IMAGE_LIMIT_WHERE} if you trust the file."
                text = text.replace(said, where) if said in text else f"{text} Raise it in {IMAGE_LIMIT_WHERE}"
            self.last_error = text
            self.error_posted.emit(text)  # the status bar, and the current pane's bar
            actions = []
            if too_large and use is not None and not downscaled:  # not offered twice
                actions = [(OPEN_DOWNSCALED, lambda: self._read_downscaled(path, pane, gray, use),
                            DOWNSCALED_TIP)]
            self._say_in(pane, text, actions)
            return None

    def _read_downscaled(self, path: Path, pane, gray: bool,
                         use: Callable[[images.DownscaledImage], object]) -> None:
        result = self.read_image(path, pane=pane, gray=gray, downscaled=True, use=use)
        if result is not None:
            use(result)

    def _say_in(self, pane, text: str, actions: list) -> None:
        """Show ``text`` with ``actions`` in ``pane``'s message bar (the current pane's if None)."""
        pane = pane if pane is not None else self.current_pane
        if pane is None:
            return
        try:
            pane.message_bar.show_message(text, "error", actions)
        except RuntimeError:  # its window was closed
            if pane is self.current_pane:
                self.current_pane = None

    def set_image(self, img: np.ndarray, path: Path | None = None, *, reduction: str = "") -> None:
        """Make ``img`` the shared image; ``reduction`` says how it was shrunk when opened."""
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        self.image = np.ascontiguousarray(img, dtype=np.uint8)
        self.image_path = Path(path) if path is not None else None
        self.image_reduction = reduction
        self.image_generation += 1
        self.image_changed.emit()

    # -- kernel ------------------------------------------------------------------------------
    def set_kernel(self, kernel: np.ndarray, name: str = "custom") -> None:
        self.kernel = np.array(kernel, dtype=np.float32, copy=True)
        self.kernel_name = name
        self.kernel_changed.emit()

    # -- model -------------------------------------------------------------------------------
    def open_model(self, path: str | Path, trusted: bool = False) -> None:
        """Ask the activations pane to open a model file (it runs the load in the engine)."""
        self.add_recent("models", Path(path))
        self.model_requested.emit(str(path), trusted)
        self.pane_requested.emit("activations")

    def offer_model(self, model_id: int, name: str, path: str | Path | None = None) -> None:
        """Hand a model trained in the app to the activations pane: ``model_id`` names it in the
        engine's model store; the live model never leaves the engine. ``path`` is the file it
        was saved to, to open it again should the engine be restarted."""
        self.model_offered.emit(int(model_id), name, str(path or ""))
        self.pane_requested.emit("activations")

    # -- messages ----------------------------------------------------------------------------
    def set_current_pane(self, pane) -> None:
        """The pane now shown: errors posted from now on appear in its message bar too."""
        self.current_pane = pane

    def _to_current_pane(self, text: str) -> None:
        pane = self.current_pane
        if pane is not None and text:
            try:
                pane.show_message(text, "error")
            except RuntimeError:  # its window was closed
                self.current_pane = None

    def post(self, text: str, ms: int = 5000) -> None:
        self.message_posted.emit(text, ms)

    def set_busy(self, text: str) -> None:
        """Show (non-empty text) or hide the window's busy indicator."""
        self.busy_posted.emit(text)

    def request_model_dialog(self) -> None:
        """Ask the window to show its Open-model dialog."""
        self.model_dialog_requested.emit()

    def set_presentation(self, on: bool) -> None:
        if on != self.presentation:
            self.presentation = on
            self.presentation_changed.emit(on)

    # -- recent files ------------------------------------------------------------------------
    def recent(self, kind: str) -> list[Path]:
        value = self.settings.value(f"recent/{kind}", [])
        if isinstance(value, str):
            value = [value]
        return [Path(v) for v in (value or [])]

    def add_recent(self, kind: str, path: Path) -> None:
        path = Path(path).resolve()
        items = [p for p in self.recent(kind) if p != path]
        items.insert(0, path)
        self.settings.setValue(f"recent/{kind}", [str(p) for p in items[:MAX_RECENT]])
        self.settings.sync()

    # -- the engine (TensorFlow, in a child process) ---------------------------------------------
    @property
    def worker(self):
        """The :class:`~cnnviz.gui.engine.EngineBridge` to the process that owns TensorFlow and
        the open models (created on first use; started by the window once it is shown, or by
        the first job)."""
        if self._worker is None:
            from cnnviz.gui.engine import EngineBridge

            self._worker = EngineBridge(parent=self, client=self._engine_client)
            self._worker.crashed.connect(self._on_engine_trouble)
            self._worker.hung.connect(self._on_engine_trouble)
            self._worker.dead.connect(self.error_posted)
            self.engine_created.emit(self._worker)
        return self._worker

    def has_worker(self) -> bool:
        return self._worker is not None

    def start_engine(self) -> None:
        """Start TensorFlow's process in the background (the window calls this once shown);
        with ``engine_start`` on demand, the first job starts it instead."""
        if self.engine_start == ENGINE_START_SHOWN:
            self.worker.start()

    def _on_engine_trouble(self, text: str, channels: list) -> None:
        self.error_posted.emit(text)

    def shutdown(self, timeout: float = 2.0, kill_after: float | None = None) -> bool:
        if self._worker is None:
            return True
        return self._worker.shutdown(timeout, kill_after)
