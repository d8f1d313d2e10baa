"""Kernels of the small linear-algebra and running-product ops: math.cumprod, math.det."""
from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("math.cumprod")
def cumprod(x, *, axis, exclusive=False, reverse=False):
    axis %= x.ndim
    data = np.flip(x, axis) if reverse else x
    if exclusive:  # shift right by one, the first product being 1 (no division: exact)
        ones = np.ones_like(np.take(data, [0], axis=axis))
        data = np.concatenate([ones, np.take(data, np.arange(x.shape[axis] - 1), axis=axis)],
                              axis=axis)
    out = np.cumprod(data, axis=axis, dtype=x.dtype)
    return np.flip(out, axis) if reverse else out


@kernel("math.det")
def det(x):
    work = np.float32 if x.dtype == np.float16 else x.dtype
    return np.linalg.det(x.astype(work, copy=False)).astype(x.dtype)
