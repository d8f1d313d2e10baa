"""Data-movement and shape ops: reshape, transpose, concat, slice, pad, resize... No arithmetic,
except the two the ONNX tensor family brings along at the end (cumsum and einsum).

Symbolic dims pass through wherever the result dim is the same symbol; reshape
and flatten may make products of symbols (``"12*N"``, see `compiler/ops/shapes.py`);
a result that would be a sum (``N+3``) has no spelling and raises, pointing at
``--input-shape``.

Ops whose target shape holds symbolic sizes (`tensor.expand`, `tensor.iota`)
take them from a `like` operand: ``like_dims[i] = j`` means "result dim i is the
size of dim j of `like`", resolved by shape inference from `like`'s type and by
the kernel from `like`'s actual shape. Referring to a dim by position (not by
symbol name) keeps the op valid when `infer-shapes` later binds the symbol.
"""
from __future__ import annotations

from math import prod

from ..ir.types import INT_DTYPES, Dim, TensorType
from .registry import Attr, ShapeError, define
from .shapes import (broadcast_shapes, dim_factors, dims_product, divide_dim, fmt_shape,
                     normalize_axes, normalize_axis, require_same_dtype, static)


def _no_flops(ins, outs, attrs) -> int:
    return 0


def _output_bytes(ins, outs, attrs) -> int:
    """Cost of ops that read only their operands' shapes: the result is written once."""
    return sum(t.nbytes() or 0 for t in outs)


def require_int(t: TensorType, what: str) -> None:
    if t.dtype not in INT_DTYPES:
        raise ShapeError(f"{what} must be an integer tensor, got {t.dtype}")


def require_scalar(t: TensorType, what: str) -> None:
    """A rank-0 tensor or a one-element 1-D tensor (ONNX writes scalars both ways)."""
    if not (t.rank == 0 or (t.rank == 1 and t.shape[0] == 1)):
        raise ShapeError(f"{what} must be a scalar (shape [] or [1]), got {fmt_shape(t.shape)}")


def like_target(op: str, attrs: dict, like: TensorType | None) -> list[Dim]:
    """The target shape of `attrs["shape"]` with the `like_dims` entries read from `like`."""
    shape, like_dims = list(attrs["shape"]), list(attrs["like_dims"])
    if not like_dims:
        if any(d < 0 for d in shape):
            raise ShapeError(f"{op}: shape {shape} has negative sizes")
        return shape
    if len(like_dims) != len(shape):
        raise ShapeError(f"{op}: like_dims {like_dims} must have one entry per dim of shape "
                         f"{shape} (or be empty)")
    if like is None:
        raise ShapeError(f"{op}: like_dims {like_dims} refers to a `like` operand, but none "
                         f"is given")
    out: list[Dim] = []
    for d, j in zip(shape, like_dims):
        if j < 0:
            if d < 0:
                raise ShapeError(f"{op}: shape {shape} has a negative size where like_dims "
                                 f"does not name a dim of `like`")
            out.append(d)
        else:
            if d != -1:
                raise ShapeError(f"{op}: shape entries taken from `like` must be written -1, "
                                 f"got shape {shape} with like_dims {like_dims}")
            out.append(like.shape[normalize_axis(j, like.rank, f"{op}: like_dims entry")])
    return out


_LIKE_ATTRS = [
    Attr("like_dims", "ints", [], "per result dim: the dim of `like` whose size it takes, "
                                  "or -1 for the size in `shape`; empty = all from `shape`"),
]


# -- reshape -------------------------------------------------------------------

