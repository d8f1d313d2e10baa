"""infer-shapes: bind symbolic input dims and recompute every op's result types.

Run after the input shapes are fixed. The bindings come from two places,
merged with the option winning:

- `PassContext.symbols`, set by the compile driver from ``--input-shape``
  (silently applied to every input dim that uses the symbol);
- the `bind` option, for pipelines written by hand and golden tests:
  ``infer-shapes{bind="N=4,S=128"}`` (a symbol that no input uses is an error).

Then the registry's inference runs over the ops in order and each result takes
the inferred shape and dtype (a sparse encoding already on a result is kept).
An op that no longer type-checks raises `TypeCheckError` at its location.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import PassError
from ..ir.builder import infer_types
from ..ir.core import Module
from ..ir.types import TensorType
from .base import Pass, PassContext, option

_BINDING = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([0-9]+)\s*")


def parse_bindings(text: str) -> dict[str, int]:
    """``"N=4,S=128"`` -> ``{"N": 4, "S": 128}``; PassError on anything else."""
    out: dict[str, int] = {}
    if not text.strip():
        return out
    for part in text.split(","):
        m = _BINDING.fullmatch(part)
        if m is None:
            raise PassError(f"infer-shapes: bad binding {part.strip()!r} in bind={text!r}",
                            hint='write symbol=size pairs separated by commas, '
                                 'e.g. infer-shapes{bind="N=4,S=128"}')
        out[m.group(1)] = int(m.group(2))
    return out


def bind_type(t: TensorType, symbols: dict[str, int]) -> TensorType:
    """`t` with every bound symbolic dim replaced by its size."""
    shape = tuple(symbols.get(d, d) if isinstance(d, str) else d for d in t.shape)
    return t if shape == t.shape else t.with_shape(shape)


@dataclass(frozen=True)
class InferShapes(Pass):
    name = "infer-shapes"
    summary = "Bind symbolic input dims and recompute every op's result types."

    bind: str = option("", 'symbol sizes to fix, e.g. "N=4,S=128" (added to --input-shape)')

    def __post_init__(self) -> None:
        parse_bindings(self.bind)  # reject a malformed option when the pipeline is parsed

    def run(self, module: Module, ctx: PassContext) -> None:
        own = parse_bindings(self.bind)
        used = {d for v in module.inputs for d in v.type.shape if isinstance(d, str)}
        unknown = sorted(set(own) - used)
        if unknown:
            have = ", ".join(sorted(used)) or "none"
            raise PassError(f"infer-shapes: no input has the symbolic dim "
                            f"{', '.join(map(repr, unknown))} (symbolic dims of the inputs: {have})")
        symbols = {**ctx.symbols, **own}

        bound = 0
        for v in module.inputs:
            t = bind_type(v.type, symbols)
            if t != v.type:
                v.type = t
                bound += 1

        changed = 0
        for op in module.ops:
            _, attrs, types = infer_types(op.name, [v.type for v in op.operands], op.attrs, op.loc)
            op.attrs = attrs
            for r, t in zip(op.results, types):
                if r.type.encoding is not None:
                    t = t.with_encoding(r.type.encoding)
                if t != r.type:
                    r.type = t
                    changed += 1
        ctx.stat("inputs-bound", bound)
        ctx.stat("types-changed", changed)
