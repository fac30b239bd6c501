"""Filtering through a kept spectrum, and large kernels summed in row blocks: the same
correlation as OpenCV's ``filter2D`` (``apply_kernel``), up to float32 rounding.

Tolerance everywhere: max |fast − direct| ≤ 1e-5 × max |direct| (in practice ~5e-7)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core import kernels, spectrum
from cnnviz.core.kernels import BORDERS, IncrementalFilter, apply_kernel, apply_kernel_fast

RTOL = 1e-5


def _close(fast: np.ndarray, direct: np.ndarray) -> None:
    assert fast.shape == direct.shape and fast.dtype == np.float32
    np.testing.assert_allclose(fast, direct, rtol=0, atol=RTOL * float(np.abs(direct).max()))


@pytest.mark.parametrize("channels", [0, 1, 3, 4])
@pytest.mark.parametrize("bands", [1, 2, 3])
def test_spectrum_filter_gives_filter2d_for_every_border_mode_and_kernel_shape(channels, bands):
    rng = np.random.default_rng(channels * 10 + bands)
    h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
    shape = (h, w) if channels == 0 else (h, w, channels)
    image = rng.uniform(0, 255, shape).astype(np.float32)
    for border in BORDERS:
        sf = spectrum.SpectrumFilter(image, BORDERS[border], 8, bands=bands)
        assert len(sf.bands) == bands and sf.size[0] >= sf.band_rows + 16 and sf.size[1] >= w + 16
        for kh, kw in ((15, 15), (17, 17), (12, 14), (9, 16), (1, 13), (16, 1), (3, 3)):
            k = rng.normal(size=(kh, kw)).astype(np.float32)
            for mode in ("correlate", "convolve"):
                slid, anchor = kernels._slid(k, mode)
                _close(sf.correlate(slid, anchor), apply_kernel(image, k, mode=mode, border=border))


def test_spectrum_filter_refuses_what_it_cannot_do():
    image = np.zeros((40, 40), np.float32)
    sf = spectrum.SpectrumFilter(image, BORDERS["reflect"], 4)
    with pytest.raises(ValueError, match="padding"):
        sf.correlate(np.ones((11, 11), np.float32), (5, 5))
    with pytest.raises(ValueError, match="float32"):
        spectrum.SpectrumFilter(np.zeros((40, 40), np.uint8), BORDERS["reflect"], 4)
    with pytest.raises(ValueError, match="float32"):
        spectrum.SpectrumFilter(np.zeros((40, 40, 5), np.float32), BORDERS["reflect"], 4)


def test_every_result_is_a_new_array_and_earlier_ones_stay():
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 255, (64, 70, 3)).astype(np.float32)
    sf = spectrum.SpectrumFilter(image, BORDERS["zero"], 8, bands=2)
    a = sf.correlate(rng.normal(size=(15, 15)).astype(np.float32), (7, 7))
    kept = a.copy()
    b = sf.correlate(rng.normal(size=(15, 15)).astype(np.float32), (7, 7))
    assert a is not b
    np.testing.assert_array_equal(a, kept)


def test_a_result_can_be_written_into_an_array_given_for_it():
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 255, (64, 70, 3)).astype(np.float32)
    sf = spectrum.SpectrumFilter(image, BORDERS["reflect"], 8, bands=2)
    k = rng.normal(size=(9, 9)).astype(np.float32)
    out = np.full(image.shape, np.nan, np.float32)
    assert sf.correlate(k, (4, 4), out=out) is out
    _close(out, apply_kernel(image, k))
    for wrong in (np.empty((64, 70), np.float32), np.empty(image.shape, np.float64), np.empty((70, 64, 3), np.float32).transpose(1, 0, 2)):
        with pytest.raises(ValueError, match="out must be"):
            sf.correlate(k, (4, 4), out=wrong)


@pytest.mark.parametrize("shape", [(120, 90), (120, 90, 3), (120, 90, 1)])
def test_the_incremental_filter_writes_again_only_results_nobody_holds(shape):
    """A result memory is used again only once nothing outside the filter holds it (nor a view
    of it): every result still held keeps its values, and each call's is right."""
    rng = np.random.default_rng(len(shape))
    image = rng.uniform(0, 255, shape).astype(np.float32)
    f = IncrementalFilter()
    k = rng.normal(size=(5, 5)).astype(np.float32)
    held = []
    for step in range(12):
        k = k.copy()
        k[step % 5, (2 * step) % 5] += 0.5  # one cell: an incremental step
        result = f.apply(image, k)
        _close(result, apply_kernel(image, k))
        if step % 4 == 0:
            held.append((result, result.copy()))
        elif step % 4 == 1:
            held.append((result[10:20, 5:9], result[10:20, 5:9].copy()))  # a view keeps it too
        del result
    for kept, values in held:
        np.testing.assert_array_equal(kept, values)
    # results dropped at once: two arrays take turns (the last result, where the next step
    # starts from, and the one before it, written again)
    import weakref

    arrays = []
    for step in range(8):
        k = k.copy()
        k[step % 5, 1] -= 0.25
        result = f.apply(image, k)
        arrays.append(weakref.ref(result))
        del result
    assert all(a() is not None for a in arrays) and len({id(a()) for a in arrays}) == 2


