"""Reduction kernels (numpy). Results keep the input dtype (f16 accumulates in f32).

A reduction over zero elements gives the operation's identity (numpy's
`initial`), so an axis of size 0 never raises.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _axes(axes):
    return tuple(axes) if axes else None


def _acc(x: np.ndarray):
    """The accumulation dtype for sums: f32 for f16, numpy's default otherwise."""
    return np.float32 if x.dtype == np.float16 else None


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _extreme(dtype: np.dtype, largest: bool):
    """The identity of min (largest=True) or max (largest=False) for `dtype`."""
    if dtype == np.bool_:
        return largest
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.max if largest else info.min
    return np.inf if largest else -np.inf


@kernel("math.reduce_sum")
def reduce_sum(x, *, axes, keepdims):
    return np.sum(x, axis=_axes(axes), keepdims=keepdims, dtype=_acc(x)).astype(x.dtype,
                                                                                copy=False)


@kernel("math.reduce_mean")
def reduce_mean(x, *, axes, keepdims):
    return np.mean(x, axis=_axes(axes), keepdims=keepdims, dtype=_acc(x)).astype(x.dtype,
                                                                                 copy=False)


@kernel("math.reduce_max")
def reduce_max(x, *, axes, keepdims):
    return np.max(x, axis=_axes(axes), keepdims=keepdims, initial=_extreme(x.dtype, False))


@kernel("math.reduce_min")
def reduce_min(x, *, axes, keepdims):
    return np.min(x, axis=_axes(axes), keepdims=keepdims, initial=_extreme(x.dtype, True))


@kernel("math.reduce_prod")
def reduce_prod(x, *, axes, keepdims):
    return np.prod(x, axis=_axes(axes), keepdims=keepdims, dtype=_acc(x)).astype(x.dtype,
                                                                                 copy=False)


@kernel("math.reduce_sum_square")
def reduce_sum_square(x, *, axes, keepdims):
    xw = _wide(x)
    return np.sum(xw * xw, axis=_axes(axes), keepdims=keepdims).astype(x.dtype, copy=False)


@kernel("math.reduce_l1")
def reduce_l1(x, *, axes, keepdims):
    return np.sum(np.abs(_wide(x)), axis=_axes(axes), keepdims=keepdims).astype(x.dtype,
                                                                                copy=False)


@kernel("math.reduce_l2")
def reduce_l2(x, *, axes, keepdims):
    xw = _wide(x) if x.dtype.kind == "f" else x.astype(np.float64)
    return np.sqrt(np.sum(xw * xw, axis=_axes(axes), keepdims=keepdims)).astype(x.dtype,
                                                                                copy=False)


@kernel("math.reduce_log_sum")
def reduce_log_sum(x, *, axes, keepdims):
    with np.errstate(divide="ignore"):  # log(0) = -inf is the answer for an empty sum
        return np.log(np.sum(_wide(x), axis=_axes(axes), keepdims=keepdims)).astype(
            x.dtype, copy=False)


@kernel("math.reduce_log_sum_exp")
def reduce_log_sum_exp(x, *, axes, keepdims):
    xw = _wide(x)
    if xw.size == 0:
        with np.errstate(divide="ignore"):
            return np.log(np.sum(xw, axis=_axes(axes), keepdims=keepdims)).astype(x.dtype)
    peak = np.max(xw, axis=_axes(axes), keepdims=True)
    # An all -inf (or +inf) slice has no finite peak to subtract: use 0 there.
    peak = np.where(np.isfinite(peak), peak, 0)
    summed = np.sum(np.exp(xw - peak), axis=_axes(axes), keepdims=True)
    with np.errstate(divide="ignore"):
        out = np.log(summed) + peak
    if not keepdims:
        out = np.squeeze(out, axis=_axes(axes))  # None: every axis was reduced
    return out.astype(x.dtype, copy=False)
