"""Neural-network ops: contractions (matmul, conv), pooling, normalizations, softmax.

Layouts are ONNX's: activations NCHW (NCDHW in 3-D), conv weights OIHW (O
output channels, I = C / groups input channels per group), transposed-conv
weights IOHW. Pads list every begin then every end: [top, left, bottom,
right] in 2-D, [front, top, left, back, bottom, right] in 3-D. Spatial dims of
conv and pool must be static; the batch dim N may be symbolic and passes
through.

The 2-D and 3-D versions of a windowed op share their shape inference (one
function over `nd` spatial dims); 1-D convolutions and pools are 2-D ones over
a unit height (the ONNX frontend reshapes).
"""
from __future__ import annotations

from math import prod

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define
from .shapes import (broadcast_shapes, broadcasts_into, check_ints, fmt_shape, normalize_axis,
                     require_float, require_rank, require_same_dtype, static, window_out_dim)


# -- matmul --------------------------------------------------------------------

def _matmul_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    a, b = ins
    dtype = require_same_dtype("matmul", [a, b])
    if a.rank == 0 or b.rank == 0:
        raise ShapeError(f"matmul operands must have rank >= 1, got {a} and {b} "
                         f"(use math.mul to scale by a scalar)")
    # numpy semantics: 1-D operands are promoted and the promoted dim dropped again.
    sa = (1,) + a.shape if a.rank == 1 else a.shape
    sb = b.shape + (1,) if b.rank == 1 else b.shape
    k1, k2 = sa[-1], sb[-2]
    if k1 != k2:
        raise ShapeError(f"matmul contraction dims differ: {fmt_shape(a.shape)} @ "
                         f"{fmt_shape(b.shape)} ({k1} vs {k2}; the last dim of a must equal "
                         f"the {'only' if b.rank == 1 else 'second-to-last'} dim of b)")
    try:
        batch = broadcast_shapes(sa[:-2], sb[:-2])
    except ShapeError:
        raise ShapeError(f"matmul batch dims {fmt_shape(sa[:-2])} and {fmt_shape(sb[:-2])} "
                         f"do not broadcast ({fmt_shape(a.shape)} @ {fmt_shape(b.shape)})"
                         ) from None
    out = batch + (sa[-2], sb[-1])
    if a.rank == 1:
        out = out[:-2] + out[-1:]
    if b.rank == 1:
        out = out[:-1]
    return [TensorType(out, dtype)]


def _matmul_flops(ins, outs, attrs) -> int:
    return 2 * prod(outs[0].shape) * ins[0].shape[-1]


define("nn.matmul", ["a", "b"], _matmul_infer, _matmul_flops, "contraction",
       "Matrix product with numpy semantics (batch dims broadcast, 1-D operands promoted).")


# -- window attributes shared by conv and pool -----------------------------------

_SPATIAL = {2: ("height", "width"), 3: ("depth", "height", "width")}
_LAYOUT = {2: "NCHW", 3: "NCDHW"}
_DIMS_DOC = {2: "[h, w]", 3: "[d, h, w]"}
_PADS_DOC = {2: "[top, left, bottom, right]", 3: "[front, top, left, back, bottom, right]"}


def _window_attrs(nd: int) -> dict[str, Attr]:
    return {
        "strides": Attr("strides", "ints", [1] * nd, f"step of the window {_DIMS_DOC[nd]}"),
        "pads": Attr("pads", "ints", [0] * (2 * nd), f"zero padding {_PADS_DOC[nd]}"),
        "dilations": Attr("dilations", "ints", [1] * nd,
                          f"spacing of the window taps {_DIMS_DOC[nd]}"),
    }


def _window_params(op: str, attrs: dict, nd: int = 2):
    strides = check_ints(op, attrs, "strides", nd, 1)
    pads = check_ints(op, attrs, "pads", 2 * nd, 0)
    dilations = check_ints(op, attrs, "dilations", nd, 1)
    return strides, pads, dilations


def _spatial_sizes(op: str, x: TensorType, nd: int) -> list[int]:
    return [static(x.shape[2 + i], f"{op}: the input {_SPATIAL[nd][i]}") for i in range(nd)]


# -- convolution -------------------------------------------------------------------

