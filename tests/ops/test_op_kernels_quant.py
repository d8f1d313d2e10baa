"""Kernels of quant.quantize and quant.dequantize against numpy references written here.

Same contract as `tests/ops/test_op_kernels.py` (whose `Case` shape and
helpers this file reuses). The references walk x element by element: they
find the element's scale and zero point by index (per tensor, per axis, or
blocked: index // block_size along the axis), round half to even with
Python's `round` and saturate with `min`/`max`.
"""
from __future__ import annotations

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from test_op_kernels import F32, F64, case, params, randint, randn, run_case, within

_RANGE = {np.int8: (-128, 127), np.uint8: (0, 255), np.int16: (-32768, 32767),
          np.uint16: (0, 65535), np.int32: (-2**31, 2**31 - 1)}


def _param_at(p, idx, axis, block):
    if p is None:
        return 0
    if p.ndim == 0 or (p.size == 1 and not block):
        return p.reshape(-1)[0]
    if not block:
        return p[idx[axis]]
    at = list(idx)
    at[axis] //= block
    return p[tuple(at)]


def quantize_ref(out_dtype, axis=1, block=0):
    lo, hi = _RANGE[out_dtype]

    def ref(x, scale, zp=None):
        out = np.zeros(x.shape, dtype=out_dtype)
        for idx in np.ndindex(*x.shape):
            s = float(_param_at(scale, idx, axis % x.ndim, block))
            z = int(_param_at(zp, idx, axis % x.ndim, block))
            # the division in x's precision, as the op's kernel and ONNX do
            v = round(float(np.float32(x[idx]) / np.float32(s))) + z
            out[idx] = min(hi, max(lo, v))
        return out
    return ref


def dequantize_ref(axis=1, block=0):
    def ref(x, scale, zp=None):
        out = np.zeros(x.shape)
        for idx in np.ndindex(*x.shape):
            s = float(_param_at(scale, idx, axis % x.ndim, block))
            z = int(_param_at(zp, idx, axis % x.ndim, block))
            out[idx] = (int(x[idx]) - z) * s
        return out
    return ref


_x = randn(2, 3, 4) * 40
_halves = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 300.0, -300.0, 7.49], dtype=F32)
_s3 = np.array([0.5, 2.0, 0.25], dtype=F32)
_zp3 = np.array([10, 128, 250], dtype=np.uint8)
_sblk = (np.abs(randn(2, 3, 2)) + 0.1).astype(F32)   # blocks of 3 along axis 2 (size 4)
_zblk = randint(-5, 5, 2, 3, 2, dtype=np.int8)

CASES = {
    "quant.quantize": [
        case("per_tensor_u8_halves_even", [_halves, np.array(1.0, F32), np.array(0, np.uint8)],
             quantize_ref(np.uint8), to="u8"),
        case("per_tensor_i8_no_zp", [_x, np.array(0.5, F32)], quantize_ref(np.int8), to="i8"),
        case("per_axis_u8", [_x, _s3, _zp3], quantize_ref(np.uint8), to="u8"),
        case("blocked_i8_uneven", [_x, _sblk, _zblk], quantize_ref(np.int8, 2, 3),
             to="i8", axis=2, block_size=3),
        case("i16_negative_axis", [_x, _s3.astype(F32)], quantize_ref(np.int16, -2),
             to="i16", axis=-2),
    ],
    "quant.dequantize": [
        case("per_tensor_u8", [randint(0, 256, 2, 3, 4, dtype=np.uint8), np.array(0.1, F32),
                               np.array(128, np.uint8)], dequantize_ref()),
        case("per_axis_i8", [randint(-128, 128, 2, 3, 4, dtype=np.int8), _s3,
                             np.array([1, -2, 3], np.int8)], dequantize_ref()),
        case("blocked_i8", [randint(-128, 128, 2, 3, 4, dtype=np.int8), _sblk, _zblk],
             dequantize_ref(2, 3), axis=2, block_size=3),
        case("i32_bias_f64", [randint(-10**6, 10**6, 5, dtype=np.int32),
                              np.array(1e-3, F64)], dequantize_ref()),
        case("to_f16", [randint(0, 256, 6, dtype=np.uint8), np.array([0.5], F32)],
             dequantize_ref(), to="f16"),
    ],
}


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c, within(rtol=1e-3, atol=0.0, dtypes=(np.dtype(np.float16),)))


@pytest.mark.parametrize("scale_shape,attrs,match", [
    ((4,), {}, "per axis 1"),
    ((2, 3, 3), {"axis": 2, "block_size": 3}, "blocked scale"),
    ((), {"block_size": -1}, "block_size must be >= 0"),
])
def test_quantize_rejects_bad_scale_layouts(scale_shape, attrs, match) -> None:
    from compiler.errors import TypeCheckError
    ins = [TensorType((2, 3, 4), "f32"), TensorType(scale_shape, "f32")]
    with pytest.raises(TypeCheckError, match=match):
        infer_types("quant.quantize", ins, {"to": "u8", **attrs})


def test_quantize_needs_an_integer_type_matching_the_zero_point() -> None:
    from compiler.errors import TypeCheckError
    x, s = TensorType((3,), "f32"), TensorType((), "f32")
    with pytest.raises(TypeCheckError, match="must be one of"):
        infer_types("quant.quantize", [x, s], {"to": "f32"})
    with pytest.raises(TypeCheckError, match="zero_point has dtype i8"):
        infer_types("quant.quantize", [x, s, TensorType((), "i8")], {"to": "u8"})
