"""Print a Module as the textual IR (`.wir`, see docs/ir.md).

`print_module` is deterministic and its output parses back
(`compiler.ir.parser.parse_module`) to a module that prints identically.
`assign_names` is the SSA naming scheme, shared with lowering so that the
values of a compiled program carry the names a user saw in the IR.
"""
from __future__ import annotations

import base64
import json
import re
from math import prod
from typing import Any

import numpy as np

from ..ops import registry
from .core import Constant, Module, Op, Value
from .location import Location
from .types import TensorType

# How names print bare; anything else is quoted (constants, outputs, symbolic dims).
VALUE_NAME_RE = re.compile(r"[A-Za-z0-9_.]+")
CONST_NAME_RE = re.compile(r"[A-Za-z0-9_.:/-]*[A-Za-z0-9_./-]")
BARE_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")

# Constants with at most this many elements print inline as dense<[...]>.
INLINE_LIMIT = 16


# --------------------------------------------------------------------------
# Names

def sanitize_name(hint: str) -> str:
    """A name hint made into a value name: characters outside [A-Za-z0-9_.] become '_'."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", hint)


def assign_names(module: Module) -> dict[Value, str]:
    """The name of every value defined in `module`, unique across the module.

    Inputs keep their names and constants map to their constant-table name.
    An op result keeps its name hint (sanitized) when no input, constant or
    earlier result already has it and it is not a plain number; every other
    result is numbered 0, 1, ... in order of definition, skipping numbers
    already taken.
    """
    names: dict[Value, str] = {}
    taken: set[str] = set()
    for v in module.inputs:
        names[v] = v.name or ""
        taken.add(v.name or "")
    for name, c in module.constants.items():
        names[c] = name
        taken.add(name)
    to_number: list[Value] = []
    for op in module.ops:
        for r in op.results:
            if r in names:
                continue  # defined twice (the verifier reports it); keep the first name
            hint = sanitize_name(r.name) if r.name else ""
            if hint and not hint.isdigit() and hint not in taken:
                names[r] = hint
                taken.add(hint)
            else:
                names[r] = ""  # placeholder keeps definition order
                to_number.append(r)
    counter = 0
    for r in to_number:
        while str(counter) in taken:
            counter += 1
        names[r] = str(counter)
        taken.add(names[r])
    return names


def quote(s: str) -> str:
    """A double-quoted string literal (JSON escapes)."""
    return json.dumps(s, ensure_ascii=False)


def const_ref(name: str) -> str:
    """``@name``, quoted as ``@"..."`` when the name has other characters."""
    return "@" + (name if CONST_NAME_RE.fullmatch(name) else quote(name))


def _bare_or_quoted(s: str) -> str:
    return s if BARE_WORD_RE.fullmatch(s) else quote(s)


def _resource_key(name: str) -> str:
    return name if CONST_NAME_RE.fullmatch(name) else quote(name)


# --------------------------------------------------------------------------
# Types, numbers, attributes, locations

def print_type(t: TensorType) -> str:
    """``f32[N, 784]``, with the encoding suffix of a sparse type: ``f32[4, 4] #csr(nnz=3)``."""
    dims = ", ".join(str(d) if isinstance(d, int) else _bare_or_quoted(d) for d in t.shape)
    s = f"{t.dtype}[{dims}]"
    if t.encoding is not None:
        s += f" #{t.encoding.format}(nnz={t.encoding.nnz})"
    return s


def format_float(x: float) -> str:
    """A Python float as the IR writes it: shortest repr, always with '.' or an exponent."""
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


def _format_scalar(x: np.generic) -> str:
    """One array element, as short as its own dtype allows (f32 0.1 prints ``0.1``)."""
    if isinstance(x, np.bool_):
        return "true" if x else "false"
    if isinstance(x, np.floating):
        if np.isnan(x):
            return "nan"
        if np.isinf(x):
            return "inf" if x > 0 else "-inf"
        return str(x)  # numpy prints the shortest string that round-trips in x's dtype
    if isinstance(x, np.integer):
        return str(int(x))
    return quote(str(x))


