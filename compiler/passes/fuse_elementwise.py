"""fuse-elementwise: connected elementwise ops merged into one ``fused.elementwise`` each.

A region grows backwards from an elementwise op (the last one of a chain,
visiting ops from the end): an operand's producer joins when it is itself a
fusable elementwise op and every user of its result is already in the region
(and the result is not a model output) — so no value is computed twice and
none is lost. A region of two or more ops becomes one op whose `program`
(`compiler/ops/fused.py`) lists the steps in program order; its operands are
the region's outside inputs, except splat constants, which are written into
the program as literals.

Fusable: the float arithmetic and activation ops that have a program
function (`OP_FUNCTIONS`), on operands of one float dtype. Casts,
comparisons, integer ops and ops of other fusion classes end a region.

Statistics: ``regions``, ``ops-fused`` (elementwise ops replaced).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import TypeCheckError
from ..ir.builder import Builder
from ..ir.core import Constant, Module, Op, Value
from ..ops.fused import format_literal
from .base import Pass, PassContext, option
from .patterns import fused_location, splat_value

FLOATS = ("f16", "f32", "f64")

# IR op -> program function; activations with attributes list them as literal parameters.
OP_FUNCTIONS = {
    "math.add": "add", "math.sub": "sub", "math.mul": "mul", "math.div": "div",
    "math.max": "max", "math.min": "min", "math.pow": "pow", "math.neg": "neg",
    "math.abs": "abs", "math.exp": "exp", "math.log": "log", "math.sqrt": "sqrt",
    "math.reciprocal": "reciprocal", "math.erf": "erf", "math.tanh": "tanh",
    "math.sin": "sin", "math.cos": "cos", "nn.sigmoid": "sigmoid", "nn.relu": "relu",
    "nn.softplus": "softplus", "nn.hard_swish": "hard_swish", "nn.gelu": None,
    "math.clip": "clip", "nn.leaky_relu": "leaky_relu", "nn.swish": "swish",
    "nn.hard_sigmoid": "hard_sigmoid",
}


def _function(op: Op) -> tuple[str, list[float]]:
    """(program function, literal parameters) of a fusable op."""
    a = op.attrs
    if op.name == "nn.gelu":
        return ("gelu" if a["approximate"] == "none" else "gelu_tanh"), []
    if op.name == "math.clip":
        return "clip", [a["min"], a["max"]]
    if op.name in ("nn.leaky_relu", "nn.swish"):
        return OP_FUNCTIONS[op.name], [a["alpha"]]
    if op.name == "nn.hard_sigmoid":
        return "hard_sigmoid", [a["alpha"], a["beta"]]
    return OP_FUNCTIONS[op.name], []


def fusable(op: Op) -> bool:
    if op.name not in OP_FUNCTIONS or len(op.results) != 1:
        return False
    dtype = op.result.type.dtype
    return dtype in FLOATS and all(v.type.dtype == dtype for v in op.operands)


@dataclass(frozen=True)
class FuseElementwise(Pass):
    name = "fuse-elementwise"
    summary = "Merge connected elementwise ops into one fused.elementwise kernel each."

    max_ops: int = option(64, "largest number of ops in one region")

    def run(self, module: Module, ctx: PassContext) -> None:
        ctx.stat("regions", 0)
        ctx.stat("ops-fused", 0)
        users = module.users()
        outputs = module.output_values()
        taken: set[int] = set()
        regions: list[list[Op]] = []
        for op in reversed(module.ops):
            if id(op) in taken or not fusable(op):
                continue
            region = self._grow(op, users, outputs, taken)
            if len(region) >= 2:
                regions.append(region)
                taken.update(map(id, region))
        for region in regions:
            if self._replace(module, region):
                ctx.stat("regions")
                ctx.stat("ops-fused", len(region))

    def _grow(self, root: Op, users, outputs, taken) -> list[Op]:
        region = [root]
        inside = {id(root)}
        changed = True
        while changed and len(region) < self.max_ops:
            changed = False
            for op in list(region):
                for v in op.operands:
                    p = v.producer
                    if p is None or id(p) in inside or id(p) in taken or not fusable(p):
                        continue
                    if v in outputs or any(id(u) not in inside for u in users.get(v, [])):
                        continue
                    if p.result.type.dtype != root.result.type.dtype:
                        continue
                    region.append(p)
                    inside.add(id(p))
                    changed = True
        return region

    def _replace(self, module: Module, region: list[Op]) -> bool:
        order = {id(o): i for i, o in enumerate(module.ops)}
        region = sorted(region, key=lambda o: order[id(o)])
        root = region[-1]
        dtype = root.result.type.dtype
        rank = root.result.type.rank
        reg: dict[Value, str] = {}
        inputs: list[Value] = []
        steps: list[str] = []

        def arg(v: Value) -> str:
            if v in reg:
                return reg[v]
            s = splat_value(v) if isinstance(v, Constant) else None
            if s is not None and v.type.rank <= rank:
                return format_literal(s)
            if v not in inputs:
                inputs.append(v)
            return f"x{inputs.index(v)}"

        for op in region:
            fn, params = _function(op)
            args = [arg(v) for v in op.operands] + [format_literal(p) for p in params]
            reg[op.result] = f"v{len(steps)}"
            steps.append(f"v{len(steps)} = {fn}({', '.join(args)})")
        if not inputs or any(v.type.dtype != dtype for v in inputs):
            return False
        try:
            new = Builder(module, at=order[id(root)]).value(
                "fused.elementwise", inputs, {"program": "; ".join(steps)},
                loc=fused_location(module, region), result_name=root.result.name)
        except TypeCheckError:
            return False
        if new.type != root.result.type:
            module.ops.remove(new.producer)
            return False
        module.replace_all_uses(root.result, new)
        gone = set(map(id, region))
        module.ops = [o for o in module.ops if id(o) not in gone]
        return True
