"""Reductions over axes: sum, mean, max, min, product, norms, log-sum(-exp).

Unreduced dims (static or symbolic) pass through. An empty `axes` reduces
every axis. A reduction over zero elements (an axis of size 0) gives the
operation's identity: 0 for sums and norms, 1 for the product, -inf (or the
dtype's minimum) for max and log-sums, +inf (or the maximum) for min.
"""
from __future__ import annotations

from math import prod

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define
from .shapes import normalize_axes, require_float


def _reduce_infer(name: str, float_only: bool, allow_bool: bool):
    short = name.split(".", 1)[1]

    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        (x,) = ins
        if float_only:
            require_float(x, f"{short}: input x")
        elif x.dtype == "bool" and not allow_bool:
            raise ShapeError(f"{short}: input x must be numeric, got bool")
        axes = (normalize_axes(attrs["axes"], x.rank, f"{short}: axis") if attrs["axes"]
                else list(range(x.rank)))
        if attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [TensorType(shape, x.dtype)]
    return infer


def _reduce_flops(per_input: int, per_output: int):
    # `per_input` operations per input element (an add or compare, plus a square, an abs
    # or an exp), `per_output` per result (the mean's division, a sqrt or a log).
    return lambda ins, outs, attrs: (per_input * prod(ins[0].shape)
                                     + per_output * prod(outs[0].shape))


def reduction(name: str, doc: str, float_only: bool = False, per_output: int = 0,
              per_input: int = 1, allow_bool: bool = False) -> None:
    define(name, ["x"], _reduce_infer(name, float_only, allow_bool),
           _reduce_flops(per_input, per_output), "reduction", doc,
           [Attr("axes", "ints", [], "axes to reduce; empty = all"),
            Attr("keepdims", "bool", False, "keep reduced axes as size 1")])


reduction("math.reduce_sum", "Sum over `axes`.")
reduction("math.reduce_mean", "Arithmetic mean over `axes`.", float_only=True, per_output=1)
reduction("math.reduce_max", "Maximum over `axes` (NaN propagates; bool: any).",
          allow_bool=True)
reduction("math.reduce_min", "Minimum over `axes` (NaN propagates; bool: all).",
          allow_bool=True)
reduction("math.reduce_prod", "Product over `axes`.")
reduction("math.reduce_sum_square", "Sum of squares over `axes`.", per_input=2)
reduction("math.reduce_l1", "Sum of absolute values over `axes` (the L1 norm).", per_input=2)
reduction("math.reduce_l2", "Square root of the sum of squares over `axes` (the L2 norm).",
          per_input=2, per_output=4)
reduction("math.reduce_log_sum", "Natural log of the sum over `axes`.", float_only=True,
          per_output=8)
reduction("math.reduce_log_sum_exp", "log(sum(exp(x))) over `axes`, computed stably (the max "
          "is subtracted first).", float_only=True, per_input=10, per_output=8)