def test_two_threads_filtering_at_once_never_write_into_a_result_still_held():
    """The window filters on its own thread and on a background one at the same time: each
    result is right for its kernel, and none a thread still holds is ever written again."""
    import threading

    rng = np.random.default_rng(11)
    image = rng.uniform(0, 255, (64, 72, 3)).astype(np.float32)
    f = IncrementalFilter()
    start = rng.normal(size=(5, 5)).astype(np.float32)
    f.apply(image, start)
    problems: list[str] = []

    def work(seed: int) -> None:
        local = np.random.default_rng(seed)
        k, held = start.copy(), []
        for step in range(40):
            k = k.copy()
            k[local.integers(5), local.integers(5)] += float(local.normal())
            result = f.apply(image, k)
            if not np.allclose(result, apply_kernel(image, k), rtol=0, atol=1e-4 * float(np.abs(result).max())):
                problems.append(f"thread {seed}, step {step}: wrong result")
            held.append((result, result.copy()))
            del held[:-3]
            if any(not np.array_equal(kept, values) for kept, values in held):
                problems.append(f"thread {seed}, step {step}: a held result changed")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert problems == []


def test_fast_dft_sizes_are_large_enough_made_of_small_primes_and_remembered():
    for h, w in ((1096, 1936), (556, 1936), (70, 33)):
        a, b = spectrum.fast_dft_size(h, w)
        assert h <= a <= h * 1.09 + 2 and w <= b <= w * 1.09 + 2
        for n in (a, b):
            for p in (2, 3, 5, 7, 11, 13):
                while n % p == 0:
                    n //= p
            assert n == 1
        assert spectrum.fast_dft_size(h, w) == (a, b)


def test_run_parallel_returns_results_in_order_and_raises_a_jobs_error():
    assert spectrum.run_parallel([lambda i=i: i * i for i in range(7)]) == [i * i for i in range(7)]

    def broken():
        raise RuntimeError("this job failed")

    with pytest.raises(RuntimeError, match="this job failed"):
        spectrum.run_parallel([lambda: 1, broken, lambda: 3])


@pytest.mark.parametrize("channels", [0, 3])
def test_a_whole_new_kernel_on_a_large_image_goes_through_the_kept_spectrum(channels, monkeypatch):
    """With a large image (made small here by lowering the threshold), a new full-rank kernel
    is filtered through the image's spectrum, computed once and kept for the next kernel; cell
    edits then update that result, low-rank kernels still go as separable passes, and a NaN in
    the image is refused in words."""
    monkeypatch.setattr(kernels, "SPECTRUM_MIN_PIXELS", 1000)
    made = []
    real = spectrum.SpectrumFilter
    monkeypatch.setattr(kernels, "SpectrumFilter", lambda *a, **k: made.append(1) or real(*a, **k))
    rng = np.random.default_rng(channels)
    shape = (80, 96) if channels == 0 else (80, 96, channels)
    image = rng.uniform(0, 255, shape).astype(np.float32)
    f = IncrementalFilter()
    for mode in ("correlate", "convolve"):
        for _ in range(2):
            k = rng.normal(size=(15, 15)).astype(np.float32)
            _close(f.apply(image, k, mode=mode), apply_kernel(image, k, mode=mode))
    assert made == [1]  # one spectrum for four kernels
    k = k.copy()
    k[3, 4] += 2.5
    _close(f.apply(image, k, mode="convolve"), apply_kernel(image, k, mode="convolve"))
    box = np.ones((15, 15), np.float32) / 225
    np.testing.assert_array_equal(f.apply(image, box), apply_kernel_fast(image, box))
    f.apply(image, rng.normal(size=(15, 15)).astype(np.float32), border="zero")
    assert made == [1, 1]  # another border rule: another spectrum
    bad = image.copy()
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        IncrementalFilter().apply(bad, rng.normal(size=(15, 15)).astype(np.float32))


@pytest.mark.parametrize("channels", [0, 3])
def test_large_kernels_are_summed_in_row_blocks_as_filter2d_sums_them(channels):
    """Kernels of 130 cells or more (which filter2D would filter through the frequency domain)
    are summed directly, in blocks of whole rows under 130 cells each."""
    rng = np.random.default_rng(7 + channels)
    shape = (57, 63) if channels == 0 else (57, 63, channels)
    image = rng.uniform(-200, 255, shape).astype(np.float32)
    for kh, kw in ((13, 13), (9, 15), (15, 9), (10, 13), (15, 15)):
        assert kh * kw >= kernels.DFT_CELLS
        k = rng.normal(size=(kh, kw)).astype(np.float32)
        for mode in ("correlate", "convolve"):
            for border in BORDERS:
                _close(apply_kernel_fast(image, k, mode=mode, border=border), apply_kernel(image, k, mode=mode, border=border))
