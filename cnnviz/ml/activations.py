"""What each layer of a model computes for one input: activations, filters, receptive fields,
probabilities and Grad-CAM.

Why not ``keras.Model(model.inputs, [l.output for l in model.layers])``: on Keras 3, a loaded or
rebuilt Sequential's ``layer.output`` belongs to a stale graph (gradients through it are None),
nested models are not flattened, and Sequential ``model.output`` raises. Here the model's own
current graph is replayed on fresh ``keras.Input`` tensors (nested models expanded), and every
layer output of that replay becomes an output of one extractor model, built once and cached per
model, so all activations come from one forward pass.

Everything here is Qt-free and should be called from the one thread that owns the model.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnviz.ml import kerascompat

__all__ = [
    "InputSpec",
    "Prediction",
    "ReceptiveField",
    "SCALINGS",
    "scale_pixels",
    "conv_layers",
    "flat_layers",
    "grad_cam",
    "last_conv_layer",
    "layer_activations",
    "layer_filters",
    "map_to_input",
    "map_to_input_coords",
    "model_input_spec",
    "page_maps",
    "predict_probabilities",
    "probabilities_from_output",
    "fit_image",
    "prepare_input",
    "receptive_fields",
]


def _keras():
    from cnnviz.ml.backend import keras

    return keras()


# ----------------------------------------------------------------------------- layer walking


def _is_graph_model(layer) -> bool:
    keras = _keras()
    if isinstance(layer, keras.Sequential):
        return True
    return kerascompat.is_functional(layer)


def flat_layers(model) -> list[tuple[str, Any]]:
    """Leaf layers in model order, nested models expanded as 'outer/inner' (no InputLayers)."""
    keras = _keras()
    out: list[tuple[str, Any]] = []

    def walk(m, prefix: str) -> None:
        for layer in m.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if _is_graph_model(layer):
                walk(layer, prefix + layer.name + "/")
            else:
                out.append((prefix + layer.name, layer))

    walk(model, "")
    return out


def _find_layer(model, name: str):
    for n, layer in flat_layers(model):
        if n == name:
            return layer
    raise KeyError(f"the model has no layer '{name}'")


@dataclass(frozen=True)
class ReceptiveField:
    """Where a layer's output cells sit on the input: cell (i, j) is centred at
    ``(start[0] + i * jump[0], start[1] + j * jump[1])`` input pixels and sees ``size`` pixels."""

    jump: tuple[float, float]
    size: tuple[float, float]
    start: tuple[float, float]


def _spatial(shape) -> tuple[int, int] | None:
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if len(v) >= 2 else (int(v[0]), int(v[0]))
    return int(v), int(v)


def _next_rf(layer, rf_in: ReceptiveField | None, shape_in, shape_out) -> ReceptiveField | None:
    """Receptive-field arithmetic (Dumoulin & Visin 2016) for one layer."""
    if rf_in is None:
        return None
    hw_in, hw_out = _spatial(shape_in), _spatial(shape_out)
    if hw_out is None or hw_in is None:
        return None
    cfg_kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    name = type(layer).__name__
    if name.startswith("UpSampling") or "Transpose" in name:
        s = _pair(getattr(layer, "strides", None) or getattr(layer, "size", 1))
        k = _pair(cfg_kernel) if cfg_kernel is not None else (1, 1)
        jump = tuple(rf_in.jump[a] / s[a] for a in range(2))
        size = tuple(rf_in.size[a] + (k[a] - 1) * jump[a] for a in range(2))
        start = tuple(rf_in.start[a] - (s[a] - 1) / 2 * jump[a] for a in range(2))
        return ReceptiveField(jump, size, start)
    if cfg_kernel is not None and hasattr(layer, "strides") and len(_spatial(shape_out) or ()) == 2:
        k = _pair(cfg_kernel)
        s = _pair(layer.strides if layer.strides is not None else k)
        d = _pair(getattr(layer, "dilation_rate", 1) or 1)
        jump, size, start = [], [], []
        for a in range(2):
            k_eff = d[a] * (k[a] - 1) + 1
            if getattr(layer, "padding", "valid") == "same":
                total = max((hw_out[a] - 1) * s[a] + k_eff - hw_in[a], 0)
                pad = total // 2
            else:
                pad = 0
            jump.append(rf_in.jump[a] * s[a])
            size.append(rf_in.size[a] + (k_eff - 1) * rf_in.jump[a])
            start.append(rf_in.start[a] + ((k_eff - 1) / 2 - pad) * rf_in.jump[a])
        return ReceptiveField(tuple(jump), tuple(size), tuple(start))
    if name == "ZeroPadding2D":
        (top, _), (left, _) = layer.padding
        return ReceptiveField(rf_in.jump, rf_in.size,
                              (rf_in.start[0] - top * rf_in.jump[0], rf_in.start[1] - left * rf_in.jump[1]))
    if name == "Cropping2D":
        (top, _), (left, _) = layer.cropping
        return ReceptiveField(rf_in.jump, rf_in.size,
                              (rf_in.start[0] + top * rf_in.jump[0], rf_in.start[1] + left * rf_in.jump[1]))
    if hw_in == hw_out:  # element-wise, normalisation, merge of same-size maps
        return rf_in
    return None


# ----------------------------------------------------------------------------- graph replay


class _Trace:
    """Replays a model's current graph on given tensors (symbolic or eager), recording every
    leaf layer's output and its receptive field."""

    def __init__(self, override: Callable | None = None) -> None:
        self.names: list[str] = []
        self.tensors: list[Any] = []
        self.layers: list[Any] = []
        self.rf: dict[str, ReceptiveField | None] = {}
        self._rf_by_tensor: dict[int, ReceptiveField | None] = {}
        self._override = override
        self._keep: list[Any] = []  # keeps tensors alive so their ids stay unique

    def run_model(self, model, inputs, prefix: str = ""):
        keras = _keras()
        if isinstance(model, keras.Sequential):
            x = inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs
            for layer in model.layers:
                if isinstance(layer, keras.layers.InputLayer):
                    continue
                x = self.apply(layer, (x,), {}, prefix)
            return x

        def operation_fn(op):
            def call(*args, **kwargs):
                return self.apply(op, args, kwargs, prefix)

            return call

        return kerascompat.run_through_graph(model, inputs, operation_fn)

    def apply(self, layer, args, kwargs, prefix: str):
        keras = _keras()
        if _is_graph_model(layer):
            inner = args[0] if len(args) == 1 else list(args)
            return self.run_model(layer, inner, prefix + layer.name + "/")
        kwargs = dict(kwargs)
        if isinstance(layer, keras.layers.Layer):
            kwargs["training"] = False
        out = self._override(layer, args, kwargs) if self._override else None
        if out is None:
            out = layer(*args, **kwargs)
        if isinstance(layer, keras.layers.Layer):
            self._record(prefix + layer.name, layer, args, out)
        return out

    def _record(self, name: str, layer, args, out) -> None:
        keras = _keras()
        flat_in = [t for t in keras.tree.flatten(args) if hasattr(t, "shape")]
        flat_out = keras.tree.flatten(out)
        rf_in, shape_in = None, None
        for t in flat_in:
            cand = self._rf_by_tensor.get(id(t))
            if cand is not None and (rf_in is None or cand.size[0] > rf_in.size[0]):
                rf_in, shape_in = cand, t.shape
        for i, t in enumerate(flat_out):
            key = name if len(flat_out) == 1 else f"{name}:{i}"
            base, n = key, 2
            while key in self.rf:
                key, n = f"{base}#{n}", n + 1
            rf = _next_rf(layer, rf_in, shape_in, t.shape)
            self.names.append(key)
            self.tensors.append(t)
            self.layers.append(layer)
            self.rf[key] = rf
            self._rf_by_tensor[id(t)] = rf
            self._keep.append(t)

    def seed(self, tensors) -> None:
        for t in tensors:
            if _spatial(t.shape) is not None:
                self._rf_by_tensor[id(t)] = ReceptiveField((1.0, 1.0), (1.0, 1.0), (0.0, 0.0))
            self._keep.append(t)


