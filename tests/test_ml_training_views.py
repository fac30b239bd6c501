"""What segmentation and siamese runs measure at each epoch's end (the training pane's Masks
and Pairs tabs): the masks' Jaccard and Dice are those of :mod:`cnnviz.core.masks` on the same
predictions, the pair accuracy is the book's rule (distance < 0.5 = same) counted by hand, and a
run stopped in the middle of an epoch reports only its whole epochs."""

from __future__ import annotations

import csv
import json
import threading

import numpy as np
import pytest

from cnnviz.core import masks as M
from cnnviz.ml import datasets as data
from cnnviz.ml import training as T
from cnnviz.state import training as words


class Recorder(T.Handle):
    def __init__(self) -> None:
        super().__init__()
        self.views: list[dict] = []
        self.messages: list[str] = []
        self.stop_event = threading.Event()

    def on_task_view(self, report: dict) -> None:
        self.views.append(report)

    def on_message(self, text: str) -> None:
        self.messages.append(text)


@pytest.fixture(scope="module")
def keras():
    from cnnviz.ml.backend import keras as _keras

    return _keras()


def test_mask_report_is_core_masks_per_image_then_per_class():
    rng = np.random.default_rng(3)
    for _ in range(5):
        n, h, w, c = int(rng.integers(1, 5)), int(rng.integers(4, 12)), int(rng.integers(4, 12)), int(rng.integers(2, 5))
        scores = rng.normal(size=(n, h, w, c)).astype(np.float32)
        truth = rng.integers(0, c, size=(n, h, w))
        images = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
        r = T.mask_report(scores, truth, images, ["a", "b"])
        per = [M.mask_scores(M.argmax_mask(s), t, c) for s, t in zip(scores, truth)]
        np.testing.assert_allclose(r["jaccard"], np.mean([p.jaccard for p in per], axis=0))
        np.testing.assert_allclose(r["dice"], np.mean([p.dice for p in per], axis=0))
        assert r["mean_jaccard"] == pytest.approx(np.mean([p.mean_jaccard for p in per]))
        assert r["mean_dice"] == pytest.approx(np.mean([p.mean_dice for p in per]))
        assert r["class_names"][:2] == ["a", "b"] and len(r["class_names"]) == c
        assert r["predicted"].shape == (min(n, T.VIEW_SAMPLES), h, w)
        assert r["nonfinite"] == 0


def test_nan_mask_scores_are_counted_and_said_and_the_scores_still_come():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    scores[0, :2] = np.nan
    truth = rng.integers(0, 3, size=(2, 6, 6))
    r = T.mask_report(scores, truth, np.zeros((2, 6, 6, 1), np.uint8), ["object", "border", "background"])
    assert r["nonfinite"] == 2 * 6 * 3
    assert np.all(np.isfinite(r["jaccard"])) and np.all(np.isfinite(r["dice"]))
    r["epoch"] = 3
    text = words.masks_caption(r)
    assert "36 of the model's 216 mask scores are NaN or infinite" in text
    assert "the run goes on" in text


def test_one_validation_image_is_scored_and_said_to_be_a_small_sample():
    truth = np.zeros((1, 4, 4), int)
    scores = np.zeros((1, 4, 4, 2), np.float32)
    scores[..., 0] = 1.0  # all class 0, as the truth
    r = T.mask_report(scores, truth, np.zeros((1, 4, 4, 3), np.uint8), ["fg", "bg"])
    assert r["samples"] == 1 and r["mean_jaccard"] == 1.0 and r["mean_dice"] == 1.0
    r["epoch"] = 1
    assert "on 1 validation image:" in words.masks_caption(r)
    assert "small sample" in words.masks_caption(r)


def test_pair_accuracy_is_the_books_threshold_counted_by_hand():
    d = np.array([0.1, 0.7, 0.4, np.nan, 0.6, 0.49])
    same = np.array([1, 0, 0, 1, 1, 1])
    # right: 0.1 same ✓, 0.7 different ✓, 0.4 says same but different ✗, NaN ✗, 0.6 ✗, 0.49 ✓
    img = np.zeros((6, 3, 3, 1), np.uint8)
    r = T.pair_report(d, same, img, img, shown=2)
    assert r["accuracy"] == pytest.approx(3 / 6)
    assert r["nonfinite"] == 1
    assert r["same"] == [True, True, False, False]
    assert r["distances"][:1] == [0.1] and r["distances"][2:] == [0.7, 0.4]
    assert words.pair_label(0.1, True, 0.5) == "d = 0.10 ✓\nsays same"
    assert words.pair_label(0.4, False, 0.5) == "d = 0.40 ✗\nsays same"
    assert words.pair_label(0.7, False, 0.5) == "d = 0.70 ✓\nsays different"
    assert words.pair_label(float("nan"), True, 0.5) == "d = NaN ✗\nsays nothing"
    r["epoch"] = 2
    assert "50.0% classified right" in words.pairs_caption(r)
    assert "1 of the model's 6 distances are NaN" in words.pairs_caption(r)


