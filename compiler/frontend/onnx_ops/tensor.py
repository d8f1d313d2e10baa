"""Converters for ONNX tensor ops: shapes, data movement, indexing, constants and resizing.

Shape values. PyTorch exports compute dynamic sizes with small subgraphs such
as ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``. `Shape` of a tensor
with symbolic dims emits a run-time `tensor.shape` and also records its
*shape value* (the dims: ints and symbol names); Gather, Unsqueeze, Squeeze,
Concat and Slice carry shape values through (`keep_shape_value` lets other
converters, e.g. Cast or Identity, do the same), and a result whose dims all
turn out static becomes a constant at once. Reshape, Expand, ConstantOfShape,
Tile and Range read their targets with `n.shape_value(i)`, so the exported
arithmetic resolves at compile time; the run-time shape ops then have no users
left and dead-code elimination drops them.

A target with symbolic sizes becomes a registry op that takes them from a
`like` operand (`tensor.expand`, `tensor.iota`): a tensor holding every symbol
(the op's own input, else a model input), with `like_dims` naming its dims by
position. Reshape needs a `like` only when it moves several symbolic sizes: a
symbol at its input position becomes 0 ("copy"), one other symbol -1
("inferred"), and the rest come from `like` (``[N*S, 64] -> [N, S, 64]``).
"""
from __future__ import annotations

import math

import numpy as np

from ...ir.core import Constant, Value
from ...ir.types import Dim, to_numpy_dtype
from .registry import converter

INT64_MAX = 2**63 - 1


# ---------------------------------------------------------------------------
# Shape values


def recorded_shape_value(n, i: int) -> list[Dim] | None:
    """The shape value of input `i` when it is a run-time tensor (not a constant)."""
    if not n.has_input(i) or isinstance(n.input(i), Constant):
        return None
    return n.shape_value(i)


def keep_shape_value(n, out: Value, src: int = 0) -> Value:
    """Give `out` the shape value of input `src`, if it has one; returns `out`.

    For converters whose op leaves the values alone (Cast to an integer type,
    Identity, Squeeze/Unsqueeze between a scalar and a 1-element vector). Only
    scalars and vectors carry shape values."""
    dims = recorded_shape_value(n, src)
    if dims is not None and not isinstance(out, Constant) and out.type.rank <= 1:
        n.set_shape_value(out, dims)
    return out


def shape_result(n, dims: list[Dim], dtype, shape, emit) -> Value:
    """A constant if `dims` are all static, else `emit()` with `dims` recorded as its value."""
    if all(isinstance(d, int) for d in dims):
        return n.constant(np.array(dims, dtype=dtype).reshape(shape))
    v = emit()
    n.set_shape_value(v, dims)
    return v


def _like_encoding(n, dims: list[Dim], prefer: list[Value]):
    """(like, shape, like_dims) spelling `dims` for an op with a `like` operand.

    `like` is the first of `prefer`, then of the model inputs, whose type has
    every symbol of `dims`; None when `dims` are all static."""
    symbols = {d for d in dims if isinstance(d, str)}
    if not symbols:
        return None, [int(d) for d in dims], []
    for cand in [*prefer, *n.importer.module.inputs]:
        where: dict[str, int] = {}
        for j, d in enumerate(cand.type.shape):
            if isinstance(d, str):
                where.setdefault(d, j)
        if symbols <= set(where):
            shape = [-1 if isinstance(d, str) else int(d) for d in dims]
            like_dims = [where[d] if isinstance(d, str) else -1 for d in dims]
            return cand, shape, like_dims
    n.fail(f"the target shape [{', '.join(map(str, dims))}] combines symbolic sizes that no "
           f"single tensor has", hint="fix the symbolic input dims with --input-shape")


def _target(n, i: int, what: str) -> list[Dim]:
    """Input `i` as dims (ints or symbols); a clear error if unknown at compile time."""
    dims = n.shape_value(i)
    if dims is None:
        n.fail(f"the {what} (input {i}) must be known at compile time",
               hint="wsc compiles static shapes: make it an initializer, or compute it from "
                    "Shape of a tensor; symbolic input dims can be fixed with --input-shape")
    return dims


