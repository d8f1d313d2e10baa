"""Indexing ops: gather and scatter by index tensors, one-hot, arg-max/min, top-k, triangles.

Index operands are integer tensors read at run time; negative indices count
from the end of the indexed dim (ONNX semantics) and out-of-range indices are a
run-time error. Dims the result copies from an operand keep their symbols.
"""
from __future__ import annotations

from math import prod

from ..ir.types import INT_DTYPES, Dim, TensorType
from .registry import Attr, ShapeError, define
from .shapes import fmt_shape, normalize_axis, require_same_dtype


def _no_flops(ins, outs, attrs) -> int:
    return 0


def _one_per_output(ins, outs, attrs) -> int:
    return prod(outs[0].shape)


def _require_indices(t: TensorType, op: str) -> None:
    if t.dtype not in INT_DTYPES:
        raise ShapeError(f"{op}: indices must be an integer tensor, got {t.dtype}")


def _same_dims(op: str, what: str, a: tuple, b: tuple) -> None:
    if len(a) != len(b) or any(x != y for x, y in zip(a, b)):
        raise ShapeError(f"{op}: {what} differ: {fmt_shape(a)} vs {fmt_shape(b)}")


# -- gather ------------------------------------------------------------------------

def _gather_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, idx = ins
    _require_indices(idx, "gather")
    if x.rank == 0:
        raise ShapeError("gather: x must have rank >= 1, got a scalar")
    axis = normalize_axis(attrs["axis"], x.rank, "gather: axis")
    return [TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)]


define("tensor.gather", ["x", "indices"], _gather_infer, _no_flops, "opaque",
       "Take whole slices of x along `axis` at `indices` (numpy.take; ONNX Gather): the "
       "result's shape is x's with dim `axis` replaced by indices' shape.",
       [Attr("axis", "int", 0, "the indexed dim")])


def _gather_elements_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, idx = ins
    _require_indices(idx, "gather_elements")
    if idx.rank != x.rank or x.rank == 0:
        raise ShapeError(f"gather_elements: x and indices must have the same rank >= 1, got "
                         f"{fmt_shape(x.shape)} and {fmt_shape(idx.shape)}")
    normalize_axis(attrs["axis"], x.rank, "gather_elements: axis")
    return [TensorType(idx.shape, x.dtype)]


define("tensor.gather_elements", ["x", "indices"], _gather_elements_infer, _no_flops, "opaque",
       "result[i][j][k] = x[indices[i][j][k]][j][k] for axis 0, and so on "
       "(numpy.take_along_axis; ONNX GatherElements).",
       [Attr("axis", "int", 0, "the indexed dim")])


def _gather_nd_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, idx = ins
    _require_indices(idx, "gather_nd")
    b = attrs["batch_dims"]
    if idx.rank < 1 or not 0 <= b < min(x.rank, idx.rank):
        raise ShapeError(f"gather_nd: batch_dims {b} must be smaller than both ranks "
                         f"({fmt_shape(x.shape)}, indices {fmt_shape(idx.shape)})")
    k = idx.shape[-1]
    if isinstance(k, str) or not 1 <= k <= x.rank - b:
        raise ShapeError(f"gather_nd: the last dim of indices ({k}) must be static and in "
                         f"[1, {x.rank - b}] (x {fmt_shape(x.shape)}, batch_dims {b})")
    _same_dims("gather_nd", "the batch dims of x and indices", x.shape[:b], idx.shape[:b])
    return [TensorType(idx.shape[:-1] + x.shape[b + k:], x.dtype)]


define("tensor.gather_nd", ["x", "indices"], _gather_nd_infer, _no_flops, "opaque",
       "Each row of `indices` (its last dim, length k) addresses a slice x[i0, ..., ik-1] "
       "(ONNX GatherND); the first `batch_dims` dims are shared batch dims.",
       [Attr("batch_dims", "int", 0, "leading dims that x and indices share")])


# -- scatter -----------------------------------------------------------------------

_REDUCTION = Attr("reduction", "str", "none", "how an update combines with the value it "
                  "lands on ('none' replaces; with duplicate indices the last update wins)",
                  choices=("none", "add", "mul", "max", "min"))


def _scatter_elements_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, idx, upd = ins
    _require_indices(idx, "scatter_elements")
    require_same_dtype("scatter_elements (x and updates)", [x, upd])
    if idx.rank != x.rank or x.rank == 0:
        raise ShapeError(f"scatter_elements: x and indices must have the same rank >= 1, got "
                         f"{fmt_shape(x.shape)} and {fmt_shape(idx.shape)}")
    _same_dims("scatter_elements", "the shapes of indices and updates", idx.shape, upd.shape)
    normalize_axis(attrs["axis"], x.rank, "scatter_elements: axis")
    return [x]


define("tensor.scatter_elements", ["x", "indices", "updates"], _scatter_elements_infer,
       lambda ins, outs, attrs: prod(ins[2].shape), "opaque",
       "A copy of x with result[indices[i][j]][j] = updates[i][j] for axis 0, and so on "
       "(ONNX ScatterElements), combined by `reduction`.",
       [Attr("axis", "int", 0, "the indexed dim"), _REDUCTION])