def _reshape_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, like = ins[0], (ins[1] if len(ins) > 1 else None)
    target = list(attrs["shape"])
    allowzero = attrs["allowzero"]
    like_dims = list(attrs["like_dims"])
    if like_dims and len(like_dims) != len(target):
        raise ShapeError(f"reshape: like_dims {like_dims} must have one entry per dim of shape "
                         f"{target} (or be empty)")
    if like_dims and like is None:
        raise ShapeError(f"reshape: like_dims {like_dims} refers to a `like` operand, but none "
                         f"is given")
    from_like = [j >= 0 for j in like_dims] if like_dims else [False] * len(target)
    own = [d for d, f in zip(target, from_like) if not f]
    if own.count(-1) > 1:
        raise ShapeError("reshape: at most one dim may be -1")
    if allowzero and 0 in own and -1 in own:
        raise ShapeError(f"reshape: with allowzero, the shape {target} cannot hold both 0 "
                         f"(a zero-size dim) and -1 (inferred)")
    # 0 copies the input dim at the same position (ONNX convention), unless allowzero.
    out: list = []
    for i, (d, f) in enumerate(zip(target, from_like)):
        if f:
            if d != -1:
                raise ShapeError(f"reshape: shape entries taken from `like` must be written -1, "
                                 f"got shape {target} with like_dims {like_dims}")
            out.append(like.shape[normalize_axis(like_dims[i], like.rank,
                                                 "reshape: like_dims entry")])
        elif d == 0 and not allowzero:
            if i >= x.rank:
                raise ShapeError(f"reshape: dim {i} is 0 but the input has rank {x.rank}")
            out.append(x.shape[i])
        elif d < -1:
            raise ShapeError(f"reshape: invalid dim {d}")
        else:
            out.append(d)
    # Element counts as (static factor, symbols): the symbols of the result must
    # cancel against the input's, and -1 takes what is left.
    inferred = next((i for i, (d, f) in enumerate(zip(out, from_like)) if d == -1 and not f),
                    None)
    known = [d for i, d in enumerate(out) if i != inferred]
    total, known_total = dims_product(x.shape), dims_product(known)
    rest = divide_dim(total, known_total) if inferred is not None else None
    if (rest is None) if inferred is not None else (total != known_total):
        shown = f"[{', '.join(map(str, x.shape))}]"
        extra = ""
        missing = set(dim_factors(known_total)[1]) - set(dim_factors(total)[1])
        if missing:
            extra = f" (symbolic {', '.join(map(repr, sorted(missing)))} not in the input)"
        raise ShapeError(f"reshape: cannot reshape {shown} into [{', '.join(map(str, out))}]"
                         f"{extra}: the element counts differ")
    if inferred is not None:
        out[inferred] = rest
    return [TensorType(tuple(out), x.dtype)]


define("tensor.reshape", ["x", "like?"], _reshape_infer, _no_flops, "movement",
       "Reshape to `shape`; one dim may be -1 (inferred), 0 copies the input dim, and the "
       "sizes named by `like_dims` come from the `like` operand's shape (for symbolic "
       "targets such as [N*S, 64] -> [N, S, 64]).",
       [Attr("shape", "shape", doc="target shape; -1 where the size comes from `like`"),
        Attr("allowzero", "bool", False, "0 in `shape` is a zero-size dim, not a copy"),
        *_LIKE_ATTRS])


# -- flatten -------------------------------------------------------------------

def _flatten_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    axis = attrs["axis"]
    if not -x.rank <= axis <= x.rank:
        raise ShapeError(f"flatten: axis {axis} is out of range for a rank-{x.rank} tensor "
                         f"(valid: [{-x.rank}, {x.rank}])")
    axis = axis + x.rank if axis < 0 else axis
    outer, inner = dims_product(x.shape[:axis]), dims_product(x.shape[axis:])
    return [TensorType((outer, inner), x.dtype)]


define("tensor.flatten", ["x"], _flatten_infer, _no_flops, "movement",
       "Collapse to 2-D as ONNX Flatten: [prod(dims before axis), prod(dims from axis on)].",
       [Attr("axis", "int", 1, "first dim of the second result dim; 0 gives [1, numel]")])


# -- transpose -----------------------------------------------------------------

def _transpose_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    perm = attrs["perm"] or list(range(x.rank))[::-1]
    if sorted(perm) != list(range(x.rank)):
        raise ShapeError(f"transpose: perm {perm} is not a permutation of 0..{x.rank - 1} "
                         f"for the rank-{x.rank} input {fmt_shape(x.shape)}")
    return [TensorType(tuple(x.shape[p] for p in perm), x.dtype)]


define("tensor.transpose", ["x"], _transpose_infer, _no_flops, "movement",
       "Permute the dims: result dim i is input dim perm[i].",
       [Attr("perm", "ints", [], "the permutation; empty = reverse all dims")])


# -- concat --------------------------------------------------------------------