def _float_const(n, i: int, what: str) -> np.ndarray | None:
    """Input `i` as a float64 array if present; an error if it is not a compile-time constant."""
    if not n.has_input(i):
        return None
    data = n.const(i)
    if data is None:
        n.fail(f"the {what} (input {i}) must be known at compile time",
               hint="make it an initializer or a Constant")
    return np.asarray(data, dtype=np.float64).reshape(-1)


def _axes_input_or_attr(n, since_input: int) -> list[int] | None:
    """`axes` from the attribute (before `since_input`) or the optional input 1."""
    if n.opset < since_input:
        return n.attr("axes", None)
    return n.require_ints(1, "axes") if n.has_input(1) else None


# ---------------------------------------------------------------------------
# Constants and shapes


def _sparse_to_dense(sp) -> np.ndarray:
    from onnx import numpy_helper

    values = numpy_helper.to_array(sp.values)
    idx = numpy_helper.to_array(sp.indices)
    out = np.zeros(tuple(sp.dims), values.dtype)
    if idx.ndim == 1:   # linear indices into the flattened tensor
        out.reshape(-1)[idx] = values
    else:               # one row of coordinates per value
        out[tuple(idx.T)] = values
    return out


@converter("Constant")
def constant(n):
    if n.has_attr("value"):
        return n.constant(n.attr("value"))
    simple = {"value_float": np.float32, "value_floats": np.float32,
              "value_int": np.int64, "value_ints": np.int64}
    for name, dtype in simple.items():
        if n.has_attr(name):
            return n.constant(np.array(n.attr(name), dtype=dtype))
    if n.has_attr("sparse_value"):
        return n.constant(_sparse_to_dense(n.attr("sparse_value")))
    if n.has_attr("value_string") or n.has_attr("value_strings"):
        n.fail("string constants are not supported")
    n.fail("a Constant needs one of the attributes value, value_float(s), value_int(s), "
           "sparse_value")


@converter("ConstantOfShape", since=9)
def constant_of_shape(n):
    dims = _target(n, 0, "shape")
    value = n.attr("value", None)
    fill = np.zeros((), np.float32) if value is None else np.asarray(value).reshape(())
    like, shape, like_dims = _like_encoding(n, dims, [])
    return n.op("tensor.expand", [n.constant(fill, n.out_name(0) + ".value")] +
                ([like] if like is not None else []),
                {"shape": shape, "like_dims": like_dims})


@converter("EyeLike", since=9)
def eye_like(n):
    x = n.input(0)
    if x.type.rank != 2 or not x.type.is_static:
        n.fail(f"EyeLike needs a 2-D input of static shape, got {x.type}",
               hint="fix the symbolic input dims with --input-shape")
    from ..onnx import onnx_dtype  # late: that module imports this package
    dtype = onnx_dtype(n.attr("dtype"), "EyeLike dtype") if n.has_attr("dtype") else x.type.dtype
    rows, cols = x.type.shape
    return n.constant(np.eye(rows, cols, k=n.attr("k", 0), dtype=to_numpy_dtype(dtype)))


@converter("Shape")
def shape(n):
    x = n.input(0)
    rank = x.type.rank
    start = n.attr("start", 0) if n.opset >= 15 else 0
    end = n.attr("end", rank) if n.opset >= 15 else rank
    lo = min(max(start + rank if start < 0 else start, 0), rank)
    hi = max(lo, min(max(end + rank if end < 0 else end, 0), rank))
    dims = list(x.type.shape[lo:hi])
    return shape_result(n, dims, np.int64, (len(dims),),
                        lambda: n.op("tensor.shape", [x], {"start": lo, "end": hi}))


@converter("Size")
def size(n):
    x = n.input(0)
    if x.type.is_static:
        return n.constant(np.array(math.prod(x.type.shape), dtype=np.int64))
    return n.op("tensor.size", [x])


