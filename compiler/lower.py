"""Lowering: an IR Module becomes the runtime's `Program`.

The step is deliberately plain, one loop you can read top to bottom:

1. name every value (`assign_names`, the same names the IR printer shows, so
   that errors and profiles at run time match the printed IR);
2. write the signature: one `TensorSpec` per input and output, symbolic dims
   kept as their names for the runtime to bind;
3. one `Instr` per op: the kernel, its input/output value names, its
   attributes as plain JSON data, the op name and its source location;
4. copy the data of every constant the program refers to.

Kernels: an op runs the dense kernel named after it, unless select-kernels
gave its weight a sparse encoding (the sparse-kernel contract, see
docs/sparsity.md): ``nn.matmul(x, @W #csc)`` becomes ``sparse.matmul_csc(x,
W.indptr, W.indices, W.data, k=K, n=N)`` and ``nn.conv2d(x, @W #csr, b?)``
becomes ``sparse.conv2d_csr(x, W.indptr, W.indices, W.data, b?,
out_channels=O, kernel_shape=[kh, kw], ...)``; ``rnn.lstm(x, @W #csr, R,
...)`` becomes ``sparse.lstm(x, W.indptr, W.indices, W.data, R, ...,
w_sparse=true, r_sparse=false, ...)`` (likewise rnn.rnn, rnn.gru; each of W
and R is its three parts or one dense array). A sparse weight is stored as
those three parts only (`compiler/sparsity/storage.py`), never densely.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from runtime.program import Instr, Program, TensorSpec

from .errors import CompileError
from .ir.core import Constant, Module, Op, Value
from .ir.printer import assign_names
from .sparsity.costmodel import RNN_SPARSE_KERNELS
from .sparsity.storage import PART_SUFFIXES, weight_parts
from .sparsity.weights import find_weight_uses


def lower(module: Module, header: dict[str, Any] | None = None) -> Program:
    """Translate `module` into a `Program`; `header` is stored as the program's metadata."""
    names = assign_names(module)
    _check_unique_names(module, names)

    inputs = [TensorSpec(v.name, v.type.dtype, list(v.type.shape),
                         value=None if names[v] == v.name else names[v])
              for v in module.inputs]
    outputs = [TensorSpec(out, v.type.dtype, list(v.type.shape), value=names[v])
               for out, v in module.outputs.items()]

    used = {v for op in module.ops for v in op.operands} | set(module.outputs.values())
    parts = _sparse_part_names(module, names, used)

    instrs = []
    for op in module.ops:
        kernel, operand_names, attrs = _select(op, names, parts)
        instrs.append(Instr(
            kernel=kernel,
            inputs=operand_names,
            outputs=[names[r] for r in op.results],
            attrs={k: _plain(v, op) for k, v in attrs.items()},
            op=op.name,
            loc=str(op.loc) if op.loc.is_known else "",
        ))
    for out, v in module.outputs.items():
        if v in parts:
            raise CompileError(f"cannot lower: output {out!r} is the sparse constant @{v.name}",
                               hint="select-kernels never encodes an output; this is a bug "
                                    "in the pass that did")

    constants: dict[str, np.ndarray] = {}
    missing = []
    kinds = {u.weight: u.kind for u in find_weight_uses(module)}
    for name, c in module.constants.items():
        if c not in used:
            continue
        if c.data is None:
            missing.append(name)
            continue
        if c in parts:
            constants.update(_sparse_parts(c, parts[c], kinds.get(c)))
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


def _sparse_part_names(module: Module, names: dict[Value, str], used: set[Value]
                       ) -> dict[Constant, tuple[str, str, str]]:
    """The program names of the (indptr, indices, data) parts of every sparse constant."""
    taken = set(names.values())
    out = {}
    for c in module.constants.values():
        if c.type.encoding is None or c not in used:
            continue
        base = names[c]
        while any(f"{base}.{s}" in taken for s in PART_SUFFIXES):
            base += "_"
        out[c] = tuple(f"{base}.{s}" for s in PART_SUFFIXES)
        taken.update(out[c])
    return out


