"""Which walk of :mod:`cnnviz.core` each stepper mode steps through, built from the settings,
with the mode's rules about them (a kernel needs one slice per input channel, a transposed
convolution takes one filter and no explicit padding, the upstream gradient has the pooled
output's shape)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnnviz.core.convolution import ConvWalk, PoolWalk, TransposeWalk
from cnnviz.core.layer_walks import DropoutWalk, PoolGradWalk, UpsampleWalk

if TYPE_CHECKING:
    from cnnviz.state.stepper.state import Settings

Walk = ConvWalk | PoolWalk | TransposeWalk | UpsampleWalk | DropoutWalk | PoolGradWalk


def filter_count(s: Settings) -> int:
    """How many filters the kernel holds: K for a (kh, kw, C, K) kernel, else 1."""
    return int(s.kernel.shape[3]) if s.kernel.ndim == 4 else 1


def biases(s: Settings) -> list[float]:
    """One bias per filter: the typed ones (a missing one is the single bias), or the single bias."""
    K = filter_count(s)
    if K == 1:
        return [float(s.bias)]
    return [float(s.biases[k]) if k < len(s.biases) else float(s.bias) for k in range(K)]


def default_upstream(shape: tuple[int, int]) -> np.ndarray:
    """The upstream gradient when none is typed: 1, 2, 3, … in row-major order, so every cell
    can be followed back to the input."""
    return np.arange(1, shape[0] * shape[1] + 1, dtype=np.float64).reshape(shape)


def upstream(s: Settings, pooled: tuple[int, int]) -> np.ndarray:
    """The upstream gradient ∂L/∂y: the typed one, or :func:`default_upstream` when none is typed."""
    return default_upstream(pooled) if s.upstream is None else s.upstream


def _channels(s: Settings) -> int:
    return 1 if s.image.ndim == 2 else s.image.shape[2]


def _check_kernel_channels(s: Settings, transposed: bool) -> None:
    k, C = s.kernel, _channels(s)
    if transposed and k.ndim == 4:
        raise ValueError(
            "A transposed convolution here takes one filter: type one kernel (one slice per "
            "channel separated by '|'), not several separated by '||'."
        )
    if k.ndim >= 3 and k.shape[2] != C:
        raise ValueError(
            f"The kernel has {k.shape[2]} channel slices but the input has {C}: type one slice "
            "per channel (separated by '|') or one 2-D kernel for all of them."
        )


def build(s: Settings) -> tuple[Walk, TransposeWalk | None]:
    """The walk for the settings and, for a transposed convolution, the walk of ones that says
    which output cells are touched yet. Raises ValueError (or IndexError) with the reason."""
    padding = s.pads if s.padding == "explicit" else s.padding
    if s.mode == "conv":
        _check_kernel_channels(s, False)
        bias = biases(s) if s.kernel.ndim == 4 else s.bias
        return ConvWalk(s.image, s.kernel, s.stride, padding, s.pad_mode, s.dilation, bias, s.flip,
                        s.activation), None
    if s.mode in ("max", "avg"):
        return PoolWalk(s.image, s.pool_size, s.stride, padding, s.mode), None
    if s.mode in ("max_grad", "avg_grad"):
        op = s.mode.split("_")[0]
        fw = PoolWalk(s.image, s.pool_size, s.stride, padding, op)
        return PoolGradWalk(s.image, upstream(s, fw.out_shape), s.pool_size, s.stride, padding, op), None
    if s.mode == "upsample":
        return UpsampleWalk(s.image, s.factor, s.interpolation), None
    if s.mode == "dropout":
        return DropoutWalk(s.image, s.rate, s.seed, s.training), None
    if s.padding == "explicit":
        raise ValueError(
            "A transposed convolution takes padding 'valid' or 'same' (as Keras's "
            "Conv2DTranspose), not pixels per side."
        )
    _check_kernel_channels(s, True)
    k = s.kernel
    walk = TransposeWalk(s.image, k, s.stride, s.padding, None, s.dilation, s.bias, s.activation)
    touched = TransposeWalk(np.ones(s.image.shape[:2]), np.ones(k.shape[:2]), s.stride, s.padding,
                            None, s.dilation)
    return walk, touched
