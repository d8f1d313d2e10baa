"""Small linear-algebra and running-product ops: math.cumprod, math.det.

`math.cumprod` is the running product along an axis (its sibling
`math.cumsum` lives in `tensor.py` with the ONNX tensor family's
arithmetic); `math.det` is the determinant of the trailing square matrices.
"""
from __future__ import annotations

from math import prod

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define
from .shapes import fmt_shape, normalize_axis, require_float, static


def _cumprod_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    if x.dtype == "bool":
        raise ShapeError("cumprod: x must be numeric, got bool")
    normalize_axis(attrs["axis"], x.rank, "cumprod: axis")
    return [x]


define("math.cumprod", ["x"], _cumprod_infer, lambda ins, outs, attrs: prod(outs[0].shape),
       "opaque", "Running product along `axis`, in x's dtype (integers wrap as numpy's do).",
       [Attr("axis", "int", doc="the multiplied axis"),
        Attr("exclusive", "bool", False,
             "each product leaves out its own element (the first is 1)"),
        Attr("reverse", "bool", False, "multiply from the end")])


def _det_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    require_float(x, "det: x")
    if x.rank < 2:
        raise ShapeError(f"det: x must be [..., M, M] (rank >= 2), got {x}")
    m = static(x.shape[-1], "det: the matrix size")
    if x.shape[-2] != m:
        raise ShapeError(f"det: the trailing matrices of {fmt_shape(x.shape)} must be square")
    return [TensorType(x.shape[:-2], x.dtype)]


define("math.det", ["x"], _det_infer,
       lambda ins, outs, attrs: prod(ins[0].shape) * ins[0].shape[-1], "opaque",
       "Determinant of each trailing square matrix of x [..., M, M] -> [...] (by LU "
       "factorization).")
