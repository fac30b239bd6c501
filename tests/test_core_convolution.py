"""Convolution arithmetic: the book's worked examples, the step walks, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.core.convolution import (
    ConvWalk,
    PoolWalk,
    TransposeWalk,
    activate,
    conv2d,
    conv2d_transpose,
    conv_output_shape,
    conv_steps,
    conv_transpose_steps,
    output_size,
    pad_input,
    pool2d,
    pool_output_shape,
    pool_steps,
    resolve_padding,
    transpose_output_size,
)

# Book ch. 1: the 4×4 image and the 2×2 "chess" pattern
BOOK_I = np.array(
    [[255, 185, 133, 121], [155, 144, 188, 201], [111, 88, 171, 211], [110, 194, 143, 101]]
)
CHESS = np.array([[1, 0], [0, 1]])
BOOK_R = np.array([[399, 373, 334], [243, 315, 399], [305, 231, 272]])


def test_book_chess_pattern_example():
    np.testing.assert_array_equal(conv2d(BOOK_I, CHESS), BOOK_R)
    steps = list(conv_steps(BOOK_I, CHESS))
    first = steps[0]
    np.testing.assert_array_equal(first.window, [[255, 185], [155, 144]])
    np.testing.assert_array_equal(first.products, [[255, 0], [0, 144]])
    assert first.value == 399  # r00 = 255*1 + 185*0 + 155*0 + 144*1
    assert steps[1].window_origin == (0, 1) and steps[1].value == 185 + 188
    assert [s.value for s in steps] == BOOK_R.reshape(-1).tolist()


def test_book_diagonal_lines_example():
    image = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [0, 0, 255, 0, 255, 0, 0],
            [0, 255, 0, 0, 0, 255, 0],
            [255, 0, 0, 0, 0, 0, 255],
        ]
    )
    pattern = [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    np.testing.assert_array_equal(
        conv2d(image, pattern), [[0, 510, 0, 255, 0], [765, 0, 255, 0, 255]]
    )


@pytest.mark.parametrize(
    "n, f, p, s, expected",
    [
        (227, 11, 0, 4, 55),  # AlexNet, seed 001: 227 → 55 with F=11, S=4
        (28, 3, 0, 1, 26),  # Listing 2.2: 28 → 26 → 24
        (26, 3, 0, 1, 24),
        (98, 2, 0, 2, 49),  # ch. 2 max-pooling: 98 → 49 with a 2×2 pool
        (4, 2, 0, 1, 3),  # Fig 2.8: 4×4 input, 2×2 filter, stride 1 → 9 dot products
        (4, 2, 0, 2, 2),  # Fig 2.9: stride 2 → 4 dot products
        (6, 3, 0, 1, 4),  # seed 001: 6×6×3 ⊛ 3×3×3 → 4×4
        (5, 3, 1, 1, 5),  # "same" with p = (f − 1)/2 (seed 002)
        (7, 3, 0, 2, 3),
        (10, 3, 0, 1, 8),
    ],
)
def test_output_size_examples(n, f, p, s, expected):
    assert output_size(n, f, p, s) == expected


def test_output_size_with_dilation_and_shapes_of_the_book_model():
    assert output_size(7, 3, 0, 1, 2) == 3  # a dilated 3-tap window spans 5 pixels
    assert conv_output_shape(28, 28, 3, 3) == (26, 26)
    assert conv_output_shape(227, 227, 11, 11, stride=4) == (55, 55)
    assert conv_output_shape(5, 7, 3, 3, stride=2, padding="same") == (3, 4)
    assert pool_output_shape(98, 98, 2) == (49, 49)
    assert pool_output_shape(5, 5, 2, padding="same") == (3, 3)


def test_rgb_filter_seed_001_walk_through():
    # a 6×6×3 volume and a 3×3×3 filter give one 4×4 map: 27 products summed per cell
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (6, 6, 3)).astype(float)
    k = rng.integers(-1, 2, (3, 3, 3)).astype(float)
    out = conv2d(x, k)
    assert out.shape == (4, 4)
    assert out[0, 0] == np.sum(x[:3, :3, :] * k)
    step = ConvWalk(x, k, bias=2.0, activation="relu")[0]
    assert step.products.shape == (3, 3, 3) and step.channel_sums.shape == (3,)
    np.testing.assert_allclose(step.channel_sums, [np.sum(x[:3, :3, c] * k[:, :, c]) for c in range(3)])
    assert step.pre_activation == pytest.approx(out[0, 0] + 2.0)
    assert step.value == max(0.0, step.pre_activation)
    # two filters stack into a 4×4×2 volume, each with its own bias
    k2 = np.stack([k, -k], axis=3)
    out2 = conv2d(x, k2, bias=[1.0, -1.0])
    assert out2.shape == (4, 4, 2)
    np.testing.assert_allclose(out2[..., 0], out + 1.0)
    np.testing.assert_allclose(out2[..., 1], -out - 1.0)


def test_2d_kernel_on_colour_input_is_expanded_through_the_depth():
    rng = np.random.default_rng(1)
    x = rng.random((5, 5, 3))
    k = rng.random((3, 3))
    np.testing.assert_allclose(conv2d(x, k), conv2d(x, np.repeat(k[:, :, None], 3, axis=2)))


def test_book_max_pool_and_average_pool():
    np.testing.assert_array_equal(pool2d(BOOK_I, 2), [[255, 201], [194, 211]])
    np.testing.assert_allclose(
        pool2d(BOOK_I, 2, op="avg"),
        [[(255 + 185 + 155 + 144) / 4, (133 + 121 + 188 + 201) / 4],
         [(111 + 88 + 110 + 194) / 4, (171 + 211 + 143 + 101) / 4]],
    )
    assert pool2d(np.zeros((100, 100)), 2).shape == (50, 50)


def test_flip_gives_mathematical_convolution():
    rng = np.random.default_rng(2)
    x = rng.random((6, 7))
    k = rng.random((3, 2))
    np.testing.assert_allclose(conv2d(x, k, flip=True), conv2d(x, k[::-1, ::-1]))
    # 1-D sanity check against numpy's convolution (which flips)
    row = rng.random(9)
    ker = rng.random(4)
    np.testing.assert_allclose(conv2d(row[None, :], ker[None, :], flip=True)[0],
                               np.convolve(row, ker, mode="valid"))


# ---------------------------------------------------------------- padding


def test_resolve_padding_forms():
    assert resolve_padding(5, 5, 3, 3, 1, 1, "valid") == ((0, 0), (0, 0))
    assert resolve_padding(5, 5, 3, 3, 1, 1, "same") == ((1, 1), (1, 1))
    assert resolve_padding(5, 5, 2, 2, 1, 1, "same") == ((0, 1), (0, 1))  # extra at bottom/right
    assert resolve_padding(6, 6, 3, 3, 2, 1, "same") == ((0, 1), (0, 1))
    assert resolve_padding(5, 5, 3, 3, 1, 2, "same") == ((2, 2), (2, 2))
    assert resolve_padding(5, 5, 3, 3, 1, 1, "full") == ((2, 2), (2, 2))
    assert resolve_padding(5, 5, 3, 3, 1, 1, 2) == ((2, 2), (2, 2))
    assert resolve_padding(5, 5, 3, 3, 1, 1, (1, 0)) == ((1, 1), (0, 0))
    assert resolve_padding(5, 5, 3, 3, 1, 1, ((0, 1), (2, 3))) == ((0, 1), (2, 3))


def test_pad_modes():
    x = np.array([[1.0, 2.0, 3.0]])
    pads = ((0, 0), (2, 2))
    np.testing.assert_array_equal(pad_input(x, pads, "zero"), [[0, 0, 1, 2, 3, 0, 0]])
    np.testing.assert_array_equal(pad_input(x, pads, "replicate"), [[1, 1, 1, 2, 3, 3, 3]])
    np.testing.assert_array_equal(pad_input(x, pads, "reflect"), [[3, 2, 1, 2, 3, 2, 1]])
    np.testing.assert_array_equal(pad_input(x, pads, "symmetric"), [[2, 1, 1, 2, 3, 3, 2]])
    np.testing.assert_array_equal(pad_input(np.array([[5.0]]), ((1, 1), (1, 1)), "reflect"),
                                  np.full((3, 3), 5.0))
    out = conv2d(x, [[1.0, 1.0, 1.0]], padding=((0, 0), (1, 1)), pad_mode="replicate")
    np.testing.assert_array_equal(out, [[4, 6, 8]])


# ---------------------------------------------------------------- walks


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(stride=1, padding="valid"),
        dict(stride=2, padding="same", bias=0.5),
        dict(stride=(1, 2), padding=1, pad_mode="reflect", activation="tanh"),
        dict(dilation=2, padding="same", activation="sigmoid"),
        dict(stride=3, padding=((0, 2), (1, 0)), flip=True, activation="relu", bias=-1.0),
    ],
)
def test_conv_steps_agree_with_conv2d(kwargs):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(9, 8))
    k = rng.normal(size=(3, 2))
    out = conv2d(x, k, **kwargs)
    steps = list(conv_steps(x, k, **kwargs))
    assert len(steps) == out.size
    assert [s.out_pos for s in steps] == [(i, j) for i in range(out.shape[0]) for j in range(out.shape[1])]
    assert [s.index for s in steps] == list(range(out.size))
    for s in steps:
        assert s.products.sum() + s.bias == pytest.approx(s.pre_activation)
        assert activate(s.pre_activation, s.activation) == pytest.approx(s.value)
        assert s.value == pytest.approx(out[s.out_pos])
        np.testing.assert_allclose(s.products, s.window * s.kernel)


def test_conv_walk_random_access_and_geometry():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(256, 256, 3))
    k = rng.normal(size=(3, 3, 3, 2))
    walk = ConvWalk(x, k, stride=2, padding="same", dilation=1)
    assert walk.out_shape == (128, 128) and len(walk) == 128 * 128
    assert walk.pads == ((0, 1), (0, 1))
    assert walk.padded.shape == (257, 257, 3)
    s = walk[12345]
    i, j = divmod(12345, 128)
    assert s.out_pos == (i, j) and walk.position(12345) == (i, j)
    assert walk.step_at(i, j).index == 12345
    np.testing.assert_allclose(s.value, walk.output[i, j])
    assert s.products.shape == (3, 3, 3, 2) and s.channel_sums.shape == (3, 2)
    np.testing.assert_allclose(s.products.sum(axis=(0, 1, 2)) + s.bias, s.pre_activation)
    assert walk[-1].out_pos == (127, 127)
    assert len(walk[10:13]) == 3
    with pytest.raises(IndexError):
        walk[len(walk)]
    # the window and the cells that read a padded cell
    assert walk.receptive_field(1, 2) == [(r, c) for r in (2, 3, 4) for c in (4, 5, 6)]
    assert walk.outputs_fed_by(4, 4) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert walk.outputs_fed_by(256, 0) == [(127, 0)]
    assert walk.is_padding(256, 3) and not walk.is_padding(255, 255)
    assert walk.to_input(3, 4) == (3, 4)


def test_walk_receptive_field_with_dilation_and_padding():
    walk = ConvWalk(np.zeros((5, 5)), np.ones((2, 2)), padding=1, dilation=2)
    assert walk.out_shape == (5, 5)
    assert walk.receptive_field(0, 0) == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert walk[0].rows == (0, 2) and walk[0].cols == (0, 2)
    assert walk.outputs_fed_by(2, 2) == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert walk.is_padding(0, 3) and walk.to_input(0, 3) == (-1, 2)
    partial = walk.output_until(6)
    assert np.isnan(partial).sum() == 25 - 7


def test_every_fed_cell_is_in_its_receptive_field():
    walk = ConvWalk(np.zeros((7, 6)), np.ones((3, 2)), stride=(2, 3), padding="same", dilation=(1, 2))
    for r in range(walk.padded.shape[0]):
        for c in range(walk.padded.shape[1]):
            for i, j in walk.outputs_fed_by(r, c):
                assert (r, c) in walk.receptive_field(i, j)
    total = sum(len(walk.outputs_fed_by(r, c)) for r in range(walk.padded.shape[0])
                for c in range(walk.padded.shape[1]))
    assert total == len(walk) * 3 * 2


def test_pool_walk_max_winner_and_same_padding_count():
    x = np.array([[1.0, 9.0, 2.0], [3.0, 4.0, 8.0], [7.0, 5.0, 6.0]])
    walk = PoolWalk(x, 2, 2, "same", op="max")
    assert walk.out_shape == (2, 2) and walk.pads == ((0, 1), (0, 1))
    steps = list(pool_steps(x, 2, 2, "same", op="max"))
    assert [s.value for s in steps] == [9.0, 8.0, 7.0, 6.0]
    assert [s.winner for s in steps] == [(0, 1), (1, 2), (2, 0), (2, 2)]
    assert steps[3].count == 1 and steps[3].valid.tolist() == [[True, False], [False, False]]
    assert np.isnan(steps[3].window[1, 1])
    avg = list(pool_steps(x, 2, 2, "same", op="avg"))
    assert avg[1].value == pytest.approx((2 + 8) / 2)  # the padded column is not counted
    np.testing.assert_allclose([s.value for s in avg], pool2d(x, 2, 2, "same", op="avg").ravel())
    colour = PoolWalk(np.stack([x, -x], axis=2), 2, 2, op="max")
    assert colour[0].winner == [(0, 1), (0, 0)]
    np.testing.assert_array_equal(colour[0].value, [9.0, -1.0])
    assert colour.outputs_fed_by(1, 1) == [(0, 0)]
    assert colour.receptive_field(0, 0) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_book_transposed_convolution_scatter():
    # each input pixel scales the kernel; copies are placed stride apart and overlaps summed
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    k = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = conv2d_transpose(x, k, stride=1)
    expected = np.zeros((3, 3))
    for i in range(2):
        for j in range(2):
            expected[i : i + 2, j : j + 2] += x[i, j] * k
    np.testing.assert_array_equal(out, expected)
    # stride 2, 2×2 kernel: no overlap, each pixel becomes a scaled 2×2 block
    np.testing.assert_array_equal(conv2d_transpose(x, np.ones((2, 2)), stride=2),
                                  np.kron(x, np.ones((2, 2))))


def test_transpose_walk_running_output_and_geometry():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 5))
    k = rng.normal(size=(3, 3))
    walk = TransposeWalk(x, k, stride=2, padding="same")
    assert walk.out_shape == (8, 10) and len(walk) == 20
    np.testing.assert_allclose(walk.output, conv2d_transpose(x, k, 2, "same"))
    running = np.zeros(walk.out_shape)
    for step in conv_transpose_steps(x, k, stride=2, padding="same"):
        np.testing.assert_allclose(step.contribution, step.value * k)
        for a, r in enumerate(step.rows):
            for b, c in enumerate(step.cols):
                if step.inside[a, b]:
                    running[r, c] += step.contribution[a, b]
        np.testing.assert_allclose(walk.output_after(step.index), running, atol=1e-12)
    np.testing.assert_allclose(running, walk.output)
    for r in range(8):
        for c in range(10):
            for i, j in walk.inputs_feeding(r, c):
                assert (r, c) in walk.outputs_fed_by(i, j)
    assert walk.step_at(1, 1).origin == (2 - walk.crop[0], 2 - walk.crop[1])


def test_transpose_output_size_rules():
    assert transpose_output_size(4, 3, 2, "valid") == 9  # (n − 1)s + k
    assert transpose_output_size(4, 1, 3, "valid") == 12  # (n − 1)s + max(k, s)
    assert transpose_output_size(4, 3, 2, "same") == 8  # n·s
    assert transpose_output_size(4, 3, 2, "same", 0) == 7  # (n − 1)s + k mod 2 + op
    assert transpose_output_size(4, 3, 2, "valid", 1) == 10
    with pytest.raises(ValueError, match="smaller than the stride"):
        transpose_output_size(4, 3, 2, "valid", 2)


# ---------------------------------------------------------------- errors a student can read


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: conv2d(np.zeros((3, 3)), np.ones((5, 5))), ["5×5 kernel", "3×3 input", "padding 0", "add padding"]),
        (lambda: conv2d(np.zeros((4, 4)), np.ones((3, 3)), dilation=2), ["dilation", "5×5"]),
        (lambda: conv2d(np.zeros((3, 3)), np.ones((4, 4)), padding=((0, 0), (1, 0))), ["does not fit"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), stride=0), ["stride", "at least 1"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), stride=-2), ["stride", "at least 1"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), stride=1.5), ["stride", "whole number"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), dilation=0), ["dilation", "at least 1"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), dilation=(1, -1)), ["dilation"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), padding="sometimes"), ["unknown padding"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), padding=-1), ["negative"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), padding=(1, 2, 3)), ["unknown padding"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), pad_mode="mirror"), ["pad_mode"]),
        (lambda: conv2d(np.zeros((5, 5)), np.zeros((0, 3))), ["empty"]),
        (lambda: conv2d(np.zeros((5, 5)), [[1, np.nan], [0, 1]]), ["nan"]),
        (lambda: conv2d(np.zeros((5, 5)), [[1, np.inf], [0, 1]]), ["infinite"]),
        (lambda: conv2d(np.array([[1.0, np.nan], [0, 1]]), np.ones((1, 1))), ["nan", "row 0, column 1"]),
        (lambda: conv2d(np.full((2, 2), np.inf), np.ones((1, 1))), ["infinite"]),
        (lambda: conv2d(np.zeros((0, 5)), np.ones((1, 1))), ["empty"]),
        (lambda: conv2d(np.zeros(5), np.ones((1, 1))), ["height, width"]),
        (lambda: conv2d(np.zeros((5, 5, 3)), np.ones((3, 3, 2))), ["2 input channel", "has 3"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), bias=[1, 2]), ["bias"]),
        (lambda: conv2d(np.zeros((5, 5)), np.ones((3, 3)), activation="swish"), ["activation"]),
        (lambda: output_size(3, 5), ["does not fit"]),
        (lambda: output_size(5, 3, s=0), ["stride"]),
        (lambda: pool2d(np.zeros((4, 4)), 2, op="median"), ["'max' or 'avg'"]),
        (lambda: pool2d(np.zeros((1, 1)), 2), ["pooling window", "does not fit"]),
        (lambda: pool2d(np.zeros((4, 4)), 0), ["pool size"]),
        (lambda: pool2d(np.zeros((4, 4)), 2, padding=2), ["padding"]),
        (lambda: conv2d_transpose(np.zeros((3, 3)), np.ones((2, 2)), padding="full"), ["valid' or 'same"]),
        (lambda: conv2d_transpose(np.zeros((3, 3)), np.ones((2, 2)), 2, output_padding=2), ["smaller than the stride"]),
        (lambda: conv2d_transpose(np.zeros((3, 3)), np.ones((2, 2)), 1, "same", output_padding=0), ["larger output padding"]),
        (lambda: conv2d_transpose(np.zeros((3, 3, 2)), np.ones((2, 2, 1, 3))), ["input channel"]),
        (lambda: conv2d_transpose(np.zeros((3, 3)), np.ones((2, 2)), stride=0), ["stride"]),
    ],
)
def test_clear_errors(call, words):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word.lower() in message.lower(), message


def test_the_issue_example_message():
    with pytest.raises(ValueError) as info:
        conv2d(np.zeros((3, 3)), np.ones((5, 5)))
    assert str(info.value) == (
        "The 5×5 kernel does not fit in the 3×3 input (with padding 0): make the kernel smaller "
        "or add padding."
    )


def test_even_kernels_work_everywhere():
    x = np.arange(25.0).reshape(5, 5)
    assert conv2d(x, np.ones((2, 2))).shape == (4, 4)
    assert conv2d(x, np.ones((2, 4)), padding="same").shape == (5, 5)
    assert pool2d(x, 2, 1, "same").shape == (5, 5)
    assert conv2d_transpose(x, np.ones((2, 2)), 2, "same").shape == (10, 10)
    walk = ConvWalk(x, np.ones((2, 2)), padding="same")
    assert walk.pads == ((0, 1), (0, 1))
    assert walk[24].value == 24.0  # bottom-right window: one real pixel, three zeros


def test_layer_walks_without_tensorflow():
    from cnnviz.core.layer_walks import (
        DropoutWalk,
        PoolGradWalk,
        UpsampleWalk,
        dropout,
        pool2d_grad,
        upsample2d,
        upsample_taps,
    )

    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(upsample2d(x, 2), np.repeat(np.repeat(x, 2, 0), 2, 1))
    np.testing.assert_allclose(upsample2d(x, 2, "bilinear")[0], [1, 1.25, 1.75, 2])
    assert upsample_taps(2, 2, "bilinear")[1] == (0.25, [0, 1], [0.75, 0.25])
    st = UpsampleWalk(x, (2, 1), "bilinear").step_at(1, 0)
    assert st.sources == ((0, 0), (1, 0)) and st.weights == (0.75, 0.25) and st.value == 1.5
    with pytest.raises(ValueError, match="interpolation"):
        upsample2d(x, 2, "cubic")
    d = DropoutWalk(np.ones((10, 10)), 0.25, seed=1)
    np.testing.assert_array_equal(d.output, np.where(d.mask, 4 / 3, 0))
    assert d[0].scale == 4 / 3 and np.array_equal(dropout(x, 0.5, training=False), x)
    with pytest.raises(ValueError, match="rate"):
        dropout(x, 1.0)
    ties = np.ones((2, 2))
    np.testing.assert_array_equal(pool2d_grad(ties, [[5.0]], 2), [[5, 0], [0, 0]])  # first max wins
    np.testing.assert_array_equal(pool2d_grad(ties, [[4.0]], 2, op="avg"), np.ones((2, 2)))
    w = PoolGradWalk(np.arange(9.0).reshape(3, 3), np.ones((2, 2)), 2, 1)
    np.testing.assert_array_equal(w.output_after(0), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(w.output, [[0, 0, 0], [0, 1, 1], [0, 1, 1]])
    with pytest.raises(ValueError, match="shape"):
        PoolGradWalk(ties, np.ones((2, 2)), 2)
