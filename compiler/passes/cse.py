"""cse: common-subexpression elimination — merge pure ops that compute the same thing.

Two ops compute the same thing when they have the same op name, the same
operands (the same Values, after earlier merges), equal attributes and equal
result types. The first one in program order is kept; the later one's results
are replaced by the first one's, and the kept op's location becomes the fusion
of both (``loc(fused[...])``) so diagnostics still point at every source.

For commutative ops (``math.add``, ``math.mul``: `OpDef.commutative`) the
operands are compared in a canonical order, the order in which the values are
defined: inputs, then constants in table order, then op results in op order.
So ``add(%a, %b)`` and ``add(%b, %a)`` merge, ``sub(%a, %b)`` and
``sub(%b, %a)`` do not. Constants are compared by identity, not by content.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

from ..ir.core import Module, Op, Value
from ..ir.location import Location
from ..ops import registry
from .base import Pass, PassContext
from .dce import is_pure


def freeze_attr(v: Any) -> Hashable:
    """A hashable form of an attribute value that keeps its type (1, 1.0 and True differ)."""
    if isinstance(v, (list, tuple)):
        return ("list", tuple(freeze_attr(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple(sorted((k, freeze_attr(x)) for k, x in v.items())))
    return (type(v).__name__, v)


def definition_order(module: Module) -> dict[Value, int]:
    """Every value of the module numbered in order of definition."""
    order: dict[Value, int] = {}
    for v in module.inputs:
        order[v] = len(order)
    for c in module.constants.values():
        order[c] = len(order)
    for op in module.ops:
        for r in op.results:
            order[r] = len(order)
    return order


@dataclass(frozen=True)
class CommonSubexpressionElimination(Pass):
    name = "cse"
    summary = "Merge pure ops with the same operands and attributes into the first one."

    def run(self, module: Module, ctx: PassContext) -> None:
        order = definition_order(module)
        replaced: dict[Value, Value] = {}
        seen: dict[Hashable, Op] = {}
        kept: list[Op] = []
        for op in module.ops:
            op.operands = [replaced.get(v, v) for v in op.operands]
            if not is_pure(op):
                kept.append(op)
                continue
            operands = list(op.operands)
            if registry.get_op(op.name).commutative:
                operands.sort(key=lambda v: order[v])
            key = (op.name, tuple(operands),
                   freeze_attr(op.attrs), tuple(r.type for r in op.results))
            first = seen.get(key)
            if first is None:
                seen[key] = op
                kept.append(op)
                continue
            for old, new in zip(op.results, first.results):
                replaced[old] = new
            first.loc = Location.fuse([first.loc, op.loc])
        merged = len(module.ops) - len(kept)
        module.ops = kept
        for k, v in module.outputs.items():
            module.outputs[k] = replaced.get(v, v)
        ctx.stat("ops-merged", merged)
