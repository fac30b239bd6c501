"""The models that are open, kept where the Keras work runs and named by plain integer ids.

Only ids cross to the window: the live Keras objects stay with the thread (later, the process)
that owns TensorFlow. The store keeps the newest ``capacity`` models and forgets the oldest.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any


class ModelGone(LookupError):
    """The id names a model that was forgotten (or never stored)."""


class ModelStore:
    """Thread-safe ``id -> model`` map with a bounded size (oldest dropped first)."""

    def __init__(self, capacity: int = 4, first_id: int = 1) -> None:
        self.capacity = max(1, int(capacity))
        self._items: dict[int, Any] = {}
        self._ids = itertools.count(int(first_id))
        self._lock = threading.Lock()

    def put(self, model: Any) -> int:
        """Keep ``model`` and return its new id."""
        with self._lock:
            model_id = next(self._ids)
            self._items[model_id] = model
            while len(self._items) > self.capacity:
                self._items.pop(next(iter(self._items)))  # the oldest kept
            return model_id

    def put_as(self, model_id: int, model: Any) -> int:
        """Keep ``model`` under a known ``model_id`` (a model reopened after the process that
        held it was replaced keeps the id the window knows it by)."""
        with self._lock:
            self._items.pop(model_id, None)
            self._items[model_id] = model
            while len(self._items) > self.capacity:
                oldest = next(k for k in self._items if k != model_id)
                self._items.pop(oldest)
            return model_id

    def get(self, model_id: int) -> Any:
        """The model stored under ``model_id``; :class:`ModelGone` with a message in words if it
        is no longer kept."""
        with self._lock:
            model = self._items.get(model_id)
        if model is None:
            raise ModelGone("That model is no longer open; open it again.")
        return model

    def drop(self, model_id: int) -> None:
        with self._lock:
            self._items.pop(model_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __contains__(self, model_id: object) -> bool:
        with self._lock:
            return model_id in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