def _select(op: Op, names: dict[Value, str], parts: dict[Constant, tuple[str, str, str]]
            ) -> tuple[str, list[str], dict[str, Any]]:
    """(kernel, input value names, attributes) of the instruction for `op`."""
    sparse = [(i, v) for i, v in enumerate(op.operands) if v in parts]
    if not sparse:
        return op.name, [names[v] for v in op.operands], op.attrs
    i, w = sparse[0]
    fmt = w.type.encoding.format
    if op.name in RNN_SPARSE_KERNELS and all(j in (1, 2) and v.type.encoding.format == "csr"
                                             for j, v in sparse):
        flags = {"w_sparse": op.operands[1] in parts, "r_sparse": op.operands[2] in parts}
        ins = [names[op.operands[0]]]
        for v in op.operands[1:3]:
            ins += list(parts[v]) if v in parts else [names[v]]
        ins += [names[v] for v in op.operands[3:]]
        return RNN_SPARSE_KERNELS[op.name], ins, {**op.attrs, **flags}
    fused = op.name.startswith("fused.")
    epilogue_ok = not fused or not (op.attrs.get("shortcut") or op.attrs.get("pool_kernel"))
    epilogue = ({k: op.attrs[k] for k in ("activation", "alpha", "clip_min", "clip_max",
                                          "residual")} if fused else {"activation": "none"})
    extra = [names[v] for v in op.operands[2:3]] if (not fused or op.attrs["has_bias"]) else []
    if fused and op.attrs["residual"]:
        extra.append(names[op.operands[2 + op.attrs["has_bias"]]])
    if op.name in ("nn.matmul", "fused.matmul_epilogue") and i == 1 and len(sparse) == 1 \
            and fmt == "csc" and epilogue_ok:
        k, n = w.type.shape
        return ("sparse.matmul_csc", [names[op.operands[0]], *parts[w], *extra],
                {"k": k, "n": n, **epilogue})
    if op.name in ("nn.conv2d", "fused.conv2d_epilogue") and i == 1 and len(sparse) == 1 \
            and fmt == "csr" and epilogue_ok:
        o, _, kh, kw = w.type.shape
        conv = {k: op.attrs[k] for k in ("strides", "pads", "dilations", "groups")}
        attrs = {"out_channels": o, "kernel_shape": [kh, kw], **conv, **epilogue}
        return "sparse.conv2d_csr", [names[op.operands[0]], *parts[w], *extra], attrs
    raise CompileError(f"cannot lower {op.name}: its operand {i} @{w.name} is stored sparsely "
                       f"({w.type.encoding}) and no sparse kernel takes it there", op.loc,
                       hint="sparse kernels: nn.matmul / fused.matmul_epilogue with a #csc right "
                            "operand, nn.conv2d / fused.conv2d_epilogue with a #csr weight, "
                            "epilogues without a fused shortcut or pool, rnn.rnn / rnn.gru / "
                            "rnn.lstm with a #csr W and/or R (select-kernels chooses encodings)")


def _sparse_parts(c: Constant, part_names: tuple[str, str, str], kind: str | None
                  ) -> dict[str, np.ndarray]:
    """The three stored parts of sparse constant `c` (its dense data is never stored);
    `kind` is its weight use's ("matmul", "conv", "rnn"), which fixes the row view."""
    data = np.ascontiguousarray(c.data, dtype=c.type.np_dtype)
    arrays = weight_parts(data, c.type.encoding.format, kind)
    if arrays[2].size != c.type.encoding.nnz:
        raise CompileError(f"cannot lower @{c.name}: its type says {c.type.encoding} but its "
                           f"data has {arrays[2].size} nonzeros",
                           hint="a pass changed the weight after select-kernels; run "
                                "select-kernels last")
    return dict(zip(part_names, arrays))


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
