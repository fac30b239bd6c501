"""Layer arithmetic as the book writes it: output sizes ((n + 2p − f)/s + 1, TensorFlow's
``same`` rule ⌈n/s⌉, transposed convolutions), parameter counts (f·f·c_in·c_out + c_out, …) and
receptive fields, as numbers and as the formula filled in with a layer's own numbers.

Plain Python on numbers (no Qt, no Keras). A layer's facts travel as a plain dict (``arith``):

* ``op``: "conv", "conv_t", "pool", "depthwise", "separable", "dense" or "bn"
* ``kernel``, ``strides``, ``dilation``: one int per spatial axis; ``padding``: "valid" or "same"
* ``n_in``: the input's spatial sizes (None where the model takes any size)
* ``c_in``, ``c_out``: channels (units for Dense); ``bias``; ``depth_multiplier``;
  ``output_padding`` (transposed convs, None or one int per axis); ``center``/``scale`` (BN)
* ``rf``: the receptive field on the input, one size per axis (None when unknown);
  ``whole``: True where every output sees the whole input (Dense after Flatten).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Padding = str | int  # "valid", "same" or a number of pixels on each side


def effective_kernel(f: int, d: int = 1) -> int:
    """A dilated kernel's span: d·(f − 1) + 1."""
    return d * (f - 1) + 1


