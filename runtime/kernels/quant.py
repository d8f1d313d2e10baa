"""Quantization kernels (numpy): quant.quantize, quant.dequantize.

Semantics and the scale layouts are in `compiler/ops/quant.py`. A scale (and
zero point) is first laid out to broadcast against x: kept as is per tensor,
reshaped to [1, .., C, .., 1] per axis, repeated `block_size` times along the
axis (and cut to x's size) when blocked.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _layout(p: np.ndarray, shape, axis: int, block_size: int) -> np.ndarray:
    """`p` (a scale or zero point) broadcastable against a tensor of `shape`."""
    if p.ndim == 0 or (p.size == 1 and not block_size):
        return p.reshape(())
    axis %= len(shape)
    if not block_size:
        dims = [1] * len(shape)
        dims[axis] = p.size
        return p.reshape(dims)
    return np.repeat(p, block_size, axis=axis).take(np.arange(shape[axis]), axis=axis)


@kernel("quant.quantize")
def quantize(x, scale, zero_point=None, *, to, axis=1, block_size=0):
    out = np.dtype({"i8": np.int8, "u8": np.uint8, "i16": np.int16, "u16": np.uint16,
                    "i32": np.int32, "u32": np.uint32}[to])
    work = np.result_type(x.dtype, scale.dtype, np.float32)
    q = np.rint(x.astype(work, copy=False) / _layout(scale, x.shape, axis, block_size)
                .astype(work, copy=False)).astype(np.float64)
    if zero_point is not None:
        q = q + _layout(zero_point, x.shape, axis, block_size).astype(np.float64)
    info = np.iinfo(out)
    return np.clip(q, info.min, info.max).astype(out)


@kernel("quant.dequantize")
def dequantize(x, scale, zero_point=None, *, axis=1, block_size=0, to=""):
    work = np.float64 if x.dtype.itemsize >= 4 else np.float32
    d = x.astype(work)
    if zero_point is not None:
        d = d - _layout(zero_point, x.shape, axis, block_size).astype(work)
    y = d * _layout(scale, x.shape, axis, block_size)
    return y.astype(to and {"f16": np.float16, "f32": np.float32, "f64": np.float64}[to]
                    or scale.dtype)
