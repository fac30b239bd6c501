"""The book's models: each builds, compiles, and has the parameter count the book prints."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.ml import zoo


@pytest.fixture(scope="module")
def keras():
    from cnnviz.ml.backend import keras as _keras

    return _keras()


@pytest.mark.parametrize("name", zoo.NAMES)
def test_every_model_builds_compiled_and_predicts(keras, name):
    model = zoo.build(name)
    assert model.name == name
    assert model.optimizer is not None and model.compiled
    s = zoo.spec(name)
    x = np.random.default_rng(0).random((2, *s.input_shape), dtype=np.float32)
    out = model.predict([x, x] if s.task == "pairs" else x, verbose=0)
    if s.task == "classification":
        assert out.shape == (2, s.num_classes)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # softmax
    elif s.task == "segmentation":
        assert out.shape == (2, *s.input_shape[:2], s.num_classes)
    else:  # the same image twice is at distance ~0
        assert out.shape == (2, 1)
        assert float(out.max()) < 1e-3
    assert zoo.describe(name).startswith(s.title)


@pytest.mark.parametrize(
    "name, options, total",
    [
        ("mnist_cnn", {}, 4_738_826),  # Listing 2.2
        ("small_cnn", {}, 5_733),  # Listing 5.3
        ("small_cnn", {"functional": True}, 5_733),  # Listing 5.4
        ("unet_small", {}, 1_862_979),  # section 6.4
    ],
)
def test_parameter_counts_match_the_book(keras, name, options, total):
    model = zoo.build(name, **options)
    rows, totals = zoo.summary_rows(model)
    assert totals == (total, total, 0)
    assert sum(r[3] for r in rows) == total


def test_summary_rows_reproduce_listing_2_2(keras):
    rows, _ = zoo.summary_rows(zoo.build("mnist_cnn"))
    assert [(t, shape, p) for _, t, shape, p in rows] == [
        ("Conv2D", "(None, 26, 26, 32)", 320),
        ("Conv2D", "(None, 24, 24, 64)", 18496),
        ("Flatten", "(None, 36864)", 0),
        ("Dense", "(None, 128)", 4718720),
        ("Dense", "(None, 10)", 1290),
    ]


def test_functional_small_cnn_lists_its_input_like_listing_5_4(keras):
    rows, _ = zoo.summary_rows(zoo.build("small_cnn", functional=True))
    assert rows[0][1] == "InputLayer" and rows[0][2] == "(None, 32, 32, 3)"
    assert [r[2] for r in rows[1:]] == [
        "(None, 30, 30, 16)", "(None, 10, 10, 16)", "(None, 8, 8, 32)",
        "(None, 2, 2, 32)", "(None, 128)", "(None, 5)",
    ]


def test_options_override_book_choices(keras):
    model = zoo.build("alexnet_small", learning_rate=0.01, optimizer="sgd", num_classes=4)
    assert type(model.optimizer).__name__ == "SGD"
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(0.01)
    assert model.outputs[0].shape[-1] == 4
    assert zoo.build("small_cnn").optimizer.__class__.__name__ == "RMSprop"  # Listing 5.1


def test_siamese_shares_one_base_network_and_has_no_lambda(keras):
    model = zoo.build("siamese_mnist")
    types = [type(layer).__name__ for layer in model.layers]
    assert "Lambda" not in types and "EuclideanDistance" in types
    assert types.count("Functional") == 1  # both inputs go through the same weights


def test_bad_requests_say_what_is_wrong(keras):
    with pytest.raises(ValueError, match="unknown model"):
        zoo.build("resnet")
    with pytest.raises(ValueError, match="below one pixel"):
        zoo.build("alexnet_small", input_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="unknown optimizer"):
        zoo.build("mnist_fast", optimizer="nadamax")


def test_dice_and_jaccard_are_the_correct_definitions(keras):
    from cnnviz.ml.layers import dice_coef, jaccard

    truth = np.zeros((1, 4, 4, 1), np.float32)
    truth[0, :2, :, 0] = 1  # |A| = 8
    pred = np.zeros_like(truth)
    pred[0, 1:3, :, 0] = 1  # |B| = 8, |A ∩ B| = 4
    j = float(jaccard(truth, pred, smooth=0.0))
    d = float(dice_coef(truth, pred, smooth=0.0))
    assert j == pytest.approx(4 / 12)
    assert d == pytest.approx(2 * 4 / 16)  # the factor 2 the book drops
    assert d == pytest.approx(2 * j / (1 + j))  # the book's own identity holds
    assert float(dice_coef(truth, truth, smooth=0.0)) == pytest.approx(1.0)


def test_contrastive_loss_follows_listing_5_6(keras):
    from cnnviz.ml.layers import contrastive_loss

    d = np.array([[0.2], [0.2], [1.5]], np.float32)
    y = np.array([[1.0], [0.0], [0.0]], np.float32)
    loss = np.asarray(contrastive_loss(y, d))
    np.testing.assert_allclose(loss, [0.04, 0.64, 0.0], atol=1e-6)
