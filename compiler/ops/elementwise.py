"""Elementwise ops: unary math and activations, binary arithmetic with numpy broadcasting.

Arithmetic, transcendental, bitwise and conversion functions live in the `math`
family, activations in `nn`; comparisons and boolean logic are in `logic.py`.
Every op here maps each output element to one element of each (broadcast)
operand, so the fuser may chain them freely.

Dtype rules: each op accepts one class of dtypes (see `DTYPE_CLASSES`), and
the operands of a binary op must have the same dtype (the frontends insert
explicit `math.cast`s) — except `math.pow`, whose exponent may have any
numeric dtype (the result has the base's dtype, as in ONNX).
"""
from __future__ import annotations

from math import inf, prod

from ..ir.types import DTYPES, FLOAT_DTYPES, INT_DTYPES, TensorType
from .registry import Attr, ShapeError, define
from .shapes import broadcast_shapes, require_same_dtype

# name -> (accepted dtypes, how an error message spells them)
DTYPE_CLASSES: dict[str, tuple[frozenset, str]] = {
    "float": (FLOAT_DTYPES, "a floating-point tensor (f16, f32, f64)"),
    "numeric": (FLOAT_DTYPES | INT_DTYPES, "a numeric tensor (not bool)"),
    "int": (INT_DTYPES, "an integer tensor (i8..i64, u8..u64)"),
    "bool": (frozenset({"bool"}), "a bool tensor"),
    "any": (frozenset(DTYPES), "a tensor"),
}


def check_dtype(op: str, dtype: str, allowed: str, what: str | None = None) -> None:
    """ShapeError unless `dtype` is in the class `allowed` (a key of DTYPE_CLASSES).

    `what` names the operand in the message ("the exponent"); None: the op's input.
    """
    dtypes, desc = DTYPE_CLASSES[allowed]
    if dtype not in dtypes:
        if what:
            raise ShapeError(f"{op}: {what} must be {desc}, got {dtype}")
        raise ShapeError(f"{op} expects {desc}, got {dtype}")


def broadcast(op: str, types: list[TensorType]):
    """The broadcast shape of `types`, with the op's name in any error."""
    try:
        return broadcast_shapes(*(t.shape for t in types))
    except ShapeError as e:
        raise ShapeError(f"{op}: operand {e}") from None


def _short(name: str) -> str:
    return name.split(".", 1)[1]


def _unary_infer(name: str, dtypes: str, result: str | None):
    short = _short(name)

    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        (x,) = ins
        check_dtype(short, x.dtype, dtypes)
        return [TensorType(x.shape, result or x.dtype)]
    return infer


def _binary_infer(name: str, dtypes: str, result: str | None):
    short = _short(name)

    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        dtype = require_same_dtype(short, ins)
        check_dtype(short, dtype, dtypes)
        return [TensorType(broadcast(short, ins), result or dtype)]
    return infer


def per_element(cost: int):
    """A FLOPs function: `cost` per element of the first result."""
    return lambda ins, outs, attrs: cost * prod(outs[0].shape)


def unary(name: str, doc: str, cost: int = 1, dtypes: str = "float", attrs=(),
          result: str | None = None) -> None:
    """Declare a one-operand elementwise op.

    `cost` is FLOPs per element, `dtypes` the accepted dtype class, `result`
    the result dtype (None: the operand's).
    """
    define(name, ["x"], _unary_infer(name, dtypes, result), per_element(cost), "elementwise",
           doc, attrs)


def binary(name: str, doc: str, commutative: bool = False, cost: int = 1,
           dtypes: str = "numeric", attrs=(), result: str | None = None) -> None:
    """Declare a two-operand broadcasting op over operands of one dtype."""
    define(name, ["a", "b"], _binary_infer(name, dtypes, result), per_element(cost),
           "elementwise", doc, attrs, commutative=commutative)


# -- arithmetic -----------------------------------------------------------------

binary("math.add", "a + b, numpy broadcasting.", commutative=True)
binary("math.sub", "a - b, numpy broadcasting.")
binary("math.mul", "a * b, numpy broadcasting.", commutative=True)
binary("math.div", "a / b, numpy broadcasting (integer division truncates toward zero).")
binary("math.max", "Elementwise maximum, numpy broadcasting (NaN propagates).",
       commutative=True)
binary("math.min", "Elementwise minimum, numpy broadcasting (NaN propagates).",
       commutative=True)
binary("math.mod", "Remainder of a / b, numpy broadcasting. By default it has the sign of b "
       "(a - floor(a/b)*b, Python's %); with `fmod` the sign of a (a - trunc(a/b)*b, C's fmod).",
       cost=2,
       attrs=[Attr("fmod", "bool", False,
                   "false: the result takes the divisor's sign; true: the dividend's")])


def _pow_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    a, b = ins
    check_dtype("pow", a.dtype, "numeric", "the base")
    check_dtype("pow", b.dtype, "numeric", "the exponent")
    return [TensorType(broadcast("pow", ins), a.dtype)]


define("math.pow", ["a", "b"], _pow_infer, per_element(8), "elementwise",
       "a ** b, numpy broadcasting. The exponent may have another numeric dtype than the "
       "base; the result has the base's dtype (an integer base with a negative integer "
       "exponent gives 1/a**|b| truncated toward zero).")