def _seg_model(keras, size=16, classes=3):
    model = keras.Sequential([keras.Input((size, size, 3)),
                              keras.layers.Conv2D(classes, 3, padding="same", activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def test_the_callback_scores_the_models_own_masks_like_core_masks(keras):
    ds = data.load("segmentation", n=5, size=16, seed=1)
    model = _seg_model(keras)
    handle, state = Recorder(), T._RunState()
    cb = T._task_view_callback(keras, handle, state, ds, model, ds.x_train[:3], ds.y_train[:3], (16, 16, 3),
                               handle.on_message)
    cb.set_model(model)
    logs: dict = {}
    cb.on_epoch_end(0, logs)
    (report,) = handle.views
    x, y = data.model_arrays(ds, ds.x_train[:3], ds.y_train[:3], (16, 16, 3))
    out = model.predict(x, verbose=0)
    per = [M.mask_scores(M.argmax_mask(o), t, 3) for o, t in zip(out, ds.y_train[:3])]
    assert logs["val_mask_jaccard"] == pytest.approx(np.mean([p.mean_jaccard for p in per]))
    assert logs["val_mask_dice"] == pytest.approx(np.mean([p.mean_dice for p in per]))
    assert report["epoch"] == 1 and report["samples"] == 3 and report["task"] == "segmentation"
    np.testing.assert_array_equal(report["truth"], ds.y_train[:3])
    # a model whose masks hold NaN scores: counted and said, and the run is not stopped for it
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.full_like(kernel, np.nan), bias])
    model.stop_training = False
    cb.on_epoch_end(1, {})
    bad = handle.views[-1]
    assert bad["nonfinite"] == bad["values"] == 3 * 16 * 16 * 3
    assert model.stop_training is False
    assert "NaN or infinite" in words.masks_caption(bad) and "the run goes on" in words.masks_caption(bad)
    # a classifier on the same images gets no such callback (by its output, not its name)
    clf = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    assert T._task_view_callback(keras, handle, state, ds, clf, ds.x_train, ds.y_train, (16, 16, 3),
                                 handle.on_message) is None
    # no validation samples: said, no callback
    assert T._task_view_callback(keras, handle, state, ds, model, None, None, (16, 16, 3), handle.on_message) is None
    assert any("validation samples to see the masks" in m for m in handle.messages)


def test_a_siamese_run_stopped_mid_epoch_keeps_the_last_whole_epochs_pairs(keras, tmp_path):
    handle = Recorder()
    batches = []

    def on_batch(info):
        batches.append(info)
        if info["epoch"] == 2 and info["batch"] == 1:
            handle.stop_event.set()

    handle.on_batch = on_batch
    r = T.run(T.TrainConfig(model="siamese_mnist", epochs=2, batch_size=16, max_samples=96,
                            validation_split=0.25, out_dir=tmp_path / "siam"), handle)
    assert r.status == "stopped", r.message
    assert [v["epoch"] for v in handle.views] == [1]  # epoch 2 was cut short: nothing of it
    report = handle.views[0]
    assert report["task"] == "pairs" and report["samples"] == 24
    assert 0.0 <= report["accuracy"] <= 1.0 and report["first"].shape[1:] == (28, 28, 1)
    run = json.loads((tmp_path / "siam" / "run.json").read_text())
    assert run["history"]["val_pair_accuracy"][0] == pytest.approx(report["accuracy"])
    with open(tmp_path / "siam" / "log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[0]["val_pair_accuracy"]) == pytest.approx(report["accuracy"])
    assert rows[1]["partial"] == "1"


def test_the_tab_record_keeps_whole_epochs_and_replaces_one_trained_again():
    rec = words.TaskViewRecord()
    rec.reset("pairs")
    assert "end of the first epoch" in rec.caption()
    img = np.zeros((2, 3, 3, 1), np.uint8)
    for epoch, d in ((1, [0.2, 0.9]), (2, [0.9, 0.9]), (2, [0.2, 0.2])):  # epoch 2 trained again
        r = T.pair_report(np.array(d), np.array([1, 0]), img, img)
        r["epoch"] = epoch
        rec.take(r)
    assert rec.epochs == [1, 2] and rec.values["pair accuracy"] == [1.0, 0.5]
    assert rec.caption().startswith("Epoch 2, on 2 validation pairs: 50.0% classified right")


def test_the_tab_follows_the_datasets_task():
    assert words.task_tab_of("segmentation") == "segmentation"
    assert words.task_tab_of("digit_pairs") == "pairs"
    assert words.task_tab_of("digits") is None and words.task_tab_of("folder") is None
    assert words.task_tab_of("no such set") is None
