"""The Qt binding must keep Python's reference counts straight.

PySide6 6.12.0 drops a reference to ``True`` on every ``Signal.emit()`` and to ``None`` returned
from Python overrides; on Python 3.11 the interpreter then aborts ("bool_dealloc") after a few
thousand signals — a minute of painting a kernel. pyproject excludes that release; this test
catches any release with the same fault.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_signals_keep_reference_counts_of_true_and_none():
    code = textwrap.dedent(
        """
        import sys
        from PySide6.QtCore import QObject, Signal, QCoreApplication, QTimer

        app = QCoreApplication([])

        class Source(QObject):
            fired = Signal(int)

        got = []
        source = Source()
        source.fired.connect(got.append)
        t0, n0 = sys.getrefcount(True), sys.getrefcount(None)
        for i in range(3000):
            source.fired.emit(i)
        timer = QTimer()
        timer.timeout.connect(lambda: None)
        print(len(got), sys.getrefcount(True) - t0, sys.getrefcount(None) - n0)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    delivered, true_drift, none_drift = map(int, run.stdout.split())
    assert delivered == 3000
    assert abs(true_drift) < 50, f"True lost {-true_drift} references over 3000 signals"
    assert abs(none_drift) < 50, f"None lost {-none_drift} references over 3000 signals"
