"""Session files (``.cnnviz``): one view of the app, saved to be opened again — a teacher's
prepared lesson, or where a student left off.

A session file is plain JSON::

    {"format": "cnnviz-session", "version": 1, "pane": "kernels",
     "image": {"path": "samples:shapes.png"},            # or {"name": …, "png_base64": …}
     "panes": {"kernels": {...}, "matching": {...}, ...}}

Each pane's part is written by its state's ``to_session()`` and read back by its
``apply_session(d)``, which checks everything before it changes anything. Paths inside the app's
own folders are written as ``resources:models/digits_cnn.keras`` or ``samples:shapes.png`` so a
session (and the bundled lessons) opens from a checkout and from an installed wheel alike;
other relative paths are relative to the session file.

This module reads, writes and checks the file; it knows no Qt.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnviz import paths

__all__ = [
    "EMBED_LIMIT",
    "FORMAT",
    "SUFFIX",
    "VERSION",
    "Session",
    "SessionError",
    "decode_png",
    "encode_png",
    "lesson_files",
    "portable_path",
    "read_session",
    "resolve_path",
    "write_session",
]

FORMAT = "cnnviz-session"
VERSION = 1
SUFFIX = ".cnnviz"
FILE_FILTER = "cnnviz session (*.cnnviz)"
#: An image whose PNG is at most this large is also kept inside the file (it then opens on
#: another computer too).
EMBED_LIMIT = 256 * 1024
#: Larger files are not sessions (a sane limit for a hand-picked file).
MAX_FILE_BYTES = 64 * 1024 * 1024
RESOURCES_PREFIX = "resources:"
SAMPLES_PREFIX = "samples:"


class SessionError(ValueError):
    """A session file that cannot be opened, with the reason in words a student understands."""


@dataclass
class Session:
    """A session as read from a file (already checked at the top level)."""

    pane: str
    image: dict[str, Any] | None = None
    panes: dict[str, dict[str, Any]] = field(default_factory=dict)
    title: str = ""
    source: Path | None = None  # the file it was read from

    @property
    def base_dir(self) -> Path | None:
        return self.source.parent if self.source is not None else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": FORMAT, "version": VERSION, "pane": self.pane}
        if self.title:
            d["title"] = self.title
        if self.image is not None:
            d["image"] = self.image
        d["panes"] = self.panes
        return d


# -- paths ---------------------------------------------------------------------------------------
def portable_path(path: str | Path, base_dir: Path | None = None) -> str:
    """How a file is named in a session: ``samples:NAME`` for a bundled sample image,
    ``resources:a/b`` for a bundled resource, else the absolute path."""
    p = Path(path).resolve()
    for prefix, folder in ((SAMPLES_PREFIX, paths.sample_images_dir), (RESOURCES_PREFIX, paths.resources_dir)):
        try:
            rel = p.relative_to(folder().resolve())
        except (ValueError, FileNotFoundError):
            continue
        return prefix + rel.as_posix()
    return str(p)


def resolve_path(text: str, base_dir: Path | None = None) -> Path:
    """The file a session names (see :func:`portable_path`); a relative path is relative to the
    session file's folder. The file need not exist."""
    if text.startswith(SAMPLES_PREFIX):
        return paths.sample_images_dir() / text[len(SAMPLES_PREFIX):]
    if text.startswith(RESOURCES_PREFIX):
        return paths.resources_dir() / text[len(RESOURCES_PREFIX):]
    p = Path(os.path.expanduser(text))
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return p


