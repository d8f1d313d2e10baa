"""Converters for the ONNX Reduce* ops.

`axes` is an attribute up to opset 17 (ReduceSum: 12) and an optional input
from opset 18 (ReduceSum: 13), which must then be known at compile time. No
axes reduce everything, unless `noop_with_empty_axes` is set: then the op
reduces over no axis at all, which leaves x as it is for sum, mean, max, min
and prod, and is the op's per-element function (|x|, x^2, log x...) for the
others.
"""
from __future__ import annotations

from .registry import converter

_REDUCE = {
    "ReduceSum": "math.reduce_sum", "ReduceMean": "math.reduce_mean",
    "ReduceMax": "math.reduce_max", "ReduceMin": "math.reduce_min",
    "ReduceProd": "math.reduce_prod", "ReduceSumSquare": "math.reduce_sum_square",
    "ReduceL1": "math.reduce_l1", "ReduceL2": "math.reduce_l2",
    "ReduceLogSum": "math.reduce_log_sum", "ReduceLogSumExp": "math.reduce_log_sum_exp",
}
# Over one element these reductions return the element itself.
_IDENTITY_ON_ONE = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"}
_AXES_INPUT_SINCE = {t: 13 if t == "ReduceSum" else 18 for t in _REDUCE}


def _emit(n, axes: list[int], noop: bool):
    x = n.input(0)
    op_type = n.node.op_type
    keepdims = bool(n.attr("keepdims", 1))
    if not axes and noop:
        if op_type in _IDENTITY_ON_ONE:
            return x
        # Reduce over a new unit axis: the op's function applied to each element.
        lifted = n.op("tensor.reshape", [x], {"shape": [0] * x.type.rank + [1]})
        return n.op(_REDUCE[op_type], [lifted], {"axes": [-1], "keepdims": False})
    return n.op(_REDUCE[op_type], [x], {"axes": axes, "keepdims": keepdims})


@converter(*_REDUCE)
def reduce_axes_attribute(n):
    return _emit(n, [int(a) for a in n.attr("axes", [])], noop=False)


def reduce_axes_input(n):
    axes = n.require_ints(1, "axes") if n.has_input(1) else []
    return _emit(n, axes, noop=bool(n.attr("noop_with_empty_axes", 0)))


for _op_type, _since in _AXES_INPUT_SINCE.items():
    converter(_op_type, since=_since)(reduce_axes_input)
