"""Opening model files: legacy Keras 1/2 layouts, Keras 3 files, and every bad file the
activations pane must survive (each refused or explained, none executing code)."""

from __future__ import annotations

import importlib.util
import io
import os
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from model_files import legacy_h5_copy

from cnnviz.ml import modelio
from cnnviz.ml.modelio import ModelLoadError, UnsafeModelError, load_model

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "models"


@pytest.fixture(scope="module")
def keras():
    from cnnviz.ml.backend import keras as get_keras

    return get_keras()


@pytest.fixture(scope="module")
def maker():
    """The fixture-writing script, to craft Lambda files with this Python's bytecode."""
    spec = importlib.util.spec_from_file_location("make_model_fixtures", ROOT / "tools" / "make_model_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------------------- legacy files load

LEGACY = {
    # file: (phrases the notes must contain)
    "keras1_sequential.h5": ["bare list", "Keras 1 arguments of 3 layers"],
    "keras208_sequential_list.h5": ["bare list", "batch_input_shape"],
    "keras224_sequential_dict.h5": ["batch_input_shape"],
    "tfkeras113_dtype_init.h5": ["'dtype' from the initializers of 3 layers"],
    "tfkeras24_groups.h5": ["dropped 'groups' from 3 layers"],
    "tfkeras26_nested.h5": ["dropped 'groups' from 1 layer"],
    "tfkeras_lstm_time_major.h5": ["dropped 'time_major' from 1 layer"],
    "tfkeras210_embedding.h5": ["dropped 'input_length' from 1 layer"],
    "keras3_cnn.h5": [],
    "keras3_cnn.keras": [],
}


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_each_kind_of_file_loads_with_its_weights(name, keras):
    loaded = load_model(FIX / name)
    assert loaded.ok, loaded.notes
    text = " | ".join(loaded.notes)
    for phrase in LEGACY[name]:
        assert phrase in text
    expected = np.load(FIX / (Path(name).stem + ".expected.npz"))
    y = loaded.model.predict_on_batch(expected["x"][None])[0]
    np.testing.assert_allclose(y, expected["y"], rtol=1e-5, atol=1e-6)
    assert loaded.summary and all(row.name for row in loaded.summary)
    assert loaded.format == ("keras" if name.endswith(".keras") else "h5" if name.startswith("keras3") else "h5-legacy")


@pytest.mark.parametrize("name", ["keras208_sequential_list.h5", "keras224_sequential_dict.h5",
                                  "tfkeras24_groups.h5", "tfkeras26_nested.h5"])
def test_keras_alone_refuses_these_files(name, keras):
    """The fixtures reproduce real incompatibilities: Keras 3's own loader fails on them."""
    with pytest.raises(Exception):
        keras.saving.load_model(FIX / name, compile=False)


def _predict_like(expected_name: str, loaded) -> None:
    expected = np.load(FIX / expected_name)
    y = loaded.model.predict_on_batch(expected["x"][None])[0]
    np.testing.assert_allclose(y, expected["y"], rtol=1e-5, atol=1e-6)


def test_embedding_with_input_length_is_built_by_translation_as_keras_alone_opens_it(keras):
    """A tf.keras 2.10 Embedding's ``output_dim`` must not be read as Keras 1's (Dense units),
    and its ``input_length`` is dropped; Keras alone opens this file, so cnnviz must build it."""
    keras.saving.load_model(FIX / "tfkeras210_embedding.h5", safe_mode=True, compile=False)
    loaded = load_model(FIX / "tfkeras210_embedding.h5")
    assert loaded.ok, loaded.notes
    text = " | ".join(loaded.notes)
    assert "Keras 1" not in text and "Keras' own loader" not in text
    assert [row.class_name for row in loaded.summary] == ["Embedding", "Conv1D", "Flatten", "Dense"]
    _predict_like("tfkeras210_embedding.expected.npz", loaded)


GLOROT_DTYPE = {"class_name": "GlorotUniform", "config": {"seed": None, "dtype": "float32"}}


def _embedding_without_input_layer(config):
    """Keras 2.2 wrote no InputLayer: the first layer carried batch_input_shape."""
    del config["config"]["layers"][0]


def _embedding_with_input_length_only(config):
    _embedding_without_input_layer(config)
    del config["config"]["layers"][0]["config"]["batch_input_shape"]


def _embedding_keras1(config):
    """Keras 1.2: a bare list, W_regularizer/init/dropout on the Embedding, input_dtype."""
    _embedding_without_input_layer(config)
    emb = config["config"]["layers"][0]["config"]
    for key in ("embeddings_initializer", "embeddings_regularizer", "embeddings_constraint", "dtype"):
        del emb[key]
    emb.update(init="uniform", W_regularizer=None, W_constraint=None, dropout=0.1, input_dtype="int32")
    config["config"] = config["config"]["layers"]


@pytest.mark.parametrize("edit, phrases", [
    (_embedding_without_input_layer, ["moved batch_input_shape", "dropped 'input_length'"]),
    (_embedding_with_input_length_only, ["moved batch_input_shape", "dropped 'input_length'"]),
    (_embedding_keras1, ["bare list", "Keras 1 arguments of 1 layer", "training-only 'dropout'"]),
])
def test_embedding_first_layer_in_older_layouts(tmp_path, edit, phrases):
    """As the first layer, an Embedding's input_dim (its vocabulary) is no input shape."""
    loaded = load_model(_with_config(tmp_path, "tfkeras210_embedding.h5", edit))
    assert loaded.ok, loaded.notes
    text = " | ".join(loaded.notes)
    assert all(phrase in text for phrase in phrases), text
    assert tuple(loaded.model.inputs[0].shape) == (None, 10)
    assert loaded.model.get_layer("embedding").input_dim == 50
    _predict_like("tfkeras210_embedding.expected.npz", loaded)


def test_keras_own_loader_is_the_fallback_when_translation_fails(monkeypatch):
    def fail(*args, **kwargs):
        raise ValueError("translation broke")

    monkeypatch.setattr(modelio, "_from_config", fail)
    loaded = load_model(FIX / "tfkeras210_embedding.h5")
    assert loaded.ok and loaded.format == "h5-legacy"
    assert loaded.notes == ["Opened by Keras' own loader: cnnviz's translation of the config could "
                            "not build it (The model could not be built from its config: translation broke)."]
    _predict_like("tfkeras210_embedding.expected.npz", loaded)
    # A file Keras cannot open either still shows its weights with cnnviz's own reason.
    loaded = load_model(FIX / "keras224_sequential_dict.h5")
    assert not loaded.ok and loaded.notes[-1].endswith("translation broke")
    # The safety checks come first: code is refused, never handed to Keras.
    with pytest.raises(UnsafeModelError):
        load_model(FIX / "lambda_layer.h5")


def test_layers_inside_wrappers_are_translated():
    inner = {"class_name": "DepthwiseConv2D", "config": {"name": "dw", "kernel_size": [3, 3], "groups": 1,
                                                         "depthwise_initializer": GLOROT_DTYPE}}
    for wrapper in ("TimeDistributed", "Bidirectional"):
        entry = {"class_name": wrapper, "config": {"name": "wrap", "layer": inner, "backward_layer": inner}}
        out = modelio._Translator().layer(entry)["config"]
        for key in ("layer", "backward_layer"):
            assert "groups" not in out[key]["config"]
            assert out[key]["config"]["depthwise_initializer"]["config"] == {"seed": None}


def _random_inputs(model, seed: int) -> list[np.ndarray]:
    """A fixed random batch of one for every input; token ids when the model embeds its input."""
    rng = np.random.default_rng(seed)
    vocab = min((l.input_dim for l in model.layers if type(l).__name__ == "Embedding"), default=None)
    out = []
    for tensor in model.inputs:
        shape = (1, *tensor.shape[1:])
        x = rng.integers(0, vocab, shape) if vocab else rng.uniform(0, 1, shape)
        out.append(x.astype("float32"))
    return out


@pytest.mark.parametrize("name", sorted(p.name for p in FIX.iterdir() if p.suffix in (".h5", ".keras")))
def test_every_file_keras_opens_is_built_alike(name, keras):
    """Whatever ``keras.saving.load_model`` opens in safe mode, cnnviz builds with the same output."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = keras.saving.load_model(FIX / name, safe_mode=True, compile=False)
    except Exception:
        return  # Keras alone cannot open it; the other tests say what cnnviz does with it.
    loaded = load_model(FIX / name)
    assert loaded.ok, loaded.notes
    xs = _random_inputs(reference, seed=len(name))
    xs = xs if len(xs) > 1 else xs[0]
    expected = np.asarray(reference.predict_on_batch(xs))
    np.testing.assert_allclose(np.asarray(loaded.model.predict_on_batch(xs)), expected, rtol=0, atol=1e-5)


def test_version_and_nested_summary_are_reported():
    loaded = load_model(FIX / "tfkeras26_nested.h5")
    assert loaded.keras_version == "2.6.0"
    names = [row.name for row in loaded.summary]
    assert "base/block1_conv" in names and "dense" in names
    conv = next(row for row in loaded.summary if row.name == "base/block1_conv")
    assert conv.class_name == "Conv2D" and conv.output_shape == (None, 16, 16, 6) and conv.params == 6 * 27 + 6


# ----------------------------------------------------------------------------- code is refused


def test_lambda_h5_is_refused_and_its_code_never_runs(tmp_path, monkeypatch, maker):
    marker = tmp_path / "ran.txt"
    monkeypatch.setenv("CNNVIZ_LAMBDA_MARKER", str(marker))
    path = tmp_path / "with_lambda.h5"
    maker.write_lambda_h5(path)
    with pytest.raises(UnsafeModelError) as info:
        load_model(path)
    message = str(info.value)
    assert "Lambda layer 'lambda_1'" in message and "Trust and open" in message  # the dialog's button
    assert not marker.exists()
    # The bytecode is live: trusting the file runs it, which proves the refusal prevented it.
    loaded = load_model(path, trust=True)
    assert loaded.ok and loaded.trusted
    assert marker.exists()
    assert any("Trusted file" in n for n in loaded.notes)


def test_lambda_keras_file_is_refused(tmp_path, monkeypatch, keras):
    marker = tmp_path / "ran.txt"

    def touch(x):
        marker.write_text("ran")
        return x

    inp = keras.Input((4, 4, 1))
    out = keras.layers.Lambda(touch, name="sneaky")(keras.layers.Conv2D(1, 3, name="c")(inp))
    path = tmp_path / "lam.keras"
    keras.Model(inp, out).save(path)
    marker.unlink()
    with pytest.raises(UnsafeModelError) as info:
        load_model(path)
    assert "'sneaky'" in str(info.value)
    assert not marker.exists()


def test_committed_lambda_fixture_is_refused():
    with pytest.raises(UnsafeModelError):
        load_model(FIX / "lambda_layer.h5")


# ----------------------------------------------------------------------------- links and shapes


def test_external_link_is_refused_before_it_is_followed(tmp_path):
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as s:
        s["data"] = np.arange(5)
    path = tmp_path / "linked.h5"
    with legacy_h5_copy(path) as f:
        f["model_weights/conv2d_1/conv2d_1/leak"] = h5py.ExternalLink(str(secret), "/data")
    with h5py.File(path, "r") as f:  # h5py itself would read the other file
        assert list(f["model_weights/conv2d_1/conv2d_1/leak"][()]) == [0, 1, 2, 3, 4]
    with pytest.raises(UnsafeModelError, match="external link"):
        load_model(path)
    with pytest.raises(UnsafeModelError, match="external link"):
        load_model(FIX / "external_link.h5")


def test_external_virtual_and_soft_links_and_huge_shapes_are_refused(tmp_path):
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.arange(16, dtype="<f4").tobytes())
    cases = {
        "external dataset": lambda f: f.create_dataset("model_weights/x", (16,), "<f4", external=[(str(raw), 0, 64)]),
        "virtual dataset": lambda f: f.create_virtual_dataset(
            "model_weights/v", _layout(raw.with_suffix(".h5"))),
        "soft link": lambda f: f.__setitem__("model_weights/alias", h5py.SoftLink("/model_weights/conv2d_1")),
        "declares": lambda f: f.create_dataset("model_weights/huge", (2**20, 2**20, 8), "f4", chunks=(1, 64, 8)),
    }
    with h5py.File(raw.with_suffix(".h5"), "w") as other:
        other["d"] = np.zeros(4, "f4")
    for what, make in cases.items():
        path = tmp_path / f"{what.replace(' ', '_')}.h5"
        with legacy_h5_copy(path) as f:
            make(f)
        assert path.stat().st_size < 1_000_000
        with pytest.raises(UnsafeModelError, match=what):
            load_model(path)


def _layout(other: Path):
    layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
    layout[:] = h5py.VirtualSource(str(other), "d", shape=(4,))
    return layout


def test_keras_archive_with_linked_weights_is_refused(tmp_path):
    src = FIX / "keras3_cnn.keras"
    with zipfile.ZipFile(src) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO(entries["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        f["leak"] = h5py.ExternalLink("/etc/passwd.h5", "/x")
    entries["model.weights.h5"] = buf.getvalue()
    path = tmp_path / "linked.keras"
    with zipfile.ZipFile(path, "w") as z:
        for n, data in entries.items():
            z.writestr(n, data)
    with pytest.raises(UnsafeModelError, match="external link"):
        load_model(path)


# ----------------------------------------------------------------------------- bad and odd files


def test_truncated_file_gets_a_plain_message():
    with pytest.raises(ModelLoadError, match=r"damaged or incomplete \(truncated HDF5\)"):
        load_model(FIX / "truncated.h5")


def test_truncated_keras_archive(tmp_path):
    data = (FIX / "keras3_cnn.keras").read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match="damaged or incomplete"):
        load_model(path)


def test_hdf5_that_is_not_a_model():
    with pytest.raises(ModelLoadError, match="not a Keras model: .* no model_config or layer weights"):
        load_model(FIX / "not_keras.h5")


@pytest.mark.parametrize("target, match", [
    ("hf://user/model.keras", "Only local files"),
    ("gs://bucket/model.h5", "Only local files"),
    ("https://example.org/m.h5", "Only local files"),
    ("/no/such/model.h5", "There is no file"),
])
def test_only_local_files(target, match):
    with pytest.raises(ModelLoadError, match=match):
        load_model(target)


def test_folders_empty_and_foreign_files(tmp_path):
    with pytest.raises(ModelLoadError, match="is a folder"):
        load_model(tmp_path)
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        load_model(empty)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelLoadError, match="not a Keras model file"):
        load_model(text)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(ModelLoadError, match="damaged"):
        load_model(garbage)


def test_weights_only_file_shows_weights_and_filters():
    loaded = load_model(FIX / "weights_only.h5")
    assert not loaded.ok and loaded.format == "h5-weights"
    assert "weights only" in loaded.notes[0]
    assert set(loaded.weights) == {"conv2d_1", "dense_1"}
    filters = loaded.filters()
    assert list(filters) == ["conv2d_1"] and filters["conv2d_1"].shape == (3, 3, 1, 4)
    assert [row.name for row in loaded.summary] == ["conv2d_1", "dense_1"]


def test_unknown_custom_layer_is_named_and_contents_shown():
    loaded = load_model(FIX / "custom_layer.h5")
    assert not loaded.ok
    assert "AttentionPooling ('attention_pooling')" in loaded.notes[0]
    assert [row.class_name for row in loaded.summary] == ["InputLayer", "Conv2D", "AttentionPooling", "Dense"]
    assert loaded.filters()["conv2d"].shape == (3, 3, 1, 3)
    with h5py.File(FIX / "custom_layer.h5") as f:
        np.testing.assert_array_equal(loaded.filters()["conv2d"], f["model_weights/conv2d/conv2d/kernel:0"][()])


def test_two_input_and_dense_only_models_load():
    assert load_model(FIX / "two_inputs.keras").ok
    assert load_model(FIX / "dense_only.keras").ok


def test_labels_sidecar(tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes((FIX / "keras3_cnn.keras").read_bytes())
    (tmp_path / "m.labels.json").write_text('["circle", "square", "triangle"]')
    assert load_model(path).labels == ["circle", "square", "triangle"]


def test_demo_models_load_and_predict():
    demos = modelio.demo_models()
    for path in demos:
        loaded = load_model(path)
        assert loaded.ok, (path, loaded.notes)
        if len(loaded.model.inputs) == 1:  # the classifiers name their classes
            assert loaded.labels, path
        else:  # the siamese demo answers with a distance: nothing to name
            assert path.name == "siamese_digits.keras" and len(loaded.model.inputs) == 2
        assert path.stat().st_size < 1_000_000


def _with_config(tmp_path: Path, source: str, edit) -> Path:
    import json
    import shutil

    path = tmp_path / f"edited_{source}"
    shutil.copy(FIX / source, path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        edit(config)
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
    return path


def test_untranslatable_configs_fall_back_with_a_reason(tmp_path):
    def grouped(config):
        config["config"]["layers"][4]["config"]["groups"] = 2  # conv_dw_1

    loaded = load_model(_with_config(tmp_path, "tfkeras24_groups.h5", grouped))
    assert not loaded.ok and "layer 'conv_dw_1' (DepthwiseConv2D) uses groups=2" in " ".join(loaded.notes)
    assert loaded.filters()["conv1"].shape == (3, 3, 3, 8)

    def tf_op(config):
        config["config"]["layers"][2] = {"class_name": "TFOpLambda", "config": {
            "name": "tf.math.multiply", "trainable": True, "function": "math.multiply"}}

    loaded = load_model(_with_config(tmp_path, "keras224_sequential_dict.h5", tf_op))
    assert not loaded.ok and "TFOpLambda: tf.math.multiply" in loaded.notes[0]
    assert [r.class_name for r in loaded.summary][2] == "TFOpLambda"

    def time_major(config):
        config["config"]["layers"][0]["config"]["time_major"] = True

    loaded = load_model(_with_config(tmp_path, "tfkeras_lstm_time_major.h5", time_major))
    assert not loaded.ok and "time-major" in " ".join(loaded.notes)


# ----------------------------------------------------------------------------- what the code is


def test_a_refused_lambda_file_details_its_code_disassembled_and_never_run(tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    monkeypatch.setenv("CNNVIZ_LAMBDA_MARKER", str(marker))
    with pytest.raises(UnsafeModelError) as err:
        load_model(FIX / "lambda_layer.h5")
    assert "load_model(" not in str(err.value) and "Trust and open" in str(err.value)
    (detail,) = err.value.details
    assert detail.layer == "lambda_1" and detail.kind == "Lambda" and detail.readable
    assert "LOAD_CONST" in detail.code and "code from the model file ran" in detail.code
    assert not marker.exists()


def test_a_lambda_saved_by_another_python_is_explained_and_shown_as_weights(tmp_path, monkeypatch):
    path = FIX / "lambda_foreign_python.h5"
    with pytest.raises(UnsafeModelError) as err:
        load_model(path)
    (detail,) = err.value.details
    assert not detail.readable and "cannot be read by this Python" in detail.reason
    assert detail.code and all(c.isalnum() or c in "+/=…" for c in detail.code)  # the raw base64 start
    loaded = load_model(path, trust=True)
    assert loaded.model is None and loaded.trusted
    text = " ".join(loaded.notes)
    assert "saved by" in text and "Keras 2.2.4" in text and "cannot be read by this Python" in text
    assert "weights and filters are shown instead" in text
    assert "EOF read" not in text and "marshal data" not in text
    assert "conv2d_1" in loaded.filters()
