"""Small Qt idioms every pane uses the same way.

- :func:`signals_blocked` — the one way to set a widget's value without its change signal firing
  (``QSignalBlocker`` for each object, released in reverse order even when the body raises).
- :func:`debounce_timer` — the one way to debounce: a single-shot timer that a burst of input
  restarts, so ``slot`` runs once, ``ms`` after the last call to ``start()``.
- The file-dialog filters shared by every "Open …" dialog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QSignalBlocker, QTimer

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
MODEL_FILTER = "Keras models (*.keras *.h5 *.hdf5);;All files (*)"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


@contextmanager
def signals_blocked(*objects: QObject) -> Iterator[None]:
    """Block the signals of every object in ``objects`` for the body of the ``with``."""
    blockers = [QSignalBlocker(obj) for obj in objects]
    try:
        yield
    finally:
        for blocker in reversed(blockers):
            blocker.unblock()


def debounce_timer(parent: QObject, ms: int, slot: Callable[[], None]) -> QTimer:
    """A single-shot timer of ``ms`` milliseconds connected to ``slot``; call ``start()`` on every
    input and ``slot`` runs once after the input pauses (``stop()`` cancels it)."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return timer
