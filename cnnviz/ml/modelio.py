"""Open a user's Keras model file safely: ``.keras``, Keras 3 ``.h5`` and legacy Keras 1/2 ``.h5``.

Why this exists: Keras 3 refuses many real files written by Keras 2 (the old Sequential config
as a bare list, ``groups`` on depthwise/transposed convolutions, ``dtype`` inside initializers,
``batch_input_shape``, ``time_major``, ``input_length``, nested models), and a model file can carry Python code
(``Lambda`` layers) or HDF5 links that read other files. So this module

1. accepts only a local regular file of sane size,
2. walks the HDF5 structure *without following links* and refuses external links, external or
   virtual datasets and absurd shapes before any value is read,
3. reads the stored config JSON and refuses code (``Lambda``) unless the caller trusts the file,
4. translates the legacy config, builds the model from it in Keras' safe mode and loads the
   weights layer by layer itself,
5. hands a file it could not build to Keras' own loader (after the same checks, in safe mode
   unless trusted), so it never opens less than Keras alone would,
6. and when the model still cannot be built, returns what the file holds: the architecture from
   the config and the weight tensors (conv kernels can still be shown as filters).

Loading is always ``compile=False``: a viewer needs no optimizer, and compiling fails on custom
losses of old files.
"""

from __future__ import annotations

import copy
import json
import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz.ml import kerascompat

__all__ = [
    "CodeDetail",
    "LayerSummary",
    "LoadedModel",
    "ModelLoadError",
    "UnsafeModelError",
    "demo_models",
    "load_model",
]

MAX_FILE_BYTES = 4 * 1024**3
MAX_ELEMENTS = 2**31
MAX_TOTAL_BYTES = 8 * 1024**3
MAX_CONFIG_BYTES = 64 * 1024**2
#: Deepest nesting of lists and dicts accepted in a stored config; Keras configs stay far below.
MAX_CONFIG_DEPTH = 100
#: Most HDF5 groups and datasets walked before a file is refused (bounds the time of the scan).
MAX_OBJECTS = 50_000
#: A ``.keras`` member larger than the floor that expands more than this is a decompression bomb;
#: Keras stores members uncompressed (about 1:1) and float weights hardly compress.
ZIP_MAX_EXPANSION = 100
ZIP_BOMB_FLOOR_BYTES = 64 * 1024**2
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"

TRUST_HINT = (
    "Open it only if you trust where it came from: choose 'Trust and open' to run its code."
)


class ModelLoadError(Exception):
    """The file cannot be opened as a model; the message is meant for the user."""


class UnsafeModelError(ModelLoadError):
    """The file holds code or references to other files; refused unless trusted.

    ``details``: what the code is, per layer (:class:`CodeDetail`), for the user to judge;
    ``custom_classes``: the classes the file names that neither Keras nor cnnviz provide."""

    def __init__(self, message: str, findings: list[str] | None = None,
                 details: list[CodeDetail] | None = None, custom_classes: list[str] | None = None) -> None:
        super().__init__(message)
        self.findings = list(findings or [])
        self.details = list(details or [])
        self.custom_classes = list(custom_classes or [])


@dataclass
class CodeDetail:
    """One piece of Python code stored in a model file, shown as text and never run.

    ``code`` is its disassembly (``dis``) when this Python can read the stored bytecode, else the
    start of the stored text; ``reason`` says why it could not be read ("" when it could)."""

    layer: str
    kind: str
    code: str
    readable: bool
    reason: str = ""


@dataclass
class LayerSummary:
    """One row of the architecture table, from the built model or from the stored config."""

    name: str
    class_name: str
    output_shape: tuple | None = None
    params: int | None = None
    info: str = ""


@dataclass
class LoadedModel:
    """What a model file gave: the Keras model when it could be built, otherwise its contents.

    ``model`` is None when the file could not be built (weights-only file, unknown custom
    layers); ``weights`` then holds every stored tensor per layer so kernels can still be shown.
    ``notes`` says, in plain words, what was translated or why the model is missing.
    """

    path: Path
    model: Any | None
    format: str
    keras_version: str | None
    summary: list[LayerSummary] = field(default_factory=list)
    weights: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    labels: list[str] | None = None
    trusted: bool = False

    @property
    def ok(self) -> bool:
        """True when a runnable Keras model is available."""
        return self.model is not None

    def filters(self) -> dict[str, np.ndarray]:
        """Convolution kernels per layer as (kh, kw, in, out), with or without a built model."""
        out: dict[str, np.ndarray] = {}
        if self.model is not None:
            from cnnviz.ml import activations

            for name in activations.conv_layers(self.model):
                out[name] = activations.layer_filters(self.model, name)
            return out
        for layer, tensors in self.weights.items():
            for wname, value in tensors:
                base = wname.split("/")[-1].split(":")[0]
                if value.ndim == 4 and base in ("kernel", "depthwise_kernel", "W", "0"):
                    out[layer] = value
                    break
        return out


# ----------------------------------------------------------------------------- public entry


def load_model(path: str | os.PathLike, trust: bool = False) -> LoadedModel:
    """Open a Keras model file; see the module docstring for what is accepted and refused.

    Raises :class:`UnsafeModelError` for code or links in an untrusted file and
    :class:`ModelLoadError` for anything that is not a readable Keras model.
    """
    p = _check_path(path)
    head = _read_head(p)
    if head.startswith(_HDF5_MAGIC):
        loaded = _load_h5(p, trust)
    elif head.startswith(_ZIP_MAGIC):
        loaded = _load_keras_zip(p, trust)
    else:
        if p.suffix.lower() in (".h5", ".hdf5", ".keras"):
            raise ModelLoadError(
                f"The file is damaged or incomplete: '{p.name}' does not start like an HDF5 "
                "or .keras file."
            )
        raise ModelLoadError(
            f"'{p.name}' is not a Keras model file; cnnviz opens .keras and .h5 files."
        )
    loaded.labels = loaded.labels or _read_labels(p)
    loaded.trusted = trust
    return loaded


def demo_models() -> list[Path]:
    """The small demo models shipped with the app (trained by tools/make_demo_models.py)."""
    from cnnviz.paths import resource

    try:
        folder = resource("models")
    except FileNotFoundError:
        return []
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".keras", ".h5"))


# ----------------------------------------------------------------------------- path checks


def _check_path(path: str | os.PathLike) -> Path:
    text = os.fspath(path)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        raise ModelLoadError(f"Only local files can be opened, not '{text}'.")
    if "\0" in text:
        raise ModelLoadError(f"{text!r} is not a valid file name (it contains a NUL character).")
    p = Path(text).expanduser()
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ModelLoadError(f"There is no file '{text}'.") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"'{text}' cannot be read: {getattr(exc, 'strerror', None) or exc}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise ModelLoadError(
            f"'{p.name}' is a folder. cnnviz opens single .keras or .h5 files, not TensorFlow "
            "SavedModel folders."
        )
    if not stat.S_ISREG(st.st_mode):
        raise ModelLoadError(f"'{p.name}' is not a regular file.")
    if st.st_size == 0:
        raise ModelLoadError(f"The file is damaged or incomplete: '{p.name}' is empty.")
    if st.st_size > MAX_FILE_BYTES:
        raise ModelLoadError(
            f"'{p.name}' is {st.st_size / 1024**3:.1f} GB; cnnviz opens models up to "
            f"{MAX_FILE_BYTES // 1024**3} GB."
        )
    return p.resolve()