def _model_inputs(model) -> list:
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    return inputs


class _Extractor:
    def __init__(self, model) -> None:
        keras = _keras()
        inputs = _model_inputs(model)
        if not inputs:
            raise ValueError(
                "The model has no declared input shape (a Sequential built without an Input), so "
                "its layers cannot be traced; build or save it with an Input layer."
            )
        self.fresh = [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=f"in_{i}")
                      for i, t in enumerate(inputs)]
        trace = _Trace()
        trace.seed(self.fresh)
        feed = self.fresh[0] if len(self.fresh) == 1 else self.fresh
        trace.run_model(model, feed)
        self.names = trace.names
        self.layers = trace.layers
        self.rf = trace.rf
        self.shapes = [tuple(t.shape[1:]) for t in trace.tensors]
        self.model = keras.Model(feed, list(trace.tensors), name="cnnviz_activations")
        self.signature = _signature(model)
        extractor = self.model
        # One traced graph for the whole pass; outputs come back as zero-copy numpy views
        # (``Tensor.numpy()`` would copy every map, which costs more than the pass itself).
        self._fn = _tf().function(lambda v: extractor(v, training=False), reduce_retracing=True)

    def run(self, x) -> list[np.ndarray]:
        dtypes = [str(t.dtype) for t in self.fresh]
        if isinstance(x, (list, tuple)):
            batch = [np.asarray(v, dtype=d)[None] for v, d in zip(x, dtypes)]
        else:
            batch = np.asarray(x, dtype=dtypes[0])[None]
        outs = self._fn(batch)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        return [np.asarray(o)[0] for o in outs]


