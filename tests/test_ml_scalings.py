"""Input scaling presets against keras.applications, and models that rescale their input
themselves."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.ml.activations import SCALINGS, scale_pixels
from cnnviz.state.activations import SCALING_TEXT, default_scaling, input_rescaling, model_notes


def test_every_scaling_has_a_combo_text():
    assert set(SCALING_TEXT) == set(SCALINGS)
    assert "MobileNet / Teachable Machine" in SCALING_TEXT["minus1to1"]


@pytest.mark.parametrize("mode,key", [("caffe", "imagenet_caffe"), ("torch", "imagenet_torch"),
                                      ("tf", "minus1to1")])
def test_presets_match_keras_preprocess_input(mode, key):
    from keras.applications import imagenet_utils

    rng = np.random.default_rng(7)
    for _ in range(4):
        h, w = rng.integers(1, 40, size=2)
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        ours = scale_pixels(img, key)
        ref = imagenet_utils.preprocess_input(img.astype(np.float32)[None], data_format="channels_last",
                                              mode=mode)[0]
        assert ours.dtype == np.float32 and ours.shape == img.shape
        np.testing.assert_allclose(ours, np.asarray(ref), rtol=1e-5, atol=1e-4)


def test_gray_images_use_the_channels_average():
    from keras.applications import imagenet_utils

    gray = np.random.default_rng(1).integers(0, 256, size=(9, 11), dtype=np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)[None]
    for mode, key in (("caffe", "imagenet_caffe"), ("torch", "imagenet_torch")):
        ref = np.asarray(imagenet_utils.preprocess_input(rgb.copy(), data_format="channels_last", mode=mode))[0]
        ours = scale_pixels(gray, key)
        assert ours.shape == gray.shape
        if mode == "caffe":  # the mean of the three means: exactly the channels' average
            np.testing.assert_allclose(ours, ref.mean(axis=2), rtol=1e-5, atol=1e-4)
        else:  # between the three channels' values
            assert np.all(ours >= ref.min(axis=2) - 1e-4) and np.all(ours <= ref.max(axis=2) + 1e-4)
    assert "gray" in SCALING_TEXT["imagenet_caffe"] and "gray" in SCALING_TEXT["imagenet_torch"]


def _info(tmp_path, layers, shape=(16, 16, 3), nested=False):
    import keras

    from cnnviz.ml import modelio
    from cnnviz.ml.inspect import describe

    inp = keras.Input(shape)
    x = inp
    front = keras.Sequential(layers, name="preprocess") if nested else None
    x = front(x) if nested else x
    if not nested:
        for layer in layers:
            x = layer(x)
    x = keras.layers.Conv2D(2, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = modelio.load_model(path)
    return describe(1, loaded, "m")


def test_a_model_that_rescales_its_input_is_fed_raw_pixels(tmp_path):
    import keras

    info = _info(tmp_path, [keras.layers.Rescaling(1 / 255)])
    assert input_rescaling(info) == "Rescaling 1/255"
    notes = model_notes(info)
    assert notes[0].startswith("The model rescales its input itself (Rescaling 1/255): feed raw 0…255")
    bright = np.full((16, 16, 3), 200, np.uint8)
    assert default_scaling(info.spec, bright, info) == "none"
    assert default_scaling(info.spec, bright) == "div255"

    nested = _info(tmp_path, [keras.layers.Resizing(16, 16), keras.layers.Rescaling(1 / 127.5, offset=-1)],
                   nested=True)
    assert input_rescaling(nested) == "Rescaling 1/127.5, offset -1"
    assert default_scaling(nested.spec, bright, nested) == "none"

    norm = _info(tmp_path, [keras.layers.Normalization(mean=[120.0, 110.0, 100.0], variance=[900.0] * 3)])
    assert input_rescaling(norm).startswith("Normalization")
    assert default_scaling(norm.spec, bright, norm) == "none"

    plain = _info(tmp_path, [])
    assert input_rescaling(plain) is None
    assert default_scaling(plain.spec, bright, plain) == "div255"
    assert not any("rescales its input" in n for n in model_notes(plain))
    # a Rescaling after the first convolution is no input scaling
    late = _info(tmp_path, [keras.layers.Conv2D(2, 1), keras.layers.Rescaling(2.0)])
    assert input_rescaling(late) is None
