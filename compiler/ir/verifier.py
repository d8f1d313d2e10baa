"""Check the invariants of a Module; the pass manager runs this after every pass.

`verify(module)` returns None or raises `VerifyError` located at the offending
op (its `Location`; the message also names the op and its position, for ops
without a known location). What is checked:

- inputs: named with a value name ([A-Za-z0-9_.]+), names unique and distinct
  from constant names (lowering names program values after them);
- constants: table key equals the constant's name, static shape, data (when
  present) of the declared shape and dtype, sparsity annotation in [0, 1); a
  sparse encoding (``#csc(nnz=..)``, ``#csr(nnz=..)``) names a known format and
  its nnz equals the data's nonzeros (at most the element count when elided);
- ops, in order: registered under their full name, operand count, every
  operand defined before use in this module (an input, a constant of this
  module's table, or a result of an earlier op), attributes normalized,
  results produced by this op and defined once, result types equal to what
  the registry infers (a sparse encoding on a result is allowed: passes choose
  encodings, inference does not);
- outputs: every output value defined in this module.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import TypeCheckError, VerifyError
from ..ops import registry
from .builder import infer_types
from .core import Constant, Module, Op, Value
from .location import Location
from .printer import VALUE_NAME_RE, print_type
from .types import DTYPES, dtype_from_numpy

# Sparse formats a constant may be stored in (the sparse-kernel contract, docs/sparsity.md).
CONSTANT_FORMATS = ("csc", "csr")


def verify(module: Module) -> None:
    """Raise `VerifyError` for the first broken invariant of `module`."""
    defined: set[Value] = set()
    _check_inputs(module, defined)
    _check_constants(module, defined)
    later = {r: i for i, op in enumerate(module.ops) for r in op.results}
    for index, op in enumerate(module.ops):
        _check_op(module, index, op, defined, later)
    for name, v in module.outputs.items():
        if v not in defined:
            raise VerifyError(f"output {name!r} refers to {_value_desc(v)}, which is not defined "
                              f"in this module")


def _value_desc(v: Value) -> str:
    if isinstance(v, Constant):
        return f"constant @{v.name}"
    return f"value %{v.name}" if v.name else "an unnamed value"


def _check_inputs(module: Module, defined: set[Value]) -> None:
    seen: set[str] = set()
    for v in module.inputs:
        if isinstance(v, Constant) or v.producer is not None:
            raise VerifyError(f"input {v.name!r} is a constant or an op result, not an input value")
        if not v.name or not VALUE_NAME_RE.fullmatch(v.name):
            raise VerifyError(f"input name {v.name!r} is not a value name ([A-Za-z0-9_.]+)",
                              hint="frontends sanitize input names; other characters become '_'")
        if v.name in seen:
            raise VerifyError(f"input %{v.name} is declared twice")
        if v.name in module.constants:
            raise VerifyError(f"input %{v.name} has the name of constant @{v.name}",
                              hint="inputs and constants share the program's namespace")
        if v in defined:
            raise VerifyError(f"input %{v.name} is listed twice")
        seen.add(v.name)
        defined.add(v)


def _check_constants(module: Module, defined: set[Value]) -> None:
    for key, c in module.constants.items():
        where = f"constant @{key}"
        if not isinstance(c, Constant):
            raise VerifyError(f"{where} is not a Constant")
        if c.name != key:
            raise VerifyError(f"{where} is named {c.name!r} (the table key and the name must agree)")
        if c in defined:
            raise VerifyError(f"{where} is also defined elsewhere (an input or another table entry)")
        if not c.type.is_static:
            raise VerifyError(f"{where} has a symbolic shape {print_type(c.type)}; constants are static")
        if c.data is not None:
            shape = tuple(int(d) for d in c.data.shape)
            if shape != c.type.shape:
                raise VerifyError(f"{where}: its data has shape {list(shape)}, but its type is "
                                  f"{print_type(c.type)}")
            try:
                dtype = dtype_from_numpy(c.data.dtype)
            except KeyError:
                dtype = str(c.data.dtype)
            if dtype != c.type.dtype:
                raise VerifyError(f"{where}: its data is {dtype}, but its type is {print_type(c.type)}",
                                  hint=f"IR dtypes: {', '.join(DTYPES)}")
        if c.type.encoding is not None:
            _check_constant_encoding(c, where)
        if c.sparsity is not None:
            s = c.sparsity
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 <= s < 1.0:
                raise VerifyError(f"{where}: sparsity annotation must be a number in [0, 1), got {s!r}")
        defined.add(c)


def _check_constant_encoding(c: Constant, where: str) -> None:
    """A sparse constant: a storage format lowering knows, and nnz equal to its data's."""
    enc = c.type.encoding
    if enc.format not in CONSTANT_FORMATS:
        raise VerifyError(f"{where}: unknown sparse format #{enc.format} for a constant",
                          hint="weights are stored as #csc (the right operand of nn.matmul) "
                               "or #csr (a conv weight)")
    numel = math.prod(c.type.shape)
    if enc.nnz > numel:
        raise VerifyError(f"{where}: nnz={enc.nnz} is more than its {numel} elements")
    if c.data is not None:
        nnz = int(np.count_nonzero(c.data))
        if nnz != enc.nnz:
            raise VerifyError(f"{where}: its type says nnz={enc.nnz} but its data has {nnz} "
                              f"nonzeros", hint="a pass that changes a sparse weight must "
                                                "update its encoding")


