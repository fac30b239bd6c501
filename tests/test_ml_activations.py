"""Activations, receptive fields, filters, input preparation and Grad-CAM, checked against
direct Keras computations on the fixture models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnviz.ml import activations as A
from cnnviz.ml.modelio import load_model

FIX = Path(__file__).resolve().parent / "fixtures" / "models"
IMAGE_FIXTURES = ["keras1_sequential.h5", "keras208_sequential_list.h5", "keras224_sequential_dict.h5",
                  "tfkeras113_dtype_init.h5", "tfkeras24_groups.h5", "tfkeras26_nested.h5",
                  "keras3_cnn.keras", "keras3_cnn.h5"]


@pytest.fixture(scope="module")
def keras():
    from cnnviz.ml.backend import keras as get_keras

    return get_keras()


@pytest.fixture(scope="module")
def models(keras):
    return {name: load_model(FIX / name).model for name in IMAGE_FIXTURES + [
        "tfkeras_lstm_time_major.h5", "two_inputs.keras", "dense_only.keras"]}


def _direct(keras, model, name: str, x: np.ndarray) -> np.ndarray:
    """The layer's output from a plain Keras sub-model (nested names resolved inside the base)."""
    owner = model
    parts = name.split("/")
    for part in parts[:-1]:
        owner = owner.get_layer(part)
    layer = owner.get_layer(parts[-1])
    sub = keras.Model(owner.inputs, layer.output)
    return np.asarray(sub.predict_on_batch(x[None]))[0]


@pytest.mark.parametrize("name", IMAGE_FIXTURES + ["tfkeras_lstm_time_major.h5"])
def test_activations_match_direct_submodels(name, keras, models):
    model = models[name]
    x = np.load(FIX / (Path(name).stem + ".expected.npz"))["x"]
    acts = A.layer_activations(model, x)
    assert [n for n, _ in acts] == [n for n, _ in A.flat_layers(model)]
    for layer_name, value in acts:
        np.testing.assert_allclose(value, _direct(keras, model, layer_name, x), rtol=1e-5, atol=1e-5,
                                   err_msg=f"{name}:{layer_name}")
    np.testing.assert_allclose(acts[-1][1], np.load(FIX / (Path(name).stem + ".expected.npz"))["y"],
                               rtol=1e-5, atol=1e-6)


def test_nested_names_are_flattened(models):
    names = [n for n, _ in A.layer_activations(models["tfkeras26_nested.h5"], np.zeros((16, 16, 3), "f4"))]
    assert names == ["base/block1_conv", "base/block1_bn", "base/block1_relu", "base/block2_dw",
                     "global_average_pooling2d", "dense"]


def test_one_cached_extractor_per_model(models, keras):
    model = models["keras3_cnn.keras"]
    first = A._extractor(model)
    A.layer_activations(model, np.zeros((20, 20, 1), "f4"))
    assert A._extractor(model) is first
    assert len(first.model.outputs) == len(A.flat_layers(model))
    # a model that changes shape gets a new extractor
    seq = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="c1")])
    before = A._extractor(seq)
    seq.add(keras.layers.Flatten(name="f"))
    after = A._extractor(seq)
    assert after is not before and after.names == ["c1", "f"]


def test_sequential_with_and_without_input(keras):
    x = np.random.default_rng(0).uniform(size=(8, 8, 1)).astype("f4")
    declared = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(3, 3, name="c"),
                                 keras.layers.Flatten(name="f"), keras.layers.Dense(2, name="d")])
    undeclared = keras.Sequential([keras.layers.Conv2D(3, 3, name="c"), keras.layers.Flatten(name="f"),
                                   keras.layers.Dense(2, name="d")])
    undeclared.build((None, 8, 8, 1))
    undeclared.set_weights(declared.get_weights())
    a = A.layer_activations(declared, x)
    b = A.layer_activations(undeclared, x)
    for (na, va), (nb, vb) in zip(a, b):
        assert na == nb
        np.testing.assert_allclose(va, vb, rtol=1e-6)
    np.testing.assert_allclose(b[-1][1], declared.predict_on_batch(x[None])[0], rtol=1e-5)
    never_built = keras.Sequential([keras.layers.Dense(2)])
    assert not A.model_input_spec(never_built).is_image
    with pytest.raises(ValueError, match="no declared input shape"):
        A.layer_activations(never_built, np.zeros(3, "f4"))


# ----------------------------------------------------------------------------- inputs


