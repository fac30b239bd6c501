"""How messages cross the pipe between the window and the engine.

A message is ``(kind, job_id, body)``. It travels as frames on a :class:`multiprocessing`
connection: a small header ``(kind, job_id, buffer sizes)``, the body pickled with protocol 5,
then each large buffer (numpy arrays) out of band, written straight from the array's memory and
read into a fresh writable buffer. A body that cannot be unpickled on arrival (say, a job
function whose module fails to import) raises :class:`BodyError`, which still names the job.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import Any

PROTOCOL = 5


class BodyError(Exception):
    """The header arrived but the body could not be unpickled."""

    def __init__(self, kind: str, job_id: int, cause: BaseException) -> None:
        super().__init__(f"{cause.__class__.__name__}: {cause}")
        self.kind = kind
        self.job_id = job_id
        self.cause = cause


def encode(kind: str, job_id: int, body: Any = None) -> list:
    """The frames of one message. Raises (``PicklingError``, ``TypeError``…) if ``body`` cannot
    be pickled, before anything is written."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(body, protocol=PROTOCOL, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    header = pickle.dumps((kind, job_id, [r.nbytes for r in raws]), protocol=PROTOCOL)
    return [header, data, *raws]


def send_frames(conn: Any, frames: list) -> None:
    """Write the frames of one message; the caller holds the connection's send lock."""
    for frame in frames:
        conn.send_bytes(frame)


def receive(conn: Any) -> tuple[str, int, Any]:
    """Read one message. Raises ``EOFError``/``OSError`` when the other side is gone."""
    kind, job_id, sizes = pickle.loads(conn.recv_bytes())
    data = conn.recv_bytes()
    buffers = []
    for size in sizes:
        buffer = bytearray(size)
        _recv_into(conn, buffer)
        buffers.append(buffer)
    try:
        body = pickle.loads(data, buffers=buffers)
    except Exception as exc:
        raise BodyError(kind, job_id, exc) from exc
    return kind, job_id, body


def _recv_into(conn: Any, buffer: bytearray) -> None:
    """Read one frame straight into ``buffer`` (its exact size), without the intermediate copies
    of ``Connection.recv_bytes_into``. The frame layout is the connection's own: a 4-byte
    big-endian length (-1 then 8 bytes for frames over 2 GiB), then the bytes."""
    if sys.platform == "win32":
        if buffer:
            conn.recv_bytes_into(buffer)
        else:
            conn.recv_bytes()
        return
    fd = conn.fileno()
    head = bytearray(4)
    _read_exactly(fd, memoryview(head))
    (size,) = struct.unpack("!i", head)
    if size == -1:
        head = bytearray(8)
        _read_exactly(fd, memoryview(head))
        (size,) = struct.unpack("!Q", head)
    if size != len(buffer):
        raise OSError(f"expected a frame of {len(buffer)} bytes, got {size}")
    _read_exactly(fd, memoryview(buffer))


def _read_exactly(fd: int, view: memoryview) -> None:
    while view:
        count = os.readv(fd, [view])
        if count == 0:
            raise EOFError
        view = view[count:]
