"""Job functions the engine's tests run in the engine process (module level, so they are sent
by reference)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np

from cnnviz.engine.jobs import JobStopped


def slow_warm_up():
    """Stands in for ``import keras`` at start-up."""
    time.sleep(0.2)


def failing_warm_up():
    raise ImportError("No module named 'keras'")


def echo(job, value):
    return value


def sleep_then_return(job, seconds, value=None):
    time.sleep(seconds)
    return value


def report_progress(job, count, delay=0.0):
    for i in range(count):
        job.progress(i)
        if delay:
            time.sleep(delay)
    return count


def crash(job, how="kill"):
    """Die the way TensorFlow does when it dies natively."""
    sys.stdout.flush()
    sys.stderr.flush()
    if how == "abort":
        os.abort()
    if how == "exit":
        os._exit(3)
    os.kill(os.getpid(), signal.SIGKILL)


def crash_unless_env(job, name, value, result="survived"):
    """Crash unless the engine's environment has ``name=value`` (the oneDNN retry)."""
    if os.environ.get(name) != value:
        crash(job)
    return result


def getenv(job, name):
    return os.environ.get(name)


def hang(job, seconds=3600.0):
    """A native call that never returns: it ignores ``job.stopped``."""
    time.sleep(seconds)


def big_array(job, megabytes):
    return np.ones(int(megabytes * 1024 * 1024) // 8, dtype=np.float64)


def array_sum(job, array):
    return float(array.sum()), array.flags.writeable


def round_trip(job, array):
    return array


def raise_error(job, message="the model needs a 28×28 image"):
    raise ValueError(message)


def stop_aware_loop(job, seconds=30.0, partial=None):
    """Work until stopped; give up (``JobStopped``) unless ``partial`` is given to return."""
    deadline = time.monotonic() + seconds
    steps = 0
    while time.monotonic() < deadline:
        if job.stopped:
            if partial is None:
                raise JobStopped
            return partial
        steps += 1
        job.progress(steps)
        time.sleep(0.01)
    return steps


def thread_name(job):
    return threading.current_thread().name


def models_kept(job, value=None):
    """Store ``value`` in the engine's model store and say how many models it keeps."""
    if value is not None:
        job.models.put(value)
    return len(job.models)


def heavy_modules(job):
    """Which of Qt, TensorFlow and Keras the engine has imported."""
    return [name for name in ("PySide6", "pyqtgraph", "tensorflow", "keras") if name in sys.modules]


def unpicklable_result(job):
    return threading.Lock()


def slow_square(job, value, delay=0.05):
    time.sleep(delay)
    return value * value


def progress_then_where(job, count):
    """Report ``count`` steps, then say which thread and process ran the job."""
    for i in range(count):
        job.progress(i)
    return threading.current_thread().name, os.getpid()


def run_until_stopped(job):
    """Say it started, then work until stopped and give up its result."""
    job.progress("started")
    while not job.stopped:
        time.sleep(0.01)
    raise JobStopped


def busy_batch(job, seconds=0.6):
    """A batch that does not look at the stop request."""
    job.progress("started")
    time.sleep(seconds)
    return True


def store_small_classifier(job):
    """Build a small classifier in the engine, as training does, and keep it in the engine's
    store; its id comes back."""
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c")(inp)
    out = keras.layers.Dense(3, activation="softmax", name="d")(keras.layers.Flatten()(x))
    return job.models.put(keras.Model(inp, out))


def stored_model_facts(job, model_id):
    """Plain facts about a model in the engine's store (the live model stays there)."""
    model = job.models.get(model_id)
    model = getattr(model, "model", model)  # a model opened for inspection is wrapped
    return {"identity": id(model), "name": model.name, "params": int(model.count_params()),
            "input_shape": tuple(model.inputs[0].shape), "output_shape": tuple(model.outputs[0].shape),
            "weights_finite": all(bool(np.all(np.isfinite(w))) for w in model.get_weights())}


def unet_bytes_per_sample(job):
    """How many more bytes a U-Net batch needs per sample (built where models are built)."""
    from cnnviz.ml import training, zoo

    model = zoo.build("unet_small", compile=False)
    return training.estimate_batch_bytes(model, 2) - training.estimate_batch_bytes(model, 1)


def save_onednn_model(job, path):
    """Save a tiny classifier whose first layer is a 1×1, stride-2 Conv2D on 8 channels (the
    shape that has crashed TensorFlow's oneDNN kernels)."""
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    x = keras.layers.Conv2D(8, 1, strides=2, activation="relu", name="pointwise")(x)
    out = keras.layers.Dense(3, activation="softmax", name="probabilities")(keras.layers.GlobalAveragePooling2D()(x))
    keras.Model(inp, out, name="onednn_case").save(path)
    return str(path)


def try_connect(job, host="10.255.255.1", port=80):
    """Open a connection from the engine; the error's words, or "connected"."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=2):
            return "connected"
    except OSError as exc:
        return str(exc)
