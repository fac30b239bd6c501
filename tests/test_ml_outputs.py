"""What each kind of model outputs (classes, mask, image, values), images fed flattened to
flat-input models, and two-input models fed one image, on tiny models built here."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.ml import activations as A
from cnnviz.ml import outputs as O


@pytest.fixture(scope="module")
def keras():
    from cnnviz.ml.backend import keras as get_keras

    return get_keras()


@pytest.fixture(scope="module")
def kinds(keras):
    """One tiny model of every kind the issue lists."""
    L = keras.layers
    m = {}
    inp = keras.Input((16, 16, 1))
    x = L.Conv2D(4, 3, activation="relu")(inp)
    x = L.GlobalAveragePooling2D()(x)
    m["classifier"] = keras.Model(inp, L.Dense(3, activation="softmax")(x))
    m["logits"] = keras.Model(inp, L.Dense(5)(x))
    m["binary"] = keras.Model(inp, L.Dense(1, activation="sigmoid")(x))
    # U-Net with a softmax over 3 classes per pixel
    inp = keras.Input((16, 16, 3))
    c1 = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    p1 = L.MaxPooling2D()(c1)
    c2 = L.Conv2D(8, 3, padding="same", activation="relu")(p1)
    u1 = L.Conv2DTranspose(4, 2, strides=2, padding="same")(c2)
    u1 = L.concatenate([u1, c1])
    m["unet"] = keras.Model(inp, L.Conv2D(3, 1, activation="softmax")(u1))
    # convolutional autoencoder with a sigmoid
    inp = keras.Input((16, 16, 1))
    e = L.Conv2D(4, 3, padding="same", activation="relu", strides=2)(inp)
    d = L.Conv2DTranspose(4, 3, padding="same", activation="relu", strides=2)(e)
    m["autoencoder"] = keras.Model(inp, L.Conv2D(1, 3, padding="same", activation="sigmoid")(d))
    # RGB autoencoder: 3 channels out, no softmax
    inp = keras.Input((16, 16, 3))
    m["rgb_autoencoder"] = keras.Model(inp, L.Conv2D(3, 3, padding="same", activation="sigmoid")(inp))
    # flat 784 -> Reshape -> CNN
    inp = keras.Input((784,))
    r = L.Reshape((28, 28, 1))(inp)
    r = L.Conv2D(4, 3, activation="relu")(r)
    r = L.Flatten()(r)
    m["flat_cnn"] = keras.Model(inp, L.Dense(10, activation="softmax")(r))
    # flat 784 -> Dense -> 784 autoencoder
    inp = keras.Input((784,))
    h = L.Dense(16, activation="relu")(inp)
    m["flat_autoencoder"] = keras.Model(inp, L.Dense(784, activation="sigmoid")(h))
    # siamese: two inputs, one shared base, a distance
    base_in = keras.Input((12, 12, 1))
    b = L.Conv2D(4, 3, activation="relu")(base_in)
    b = L.Flatten()(b)
    base = keras.Model(base_in, L.Dense(8)(b), name="base")
    a_in, b_in = keras.Input((12, 12, 1), name="a"), keras.Input((12, 12, 1), name="b")
    from cnnviz.ml.layers import EuclideanDistance

    m["siamese"] = keras.Model([a_in, b_in], EuclideanDistance(name="distance")([base(a_in), base(b_in)]))
    # regression: a linear output compiled with a squared error
    inp = keras.Input((16, 16, 1))
    y = L.GlobalAveragePooling2D()(L.Conv2D(2, 3)(inp))
    reg = keras.Model(inp, L.Dense(2)(y))
    reg.compile(optimizer="sgd", loss="mse")
    m["regression"] = reg
    inp = keras.Input((16, 16, 1))
    m["embedding"] = keras.Model(inp, L.Dense(32, activation="relu")(L.Flatten()(inp)))
    return m


@pytest.mark.parametrize("name, kind", [
    ("classifier", "classes"), ("logits", "classes"), ("binary", "classes"), ("unet", "mask"),
    ("autoencoder", "image"), ("rgb_autoencoder", "image"), ("flat_cnn", "classes"),
    ("flat_autoencoder", "image"), ("siamese", "values"), ("regression", "values"),
    ("embedding", "values"),
])
def test_output_kind_of_every_model(kinds, name, kind):
    assert O.output_kind(kinds[name]) == kind


def test_output_kind_ignores_the_file_name(kinds, keras, tmp_path):
    from cnnviz.ml.modelio import load_model

    inp = keras.Input((16, 16, 1))
    one = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp)))  # one linear unit
    path = tmp_path / "unet_classifier_autoencoder.keras"
    one.save(path)
    assert O.output_kind(load_model(path).model) == "values"
    path = tmp_path / "regression_values.keras"
    kinds["unet"].save(path)
    assert O.output_kind(load_model(path).model) == "mask"


def test_flat_input_with_reshape_is_fed_the_image_flattened(kinds):
    spec = A.model_input_spec(kinds["flat_cnn"])
    assert (spec.height, spec.width, spec.channels, spec.flat) == (28, 28, 1, 784) and spec.is_image
    assert spec.feed_text == "feeds the 28×28 image flattened to 784 values"
    img = np.zeros((40, 30, 3), np.uint8)
    img[10:20, 5:15] = 255
    x, preview = A.prepare_input(img, kinds["flat_cnn"])
    assert x.shape == (784,) and preview.shape == (28, 28)
    assert np.allclose(x.reshape(28, 28), preview / 255.0)
    names = [n for n, _ in A.layer_activations(kinds["flat_cnn"], x)]
    assert any(a.ndim == 3 for _, a in A.layer_activations(kinds["flat_cnn"], x))
    assert A.last_conv_layer(kinds["flat_cnn"]) in names
    heat = A.grad_cam(kinds["flat_cnn"], x)
    assert heat.shape == (28, 28) and np.isfinite(heat).all()


def test_flat_input_whose_length_is_a_square_is_a_gray_image(kinds):
    spec = A.model_input_spec(kinds["flat_autoencoder"])
    assert (spec.height, spec.width, spec.channels, spec.flat) == (28, 28, 1, 784)
    x, _ = A.prepare_input(np.full((28, 28), 128, np.uint8), kinds["flat_autoencoder"])
    assert x.shape == (784,)
    y = O.model_output(kinds["flat_autoencoder"], x)
    assert O.as_image(y, (28, 28, 1)).shape == (28, 28, 1)


def test_flat_model_whose_length_is_not_a_square_and_has_no_reshape_is_explained(keras):
    inp = keras.Input((785,))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))
    spec = A.model_input_spec(model)
    assert not spec.is_image
    assert "vector of 785 numbers" in spec.reason and "not a square" in spec.reason
    assert "no Reshape" in spec.reason
    with pytest.raises(ValueError, match="not a square"):
        A.prepare_input(np.zeros((28, 28), np.uint8), model)


def test_two_image_inputs_take_one_image_and_three_are_refused(kinds, keras):
    spec = A.model_input_spec(kinds["siamese"], pairs=True)
    assert spec.is_image and spec.inputs == 2 and (spec.height, spec.width, spec.channels) == (12, 12, 1)
    assert not A.model_input_spec(kinds["siamese"]).is_image  # one image only: explained
    ins = [keras.Input((8, 8, 1)) for _ in range(3)]
    three = keras.Model(ins, keras.layers.Concatenate()([keras.layers.Flatten()(i) for i in ins]))
    spec3 = A.model_input_spec(three, pairs=True)
    assert not spec3.is_image and "3 inputs" in spec3.reason
    with pytest.raises(ValueError, match="3 inputs"):
        A.prepare_input(np.zeros((8, 8), np.uint8), three, pairs=True)


class _Job:
    def __init__(self):
        from cnnviz.ml.store import ModelStore

        self.models = ModelStore()
        self.stopped = False


def _loaded(model):
    from pathlib import Path

    from cnnviz.ml import modelio
    from cnnviz.ml.modelio import _summary_from_model

    return modelio.LoadedModel(Path("m.keras"), model, "in memory", None, _summary_from_model(model), {}, [])


def _compute(job, info, image, **kw):
    from cnnviz.ml.inspect import ComputeRequest, compute_job

    layer = next(r.name for r in info.layers if r.kind != "none")
    return compute_job(job, ComputeRequest(info.model_id, 1, image, "div255", layer, **kw))


def test_engine_results_carry_the_kind_and_the_output(kinds):
    from cnnviz.ml.inspect import describe

    job = _Job()
    img = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    for name, kind, shape in [("unet", "mask", (16, 16, 3)), ("autoencoder", "image", (16, 16, 1)),
                              ("regression", "values", (2,)), ("classifier", "classes", (3,))]:
        loaded = _loaded(kinds[name])
        info = describe(job.models.put(loaded), loaded, name)
        assert info.output_kind == kind and info.output_shape == shape
        assert info.classifier == (kind == "classes")
        res = _compute(job, info, img)
        p = res.prediction
        assert p.output_kind == kind and p.output.shape == shape and p.nonfinite == 0
        if kind != "classes":
            assert p.probabilities.size == 0
    loaded = _loaded(kinds["flat_cnn"])
    info = describe(job.models.put(loaded), loaded, "flat")
    assert info.spec == (28, 28, 1) and info.flat_input == 784 and "784 values" in info.feed_text
    res = _compute(job, info, img, want_gradcam=True)
    assert res.preview.shape == (28, 28) and res.gradcam.error is None and res.gradcam.heat.shape == (28, 28)


def test_two_input_model_feeds_the_chosen_input(kinds):
    from cnnviz.ml.inspect import describe

    job = _Job()
    loaded = _loaded(kinds["siamese"])
    info = describe(job.models.put(loaded), loaded, "siamese")
    assert info.spec == (12, 12, 1) and info.inputs == 2 and info.output_kind == "values"
    assert any(r.name.endswith("#2") for r in info.layers)  # the shared base's second call: input B
    img = np.full((12, 12), 200, np.uint8)
    first = next(r.name for r in info.layers if r.kind == "maps")
    a = _compute(job, info, img, feed="a", other="blank")
    b = _compute(job, info, img, feed="b", other="blank")
    same = _compute(job, info, img, feed="a", other="same")
    # the first call of the shared base is input A's branch: it sees the image only when A is fed
    assert a.layer == first and not np.allclose(a.maps, b.maps)
    assert float(same.prediction.output[0]) == pytest.approx(0.0, abs=1e-3)  # same image, distance 0
    assert float(a.prediction.output[0]) > 0


def test_nan_output_is_counted(keras):
    from cnnviz.ml.inspect import describe

    L = keras.layers
    inp = keras.Input((8, 8, 1))
    y = L.Lambda(lambda t: t * np.float32("nan"))(L.Conv2D(1, 3, padding="same", activation="sigmoid")(inp))
    model = keras.Model(inp, y)
    job = _Job()
    loaded = _loaded(model)
    info = describe(job.models.put(loaded), loaded, "nan")
    res = _compute(job, info, np.zeros((8, 8), np.uint8))
    assert res.prediction.output_kind == "image" and res.prediction.nonfinite == 64
