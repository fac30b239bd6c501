"""Loading images: every odd file a student might open either loads correctly or fails clearly."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from cnnviz.core import images
from cnnviz.core.images import (
    ImageLoadError,
    crop,
    fit_within,
    load_image,
    read_image_size,
    resize,
    save_image,
    to_float,
    to_gray,
    to_rgb,
    to_uint8,
)


def _rgb(h: int = 12, w: int = 17, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _write(path: Path, arr: np.ndarray, *params: int) -> Path:
    ok, buf = cv2.imencode(path.suffix, arr, list(params))
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def test_png_loads_as_rgb_in_the_right_channel_order(tmp_path):
    rgb = _rgb()
    path = _write(tmp_path / "a.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (12, 17, 3)
    np.testing.assert_array_equal(out, rgb)


def test_gray_true_uses_bt601_weights(tmp_path):
    rgb = _rgb()
    path = _write(tmp_path / "a.png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    gray = load_image(path, gray=True)
    assert gray.shape == (12, 17) and gray.dtype == np.uint8
    expected = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(gray.astype(np.float64) - expected).max() <= 1.0


def test_jpeg_loads(tmp_path):
    rgb = np.full((16, 24, 3), (200, 40, 90), dtype=np.uint8)
    path = _write(tmp_path / "a.jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), cv2.IMWRITE_JPEG_QUALITY, 98)
    out = load_image(path)
    assert out.shape == (16, 24, 3)
    assert np.abs(out.astype(int) - rgb).max() <= 4  # lossy, but the colour survives


def test_grayscale_file_gives_three_equal_channels_or_2d(tmp_path):
    g = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    path = _write(tmp_path / "g.png", g)
    rgb = load_image(path)
    assert rgb.shape == (6, 10, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], g)
    np.testing.assert_array_equal(load_image(path, gray=True), g)


def test_16_bit_png_is_scaled_to_8_bit(tmp_path):
    g16 = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)  # 257 * k -> k exactly
    g16[0, 0], g16[0, 1] = 65535, 128  # 128/257 rounds to 0
    path = _write(tmp_path / "deep.png", g16)
    assert cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    out = load_image(path, gray=True)
    expected = (np.arange(256).reshape(16, 16)).astype(np.uint8)
    expected[0, 0], expected[0, 1] = 255, 0
    np.testing.assert_array_equal(out, expected)
    rgb16 = np.zeros((2, 2, 3), np.uint16)
    rgb16[..., 2] = 65535  # red in BGR order
    path = _write(tmp_path / "deep_rgb.png", rgb16)
    np.testing.assert_array_equal(load_image(path)[0, 0], [255, 0, 0])


def test_rgba_is_composited_over_white(tmp_path):
    bgra = np.zeros((1, 3, 4), np.uint8)
    bgra[0, 0] = (0, 0, 255, 255)  # opaque red
    bgra[0, 1] = (0, 0, 0, 0)  # fully transparent black
    bgra[0, 2] = (0, 0, 0, 128)  # half transparent black
    path = _write(tmp_path / "alpha.png", bgra)
    out = load_image(path)
    assert out.shape == (1, 3, 3)
    np.testing.assert_array_equal(out[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 2], [127, 127, 127])


def test_one_pixel_image(tmp_path):
    path = _write(tmp_path / "dot.png", np.array([[[10, 20, 30]]], np.uint8))
    np.testing.assert_array_equal(load_image(path), [[[30, 20, 10]]])


def test_non_ascii_path_loads_and_saves(tmp_path):
    rgb = _rgb(5, 7, seed=3)
    path = tmp_path / "ñandú_图.png"
    save_image(path, rgb)
    assert path.exists()
    np.testing.assert_array_equal(load_image(path), rgb)
    assert read_image_size(path) == (7, 5)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".gif", ".webp", ".tif", ".ppm", ".pgm"])
def test_header_size_matches_decoded_size(tmp_path, suffix):
    arr = _rgb(13, 29) if suffix != ".pgm" else _rgb(13, 29)[:, :, 0]
    path = tmp_path / f"a{suffix}"
    if not cv2.haveImageWriter(str(path)):
        pytest.skip(f"this OpenCV build cannot write {suffix}")
    _write(path, arr)
    assert read_image_size(path) == (29, 13)
    assert load_image(path).shape == (13, 29, 3)


def test_lossless_webp_header(tmp_path):
    path = _write(tmp_path / "l.webp", _rgb(9, 31), cv2.IMWRITE_WEBP_QUALITY, 101)
    assert read_image_size(path) == (31, 9)


# ---------------------------------------------------------------- files that must be refused


def _expect_error(path: Path, *words: str) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert path.name in str(err) or str(path) in str(err)
    for word in words:
        assert word in str(err).lower()
    return err


def test_missing_path(tmp_path):
    _expect_error(tmp_path / "nowhere.png", "no file")


def test_directory(tmp_path):
    folder = tmp_path / "photos.png"
    folder.mkdir()
    _expect_error(folder, "folder")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _expect_error(path, "empty")


def test_text_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are my lecture notes, not a picture\n")
    _expect_error(path, "not png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_file(tmp_path, suffix, keep):
    full = _write(tmp_path / f"full{suffix}", _rgb(64, 64, seed=5)).read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(full[: int(len(full) * keep)])
    _expect_error(path, "truncated")


def test_damaged_png_data(tmp_path):
    data = bytearray(_write(tmp_path / "ok.png", _rgb(32, 32, seed=2)).read_bytes())
    idat = data.find(b"IDAT")
    data[idat + 8 : idat + 40] = b"\x00" * 32  # scramble compressed pixels, keep IEND
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    _expect_error(path)


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1×1 PNG whose IHDR is rewritten to claim width × height (CRC fixed)."""
    ok, buf = cv2.imencode(".png", np.zeros((1, 1), np.uint8))
    data = bytearray(buf.tobytes())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(60_000, 60_000))
    assert path.stat().st_size < 200
    assert read_image_size(path) == (60_000, 60_000)
    err = _expect_error(path, "megapixels", "limit")
    assert "60000×60000" in str(err)


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    path = _write(tmp_path / "a.png", _rgb(20, 30))
    with pytest.raises(ImageLoadError, match="limit"):
        load_image(path, max_pixels=599)
    assert load_image(path, max_pixels=600).shape == (20, 30, 3)
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(ImageLoadError, match="megapixels"):
        load_image(path)
    # a bomb well under the limit passes the header check and then fails to decode cleanly
    monkeypatch.setattr(images, "MAX_PIXELS", 100_000_000)
    bomb = tmp_path / "small_claim.png"
    bomb.write_bytes(_png_claiming(50, 50))
    with pytest.raises(ImageLoadError):
        load_image(bomb)