def conv_output(n: int, f: int, s: int = 1, padding: Padding = "valid", d: int = 1) -> int:
    """Output length of a convolution or pooling window over ``n`` pixels (may be ≤ 0 when the
    window does not fit; the caller says so)."""
    fe = effective_kernel(f, d)
    if padding == "same":
        return -(-n // s)
    p = 0 if padding == "valid" else int(padding)
    return (n + 2 * p - fe) // s + 1


def conv_transpose_output(n: int, f: int, s: int = 1, padding: str = "valid", d: int = 1,
                          output_padding: int | None = None) -> int:
    """Output length of a transposed convolution, by TensorFlow's rule."""
    fe = effective_kernel(f, d)
    if output_padding is None:
        return n * s + max(fe - s, 0) if padding == "valid" else n * s
    p = fe // 2 if padding == "same" else 0
    return (n - 1) * s + fe - 2 * p + output_padding


def _dilated(f: int, d: int) -> str:
    return f"{d}·({f} − 1) + 1 = {effective_kernel(f, d)}"


def conv_output_text(n: int | None, f: int, s: int = 1, padding: Padding = "valid", d: int = 1) -> str:
    """The output-size formula filled in, e.g. ``⌊(28 + 2·0 − 3)/1⌋ + 1 = 26``; ``same``
    padding: ``⌈28/2⌉ = 14``. ``n`` None (any input size) keeps the letter n."""
    fe = effective_kernel(f, d)
    n_text = "n" if n is None else str(n)
    if padding == "same":
        text = f"⌈{n_text}/{s}⌉"
    else:
        p = 0 if padding == "valid" else int(padding)
        text = f"⌊({n_text} + 2·{p} − {fe})/{s}⌋ + 1"
    if n is not None:
        text += f" = {conv_output(n, f, s, padding, d)}"
    if d != 1 and padding != "same":
        text += f"   (dilated kernel {_dilated(f, d)})"
    return text


def conv_transpose_output_text(n: int | None, f: int, s: int = 1, padding: str = "valid", d: int = 1,
                               output_padding: int | None = None) -> str:
    """``(n − 1)·s + f − 2p`` filled in (``n·s`` for ``same``), as TensorFlow computes it."""
    fe = effective_kernel(f, d)
    n_text = "n" if n is None else str(n)
    if output_padding is None and padding == "same":
        text = f"{n_text}·{s}"
    elif output_padding is None and fe < s:
        text = f"{n_text}·{s}"  # the kernel is narrower than the stride: gaps, n·s pixels
    else:
        p = fe // 2 if padding == "same" else 0
        text = f"({n_text} − 1)·{s} + {fe} − 2·{p}"
        if output_padding is not None:
            text += f" + {output_padding}"
    if n is not None:
        text += f" = {conv_transpose_output(n, f, s, padding, d, output_padding)}"
    if d != 1:
        text += f"   (dilated kernel {_dilated(f, d)})"
    return text


# ----------------------------------------------------------------------------- parameters


def _product(factors: Sequence[int]) -> tuple[int, str]:
    return math.prod(factors), "·".join(str(int(v)) for v in factors)


def conv_params(kernel: Sequence[int], c_in: int, c_out: int, bias: bool = True) -> tuple[int, str]:
    """f·f·c_in·c_out + c_out: every filter has a weight per kernel cell and input channel, and
    one bias. Returns (count, formula without the result)."""
    value, text = _product([*kernel, c_in, c_out])
    if bias:
        value, text = value + c_out, f"{text} + {c_out}"
    return value, text


def dense_params(n_in: int, n_out: int, bias: bool = True) -> tuple[int, str]:
    """n_in·n_out + n_out."""
    return conv_params((), n_in, n_out, bias)


def depthwise_params(kernel: Sequence[int], c_in: int, multiplier: int = 1, bias: bool = True) -> tuple[int, str]:
    """f·f·c_in·m + c_in·m: one small filter per input channel (m per channel), no mixing."""
    value, text = _product([*kernel, c_in, multiplier])
    if bias:
        value, text = value + c_in * multiplier, f"{text} + {c_in * multiplier}"
    return value, text


def separable_params(kernel: Sequence[int], c_in: int, c_out: int, multiplier: int = 1,
                     bias: bool = True) -> tuple[int, str]:
    """f·f·c_in·m (depthwise) + c_in·m·c_out (1×1 pointwise) + c_out (bias)."""
    v1, t1 = _product([*kernel, c_in, multiplier])
    v2, t2 = _product([c_in * multiplier, c_out])
    value, text = v1 + v2, f"{t1} + {t2}"
    if bias:
        value, text = value + c_out, f"{text} + {c_out}"
    return value, text


def batchnorm_params(c: int, center: bool = True, scale: bool = True) -> tuple[int, str]:
    """k·c: γ and β (learned, where kept) plus the moving mean and variance per channel."""
    k = 2 + int(center) + int(scale)
    return k * c, f"{k}·{c}"


# ----------------------------------------------------------------------------- one layer, in words


def _axes(values, n: int) -> tuple:
    if values is None:
        return (None,) * n
    if isinstance(values, (int, str)):
        return (values,) * n
    values = tuple(values)
    return values if len(values) == n else (values[0],) * n


def _per_axis(texts: list[str]) -> str:
    if len(set(texts)) == 1:
        return texts[0]
    names = ["H", "W", "D"] if len(texts) <= 3 else [str(i) for i in range(len(texts))]
    return "; ".join(f"{names[i]}: {t}" for i, t in enumerate(texts))


def output_text(arith: dict) -> str | None:
    """The output size formula filled in for each spatial axis (None for Dense and BN)."""
    op = arith.get("op")
    if op not in ("conv", "conv_t", "pool", "depthwise", "separable"):
        return None
    k = tuple(arith["kernel"])
    nd = len(k)
    s, d = _axes(arith.get("strides", 1), nd), _axes(arith.get("dilation", 1), nd)
    n, op_pad = _axes(arith.get("n_in"), nd), _axes(arith.get("output_padding"), nd)
    padding = arith.get("padding", "valid")
    if op == "conv_t":
        texts = [conv_transpose_output_text(n[a], k[a], s[a], padding, d[a], op_pad[a]) for a in range(nd)]
    else:
        texts = [conv_output_text(n[a], k[a], s[a], padding, d[a]) for a in range(nd)]
    return _per_axis(texts)


def params_formula(arith: dict) -> tuple[int, str] | None:
    """(count, formula) for the layer's parameters; None when the layer has no formula here."""
    op = arith.get("op")
    c_in, c_out, bias = arith.get("c_in"), arith.get("c_out"), bool(arith.get("bias", True))
    if op == "bn":
        return None if c_in is None else batchnorm_params(c_in, arith.get("center", True), arith.get("scale", True))
    if c_in is None or (c_out is None and op != "depthwise"):
        return None
    if op in ("conv", "conv_t"):
        return conv_params(arith["kernel"], c_in, c_out, bias)
    if op == "dense":
        return dense_params(c_in, c_out, bias)
    m = int(arith.get("depth_multiplier", 1) or 1)
    if op == "depthwise":
        return depthwise_params(arith["kernel"], c_in, m, bias)
    if op == "separable":
        return separable_params(arith["kernel"], c_in, c_out, m, bias)
    return None


def rf_cell(arith: dict | None) -> str:
    """The receptive field in a table cell: "5×5", "all" (sees the whole input) or ""."""
    if not arith:
        return ""
    if arith.get("whole"):
        return "all"
    rf = arith.get("rf")
    if not rf:
        return ""
    return "×".join(_num(v) for v in rf)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def explain(arith: dict | None, rf_line: bool = True) -> list[str]:
    """The layer's arithmetic, one line each: receptive field (unless ``rf_line`` is False),
    output size, parameters."""
    if not arith:
        return []
    lines = []
    rf = rf_cell(arith) if rf_line else ""
    if rf == "all":
        lines.append("Receptive field: the whole input (every unit sees every pixel)")
    elif rf:
        lines.append(f"Receptive field: {rf} input pixels")
    out = output_text(arith)
    if out:
        same = arith.get("padding") == "same" and arith.get("op") != "conv_t"
        lines.append(f"Output size: {out}" + ("   ('same' padding: ⌈n/s⌉)" if same else ""))
    params = params_formula(arith)
    if params is not None:
        value, text = params
        note = {
            "bn": " (γ, β, moving mean and variance per channel)",
            "depthwise": " (one filter per input channel, + bias)",
            "separable": " (depthwise + 1×1 pointwise + bias)",
        }.get(arith.get("op"), "")
        lines.append(f"Parameters: {text} = {value:,}{note}")
    return lines


# ----------------------------------------------------------------------------- receptive fields


def rf_step(size: int, jump: int, f: int, s: int, d: int = 1) -> tuple[int, int]:
    """One conv/pool layer's effect on (receptive field size, jump between neighbouring
    outputs), both in input pixels: r + (f' − 1)·j, j·s."""
    return size + (effective_kernel(f, d) - 1) * jump, jump * s