def _concat_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    dtype = require_same_dtype("concat", ins)
    rank = ins[0].rank
    if rank == 0:
        raise ShapeError("concat: operands must have rank >= 1, got a scalar")
    if any(t.rank != rank for t in ins):
        raise ShapeError(f"concat: operands must have the same rank, got "
                         f"{', '.join(fmt_shape(t.shape) for t in ins)}")
    axis = normalize_axis(attrs["axis"], rank, "concat: axis")
    out = list(ins[0].shape)
    for i in range(rank):
        dims = [t.shape[i] for t in ins]
        if i == axis:
            if len(ins) == 1:
                continue
            if any(isinstance(d, str) for d in dims):
                raise ShapeError(f"concat along axis {attrs['axis']} sums the sizes "
                                 f"{', '.join(map(str, dims))}, which include a symbolic size; "
                                 f"the result has no single-dim spelling (fix the sizes with "
                                 f"--input-shape)")
            out[i] = sum(dims)
        elif any(d != dims[0] for d in dims):
            raise ShapeError(f"concat along axis {attrs['axis']}: operands "
                             f"{', '.join(fmt_shape(t.shape) for t in ins)} differ in dim {i} "
                             f"({', '.join(map(str, dims))}); only the concat axis may differ")
    return [TensorType(tuple(out), dtype)]


define("tensor.concat", ["inputs*"], _concat_infer, _no_flops, "movement",
       "Join the operands along `axis`; all other dims must be equal.",
       [Attr("axis", "int", doc="the axis to join along (negative counts from the end)")])


# -- slice ---------------------------------------------------------------------

# Ends at least this large mean "to the end" even for a symbolic dim (exporters
# write INT32_MAX or INT64_MAX).
_TO_END = 2**31 - 1