unary("math.neg", "-x.", dtypes="numeric")
unary("math.abs", "|x|.", dtypes="numeric")
unary("math.sign", "-1, 0 or 1 by the sign of x (NaN stays NaN).", dtypes="numeric")
unary("math.reciprocal", "1 / x.")
unary("math.ceil", "Smallest integer value >= x.")
unary("math.floor", "Largest integer value <= x.")
unary("math.round", "Nearest integer value; halves round to even (2.5 -> 2).")
unary("math.clip", "min(max(x, min), max): bounds given as attributes (an infinite bound "
      "does not clip; for integer tensors the bounds are rounded inward and clamped to the "
      "dtype's range).",
      dtypes="numeric",
      attrs=[Attr("min", "float", -inf, "lower bound"),
             Attr("max", "float", inf, "upper bound (wins where min > max)")])

# -- transcendental -------------------------------------------------------------

unary("math.exp", "e ** x.", cost=8)
unary("math.log", "Natural logarithm.", cost=8)
unary("math.sqrt", "Square root.", cost=4)
unary("math.erf", "The Gauss error function.", cost=12)
unary("math.sin", "Sine (radians).", cost=8)
unary("math.cos", "Cosine (radians).", cost=8)
unary("math.tan", "Tangent (radians).", cost=8)
unary("math.asin", "Inverse sine.", cost=8)
unary("math.acos", "Inverse cosine.", cost=8)
unary("math.atan", "Inverse tangent.", cost=8)
unary("math.sinh", "Hyperbolic sine.", cost=8)
unary("math.cosh", "Hyperbolic cosine.", cost=8)
unary("math.tanh", "Hyperbolic tangent.", cost=8)
unary("math.asinh", "Inverse hyperbolic sine.", cost=8)
unary("math.acosh", "Inverse hyperbolic cosine.", cost=8)
unary("math.atanh", "Inverse hyperbolic tangent.", cost=8)

# -- bitwise (integers) ---------------------------------------------------------

binary("math.bitwise_and", "a & b on integers, numpy broadcasting.", commutative=True,
       dtypes="int")
binary("math.bitwise_or", "a | b on integers, numpy broadcasting.", commutative=True,
       dtypes="int")
binary("math.bitwise_xor", "a ^ b on integers, numpy broadcasting.", commutative=True,
       dtypes="int")
unary("math.bitwise_not", "~x on integers (every bit flipped).", dtypes="int")
binary("math.bit_shift", "a shifted by b bits, numpy broadcasting. A right shift of a signed "
       "integer copies the sign bit; a shift by a negative amount or by the bit width or more "
       "gives -1 (right shift of a negative a) or 0.", dtypes="int",
       attrs=[Attr("direction", "str", doc="'left' or 'right'", choices=("left", "right"))])

# -- conversion -----------------------------------------------------------------


def _cast_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    return [TensorType(x.shape, attrs["to"])]


define("math.cast", ["x"], _cast_infer, per_element(1), "elementwise",
       "x converted to dtype `to`, as numpy's astype: float -> integer truncates toward zero "
       "(out-of-range and NaN values are undefined), nonzero -> bool is true, "
       "bool -> number is 0 or 1.",
       [Attr("to", "dtype", doc="the result dtype")])

# -- activations ----------------------------------------------------------------

unary("nn.relu", "max(x, 0).", dtypes="numeric")
unary("nn.sigmoid", "1 / (1 + exp(-x)).", cost=8)
unary("nn.gelu", "x * Phi(x), Phi the standard normal CDF: 0.5*x*(1 + erf(x/sqrt(2))), or "
      "its tanh approximation 0.5*x*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3))).",
      cost=12,
      attrs=[Attr("approximate", "str", "none",
                  "'none': exact (erf); 'tanh': the tanh approximation",
                  choices=("none", "tanh"))])
unary("nn.leaky_relu", "x if x >= 0 else alpha * x.", cost=2,
      attrs=[Attr("alpha", "float", 0.01, "slope for negative x")])
unary("nn.elu", "x if x > 0 else alpha * (exp(x) - 1).", cost=8,
      attrs=[Attr("alpha", "float", 1.0, "scale of the negative part")])
unary("nn.selu", "gamma * (x if x > 0 else alpha * (exp(x) - 1)).", cost=9,
      attrs=[Attr("alpha", "float", 1.67326319217681884765625, "scale of the negative part"),
             Attr("gamma", "float", 1.05070102214813232421875, "scale of the whole")])
unary("nn.hard_sigmoid", "max(0, min(1, alpha * x + beta)).", cost=4,
      attrs=[Attr("alpha", "float", 0.2, "slope"),
             Attr("beta", "float", 0.5, "offset")])
unary("nn.hard_swish", "x * max(0, min(1, x / 6 + 1/2)).", cost=5)
unary("nn.softplus", "log(1 + exp(x)), computed without overflow.", cost=10)
unary("nn.softsign", "x / (1 + |x|).", cost=3)
unary("nn.mish", "x * tanh(softplus(x)).", cost=20)
unary("nn.swish", "x * sigmoid(alpha * x) (SiLU when alpha = 1).", cost=10,
      attrs=[Attr("alpha", "float", 1.0, "scale inside the sigmoid")])
unary("nn.thresholded_relu", "x if x > alpha else 0.", cost=1,
      attrs=[Attr("alpha", "float", 1.0, "threshold")])
unary("nn.shrink", "x - bias if x > lambd, x + bias if x < -lambd, else 0.", cost=3,
      dtypes="numeric",
      attrs=[Attr("bias", "float", 0.0, "shift toward zero of the kept values"),
             Attr("lambd", "float", 0.5, "half-width of the band set to zero")])


def _prelu_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, slope = ins
    dtype = require_same_dtype("prelu", ins)
    check_dtype("prelu", dtype, "numeric")
    return [TensorType(broadcast("prelu", ins), dtype)]


define("nn.prelu", ["x", "slope"], _prelu_infer, per_element(2), "elementwise",
       "x if x >= 0 else slope * x, the slope broadcast against x (one per channel, "
       "typically).")
