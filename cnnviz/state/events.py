"""Change notification for the Qt-free states: a plain observer list.

A state declares its events as attributes (``self.changed = Event()``); views ``connect`` a
callable and the state calls ``emit(...)`` after it changed. Emission is synchronous, in the
calling thread (states are only touched on the GUI thread), in the order of connection.

Why not Qt signals: the states must import without PySide6. Why not ``psygnal``: its extra
features (thread queues, evented dataclasses) are not needed here, and twenty lines keep the
state layer free of a compiled dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Event:
    """A list of callbacks called with the event's arguments."""

    __slots__ = ("_callbacks", "_blocked")

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []
        self._blocked = 0

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """Call ``callback(*args)`` on every :meth:`emit`; returns it (usable as a decorator)."""
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback``; a callback that is not connected is ignored."""
        try:
            self._callbacks.remove(callback)
        except ValueError:
            pass

    def emit(self, *args: Any) -> None:
        if self._blocked:
            return
        for callback in list(self._callbacks):
            callback(*args)

    @contextmanager
    def blocked(self) -> Iterator[None]:
        """Emit nothing for the body of the ``with`` (nesting is counted)."""
        self._blocked += 1
        try:
            yield
        finally:
            self._blocked -= 1

    def __len__(self) -> int:
        return len(self._callbacks)
