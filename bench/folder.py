"""Streaming an image folder: cnnviz's pipeline against a plain ``image_dataset_from_directory``.

    python bench/folder.py [--files 20000] [--classes 3] [--side 64] [--batch 32] [--repeats 4]
                           [--json out.json]

Generates ``--files`` small JPEGs (noise with a tint per class, sides varying around ``--side``)
in 2–5 class folders in a temporary folder, then, each in a fresh process:

- throughput: one epoch of cnnviz's folder pipeline (:func:`cnnviz.ml.datasets.load_folder` +
  :meth:`FolderDataset.stream`: listing, parallel decode, resize to ``side``×``side`` RGB with
  area interpolation, ÷255, one-hot, prefetch, and the bookkeeping that counts unreadable files)
  against ``keras.utils.image_dataset_from_directory`` with the same size, interpolation, batch,
  shuffling and ÷255/prefetch. Samples per second over the whole epoch, pipeline creation
  included; runs alternate, and the best run of each is compared (on a shared machine another
  process taking a core slows single runs by half; the medians and the CPU time per sample,
  which such contention hardly moves, are printed too). Target: cnnviz ≥ 0.9 × plain.
- time to the first batch of each (listing included).
- peak RSS of a process that streams one epoch of a folder of ``--files`` and of one a quarter
  that size (hard links to the same files): the streamed pipeline must not grow with the folder
  (the in-memory array it replaced is printed for comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def generate(root: Path, files: int, classes: int, side: int, seed: int = 0) -> None:
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    tints = rng.integers(40, 215, size=(classes, 3))
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
    base = rng.integers(0, 60, size=(side + 16, side + 16, 3), dtype=np.uint8)
    for i in range(files):
        c = i % classes
        h, w = side + int(rng.integers(-8, 9)), side + int(rng.integers(-8, 9))
        y, x = int(rng.integers(0, 16)), int(rng.integers(0, 16))
        img = base[y:y + h, x:x + w] + tints[c].astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        (root / f"class{c}" / f"{i:06d}.jpg").write_bytes(buf.tobytes())


def link_subset(src: Path, dst: Path, files: int) -> None:
    """A smaller folder of the same files (hard links: nothing is copied)."""
    classes = sorted(p for p in src.iterdir() if p.is_dir())
    per_class = files // len(classes)
    for cls in classes:
        (dst / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[:per_class]:
            os.link(f, dst / cls.name / f.name)


# --- children ------------------------------------------------------------------------------


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _cnnviz_epoch(root: Path, side: int, batch: int, seed: int) -> tuple[float, float, int, float]:
    from cnnviz.ml import datasets as data

    c0, t0 = _cpu(), time.perf_counter()
    ds = data.load("folder", path=root, size=side, channels=3)
    stream = ds.stream((side, side, 3), batch, shuffle=True, seed=seed)
    stream.begin_epoch()
    first, n = None, 0
    for x, _y in stream.dataset:
        if first is None:
            first = time.perf_counter() - t0
        n += int(x.shape[0])
    elapsed = time.perf_counter() - t0
    assert not stream.end_epoch()
    return first, elapsed, n, _cpu() - c0


def _plain_epoch(root: Path, side: int, batch: int, seed: int) -> tuple[float, float, int, float]:
    from cnnviz.ml.backend import keras as _keras
    from cnnviz.ml.backend import tensorflow

    keras, tf = _keras(), tensorflow()
    c0, t0 = _cpu(), time.perf_counter()
    ds = keras.utils.image_dataset_from_directory(
        root, label_mode="categorical", color_mode="rgb", image_size=(side, side), batch_size=batch,
        shuffle=True, seed=seed, interpolation="area", verbose=False)
    ds = ds.map(lambda x, y: (x / 255.0, y)).prefetch(tf.data.AUTOTUNE)
    first, n = None, 0
    for x, _y in ds:
        if first is None:
            first = time.perf_counter() - t0
        n += int(x.shape[0])
    return first, time.perf_counter() - t0, n, _cpu() - c0


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args) -> dict:
    from cnnviz.ml.backend import tensorflow

    tensorflow()
    root = Path(args.root)
    if args.child == "throughput":
        warm = Path(args.warm)
        _cnnviz_epoch(warm, args.side, args.batch, 0)  # graph building, thread pools, file cache
        _plain_epoch(warm, args.side, args.batch, 0)
        runs: dict[str, list] = {"cnnviz": [], "plain": []}
        for k in range(args.repeats):
            order = ("cnnviz", "plain") if k % 2 == 0 else ("plain", "cnnviz")
            for name in order:
                fn = _cnnviz_epoch if name == "cnnviz" else _plain_epoch
                first, elapsed, n, cpu = fn(root, args.side, args.batch, k)
                runs[name].append({"first_batch_s": first, "epoch_s": elapsed, "samples": n,
                                   "cpu_s": cpu})
        return runs
    baseline = _rss_mb()
    first, elapsed, n, _ = _cnnviz_epoch(root, args.side, args.batch, 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"baseline_rss_mb": baseline, "peak_rss_mb": peak, "samples": n, "epoch_s": elapsed}


def _run_child(mode: str, root: Path, args, warm: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--root", str(root), "--side", str(args.side),
           "--batch", str(args.batch), "--repeats", str(args.repeats)]
    if warm is not None:
        cmd += ["--warm", str(warm)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--classes", type=int, default=3, choices=range(2, 6))
    p.add_argument("--side", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--json", type=Path)
    p.add_argument("--child", choices=("throughput", "rss"), help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--warm", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="cnnviz-bench-folder-"))
    try:
        big, small, warm = tmp / "big", tmp / "small", tmp / "warm"
        t0 = time.perf_counter()
        generate(big, args.files, args.classes, args.side)
        link_subset(big, small, args.files // 4)
        link_subset(big, warm, 600)
        print(f"generated {args.files} JPEGs in {args.classes} classes ({args.side}±8 px) in "
              f"{time.perf_counter() - t0:.1f}s", flush=True)

        runs = _run_child("throughput", big, args, warm)
        result: dict = {"files": args.files, "classes": args.classes, "side": args.side,
                        "batch": args.batch, "runs": runs}
        for name in ("cnnviz", "plain"):
            rates = [r["samples"] / r["epoch_s"] for r in runs[name]]
            result[f"{name}_samples_per_s"] = max(rates)
            result[f"{name}_samples_per_s_median"] = statistics.median(rates)
            result[f"{name}_first_batch_s"] = statistics.median(r["first_batch_s"] for r in runs[name])
            result[f"{name}_cpu_ms_per_1000"] = statistics.median(
                1000 * r["cpu_s"] / r["samples"] * 1000 for r in runs[name])
        ratio = result["cnnviz_samples_per_s"] / result["plain_samples_per_s"]
        result["ratio"] = ratio
        print(f"samples/s   cnnviz {result['cnnviz_samples_per_s']:8.0f}   plain "
              f"{result['plain_samples_per_s']:8.0f}   ratio {ratio:.2f} (target >= 0.9; best of "
              f"{args.repeats})")
        median_ratio = result["cnnviz_samples_per_s_median"] / result["plain_samples_per_s_median"]
        result["median_ratio"] = median_ratio
        print(f"  medians   cnnviz {result['cnnviz_samples_per_s_median']:8.0f}   plain "
              f"{result['plain_samples_per_s_median']:8.0f}   ratio {median_ratio:.2f}")
        cpu_ratio = result["plain_cpu_ms_per_1000"] / result["cnnviz_cpu_ms_per_1000"]
        result["cpu_ratio"] = cpu_ratio
        print(f"CPU time    cnnviz {result['cnnviz_cpu_ms_per_1000']:6.0f} ms   plain "
              f"{result['plain_cpu_ms_per_1000']:6.0f} ms per 1000 samples   ratio {cpu_ratio:.2f} "
              f"(less sensitive to other processes on the machine than wall time)")
        print(f"first batch cnnviz {result['cnnviz_first_batch_s'] * 1000:6.0f} ms   plain "
              f"{result['plain_first_batch_s'] * 1000:6.0f} ms")

        rss = {}
        for label, root, n in (("quarter", small, len(list(small.rglob("*.jpg")))),
                               ("full", big, args.files)):
            rss[label] = _run_child("rss", root, args) | {"files": n}
            r = rss[label]
            array_mb = n * args.side * args.side * 3 / 2**20
            print(f"peak RSS {n:6d} files: {r['peak_rss_mb']:7.0f} MB (after importing TensorFlow "
                  f"{r['baseline_rss_mb']:.0f} MB; as one uint8 array the images alone would be "
                  f"{array_mb:.0f} MB, {4 * array_mb:.0f} MB as float32)")
        growth = rss["full"]["peak_rss_mb"] - rss["quarter"]["peak_rss_mb"]
        result["rss"] = rss
        result["rss_growth_mb"] = growth
        print(f"peak RSS growth from {rss['quarter']['files']} to {args.files} files: {growth:+.0f} MB "
              f"(target: does not grow with the folder)")
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
