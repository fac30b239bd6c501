"""Custom layers, losses and metrics of the book's models, registered with Keras.

Why registered objects instead of ``Lambda`` and bare functions: a model saved by cnnviz must
reload with ``keras.models.load_model`` in safe mode (the default), which refuses ``Lambda``
bytecode. Everything here is registered under the package name ``cnnviz``, so importing this
module is enough for a saved siamese net or U-Net to load.

Importing this module imports Keras (through :mod:`cnnviz.ml.backend`).
"""

from __future__ import annotations

from cnnviz.ml import backend

keras = backend.keras()
ops = keras.ops

PACKAGE = "cnnviz"


@keras.saving.register_keras_serializable(package=PACKAGE)
class EuclideanDistance(keras.layers.Layer):
    """Euclidean distance between two batches of embeddings, shape ``(batch, 1)``.

    Replaces Listing 5.6's ``Lambda(euclidean_distance)``. A small epsilon under the square
    root keeps the gradient finite when both embeddings are equal (the derivative of
    ``sqrt`` at 0 is infinite, which would turn the loss into NaN).
    """

    def __init__(self, epsilon: float = 1e-7, **kwargs) -> None:
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        a, b = inputs
        squared = ops.sum(ops.square(a - b), axis=-1, keepdims=True)
        return ops.sqrt(ops.maximum(squared, self.epsilon))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self) -> dict:
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
def contrastive_loss(y_true, y_pred, margin: float = 1.0):
    """Listing 5.6's contrastive loss with margin 1.

    ``y_true`` is 1 for a pair of the same digit and 0 for different digits; ``y_pred`` is the
    distance. Same pairs are pulled together (``d²``), different pairs pushed beyond the margin
    (``max(margin - d, 0)²``).
    """
    y_true = ops.cast(y_true, y_pred.dtype)
    y_true = ops.reshape(y_true, ops.shape(y_pred))
    square_pred = ops.square(y_pred)
    margin_square = ops.square(ops.maximum(margin - y_pred, 0.0))
    return ops.mean(y_true * square_pred + (1.0 - y_true) * margin_square, axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
def pair_accuracy(y_true, y_pred, threshold: float = 0.5):
    """Share of pairs classified right when "same" means distance below ``threshold``.

    Listing 5.6 passes an ``accuracy`` function that the book does not print; this is the one
    from the Keras siamese-MNIST example it follows.
    """
    y_true = ops.reshape(ops.cast(y_true, "float32"), ops.shape(y_pred))
    predicted_same = ops.cast(y_pred < threshold, "float32")
    return ops.mean(ops.cast(ops.equal(y_true, predicted_same), "float32"), axis=-1)


def _flatten_pair(y_true, y_pred):
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    return ops.reshape(y_true, (-1,)), ops.reshape(y_pred, (-1,))


@keras.saving.register_keras_serializable(package=PACKAGE)
def jaccard(y_true, y_pred, smooth: float = 1.0):
    """Jaccard index (intersection over union) of soft masks, over the whole batch.

    ``J(A, B) = |A ∩ B| / (|A| + |B| - |A ∩ B|)`` with ``|A ∩ B| = Σ a·b`` on the per-pixel
    class probabilities (one-hot truth × softmax prediction). ``smooth`` avoids 0/0 on empty
    masks.
    """
    t, p = _flatten_pair(y_true, y_pred)
    intersection = ops.sum(t * p)
    union = ops.sum(t) + ops.sum(p) - intersection
    return (intersection + smooth) / (union + smooth)


@keras.saving.register_keras_serializable(package=PACKAGE)
def dice_coef(y_true, y_pred, smooth: float = 1.0):
    """Dice coefficient of soft masks, over the whole batch.

    ``D(A, B) = 2·|A ∩ B| / (|A| + |B|)``. The book (section 6.4.2) prints the formula without
    the factor 2, which would make a perfect match score 0.5 and contradict its own identity
    ``D = 2J / (1 + J)``; cnnviz uses the correct definition.
    """
    t, p = _flatten_pair(y_true, y_pred)
    intersection = ops.sum(t * p)
    return (2.0 * intersection + smooth) / (ops.sum(t) + ops.sum(p) + smooth)


CUSTOM_OBJECTS = {
    "EuclideanDistance": EuclideanDistance,
    "contrastive_loss": contrastive_loss,
    "pair_accuracy": pair_accuracy,
    "jaccard": jaccard,
    "dice_coef": dice_coef,
}
"""Names a legacy loader may need; registered objects load without it."""
