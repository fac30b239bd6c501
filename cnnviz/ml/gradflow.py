"""How much gradient reaches each layer: the vanishing gradient of section 4.2, measured.

- :func:`gradient_norms` — the L2 norm of the loss gradient with respect to each layer's
  kernel, in layer order, for one batch.
- :func:`first_layer_norm` — the norm at the first layer with a kernel (the one the vanishing
  gradient starves first).
- ``GradientFlowCallback(x, y, every_n_batches, progress)`` — a Keras callback that measures the
  norms on a fixed batch every ``every_n_batches`` training batches and hands a plain dict
  (see :func:`flow_report`) to ``progress``; :func:`make_callback` builds one that reports
  through a training handle's ``on_gradients`` method, the way ``cnnviz.ml.training`` reports
  ``on_batch``/``on_epoch``.
- :func:`chain_product` and :func:`book_arithmetic` — the book's 100-layer one-number network:
  1.5¹⁰⁰ ≈ 4.07e17 explodes, 0.8¹⁰⁰ ≈ 2.04e-10 vanishes.

Keras is imported only inside the functions that need a model; ``GradientFlowCallback`` is
built on first access (it subclasses ``keras.callbacks.Callback``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from cnnviz.ml import backend

__all__ = [
    "book_arithmetic",
    "chain_product",
    "first_layer_norm",
    "flow_report",
    "gradient_norms",
    "kernel_layers",
    "make_callback",
]

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def chain_product(weight: float, depth: int = 100, x: float = 1.0) -> float:
    """``x · w₁ · w₂ · … · w_depth`` with every weight equal to ``weight`` (section 4.2)."""
    if depth < 0:
        raise ValueError(f"the depth must be at least 0, not {depth}")
    return float(x) * float(weight) ** int(depth)


def _sci(value: float) -> str:
    """4.065611775e17 → '4.07e17' (three significant digits, no '+' and no leading zeros)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def book_arithmetic(depth: int = 100, exploding: float = 1.5, vanishing: float = 0.8) -> str:
    """Section 4.2's arithmetic in words: a one-number network of ``depth`` layers multiplies
    its input by every weight, and backpropagation multiplies the gradients the same way."""
    power = str(depth).translate(_SUPERSCRIPT)
    big = chain_product(exploding, depth)
    small = chain_product(vanishing, depth)
    return (
        f"A network of {depth} layers with one weight each computes x·w₁·w₂·…·w{depth}"
        f"; backpropagation multiplies the gradients layer by layer in the same way.\n"
        f"Weights of about {exploding:g}: {exploding:g}{power} ≈ {_sci(big)} — the gradients explode.\n"
        f"Weights of about {vanishing:g}: {vanishing:g}{power} ≈ {_sci(small)} — the gradients vanish "
        f"(the book's computer rounds it to 0).\n"
        f"Only weights of about 1 keep the product usable; shortcuts (ResNet, Figures 4.2–4.3) and "
        f"dense connections (DenseNet, Figures 4.6–4.7) give the gradient shorter paths."
    )


# --- measuring a model ------------------------------------------------------------------------


def kernel_layers(model) -> list:
    """The layers with a ``kernel`` (convolutions, dense layers), in order; nested models are
    walked into, each shared layer listed once."""
    seen: set[int] = set()
    out: list = []

    def walk(layers) -> None:
        for layer in layers:
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            inner = getattr(layer, "layers", None)
            if inner:
                walk(inner)
            elif getattr(layer, "kernel", None) is not None and layer.trainable:
                out.append(layer)

    walk(model.layers)
    return out


def _loss_fn(model) -> Callable[[Any, Any], Any]:
    keras = backend.keras()
    loss = getattr(model, "loss", None)
    if loss is None:
        loss = "categorical_crossentropy"
    if isinstance(loss, (str, dict)) or not callable(loss):
        loss = keras.losses.get(loss)
    return loss


