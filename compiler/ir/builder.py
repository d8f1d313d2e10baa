"""Create ops with their result types inferred by the registry.

Frontends and passes never compute result types by hand: they call
`Builder.create`, which normalizes attributes, runs the op's shape inference
and appends (or inserts) the op. Errors from inference become
`TypeCheckError`s located at the op's `Location`.
"""
from __future__ import annotations

from typing import Any

from ..errors import TypeCheckError
from ..ops import registry
from .core import Module, Op, Value
from .location import Location
from .types import TensorType


def infer_types(name: str, operand_types: list[TensorType], attrs: dict[str, Any] | None,
                loc: Location | None = None) -> tuple[str, dict[str, Any], list[TensorType]]:
    """(full op name, normalized attrs, result types), or a located TypeCheckError."""
    try:
        opdef = registry.get_op(name)
    except KeyError as e:
        raise TypeCheckError(e.args[0], loc) from None
    try:
        opdef.check_arity(len(operand_types))
        attrs = opdef.normalize_attrs(attrs)
        types = list(opdef.infer(list(operand_types), attrs))
    except registry.ShapeError as e:
        raise TypeCheckError(str(e), loc) from None
    if len(types) != opdef.num_results:
        raise AssertionError(f"{name}: inference returned {len(types)} types, "
                             f"declared {opdef.num_results}")
    return opdef.name, attrs, types


class Builder:
    """Appends ops to a module, or inserts them before index `at` (advancing)."""

    def __init__(self, module: Module, at: int | None = None) -> None:
        self.module = module
        self.at = at

    def create(self, name: str, operands: list[Value], attrs: dict[str, Any] | None = None,
               loc: Location | None = None, result_names: list[str | None] | None = None) -> Op:
        loc = loc or Location()
        full, attrs, types = infer_types(name, [v.type for v in operands], attrs, loc)
        op = Op(full, list(operands), attrs, [], loc)
        names = result_names or [None] * len(types)
        op.results = [Value(t, n, op) for t, n in zip(types, names)]
        if self.at is None:
            self.module.ops.append(op)
        else:
            self.module.ops.insert(self.at, op)
            self.at += 1
        return op

    def value(self, name: str, operands: list[Value], attrs: dict[str, Any] | None = None,
              loc: Location | None = None, result_name: str | None = None) -> Value:
        """Create a single-result op and return its result."""
        return self.create(name, operands, attrs, loc, [result_name]).result
