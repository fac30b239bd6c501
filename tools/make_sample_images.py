"""Generate cnnviz's bundled ``sample_images/``.

Run from the repository root (the photos are optional and need the scikit-image wheel)::

    python tools/make_sample_images.py
    # to (re)extract the natural photos as well:
    pip download scikit-image --no-deps -d /tmp/skimage
    python tools/make_sample_images.py --skimage-wheel /tmp/skimage/scikit_image-*.whl

What it makes, and why each image is there:

* ``shapes.png`` — the book's Fig. 1.4: a white circle, square, triangle and hexagon on black. The
  shapes have about the same area, and only the circle contains the whole circle pattern, so the
  raw dot product of chapter 1 peaks at the circle's centre (Fig. 1.6-1.8). The app opens it first.
* ``circle_pattern.png`` — the book's Fig. 1.5: the pattern of 0s and 1s (white disc on black), the
  same size as the circle in ``shapes.png``.
* ``sudoku.png`` — a sudoku-like grid on slightly uneven paper, for gradients, Sobel and the
  Laplacian (Fig. 3.4-3.9): thin and thick lines in both directions plus printed digits.
* ``digit_5.png``, ``digit_7.png`` — real MNIST digits (28×28) taken from the bundled
  ``resources/data/mnist_digits.npz`` (the most typical sample of each class); drawn by hand when
  that file is missing.
* ``cartoon.png`` — a flat-coloured house, tree and sun with black outlines, like the book's
  cartoon dog (Fig. 1.2): large flat areas make what a kernel does easy to see.
* ``cat.jpg``, ``coffee.jpg`` — natural photos from scikit-image's bundled data, both CC0 (see
  ``sample_images/LICENSES.md``).

The drawings are deterministic: running the script again gives identical PNGs.
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "sample_images"
DIGITS = ROOT / "resources" / "data" / "mnist_digits.npz"

#: Radius of the circle in ``shapes.png`` and in ``circle_pattern.png`` (pixels).
CIRCLE_RADIUS = 40
AA = 4  # supersampling factor for smooth edges


def _save(name: str, rgb_or_gray: np.ndarray, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    img = rgb_or_gray
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 88] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 9]
    ok, data = cv2.imencode(path.suffix, img, params)
    if not ok:
        raise RuntimeError(f"could not encode {name}")
    path.write_bytes(data.tobytes())
    return path


def _downsample(big: np.ndarray) -> np.ndarray:
    h, w = big.shape[:2]
    return cv2.resize(big, (w // AA, h // AA), interpolation=cv2.INTER_AREA)


def _pts(points: list[tuple[float, float]]) -> np.ndarray:
    return np.round(np.array(points) * AA).astype(np.int32)


def _regular_polygon(cx: float, cy: float, r: float, n: int, start_deg: float) -> list[tuple[float, float]]:
    angles = np.deg2rad(start_deg + 360.0 * np.arange(n) / n)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]


def shapes_scene(width: int = 480, height: int = 320) -> np.ndarray:
    """Fig. 1.4: circle, square, triangle and hexagon of about equal area, white on black."""
    big = np.zeros((height * AA, width * AA), np.uint8)
    r = CIRCLE_RADIUS
    area = np.pi * r * r
    # circle, top left
    cv2.circle(big, (int(110 * AA), int(95 * AA)), int(r * AA), 255, -1, cv2.LINE_AA)
    # square of the circle's area (side 71 < diameter 80: the circle pattern does not fit inside)
    s = np.sqrt(area)
    cx, cy = 360, 95
    cv2.fillPoly(big, [_pts([(cx - s / 2, cy - s / 2), (cx + s / 2, cy - s / 2), (cx + s / 2, cy + s / 2), (cx - s / 2, cy + s / 2)])], 255, cv2.LINE_AA)
    # equilateral triangle of the same area, pointing up
    side = np.sqrt(4 * area / np.sqrt(3))
    circum = side / np.sqrt(3)
    cv2.fillPoly(big, [_pts(_regular_polygon(125, 235, circum, 3, -90))], 255, cv2.LINE_AA)
    # regular hexagon of the same area (inradius ~38 < 40)
    hex_side = np.sqrt(2 * area / (3 * np.sqrt(3)))
    cv2.fillPoly(big, [_pts(_regular_polygon(355, 228, hex_side, 6, 0))], 255, cv2.LINE_AA)
    return _downsample(big)


def circle_pattern() -> np.ndarray:
    """Fig. 1.5: the circle as a pattern of 0s and 1s (saved as 0 and 255)."""
    size = 2 * CIRCLE_RADIUS + 1
    big = np.zeros((size * AA, size * AA), np.uint8)
    c = (size * AA) // 2
    cv2.circle(big, (c, c), int(CIRCLE_RADIUS * AA), 255, -1, cv2.LINE_AA)
    return _downsample(big)


def sudoku(size: int = 360) -> np.ndarray:
    """Fig. 3.4: a sudoku grid with some digits, on paper lit a little unevenly."""
    rng = np.random.default_rng(34)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    paper = 228 + 18 * (1 - xx) * yy - 12 * (xx - 0.5) ** 2  # soft light falloff
    paper = paper + rng.normal(0, 2.0, paper.shape)
    big = np.zeros((size * AA, size * AA), np.uint8)  # ink coverage, composed onto the paper below
    margin = 18
    cell = (size - 2 * margin) / 9
    ink = 255
    for i in range(10):
        t = 3 if i % 3 == 0 else 1
        p = int(round((margin + i * cell) * AA))
        a, b = int(margin * AA), int((size - margin) * AA)
        cv2.line(big, (p, a), (p, b), ink, t * AA, cv2.LINE_AA)
        cv2.line(big, (a, p), (b, p), ink, t * AA, cv2.LINE_AA)
    puzzle = [
        "53..7....",
        "6..195...",
        ".98....6.",
        "8...6...3",
        "4..8.3..1",
        "7...2...6",
        ".6....28.",
        "...419..5",
        "....8..79",
    ]
    for r, row in enumerate(puzzle):
        for c, ch in enumerate(row):
            if ch == ".":
                continue
            x = (margin + c * cell + cell * 0.27) * AA
            y = (margin + r * cell + cell * 0.78) * AA
            cv2.putText(big, ch, (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.85 * AA, ink, 2 * AA, cv2.LINE_AA)
    coverage = _downsample(big).astype(np.float32) / 255.0
    out = paper * (1 - coverage) + 40.0 * coverage
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _drawn_digit(ch: str) -> np.ndarray:
    big = np.zeros((28 * AA, 28 * AA), np.uint8)
    cv2.putText(big, ch, (7 * AA, 23 * AA), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * AA, 255, 3 * AA, cv2.LINE_AA)
    return _downsample(big)


def mnist_digit(label: int, digits_file: Path = DIGITS) -> np.ndarray:
    """The most typical real MNIST sample of ``label`` (closest to its class mean), 28×28 uint8."""
    if not digits_file.exists():
        return _drawn_digit(str(label))
    data = np.load(digits_file)
    x, y = data["x"], data["y"]
    samples = x[y == label].astype(np.float32)
    mean = samples.mean(axis=0)
    best = int(np.argmin(((samples - mean) ** 2).sum(axis=(1, 2))))
    return samples[best].astype(np.uint8)


def cartoon(width: int = 480, height: int = 360) -> np.ndarray:
    """A flat-coloured cartoon: sky, sun, hill, house and tree with black outlines."""
    big = np.zeros((height * AA, width * AA, 3), np.uint8)
    big[:] = (135, 200, 240)  # sky
    black = (20, 20, 20)
    lw = 3 * AA

    def P(*pts: tuple[float, float]) -> np.ndarray:  # noqa: N802
        return _pts(list(pts))

    # sun
    cv2.circle(big, (int(400 * AA), int(70 * AA)), 38 * AA, (255, 210, 40), -1, cv2.LINE_AA)
    cv2.circle(big, (int(400 * AA), int(70 * AA)), 38 * AA, black, lw, cv2.LINE_AA)
    # hill and ground
    cv2.ellipse(big, (int(120 * AA), int(380 * AA)), (int(260 * AA), int(140 * AA)), 0, 180, 360, (110, 190, 80), -1, cv2.LINE_AA)
    cv2.ellipse(big, (int(120 * AA), int(380 * AA)), (int(260 * AA), int(140 * AA)), 0, 180, 360, black, lw, cv2.LINE_AA)
    ground = P((0, 290), (width, 290), (width, height), (0, height))
    cv2.fillPoly(big, [ground], (80, 160, 60), cv2.LINE_AA)
    cv2.line(big, (0, 290 * AA), (width * AA, 290 * AA), black, lw, cv2.LINE_AA)
    # house
    body = P((200, 190), (330, 190), (330, 300), (200, 300))
    roof = P((185, 192), (265, 120), (345, 192))
    door = P((250, 240), (280, 240), (280, 300), (250, 300))
    win = P((213, 210), (240, 210), (240, 237), (213, 237))
    win2 = P((293, 210), (320, 210), (320, 237), (293, 237))
    for poly, colour in ((body, (235, 225, 200)), (roof, (200, 60, 50)), (door, (120, 70, 40)), (win, (170, 220, 255)), (win2, (170, 220, 255))):
        cv2.fillPoly(big, [poly], colour, cv2.LINE_AA)
        cv2.polylines(big, [poly], True, black, lw, cv2.LINE_AA)
    # tree
    trunk = P((88, 220), (106, 220), (106, 300), (88, 300))
    cv2.fillPoly(big, [trunk], (110, 70, 40), cv2.LINE_AA)
    cv2.polylines(big, [trunk], True, black, lw, cv2.LINE_AA)
    for cx, cy, rr in ((97, 185, 42), (70, 205, 28), (125, 205, 28)):
        cv2.circle(big, (int(cx * AA), int(cy * AA)), int(rr * AA), (40, 130, 50), -1, cv2.LINE_AA)
    for cx, cy, rr in ((97, 185, 42), (70, 205, 28), (125, 205, 28)):
        cv2.circle(big, (int(cx * AA), int(cy * AA)), int(rr * AA), black, lw, cv2.LINE_AA)
    for cx, cy, rr in ((97, 185, 40), (70, 205, 26), (125, 205, 26)):
        cv2.circle(big, (int(cx * AA), int(cy * AA)), int(rr * AA), (40, 130, 50), -1, cv2.LINE_AA)
    # a cloud
    for cx, cy, rr in ((120, 70, 22), (145, 60, 28), (172, 72, 20)):
        cv2.circle(big, (int(cx * AA), int(cy * AA)), int(rr * AA), (250, 250, 250), -1, cv2.LINE_AA)
    return _downsample(big)


#: (file in the scikit-image wheel, name here, longest side in pixels)
SKIMAGE_PHOTOS = (("skimage/data/chelsea.png", "cat.jpg", 451), ("skimage/data/coffee.png", "coffee.jpg", 480))


def extract_photos(wheel: Path, out: Path) -> list[Path]:
    """Copy the CC0 photos out of a scikit-image wheel, resized and saved as small JPEGs."""
    written = []
    with zipfile.ZipFile(wheel) as zf:
        for member, name, longest in SKIMAGE_PHOTOS:
            data = np.frombuffer(zf.read(member), np.uint8)
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
            h, w = bgr.shape[:2]
            scale = min(1.0, longest / max(h, w))
            if scale < 1.0:
                bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            written.append(_save(name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), out))
    return written


def make_all(out: Path = OUT, skimage_wheel: Path | None = None) -> list[Path]:
    """Write every generated sample (and the photos when a scikit-image wheel is given)."""
    written = [
        _save("shapes.png", shapes_scene(), out),
        _save("circle_pattern.png", circle_pattern(), out),
        _save("sudoku.png", sudoku(), out),
        _save("digit_5.png", mnist_digit(5), out),
        _save("digit_7.png", mnist_digit(7), out),
        _save("cartoon.png", cartoon(), out),
    ]
    if skimage_wheel is not None:
        written += extract_photos(skimage_wheel, out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--skimage-wheel", type=Path, help="scikit-image wheel to take the CC0 photos from")
    args = parser.parse_args(argv)
    for path in make_all(args.out, args.skimage_wheel):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