def _check_op(module: Module, index: int, op: Op, defined: set[Value],
              later: dict[Value, int]) -> None:
    what = f"op {index} ({op.name})"

    def fail(message: str, hint: str | None = None) -> VerifyError:
        loc = op.loc if op.loc.is_known else Location()
        return VerifyError(f"{what}: {message}", loc, hint=hint)

    try:
        opdef = registry.get_op(op.name)
    except KeyError as e:
        raise fail(e.args[0]) from None
    if op.name != opdef.name:
        raise fail(f"op names are stored in full: {opdef.name}, not {op.name}")
    try:
        opdef.check_arity(len(op.operands))
    except registry.ShapeError as e:
        raise fail(str(e)) from None

    for k, v in enumerate(op.operands):
        if v in defined:
            continue
        if v in later:
            raise fail(f"operand {k} ({_value_desc(v)}) is used before op {later[v]} defines it")
        if isinstance(v, Constant):
            raise fail(f"operand {k} is constant @{v.name}, which is not in this module's "
                       f"constant table")
        raise fail(f"operand {k} ({_value_desc(v)}) is not defined in this module")

    try:
        normalized = opdef.normalize_attrs(op.attrs)
    except registry.ShapeError as e:
        raise fail(str(e)) from None
    if not _same_attrs(normalized, op.attrs):
        diff = [k for k in normalized if k not in op.attrs or not _same(normalized[k], op.attrs[k])]
        raise fail(f"attributes are not normalized ({', '.join(diff)}): expected {normalized}, "
                   f"found {op.attrs}", hint="create ops with Builder.create, which normalizes them")

    try:
        _, _, inferred = infer_types(op.name, [v.type for v in op.operands], op.attrs, op.loc)
    except TypeCheckError as e:
        raise fail(e.message) from None
    if len(op.results) != len(inferred):
        raise fail(f"has {len(op.results)} results, but {op.name} defines {len(inferred)}")
    for k, (r, want) in enumerate(zip(op.results, inferred)):
        if r.producer is not op:
            raise fail(f"result {k} ({_value_desc(r)}) records another producer")
        if r in defined:
            raise fail(f"result {k} ({_value_desc(r)}) is already defined earlier")
        if r.type.with_encoding(None) != want.with_encoding(None):
            raise fail(f"result {k} has type {print_type(r.type)}, but {op.name} infers "
                       f"{print_type(want)}")
        defined.add(r)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same kind (1 and 1.0 and True differ here); nan equals nan."""
    if isinstance(a, list) or isinstance(b, list):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _same_attrs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
