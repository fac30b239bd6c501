"""Write the small model files that tests/test_ml_modelio.py opens.

Legacy files are written with h5py directly, in the layout real Keras 1.x/2.x files have
(``keras.engine.saving`` / ``tf.keras`` ``hdf5_format``): root attributes ``keras_version``,
``backend`` and ``model_config`` (JSON in the format of that version), and a ``model_weights``
group with ``layer_names``, then one group per layer whose ``weight_names`` attribute lists
datasets such as ``conv2d_1/kernel:0``. The weight values come from an equivalent Keras 3 model,
whose output on a fixed input is stored next to each file (``<name>.expected.npz``) so the tests
can prove the weights were loaded, not just that something was built.

Run from the repository root:  .venv/bin/python tools/make_model_fixtures.py [maker ...]
(naming makers, e.g. ``tfkeras210_embedding``, rewrites only their files).
"""

from __future__ import annotations

import base64
import json
import marshal
import sys
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "models"
sys.path.insert(0, str(ROOT))

# ----------------------------------------------------------------------------- config helpers
# Keras 2.x layer configs as those versions wrote them (only what matters for each case).

GLOROT_K2 = {"class_name": "VarianceScaling",
             "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
GLOROT_TF113 = {"class_name": "GlorotUniform", "config": {"seed": None, "dtype": "float32"}}
GLOROT_TF2 = {"class_name": "GlorotUniform", "config": {"seed": None}}


def zeros(dtype: bool = False) -> dict:
    return {"class_name": "Zeros", "config": {"dtype": "float32"} if dtype else {}}


def ones(dtype: bool = False) -> dict:
    return {"class_name": "Ones", "config": {"dtype": "float32"} if dtype else {}}


def _regs(*prefixes: str) -> dict:
    out = {"activity_regularizer": None}
    for p in prefixes:
        out[f"{p}_regularizer"] = None
        out[f"{p}_constraint"] = None
    return out


def conv2d(name, filters, k, *, init=GLOROT_K2, bias_init=None, activation="relu",
           padding="valid", strides=1, groups=False, **extra) -> dict:
    cfg = {"name": name, "trainable": True, "filters": filters, "kernel_size": [k, k],
           "strides": [strides, strides], "padding": padding, "data_format": "channels_last",
           "dilation_rate": [1, 1], "activation": activation, "use_bias": True,
           "kernel_initializer": init, "bias_initializer": bias_init or zeros(), **_regs("kernel", "bias")}
    if groups:
        cfg["groups"] = 1
    cfg.update(extra)
    return {"class_name": "Conv2D", "config": cfg}


def depthwise(name, k, *, groups=True, padding="same", strides=1) -> dict:
    cfg = {"name": name, "trainable": True, "kernel_size": [k, k], "strides": [strides, strides],
           "padding": padding, "data_format": "channels_last", "dilation_rate": [1, 1],
           "groups": 1, "activation": "linear", "use_bias": False, "bias_initializer": zeros(),
           "depth_multiplier": 1, "depthwise_initializer": GLOROT_TF2,
           "depthwise_regularizer": None, "depthwise_constraint": None,
           "bias_regularizer": None, "bias_constraint": None, "activity_regularizer": None}
    if not groups:
        del cfg["groups"]
    return {"class_name": "DepthwiseConv2D", "config": cfg}


def separable(name, filters, k) -> dict:
    cfg = {"name": name, "trainable": True, "filters": filters, "kernel_size": [k, k],
           "strides": [1, 1], "padding": "same", "data_format": "channels_last",
           "dilation_rate": [1, 1], "groups": 1, "activation": "relu", "use_bias": True,
           "depth_multiplier": 1, "depthwise_initializer": GLOROT_TF2,
           "pointwise_initializer": GLOROT_TF2, "bias_initializer": zeros(),
           **_regs("depthwise", "pointwise", "bias")}
    return {"class_name": "SeparableConv2D", "config": cfg}


def conv_transpose(name, filters, k, strides) -> dict:
    cfg = {"name": name, "trainable": True, "filters": filters, "kernel_size": [k, k],
           "strides": [strides, strides], "padding": "same", "output_padding": None,
           "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
           "activation": "relu", "use_bias": True, "kernel_initializer": GLOROT_TF2,
           "bias_initializer": zeros(), **_regs("kernel", "bias")}
    return {"class_name": "Conv2DTranspose", "config": cfg}


def batchnorm(name, *, dtype_init=False, axis=-1) -> dict:
    cfg = {"name": name, "trainable": True, "axis": axis, "momentum": 0.99, "epsilon": 0.001,
           "center": True, "scale": True, "beta_initializer": zeros(dtype_init),
           "gamma_initializer": ones(dtype_init), "moving_mean_initializer": zeros(dtype_init),
           "moving_variance_initializer": ones(dtype_init), **_regs("beta", "gamma")}
    del cfg["activity_regularizer"]
    return {"class_name": "BatchNormalization", "config": cfg}


def dense(name, units, activation="linear", *, init=GLOROT_K2, bias_init=None) -> dict:
    return {"class_name": "Dense",
            "config": {"name": name, "trainable": True, "units": units, "activation": activation,
                       "use_bias": True, "kernel_initializer": init,
                       "bias_initializer": bias_init or zeros(), **_regs("kernel", "bias")}}


def simple(class_name, name, **cfg) -> dict:
    return {"class_name": class_name, "config": {"name": name, "trainable": True, **cfg}}


def maxpool(name, size=2) -> dict:
    return simple("MaxPooling2D", name, pool_size=[size, size], padding="valid",
                  strides=[size, size], data_format="channels_last")


def input_layer(name, shape) -> dict:
    return {"class_name": "InputLayer",
            "config": {"batch_input_shape": [None, *shape], "dtype": "float32", "sparse": False,
                       "name": name}}


def functional(class_name, name, layers, inputs, outputs) -> dict:
    """A Keras 2 functional config; ``layers`` are (layer_config, [inbound layer names])."""
    out = []
    for cfg, inbound in layers:
        entry = dict(cfg)
        entry["name"] = cfg["config"]["name"]
        entry["inbound_nodes"] = [[[n, 0, 0, {}] for n in inbound]] if inbound else []
        out.append(entry)
    return {"class_name": class_name,
            "config": {"name": name, "layers": out,
                       "input_layers": [[n, 0, 0] for n in inputs],
                       "output_layers": [[n, 0, 0] for n in outputs]}}


# ----------------------------------------------------------------------------- file writing


def _attr_strings(values: list[str]) -> np.ndarray:
    return np.array([v.encode("utf8") for v in values])


def write_weights_group(group: h5py.Group, layers: list[tuple[str, list[tuple[str, np.ndarray]]]],
                        keras_version: str) -> None:
    """``layers``: (layer name, [(weight name such as 'conv2d_1/kernel:0', value)]), in model order."""
    group.attrs["layer_names"] = _attr_strings([name for name, _ in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = keras_version.encode("utf8")
    for name, weights in sorted(layers, key=lambda item: item[0]):
        g = group.create_group(name)
        g.attrs["weight_names"] = _attr_strings([w for w, _ in weights])
        for wname, value in weights:
            g.create_dataset(wname, data=np.asarray(value, dtype=np.float32))


def write_legacy_h5(path: Path, model_config, layers, keras_version: str, *,
                    training_config: dict | None = None) -> None:
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode("utf8")
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        write_weights_group(f.create_group("model_weights"), layers, keras_version)


def legacy_weights(layer, *, name_style: str = "keras2", prefix: str | None = None):
    """A Keras 3 layer's weights named as Keras 2 wrote them (trainable first, as Keras 2 did)."""
    out = []
    for var in layer.trainable_weights + layer.non_trainable_weights:
        value = np.asarray(var.numpy())
        owner = prefix or layer.name
        if name_style == "keras1":
            out.append((f"{owner}_{ {'kernel': 'W', 'bias': 'b'}[var.name] }", value))
        else:
            out.append((f"{owner}/{var.name}:0", value))
    return out


def nested_weights(model):
    """A sub-model's weights as Keras 2 stored them: inner layers' names, trainable first."""
    trainable, frozen = [], []
    for layer in model.layers:
        for var in layer.trainable_weights:
            trainable.append((f"{layer.name}/{var.name}:0", np.asarray(var.numpy())))
        for var in layer.non_trainable_weights:
            frozen.append((f"{layer.name}/{var.name}:0", np.asarray(var.numpy())))
    return trainable + frozen


def randomize(model, seed: int) -> None:
    """Give every weight (batch-norm statistics too) distinct values so a wrong load shows."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        shape = tuple(var.shape)
        if "moving_variance" in var.path:
            var.assign(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            var.assign(rng.normal(0, 0.3, shape).astype("float32"))


def save_expected(path: Path, model, x: np.ndarray) -> None:
    y = model.predict_on_batch(x[None])
    np.savez_compressed(path.with_suffix(".expected.npz"), x=x, y=np.asarray(y)[0])


def sample_input(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, shape).astype("float32")


# ----------------------------------------------------------------------------- the fixtures


def keras208_sequential_list(keras) -> None:
    """Keras 2.0.8: the Sequential config is a bare list of layers; ``batch_input_shape``."""
    L = keras.layers
    m = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu", name="conv2d_1"),
                          L.MaxPooling2D(2, name="max_pooling2d_1"),
                          L.Conv2D(8, 3, activation="relu", name="conv2d_2"),
                          L.Flatten(name="flatten_1"), L.Dense(10, activation="softmax", name="dense_1")])
    randomize(m, 1)
    first = conv2d("conv2d_1", 8, 3, batch_input_shape=[None, 28, 28, 1], dtype="float32")
    config = {"class_name": "Sequential",
              "config": [first, maxpool("max_pooling2d_1"), conv2d("conv2d_2", 8, 3),
                         simple("Flatten", "flatten_1"), dense("dense_1", 10, "softmax")]}
    layers = [(layer.name, legacy_weights(layer)) for layer in m.layers]
    path = OUT / "keras208_sequential_list.h5"
    training = {"optimizer_config": {"class_name": "Adadelta", "config": {"lr": 1.0, "rho": 0.95}},
                "loss": "categorical_crossentropy", "metrics": ["accuracy"]}
    write_legacy_h5(path, config, layers, "2.0.8", training_config=training)
    save_expected(path, m, sample_input((28, 28, 1), 1))


def keras224_sequential_dict(keras) -> None:
    """Keras 2.2.4: Sequential as {name, layers}; batch norm, dropout, a separate Activation."""
    L = keras.layers
    m = keras.Sequential([keras.Input((16, 16, 3)), L.Conv2D(6, 3, padding="same", name="conv2d_1"),
                          L.BatchNormalization(name="batch_normalization_1"),
                          L.Activation("relu", name="activation_1"), L.MaxPooling2D(2, name="max_pooling2d_1"),
                          L.Dropout(0.25, name="dropout_1"), L.Flatten(name="flatten_1"),
                          L.Dense(4, activation="softmax", name="dense_1")])
    randomize(m, 2)
    config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
        conv2d("conv2d_1", 6, 3, activation="linear", padding="same",
               batch_input_shape=[None, 16, 16, 3], dtype="float32"),
        batchnorm("batch_normalization_1"), simple("Activation", "activation_1", activation="relu"),
        maxpool("max_pooling2d_1"), simple("Dropout", "dropout_1", rate=0.25, noise_shape=None, seed=None),
        simple("Flatten", "flatten_1", data_format="channels_last"), dense("dense_1", 4, "softmax")]}}
    layers = [(layer.name, legacy_weights(layer)) for layer in m.layers]
    path = OUT / "keras224_sequential_dict.h5"
    write_legacy_h5(path, config, layers, "2.2.4")
    save_expected(path, m, sample_input((16, 16, 3), 2))


def tfkeras113_dtype_init(keras) -> None:
    """tf.keras of TF 1.13: a functional ``Model`` whose initializers carry ``dtype``."""
    L = keras.layers
    inp = keras.Input((12, 12, 1), name="input_1")
    x = L.Conv2D(4, 3, activation="relu", name="conv2d")(inp)
    x = L.BatchNormalization(name="batch_normalization")(x)
    x = L.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    out = L.Dense(3, activation="softmax", name="dense")(x)
    m = keras.Model(inp, out)
    randomize(m, 3)
    config = functional("Model", "model", [
        (input_layer("input_1", (12, 12, 1)), []),
        (conv2d("conv2d", 4, 3, init=GLOROT_TF113, bias_init=zeros(True), dtype="float32"), ["input_1"]),
        (batchnorm("batch_normalization", dtype_init=True, axis=[3]), ["conv2d"]),
        (simple("GlobalAveragePooling2D", "global_average_pooling2d", data_format="channels_last"),
         ["batch_normalization"]),
        (dense("dense", 3, "softmax", init=GLOROT_TF113, bias_init=zeros(True)), ["global_average_pooling2d"]),
    ], ["input_1"], ["dense"])
    layers = [(layer.name, legacy_weights(layer)) for layer in m.layers]
    path = OUT / "tfkeras113_dtype_init.h5"
    write_legacy_h5(path, config, layers, "2.2.4-tf")
    save_expected(path, m, sample_input((12, 12, 1), 3))


def tfkeras24_groups(keras) -> None:
    """tf.keras 2.4 (MobileNet-like): ``groups`` on depthwise, separable and transposed convs."""
    L = keras.layers
    inp = keras.Input((16, 16, 3), name="input_1")
    x = L.Conv2D(8, 3, strides=2, padding="same", name="conv1")(inp)
    x = L.BatchNormalization(name="conv1_bn")(x)
    x = L.ReLU(6.0, name="conv1_relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name="conv_dw_1")(x)
    x = L.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep_1")(x)
    x = L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", name="up_1")(x)
    x = L.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    out = L.Dense(5, activation="softmax", name="predictions")(x)
    m = keras.Model(inp, out, name="mobilenet_like")
    randomize(m, 4)
    relu = simple("ReLU", "conv1_relu", max_value=6.0, negative_slope=0.0, threshold=0.0)
    config = functional("Functional", "mobilenet_like", [
        (input_layer("input_1", (16, 16, 3)), []),
        (conv2d("conv1", 8, 3, init=GLOROT_TF2, activation="linear", padding="same", strides=2,
                groups=True), ["input_1"]),
        (batchnorm("conv1_bn"), ["conv1"]), (relu, ["conv1_bn"]),
        (depthwise("conv_dw_1", 3), ["conv1_relu"]),
        (separable("sep_1", 8, 3), ["conv_dw_1"]),
        (conv_transpose("up_1", 4, 3, 2), ["sep_1"]),
        (simple("GlobalAveragePooling2D", "global_average_pooling2d", data_format="channels_last"), ["up_1"]),
        (dense("predictions", 5, "softmax", init=GLOROT_TF2), ["global_average_pooling2d"]),
    ], ["input_1"], ["predictions"])
    layers = [(layer.name, legacy_weights(layer)) for layer in m.layers]
    path = OUT / "tfkeras24_groups.h5"
    write_legacy_h5(path, config, layers, "2.4.0")
    save_expected(path, m, sample_input((16, 16, 3), 4))


def tfkeras26_nested(keras) -> None:
    """tf.keras 2.6: a Sequential wrapping a functional base model (transfer-learning style)."""
    L = keras.layers
    inp = keras.Input((16, 16, 3), name="input_1")
    x = L.Conv2D(6, 3, padding="same", name="block1_conv")(inp)
    x = L.BatchNormalization(name="block1_bn")(x)
    x = L.ReLU(name="block1_relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="block2_dw")(x)
    base = keras.Model(inp, x, name="base")
    m = keras.Sequential([keras.Input((16, 16, 3)), base,
                          L.GlobalAveragePooling2D(name="global_average_pooling2d"),
                          L.Dense(3, activation="softmax", name="dense")], name="sequential")
    randomize(m, 5)
    base_cfg = functional("Functional", "base", [
        (input_layer("input_1", (16, 16, 3)), []),
        (conv2d("block1_conv", 6, 3, init=GLOROT_TF2, activation="linear", padding="same", groups=True),
         ["input_1"]),
        (batchnorm("block1_bn"), ["block1_conv"]),
        (simple("ReLU", "block1_relu", max_value=None, negative_slope=0.0, threshold=0.0), ["block1_bn"]),
        (depthwise("block2_dw", 3, strides=2), ["block1_relu"]),
    ], ["input_1"], ["block2_dw"])
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        input_layer("input_2", (16, 16, 3)), base_cfg,
        simple("GlobalAveragePooling2D", "global_average_pooling2d", data_format="channels_last"),
        dense("dense", 3, "softmax", init=GLOROT_TF2)]}}
    layers = [("base", nested_weights(base)),
              ("global_average_pooling2d", []),
              ("dense", legacy_weights(m.layers[-1]))]
    path = OUT / "tfkeras26_nested.h5"
    write_legacy_h5(path, config, layers, "2.6.0")
    save_expected(path, m, sample_input((16, 16, 3), 5))


def tfkeras_lstm_time_major(keras) -> None:
    """A sequence model (not an image model) whose LSTM config has ``time_major``."""
    L = keras.layers
    m = keras.Sequential([keras.Input((10, 4)), L.LSTM(6, name="lstm"), L.Dense(2, name="dense")])
    randomize(m, 6)
    lstm = {"class_name": "LSTM", "config": {
        "name": "lstm", "trainable": True, "batch_input_shape": [None, 10, 4], "dtype": "float32",
        "return_sequences": False, "return_state": False, "go_backwards": False, "stateful": False,
        "unroll": False, "time_major": False, "units": 6, "activation": "tanh",
        "recurrent_activation": "sigmoid", "use_bias": True, "kernel_initializer": GLOROT_TF2,
        "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
        "bias_initializer": zeros(), "unit_forget_bias": True, "kernel_regularizer": None,
        "recurrent_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "recurrent_constraint": None, "bias_constraint": None,
        "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 2}}
    config = {"class_name": "Sequential", "config": {"name": "sequential",
                                                      "layers": [lstm, dense("dense", 2, init=GLOROT_TF2)]}}
    cell_names = ["lstm/lstm_cell/kernel:0", "lstm/lstm_cell/recurrent_kernel:0", "lstm/lstm_cell/bias:0"]
    lstm_values = [np.asarray(v.numpy()) for v in m.layers[0].trainable_weights]
    layers = [("lstm", list(zip(cell_names, lstm_values))), ("dense", legacy_weights(m.layers[1]))]
    path = OUT / "tfkeras_lstm_time_major.h5"
    write_legacy_h5(path, config, layers, "2.4.0")
    save_expected(path, m, sample_input((10, 4), 6))


def tfkeras210_embedding(keras) -> None:
    """tf.keras 2.10: a text classifier whose ``Embedding`` has ``input_length`` (removed in
    Keras 3) and whose first layer is an explicit ``InputLayer``, as Sequential wrote it then.

    The expected output is computed with numpy from the stored weights (embedding lookup, a
    valid Conv1D, ReLU, Flatten, softmax Dense), independently of how Keras builds the model.
    """
    L = keras.layers
    m = keras.Sequential([keras.Input((10,)), L.Embedding(50, 8, name="embedding"),
                          L.Conv1D(6, 3, activation="relu", name="conv1d"),
                          L.Flatten(name="flatten"), L.Dense(3, activation="softmax", name="dense")])
    randomize(m, 12)
    embedding = {"class_name": "Embedding", "config": {
        "name": "embedding", "trainable": True, "batch_input_shape": [None, 10], "dtype": "float32",
        "input_dim": 50, "output_dim": 8,
        "embeddings_initializer": {"class_name": "RandomUniform",
                                   "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
        "embeddings_regularizer": None, "activity_regularizer": None, "embeddings_constraint": None,
        "mask_zero": False, "input_length": 10}}
    conv1d = {"class_name": "Conv1D", "config": {
        "name": "conv1d", "trainable": True, "dtype": "float32", "filters": 6, "kernel_size": [3],
        "strides": [1], "padding": "valid", "data_format": "channels_last", "dilation_rate": [1],
        "groups": 1, "activation": "relu", "use_bias": True, "kernel_initializer": GLOROT_TF2,
        "bias_initializer": zeros(), **_regs("kernel", "bias")}}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 10], "dtype": "float32",
                                                "sparse": False, "ragged": False,
                                                "name": "embedding_input"}},
        embedding, conv1d, simple("Flatten", "flatten", dtype="float32", data_format="channels_last"),
        dense("dense", 3, "softmax", init=GLOROT_TF2)]}}
    layers = [(layer.name, legacy_weights(layer)) for layer in m.layers]
    path = OUT / "tfkeras210_embedding.h5"
    write_legacy_h5(path, config, layers, "2.10.0")

    x = np.random.default_rng(12).integers(0, 50, (10,)).astype("float32")
    table = m.layers[0].embeddings.numpy()
    kernel, bias = (v.numpy() for v in m.layers[1].weights)
    wd, bd = (v.numpy() for v in m.layers[3].weights)
    e = table[x.astype(int)]  # (10, 8)
    windows = np.stack([e[i:i + 3] for i in range(10 - 2)])  # (8, 3, 8)
    h = np.maximum(np.einsum("tkc,kcf->tf", windows.astype("float64"), kernel) + bias, 0.0)
    logits = h.reshape(-1) @ wd + bd
    y = np.exp(logits - logits.max())
    y = (y / y.sum()).astype("float32")
    np.testing.assert_allclose(m.predict_on_batch(x[None])[0], y, rtol=1e-5, atol=1e-6)
    np.savez_compressed(path.with_suffix(".expected.npz"), x=x, y=y)


def keras1_sequential(keras) -> None:
    """Keras 1.2 (TensorFlow dim ordering): Convolution2D/nb_filter/border_mode, W/b weights."""
    L = keras.layers
    m = keras.Sequential([keras.Input((12, 12, 1)),
                          L.Conv2D(4, 3, activation="relu", name="convolution2d_1"),
                          L.MaxPooling2D(2, name="maxpooling2d_1"), L.Flatten(name="flatten_1"),
                          L.Dense(3, activation="softmax", name="dense_1")])
    randomize(m, 7)
    config = {"class_name": "Sequential", "config": [
        {"class_name": "Convolution2D", "config": {
            "name": "convolution2d_1", "nb_filter": 4, "nb_row": 3, "nb_col": 3, "init": "glorot_uniform",
            "activation": "relu", "border_mode": "valid", "subsample": [1, 1], "dim_ordering": "tf",
            "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
            "W_constraint": None, "b_constraint": None, "bias": True,
            "batch_input_shape": [None, 12, 12, 1], "input_dtype": "float32", "trainable": True}},
        {"class_name": "MaxPooling2D", "config": {"name": "maxpooling2d_1", "trainable": True,
                                                  "pool_size": [2, 2], "strides": [2, 2],
                                                  "border_mode": "valid", "dim_ordering": "tf"}},
        {"class_name": "Flatten", "config": {"name": "flatten_1", "trainable": True}},
        {"class_name": "Dense", "config": {"name": "dense_1", "output_dim": 3, "input_dim": None,
                                           "init": "glorot_uniform", "activation": "softmax",
                                           "W_regularizer": None, "b_regularizer": None,
                                           "activity_regularizer": None, "W_constraint": None,
                                           "b_constraint": None, "bias": True, "trainable": True}}]}
    layers = [(layer.name, legacy_weights(layer, name_style="keras1")) for layer in m.layers]
    path = OUT / "keras1_sequential.h5"
    with h5py.File(path, "w") as f:  # Keras 1 wrote no keras_version at the root
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        g = f.create_group("model_weights")
        write_weights_group(g, layers, "1.2.2")
        del g.attrs["keras_version"]
    save_expected(path, m, sample_input((12, 12, 1), 7))


def weights_only(keras) -> None:
    """What ``model.save_weights('w.h5')`` wrote in Keras 2: layer groups at the root, no config."""
    L = keras.layers
    m = keras.Sequential([keras.Input((10, 10, 1)), L.Conv2D(4, 3, name="conv2d_1"),
                          L.Flatten(name="flatten_1"), L.Dense(2, name="dense_1")])
    randomize(m, 8)
    with h5py.File(OUT / "weights_only.h5", "w") as f:
        write_weights_group(f, [(layer.name, legacy_weights(layer)) for layer in m.layers], "2.2.4")


def custom_layer(keras) -> None:
    """A functional model with a custom layer class this app cannot know."""
    L = keras.layers
    m = keras.Sequential([keras.Input((10, 10, 1)), L.Conv2D(3, 3, name="conv2d"),
                          L.Flatten(name="flatten"), L.Dense(2, name="dense")])
    randomize(m, 9)
    config = functional("Functional", "model", [
        (input_layer("input_1", (10, 10, 1)), []),
        (conv2d("conv2d", 3, 3, init=GLOROT_TF2, activation="linear", groups=True), ["input_1"]),
        ({"class_name": "AttentionPooling", "config": {"name": "attention_pooling", "trainable": True,
                                                      "heads": 2}}, ["conv2d"]),
        (dense("dense", 2, init=GLOROT_TF2), ["attention_pooling"]),
    ], ["input_1"], ["dense"])
    layers = [("conv2d", legacy_weights(m.layers[0])),
              ("attention_pooling", [("attention_pooling/query:0", np.ones((3, 2), "float32"))]),
              ("dense", legacy_weights(m.layers[2]))]
    write_legacy_h5(OUT / "custom_layer.h5", config, layers, "2.8.0")


def keras3_files(keras) -> None:
    """Files saved by Keras 3 itself: a functional CNN as .keras and as .h5."""
    L = keras.layers
    inp = keras.Input((20, 20, 1), name="image")
    x = L.Conv2D(4, 3, activation="relu", name="conv_a")(inp)
    x = L.MaxPooling2D(2, name="pool_a")(x)
    x = L.Conv2D(6, 3, activation="relu", name="conv_b")(x)
    x = L.Flatten(name="flatten")(x)
    out = L.Dense(3, activation="softmax", name="probs")(x)
    m = keras.Model(inp, out, name="keras3_cnn")
    randomize(m, 10)
    for suffix in (".keras", ".h5"):
        path = OUT / f"keras3_cnn{suffix}"
        m.save(path)
    save_expected(OUT / "keras3_cnn.keras", m, sample_input((20, 20, 1), 10))

    a = keras.Input((8, 8, 1), name="left")
    b = keras.Input((8, 8, 1), name="right")
    conv = L.Conv2D(2, 3, name="shared_conv")
    merged = L.Concatenate(name="concat")([L.Flatten(name="fa")(conv(a)), L.Flatten(name="fb")(conv(b))])
    two = keras.Model([a, b], L.Dense(1, activation="sigmoid", name="same")(merged), name="two_inputs")
    two.save(OUT / "two_inputs.keras")

    d_in = keras.Input((6,), name="features")
    h = L.Dense(8, activation="relu", name="hidden")(d_in)
    dense_only = keras.Model(d_in, L.Dense(2, activation="softmax", name="out")(h), name="tabular")
    dense_only.save(OUT / "dense_only.keras")


def broken_files() -> None:
    """A truncated Keras file, an HDF5 that is not a Keras model and one with an external link."""
    data = (OUT / "keras224_sequential_dict.h5").read_bytes()
    (OUT / "truncated.h5").write_bytes(data[: len(data) // 2])
    with h5py.File(OUT / "not_keras.h5", "w") as f:
        f.create_dataset("images", data=np.zeros((4, 8, 8), "uint8"))
        f.attrs["title"] = b"microscopy stack"
    src = OUT / "keras208_sequential_list.h5"
    with h5py.File(src, "r") as s, h5py.File(OUT / "external_link.h5", "w") as f:
        for key, value in s.attrs.items():
            f.attrs[key] = value
        s.copy("model_weights", f)
        f["model_weights/conv2d_1/conv2d_1"]["secret"] = h5py.ExternalLink("/etc/cnnviz-secret.h5", "/data")


# ----------------------------------------------------------------------------- Lambda files


def marker_lambda_code(marker_env: str = "CNNVIZ_LAMBDA_MARKER") -> str:
    """Base64 marshal of a function that writes a file named by an environment variable.

    This is how Keras 2 stored a Lambda's Python function (``func_dump``); loading the layer
    runs it, so the marker file shows whether code from the file was executed.
    """
    def lambda_body(x):
        import os

        path = os.environ.get("CNNVIZ_LAMBDA_MARKER")
        if path:
            with open(path, "w") as handle:
                handle.write("code from the model file ran")
        return x

    code = lambda_body.__code__
    if marker_env != "CNNVIZ_LAMBDA_MARKER":
        code = code.replace(co_consts=tuple(marker_env if c == "CNNVIZ_LAMBDA_MARKER" else c
                                            for c in code.co_consts))
    return base64.b64encode(marshal.dumps(code)).decode("ascii")


def foreign_lambda_code() -> str:
    """Base64 of code bytes this Python cannot read, as a Lambda saved by another Python's
    ``marshal`` format looks here: the stream ends where this Python expects more (``marshal``
    raises "EOF read where object expected")."""
    raw = marshal.dumps((lambda x: x * 2).__code__)
    return base64.b64encode(raw[: len(raw) // 3]).decode("ascii")


def foreign_lambda(keras) -> None:
    """A Keras 2.2.4 file whose Lambda's code was written by another Python (unreadable here)."""
    write_lambda_h5(OUT / "lambda_foreign_python.h5", code=foreign_lambda_code())


def image_to_image(keras) -> None:
    """An image-to-image model (32×32 RGB in, a 32×32 map out): no classes, no Grad-CAM."""
    L = keras.layers
    inp = keras.Input((32, 32, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="features")(inp)
    out = L.Conv2D(1, 1, activation="sigmoid", name="mask")(x)
    m = keras.Model(inp, out, name="image_to_image")
    randomize(m, 12)
    m.save(OUT / "image_to_image.keras")


def write_lambda_h5(path: Path, code: str | None = None) -> None:
    """A Keras 2.2.4 Sequential whose middle layer is a ``Lambda`` with marshalled bytecode
    (``code``: its base64 text; the marker-writing function by default)."""
    rng = np.random.default_rng(11)
    config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
        conv2d("conv2d_1", 2, 3, batch_input_shape=[None, 8, 8, 1], dtype="float32"),
        simple("Lambda", "lambda_1", function=[code or marker_lambda_code(), None, None], function_type="lambda",
               module="__main__", output_shape=None, output_shape_type="raw", output_shape_module=None,
               arguments={}),
        simple("Flatten", "flatten_1"), dense("dense_1", 2)]}}
    layers = [("conv2d_1", [("conv2d_1/kernel:0", rng.normal(size=(3, 3, 1, 2))),
                            ("conv2d_1/bias:0", np.zeros(2))]),
              ("lambda_1", []), ("flatten_1", []),
              ("dense_1", [("dense_1/kernel:0", rng.normal(size=(72, 2))), ("dense_1/bias:0", np.zeros(2))])]
    write_legacy_h5(path, config, layers, "2.2.4")


MAKERS = (keras208_sequential_list, keras224_sequential_dict, tfkeras113_dtype_init,
          tfkeras24_groups, tfkeras26_nested, tfkeras_lstm_time_major, tfkeras210_embedding,
          keras1_sequential, weights_only, custom_layer, keras3_files, foreign_lambda, image_to_image)


def main(names: list[str]) -> None:
    """Write every fixture, or only those whose maker is named (``tfkeras210_embedding``)."""
    from cnnviz.ml.backend import keras as get_keras

    keras = get_keras()
    keras.utils.set_random_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    chosen = [make for make in MAKERS if not names or make.__name__ in names]
    unknown = set(names) - {make.__name__ for make in MAKERS}
    if unknown:
        raise SystemExit(f"unknown fixture(s): {', '.join(sorted(unknown))}")
    for make in chosen:
        make(keras)
    if not names:
        broken_files()
        write_lambda_h5(OUT / "lambda_layer.h5")
    for p in sorted(OUT.iterdir()):
        print(f"{p.stat().st_size:>8}  {p.name}")


if __name__ == "__main__":
    main(sys.argv[1:])
