"""One place that imports Keras, so the backend and logging are set before the first import."""

from __future__ import annotations

import gc
import os
import threading

_lock = threading.Lock()
_configured = False


def _prepare_environment() -> None:
    # A user's ~/.keras/keras.json may pick another backend or image layout; cnnviz needs TF.
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def keras():
    """Import and return the ``keras`` module configured for cnnviz (TensorFlow backend,
    channels-last, GPU memory growth on)."""
    global _configured
    with _lock:
        if not _configured:
            _prepare_environment()
            import tensorflow as tf

            for gpu in tf.config.list_physical_devices("GPU"):
                try:
                    tf.config.experimental.set_memory_growth(gpu, True)
                except RuntimeError:  # already initialised
                    pass
            import keras as _keras

            _keras.config.set_image_data_format("channels_last")
            # TensorFlow and Keras leave hundreds of thousands of long-lived objects; moving them
            # out of the collector's reach keeps full collections (which hold the GIL, and so
            # pause the window) short while a model trains.
            gc.collect()
            gc.freeze()
            _configured = True
        import keras as _keras

        return _keras


def tensorflow():
    """Import and return ``tensorflow`` after :func:`keras` has configured it."""
    keras()
    import tensorflow as tf

    return tf


def device_description() -> str:
    """A short description of where training runs: the GPU names, or 'CPU'."""
    tf = tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    names = []
    for gpu in gpus:
        try:
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        except Exception:  # details are not available on every platform
            names.append(gpu.name)
    return ", ".join(names)