def test_input_spec_explains_non_image_models(models):
    assert A.model_input_spec(models["keras208_sequential_list.h5"]) == A.InputSpec(28, 28, 1)
    two = A.model_input_spec(models["two_inputs.keras"])
    assert not two.is_image and "2 inputs" in two.reason
    dense = A.model_input_spec(models["dense_only.keras"])
    assert not dense.is_image and "vector of 6" in dense.reason
    seq = A.model_input_spec(models["tfkeras_lstm_time_major.h5"])
    assert not seq.is_image and "sequence (10 steps × 4 features)" in seq.reason
    with pytest.raises(ValueError, match="2 inputs"):
        A.prepare_input(np.zeros((8, 8, 3), np.uint8), models["two_inputs.keras"])
    # the summary and activations still work for them
    acts = A.layer_activations(models["dense_only.keras"], np.ones(6, "f4"))
    assert [a.shape for _, a in acts] == [(8,), (2,)]
    two_acts = A.layer_activations(models["two_inputs.keras"], [np.ones((8, 8, 1), "f4"), np.zeros((8, 8, 1), "f4")])
    assert "shared_conv" in [n for n, _ in two_acts] and "shared_conv#2" in [n for n, _ in two_acts]


def test_gray_model_given_rgb_and_resized(models):
    rgb = np.zeros((50, 70, 3), np.uint8)
    rgb[10:40, 20:50] = (255, 0, 0)
    x, preview = A.prepare_input(rgb, models["keras208_sequential_list.h5"])
    assert x.shape == (28, 28, 1) and x.dtype == np.float32
    assert preview.shape == (28, 28) and preview.dtype == np.uint8
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x.max() == pytest.approx(76 / 255, abs=0.02)  # red's luma, resized
    inv, inv_preview = A.prepare_input(rgb, models["keras208_sequential_list.h5"], "div255_inverted")
    np.testing.assert_allclose(inv[..., 0], 1.0 - x[..., 0], atol=1e-6)


def test_rgb_model_given_gray_and_scalings(models):
    gray = np.full((16, 16), 255, np.uint8)
    gray[:8] = 0
    model = models["tfkeras24_groups.h5"]
    x, preview = A.prepare_input(gray, model, "minus1to1")
    assert x.shape == (16, 16, 3) and preview.shape == (16, 16, 3)
    assert x.min() == -1.0 and x.max() == 1.0
    raw, _ = A.prepare_input(gray, model, "none")
    assert raw.max() == 255.0
    std, _ = A.prepare_input(gray, model, "standardize")
    assert abs(std.mean()) < 1e-5 and std.std() == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="unknown scaling"):
        A.prepare_input(gray, model, "bogus")


# ----------------------------------------------------------------------------- huge layers


def test_huge_layer_is_returned_whole_and_paged(keras):
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(5000, 1, name="wide")])
    (name, arr), = A.layer_activations(model, np.ones((4, 4, 1), "f4"))
    assert arr.shape == (4, 4, 5000)
    maps, first, total = A.page_maps(arr, page=2, per_page=256)
    assert maps.shape == (256, 4, 4) and first == 512 and total == 5000
    np.testing.assert_array_equal(maps[3], arr[..., 515])
    last, first_last, _ = A.page_maps(arr, page=999, per_page=256)
    assert first_last == 4864 and last.shape == (136, 4, 4)
    bars, _, n = A.page_maps(np.arange(10.0), 0, 4)
    assert bars.shape == (4, 1, 1) and n == 10


# ----------------------------------------------------------------------------- receptive fields


def test_receptive_field_arithmetic(models):
    rf = A.receptive_fields(models["keras208_sequential_list.h5"])
    assert rf["conv2d_1"] == A.ReceptiveField((1, 1), (3, 3), (1, 1))
    assert rf["max_pooling2d_1"] == A.ReceptiveField((2, 2), (4, 4), (1.5, 1.5))
    assert rf["conv2d_2"] == A.ReceptiveField((2, 2), (8, 8), (3.5, 3.5))
    assert rf["flatten_1"] is None and rf["dense_1"] is None
    same = A.receptive_fields(models["tfkeras24_groups.h5"])
    assert same["conv1"].start == (1.0, 1.0) and same["conv1"].jump == (2, 2)  # 3×3 stride 2 'same' on 16
    ys, xs = A.map_to_input_coords(models["keras208_sequential_list.h5"], "conv2d_2")
    assert ys.shape == (11,) and ys[0] == 3.5 and ys[-1] == 3.5 + 10 * 2


