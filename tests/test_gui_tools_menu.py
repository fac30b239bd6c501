"""The Tools menu: the output-size calculator opens from the menu bar, not only from the stepper."""

from __future__ import annotations

import numpy as np

from cnnviz.gui.widgets.size_calculator import SizeCalculatorDialog


def _menu_action(window, menu_title: str, text: str):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions() if a.menu()}
    assert menu_title in menus, f"no {menu_title} menu in {sorted(menus)}"
    found = [a for a in menus[menu_title].actions() if a.text().replace("&", "") == text]
    assert len(found) == 1
    return found[0]


def _shown_calculators(window) -> list[SizeCalculatorDialog]:
    return [d for d in window.findChildren(SizeCalculatorDialog) if d.isVisible()]


def test_tools_menu_opens_the_output_size_calculator(window, qtbot):
    window.ctx.set_image(np.zeros((32, 48, 3), np.uint8))
    action = _menu_action(window, "Tools", "Output-size calculator…")
    assert not _shown_calculators(window)
    action.trigger()
    shown = _shown_calculators(window)
    assert len(shown) == 1
    calc = shown[0].calculator
    assert shown[0].windowTitle() == "Output-size calculator"
    assert calc.input_edit.text() == "32"  # starts from the open image's height
    row = calc.rows[0]
    for edit, text in ((row["kernel"], "3"), (row["stride"], "1"), (row["padding"], "valid"),
                       (row["dilation"], "1")):
        edit.selectAll()
        qtbot.keyClicks(edit, text)
    assert calc.formula_text(0) == "⌊(32 + 2·0 − 3)/1⌋ + 1 = 30"

    # the menu again brings the same window up, not a second one
    action.trigger()
    assert _shown_calculators(window) == shown
    shown[0].close()
