"""Faults the engine can be told to stage, for tests of how the window survives them.

``CNNVIZ_ENGINE_CRASH_ON`` and ``CNNVIZ_ENGINE_HANG_ON`` (read in the engine process) hold a
comma-separated list of job kinds (``load``, ``adopt``, ``reopen``, ``compute``, ``gradcam``,
``filters``, ``train``, ``summary``). ``kind@onednn`` only applies while TensorFlow's oneDNN
optimisations are on (so the retry with them turned off succeeds); ``kind@text`` only to a job
whose subject (e.g. the model file's path) contains ``text``. A crash is a real ``SIGKILL`` of
the engine, as when TensorFlow dies in native code; a hang is a sleep that ignores Stop.
"""

from __future__ import annotations

import os
import signal
import sys
import time

CRASH_ON = "CNNVIZ_ENGINE_CRASH_ON"
HANG_ON = "CNNVIZ_ENGINE_HANG_ON"


def _applies(variable: str, kind: str, subject: str) -> bool:
    value = os.environ.get(variable, "")
    if not value:
        return False
    for entry in value.split(","):
        name, _, condition = entry.strip().partition("@")
        if name != kind:
            continue
        if not condition:
            return True
        if condition == "onednn":
            if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
                return True
        elif condition in subject:
            return True
    return False


def stage(kind: str, subject: str = "") -> None:
    """Crash or hang here if the environment asks for it for ``kind`` (does nothing otherwise)."""
    if _applies(CRASH_ON, kind, subject):
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if _applies(HANG_ON, kind, subject):
        time.sleep(3600.0)