def test_receptive_field_matches_gradient_support(models, keras):
    """The input pixels that influence one output cell are exactly its receptive field."""
    import tensorflow as tf

    model = models["keras208_sequential_list.h5"]
    ext = A._extractor(model)
    target = ext.names.index("conv2d_2")
    x = tf.constant(np.random.default_rng(1).uniform(0.2, 1, (1, 28, 28, 1)).astype("f4"))
    ys, xs = A.map_to_input_coords(model, "conv2d_2")
    size = A.receptive_fields(model)["conv2d_2"].size
    linear = keras.Model(ext.fresh, ext.model.outputs[target])
    for i, j in [(0, 0), (4, 7), (10, 10)]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            # sum over channels of pre-ReLU-insensitive magnitude: use all 8 maps
            value = tf.reduce_sum(tf.abs(linear(x)[0, i, j, :]) + 1e-3 * linear(x)[0, i, j, :])
        g = np.abs(tape.gradient(value, x).numpy()[0, ..., 0])
        rows, cols = np.nonzero(g > 0)
        if rows.size == 0:
            continue
        assert rows.max() - rows.min() + 1 <= size[0] and cols.max() - cols.min() + 1 <= size[1]
        assert rows.min() >= ys[i] - size[0] / 2 and rows.max() <= ys[i] + size[0] / 2
        assert cols.min() >= xs[j] - size[1] / 2 and cols.max() <= xs[j] + size[1] / 2


def test_map_is_placed_by_receptive_field_centre(models):
    model = models["keras208_sequential_list.h5"]
    fmap = np.zeros((11, 11), "f4")
    fmap[2, 5] = 1.0
    placed = A.map_to_input(model, "conv2d_2", fmap)
    assert placed.shape == (28, 28)
    # the cell's centre is (3.5 + 2·2, 3.5 + 5·2) = (7.5, 13.5): pixels 7–8 and 13–14 share the peak
    peak = np.unravel_index(np.argmax(placed), placed.shape)
    assert peak == (7, 13)
    assert placed[7, 13] == pytest.approx(placed[8, 14]) == pytest.approx(0.75 * 0.75)
    assert placed[3, 13] == 0.0 and placed[7, 20] == 0.0


# ----------------------------------------------------------------------------- filters, predictions


def test_conv_layers_and_filters(models):
    model = models["keras208_sequential_list.h5"]
    assert A.conv_layers(model) == ["conv2d_1", "conv2d_2"]
    np.testing.assert_array_equal(A.layer_filters(model, "conv2d_1"), model.get_layer("conv2d_1").kernel.numpy())
    groups = models["tfkeras24_groups.h5"]
    assert A.conv_layers(groups) == ["conv1", "conv_dw_1", "sep_1", "up_1"]
    assert A.layer_filters(groups, "conv_dw_1").shape == (3, 3, 8, 1)
    assert A.layer_filters(groups, "sep_1").shape == (3, 3, 8, 1)
    assert A.layer_filters(groups, "up_1").shape == (3, 3, 8, 4)  # (kh, kw, in, out)
    assert A.conv_layers(models["tfkeras26_nested.h5"]) == ["base/block1_conv", "base/block2_dw"]
    with pytest.raises(ValueError):
        A.layer_filters(model, "dense_1")


def test_predict_probabilities(models):
    model = models["keras3_cnn.keras"]
    x = np.load(FIX / "keras3_cnn.expected.npz")["x"]
    pred = A.predict_probabilities(model, x, ["a", "b", "c"])
    assert pred.is_probability and pred.labels == ["a", "b", "c"]
    assert pred.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred.ranked[0][0] == "abc"[pred.top]
    two = models["two_inputs.keras"]
    sig = A.predict_probabilities(two, [x[:8, :8], x[:8, :8]])
    assert sig.probabilities.shape == (2,) and sig.probabilities.sum() == pytest.approx(1.0)
    raw = A.predict_probabilities(models["tfkeras_lstm_time_major.h5"], np.ones((10, 4), "f4"))
    assert not raw.is_probability and raw.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


# ----------------------------------------------------------------------------- Grad-CAM


