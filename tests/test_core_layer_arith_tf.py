"""The layer arithmetic of cnnviz.core.layer_arith against Keras's own shapes and counts, on
random settings, and the facts the engine reads from Keras layers for it."""

import random

import pytest

from cnnviz.core import layer_arith as LA

keras = pytest.importorskip("keras")
L = keras.layers

pytestmark = pytest.mark.filterwarnings("ignore")


def _fits(n, f, s, padding, d):
    return padding == "same" or LA.conv_output(n, f, s, padding, d) >= 1


def test_conv_and_pool_output_sizes_match_keras_on_random_shapes():
    rng = random.Random(1)
    checked = 0
    while checked < 120:
        n, f, s, d = rng.randint(1, 40), rng.randint(1, 7), rng.randint(1, 4), rng.choice([1, 1, 2, 3])
        padding = rng.choice(["valid", "same"])
        if s > 1 and d > 1:
            d = 1  # Keras refuses strides and dilation together
        if not _fits(n, f, s, padding, d):
            continue
        conv = L.Conv2D(3, f, strides=s, padding=padding, dilation_rate=d)
        assert conv.compute_output_shape((None, n, n + 1, 2))[1] == LA.conv_output(n, f, s, padding, d)
        assert conv.compute_output_shape((None, n, n, 2))[2] == LA.conv_output(n, f, s, padding, d)
        text = LA.conv_output_text(n, f, s, padding, d)
        assert text.split("=")[1 if d == 1 or padding == "same" else 1].split()[0] == str(
            LA.conv_output(n, f, s, padding, d))
        if n >= f:
            pool = L.MaxPooling2D(f, strides=s, padding=padding)
            assert pool.compute_output_shape((None, n, n, 2))[1] == LA.conv_output(n, f, s, padding)
        checked += 1


def test_numeric_padding_matches_zero_padding_then_valid_conv():
    rng = random.Random(2)
    for _ in range(40):
        n, f, s, p = rng.randint(1, 30), rng.randint(1, 6), rng.randint(1, 3), rng.randint(0, 3)
        if n + 2 * p < f:
            continue
        model = keras.Sequential([keras.Input((n, n, 1)), L.ZeroPadding2D(p), L.Conv2D(1, f, strides=s)])
        assert model.output_shape[1] == LA.conv_output(n, f, s, p)


def test_transposed_conv_output_sizes_match_keras():
    rng = random.Random(3)
    for _ in range(80):
        n, f, s = rng.randint(1, 20), rng.randint(1, 6), rng.randint(1, 4)
        padding = rng.choice(["valid", "same"])
        op = rng.choice([None, None, *range(0, s)])
        layer = L.Conv2DTranspose(2, f, strides=s, padding=padding, output_padding=op)
        want = layer.compute_output_shape((None, n, n, 3))[1]
        assert LA.conv_transpose_output(n, f, s, padding, 1, op) == want
        assert LA.conv_transpose_output_text(n, f, s, padding, 1, op).endswith(f"= {want}")


def test_parameter_formulas_match_count_params():
    rng = random.Random(4)
    for _ in range(25):
        f, c_in, c_out, m = rng.randint(1, 5), rng.randint(1, 6), rng.randint(1, 8), rng.randint(1, 3)
        bias = rng.random() < 0.7
        shape = (8, 8, c_in)
        cases = [
            (L.Conv2D(c_out, f, use_bias=bias), LA.conv_params((f, f), c_in, c_out, bias)),
            (L.Conv2DTranspose(c_out, f, use_bias=bias), LA.conv_params((f, f), c_in, c_out, bias)),
            (L.DepthwiseConv2D(f, depth_multiplier=m, use_bias=bias), LA.depthwise_params((f, f), c_in, m, bias)),
            (L.SeparableConv2D(c_out, f, depth_multiplier=m, use_bias=bias),
             LA.separable_params((f, f), c_in, c_out, m, bias)),
            (L.BatchNormalization(center=bias), LA.batchnorm_params(c_in, center=bias)),
        ]
        for layer, (value, text) in cases:
            layer.build((None, *shape))
            assert layer.count_params() == value, type(layer).__name__
            assert eval(text.replace("·", "*")) == value  # the formula adds up to the count
        dense = L.Dense(c_out, use_bias=bias)
        dense.build((None, c_in * 7))
        assert dense.count_params() == LA.dense_params(c_in * 7, c_out, bias)[0]