def _slice_length(dim: int, start: int, end: int, step: int) -> int:
    """Elements selected along one dim with ONNX Slice semantics (negatives wrap, then clamp)."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return max(0, -((start - end) // step))


def _slice_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    starts, ends = attrs["starts"], attrs["ends"]
    n = len(starts)
    axes = attrs["axes"] or list(range(n))
    steps = attrs["steps"] or [1] * n
    if not (len(ends) == len(axes) == len(steps) == n):
        raise ShapeError(f"slice: starts, ends, axes and steps must have the same length, got "
                         f"{len(starts)}, {len(ends)}, {len(attrs['axes'])}, "
                         f"{len(attrs['steps'])} (axes and steps may be empty)")
    if n > x.rank:
        raise ShapeError(f"slice: {n} starts given for the rank-{x.rank} input "
                         f"{fmt_shape(x.shape)}")
    norm = [normalize_axis(a, x.rank, "slice: axis") for a in axes]
    if len(set(norm)) != n:
        raise ShapeError(f"slice: axes {axes} name the same axis twice")
    out = list(x.shape)
    for a, s, e, st in zip(norm, starts, ends, steps):
        if st == 0:
            raise ShapeError(f"slice: steps must be nonzero, got {steps}")
        d = x.shape[a]
        if isinstance(d, str):
            whole = (st == 1 and s == 0 and e >= _TO_END) or \
                    (st == -1 and s == -1 and e <= -_TO_END)
            if whole:  # the full dim, forward or reversed: the size stays the symbol
                continue
            d = static(d, f"slice: dim {a} (sliced by start={s}, end={e}, step={st})")
        out[a] = _slice_length(d, s, e, st)
    return [TensorType(tuple(out), x.dtype)]


define("tensor.slice", ["x"], _slice_infer, _no_flops, "movement",
       "Take x[start:end:step] along each of `axes`, with ONNX Slice semantics: negative "
       "starts and ends count from the end, then are clamped (ends past the dim mean 'to the "
       "end'; with a negative step, a very negative end means 'through index 0').",
       [Attr("starts", "ints", doc="first index per sliced axis"),
        Attr("ends", "ints", doc="end index (exclusive) per sliced axis"),
        Attr("axes", "ints", [], "the sliced axes; empty = 0, 1, ..., len(starts)-1"),
        Attr("steps", "ints", [], "the step per sliced axis; empty = all 1")])


# -- squeeze / unsqueeze ---------------------------------------------------------

def _squeeze_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    axes = normalize_axes(attrs["axes"], x.rank, "squeeze: axis")
    for a in axes:
        d = x.shape[a]
        if isinstance(d, str):
            raise ShapeError(f"squeeze: dim {a} of {fmt_shape(x.shape)} is the symbolic size "
                             f"{d!r}; only dims known to be 1 can be removed (fix it with "
                             f"--input-shape)")
        if d != 1:
            raise ShapeError(f"squeeze: dim {a} of {fmt_shape(x.shape)} has size {d}, not 1")
    return [TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)]


define("tensor.squeeze", ["x"], _squeeze_infer, _no_flops, "movement",
       "Remove the size-1 dims `axes`.",
       [Attr("axes", "ints", doc="the dims to remove (each of size 1); empty = none")])


def _unsqueeze_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    rank = x.rank + len(attrs["axes"])
    axes = normalize_axes(attrs["axes"], rank, "unsqueeze: axis")
    dims = iter(x.shape)
    return [TensorType(tuple(1 if i in axes else next(dims) for i in range(rank)), x.dtype)]


define("tensor.unsqueeze", ["x"], _unsqueeze_infer, _no_flops, "movement",
       "Insert size-1 dims at `axes` (positions in the result).",
       [Attr("axes", "ints", doc="positions of the new dims in the result")])


# -- expand / tile -----------------------------------------------------------------

def _expand_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, like = ins[0], (ins[1] if len(ins) > 1 else None)
    target = like_target("expand", attrs, like)
    try:
        shape = broadcast_shapes(x.shape, tuple(target))
    except ShapeError as e:
        raise ShapeError(f"expand: {fmt_shape(x.shape)} to {fmt_shape(target)}: {e}") from None
    return [TensorType(shape, x.dtype)]


define("tensor.expand", ["x", "like?"], _expand_infer, _no_flops, "movement",
       "Broadcast x to broadcast(x.shape, target) (ONNX Expand); the target is `shape`, "
       "with the sizes named by `like_dims` taken from the `like` operand's shape.",
       [Attr("shape", "shape", doc="the target; -1 where the size comes from `like`"),
        *_LIKE_ATTRS])


def _tile_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    reps = attrs["repeats"]
    if len(reps) != x.rank or any(r < 0 for r in reps):
        raise ShapeError(f"tile: repeats {reps} must have {x.rank} non-negative entries, one "
                         f"per dim of {fmt_shape(x.shape)}")
    out: list[Dim] = []
    for d, r in zip(x.shape, reps):
        if isinstance(d, str) and r not in (0, 1):
            static(d, f"tile: a dim repeated {r} times")
        out.append(d if r == 1 else 0 if r == 0 else d * r)
    return [TensorType(tuple(out), x.dtype)]


define("tensor.tile", ["x"], _tile_infer, _no_flops, "movement",
       "Repeat x `repeats[i]` times along each dim i.",
       [Attr("repeats", "ints", doc="repetitions per dim")])


# -- pad -----------------------------------------------------------------------------

def _pad_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    pads = attrs["pads"]
    if len(pads) != 2 * x.rank:
        raise ShapeError(f"pad: pads {pads} must have {2 * x.rank} entries (all begins, then "
                         f"all ends) for the rank-{x.rank} input {fmt_shape(x.shape)}")
    if len(ins) > 1:
        require_same_dtype("pad (x and value)", [x, ins[1]])
        require_scalar(ins[1], "pad: value")
    if attrs["mode"] != "constant" and any(p < 0 for p in pads):
        raise ShapeError(f"pad: negative pads {pads} (cropping) need mode 'constant'")
    out: list[Dim] = []
    for i, d in enumerate(x.shape):
        b, e = pads[i], pads[x.rank + i]
        if isinstance(d, str):
            if b + e:
                static(d, f"pad: dim {i} (padded by {b}, {e})")
            out.append(d)
            continue
        if d + b + e < 0 or min(b, 0) + min(e, 0) < -d:
            raise ShapeError(f"pad: negative pads {b}, {e} remove more than the {d} elements "
                             f"of dim {i}")
        out.append(d + b + e)
    return [TensorType(tuple(out), x.dtype)]


define("tensor.pad", ["x", "value?"], _pad_infer, _no_flops, "movement",
       "Pad (or, with negative pads, crop) every dim. Modes as ONNX Pad: 'constant' fills "
       "with `value` (default 0), 'reflect' mirrors without repeating the edge, 'edge' "
       "repeats the edge, 'wrap' continues from the other side. Cropping happens first.",
       [Attr("pads", "ints", doc="[begin_0, begin_1, ..., end_0, end_1, ...]"),
        Attr("mode", "str", "constant", "how to fill the border",
             choices=("constant", "reflect", "edge", "wrap"))])


# -- depth_to_space / space_to_depth ----------------------------------------------------

def _block_infer(op: str, to_space: bool):
    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        (x,) = ins
        bs = attrs["blocksize"]
        if x.rank != 4:
            raise ShapeError(f"{op}: input must be NCHW (rank 4), got {fmt_shape(x.shape)}")
        if bs < 1:
            raise ShapeError(f"{op}: blocksize must be >= 1, got {bs}")
        n, c, h, w = x.shape
        if bs == 1:
            return [x]
        c = static(c, f"{op}: the channel dim")
        h = static(h, f"{op}: the height")
        w = static(w, f"{op}: the width")
        if to_space:
            if c % (bs * bs):
                raise ShapeError(f"{op}: channels {c} are not divisible by blocksize² "
                                 f"({bs * bs})")
            return [TensorType((n, c // (bs * bs), h * bs, w * bs), x.dtype)]
        if h % bs or w % bs:
            raise ShapeError(f"{op}: height {h} and width {w} must be divisible by the "
                             f"blocksize {bs}")
        return [TensorType((n, c * bs * bs, h // bs, w // bs), x.dtype)]
    return infer


_BLOCK_MODE = Attr("mode", "str", "DCR", "channel order of a block: 'DCR' depth-column-row "
                   "(block position major), 'CRD' column-row-depth (channel major)",
                   choices=("DCR", "CRD"))

define("tensor.depth_to_space", ["x"], _block_infer("depth_to_space", True), _no_flops,
       "movement", "Move channel blocks into blocksize x blocksize spatial tiles (NCHW).",
       [Attr("blocksize", "int", doc="the tile edge"), _BLOCK_MODE])
define("tensor.space_to_depth", ["x"], _block_infer("space_to_depth", False), _no_flops,
       "movement", "Move blocksize x blocksize spatial tiles into channels (NCHW); the "
       "inverse of depth_to_space in the same mode.",
       [Attr("blocksize", "int", doc="the tile edge"), _BLOCK_MODE])


# -- reverse_sequence --------------------------------------------------------------------

def _reverse_sequence_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, lens = ins
    b, t = attrs["batch_axis"], attrs["time_axis"]
    if x.rank < 2 or {b, t} != {0, 1}:
        raise ShapeError(f"reverse_sequence: x must have rank >= 2 and batch_axis/time_axis "
                         f"must be 0 and 1 in some order, got {fmt_shape(x.shape)}, "
                         f"batch_axis={b}, time_axis={t}")
    require_int(lens, "reverse_sequence: lens")
    if lens.rank != 1 or lens.shape[0] != x.shape[b]:
        raise ShapeError(f"reverse_sequence: lens must be 1-D with one length per batch entry "
                         f"({x.shape[b]}), got {fmt_shape(lens.shape)}")
    return [x]


define("tensor.reverse_sequence", ["x", "lens"], _reverse_sequence_infer, _no_flops,
       "movement", "Reverse the first lens[b] steps along `time_axis` of each batch entry b; "
       "the rest is copied.",
       [Attr("batch_axis", "int", 1, "the batch dim (0 or 1)"),
        Attr("time_axis", "int", 0, "the time dim (0 or 1)")])


# -- shape, size, iota: values computed from shapes ----------------------------------------

def _shape_bounds(rank: int, start: int, end: int) -> tuple[int, int]:
    """ONNX Shape's start/end: negatives count from the end, then both clamp to [0, rank]."""
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return start, max(start, end)


