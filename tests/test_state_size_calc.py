"""The output-size calculator's rules (no Qt): sizes with the formula filled in, receptive fields
down a stack, and the words for every setting that cannot work."""

from __future__ import annotations

from cnnviz.state.size_calc import MAX_LAYERS, LayerSettings, SizeCalcState, compute


def one(n: str, **kw) -> tuple:
    out = compute(n, [LayerSettings(**kw)])
    o = out.layers[0] if out.layers else None
    return out, o


def test_the_books_sizes_with_the_formula_filled_in():
    _, o = one("28")
    assert (o.size, o.formula, o.rf, o.jump) == (26, "⌊(28 + 2·0 − 3)/1⌋ + 1 = 26", 3, 1)
    _, o = one("28", stride="2", padding="same")
    assert (o.size, o.formula) == (14, "⌈28/2⌉ = 14")
    _, o = one("5", kernel="3", stride="2", padding="1")
    assert (o.size, o.formula) == (3, "⌊(5 + 2·1 − 3)/2⌋ + 1 = 3")
    _, o = one(" 28 ", padding=" SAME ")
    assert o.size == 28
    _, o = one("28", dilation="2")
    assert o.size == 24 and "dilated kernel 2·(3 − 1) + 1 = 5" in o.formula and o.rf == 5


def test_a_stack_grows_the_receptive_field():
    st = SizeCalcState("28")
    st.set_field(0, "kernel", "3")
    st.add_layer()  # a copy of the last layer
    st.add_layer()
    st.set_field(1, "kernel", "2")
    st.set_field(1, "stride", "2")
    out = st.outcome()
    assert [o.size for o in out.layers] == [26, 13, 11]
    assert [(o.rf, o.jump) for o in out.layers] == [(3, 1), (4, 2), (8, 2)]
    assert st.summary().startswith("28 → 26 → 13 → 11. One output of the last layer sees 8×8 input pixels")
    st.remove_layer(1)
    assert [o.size for o in st.outcome().layers] == [26, 24]
    st.remove_layer(0)
    st.remove_layer(0)  # the last layer stays
    assert len(st.layers) == 1


def test_edits_fire_changed_once_and_only_when_something_changed():
    st = SizeCalcState()
    seen = []
    st.changed.connect(lambda: seen.append(1))
    st.set_input("28")  # unchanged
    st.set_input("32")
    st.set_field(0, "stride", "1")  # unchanged
    st.set_field(0, "stride", "2")
    assert len(seen) == 2
    for _ in range(MAX_LAYERS + 3):
        st.add_layer()
    assert len(st.layers) == MAX_LAYERS and not st.can_add()


def test_bad_input_is_explained_in_words():
    _, o = one("28", stride="0")
    assert o.size is None and "stride must be at least 1" in o.error and "never move" in o.error
    _, o = one("3", kernel="5")
    assert "5×5 kernel is bigger than the input (3 pixels)" in o.error
    _, o = one("3", kernel="9", padding="2")
    assert "bigger than the padded input (3 + 2·2 = 7 pixels)" in o.error
    _, o = one("28", padding="-1")
    assert "padding cannot be negative (-1)" in o.error
    _, o = one("28", padding="lots")
    assert "“lots” is not valid, same or a whole number" in o.error
    _, o = one("28", kernel="abc")
    assert "kernel size “abc” is not a number" in o.error
    _, o = one("28", kernel="2.5")
    assert "whole number of pixels, not 2.5" in o.error
    _, o = one("28", kernel="-3")
    assert "kernel size cannot be negative (-3)" in o.error
    _, o = one("28", dilation="0")
    assert "dilation must be at least 1" in o.error
    _, o = one("6", kernel="3", dilation="3")
    assert "With dilation 3 the 3-pixel kernel spans 3·(3 − 1) + 1 = 7 pixels, more than the input (6 pixels)" in o.error
    _, o = one("28", kernel="")
    assert o.error == "Type a kernel size."
    out, _ = one("x")
    assert out.input_error == "The input size “x” is not a number. Type a whole number such as 3."
    assert out.summary("x") == out.input_error
    out, _ = one("0")
    assert "input size must be at least 1" in out.input_error


def test_a_broken_layer_makes_the_later_ones_wait_and_keeps_the_typing():
    st = SizeCalcState("8", [LayerSettings(), LayerSettings(kernel="7"), LayerSettings(), LayerSettings()])
    out = st.outcome()
    assert out.layers[0].size == 6 and out.layers[1].error and out.layers[2].error == "Waits for layer 2 to work."
    assert out.layers[3].error == "Waits for layer 2 to work."
    assert not out.ok and st.summary() == "Layer 2 cannot work with these settings (see its row)."
    assert st.layers[1].kernel == "7"  # what was typed is kept


def test_layer_table_and_training_summary_texts_carry_the_arithmetic():
    from cnnviz.ml.inspect import LayerRow
    from cnnviz.state.activations import layer_cells
    from cnnviz.state.training import summary_formula_lines, summary_formulas

    conv = {"op": "conv", "kernel": (3, 3), "strides": (1, 1), "padding": "valid", "dilation": (1, 1),
            "n_in": (28, 28), "c_in": 1, "c_out": 32, "bias": True, "rf": (3.0, 3.0)}
    dense = {"op": "dense", "c_in": 36864, "c_out": 128, "bias": True, "whole": True}
    cells, tip = layer_cells(LayerRow("conv2d", "Conv2D", (None, 26, 26, 32), 320, "", "maps", conv))
    assert cells == ["conv2d", "Conv2D", "26×26×32", "320"]
    assert tip == ("conv2d (Conv2D)\nReceptive field: 3×3 input pixels\n"
                   "Output size: ⌊(28 + 2·0 − 3)/1⌋ + 1 = 26\nParameters: 3·3·1·32 + 32 = 320")
    rows = [("conv2d", "Conv2D", "(None, 26, 26, 32)", 320), ("flatten", "Flatten", "(None, 36864)", 0),
            ("dense", "Dense", "(None, 128)", 4718720)]
    assert summary_formula_lines(rows, [conv, None, dense]) == [
        "conv2d: 3·3·1·32 + 32 = 320", "dense: 36864·128 + 128 = 4,718,720"]
    assert summary_formula_lines(rows, None) == []  # a summary from before the arithmetic
    assert summary_formulas([dense], 2)[1] == ("", "")
    assert "the whole input" in summary_formulas([dense], 1)[0][1]
