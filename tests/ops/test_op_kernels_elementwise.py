"""Elementwise, logic and cast kernels against references computed one element at a time.

`CASES` (merged by `tests/ops/test_registry.py`) covers every op that the
elementwise and logic families added beyond the first few in
`test_op_kernels.py`; `EXTRA_CASES` adds dtype and edge cases for those first
few (their `CASES` entries live in that file). References apply Python's
`math` functions and Python ints to each element of the broadcast inputs, so
they share no code path with the numpy kernels.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from test_op_kernels import (F32, F64, Case, assert_matches, case, params, randint, randn,
                             run_case, uniform)

from compiler.errors import TypeCheckError
from compiler.ir.builder import infer_types
from compiler.ir.types import DTYPES, TensorType
from compiler.ops import OPS
from runtime.kernels import KERNELS

F16 = np.float16
NAN, INF = math.nan, math.inf


def each(fn, dtype=F64):
    """Reference: `fn` on Python scalars of every position of the broadcast inputs."""
    def ref(*xs):
        arrays = np.broadcast_arrays(*xs)
        columns = [a.ravel().tolist() for a in arrays]
        out = [fn(*vals) for vals in zip(*columns)]
        return np.array(out, dtype=dtype).reshape(arrays[0].shape)
    return ref


def wrap(v: int, dtype) -> int:
    """A Python int wrapped into the range of an integer dtype (two's complement)."""
    bits = np.dtype(dtype).itemsize * 8
    v &= (1 << bits) - 1
    if np.dtype(dtype).kind == "i" and v >= 1 << (bits - 1):
        v -= 1 << bits
    return v


def trunc_div(x: int, y: int) -> int:
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


def py_mod(x, y):
    """Python's %: the divisor's sign; NaN for a zero float divisor, 0 for an integer one."""
    if y == 0:
        return NAN if isinstance(x, float) else 0
    if isinstance(x, float) and math.isinf(y) and math.isfinite(x):
        return x if x == 0 or (x < 0) == (y < 0) else y
    return x % y if math.isfinite(x) else NAN


def c_fmod(x, y):
    if y == 0:
        return NAN if isinstance(x, float) else 0
    if isinstance(x, float):
        return math.fmod(x, y) if math.isfinite(x) else NAN
    return x - trunc_div(x, y) * y


def softplus_ref(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def shift_ref(direction: str, dtype):
    bits = np.dtype(dtype).itemsize * 8

    def one(x: int, s: int) -> int:
        if s < 0 or s >= bits:
            return -1 if direction == "right" and x < 0 else 0
        return wrap(x << s, dtype) if direction == "left" else x >> s
    return one


def isinf_ref(pos: bool, neg: bool):
    return each(lambda v: math.isinf(v) and ((v > 0 and pos) or (v < 0 and neg)), bool)


_i8 = np.array([-100, -7, -1, 0, 1, 5, 127], np.int8)
_u8 = np.array([0, 1, 7, 128, 200, 255], np.uint8)
_with_specials = np.array([-INF, -2.5, -0.5, 0.0, 0.5, 1.5, 2.5, INF, NAN], F32)
_SELU_ALPHA, _SELU_GAMMA = 1.6732632423543772, 1.0507009873554805

CASES: dict[str, list[Case]] = {
    # -- arithmetic ------------------------------------------------------------------
    "math.max": [
        case("broadcast", [randn(3, 1), randn(4)], each(max)),
        case("nan-propagates", [np.array([NAN, 1, 2], F32), np.array([0, NAN, 1], F32)],
             each(lambda a, b: a if a != a else (b if b != b else max(a, b)))),
        case("uint8", [_u8, _u8[::-1].copy()], each(max, np.uint8)),
        case("int64-extremes", [np.array([2**62, -2**63], np.int64),
                                np.array([2**62 + 1, -2**63 + 1], np.int64)],
             each(max, np.int64)),
    ],
    "math.min": [
        case("broadcast", [randn(2, 3), randn(1, 3)], each(min)),
        case("nan-propagates", [np.array([NAN, 1], F64), np.array([0, NAN], F64)],
             each(lambda a, b: NAN)),
        case("int8", [_i8, _i8[::-1].copy()], each(min, np.int8)),
    ],
    "math.mod": [
        case("int-sign-of-divisor", [np.array([7, -7, 7, -7, 0, 5], np.int32),
                                     np.array([3, 3, -3, -3, 4, 0], np.int32)],
             each(py_mod, np.int32)),
        case("int-fmod-sign-of-dividend", [np.array([7, -7, 7, -7, 5], np.int64),
                                           np.array([3, 3, -3, -3, 0], np.int64)],
             each(c_fmod, np.int64), fmod=True),
        case("float-edges", [np.array([5.5, -5.5, 0.0, -3, 3, INF, 1, NAN], F64),
                             np.array([2, 2, -2, INF, -INF, 2, 0, 2], F64)],
             each(py_mod)),
        case("float-fmod", [uniform(-9, 9, 3, 4), uniform(0.5, 3, 4)], each(c_fmod),
             fmod=True),
        case("uint8-broadcast", [_u8, np.array(7, np.uint8)], each(py_mod, np.uint8)),
    ],
    # -- unary arithmetic --------------------------------------------------------------
    "math.abs": [
        case("float", [randn(3, 4)], each(abs)),
        case("int8", [_i8], each(abs, np.int8)),
        case("uint8", [_u8], each(abs, np.uint8)),
    ],
    "math.sign": [
        case("float-with-nan", [_with_specials],
             each(lambda v: v if v != v else float((v > 0) - (v < 0)))),
        case("int32", [randint(-3, 4, 10)], each(lambda v: (v > 0) - (v < 0), np.int32)),
    ],
    "math.reciprocal": [case("f32", [uniform(0.5, 4, 3, 4) * np.array([1, -1, 1, -1], F32)],
                             each(lambda v: 1 / v))],
    "math.ceil": [case("f32", [_with_specials], each(lambda v: math.ceil(v) if math.isfinite(v)
                                                     else v))],
    "math.floor": [case("f64", [_with_specials.astype(F64)],
                        each(lambda v: math.floor(v) if math.isfinite(v) else v))],
    "math.round": [
        # Python's round() also rounds halves to even.
        case("halves-to-even", [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49, -3.51], F32)],
             each(lambda v: float(round(v)))),
        case("f16", [np.array([0.5, 1.5, 2.5, 7.25], F16)], each(lambda v: float(round(v)))),
    ],
    "math.clip": [
        case("both", [randn(4, 5) * 3], each(lambda v: min(max(v, -1.0), 2.0)),
             min=-1.0, max=2.0),
        case("min-only", [randn(10)], each(lambda v: max(v, 0.25)), min=0.25),
        case("min-above-max-gives-max", [randn(6)], each(lambda v: 0.0), min=1.0, max=0.0),
        case("nan-propagates", [np.array([NAN, -5, 5], F32)],
             each(lambda v: v if v != v else min(max(v, -1.0), 1.0)), min=-1.0, max=1.0),
        case("int8-bounds", [_i8], each(lambda v: min(max(v, -5), 100), np.int8),
             min=-5.0, max=100.0),
        case("int64-unbounded-above", [np.array([-2**63, 0, 2**63 - 1], np.int64)],
             each(lambda v: max(v, -10), np.int64), min=-10.0),
        case("uint8-bound-out-of-range", [_u8], each(lambda v: min(v, 128), np.uint8),
             min=-300.0, max=128.0),
    ],
    # -- transcendental ----------------------------------------------------------------
    "math.erf": [
        case("f32", [randn(3, 4) * 2], each(math.erf)),
        case("f16-keeps-dtype", [randn(8).astype(F16)], each(math.erf)),
    ],
    "math.sin": [case("f32", [randn(3, 4) * 3], each(math.sin))],
    "math.cos": [case("f64", [randn(3, 4, dtype=F64) * 3], each(math.cos))],
    "math.tan": [case("f32", [uniform(-1.4, 1.4, 10)], each(math.tan))],
    "math.asin": [case("f32", [uniform(-1, 1, 10)], each(math.asin))],
    "math.acos": [case("f32", [uniform(-1, 1, 10)], each(math.acos))],
    "math.atan": [case("f32", [randn(10) * 4], each(math.atan))],
    "math.sinh": [case("f32", [randn(10) * 2], each(math.sinh))],
    "math.cosh": [case("f32", [randn(10) * 2], each(math.cosh))],
    "math.asinh": [case("f32", [randn(10) * 4], each(math.asinh))],
    "math.acosh": [case("f32", [uniform(1, 10, 10)], each(math.acosh))],
    "math.atanh": [case("f32-and-out-of-domain", [np.array([-0.9, 0, 0.5, 2.0], F32)],
                        each(lambda v: math.atanh(v) if abs(v) < 1 else NAN))],
    # -- bitwise -----------------------------------------------------------------------
    "math.bitwise_and": [
        case("int16-negatives", [randint(-999, 999, 3, 4, dtype=np.int16),
                                 randint(-999, 999, 4, dtype=np.int16)],
             each(lambda a, b: a & b, np.int16)),
        case("uint64-high-bit", [np.array([2**64 - 1, 2**63 + 5], np.uint64),
                                 np.array([2**63 + 3, 7], np.uint64)],
             each(lambda a, b: a & b, np.uint64)),
    ],
    "math.bitwise_or": [case("int32", [randint(-99, 99, 5), randint(-99, 99, 5)],
                             each(lambda a, b: a | b, np.int32))],
    "math.bitwise_xor": [case("uint8-broadcast", [_u8, np.array(0b1010_1010, np.uint8)],
                              each(lambda a, b: a ^ b, np.uint8))],
    "math.bitwise_not": [
        case("int8", [_i8], each(lambda v: ~v, np.int8)),
        case("uint16", [np.array([0, 1, 65535], np.uint16)],
             each(lambda v: 65535 - v, np.uint16)),
    ],
    "math.bit_shift": [
        case("left-uint8", [_u8, np.array([1, 2, 3, 0, 1, 7], np.uint8)],
             each(shift_ref("left", np.uint8), np.uint8), direction="left"),
        case("right-int8-arithmetic", [np.array([-8, -1, -128, 64], np.int8),
                                       np.array([1, 1, 1, 3], np.int8)],
             each(shift_ref("right", np.int8), np.int8), direction="right"),
        case("left-int32-overflow", [np.array([1, 3, -1], np.int32),
                                     np.array([31, 31, 31], np.int32)],
             each(shift_ref("left", np.int32), np.int32), direction="left"),
        case("out-of-range-amounts", [np.array([-8, 8, -8, 8], np.int32),
                                      np.array([-1, -1, 32, 40], np.int32)],
             each(shift_ref("right", np.int32), np.int32), direction="right"),
        case("uint64-by-64", [np.array([2**64 - 1, 5], np.uint64), np.array([64, 63], np.uint64)],
             each(shift_ref("left", np.uint64), np.uint64), direction="left"),
    ],
    # -- conversion --------------------------------------------------------------------
    "math.cast": [
        case("f32-to-i32-truncates", [np.array([-2.7, -0.5, 0.5, 2.7, 1e6], F32)],
             each(int, np.int32), to="i32"),
        case("f64-to-bool", [np.array([0.0, -0.0, 1e-300, -3, NAN], F64)],
             each(lambda v: v != 0, bool), to="bool"),
        case("bool-to-f16", [np.array([True, False, True])], each(float, F16), to="f16"),
        case("i64-to-f32", [np.array([2**24 + 1, -7, 0], np.int64)], each(float, F32), to="f32"),
        case("f32-to-f16-overflows-to-inf", [np.array([70000.0, -1e5, 0.1], F32)],
             each(lambda v: v if abs(v) < 65520 else math.copysign(INF, v), F16), to="f16"),
        case("u8-to-i8-wraps", [_u8], each(lambda v: wrap(v, np.int8), np.int8), to="i8"),
        case("i8-to-u16-wraps", [_i8], each(lambda v: wrap(v, np.uint16), np.uint16), to="u16"),
        case("same-dtype", [randn(3)], each(float, F32), to="f32"),
    ],
    # -- activations -------------------------------------------------------------------
    "nn.leaky_relu": [
        case("default", [randn(3, 4)], each(lambda v: v if v >= 0 else 0.01 * v)),
        case("alpha", [randn(10, dtype=F64)], each(lambda v: v if v >= 0 else 0.3 * v),
             alpha=0.3),
    ],
    "nn.elu": [
        case("alpha", [randn(3, 4) * 3], each(lambda v: v if v > 0 else 2.0 * (math.exp(v) - 1)),
             alpha=2.0),
        case("large-no-overflow", [np.array([-100, 100, 1e30], F32)],
             each(lambda v: v if v > 0 else math.exp(v) - 1)),
    ],
    "nn.selu": [
        case("default", [randn(3, 4) * 3],
             each(lambda v: _SELU_GAMMA * (v if v > 0 else _SELU_ALPHA * (math.exp(v) - 1)))),
        case("attrs", [randn(6)], each(lambda v: 3.0 * (v if v > 0 else 2.0 * (math.exp(v) - 1))),
             alpha=2.0, gamma=3.0),
    ],
    "nn.hard_sigmoid": [
        case("default", [randn(4, 5) * 4], each(lambda v: min(1.0, max(0.0, 0.2 * v + 0.5)))),
        case("attrs", [randn(6) * 4], each(lambda v: min(1.0, max(0.0, 0.5 * v + 0.6))),
             alpha=0.5, beta=0.6),
    ],
    "nn.hard_swish": [case("f32", [randn(4, 5) * 5],
                           each(lambda v: v * min(1.0, max(0.0, v / 6 + 0.5))))],
    "nn.softplus": [
        case("f32-wide-range", [np.array([-100, -20, -1, 0, 1, 20, 100], F32)],
             each(softplus_ref)),
        case("f16", [np.array([-8, -1, 0, 1, 8], F16)], each(softplus_ref)),
    ],
    "nn.softsign": [case("f32", [randn(3, 4) * 3], each(lambda v: v / (1 + abs(v))))],
    "nn.mish": [
        case("f32", [np.array([-50, -3, -0.5, 0, 0.5, 3, 50], F32)],
             each(lambda v: v * math.tanh(softplus_ref(v)))),
        case("f16", [np.array([-4, -1, 0, 1, 4], F16)],
             each(lambda v: v * math.tanh(softplus_ref(v)))),
    ],
    "nn.swish": [
        case("silu", [randn(3, 4) * 4], each(lambda v: v / (1 + math.exp(-v)))),
        case("alpha", [randn(8) * 4], each(lambda v: v / (1 + math.exp(-1.5 * v))), alpha=1.5),
    ],
    "nn.thresholded_relu": [
        case("default", [randn(3, 4) * 2], each(lambda v: v if v > 1.0 else 0.0)),
        case("alpha", [randn(8, dtype=F64)], each(lambda v: v if v > 0.2 else 0.0), alpha=0.2),
    ],
    "nn.shrink": [
        case("soft", [randn(4, 5) * 2],
             each(lambda v: v - 1.5 if v > 1.5 else (v + 1.5 if v < -1.5 else 0.0)),
             bias=1.5, lambd=1.5),
        case("hard", [randn(10)], each(lambda v: v if abs(v) > 0.5 else 0.0)),
        case("int32", [randint(-9, 10, 12)],
             each(lambda v: v - 2 if v > 3 else (v + 2 if v < -3 else 0), np.int32),
             bias=2.0, lambd=3.0),
    ],
    "nn.prelu": [
        case("per-channel", [randn(2, 3, 4, 4), randn(3, 1, 1)],
             each(lambda v, s: v if v >= 0 else s * v)),
        case("scalar-slope", [randn(5), np.array(0.25, F32)],
             each(lambda v, s: v if v >= 0 else s * v)),
        case("int32", [randint(-9, 9, 6), randint(1, 4, 6)],
             each(lambda v, s: v if v >= 0 else s * v, np.int32)),
    ],
    # -- logic ---------------------------------------------------------------------------
    "logic.equal": [
        case("float-broadcast-nan", [np.array([[1, NAN, 3]], F32), np.array([[1], [NAN]], F32)],
             each(lambda a, b: a == b, bool)),
        case("int8", [_i8, _i8[::-1].copy()], each(lambda a, b: a == b, bool)),
        case("bool", [np.array([True, False, True]), np.array([True, True, False])],
             each(lambda a, b: a == b, bool)),
    ],
    "logic.less": [
        case("float", [randn(3, 4), randn(4)], each(lambda a, b: a < b, bool)),
        case("uint64-high", [np.array([2**64 - 1, 2**63], np.uint64),
                             np.array([2**64 - 2, 2**63 + 1], np.uint64)],
             each(lambda a, b: a < b, bool)),
    ],
    "logic.less_equal": [case("int16-ties", [randint(-2, 3, 4, 5, dtype=np.int16),
                                             randint(-2, 3, 5, dtype=np.int16)],
                              each(lambda a, b: a <= b, bool))],
    "logic.greater": [case("nan-is-false",
                           [np.array([NAN, 1, 2], F64), np.array([0, NAN, 1], F64)],
                           each(lambda a, b: a > b, bool))],
    "logic.greater_equal": [case("f16-ties", [np.array([1, 2, 3], F16), np.array(2, F16)],
                                 each(lambda a, b: a >= b, bool))],
    "logic.and": [case("broadcast", [np.array([[True], [False]]), np.array([True, False, True])],
                       each(lambda a, b: a and b, bool))],
    "logic.or": [case("broadcast", [np.array([[True], [False]]), np.array([True, False, True])],
                      each(lambda a, b: a or b, bool))],
    "logic.xor": [case("broadcast", [np.array([[True], [False]]), np.array([True, False, True])],
                       each(lambda a, b: a != b, bool))],
    "logic.not": [case("bool", [np.array([[True, False], [False, False]])],
                       each(lambda v: not v, bool))],
    "logic.isnan": [
        case("f32", [_with_specials], each(math.isnan, bool)),
        case("f16", [_with_specials.astype(F16)], each(math.isnan, bool)),
    ],
    "logic.isinf": [
        case("both", [_with_specials], isinf_ref(True, True)),
        case("positive-only", [_with_specials], isinf_ref(True, False), detect_negative=False),
        case("negative-only", [_with_specials.astype(F64)], isinf_ref(False, True),
             detect_positive=False),
        case("neither", [_with_specials], isinf_ref(False, False), detect_positive=False,
             detect_negative=False),
    ],
    "logic.where": [
        case("broadcast-all-three", [np.array([[True], [False]]), randn(1, 3), randn(2, 1)],
             each(lambda c, x, y: x if c else y)),
        case("int64", [np.array([True, False, True]), randint(-9, 9, 3, dtype=np.int64),
                       np.array(-1, np.int64)],
             each(lambda c, x, y: x if c else y, np.int64)),
    ],
}

