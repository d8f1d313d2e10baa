"""fold-constants: evaluate pure ops whose operands are all constants, at compile time.

The op is run with the runtime's own kernel (``runtime.kernels``), so a folded
value is bit-for-bit what the runtime would have computed. Each result becomes
a new constant named after the result's name hint (or ``<op>.folded``), made
unique among constants and inputs (``h``, ``h.1``...); the op is removed.
Afterwards constants that nothing uses any more are dropped.

Not folded: impure ops, ops with an elided constant operand (no data, e.g. a
module parsed from a ``dense<elided>`` dump), ops without a runtime kernel,
and ops whose results together exceed `max-bytes` (folding would bloat the
artifact with data that is cheap to compute).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.kernels import KERNELS

from ..errors import PassError
from ..ir.core import Constant, Module, Op, Value
from ..ops import registry
from .base import Pass, PassContext, option


@dataclass(frozen=True)
class FoldConstants(Pass):
    name = "fold-constants"
    summary = "Evaluate ops whose operands are all constants and replace them by constants."

    max_bytes: int = option(64 << 20, "largest total result size to fold, in bytes")

    def run(self, module: Module, ctx: PassContext) -> None:
        replaced: dict[Value, Value] = {}
        kept: list[Op] = []
        folded = skipped_elided = skipped_large = 0
        for op in module.ops:
            op.operands = [replaced.get(v, v) for v in op.operands]
            why = self._blocker(op)
            if why == "elided":
                skipped_elided += 1
            elif why == "large":
                skipped_large += 1
            if why is not None:
                kept.append(op)
                continue
            for r, data in zip(op.results, _evaluate(op)):
                replaced[r] = module.add_constant(_constant_name(module, r, op), data, type=r.type)
            folded += 1
        module.ops = kept
        for k, v in module.outputs.items():
            module.outputs[k] = replaced.get(v, v)
        dropped = module.remove_unused_constants()
        ctx.stat("folded", folded)
        ctx.stat("skipped-elided", skipped_elided)
        ctx.stat("skipped-too-large", skipped_large)
        ctx.stat("constants-removed", len(dropped))

    def _blocker(self, op: Op) -> str | None:
        """Why `op` cannot be folded ("elided", "large", "other"), or None if it can."""
        try:
            opdef = registry.get_op(op.name)
        except KeyError:
            return "other"
        if not opdef.pure or op.name not in KERNELS:
            return "other"
        if not all(v.is_constant for v in op.operands):
            return "other"
        if any(v.data is None for v in op.operands):  # type: ignore[attr-defined]
            return "elided"
        sizes = [r.type.nbytes() for r in op.results]
        if any(s is None for s in sizes):
            return "other"
        if sum(sizes) > self.max_bytes:
            return "large"
        return None


def _constant_name(module: Module, r: Value, op: Op) -> str:
    """The result's name hint (``%h`` -> ``@h``; numbers do not count) or ``<op>.folded``,
    made unique among constants and input names (the two share lowering's name space)."""
    base = r.name if r.name and not r.name.isdigit() else f"{op.name}.folded"
    taken = {v.name for v in module.inputs}
    name, i = base, 0
    while name in module.constants or name in taken:
        i += 1
        name = f"{base}.{i}"
    return name


def _evaluate(op: Op) -> list[np.ndarray]:
    """Run the op's runtime kernel on its constant operands; one array per result."""
    fn = KERNELS[op.name]
    arrays = [v.data for v in op.operands if isinstance(v, Constant)]
    with np.errstate(all="ignore"):  # nan/inf are values here, as at run time
        out = fn(*arrays, **op.attrs)
    outs = list(out) if isinstance(out, tuple) else [out]
    if len(outs) != len(op.results):
        raise PassError(f"fold-constants: kernel {op.name} returned {len(outs)} arrays "
                        f"for {len(op.results)} results", op.loc)
    result = []
    for r, a in zip(op.results, outs):
        a = np.asarray(a)
        if a.shape != r.type.shape:
            raise PassError(f"fold-constants: kernel {op.name} returned shape "
                            f"{list(a.shape)}, but the op's type is {r.type}", op.loc,
                            hint="the op's shape inference and its runtime kernel disagree "
                                 "(a bug in wsc)")
        # Copy so the new constant never aliases an operand's buffer (reshape returns views).
        result.append(np.array(a, dtype=r.type.np_dtype, copy=True))
    return result
