"""Pattern matching: the book's examples, coordinates, OpenCV against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.images import load_image
from cnnviz.core.matching import match_pattern, scale_pattern


def _direct_dot(img: np.ndarray, pat: np.ndarray) -> np.ndarray:
    H, W = img.shape[:2]
    h, w = pat.shape[:2]
    out = np.zeros((H - h + 1, W - w + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[r, c] = np.sum(img[r : r + h, c : c + w] * pat)
    return out


def _direct_ncc(img: np.ndarray, pat: np.ndarray) -> np.ndarray:
    H, W = img.shape[:2]
    h, w = pat.shape[:2]
    p = pat - pat.mean(axis=(0, 1))
    out = np.zeros((H - h + 1, W - w + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            win = img[r : r + h, c : c + w]
            win = win - win.mean(axis=(0, 1))
            den = np.sqrt(np.sum(win * win) * np.sum(p * p))
            out[r, c] = 0.0 if den < 1e-9 else np.sum(win * p) / den
    return out


def test_book_diagonal_example_and_centre():
    image = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 255, 0, 255, 0, 0],
            [0, 255, 0, 0, 0, 255, 0],
            [255, 0, 0, 0, 0, 0, 255],
        ],
        dtype=np.uint8,
    )
    result = match_pattern(image, [[0, 0, 1], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(result.scores, [[0, 510, 0, 255, 0], [765, 0, 255, 0, 255]])
    assert result.best_score == 765
    assert result.best_top_left == (1, 0)
    assert result.best_center == (2, 1)  # the middle pixel of the matched 3×3 window
    assert image[2, 1] == 255


def test_book_chess_example():
    image = np.array([[255, 185, 133, 121], [155, 144, 188, 201], [111, 88, 171, 211], [110, 194, 143, 101]])
    result = match_pattern(image, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(result.scores, [[399, 373, 334], [243, 315, 399], [305, 231, 272]])
    # ties go to the first in row-major order; even sizes centre on the upper-left middle pixel
    assert result.best_top_left == (0, 0) and result.best_center == (0, 0)


def test_score_map_size_and_centre_for_even_patterns():
    rng = np.random.default_rng(0)
    img = rng.random((20, 30))
    pat = img[5:9, 11:17].copy()  # 4×6 cut from the image
    for method in ("dot", "ncc"):
        result = match_pattern(img, pat, method)
        assert result.scores.shape == (17, 25)
    ncc = match_pattern(img, pat, "ncc")
    assert ncc.best_top_left == (5, 11)
    assert ncc.best_score == pytest.approx(1.0)
    assert ncc.best_center == (5 + 1, 11 + 2)  # (h − 1) // 2, (w − 1) // 2
    full = ncc.centered_map()
    assert full.shape == (20, 30)
    assert full[ncc.best_center] == ncc.best_score
    assert np.isnan(full[0, 0]) and np.isnan(full[-1, -1])


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("method", ["dot", "ncc"])
def test_opencv_engine_matches_direct_numpy(method, channels):
    rng = np.random.default_rng(channels)
    shape = (40, 50) if channels == 1 else (40, 50, channels)
    img = rng.integers(0, 256, shape).astype(np.uint8)
    pat = img[12:21, 30:37].astype(np.float64) / 255.0
    cv = match_pattern(img, pat, method, engine="opencv")
    npy = match_pattern(img, pat, method, engine="numpy")
    ref = _direct_dot(img.astype(float), pat) if method == "dot" else _direct_ncc(img.astype(float), pat)
    np.testing.assert_allclose(npy.scores, ref, rtol=1e-10, atol=1e-9)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(cv.scores, ref, rtol=0, atol=2e-5 * scale)
    assert cv.best_top_left == npy.best_top_left
    if method == "ncc":
        assert npy.best_top_left == (12, 30) and npy.best_score == pytest.approx(1.0)


def test_ncc_flat_windows_score_zero_on_both_engines():
    img = np.zeros((30, 30))
    img[10:15, 10:15] = np.eye(5) * 200
    pat = np.eye(5)
    for engine in ("numpy", "opencv"):
        result = match_pattern(img, pat, "ncc", engine=engine)
        assert result.scores[0, 0] == 0.0
        assert result.best_top_left == (10, 10)
        assert result.best_score == pytest.approx(1.0, abs=1e-5)


def test_dot_prefers_bright_areas_ncc_prefers_the_shape():
    img = np.zeros((20, 40))
    img[5:10, 5:10] = np.eye(5)  # the pattern, dim
    img[5:10, 25:30] = 3.0  # a bright block
    pat = np.eye(5)
    assert match_pattern(img, pat, "dot").best_top_left == (5, 25)  # the chapter 1 limitation
    assert match_pattern(img, pat, "ncc").best_top_left == (5, 5)


def test_book_shapes_scene_finds_the_circle():
    from cnnviz.paths import sample_image

    scene = load_image(sample_image("shapes"), gray=True)
    circle = load_image(sample_image("circle_pattern"), gray=True)
    result = match_pattern(scene, circle, "ncc")
    assert result.best_score > 0.9
    r, c = result.best_top_left
    window = scene[r : r + circle.shape[0], c : c + circle.shape[1]]
    assert np.abs(window.astype(int) - circle.astype(int)).mean() < 20


def test_peaks_with_non_maximum_suppression():
    img = np.zeros((40, 60))
    pat = np.ones((3, 3))
    for (r, c), v in {(5, 5): 9.0, (6, 6): 8.0, (20, 40): 7.0, (30, 10): 5.0}.items():
        img[r : r + 3, c : c + 3] = v
    result = match_pattern(img, pat, "dot")
    peaks = result.peaks(3)
    assert [p.top_left for p in peaks] == [(5, 5), (20, 40), (30, 10)]
    assert peaks[0].center == (6, 6)
    assert peaks[0].score == pytest.approx(5 * 9.0 + 4 * 8.0)  # the 8-block overlaps its corner
    assert [p.score for p in peaks] == sorted((p.score for p in peaks), reverse=True)
    assert len(result.peaks(3, min_distance=1)) == 3
    assert result.peaks(0) == []


def test_scale_pattern():
    pat = np.zeros((10, 12), np.uint8)
    assert scale_pattern(pat, 2.0).shape == (20, 24)
    assert scale_pattern(pat, 0.5).shape == (5, 6)
    assert scale_pattern(pat, 0.01).shape == (1, 1)
    assert scale_pattern(np.zeros((4, 4, 3)), 1.5).shape == (6, 6, 3)
    assert scale_pattern(np.zeros((4, 4, 1), np.float32), 2).shape == (8, 8, 1)
    for bad in (0, -1, float("nan"), "big"):
        with pytest.raises(ValueError, match="scale factor"):
            scale_pattern(pat, bad)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: match_pattern(np.zeros((5, 5)), np.ones((6, 2))), ["larger than", "fits nowhere"]),
        (lambda: match_pattern(np.zeros((5, 5)), np.ones((2, 2)), "sad"), ["'dot' or 'ncc'"]),
        (lambda: match_pattern(np.random.rand(5, 5), np.ones((2, 2)), "ncc"), ["flat"]),
        (lambda: match_pattern(np.zeros((5, 5)), np.zeros((0, 2))), ["empty"]),
        (lambda: match_pattern(np.full((5, 5), np.nan), np.ones((2, 2))), ["nan"]),
        (lambda: match_pattern(np.zeros((5, 5)), [[np.inf]]), ["pattern", "nan or infinite"]),
        (lambda: match_pattern(np.zeros((5, 5, 3)), np.ones((2, 2, 2))), ["channels"]),
        (lambda: match_pattern(np.zeros((5, 5)), np.ones((2, 2)), engine="gpu"), ["engine"]),
    ],
)
def test_matching_errors(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word.lower() in str(info.value).lower()
