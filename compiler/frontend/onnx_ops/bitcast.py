"""Converter for ONNX BitCast (`math.bitcast`, `compiler/ops/bitcast.py`)."""
from __future__ import annotations

from .registry import converter


@converter("BitCast", since=26)
def bitcast(n):
    from ..onnx import onnx_dtype  # late: that module imports this package
    to = onnx_dtype(int(n.attr("to")), "BitCast attribute 'to'")
    return n.op("math.bitcast", [n.input(0)], {"to": to})
