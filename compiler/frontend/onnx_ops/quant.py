"""Converters for ONNX quantization ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

QuantizeLinear and DequantizeLinear map to `quant.quantize` and
`quant.dequantize` (`compiler/ops/quant.py`); one converter covers every
opset, since later opsets only add attributes (`axis` in 13, `block_size`
and `output_dtype` in 21, `precision` in 25) whose absence means the old
behaviour. Integer types with a wsc dtype are supported (int8, uint8, int16,
uint16, int32 for DequantizeLinear's bias path); float8, int4 and int2 fail
with the importer's element-type error.

DynamicQuantizeLinear (uint8, per tensor) is its formula in registry ops:
the scale from the range of x widened to include 0, the zero point that maps
the minimum to 0, then a `quant.quantize`.
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
    # All of x zero: ONNX takes a scale of 1/255 rather than dividing by zero.
    span = n.op("logic.where", [n.op("logic.equal", [span, zero]), const(1, "one"), span])
    scale = n.op("math.div", [span, const(255, "qmax")])
    start = n.op("math.clip", [n.op("math.neg", [n.op("math.div", [lo, scale])])],
                 {"min": 0.0, "max": 255.0})
    zp = n.op("math.cast", [n.op("math.round", [start])], {"to": "u8"})
    y = n.op("quant.quantize", [x, scale, zp], {"to": "u8"})
    return [y, scale, zp]
