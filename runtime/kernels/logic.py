"""Dense kernels of the `logic` family (numpy): comparisons, boolean logic, where, isnan/isinf."""
from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("logic.equal")
def equal(a, b):
    return np.equal(a, b)


@kernel("logic.less")
def less(a, b):
    return np.less(a, b)


@kernel("logic.less_equal")
def less_equal(a, b):
    return np.less_equal(a, b)


@kernel("logic.greater")
def greater(a, b):
    return np.greater(a, b)


@kernel("logic.greater_equal")
def greater_equal(a, b):
    return np.greater_equal(a, b)


@kernel("logic.and")
def and_(a, b):
    return np.logical_and(a, b)


@kernel("logic.or")
def or_(a, b):
    return np.logical_or(a, b)


@kernel("logic.xor")
def xor(a, b):
    return np.logical_xor(a, b)


@kernel("logic.not")
def not_(x):
    return np.logical_not(x)


@kernel("logic.isnan")
def isnan(x):
    return np.isnan(x)


@kernel("logic.isinf")
def isinf(x, *, detect_positive, detect_negative):
    if detect_positive and detect_negative:
        return np.isinf(x)
    if detect_positive:
        return np.isposinf(x)
    if detect_negative:
        return np.isneginf(x)
    return np.zeros(x.shape, dtype=bool)


@kernel("logic.where")
def where(cond, x, y):
    return np.where(cond, x, y)
