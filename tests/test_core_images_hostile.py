"""Hostile and odd image files: each loads correctly or is refused with a plain message, and
nothing blocks, reads forever or allocates a bomb's pixels."""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np
import pytest

from cnnviz.core import images
from cnnviz.core.images import ImageLoadError, load_image, read_image_size


def test_fifo_and_devices_never_block(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(fifo)  # np.fromfile on a FIFO waits for a writer forever
    assert read_image_size(fifo) is None
    zero = tmp_path / "zero.png"
    zero.symlink_to("/dev/zero")
    with pytest.raises(ImageLoadError, match="not a regular file"):
        load_image(zero)
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(ImageLoadError, match="cannot be read .*symbolic links"):
        load_image(loop)


def test_huge_file_is_refused_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    with open(path, "wb") as fh:
        fh.write(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())
        fh.truncate(3 * 1024**3)  # sparse
    with pytest.raises(ImageLoadError, match=r"3.0 GB, more than the 1 GB an image may have"):
        load_image(path)
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 10)
    small = tmp_path / "small.png"
    small.write_bytes(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())
    with pytest.raises(ImageLoadError, match="more than the"):
        load_image(small)


def test_animated_gif_and_multipage_tiff_give_their_first_frame(tmp_path):
    from PIL import Image

    gif = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (20, 10), c) for c in ("red", "blue")]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = load_image(gif)
    assert img.shape == (10, 20, 3) and tuple(img[0, 0]) == (255, 0, 0)
    tif = tmp_path / "pages.tif"
    assert cv2.imwritemulti(str(tif), [np.full((10, 20, 3), 50, np.uint8), np.full((30, 40, 3), 200, np.uint8)])
    img = load_image(tif)
    assert img.shape == (10, 20, 3) and (img == 50).all()


def test_cmyk_jpeg_loads_as_rgb(tmp_path):
    from PIL import Image

    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    img = load_image(path)
    assert img.shape == (8, 16, 3)
    assert img[..., 0].min() > 240 and img[..., 1:].max() < 15


def test_long_thin_png_under_the_limit_loads(tmp_path):
    path = tmp_path / "thin.png"
    cv2.imwrite(str(path), np.arange(100_000, dtype=np.uint32).astype(np.uint8).reshape(100_000, 1))
    img = load_image(path, gray=True)
    assert img.shape == (100_000, 1) and img[257, 0] == 1


def _bmp(w: int, h: int) -> bytes:
    return b"BM" + struct.pack("<IHHI", 58, 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, w, h, 1, 24, 0, 4, 0, 0, 0, 0) + b"\0" * 4


@pytest.mark.parametrize("name, data, size", [
    ("bomb.webp", b"RIFF" + struct.pack("<I", 18) + b"WEBPVP8X" + struct.pack("<I", 10) + bytes(4)
     + (16383).to_bytes(3, "little") * 2, "16384×16384"),
    ("bomb.bmp", _bmp(100_000, 100_000), "100000×100000"),
    ("upside.bmp", _bmp(20_000, -20_000), "20000×20000"),
    ("bomb.pgm", b"P5\n# comment\n100000 100000\n255\n" + bytes(10), "100000×100000"),
    ("bomb.gif", b"GIF89a" + struct.pack("<HH", 65535, 65535) + bytes(3), "65535×65535"),
])
def test_bomb_headers_are_refused_before_decoding(tmp_path, name, data, size):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageLoadError, match=f"{size} = .* more than the limit"):
        load_image(path)


@pytest.mark.parametrize("name, data", [
    ("bomb.pam", b"P7\nWIDTH 100000\nHEIGHT 100000\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n" + bytes(10)),
    ("bomb.pfm", b"PF\n100000 100000\n-1.0\n" + bytes(10)),
    ("bomb.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 100000 +X 100000\n" + bytes(10)),
    ("image.exr", b"\x76\x2f\x31\x01\x02\x00\x00\x00" + bytes(64)),
])
def test_formats_without_a_size_check_are_refused(tmp_path, monkeypatch, name, data):
    # OpenCV decodes these too, but their size would only be known after the pixels exist.
    monkeypatch.setenv("OPENCV_IO_ENABLE_OPENEXR", "1")
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageLoadError, match="not an image format cnnviz can read .* it reads PNG, JPEG"):
        load_image(path)


@pytest.mark.parametrize("name, text", [
    ("drawing.svg", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
    ("drawing.png", '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'),
])
def test_svg_is_refused_with_a_reason(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ImageLoadError, match="SVG drawing .* Export it as PNG"):
        load_image(path)
