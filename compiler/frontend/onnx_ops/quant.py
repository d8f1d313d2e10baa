"""Converters for ONNX quantization ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

QuantizeLinear and DequantizeLinear map to `quant.quantize` and
`quant.dequantize` (`compiler/ops/quant.py`); one converter covers every
opset, since later opsets only add attributes (`axis` in 13, `block_size`
and `output_dtype` in 21, `precision` in 25) whose absence means the old
behaviour. Integer types with a wsc dtype are supported (int8, uint8, int16,
uint16, int32 for DequantizeLinear's bias path); float8, int4 and int2 fail
with the importer's element-type error.

DynamicQuantizeLinear (uint8, per tensor) is its formula in registry ops:
the scale from the range of x widened to include 0 (1 when that range is
empty, as in onnxruntime), the zero point that maps the minimum to 0, then a
`quant.quantize`.
"""
from __future__ import annotations

import numpy as np

from .registry import converter


def _dtype_attr(n, name: str) -> str | None:
    """The wsc dtype an ONNX element-type attribute names (None if absent or 0)."""
    from ..onnx import onnx_dtype  # late: that module imports this package
    value = int(n.attr(name, 0))
    return onnx_dtype(value, f"{n.node.op_type} attribute {name}") if value else None


def _params(n) -> dict:
    return {"axis": int(n.attr("axis", 1)), "block_size": int(n.attr("block_size", 0))}


@converter("QuantizeLinear", since=10)
def quantize_linear(n):
    x, scale, zp = n.input(0), n.input(1), n.optional_input(2)
    to = zp.type.dtype if zp is not None else (_dtype_attr(n, "output_dtype") or "u8")
    work = _dtype_attr(n, "precision")
    if work is not None:
        x = n.op("math.cast", [x], {"to": work})
        scale = n.op("math.cast", [scale], {"to": work})
    operands = [x, scale] + ([zp] if zp is not None else [])
    return n.op("quant.quantize", operands, {"to": to, **_params(n)})


@converter("DequantizeLinear", since=10)
def dequantize_linear(n):
    x, scale, zp = n.input(0), n.input(1), n.optional_input(2)
    to = _dtype_attr(n, "output_dtype") or ""
    operands = [x, scale] + ([zp] if zp is not None else [])
    return n.op("quant.dequantize", operands, {"to": to, **_params(n)})