@converter("Range", since=11)
def range_(n):
    # Scalars, though some exporters (and ONNX's own function bodies) pass [1] tensors.
    start, limit, delta = (None if v is None else np.asarray(v).reshape(-1)[0]
                           for v in (n.const(0), n.const(1), n.const(2)))
    if delta is not None and float(delta) == 0:
        n.fail("delta must be nonzero")
    if start is not None and limit is not None and delta is not None:
        dtype = start.dtype
        count = max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
        if dtype.kind in "iu":
            return n.constant((start + np.arange(count, dtype=dtype) * delta).astype(dtype))
        values = float(start) + np.arange(count, dtype=np.float64) * float(delta)
        return n.constant(values.astype(dtype))
    # range(0, n, 1) where n is a symbolic size: an iota over a tensor with that size.
    sym = n.shape_value(1)
    if (start is not None and delta is not None and sym is not None and len(sym) == 1 and
            float(start) == 0 and float(delta) == 1):
        like, _, like_dims = _like_encoding(n, sym, [])
        if like is not None:
            return n.op("tensor.iota", [like], {"axis": like_dims[0],
                                                "dtype": n.input(1).type.dtype})
    missing = next(i for i, v in enumerate((start, limit, delta)) if v is None)
    n.fail(f"the {('start', 'limit', 'delta')[missing]} (input {missing}) must be known at "
           f"compile time (the result's length depends on start, limit and delta)",
           hint="make them initializers or constants; a symbolic limit is supported for "
                "Range(0, n, 1)")


# ---------------------------------------------------------------------------
# Reshaping


@converter("Reshape")
def reshape(n):
    x = n.input(0)
    dims = n.attr("shape") if n.opset < 5 else _target(n, 1, "target shape")
    allowzero = bool(n.attr("allowzero", 0)) if n.opset >= 14 else False
    target: list[int] = []
    moved: list[int] = []       # positions of symbolic sizes not copied from the same dim
    for i, d in enumerate(dims):
        if not isinstance(d, str):
            target.append(int(d))
        elif not allowzero and i < x.type.rank and x.type.shape[i] == d:
            target.append(0)    # copy the input dim at the same position
        else:
            target.append(-1)   # inferred, or taken from a `like` tensor below
            moved.append(i)
    operands, like_dims = [x], []
    if len(moved) > 1:          # only one can be inferred: the others come from `like`
        like, like_dims = _reshape_like(n, dims, moved, x)
        operands.append(like)
    out = n.op("tensor.reshape", operands,
               {"shape": target, "allowzero": allowzero, "like_dims": like_dims})
    for got, want in zip(out.type.shape, dims):
        if isinstance(want, str) and got != want:
            n.fail(f"the target shape [{', '.join(map(str, dims))}] does not match the "
                   f"input {x.type}", hint="fix the symbolic input dims with --input-shape")
    return keep_shape_value(n, out)  # a shape value reshaped to [n] or [] keeps its order


def _reshape_like(n, dims: list[Dim], moved: list[int], x: Value) -> tuple[Value, list[int]]:
    """(like, like_dims) giving all but at most one of the `moved` symbolic sizes.

    `like` is `x` or a model input, whichever has the most of them as dims
    (``[B*S, 96] -> [B, S, 96]`` takes B and S from the model's [B, S] input)."""
    best = None
    for cand in [x, *n.importer.module.inputs]:
        where: dict[Dim, int] = {}
        for j, d in enumerate(cand.type.shape):
            if isinstance(d, str):
                where.setdefault(d, j)
        found = [i for i in moved if dims[i] in where]
        if best is None or len(found) > len(best[2]):
            best = (cand, where, found)
    cand, where, found = best
    if len(moved) - len(found) > 1:
        n.fail(f"the target shape [{', '.join(map(str, dims))}] has several symbolic sizes "
               f"that neither the input {x.type} nor a model input has",
               hint="fix the symbolic input dims with --input-shape")
    return cand, [where[d] if i in found else -1 for i, d in enumerate(dims)]


