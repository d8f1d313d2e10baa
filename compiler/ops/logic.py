"""Comparisons, boolean logic and selection: the `logic` family.

Comparisons take two operands of one dtype (any, bool included) and return a
bool tensor of the broadcast shape; `and`/`or`/`xor`/`not` work on bool
tensors; `where` picks between two tensors by a bool condition. Bitwise
operations on integers are arithmetic and live in `math` (`elementwise.py`).
"""
from __future__ import annotations

from ..ir.types import TensorType
from .elementwise import binary, broadcast, check_dtype, per_element, unary
from .registry import Attr, define
from .shapes import require_same_dtype

binary("logic.equal", "a == b, numpy broadcasting; a bool result.", commutative=True,
       dtypes="any", result="bool")
binary("logic.less", "a < b, numpy broadcasting; a bool result.", dtypes="any", result="bool")
binary("logic.less_equal", "a <= b, numpy broadcasting; a bool result.", dtypes="any",
       result="bool")
binary("logic.greater", "a > b, numpy broadcasting; a bool result.", dtypes="any",
       result="bool")
binary("logic.greater_equal", "a >= b, numpy broadcasting; a bool result.", dtypes="any",
       result="bool")

binary("logic.and", "a and b on bool tensors, numpy broadcasting.", commutative=True,
       dtypes="bool")
binary("logic.or", "a or b on bool tensors, numpy broadcasting.", commutative=True,
       dtypes="bool")
binary("logic.xor", "a xor b on bool tensors, numpy broadcasting.", commutative=True,
       dtypes="bool")
unary("logic.not", "not x on a bool tensor.", dtypes="bool")

unary("logic.isnan", "True where x is NaN.", result="bool")
unary("logic.isinf", "True where x is an infinity (of the signs the attributes ask for).",
      result="bool",
      attrs=[Attr("detect_positive", "bool", True, "count +inf"),
             Attr("detect_negative", "bool", True, "count -inf")])


def _where_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    cond, x, y = ins
    check_dtype("where", cond.dtype, "bool", "the condition")
    dtype = require_same_dtype("where", [x, y])
    return [TensorType(broadcast("where", ins), dtype)]


define("logic.where", ["cond", "x", "y"], _where_infer, per_element(1), "elementwise",
       "x where cond is true, else y; all three broadcast together (numpy.where).")
