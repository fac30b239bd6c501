"""Opening an image above the pixel limit at a reduced size (1/2, 1/4, 1/8 ...)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cnnviz.core import images
from cnnviz.core.images import (
    ImageTooLargeError,
    downscale_factor,
    load_image,
    load_image_downscaled,
)


def _write(path, w, h, ext):
    yy, xx = np.mgrid[0:h, 0:w]
    bgr = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 256)], axis=2).astype(np.uint8)
    ok, buf = cv2.imencode(ext, bgr)
    assert ok
    buf.tofile(str(path))
    return bgr


def test_factor_is_the_smallest_power_of_two_that_fits():
    assert downscale_factor(100, 100, 10_000) == 1
    assert downscale_factor(101, 100, 10_000) == 2
    assert downscale_factor(2000, 1500, 200_000) == 4  # 500×375 = 187 500
    assert downscale_factor(2000, 1500, 50_000) == 8  # 250×188 = 47 000
    assert downscale_factor(2000, 1500, 40_000) == 16
    assert downscale_factor(2000, 1500, 3_000) == 32
    assert downscale_factor(2000, 1500, 0) == 1  # no limit


@pytest.mark.parametrize("ext", [".jpg", ".png"])
@pytest.mark.parametrize(("limit", "factor"), [(1_000_000, 2), (200_000, 4), (50_000, 8), (3_000, 32)])
def test_reduced_decode_picks_the_factor_and_size(tmp_path, ext, limit, factor):
    path = tmp_path / f"big{ext}"
    w, h = 2000, 1500  # 3 megapixels
    bgr = _write(path, w, h, ext)
    with pytest.raises(ImageTooLargeError) as err:
        load_image(path, max_pixels=limit)
    assert err.value.size == (w, h) and err.value.limit == limit
    assert "Open it downscaled" in str(err.value)

    out = load_image_downscaled(path, max_pixels=limit)
    assert out.factor == factor
    assert out.original_size == (w, h)
    assert out.image.shape == (-(-h // factor), -(-w // factor), 3)
    assert out.image.shape[0] * out.image.shape[1] <= limit
    assert out.reduced_decode == (ext == ".jpg")
    # the same picture, smaller: compare with an area-shrunk copy of the original
    ref = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), out.image.shape[1::-1],
                     interpolation=cv2.INTER_AREA)
    assert np.abs(out.image.astype(int) - ref.astype(int)).mean() < 6
    text = out.describe()
    assert text.startswith(f"decoded at 1/{factor}: {out.image.shape[1]}×{out.image.shape[0]} from 2000×1500")
    assert ("decoded whole, then shrunk" in text) == (ext == ".png")


def test_reduced_decode_gray_and_small_images(tmp_path):
    path = tmp_path / "big.jpg"
    _write(path, 800, 600, ".jpg")
    out = load_image_downscaled(path, gray=True, max_pixels=120_000)
    assert out.factor == 2 and out.image.shape == (300, 400)
    fits = load_image_downscaled(path, max_pixels=10_000_000)
    assert fits.factor == 1 and fits.image.shape == (600, 800, 3)
    assert fits.describe() == "800×600"


def test_formats_decoded_whole_keep_a_ceiling(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    _write(path, 1000, 1000, ".png")
    monkeypatch.setattr(images, "MAX_FULL_DECODE_PIXELS", 500_000)
    with pytest.raises(images.ImageLoadError, match="cannot be decoded at a reduced size"):
        load_image_downscaled(path, max_pixels=100_000)
    jpg = tmp_path / "big.jpg"
    _write(jpg, 1000, 1000, ".jpg")
    assert load_image_downscaled(jpg, max_pixels=100_000).factor == 4  # 1/4 decoded: 62 500 px