def _conv_infer(op: str, nd: int):
    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        x, w = ins[0], ins[1]
        bias = ins[2] if len(ins) > 2 else None
        require_rank(x, nd + 2, f"{op}: input x ({_LAYOUT[nd]})")
        require_rank(w, nd + 2, f"{op}: weight w (O, C/groups, kernel {_DIMS_DOC[nd]})")
        require_float(x, f"{op}: input x")
        dtype = require_same_dtype(op, list(ins))
        strides, pads, dilations = _window_params(op, attrs, nd)
        groups = attrs["groups"]
        if groups < 1:
            raise ShapeError(f"{op}: groups must be >= 1, got {groups}")
        c = static(x.shape[1], f"{op}: the input channel count")
        o = static(w.shape[0], f"{op}: the weight's output channel count")
        cg = static(w.shape[1], f"{op}: the weight's input channel count")
        ks = [static(w.shape[2 + i], f"{op}: the kernel {_SPATIAL[nd][i]}") for i in range(nd)]
        if c != cg * groups:
            raise ShapeError(f"{op}: input x {fmt_shape(x.shape)} has {c} channels but weight "
                             f"{fmt_shape(w.shape)} expects {cg * groups} ({cg} per group x "
                             f"groups={groups})")
        if o % groups:
            raise ShapeError(f"{op}: the weight's {o} output channels do not divide into "
                             f"groups={groups}")
        if bias is not None and (bias.rank != 1 or bias.shape[0] != o):
            raise ShapeError(f"{op}: bias must have shape [{o}] (one per output channel), "
                             f"got {fmt_shape(bias.shape)}")
        sizes = _spatial_sizes(op, x, nd)
        out = [window_out_dim(sizes[i], ks[i], strides[i], pads[i], pads[nd + i], dilations[i],
                              False, f"{op}: {_SPATIAL[nd][i]}") for i in range(nd)]
        return [TensorType((x.shape[0], o, *out), dtype)]
    return infer


def _conv_flops(ins, outs, attrs) -> int:
    macs_per_out = prod(ins[1].shape[1:])
    out = prod(outs[0].shape)
    return 2 * out * macs_per_out + (out if len(ins) > 2 else 0)


def _conv_attrs(nd: int) -> list[Attr]:
    w = _window_attrs(nd)
    return [w["strides"], w["pads"], w["dilations"],
            Attr("groups", "int", 1, "channel groups; groups = C is a depthwise convolution")]


define("nn.conv2d", ["x", "w", "bias?"], _conv_infer("conv2d", 2), _conv_flops, "contraction",
       "2-D convolution (cross-correlation) of x [N, C, H, W] with w [O, C/groups, kH, kW] "
       "plus an optional bias [O]; result [N, O, Ho, Wo].", _conv_attrs(2))
define("nn.conv3d", ["x", "w", "bias?"], _conv_infer("conv3d", 3), _conv_flops, "contraction",
       "3-D convolution (cross-correlation) of x [N, C, D, H, W] with w [O, C/groups, kD, kH, "
       "kW] plus an optional bias [O]; result [N, O, Do, Ho, Wo].", _conv_attrs(3))


# -- transposed convolution --------------------------------------------------------

def conv_transpose_out_dim(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                           dilation: int, output_padding: int) -> int:
    """Output length of a transposed convolution along one spatial dim (ONNX's formula)."""
    return stride * (size - 1) + output_padding + dilation * (kernel - 1) + 1 - pad_begin - pad_end


