"""Time explaining one unit of a ~1M-parameter model once its activations are computed, against
one forward pass of the same model.

The model (built here, random weights, 96×96×3 input) has every kind explain handles on a big
scale: convolutions with 3×3×128→256 kernels, a strided one, depthwise, separable, batch
normalisation, max pooling, global pooling and a softmax Dense. The activations of one input are
computed once (``layer_activations``); then units at random cells of each layer are explained
with those activations given — ``layer_activations`` is replaced by a function that fails
during the timed calls, so the model is provably not run again. The reference is one forward
pass (``tf.function`` around ``model(x, training=False)``, output as numpy; the fair baseline
bench/activations.py uses too). Printed per layer: best and median of N explains in ms, and the
median's ratio to the forward pass. The first explain of a model (which also replays its graph
once, symbolically, to learn which layer feeds which) is printed on its own. Target: every
median ≤ 50 ms. Then a real architecture, MobileNetV2 (α 0.35, 96×96×3, 1000 classes, random
weights, 155 layers), the same way, summarised per kind of explanation. Figures from a shared,
busy machine are noisy.

    .venv/bin/python bench/explain.py [--runs 30] [--no-mobilenet]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 50.0


def _model(keras):
    L = keras.layers
    inp = keras.Input((96, 96, 3))
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inp)
    x = L.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv2_s2")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Conv2D(128, 3, padding="same", activation="relu", name="conv3")(x)
    x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="depthwise")(x)
    x = L.SeparableConv2D(256, 3, padding="same", activation="relu", name="separable")(x)
    x = L.Conv2D(256, 3, padding="same", activation="relu", name="conv4")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(768, activation="relu", name="dense")(x)
    out = L.Dense(100, activation="softmax", name="probs")(x)
    return keras.Model(inp, out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--no-mobilenet", action="store_true")
    args = ap.parse_args()

    from cnnviz.ml import activations as A
    from cnnviz.ml import explain as X
    from cnnviz.ml.backend import keras, tensorflow

    keras = keras()
    tf = tensorflow()
    print(f"explain target: every median ≤ {TARGET_MS:.0f} ms, the model not run again\n")
    worst = _bench(A, X, tf, _model(keras), "~1M-parameter CNN", args.runs, per_layer=True)
    if not args.no_mobilenet:
        net = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
        worst = max(worst, _bench(A, X, tf, net, "MobileNetV2 α0.35", max(3, args.runs // 5),
                                  per_layer=False))
    print(f"\nslowest median: {worst:.2f} ms — {'within' if worst <= TARGET_MS else 'OVER'} the "
          f"{TARGET_MS:.0f} ms target")


def _bench(A, X, tf, model, title: str, runs: int, per_layer: bool) -> float:
    params = model.count_params()
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape[1:])
    x = rng.random(shape, dtype=np.float32)

    fn = tf.function(lambda v: model(v, training=False), reduce_retracing=True)
    for _ in range(3):
        np.asarray(fn(x[None]))
    fwd = []
    for _ in range(max(10, runs)):
        t = time.perf_counter()
        np.asarray(fn(x[None]))
        fwd.append((time.perf_counter() - t) * 1e3)
    fwd_ms = statistics.median(fwd)

    acts = dict(A.layer_activations(model, x))
    print(f"{title}: {params:,} parameters, {len(acts)} layers, input {'×'.join(map(str, shape))}; "
          f"one forward pass: median {fwd_ms:.2f} ms (best {min(fwd):.2f})")

    real = A.layer_activations

    def refuse(*_a, **_k):
        raise AssertionError("explain ran the model again")

    A.layer_activations = refuse
    try:
        last = list(acts)[-2]
        t = time.perf_counter()
        e = X.explain_unit(model, x, last, (0,) * acts[last].ndim, activations=acts)
        first = (time.perf_counter() - t) * 1e3
        assert e.kind != "unsupported", e.reason
        print(f"  first explain of the model (replays its graph once): {first:.1f} ms")
        by_kind: dict[str, list[float]] = {}
        if per_layer:
            print(f"  {'layer':<12} {'kind':<11} {'best ms':>8} {'median ms':>10} {'× forward':>10}")
        worst = 0.0
        for name, arr in acts.items():
            times, kind = [], "?"
            for _ in range(runs):
                idx = tuple(int(rng.integers(0, s)) for s in arr.shape)
                t = time.perf_counter()
                e = X.explain_unit(model, x, name, idx, activations=acts)
                times.append((time.perf_counter() - t) * 1e3)
                kind = e.kind
                if e.kind == "unsupported":
                    raise SystemExit(f"{name} {idx}: {e.reason}")
            med = statistics.median(times)
            worst = max(worst, med)
            by_kind.setdefault(kind, []).extend(times)
            if per_layer:
                flag = "" if med <= TARGET_MS else "  OVER"
                print(f"  {name:<12} {kind:<11} {min(times):8.2f} {med:10.2f} {med / fwd_ms:9.2f}×{flag}")
        if not per_layer:
            print(f"  {'kind':<12} {'units':>6} {'best ms':>8} {'median ms':>10} {'× forward':>10}")
            for kind, times in sorted(by_kind.items()):
                med = statistics.median(times)
                print(f"  {kind:<12} {len(times):6d} {min(times):8.2f} {med:10.2f} {med / fwd_ms:9.2f}×")
        print(f"  slowest layer's median: {worst:.2f} ms ({worst / fwd_ms:.2f}× one forward pass)")
        return worst
    finally:
        A.layer_activations = real


if __name__ == "__main__":
    main()