@converter("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(n):
    x = n.input(0)
    dt = x.type.np_dtype

    def const(value, hint):
        return n.constant(np.asarray(value, dtype=dt), hint)

    zero = const(0, "zero")
    hi = n.op("math.max", [n.op("math.reduce_max", [x]), zero])
    lo = n.op("math.min", [n.op("math.reduce_min", [x]), zero])
    span = n.op("math.sub", [hi, lo])
    # All of x zero: a scale of 1 rather than a division by zero (as onnxruntime does).
    scale = n.op("logic.where", [n.op("logic.equal", [span, zero]), const(1, "one"),
                                 n.op("math.div", [span, const(255, "qmax")])])
    start = n.op("math.clip", [n.op("math.neg", [n.op("math.div", [lo, scale])])],
                 {"min": 0.0, "max": 255.0})
    zp = n.op("math.cast", [n.op("math.round", [start])], {"to": "u8"})
    y = n.op("quant.quantize", [x, scale, zp], {"to": "u8"})
    return [y, scale, zp]


# -- integer and quantized matmul / conv ----------------------------------------------------
#
# MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv are their ONNX definitions in
# registry ops: subtract the zero points in int32, multiply or convolve exactly (integer
# matmul; convolution in float64, exact for these integer ranges), then for the QLinear ops
# requantize: round_half_even(acc * (a_scale * b_scale / y_scale)) + y_zero_point, saturated.


def _centered(n, v, zp, *, rows: bool = False, channels: int = 0):
    """int32 (v - zp). A 1-D zero point is per row (`rows`: [M] -> [M, 1]) or per output
    channel (`channels` = the rank: [M] -> [M, 1, ...])."""
    v = n.op("math.cast", [v], {"to": "i32"})
    if zp is None:
        return v
    z = n.op("math.cast", [zp], {"to": "i32"})
    z = _per_row(n, z, rows=rows, channels=channels)
    return n.op("math.sub", [v, z])


def _per_row(n, p, *, rows: bool = False, channels: int = 0, channel_axis: int = 0):
    """A 1-D per-row / per-channel parameter laid out to broadcast against its tensor."""
    if p.type.rank != 1 or p.type.shape[0] == 1:
        return p
    if rows:
        return n.op("tensor.unsqueeze", [p], {"axes": [1]})
    if channels:
        axes = [a for a in range(channels) if a != channel_axis]
        return n.op("tensor.unsqueeze", [p], {"axes": axes})
    return p


def _requantize(n, acc, factor, y_zp, out_dtype: str):
    """saturate(round_half_even(acc * factor) + y_zp) as `out_dtype`."""
    acc = n.op("math.cast", [acc], {"to": "f64"})
    factor = n.op("math.cast", [factor], {"to": "f64"})
    real = n.op("math.mul", [acc, factor])
    one = n.constant(np.ones((), dtype=np.float64), "unit_scale")
    operands = [real, one] + ([y_zp] if y_zp is not None else [])
    return n.op("quant.quantize", operands, {"to": out_dtype})


@converter("MatMulInteger", since=10)
def matmul_integer(n):
    a = _centered(n, n.input(0), n.optional_input(2), rows=True)
    b = _centered(n, n.input(1), n.optional_input(3))
    return n.op("nn.matmul", [a, b])


@converter("QLinearMatMul", since=10)
def qlinear_matmul(n):
    a = _centered(n, n.input(0), n.input(2), rows=True)
    b = _centered(n, n.input(3), n.input(5))
    acc = n.op("nn.matmul", [a, b])
    a_scale = _per_row(n, n.input(1), rows=True)
    factor = n.op("math.div", [n.op("math.mul", [a_scale, n.input(4)]), n.input(6)])
    y_zp = n.optional_input(7)
    return _requantize(n, acc, factor, y_zp,
                       y_zp.type.dtype if y_zp is not None else n.input(0).type.dtype)


def _conv_exact(n, x, w, bias):
    """An integer convolution of int32 x and w (and int32 bias), through float64."""
    from .nn import _lift_1d, _spatial_rank, _to_2d, _from_2d, _ints_attr, _window_pads
    nd = _spatial_rank(n, x)
    kernel = list(w.type.shape[2:])
    if not all(isinstance(k, int) for k in kernel):
        n.fail(f"the kernel size of the weight {w.type} must be static")
    strides = _ints_attr(n, "strides", nd, 1)
    dilations = _ints_attr(n, "dilations", nd, 1)
    pads = _window_pads(n, x, kernel, strides, dilations)
    attrs = {"strides": strides, "pads": pads, "dilations": dilations,
             "groups": int(n.attr("group", 1))}
    operands = [n.op("math.cast", [v], {"to": "f64"}) for v in (x, w)]
    if bias is not None:
        operands.append(n.op("math.cast", [bias], {"to": "f64"}))
    if nd == 1:
        _, attrs["strides"], attrs["pads"], attrs["dilations"] = _lift_1d(kernel, strides, pads,
                                                                           dilations)
        operands[:2] = [_to_2d(n, operands[0]), _to_2d(n, operands[1])]
        return _from_2d(n, n.op("nn.conv2d", operands, attrs))
    return n.op("nn.conv3d" if nd == 3 else "nn.conv2d", operands, attrs)


@converter("ConvInteger", since=10)
def conv_integer(n):
    x = _centered(n, n.input(0), n.optional_input(2))
    w = n.input(1)
    w = _centered(n, w, n.optional_input(3), channels=w.type.rank)
    return n.op("math.cast", [_conv_exact(n, x, w, None)], {"to": "i32"})


@converter("QLinearConv", since=10)
def qlinear_conv(n):
    x = _centered(n, n.input(0), n.input(2))
    w = n.input(3)
    rank = w.type.rank
    w = _centered(n, w, n.input(5), channels=rank)
    acc = _conv_exact(n, x, w, n.optional_input(8))
    w_scale = _per_row(n, n.input(4), channels=rank, channel_axis=1)  # [M] -> [M, 1, ...]
    factor = n.op("math.div", [n.op("math.mul", [n.input(1), w_scale]), n.input(6)])
    y_zp = n.optional_input(7)
    return _requantize(n, acc, factor, y_zp,
                       y_zp.type.dtype if y_zp is not None else n.input(0).type.dtype)