def _shapes(n: int, size: int, seed: int):
    try:
        from cnnviz.ml.datasets import make_shapes

        ds = make_shapes(n=n, size=size, channels=1, seed=seed)
        return ds.x_train, ds.y_train, ds.num_classes
    except ImportError:  # pragma: no cover - the datasets module is part of the app
        import cv2

        rng = np.random.default_rng(seed)
        x = np.zeros((n, size, size, 1), np.uint8)
        y = rng.integers(0, 2, n)
        for i in range(n):
            c = rng.integers(size // 4, 3 * size // 4, 2)
            r = int(rng.integers(size // 8, size // 4))
            if y[i]:
                cv2.circle(x[i], (int(c[0]), int(c[1])), r, 220, -1)
            else:
                cv2.rectangle(x[i], (int(c[0] - r), int(c[1] - r)), (int(c[0] + r), int(c[1] + r)), 220, -1)
        return x, y, 2


@pytest.fixture(scope="module")
def shapes_model(keras, tmp_path_factory):
    """A small CNN trained a few steps on the bundled shapes, saved and re-opened (a loaded
    Sequential is where the naive Grad-CAM recipe gets no gradients)."""
    keras.utils.set_random_seed(0)
    x, y, k = _shapes(1200, 32, 0)
    L = keras.layers
    model = keras.Sequential([keras.Input((32, 32, 1)), L.Conv2D(16, 3, padding="same", activation="relu"),
                              L.MaxPooling2D(), L.Conv2D(32, 3, padding="same", activation="relu"),
                              L.MaxPooling2D(), L.Conv2D(32, 3, padding="same", activation="relu", name="last_conv"),
                              L.GlobalAveragePooling2D(), L.Dense(k, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x / 255.0, y, epochs=4, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("gc") / "shapes.keras"
    model.save(path)
    return load_model(path).model


def test_grad_cam_highlights_the_shape(shapes_model):
    assert A.last_conv_layer(shapes_model) == "last_conv"
    x_test, _, _ = _shapes(24, 32, 99)
    inside, outside = [], []
    for img in x_test:
        x = img.astype("f4") / 255.0
        heat = A.grad_cam(shapes_model, x)
        assert heat.shape == (32, 32) and heat.min() >= 0.0 and heat.max() <= 1.0
        mask = img[..., 0] > 110
        if heat.max() == 0:
            continue
        inside.append(heat[mask].mean())
        outside.append(heat[~mask].mean())
    assert len(inside) >= 18
    print(f"Grad-CAM mean inside the shape {np.mean(inside):.3f}, background {np.mean(outside):.3f}")
    assert np.mean(inside) > 1.3 * np.mean(outside), (np.mean(inside), np.mean(outside))


def test_grad_cam_on_loaded_legacy_models(models):
    for name, layer in [("keras208_sequential_list.h5", "conv2d_2"), ("tfkeras26_nested.h5", "base/block2_dw")]:
        model = models[name]
        x = np.load(FIX / (Path(name).stem + ".expected.npz"))["x"]
        spec = A.model_input_spec(model)
        assert A.last_conv_layer(model) == layer
        for c in range(2):
            heat = A.grad_cam(model, x, class_index=c)
            assert heat.shape == (spec.height, spec.width) and np.isfinite(heat).all()
    with pytest.raises(ValueError, match="no 2-D map"):
        A.grad_cam(models["keras208_sequential_list.h5"], x=np.zeros((28, 28, 1), "f4"), layer_name="dense_1")


def test_grad_cam_uses_logits_not_softmax(keras):
    """Grad-CAM equals the formula on the class logit; the saturated softmax would give ~0."""
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    out = keras.layers.Dense(3, activation="softmax", name="head")(keras.layers.Flatten()(conv))
    model = keras.Model(inp, out)
    head = model.get_layer("head")
    head.kernel.assign(head.kernel.numpy() * 300.0)  # saturate the softmax
    x = np.random.default_rng(0).uniform(size=(8, 8, 1)).astype("f4")
    top = A.predict_probabilities(model, x)
    assert top.probabilities.max() > 0.99999
    c = top.top

    maps = keras.Model(inp, conv).predict_on_batch(x[None])[0]  # (6, 6, 4)
    grads = head.kernel.numpy()[:, c].reshape(maps.shape)  # d logit_c / d maps
    expected = np.maximum((maps * grads.mean(axis=(0, 1))).sum(-1), 0)
    expected /= expected.max()
    heat = A.grad_cam(model, x, class_index=c)
    np.testing.assert_allclose(heat, A.map_to_input(model, "conv", expected), atol=1e-4)
    assert head.activation is keras.activations.softmax  # restored after the pass

    xt = tf.constant(x[None])
    with tf.GradientTape() as tape:
        a = keras.Model(inp, [conv, out])(xt)
        p = a[1][0, c]
    soft = np.abs(tape.gradient(p, a[0]).numpy()).max()
    assert soft < 1e-4 * np.abs(grads).max()