@converter("Flatten")
def flatten(n):
    return n.op("tensor.flatten", [n.input(0)], {"axis": n.attr("axis", 1)})


@converter("Squeeze")
def squeeze(n):
    x = n.input(0)
    axes = _axes_input_or_attr(n, 13)
    if axes is None:
        if not x.type.is_static:
            n.fail(f"Squeeze without axes on {x.type}: wsc cannot tell whether a symbolic "
                   f"dim is 1", hint="give axes, or fix the input dims with --input-shape")
        axes = [i for i, d in enumerate(x.type.shape) if d == 1]
    out = n.op("tensor.squeeze", [x], {"axes": list(axes)})
    return keep_shape_value(n, out)


@converter("Unsqueeze")
def unsqueeze(n):
    axes = _axes_input_or_attr(n, 13)
    if axes is None:
        n.fail("axes are required")
    out = n.op("tensor.unsqueeze", [n.input(0)], {"axes": list(axes)})
    return keep_shape_value(n, out)


@converter("Transpose")
def transpose(n):
    return n.op("tensor.transpose", [n.input(0)], {"perm": list(n.attr("perm", []))})


@converter("Expand", since=8)
def expand(n):
    x = n.input(0)
    dims = _target(n, 1, "target shape")
    like, shape, like_dims = _like_encoding(n, dims, [x])
    return n.op("tensor.expand", [x] + ([like] if like is not None else []),
                {"shape": shape, "like_dims": like_dims})


@converter("Tile", since=6)
def tile(n):
    x = n.input(0)
    reps = _target(n, 1, "repeats")
    if len(reps) != x.type.rank:
        n.fail(f"repeats {reps} must have one entry per dim of {x.type}")
    static_reps = [r if isinstance(r, int) else 1 for r in reps]
    y = n.op("tensor.tile", [x], {"repeats": static_reps}) if static_reps != [1] * len(reps) \
        else x
    if static_reps == reps:
        return y
    # A symbolic repeat count of a size-1 dim is a broadcast to that size.
    for i, r in enumerate(reps):
        if isinstance(r, str) and x.type.shape[i] != 1:
            n.fail(f"repeating dim {i} of {x.type} a symbolic {r!r} times",
                   hint="fix the symbolic input dims with --input-shape")
    target = [r if isinstance(r, str) else d for r, d in zip(reps, y.type.shape)]
    like, shape, like_dims = _like_encoding(n, target, [y])
    return n.op("tensor.expand", [y, like], {"shape": shape, "like_dims": like_dims})


@converter("DepthToSpace")
def depth_to_space(n):
    return n.op("tensor.depth_to_space", [n.input(0)],
                {"blocksize": n.attr("blocksize"), "mode": n.attr("mode", "DCR")})


@converter("SpaceToDepth")
def space_to_depth(n):
    return n.op("tensor.space_to_depth", [n.input(0)],
                {"blocksize": n.attr("blocksize"), "mode": n.attr("mode", "DCR")})


@converter("ReverseSequence", since=10)
def reverse_sequence(n):
    return n.op("tensor.reverse_sequence", [n.input(0), n.input(1)],
                {"batch_axis": n.attr("batch_axis", 1), "time_axis": n.attr("time_axis", 0)})


# ---------------------------------------------------------------------------
# Joining and cutting


@converter("Concat")
def concat(n):
    inputs = n.inputs()
    axis = n.attr("axis", 1 if n.opset < 4 else None)
    if axis is None:
        n.fail("attribute 'axis' is required")
    parts = [n.shape_value(i) for i in range(len(inputs))]
    if (all(v.type.rank == 1 for v in inputs) and all(p is not None for p in parts) and
            any(recorded_shape_value(n, i) is not None for i in range(len(inputs)))):
        dims = [d for p in parts for d in p]
        return shape_result(n, dims, inputs[0].type.np_dtype, (len(dims),),
                            lambda: n.op("tensor.concat", inputs, {"axis": axis}))
    return n.op("tensor.concat", inputs, {"axis": axis})


