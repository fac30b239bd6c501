"""Filtering one image with many kernels through its spectrum, computed once.

Summed directly, a painted 15×15 kernel costs 225 multiply-adds per pixel and channel. A
correlation is a product in the frequency domain: with the image's DFT kept, each new kernel
costs the kernel's DFT, one product per frequency and one inverse DFT — on a gray 1080p image
about half of OpenCV's own ``filter2D`` (which transforms the image again on every call). The
image is cut into horizontal bands of equal height (with the rows each band's kernel windows
reach), one per core: all bands and channels share one kernel DFT, and their products and
inverse transforms run on several threads at once.

The result is the same correlation, border rule included (the image is padded by the rule
before it is transformed, and the padding is wide enough that the transform's wrap-around never
reaches the pixels kept), up to float32 rounding: about 1e-6 of the largest value.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

__all__ = ["SpectrumFilter", "band_count", "fast_dft_size", "run_parallel", "usable_cores"]

_TIMES: dict[int, dict[int, float]] = {}
_SIZES: dict[tuple[int, int], tuple[int, int]] = {}
_TIMES_LOCK = threading.Lock()
#: Lengths tried are at most this fraction longer than the one needed.
_LENGTH_SLACK = 0.08
#: The fastest lengths (by their rows' transforms) of each side whose 2-D sizes are timed.
_FINALISTS = 3


def _smooth(n: int) -> bool:
    """True when every prime factor of ``n`` is at most 13 (OpenCV has butterflies for them)."""
    for p in (2, 3, 5, 7, 11, 13):
        while n % p == 0:
            n //= p
    return n == 1


def _best_of(f: Callable[[], object], repeats: int) -> float:
    f()
    spent = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        spent = min(spent, time.perf_counter() - t0)
    return spent


def _transform_times(n: int) -> dict[int, float]:
    """Seconds one real DFT of each candidate length of at least ``n`` takes here (timed once
    per ``n`` on a few rows): OpenCV's optimal size and the even lengths up to 8 % longer made
    of primes up to 13."""
    with _TIMES_LOCK:
        if n in _TIMES:
            return _TIMES[n]
    candidates = {cv2.getOptimalDFTSize(n)}
    candidates.update(m for m in range(n + (n & 1), int(n * (1 + _LENGTH_SLACK)) + 2, 2) if _smooth(m))
    rows = np.random.default_rng(0).random((32, max(candidates)), dtype=np.float32)
    times = {}
    for m in sorted(candidates):
        a = np.ascontiguousarray(rows[:, :m])
        times[m] = _best_of(lambda a=a: cv2.dft(a, flags=cv2.DFT_ROWS), 3) / len(a)
    with _TIMES_LOCK:
        _TIMES[n] = times
    return times


def fast_dft_size(h: int, w: int) -> tuple[int, int]:
    """The size of at least ``h × w`` whose 2-D DFT OpenCV computes fastest here (timed once
    per size asked for).

    ``cv2.getOptimalDFTSize`` picks the smallest product of 2, 3 and 5, which is not always the
    fastest: for a 1080p image padded to 1,096 × 1,936 it gives 1,125 × 1,944, whose transforms
    take about 1.4 times as long as those of 1,152 × 1,936. The fastest few lengths of each side
    (timed on a few rows) are combined and each size's transform timed; a power of two is not
    always best, as its columns can collide in the cache."""
    with _TIMES_LOCK:
        if (h, w) in _SIZES:
            return _SIZES[(h, w)]
    th, tw = _transform_times(h), _transform_times(w)
    rows = sorted(th, key=th.get)[:_FINALISTS]
    cols = sorted(tw, key=tw.get)[:_FINALISTS]
    best, best_time = (cv2.getOptimalDFTSize(h), cv2.getOptimalDFTSize(w)), float("inf")
    scratch = np.random.default_rng(0).random((max(rows), max(cols)), dtype=np.float32)
    for a in rows:
        for b in cols:
            part = np.ascontiguousarray(scratch[:a, :b])
            out = np.empty_like(part)
            spent = _best_of(lambda p=part, o=out: cv2.dft(p, dst=o), 1)
            if spent < best_time:
                best, best_time = (a, b), spent
    with _TIMES_LOCK:
        _SIZES[(h, w)] = best
    return best


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system tells it), at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def run_parallel(jobs: list[Callable[[], object]]) -> list:
    """Each job's result, the jobs run on up to as many threads as there are cores (OpenCV lets
    go of the GIL while it computes); an exception in a job is raised here."""
    cores = min(usable_cores(), len(jobs))
    if cores == 1:
        return [job() for job in jobs]
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []
    lock = threading.Lock()
    todo = list(range(len(jobs)))

    def work() -> None:
        while True:
            with lock:
                if not todo or errors:
                    return
                i = todo.pop(0)
            try:
                results[i] = jobs[i]()
            except BaseException as exc:  # re-raised on the calling thread
                with lock:
                    errors.append(exc)

    threads = [threading.Thread(target=work, name="cnnviz-spectrum", daemon=True) for _ in range(cores - 1)]
    for t in threads:
        t.start()
    work()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def band_count(rows: int) -> int:
    """How many bands an image of ``rows`` rows is cut into: one per core, each of at least
    256 rows (smaller ones would spend more on their overlap than they save)."""
    return max(1, min(usable_cores(), rows // 256))


class SpectrumFilter:
    """One float32 image (gray, or up to 4 channels) ready to be correlated with kernels of up
    to ``2 × pad + 1`` cells a side: padded by ``border_flag`` (an OpenCV border rule), cut into
    ``bands`` horizontal bands (default :func:`band_count`) and transformed once, band by band
    and channel by channel."""

    def __init__(self, source: np.ndarray, border_flag: int, pad: int, bands: int | None = None) -> None:
        if source.dtype != np.float32 or source.ndim not in (2, 3) or (source.ndim == 3 and source.shape[2] > 4):
            raise ValueError("SpectrumFilter takes a float32 image of up to 4 channels")
        self.shape = source.shape
        self.pad = pad
        h, w = source.shape[:2]
        n = max(1, min(bands or band_count(h), h))
        self.band_rows = -(-h // n)  # every band this tall (the last one filled up with zeros)
        self.bands = [(r0, min(h, r0 + self.band_rows)) for r0 in range(0, h, self.band_rows)]
        self.size = fast_dft_size(self.band_rows + 2 * pad, w + 2 * pad)
        padded = cv2.copyMakeBorder(source, pad, pad, pad, pad, border_flag, value=0)
        planes = [padded] if padded.ndim == 2 else list(cv2.split(padded))
        self.parts = [(b, c) for b in range(len(self.bands)) for c in range(len(planes))]
        self.spectra = run_parallel([lambda b=b, c=c: self._forward(planes[c], b) for b, c in self.parts])
        # the work arrays of :meth:`correlate`, kept: a fresh 9 MB array costs ~1 ms of page
        # faults when it is first written
        self._lock = threading.Lock()
        self._placed = np.zeros(self.size, np.float32)
        self._kernel_spectrum = np.empty(self.size, np.float32)
        self._work = [np.empty(self.size, np.float32) for _ in self.parts]

    def _forward(self, plane: np.ndarray, band: int) -> np.ndarray:
        r0, _ = self.bands[band]
        rows = plane[r0 : r0 + self.band_rows + 2 * self.pad]
        dh, dw = self.size
        filled = cv2.copyMakeBorder(rows, 0, dh - rows.shape[0], 0, dw - rows.shape[1], cv2.BORDER_CONSTANT, value=0)
        return cv2.dft(filled)

    def fits(self, kernel_shape: tuple[int, int], anchor: tuple[int, int]) -> bool:
        """True when a kernel of this shape, anchored at ``anchor`` (x, y), reaches at most
        ``pad`` pixels past the image on every side."""
        (kh, kw), (ax, ay), p = kernel_shape, anchor, self.pad
        return ay <= p and kh - 1 - ay <= p and ax <= p and kw - 1 - ax <= p

    def correlate(self, kernel: np.ndarray, anchor: tuple[int, int], out: np.ndarray | None = None) -> np.ndarray:
        """``cv2.filter2D(image, CV_32F, kernel, anchor=anchor, borderType=border_flag)`` of the
        image given at construction (in ``out``, a float32 array of its shape, when given; else
        a new array)."""
        kernel = np.asarray(kernel, np.float32)
        if not self.fits(kernel.shape, anchor):
            raise ValueError(f"a {kernel.shape[0]}×{kernel.shape[1]} kernel reaches past the {self.pad}-pixel padding")
        kh, kw = kernel.shape
        ax, ay = anchor
        p = self.pad
        w = self.shape[1]
        flags = cv2.DFT_INVERSE | cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT
        if out is None:
            out = np.empty(self.shape, np.float32)
        elif out.shape != self.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-ordered float32 array of shape {self.shape}")
        with self._lock:
            # output (y, x) = Σ k[i, j] · padded[y + p − ay + i, x + p − ax + j]: the kernel sits
            # at (p − ay, p − ax) of the circular correlation
            window = self._placed[p - ay : p - ay + kh, p - ax : p - ax + kw]
            window[...] = kernel
            cv2.dft(self._placed, dst=self._kernel_spectrum)
            window[...] = 0.0

            def band_job(band: int) -> None:
                r0, r1 = self.bands[band]
                planes = []
                for i, (b, _channel) in enumerate(self.parts):
                    if b != band:
                        continue
                    work = self._work[i]
                    cv2.mulSpectrums(self.spectra[i], self._kernel_spectrum, 0, work, conjB=True)
                    cv2.dft(work, dst=work, flags=flags)  # in place
                    planes.append(work[: r1 - r0, :w])
                rows = out[r0:r1]  # whole rows of a C-ordered array: one contiguous block
                if len(planes) == 1:
                    rows[...] = planes[0].reshape(rows.shape)
                else:
                    merged = cv2.merge(planes, dst=rows)
                    if not np.shares_memory(merged, rows):
                        rows[...] = merged

            run_parallel([lambda b=b: band_job(b) for b in range(len(self.bands))])
        return out
