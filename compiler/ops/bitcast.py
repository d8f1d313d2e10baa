"""Bit-level reinterpretation: math.bitcast views a tensor's bytes as another dtype of the same
width (float32 <-> int32, int8 <-> uint8, bool <-> uint8...), values untouched bit for bit."""
from __future__ import annotations

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define


def _bitcast_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    to = TensorType(x.shape, attrs["to"])
    if to.itemsize != x.itemsize:
        raise ShapeError(f"bitcast: {x.dtype} ({8 * x.itemsize} bits) cannot be reinterpreted as "
                         f"{to.dtype} ({8 * to.itemsize} bits); the widths must match")
    return [to]


define("math.bitcast", ["x"], _bitcast_infer, lambda ins, outs, attrs: 0, "elementwise",
       "Reinterpret the bits of x as dtype `to` of the same width (little-endian); the shape "
       "is unchanged.",
       [Attr("to", "dtype", doc="the result dtype (same bit width as x's)")])