def _conv_transpose_infer(op: str, nd: int):
    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        x, w = ins[0], ins[1]
        bias = ins[2] if len(ins) > 2 else None
        require_rank(x, nd + 2, f"{op}: input x ({_LAYOUT[nd]})")
        require_rank(w, nd + 2, f"{op}: weight w (C, O/groups, kernel {_DIMS_DOC[nd]})")
        require_float(x, f"{op}: input x")
        dtype = require_same_dtype(op, list(ins))
        strides = check_ints(op, attrs, "strides", nd, 1)
        dilations = check_ints(op, attrs, "dilations", nd, 1)
        output_padding = check_ints(op, attrs, "output_padding", nd, 0)
        pads = attrs["pads"]
        if len(pads) != 2 * nd:
            raise ShapeError(f"{op}: attribute 'pads' must have {2 * nd} entries, got {pads}")
        groups = attrs["groups"]
        if groups < 1:
            raise ShapeError(f"{op}: groups must be >= 1, got {groups}")
        c = static(x.shape[1], f"{op}: the input channel count")
        wc = static(w.shape[0], f"{op}: the weight's input channel count")
        og = static(w.shape[1], f"{op}: the weight's output channels per group")
        ks = [static(w.shape[2 + i], f"{op}: the kernel {_SPATIAL[nd][i]}") for i in range(nd)]
        if c != wc:
            raise ShapeError(f"{op}: input x {fmt_shape(x.shape)} has {c} channels but weight "
                             f"{fmt_shape(w.shape)} has {wc} (a transposed convolution's weight "
                             f"is [C, O/groups, kernel...])")
        if c % groups:
            raise ShapeError(f"{op}: the {c} input channels do not divide into groups={groups}")
        o = og * groups
        if bias is not None and (bias.rank != 1 or bias.shape[0] != o):
            raise ShapeError(f"{op}: bias must have shape [{o}] (one per output channel), "
                             f"got {fmt_shape(bias.shape)}")
        sizes = _spatial_sizes(op, x, nd)
        out = []
        for i in range(nd):
            n = conv_transpose_out_dim(sizes[i], ks[i], strides[i], pads[i], pads[nd + i],
                                       dilations[i], output_padding[i])
            if n < 1:
                raise ShapeError(f"{op}: the pads {pads} crop the whole {_SPATIAL[nd][i]} "
                                 f"(the result would have size {n}); use smaller pads")
            out.append(n)
        return [TensorType((x.shape[0], o, *out), dtype)]
    return infer


def _conv_transpose_flops(ins, outs, attrs) -> int:
    x, w = ins[0], ins[1]
    return 2 * prod(x.shape) * prod(w.shape[1:]) + (prod(outs[0].shape) if len(ins) > 2 else 0)


def _conv_transpose_attrs(nd: int) -> list[Attr]:
    w = _window_attrs(nd)
    return [w["strides"],
            Attr("pads", "ints", [0] * (2 * nd),
                 f"cropped from the full result {_PADS_DOC[nd]}; a negative pad adds zeros"),
            w["dilations"],
            Attr("groups", "int", 1, "channel groups"),
            Attr("output_padding", "ints", [0] * nd,
                 f"extra size added at the end of each spatial dim {_DIMS_DOC[nd]}")]


define("nn.conv_transpose2d", ["x", "w", "bias?"], _conv_transpose_infer("conv_transpose2d", 2),
       _conv_transpose_flops, "contraction",
       "2-D transposed convolution (the gradient of conv2d with respect to its input) of x "
       "[N, C, H, W] with w [C, O/groups, kH, kW] plus an optional bias [O]; result "
       "[N, O, Ho, Wo] with Ho = stride*(H-1) + output_padding + dilation*(kH-1) + 1 - pads.",
       _conv_transpose_attrs(2))
define("nn.conv_transpose3d", ["x", "w", "bias?"], _conv_transpose_infer("conv_transpose3d", 3),
       _conv_transpose_flops, "contraction",
       "3-D transposed convolution of x [N, C, D, H, W] with w [C, O/groups, kD, kH, kW] plus "
       "an optional bias [O]; the size rule of conv_transpose2d per spatial dim.",
       _conv_transpose_attrs(3))


# -- pooling -------------------------------------------------------------------

def _pool_infer(op: str, nd: int, float_only: bool, num_results: int = 1):
    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        (x,) = ins
        require_rank(x, nd + 2, f"{op}: input x ({_LAYOUT[nd]})")
        if float_only:
            require_float(x, f"{op}: input x")
        elif x.dtype == "bool":
            raise ShapeError(f"{op}: input x must be numeric, got bool")
        kernel = check_ints(op, attrs, "kernel", nd, 1)
        strides, pads, dilations = _window_params(op, attrs, nd)
        extents = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
        for i, p in enumerate(pads):
            if p >= extents[i % nd]:
                raise ShapeError(f"{op}: padding {pads} must be smaller than the window "
                                 f"{extents} on every side (a window would see only padding)")
        sizes = _spatial_sizes(op, x, nd)
        out = [window_out_dim(sizes[i], kernel[i], strides[i], pads[i], pads[nd + i],
                              dilations[i], attrs["ceil_mode"], f"{op}: {_SPATIAL[nd][i]}")
               for i in range(nd)]
        shape = (x.shape[0], x.shape[1], *out)
        types = [TensorType(shape, x.dtype)]
        if num_results == 2:
            types.append(TensorType(shape, "i64"))
        return types
    return infer


