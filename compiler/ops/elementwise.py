"""Elementwise ops: unary math and activations, binary arithmetic with numpy broadcasting."""
from __future__ import annotations

from math import prod

from ..ir.types import FLOAT_DTYPES, TensorType
from .registry import ShapeError, define
from .shapes import broadcast_shapes


def _numel(t: TensorType) -> int:
    return prod(t.shape)


def _unary_infer(float_only: bool):
    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        (x,) = ins
        if float_only and x.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"expects a floating-point tensor, got {x.dtype}")
        return [TensorType(x.shape, x.dtype)]
    return infer


def _binary_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    a, b = ins
    if a.dtype != b.dtype:
        raise ShapeError(f"operand dtypes differ: {a.dtype} and {b.dtype} "
                         f"(insert an explicit cast)")
    return [TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)]


def _per_element(cost: int):
    return lambda ins, outs, attrs: cost * _numel(outs[0])


def unary(name: str, doc: str, cost: int = 1, float_only: bool = True, attrs=()) -> None:
    """Declare a one-operand elementwise op; `cost` is FLOPs per element."""
    define(name, ["x"], _unary_infer(float_only), _per_element(cost), "elementwise", doc, attrs)


def binary(name: str, doc: str, commutative: bool = False, cost: int = 1) -> None:
    """Declare a two-operand broadcasting op; `cost` is FLOPs per output element."""
    define(name, ["a", "b"], _binary_infer, _per_element(cost), "elementwise", doc,
           commutative=commutative)


# Arithmetic and transcendental functions live in `math`, activations in `nn`.
binary("math.add", "a + b, numpy broadcasting.", commutative=True)
binary("math.sub", "a - b, numpy broadcasting.")
binary("math.mul", "a * b, numpy broadcasting.", commutative=True)
binary("math.div", "a / b, numpy broadcasting (integer division truncates toward zero).")
binary("math.pow", "a ** b, numpy broadcasting.", cost=8)

unary("math.neg", "-x.", float_only=False)
unary("math.exp", "e ** x.", cost=8)
unary("math.log", "Natural logarithm.", cost=8)
unary("math.sqrt", "Square root.", cost=4)
unary("math.tanh", "Hyperbolic tangent.", cost=8)
unary("nn.relu", "max(x, 0).", float_only=False)
unary("nn.sigmoid", "1 / (1 + exp(-x)).", cost=8)
