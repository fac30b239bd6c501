"""README.md as a new user reads it: two set-up commands, every pane and menu of the window
named, every screenshot it shows present."""

from __future__ import annotations

import re
from pathlib import Path

from cnnviz.gui.panes import PANES, pane_names

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 3)
    return README[start: end if end > 0 else None]


def test_set_up_is_exactly_two_commands():
    blocks = re.findall(r"```bash\n(.*?)```", _section("Set-up on a fresh machine"), re.S)
    assert len(blocks) == 2 and all(len(b.strip().splitlines()) == 1 for b in blocks), blocks
    assert "pip install ." in blocks[0] and "cnnviz" in blocks[0]
    assert 'pip install ".[test]"' in blocks[1] and "pytest" in blocks[1]


def test_every_screenshot_shown_exists():
    shots = re.findall(r"\]\((docs/screenshots/[^)]+)\)", README)
    assert shots
    missing = [s for s in shots if not (ROOT / s).is_file()]
    assert not missing, missing


def test_usage_names_every_pane_and_every_tab_is_described():
    usage = _section("Using it")
    for name in pane_names():
        assert f"`{name}`" in usage, name
    for spec in PANES:
        assert f"**{spec.title}**" in README, spec.title


def test_the_menus_of_the_window_are_mentioned(window):
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    for action in tools.actions():
        if action.text():
            words = action.text().replace("&", "")
            assert f"Tools → {words}" in README, words
    assert "Lessons → About the lessons" in README and "Lessons → Show the lesson notes" in README
    assert "View →\nPresentation mode" in README or "View → Presentation mode" in README