def _scatter_nd_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, idx, upd = ins
    _require_indices(idx, "scatter_nd")
    require_same_dtype("scatter_nd (x and updates)", [x, upd])
    k = idx.shape[-1] if idx.rank else 0
    if isinstance(k, str) or not 1 <= k <= x.rank:
        raise ShapeError(f"scatter_nd: the last dim of indices ({k}) must be static and in "
                         f"[1, {x.rank}] for x {fmt_shape(x.shape)}")
    _same_dims("scatter_nd", "updates and indices.shape[:-1] + x.shape[k:]",
               upd.shape, idx.shape[:-1] + x.shape[k:])
    return [x]


define("tensor.scatter_nd", ["x", "indices", "updates"], _scatter_nd_infer,
       lambda ins, outs, attrs: prod(ins[2].shape), "opaque",
       "A copy of x where each row of `indices` (length k) addresses the slice "
       "x[i0, ..., ik-1] that the matching slice of `updates` replaces or combines with "
       "(ONNX ScatterND).",
       [_REDUCTION])


# -- one_hot -----------------------------------------------------------------------

def _one_hot_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    idx, values = ins
    if idx.dtype == "bool":
        raise ShapeError("one_hot: indices must be numeric, got bool")
    if values.rank != 1 or values.shape[0] != 2:
        raise ShapeError(f"one_hot: values must be [off_value, on_value] (shape [2]), got "
                         f"{fmt_shape(values.shape)}")
    depth = attrs["depth"]
    if depth < 1:
        raise ShapeError(f"one_hot: depth must be >= 1, got {depth}")
    rank = idx.rank + 1
    axis = attrs["axis"]
    if not -rank <= axis < rank:
        raise ShapeError(f"one_hot: axis {axis} is out of range for the rank-{rank} result "
                         f"(valid: [{-rank}, {rank - 1}])")
    axis %= rank
    return [TensorType(idx.shape[:axis] + (depth,) + idx.shape[axis:], values.dtype)]


define("tensor.one_hot", ["indices", "values"], _one_hot_infer, _no_flops, "opaque",
       "values[1] where the new dim's position equals the index, values[0] elsewhere (ONNX "
       "OneHot: indices are truncated to integers, negative ones count from depth, ones "
       "outside [-depth, depth) give a row of values[0]).",
       [Attr("depth", "int", doc="size of the new dim"),
        Attr("axis", "int", -1, "position of the new dim in the result")])


# -- argmax / argmin -----------------------------------------------------------------

def _arg_infer(op: str):
    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        (x,) = ins
        if x.rank == 0:
            raise ShapeError(f"{op}: x must have rank >= 1, got a scalar")
        axis = normalize_axis(attrs["axis"], x.rank, f"{op}: axis")
        if attrs["keepdims"]:
            shape = x.shape[:axis] + (1,) + x.shape[axis + 1:]
        else:
            shape = x.shape[:axis] + x.shape[axis + 1:]
        return [TensorType(shape, "i64")]
    return infer


for _name, _what in (("argmax", "largest"), ("argmin", "smallest")):
    define(f"tensor.{_name}", ["x"], _arg_infer(_name),
           lambda ins, outs, attrs: prod(ins[0].shape), "reduction",
           f"Index (i64) of the {_what} element along `axis`; ties give the first index "
           f"(the last with select_last_index).",
           [Attr("axis", "int", 0, "the searched dim"),
            Attr("keepdims", "bool", True, "keep the searched dim as size 1"),
            Attr("select_last_index", "bool", False, "on ties, the last index")])


# -- topk -------------------------------------------------------------------------------

def _topk_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    if x.rank == 0:
        raise ShapeError("topk: x must have rank >= 1, got a scalar")
    axis = normalize_axis(attrs["axis"], x.rank, "topk: axis")
    k, d = attrs["k"], x.shape[axis]
    if k < 0 or (isinstance(d, int) and k > d):
        raise ShapeError(f"topk: k={k} must be in [0, {d}] (dim {axis} of {fmt_shape(x.shape)})")
    shape: tuple[Dim, ...] = x.shape[:axis] + (k,) + x.shape[axis + 1:]
    return [TensorType(shape, x.dtype), TensorType(shape, "i64")]


define("tensor.topk", ["x"], _topk_infer,
       lambda ins, outs, attrs: prod(ins[0].shape), "opaque",
       "The k largest (or smallest) elements along `axis` and their i64 indices, in order; "
       "equal values keep the lower index first (ONNX TopK).",
       [Attr("k", "int", doc="how many"),
        Attr("axis", "int", -1, "the searched dim"),
        Attr("largest", "bool", True, "largest (true) or smallest (false) first"),
        Attr("sorted", "bool", True, "results in order (wsc always sorts)")],
       num_results=2)


# -- trilu ------------------------------------------------------------------------------

def _trilu_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    if x.rank < 2:
        raise ShapeError(f"trilu: x must have rank >= 2 (matrices in the last two dims), got "
                         f"{fmt_shape(x.shape)}")
    if len(ins) > 1:
        k = ins[1]
        if k.dtype not in INT_DTYPES or k.numel not in (None, 1) or k.rank > 1:
            raise ShapeError(f"trilu: k must be an integer scalar, got {k}")
    return [x]


define("tensor.trilu", ["x", "k?"], _trilu_infer, _no_flops, "opaque",
       "Keep the upper (or lower) triangle of the matrices in the last two dims, from "
       "diagonal k on (k > 0 above the main diagonal, k < 0 below; default 0); zero "
       "the rest.",
       [Attr("upper", "bool", True, "upper (true) or lower (false) triangle")])