# -- embedded images -----------------------------------------------------------------------------
def encode_png(image: np.ndarray) -> str | None:
    """The image (uint8, RGB or gray) as base64 PNG text, or None when larger than
    :data:`EMBED_LIMIT`."""
    import cv2

    img = np.asarray(image, dtype=np.uint8)
    if img.ndim == 3:
        img = cv2.cvtColor(img[:, :, :3], cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    if not ok or buf.size > EMBED_LIMIT:
        return None
    return base64.b64encode(buf.tobytes()).decode("ascii")


def decode_png(text: str) -> np.ndarray:
    """An embedded image back as an RGB uint8 array; SessionError if it is not one."""
    import cv2

    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SessionError("The image kept inside the session file is damaged (not base64 text).") from None
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise SessionError("The image kept inside the session file is damaged (not a PNG picture).")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# -- reading and writing -------------------------------------------------------------------------
def write_session(path: str | Path, session: Session | dict[str, Any]) -> Path:
    """Write a session atomically (a half-written file never replaces a good one)."""
    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    d = session.to_dict() if isinstance(session, Session) else dict(session)
    text = dumps(d)
    fd, tmp = tempfile.mkstemp(prefix=".cnnviz-", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # an ordinary file, not mkstemp's private one
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dumps(d: dict[str, Any]) -> str:
    """JSON a person can read and edit: one setting per line, each row of numbers on one line."""
    rows: list[str] = []

    def compact(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: compact(x) for k, x in v.items()}
        if isinstance(v, list):
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                rows.append(json.dumps(v, allow_nan=False))
                return f"\0row{len(rows) - 1}\0"
            return [compact(x) for x in v]
        return v

    text = json.dumps(compact(d), indent=1, ensure_ascii=False, allow_nan=False)
    for i, row in enumerate(rows):
        text = text.replace(json.dumps(f"\0row{i}\0"), row, 1)
    return text


def read_session(path: str | Path, panes: Iterable[str] | None = None) -> Session:
    """Read and check a session file; :class:`SessionError` says what is wrong with it.
    ``panes``: the pane names the app has (an unknown one is an error)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SessionError(f"There is no session file {path}.") from None
    except OSError as exc:
        raise SessionError(f"Could not read {path}: {exc.strerror or exc}.") from None
    if size > MAX_FILE_BYTES:
        raise SessionError(f"{path.name} is too large to be a cnnviz session ({size // 2**20} MB).")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SessionError(f"{path.name} is not a cnnviz session: it is not text.") from None
    except OSError as exc:
        raise SessionError(f"Could not read {path}: {exc.strerror or exc}.") from None
    session = parse_session(text, panes, name=path.name)
    session.source = path.resolve()
    return session


def parse_session(text: str, panes: Iterable[str] | None = None, name: str = "The session") -> Session:
    """Check a session's JSON text (see :func:`read_session`)."""
    try:
        d = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise SessionError(
            f"{name} is not a cnnviz session: its text is broken at line {exc.lineno}, "
            f"column {exc.colno} ({exc.msg})."
        ) from None
    except ValueError as exc:
        raise SessionError(f"{name} is not a cnnviz session: {exc}") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise SessionError(f"{name} is not a cnnviz session (it has no \"format\": \"{FORMAT}\").")
    version = d.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SessionError(f"{name} has no valid version number (found {version!r}).")
    if version > VERSION:
        raise SessionError(
            f"{name} was saved by a newer cnnviz (session version {version}; this one reads "
            f"version {VERSION}). Update cnnviz to open it."
        )
    known = list(panes) if panes is not None else None
    pane = d.get("pane")
    if not isinstance(pane, str) or (known is not None and pane not in known):
        raise SessionError(f"{name}: \"pane\" must be one of {', '.join(known or ['a pane name'])}; found {pane!r}.")
    image = d.get("image")
    if image is not None:
        _check_image(image, name)
    parts = d.get("panes", {})
    if not isinstance(parts, dict) or not all(isinstance(v, dict) for v in parts.values()):
        raise SessionError(f"{name}: \"panes\" must map each pane's name to its settings.")
    if known is not None:
        unknown = sorted(set(parts) - set(known))
        if unknown:
            raise SessionError(f"{name}: there is no pane called {', '.join(map(repr, unknown))}.")
    title = d.get("title", "")
    if not isinstance(title, str):
        raise SessionError(f"{name}: \"title\" must be text.")
    return Session(pane=pane, image=image, panes=parts, title=title)


def _no_constant(word: str):
    raise ValueError(f"it holds {word}, which is not a number JSON allows")


def _check_image(image: Any, name: str) -> None:
    if not isinstance(image, dict):
        raise SessionError(f"{name}: \"image\" must say a \"path\" or hold a \"png_base64\" picture.")
    for key in ("path", "png_base64", "name"):
        if key in image and not isinstance(image[key], str):
            raise SessionError(f"{name}: the image's \"{key}\" must be text.")
    if "path" not in image and "png_base64" not in image:
        raise SessionError(f"{name}: \"image\" must say a \"path\" or hold a \"png_base64\" picture.")


def lesson_files() -> list[Path]:
    """The bundled lessons (``resources/lessons/*.cnnviz``), in file-name order."""
    folder = paths.lessons_dir()
    return sorted(folder.glob("*" + SUFFIX)) if folder.is_dir() else []


# -- checking a pane's part (used by the states' ``apply_session``) ------------------------------
class Fields:
    """Typed access to one pane's part of a session: each getter returns the value or raises
    :class:`SessionError` saying which setting is wrong and what it should be."""

    def __init__(self, d: Any, pane: str) -> None:
        if not isinstance(d, dict):
            raise SessionError(f"The {pane} settings in the session must be a set of named values.")
        self.d = d
        self.pane = pane

    def __contains__(self, key: str) -> bool:
        return key in self.d

    def _bad(self, key: str, what: str) -> SessionError:
        return SessionError(f"The session's {self.pane} setting \"{key}\" must be {what}; found {self.d[key]!r}.")

    def get(self, key: str, default: Any = None) -> Any:
        return self.d.get(key, default)

    def choice(self, key: str, choices: Iterable[Any], default: Any = None) -> Any:
        if key not in self.d:
            return default
        options = list(choices)
        v = self.d[key]
        if isinstance(v, bool) or v not in options:
            raise self._bad(key, "one of " + ", ".join(map(str, options)))
        return v

    def flag(self, key: str, default: bool | None = None) -> bool | None:
        if key not in self.d:
            return default
        if not isinstance(self.d[key], bool):
            raise self._bad(key, "true or false")
        return self.d[key]

    def text(self, key: str, default: str | None = None) -> str | None:
        if key not in self.d:
            return default
        if not isinstance(self.d[key], str):
            raise self._bad(key, "text")
        return self.d[key]

    def optional_text(self, key: str, default: str | None = None) -> str | None:
        if self.d.get(key, default) is None:
            return None
        return self.text(key, default)

    def number(self, key: str, lo: float, hi: float, default: float | None = None, integer: bool = False):
        if key not in self.d:
            return default
        v = self.d[key]
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not math.isfinite(v) or not lo <= v <= hi:
            kind = "a whole number" if integer else "a number"
            raise self._bad(key, f"{kind} from {_num(lo)} to {_num(hi)}")
        return int(v) if integer else float(v)

    def integers(self, key: str, n: int, lo: int, hi: int, default=None) -> tuple[int, ...] | None:
        if key not in self.d:
            return default
        v = self.d[key]
        if (not isinstance(v, list) or len(v) != n
                or not all(isinstance(x, int) and not isinstance(x, bool) and lo <= x <= hi for x in v)):
            raise self._bad(key, f"a list of {n} whole numbers from {lo} to {hi}")
        return tuple(v)

    def numbers(self, key: str, default=None, max_len: int = 64) -> tuple[float, ...] | None:
        if key not in self.d:
            return default
        v = self.d[key]
        if (not isinstance(v, list) or len(v) > max_len
                or not all(_is_finite_number(x) for x in v)):
            raise self._bad(key, f"a list of at most {max_len} numbers")
        return tuple(float(x) for x in v)

    def matrix(self, key: str, max_side: int, default=None) -> np.ndarray | None:
        """A 2-D grid of numbers (rows of equal length, 1 to ``max_side`` each way)."""
        if key not in self.d:
            return default
        v = self.d[key]
        rows_ok = (isinstance(v, list) and 1 <= len(v) <= max_side
                   and all(isinstance(r, list) and 1 <= len(r) <= max_side for r in v))
        if not rows_ok or len({len(r) for r in v}) != 1 or not all(_is_finite_number(x) for r in v for x in r):
            raise self._bad(key, f"rows of numbers, all the same length, at most {max_side}×{max_side}")
        return np.array(v, dtype=np.float32)


def _is_finite_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def matrix_to_json(m: np.ndarray) -> list[list[float]]:
    """A 2-D array as rows of plain numbers (whole numbers stay whole)."""
    return [[int(x) if float(x).is_integer() else round(float(x), 6) for x in row] for row in np.asarray(m)]
