"""The real program, started as a user starts it: it opens, closes cleanly, and ``--screenshot``
renders every pane to a PNG that shows something."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cnnviz.gui.panes import PANES

ROOT = Path(__file__).resolve().parents[1]


def app_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    env.update(extra)
    return env


def run_app(args: list[str], tmp_path: Path, timeout: float = 240, **extra: str) -> subprocess.CompletedProcess:
    env = app_env(**extra)
    # settings of its own: a test never touches the user's recent files
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return subprocess.run(
        [sys.executable, "-m", "cnnviz", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_app_starts_shows_its_window_and_closes(tmp_path):
    proc = run_app([], tmp_path, timeout=120, CNNVIZ_STARTUP_MARKER="1", CNNVIZ_QUIT_AFTER_MS="300")
    assert proc.returncode == 0, proc.stderr
    assert "CNNVIZ_WINDOW_SHOWN tensorflow_imported=False" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_version_is_the_package_version(capsys):
    import cnnviz
    from cnnviz.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"cnnviz {cnnviz.__version__}" == "cnnviz 0.1.0"


def test_an_unreadable_image_on_the_command_line_falls_back_to_a_sample(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"nope")
    proc = run_app([str(bad)], tmp_path, timeout=120, CNNVIZ_QUIT_AFTER_MS="200")
    assert proc.returncode == 0, proc.stderr
    assert "Cannot open image" in proc.stderr and "broken.png" in proc.stderr


def test_an_unreadable_image_on_the_command_line_is_reported_in_the_window(qtbot, tmp_path, settings):
    from cnnviz.__main__ import build_parser
    from cnnviz.gui.app import open_window

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"nope")
    window = open_window(build_parser().parse_args([str(bad)]), settings)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: "broken.png" in window.statusBar().currentMessage(), timeout=5000)
    message = window.statusBar().currentMessage()
    assert "Cannot open image" in message and "bundled sample" in message
    assert window.ctx.image_path is not None and window.ctx.image_path.name == "shapes.png"
    window.close()


def test_a_malformed_window_size_is_refused_by_the_parser(capsys):
    from cnnviz.__main__ import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--screenshot", "x.png", "--size", "abc"])
    assert exit_info.value.code == 2
    assert "not a window size like 1400x900" in capsys.readouterr().err


def _distinctive(name: str, bgr: np.ndarray) -> None:
    """What a pane must show besides "not blank"."""
    b, g, r = (bgr[:, :, i].astype(int) for i in range(3))
    if name == "kernels":
        # the signed Sobel result: red (positive) and blue (negative) edges on white
        assert ((r > 150) & (b < 110) & (g < 110)).sum() > 200, "no positive (red) edges drawn"
        assert ((b > 150) & (r < 110)).sum() > 200, "no negative (blue) edges drawn"
    elif name == "matching":
        # the heat map's bright peaks and the green best-match box
        assert ((r > 200) & (g > 120) & (b < 90)).sum() > 200, "no heat-map peak drawn"
        assert ((g > 200) & (r < 60) & (b > 80) & (b < 160)).sum() > 50, "no best-match box drawn"


@pytest.mark.parametrize("spec", PANES, ids=[s.name for s in PANES])
def test_screenshot_of_every_pane_is_not_blank(spec, tmp_path):
    out = tmp_path / f"{spec.name}.png"
    proc = run_app(["--screenshot", str(out), "--pane", spec.name], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    img = cv2.imread(str(out))
    assert img is not None, "no PNG written"
    assert img.shape[:2] == (900, 1400)
    assert float(img.std()) > 20, "the screenshot is (nearly) one flat colour"
    _distinctive(spec.name, img)
