"""Converters for elementwise ONNX ops: arithmetic, math functions, activations, comparisons,
boolean logic, casts, and the inference-time no-ops (Identity, Dropout).

Most ops map one-to-one onto a registry op (the tables below). The rest:

- Max/Min/Sum/Mean take 1..n inputs: a chain of binary ops (Mean divides the sum by n);
- Clip's bounds are attributes before opset 11 and optional inputs from 11 on:
  constant bounds become `math.clip` attributes, runtime ones `math.max`/`math.min`;
- Cast/CastLike become `math.cast` (nothing when the dtype already matches) and keep
  the shape value of their input (see `compiler/frontend/onnx.py`);
- Add/Sub/Mul/Div, Equal and Where compute on shape values too (the size
  arithmetic of PyTorch exports: ``k_len - q_len``, ``batch * heads``, the
  ``Where(Equal(shape, -1), 1, shape)`` of an `expand(n, -1, -1)`), so that the
  sizes they make stay known at compile time;
- Dropout is the identity (wsc compiles inference graphs); its mask, when asked
  for, is all true.
"""
from __future__ import annotations

import numpy as np

from ...ir.types import INT_DTYPES, Dim, dtype_from_numpy
from ...ops.shapes import dim_factors, divide_dim, make_dim
from .registry import converter
from .tensor import recorded_shape_value, shape_result

_BINARY = {
    "Add": "math.add", "Sub": "math.sub", "Mul": "math.mul", "Div": "math.div",
    "Pow": "math.pow",
    "BitwiseAnd": "math.bitwise_and", "BitwiseOr": "math.bitwise_or",
    "BitwiseXor": "math.bitwise_xor",
    "Equal": "logic.equal", "Less": "logic.less", "LessOrEqual": "logic.less_equal",
    "Greater": "logic.greater", "GreaterOrEqual": "logic.greater_equal",
    "And": "logic.and", "Or": "logic.or", "Xor": "logic.xor",
}
_UNARY = {
    "Neg": "math.neg", "Abs": "math.abs", "Sign": "math.sign", "Reciprocal": "math.reciprocal",
    "Ceil": "math.ceil", "Floor": "math.floor", "Round": "math.round",
    "Exp": "math.exp", "Log": "math.log", "Sqrt": "math.sqrt", "Erf": "math.erf",
    "Sin": "math.sin", "Cos": "math.cos", "Tan": "math.tan",
    "Asin": "math.asin", "Acos": "math.acos", "Atan": "math.atan",
    "Sinh": "math.sinh", "Cosh": "math.cosh", "Tanh": "math.tanh",
    "Asinh": "math.asinh", "Acosh": "math.acosh", "Atanh": "math.atanh",
    "BitwiseNot": "math.bitwise_not",
    "Relu": "nn.relu", "Sigmoid": "nn.sigmoid", "Softplus": "nn.softplus",
    "Softsign": "nn.softsign", "Mish": "nn.mish", "HardSwish": "nn.hard_swish",
    "Not": "logic.not", "IsNaN": "logic.isnan",
}
# ONNX op -> (registry op, {attribute: default}); the attributes keep their ONNX names.
_ACTIVATIONS = {
    "LeakyRelu": ("nn.leaky_relu", {"alpha": 0.01}),
    "Elu": ("nn.elu", {"alpha": 1.0}),
    "Selu": ("nn.selu", {"alpha": 1.67326319217681884765625,
                         "gamma": 1.05070102214813232421875}),
    "HardSigmoid": ("nn.hard_sigmoid", {"alpha": 0.2, "beta": 0.5}),
    "ThresholdedRelu": ("nn.thresholded_relu", {"alpha": 1.0}),
    "Shrink": ("nn.shrink", {"bias": 0.0, "lambd": 0.5}),
    "Swish": ("nn.swish", {"alpha": 1.0}),
}