def test_jpeg_bomb_is_refused_from_its_header(tmp_path):
    data = bytearray(_write(tmp_path / "a.jpg", _rgb(8, 8)).read_bytes())
    i = 2
    while True:  # find the start-of-frame segment and rewrite its size
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", 40_000, 40_000)
            break
        i += 2 + length
    path = tmp_path / "bomb.jpg"
    path.write_bytes(bytes(data))
    _expect_error(path, "megapixels")


# ---------------------------------------------------------------- helpers


def test_conversions():
    rgb = _rgb(4, 5)
    f = to_float(rgb)
    assert f.dtype == np.float32 and f.max() <= 1.0
    np.testing.assert_allclose(f * 255, rgb, atol=1e-4)
    np.testing.assert_array_equal(to_uint8(f), rgb)
    assert to_float(np.array([[65535]], np.uint16))[0, 0] == pytest.approx(1.0)
    g = to_gray(rgb)
    assert g.shape == (4, 5) and g.dtype == np.uint8
    assert to_gray(g) is g
    assert to_rgb(g).shape == (4, 5, 3)
    assert to_gray(f).dtype == np.float32


def test_save_float_image_round_trip(tmp_path):
    f = np.linspace(0, 1, 30, dtype=np.float32).reshape(5, 6)
    save_image(tmp_path / "f.png", f)
    np.testing.assert_array_equal(load_image(tmp_path / "f.png", gray=True), np.round(f * 255))


def test_crop_and_resize():
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    np.testing.assert_array_equal(crop(img, 2, 3, 2, 2), [[23, 24], [33, 34]])
    assert crop(img, 8, 8, 5, 5).shape == (2, 2)  # clipped to the image
    with pytest.raises(ValueError, match="outside"):
        crop(img, 20, 20, 2, 2)
    assert resize(img, width=5).shape == (5, 5)
    assert resize(img, scale=2.0, interpolation="nearest").shape == (20, 20)
    assert resize(_rgb(10, 20), height=5).shape == (5, 10, 3)
    with pytest.raises(ValueError, match="interpolation"):
        resize(img, scale=2, interpolation="magic")
    with pytest.raises(ValueError):
        resize(img, scale=0)
    assert fit_within(_rgb(100, 50), 40).shape == (40, 20, 3)
    small = _rgb(10, 10)
    assert fit_within(small, 40) is small


def test_bundled_sample_images_load():
    from cnnviz.paths import sample_images

    paths = sample_images()
    assert paths, "no sample images found"
    for p in paths:
        img = load_image(p)
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8


@pytest.mark.parametrize("name, data, words", [
    ("text.png", b"this is not an image", "the text “this is ”"),
    ("binary.png", bytes(range(20)), "the bytes 00 01 02 03 04 05 06 07"),
    ("binary.xyz", b"\x00\x01garbage", "the bytes 00 01 67 61"),
])
def test_a_file_that_is_not_an_image_is_described_in_words_not_a_bytes_literal(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(images.ImageLoadError) as info:
        images.load_image(path)
    message = str(info.value)
    assert words in message
    assert "b'" not in message and 'b"' not in message