def _slice_list(dims: list[Dim], start: int, end: int, step: int) -> list[Dim]:
    """ONNX Slice on a Python list (one axis)."""
    size = len(dims)
    start = start + size if start < 0 else start
    end = end + size if end < 0 else end
    if step > 0:
        return dims[min(max(start, 0), size):min(max(end, 0), size):step]
    start = min(max(start, 0), size - 1)
    end = min(max(end, -1), size - 1)
    return dims[start:(None if end < 0 else end):step]


@converter("Slice")
def slice_(n):
    x = n.input(0)
    cuts: list[tuple[int, Dim]] = []
    if n.opset < 10:
        starts, ends = list(n.attr("starts")), list(n.attr("ends"))
        axes = list(n.attr("axes", []))
        steps: list = []
    else:
        starts = n.require_ints(1, "starts")
        axes = n.require_ints(3, "axes") if n.has_input(3) else []
        steps = n.require_ints(4, "steps") if n.has_input(4) else []
        ends, cuts = _slice_ends(n, x, starts, axes, steps)
    attrs = {"starts": starts, "ends": ends, "axes": axes, "steps": steps}
    dims = recorded_shape_value(n, 0)
    if dims is not None and x.type.rank == 1 and len(starts) == 1:
        if steps and steps[0] == 0:
            n.fail("steps must be nonzero")
        part = _slice_list(dims, starts[0], ends[0], steps[0] if steps else 1)
        return shape_result(n, part, x.type.np_dtype, (len(part),),
                            lambda: n.op("tensor.slice", [x], attrs))
    full = all(s == 0 and e == INT64_MAX for s, e in zip(starts, ends)) and \
        all(st == 1 for st in steps)
    y = x if cuts and full else n.op("tensor.slice", [x], attrs)
    # The first `size` entries along a static axis, `size` symbolic: gather at
    # 0..size-1 (an iota of that size), e.g. position_ids[:, :seq] of a BERT.
    for axis, size in cuts:
        like, _, like_dims = _like_encoding(n, [size], [y])
        index = n.op("tensor.iota", [like], {"axis": like_dims[0], "dtype": "i64"})
        y = n.op("tensor.gather", [y, index], {"axis": axis})
    return y


def _slice_ends(n, x: Value, starts: list[int], axes: list[int], steps: list[int]
                ) -> tuple[list[int], list[tuple[int, Dim]]]:
    """Slice's ends, and the (axis, size) of the symbolic ends that cut a static dim.

    An end equal to the sliced dim's own symbolic size means "to the end"; a
    symbolic end of a static dim from a start of 0 (step 1) is a *cut*, made by
    the caller with a gather (its size must not exceed the dim: ONNX would clamp
    it, wsc's gather reports an index out of range)."""
    ends = n.shape_value(2)
    if ends is None or all(isinstance(e, int) for e in ends):
        return n.require_ints(2, "ends"), []
    axes = axes or list(range(len(ends)))
    rank = x.type.rank
    out, cuts = [], []
    for k, (a, e) in enumerate(zip(axes, ends)):
        if isinstance(e, str):
            if not -rank <= a < rank:
                n.fail(f"axis {a} is out of range for {x.type}")
            a %= rank
            dim = x.type.shape[a]
            step = steps[k] if k < len(steps) else 1
            if dim != e:
                if not (isinstance(dim, int) and k < len(starts) and starts[k] in (0, -dim)
                        and step == 1):
                    n.fail(f"the end {e!r} of axis {a} is a symbolic size other than the "
                           f"dim's own", hint="fix the symbolic input dims with --input-shape")
                cuts.append((a, e))
            e = INT64_MAX
        out.append(e)
    return out, cuts


