"""Helpers shared by the model-loading tests."""

from __future__ import annotations

from pathlib import Path

import h5py

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "models"


def legacy_h5_copy(path: Path) -> h5py.File:
    """A writable copy of a real Keras 2.0.8 file (its attributes and weights), to be altered by
    a test into something damaged or hostile. The caller closes it (use it in a ``with``)."""
    f = h5py.File(path, "w")
    with h5py.File(FIXTURES / "keras208_sequential_list.h5", "r") as src:
        for k, v in src.attrs.items():
            f.attrs[k] = v
        src.copy("model_weights", f)
    return f
