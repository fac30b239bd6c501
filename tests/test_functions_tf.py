"""Every activation function and its derivative against ``keras.activations`` and
``tf.GradientTape`` (float64, a grid that includes the kinks)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.state.functions import ALPHA_DEFAULTS, BOOK_LOGITS, derivative, evaluate, softmax

pytestmark = pytest.mark.slow

XS = np.linspace(-6.0, 6.0, 241)  # steps of 0.05: 0.0 is on it


@pytest.fixture(scope="module")
def tf_keras():
    from cnnviz.ml.backend import keras, tensorflow

    return tensorflow(), keras()


def _keras_fn(keras, name, alpha):
    acts = keras.activations
    return {
        "sigmoid": acts.sigmoid,
        "tanh": acts.tanh,
        "relu": acts.relu,
        "leaky_relu": lambda x: acts.leaky_relu(x, negative_slope=alpha),
        "elu": lambda x: acts.elu(x, alpha=alpha),
    }[name]


@pytest.mark.parametrize("name,alpha", [
    ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", ALPHA_DEFAULTS["leaky_relu"]), ("leaky_relu", 0.05),
    ("elu", ALPHA_DEFAULTS["elu"]), ("elu", 0.4),
])
def test_values_and_gradients_match_tensorflow(tf_keras, name, alpha):
    tf, keras = tf_keras
    fn = _keras_fn(keras, name, alpha)
    x = tf.constant(XS, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    grad = tape.gradient(y, x)
    np.testing.assert_allclose(evaluate(name, XS, alpha), np.asarray(y), atol=1e-12)
    np.testing.assert_allclose(derivative(name, XS, alpha), np.asarray(grad), atol=1e-12)


def test_softmax_and_its_one_logit_slope_match_tensorflow(tf_keras):
    tf, keras = tf_keras
    z = np.array(BOOK_LOGITS)
    np.testing.assert_allclose(softmax(z), np.asarray(keras.activations.softmax(tf.constant(z[None]))[0]), atol=1e-12)
    k = 3
    for x0 in (-2.0, 8.401, 11.0):
        x = tf.Variable(x0, dtype=tf.float64)
        with tf.GradientTape() as tape:
            logits = tf.tensor_scatter_nd_update(tf.constant(z), [[k]], tf.reshape(x, [1]))
            p = tf.nn.softmax(logits)[k]
        assert evaluate("softmax", x0, logits=z, k=k) == pytest.approx(float(p), abs=1e-12)
        assert derivative("softmax", x0, logits=z, k=k) == pytest.approx(float(tape.gradient(p, x)), abs=1e-12)
    loss = keras.losses.CategoricalCrossentropy()(np.eye(10)[[2]], softmax(z)[None])
    assert float(loss) == pytest.approx(-np.log(softmax(z)[2]), rel=1e-6)