def _shape_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    start, end = _shape_bounds(x.rank, attrs["start"], attrs["end"])
    return [TensorType((end - start,), "i64")]


define("tensor.shape", ["x"], _shape_infer, _no_flops, "opaque",
       "x's shape as an i64 vector (dims start..end-1, with ONNX Shape's clamping); reads "
       "no data.",
       [Attr("start", "int", 0, "first dim (negative counts from the end)"),
        Attr("end", "int", 2**31 - 1, "one past the last dim (negative counts from the end)")],
       bytes=_output_bytes)

define("tensor.size", ["x"], lambda ins, attrs: [TensorType((), "i64")], _no_flops, "opaque",
       "x's number of elements as an i64 scalar; reads no data.", bytes=_output_bytes)


def _iota_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (like,) = ins
    axis = normalize_axis(attrs["axis"], like.rank, "iota: axis")
    if attrs["dtype"] == "bool":
        raise ShapeError("iota: dtype must be numeric, got bool")
    return [TensorType((like.shape[axis],), attrs["dtype"])]


define("tensor.iota", ["like"], _iota_infer, _no_flops, "opaque",
       "0, 1, ..., n-1 where n is the size of dim `axis` of `like` (an ONNX Range whose "
       "limit is a symbolic size); reads no data.",
       [Attr("axis", "int", doc="the dim of `like` that gives the length"),
        Attr("dtype", "dtype", "i64", "element type")],
       bytes=_output_bytes)


