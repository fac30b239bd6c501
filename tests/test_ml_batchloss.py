"""Per-batch losses recovered from Keras's running mean (pure arithmetic, no Keras)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnviz.ml.batchloss import BatchLossRecovery, batch_loss, is_diverged


def running_means(losses):
    return np.cumsum(losses) / np.arange(1, len(losses) + 1)


def test_equal_batches_give_back_each_loss_exactly():
    losses = np.array([2.5, 1.0, 0.75, 3.0, 0.125])
    rec = BatchLossRecovery()
    out = [rec.feed(b, m) for b, m in enumerate(running_means(losses), start=1)]
    np.testing.assert_allclose(out, losses, rtol=1e-12)


def test_the_first_batch_of_an_epoch_is_its_own_mean():
    assert batch_loss(1, 0.7, 5.0) == 0.7
    assert batch_loss(4, 0.7, None) == 0.7
    assert batch_loss(3, 2.0, 1.0) == pytest.approx(4.0)  # 3·2 − 2·1


def test_each_epoch_starts_afresh():
    rec = BatchLossRecovery()
    first = [rec.feed(b, m) for b, m in enumerate(running_means([1.0, 3.0]), start=1)]
    rec.new_epoch()
    second = [rec.feed(b, m) for b, m in enumerate(running_means([0.5, 0.25, 0.75]), start=1)]
    np.testing.assert_allclose(first, [1.0, 3.0])
    np.testing.assert_allclose(second, [0.5, 0.25, 0.75])


def test_without_a_new_epoch_call_batch_one_still_restarts():
    rec = BatchLossRecovery()
    rec.feed(1, 4.0)
    rec.feed(2, 3.0)
    assert rec.feed(1, 9.0) == 9.0


def test_a_smaller_last_batch_comes_out_closer_to_the_mean():
    # Batches of 4, 4 and 2 samples with mean losses 1, 1 and 4: Keras's sample-weighted mean
    # after the last batch is (4 + 4 + 8) / 10 = 1.6.
    means = [1.0, 1.0, 1.6]
    rec = BatchLossRecovery()
    out = [rec.feed(b, m) for b, m in enumerate(means, start=1)]
    assert out[:2] == [1.0, 1.0]
    assert means[-1] < out[-1] < 4.0


def test_divergence_is_nan_infinite_or_huge():
    assert is_diverged(math.nan, 1e12) and is_diverged(math.inf, 1e12) and is_diverged(-math.inf, 1e12)
    assert is_diverged(1e12, 1e12) and is_diverged(-2e12, 1e12)
    assert not is_diverged(0.0, 1e12) and not is_diverged(123.0, 1e12)
