"""The output views' rules without Qt or Keras: masks, Jaccard and Dice, true masks given as
images, reconstructions, paged values and the notes on classifiers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cnnviz.core import masks as M
from cnnviz.ml.inspect import Prediction
from cnnviz.state.outputs import (
    SCORES_HELP,
    VALUES_PER_PAGE,
    OutputsState,
    classes_caption,
    read_truth_mask,
)

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


def _pred(kind, output, nonfinite=0, **kw):
    return Prediction(np.zeros(0, np.float32), [], False, kind, np.asarray(output, np.float32), nonfinite, **kw)


def test_jaccard_and_dice_equal_a_hand_computation():
    pred = np.array([[0, 0, 1],
                     [0, 1, 1],
                     [2, 2, 1]])
    true = np.array([[0, 0, 0],
                     [0, 1, 1],
                     [2, 1, 1]])
    s = M.mask_scores(pred, true, 3)
    # class 0: |A|=3, |B|=4, |A∩B|=3 -> J = 3/4, D = 6/7
    # class 1: |A|=4, |B|=4, |A∩B|=3 -> J = 3/5, D = 6/8
    # class 2: |A|=2, |B|=1, |A∩B|=1 -> J = 1/2, D = 2/3
    assert s.jaccard == pytest.approx([3 / 4, 3 / 5, 1 / 2])
    assert s.dice == pytest.approx([6 / 7, 6 / 8, 2 / 3])
    assert s.mean_jaccard == pytest.approx((3 / 4 + 3 / 5 + 1 / 2) / 3)
    assert s.mean_dice == pytest.approx((6 / 7 + 6 / 8 + 2 / 3) / 3)
    # the book's conversions hold with the factor 2
    for j, d in zip(s.jaccard, s.dice):
        assert d == pytest.approx(2 * j / (1 + j)) and j == pytest.approx(d / (2 - d))


def test_argmax_mask_and_shares():
    out = np.zeros((2, 2, 3), np.float32)
    out[0, 0, 2] = out[0, 1, 1] = out[1, 0, 1] = out[1, 1, 0] = 1
    mask = M.argmax_mask(out)
    assert mask.tolist() == [[2, 1], [1, 0]]
    assert M.class_shares(mask, 3).tolist() == [0.25, 0.5, 0.25]
    out[1, 1] = np.nan  # never wins; an all-NaN pixel is class 0
    assert M.argmax_mask(out)[1, 1] == 0


def _mask_state(out, **kw):
    s = OutputsState()
    s.show(_pred("mask", out), np.full(out.shape[:2], 100, np.uint8), source_hw=(40, 40), **kw)
    return s


def test_mask_view_overlay_legend_and_scores_from_a_true_mask_image():
    out = np.zeros((4, 4, 3), np.float32)
    out[..., 2] = 1
    out[:2, :2] = [1, 0, 0]
    s = _mask_state(out, labels=["object", "border", "background"])
    v = s.mask_view()
    assert v.names == ["object", "border", "background"] and v.shares.tolist() == [0.25, 0.0, 0.75]
    assert v.overlay.shape == (4, 4, 3) and v.overlay.dtype == np.uint8
    assert [name for name, _, _ in v.legend] == v.names
    assert "Open the true mask" in s.caption()
    truth = np.full((4, 4), 3, np.uint8)  # numbered 1…3 like the Oxford pets trimaps
    truth[:2, :2] = 1
    assert s.set_truth(truth, "truth.png") == ""
    v = s.mask_view()
    assert v.scores.jaccard.tolist() == [1.0, 1.0, 1.0] and v.scores.mean_dice == 1.0
    assert "mean Jaccard 1.000" in s.caption() and "truth.png" in s.caption()
    assert "D = 2|A∩B| / (|A|+|B|)" in SCORES_HELP and "without the 2" in SCORES_HELP
    s.opacity = 0.0
    assert (s.mask_view().overlay == 100).all()


def test_a_true_mask_of_the_wrong_size_or_with_unknown_values_is_refused_in_words():
    out = np.random.default_rng(0).random((4, 4, 3)).astype(np.float32)
    s = _mask_state(out)
    msg = s.set_truth(np.zeros((7, 5), np.uint8), "small.png")
    assert msg.startswith("The mask is 5×7 pixels, but it must be") and "4×4" in msg and "40×40" in msg
    assert s.truth is None and msg in s.caption()
    msg = s.set_truth(np.array([[0, 7], [200, 1]], np.uint8).repeat(2, 0).repeat(2, 1), "odd.png")
    assert "0, 1, 7, 200" in msg and "3 classes" in msg and "0…2" in msg
    with pytest.raises(ValueError, match="colour picture"):
        read_truth_mask(np.dstack([np.zeros((4, 4)), np.ones((4, 4)), np.zeros((4, 4))]), (4, 4), None, 3)
    # the image's own size is resized like the image; 0/255 is a two-class mask
    ok = read_truth_mask(np.full((40, 40), 255, np.uint8), (4, 4), (40, 40), 2)
    assert ok.shape == (4, 4) and (ok == 1).all()


def test_image_output_side_by_side_on_one_scale_with_the_mse():
    fed = np.zeros((4, 4, 1), np.float32)
    out = np.full((4, 4, 1), 0.5, np.float32)
    s = OutputsState()
    s.show(_pred("image", out, model_input=fed), np.zeros((4, 4), np.uint8), image_shape=(4, 4, 1))
    v = s.image_view()
    assert v.input.shape == v.output.shape == v.difference.shape == (4, 4)
    assert v.mse == pytest.approx(0.25) and v.levels == (0.0, 0.5)
    assert "Mean squared error between input and output: 0.25" in s.caption()
    # a flat output of the flattened input's length is drawn as that image
    s.show(_pred("image", out.reshape(-1), model_input=fed.reshape(-1)), None, image_shape=(4, 4, 1))
    assert s.image_view().output.shape == (4, 4)


def test_an_output_with_nan_says_so_and_draws_what_is_finite():
    out = np.full((4, 4, 1), 0.5, np.float32)
    out[0, :] = np.nan
    s = OutputsState()
    s.show(_pred("image", out, nonfinite=4, model_input=np.zeros((4, 4, 1), np.float32)), None,
           image_shape=(4, 4, 1))
    v = s.image_view()
    assert np.isfinite(v.output).all() and np.isfinite(v.mse)
    assert "4 of the output's 16 numbers are NaN or infinite" in s.caption()
    vals = np.array([1.0, np.nan, 3.0], np.float32)
    s.show(_pred("values", vals, nonfinite=1), None)
    page = s.values_page()
    assert page.values.tolist() == [1.0, 0.0, 3.0] and page.names[1] == "1 (NaN)"
    assert "max 3" in s.caption() and "1 of the output's 3 numbers" in s.caption()
    cls = Prediction(np.array([0.0, 1.0], np.float32), ["a", "b"], False, "classes",
                     np.array([np.nan, 1.0], np.float32), 1)
    assert "1 of the output's 2 numbers are NaN" in classes_caption(cls, None)


def test_ten_thousand_values_are_paged():
    s = OutputsState()
    s.show(_pred("values", np.arange(10_000, dtype=np.float32)), None)
    page = s.values_page()
    assert page.values.size == VALUES_PER_PAGE and page.total == 10_000 and page.pages == 250
    assert page.text == f"Values 1–{VALUES_PER_PAGE} of 10,000 (page 1 of 250)"
    s.next_page()
    assert s.values_page().first == VALUES_PER_PAGE
    for _ in range(300):
        s.next_page()
    last = s.values_page()
    assert last.page == 249 and last.values[-1] == 9999.0
    s.prev_page()
    assert s.values_page().page == 248


def test_a_single_label_classifier_on_a_scene_of_several_objects_says_it_must_pick_one():
    scene = cv2.imread(str(SAMPLES / "shapes.png"))[..., ::-1]
    pred = Prediction(np.array([0.0, 1.0, 0.0, 0.0], np.float32), ["circle", "triangle", "square", "star"], True)
    text = classes_caption(pred, scene)
    assert "about 4 separate objects" in text and "must pick one class" in text
    digit = cv2.imread(str(SAMPLES / "digit_5.png"))[..., ::-1]
    assert classes_caption(pred, digit) == ""
    assert M.count_objects(cv2.imread(str(SAMPLES / "coffee.jpg"))) == 0  # a photo: no claim


def test_a_few_words_on_each_kind_of_output_for_the_compare_captions():
    from cnnviz.state.outputs import output_brief

    out = np.zeros((2, 2, 3), np.float32)
    out[..., 2] = 1
    out[0, 0] = [1, 0, 0]
    assert output_brief(_pred("mask", out)) == "mask: class 0 25%, class 2 75%"
    fed = np.zeros((2, 2, 1), np.float32)
    assert output_brief(_pred("image", np.full((2, 2, 1), 0.5), model_input=fed)) == "reconstruction MSE 0.25"
    assert output_brief(_pred("values", [0.7622])) == "output 0.7622"
    assert output_brief(_pred("values", np.arange(10_000))) == "10,000 values, mean 5e+03"
    cls = Prediction(np.array([0.2, 0.8], np.float32), ["cat", "dog"], True)
    assert output_brief(cls) == "predicted dog (80.0%)"


def test_a_session_keeps_which_of_two_inputs_gets_the_image(tmp_path):
    from cnnviz.ml.inspect import ModelInfo
    from cnnviz.state.activations import ActivationsState
    from cnnviz.state.session import SessionError

    submitted = []
    a = ActivationsState(lambda *args: submitted.append(args))
    info = ModelInfo(1, "siamese.keras", str(tmp_path / "siamese.keras"), "keras", "3", False, [], None, True,
                     spec=(12, 12, 1), inputs=2, output_kind="values")
    a.adopt(info)
    assert (a.feed, a.other) == ("a", "blank")
    a.feed, a.other = "b", "same"
    saved = a.to_session()
    assert saved["feed"] == "b" and saved["other"] == "same"
    model = tmp_path / "siamese.keras"
    model.write_bytes(b"")
    saved["model"] = str(model)
    b = ActivationsState(lambda *args: submitted.append(args))
    plan = b.apply_session(saved)
    assert plan["feed"] == "b" and plan["other"] == "same"
    b.adopt(info)  # the session's model has loaded
    assert (b.feed, b.other) == ("b", "same")
    b.layer = "base/conv2d"
    req = b.compute_request(np.zeros((12, 12), np.uint8))
    assert (req.feed, req.other) == ("b", "same")
    b.adopt(info)  # a model opened later starts from input A again
    assert (b.feed, b.other) == ("a", "blank")
    with pytest.raises(SessionError, match="feed"):
        ActivationsState(lambda *args: None).apply_session({"feed": "c"})


def test_the_objects_of_a_scene_classified_one_by_one_are_listed():
    pred = Prediction(np.array([0.0, 1.0], np.float32), ["circle", "triangle"], True)
    pred.objects = [(0, 0, 5, 5, "circle", 0.99, "top left"), (9, 9, 5, 5, "triangle", 0.9, "bottom right")]
    text = classes_caption(pred, None)
    assert "about 2 separate objects" in text
    assert "Each object cropped and classified on its own: circle 99% (top left), triangle 90% (bottom right)." in text
    assert classes_caption(pred, None, short=True) == (
        "2 objects, one label for all (each alone: hover).")


def test_object_boxes_of_the_shapes_scene():
    scene = cv2.imread(str(SAMPLES / "shapes.png"))[..., ::-1]
    boxes = M.object_boxes(scene)
    assert len(boxes) == 4 and all(w > 50 and h > 50 for _, _, w, h in boxes)
    circle = min(boxes)  # the top-left figure, far from the edges
    crop = M.square_crop(scene, circle, margin=0.5)
    assert crop.shape[:2] == (2 * circle[2], 2 * circle[2])
    x, y, w, h = circle
    assert np.array_equal(crop[w // 2:w // 2 + h, w // 2:w // 2 + w], scene[y:y + h, x:x + w])  # centred
