"""The op registry: the single source of truth for what an op is.

Each op is declared once as an `OpDef`: its dotted name, operand names,
attributes (kinds and defaults), shape/dtype inference, cost (FLOPs and bytes)
and fusion class. The frontends, the builder, the verifier, the passes, the
cost model and lowering all look ops up here; the runtime has a kernel of the
same name (checked by `tests/ops/test_registry.py`).

Operand names carry arity markers: ``"bias?"`` is optional (may be absent at
the end of the operand list), ``"inputs*"`` is variadic (one or more, last).

Shape inference receives the operand types and the normalized attributes and
returns the result types, or raises `ShapeError` with a message a user can act
on (the builder adds the location). Cost functions receive the same types with
every symbolic dim already bound to an int.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from ..ir.types import TensorType

REQUIRED = object()  # sentinel default: the attribute must be given

ATTR_KINDS = ("int", "float", "bool", "str", "ints", "floats", "dtype", "shape")
FUSION_CLASSES = (
    "elementwise",   # one output element per input element (after broadcasting)
    "reduction",     # reduces one or more axes
    "normalization", # softmax / layernorm: reduction + elementwise over the same axis
    "contraction",   # matmul, conv: the MAC-heavy kernels that epilogues fuse into
    "pool",          # windowed reductions
    "movement",      # reshape, transpose, slice, concat: data layout only
    "fused",         # already a fused kernel
    "opaque",        # anything the fuser must not touch
)


class ShapeError(Exception):
    """Raised by shape inference or attribute checks; the builder attaches a location."""


@dataclass(frozen=True)
class Attr:
    """One attribute of an op: its kind (see ATTR_KINDS), default and meaning."""

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


InferFn = Callable[[list[TensorType], dict], list[TensorType]]
FlopsFn = Callable[[list[TensorType], list[TensorType], dict], int]


@dataclass(frozen=True)
class OpDef:
    """Everything the compiler knows about one op."""

    name: str                      # dotted: "nn.conv2d"
    operands: tuple[str, ...]
    infer: InferFn
    flops: FlopsFn
    fusion: str
    doc: str
    attrs: tuple[Attr, ...] = ()
    bytes: FlopsFn | None = None   # default: every operand and result read/written once
    num_results: int = 1
    commutative: bool = False      # operands may be swapped (CSE canonicalizes them)
    pure: bool = True              # no side effects: DCE/CSE may remove or merge it

    def __post_init__(self) -> None:
        if "." not in self.name:
            raise ValueError(f"op name {self.name!r} must be dotted (family.op)")
        if self.fusion not in FUSION_CLASSES:
            raise ValueError(f"{self.name}: unknown fusion class {self.fusion!r}")
        for a in self.attrs:
            if a.kind not in ATTR_KINDS:
                raise ValueError(f"{self.name}.{a.name}: unknown attribute kind {a.kind!r}")

    @property
    def short_name(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def attr_map(self) -> dict[str, Attr]:
        return {a.name: a for a in self.attrs}

    # -- operands -----------------------------------------------------------
    def arity(self) -> tuple[int, int | None]:
        """(min, max) operand count; max None = unbounded."""
        lo = sum(1 for o in self.operands if not o.endswith(("?", "*")))
        if any(o.endswith("*") for o in self.operands):
            return lo + 1 if self.operands[-1].endswith("*") else lo, None
        return lo, len(self.operands)

    def check_arity(self, n: int) -> None:
        lo, hi = self.arity()
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
            names = ", ".join(self.operands)
            raise ShapeError(f"{self.name} takes {want} operands ({names}), got {n}")

    # -- attributes ---------------------------------------------------------
    def normalize_attrs(self, attrs: dict[str, Any] | None) -> dict[str, Any]:
        """Check kinds, fill defaults, reject unknown names. Returns a new dict in declared order."""
        attrs = dict(attrs or {})
        known = self.attr_map
        unknown = [k for k in attrs if k not in known]
        if unknown:
            k = unknown[0]
            close = difflib.get_close_matches(k, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            allowed = ", ".join(known) or "none"
            raise ShapeError(f"{self.name} has no attribute {k!r}{hint}; attributes: {allowed}")
        out: dict[str, Any] = {}
        for a in self.attrs:
            if a.name in attrs:
                out[a.name] = coerce_attr(self.name, a, attrs[a.name])
            elif a.required:
                raise ShapeError(f"{self.name} requires attribute {a.name!r} ({a.kind}): {a.doc}")
            else:
                out[a.name] = a.default
        return out

    def non_default_attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The attributes worth printing: required ones and those differing from the default."""
        known = self.attr_map
        return {k: v for k, v in attrs.items()
                if k not in known or known[k].required or known[k].default != v}

    # -- cost ---------------------------------------------------------------
    def cost_bytes(self, ins: list[TensorType], outs: list[TensorType], attrs: dict) -> int:
        if self.bytes is not None:
            return int(self.bytes(ins, outs, attrs))
        return int(sum(t.nbytes() or 0 for t in ins) + sum(t.nbytes() or 0 for t in outs))


