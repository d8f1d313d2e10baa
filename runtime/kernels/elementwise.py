"""Dense elementwise kernels (numpy): arithmetic, transcendental, bitwise, cast, activations.

Each kernel returns the dtype the op's shape inference promises (the
operand's, for all but `math.cast`); where numpy would promote (scipy's erf on
f16, an integer shrunk by a float bias) the result is cast back. f16 is
computed in f32 where a composite formula would lose too much. Edge values
that ONNX defines (division by zero in `mod`, shifts by the bit width or more,
negative integer exponents) are handled explicitly, without warnings.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import erf as _erf

from ..dtypes import DTYPES
from .registry import kernel


def _like(x: np.ndarray, y) -> np.ndarray:
    """`y` as an array of x's dtype."""
    return np.asarray(y).astype(x.dtype, copy=False)


def _wide(x: np.ndarray) -> np.ndarray:
    """The array in a dtype fit for composite formulas (f16 -> f32)."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


# -- arithmetic -----------------------------------------------------------------

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
        # C/ONNX semantics: truncate toward zero. numpy's // floors, so step the
        # inexact quotients of opposite-sign operands back up by one. Staying in
        # integers keeps int64 exact (a float detour would round above 2**53).
        with np.errstate(divide="ignore"):
            q = np.floor_divide(a, b)
            r = np.remainder(a, b)
        fix = (r != 0) & ((a < 0) != (b < 0))
        return (q + fix).astype(a.dtype, copy=False)
    return np.divide(a, b)


@kernel("math.max")
def maximum(a, b):
    return np.maximum(a, b)


@kernel("math.min")
def minimum(a, b):
    return np.minimum(a, b)


@kernel("math.mod")
def mod(a, b, *, fmod):
    # A zero divisor gives NaN for floats and 0 for integers, silently.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.fmod(a, b) if fmod else np.mod(a, b)


@kernel("math.pow")
def pow_(a, b):
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and np.any(b < 0):
        # numpy refuses negative integer powers of integers. 1 / a**|b| truncates
        # to 0 except for a = 1 (1) and a = -1 (+-1 by the parity of b).
        neg = b < 0
        safe = np.power(a, np.where(neg, 0, b).astype(b.dtype, copy=False))
        odd = (b % 2) != 0
        small = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0))
        return np.where(neg, small, safe).astype(a.dtype, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        return _like(a, np.power(a, b))


@kernel("math.neg")
def neg(x):
    return np.negative(x)


@kernel("math.abs")
def abs_(x):
    return np.abs(x)


@kernel("math.sign")
def sign(x):
    return np.sign(x)


@kernel("math.reciprocal")
def reciprocal(x):
    with np.errstate(divide="ignore"):
        return np.reciprocal(x)


@kernel("math.ceil")
def ceil(x):
    return np.ceil(x)


@kernel("math.floor")
def floor(x):
    return np.floor(x)


@kernel("math.round")
def round_(x):
    return np.round(x)  # numpy rounds halves to even, as ONNX asks


def _int_bound(dtype: np.dtype, bound: float, up: bool):
    """A float bound as an integer of `dtype`, rounded inward and clamped to the range."""
    info = np.iinfo(dtype)
    if bound <= info.min:
        return dtype.type(info.min)
    if bound >= info.max:
        return dtype.type(info.max)
    return dtype.type(math.ceil(bound) if up else math.floor(bound))


@kernel("math.clip")
def clip(x, *, min, max):  # noqa: A002 - the attribute names of the op
    if x.dtype.kind in "iu":
        lo, hi = _int_bound(x.dtype, min, True), _int_bound(x.dtype, max, False)
    else:
        with np.errstate(over="ignore"):  # a bound past the f16 range is an infinity
            lo, hi = x.dtype.type(min), x.dtype.type(max)
    # max wins where min > max (ONNX); NaN propagates.
    return np.minimum(np.maximum(x, lo), hi)


# -- transcendental -------------------------------------------------------------

@kernel("math.exp")
def exp(x):
    return np.exp(x)


@kernel("math.log")
def log(x):
    return np.log(x)


@kernel("math.sqrt")
def sqrt(x):
    return np.sqrt(x)


@kernel("math.erf")
def erf(x):
    return _like(x, _erf(x))


def _ufunc_kernel(name: str, fn) -> None:
    """Register a kernel that is one numpy ufunc, NaN for arguments out of its domain."""
    def run(x):
        with np.errstate(invalid="ignore", divide="ignore"):
            return fn(x)
    run.__name__ = name.split(".")[1]
    run.__doc__ = f"numpy.{fn.__name__}"
    kernel(name)(run)


for _name, _fn in [("math.sin", np.sin), ("math.cos", np.cos), ("math.tan", np.tan),
                   ("math.asin", np.arcsin), ("math.acos", np.arccos),
                   ("math.atan", np.arctan), ("math.sinh", np.sinh),
                   ("math.cosh", np.cosh), ("math.asinh", np.arcsinh),
                   ("math.acosh", np.arccosh), ("math.atanh", np.arctanh)]:
    _ufunc_kernel(_name, _fn)


@kernel("math.tanh")
def tanh(x):
    return np.tanh(x)


# -- bitwise --------------------------------------------------------------------

@kernel("math.bitwise_and")
def bitwise_and(a, b):
    return np.bitwise_and(a, b)


@kernel("math.bitwise_or")
def bitwise_or(a, b):
    return np.bitwise_or(a, b)


@kernel("math.bitwise_xor")
def bitwise_xor(a, b):
    return np.bitwise_xor(a, b)


@kernel("math.bitwise_not")
def bitwise_not(x):
    return np.invert(x)


@kernel("math.bit_shift")
def bit_shift(a, b, *, direction):
    # C leaves shifts by the bit width or more (and negative ones) undefined;
    # ONNX defines them as what the sign fill alone gives.
    valid = (b >= 0) & (b < a.dtype.itemsize * 8)
    amount = np.where(valid, b, 0).astype(a.dtype, copy=False)
    zero = a.dtype.type(0)
    if direction == "left":
        shifted, fill = np.left_shift(a, amount), zero
    else:
        shifted = np.right_shift(a, amount)  # arithmetic for signed dtypes
        fill = np.where(a < zero, a.dtype.type(-1), zero) if a.dtype.kind == "i" else zero
    return _like(a, np.where(valid, shifted, fill))


# -- conversion -----------------------------------------------------------------

@kernel("math.cast")
def cast(x, *, to):
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(DTYPES[to])


# -- activations ----------------------------------------------------------------

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


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@kernel("nn.gelu")
def gelu(x, *, approximate):
    # f16 has too little range for the cube of the tanh form: compute in f32.
    xf = _wide(x)
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (xf + 0.044715 * xf * xf * xf)
        y = 0.5 * xf * (1.0 + np.tanh(inner))
    elif xf.dtype in (np.float32, np.float64):
        from .dense_numba import gelu_inplace     # compiled, vectorized (f32) erf
        y = np.array(xf, order="C", copy=True)
        gelu_inplace(y)
    else:
        y = 0.5 * xf * (1.0 + _erf(xf * (1.0 / math.sqrt(2.0))))
    return _like(x, y)


@kernel("nn.leaky_relu")
def leaky_relu(x, *, alpha):
    return np.where(x >= 0, x, x * alpha)


def _expm1_neg(x: np.ndarray) -> np.ndarray:
    """exp(x) - 1 on the negative part only (no overflow on large positive x)."""
    return np.expm1(np.minimum(x, x.dtype.type(0)))


@kernel("nn.elu")
def elu(x, *, alpha):
    return np.where(x > 0, x, alpha * _expm1_neg(x))


@kernel("nn.selu")
def selu(x, *, alpha, gamma):
    return _like(x, gamma * np.where(x > 0, x, alpha * _expm1_neg(x)))


@kernel("nn.hard_sigmoid")
def hard_sigmoid(x, *, alpha, beta):
    return np.minimum(np.maximum(alpha * x + beta, 0), 1).astype(x.dtype, copy=False)


@kernel("nn.hard_swish")
def hard_swish(x):
    return x * hard_sigmoid(x, alpha=1 / 6, beta=0.5)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x.dtype.type(0), x)  # log(exp(0) + exp(x)), stable


@kernel("nn.softplus")
def softplus(x):
    return _like(x, _softplus(_wide(x)))


@kernel("nn.softsign")
def softsign(x):
    return x / (1 + np.abs(x))


@kernel("nn.mish")
def mish(x):
    xf = _wide(x)
    return _like(x, xf * np.tanh(_softplus(xf)))


@kernel("nn.swish")
def swish(x, *, alpha):
    xf = _wide(x)
    return _like(x, xf * sigmoid(xf * alpha))


@kernel("nn.thresholded_relu")
def thresholded_relu(x, *, alpha):
    return np.where(x > alpha, x, x.dtype.type(0))


@kernel("nn.shrink")
def shrink(x, *, bias, lambd):
    y = np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))
    return _like(x, y)


@kernel("nn.prelu")
def prelu(x, slope):
    return np.where(x < 0, x * slope, x)