def _read_head(p: Path) -> bytes:
    """The first bytes of a regular file, opened without blocking.

    Why: between the check and the open the path could have become a FIFO or a device; a
    non-blocking open and a second check on the open handle never wait for a writer.
    """
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise ModelLoadError(f"'{p.name}' cannot be read: {exc.strerror or exc}.") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelLoadError(f"'{p.name}' is not a regular file.")
        return os.read(fd, 8)
    finally:
        os.close(fd)


def _parse_json(raw: bytes | str, what: str):
    """A stored config parsed as JSON, refusing what no Keras version writes.

    Why: ``json.loads`` recurses per nesting level and the config is walked recursively later,
    so a deeply nested document would end in a RecursionError from deep inside.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ModelLoadError(f"The file is damaged: its {what} is not text (not UTF-8).") from None
    try:
        value = json.loads(raw)
    except RecursionError:
        value = None
    except ValueError:
        raise ModelLoadError(f"The file is damaged: its {what} is not valid JSON.") from None
    else:
        if not _deeper_than(value, MAX_CONFIG_DEPTH):
            return value
    raise ModelLoadError(
        f"The file is refused: its {what} is nested more than {MAX_CONFIG_DEPTH} levels deep, "
        "which no Keras model needs."
    )


def _deeper_than(obj, limit: int) -> bool:
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


#: The largest class-name file read (a list of names, not a data set).
MAX_LABELS_BYTES = 1_000_000

_INDEXED_LINE = re.compile(r"^\s*(\d+)\s*[:.,)\t -]?\s+(\S.*?)\s*$")


def parse_class_names(text: str) -> list[str]:
    """Class names from text, one a line; blank lines are ignored. A leading index ("0 Class 1",
    as Teachable Machine writes labels.txt; "3: cat") is dropped only when every line has one,
    and the names are then put in the order of their indices."""
    lines = [line.strip() for line in text.replace("\ufeff", "").splitlines() if line.strip()]
    matches = [_INDEXED_LINE.match(line) for line in lines]
    if lines and all(matches):
        pairs = [(int(m.group(1)), m.group(2)) for m in matches]
        indices = [i for i, _ in pairs]
        if len(set(indices)) == len(indices):
            pairs.sort()
        return [name for _, name in pairs]
    return lines


def _read_labels(p: Path) -> list[str] | None:
    """Class names for the model file ``p``, from the first of:

    * ``<model>.labels.json`` (a JSON list) or ``<model>.labels.txt`` beside it;
    * ``class_names`` stored in the file itself (a ``.keras`` archive's ``metadata.json`` or
      ``config.json``; an ``.h5`` file's root attribute), read as data, never run;
    * ``labels.txt`` in the model's folder (Teachable Machine's export: "0 Class 1" a line).
    """
    for suffix in (".labels.json", ".labels.txt"):
        side = p.with_name(p.stem + suffix)
        if side.is_file() and side.stat().st_size < MAX_LABELS_BYTES:
            try:
                text = side.read_text(encoding="utf8")
                if suffix.endswith("json"):
                    labels = json.loads(text)
                    if isinstance(labels, list):
                        return [str(v) for v in labels]
                else:
                    return parse_class_names(text) or None
            except (OSError, ValueError):
                return None
    stored = stored_class_names(p)
    if stored:
        return stored
    folder = p.with_name("labels.txt")
    if folder.is_file() and folder.stat().st_size < MAX_LABELS_BYTES:
        try:
            return parse_class_names(folder.read_text(encoding="utf8", errors="replace")) or None
        except OSError:
            return None
    return None


def _names_from(value) -> list[str] | None:
    """A list of class names from a stored value: a list, a JSON text of one, or bytes."""
    if isinstance(value, bytes):
        value = value.decode("utf8", "replace")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = parse_class_names(value.replace(",", "\n"))
    if isinstance(value, list | tuple) and value and len(value) < 100_000:
        return [v.decode("utf8", "replace") if isinstance(v, bytes) else str(v) for v in value]
    return None


def stored_class_names(p: Path) -> list[str] | None:
    """``class_names`` stored in a model file's metadata: a ``.keras`` archive's
    ``metadata.json`` or ``config.json`` (top level or the model's config), or an ``.h5`` file's
    root attribute. Only data is read; nothing in the file runs. None when there are none."""
    try:
        head = _read_head(p)
        if head.startswith(_ZIP_MAGIC):
            with zipfile.ZipFile(p) as zf:
                for member in ("metadata.json", "config.json"):
                    try:
                        info = zf.getinfo(member)
                    except KeyError:
                        continue
                    if info.file_size > MAX_CONFIG_BYTES:
                        continue
                    data = json.loads(zf.read(member))
                    if not isinstance(data, dict):
                        continue
                    inner = data.get("config") if isinstance(data.get("config"), dict) else {}
                    for where in (data, inner):
                        names = _names_from(where.get("class_names"))
                        if names:
                            return names
        elif head.startswith(_HDF5_MAGIC):
            h5py = _h5py()
            with h5py.File(p, "r") as f:
                if "class_names" in f.attrs:
                    return _names_from(f.attrs["class_names"])
    except (ModelLoadError, OSError, ValueError, KeyError, TypeError, RuntimeError, *_ZIP_ERRORS):
        return None
    return None


# ----------------------------------------------------------------------------- HDF5 safety


def _h5py():
    import h5py

    return h5py


def scan_hdf5(f) -> None:
    """Refuse links, external/virtual datasets and absurd shapes, without reading values.

    Why: h5py follows external links and external datasets transparently, so an untrusted file
    could make the app read another file on disk; a huge declared shape would exhaust memory.
    """
    h5py = _h5py()
    problems: list[str] = []
    total = 0
    count = 0

    class _TooMany(Exception):
        pass

    def walk(group, prefix: str, depth: int) -> None:
        nonlocal total, count
        if depth > 64:
            problems.append(f"nesting deeper than 64 groups at '{prefix}'")
            return
        count += len(group)  # checked before iterating, so a huge group costs no time
        if count > MAX_OBJECTS:
            problems.append(f"more than {MAX_OBJECTS:,} groups and datasets")
            raise _TooMany
        for key in group:
            name = f"{prefix}/{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                problems.append(f"an external link '{name}' to '{link.filename}'")
                continue
            if isinstance(link, h5py.SoftLink):
                problems.append(f"a soft link '{name}' to '{link.path}'")
                continue
            cls = group.get(key, getclass=True)
            if cls is h5py.Group:
                walk(group[key], name, depth + 1)
            elif cls is h5py.Dataset:
                ds = group[key]
                if ds.external:
                    problems.append(f"an external dataset '{name}' stored in {ds.external[0][0]!r}")
                    continue
                if ds.is_virtual:
                    problems.append(f"a virtual dataset '{name}' that maps other files")
                    continue
                shape = ds.shape or ()
                n = int(np.prod(shape, dtype=np.float64)) if shape else 1
                if n > MAX_ELEMENTS:
                    problems.append(f"dataset '{name}' declares {n:,} values ({shape})")
                    continue
                if h5py.check_dtype(ref=ds.dtype) is not None:
                    problems.append(f"dataset '{name}' holds object references")
                    continue
                missing = _missing_filters(ds)
                if missing:
                    raise ModelLoadError(
                        f"The file cannot be read: dataset '{name}' is compressed with {missing}, "
                        "which this installation of HDF5 does not provide."
                    )
                total += n * max(ds.dtype.itemsize, 1)
            else:
                problems.append(f"an unsupported object '{name}'")

    try:
        walk(f, "", 0)
    except _TooMany:
        pass
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{total / 1024**3:.1f} GB of data")
    if problems:
        shown = "; ".join(problems[:5]) + (f" and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise UnsafeModelError(
            "This file is refused: it contains " + shown + ". Keras never writes these, and they "
            "can make the app read other files on this computer or run out of memory.",
            problems,
        )


def _missing_filters(ds) -> str:
    """The compression filters of a dataset that are not available here, for the message."""
    h5py = _h5py()
    try:
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
    except Exception:
        return ""
    missing = []
    for code, _flags, _values, fname in filters:
        if not h5py.h5z.filter_avail(code):
            label = fname.decode("ascii", "replace") if isinstance(fname, bytes) else str(fname)
            missing.append(f"filter {code}" + (f" ({label})" if label else ""))
    return ", ".join(missing)


def _values(ds, layer: str) -> np.ndarray:
    """A stored tensor's values; damaged data becomes a message naming the layer."""
    try:
        return np.asarray(ds[()])
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(
            f"the stored weights of layer '{layer}' cannot be read ({_short(exc)})"
        ) from None


def _open_h5(source, name: str):
    h5py = _h5py()
    try:
        return h5py.File(source, "r")
    except (OSError, ValueError) as exc:
        text = str(exc)
        if "truncated" in text or "eof" in text.lower():
            raise ModelLoadError(
                f"The file is damaged or incomplete (truncated HDF5): '{name}'."
            ) from None
        raise ModelLoadError(f"The file is damaged or not an HDF5 file: '{name}' ({text}).") from None


def _attr_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attr_text(value.item())
    return str(value)


def _attr_list(group, name: str) -> list[str]:
    """A string-list attribute, including the chunked form (``layer_names0``, ...) Keras uses."""
    if name in group.attrs:
        raw = list(np.atleast_1d(group.attrs[name]))
    else:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw.extend(np.atleast_1d(group.attrs[f"{name}{i}"]))
            i += 1
    return [_attr_text(v) or "" for v in raw]


# ----------------------------------------------------------------------------- code detection

_CODE_LAYERS = {"Lambda"}
_TF_OP_LAYERS = {"TFOpLambda", "SlicingOpLambda", "TensorFlowOpLayer"}


def _walk_dicts(obj) -> Iterator[dict]:
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk_dicts(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_dicts(v)


def find_code(config) -> list[str]:
    """Everything in a stored config that would run Python code when built (for the message)."""
    found: list[str] = []
    for d in _walk_dicts(config):
        cls = d.get("class_name")
        cfg = d.get("config") if isinstance(d.get("config"), dict) else {}
        name = cfg.get("name") or d.get("name") or "?"
        if cls in _CODE_LAYERS:
            found.append(f"a Lambda layer '{name}' (Python code)")
        elif cls == "__lambda__":
            found.append("a Python function stored as bytecode")
        elif isinstance(cls, str) and cls not in _TF_OP_LAYERS:
            fn = cfg.get("function")
            if isinstance(fn, list) and fn and isinstance(fn[0], str) and len(fn[0]) > 16:
                found.append(f"Python bytecode in layer '{name}' ({cls})")
            elif cfg.get("function_type") == "lambda":
                found.append(f"a Python function in layer '{name}' ({cls})")
    # de-duplicate, keep order
    return list(dict.fromkeys(found))


#: Characters of stored code text shown when it cannot be read as bytecode.
RAW_CODE_PREFIX = 120


def _decode_bytecode(text: str):
    """The code object stored as base64 ``marshal`` text (Keras' ``func_dump``); raises
    ``ValueError`` in words when this Python cannot read it. Nothing is run: ``marshal`` only
    rebuilds the object (the file is either trusted or this runs in the engine process)."""
    import base64
    import binascii
    import marshal
    import types

    try:
        raw = base64.b64decode(text.encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError("its code is not valid base64 text") from exc
    try:
        code = marshal.loads(raw)
    except (EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"this Python cannot read its code ({exc})") from exc
    if not isinstance(code, types.CodeType):
        raise ValueError("the stored bytes are not Python code")
    return code


def _disassemble(code) -> str:
    import dis
    import io

    out = io.StringIO()
    dis.dis(code, file=out)
    return out.getvalue().rstrip()


def _stored_code(d: dict) -> tuple[str, str | None]:
    """(layer name, base64 bytecode text or None) of a dict that holds code."""
    cfg = d.get("config") if isinstance(d.get("config"), dict) else {}
    name = str(cfg.get("name") or d.get("name") or "?")
    if d.get("class_name") == "__lambda__":
        code = cfg.get("code")
        return name, code if isinstance(code, str) else None
    fn = cfg.get("function")
    if isinstance(fn, list) and fn and isinstance(fn[0], str):
        return name, fn[0]
    if isinstance(fn, str) and cfg.get("function_type") == "lambda":
        return name, fn
    if isinstance(fn, dict) and fn.get("class_name") == "__lambda__":
        code = (fn.get("config") or {}).get("code")
        return name, code if isinstance(code, str) else None
    return name, None


def code_details(config, keras_version: str | None = None) -> list[CodeDetail]:
    """Each piece of Python code in a stored config: the layer, and the code as text (a
    disassembly when this Python can read it, else the start of the stored text with the
    reason). Never runs it."""
    out: list[CodeDetail] = []
    seen: set[int] = set()
    for d in _walk_dicts(config):
        cls = d.get("class_name")
        cfg = d.get("config") if isinstance(d.get("config"), dict) else {}
        if cls in _TF_OP_LAYERS or not isinstance(cls, str):
            continue
        holds = cls in _CODE_LAYERS or cls == "__lambda__" or cfg.get("function_type") == "lambda" or (
            isinstance(cfg.get("function"), list) and cfg["function"] and isinstance(cfg["function"][0], str)
            and len(cfg["function"][0]) > 16)
        if not holds:
            if cls in _CODE_LAYERS and isinstance(cfg.get("function"), str):
                out.append(CodeDetail(str(cfg.get("name") or "?"), cls,
                                      f"calls the function '{cfg['function']}' from module "
                                      f"'{cfg.get('module') or '?'}'", True))
            continue
        name, text = _stored_code(d)
        for inner in _walk_dicts(cfg):
            seen.add(id(inner))
        if id(d) in seen and cls == "__lambda__":
            continue
        kind = "Lambda" if cls in _CODE_LAYERS else cls
        if text is None:
            out.append(CodeDetail(name, kind, "(the code is stored in a form cnnviz does not read)", False,
                                  "its code is stored in an unknown form"))
            continue
        try:
            code = _decode_bytecode(text)
        except ValueError as exc:
            prefix = text[:RAW_CODE_PREFIX] + ("…" if len(text) > RAW_CODE_PREFIX else "")
            out.append(CodeDetail(name, kind, prefix, False, foreign_code_reason(keras_version, str(exc))))
            continue
        out.append(CodeDetail(name, kind, _disassemble(code), True))
    return out


def foreign_code_reason(keras_version: str | None, why: str = "") -> str:
    """Why a Lambda's code cannot be read, in a student's words."""
    import sys

    saver = f"Keras {keras_version}" if keras_version else "another version of Python"
    here = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    text = (f"the Lambda's code was saved by the Python that ran {saver} and cannot be read by "
            f"this {here}")
    return text + (f" ({why})" if why and "cannot read" not in why else "")


def custom_classes(config) -> list[str]:
    """The classes a config names that neither Keras nor cnnviz provides ("" list if Keras is
    not at hand)."""
    try:
        return unknown_classes(config)
    except Exception:
        return []


def _refuse_code(findings: list[str], fname: str, config=None, version: str | None = None) -> None:
    raise UnsafeModelError(
        f"'{fname}' contains " + ", ".join(findings) + ". Building it would run that code. "
        + TRUST_HINT,
        findings,
        code_details(config, version) if config is not None else [],
        custom_classes(config) if config is not None else [],
    )


def unreadable_code(config, keras_version: str | None = None) -> list[CodeDetail]:
    """The pieces of code in a config that this Python cannot read (they would fail to build)."""
    return [d for d in code_details(config, keras_version) if not d.readable]


def _weights_only_for_code(p: Path, bad: list[CodeDetail], version: str | None) -> str:
    names = ", ".join(f"'{d.layer}'" for d in bad)
    return (f"The model cannot be built: {bad[0].reason}. Lambda {names} cannot run here, so its "
            "weights and filters are shown instead.")


# ----------------------------------------------------------------------------- config translation


_GROUPS_LAYERS = {"DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
                  "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
_RNN_LAYERS = {"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "Bidirectional", "RNN"}
_MODEL_CLASSES = {"Sequential", "Functional", "Model"}
_KERAS1_CLASS = {"Convolution2D": "Conv2D", "Convolution1D": "Conv1D", "Deconvolution2D": "Conv2DTranspose",
                 "AtrousConvolution2D": "Conv2D", "SeparableConvolution2D": "SeparableConv2D"}
_KERAS1_ARGS = {"nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
                "init": "kernel_initializer", "W_regularizer": "kernel_regularizer",
                "b_regularizer": "bias_regularizer", "W_constraint": "kernel_constraint",
                "b_constraint": "bias_constraint", "bias": "use_bias", "output_dim": "units",
                "p": "rate", "subsample_length": "strides", "filter_length": "kernel_size",
                "atrous_rate": "dilation_rate", "input_dtype": "dtype"}
#: Keras 1 names that mark a layer config as Keras 1 (``output_dim`` not for Embedding, which
#: keeps that name in Keras 2 and 3).
_KERAS1_MARKERS = ("nb_filter", "output_dim", "border_mode", "dim_ordering", "W_regularizer")
#: Keras 1 Embedding arguments, which Keras 2 renamed differently from the other layers'.
_KERAS1_EMBEDDING_ARGS = {"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
                          "W_constraint": "embeddings_constraint"}
_WRAPPERS = {"Bidirectional", "TimeDistributed"}


class _Translator:
    """Rewrites a stored legacy config into one Keras 3 builds, counting what it changed."""

    def __init__(self) -> None:
        self.changes: dict[str, set[str]] = {}
        self.blockers: list[str] = []

    def note(self, what: str, layer: str | None = None) -> None:
        self.changes.setdefault(what, set()).add(layer)

    def messages(self) -> list[str]:
        out = []
        for what, layers in self.changes.items():
            n = len(layers - {None})
            count = f"{n} layer{'s' if n != 1 else ''}"
            out.append("translated legacy config: " + what.replace("{n}", count))
        return out

    def model(self, cfg: dict) -> dict:
        cls = cfg.get("class_name")
        body = cfg.get("config")
        if cls == "Sequential":
            if isinstance(body, list):
                self.note("old Sequential config stored as a bare list of layers")
                body = {"name": "sequential", "layers": body}
            raw = copy.deepcopy(list(body.get("layers", [])))
            layers = [self.layer(l) for l in self._sequential_input(raw)]
            return {"class_name": "Sequential", "config": {**body, "layers": layers}}
        if cls in ("Model", "Functional"):
            if cls == "Model":
                self.note("renamed Model to Functional")
            layers = []
            for entry in body.get("layers", []):
                new = self.layer(entry)
                if "inbound_nodes" in entry:
                    new["inbound_nodes"] = entry["inbound_nodes"]
                new["name"] = new["config"].get("name", entry.get("name"))
                layers.append(new)
            body = {**body, "layers": layers}
            for key in ("input_layers", "output_layers"):
                # Keras 2 wrote [[name, 0, 0]] for one tensor; Keras 3 reads that as a list output,
                # which breaks a functional model nested in a Sequential.
                ends = body.get(key)
                if isinstance(ends, list) and len(ends) == 1 and isinstance(ends[0], list) \
                        and len(ends[0]) == 3 and isinstance(ends[0][0], str):
                    body[key] = ends[0]
            return {"class_name": "Functional", "config": body}
        return self.layer(cfg)

    def _sequential_input(self, layers: list[dict]) -> list[dict]:
        """Keras 2 put ``batch_input_shape`` on the first layer; Keras 3 wants an InputLayer."""
        if not layers or layers[0].get("class_name") in ("InputLayer", *_MODEL_CLASSES):
            return layers
        first = layers[0].get("config")
        if not isinstance(first, dict):
            return layers
        shape = first.pop("batch_input_shape", None)
        if shape is None and "input_shape" in first:
            shape = [None, *first.pop("input_shape")]
        if layers[0].get("class_name") == "Embedding":
            # An Embedding's input_dim is its vocabulary size, not a shape; input_length is.
            if shape is None and isinstance(first.get("input_length"), int):
                shape = [None, first["input_length"]]
        else:
            if shape is None and first.get("input_dim") is not None:
                shape = [None, first["input_dim"]]
            first.pop("input_dim", None)
        if shape is None:
            return layers
        self.note("moved batch_input_shape of the first layer to an InputLayer", first.get("name", "?"))
        dtype = next((d for d in (first.get("dtype"), first.get("input_dtype")) if isinstance(d, str)),
                     "float32")
        inp = {"class_name": "InputLayer",
               "config": {"batch_shape": list(shape), "dtype": dtype, "name": "input_layer"}}
        return [inp, *layers]

    def layer(self, entry: dict) -> dict:
        entry = copy.deepcopy(entry)
        cls = entry.get("class_name")
        if cls in _MODEL_CLASSES:
            return self.model(entry)
        cfg = entry.get("config")
        if not isinstance(cfg, dict):
            return entry
        name = cfg.get("name", "?")
        if cls in _KERAS1_CLASS or any(k in cfg for k in _KERAS1_MARKERS
                                       if not (k == "output_dim" and cls == "Embedding")):
            cls = self._keras1(entry, cfg, name)
        if cls == "InputLayer" and "batch_input_shape" in cfg:
            cfg["batch_shape"] = cfg.pop("batch_input_shape")
            self.note("renamed batch_input_shape to batch_shape in {n}", name)
        elif "batch_input_shape" in cfg:
            # Inside a functional model the InputLayer already gives the shape.
            cfg.pop("batch_input_shape")
            self.note("dropped batch_input_shape from {n}", name)
        if "groups" in cfg and cls in _GROUPS_LAYERS:
            if cfg["groups"] in (1, None):
                cfg.pop("groups")
                self.note("dropped 'groups' from {n}", name)
            else:
                self.blockers.append(f"layer '{name}' ({cls}) uses groups={cfg['groups']}")
        if "time_major" in cfg and cls in _RNN_LAYERS:
            if cfg.pop("time_major"):
                self.blockers.append(f"layer '{name}' ({cls}) is time-major")
            self.note("dropped 'time_major' from {n}", name)
        for key in ("ragged",):
            if cls == "InputLayer" and key in cfg:
                cfg.pop(key)
        if cls == "Embedding" and "input_length" in cfg:
            # Keras 3 ignores it (with a warning); the input shape comes from the InputLayer.
            cfg.pop("input_length")
            self.note("dropped 'input_length' from {n}", name)
        if cls == "BatchNormalization" and isinstance(cfg.get("axis"), list) and len(cfg["axis"]) == 1:
            cfg["axis"] = int(cfg["axis"][0])
            self.note("turned a one-element axis list into an int in {n}", name)
        for key, value in list(cfg.items()):
            if key.endswith("_initializer") and isinstance(value, dict):
                inner = value.get("config")
                if isinstance(inner, dict) and "dtype" in inner:
                    inner.pop("dtype")
                    self.note("dropped 'dtype' from the initializers of {n}", name)
        if cls in _WRAPPERS:
            for key in ("layer", "backward_layer"):
                if isinstance(cfg.get(key), dict):
                    cfg[key] = self.layer(cfg[key])
        entry["class_name"] = cls
        return entry

    def _keras1(self, entry: dict, cfg: dict, name: str) -> str:
        cls = _KERAS1_CLASS.get(entry.get("class_name"), entry.get("class_name"))
        ordering = cfg.pop("dim_ordering", None)
        if ordering == "th":
            self.blockers.append(
                f"layer '{name}' uses Theano channel ordering (Keras 1 'th'), which cnnviz cannot convert"
            )
        elif ordering == "tf":
            cfg["data_format"] = "channels_last"
        if cls == "Embedding":
            renames = _KERAS1_EMBEDDING_ARGS
            cfg.pop("input_dtype", None)  # the type of the token ids, not of the embedding table
            if cfg.pop("dropout", None):
                # Keras 1 dropped whole words while training; a viewer only runs inference.
                self.note("dropped the training-only 'dropout' from {n}", name)
        else:
            renames = _KERAS1_ARGS
        for old, new in renames.items():
            if old in cfg:
                cfg[new] = cfg.pop(old)
        if "nb_row" in cfg:
            cfg["kernel_size"] = [cfg.pop("nb_row"), cfg.pop("nb_col", None)]
        if cls == "Dense" and cfg.get("input_dim") is None:
            cfg.pop("input_dim", None)
        for key in ("W_learning_rate_multiplier", "b_learning_rate_multiplier", "mode"):
            cfg.pop(key, None)
        self.note("converted Keras 1 arguments of {n}", name)
        return cls


# ----------------------------------------------------------------------------- class resolution


def _keras():
    from cnnviz.ml.backend import keras

    keras_mod = keras()
    try:  # the project's own registered layers, so its saved models resolve
        import cnnviz.ml.layers  # noqa: F401
    except Exception:
        pass
    return keras_mod


def unknown_classes(config) -> list[str]:
    """Layer classes in a config that neither Keras nor cnnviz provides, as 'Class ('name')'."""
    keras = _keras()
    unknown: list[str] = []
    for d in _walk_dicts(config):
        cls = d.get("class_name")
        if not isinstance(cls, str) or not isinstance(d.get("config"), (dict, list)):
            continue
        if cls in _MODEL_CLASSES or cls in ("InputLayer", "__keras_tensor__", "__lambda__", "__tensor__"):
            continue
        module = d.get("module")
        registered = d.get("registered_name")
        if registered and keras.saving.get_registered_object(registered) is not None:
            continue
        if keras.saving.get_registered_object(cls) is not None:
            continue
        if isinstance(module, str) and module.split(".")[0] == "keras":
            continue
        known = any(hasattr(mod, cls) for mod in (keras.layers, keras.initializers, keras.regularizers,
                                                  keras.constraints, keras.activations, keras.losses,
                                                  keras.metrics, keras.optimizers, keras.dtype_policies))
        if cls == "DTypePolicy" or known:
            continue
        cfg = d["config"] if isinstance(d["config"], dict) else {}
        unknown.append(f"{cls} ('{cfg.get('name', '?')}')")
    return list(dict.fromkeys(unknown))


# ----------------------------------------------------------------------------- summaries


def _summary_from_model(model) -> list[LayerSummary]:
    from cnnviz.ml.activations import flat_layers

    rows = []
    for name, layer in flat_layers(model):
        try:
            shape = tuple(layer.output.shape)
        except Exception:
            shape = None
        rows.append(LayerSummary(name, type(layer).__name__, shape, int(layer.count_params())
                                 if layer.built else None, _describe(layer.get_config())))
    return rows


def _describe(cfg: dict) -> str:
    bits = []
    if "filters" in cfg:
        bits.append(f"{cfg['filters']} filters")
    if "kernel_size" in cfg:
        ks = cfg["kernel_size"]
        bits.append("×".join(str(k) for k in (ks if isinstance(ks, (list, tuple)) else [ks])))
    if "pool_size" in cfg:
        ps = cfg["pool_size"]
        bits.append("pool " + "×".join(str(k) for k in (ps if isinstance(ps, (list, tuple)) else [ps])))
    if "units" in cfg:
        bits.append(f"{cfg['units']} units")
    strides = cfg.get("strides")
    if strides not in (None, 1, [1, 1], (1, 1), [1], (1,)) and "pool_size" not in cfg:
        bits.append(f"stride {strides}")
    if cfg.get("padding") == "same":
        bits.append("same")
    act = cfg.get("activation")
    if isinstance(act, str) and act != "linear":
        bits.append(act)
    if "rate" in cfg:
        bits.append(f"rate {cfg['rate']}")
    if "scale" in cfg and "offset" in cfg:  # Rescaling: "1/255", "1/127.5, offset -1"
        bits.append(_scale_text(cfg["scale"], cfg["offset"]))
    return ", ".join(bits)


def _scale_text(scale, offset) -> str:
    """A Rescaling layer's numbers in words: "1/255", "1/127.5, offset -1"."""
    try:
        scale, offset = float(scale), float(offset)
    except (TypeError, ValueError):  # per-channel lists
        return f"scale {scale}, offset {offset}"
    inv = 1.0 / scale if scale else 0.0
    text = f"1/{inv:g}" if scale and abs(inv - round(inv, 1)) < 1e-3 * inv else f"×{scale:g}"
    return text + (f", offset {offset:g}" if offset else "")


def _summary_from_config(config, prefix: str = "") -> list[LayerSummary]:
    rows: list[LayerSummary] = []
    if not isinstance(config, dict):
        return rows
    body = config.get("config")
    layers = body if isinstance(body, list) else (body or {}).get("layers", []) if isinstance(body, dict) else []
    for entry in layers:
        if not isinstance(entry, dict):
            continue
        cls = entry.get("class_name", "?")
        cfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        name = cfg.get("name") or entry.get("name") or "?"
        if cls in _MODEL_CLASSES:
            rows.append(LayerSummary(prefix + name, cls, info="nested model"))
            rows.extend(_summary_from_config(entry, prefix + name + "/"))
        else:
            rows.append(LayerSummary(prefix + name, cls, info=_describe(cfg)))
    return rows


# ----------------------------------------------------------------------------- HDF5 loading


def _read_json_attr(f, name: str):
    raw = f.attrs.get(name)
    if raw is None:
        return None
    if isinstance(raw, np.ndarray) and raw.shape == ():
        raw = raw.item()
    if not isinstance(raw, (bytes, str)):
        raise ModelLoadError("The file is damaged: its stored model config is not valid JSON.")
    if len(raw) > MAX_CONFIG_BYTES:
        raise ModelLoadError(f"The stored {name} is too large to be a Keras config.")
    return _parse_json(raw, "stored model config")


def _weights_root(f):
    """The group that holds per-layer weights: ``model_weights``, or the root of a weights file."""
    if "model_weights" in f and f.get("model_weights", getclass=True) is _h5py().Group:
        return f["model_weights"]
    if "layer_names" in f.attrs or "layer_names0" in f.attrs:
        return f
    return None


def _guess_layer_type(tensors: list[tuple[str, np.ndarray]]) -> str:
    """The likely layer class of a weights-only file's layer, from its tensors' names and shapes
    (a file saved with ``save_weights`` stores no architecture)."""
    names = [w.split("/")[-1].split(":")[0] for w, _ in tensors]
    shapes = [tuple(v.shape) for _, v in tensors]
    if any("depthwise" in n for n in names):
        return "DepthwiseConv2D" if not any("pointwise" in n for n in names) else "SeparableConv2D"
    if any("recurrent" in n for n in names):
        return "RNN (LSTM/GRU)"
    if any(n in ("moving_mean", "moving_variance") for n in names):
        return "BatchNormalization"
    if any(n in ("embeddings",) for n in names):
        return "Embedding"
    kernel = next((sh for n, sh in zip(names, shapes) if n == "kernel"), shapes[0] if shapes else ())
    return {4: "Conv2D", 3: "Conv1D", 5: "Conv3D", 2: "Dense"}.get(len(kernel), "?")


def _read_raw_weights(root) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Every stored tensor per layer, in the Keras 1/2/3 HDF5 layouts."""
    out: dict[str, list[tuple[str, np.ndarray]]] = {}
    names = _attr_list(root, "layer_names")
    if names:
        for lname in names:
            if lname not in root:
                continue
            g = root[lname]
            wnames = _attr_list(g, "weight_names")
            tensors = []
            for w in wnames:
                if w in g:
                    tensors.append((w, _values(g[w], lname)))
            if not wnames:  # Keras 3 .h5 inside nested groups
                tensors = list(_datasets_under(g))
            if tensors:
                out[lname] = tensors
        return out
    # Keras 3 ``model.weights.h5``: layers/<name>/vars/<i>
    base = root.get("layers", root)
    for lname in base:
        tensors = list(_datasets_under(base[lname]))
        if tensors:
            out[lname] = tensors
    return out


def _datasets_under(group, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    h5py = _h5py()
    for key in group:
        obj = group[key]
        if isinstance(obj, h5py.Dataset):
            yield prefix + key, _values(obj, group.name.strip("/") or key)
        else:
            yield from _datasets_under(obj, prefix + key + "/")


def _load_h5(p: Path, trust: bool) -> LoadedModel:
    f = _open_h5(p, p.name)
    try:
        scan_hdf5(f)
        config = _read_json_attr(f, "model_config")
        version = _attr_text(f.attrs.get("keras_version"))
        root = _weights_root(f)
        if root is not None and version is None:
            version = _attr_text(root.attrs.get("keras_version"))
        if config is None:
            if root is None:
                raise ModelLoadError(
                    f"This file is not a Keras model: '{p.name}' has no model_config or layer weights."
                )
            weights = _read_raw_weights(root)
            if not weights:
                raise ModelLoadError(
                    f"This file is not a Keras model: '{p.name}' has no model_config or layer weights."
                )
            summary = [LayerSummary(name, _guess_layer_type(tensors),
                                    params=int(sum(int(np.prod(v.shape)) for _, v in tensors)),
                                    info="type inferred from the stored weights: " + ", ".join(
                f"{w.split('/')[-1]} {tuple(v.shape)}" for w, v in tensors)) for name, tensors in weights.items()]
            return LoadedModel(p, None, "h5-weights", version, summary, weights, [
                "This file holds weights only (saved with save_weights): there is no architecture to "
                "run, so activations are not available; the stored kernels are shown as filters."])
        if not isinstance(config, dict) or "class_name" not in config:
            raise ModelLoadError(f"This file is not a Keras model: '{p.name}' has an unknown model_config.")
        findings = find_code(config)
        if findings and not trust:
            _refuse_code(findings, p.name, config, version)
        fmt = "h5" if (version or "").startswith("3.") else "h5-legacy"
        notes: list[str] = []
        if findings:
            notes.append("Trusted file: its code (" + ", ".join(findings) + ") was allowed to run.")
            bad = unreadable_code(config, version)
            if bad:  # building would fail on it with a raw marshal error: show what the file holds
                notes.append(_weights_only_for_code(p, bad, version))
                weights = _read_raw_weights(root) if root is not None else {}
                return LoadedModel(p, None, fmt, version, _summary_from_config(config), weights, notes)
        model, build_notes, keras_tried = _build_h5(p, f, config, version, trust, fmt)
        if model is None and not keras_tried:
            model = _keras_alone(lambda: kerascompat.load_legacy_h5(f, safe_mode=not trust))
            if model is not None:
                build_notes = [_KERAS_ALONE_NOTE.format(_first_failure(build_notes))]
        notes.extend(build_notes)
        if model is not None:
            return LoadedModel(p, model, fmt, version, _summary_from_model(model), {}, notes)
        weights = _read_raw_weights(root) if root is not None else {}
        return LoadedModel(p, None, fmt, version, _summary_from_config(config), weights, notes)
    finally:
        f.close()


_KERAS_ALONE_NOTE = ("Opened by Keras' own loader: cnnviz's translation of the config could not "
                     "build it ({}).")


def _first_failure(notes: list[str]) -> str:
    """The reason a build failed, from its notes (the last note says why), for the fallback note."""
    return notes[-1].rstrip(".") if notes else "no reason given"


def _keras_alone(load):
    """The model Keras' own loader builds, or None; called only after the safety checks passed.

    Why: cnnviz's translation must never do worse than Keras alone, so a file that cnnviz could
    not build is handed to Keras (in safe mode unless trusted, never compiled) before falling
    back to showing its weights. Keras' failure is not reported: cnnviz's own reason says more.
    """
    try:
        return load()
    except UnsafeModelError:
        raise
    except Exception:
        return None


def _build_h5(p: Path, f, config: dict, version: str | None, trust: bool, fmt: str):
    """Build from the (translated) config and load weights by layer.

    Returns (model or None, notes, whether Keras' own loader was already tried on the file).
    """
    keras = _keras()
    notes: list[str] = []
    tfop = sorted({d.get("config", {}).get("name", "?") for d in _walk_dicts(config)
                   if d.get("class_name") in _TF_OP_LAYERS and isinstance(d.get("config"), dict)})
    if tfop:
        notes.append("The model cannot be rebuilt: it uses TensorFlow operation layers "
                     f"(TFOpLambda: {', '.join(tfop[:6])}{'…' if len(tfop) > 6 else ''}) that Keras 3 "
                     "does not provide. Its architecture and weights are shown.")
        return None, notes, False
    tr = _Translator()
    patched = tr.model(config)
    unknown = unknown_classes(patched)
    if unknown:
        notes.append("The model cannot be built: it uses custom layers cnnviz does not know: "
                     + ", ".join(unknown) + ". Its architecture and weights are shown instead.")
        return None, notes, False

    keras_tried = fmt == "h5"
    if keras_tried:
        try:
            model = kerascompat.load_legacy_h5(f, safe_mode=not trust)
            return model, notes, True
        except Exception as exc:
            notes.append(f"Keras could not load it directly ({_short(exc)}); translated instead.")

    if tr.blockers:
        notes.append("The model cannot be built: " + "; ".join(tr.blockers) + ".")
        return None, notes, keras_tried
    try:
        model, dropped = _from_config(keras, patched, trust)
    except UnsafeModelError:
        raise
    except Exception as exc:
        notes.extend(tr.messages())
        notes.append(f"The model could not be built from its config: {_short(exc)}")
        return None, notes, keras_tried
    notes.extend(tr.messages())
    for cls, keys in dropped.items():
        notes.append(f"translated legacy config: dropped {', '.join(sorted(keys))} from {cls}")
    root = _weights_root(f)
    if root is None:
        notes.append("The file has no weights; the model has its initial (random) weights.")
        return model, notes, keras_tried
    try:
        _load_weights_by_layer(root, model)
    except ModelLoadError as exc:
        notes.append(f"The weights do not fit the architecture: {exc}")
        return None, notes, keras_tried
    return model, notes, keras_tried


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


_UNRECOGNIZED = re.compile(r"Unrecognized keyword arguments? passed to (\w+): \{(.*?)\}", re.S)


def _from_config(keras, config: dict, trust: bool):
    """Build under safe mode; drop keyword arguments Keras 3 rejects and retry (noted)."""
    dropped: dict[str, set[str]] = {}
    cfg = config
    for _ in range(12):
        try:
            return kerascompat.model_from_legacy_config(copy.deepcopy(cfg), safe_mode=not trust), dropped
        except (TypeError, ValueError) as exc:
            m = _UNRECOGNIZED.search(str(exc))
            if not m:
                raise
            cls = m.group(1)
            keys = re.findall(r"'([^']+)'\s*:", m.group(2))
            if not keys:
                raise
            changed = False
            for d in _walk_dicts(cfg):
                if d.get("class_name") == cls and isinstance(d.get("config"), dict):
                    for k in keys:
                        if k in d["config"]:
                            d["config"].pop(k)
                            changed = True
            if not changed:
                raise
            dropped.setdefault(cls, set()).update(keys)
    raise ModelLoadError("The model config needed too many corrections to build.")


def _legacy_vars(layer) -> list:
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _load_weights_by_layer(root, model) -> None:
    """Assign stored tensors to the built model's layers, matched by layer name.

    Within a layer, tensors are matched in Keras 2's order (trainable first); for nested models
    by inner layer and variable name. Anything that does not fit raises ModelLoadError, because
    activations from partly random weights would mislead.
    """
    stored = {}
    for lname in _attr_list(root, "layer_names"):
        if lname not in root:
            continue
        g = root[lname]
        wnames = _attr_list(g, "weight_names")
        if wnames:
            absent = [w for w in wnames if w not in g]
            if absent:
                raise ModelLoadError(
                    f"layer '{lname}' lists weights the file does not hold: {', '.join(absent[:4])}")
            stored[lname] = [(w, g[w]) for w in wnames]
    layers_with_weights = [l for l in model.layers if _legacy_vars(l)]
    by_name = {l.name: l for l in layers_with_weights}
    missing = [name for name in stored if name not in by_name]
    if missing and len(stored) == len(layers_with_weights):
        # Layer names were changed (e.g. Keras 1 auto names); fall back to the order, as Keras does.
        pairs = list(zip(layers_with_weights, stored.values()))
    elif missing:
        raise ModelLoadError("the file has weights for layers the model lacks: " + ", ".join(missing[:6]))
    else:
        pairs = [(by_name[name], tensors) for name, tensors in stored.items()]
    loaded_layers = {id(l) for l, _ in pairs}
    unloaded = [l.name for l in layers_with_weights if id(l) not in loaded_layers]
    if unloaded:
        raise ModelLoadError("no stored weights for layer(s) " + ", ".join(unloaded[:6]))
    for layer, tensors in pairs:
        _assign_layer(layer, tensors)


def _assign_layer(layer, tensors) -> None:
    variables = _legacy_vars(layer)
    values = [_values(ds, layer.name) for _, ds in tensors]
    if len(values) == len(variables) and all(tuple(v.shape) == val.shape for v, val in zip(variables, values)):
        for v, val in zip(variables, values):
            v.assign(val)
        return
    # Nested model: match 'inner_layer/var:0' names to inner layers' variables.
    inner = {}
    for sub in kerascompat.nested_layers(layer):
        for v in _legacy_vars(sub):
            inner[(sub.name, v.name)] = v
    matched = 0
    for (wname, _), val in zip(tensors, values):
        parts = wname.split(":")[0].split("/")
        if len(parts) >= 2 and (parts[-2], parts[-1]) in inner:
            v = inner[(parts[-2], parts[-1])]
            if tuple(v.shape) != val.shape:
                raise ModelLoadError(
                    f"weight {wname} has shape {val.shape}, the layer expects {tuple(v.shape)}")
            v.assign(val)
            matched += 1
    if matched != len(variables) or matched != len(values):
        shapes = [tuple(v.shape) for v in variables]
        raise ModelLoadError(
            f"layer '{layer.name}' expects {len(variables)} weights {shapes}, the file has "
            f"{len(values)} {[val.shape for val in values]}"
        )


# ----------------------------------------------------------------------------- .keras loading


_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError,
               NotImplementedError, ValueError, zlib.error)


def _check_members(infos: list[zipfile.ZipInfo], fname: str) -> None:
    """Refuse archive members Keras never writes: paths leaving the archive, links, duplicate
    names, encryption, and members that decompress to far more than they store (bombs)."""
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise UnsafeModelError(
                f"'{fname}' is refused: it holds an entry '{name}' whose path points outside the "
                "archive. Keras never writes such entries.", [f"path '{name}'"])
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeModelError(
                f"'{fname}' is refused: its entry '{name}' is a symbolic link, which could point "
                "at other files on this computer. Keras never writes links.", [f"link '{name}'"])
        if name in seen:
            raise UnsafeModelError(
                f"'{fname}' is refused: it holds two entries named '{name}'.", [f"duplicate '{name}'"])
        seen.add(name)
        if info.flag_bits & 0x1:
            raise ModelLoadError(f"'{fname}' cannot be opened: its entry '{name}' is encrypted.")
        if info.file_size > ZIP_BOMB_FLOOR_BYTES and info.file_size > ZIP_MAX_EXPANSION * max(
                info.compress_size, 1):
            raise UnsafeModelError(
                f"'{fname}' is refused: its entry '{name}' would unpack from "
                f"{info.compress_size / 1024**2:.1f} MB to {info.file_size / 1024**2:,.0f} MB "
                "(a decompression bomb).", [f"bomb '{name}'"])


def _open_weights(zf: zipfile.ZipFile, fname: str):
    """The archive's ``model.weights.h5`` as an h5py file, without reading it into memory.

    A stored (uncompressed) member is read in place; a compressed one is unpacked into a
    temporary file, counting the bytes so it can never exceed its declared size.
    """
    info = zf.getinfo("model.weights.h5")
    stream = zf.open(info)
    if info.compress_type != zipfile.ZIP_STORED:
        spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024**2)  # noqa: SIM115 -- handed to the caller, who closes it
        try:
            copied = 0
            while chunk := stream.read(1024**2):
                copied += len(chunk)
                if copied > info.file_size:
                    raise ModelLoadError(f"The file is damaged: '{fname}' holds more data than it declares.")
                spool.write(chunk)
        finally:
            stream.close()
        spool.seek(0)
        stream = spool
    try:
        return _open_h5(stream, fname + ":model.weights.h5"), stream
    except Exception:
        stream.close()
        raise


def _load_keras_zip(p: Path, trust: bool) -> LoadedModel:
    try:
        zf = zipfile.ZipFile(p)
    except _ZIP_ERRORS:
        raise ModelLoadError(f"The file is damaged or incomplete: '{p.name}' is not a readable .keras archive.") from None
    wfile = stream = None
    with zf:
        infos = zf.infolist()
        names = {i.filename for i in infos}
        total = sum(i.file_size for i in infos)
        if total > MAX_TOTAL_BYTES or len(infos) > 10_000:
            raise UnsafeModelError(
                f"'{p.name}' unpacks to {total / 1024**3:.1f} GB in {len(infos)} entries; refused.")
        _check_members(infos, p.name)
        if "config.json" not in names:
            raise ModelLoadError(f"This file is not a Keras model: '{p.name}' has no config.json.")
        for member in ("config.json", "metadata.json"):
            if member in names and zf.getinfo(member).file_size > MAX_CONFIG_BYTES:
                raise ModelLoadError(f"The stored {member} is too large to be a Keras config.")
        try:
            raw_config = zf.read("config.json")
            raw_meta = zf.read("metadata.json") if "metadata.json" in names else b"{}"
        except _ZIP_ERRORS as exc:
            raise ModelLoadError(f"The file is damaged or incomplete: {_short(exc)}.") from None
        config = _parse_json(raw_config, "config.json")
        try:
            meta = _parse_json(raw_meta, "metadata.json")
        except ModelLoadError:
            meta = {}
        if not isinstance(config, dict) or "class_name" not in config:
            raise ModelLoadError(f"This file is not a Keras model: '{p.name}' has an unknown config.json.")
        version = meta.get("keras_version") if isinstance(meta, dict) else None
        version = version if isinstance(version, str) else None
        try:
            if "model.weights.h5" in names:
                try:
                    wfile, stream = _open_weights(zf, p.name)
                except _ZIP_ERRORS as exc:
                    raise ModelLoadError(f"The file is damaged or incomplete: {_short(exc)}.") from None
                scan_hdf5(wfile)
            return _build_keras_zip(p, config, version, wfile, trust)
        finally:
            if wfile is not None:
                wfile.close()
            if stream is not None:
                stream.close()


def _build_keras_zip(p: Path, config: dict, version: str | None, wfile, trust: bool) -> LoadedModel:
    findings = find_code(config)
    if findings and not trust:
        _refuse_code(findings, p.name, config, version)
    notes = []
    if findings:
        notes.append("Trusted file: its code (" + ", ".join(findings) + ") was allowed to run.")
        bad = unreadable_code(config, version)
        if bad:
            notes.append(_weights_only_for_code(p, bad, version))
            weights = _read_raw_weights(wfile) if wfile is not None else {}
            return LoadedModel(p, None, "keras", version, _summary_from_config(config), weights, notes)
    keras = _keras()
    try:
        # Tried even for classes cnnviz does not know: Keras may resolve them (from its own
        # packages only, in safe mode unless trusted).
        model = keras.saving.load_model(p, compile=False, safe_mode=not trust)
        return LoadedModel(p, model, "keras", version, _summary_from_model(model), {}, notes)
    except Exception as exc:
        unknown = unknown_classes(config)
        if unknown:
            notes.append("The model cannot be built: it uses custom layers cnnviz does not know: "
                         + ", ".join(unknown) + ". Its architecture and weights are shown instead.")
        else:
            notes.append(f"The model could not be built: {_short(exc)}")
    weights = _read_raw_weights(wfile) if wfile is not None else {}
    return LoadedModel(p, None, "keras", version, _summary_from_config(config), weights, notes)
