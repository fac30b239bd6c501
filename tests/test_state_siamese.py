"""The Siamese pane's rules and words, without Qt or TensorFlow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnviz.state import siamese as S
from cnnviz.state.session import SessionError


def test_contrastive_loss_follows_the_books_convention():
    # y = 1: the same digit, the loss is d²; y = 0: different, max(m - d, 0)²
    assert S.contrastive_loss(0.3, 1, 1.0) == pytest.approx(0.09)
    assert S.contrastive_loss(0.3, 0, 1.0) == pytest.approx(0.49)
    assert S.contrastive_loss(1.4, 0, 1.0) == 0.0
    assert "y = 1" in S.Y_CONVENTION and "same digit" in S.Y_CONVENTION


def test_the_contrastive_formula_is_written_with_the_numbers():
    text = S.contrastive_text(0.25, 0, 1.0)
    lines = text.splitlines()
    assert lines[0] == "L = y·d² + (1 − y)·max(m − d, 0)²"
    assert "0·0.25² + (1 − 0)·max(1 − 0.25, 0)²" in lines[1]
    assert lines[-1].strip() == "= 0.5625"


def test_the_triplet_formula_and_its_verdict():
    text = S.triplet_text(0.4, 1.3, 0.2)
    assert "max(0.4 − 1.3 + 0.2, 0)" in text and text.count("= 0") >= 1
    assert "teaches nothing more" in text
    assert S.triplet_loss(0.9, 0.8, 0.2) == pytest.approx(0.3)
    assert "pull the positive in" in S.triplet_text(0.9, 0.8, 0.2)


def test_verdict_at_the_threshold():
    assert S.verdict(0.49, 0.5) == "same" and S.verdict(0.5, 0.5) == "different"
    assert "SAME — right" in S.verdict_text(0.1, 0.5, True)
    assert "DIFFERENT — wrong (the digits are the same)" in S.verdict_text(0.9, 0.5, True)
    assert "right" not in S.verdict_text(0.9, 0.5, None)


@pytest.mark.parametrize("value, words", [
    ("-0.5", "cannot be negative"),
    (-1.0, "cannot be negative"),
    ("nan", "ordinary number"),
    (math.nan, "ordinary number"),
    ("inf", "ordinary number"),
    ("one", "must be a number, like 0.5; 'one' is not one"),
    ("1000", "at most 100"),
])
def test_bad_margins_and_thresholds_are_refused_in_words(value, words):
    s = S.SiameseSettings()
    for name in ("margin", "threshold", "alpha"):
        with pytest.raises(S.InputError, match=words):
            s.set_number(name, value)
    assert (s.margin, s.threshold, s.alpha) == (S.DEFAULT_MARGIN, S.DEFAULT_THRESHOLD, S.DEFAULT_ALPHA)
    assert s.set_number("margin", "1,5") == 1.5


def test_a_blank_drawing_is_blank():
    assert S.blank(None) and S.blank(np.zeros((28, 28), np.uint8))
    drawn = np.zeros((28, 28), np.uint8)
    drawn[10:20, 14] = 255
    assert not S.blank(drawn)
    assert "draw a digit" in S.BLANK_CANVAS


def test_bundled_digits_by_class():
    d = S.Digits()
    assert [d.count(k) for k in range(10)] == [500] * 10
    assert d.image(3, 0).shape == (28, 28)
    rng = np.random.default_rng(0)
    for _ in range(20):
        digit, index = d.random(rng, not_digit=4)
        assert digit != 4 and 0 <= index < 500
    assert d.random(rng, digit=7)[0] == 7


def test_session_round_trip_and_bad_parts_change_nothing():
    s = S.SiameseSettings()
    s.set_number("margin", 2)
    s.pair = [S.InputChoice("digit", 1, 5), S.InputChoice("canvas", 0, 0)]
    d = s.to_session()
    t = S.SiameseSettings()
    t.apply_session(d)
    assert t.to_session() == d
    before = t.to_session()
    for bad in ({"margin": -1}, {"threshold": float("nan")}, {"pair": [{"kind": "digit"}]},
                {"triplet": [{"kind": "webcam"}] * 3}, {"pair": [{"digit": 12}, {}]}):
        with pytest.raises(SessionError):
            t.apply_session(bad)
        assert t.to_session() == before


def test_a_negative_inside_the_triplet_formula_has_the_minus_sign_of_the_formula():
    text = S.triplet_text(0.303, 0.814, 0.2)
    assert "max(−0.311, 0) = 0" in text
    assert "-" not in text.replace("—", "")
