"""Quantization ops: linear (affine) quantization to integers and back.

    quant.quantize:    q = saturate(round_half_even(x / scale) + zero_point)   (float -> int)
    quant.dequantize:  y = (q - zero_point) * scale                            (int -> float)

`scale` (float) and the optional `zero_point` (the integer type; 0 if absent)
share one of three layouts relative to x:

- per tensor: a scalar (or a one-element vector);
- per axis: a vector [x.shape[axis]];
- blocked (`block_size` > 0): x's rank, with dim `axis` of size
  ceil(x.shape[axis] / block_size) (each entry covers `block_size`
  consecutive elements along `axis`, the last block possibly shorter) and
  every other dim equal to x's.

`quantize` rounds half to even and saturates to the result type's range.
The integer types are i8, u8, i16, u16, i32 and u32 (ONNX's float8/int4/int2
types have no wsc dtype).
"""
from __future__ import annotations

from math import prod

from ..ir.types import FLOAT_DTYPES, TensorType
from .registry import Attr, ShapeError, define
from .shapes import fmt_shape, normalize_axis, require_float

QUANT_DTYPES = ("i8", "u8", "i16", "u16", "i32", "u32")


def _check_params(op: str, x: TensorType, scale: TensorType, zero_point: TensorType | None,
                  attrs: dict) -> None:
    """Check that scale and zero point have one of the layouts above."""
    require_float(scale, f"{op}: scale")
    block = attrs["block_size"]
    if block < 0:
        raise ShapeError(f"{op}: block_size must be >= 0 (0: per tensor or per axis), got {block}")
    per_tensor = scale.rank == 0 or (scale.rank == 1 and scale.shape[0] == 1 and not block)
    if not per_tensor:
        axis = normalize_axis(attrs["axis"], x.rank, f"{op}: axis")
        if block == 0:
            if scale.rank != 1 or scale.shape[0] != x.shape[axis]:
                raise ShapeError(f"{op}: scale {fmt_shape(scale.shape)} must be a scalar or, per "
                                 f"axis {axis}, [{x.shape[axis]}] for x {fmt_shape(x.shape)} (or "
                                 f"give block_size for blocked quantization)")
        else:
            size = x.shape[axis]
            blocks = -(-size // block) if isinstance(size, int) else None
            want = tuple(blocks if i == axis else d for i, d in enumerate(x.shape))
            if scale.shape != want:
                raise ShapeError(f"{op}: blocked scale {fmt_shape(scale.shape)} must be "
                                 f"{fmt_shape(want)} for x {fmt_shape(x.shape)} with "
                                 f"block_size={block} along axis {axis}")
    zp_per_tensor = zero_point is not None and (
        zero_point.rank == 0 or (zero_point.rank == 1 and zero_point.shape[0] == 1))
    if zero_point is not None and zero_point.shape != scale.shape and not (
            per_tensor and zp_per_tensor):
        raise ShapeError(f"{op}: zero_point {fmt_shape(zero_point.shape)} must have the shape of "
                         f"scale {fmt_shape(scale.shape)}")


_AXIS = Attr("axis", "int", 1, "the axis of a per-axis or blocked scale")
_BLOCK = Attr("block_size", "int", 0,
              "elements along `axis` sharing one scale (blocked quantization); 0: per tensor or "
              "per axis, as the scale's shape says")


def _quantize_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, scale = ins[:2]
    zp = ins[2] if len(ins) > 2 else None
    require_float(x, "quantize: x")
    to = attrs["to"]
    if to not in QUANT_DTYPES:
        raise ShapeError(f"quantize: the result type must be one of {', '.join(QUANT_DTYPES)}, "
                         f"got {to}")
    if zp is not None and zp.dtype != to:
        raise ShapeError(f"quantize: zero_point has dtype {zp.dtype}, the result is {to} (they "
                         f"must match)")
    _check_params("quantize", x, scale, zp, attrs)
    return [TensorType(x.shape, to)]


# "opaque", not "elementwise": a per-axis or blocked scale does not broadcast numpy-style
# (from the right), so an elementwise fuser must not chain these.
define("quant.quantize", ["x", "scale", "zero_point?"], _quantize_infer,
       lambda ins, outs, attrs: 3 * prod(ins[0].shape), "opaque",
       "Linear quantization saturate(round_half_even(x / scale) + zero_point) of float x to "
       "the integer type `to`, with a per-tensor, per-axis or blocked scale (see "
       "compiler/ops/quant.py).",
       [Attr("to", "dtype", doc="the integer result type (i8, u8, i16, u16, i32, u32)"),
        _AXIS, _BLOCK])


def _dequantize_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, scale = ins[:2]
    zp = ins[2] if len(ins) > 2 else None
    if x.dtype not in QUANT_DTYPES:
        raise ShapeError(f"dequantize: x must be one of {', '.join(QUANT_DTYPES)}, got {x.dtype}")
    if zp is not None and zp.dtype != x.dtype:
        raise ShapeError(f"dequantize: zero_point has dtype {zp.dtype}, x has {x.dtype} (they "
                         f"must match)")
    _check_params("dequantize", x, scale, zp, attrs)
    to = attrs["to"] or scale.dtype
    if to not in FLOAT_DTYPES:
        raise ShapeError(f"dequantize: the result type must be floating-point, got {to}")
    return [TensorType(x.shape, to)]


define("quant.dequantize", ["x", "scale", "zero_point?"], _dequantize_infer,
       lambda ins, outs, attrs: 2 * prod(ins[0].shape), "opaque",
       "Linear dequantization (x - zero_point) * scale of integer x, with a per-tensor, "
       "per-axis or blocked scale (see compiler/ops/quant.py); the result has the scale's "
       "dtype unless `to` says otherwise.",
       [_AXIS, _BLOCK,
        Attr("to", "str", "", "the float result type (f16, f32, f64); empty: the scale's dtype",
             choices=("", "f16", "f32", "f64"))])
