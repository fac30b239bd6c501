"""Layer arithmetic on screen: the activations pane's layer table and the training summary show
the book's formulas filled in with each layer's numbers, and the output-size calculator (opened
from the stepper) updates as the student types and explains impossible settings."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

LEFT = Qt.MouseButton.LeftButton
TIMEOUT = 60_000


@pytest.fixture
def activations(open_activations):
    return open_activations()


def test_the_layer_table_shows_the_first_convs_arithmetic(activations, qtbot):
    pane = activations
    table = pane.layer_table
    assert table.horizontalHeaderItem(4).text() == "RF"
    rows = {table.item(r, 0).text(): r for r in range(table.rowCount())}
    assert table.item(rows["conv2d"], 4).text() == "3×3"
    assert table.item(rows["max_pooling2d"], 4).text() == "4×4"
    assert table.item(rows["conv2d_1"], 4).text() == "8×8"
    assert table.item(rows["dense"], 4).text() == "all" and table.item(rows["flatten"], 4).text() == ""
    tip = table.item(rows["conv2d"], 3).toolTip()
    assert "Parameters: 3·3·1·16 + 16 = 160" in tip and "⌊(28 + 2·0 − 3)/1⌋ + 1 = 26" in tip

    label = pane.model_column.arith_label
    click = lambda name: qtbot.mouseClick(  # noqa: E731
        table.viewport(), LEFT, pos=table.visualItemRect(table.item(rows[name], 0)).center())
    click("conv2d_1")
    qtbot.waitUntil(lambda: "4,640" in label.text(), timeout=TIMEOUT)
    assert "⌊(13 + 2·0 − 3)/1⌋ + 1 = 11" in label.text() and "3·3·16·32 + 32 = 4,640" in label.text()
    rect = table.visualItemRect(table.item(rows["conv2d"], 0))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())
    qtbot.waitUntil(lambda: "= 26" in label.text(), timeout=TIMEOUT)
    text = label.text()
    assert "Output size: ⌊(28 + 2·0 − 3)/1⌋ + 1 = 26" in text
    assert "Parameters: 3·3·1·16 + 16 = 160" in text
    assert "Receptive field: 3×3 input pixels" in table.item(rows["conv2d"], 0).toolTip()
    rect = table.visualItemRect(table.item(rows["dense"], 0))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())
    qtbot.waitUntil(lambda: "800·64 + 64 = 51,264" in label.text(), timeout=TIMEOUT)
    assert "the whole input" in table.item(rows["dense"], 0).toolTip()
    rect = table.visualItemRect(table.item(rows["flatten"], 0))
    qtbot.mouseClick(table.viewport(), LEFT, pos=rect.center())
    assert "no kernel" in label.text()
    qtbot.waitUntil(lambda: not pane.is_busy(), timeout=TIMEOUT)


def test_the_training_summary_shows_where_each_count_comes_from(window, qtbot, tmp_path):
    window.show_pane("training")
    pane = window.panes["training"]
    pane.set_output_root(tmp_path / "runs")
    pane.set_model("mnist_cnn")
    table = pane.summary_table
    qtbot.waitUntil(lambda: table.rowCount() == 5 and bool(pane.side.formulas_label.text()), timeout=TIMEOUT)
    text = pane.side.formulas_label.text()
    names = [table.item(r, 0).text().split(" (")[0] for r in range(5)]  # Keras numbers its names
    for r, formula in [(0, "3·3·1·32 + 32 = 320"), (1, "3·3·32·64 + 64 = 18,496"),
                       (3, "36864·128 + 128 = 4,718,720"), (4, "128·10 + 10 = 1,290")]:
        assert f"{names[r]}: {formula}" in text
    assert f"{names[2]}:" not in text  # Flatten has no weights
    assert [table.item(r, 2).text() for r in range(5)] == ["320", "18,496", "0", "4,718,720", "1,290"]
    tip = table.item(0, 2).toolTip()
    assert "Parameters: 3·3·1·32 + 32 = 320" in tip and "⌊(28 + 2·0 − 3)/1⌋ + 1 = 26" in tip


def test_the_calculator_from_the_stepper_updates_as_you_type(window, qtbot):
    window.show_pane("stepper")
    box = window.panes["stepper"].layer_box
    qtbot.mouseClick(box.calculator_button, LEFT)
    dialog = box.calculator
    assert dialog is not None and dialog.isVisible()
    calc = dialog.calculator
    row = calc.rows[0]
    # it starts from the stepper's own image and layer (the book's 4×4 image, a 2×2 kernel)
    assert calc.input_edit.text() == "4" and row["kernel"].text() == "2"

    def retype(edit, text):
        edit.selectAll()
        qtbot.keyClicks(edit, text)

    retype(calc.input_edit, "28")
    retype(row["kernel"], "3")
    retype(row["stride"], "1")
    retype(row["padding"], "valid")
    retype(row["dilation"], "1")
    assert calc.formula_text(0) == "⌊(28 + 2·0 − 3)/1⌋ + 1 = 26" and calc.rf_text(0) == "3×3"
    retype(row["stride"], "2")
    retype(row["padding"], "same")
    assert calc.formula_text(0) == "⌈28/2⌉ = 14"

    qtbot.mouseClick(calc.add_button, LEFT)
    assert len(calc.rows) == 2
    retype(calc.rows[1]["padding"], "valid")
    assert "⌊(14 + 2·0 − 3)/2⌋ + 1 = 6" in calc.formula_text(1) and calc.rf_text(1) == "7×7"
    assert calc.summary_label.text().startswith("28 → 14 → 6.")

    # bad input: every message a student reads, and the typing is kept
    retype(row["stride"], "0")
    assert "stride must be at least 1" in calc.formula_text(0) and "Waits for layer 1" in calc.formula_text(1)
    assert "Layer 1 cannot work" in calc.summary_label.text() and row["stride"].text() == "0"
    retype(row["stride"], "1")
    retype(row["padding"], "-2")
    assert "padding cannot be negative (-2)" in calc.formula_text(0)
    retype(row["padding"], "1")
    retype(calc.input_edit, "3")
    retype(row["kernel"], "7")
    assert "7×7 kernel is bigger than the padded input (3 + 2·1 = 5 pixels)" in calc.formula_text(0)
    retype(row["kernel"], "three")
    assert "kernel size “three” is not a number" in calc.formula_text(0)
    retype(row["kernel"], "3")
    retype(row["dilation"], "3")
    assert "With dilation 3 the 3-pixel kernel spans 3·(3 − 1) + 1 = 7 pixels" in calc.formula_text(0)
    retype(calc.input_edit, "abc")
    assert "input size “abc” is not a number" in calc.input_error.text()
    retype(calc.input_edit, "28")
    assert calc.input_error.text() == "" and "= 24" in calc.formula_text(0)

    qtbot.mouseClick(calc.rows[1]["remove"], LEFT)
    assert len(calc.rows) == 1 and not calc.rows[0]["remove"].isEnabled()
    dialog.close()
