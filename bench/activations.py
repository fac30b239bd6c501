"""Time all-layer activation extraction against one plain forward pass of the same model.

The extraction side is the whole ``cnnviz.ml.activations.layer_activations`` call on one input
(its cached extractor model called directly inside one ``tf.function``, every layer's output
returned as numpy). The baseline is the same model called directly the same way (``tf.function``
around ``model(x, training=False)``, output as numpy) — the fair comparison, printed as the
ratio. ``predict_on_batch`` of the plain model is printed too, with the ratio against it.
Medians after a warm-up, the calls interleaved so machine noise hits both sides alike.
Target: ratio ≤ 1.2×.

    .venv/bin/python bench/activations.py [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _models(keras):
    out = []
    try:
        from cnnviz.ml import zoo

        out.append(("mnist_fast 28×28×1 (zoo)", zoo.build("mnist_fast", compile=False)))
        try:
            out.append(("small_cnn 64×64×3 (zoo)", zoo.build("small_cnn", compile=False,
                                                             input_shape=(64, 64, 3))))
        except Exception:
            pass
    except ImportError:
        pass
    L = keras.layers
    out.append(("vgg-like 128×128×3", keras.Sequential([
        keras.Input((128, 128, 3)),
        L.Conv2D(32, 3, padding="same", activation="relu"), L.Conv2D(32, 3, padding="same", activation="relu"),
        L.MaxPooling2D(), L.Conv2D(64, 3, padding="same", activation="relu"),
        L.Conv2D(64, 3, padding="same", activation="relu"), L.MaxPooling2D(),
        L.Conv2D(128, 3, padding="same", activation="relu"), L.GlobalAveragePooling2D(),
        L.Dense(10, activation="softmax")])))
    return out


def _time(fns: dict, runs: int) -> dict[str, float]:
    for fn in fns.values():
        for _ in range(5):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for key, fn in fns.items():
            t = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    from cnnviz.ml import activations
    from cnnviz.ml.backend import device_description
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    import tensorflow as tf

    print(f"device: {device_description()}; keras {keras.__version__}; tensorflow {tf.__version__}; "
          f"median of {args.runs} runs, one input (batch of 1)")
    print(f"{'model':<26}{'layers':>7}{'model() ms':>12}{'predict_on_batch ms':>21}"
          f"{'all layers ms':>15}{'ratio':>8}{'vs predict_on_batch':>21}")
    for name, model in _models(keras):
        shape = tuple(model.inputs[0].shape[1:])
        x = np.random.default_rng(0).uniform(size=shape).astype("float32")
        batch = x[None]
        direct = tf.function(lambda v, m=model: m(v, training=False), reduce_retracing=True)
        t = _time({
            "direct": lambda: np.asarray(direct(batch))[0],
            "pob": lambda: model.predict_on_batch(batch),
            "all": lambda: activations.layer_activations(model, x),
        }, args.runs)
        n = len(activations.flat_layers(model))
        print(f"{name:<26}{n:>7}{t['direct'] * 1e3:>12.2f}{t['pob'] * 1e3:>21.2f}{t['all'] * 1e3:>15.2f}"
              f"{t['all'] / t['direct']:>7.2f}×{t['all'] / t['pob']:>20.2f}×")


if __name__ == "__main__":
    main()
