"""Neural-network ops: contractions (matmul, conv), pooling, normalizations, softmax."""
from __future__ import annotations

from math import prod

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define
from .shapes import broadcast_shapes


def _matmul_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    a, b = ins
    if a.dtype != b.dtype:
        raise ShapeError(f"operand dtypes differ: {a.dtype} and {b.dtype}")
    if a.rank == 0 or b.rank == 0:
        raise ShapeError("matmul operands must have rank >= 1")
    # numpy semantics: 1-D operands are promoted and the promoted dim dropped again.
    sa = (1,) + a.shape if a.rank == 1 else a.shape
    sb = b.shape + (1,) if b.rank == 1 else b.shape
    k1, k2 = sa[-1], sb[-2]
    if k1 != k2:
        raise ShapeError(f"matmul contraction dims differ: [{', '.join(map(str, a.shape))}] @ "
                         f"[{', '.join(map(str, b.shape))}] ({k1} vs {k2})")
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    out = batch + (sa[-2], sb[-1])
    if a.rank == 1:
        out = out[:-2] + out[-1:]
    if b.rank == 1:
        out = out[:-1]
    return [TensorType(out, a.dtype)]


def _matmul_flops(ins, outs, attrs) -> int:
    a = ins[0]
    return 2 * prod(outs[0].shape) * a.shape[-1]


define("nn.matmul", ["a", "b"], _matmul_infer, _matmul_flops, "contraction",
       "Matrix product with numpy semantics (batch dims broadcast, 1-D operands promoted).")
