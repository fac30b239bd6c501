"""The network overview's and the explained unit's rules, without Qt or TensorFlow: pages of
layers, "+N more", captions, receptive-field rectangles, ←/→ neighbours, the words of an
explanation, a Dense unit's bars, the channel pages and what goes to the stepper."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from cnnviz.ml.overview import OverviewLayer, OverviewResult
from cnnviz.state.overview import (
    ExplainState,
    OverviewState,
    clip_rect,
    neighbour,
    rf_rect,
)
from cnnviz.state.stepper import StepperState


@dataclass
class Unit:
    """The fields of cnnviz.ml.explain.UnitExplanation the state reads."""

    layer: str
    layer_type: str
    index: tuple
    kind: str
    value: float
    reason: str | None = None
    activation: str | None = None
    pre_activation: float | None = None
    bias: float | None = None
    window: np.ndarray | None = None
    weights: np.ndarray | None = None
    padding: np.ndarray | None = None
    winner: tuple | None = None
    terms: list = field(default_factory=list)
    formula: str = ""
    receptive_field: tuple | None = None
    note: str | None = None
    input_channels: tuple | None = None


def maps_layer(name, h=8, w=8, c=3, rf=((1.0, 1.0), (3.0, 3.0), (1.0, 1.0))):
    thumbs = np.zeros((min(c, 8), h, w), np.float16)
    jump, size, start = rf
    return OverviewLayer(name, "Conv2D", (h, w, c), "maps", c, thumbs=thumbs, levels=(0.0, 1.0),
                         rf_jump=jump, rf_size=size, rf_start=start)


def result(layers, model_id=1):
    return OverviewResult(model_id, "key", np.zeros((8, 8), np.uint8), layers)


def test_pages_of_layers_for_a_model_of_500_layers():
    st = OverviewState(layers_per_page=10)
    seen = []
    st.changed.connect(lambda: seen.append(st.page))
    st.set_result(result([maps_layer(f"l{i}") for i in range(500)]))
    assert st.pages == 50 and [lay.name for lay in st.page_layers()] == [f"l{i}" for i in range(10)]
    assert st.page_text() == "layers 1–10 of 500 · page 1/50"
    assert not st.prev_page() and st.next_page()
    assert st.page_layers()[0].name == "l10" and "page 2/50" in st.page_text()
    assert st.go_to_page(999) and st.page == 49 and st.page_layers()[-1].name == "l499"
    assert not st.next_page()
    assert st.page_of("l123") == 12 and st.page_of("nope") is None
    # a narrower view shows fewer layers a page; the first one shown stays in view
    st.go_to_page(3)
    assert st.set_layers_per_page(4) and st.page == 7 and st.page_layers()[0].name == "l28"
    assert not st.set_layers_per_page(4)
    st.set_layers_per_page(10)
    st.go_to_page(49)
    # the same model computing another input keeps the page; another model starts at the first
    st.set_result(result([maps_layer(f"l{i}") for i in range(500)]))
    assert st.page == 49
    st.set_result(result([maps_layer("a")], model_id=2))
    assert st.page == 0 and st.page_text() == "1 layer"
    assert seen[-1] == 0


def test_captions_and_more_text():
    st = OverviewState(maps_per_column=8)
    wide = maps_layer("wide", c=256)
    vec = OverviewLayer("dense", "Dense", (100,), "vector", 100, values=np.zeros(24, np.float32))
    flat = OverviewLayer("seq", "LSTM", (5, 7), "other", 35)
    st.set_result(result([wide, vec, flat]))
    assert st.caption(wide) == ["Conv2D", "8×8×256", "RF 3×3 px"]
    assert st.more_text(wide) == "+248 more" and st.shown_count(wide) == 8
    assert st.caption(vec) == ["Dense", "100", "RF all"]
    assert st.more_text(vec) == "+76 more"
    assert st.caption(flat) == ["LSTM", "5×7"] and st.more_text(flat) == ""
    few = maps_layer("few", c=3)
    assert st.more_text(few) == "" and st.shown_count(few) == 3
    no_rf = maps_layer("g")
    no_rf.rf_size = None
    assert st.caption(no_rf)[-1] == "RF all"


def test_receptive_field_rectangles_on_the_input():
    # a 3×3 valid conv: cell (0, 0) is centred on pixel (1, 1) and covers pixels 0..2
    assert rf_rect((1.0, 1.0), (1.0, 1.0), (3.0, 3.0), 0, 0) == (0.0, 0.0, 3.0, 3.0)
    # after a 2×2 pool: jump 2, size 4, start 1.5 → cell (1, 2) covers rows 2..5, cols 4..7
    assert rf_rect((1.5, 1.5), (2.0, 2.0), (4.0, 4.0), 1, 2) == (2.0, 4.0, 4.0, 4.0)
    # a same-padded field hangs over the edge; clipped to the image
    assert clip_rect((-1.0, -1.0, 3.0, 3.0), (8, 8)) == (0.0, 0.0, 2.0, 2.0)
    st = OverviewState()
    lay = maps_layer("c")
    st.set_result(result([lay]))
    assert st.field_of(lay, 2, 3) == (2.0, 3.0, 3.0, 3.0)
    assert "receptive field 3×3 px" in st.hover_text(lay, 1, 2, 3)


def test_left_and_right_walk_along_rows_then_to_the_next_row():
    shape = (3, 4, 5)
    assert neighbour((0, 0, 2), shape, 1) == (0, 1, 2)
    assert neighbour((0, 3, 2), shape, 1) == (1, 0, 2)  # the next row begins
    assert neighbour((1, 0, 2), shape, -1) == (0, 3, 2)
    assert neighbour((0, 0, 2), shape, -1) is None
    assert neighbour((2, 3, 2), shape, 1) is None
    assert neighbour((4,), (10,), 1) == (5,) and neighbour((9,), (10,), 1) is None


def conv_unit(index=(0, 0, 0), c=2, bias=0.5, act="relu"):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, c))
    k = rng.normal(size=(3, 3, c))
    pre = float((w * k).sum() + (bias or 0.0))
    return Unit("conv", "Conv2D", index, "conv", max(pre, 0.0) if act == "relu" else pre, activation=act,
                pre_activation=pre, bias=bias, window=w, weights=k, padding=np.zeros((3, 3), bool),
                receptive_field=(0, 0, 3, 3))


def test_an_explained_convolution_in_words():
    st = ExplainState(channels_per_page=4)
    asked = []
    st.wanted.connect(lambda layer, index: asked.append((layer, index)))
    assert st.title().startswith("Click any cell")
    assert st.select("conv", (0, 0, 0), (4, 4, 8))
    assert asked == [("conv", (0, 0, 0))] and st.kind_text() == "Computing…"
    e = conv_unit()
    st.set_explanation(e)
    assert st.title() == "conv (Conv2D) — map #0, cell (row 0, column 0)"
    lines = st.result_lines()
    s = float((e.window * e.weights).sum())
    assert lines[0] == f"Σ window × kernel = {st_fmt(s)}"
    assert lines[1] == f"+ bias 0.5 = {st_fmt(s + 0.5)}"
    assert lines[-1] == f"Result = {st_fmt(e.value)}"
    assert st.window_sum() == pytest.approx(e.pre_activation - 0.5)
    assert st.channels() == 2 and st.channels_on_page() == [0, 1] and st.channel_page_text() == "2 input channels, from the previous layer"
    assert st.channel_sum_text(1).startswith("input channel 1: Σ window × kernel = ")
    assert st.field_text() == "Receptive field: 3×3 pixels of the input, from row 0, column 0"
    # →: the next cell is asked for; an answer for the old cell arriving late is ignored
    assert st.step(1) and asked[-1] == ("conv", (0, 1, 0))
    st.set_explanation(e)
    assert st.explanation is e  # still the old one: the new answer has not come
    assert st.pending


def test_a_separable_units_window_is_named_as_depthwise_outputs():
    st = ExplainState(channels_per_page=4)
    st.select("conv", (0, 0, 0), (4, 4, 8))
    e = conv_unit()
    e.stages = [conv_unit()]  # the depthwise stage feeding the pointwise sum
    st.set_explanation(e)
    assert st.channel_name(1) == "depthwise output 1"
    assert st.channel_sum_text(1).startswith("depthwise output 1: Σ window × kernel = ")


def st_fmt(v):
    from cnnviz.state.stepper.matrices import fmt

    return fmt(v)


def test_many_channels_are_paged_and_the_stepper_gets_one_when_they_do_not_fit():
    st = ExplainState(channels_per_page=4)
    st.select("conv", (1, 1, 0), (4, 4, 8))
    e = conv_unit((1, 1, 0), c=10)
    st.set_explanation(e)
    assert st.channel_pages == 3 and st.channels_on_page() == [0, 1, 2, 3]
    assert st.channel_page_text() == "Input channels 0–3 of 10, from the previous layer · page 1/3"
    assert st.set_channel_page(2) and st.channels_on_page() == [8, 9]
    w, k, bias, act, note = st.stepper_inputs(max_channels=4)
    assert w.shape == (3, 3) and bias == 0.0 and act == "linear"
    np.testing.assert_allclose(w, e.window[:, :, 8])
    assert "channel 8 of 10" in note
    # few channels: all of them, with the bias and the activation
    st.select("conv", (0, 0, 0), (4, 4, 8))
    e2 = conv_unit(c=3)
    st.set_explanation(e2)
    w, k, bias, act, note = st.stepper_inputs(max_channels=4)
    assert w.shape == (3, 3, 3) and bias == 0.5 and act == "relu" and note == ""
    stepper = StepperState()
    stepper.load_window(w, k, bias, act)
    assert stepper.n_steps == 1 and stepper.source == "typed" and stepper.settings.activation == "relu"
    assert stepper.output()[0, 0] == pytest.approx(e2.value, rel=1e-4)


def test_a_window_entirely_in_the_padding_is_said():
    st = ExplainState()
    st.select("conv", (0, 0, 0), (4, 4, 1))
    e = conv_unit(c=1)
    e.window = np.zeros((3, 3, 1))
    e.padding = np.ones((3, 3), bool)
    st.set_explanation(e)
    assert "whole window lies in the padding" in st.padding_note()
    e.padding = np.zeros((3, 3), bool)
    e.padding[0] = True
    assert st.padding_note() == "3 of the window's 9 cells lie in the padding (zeros, marked)."


def test_a_dense_unit_shows_the_largest_contributions_and_the_rest_summed():
    st = ExplainState()
    st.select("dense", (3,), (10,))
    x = np.arange(20, dtype=np.float64)
    wts = np.where(np.arange(20) % 2 == 0, 1.0, -0.5)
    st.set_explanation(Unit("dense", "Dense", (3,), "dense", 1.0, activation="linear", bias=0.0,
                            window=x, weights=wts, pre_activation=float(x @ wts)))
    labels, values = st.dense_bars(top=5)
    prod = x * wts
    assert labels[:5] == ["in #18", "in #16", "in #14", "in #12", "in #10"]
    assert labels[-1] == "15 others"
    assert values.sum() == pytest.approx(prod.sum(), rel=1e-5)
    assert st.field_text() == "This unit sees the whole input."
    assert not st.can_open_in_stepper()


def test_unsupported_and_disabled_say_why():
    st = ExplainState()
    st.select("lstm", (0,), (4,))
    st.set_explanation(Unit("lstm", "LSTM", (0,), "unsupported", float("nan"), reason="LSTM is not shown."))
    assert st.kind_text() == "LSTM is not shown." and st.result_lines() == []
    st.disable("This file holds only weights.")
    assert st.title() == "Explaining a unit is not available" and st.kind_text() == "This file holds only weights."
    assert not st.select("conv", (0, 0, 0), (2, 2, 1)) and not st.can_step(1)
    st.enable()
    assert st.select("conv", (0, 0, 0), (2, 2, 1))
    st.fail("the engine stopped.")
    assert st.kind_text() == "This unit could not be explained: the engine stopped."


def test_pooling_words():
    st = ExplainState()
    st.select("pool", (0, 0, 0), (2, 2, 1))
    w = np.array([[1.0, 4.0], [2.0, 3.0]])
    st.set_explanation(Unit("pool", "MaxPooling2D", (0, 0, 0), "pool_max", 4.0, window=w, winner=(0, 1)))
    assert st.result_lines() == ["max of the 4 window values = 4", "Result = 4"]
    st.select("pool", (0, 0, 0), (2, 2, 1))
    st.set_explanation(Unit("pool", "AveragePooling2D", (0, 0, 0), "pool_avg", 2.5, window=w))
    assert st.result_lines()[0] == "mean of the 4 window values = 10 / 4 = 2.5"


def test_a_kernel_larger_than_the_stepper_takes_is_not_offered_to_it():
    st = ExplainState()
    st.select("big", (0, 0, 0), (4, 4, 1))
    e = conv_unit(c=1)
    e.layer = "big"
    e.window, e.weights = np.zeros((16, 16, 1)), np.ones((16, 16, 1))
    st.set_explanation(e)
    assert not st.can_open_in_stepper()
    assert st.stepper_refusal(15) == "The stepper takes kernels up to 15×15; this one is 16×16."
    st.explanation.window, st.explanation.weights = np.zeros((3, 3, 1)), np.ones((3, 3, 1))
    assert st.can_open_in_stepper() and st.stepper_refusal(15) == ""
