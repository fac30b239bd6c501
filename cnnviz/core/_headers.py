"""Image dimensions read from file headers, without decoding any pixels.

The loader refuses images larger than a pixel limit *before* handing the bytes to the decoder, so
a tiny file that claims to be 100 000 × 100 000 pixels (a decompression bomb) never allocates its
pixel buffer. OpenCV has no header-only query, so the common formats are parsed here.
"""

from __future__ import annotations

import struct

# name -> leading bytes; checked in order by :func:`sniff_format`
_SIGNATURES: tuple[tuple[str, bytes], ...] = (
    ("PNG", b"\x89PNG\r\n\x1a\n"),
    ("JPEG", b"\xff\xd8\xff"),
    ("GIF", b"GIF87a"),
    ("GIF", b"GIF89a"),
    ("BMP", b"BM"),
    ("TIFF", b"II*\x00"),
    ("TIFF", b"MM\x00*"),
)


def sniff_format(data: bytes) -> str | None:
    """The image format named by the file's first bytes ("PNG", "JPEG", ...), or None."""
    for name, magic in _SIGNATURES:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if len(data) >= 3 and data[:1] == b"P" and data[1] in b"123456" and data[2:3].isspace():
        return "PNM"
    return None


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of PNG, JPEG, GIF, BMP, TIFF, WebP or PNM data.

    Returns None when the format is unknown or the header is incomplete; the decoder then decides.
    """
    fmt = sniff_format(data)
    try:
        if fmt == "PNG":
            return _png(data)
        if fmt == "JPEG":
            return _jpeg(data)
        if fmt == "GIF":
            return _gif(data)
        if fmt == "BMP":
            return _bmp(data)
        if fmt == "TIFF":
            return _tiff(data)
        if fmt == "WEBP":
            return _webp(data)
        if fmt == "PNM":
            return _pnm(data)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    # signature (8) + chunk length (4) + b"IHDR" (4) + width (4) + height (4)
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# Start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF_MARKERS:
            if i + 9 > n:
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header: malformed
            return None
        i += 2 + length
    return None


def _gif(data: bytes) -> tuple[int, int] | None:
    if len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
        return width, height
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # negative height means top-down rows


def _tiff(data: bytes) -> tuple[int, int] | None:
    endian = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(endian + "I", data[4:8])
    (count,) = struct.unpack(endian + "H", data[ifd : ifd + 2])
    width = height = None
    for k in range(count):
        entry = data[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
        tag, typ = struct.unpack(endian + "HH", entry[:4])
        if typ == 3:  # SHORT
            (value,) = struct.unpack(endian + "H", entry[8:10])
        elif typ == 4:  # LONG
            (value,) = struct.unpack(endian + "I", entry[8:12])
        else:
            continue
        if tag == 256:
            width = value
        elif tag == 257:
            height = value
    if width is None or height is None:
        return None
    return width, height


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30:
        # frame tag (3) + start code 9d 01 2a (3) + 14-bit width and height
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        b = data[21:25]
        bits = int.from_bytes(b, "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    return None


def _pnm(data: bytes) -> tuple[int, int] | None:
    tokens: list[bytes] = []
    for line in data[2:4096].splitlines():
        line = line.split(b"#", 1)[0]
        tokens.extend(line.split())
        if len(tokens) >= 2:
            return int(tokens[0]), int(tokens[1])
    return None


def looks_truncated(fmt: str | None, data: bytes) -> bool:
    """True when a PNG lacks its IEND chunk or a JPEG lacks the end-of-image marker after its scan.

    Decoders fill the missing part of a cut JPEG with grey and only warn; a stepper that shows
    invented pixels would teach wrong numbers, so a truncated file is refused instead.
    """
    if fmt == "PNG":
        return b"IEND" not in data
    if fmt == "JPEG":
        sos = data.find(b"\xff\xda")
        if sos < 0:
            return True
        return data.find(b"\xff\xd9", sos) < 0
    return False
