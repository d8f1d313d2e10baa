"""Lowering: an IR Module becomes the runtime's `Program`.

The step is deliberately plain, one loop you can read top to bottom:

1. name every value (`assign_names`, the same names the IR printer shows, so
   that errors and profiles at run time match the printed IR);
2. write the signature: one `TensorSpec` per input and output, symbolic dims
   kept as their names for the runtime to bind;
3. one `Instr` per op: the kernel, its input/output value names, its
   attributes as plain JSON data, the op name and its source location;
4. copy the data of every constant the program refers to.

Kernel selection is not done here yet: every op runs the dense kernel named
after it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from runtime.program import Instr, Program, TensorSpec

from .errors import CompileError
from .ir.core import Module, Value
from .ir.printer import assign_names


def lower(module: Module, header: dict[str, Any] | None = None) -> Program:
    """Translate `module` into a `Program`; `header` is stored as the program's metadata."""
    names = assign_names(module)
    _check_unique_names(module, names)

    inputs = [TensorSpec(v.name, v.type.dtype, list(v.type.shape),
                         value=None if names[v] == v.name else names[v])
              for v in module.inputs]
    outputs = [TensorSpec(out, v.type.dtype, list(v.type.shape), value=names[v])
               for out, v in module.outputs.items()]

    instrs = []
    for op in module.ops:
        instrs.append(Instr(
            kernel=op.name,
            inputs=[names[v] for v in op.operands],
            outputs=[names[r] for r in op.results],
            attrs={k: _plain(v, op) for k, v in op.attrs.items()},
            op=op.name,
            loc=str(op.loc) if op.loc.is_known else "",
        ))

    used = {v for op in module.ops for v in op.operands} | set(module.outputs.values())
    constants: dict[str, np.ndarray] = {}
    missing = []
    for name, c in module.constants.items():
        if c not in used:
            continue
        if c.data is None:
            missing.append(name)
            continue
        # reshape: ascontiguousarray turns a 0-d scalar into shape [1]
        constants[names[c]] = np.ascontiguousarray(c.data, dtype=c.type.np_dtype).reshape(
            c.data.shape)
    if missing:
        listed = ", ".join(f"@{n}" for n in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise CompileError(
            f"cannot lower: {len(missing)} constant(s) have no data ({listed})",
            hint="the IR was printed with elided constants (dense<elided>); print it with "
                 "constants=\"full\" (wsc compile --emit-ir writes full IR) and compile that")

    return Program(inputs=inputs, outputs=outputs, instrs=instrs, constants=constants,
                   header=dict(header or {}))


def _check_unique_names(module: Module, names: dict[Value, str]) -> None:
    """Value names are the program's only references: two values must never share one."""
    seen: dict[str, Value] = {}
    values = list(module.inputs) + list(module.constants.values())
    values += [r for op in module.ops for r in op.results]
    for v in values:
        n = names[v]
        if n in seen and seen[n] is not v:
            raise AssertionError(f"assign_names gave two values the name {n!r}")
        seen[n] = v


def _plain(v: Any, op) -> Any:
    """An attribute value as plain JSON data (lists, not tuples; Python, not numpy, scalars)."""
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x, op) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x, op) for k, x in v.items()}
    raise CompileError(f"{op.name}: attribute value {v!r} cannot be stored in a program",
                       op.loc)
