"""Rewrites as data: patterns over the op graph, a matcher, and a driver that applies rules.

A *pattern* describes a value by how it was computed, read from the root
backwards through producers:

    gelu = Pat("math.mul", Pat("math.mul", Var("x"), Pat("math.add", ERF_OF_X, Lit(1.0))),
               Lit(0.5))

- ``Pat(names, *operands, name=..., attrs=...)`` matches a value produced by an
  op of one of `names` whose operands match the sub-patterns (both orders for
  commutative ops); `attrs` is an optional predicate on the op's attributes;
  `name` binds the op.
- ``Var(name, where=...)`` matches any value and binds it; the same name used
  twice must bind the same value. `where` is an optional predicate. A named
  `Pat` used twice likewise matches the same op both times (a shared value
  inside a pattern, such as ``x - mean`` in a LayerNorm).
- ``Lit(value)`` matches a constant whose every element is `value` (within
  `rel` relative tolerance), of any broadcastable shape; ``Lit(name=...)``
  with no value matches and binds any such splat constant.
- ``Alt(p1, p2, ...)`` matches whatever one of the alternatives matches.

A `Rule` is a name, a pattern and a builder. `apply_rules` tries every rule at
every op (as the root) in program order; a match is applied only if it is
*closed*: every matched op other than the root has all its users inside the
match and no result that is a model output (so fusing never duplicates or
loses a value). The builder creates the replacement ops with a `Builder`
placed at the root's position and returns the value that replaces the root's
result; the matched ops are then removed and the replacement gets the fused
location of all of them. Builders may return None to decline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from ..ir.builder import Builder
from ..ir.core import Constant, Module, Value
from ..ir.location import Location
from ..ops import registry


@dataclass(frozen=True)
class Var:
    name: str
    where: Callable[[Value], bool] | None = None


@dataclass(frozen=True)
class Lit:
    value: float | None = None
    name: str | None = None
    rel: float = 1e-6


@dataclass(frozen=True)
class Alt:
    options: tuple

    def __init__(self, *options) -> None:
        object.__setattr__(self, "options", tuple(options))


@dataclass(frozen=True)
class Pat:
    names: tuple[str, ...]
    operands: tuple
    name: str | None = None
    attrs: Callable[[dict], bool] | None = None

    def __init__(self, names, *operands, name: str | None = None,
                 attrs: Callable[[dict], bool] | None = None) -> None:
        object.__setattr__(self, "names", (names,) if isinstance(names, str) else tuple(names))
        object.__setattr__(self, "operands", tuple(operands))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "attrs", attrs)


@dataclass
class Match:
    """What a pattern matched: bound values and ops by name, and every matched op."""

    root: Any
    values: dict[str, Value] = field(default_factory=dict)
    ops: dict[str, Any] = field(default_factory=dict)
    matched: list = field(default_factory=list)    # IR ops, root first

    def literal(self, name: str) -> float:
        """The splat value of the constant bound to `name`."""
        return splat_value(self.values[name])  # type: ignore[return-value]


@dataclass(frozen=True)
class Rule:
    """A named rewrite: `build(module, builder, match)` returns the replacement value or None."""

    name: str
    pattern: Pat
    build: Callable[[Module, Builder, Match], Value | None]


# -- constants ---------------------------------------------------------------------------

def splat_value(v: Value) -> float | None:
    """The single value of a constant whose elements are all equal (None otherwise)."""
    if not isinstance(v, Constant) or v.data is None or v.data.size == 0:
        return None
    if v.type.dtype not in ("f16", "f32", "f64"):
        if v.data.dtype.kind not in "iu":
            return None
    flat = np.asarray(v.data).reshape(-1)
    first = flat[0]
    if flat.size > 1 and not np.all(flat == first):
        return None
    return float(first)


def is_splat(v: Value) -> bool:
    return splat_value(v) is not None


def _close(a: float, b: float, rel: float) -> bool:
    if a == b:
        return True
    return abs(a - b) <= rel * max(abs(a), abs(b))


# -- matching ------------------------------------------------------------------------------

def _match(p, v: Value, m: Match) -> Iterator[Match]:
    """Every way `p` matches `v`, extending `m` (copies, so alternatives do not interfere)."""
    if isinstance(p, Var):
        bound = m.values.get(p.name)
        if bound is not None:
            if bound is v:
                yield m
            return
        if p.where is not None and not p.where(v):
            return
        yield _extend(m, values={p.name: v})
        return
    if isinstance(p, Lit):
        s = splat_value(v)
        if s is None or (p.value is not None and not _close(s, p.value, p.rel)):
            return
        yield _extend(m, values={p.name: v}) if p.name else m
        return
    if isinstance(p, Alt):
        for option in p.options:
            yield from _match(option, v, m)
        return
    op = v.producer
    if p.name is not None and p.name in m.ops:
        # a named sub-pattern used twice (a DAG, e.g. x - mean in a LayerNorm): same op
        if m.ops[p.name] is op:
            yield m
        return
    if op is None or op.name not in p.names or len(op.operands) != len(p.operands):
        return
    if len(op.results) != 1:
        return
    if p.attrs is not None and not p.attrs(op.attrs):
        return
    again = any(op is o for o in m.matched)
    base = _extend(m, ops={p.name: op} if p.name else {}, matched=[] if again else [op])
    orders = [list(op.operands)]
    if len(op.operands) == 2 and registry.get_op(op.name).commutative:
        orders.append(list(reversed(op.operands)))
    for operands in orders:
        yield from _match_all(list(p.operands), operands, base)


def _match_all(pats: list, vals: list[Value], m: Match) -> Iterator[Match]:
    if not pats:
        yield m
        return
    for m1 in _match(pats[0], vals[0], m):
        yield from _match_all(pats[1:], vals[1:], m1)


def _extend(m: Match, values=None, ops=None, matched=None) -> Match:
    return Match(m.root, {**m.values, **(values or {})}, {**m.ops, **(ops or {})},
                 m.matched + (matched or []))


def match(pattern: Pat, root, users: dict[Value, list], outputs: set[Value]) -> Match | None:
    """The first closed match of `pattern` with `root` (an IR op) as its root op, or None."""
    if len(root.results) != 1:
        return None
    for m in _match(pattern, root.results[0], Match(root)):
        if is_closed(m.matched, users, outputs):
            return m
    return None


def is_closed(ops: list, users: dict[Value, list], outputs: set[Value]) -> bool:
    """Whether every op but the first (the root) is used only inside `ops` and makes no
    model output: replacing them all by one op then neither duplicates nor loses a value."""
    inside = set(map(id, ops))
    for op in ops[1:]:
        for r in op.results:
            if r in outputs:
                return False
            if any(id(u) not in inside for u in users.get(r, [])):
                return False
    return True


# -- the driver ---------------------------------------------------------------------------

def replace_ops(module: Module, ops: list, new: Value, names_from: Value) -> None:
    """Make `new` stand for `names_from` (the root's result) and drop `ops`."""
    if new.name is None:
        new.name = names_from.name
    module.replace_all_uses(names_from, new)
    dead = set(map(id, ops))
    module.ops = [o for o in module.ops if id(o) not in dead]


def fused_location(module: Module, ops: list) -> Location:
    """The fused location of `ops`, in program order."""
    order = {id(o): i for i, o in enumerate(module.ops)}
    return Location.fuse([o.loc for o in sorted(ops, key=lambda o: order.get(id(o), 0))])


def apply_rules(module: Module, rules: list[Rule], on_apply: Callable[[str], None] | None = None,
                reverse: bool = False, max_rewrites: int = 100_000) -> int:
    """Apply `rules` until none matches; returns the number of rewrites.

    Roots are tried in program order, or from the last op to the first with
    `reverse` (so the op that ends a chain sees the longest pattern first)."""
    count = 0
    changed = True
    while changed and count < max_rewrites:
        changed = False
        users = module.users()
        outputs = module.output_values()
        order = range(len(module.ops))
        for index in (reversed(order) if reverse else order):
            op = module.ops[index]
            for rule in rules:
                m = match(rule.pattern, op, users, outputs)
                if m is None:
                    continue
                loc = fused_location(module, m.matched)
                b = Builder(module, at=index)
                new = rule.build(module, b, m)
                if new is None:
                    # drop whatever the builder made before declining
                    module.ops[index:b.at] = []
                    continue
                for created in module.ops[index:b.at]:
                    created.loc = loc
                replace_ops(module, m.matched, new, op.results[0])
                count += 1
                if on_apply is not None:
                    on_apply(rule.name)
                changed = True
                break
            if changed:
                break
    return count