def _pool_flops(per_output: int):
    def flops(ins, outs, attrs) -> int:
        return prod(outs[0].shape) * (prod(attrs["kernel"]) + per_output)
    return flops


def _pool_attrs(nd: int, extra=()) -> list[Attr]:
    w = _window_attrs(nd)
    return [Attr("kernel", "ints", doc=f"window size {_DIMS_DOC[nd]}"),
            Attr("strides", "ints", [1] * nd,
                 f"step of the window {_DIMS_DOC[nd]}; defaults to 1 as in ONNX (PyTorch's "
                 f"default is the kernel size: give it explicitly)"),
            w["pads"], w["dilations"],
            Attr("ceil_mode", "bool", False,
                 "round the output size up (a last partial window is kept if it starts "
                 "inside the input or the begin padding)"),
            *extra]


_COUNT_INCLUDE_PAD = Attr("count_include_pad", "bool", False,
                          "divide by the window size including the explicit zero padding "
                          "(the part added by ceil_mode is never counted)")
_LP_P = Attr("p", "float", 2.0, "the norm's exponent (p = 2: Euclidean norm)")
_STORAGE_ORDER = Attr("storage_order", "int", 0,
                      "0: indices count the spatial dims in row-major order; 1: column-major",
                      choices=(0, 1))

for _nd in (2, 3):
    _shape = "[N, C, H, W]" if _nd == 2 else "[N, C, D, H, W]"
    define(f"nn.maxpool{_nd}d", ["x"], _pool_infer(f"maxpool{_nd}d", _nd, False), _pool_flops(0),
           "pool", f"Max over each window of x {_shape}; padding never wins (it acts as -inf).",
           _pool_attrs(_nd))
    define(f"nn.avgpool{_nd}d", ["x"], _pool_infer(f"avgpool{_nd}d", _nd, True),
           _pool_flops(1), "pool", f"Mean over each window of x {_shape}.",
           _pool_attrs(_nd, [_COUNT_INCLUDE_PAD]))
    define(f"nn.lppool{_nd}d", ["x"], _pool_infer(f"lppool{_nd}d", _nd, True), _pool_flops(2),
           "pool", f"Lp norm (sum |x|^p)^(1/p) over each window of x {_shape}; padding adds "
           "zeros.", _pool_attrs(_nd, [_LP_P]))
    define(f"nn.maxpool{_nd}d_indices", ["x"], _pool_infer(f"maxpool{_nd}d_indices", _nd, False, 2),
           _pool_flops(1), "pool",
           f"maxpool{_nd}d plus, per output, the flat index (i64) of the input element that "
           f"won, counted over the whole input tensor (n, c and the spatial position; the "
           f"first maximum in window order wins ties).",
           _pool_attrs(_nd, [_STORAGE_ORDER]), num_results=2)


def _global_pool_infer(op: str, float_only: bool):
    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        (x,) = ins
        if x.rank < 3:
            raise ShapeError(f"{op}: input must be [N, C, spatial...] of rank >= 3, got {x}")
        if float_only:
            require_float(x, f"{op}: input x")
        elif x.dtype == "bool":
            raise ShapeError(f"{op}: input x must be numeric, got bool")
        return [TensorType(x.shape[:2] + (1,) * (x.rank - 2), x.dtype)]
    return infer


def _global_pool_flops(ins, outs, attrs) -> int:
    return prod(ins[0].shape) + prod(outs[0].shape)


define("nn.global_avgpool", ["x"], _global_pool_infer("global_avgpool", True),
       _global_pool_flops, "reduction",
       "Mean over all spatial dims: [N, C, H, W] -> [N, C, 1, 1].")
define("nn.global_maxpool", ["x"], _global_pool_infer("global_maxpool", False),
       _global_pool_flops, "reduction",
       "Max over all spatial dims: [N, C, spatial...] -> [N, C, 1, ...].")


# -- softmax and friends ---------------------------------------------------------

def _along_axis_infer(op: str):
    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        (x,) = ins
        require_float(x, f"{op}: input x")
        normalize_axis(attrs["axis"], x.rank, f"{op}: axis")
        return [TensorType(x.shape, x.dtype)]
    return infer