def _signature(model) -> tuple:
    return tuple(id(l) for _, l in flat_layers(model)) + tuple(
        tuple(t.shape) for t in _model_inputs(model))


_cache: weakref.WeakKeyDictionary[Any, _Extractor] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _extractor(model) -> _Extractor:
    with _cache_lock:
        ext = _cache.get(model)
        if ext is None or ext.signature != _signature(model):
            ext = _Extractor(model)
            _cache[model] = ext
        return ext


# ----------------------------------------------------------------------------- public: activations


def layer_activations(model, x: np.ndarray | Sequence[np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """Every leaf layer's output for one input ``x`` (no batch axis), from one forward pass.

    Names are the layer names, 'outer/inner' inside nested models ('name#2' for a shared layer's
    second call); arrays have no batch axis and are read-only views (copy before editing).
    Multi-input models take a list of inputs.
    """
    ext = _extractor(model)
    return list(zip(ext.names, ext.run(x)))


def receptive_fields(model) -> dict[str, ReceptiveField | None]:
    """Receptive field per layer name; None where a layer's cells see the whole input
    (Dense, Flatten, global pooling) or the arithmetic is unknown."""
    return dict(_extractor(model).rf)


def map_to_input_coords(model, layer_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Centres of a spatial layer's output rows and columns in input pixels (ys, xs)."""
    ext = _extractor(model)
    rf = ext.rf.get(layer_name)
    if rf is None:
        raise ValueError(f"layer '{layer_name}' has no spatial map on the input")
    h, w = ext.shapes[ext.names.index(layer_name)][:2]
    ys = rf.start[0] + np.arange(h) * rf.jump[0]
    xs = rf.start[1] + np.arange(w) * rf.jump[1]
    return ys.astype(np.float32), xs.astype(np.float32)


def map_to_input(model, layer_name: str, fmap: np.ndarray,
                 input_hw: tuple[int, int] | None = None) -> np.ndarray:
    """A 2-D map of ``layer_name`` resampled onto the input pixels by receptive-field centre.

    Why not a plain stretch: a 3×3 'valid' conv's first cell is centred on input pixel 1, not 0;
    stretching shifts maps against the image (the book's Fig. 7.4 overlays them in place).
    Pixels outside the outermost centres take the nearest cell's value.
    """
    import cv2

    ext = _extractor(model)
    if input_hw is None:
        spec = model_input_spec(model)
        input_hw = (spec.height, spec.width)
    H, W = int(input_hw[0]), int(input_hw[1])
    fmap = np.asarray(fmap, dtype=np.float32)
    rf = ext.rf.get(layer_name)
    if rf is None:
        return cv2.resize(fmap, (W, H), interpolation=cv2.INTER_LINEAR)
    yy = ((np.arange(H, dtype=np.float32) - rf.start[0]) / rf.jump[0]).astype(np.float32)
    xx = ((np.arange(W, dtype=np.float32) - rf.start[1]) / rf.jump[1]).astype(np.float32)
    map_x = np.broadcast_to(xx[None, :], (H, W)).copy()
    map_y = np.broadcast_to(yy[:, None], (H, W)).copy()
    return cv2.remap(fmap, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def page_maps(arr: np.ndarray, page: int, per_page: int) -> tuple[np.ndarray, int, int]:
    """One page of a layer's maps as (n, h, w) plus (index of the first map, total maps).

    Why: a layer with thousands of channels must not be drawn all at once; the GUI pages it.
    Vectors become 1×1 maps and sequences (steps, features) become steps×1 maps.
    """
    a = np.asarray(arr)
    if a.ndim == 1:
        a = a[None, None, :]
    elif a.ndim == 2:
        a = a[:, None, :]
    elif a.ndim > 3:
        a = a.reshape(a.shape[0], a.shape[1], -1)
    total = a.shape[-1]
    per_page = max(1, int(per_page))
    pages = max(1, -(-total // per_page))
    page = min(max(0, int(page)), pages - 1)
    first = page * per_page
    maps = np.moveaxis(a[..., first:first + per_page], -1, 0)
    return np.ascontiguousarray(maps), first, total


# ----------------------------------------------------------------------------- input


@dataclass(frozen=True)
class InputSpec:
    """The image a model takes, or why it takes none (``reason`` set, e.g. three inputs).

    ``flat``: the model takes the image flattened to a vector of this many values (its first
    ``Reshape`` makes it an image again, or the length is a square of a gray image).
    ``inputs``: 2 for a model with two image inputs of this shape (a siamese network)."""

    height: int | None
    width: int | None
    channels: int | None
    reason: str | None = None
    flat: int | None = None
    inputs: int = 1

    @property
    def is_image(self) -> bool:
        return self.reason is None

    @property
    def feed_text(self) -> str:
        """How the image is fed, in words ("" for a plain image input)."""
        if self.flat:
            c = "" if self.channels == 1 else f"×{self.channels}"
            return f"feeds the {self.height}×{self.width}{c} image flattened to {self.flat} values"
        return ""


def _first_reshape_target(model) -> tuple | None:
    """The target shape of the model's first Reshape layer (before any other layer that changes
    the shape of a flat input), or None."""
    for _, layer in flat_layers(model):
        name = type(layer).__name__
        if name == "Reshape":
            return tuple(int(v) for v in layer.target_shape)
        if name not in ("Dropout", "GaussianNoise", "GaussianDropout", "Activation", "Rescaling",
                        "Normalization", "BatchNormalization", "LayerNormalization"):
            return None
    return None


def _flat_spec(model, n: int) -> InputSpec:
    """A flat input of ``n`` numbers: an image fed flattened, or why not."""
    import math

    target = _first_reshape_target(model)
    if target is not None:
        if len(target) == 2:
            target = (*target, 1)
        if len(target) == 3 and int(np.prod(target)) == n and target[2] in (1, 3):
            return InputSpec(target[0], target[1], target[2], flat=n)
    side = math.isqrt(n) if n > 0 else 0
    if side > 1 and side * side == n:
        return InputSpec(side, side, 1, flat=n)
    return InputSpec(None, None, None,
                     f"The model takes a vector of {n} numbers, not an image: {n} is not a square "
                     "(h×h pixels of a gray image) and the model has no Reshape layer that makes "
                     "it an image. Its summary is shown.")


def model_input_spec(model, pairs: bool = False) -> InputSpec:
    """(height, width, channels) of the image a model takes; otherwise an explanation.

    ``pairs``: a model with two image inputs of the same shape (a siamese network) takes that
    image (``inputs=2``: the caller feeds both inputs); otherwise it is explained."""
    inputs = _model_inputs(model)
    if not inputs:
        return InputSpec(None, None, None, "The model does not declare its input shape, so cnnviz "
                                           "cannot tell what image it expects.")
    shapes = [tuple(t.shape[1:]) for t in inputs]
    if pairs and len(inputs) == 2 and shapes[0] == shapes[1] and len(shapes[0]) == 3 and shapes[0][2] in (1, 3):
        h, w, c = shapes[0]
        return InputSpec(h, w, c, inputs=2)
    if len(inputs) > 1:
        text = ", ".join(str(s) for s in shapes)
        return InputSpec(None, None, None, f"The model takes {len(inputs)} inputs ({text}); the "
                                           "activations pane feeds one image, or the same image to "
                                           "two inputs of the same shape (a siamese network). Its "
                                           "summary is shown.")
    shape = shapes[0]
    if len(shape) == 3:
        h, w, c = shape
        if c in (1, 3):
            return InputSpec(h, w, c)
        return InputSpec(h, w, c, f"The model's input has {c} channels; cnnviz feeds gray (1) or "
                                  "RGB (3) images.")
    if len(shape) == 1:
        if shape[0] is None:
            return InputSpec(None, None, None, "The model takes a vector of any length, not an image. "
                                               "Its summary is shown.")
        return _flat_spec(model, int(shape[0]))
    if len(shape) == 2:
        return InputSpec(None, None, None, f"The model takes a sequence ({shape[0]} steps × {shape[1]} "
                                           "features), not an image. Its summary is shown.")
    return InputSpec(None, None, None, f"The model takes inputs of shape {shape}, not a 2-D image.")


SCALINGS: dict[str, str] = {
    "div255": "÷255 (0…1)",
    "none": "raw pixel values (0…255)",
    "minus1to1": "−1…1 (÷127.5 − 1), as MobileNet and Teachable Machine models expect",
    "imagenet_caffe": "ImageNet “caffe”: RGB → BGR, minus the mean pixel [103.939, 116.779, "
                      "123.68], no ÷255 (VGG16/19, ResNet50 of keras.applications)",
    "imagenet_torch": "ImageNet “torch”: (x/255 − [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] "
                      "(DenseNet of keras.applications, models trained in PyTorch)",
    "standardize": "zero mean, unit variance per image",
    "div255_inverted": "÷255, inverted (white strokes on black, like MNIST)",
}

#: The ImageNet means and deviations of the "caffe" (BGR, 0…255) and "torch" (RGB, 0…1) presets,
#: as ``keras.applications.imagenet_utils.preprocess_input`` uses them.
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
TORCH_MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
TORCH_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)


def scale_pixels(img: np.ndarray, scaling: str) -> np.ndarray:
    """The model's numbers for uint8 pixels ``img`` (already inverted for ``div255_inverted``)
    under one of :data:`SCALINGS`, as float32 of the same shape.

    A gray image (H, W) under the ImageNet presets gets the mean of the three channels' means
    (and deviations): the presets are defined per colour channel, and a gray pixel is equal in
    all three."""
    x = img.astype(np.float32)
    gray = x.ndim == 2 or x.shape[-1] == 1
    if scaling in ("div255", "div255_inverted"):
        x = x / 255.0
    elif scaling == "minus1to1":
        x = x / 127.5 - 1.0
    elif scaling == "standardize":
        x = (x - x.mean()) / max(float(x.std()), 1e-6)
    elif scaling == "imagenet_caffe":
        x = x - CAFFE_MEAN_BGR.mean() if gray else x[..., ::-1] - CAFFE_MEAN_BGR
    elif scaling == "imagenet_torch":
        if gray:
            x = (x / 255.0 - TORCH_MEAN_RGB.mean()) / TORCH_STD_RGB.mean()
        else:
            x = (x / 255.0 - TORCH_MEAN_RGB) / TORCH_STD_RGB
    return np.ascontiguousarray(x, dtype=np.float32)


def fit_image(image: np.ndarray, height: int | None, width: int | None, channels: int) -> np.ndarray:
    """An image (uint8 or not, gray, RGB or RGBA, any size) as uint8 with ``channels`` (1 = a
    2-D gray image, 3 = RGB) at ``height`` × ``width`` (None keeps that side): area averaging to
    shrink, bilinear to enlarge."""
    import cv2

    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if channels == 1 and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    elif channels == 3 and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    h = height or img.shape[0]
    w = width or img.shape[1]
    if img.shape[:2] != (h, w):
        shrink = h < img.shape[0] or w < img.shape[1]
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return img


def prepare_input(image_rgb_uint8: np.ndarray, model, scaling: str = "div255",
                  pairs: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Turn an RGB (or gray) uint8 image into the model's input ``x`` (no batch axis), and the
    uint8 preview of what the model sees (resized, gray/RGB converted, inversion applied).
    A model that takes the image flattened (``InputSpec.flat``) gets ``x`` as a flat vector;
    with ``pairs``, ``x`` is one image for a model with two image inputs (see
    :func:`model_input_spec`)."""

    if scaling not in SCALINGS:
        raise ValueError(f"unknown scaling '{scaling}'; choose one of {', '.join(SCALINGS)}")
    spec = model_input_spec(model, pairs)
    if not spec.is_image:
        raise ValueError(spec.reason)
    img = fit_image(image_rgb_uint8, spec.height, spec.width, spec.channels)
    if scaling == "div255_inverted":
        img = 255 - img
    preview = np.ascontiguousarray(img)
    x = scale_pixels(img, scaling)
    if spec.channels == 1:
        x = x[..., None]
    if spec.flat:
        x = x.reshape(-1)  # the model reshapes it back into the image
    return x, preview


# ----------------------------------------------------------------------------- filters


_CONV_NAMES = ("Conv", "Convolution")


def _is_conv(layer) -> bool:
    return any(n in type(layer).__name__ for n in _CONV_NAMES) and hasattr(layer, "kernel_size")


def conv_layers(model) -> list[str]:
    """Names (flattened) of the convolution layers, in model order."""
    return [name for name, layer in flat_layers(model) if _is_conv(layer)]


def layer_filters(model, layer_name: str) -> np.ndarray:
    """A conv layer's kernels as (kh, kw, in_channels, out_channels).

    Depthwise layers give (kh, kw, in_channels, depth_multiplier); separable layers give their
    depthwise part; transposed convolutions are reordered from Keras' (kh, kw, out, in); 1-D
    kernels get a leading axis of 1.
    """
    layer = _find_layer(model, layer_name)
    if not _is_conv(layer):
        raise ValueError(f"layer '{layer_name}' is not a convolution")
    name = type(layer).__name__
    if "Separable" in name:
        k = layer.depthwise_kernel
    else:
        k = layer.kernel
    k = np.asarray(k.numpy() if hasattr(k, "numpy") else k)
    if "Transpose" in name:
        k = np.swapaxes(k, -1, -2)
    if k.ndim == 3:
        k = k[None]
    return k


# ----------------------------------------------------------------------------- prediction


@dataclass
class Prediction:
    """Class probabilities of one input, with labels, best first in ``ranked``."""

    probabilities: np.ndarray
    labels: list[str]
    is_probability: bool

    @property
    def ranked(self) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities)
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    @property
    def top(self) -> int:
        return int(np.argmax(self.probabilities))


def predict_probabilities(model, x, labels: Sequence[str] | None = None) -> Prediction:
    """The model's output for one input as class probabilities.

    Softmax outputs are used as they are; a single sigmoid unit becomes [1 − p, p]; anything else
    is passed through softmax and marked ``is_probability=False`` so the GUI can say so.
    """
    batch = [np.asarray(v)[None] for v in x] if isinstance(x, (list, tuple)) else np.asarray(x)[None]
    y = model.predict_on_batch(batch)
    if isinstance(y, (list, tuple)):
        y = y[0]
    return probabilities_from_output(np.asarray(y)[0], labels)


def probabilities_from_output(output: np.ndarray, labels: Sequence[str] | None = None) -> Prediction:
    """:func:`predict_probabilities` of an output already computed (one input, no batch axis)."""
    y = np.asarray(output, dtype=np.float64).reshape(-1)
    finite = np.isfinite(y)
    is_prob = True
    if not finite.all():  # NaN or infinite scores: only the finite ones are shown, as they are
        p = np.where(finite, np.clip(np.nan_to_num(y, nan=0.0), 0.0, 1.0), 0.0)
        is_prob = False
    elif y.size == 1 and 0.0 <= y[0] <= 1.0:
        p = np.array([1.0 - y[0], y[0]])
    elif np.all(y >= -1e-6) and abs(y.sum() - 1.0) < 1e-3:
        p = np.clip(y, 0.0, 1.0)
    else:
        e = np.exp(y - y.max())
        p = e / e.sum()
        is_prob = False
    names = list(labels) if labels is not None and len(labels) == p.size else [str(i) for i in range(p.size)]
    return Prediction(p.astype(np.float32), names, is_prob)


# ----------------------------------------------------------------------------- Grad-CAM


def last_conv_layer(model) -> str | None:
    """The last layer (flattened name) whose output is a spatial 4-D map, preferring convs."""
    ext = _extractor(model)
    spatial = [(n, l) for n, l, s in zip(ext.names, ext.layers, ext.shapes) if len(s) == 3]
    convs = [n for n, l in spatial if _is_conv(l)]
    if convs:
        return convs[-1]
    return spatial[-1][0] if spatial else None


def _output_layer(model):
    """The leaf layer that produces a single-output model's output (for its activation)."""
    names = flat_layers(model)
    return names[-1][1] if names else None


def grad_cam(model, x: np.ndarray, class_index: int | None = None,
             layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM heat map (H, W) in input pixels, scaled to 0…1.

    Gradients of the class *logit* (the final softmax/sigmoid is skipped) with respect to a conv
    layer's maps, from an eager replay of the model's current graph with ``training=False``.
    """
    keras = _keras()
    tf = _tf()
    ext = _extractor(model)
    layer_name = layer_name or last_conv_layer(model)
    if layer_name is None or layer_name not in ext.names:
        raise ValueError("Grad-CAM needs a layer with a 2-D map output; this model has none")
    if len(ext.shapes[ext.names.index(layer_name)]) != 3:
        raise ValueError(f"layer '{layer_name}' has no 2-D map output")
    final = _output_layer(model)
    squash = {keras.activations.softmax, keras.activations.sigmoid}

    def override(layer, args, kwargs):
        if layer is not final:
            return None
        if type(layer).__name__ in ("Softmax",) or (
                type(layer).__name__ == "Activation" and layer.activation in squash):
            return args[0]
        act = getattr(layer, "activation", None)
        if act in squash:
            layer.activation = keras.activations.linear
            try:
                return layer(*args, **kwargs)
            finally:
                layer.activation = act
        return None

    inputs = [tf.constant(np.asarray(v, np.float32)[None]) for v in (x if isinstance(x, (list, tuple)) else [x])]
    trace = _Trace(override=override)
    with tf.GradientTape() as tape:
        out = trace.run_model(model, inputs[0] if len(inputs) == 1 else inputs)
        if isinstance(out, (list, tuple)):
            out = out[0]
        conv = trace.tensors[trace.names.index(layer_name)]
        logits = tf.reshape(out, (1, -1))
        if class_index is None:
            class_index = int(tf.argmax(logits[0]))
        score = logits[0, class_index]
    grads = tape.gradient(score, conv)
    if grads is None:
        raise RuntimeError(f"no gradient flows from the output to layer '{layer_name}'")
    weights = tf.reduce_mean(grads[0], axis=(0, 1))
    cam = tf.nn.relu(tf.reduce_sum(conv[0] * weights, axis=-1)).numpy().astype(np.float32)
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else cam
    spec = model_input_spec(model)
    hw = (spec.height, spec.width) if spec.height else tuple(np.asarray(inputs[0]).shape[1:3])
    heat = map_to_input(model, layer_name, cam, hw)
    return np.clip(heat, 0.0, 1.0).astype(np.float32)


def _tf():
    from cnnviz.ml.backend import tensorflow

    return tensorflow()
