"""A wheel built from the checkout carries the sample images and resources, and an installed copy
finds its own (not the checkout's)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_samples_and_resources_and_finds_them_installed(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-w", str(wheels), "-q"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("cnnviz-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(site)
    assert "cnnviz/_data/sample_images/shapes.png" in names
    assert "cnnviz/_data/sample_images/LICENSES.md" in names
    assert "cnnviz/gui/widgets/image_view.py" in names

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import cnnviz, cnnviz.paths as p; "
        "print(cnnviz.__file__); print(p.sample_images_dir()); print(p.resources_dir()); "
        "print(p.default_sample_image()); print(len(p.sample_images()))"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    package, samples, resources, default, count = proc.stdout.split("\n")[:5]
    assert Path(package).is_relative_to(site)
    assert Path(samples) == site / "cnnviz" / "_data" / "sample_images"
    assert Path(resources) == site / "cnnviz" / "_data" / "resources"
    assert Path(default).name == "shapes.png" and Path(default).is_relative_to(site)
    assert int(count) == len([p for p in (ROOT / "sample_images").iterdir() if p.suffix in (".png", ".jpg")])
