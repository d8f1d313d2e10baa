"""Converters for ONNX neural-network ops: conv, pooling, normalizations, Gemm, softmax.

Windowed ops (Conv, ConvTranspose, the pools) become the registry's 2-D or
3-D op; a 1-D one becomes the 2-D op over a unit height, with reshapes
around it. `auto_pad` is resolved here into explicit pads, which needs the
spatial sizes at compile time.
"""
from __future__ import annotations

import numpy as np

from ...ir.types import FLOAT_DTYPES
from .registry import converter

_STATIC_HINT = "fix the input's symbolic sizes with --input-shape"


# -- shared helpers --------------------------------------------------------------

def _spatial_rank(n, x, what: str = "input") -> int:
    nd = x.type.rank - 2
    if nd not in (1, 2, 3):
        n.fail(f"the {what} must be [N, C, spatial...] with 1 to 3 spatial dims, got "
               f"{x.type}")
    return nd


def _static_dims(n, x, what: str) -> list[int]:
    dims = list(x.type.shape[2:])
    if not all(isinstance(d, int) for d in dims):
        n.fail(f"the spatial sizes of the {what} {x.type} must be known at compile time",
               hint=_STATIC_HINT)
    return dims


def _ints_attr(n, name: str, nd: int, default: int) -> list[int]:
    v = list(n.attr(name, [default] * nd))
    if len(v) != nd:
        n.fail(f"attribute {name!r} must have {nd} entries (one per spatial dim), got {v}")
    return [int(a) for a in v]


def _same_pads(sizes, kernel, strides, dilations, upper: bool) -> list[int]:
    """SAME_UPPER / SAME_LOWER: the output is ceil(size / stride); extra padding at the end
    (upper) or at the beginning (lower)."""
    begins, ends = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
        small = total // 2
        begins.append(small if upper else total - small)
        ends.append(total - small if upper else small)
    return begins + ends


def _window_pads(n, x, kernel, strides, dilations) -> list[int]:
    """Explicit pads [begins..., ends...] from `pads` or `auto_pad`."""
    nd = len(kernel)
    auto = n.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto == "NOTSET":
        pads = [int(p) for p in n.attr("pads", [0] * (2 * nd))]
        if len(pads) != 2 * nd:
            n.fail(f"attribute 'pads' must have {2 * nd} entries (begins then ends), got {pads}")
        return pads
    if auto == "VALID":
        return [0] * (2 * nd)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        sizes = _static_dims(n, x, "input")
        return _same_pads(sizes, kernel, strides, dilations, auto == "SAME_UPPER")
    n.fail(f"auto_pad={auto!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")


def _to_2d(n, v):
    """[N, C, L] -> [N, C, 1, L]."""
    return n.op("tensor.reshape", [v], {"shape": [0, 0, 1, -1]})


def _from_2d(n, v):
    """[N, C, 1, L] -> [N, C, L]."""
    return n.op("tensor.reshape", [v], {"shape": [0, 0, -1]})


def _lift_1d(kernel, strides, pads, dilations):
    """1-D window attributes as 2-D ones over a unit height."""
    return [1, kernel[0]], [1, strides[0]], [0, pads[0], 0, pads[1]], [1, dilations[0]]


def _const_like(n, value, like, hint: str):
    """A scalar constant of `like`'s dtype."""
    return n.constant(np.asarray(value, dtype=like.type.np_dtype), hint)


# -- convolution ---------------------------------------------------------------

@converter("Conv")
def conv(n):
    x, w, bias = n.input(0), n.input(1), n.optional_input(2)
    nd = _spatial_rank(n, x)
    kernel = _weight_kernel(n, w, nd)
    strides = _ints_attr(n, "strides", nd, 1)
    dilations = _ints_attr(n, "dilations", nd, 1)
    pads = _window_pads(n, x, kernel, strides, dilations)
    attrs = {"strides": strides, "pads": pads, "dilations": dilations,
             "groups": int(n.attr("group", 1))}
    operands = [x, w] + ([bias] if bias is not None else [])
    if nd == 3:
        return n.op("nn.conv3d", operands, attrs)
    if nd == 2:
        return n.op("nn.conv2d", operands, attrs)
    _, attrs["strides"], attrs["pads"], attrs["dilations"] = _lift_1d(kernel, strides, pads,
                                                                       dilations)
    operands[:2] = [_to_2d(n, x), _to_2d(n, w)]
    return _from_2d(n, n.op("nn.conv2d", operands, attrs))


