"""Class names found beside or inside a model file (read as data, never run)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from cnnviz.ml import modelio
from cnnviz.ml.modelio import load_model, parse_class_names, stored_class_names


def test_parse_plain_and_teachable_machine_lists():
    assert parse_class_names("cat\n\ndog\n  bird  \n") == ["cat", "dog", "bird"]
    assert parse_class_names("0 Class 1\n1 Class 2\n\n2 Background\n") == ["Class 1", "Class 2", "Background"]
    assert parse_class_names("1: dog\n0: cat\n") == ["cat", "dog"]  # in the order of the indices
    # an index is stripped only when every line has one
    assert parse_class_names("7 Eleven\nShell\n") == ["7 Eleven", "Shell"]
    assert parse_class_names("\ufeff0 a\r\n1 b\r\n") == ["a", "b"]
    assert parse_class_names("\n \n") == []


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("models")
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    model.save(folder / "tiny.keras")
    model.save(folder / "tiny.h5")
    return folder


def _copy(tiny, tmp_path, name):
    import shutil

    dst = tmp_path / name
    shutil.copy(tiny / name, dst)
    return dst


def test_labels_txt_in_the_model_folder(tiny, tmp_path):
    path = _copy(tiny, tmp_path, "tiny.keras")
    assert load_model(path).labels is None
    (tmp_path / "labels.txt").write_text("0 Class 1\n1 Class 2\n2 Class 3\n", encoding="utf8")
    assert load_model(path).labels == ["Class 1", "Class 2", "Class 3"]
    # a file named for the model wins over the folder's labels.txt
    (tmp_path / "tiny.labels.txt").write_text("a\nb\nc\n", encoding="utf8")
    assert load_model(path).labels == ["a", "b", "c"]


def test_class_names_stored_in_a_keras_archive(tiny, tmp_path):
    path = _copy(tiny, tmp_path, "tiny.keras")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["metadata.json"])
    meta["class_names"] = ["plane", "car", "bird"]
    members["metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    assert stored_class_names(path) == ["plane", "car", "bird"]
    (tmp_path / "labels.txt").write_text("x\ny\nz\n", encoding="utf8")
    assert load_model(path).labels == ["plane", "car", "bird"]  # the file's own names first


def test_class_names_stored_in_an_h5_attribute(tiny, tmp_path):
    import h5py

    path = _copy(tiny, tmp_path, "tiny.h5")
    assert stored_class_names(path) is None
    with h5py.File(path, "r+") as f:
        f.attrs["class_names"] = np.array([b"zero", b"one", b"two"])
    assert stored_class_names(path) == ["zero", "one", "two"]
    assert load_model(path).labels == ["zero", "one", "two"]
    with h5py.File(path, "r+") as f:
        f.attrs["class_names"] = json.dumps(["a", "b", "c"])
    assert load_model(path).labels == ["a", "b", "c"]


def test_damaged_files_give_no_names(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert stored_class_names(bad) is None
    huge = tmp_path / "labels.txt"
    huge.write_bytes(b"a\n" * (modelio.MAX_LABELS_BYTES // 2 + 1))
    assert modelio._read_labels(tmp_path / "m.keras") is None
