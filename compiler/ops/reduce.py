"""Reductions over axes: sum, mean, max."""
from __future__ import annotations

from math import prod

from ..ir.types import TensorType
from .registry import Attr, define
from .shapes import normalize_axes


def _reduce_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    axes = normalize_axes(attrs["axes"], x.rank) if attrs["axes"] else list(range(x.rank))
    if attrs["keepdims"]:
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return [TensorType(shape, x.dtype)]


def _reduce_flops(ins, outs, attrs) -> int:
    return prod(ins[0].shape)


def reduction(name: str, doc: str) -> None:
    define(name, ["x"], _reduce_infer, _reduce_flops, "reduction", doc,
           [Attr("axes", "ints", [], "axes to reduce; empty = all"),
            Attr("keepdims", "bool", False, "keep reduced axes as size 1")])


reduction("math.reduce_sum", "Sum over `axes`.")