def _weight_kernel(n, w, nd: int) -> list[int]:
    if w.type.rank != nd + 2:
        n.fail(f"the weight {w.type} must have rank {nd + 2} for a {nd}-D input")
    kernel = list(w.type.shape[2:])
    if not all(isinstance(k, int) for k in kernel):
        n.fail(f"the kernel size of the weight {w.type} must be static", hint=_STATIC_HINT)
    given = n.attr("kernel_shape", None)
    if given is not None and list(given) != kernel:
        n.fail(f"kernel_shape {list(given)} differs from the weight's kernel {kernel}")
    return kernel


@converter("ConvTranspose")
def conv_transpose(n):
    x, w, bias = n.input(0), n.input(1), n.optional_input(2)
    nd = _spatial_rank(n, x)
    kernel = _weight_kernel(n, w, nd)
    strides = _ints_attr(n, "strides", nd, 1)
    dilations = _ints_attr(n, "dilations", nd, 1)
    output_padding = _ints_attr(n, "output_padding", nd, 0)
    auto = n.attr("auto_pad", "NOTSET") or "NOTSET"
    output_shape = n.attr("output_shape", None)
    if output_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        sizes = _static_dims(n, x, "input")
        if output_shape is None:
            target = [size * s for size, s in zip(sizes, strides)]
        else:
            target = [int(d) for d in output_shape][-nd:]
            if len(target) != nd:
                n.fail(f"output_shape {list(output_shape)} must give {nd} spatial sizes")
        # Pads that make the full result (with output_padding) exactly `target`.
        begins, ends = [], []
        for size, k, s, d, op, want in zip(sizes, kernel, strides, dilations, output_padding,
                                           target):
            total = s * (size - 1) + op + d * (k - 1) + 1 - want
            if total < 0:  # a larger result than the full one: zeros at the end (as ORT)
                begins.append(0)
                ends.append(total)
            elif auto == "SAME_UPPER":
                begins.append(total // 2)
                ends.append(total - total // 2)
            else:
                begins.append(total - total // 2)
                ends.append(total // 2)
        pads = begins + ends
    elif auto == "VALID":
        pads = [0] * (2 * nd)
    elif auto == "NOTSET":
        pads = [int(p) for p in n.attr("pads", [0] * (2 * nd))]
        if len(pads) != 2 * nd:
            n.fail(f"attribute 'pads' must have {2 * nd} entries (begins then ends), got {pads}")
    else:
        n.fail(f"auto_pad={auto!r} is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    attrs = {"strides": strides, "pads": pads, "dilations": dilations,
             "groups": int(n.attr("group", 1)), "output_padding": output_padding}
    operands = [x, w] + ([bias] if bias is not None else [])
    if nd == 3:
        return n.op("nn.conv_transpose3d", operands, attrs)
    if nd == 2:
        return n.op("nn.conv_transpose2d", operands, attrs)
    _, attrs["strides"], attrs["pads"], attrs["dilations"] = _lift_1d(kernel, strides, pads,
                                                                       dilations)
    attrs["output_padding"] = [0, output_padding[0]]
    operands[:2] = [_to_2d(n, x), _to_2d(n, w)]
    return _from_2d(n, n.op("nn.conv_transpose2d", operands, attrs))


# -- pooling -------------------------------------------------------------------

def _pool(n, kind: str, extra: dict):
    """Emit the `kind` pool (maxpool, avgpool, lppool, maxpool..._indices) for any rank."""
    x = n.input(0)
    nd = _spatial_rank(n, x)
    kernel = [int(k) for k in n.attr("kernel_shape")]
    if len(kernel) != nd:
        n.fail(f"kernel_shape {kernel} must have {nd} entries for the input {x.type}")
    strides = _ints_attr(n, "strides", nd, 1)
    dilations = _ints_attr(n, "dilations", nd, 1)
    pads = _window_pads(n, x, kernel, strides, dilations)
    attrs = {"kernel": kernel, "strides": strides, "pads": pads, "dilations": dilations,
             "ceil_mode": bool(n.attr("ceil_mode", 0)), **extra}
    indices = kind.endswith("_indices")
    base = kind.removesuffix("_indices")
    if nd == 1:
        attrs["kernel"], attrs["strides"], attrs["pads"], attrs["dilations"] = _lift_1d(
            kernel, strides, pads, dilations)
        x = _to_2d(n, x)
    name = f"nn.{base}{max(nd, 2)}d" + ("_indices" if indices else "")
    outs = n.op_multi(name, [x], attrs)
    if nd == 1:
        outs = [_from_2d(n, v) for v in outs]
    return outs


@converter("MaxPool")
def max_pool(n):
    if n.attr("storage_order", 0) not in (0, 1):
        n.fail(f"storage_order must be 0 or 1, got {n.attr('storage_order')}")
    wants_indices = len(n.node.output) > 1 and bool(n.node.output[1])
    if wants_indices:
        return _pool(n, "maxpool_indices", {"storage_order": int(n.attr("storage_order", 0))})
    return _pool(n, "maxpool", {})


@converter("AveragePool")
def average_pool(n):
    return _pool(n, "avgpool", {"count_include_pad": bool(n.attr("count_include_pad", 0))})


@converter("LpPool")
def lp_pool(n):
    return _pool(n, "lppool", {"p": float(n.attr("p", 2))})


@converter("GlobalAveragePool")
def global_average_pool(n):
    return n.op("nn.global_avgpool", [n.input(0)])


@converter("GlobalMaxPool")
def global_max_pool(n):
    return n.op("nn.global_maxpool", [n.input(0)])


# -- matrix products ---------------------------------------------------------------

@converter("MatMul")
def matmul(n):
    return n.op("nn.matmul", [n.input(0), n.input(1)])


@converter("Gemm")
def gemm(n):
    """alpha * A' @ B' + beta * C, A' and B' optionally transposed."""
    a, b, c = n.input(0), n.input(1), n.optional_input(2)
    if a.type.rank != 2 or b.type.rank != 2:
        n.fail(f"A and B must be matrices, got {a.type} and {b.type}")
    if n.attr("transA", 0):
        a = n.op("tensor.transpose", [a], {"perm": [1, 0]})
    if n.attr("transB", 0):
        b = n.op("tensor.transpose", [b], {"perm": [1, 0]})
    alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
    if a.type.dtype not in FLOAT_DTYPES and not (alpha.is_integer() and beta.is_integer()):
        n.fail(f"alpha={alpha} and beta={beta} must be integers for the integer inputs "
               f"({a.type.dtype})")
    y = n.op("nn.matmul", [a, b])
    if alpha != 1.0:
        y = n.op("math.mul", [y, _const_like(n, alpha, y, "alpha")])
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = n.op("math.mul", [c, _const_like(n, beta, c, "beta")])
        y = n.op("math.add", [y, c])
    return y


# -- softmax and friends ---------------------------------------------------------

_ALONG_AXIS = {"Softmax": "nn.softmax", "LogSoftmax": "nn.log_softmax",
               "Hardmax": "nn.hardmax"}


@converter(*_ALONG_AXIS, since=13)
def softmax(n):
    return n.op(_ALONG_AXIS[n.node.op_type], [n.input(0)], {"axis": int(n.attr("axis", -1))})


@converter(*_ALONG_AXIS)
def softmax_2d(n):
    """Before opset 13 the input is coerced to 2-D: [prod(dims < axis), prod(dims >= axis)],
    and the op normalizes each row of that matrix."""
    x = n.input(0)
    rank = x.type.rank
    axis = int(n.attr("axis", 1))
    if not -rank <= axis < max(rank, 1):
        n.fail(f"axis {axis} is out of range for the input {x.type}")
    axis %= max(rank, 1)
    name = _ALONG_AXIS[n.node.op_type]
    if axis == rank - 1:
        return n.op(name, [x], {"axis": -1})
    flat = n.op("tensor.flatten", [x], {"axis": axis})
    y = n.op(name, [flat], {"axis": -1})
    # back to x's shape; symbolic sizes are read from x itself
    symbolic = [isinstance(d, str) for d in x.type.shape]
    target = [-1 if sym else d for sym, d in zip(symbolic, x.type.shape)]
    if not any(symbolic):
        return n.op("tensor.reshape", [y], {"shape": target})
    like_dims = [i if sym else -1 for i, sym in enumerate(symbolic)]
    return n.op("tensor.reshape", [y, x], {"shape": target, "like_dims": like_dims})


# -- normalizations --------------------------------------------------------------

@converter("BatchNormalization")
def batch_normalization(n):
    training = bool(n.attr("training_mode", 0)) or (n.opset < 7 and n.has_attr("is_test")
                                                    and not n.attr("is_test"))
    extra = [o for o in n.node.output[1:] if o]
    if training or extra:
        n.fail("training mode (batch statistics and the running mean/variance outputs) is "
               "not supported; wsc imports BatchNormalization for inference",
               hint="export the model in eval mode (model.eval() in PyTorch)")
    ins = [n.input(i) for i in range(5)]
    return n.op("nn.batchnorm", ins, {"eps": float(n.attr("epsilon", 1e-5))})


@converter("InstanceNormalization")
def instance_normalization(n):
    x = n.input(0)
    c = x.type.shape[1] if x.type.rank >= 2 else None
    if not isinstance(c, int):
        n.fail(f"the channel count of the input {x.type} must be static", hint=_STATIC_HINT)
    return n.op("nn.groupnorm", [x, n.input(1), n.input(2)],
                {"groups": c, "eps": float(n.attr("epsilon", 1e-5))})


@converter("GroupNormalization", since=21)
def group_normalization(n):
    x = n.input(0)
    return n.op("nn.groupnorm", [x, n.input(1), n.input(2)],
                {"groups": int(n.attr("num_groups")), "eps": float(n.attr("epsilon", 1e-5))})


@converter("GroupNormalization", since=18)
def group_normalization_18(n):
    """Opset 18 gives scale and bias per group [G]; repeat each for the group's channels."""
    x = n.input(0)
    groups = int(n.attr("num_groups"))
    c = x.type.shape[1] if x.type.rank >= 2 else None
    if not isinstance(c, int):
        n.fail(f"the channel count of the input {x.type} must be static", hint=_STATIC_HINT)
    if groups < 1 or c % groups:
        n.fail(f"num_groups={groups} must divide the {c} channels")
    ones = n.constant(np.ones((1, c // groups), dtype=x.type.np_dtype), "group_ones")
    per_channel = []
    for i in (1, 2):
        v = n.input(i)
        if v.type.shape != (groups,):
            n.fail(f"input {i} must have shape [{groups}] (one per group) at opset "
                   f"{n.opset}, got {v.type}")
        v = n.op("tensor.reshape", [v], {"shape": [groups, 1]})
        v = n.op("math.mul", [v, ones])
        per_channel.append(n.op("tensor.reshape", [v], {"shape": [c]}))
    return n.op("nn.groupnorm", [x, *per_channel],
                {"groups": groups, "eps": float(n.attr("epsilon", 1e-5))})


@converter("LayerNormalization", since=17)
def layer_normalization(n):
    x, scale, bias = n.input(0), n.input(1), n.optional_input(2)
    operands = [x, scale] + ([bias] if bias is not None else [])
    attrs = {"axis": int(n.attr("axis", -1)), "eps": float(n.attr("epsilon", 1e-5))}
    if not any(n.node.output[1:]):
        return n.op("nn.layernorm", operands, attrs)
    # The Mean and InvStdDev outputs are f32 (ONNX's stash type) unless x is f64.
    attrs["stats_dtype"] = "f64" if x.type.dtype == "f64" else "f32"
    return n.op_multi("nn.layernorm_with_stats", operands, attrs)


@converter("RMSNormalization", since=23)
def rms_normalization(n):
    return n.op("nn.rmsnorm", [n.input(0), n.input(1)],
                {"axis": int(n.attr("axis", -1)), "eps": float(n.attr("epsilon", 1e-5))})


@converter("LRN")
def lrn(n):
    return n.op("nn.lrn", [n.input(0)],
                {"size": int(n.attr("size")), "alpha": float(n.attr("alpha", 1e-4)),
                 "beta": float(n.attr("beta", 0.75)), "bias": float(n.attr("bias", 1.0))})
