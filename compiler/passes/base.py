"""What a pass is: a small dataclass whose fields are its options, and the context it runs in.

A pass subclasses `Pass`, sets the class-level `name` (kebab-case, used in
pipeline strings) and `summary` (one line, shown by ``wsc compile
--list-passes``), declares its options as typed dataclass fields with
defaults, and implements ``run(module, ctx)``, which edits the module in
place::

    @dataclass(frozen=True)
    class FoldConstants(Pass):
        name = "fold-constants"
        summary = "Evaluate ops whose operands are all constants."
        max_bytes: int = option(64 << 20, "largest result to fold, in bytes")

        def run(self, module, ctx):
            ...
            ctx.stat("folded", n)

The option ``max_bytes`` is spelled ``max-bytes`` in pipeline strings
(``fold-constants{max-bytes=1048576}``). Option types are int, float, bool or
str. `PassContext` carries what a pass may need from the driver (symbol
bindings) and collects each pass's statistics into a report.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..ir.core import Module

OPTION_TYPES = (int, float, bool, str)


def option(default: Any, doc: str = "") -> Any:
    """Declare a pass option: a dataclass field with a default and a one-line description."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class OptionSpec:
    """One option of a pass as the user sees it."""

    name: str        # kebab-case, as written in pipeline strings
    field: str       # the dataclass field
    type: type
    default: Any
    doc: str


@dataclass(frozen=True)
class Pass:
    """Base class of every pass. Subclasses are frozen dataclasses; fields are options."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    def run(self, module: Module, ctx: "PassContext") -> None:
        raise NotImplementedError

    @classmethod
    def options(cls) -> list[OptionSpec]:
        """The pass's options in declaration order, with their resolved Python types."""
        hints = typing.get_type_hints(cls)
        specs = []
        for f in dataclasses.fields(cls):
            t = hints[f.name]
            if t not in OPTION_TYPES:
                raise TypeError(f"{cls.__name__}.{f.name}: option type must be one of "
                                f"int, float, bool, str, not {t!r}")
            specs.append(OptionSpec(f.name.replace("_", "-"), f.name, t, f.default,
                                    f.metadata.get("doc", "")))
        return specs


@dataclass
class PassContext:
    """State shared by the passes of one pipeline run.

    - `symbols`: bindings of symbolic dims (``{"N": 4}``) fixed by the driver
      (``--input-shape``); `infer-shapes` substitutes them into the input types.
    - `stats`: per-pass statistics, filled through `stat()` while a pass runs.
      Keys are pass names; a pass that runs again gets ``name#2``, ``name#3``...
    - `details`: per-pass structured reports (JSON data), filled through
      `detail()`, under the same keys (the sparsity passes' per-layer tables).
    """

    symbols: dict[str, int] = field(default_factory=dict)
    stats: dict[str, dict[str, int | float]] = field(default_factory=dict)
    current: str = "-"  # the stats key of the running pass (set by the PassManager)
    # Structured reports (per-layer tables...) by stats key, JSON data; see `detail()`.
    details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def begin(self, pass_: Pass) -> None:
        """Start collecting statistics for `pass_` (called by the PassManager)."""
        key, n = pass_.name, 1
        while key in self.stats:
            n += 1
            key = f"{pass_.name}#{n}"
        self.current = key
        self.stats[key] = {}

    def stat(self, key: str, n: int | float = 1) -> None:
        """Add `n` to the running pass's counter `key` (zero counts are recorded too)."""
        bucket = self.stats.setdefault(self.current, {})
        bucket[key] = bucket.get(key, 0) + n

    def detail(self, key: str, value: Any) -> None:
        """Record structured JSON data (a table, a decision list) under the running pass."""
        self.details.setdefault(self.current, {})[key] = value

    def report(self) -> dict[str, dict[str, int | float]]:
        """A copy of the statistics: ``{"fold-constants": {"folded": 3, ...}, ...}``."""
        return {k: dict(v) for k, v in self.stats.items()}
