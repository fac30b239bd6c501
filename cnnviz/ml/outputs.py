"""What kind of thing a model outputs, read from its output shape, its last activation and its
input shape (never from its file name):

- ``"classes"``: a vector of class scores (softmax, sigmoid or logits; one sigmoid unit is a
  binary classifier);
- ``"mask"``: a per-pixel class map (height × width × classes, classes ≥ 2, read by argmax);
- ``"image"``: an image-shaped output that is not a class map (an autoencoder's reconstruction,
  a one-channel sigmoid map, a denoiser), also a flat output as long as the flattened input
  when that is an image;
- ``"values"``: anything else (a regression, an embedding, a distance).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["KINDS", "as_image", "flat_image_side", "image_shape_of", "last_activation", "model_output",
           "output_kind", "output_shape"]

KINDS = ("classes", "mask", "image", "values")
_CLASS_LOSSES = ("crossentropy", "hinge", "focal")
_VALUE_LOSSES = ("mean_squared", "mse", "mae", "mean_absolute", "huber", "log_cosh", "logcosh",
                 "contrastive", "triplet", "cosine")


def output_shape(model) -> tuple:
    """The first output's shape without the batch axis."""
    outs = getattr(model, "outputs", None) or []
    if outs:
        return tuple(outs[0].shape[1:])
    return tuple(model.output_shape[1:])


def _activation_name(fn) -> str | None:
    if fn is None:
        return None
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return str(name).lower()


def last_activation(model) -> str | None:
    """The name of the function that makes the first output ('softmax', 'sigmoid', 'linear',
    'relu', …), or None when the last layer has none (a merge, a distance)."""
    from cnnviz.ml.activations import flat_layers

    layers = flat_layers(model)
    if not layers:
        return None
    layer = layers[-1][1]
    kind = type(layer).__name__
    if kind == "Softmax":
        return "softmax"
    if kind in ("ReLU", "LeakyReLU", "ELU", "PReLU"):
        return kind.lower()
    act = getattr(layer, "activation", None)
    if act is None:
        return None
    return _activation_name(act)


def _loss_text(model) -> str:
    from cnnviz.ml import kerascompat

    try:
        cfg = kerascompat.compile_config(model) or {}
    except Exception:  # a model that was never compiled
        cfg = {}
    loss = cfg.get("loss")
    if isinstance(loss, dict):
        loss = loss.get("class_name") or loss.get("config", {}).get("name")
    return str(loss or "").lower()


def image_shape_of(model) -> tuple[int, int, int] | None:
    """(height, width, channels) of the image the model takes, flat inputs included."""
    from cnnviz.ml.activations import model_input_spec

    spec = model_input_spec(model, pairs=True)
    if spec.height and spec.width and spec.channels:
        return int(spec.height), int(spec.width), int(spec.channels)
    return None


def output_kind(model) -> str:
    """One of :data:`KINDS` for ``model`` (see the module docstring)."""
    shape = output_shape(model)
    act = last_activation(model)
    loss = _loss_text(model)
    image = image_shape_of(model)
    if len(shape) == 3 and shape[-1] is not None:
        c = int(shape[-1])
        if c == 1:
            return "image"
        if act == "softmax":
            return "mask"
        if any(k in loss for k in _CLASS_LOSSES):
            return "mask"
        if any(k in loss for k in _VALUE_LOSSES) or (image is not None and c == image[2]):
            return "image"  # an autoencoder or denoiser of a gray or colour image
        return "mask" if act in (None, "linear") else "image"
    if len(shape) == 1 and shape[0] is not None:
        n = int(shape[0])
        if act == "softmax":
            return "classes"
        if n == 1:
            if act == "sigmoid":
                return "classes"
            return "values"
        if image is not None and n == image[0] * image[1] * image[2] and n > 1:
            return "image"
        if any(k in loss for k in _VALUE_LOSSES):
            return "values"
        if act == "sigmoid" or any(k in loss for k in _CLASS_LOSSES):
            return "classes"
        if act in (None, "linear") and image is not None:
            return "classes"  # logits of an image classifier
        return "values"
    return "values"


def flat_image_side(n: int, channels: int = 1) -> int | None:
    """The side of a square image of ``n`` values (``channels`` per pixel), or None."""
    if n <= 0 or n % channels:
        return None
    side = math.isqrt(n // channels)
    return side if side * side * channels == n else None


def as_image(output: np.ndarray, image_shape: tuple[int, int, int] | None) -> np.ndarray:
    """An image output as (H, W, C): flat outputs are reshaped like the input."""
    y = np.asarray(output)
    if y.ndim == 3:
        return y
    if y.ndim == 1 and image_shape is not None and y.size == int(np.prod(image_shape)):
        return y.reshape(image_shape)
    side = flat_image_side(y.size) if y.ndim == 1 else None
    if side:
        return y.reshape(side, side, 1)
    raise ValueError(f"an output of shape {y.shape} is not an image")


def model_output(model, x) -> np.ndarray:
    """The model's first output for one input ``x`` (no batch axis; a list for several
    inputs), without the batch axis, as float32."""
    batch = [np.asarray(v)[None] for v in x] if isinstance(x, (list, tuple)) else np.asarray(x)[None]
    y = model.predict_on_batch(batch)
    if isinstance(y, (list, tuple)):
        y = y[0]
    if isinstance(y, dict):
        y = next(iter(y.values()))
    return np.asarray(y, dtype=np.float32)[0]
