"""The pattern-matching rules without a window: pattern checks, the scale slider's steps, the
selection box, the titles and what the dot product and NCC explanations say."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.matching import match_pattern, scale_pattern
from cnnviz.state.matching import (
    NCC_NOTE,
    NO_PATTERN,
    MatchingState,
    crop_pattern,
    match,
    pattern_levels,
    scale_to_slider,
    selection_to_box,
    slider_to_scale,
)

# a dark image with a bright square and a dimmer plus sign
IMAGE = np.zeros((60, 80), np.float32)
IMAGE[10:20, 10:20] = 255.0
IMAGE[40:49, 50:53] = 120.0
IMAGE[43:46, 47:56] = 120.0
PLUS = np.zeros((9, 9), np.float32)
PLUS[:, 3:6] = 1.0
PLUS[3:6, :] = 1.0


def test_set_pattern_checks_it_and_resets_the_scale():
    s = MatchingState()
    seen = []
    s.changed.connect(lambda: seen.append(s.scale))
    s.update(scale=2.0)
    assert s.set_pattern(PLUS, "a plus") == ""
    assert s.scale == 1.0 and s.pattern.dtype == np.float32 and s.pattern_name == "a plus"
    assert seen == [2.0, 1.0]
    for bad in (np.ones((2, 2, 2)), np.zeros((0, 3)), np.array([[1.0, np.nan]])):
        assert "cannot be used as a pattern" in s.set_pattern(bad, "bad")
    np.testing.assert_array_equal(s.pattern, PLUS)  # unchanged
    assert seen == [2.0, 1.0]


def test_settings_are_checked():
    s = MatchingState()
    s.update(method="ncc", top_n=9)
    assert (s.method, s.top_n) == ("ncc", 9)
    for bad in ({"method": "sad"}, {"top_n": 10}, {"top_n": 0}, {"size": 3}):
        with pytest.raises(ValueError):
            s.update(**bad)


def test_scale_slider_steps():
    assert slider_to_scale(20) == 1.0 and slider_to_scale(30) == 1.5
    assert scale_to_slider(1.5) == 30 and scale_to_slider(0.2) == 4


def test_no_pattern_says_what_to_do():
    result, why = MatchingState().compute(IMAGE)
    assert result is None and why == NO_PATTERN


def test_match_is_the_cores_numbers_with_the_score_map_on_the_image_grid():
    s = MatchingState()
    s.set_pattern(PLUS, "a plus")
    s.update(method="ncc")
    result, why, scores = match(s, IMAGE)
    expected = match_pattern(IMAGE, PLUS, "ncc")
    assert why == "" and result.best_center == expected.best_center == (44, 51)
    np.testing.assert_allclose(scores, expected.centered_map(np.nan), atol=1e-5, equal_nan=True)
    assert scores.shape == IMAGE.shape and scores.dtype == np.float32
    s.update(scale=1.5)
    assert s.scaled_pattern().shape == scale_pattern(PLUS, 1.5).shape


def test_a_pattern_larger_than_the_image_is_explained():
    s = MatchingState()
    s.set_pattern(np.ones((90, 90)), "big")
    result, why, scores = match(s, IMAGE)
    assert result is None and scores is None and "larger than" in why


def test_dot_product_explanation_says_why_brightness_wins():
    s = MatchingState()
    s.set_pattern(PLUS, "a plus")
    res = s.compute(IMAGE)[0]
    assert res.best_center == (14, 14)  # the bright square beats the plus: the book's point
    note = s.note_html(res, PLUS)
    white = 255.0 * PLUS.sum()
    assert "Why brightness wins" in note and f"<b>{white:.4g}</b>" in note
    assert f"{100 * res.best_score / white:.0f}% of it" in note
    negative = -PLUS
    res = match_pattern(IMAGE, negative, "dot")
    assert "where the weights are positive" in s.note_html(res, negative)


def test_ncc_explanation_says_shape_only():
    s = MatchingState()
    s.set_pattern(PLUS, "a plus")
    s.update(method="ncc")
    res = s.compute(IMAGE)[0]
    assert s.note_html(res, PLUS) == NCC_NOTE and "shape only" in NCC_NOTE
    assert s.score_levels(res) == (-1.0, 1.0)
    assert s.score_title(res) == "Score map: normalized cross-correlation"


def test_titles_and_best_matches_text():
    s = MatchingState()
    s.set_pattern(PLUS, "a plus")
    s.update(top_n=2)
    res = s.compute(IMAGE)[0]
    peaks = s.peaks(res)
    assert len(peaks) == 2
    text = s.result_html(res, PLUS, peaks)
    assert text.startswith("Pattern: a plus, scaled to 9×9.")
    r, c = res.best_center
    assert f"centred at row {r}, column {c}" in text and "Next best: 2: (" in text
    assert s.score_title(res) == "Score map: dot product Σ image × pattern"
    assert s.score_title(None) == "Score map — nothing to show"
    lo, hi = s.score_levels(res)
    assert lo == res.scores.min() and hi == res.scores.max()
    assert s.scale_text(PLUS) == "100% (9×9)"
    assert s.pattern_title(PLUS) == "Pattern: 9×9"
    assert "computing" in s.computing_title(PLUS)


def test_selection_box_rules():
    assert selection_to_box(10.4, 5.5, 20.2, 10.0, (60, 80)) == (5, 10, 11, 21)
    assert "no area" in selection_to_box(10.0, 5.0, 0.0, 10.0, (60, 80))
    assert "outside the image" in selection_to_box(-50.0, -50.0, 20.0, 20.0, (60, 80))
    assert "only 1×" in selection_to_box(10.0, 59.2, 20.0, 5.0, (60, 80))
    assert selection_to_box(70.0, 50.0, 30.0, 30.0, (60, 80)) == (50, 70, 10, 10)  # clipped
    crop, name = crop_pattern(IMAGE, (10, 10, 5, 6))
    assert crop.shape == (5, 6) and crop.max() == 1.0 and name == "a 5×6 cut at row 10, column 10"


def test_pattern_levels():
    assert pattern_levels(PLUS) == (0.0, 1.0)
    assert pattern_levels(np.array([[-1.0, 2.0]])) == (-1.0, 2.0)
    assert pattern_levels(np.full((2, 2), 3.0)) == (2.0, 4.0)


def _figures(res, scale):
    """The figure of shapes.png each of the best matches lies in (by its centre, in the
    enlarged image's coordinates)."""
    centres = {"circle": (95, 110), "square": (95, 360), "triangle": (235, 125), "hexagon": (228, 355)}
    out = []
    for p in res.peaks(4):
        r, c = p.center[0] / scale, p.center[1] / scale
        out.append(min(centres, key=lambda k: (centres[k][0] - r) ** 2 + (centres[k][1] - c) ** 2))
    return out


def test_enlarged_figures_the_circle_no_longer_wins_the_dot_product():
    """Figs 1.12–1.13: with the figures enlarged and the pattern kept, the dot product gives the
    hexagon the same top score as the circle (a tie the book shows as the hexagon winning), and
    NCC's best is a poor match on the hexagon's edge."""
    from cnnviz import paths
    from cnnviz.core.images import load_image
    from cnnviz.state.matching import MAX_MARKED, MatchingState

    scene = load_image(paths.sample_image("shapes"), gray=True).astype(np.float32)
    circle = load_image(paths.sample_image("circle_pattern"), gray=True).astype(np.float32) / 255.0
    s = MatchingState()
    s.set_pattern(circle, "circle")
    # as drawn: the circle alone holds the whole disc and wins clearly
    res, _, _ = match(s, s.enlarged(scene))
    peaks = res.peaks(2)
    assert _figures(res, 1.0)[0] == "circle" and peaks[1].score < 0.99 * peaks[0].score
    assert MatchingState.tied(res) == 1 and "A tie" not in MatchingState.note_html(res, circle)
    # enlarged 1.6×: circle, square, triangle and hexagon all hold the disc and tie
    s.update(enlarge=1.6)
    big = s.enlarged(scene)
    assert big.shape == (512, 768)
    res, _, _ = match(s, big)
    winners = _figures(res, 1.6)
    assert "hexagon" in winners and set(winners) == {"circle", "square", "triangle", "hexagon"}
    top = res.peaks(1)[0].score
    hexagon = max(p.score for p, f in zip(res.peaks(4), winners) if f == "hexagon")
    assert hexagon == pytest.approx(top, rel=1e-5) and top == pytest.approx(255 * circle.sum(), rel=1e-4)
    assert MatchingState.tied(res) >= 4
    note = MatchingState.note_html(res, circle)
    assert "A tie" in note and "hexagon" in note and "NCC normalises" in note
    # NCC: best only about 0.58, on the hexagon's edge, and the note says why
    s.update(method="ncc")
    res, _, _ = match(s, big)
    assert _figures(res, 1.6)[0] == "hexagon" and res.peaks(1)[0].score < 0.7
    assert "only" in MatchingState.note_html(res, circle)
    with pytest.raises(ValueError):
        s.update(enlarge=3.0)
    assert MAX_MARKED >= 4


def test_the_next_best_matches_say_which_number_is_the_row_and_which_the_column():
    s = MatchingState()
    s.set_pattern(PLUS, "a plus")
    s.update(top_n=2)
    res = s.compute(IMAGE)[0]
    peaks = s.peaks(res)
    r, c = peaks[1].center
    assert f"Next best: 2: (row {r}, column {c}) " in s.result_html(res, PLUS, peaks)
