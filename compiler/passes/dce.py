"""dce: dead-code elimination — remove pure ops whose results nothing uses, and unused constants.

Liveness flows backwards from the module outputs: an op is live if it is
impure or one of its results is used by a live op or is a model output. One
reverse walk over the topologically ordered ops finds all of them, so chains
of dead ops disappear in a single run. Model inputs are part of the
signature and are never removed.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.core import Module, Op, Value
from ..ops import registry
from .base import Pass, PassContext


def is_pure(op: Op) -> bool:
    """Whether the registry says `op` has no side effects (unknown ops count as impure)."""
    try:
        return registry.get_op(op.name).pure
    except KeyError:
        return False


@dataclass(frozen=True)
class DeadCodeElimination(Pass):
    name = "dce"
    summary = "Remove pure ops whose results are unused, and unused constants."

    def run(self, module: Module, ctx: PassContext) -> None:
        live: set[Value] = set(module.outputs.values())
        kept: list[Op] = []
        for op in reversed(module.ops):
            if not is_pure(op) or any(r in live for r in op.results):
                kept.append(op)
                live.update(op.operands)
        removed = len(module.ops) - len(kept)
        kept.reverse()
        module.ops = kept
        ctx.stat("ops-removed", removed)
        ctx.stat("constants-removed", len(module.remove_unused_constants()))