def gradient_norms(model, x, y, *, training: bool = False) -> list[tuple[str, float]]:
    """``[(layer name, ‖∂loss/∂kernel‖₂), ...]`` for one batch ``(x, y)``, in layer order.

    The loss is the one the model was compiled with (categorical cross-entropy if it was not
    compiled), averaged over the batch. ``training=False`` runs dropout and batch normalization
    in inference mode, so measuring changes nothing in the model.
    """
    keras = backend.keras()
    tf = backend.tensorflow()
    layers = kernel_layers(model)
    if not layers:
        return []
    loss_fn = _loss_fn(model)
    kernels = [layer.kernel for layer in layers]
    y_true = tf.convert_to_tensor(y, dtype="float32")
    with tf.GradientTape() as tape:
        pred = model(x, training=training)
        loss = keras.ops.mean(loss_fn(y_true, pred))
    grads = tape.gradient(loss, [getattr(k, "value", k) for k in kernels])
    out: list[tuple[str, float]] = []
    for layer, g in zip(layers, grads):
        norm = 0.0 if g is None else float(tf.norm(tf.reshape(g, [-1])).numpy())
        out.append((layer.name, norm))
    return out


def first_layer_norm(model, x, y) -> float:
    """The gradient norm at the first layer with a kernel."""
    norms = gradient_norms(model, x, y)
    if not norms:
        raise ValueError(f"{model.name} has no layer with a kernel")
    return norms[0][1]


def flow_report(norms: Sequence[tuple[str, float]], *, epoch: int, batch: int, step: int) -> dict:
    """The plain, picklable dict a gradient-flow plot needs: ``epoch`` and ``batch`` (1-based),
    ``step`` (batches trained so far), ``layers`` (names, input side first), ``norms`` (floats,
    same order), ``first``/``last`` (the first and last layer's norm) and ``ratio`` (first/last,
    how much of the gradient is left at the input side; ``None`` when the last is 0)."""
    names = [str(n) for n, _ in norms]
    values = [float(v) for _, v in norms]
    first = values[0] if values else 0.0
    last = values[-1] if values else 0.0
    return {
        "epoch": int(epoch), "batch": int(batch), "step": int(step),
        "layers": names, "norms": values, "first": first, "last": last,
        "ratio": (first / last) if last else None,
    }


# --- the callback -----------------------------------------------------------------------------

_CALLBACK_CLASS = None


def _callback_class():
    global _CALLBACK_CLASS
    if _CALLBACK_CLASS is not None:
        return _CALLBACK_CLASS
    keras = backend.keras()

    class GradientFlowCallback(keras.callbacks.Callback):
        """Measures :func:`gradient_norms` on the fixed batch ``(x, y)`` after the first batch
        and then every ``every_n_batches`` batches, and calls ``progress(report)`` with
        :func:`flow_report`'s dict. ``reports`` keeps them all. ``x``/``y`` are model-ready
        arrays (a few dozen samples are enough; the same batch every time makes the curves
        comparable)."""

        def __init__(self, x, y, every_n_batches: int = 10,
                     progress: Callable[[dict], None] | None = None) -> None:
            super().__init__()
            if int(every_n_batches) < 1:
                raise ValueError(f"every_n_batches must be at least 1, not {every_n_batches}")
            self.x, self.y = x, y
            self.every_n_batches = int(every_n_batches)
            self.progress = progress
            self.reports: list[dict] = []
            self._epoch = 0
            self._step = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = int(epoch) + 1

        def on_train_batch_end(self, batch, logs=None):
            self._step += 1
            if self._step != 1 and self._step % self.every_n_batches:
                return
            self.measure(batch=int(batch) + 1)

        def measure(self, batch: int = 0) -> dict:
            """Measure now and report; returns the report."""
            norms = gradient_norms(self.model, self.x, self.y)
            report = flow_report(norms, epoch=self._epoch, batch=batch, step=self._step)
            self.reports.append(report)
            if self.progress is not None:
                self.progress(report)
            return report

    _CALLBACK_CLASS = GradientFlowCallback
    return GradientFlowCallback


def make_callback(handle: Any, x, y, every_n_batches: int = 10):
    """A :class:`GradientFlowCallback` reporting through ``handle.on_gradients(report)`` (skipped
    if the handle has no such method), for a training job to append to its callbacks."""
    method = getattr(handle, "on_gradients", None)
    return _callback_class()(x, y, every_n_batches, method if callable(method) else None)


def __getattr__(name: str):
    if name == "GradientFlowCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
