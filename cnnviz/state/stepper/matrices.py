"""Typed matrices and numbers as a student reads them: :func:`parse_matrix` / :func:`parse_kernel`
/ :func:`parse_filters` read what the editors hold (naming the cell to fix in a :class:`MatrixError`), :func:`fmt` and
:func:`format_matrix` write numbers and matrices back."""

from __future__ import annotations

import math
import re

import numpy as np


class MatrixError(ValueError):
    """A typed matrix that cannot be read; ``row``/``col`` (1-based) and ``span`` (character
    offsets in the text) point at the cell to fix."""

    def __init__(self, message: str, row: int, col: int, span: tuple[int, int]) -> None:
        super().__init__(message)
        self.row, self.col, self.span = row, col, span


_TOKEN = re.compile(r"[^\s,;]+")


def _number(tok: str) -> float:
    t = tok.replace("−", "-")
    if "/" in t:
        num, _, den = t.partition("/")
        return float(num) / float(den)
    return float(t)


def parse_matrix(text: str) -> np.ndarray:
    """Read rows of numbers: rows end with ``;`` or a new line, cells are split by spaces or
    commas; ``1/9`` and ``nan`` are accepted. Raises :class:`MatrixError` naming the cell."""
    rows: list[list[float]] = []
    spans: list[tuple[int, int]] = []  # where each row's text ends, for a missing cell
    pos = 0
    for line in re.split(r"(;|\n)", text):
        if line in (";", "\n"):
            pos += 1
            continue
        start = pos
        pos += len(line)
        cells: list[float] = []
        for m in _TOKEN.finditer(line):
            tok = m.group(0)
            try:
                cells.append(_number(tok))
            except (ValueError, ZeroDivisionError):
                r, c = len(rows) + 1, len(cells) + 1
                raise MatrixError(
                    f"Row {r}, column {c}: '{tok}' is not a number (type e.g. 3, -1.5 or 1/9).",
                    r, c, (start + m.start(), start + m.end()),
                ) from None
        if cells:
            rows.append(cells)
            spans.append((start, pos))
    if not rows:
        raise MatrixError("Type at least one number (rows end with ';' or a new line).", 1, 1, (0, 0))
    width = max(len(r) for r in rows)
    for r, cells in enumerate(rows):
        if len(cells) < width:
            longest = next(i for i, rr in enumerate(rows) if len(rr) == width)
            raise MatrixError(
                f"Row {r + 1}, column {len(cells) + 1} is missing: row {r + 1} has {len(cells)} "
                f"number{'s' if len(cells) != 1 else ''} but row {longest + 1} has {width}.",
                r + 1, len(cells) + 1, spans[r],
            )
    return np.array(rows, dtype=np.float64)


def _parse_parts(text: str, sep: str, parse, what: str) -> list[np.ndarray]:
    """``parse`` each part of ``text`` between ``sep``s; an error names its part ("Channel 2: …")
    and keeps its place in the whole text."""
    out = []
    offset = 0
    for i, part in enumerate(text.split(sep)):
        try:
            out.append(parse(part))
        except MatrixError as e:
            raise MatrixError(
                f"{what} {i + 1}: {e}", e.row, e.col, (e.span[0] + offset, e.span[1] + offset)
            ) from None
        offset += len(part) + len(sep)
    return out


def parse_kernel(text: str) -> np.ndarray:
    """A typed kernel: one matrix, or one per channel separated by ``|`` (stacked to (kh, kw, C))."""
    if "|" not in text:
        return parse_matrix(text)
    mats = _parse_parts(text, "|", parse_matrix, "Channel")
    if any(m.shape != mats[0].shape for m in mats):
        shapes = ", ".join(f"{m.shape[0]}×{m.shape[1]}" for m in mats)
        raise MatrixError(f"Every channel of the kernel must have the same size; got {shapes}.", 1, 1, (0, 0))
    return np.stack(mats, axis=2)


def parse_filters(text: str) -> np.ndarray:
    """A typed kernel of one or more filters: filters separated by ``||``, each one matrix or one
    per channel separated by ``|`` (:func:`parse_kernel`). Several filters stack to Keras's
    (kh, kw, C, K); one filter stays (kh, kw) or (kh, kw, C)."""
    if "||" not in text:
        return parse_kernel(text)
    filters = [k if k.ndim == 3 else k[:, :, None] for k in _parse_parts(text, "||", parse_kernel, "Filter")]
    if any(f.shape != filters[0].shape for f in filters):
        shapes = ", ".join("×".join(map(str, f.shape)) for f in filters)
        raise MatrixError(
            f"Every filter must have the same size and channel count; got {shapes}.", 1, 1, (0, 0)
        )
    return np.stack(filters, axis=3)


def fmt(v: float, digits: int = 4) -> str:
    """A number as a student reads it: integers plainly, others with a few significant digits,
    a real minus sign, NaN spelled out."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if abs(v - round(v)) < 1e-9 and abs(v) < 1e15:
        s = str(int(round(v)))
    else:
        s = f"{v:.{digits}g}"
    return s.replace("-", "−")


def format_matrix(m: np.ndarray) -> str:
    """A 2-D, per-channel 3-D or per-filter 4-D array back as text :func:`parse_filters` reads."""
    m = np.asarray(m)
    if m.ndim == 4:
        return "\n||\n".join(format_matrix(m[:, :, :, f] if m.shape[2] > 1 else m[:, :, 0, f])
                              for f in range(m.shape[3]))
    if m.ndim == 3:
        return "\n|\n".join(format_matrix(m[:, :, c]) for c in range(m.shape[2]))
    return "\n".join(" ".join(fmt(v, 6).replace("−", "-") for v in row) for row in m)


def factor(v: float) -> str:
    s = fmt(v)
    return f"({s})" if s.startswith("−") else s

