"""Converters for ONNX CumProd and Det (`math.cumprod`, `math.det` in `compiler/ops/linalg.py`)."""
from __future__ import annotations

from .registry import converter


@converter("CumProd", since=26)
def cumprod(n):
    axis = n.require_ints(1, "axis")
    if len(axis) != 1:
        n.fail(f"axis must be a single value, got {axis}")
    return n.op("math.cumprod", [n.input(0)],
                {"axis": axis[0], "exclusive": bool(n.attr("exclusive", 0)),
                 "reverse": bool(n.attr("reverse", 0))})


@converter("Det", since=11)
def det(n):
    return n.op("math.det", [n.input(0)])
