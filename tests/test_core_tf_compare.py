"""The core's convolution, pooling, transposed convolution, upsampling, dropout and pooling
gradient against TensorFlow/Keras.

Random shapes, strides, paddings, dilations and channel counts from a seeded generator; every
case compares in float64 with a tolerance of 1e-5 (relative to the values' size).
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.convolution import (
    conv2d,
    conv2d_transpose,
    output_size,
    pool2d,
    resolve_padding,
    transpose_output_size,
)
from cnnviz.core.layer_walks import PoolGradWalk, UpsampleWalk, dropout, pool2d_grad, upsample2d

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tf_keras():
    from cnnviz.ml.backend import keras, tensorflow

    return tensorflow(), keras()


def _close(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape
    scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * scale)


def _conv_cases(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) if rng.random() < 0.3 else (1, 1)
        stride = (1, 1) if dil != (1, 1) else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        h, w = int(rng.integers(1, 13)), int(rng.integers(1, 13))
        kind = rng.choice(["valid", "same", "explicit"])
        padding = kind if kind != "explicit" else (
            (int(rng.integers(0, 3)), int(rng.integers(0, 3))),
            (int(rng.integers(0, 3)), int(rng.integers(0, 3))),
        )
        pads = resolve_padding(h, w, kh, kw, stride, dil, padding)
        span = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
        if h + sum(pads[0]) < span[0] or w + sum(pads[1]) < span[1]:
            continue
        cases.append(
            dict(h=h, w=w, c=int(rng.integers(1, 4)), k=int(rng.integers(1, 4)), kh=kh, kw=kw,
                 stride=stride, dil=dil, padding=padding, seed=int(rng.integers(1 << 30)))
        )
    return cases


CONV_CASES = _conv_cases(48, seed=20240601)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c['h']}x{c['w']}x{c['c']}-k{c['kh']}x{c['kw']}x{c['k']}-s{c['stride']}-d{c['dil']}-{c['padding']}")
def test_conv2d_matches_tf_nn_conv2d(tf_keras, case):
    tf, _ = tf_keras
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(case["h"], case["w"], case["c"]))
    k = rng.normal(size=(case["kh"], case["kw"], case["c"], case["k"]))
    padding = case["padding"]
    if isinstance(padding, str):
        tf_pad = padding.upper()
    else:
        tf_pad = [[0, 0], list(padding[0]), list(padding[1]), [0, 0]]
    theirs = tf.nn.conv2d(
        x[None], k, strides=[1, *case["stride"], 1], padding=tf_pad, dilations=[1, *case["dil"], 1]
    ).numpy()[0]
    ours = conv2d(x, k, stride=case["stride"], padding=padding, dilation=case["dil"])
    _close(ours, theirs)
    # the size formula agrees when padding is symmetric
    if padding == "valid":
        assert ours.shape[0] == output_size(case["h"], case["kh"], 0, case["stride"][0], case["dil"][0])


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", None])
def test_conv2d_matches_keras_conv2d_layer_with_bias_and_activation(tf_keras, activation):
    _, keras = tf_keras
    rng = np.random.default_rng(7)
    x = rng.normal(size=(9, 8, 3))
    k = rng.normal(size=(3, 2, 3, 4))  # an even width too
    b = rng.normal(size=4)
    layer = keras.layers.Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation=activation,
                                dtype="float64")
    layer.build((None, 9, 8, 3))
    layer.set_weights([k, b])
    theirs = np.asarray(layer(x[None]))[0]
    ours = conv2d(x, k, stride=(2, 1), padding="same", bias=b, activation=activation)
    _close(ours, theirs)


@pytest.mark.parametrize("kh,kw", [(2, 2), (4, 4), (2, 3), (4, 1)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_even_sized_kernels_match_tf(tf_keras, kh, kw, padding):
    tf, _ = tf_keras
    rng = np.random.default_rng(kh * 10 + kw)
    x = rng.normal(size=(7, 6, 2))
    k = rng.normal(size=(kh, kw, 2, 1))
    theirs = tf.nn.conv2d(x[None], k, strides=1, padding=padding.upper()).numpy()[0]
    _close(conv2d(x, k, padding=padding), theirs)


def _pool_cases(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        ph, pw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride = None if rng.random() < 0.3 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        h, w = int(rng.integers(1, 11)), int(rng.integers(1, 11))
        padding = str(rng.choice(["valid", "same"]))
        if padding == "valid" and (h < ph or w < pw):
            continue
        cases.append(dict(h=h, w=w, c=int(rng.integers(1, 4)), size=(ph, pw), stride=stride,
                          padding=padding, op=str(rng.choice(["max", "avg"])),
                          seed=int(rng.integers(1 << 30))))
    return cases


POOL_CASES = _pool_cases(32, seed=99)


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{c['op']}-{c['h']}x{c['w']}x{c['c']}-p{c['size']}-s{c['stride']}-{c['padding']}")
def test_pool2d_matches_keras_pooling_layers(tf_keras, case):
    _, keras = tf_keras
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(case["h"], case["w"], case["c"]))
    cls = keras.layers.MaxPooling2D if case["op"] == "max" else keras.layers.AveragePooling2D
    layer = cls(pool_size=case["size"], strides=case["stride"], padding=case["padding"], dtype="float64")
    theirs = np.asarray(layer(x[None]))[0]
    ours = pool2d(x, case["size"], case["stride"], case["padding"], op=case["op"])
    _close(ours, theirs)


def test_same_average_pool_leaves_padding_out_of_the_count(tf_keras):
    _, keras = tf_keras
    x = np.ones((3, 3, 1))
    theirs = np.asarray(keras.layers.AveragePooling2D(2, 2, "same", dtype="float64")(x[None]))[0]
    ours = pool2d(x, 2, 2, "same", op="avg")
    _close(ours, theirs)
    assert np.all(ours == 1.0)  # padded cells would have pulled the corner average below 1


def _transpose_cases(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        dil = (1, 1)
        if stride == (1, 1) and rng.random() < 0.4:
            dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = str(rng.choice(["valid", "same"]))
        h, w = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        op = None
        if rng.random() < 0.4 and max(stride) > 1:
            op = (int(rng.integers(0, stride[0])), int(rng.integers(0, stride[1])))
            try:
                for n_, f, s, o, d in ((h, kh, stride[0], op[0], dil[0]), (w, kw, stride[1], op[1], dil[1])):
                    size = transpose_output_size(n_, f, s, padding, o, d)
                    if padding == "same" and -(-size // s) != n_:
                        raise ValueError
            except ValueError:
                continue
        cases.append(dict(h=h, w=w, c=int(rng.integers(1, 4)), k=int(rng.integers(1, 4)), kh=kh,
                          kw=kw, stride=stride, dil=dil, padding=padding, op=op,
                          seed=int(rng.integers(1 << 30))))
    return cases


TRANSPOSE_CASES = _transpose_cases(32, seed=4242)


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=lambda c: f"{c['h']}x{c['w']}x{c['c']}-k{c['kh']}x{c['kw']}x{c['k']}-s{c['stride']}-d{c['dil']}-{c['padding']}-op{c['op']}")
def test_conv2d_transpose_matches_keras_layer(tf_keras, case):
    _, keras = tf_keras
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(case["h"], case["w"], case["c"]))
    k = rng.normal(size=(case["kh"], case["kw"], case["k"], case["c"]))
    b = rng.normal(size=case["k"])
    # TensorFlow's CPU kernels refuse dilated transposed convolutions, so a dilated kernel is
    # given to Keras as the equivalent kernel with zeros between the taps.
    dh, dw = case["dil"]
    k_eff = np.zeros((dh * (case["kh"] - 1) + 1, dw * (case["kw"] - 1) + 1, case["k"], case["c"]))
    k_eff[::dh, ::dw] = k
    layer = keras.layers.Conv2DTranspose(
        case["k"], k_eff.shape[:2], strides=case["stride"], padding=case["padding"],
        output_padding=case["op"], dtype="float64",
    )
    layer.build((None, case["h"], case["w"], case["c"]))
    layer.set_weights([k_eff, b])
    theirs = np.asarray(layer(x[None]))[0]
    ours = conv2d_transpose(x, k, case["stride"], case["padding"], output_padding=case["op"],
                            dilation=case["dil"], bias=b)
    _close(ours, theirs)


# --------------------------------------------------------------------------------------------
# UpSampling2D, Dropout and the pooling gradient (cnnviz.core.layer_walks)


def _upsample_cases(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        dict(h=int(rng.integers(1, 8)), w=int(rng.integers(1, 8)), c=int(rng.integers(1, 4)),
             factor=(int(rng.integers(1, 5)), int(rng.integers(1, 5))),
             interpolation=str(rng.choice(["nearest", "bilinear"])), seed=int(rng.integers(1 << 30)))
        for _ in range(n)
    ]


UPSAMPLE_CASES = _upsample_cases(32, seed=6262)


@pytest.mark.parametrize("case", UPSAMPLE_CASES, ids=lambda c: f"{c['interpolation']}-{c['h']}x{c['w']}x{c['c']}-f{c['factor']}")
def test_upsample2d_matches_keras_upsampling2d(tf_keras, case):
    _, keras = tf_keras
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(case["h"], case["w"], case["c"]))
    layer = keras.layers.UpSampling2D(case["factor"], interpolation=case["interpolation"], dtype="float64")
    theirs = np.asarray(layer(x[None]), dtype=np.float64)[0]
    ours = upsample2d(x, case["factor"], case["interpolation"])
    _close(ours, theirs)
    # every step's weighted sum is the cell the layer computes
    walk = UpsampleWalk(x, case["factor"], case["interpolation"])
    for n in rng.integers(0, len(walk), size=5):
        st = walk[int(n)]
        assert abs(sum(st.weights) - 1.0) < 1e-12
        np.testing.assert_allclose(sum(w * np.asarray(v) for w, v in zip(st.weights, st.values)),
                                   theirs[st.out_pos], atol=1e-5)


def test_bilinear_upsampling_uses_half_pixel_centres(tf_keras):
    _, keras = tf_keras
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    theirs = np.asarray(keras.layers.UpSampling2D(2, interpolation="bilinear")(x[None, :, :, None]))[0, :, :, 0]
    ours = upsample2d(x, 2, "bilinear")
    _close(ours, theirs)
    np.testing.assert_allclose(ours[0], [1.0, 1.25, 1.75, 2.0])  # not 1, 1.5, 2, 2 (corner-aligned)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_scaling_matches_keras_dropout(tf_keras, rate):
    _, keras = tf_keras
    rng = np.random.default_rng(int(rate * 100))
    x = rng.uniform(1.0, 2.0, size=(40, 50, 3))  # no zeros, so a zero output means dropped
    # seeded: unseeded, its mean at rate 0.8 (1,200 values kept of 6,000) missed the 5 % below
    # about one run in fifteen
    theirs = np.asarray(keras.layers.Dropout(rate, dtype="float64", seed=7)(x[None], training=True))[0]
    kept = theirs != 0
    np.testing.assert_allclose(theirs[kept], x[kept] / (1 - rate), rtol=1e-12)
    ours = dropout(x, rate, seed=3, training=True)
    mine = ours != 0
    np.testing.assert_allclose(ours[mine], x[mine] / (1 - rate), rtol=1e-12)
    # both drop about `rate` of the values and keep the mean
    for out in (theirs, ours):
        assert abs((out == 0).mean() - rate) < 0.03
        assert abs(out.mean() - x.mean()) / x.mean() < 0.05
    # inference: the identity in both
    np.testing.assert_array_equal(np.asarray(keras.layers.Dropout(rate, dtype="float64")(x[None], training=False))[0], x)
    np.testing.assert_array_equal(dropout(x, rate, seed=3, training=False), x)


def _pool_grad_cases(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        ph, pw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride = None if rng.random() < 0.3 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        padding = str(rng.choice(["valid", "same"]))
        if padding == "valid" and (h < ph or w < pw):
            continue
        cases.append(dict(h=h, w=w, c=int(rng.integers(1, 4)), size=(ph, pw), stride=stride,
                          padding=padding, op=str(rng.choice(["max", "avg"])),
                          ties=bool(rng.random() < 0.5), seed=int(rng.integers(1 << 30))))
    return cases


POOL_GRAD_CASES = _pool_grad_cases(32, seed=1718)


@pytest.mark.parametrize("case", POOL_GRAD_CASES, ids=lambda c: f"{c['op']}-{c['h']}x{c['w']}x{c['c']}-p{c['size']}-s{c['stride']}-{c['padding']}-ties{c['ties']}")
def test_pool_gradient_matches_gradient_tape(tf_keras, case):
    tf, keras = tf_keras
    rng = np.random.default_rng(case["seed"])
    shape = (case["h"], case["w"], case["c"])
    # small integers make ties: TensorFlow gives the gradient to the first maximum (row-major)
    x = rng.integers(0, 3, size=shape).astype(np.float64) if case["ties"] else rng.normal(size=shape)
    cls = keras.layers.MaxPooling2D if case["op"] == "max" else keras.layers.AveragePooling2D
    layer = cls(pool_size=case["size"], strides=case["stride"], padding=case["padding"], dtype="float64")
    xv = tf.Variable(x[None])
    with tf.GradientTape() as tape:
        y = layer(xv)
        g = rng.normal(size=tuple(y.shape[1:]))
        loss = tf.reduce_sum(y * g[None])
    theirs = tape.gradient(loss, xv).numpy()[0]
    ours = pool2d_grad(x, g, case["size"], case["stride"], case["padding"], case["op"])
    _close(ours, theirs)
    walk = PoolGradWalk(x, g, case["size"], case["stride"], case["padding"], case["op"])
    _close(walk.output_after(len(walk) - 1), theirs)


def test_notes_rgb_example_matches_keras_conv2d_relu(tf_keras):
    from cnnviz.state.stepper.choices import NOTES_BIASES, NOTES_FILTERS, NOTES_RGB_IMAGE

    _, keras = tf_keras
    layer = keras.layers.Conv2D(2, 3, activation="relu", dtype="float64")
    layer.build((None, 6, 6, 3))
    layer.set_weights([NOTES_FILTERS, np.array(NOTES_BIASES)])
    theirs = np.asarray(layer(NOTES_RGB_IMAGE[None]))[0]
    ours = conv2d(NOTES_RGB_IMAGE, NOTES_FILTERS, bias=NOTES_BIASES, activation="relu")
    assert theirs.shape == (4, 4, 2)
    _close(ours, theirs)
    assert (theirs == 0).any() and (theirs > 0).any()  # ReLU cuts some and keeps others


@pytest.mark.parametrize("seed", range(6))
def test_several_filters_on_typed_channels_match_keras_conv2d(tf_keras, seed):
    from cnnviz.core.convolution import ConvWalk

    _, keras = tf_keras
    rng = np.random.default_rng(seed)
    C, K, kh, kw = (int(v) for v in rng.integers(1, 5, size=4))
    h, w = kh + int(rng.integers(0, 5)), kw + int(rng.integers(0, 5))
    x, k, b = rng.normal(size=(h, w, C)), rng.normal(size=(kh, kw, C, K)), rng.normal(size=K)
    layer = keras.layers.Conv2D(K, (kh, kw), activation="relu", dtype="float64")
    layer.build((None, h, w, C))
    layer.set_weights([k, b])
    theirs = np.asarray(layer(x[None]))[0]
    walk = ConvWalk(x, k, bias=b, activation="relu")
    _close(walk.output, theirs)
    st = walk[len(walk) - 1]
    _close(np.asarray(st.value), theirs[st.out_pos])
