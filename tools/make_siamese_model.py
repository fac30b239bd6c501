"""Train the small siamese model the Siamese pane opens on first start.

``siamese_digits.keras`` is the zoo's ``siamese_mnist`` (Listing 5.6: one base network shared by
two inputs, their Euclidean distance) trained with the book's contrastive loss (margin 1) on
pairs of the bundled MNIST digits: the first 400 digits of each class make the training pairs,
the last 100 of each class are held out (the pane's embedding map and the accuracy below use
them). Deterministic on CPU (seeded). Run from the repository root:

    .venv/bin/python tools/make_siamese_model.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "models"
sys.path.insert(0, str(ROOT))

TRAIN_PER_CLASS = 400  # the rest of each class (100) is held out


def _pairs(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator):
    """Balanced pairs: half the same digit (label 1, the book's convention), half different (0)."""
    by_class = [np.flatnonzero(y == d) for d in range(10)]
    same = np.zeros(n, np.float32)
    same[: n // 2] = 1.0
    rng.shuffle(same)
    first = np.empty(n, np.int64)
    second = np.empty(n, np.int64)
    for i in range(n):
        a = int(rng.integers(10))
        b = a if same[i] else int((a + rng.integers(1, 10)) % 10)
        first[i] = rng.choice(by_class[a])
        second[i] = rng.choice(by_class[b])
    return x[first], x[second], same


def main() -> None:
    from cnnviz.ml import datasets, zoo
    from cnnviz.ml.backend import keras as get_keras
    from cnnviz.ml.layers import contrastive_loss, pair_accuracy

    keras = get_keras()
    keras.utils.set_random_seed(0)
    x, y = datasets._bundled_digits()
    x = datasets.normalize(x)[..., None]
    train = np.concatenate([np.flatnonzero(y == d)[:TRAIN_PER_CLASS] for d in range(10)])
    held = np.concatenate([np.flatnonzero(y == d)[TRAIN_PER_CLASS:] for d in range(10)])
    rng = np.random.default_rng(0)
    a, b, same = _pairs(x[train], y[train], 12000, rng)
    va, vb, vsame = _pairs(x[held], y[held], 2000, rng)
    model = zoo.build("siamese_mnist", compile=False)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss=contrastive_loss, metrics=[pair_accuracy])
    model.fit([a, b], same, epochs=6, batch_size=128, verbose=0, shuffle=True)
    loss, acc = model.evaluate([va, vb], vsame, verbose=0)
    path = OUT / "siamese_digits.keras"
    # Saved uncompiled: no optimizer state, and the file opens without the custom loss.
    plain = type(model).from_config(model.get_config())
    plain.set_weights(model.get_weights())
    plain.save(path)
    print({"file": path.name, "params": int(model.count_params()), "held_out_pairs": len(va),
           "held_out_loss": round(float(loss), 4), "held_out_pair_accuracy": round(float(acc), 4),
           "bytes": path.stat().st_size})


if __name__ == "__main__":
    main()