_SOFTMAX_AXIS = Attr("axis", "int", -1, "the axis that sums to 1")

define("nn.softmax", ["x"], _along_axis_infer("softmax"),
       lambda ins, outs, attrs: 12 * prod(ins[0].shape), "normalization",
       "exp(x) / sum(exp(x)) along `axis`, computed stably (the max is subtracted first).",
       [_SOFTMAX_AXIS])
define("nn.log_softmax", ["x"], _along_axis_infer("log_softmax"),
       lambda ins, outs, attrs: 12 * prod(ins[0].shape), "normalization",
       "x - log(sum(exp(x))) along `axis`, computed stably.",
       [Attr("axis", "int", -1, "the normalized axis")])
define("nn.hardmax", ["x"], _along_axis_infer("hardmax"),
       lambda ins, outs, attrs: 2 * prod(ins[0].shape), "normalization",
       "1 where x is the first maximum along `axis`, 0 elsewhere.",
       [Attr("axis", "int", -1, "the axis of the one-hot result")])


# -- normalizations --------------------------------------------------------------

def _check_eps(op: str, attrs: dict) -> None:
    if attrs["eps"] < 0:
        raise ShapeError(f"{op}: eps must be >= 0, got {attrs['eps']}")


def _check_trailing(op: str, x: TensorType, axis: int, attr_axis: int, named) -> None:
    """Each (name, type) must broadcast to the normalized dims x.shape[axis:]."""
    norm = x.shape[axis:]
    for name, t in named:
        if not broadcasts_into(t.shape, norm):
            raise ShapeError(f"{op}: {name} {fmt_shape(t.shape)} must broadcast to the "
                             f"normalized shape {fmt_shape(norm)} (the dims of x "
                             f"{fmt_shape(x.shape)} from axis {attr_axis} on)")


def _layernorm_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    require_float(x, "layernorm: input x")
    dtype = require_same_dtype("layernorm", list(ins))
    axis = normalize_axis(attrs["axis"], x.rank, "layernorm: axis")
    _check_trailing("layernorm", x, axis, attrs["axis"], zip(("scale", "bias"), ins[1:]))
    _check_eps("layernorm", attrs)
    return [TensorType(x.shape, dtype)]


_NORM_AXIS = Attr("axis", "int", -1, "first normalized axis; all axes after it are normalized too")
_EPS = Attr("eps", "float", 1e-5, "added to the variance")

define("nn.layernorm", ["x", "scale?", "bias?"], _layernorm_infer,
       lambda ins, outs, attrs: 8 * prod(ins[0].shape), "normalization",
       "(x - mean) / sqrt(var + eps) * scale + bias, mean and (biased) variance taken over "
       "the dims from `axis` to the last.",
       [_NORM_AXIS, _EPS])


def _layernorm_with_stats_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (y,) = _layernorm_infer(ins, attrs)
    x = ins[0]
    if attrs["stats_dtype"] not in ("f16", "f32", "f64"):
        raise ShapeError(f"layernorm_with_stats: stats_dtype must be floating-point, got "
                         f"{attrs['stats_dtype']}")
    axis = normalize_axis(attrs["axis"], x.rank, "layernorm_with_stats: axis")
    shape = x.shape[:axis] + (1,) * (x.rank - axis)
    return [y, TensorType(shape, attrs["stats_dtype"]), TensorType(shape, attrs["stats_dtype"])]


define("nn.layernorm_with_stats", ["x", "scale?", "bias?"], _layernorm_with_stats_infer,
       lambda ins, outs, attrs: 8 * prod(ins[0].shape), "normalization",
       "layernorm plus the statistics it used: results y, the mean and 1 / sqrt(var + eps), "
       "the last two of shape x.shape[:axis] + [1, ...] (ONNX LayerNormalization's three "
       "outputs).",
       [_NORM_AXIS, _EPS,
        Attr("stats_dtype", "dtype", "f32",
             "dtype of the mean and inverse std results (ONNX computes them in f32)")],
       num_results=3)


def _rmsnorm_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    require_float(x, "rmsnorm: input x")
    dtype = require_same_dtype("rmsnorm", list(ins))
    axis = normalize_axis(attrs["axis"], x.rank, "rmsnorm: axis")
    _check_trailing("rmsnorm", x, axis, attrs["axis"], [("scale", ins[1])])
    _check_eps("rmsnorm", attrs)
    return [TensorType(x.shape, dtype)]