def test_the_books_numbers_filled_in():
    assert LA.conv_output_text(28, 3) == "⌊(28 + 2·0 − 3)/1⌋ + 1 = 26"
    assert LA.conv_output_text(28, 3, 2, "same") == "⌈28/2⌉ = 14"
    assert LA.conv_params((3, 3), 1, 32) == (320, "3·3·1·32 + 32")
    assert LA.dense_params(36864, 128) == (4718720, "36864·128 + 128")
    assert LA.conv_transpose_output_text(14, 3, 2, "valid", 1, 0) == "(14 − 1)·2 + 3 − 2·0 + 0 = 29"
    assert LA.conv_output_text(None, 3) == "⌊(n + 2·0 − 3)/1⌋ + 1"
    assert "dilated kernel 2·(3 − 1) + 1 = 5" in LA.conv_output_text(28, 3, 1, "valid", 2)
    assert LA.rf_step(1, 1, 3, 1) == (3, 1) and LA.rf_step(3, 1, 2, 2) == (4, 2) and LA.rf_step(4, 2, 3, 1) == (8, 2)


def test_engine_reads_a_layers_arithmetic_from_keras():
    from cnnviz.ml import activations
    from cnnviz.ml.inspect import layer_arith

    model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(32, 3, name="c1"), L.MaxPooling2D(2, name="p"),
        L.Conv2D(8, 3, strides=2, padding="same", dilation_rate=1, name="c2"), L.BatchNormalization(name="bn"),
        L.Conv2DTranspose(4, 3, strides=2, name="t"), L.Flatten(name="f"), L.Dense(10, name="d"),
    ])
    rfs = activations.receptive_fields(model)
    rows = {layer.name: layer_arith(layer, rfs.get(layer.name)) for layer in model.layers}
    assert rows["f"] is None
    c1 = rows["c1"]
    assert c1["kernel"] == (3, 3) and c1["n_in"] == (28, 28) and (c1["c_in"], c1["c_out"]) == (1, 32)
    assert LA.explain(c1) == ["Receptive field: 3×3 input pixels", "Output size: ⌊(28 + 2·0 − 3)/1⌋ + 1 = 26",
                              "Parameters: 3·3·1·32 + 32 = 320"]
    assert LA.rf_cell(rows["p"]) == "4×4" and LA.rf_cell(rows["c2"]) == "8×8" and LA.rf_cell(rows["d"]) == "all"
    assert LA.output_text(rows["c2"]) == "⌈13/2⌉ = 7"
    for layer in model.layers:
        a = rows[layer.name]
        if a is None:
            continue
        formula = LA.params_formula(a)
        if formula is not None:
            assert formula[0] == layer.count_params(), layer.name
        out = LA.output_text(a)
        if out is not None:
            assert out.endswith(f"= {layer.output.shape[1]}"), layer.name


def test_engine_facts_of_separable_depthwise_and_1d_layers_add_up():
    from cnnviz.ml.inspect import layer_arith

    image = keras.Sequential([
        keras.Input((17, 19, 3)), L.SeparableConv2D(5, 3, depth_multiplier=2, padding="same", name="sep"),
        L.DepthwiseConv2D((3, 2), strides=(2, 1), name="dw"), L.AveragePooling2D(2, name="avg"),
        L.Conv2D(4, 3, dilation_rate=2, padding="same", name="dil"),
    ])
    seq = keras.Sequential([keras.Input((30, 4)), L.Conv1D(6, 5, strides=2, name="c1d"),
                            L.Dense(3, name="per_step")])
    for model in (image, seq):
        for layer in model.layers:
            a = layer_arith(layer)
            if a["op"] == "pool":
                assert LA.params_formula(a) is None and layer.count_params() == 0
            else:
                value, text = LA.params_formula(a)
                assert value == layer.count_params() and eval(text.replace("·", "*")) == value, layer.name
            out = LA.output_text(a)
            if out is not None:
                sizes = [int(part.rsplit("= ", 1)[1].split()[0]) for part in out.split("; ")]
                want = list(layer.output.shape[1:-1])
                assert sizes == want or (len(sizes) == 1 and set(want) == set(sizes)), (layer.name, out)
    assert LA.output_text(layer_arith(image.get_layer("dw"))) == "H: ⌊(17 + 2·0 − 3)/2⌋ + 1 = 8; W: ⌊(19 + 2·0 − 2)/1⌋ + 1 = 18"
    assert not layer_arith(seq.get_layer("per_step"))["whole"]  # a Dense on every step sees one step
