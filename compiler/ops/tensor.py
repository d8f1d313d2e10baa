"""Data-movement ops: reshape, transpose, concat, slice, flatten. No arithmetic."""
from __future__ import annotations

from math import prod

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define


def _reshape_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    target = list(attrs["shape"])
    if target.count(-1) > 1:
        raise ShapeError("reshape: at most one dim may be -1")
    # 0 copies the input dim at the same position (ONNX convention).
    out: list = []
    for i, d in enumerate(target):
        if d == 0:
            if i >= x.rank:
                raise ShapeError(f"reshape: dim {i} is 0 but the input has rank {x.rank}")
            out.append(x.shape[i])
        elif d < -1:
            raise ShapeError(f"reshape: invalid dim {d}")
        else:
            out.append(d)
    # Symbolic dims must pass through unchanged; cancel the ones kept on both sides.
    in_syms = [d for d in x.shape if isinstance(d, str)]
    out_syms = [d for d in out if isinstance(d, str)]
    leftover = list(in_syms)
    for s in out_syms:
        if s in leftover:
            leftover.remove(s)
        else:
            raise ShapeError(f"reshape: symbolic dim {s!r} does not appear in the input")
    known_in = prod(d for d in x.shape if isinstance(d, int))
    known_out = prod(d for d in out if isinstance(d, int) and d != -1)
    if -1 in out:
        if len(leftover) > 1:
            raise ShapeError(f"reshape: cannot infer -1 from several symbolic dims {leftover}")
        if known_out == 0 or known_in % known_out:
            raise ShapeError(f"reshape: cannot reshape [{', '.join(map(str, x.shape))}] "
                             f"into {target}")
        rest = known_in // known_out
        if leftover:
            if rest != 1:
                raise ShapeError(f"reshape: -1 would be {leftover[0]}*{rest}, "
                                 f"which is not a single symbolic dim (fix it with --input-shape)")
            out[out.index(-1)] = leftover[0]
        else:
            out[out.index(-1)] = rest
    elif leftover or known_in != known_out:
        raise ShapeError(f"reshape: cannot reshape [{', '.join(map(str, x.shape))}] "
                         f"into [{', '.join(map(str, out))}] (element counts differ)")
    return [TensorType(tuple(out), x.dtype)]


define("tensor.reshape", ["x"], _reshape_infer, lambda ins, outs, attrs: 0, "movement",
       "Reshape to `shape`; one dim may be -1 (inferred), 0 copies the input dim.",
       [Attr("shape", "shape", doc="target shape")])