def _legacy_broadcast(n, a, b):
    """Before opset 7, `broadcast=1` with `axis` aligned b at that axis of a.

    Without `axis` it was suffix broadcasting, which numpy broadcasting covers;
    with it, trailing unit dims make numpy align b the same way."""
    if not (n.opset < 7 and n.attr("broadcast", 0) and n.has_attr("axis")):
        return b
    axis = n.attr("axis")
    if axis < 0:
        axis += a.type.rank
    trailing = a.type.rank - axis - b.type.rank
    if trailing < 0:
        n.fail(f"legacy broadcast: b of rank {b.type.rank} does not fit at axis {axis} "
               f"of a rank-{a.type.rank} tensor")
    if trailing == 0:
        return b
    return n.op("tensor.reshape", [b], {"shape": [0] * b.type.rank + [1] * trailing})


@converter(*_BINARY)
def binary(n):
    a, b = n.input(0), _legacy_broadcast(n, n.input(0), n.input(1))
    emit = lambda: n.op(_BINARY[n.node.op_type], [a, b])  # noqa: E731
    rule = _SHAPE_ARITHMETIC.get(n.node.op_type)
    sizes = rule is not None and n.input(0).type.dtype in INT_DTYPES
    dims = _shape_operands(n, [0, 1]) if sizes else None
    if dims is not None:
        (xs, ys), shape = dims
        out = [rule(x, y) for x, y in zip(xs, ys)]
        if all(d is not None for d in out):
            return _shape_value_result(n, out, shape, emit)
    return emit()


# -- arithmetic on shape values ---------------------------------------------------
# Each rule gives the result dim, or None when it is not known at compile time.

def _add(a: Dim, b: Dim) -> Dim | None:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return a if b == 0 else b if a == 0 else None


def _sub(a: Dim, b: Dim) -> Dim | None:
    if isinstance(a, int) and isinstance(b, int):
        return a - b
    return 0 if a == b else a if b == 0 else None


def _mul(a: Dim, b: Dim) -> Dim | None:
    (ca, sa), (cb, sb) = dim_factors(a), dim_factors(b)
    if ca < 0 or cb < 0:  # -1 placeholders times a size: not a size
        return ca * cb if not (sa or sb) else None
    return make_dim(ca * cb, sa + sb)


def _div(a: Dim, b: Dim) -> Dim | None:
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            return None
        q = abs(a) // abs(b)  # ONNX integer Div truncates toward zero
        return q if (a < 0) == (b < 0) else -q
    if isinstance(b, int) and b <= 0:
        return None
    return divide_dim(a, b)


def _equal(a: Dim, b: Dim) -> bool | None:
    if a == b:
        return True
    if isinstance(a, int) and isinstance(b, int):
        return False
    # a symbolic size is never negative (-1 is the exporters' "keep this dim")
    other = a if isinstance(a, int) else b
    return False if isinstance(other, int) and other < 0 else None


_SHAPE_ARITHMETIC = {"Add": _add, "Sub": _sub, "Mul": _mul, "Div": _div, "Equal": _equal}


def _shape_operands(n, inputs: list[int]):
    """The inputs' values as lists of dims, broadcast to one length, and the result shape;
    None unless one of them is a run-time shape value and all are known integers."""
    if all(recorded_shape_value(n, i) is None for i in inputs):
        return None
    values, ranks = [], []
    for i in inputs:
        v = n.shape_value(i)
        if v is None:
            data = n.const(i)  # e.g. Where's condition: a bool constant
            if data is None or data.ndim > 1 or data.dtype.kind != "b":
                return None
            v = [bool(x) for x in np.atleast_1d(data)]
        values.append(list(v))
        ranks.append(n.input(i).type.rank)
    length = max(len(v) for v in values)
    if any(len(v) not in (1, length) for v in values):
        return None
    values = [v * length if len(v) == 1 else v for v in values]
    return values, ((length,) if max(ranks) == 1 else ())


