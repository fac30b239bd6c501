"""Each batch's own loss, recovered from the running mean Keras reports.

During an epoch Keras reports the *mean* of the loss over the batches seen so far. The loss of
batch ``b`` itself is ``b·m_b − (b−1)·m_(b−1)``: exact when every batch has the same size; a
smaller last batch comes out a little closer to the mean. The first batch of an epoch is its own
mean. Pure arithmetic, no Keras.
"""

from __future__ import annotations

import math

__all__ = ["BatchLossRecovery", "batch_loss", "is_diverged"]


def batch_loss(batch: int, mean: float, previous_mean: float | None) -> float:
    """The loss of batch ``batch`` (1-based within its epoch) from the running mean after it
    (``mean``) and after the batch before (``previous_mean``; None at the start of an epoch)."""
    if batch == 1 or previous_mean is None:
        return float(mean)
    return batch * float(mean) - (batch - 1) * float(previous_mean)


def is_diverged(mean: float, limit: float) -> bool:
    """True when a running mean is not a usable loss any more (NaN, infinite or past ``limit``)."""
    return not (math.isfinite(mean) and abs(mean) < limit)


class BatchLossRecovery:
    """Feed it the running means of one epoch after another; it gives each batch's own loss."""

    def __init__(self) -> None:
        self._previous: float | None = None

    def feed(self, batch: int, mean: float) -> float:
        """The loss of batch ``batch`` (1-based within the epoch) whose running mean is ``mean``."""
        raw = batch_loss(batch, mean, self._previous)
        self._previous = float(mean)
        return raw

    def new_epoch(self) -> None:
        """The next mean starts a new epoch (Keras resets its mean at every epoch)."""
        self._previous = None