# -- resize ------------------------------------------------------------------------------

_RESIZE_COORDS = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                  "asymmetric", "tf_crop_and_resize")


def _resize_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    sizes, scales, roi = attrs["sizes"], attrs["scales"], attrs["roi"]
    if x.dtype == "bool":
        raise ShapeError("resize: x must be numeric, got bool")
    if len(sizes) != x.rank or len(scales) != x.rank:
        raise ShapeError(f"resize: sizes {sizes} and scales {scales} must have one entry per "
                         f"dim of {fmt_shape(x.shape)}")
    if roi and len(roi) != 2 * x.rank:
        raise ShapeError(f"resize: roi must be empty or have {2 * x.rank} entries, got {roi}")
    if any(s <= 0 for s in scales):
        raise ShapeError(f"resize: scales must be positive, got {scales}")
    out: list[Dim] = []
    for i, (d, size) in enumerate(zip(x.shape, sizes)):
        if size == -1:
            if scales[i] != 1.0:
                raise ShapeError(f"resize: dim {i} keeps its size (sizes -1) but its scale is "
                                 f"{scales[i]}")
            out.append(d)
        elif size < 0:
            raise ShapeError(f"resize: sizes must be >= 0 or -1 (keep), got {sizes}")
        else:
            static(d, f"resize: dim {i} (resized to {size})")
            out.append(size)
    return [TensorType(tuple(out), x.dtype)]


def _resize_flops(ins, outs, attrs) -> int:
    resized = sum(1 for s in attrs["sizes"] if s != -1)
    taps = {"nearest": 0, "linear": 2, "cubic": 4}[attrs["mode"]]
    return 2 * taps * resized * prod(outs[0].shape)


define("tensor.resize", ["x"], _resize_infer, _resize_flops, "opaque",
       "Resample to `sizes` by nearest, linear or cubic interpolation, as ONNX Resize: each "
       "result index maps to an input coordinate by `coordinate_transformation_mode` with "
       "the axis's scale, and the interpolation is separable over the dims.",
       [Attr("sizes", "shape", doc="result size per dim; -1 keeps the dim (scale 1)"),
        Attr("scales", "floats", doc="per dim, the scale the coordinate mapping uses "
                                     "(given by the model, or size / input size)"),
        Attr("roi", "floats", [], "tf_crop_and_resize's region: all starts, then all ends, "
                                  "as fractions of the input; empty = whole input"),
        Attr("mode", "str", "nearest", "interpolation", choices=("nearest", "linear", "cubic")),
        Attr("coordinate_transformation_mode", "str", "half_pixel",
             "how a result index maps to an input coordinate", choices=_RESIZE_COORDS),
        Attr("nearest_mode", "str", "round_prefer_floor", "rounding of mode 'nearest'",
             choices=("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")),
        Attr("cubic_coeff_a", "float", -0.75, "the cubic kernel's A"),
        Attr("exclude_outside", "bool", False, "give taps outside the input weight 0 and "
                                               "renormalize"),
        Attr("extrapolation_value", "float", 0.0, "tf_crop_and_resize's value outside the "
                                                  "input"),
        Attr("antialias", "bool", False, "when downsampling, widen the linear/cubic kernel "
                                         "by 1/scale (a low-pass filter)")])


# -- arithmetic of the ONNX tensor family: cumsum, einsum -----------------------------------

