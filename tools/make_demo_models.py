"""Train the small demo models the activations pane opens on first start.

- ``digits_cnn.keras``: the zoo's ``mnist_fast`` (Listing 2.1 with max-pooling) trained on the
  5,000 bundled MNIST digits.
- ``shapes_cnn.keras``: a small RGB CNN (conv/pool blocks, global average pooling, so Grad-CAM
  has a clear last conv layer) trained on the generated shapes (circle, square, triangle,
  hexagon).

Each model gets a ``<name>.labels.json`` with its class names. Deterministic on CPU
(seeded). Run from the repository root:  .venv/bin/python tools/make_demo_models.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "models"
sys.path.insert(0, str(ROOT))


def _split(x: np.ndarray, y: np.ndarray, val: float = 0.15):
    n_val = int(len(x) * val)
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def train_digits(keras) -> dict:
    from cnnviz.ml import datasets, zoo

    ds = datasets.load("digits", seed=0)
    x = datasets.normalize(ds.x_train)
    (xt, yt), (xv, yv) = _split(x, ds.y_train)
    model = zoo.build("mnist_fast", compile=False)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xt, yt, epochs=8, batch_size=64, verbose=0, shuffle=True)
    _, acc = model.evaluate(xv, yv, verbose=0)
    return _save(model, "digits_cnn", ds.class_names, acc, len(xt), len(xv))


def train_shapes(keras) -> dict:
    from cnnviz.ml import datasets

    ds = datasets.load("shapes", n=3000, size=64, channels=3, seed=0)
    x = datasets.normalize(ds.x_train)
    (xt, yt), (xv, yv) = _split(x, ds.y_train)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((64, 64, 3), name="image"),
        L.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Conv2D(48, 3, padding="same", activation="relu", name="conv3"),
        L.MaxPooling2D(2, name="pool3"),
        L.Conv2D(64, 3, padding="same", activation="relu", name="conv4"),
        L.GlobalAveragePooling2D(name="gap"),
        L.Dense(ds.num_classes, activation="softmax", name="probabilities"),
    ], name="shapes_cnn")
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xt, yt, epochs=15, batch_size=64, verbose=0, shuffle=True)
    _, acc = model.evaluate(xv, yv, verbose=0)
    return _save(model, "shapes_cnn", ds.class_names, acc, len(xt), len(xv))


def _save(model, name: str, labels: list[str], acc: float, n_train: int, n_val: int) -> dict:
    path = OUT / f"{name}.keras"
    # Saved uncompiled: the optimizer's state would triple the file and a viewer never needs it.

    plain = type(model).from_config(model.get_config())
    plain.set_weights(model.get_weights())
    plain.save(path)
    (OUT / f"{name}.labels.json").write_text(json.dumps(list(labels)) + "\n", encoding="utf8")
    info = {"file": path.name, "params": int(model.count_params()), "val_accuracy": round(float(acc), 4),
            "train": n_train, "val": n_val, "bytes": path.stat().st_size}
    print(info)
    return info


def main() -> None:
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    train_digits(keras)
    keras.utils.set_random_seed(0)
    train_shapes(keras)


if __name__ == "__main__":
    main()
