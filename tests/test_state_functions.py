"""The activation functions and softmax without a window: values, slopes (against finite
differences), the book's softmax example and its misprint, the first-loss rule, and the checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnviz.state.functions import (
    ALPHA_DEFAULTS,
    BOOK_LOGITS,
    BOOK_PROBABILITIES,
    FUNCTIONS,
    FunctionsState,
    book_softmax_html,
    cross_entropy,
    derivative,
    evaluate,
    first_loss_html,
    softmax,
)

XS = np.array([-5.0, -2.5, -1.0, -0.3, 0.2, 0.7, 1.5, 4.0])  # no kinks


def test_known_values():
    assert evaluate("sigmoid", 0.0) == 0.5
    assert evaluate("tanh", 1.0) == pytest.approx(math.tanh(1.0))
    np.testing.assert_array_equal(evaluate("relu", [-2.0, 0.0, 3.0]), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(evaluate("leaky_relu", [-2.0, 3.0]), [-0.4, 3.0])  # Keras α 0.2
    np.testing.assert_allclose(evaluate("leaky_relu", [-2.0], alpha=0.01), [-0.02])
    np.testing.assert_allclose(evaluate("elu", [-1.0, 2.0]), [math.exp(-1) - 1, 2.0])
    np.testing.assert_array_equal(evaluate("step", [-0.1, 0.0, 2.0]), [0.0, 1.0, 1.0])
    assert ALPHA_DEFAULTS == {"leaky_relu": 0.2, "elu": 1.0}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_derivatives_match_finite_differences(name):
    h = 1e-6
    numeric = (evaluate(name, XS + h) - evaluate(name, XS - h)) / (2 * h)
    np.testing.assert_allclose(derivative(name, XS), numeric, atol=1e-6)


def test_slopes_at_the_kinks_follow_tensorflow():
    assert derivative("relu", 0.0) == 0.0
    assert derivative("leaky_relu", 0.0, alpha=0.3) == 0.3
    assert derivative("elu", 0.0, alpha=0.5) == 0.5
    assert derivative("sigmoid", 0.0) == 0.25


def test_the_softmax_curve_is_the_probability_of_the_followed_class():
    logits = [1.0, 2.0, -1.0]
    for x in (-3.0, 0.5, 4.0):
        z = list(logits)
        z[1] = x
        assert evaluate("softmax", x, logits=logits, k=1) == pytest.approx(softmax(z)[1])


def test_softmax_is_stable_and_sums_to_one():
    p = softmax([1000.0, 1000.0, -1000.0])
    np.testing.assert_allclose(p, [0.5, 0.5, 0.0])
    assert softmax(BOOK_LOGITS).sum() == pytest.approx(1.0)


def test_the_books_example_reproduced_and_its_misprint_named():
    p = softmax(BOOK_LOGITS)
    np.testing.assert_allclose(np.round(p, 4), BOOK_PROBABILITIES)
    assert int(np.argmax(p)) == 2
    text = book_softmax_html()
    assert "97.37%" in text and "0.9737% confidence" in text and "misprint" in text


def test_first_loss_is_ln_of_the_number_of_classes():
    p = softmax(np.zeros(10))
    for k in range(10):
        assert cross_entropy(p, k) == pytest.approx(math.log(10))
    assert math.log(10) == pytest.approx(2.302585, abs=1e-6)
    assert "2.30" in first_loss_html(10) and "ln 10" in first_loss_html(10)
    s = FunctionsState()
    s.equal_logits()
    assert s.loss() == pytest.approx(math.log(10))
    assert cross_entropy([1.0, 0.0], 1) == math.inf


def test_state_changes_are_checked_and_emitted():
    s = FunctionsState()
    seen = []
    s.changed.connect(lambda: seen.append((s.function, s.alpha, s.x)))
    s.update(function="elu")
    assert s.alpha == 1.0 and s.has_alpha
    s.update(alpha=0.5, x=-2.0)
    assert s.value() == pytest.approx(0.5 * (math.exp(-2) - 1))
    assert s.slope() == pytest.approx(0.5 * math.exp(-2))
    s.update(x=100.0)
    assert s.x == 6.0  # kept in the plot
    s.update(function="relu")
    assert not s.has_alpha and "ReLU" in s.title()
    assert len(seen) == 4
    for bad in ({"function": "swish"}, {"alpha": -1}, {"true_class": 10}, {"beta": 1}):
        with pytest.raises(ValueError):
            s.update(**bad)
    with pytest.raises(ValueError):
        s.set_logit(0, math.nan)
    with pytest.raises(ValueError):
        s.set_logits([1.0])


def test_softmax_panel_texts():
    s = FunctionsState()
    rows = s.softmax_rows()
    assert len(rows) == 10 and rows[2][0] == "2" and rows[2][1] == "12.1"
    assert rows[2][3].startswith("0.9737") and "97.37%" in rows[2][3]
    assert float(rows[7][2]) == pytest.approx(math.exp(4.0), rel=1e-3)
    s.update(true_class=3)
    assert s.loss() == pytest.approx(-math.log(softmax(BOOK_LOGITS)[3]))
    html = s.softmax_summary_html()
    assert "Predicted class <b>2</b>" in html and "true class 3" in html
    s.set_logit(0, 20.0)
    assert int(np.argmax(s.probabilities())) == 0
    s.reset_logits()
    assert s.logits == list(BOOK_LOGITS) and s.true_class == 2
    assert "x = 1" in s.marker_text() and "f′(x) = 1" in s.marker_text()