def _shape_value_result(n, dims: list, shape: tuple, emit):
    """A constant when every entry is static, else `emit()` carrying the shape value."""
    if any(isinstance(d, bool) for d in dims):
        if not all(isinstance(d, bool) for d in dims):
            return emit()
        return n.constant(np.array(dims, dtype=bool).reshape(shape))
    dtype = n.input(0).type.np_dtype if n.node.op_type != "Where" else n.input(1).type.np_dtype
    return shape_result(n, dims, dtype, shape, emit)


@converter(*_UNARY)
def unary(n):
    return n.op(_UNARY[n.node.op_type], [n.input(0)])


@converter(*_ACTIVATIONS)
def activation(n):
    op, defaults = _ACTIVATIONS[n.node.op_type]
    return n.op(op, [n.input(0)], {k: float(n.attr(k, d)) for k, d in defaults.items()})


@converter("PRelu", since=7)
def prelu(n):
    return n.op("nn.prelu", [n.input(0), n.input(1)])


@converter("PRelu")
def prelu_per_channel(n):
    # Before opset 7 a rank-1 slope of size C > 1 is one slope per channel (dim 1).
    x, slope = n.input(0), n.input(1)
    if slope.type.rank == 1 and slope.type.shape[0] != 1 and x.type.rank > 2:
        slope = n.op("tensor.reshape", [slope], {"shape": [0] + [1] * (x.type.rank - 2)})
    return n.op("nn.prelu", [x, slope])


@converter("Gelu")
def gelu(n):
    approximate = n.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        n.fail(f"attribute 'approximate' must be 'none' or 'tanh', got {approximate!r}")
    return n.op("nn.gelu", [n.input(0)], {"approximate": approximate})


@converter("Mod")
def mod(n):
    fmod = n.attr("fmod", 0)
    if fmod not in (0, 1):
        n.fail(f"attribute 'fmod' must be 0 or 1, got {fmod}")
    return n.op("math.mod", [n.input(0), n.input(1)], {"fmod": bool(fmod)})


@converter("BitShift")
def bit_shift(n):
    direction = n.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        n.fail(f"attribute 'direction' must be 'LEFT' or 'RIGHT', got {direction!r}")
    return n.op("math.bit_shift", [n.input(0), n.input(1)], {"direction": direction.lower()})


@converter("IsInf")
def isinf(n):
    return n.op("logic.isinf", [n.input(0)],
                {"detect_positive": bool(n.attr("detect_positive", 1)),
                 "detect_negative": bool(n.attr("detect_negative", 1))})


@converter("Where")
def where(n):
    emit = lambda: n.op("logic.where", [n.input(0), n.input(1), n.input(2)])  # noqa: E731
    dims = _shape_operands(n, [0, 1, 2])
    if dims is not None:
        (cond, a, b), shape = dims
        if all(isinstance(c, bool) for c in cond):
            return _shape_value_result(n, [x if c else y for c, x, y in zip(cond, a, b)],
                                       shape, emit)
    return emit()


# -- variadic -------------------------------------------------------------------

_VARIADIC = {"Max": "math.max", "Min": "math.min", "Sum": "math.add", "Mean": "math.add"}


@converter(*_VARIADIC)
def variadic(n):
    inputs = n.inputs()
    if not inputs:
        n.fail("needs at least one input")
    out = inputs[0]
    for v in inputs[1:]:
        out = n.op(_VARIADIC[n.node.op_type], [out, v])
    if n.node.op_type == "Mean" and len(inputs) > 1:
        count = n.constant(np.array(len(inputs), dtype=out.type.np_dtype), "mean_count")
        out = n.op("math.div", [out, count])
    return out


# -- Clip -----------------------------------------------------------------------

_F32_MAX = float(np.finfo(np.float32).max)


@converter("Clip")
def clip_attrs(n):
    """Opset 1-10: the bounds are attributes (defaults: the float32 range)."""
    return n.op("math.clip", [n.input(0)],
                {"min": float(n.attr("min", -_F32_MAX)), "max": float(n.attr("max", _F32_MAX))})