def coerce_attr(op: str, a: Attr, v: Any) -> Any:
    """Convert an attribute value to its canonical Python form, or raise ShapeError."""
    def bad(want: str):
        return ShapeError(f"{op}: attribute {a.name!r} must be {want}, got {v!r}")

    k = a.kind
    if k == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            if isinstance(v, float) and v.is_integer():
                return int(v)
            raise bad("an integer")
        out: Any = int(v)
    elif k == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad("a number")
        out = float(v)
    elif k == "bool":
        if not isinstance(v, bool):
            raise bad("true or false")
        out = v
    elif k in ("str", "dtype"):
        if not isinstance(v, str):
            raise bad("a string")
        out = v
    elif k in ("ints", "shape"):
        if isinstance(v, int) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, (list, tuple)) or not all(
                isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise bad("a list of integers")
        out = [int(x) for x in v]
    elif k == "floats":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, (list, tuple)) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise bad("a list of numbers")
        out = [float(x) for x in v]
    else:  # pragma: no cover - kinds are checked at registration
        raise bad(k)
    if a.choices and out not in a.choices:
        raise ShapeError(f"{op}: attribute {a.name!r} must be one of "
                         f"{', '.join(map(repr, a.choices))}, got {v!r}")
    if k == "dtype":
        from ..ir.types import DTYPES
        if out not in DTYPES:
            raise ShapeError(f"{op}: attribute {a.name!r} must be a dtype "
                             f"({', '.join(DTYPES)}), got {v!r}")
    return out


# --------------------------------------------------------------------------
# The registry itself.

OPS: dict[str, OpDef] = {}
_SHORT: dict[str, str] = {}


def register(opdef: OpDef) -> OpDef:
    """Add an op; names (full and short) must be unique."""
    if opdef.name in OPS:
        raise ValueError(f"op {opdef.name} registered twice")
    if opdef.short_name in _SHORT:
        raise ValueError(f"short name {opdef.short_name!r} of {opdef.name} "
                         f"clashes with {_SHORT[opdef.short_name]}")
    OPS[opdef.name] = opdef
    _SHORT[opdef.short_name] = opdef.name
    return opdef


def define(name: str, operands, infer: InferFn, flops: FlopsFn, fusion: str, doc: str,
           attrs=(), **kw) -> OpDef:
    """Declare and register an op in one call (the form the family modules use)."""
    return register(OpDef(name=name, operands=tuple(operands), infer=infer, flops=flops,
                          fusion=fusion, doc=doc, attrs=tuple(attrs), **kw))


def get_op(name: str) -> OpDef:
    """Look up by full (``nn.relu``) or short (``relu``) name; KeyError with a suggestion."""
    full = name if name in OPS else _SHORT.get(name)
    if full is None:
        raise KeyError(unknown_op_message(name))
    return OPS[full]


def unknown_op_message(name: str) -> str:
    candidates = list(OPS) + list(_SHORT)
    close = difflib.get_close_matches(name, candidates, n=3)
    msg = f"unknown op {name!r}"
    if close:
        msg += f"; did you mean {', '.join(repr(c) for c in close)}?"
    return msg


def all_ops() -> list[OpDef]:
    return [OPS[k] for k in sorted(OPS)]
