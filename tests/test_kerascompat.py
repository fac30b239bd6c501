"""Each Keras-internals shim in cnnviz.ml.kerascompat works on a tiny real model under the pinned
Keras, and no other module under cnnviz/ reaches into Keras internals.

When a Keras upgrade breaks one of these tests, the shim named in the failure is the one place
to adapt (see the ``keras`` pin in pyproject.toml).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cnnviz.ml import kerascompat

PACKAGE = Path(__file__).resolve().parents[1] / "cnnviz"


@pytest.fixture(scope="module")
def keras():
    from cnnviz.ml.backend import keras as get_keras

    return get_keras()


@pytest.fixture(scope="module")
def nested(keras):
    """A functional model with a Sequential block inside."""
    block = keras.Sequential([keras.layers.Conv2D(2, 3, name="inner_conv"),
                              keras.layers.ReLU(name="inner_relu")], name="block")
    inp = keras.Input((6, 6, 1), name="image")
    x = block(inp)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inp, out, name="nested")


def test_is_functional(keras, nested):
    assert kerascompat.is_functional(nested)
    assert not kerascompat.is_functional(nested.get_layer("block"))  # a Sequential
    assert not kerascompat.is_functional(nested.get_layer("head"))

    class Sub(keras.Model):
        def call(self, x):
            return x

    assert not kerascompat.is_functional(Sub())


def test_run_through_graph_intercepts_each_layer_call(nested):
    seen = []

    def operation_fn(op):
        def call(*args, **kwargs):
            seen.append(op.name)
            return op(*args, **kwargs)

        return call

    x = np.random.default_rng(0).random((2, 6, 6, 1), dtype=np.float32)
    out = kerascompat.run_through_graph(nested, x, operation_fn)
    assert seen == ["block", "pool", "head"]
    np.testing.assert_allclose(np.asarray(out), np.asarray(nested(x)), rtol=1e-5, atol=1e-6)


def test_nested_layers(keras, nested):
    names = [layer.name for layer in kerascompat.nested_layers(nested.get_layer("block"))]
    assert names[-2:] == ["inner_conv", "inner_relu"] and nested.get_layer("block").name not in names
    assert {"inner_conv", "inner_relu", "pool", "head"} <= {
        layer.name for layer in kerascompat.nested_layers(nested)}
    assert kerascompat.nested_layers(nested.get_layer("head")) == []
    assert kerascompat.nested_layers(object()) == []


def test_compile_config_is_the_models_own_dict(keras):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert kerascompat.compile_config(model) is None
    model.compile(optimizer="adam", loss="mse")
    config = kerascompat.compile_config(model)
    assert isinstance(config, dict) and "optimizer" in config
    assert kerascompat.compile_config(model) is config  # the live dict, not a copy


def test_checkpoint_file_path(keras, tmp_path):
    cb = keras.callbacks.ModelCheckpoint(str(tmp_path / "epoch-{epoch:02d}-{loss:.2f}.keras"))
    path = kerascompat.checkpoint_file_path(cb, 2, {"loss": 0.25})
    assert Path(path) == tmp_path / "epoch-03-0.25.keras"


def test_load_legacy_h5(keras, nested, tmp_path):
    import h5py

    p = tmp_path / "nested.h5"
    nested.save(p)
    x = np.random.default_rng(1).random((1, 6, 6, 1), dtype=np.float32)
    with h5py.File(p, "r") as f:
        model = kerascompat.load_legacy_h5(f, safe_mode=True)
    assert [layer.name for layer in model.layers[1:]] == ["block", "pool", "head"]
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(nested(x)), rtol=1e-5, atol=1e-6)


def _keras2_config(extra_layer: dict | None = None) -> dict:
    layers = [{"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 4],
                                                       "dtype": "float32", "sparse": False}},
              {"class_name": "Dense", "config": {"name": "d1", "units": 3, "activation": "relu"}}]
    if extra_layer:
        layers.append(extra_layer)
    return {"class_name": "Sequential", "config": {"name": "k2", "layers": layers}}


def test_model_from_legacy_config(keras):
    model = kerascompat.model_from_legacy_config(_keras2_config(), safe_mode=True)
    assert [layer.name for layer in model.layers] == ["d1"]
    assert model.built and tuple(model(np.zeros((2, 4), np.float32)).shape) == (2, 3)


def test_model_from_legacy_config_honours_safe_mode(keras):
    import base64
    import marshal

    code = base64.b64encode(marshal.dumps((lambda x: x).__code__)).decode()
    lam = {"class_name": "Lambda", "config": {"name": "lam", "function": [code, None, None],
                                              "function_type": "lambda"}}
    with pytest.raises(ValueError, match="(?i)safe"):
        kerascompat.model_from_legacy_config(_keras2_config(lam), safe_mode=True)
    model = kerascompat.model_from_legacy_config(_keras2_config(lam), safe_mode=False)
    assert [layer.name for layer in model.layers] == ["d1", "lam"]


# Private Keras names that only cnnviz/ml/kerascompat.py may use.
_PRIVATE = re.compile(
    r"keras\.src|\b(_run_through_graph|_get_file_path|_flatten_layers|_compile_config|_keras_history"
    r"|_inbound_nodes|_outbound_nodes|_build_shapes_dict|_build_shapes|_layers_by_depth"
    r"|_nodes_by_depth|legacy_h5_format|saving_options|saving_utils|serialization_lib|SafeModeScope)\b"
    # Names a class of cnnviz could own too: only on objects other than self/cls.
    r"|(?<!self)(?<!cls)\.(_layers|_operations|_functional|_tracker)\b"
)


def test_no_other_module_reaches_into_keras_internals():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "kerascompat.py" and path.parent.name == "ml":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _PRIVATE.search(line):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}")
    assert not offenders, "use cnnviz.ml.kerascompat instead:\n" + "\n".join(offenders)
