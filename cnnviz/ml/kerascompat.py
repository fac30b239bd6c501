"""The one place that reaches into Keras internals.

Each function wraps one private Keras module, class or method that cnnviz needs and Keras does
not offer publicly, with a comment naming the missing public API. A Keras upgrade that moves
or changes one of them fails here, and ``tests/test_kerascompat.py`` shows which. No other
module under ``cnnviz/`` may import ``keras.src`` or call a Keras object's private attributes.

Keras is imported lazily (inside the functions, after :func:`cnnviz.ml.backend.keras` has
configured it), so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "checkpoint_file_path",
    "compile_config",
    "is_functional",
    "load_legacy_h5",
    "model_from_legacy_config",
    "nested_layers",
    "run_through_graph",
]


def _keras():
    from cnnviz.ml.backend import keras

    return keras()


def load_legacy_h5(h5file, *, safe_mode: bool):
    """Build an uncompiled model from an open legacy HDF5 file (``h5py.File``)."""
    _keras()
    # Missing public API: keras.saving.load_model takes a path only, not an open h5py file.
    from keras.src.legacy.saving import legacy_h5_format

    return legacy_h5_format.load_model_from_hdf5(h5file, compile=False, safe_mode=safe_mode)


def model_from_legacy_config(config: dict, *, safe_mode: bool):
    """Build a model from a Keras 2 style ``{"class_name", "config"}`` model config."""
    _keras()
    # Missing public API: keras.models.model_from_json/from_config do not accept Keras 2
    # layer configs (they need the legacy-config option scope and its deserializer).
    from keras.src.legacy.saving import saving_options, saving_utils
    from keras.src.saving import serialization_lib

    with saving_options.keras_option_scope(use_legacy_config=True), \
            serialization_lib.SafeModeScope(safe_mode):
        return saving_utils.model_from_config(config)


def is_functional(layer) -> bool:
    """Whether ``layer`` is a model built with the functional API (not a subclassed model)."""
    _keras()
    # Missing public API: keras.Model does not say whether an instance is a functional graph.
    from keras.src.models.functional import Functional

    return isinstance(layer, Functional)


def run_through_graph(model, inputs, operation_fn: Callable[[Any], Callable]):
    """Replay a functional model's graph on ``inputs``, calling ``operation_fn(op)(*args,
    **kwargs)`` in place of each operation; returns the model's outputs."""
    # Missing public API: a functional model can only be called whole, not with each layer
    # call intercepted.
    return model._run_through_graph(inputs, operation_fn=operation_fn)


def nested_layers(layer) -> list:
    """All layers inside ``layer`` (recursively, without ``layer`` itself); [] for a leaf."""
    # Missing public API: Model.layers lists only the direct children.
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return []
    return list(flatten(include_self=False, recursive=True))


def compile_config(model) -> dict | None:
    """The model's own, mutable compile config dict (None when it was never compiled)."""
    # Missing public API: Model.get_compile_config() returns a copy, and the legacy HDF5
    # writer mutates the model's own dict.
    holder = getattr(model, "_compile_config", None)
    config = getattr(holder, "config", None)
    return config if isinstance(config, dict) else None


def checkpoint_file_path(callback, epoch: int, logs: dict | None) -> str:
    """The file name a ``keras.callbacks.ModelCheckpoint`` would write at the end of ``epoch``
    (its ``filepath`` formatted with the epoch number and the logs)."""
    # Missing public API: ModelCheckpoint formats its filepath only inside its own saving.
    return callback._get_file_path(epoch, None, logs)