@converter("Split")
def split(n):
    x = n.input(0)
    axis = n.attr("axis", 0)
    rank = x.type.rank
    if not -rank <= axis < rank:
        n.fail(f"axis {axis} is out of range for {x.type}")
    axis %= rank
    count = len(n.node.output)
    if n.opset >= 13 or (n.opset < 2 and n.has_input(1)):
        sizes = n.require_ints(1, "split") if n.has_input(1) else None
    else:
        sizes = n.attr("split", None)
    dim = x.type.shape[axis]
    if count == 1 and not sizes:
        return [n.op("tensor.slice", [x], {"starts": [0], "ends": [INT64_MAX], "axes": [axis]})]
    if isinstance(dim, str):
        n.fail(f"splitting the symbolic dim {dim!r} of {x.type}",
               hint="fix the symbolic input dims with --input-shape")
    if sizes:
        sizes = list(sizes)
        if sum(sizes) != dim or len(sizes) != count or any(s < 0 for s in sizes):
            n.fail(f"split sizes {sizes} must be {count} non-negative sizes adding up to "
                   f"dim {axis} ({dim}) of {x.type}")
    elif n.opset >= 18 and n.has_attr("num_outputs"):
        parts = n.attr("num_outputs")
        if parts < 1:
            n.fail(f"num_outputs must be >= 1, got {parts}")
        chunk = -(-dim // parts)
        sizes = [min(chunk, max(dim - chunk * i, 0)) for i in range(parts)]
        if parts != count:
            n.fail(f"num_outputs is {parts} but the node has {count} outputs")
    else:
        if dim % count:
            n.fail(f"dim {axis} ({dim}) of {x.type} does not split into {count} equal parts")
        sizes = [dim // count] * count
    outs, at = [], 0
    for s in sizes:
        outs.append(n.op("tensor.slice", [x], {"starts": [at], "ends": [at + s],
                                               "axes": [axis]}))
        at += s
    return outs


@converter("Pad")
def pad(n):
    x = n.input(0)
    rank = x.type.rank
    mode = n.attr("mode", "constant")
    operands = [x]
    if n.opset < 11:
        pads = list(n.attr("paddings" if n.opset < 2 else "pads"))
        value = float(n.attr("value", 0.0))
        if value:
            operands.append(n.constant(np.array(value, dtype=x.type.np_dtype),
                                       n.out_name(0) + ".value"))
        axes = None
    else:
        pads = n.require_ints(1, "pads")
        if n.has_input(2):
            operands.append(n.input(2))
        axes = n.require_ints(3, "axes") if n.has_input(3) else None
    if axes is not None:
        if len(pads) != 2 * len(axes):
            n.fail(f"pads {pads} must have two entries per axis in {axes}")
        full = [0] * (2 * rank)
        for i, a in enumerate(axes):
            if not -rank <= a < rank:
                n.fail(f"axis {a} is out of range for {x.type}")
            full[a % rank] = pads[i]
            full[rank + a % rank] = pads[len(axes) + i]
        pads = full
    if mode not in ("constant", "reflect", "edge", "wrap"):
        n.fail(f"mode {mode!r} is not supported", hint="modes: constant, reflect, edge, wrap")
    return n.op("tensor.pad", operands, {"pads": pads, "mode": mode})


# ---------------------------------------------------------------------------
# Indexing


@converter("Gather")
def gather(n):
    data, indices = n.input(0), n.input(1)
    axis = n.attr("axis", 0)
    dims = recorded_shape_value(n, 0)
    picks = n.const(1)
    if dims is not None and data.type.rank == 1 and picks is not None and picks.ndim <= 1:
        size = len(dims)
        if any(not -size <= int(i) < size for i in picks.reshape(-1)):
            n.fail(f"index {picks.tolist()} is out of range for the shape [{size}]")
        chosen = [dims[int(i)] for i in picks.reshape(-1)]
        return shape_result(n, chosen, data.type.np_dtype, picks.shape,
                            lambda: n.op("tensor.gather", [data, indices], {"axis": axis}))
    return n.op("tensor.gather", [data, indices], {"axis": axis})


@converter("GatherElements", since=11)
def gather_elements(n):
    return n.op("tensor.gather_elements", [n.input(0), n.input(1)], {"axis": n.attr("axis", 0)})


@converter("GatherND", since=11)
def gather_nd(n):
    return n.op("tensor.gather_nd", [n.input(0), n.input(1)],
                {"batch_dims": n.attr("batch_dims", 0)})


@converter("Scatter", "ScatterElements", since=9)
def scatter_elements(n):
    reduction = n.attr("reduction", "none")
    return n.op("tensor.scatter_elements", [n.input(0), n.input(1), n.input(2)],
                {"axis": n.attr("axis", 0), "reduction": reduction})


@converter("ScatterND", since=11)
def scatter_nd(n):
    return n.op("tensor.scatter_nd", [n.input(0), n.input(1), n.input(2)],
                {"reduction": n.attr("reduction", "none")})


@converter("OneHot", since=9)
def one_hot(n):
    depth = n.const(1)
    if depth is None or depth.size != 1:
        n.fail("depth (input 1) must be a scalar known at compile time (it sets the result's "
               "shape)", hint="make it an initializer or a Constant")
    return n.op("tensor.one_hot", [n.input(0), n.input(2)],
                {"depth": int(depth.reshape(-1)[0]), "axis": n.attr("axis", -1)})


@converter("ArgMax", "ArgMin")
def arg_max_min(n):
    name = "tensor.argmax" if n.node.op_type == "ArgMax" else "tensor.argmin"
    return n.op(name, [n.input(0)], {"axis": n.attr("axis", 0),
                                     "keepdims": bool(n.attr("keepdims", 1)),
                                     "select_last_index": bool(n.attr("select_last_index", 0))})


@converter("TopK")
def topk(n):
    k = n.attr("k") if n.opset < 10 else n.require_ints(1, "k")[0]
    return n.op_multi("tensor.topk", [n.input(0)],
                      {"k": k, "axis": n.attr("axis", -1),
                       "largest": bool(n.attr("largest", 1)),
                       "sorted": bool(n.attr("sorted", 1))})


@converter("Trilu", since=14)
def trilu(n):
    operands = [n.input(0)] + ([n.input(1)] if n.has_input(1) else [])
    return n.op("tensor.trilu", operands, {"upper": bool(n.attr("upper", 1))})


@converter("CumSum", since=11)
def cumsum(n):
    axis = n.require_ints(1, "axis")
    if len(axis) != 1:
        n.fail(f"axis must be a single value, got {axis}")
    return n.op("math.cumsum", [n.input(0)],
                {"axis": axis[0], "exclusive": bool(n.attr("exclusive", 0)),
                 "reverse": bool(n.attr("reverse", 0))})


@converter("Einsum", since=12)
def einsum(n):
    return n.op("nn.einsum", n.inputs(), {"equation": n.attr("equation")})


# ---------------------------------------------------------------------------
# Resize


@converter("Resize", since=10)
def resize(n):
    x = n.input(0)
    rank = x.type.rank
    if n.opset < 11:   # Resize-10: scales only, asymmetric coordinates (see below for nearest)
        roi, scales, sizes = None, _float_const(n, 1, "scales"), None
        coord, nearest = "asymmetric", "floor"
    else:
        roi = _float_const(n, 1, "roi")
        scales = _float_const(n, 2, "scales")
        sizes = None
        if n.has_input(3) and (n.const(3) is None or n.const(3).size):
            sizes = n.require_ints(3, "sizes")
        coord = n.attr("coordinate_transformation_mode", "half_pixel")
        nearest = n.attr("nearest_mode", "round_prefer_floor")
    if scales is not None and scales.size == 0:
        scales = None
    axes = list(n.attr("axes", range(rank))) if n.opset >= 18 else list(range(rank))
    if any(not -rank <= a < rank for a in axes) or len(set(a % rank for a in axes)) != len(axes):
        n.fail(f"axes {axes} are not distinct dims of {x.type}")
    axes = [a % rank for a in axes]
    given = sizes if sizes is not None else scales
    if given is None:
        n.fail("one of scales and sizes is required")
    if sizes is not None and scales is not None:
        n.fail("only one of scales and sizes may be given")
    if len(given) != len(axes):
        n.fail(f"{'sizes' if sizes is not None else 'scales'} has {len(given)} entries for "
               f"{len(axes)} resized dims")

    out_sizes: list[int] = [-1] * rank
    out_scales: list[float] = [1.0] * rank
    for a, g in zip(axes, given):
        d = x.type.shape[a]
        if sizes is None and float(g) == 1.0:
            continue   # unchanged (possibly symbolic) dim
        if isinstance(d, str):
            n.fail(f"resizing the symbolic dim {d!r} of {x.type}",
                   hint="fix the symbolic input dims with --input-shape")
        if sizes is None:
            out_scales[a] = float(g)
            out_sizes[a] = int(math.floor(float(g) * d))
        else:
            out_sizes[a] = int(g)
            out_scales[a] = int(g) / d if d else 1.0
    policy = n.attr("keep_aspect_ratio_policy", "stretch") if n.opset >= 18 else "stretch"
    if sizes is not None and policy != "stretch":
        if policy not in ("not_larger", "not_smaller"):
            n.fail(f"keep_aspect_ratio_policy {policy!r} is not supported")
        ratios = [out_scales[a] for a in axes]
        scale = min(ratios) if policy == "not_larger" else max(ratios)
        for a in axes:
            out_scales[a] = scale
            out_sizes[a] = int(scale * x.type.shape[a] + 0.5)

    mode = n.attr("mode", "nearest")
    if mode not in ("nearest", "linear", "cubic"):
        n.fail(f"mode {mode!r} is not supported", hint="modes: nearest, linear, cubic")
    full_roi: list[float] = []
    if coord == "tf_crop_and_resize":
        if roi is None or roi.size != 2 * len(axes):
            n.fail(f"tf_crop_and_resize needs roi with {2 * len(axes)} entries")
        full_roi = [0.0] * rank + [1.0] * rank
        for i, a in enumerate(axes):
            full_roi[a], full_roi[rank + a] = float(roi[i]), float(roi[len(axes) + i])
            if out_sizes[a] == -1 and (full_roi[a], full_roi[rank + a]) != (0.0, 1.0):
                # a cropped dim is no identity even at scale 1: it needs its size
                d = x.type.shape[a]
                if isinstance(d, str):
                    n.fail(f"cropping the symbolic dim {d!r} of {x.type}",
                           hint="fix the symbolic input dims with --input-shape")
                out_sizes[a] = d
    attrs = {"sizes": out_sizes, "scales": out_scales, "roi": full_roi, "mode": mode,
             "coordinate_transformation_mode": coord, "nearest_mode": nearest,
             "cubic_coeff_a": float(n.attr("cubic_coeff_a", -0.75)),
             "exclude_outside": bool(n.attr("exclude_outside", 0)),
             "extrapolation_value": float(n.attr("extrapolation_value", 0.0)),
             "antialias": bool(n.attr("antialias", 0)) if mode != "nearest" else False}
    if n.opset < 11 and mode == "nearest":
        return _resize10_nearest(n, x, attrs)
    return n.op("tensor.resize", [x], attrs)


def _resize10_nearest(n, x: Value, attrs: dict) -> Value:
    """Resize-10 'nearest' rounds down when enlarging a dim and up when shrinking it.

    (What onnxruntime does: the opset-10 spec leaves the rounding open.) Nearest
    resampling is separable, so the shrunk dims get a second op with 'ceil'."""
    down = [i for i, s in enumerate(attrs["scales"]) if s < 1.0]
    if not down:
        return n.op("tensor.resize", [x], attrs)
    up = {**attrs, "sizes": [-1 if i in down else d for i, d in enumerate(attrs["sizes"])],
          "scales": [1.0 if i in down else s for i, s in enumerate(attrs["scales"])]}
    shrink = {**attrs, "nearest_mode": "ceil",
              "sizes": [d if i in down else -1 for i, d in enumerate(attrs["sizes"])],
              "scales": [s if i in down else 1.0 for i, s in enumerate(attrs["scales"])]}
    if any(d != -1 for d in up["sizes"]):
        x = n.op("tensor.resize", [x], up)
    return n.op("tensor.resize", [x], shrink)
