"""Hostile and broken model files: each is refused or explained with a plain message, never a
traceback from inside Keras/h5py/zipfile, never code run, never a hang or a huge allocation."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from model_files import legacy_h5_copy

from cnnviz.ml.modelio import ModelLoadError, UnsafeModelError, load_model

FIX = Path(__file__).resolve().parent / "fixtures" / "models"


@pytest.fixture(scope="module")
def entries():
    with zipfile.ZipFile(FIX / "keras3_cnn.keras") as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(path: Path, entries: dict, extra=()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for info, data in extra:
            z.writestr(info, data)
    return path


def _first_dataset(f) -> str:
    names = []
    f["model_weights"].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return "model_weights/" + sorted(names)[0]


# ----------------------------------------------------------------------------- .keras archives


def test_zip_bomb_member_is_refused_before_it_is_unpacked(tmp_path, entries):
    path = _zip(tmp_path / "bomb.keras", {k: v for k, v in entries.items() if k != "model.weights.h5"})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as z, \
            z.open("model.weights.h5", "w", force_zip64=True) as w:
            zeros = bytes(1 << 24)
            for _ in range(12):  # 192 MB of zeros, a few hundred KB on disk
                w.write(zeros)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(UnsafeModelError, match=r"'model.weights.h5' would unpack from .* MB \(a decompression bomb\)"):
        load_model(path)


def test_member_that_lies_about_its_size_is_damaged(tmp_path, entries):
    data = bytes(8 << 20)
    path = _zip(tmp_path / "lie.keras", {**entries, "model.weights.h5": data})
    raw = bytearray(path.read_bytes())
    name = b"model.weights.h5"
    at = raw.find(b"PK\x01\x02")
    while at >= 0:  # central directory: declare 100 bytes for the 8 MB member
        if raw[at + 46: at + 46 + len(name)] == name:
            raw[at + 24: at + 28] = (100).to_bytes(4, "little")
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelLoadError, match="damaged or incomplete: Bad CRC"):
        load_model(path)


@pytest.mark.parametrize("member", ["../../evil", "/abs/evil", "assets/../../evil", "C:/evil"])
def test_member_paths_leaving_the_archive_are_refused(tmp_path, entries, member):
    path = _zip(tmp_path / "trav.keras", {**entries, member: b"x"})
    with pytest.raises(UnsafeModelError, match="path points outside the archive"):
        load_model(path)


@pytest.mark.parametrize("member", ["link", "config.json"])
def test_symlink_members_are_refused(tmp_path, entries, member):
    info = zipfile.ZipInfo(member)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = _zip(tmp_path / "sym.keras", {k: v for k, v in entries.items() if k != member}, [(info, b"/etc/passwd")])
    with pytest.raises(UnsafeModelError, match=f"'{member}' is a symbolic link"):
        load_model(path)


@pytest.mark.parametrize("config, match", [
    (None, "has no config.json"),
    (b"\xff\xfe not json {", "config.json is not text"),
    (b"{'class_name': ", "config.json is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested more than 100 levels"),
    (b'{"class_name": "Sequential", "config": ' + b'{"a": ' * 500 + b"1" + b"}" * 501, "nested more than 100 levels"),
    (b"[1, 2]", "unknown config.json"),
    (b"{}", "unknown config.json"),
])
def test_broken_config_json(tmp_path, entries, config, match):
    files = {k: v for k, v in entries.items() if k != "config.json"}
    if config is not None:
        files["config.json"] = config
    with pytest.raises(ModelLoadError, match=match):
        load_model(_zip(tmp_path / "cfg.keras", files))


def test_oversized_config_json_is_refused(tmp_path, entries):
    noise = os.urandom(33 << 20).hex()  # 66 MB that does not compress, so it is no bomb
    files = {**entries, "config.json": b'{"a": "' + noise.encode() + b'"}'}
    with pytest.raises(ModelLoadError, match="config.json is too large"):
        load_model(_zip(tmp_path / "big.keras", files))


def test_encrypted_and_unknown_compression_members(tmp_path, entries):
    for flag_offset, value, match in ((8, 1, "is encrypted"), (10, 99, "compression method is not supported")):
        path = _zip(tmp_path / f"odd{value}.keras", entries)
        raw = bytearray(path.read_bytes())
        for sig, offset in ((b"PK\x01\x02", flag_offset), (b"PK\x03\x04", flag_offset - 2)):
            at = raw.find(sig)
            while at >= 0:
                if value == 1:
                    raw[at + offset] |= 1
                else:
                    raw[at + offset: at + offset + 2] = value.to_bytes(2, "little")
                at = raw.find(sig, at + 4)
        path.write_bytes(bytes(raw))
        with pytest.raises(ModelLoadError, match=match):
            load_model(path)


@pytest.fixture
def marker_module(tmp_path, monkeypatch):
    """An importable module that leaves a file behind when it is imported or called."""
    folder = tmp_path / "mods"
    folder.mkdir()
    marker = tmp_path / "imported.txt"
    (folder / "cnnviz_hostile_marker.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "class Evil:\n"
        "    def __init__(self, *a, **k):\n"
        f"        open({str(marker)!r}, 'w').write('called')\n"
        "    @classmethod\n"
        "    def from_config(cls, config):\n"
        "        return cls()\n"
        "def evil(*a, **k):\n"
        f"    open({str(marker)!r}, 'w').write('called')\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    yield marker
    sys.modules.pop("cnnviz_hostile_marker", None)


def _hostile_configs(config: dict):
    """Configs that name modules outside Keras, at the top, as a layer, as an activation."""
    yield "top os.system", {"module": "os", "class_name": "system", "registered_name": "system",
                            "config": {"command": "echo owned"}}
    yield "top marker", {"module": "cnnviz_hostile_marker", "class_name": "Evil",
                         "registered_name": "Evil", "config": {"name": "x"}}
    layer = json.loads(json.dumps(config))
    layer["config"]["layers"][-1].update(module="cnnviz_hostile_marker", class_name="Evil",
                                         registered_name="cnnviz_hostile_marker>Evil")
    yield "layer", layer
    popen = json.loads(json.dumps(config))
    popen["config"]["layers"][-1].update(module="subprocess", class_name="Popen", registered_name=None,
                                         config={"args": ["echo", "owned"]})
    yield "subprocess.Popen", popen
    act = json.loads(json.dumps(config))
    target = next(l for l in act["config"]["layers"] if "activation" in l.get("config", {}))
    target["config"]["activation"] = {"module": "cnnviz_hostile_marker", "class_name": "function",
                                      "config": "evil", "registered_name": "function"}
    yield "activation", act
    shared = json.loads(json.dumps(config))
    for l in shared["config"]["layers"]:
        l["shared_object_id"] = 1
    yield "shared_object_id", shared


def test_configs_naming_other_modules_import_and_run_nothing(tmp_path, entries, marker_module):
    config = json.loads(entries["config.json"])
    for what, hostile in _hostile_configs(config):
        path = _zip(tmp_path / "hostile.keras", {**entries, "config.json": json.dumps(hostile).encode()})
        try:
            loaded = load_model(path)
        except ModelLoadError:
            pass
        else:
            assert not loaded.ok, what
            assert loaded.notes and ("cannot be built" in loaded.notes[0] or "could not be built" in loaded.notes[0]), what
        assert "cnnviz_hostile_marker" not in sys.modules, what
        assert not marker_module.exists(), what


def test_configs_naming_other_modules_in_h5_import_nothing(tmp_path, marker_module):
    path = tmp_path / "hostile.h5"
    with legacy_h5_copy(path) as f:
        config = json.loads(f.attrs["model_config"])
        layers = config["config"]
        layers[-1].update(module="cnnviz_hostile_marker", class_name="Evil", registered_name="cnnviz_hostile_marker>Evil")
        first = next(l for l in layers if "kernel_initializer" in l["config"])
        first["config"]["kernel_initializer"] = {"module": "cnnviz_hostile_marker", "class_name": "Evil",
                                                 "config": {}, "registered_name": None}
        f.attrs["model_config"] = json.dumps(config)
    loaded = load_model(path)
    assert not loaded.ok and "custom layers cnnviz does not know: Evil" in loaded.notes[0]
    assert "cnnviz_hostile_marker" not in sys.modules
    assert not marker_module.exists()


def test_serialized_function_inside_a_functional_config_is_refused(tmp_path, entries):
    import base64
    import marshal

    marker = tmp_path / "ran.txt"
    code = base64.b64encode(marshal.dumps((lambda x: open(str(marker), "w")).__code__)).decode()  # noqa: SIM115
    config = json.loads(entries["config.json"])
    target = next(l for l in config["config"]["layers"] if "activation" in l.get("config", {}))
    target["config"]["activation"] = {"class_name": "__lambda__",
                                      "config": {"code": code, "defaults": None, "closure": None}}
    path = _zip(tmp_path / "lam.keras", {**entries, "config.json": json.dumps(config).encode()})
    with pytest.raises(UnsafeModelError, match="Python function stored as bytecode"):
        load_model(path)
    assert not marker.exists()


def test_weights_member_with_wrong_shape_names_the_layer(tmp_path, entries):
    buf = io.BytesIO(entries["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        name = "layers/conv2d/vars/0"  # the kernel of the layer named conv_a
        shape = f[name].shape
        del f[name]
        f[name] = np.zeros((7, *shape), "f4")
    path = _zip(tmp_path / "shape.keras", {**entries, "model.weights.h5": buf.getvalue()})
    loaded = load_model(path)
    assert not loaded.ok and "conv_a" in loaded.notes[-1]


def test_weights_member_that_is_not_hdf5(tmp_path, entries):
    path = _zip(tmp_path / "w.keras", {**entries, "model.weights.h5": b"garbage" * 100})
    with pytest.raises(ModelLoadError, match="damaged or not an HDF5 file"):
        load_model(path)


# ----------------------------------------------------------------------------- .h5 files


@pytest.mark.parametrize("value, match", [
    (np.bytes_(b"\xff\xfe\x80abc"), "stored model config is not text"),
    (np.void(b"\xff\xfe\x80abc"), "stored model config is not valid JSON"),
    (5, "stored model config is not valid JSON"),
    (np.arange(10), "stored model config is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested more than 100 levels"),
])
def test_broken_model_config_attribute(tmp_path, value, match):
    path = tmp_path / "cfg.h5"
    with legacy_h5_copy(path) as f:
        f.attrs["model_config"] = value
    with pytest.raises(ModelLoadError, match=match):
        load_model(path)


def test_huge_model_config_attribute(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(FIX / "keras208_sequential_list.h5", "r") as src, h5py.File(path, "w", libver="latest") as f:
        src.copy("model_weights", f)
        f.attrs["model_config"] = np.bytes_(b'{"a": "' + b"x" * (65 << 20) + b'"}')
    with pytest.raises(ModelLoadError, match="model_config is too large"):
        load_model(path)


def test_unavailable_compression_filter_is_named(tmp_path):
    path = tmp_path / "filter.h5"
    with legacy_h5_copy(path) as f:
        for name in [_first_dataset(f)]:
            data = f[name][()]
            del f[name]
            f.create_dataset(name, data=data, compression="gzip", chunks=data.shape)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"deflate\0")
    assert at > 0
    raw[at - 8: at - 6] = (32001).to_bytes(2, "little")  # the pipeline now asks for Blosc
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelLoadError, match=r"compressed with filter 32001 .*does not provide"):
        load_model(path)


def test_many_groups_are_refused_before_their_members_are_looked_at(tmp_path):
    path = tmp_path / "many.h5"
    with legacy_h5_copy(path) as f:
        junk = f.create_group("junk")
        for i in range(60_000):
            junk.create_group(str(i))
        # Among the members: a link to another file. The refusal names only the count, so the
        # group's members were never walked (the scan costs the same for 60,000 or 6 million).
        junk["zz-link"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/secret")
    with pytest.raises(UnsafeModelError, match="more than 50,000 groups and datasets") as info:
        load_model(path)
    assert "external link" not in str(info.value) and "other.h5" not in str(info.value)


def test_wrong_weight_shapes_and_missing_weights_name_the_layer(tmp_path):
    path = tmp_path / "shape.h5"
    with legacy_h5_copy(path) as f:
        name = _first_dataset(f)
        shape = f[name].shape
        del f[name]
        f[name] = np.zeros(tuple(s + 1 for s in shape), "f4")
    loaded = load_model(path)
    assert not loaded.ok and "layer 'conv2d_1' expects 2 weights" in loaded.notes[-1]
    path = tmp_path / "names.h5"
    with legacy_h5_copy(path) as f:
        f["model_weights/conv2d_1"].attrs["weight_names"] = np.arange(3)
    loaded = load_model(path)
    assert not loaded.ok
    assert "layer 'conv2d_1' lists weights the file does not hold: 0, 1, 2" in loaded.notes[-1]


def test_nan_weights_load_and_custom_training_loss_is_ignored(tmp_path, marker_module):
    path = tmp_path / "nan.h5"
    with legacy_h5_copy(path) as f:
        name = _first_dataset(f)
        f[name][...] = np.full(f[name].shape, np.nan, "f4")
        f.attrs["training_config"] = json.dumps({
            "loss": {"class_name": "MyLoss", "module": "cnnviz_hostile_marker", "config": {}},
            "optimizer_config": {"class_name": "Adam", "config": {}}, "metrics": ["acc"]})
    loaded = load_model(path)
    assert loaded.ok
    assert any(np.isnan(w).any() for w in loaded.model.get_weights())
    assert "cnnviz_hostile_marker" not in sys.modules and not marker_module.exists()


# ----------------------------------------------------------------------------- paths


def test_fifo_device_and_odd_paths_never_block(tmp_path):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)
    with pytest.raises(ModelLoadError, match="not a regular file"):
        load_model(fifo)  # would block forever in open() without a writer
    zero = tmp_path / "zero.keras"
    zero.symlink_to("/dev/zero")
    with pytest.raises(ModelLoadError, match="not a regular file"):
        load_model(zero)
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(5 * 1024**3)  # sparse: no disk used
    link = tmp_path / "big.h5"
    link.symlink_to(big)
    with pytest.raises(ModelLoadError, match="5.0 GB; cnnviz opens models up to 4 GB"):
        load_model(link)
    with pytest.raises(ModelLoadError, match="NUL character"):
        load_model(str(tmp_path / "a\0b.h5"))
    loop = tmp_path / "loop.h5"
    loop.symlink_to(loop)
    with pytest.raises(ModelLoadError, match="cannot be read"):
        load_model(loop)


def test_non_ascii_path_loads_and_png_inside_is_named(tmp_path):
    path = tmp_path / "модель ✓ 模型.keras"
    path.write_bytes((FIX / "keras3_cnn.keras").read_bytes())
    assert load_model(path).ok
    import cv2

    png = cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes()
    for suffix in (".h5", ".keras"):
        fake = tmp_path / f"picture{suffix}"
        fake.write_bytes(png)
        with pytest.raises(ModelLoadError, match="does not start like an HDF5 or .keras file"):
            load_model(fake)