def _constant_bound(n, i: int) -> float | None:
    """Input `i` as a float bound if it is a compile-time scalar that a float holds exactly."""
    data = n.const(i)
    if data is None:
        return None
    if data.size != 1:
        n.fail(f"input {i} (a bound) must be a scalar, got shape {list(data.shape)}")
    value = data.reshape(()).item()
    return float(value) if data.dtype.kind == "f" or float(value) == value else None


@converter("Clip", since=11)
def clip(n):
    """Opset 11+: optional min/max inputs, constant or computed at run time."""
    y = n.input(0)
    bounds = {}
    lo = _constant_bound(n, 1) if n.has_input(1) else None
    hi = _constant_bound(n, 2) if n.has_input(2) else None
    if n.has_input(1) and lo is None:
        y = n.op("math.max", [y, n.input(1)])
    elif lo is not None:
        bounds["min"] = lo
    if hi is not None:
        bounds["max"] = hi
    if bounds:
        y = n.op("math.clip", [y], bounds)
    if n.has_input(2) and hi is None:  # applied last: max wins where min > max
        y = n.op("math.min", [y, n.input(2)])
    return y


# -- casts ----------------------------------------------------------------------

def _onnx_type_name(elem_type: int) -> str:
    import onnx
    try:
        return onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return str(elem_type)


def _cast_target(n, elem_type) -> str:
    """The IR dtype for an ONNX element type (an int, or its name before opset 6)."""
    import onnx
    if isinstance(elem_type, str):
        try:
            elem_type = onnx.TensorProto.DataType.Value(elem_type.upper())
        except ValueError:
            n.fail(f"unknown target type {elem_type!r}")
    try:
        return dtype_from_numpy(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        n.fail(f"casting to {_onnx_type_name(elem_type)} is not supported",
               hint="wsc handles float16/32/64, int8..int64, uint8..uint64 and bool tensors")


def _cast(n, to: str):
    x = n.input(0)
    if x.type.dtype == to:
        return x
    y = n.op("math.cast", [x], {"to": to})
    dims = n.shape_value(0) if n.const(0) is None else None
    if dims is not None and to != "bool":
        n.set_shape_value(y, dims)
    return y


@converter("Cast")
def cast(n):
    return _cast(n, _cast_target(n, n.attr("to")))


@converter("CastLike")
def cast_like(n):
    return _cast(n, n.input(1).type.dtype)


# -- inference-time no-ops ------------------------------------------------------

@converter("Identity")
def identity(n):
    return [n.sequence(0)] if n.is_sequence(0) else n.input(0)


def _training_mode(n) -> bool:
    """Whether a Dropout (opset 12+) trains: a compile-time training_mode input."""
    if not n.has_input(2):
        return False
    data = n.const(2)
    if data is None:
        n.fail("the training_mode (input 2) must be known at compile time",
               hint="wsc compiles inference graphs: drop the input, or make it a constant false")
    return bool(np.asarray(data).reshape(-1)[0])


@converter("Dropout")
def dropout(n):
    x = n.input(0)
    if n.opset >= 12 and _training_mode(n):
        ratio = n.const(1) if n.has_input(1) else np.array(0.5)
        if ratio is None or float(np.asarray(ratio).reshape(-1)[0]) != 0.0:
            n.fail("training-mode dropout (random masks) is not supported",
                   hint="wsc compiles inference graphs: export the model in eval mode")
    if len(n.node.output) < 2 or not n.node.output[1]:
        return [x]
    if not x.type.is_static:
        n.fail(f"the mask output needs a static input shape, got {x.type}",
               hint="fix the symbolic sizes with --input-shape, or drop the mask output")
    # Opset 10 made the mask bool; before, it had the input's dtype.
    mask_dtype = bool if n.opset >= 10 else x.type.np_dtype
    return [x, n.constant(np.ones(x.type.shape, dtype=mask_dtype), n.out_name(1))]