define("nn.rmsnorm", ["x", "scale"], _rmsnorm_infer,
       lambda ins, outs, attrs: 5 * prod(ins[0].shape), "normalization",
       "x / sqrt(mean(x^2) + eps) * scale, the mean taken over the dims from `axis` to the "
       "last.", [_NORM_AXIS, Attr("eps", "float", 1e-5, "added to the mean square")])


def _batchnorm_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    require_float(x, "batchnorm: input x")
    dtype = require_same_dtype("batchnorm", list(ins))
    if x.rank < 2:
        raise ShapeError(f"batchnorm: input must be [N, C, ...] of rank >= 2, got {x}")
    for name, t in zip(("scale", "bias", "mean", "var"), ins[1:]):
        if t.rank < 1 or t.rank > x.rank - 1 or t.shape != x.shape[1:1 + t.rank]:
            raise ShapeError(f"batchnorm: {name} {fmt_shape(t.shape)} must have shape "
                             f"[{x.shape[1]}] (one per channel of x {fmt_shape(x.shape)}), or "
                             f"match the dims of x after the batch dim")
    _check_eps("batchnorm", attrs)
    return [TensorType(x.shape, dtype)]


# "opaque", not "elementwise": the statistics broadcast per channel (dim 1), not numpy-style
# from the right, so an elementwise fuser must not chain it; fold-batchnorm folds it instead.
define("nn.batchnorm", ["x", "scale", "bias", "mean", "var"], _batchnorm_infer,
       lambda ins, outs, attrs: 2 * prod(ins[0].shape), "opaque",
       "Inference-mode batch normalization of x [N, C, ...]: (x - mean) / sqrt(var + eps) * "
       "scale + bias with per-channel [C] statistics (or per-activation ones shaped like the "
       "dims after N).", [_EPS])


def _groupnorm_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, scale, bias = ins
    require_float(x, "groupnorm: input x")
    dtype = require_same_dtype("groupnorm", list(ins))
    if x.rank < 2:
        raise ShapeError(f"groupnorm: input must be [N, C, ...] of rank >= 2, got {x}")
    c = static(x.shape[1], "groupnorm: the channel count")
    g = attrs["groups"]
    if g < 1 or c % g:
        raise ShapeError(f"groupnorm: groups={g} must be >= 1 and divide the {c} channels")
    for name, t in (("scale", scale), ("bias", bias)):
        if t.shape != (c,):
            raise ShapeError(f"groupnorm: {name} must have shape [{c}] (one per channel), "
                             f"got {fmt_shape(t.shape)}")
    _check_eps("groupnorm", attrs)
    return [TensorType(x.shape, dtype)]


define("nn.groupnorm", ["x", "scale", "bias"], _groupnorm_infer,
       lambda ins, outs, attrs: 8 * prod(ins[0].shape), "normalization",
       "Group normalization of x [N, C, ...]: the channels split into `groups` groups, each "
       "(sample, group) normalized by its own mean and variance, then scaled and shifted per "
       "channel. groups = C is instance normalization.",
       [Attr("groups", "int", doc="number of channel groups (divides C)"), _EPS])


def _lrn_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    require_float(x, "lrn: input x")
    if x.rank < 3:
        raise ShapeError(f"lrn: input must be [N, C, spatial...] of rank >= 3, got {x}")
    if attrs["size"] < 1:
        raise ShapeError(f"lrn: size must be >= 1, got {attrs['size']}")
    return [TensorType(x.shape, x.dtype)]


define("nn.lrn", ["x"], _lrn_infer,
       lambda ins, outs, attrs: (attrs["size"] + 4) * prod(ins[0].shape), "normalization",
       "Local response normalization across channels: x / (bias + alpha/size * sum of x^2 "
       "over the `size` neighbouring channels) ** beta.",
       [Attr("size", "int", doc="channels in each window (centered; the extra one of an even "
                                "size goes after)"),
        Attr("alpha", "float", 1e-4, "scale of the sum of squares (divided by size)"),
        Attr("beta", "float", 0.75, "exponent"),
        Attr("bias", "float", 1.0, "added before the exponent")])
