"""The prune spec: what ``--prune`` (and ``prune{spec=...}``) asks for, weight by weight.

Syntax (items separated by commas)::

    spec     := [method ","] item ("," item)*
    method   := "magnitude" [":" S] | "global-magnitude" [":" S] | "wanda" [":" S]
              | "sparsegpt" [":" S] | "nm:" N ":" M
    item     := KEY "=" level          KEY: "first", "last" or a weight-name glob
    level    := S | N ":" M | "dense"   S: a sparsity in [0, 1); 0 and "dense" keep the weight

Examples: ``magnitude:0.9``, ``nm:2:4``, ``wanda:0.5,fc3*=0,conv1.weight=0.5``,
``magnitude:0.8,first=0.5,last=0.5``, ``magnitude`` (prune only the weights
that carry a DSL ``sparsity`` annotation), ``fc1.weight=0.9`` (the same with
one explicit weight; the method is magnitude).

Which level a weight gets, strongest first:

1. the last ``GLOB=level`` item whose glob matches the weight's name;
2. ``first=`` / ``last=`` for the weights of the first / last layer op;
3. the weight's DSL annotation (``sparsity 0.9``);
4. the first and last layer stay dense by default (they are the most
   sensitive to pruning);
5. the method's level (none given: the weight stays dense).

A level N:M always prunes with the N:M method; a sparsity level prunes with
the spec's method (magnitude when the method is nm). With global-magnitude,
only the weights at the method's level share the global threshold; weights
with their own level are pruned per tensor.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from runtime.errors import caret_snippet

from ..errors import PassError

METHODS = ("magnitude", "global-magnitude", "nm", "wanda", "sparsegpt")
SPARSITY_METHODS = ("magnitude", "global-magnitude", "wanda", "sparsegpt")
CALIBRATED_METHODS = ("wanda", "sparsegpt")

SPEC_HINT = ("a prune spec is METHOD[:LEVEL][,GLOB=LEVEL...], e.g. magnitude:0.9, nm:2:4, "
             "wanda:0.5,fc3*=0,first=0.5 (methods: " + ", ".join(METHODS) + ")")


@dataclass(frozen=True)
class Level:
    """How much of one weight to prune: a sparsity, or an N:M pattern (keep N of every M)."""

    sparsity: float = 0.0
    n: int = 0
    m: int = 0

    @property
    def is_pattern(self) -> bool:
        return self.m > 0

    @property
    def is_dense(self) -> bool:
        return (self.n >= self.m) if self.is_pattern else self.sparsity == 0.0

    @property
    def fraction(self) -> float:
        """The fraction of weights removed (N:M: 1 - N/M)."""
        return 1.0 - self.n / self.m if self.is_pattern else self.sparsity

    def __str__(self) -> str:
        if self.is_pattern:
            return f"{self.n}:{self.m}"
        return "dense" if self.sparsity == 0.0 else f"{self.sparsity:g}"


DENSE = Level()


@dataclass(frozen=True)
class Override:
    """One ``KEY=level`` item; `pos` is its offset in the spec text (for error carets)."""

    key: str
    level: Level
    pos: int


@dataclass(frozen=True)
class PruneSpec:
    """A parsed prune spec; see the module docstring."""

    text: str
    method: str
    level: Level | None            # the method's level; None = only explicit requests
    overrides: tuple[Override, ...] = ()
    first: Level | None = None
    last: Level | None = None

    @property
    def needs_activations(self) -> bool:
        return self.method in CALIBRATED_METHODS


@dataclass(frozen=True)
class LayerPlan:
    """The level chosen for one weight, the method that applies it, and why."""

    weight: str
    level: Level
    method: str
    source: str   # "method", "override 'fc*'", "first=", "annotation", "first layer (default)"...


def spec_error(text: str, message: str, pos: int, width: int = 1,
               hint: str | None = SPEC_HINT) -> PassError:
    return PassError(f"bad prune spec: {message}", hint=hint,
                     snippet=caret_snippet(text, pos + 1, width))


def parse_prune_spec(text: str) -> PruneSpec:
    """Parse `text`; a `PassError` with a caret under the offending item otherwise."""
    items = _split_items(text)
    if not items:
        raise spec_error(text, "the spec is empty", 0)
    method, level = "magnitude", None
    body = items
    first_text, first_pos = items[0]
    if "=" not in first_text:
        method, level = _parse_method(text, first_text, first_pos)
        body = items[1:]
    overrides: list[Override] = []
    first = last = None
    seen: dict[str, int] = {}
    for item, pos in body:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            name = item.split(":")[0]
            what = (f"{name!r} is a method; the method comes first" if name in METHODS else
                    f"expected KEY=LEVEL, got {item!r}")
            raise spec_error(text, what, pos, len(item))
        if not key:
            raise spec_error(text, "missing weight name before '='", pos)
        if key in seen:
            raise spec_error(text, f"{key!r} is given twice", pos, len(key))
        seen[key] = pos
        vpos = pos + item.index("=") + 1 + (len(value) - len(value.lstrip()))
        lv = parse_level(text, value.strip(), vpos)
        if key == "first":
            first = lv
        elif key == "last":
            last = lv
        else:
            if not re.fullmatch(r"[A-Za-z0-9_.:/*?\[\]!-]+", key):
                raise spec_error(text, f"{key!r} is not a weight name or glob", pos, len(key))
            overrides.append(Override(key, lv, pos))
    return PruneSpec(text, method, level, tuple(overrides), first, last)


def _split_items(text: str) -> list[tuple[str, int]]:
    """Comma-separated items, stripped, with their start offsets; empty items are errors."""
    out = []
    start = 0
    for part in text.split(","):
        stripped = part.strip()
        pos = start + (len(part) - len(part.lstrip()))
        if not stripped:
            if text.strip():
                raise spec_error(text, "empty item (two commas, or a comma at an end)",
                                 min(pos, max(len(text) - 1, 0)))
        else:
            out.append((stripped, pos))
        start += len(part) + 1
    return out


def _parse_method(text: str, item: str, pos: int) -> tuple[str, Level | None]:
    name, colon, arg = item.partition(":")
    if name not in METHODS:
        import difflib
        close = difflib.get_close_matches(name, METHODS, n=1)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        raise spec_error(text, f"unknown pruning method {name!r}{guess}", pos, len(name))
    apos = pos + len(name) + 1
    if name == "nm":
        if not colon:
            raise spec_error(text, "nm needs a pattern, e.g. nm:2:4 (keep 2 of every 4)",
                             pos, len(item))
        lv = parse_level(text, arg, apos)
        if not lv.is_pattern:
            raise spec_error(text, f"nm needs a pattern N:M, got {arg!r}", apos, len(arg) or 1)
        return name, lv
    if not colon:
        return name, None
    lv = parse_level(text, arg, apos)
    if lv.is_pattern:
        raise spec_error(text, f"{name} takes a sparsity in [0, 1), got the pattern {arg!r}; "
                               f"use nm:{arg} for N:M sparsity", apos, len(arg))
    return name, lv


def parse_level(text: str, value: str, pos: int) -> Level:
    """`0.9`, `0`, `dense` or `N:M`, located at `pos` of `text` for errors."""
    width = max(1, len(value))
    if value == "dense":
        return DENSE
    if ":" in value:
        n_s, _, m_s = value.partition(":")
        if not (n_s.isdigit() and m_s.isdigit()):
            raise spec_error(text, f"an N:M pattern is two integers, got {value!r}", pos, width)
        n, m = int(n_s), int(m_s)
        if not 1 <= n <= m or m > 256:
            raise spec_error(text, f"pattern {value}: need 1 <= N <= M <= 256", pos, width)
        return Level(n=n, m=m)
    try:
        s = float(value)
    except ValueError:
        raise spec_error(text, f"expected a sparsity (a number in [0, 1)) or N:M, "
                               f"got {value!r}", pos, width) from None
    if not 0.0 <= s < 1.0:
        raise spec_error(text, f"sparsity {value} is outside [0, 1)", pos, width,
                         hint="a sparsity is the fraction of weights removed: 0.9 keeps 10%")
    return Level(sparsity=s)


def resolve_levels(spec: PruneSpec, weights: list[str], annotations: dict[str, float | None],
                   first: set[str], last: set[str]) -> dict[str, LayerPlan]:
    """The plan of every weight (names in layer order); see the module docstring.

    `first` / `last` are the weights of the first / last layer op. A glob that
    matches no weight is an error (a typo would otherwise silently prune).
    """
    for o in spec.overrides:
        if not any(fnmatch.fnmatchcase(w, o.key) for w in weights):
            listed = ", ".join(weights[:12]) + (" ..." if len(weights) > 12 else "")
            raise spec_error(spec.text, f"{o.key!r} matches no prunable weight", o.pos,
                             len(o.key), hint=f"prunable weights: {listed or 'none'}")
    plans: dict[str, LayerPlan] = {}
    for w in weights:
        level, source = spec.level, "method"
        matched = [o for o in spec.overrides if fnmatch.fnmatchcase(w, o.key)]
        if matched:
            level, source = matched[-1].level, f"override {matched[-1].key!r}"
        elif w in first and spec.first is not None:
            level, source = spec.first, "first="
        elif w in last and spec.last is not None:
            level, source = spec.last, "last="
        elif annotations.get(w) is not None:
            level, source = Level(sparsity=float(annotations[w])), "annotation"
        elif w in first or w in last:
            level, source = DENSE, ("first" if w in first else "last") + " layer (kept dense " \
                                                                         "by default)"
        if level is None:
            level, source = DENSE, "no level given"
        plans[w] = LayerPlan(w, level, _method_for(spec, level, source), source)
    return plans


def _method_for(spec: PruneSpec, level: Level, source: str) -> str:
    if level.is_dense:
        return "none"
    if level.is_pattern:
        return "nm"
    if spec.method == "nm":
        return "magnitude"
    if spec.method == "global-magnitude" and source != "method":
        return "magnitude"
    return spec.method