# Dtype and edge cases for ops whose CASES are in test_op_kernels.py.
EXTRA_CASES: dict[str, list[Case]] = {
    "math.pow": [
        case("f32-base-i64-exponent", [randn(6), np.array([0, 1, 2, 3, -1, 5], np.int64)],
             each(lambda a, b: a ** b, F32)),
        case("i64-base-f32-exponent-truncates", [np.array([4, 2, 3, 9], np.int64),
                                                 np.array([0.5, 3, 1.5, 0.5], F32)],
             each(lambda a, b: int(a ** b), np.int64)),
        case("i32-negative-exponents", [np.array([2, -1, -1, 1, 3, 0, -2], np.int32),
                                        np.array([-1, -3, -2, -5, 2, 0, 3], np.int32)],
             each(lambda a, b: int(a ** b), np.int32)),
        case("f16-base-f64-exponent", [np.array([1.5, 2, 4], F16), np.array([2, 0.5, -1], F64)],
             each(lambda a, b: a ** b, F16)),
    ],
    "math.div": [case("uint8", [_u8, np.array(7, np.uint8)],
                      each(lambda a, b: a // b, np.uint8))],
    "nn.relu": [case("int8", [_i8], each(lambda v: max(v, 0), np.int8))],
    "nn.gelu": [case("f16-keeps-dtype", [randn(8).astype(F16) * 3],
                     each(lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))))],
    "nn.sigmoid": [case("f16", [np.array([-20, -1, 0, 1, 20], F16)],
                        each(lambda v: 1 / (1 + math.exp(-v))))],
}

_TOLERANCE_F16 = dict(rtol=2e-3, atol=2e-3)


def _exact_or_f16(got: np.ndarray, want: np.ndarray) -> None:
    if got.dtype == F16:  # the reference is exact; f16 rounds once or twice
        np.testing.assert_allclose(got.astype(F64), want.astype(F64), **_TOLERANCE_F16)
    else:
        assert_matches(got, want.astype(got.dtype) if got.dtype.kind in "iub" else want)


@pytest.mark.parametrize("op,c", params(CASES, EXTRA_CASES))
def test_elementwise_kernel_matches_reference(op: str, c: Case) -> None:
    run_case(op, c, _exact_or_f16)


# -- shape and dtype inference -------------------------------------------------------

def T(*shape, dtype="f32") -> TensorType:
    return TensorType(shape, dtype)


def infer(op: str, *ins: TensorType, **attrs) -> TensorType:
    return infer_types(op, list(ins), attrs)[2][0]


def error(op: str, *ins: TensorType, **attrs) -> str:
    with pytest.raises(TypeCheckError) as e:
        infer_types(op, list(ins), attrs)
    return str(e.value)


def test_comparisons_give_bool_of_the_broadcast_shape() -> None:
    assert infer("logic.less", T("N", 1, 4), T(3, 1)) == T("N", 3, 4, dtype="bool")
    assert infer("logic.equal", T(2, dtype="bool"), T(2, dtype="bool")) == T(2, dtype="bool")
    assert infer("logic.isinf", T("B", 3, dtype="f16")) == T("B", 3, dtype="bool")


def test_where_broadcasts_three_operands() -> None:
    assert infer("logic.where", T(2, 1, 1, dtype="bool"), T(3, 1), T("S")) == T(2, 3, "S")
    assert "condition must be a bool tensor, got f32" in error("logic.where", T(2), T(2), T(2))
    assert "dtypes differ" in error("logic.where", T(2, dtype="bool"), T(2), T(2, dtype="f16"))


def test_pow_takes_mixed_dtypes_and_keeps_the_base_dtype() -> None:
    assert infer("math.pow", T(2, 3, dtype="i32"), T(3, dtype="f32")) == T(2, 3, dtype="i32")
    assert infer("math.pow", T(2, dtype="f16"), T(dtype="i64")) == T(2, dtype="f16")
    assert "the exponent must be a numeric tensor (not bool), got bool" in error(
        "math.pow", T(2), T(2, dtype="bool"))


def test_cast_changes_only_the_dtype() -> None:
    assert infer("math.cast", T("N", 2), to="u8") == T("N", 2, dtype="u8")
    assert "must be a dtype" in error("math.cast", T(2), to="bf16")


@pytest.mark.parametrize("op,ins,want", [
    ("math.bitwise_and", [T(2), T(2)], "expects an integer"),
    ("math.bit_shift", [T(2, dtype="bool"), T(2, dtype="bool")], "expects an integer"),
    ("logic.and", [T(2, dtype="i32"), T(2, dtype="i32")], "expects a bool tensor"),
    ("logic.not", [T(2)], "expects a bool tensor"),
    ("math.sin", [T(2, dtype="i32")], "floating-point"),
    ("math.abs", [T(2, dtype="bool")], "numeric"),
    ("math.clip", [T(2, dtype="bool")], "numeric"),
    ("math.max", [T(2, dtype="i32"), T(2, dtype="i64")], "insert an explicit cast"),
    ("logic.greater", [T(2, 3), T(4)], "do not broadcast"),
    ("nn.prelu", [T(2, 3), T(2)], "do not broadcast"),
])
def test_dtype_and_shape_errors(op, ins, want) -> None:
    assert want in error(op, *ins, **({"direction": "left"} if op == "math.bit_shift" else {}))


def test_attribute_choices() -> None:
    assert "must be one of 'left', 'right'" in error("math.bit_shift", T(2, dtype="u8"),
                                                     T(2, dtype="u8"), direction="up")
    assert "requires attribute 'direction'" in error("math.bit_shift", T(2, dtype="u8"),
                                                     T(2, dtype="u8"))


# -- every accepted dtype -------------------------------------------------------------

_DTYPE_SWEEP_OPS = sorted(set(CASES) | set(EXTRA_CASES) | {
    "math.add", "math.sub", "math.mul", "math.neg", "math.exp", "math.log", "math.sqrt",
    "math.tanh"})


def _sample(dtype: np.dtype) -> np.ndarray:
    """Five values of `dtype`, with a zero and (where the dtype has them) negatives."""
    if dtype == bool:
        return np.array([True, False, True, False, True])
    if dtype.kind == "u":
        return np.array([0, 1, 2, 3, 100], dtype)
    if dtype.kind == "i":
        return np.array([-3, -1, 0, 1, 5], dtype)
    return np.array([-2.5, -1, 0, 0.5, 3], dtype)


@pytest.mark.parametrize("op", _DTYPE_SWEEP_OPS)
def test_kernel_returns_the_inferred_dtype_for_every_accepted_dtype(op: str) -> None:
    attrs = (CASES.get(op) or EXTRA_CASES.get(op) or [Case("", [], None)])[0].attrs
    n_operands = OPS[op].arity()[0]
    accepted = 0
    for name, dtype in DTYPES.items():
        ins = [_sample(dtype) for _ in range(n_operands)]
        if op == "logic.where":
            ins[0] = _sample(np.dtype(bool))
        try:
            full, norm, (want,) = infer_types(op, [TensorType.of_array(a) for a in ins], attrs)
        except TypeCheckError:
            continue
        accepted += 1
        with np.errstate(all="ignore"):
            got = np.asarray(KERNELS[full](*ins, **norm))
        assert (got.shape, got.dtype) == (want.shape, want.np_dtype), f"{op} on {name}"
    assert accepted, f"{op} accepts no dtype"
