"""The PySide6 window. Imports :mod:`cnnviz.ml` (and so TensorFlow) only when a pane needs it."""

from __future__ import annotations

import sys


def _guard_bool_refcounts() -> None:
    """Keep ``True``, ``False`` and ``None`` alive whatever PySide6 does to their reference counts.

    PySide6 6.12.0 drops references it does not own: ``SignalInstance.emit()`` returns ``True``
    without taking a reference (every emitted signal — ours and pyqtgraph's, a zoom emits dozens —
    loses one), and a Python slot or virtual override called from C++ (a timer's slot, a
    ``paintEvent``) loses one reference to the ``None`` it returns. Python 3.12+ makes these
    singletons immortal and never notices; on 3.11 the interpreter aborts with "Fatal Python
    error: bool_dealloc" (or "none_dealloc") after a few thousand events — a minute of painting or
    hovering. Giving them a huge reference count is what 3.12 does by design.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    import ctypes

    for obj in (True, False, None):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40


_guard_bool_refcounts()
