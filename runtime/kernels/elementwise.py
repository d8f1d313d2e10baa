"""Dense elementwise kernels (numpy)."""
from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("math.add")
def add(a, b):
    return np.add(a, b)


@kernel("math.sub")
def sub(a, b):
    return np.subtract(a, b)


@kernel("math.mul")
def mul(a, b):
    return np.multiply(a, b)


@kernel("math.div")
def div(a, b):
    if np.issubdtype(a.dtype, np.integer):
        # C/ONNX semantics: truncate toward zero (numpy's // floors).
        return (np.trunc(a / b)).astype(a.dtype)
    return np.divide(a, b)


@kernel("math.pow")
def pow_(a, b):
    return np.power(a, b).astype(a.dtype, copy=False)


@kernel("math.neg")
def neg(x):
    return np.negative(x)


@kernel("math.exp")
def exp(x):
    return np.exp(x)


@kernel("math.log")
def log(x):
    return np.log(x)


@kernel("math.sqrt")
def sqrt(x):
    return np.sqrt(x)


@kernel("math.tanh")
def tanh(x):
    return np.tanh(x)


@kernel("nn.relu")
def relu(x):
    return np.maximum(x, x.dtype.type(0))


@kernel("nn.sigmoid")
def sigmoid(x):
    # Split by sign so exp never overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out