def _cumsum_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    if x.dtype == "bool":
        raise ShapeError("cumsum: x must be numeric, got bool")
    normalize_axis(attrs["axis"], x.rank, "cumsum: axis")
    return [x]


define("math.cumsum", ["x"], _cumsum_infer, lambda ins, outs, attrs: prod(outs[0].shape),
       "opaque", "Running sum along `axis`, in x's dtype.",
       [Attr("axis", "int", doc="the summed axis"),
        Attr("exclusive", "bool", False, "each sum leaves out its own element"),
        Attr("reverse", "bool", False, "sum from the end")])


def parse_einsum(equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """Split an einsum equation into one term per operand and the result term.

    ``...`` becomes ``*`` (one character, expanded by the caller); spaces are
    dropped; the implicit result (no ``->``) is ``*`` then the labels used
    once, in alphabetical order (numpy and ONNX agree).
    """
    eq = equation.replace(" ", "").replace("...", "*")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ShapeError(f"einsum: the equation {equation!r} has {len(terms)} operand terms, "
                         f"but {len(ranks)} operands are given")
    for term, rank in zip(terms + ([rhs] if arrow else []), ranks + [None]):
        bad = [ch for ch in term if not (ch.isalpha() or ch == "*")]
        if bad or term.count("*") > 1:
            raise ShapeError(f"einsum: bad term {term!r} in {equation!r} (labels are letters, "
                             f"with at most one '...')")
        if rank is not None and (len(term) - term.count("*") > rank or
                                 ("*" not in term and len(term) != rank)):
            raise ShapeError(f"einsum: term {term!r} of {equation!r} does not fit an operand "
                             f"of rank {rank}")
    if not arrow:
        letters = "".join(terms).replace("*", "")
        once = sorted(ch for ch in set(letters) if letters.count(ch) == 1)
        rhs = ("*" if "*" in lhs else "") + "".join(once)
    used = set("".join(terms))
    if len(set(rhs)) != len(rhs) or not set(rhs) <= used | {"*"}:
        raise ShapeError(f"einsum: the result term {rhs!r} of {equation!r} repeats a label or "
                         f"uses one no operand has")
    return terms, rhs


def _einsum_sizes(ins: list[TensorType], attrs: dict) -> tuple[dict[str, Dim], tuple, str]:
    """(label -> size, the broadcast '...' dims, result term) of an einsum."""
    terms, rhs = parse_einsum(attrs["equation"], [t.rank for t in ins])
    sizes: dict[str, Dim] = {}
    ellipses = []
    for term, t in zip(terms, ins):
        n_ell = t.rank - (len(term) - term.count("*"))
        dims = iter(t.shape)
        for ch in term:
            if ch == "*":
                ellipses.append(tuple(next(dims) for _ in range(n_ell)))
                continue
            d = next(dims)
            prev = sizes.get(ch)
            if prev is None or prev == 1:
                sizes[ch] = d
            elif d != 1 and d != prev:
                raise ShapeError(f"einsum: label {ch!r} has sizes {prev} and {d} in "
                                 f"{attrs['equation']!r} "
                                 f"({', '.join(fmt_shape(t.shape) for t in ins)})")
    try:
        ell = broadcast_shapes(*ellipses) if ellipses else ()
    except ShapeError as e:
        raise ShapeError(f"einsum: the '...' dims {e}") from None
    return sizes, ell, rhs


def _einsum_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    dtype = require_same_dtype("einsum", ins)
    sizes, ell, rhs = _einsum_sizes(ins, attrs)
    out: list[Dim] = []
    for ch in rhs:
        out.extend(ell if ch == "*" else [sizes[ch]])
    return [TensorType(tuple(out), dtype)]


def _einsum_flops(ins, outs, attrs) -> int:
    sizes, ell, _ = _einsum_sizes(ins, attrs)
    return max(1, len(ins)) * prod(sizes.values()) * prod(ell)


define("nn.einsum", ["inputs*"], _einsum_infer, _einsum_flops, "contraction",
       "Einstein summation over the operands as numpy.einsum / ONNX Einsum (labels are "
       "letters, '...' broadcasts, no '->' = the labels used once, sorted).",
       [Attr("equation", "str", doc="e.g. 'bij,bjk->bik'")])
