"""explain_unit recomputes one value of a real Keras model by hand: the value is the model's
own output, the written products and bias give the pre-activation, the activation gives the value
— for every supported kind, at random cells including the borders; bad requests come back as
"unsupported" with a reason a student can read."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cnnviz.ml import activations as A
from cnnviz.ml import explain as X
from cnnviz.ml.backend import keras as _keras

FIX = Path(__file__).resolve().parent / "fixtures" / "models"

WEIGHTED = ("conv", "depthwise", "dense", "transpose")


def _randomize(model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for _, layer in A.flat_layers(model):
        ws = layer.get_weights()
        if not ws:
            continue
        new = [rng.normal(0, 0.3, w.shape).astype(np.float32) for w in ws]
        if type(layer).__name__ == "BatchNormalization":
            new[-1] = np.abs(new[-1]) + 0.1  # moving variance
        layer.set_weights(new)


def _act(name: str, pre: float, vec=None) -> float:
    """The activation by Keras itself (not explain's own table)."""
    keras = _keras()
    f = keras.activations.get(name)
    return float(np.asarray(keras.ops.convert_to_numpy(f(np.array([pre], np.float32))))[0])


def _indices(shape, rng, n: int = 4):
    corners = [tuple(0 if b == 0 else s - 1 for b, s in zip(bits, shape))
               for bits in np.ndindex(*(2,) * len(shape))]
    out = corners + [tuple(int(s // 2) for s in shape)]
    out += [tuple(int(rng.integers(0, s)) for s in shape) for _ in range(n)]
    return list(dict.fromkeys(out))


def _close(a: float, b: float, scale: float = 0.0) -> bool:
    return abs(a - b) <= 1e-4 * max(abs(a), abs(b), scale) + 1e-6


def _linear_output(model, acts, x, name) -> np.ndarray | None:
    """The layer's output without its fused activation, computed by Keras on its real input."""
    keras = _keras()
    g = X._graph(model)
    layer = g.layers[g.position[name]]
    if getattr(layer, "activation", None) is None:
        return None
    src = g.inbound[g.position[name]][0]
    inp = acts.get(src, x)
    act, layer.activation = layer.activation, keras.activations.linear
    try:
        return np.asarray(keras.ops.convert_to_numpy(layer(np.asarray(inp)[None], training=False)))[0]
    finally:
        layer.activation = act


def _check_layer(model, x, acts, name, rng, expect_kind=None):
    seen = set()
    linear = _linear_output(model, acts, x, name)
    for idx in _indices(acts[name].shape, rng):
        e = X.explain_unit(model, x, name, idx, activations=acts)
        assert e.kind != "unsupported", (name, idx, e.reason)
        if expect_kind:
            assert e.kind == expect_kind, (name, e.kind)
        assert e.index == idx and e.layer == name
        assert _close(e.value, float(acts[name][idx])), (name, idx)
        if e.kind in WEIGHTED:
            w, k = np.asarray(e.window, np.float64), np.asarray(e.weights, np.float64)
            assert w.shape == k.shape
            products = w * k
            assert _close(e.pre_activation, float(products.sum()) + (e.bias or 0.0))
            if linear is not None:  # the pre-activation as Keras computes it
                assert _close(e.pre_activation, float(linear[idx]), float(np.abs(products).sum())), (name, idx)
            if e.activation != "softmax":
                assert _close(_act(e.activation, e.pre_activation), e.value,
                              float(np.abs(products).sum())), (name, idx, e.formula)
            assert e.formula
            for st in e.stages:
                assert _close(st.pre_activation, float(np.sum(st.window * st.weights)))
        elif e.kind.startswith("pool"):
            assert _close(e.pre_activation, e.value)
            inside = e.window[~e.padding]
            if e.kind == "pool_max":
                assert _close(float(e.window[e.winner]), e.value) and not e.padding[e.winner]
            else:
                assert _close(float(inside.mean()), e.value)
        else:
            assert e.kind == "elementwise" and e.formula
        seen.add(e.kind)
    return seen


def _all_acts(model, x):
    return dict(A.layer_activations(model, x))


def _conv_model():
    keras = _keras()
    L = keras.layers
    inp = keras.Input((16, 15, 3))
    c1 = L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c_s2")(inp)  # 8×8
    c2 = L.Conv2D(5, 2, padding="same", use_bias=False, name="c_even2")(c1)
    c3 = L.Conv2D(4, 4, padding="same", activation="tanh", name="c_even4")(c2)
    c4 = L.Conv2D(4, 3, dilation_rate=2, padding="same", activation="sigmoid", name="c_dil2")(c3)
    c5 = L.Conv2D(6, 3, strides=2, padding="valid", name="c_valid_s2")(c4)  # 3×3
    c6 = L.Conv2D(4, 4, strides=2, padding="same", groups=2, name="c_groups")(c3)
    e1 = L.Conv2D(3, 4, strides=3, padding="same", name="c_even_s3")(inp)  # uneven same padding
    d1 = L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same", activation="relu",
                           name="dw_m2")(c1)
    s1 = L.SeparableConv2D(5, 3, depth_multiplier=2, padding="same", activation="elu", name="sep")(c1)
    t1 = L.Conv2DTranspose(3, 3, strides=2, padding="same", name="tr_same")(c4)
    t2 = L.Conv2DTranspose(2, 3, strides=2, padding="valid", activation="relu", name="tr_valid")(c4)
    t3 = L.Conv2DTranspose(2, 4, strides=2, padding="same", name="tr_even")(c5)
    sm = L.Conv2D(3, 1, activation="softmax", name="c_softmax")(c1)  # over the channel axis
    r1 = L.Conv2D(3, (3, 2), strides=(2, 1), padding="same", name="c_rect")(inp)
    t4 = L.Conv2DTranspose(2, 3, strides=2, output_padding=1, name="tr_outpad")(c5)
    outs = [c5, c6, e1, d1, s1, t1, t2, t3, sm, r1, t4]
    return keras.Model(inp, [L.Flatten()(o) for o in outs])


def test_convolutions_of_every_kind_match_the_model():
    model = _conv_model()
    _randomize(model)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (16, 15, 3)).astype(np.float32)
    acts = _all_acts(model, x)
    kinds = {"c_s2": "conv", "c_even2": "conv", "c_even4": "conv", "c_dil2": "conv", "c_valid_s2": "conv",
             "c_groups": "conv", "c_even_s3": "conv", "dw_m2": "depthwise", "sep": "conv",
             "tr_same": "transpose", "tr_valid": "transpose", "tr_even": "transpose", "c_softmax": "conv",
             "c_rect": "conv", "tr_outpad": "transpose"}
    for name, kind in kinds.items():
        _check_layer(model, x, acts, name, rng, kind)

    # padding marked, and the window's origin where TensorFlow's uneven same-padding puts it
    e = X.explain_unit(model, x, "c_even2", (0, 0, 0), activations=acts)
    assert e.origin == (0, 0) and e.padding.tolist() == [[False, False], [False, False]]
    e = X.explain_unit(model, x, "c_even2", (7, 7, 0), activations=acts)
    assert e.padding.tolist() == [[False, True], [True, True]] and e.bias is None
    e = X.explain_unit(model, x, "c_even4", (0, 0, 1), activations=acts)
    assert e.origin == (-1, -1) and e.window.shape == (4, 4, 5) and e.padding[0].all()
    assert np.all(e.window[e.padding] == 0)
    e = X.explain_unit(model, x, "c_dil2", (3, 3, 0), activations=acts)
    assert e.dilation == (2, 2) and e.origin == (1, 1)
    # depthwise multiplier 2: output channel c·2 + j reads input channel c
    e = X.explain_unit(model, x, "dw_m2", (1, 2, 5), activations=acts)
    assert e.input_channels == (2,) and e.window.shape == (3, 3)
    # separable: the depthwise outputs at this cell, then the pointwise sum
    e = X.explain_unit(model, x, "sep", (4, 0, 3), activations=acts)
    assert len(e.stages) == 8 and all(s.kind == "depthwise" for s in e.stages)
    assert np.allclose(e.window.reshape(-1), [s.value for s in e.stages])
    assert e.input_layer == "c_s2" and e.activation == "elu" and e.receptive_field is not None
    assert "4 input channels' 3×3 window" in e.formula and "8 depthwise outputs" in e.formula


def test_pooling_dense_and_elementwise_layers_match_the_model():
    keras = _keras()
    L = keras.layers
    inp = keras.Input((11, 10, 3))
    c = L.Conv2D(4, 3, padding="same", name="c")(inp)
    bn = L.BatchNormalization(name="bn")(c)
    r = L.Activation("relu", name="act")(bn)
    lr = L.LeakyReLU(negative_slope=0.1, name="leaky")(c)
    r6 = L.ReLU(max_value=0.5, name="relu6ish")(c)
    add = L.Add(name="add")([r, lr, r6])
    mul = L.Multiply(name="mul")([r, lr])
    cat = L.Concatenate(name="cat")([add, mul, inp])
    mp = L.MaxPooling2D(3, strides=2, padding="same", name="maxpool")(cat)
    ap = L.AveragePooling2D(2, padding="same", name="avgpool")(cat)
    ap3 = L.AveragePooling2D(3, strides=2, padding="same", name="avgpool3")(cat)
    gap = L.GlobalAveragePooling2D(name="gap")(ap)
    gmp = L.GlobalMaxPooling2D(name="gmp")(mp)
    pad = L.ZeroPadding2D(((1, 0), (2, 1)), name="zpad")(mp)
    up = L.UpSampling2D(2, name="up")(mp)
    f = L.Flatten(name="flat")(ap3)
    d1 = L.Dense(7, activation="relu", name="dense")(f)
    d2 = L.Dense(5, activation="softmax", name="probs")(L.Concatenate(name="cat2")([d1, gap, gmp]))
    rs = L.Reshape((7, 1), name="reshape")(d1)
    model = keras.Model(inp, [d2, rs, pad, up])
    _randomize(model, 3)
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (11, 10, 3)).astype(np.float32)
    acts = _all_acts(model, x)
    kinds = {"bn": "elementwise", "act": "elementwise", "leaky": "elementwise", "relu6ish": "elementwise",
             "add": "elementwise", "mul": "elementwise", "cat": "elementwise", "maxpool": "pool_max",
             "avgpool": "pool_avg", "avgpool3": "pool_avg", "gap": "pool_avg", "gmp": "pool_max",
             "zpad": "elementwise", "up": "elementwise", "flat": "elementwise", "dense": "dense",
             "probs": "dense", "reshape": "elementwise", "cat2": "elementwise"}
    for name, kind in kinds.items():
        _check_layer(model, x, acts, name, rng, kind)

    e = X.explain_unit(model, x, "bn", (2, 3, 1), activations=acts)
    assert [n for n, _ in e.terms] == ["x", "mean μ", "variance σ²", "ε", "γ", "β"] and "√" in e.formula
    e = X.explain_unit(model, x, "cat", (1, 1, 9), activations=acts)
    assert e.input_layer == "input" and e.input_index == (1, 1, 1)
    e = X.explain_unit(model, x, "cat", (1, 1, 5), activations=acts)
    assert e.input_layer == "mul" and e.input_index == (1, 1, 1)
    e = X.explain_unit(model, x, "add", (0, 0, 0), activations=acts)
    assert [n for n, _ in e.terms] == ["act", "leaky", "relu6ish"]
    e = X.explain_unit(model, x, "flat", (17,), activations=acts)
    assert e.input_layer == "avgpool3" and e.input_index == np.unravel_index(17, acts["avgpool3"].shape)
    e = X.explain_unit(model, x, "maxpool", (5, 4, 2), activations=acts)  # the last row/col: padding
    assert e.padding[-1].all() and e.note and "padding" in e.note
    e = X.explain_unit(model, x, "dense", (3,), activations=acts)
    assert e.window.shape == (acts["flat"].size,) and e.input_layer == "flat"
    e = X.explain_unit(model, x, "probs", (2,), activations=acts)
    assert e.activation == "softmax" and e.kind == "dense"


def test_nested_and_sequential_models_use_flattened_names():
    keras = _keras()
    L = keras.layers
    inner = keras.Sequential([keras.Input((8, 8, 4)), L.Conv2D(3, 3, padding="same", activation="relu",
                                                                name="conv"),
                              L.MaxPooling2D(2, name="pool")], name="inner")
    inp = keras.Input((8, 8, 2))
    c = L.Conv2D(4, 2, padding="same", name="pre")(inp)
    y = inner(c)
    model = keras.Model(inp, L.Dense(3, name="head")(L.Flatten(name="flat")(y)))
    _randomize(model, 5)
    rng = np.random.default_rng(6)
    x = rng.normal(0, 1, (8, 8, 2)).astype(np.float32)
    acts = _all_acts(model, x)
    assert "inner/conv" in acts
    _check_layer(model, x, acts, "inner/conv", rng, "conv")
    _check_layer(model, x, acts, "inner/pool", rng, "pool_max")
    _check_layer(model, x, acts, "head", rng, "dense")
    assert X.explain_unit(model, x, "inner/conv", (0, 0, 0), activations=acts).input_layer == "pre"
    assert X.explain_unit(model, x, "inner/pool", (0, 0, 0), activations=acts).input_layer == "inner/conv"
    assert X.explain_unit(model, x, "flat", (0,), activations=acts).input_layer == "inner/pool"
    # without the activations: the model is run once by explain_unit itself
    e = X.explain_unit(model, x, "inner/conv", (7, 7, 2))
    assert _close(e.value, float(acts["inner/conv"][7, 7, 2]))


# ----------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def small():
    keras = _keras()
    L = keras.layers
    inp = keras.Input((6, 6, 1))
    c = L.Conv2D(2, 3, padding="same", activation="relu", name="conv")(inp)
    model = keras.Model(inp, L.Dense(3, name="dense")(L.Flatten(name="flat")(c)))
    _randomize(model, 7)
    x = np.random.default_rng(8).normal(0, 1, (6, 6, 1)).astype(np.float32)
    return model, x, _all_acts(model, x)


def test_an_index_out_of_range_is_refused_with_the_valid_range(small):
    model, x, acts = small
    e = X.explain_unit(model, x, "conv", (6, 0, 0), activations=acts)
    assert e.kind == "unsupported"
    assert "outside" in e.reason and "6×6×2" in e.reason and "from 0 to 5" in e.reason
    e = X.explain_unit(model, x, "conv", (0, 0, -1), activations=acts)
    assert e.kind == "unsupported" and "channel goes from 0 to 1" in e.reason
    e = X.explain_unit(model, x, "dense", (3,), activations=acts)
    assert e.kind == "unsupported" and "from 0 to 2" in e.reason


def test_the_receptive_field_is_the_units_window_on_the_input(small):
    model, x, acts = small
    assert X.explain_unit(model, x, "conv", (0, 0, 1), activations=acts).receptive_field == (-1, -1, 3, 3)
    assert X.explain_unit(model, x, "conv", (4, 2, 0), activations=acts).receptive_field == (3, 1, 3, 3)
    assert X.explain_unit(model, x, "dense", (1,), activations=acts).receptive_field is None


def test_a_layer_that_does_not_exist_is_named_in_the_reason(small):
    model, x, acts = small
    e = X.explain_unit(model, x, "conv_9", (0, 0, 0), activations=acts)
    assert e.kind == "unsupported" and "no layer named 'conv_9'" in e.reason and "'conv'" in e.reason


def test_a_spatial_index_into_a_layer_without_maps_says_it_has_no_spatial_output(small):
    model, x, acts = small
    e = X.explain_unit(model, x, "dense", (0, 0, 1), activations=acts)
    assert e.kind == "unsupported" and "no spatial output" in e.reason and "3 values" in e.reason
    assert e.layer == "dense" and e.window is None and np.isnan(e.value)


def test_a_window_entirely_in_the_padding_gives_the_bias_through_the_activation():
    keras = _keras()
    L = keras.layers
    inp = keras.Input((2, 2, 1))
    # 2×2 kernel, dilation 5, same padding on a 2×2 map: cell (0, 0) reads rows/cols −2 and 3
    c = L.Conv2D(2, 2, dilation_rate=5, padding="same", activation="sigmoid", name="dil")(inp)
    t = L.Conv2DTranspose(2, 1, strides=2, padding="valid", activation="tanh", name="tr")(inp)
    model = keras.Model(inp, [c, t])
    _randomize(model, 9)
    x = np.ones((2, 2, 1), np.float32)
    acts = _all_acts(model, x)
    e = X.explain_unit(model, x, "dil", (0, 0, 1), activations=acts)
    assert e.kind == "conv" and e.padding.all() and np.all(e.window == 0)
    assert _close(e.pre_activation, e.bias) and _close(_act("sigmoid", e.bias), e.value)
    assert "padding" in e.note and "bias" in e.note and e.note in e.formula
    e = X.explain_unit(model, x, "tr", (1, 1, 0), activations=acts)  # between the 1×1 footprints
    assert e.kind == "transpose" and e.window.size == 0 and "bias" in e.note
    assert _close(_act("tanh", e.bias), e.value)
    e = X.explain_unit(model, x, "tr", (2, 2, 1), activations=acts)
    assert e.window.size == 1 and e.note is None and e.sources.tolist() == [[1, 1, 0, 0, 0]]


def test_an_unknown_layer_is_unsupported_with_a_reason_not_a_number():
    keras = _keras()
    L = keras.layers
    inp = keras.Input((5, 5, 2))
    y = L.LayerNormalization(name="ln")(inp)
    model = keras.Model(inp, y)
    x = np.ones((5, 5, 2), np.float32)
    e = X.explain_unit(model, x, "ln", (0, 0, 0))
    assert e.kind == "unsupported" and "LayerNormalization" in e.reason and e.window is None


# ----------------------------------------------------------------------------- the engine job


def test_the_job_uses_the_kept_pass_and_refuses_a_weights_only_file():
    from cnnviz.ml import inspect as I
    from cnnviz.ml.store import ModelStore

    job = SimpleNamespace(models=ModelStore(), stopped=False)
    I.activation_cache.drop()
    try:
        info = I.load_job(job, I.LoadRequest(str(FIX / "keras3_cnn.keras")))
        h, w, _ = info.spec
        image = np.random.default_rng(0).integers(0, 256, (h or 32, w or 32, 3), dtype=np.uint8)
        layer = info.conv_layers[0]
        shown = I.compute_job(job, I.ComputeRequest(info.model_id, 1, image, "div255", layer))
        runs = I.activation_cache.runs
        src = I.LoadRequest(str(FIX / "keras3_cnn.keras"))
        e = X.explain_job(job, X.ExplainRequest(info.model_id, src, image, "div255", layer, (0, 1, 0)))
        assert I.activation_cache.runs == runs  # the model was not run again
        assert e.kind == "conv" and e.layer == layer
        assert _close(e.value, float(shown.maps[0][0, 1]))
        back = pickle.loads(pickle.dumps(e))  # plain data across the engine's pipe
        assert back.formula == e.formula and np.array_equal(back.window, e.window)

        bad = X.explain_job(job, X.ExplainRequest(info.model_id, src, image, "div256", layer, (0, 0, 0)))
        assert bad.kind == "unsupported" and "unknown scaling 'div256'" in bad.reason

        # a model the engine no longer holds and cannot reopen: said in words
        gone = X.explain_job(job, X.ExplainRequest(999, None, image, "div255", layer, (0, 0, 0)))
        assert gone.kind == "unsupported" and "no longer open" in gone.reason

        weights = I.load_job(job, I.LoadRequest(str(FIX / "weights_only.h5")))
        e = X.explain_job(job, X.ExplainRequest(weights.model_id, None, image, "div255", "conv", (0, 0, 0)))
        assert e.kind == "unsupported" and "only weights" in e.reason and "whole model" in e.reason
    finally:
        I.activation_cache.drop()


def test_a_layer_named_input_and_an_input_made_by_an_operation():
    keras = _keras()
    L = keras.layers
    inp = keras.Input((4, 4, 2))
    norm = L.Normalization(mean=[0.5, -1.0], variance=[4.0, 0.25], name="input")(inp)
    c = L.Conv2D(2, 3, padding="same", name="conv")(norm)
    shifted = keras.ops.add(c, 1.0)  # an operation, not a layer: not among the activations
    model = keras.Model(inp, L.Dense(2, name="dense")(L.Flatten(name="flat")(shifted)))
    _randomize(model, 11)
    rng = np.random.default_rng(12)
    x = rng.normal(0, 1, (4, 4, 2)).astype(np.float32)
    acts = _all_acts(model, x)
    _check_layer(model, x, acts, "input", rng, "elementwise")
    e = X.explain_unit(model, x, "input", (1, 2, 1), activations=acts)
    assert e.input_layer == "input (the model's input)" and _close(e.terms[0][1], float(x[1, 2, 1]))
    assert X.explain_unit(model, x, "conv", (0, 0, 0), activations=acts).input_layer == "input"
    _check_layer(model, x, acts, "conv", rng, "conv")
    e = X.explain_unit(model, x, "flat", (0,), activations=acts)
    assert e.kind == "unsupported" and "not a layer" in e.reason


def test_the_module_loads_without_tensorflow():
    import subprocess
    import sys

    code = ("import sys, cnnviz.ml.explain as X; "
            "assert not any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules), 'imported'; "
            "print(X.UnitExplanation('a', 'Conv2D', (0,), 'conv', 1.0).kind)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "conv", out.stderr
