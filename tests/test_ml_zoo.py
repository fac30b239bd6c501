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


# --- chapter 4: the plain stack, the residual net and the dense net ---------------------------


def conv(f: int, c_in: int, c_out: int) -> int:
    """An f×f convolution: f·f·c_in weights per filter, c_out filters, one bias each."""
    return f * f * c_in * c_out + c_out


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


# 3×3 convolutions: 8 filters on the 1-channel digit, then three stages of three blocks of two
# convolutions with 8, 16 and 32 filters; global average pooling leaves 32 numbers for the softmax.
PLAIN_DEEP = (
    conv(3, 1, 8)
    + 6 * conv(3, 8, 8)
    + conv(3, 8, 16) + 5 * conv(3, 16, 16)
    + conv(3, 16, 32) + 5 * conv(3, 32, 32)
    + dense(32, 10)
)
# The same convolutions plus one 1×1 projection where stages 2 and 3 change the shape.
RESNET_SMALL = PLAIN_DEEP + conv(1, 8, 16) + conv(1, 16, 32)
# 16 maps, then blocks of four 3×3 layers adding 8 maps each, 1×1 transitions halving the maps:
# 16 → 48 → 24 → 56 → 28 → 60.
DENSENET_SMALL = (
    conv(3, 1, 16)
    + sum(conv(3, 16 + 8 * i, 8) for i in range(4)) + conv(1, 48, 24)
    + sum(conv(3, 24 + 8 * i, 8) for i in range(4)) + conv(1, 56, 28)
    + sum(conv(3, 28 + 8 * i, 8) for i in range(4))
    + dense(60, 10)
)


def test_chapter_4_parameter_counts_follow_the_layer_formulas(keras):
    assert (PLAIN_DEEP, RESNET_SMALL, DENSENET_SMALL) == (67_562, 68_250, 33_590)
    for name, total in (("plain_deep", PLAIN_DEEP), ("resnet_small", RESNET_SMALL),
                        ("densenet_small", DENSENET_SMALL)):
        model = zoo.build(name)
        assert model.count_params() == total, name
        assert zoo.summary_rows(model)[1] == (total, total, 0)  # no batch normalization
    # Another input changes only the first convolution (3 channels) and the classifier (4 classes).
    model = zoo.build("resnet_small", input_shape=(64, 64, 3), num_classes=4)
    assert model.count_params() == RESNET_SMALL - conv(3, 1, 8) + conv(3, 3, 8) - dense(32, 10) + dense(32, 4)


def _kinds(model) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def test_plain_and_residual_nets_differ_only_by_their_shortcuts(keras):
    plain, res = zoo.build("plain_deep"), zoo.build("resnet_small")
    kernels = lambda m, k: [layer.name for layer in m.layers  # noqa: E731
                            if type(layer).__name__ == "Conv2D" and layer.kernel_size == (k, k)]
    assert len(kernels(plain, 3)) == 19 and kernels(plain, 3) == kernels(res, 3)
    assert kernels(plain, 1) == []
    assert kernels(res, 1) == ["stage2_block1_shortcut", "stage3_block1_shortcut"]  # projections
    assert _kinds(res).count("Add") == 9  # one per residual block (Figure 4.2)
    assert "Add" not in _kinds(plain)
    # The shortcut skips two convolutions: the Add takes the block's input or its projection.
    add = res.get_layer("stage1_block2_add")
    sources = {t._keras_history.operation.name for t in add.input}
    assert sources == {"stage1_block2_conv2", "stage1_block1_relu"}
    assert res.get_layer("stage2_block1_shortcut").input.shape[1:] == (14, 14, 8)  # pooled first
    assert res.get_layer("stage3_block3_relu").output.shape[1:] == (7, 7, 32)


def test_dense_blocks_concatenate_every_earlier_map(keras):
    model = zoo.build("densenet_small")
    assert _kinds(model).count("Concatenate") == 12
    widths = [model.get_layer(f"dense{d}_layer{n}_concat").output.shape[-1]
              for d in (1, 2, 3) for n in (1, 2, 3, 4)]
    assert widths == [24, 32, 40, 48, 32, 40, 48, 56, 36, 44, 52, 60]
    assert [model.get_layer(f"transition{t}_pool").output.shape[1:] for t in (1, 2)] == [
        (14, 14, 24), (7, 7, 28)]


@pytest.mark.parametrize("name", ["plain_deep", "resnet_small", "densenet_small"])
def test_chapter_4_models_take_any_input_shape(keras, name):
    for shape, classes in (((64, 64, 1), 4), ((7, 9, 3), 2), ((128, 128, 3), 8)):
        model = zoo.build(name, input_shape=shape, num_classes=classes, compile=False)
        x = np.zeros((1, *shape), np.float32)
        assert model.predict(x, verbose=0).shape == (1, classes)
    assert zoo.spec(name).default_dataset == "digits"
    from cnnviz.ml import datasets

    assert datasets.compatible(name)[:2] == ("digits", "shapes")


def test_residual_net_trains_at_64_pixels_without_crashing_tensorflow(tmp_path):
    """oneDNN's CPU filter gradient of a few-channel stride-2 1×1 convolution crashes the process
    from about 56×56 inputs; the projection shortcut pools first, so a 64×64 step survives."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from cnnviz.ml import zoo\n"
        "m = zoo.build('resnet_small', input_shape=(64, 64, 1), num_classes=4)\n"
        "x = np.random.default_rng(0).random((8, 64, 64, 1), dtype=np.float32)\n"
        "y = np.eye(4, dtype=np.float32)[np.arange(8) % 4]\n"
        "m.fit(x, y, epochs=1, batch_size=4, verbose=0)\n"
        "print('trained')\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and "trained" in proc.stdout, proc.stderr[-2000:]