def format_attr(v: Any) -> str:
    """An attribute value: ``1``, ``1e-05``, ``true``, ``"same"``, ``[0, 2, 1]``."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return format_float(float(v))
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_attr(x) for x in v) + "]"
    return quote(str(v))  # not a valid attribute; the verifier reports it


def _loc_item(loc: Location) -> str:
    if loc.file is None:
        return quote(loc.name or "")
    # Lines and columns are 1-based; 0 stands for "not known".
    pos = f"{quote(loc.file)}:{loc.line or 0}"
    if loc.col is not None:
        pos += f":{loc.col}"
    return f"{quote(loc.name)}({pos})" if loc.name else pos


def format_loc(loc: Location) -> str | None:
    """The inside of ``loc(...)``, or None for an unknown location."""
    if loc.fused:
        parts: list[Location] = []
        stack = list(loc.fused)
        while stack:
            part = stack.pop(0)
            if part.fused:
                stack[:0] = part.fused
            elif part.is_known:
                parts.append(part)
        if not parts:
            return None
        return "fused[" + ", ".join(_loc_item(p) for p in parts) + "]"
    if not loc.is_known:
        return None
    return _loc_item(loc)


# --------------------------------------------------------------------------
# Ops

def _ref(v: Value, names: dict[Value, str]) -> str:
    if isinstance(v, Constant):
        return const_ref(v.name)
    name = names.get(v)
    if name is None:  # not defined in the module: print something a reader can spot
        return "%?" + sanitize_name(v.name or "undefined")
    return "%" + name


def _printed_attrs(op: Op) -> dict[str, Any]:
    try:
        return registry.get_op(op.name).non_default_attrs(op.attrs)
    except KeyError:
        return dict(op.attrs)


def print_op(op: Op, names: dict[Value, str] | None = None, *, locs: bool = True) -> str:
    """One op line (without indentation): ``%y = nn.relu(%x) : f32[N] loc(...)``.

    `names` comes from `assign_names`; without it, values print by their hints.
    """
    if names is None:
        names = {v: sanitize_name(v.name) if v.name else "?" for v in [*op.operands, *op.results]}
    results = ", ".join(_ref(r, names) for r in op.results)
    operands = ", ".join(_ref(v, names) for v in op.operands)
    s = f"{results} = {op.name}({operands})"
    attrs = _printed_attrs(op)
    if attrs:
        s += " {" + ", ".join(f"{k} = {format_attr(v)}" for k, v in attrs.items()) + "}"
    s += " : " + ", ".join(print_type(r.type) for r in op.results)
    loc = format_loc(op.loc) if locs else None
    if loc is not None:
        s += f" loc({loc})"
    return s


# --------------------------------------------------------------------------
# Constants

def _nest(items: list[str], shape: tuple[int, ...]) -> str:
    if not shape:
        return items[0]
    inner = prod(shape[1:])
    return "[" + ", ".join(_nest(items[i * inner:(i + 1) * inner], shape[1:])
                           for i in range(shape[0])) + "]"


def _is_splat(data: np.ndarray) -> bool:
    """Every element has the same bytes (and there is more than one element)."""
    if data.size <= 1:
        return False
    rows = np.ascontiguousarray(data).reshape(-1).view(np.uint8).reshape(data.size, -1)
    return bool((rows == rows[0]).all())


def _reads_back_exactly(items: list[str], data: np.ndarray) -> bool:
    """Whether the printed elements parse back to the very same bits (nan payloads do not)."""
    if data.dtype.kind != "f":
        return True
    back = np.array([float(s) for s in items], dtype=data.dtype)
    return back.tobytes() == np.ascontiguousarray(data).reshape(-1)[:len(items)].tobytes()


def _const_value(c: Constant, mode: str, resources: list[tuple[str, np.ndarray]]) -> str:
    data = c.data
    if data is None:
        return "dense<elided>"
    data = np.asarray(data)
    if _is_splat(data):
        items = [_format_scalar(data.reshape(-1)[0])]
        if mode == "elide" or _reads_back_exactly(items, data):
            return f"dense<{items[0]}>"
    elif data.size <= INLINE_LIMIT:
        items = [_format_scalar(x) for x in data.reshape(-1)]
        if mode == "elide" or _reads_back_exactly(items, data):
            return f"dense<{_nest(items, data.shape)}>"
    if mode == "elide":
        return "dense<elided>"
    resources.append((c.name, data))
    return f"dense_resource<{_resource_key(c.name)}>"


def encode_resource(data: np.ndarray) -> str:
    """``base64:...`` of the array's raw little-endian bytes in C order."""
    little = np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<"))
    return "base64:" + base64.b64encode(little.tobytes()).decode("ascii")


# --------------------------------------------------------------------------
# Modules

def print_module(module: Module, *, constants: str = "elide", locs: bool = True) -> str:
    """The module as `.wir` text.

    constants="elide" prints constants of more than 16 elements as
    ``dense<elided>`` (for display, dumps and golden tests); "full" writes their
    data to the trailing ``resources`` block so the text can be compiled, and
    keeps every bit (nan payloads included). `locs=False` omits ``loc(...)``.
    """
    if constants not in ("elide", "full"):
        raise ValueError(f"constants must be 'elide' or 'full', not {constants!r}")
    names = assign_names(module)
    resources: list[tuple[str, np.ndarray]] = []
    lines = [f"module {const_ref(module.name)} {{"]
    for name, c in module.constants.items():
        sparsity = f" sparsity({format_float(c.sparsity)})" if c.sparsity is not None else ""
        lines.append(f"  const {const_ref(name)} : {print_type(c.type)}{sparsity}"
                     f" = {_const_value(c, constants, resources)}")
    if module.constants:
        lines.append("")
    args = ", ".join(f"%{names[v]}: {print_type(v.type)}" for v in module.inputs)
    outs = ", ".join(f"{_bare_or_quoted(k)}: {print_type(v.type)}"
                     for k, v in module.outputs.items())
    lines.append(f"  func @main({args}) -> ({outs}) {{")
    for op in module.ops:
        lines.append("    " + print_op(op, names, locs=locs))
    ret = ", ".join(f"{_bare_or_quoted(k)}: {_ref(v, names)}" for k, v in module.outputs.items())
    lines.append(f"    return {ret}".rstrip())
    lines += ["  }", "}"]
    if resources:
        lines += ["", "resources {"]
        lines += [f"  {_resource_key(name)}: {quote(encode_resource(data))}"
                  for name, data in resources]
        lines.append("}")
    return "\n".join(lines) + "\n"


__all__ = ["assign_names", "print_module", "print_op", "print_type", "format_attr",
           "format_float", "format_loc", "const_ref", "encode_resource"]
