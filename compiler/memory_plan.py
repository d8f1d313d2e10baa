"""Memory planning for lowering: every intermediate value gets an offset in one reusable arena.

The plan works on the IR module in its final op order (the order lowering
keeps), with symbolic dims bound (``symbols``; unbound ones count as
`default_dim`):

1. *Lifetimes.* A value lives from the op that makes it to the last op that
   reads it (model outputs: to the end). Inputs and constants are not planned
   (they are not activation memory).
2. *Views.* Results that the runtime's kernels return as views of their first
   operand (reshape-like ops of a contiguous array, transposes, slices,
   expands: `VIEW_OPS`) take no memory of their own; they keep their base's
   buffer alive for as long as they live. A reshape of a non-contiguous view
   is a copy and gets its own buffer.
3. *Placement.* Buffers are placed greedily by size (largest first) at the
   lowest arena offset that no buffer with an overlapping lifetime occupies
   (the "greedy by size" offset planner). A value cannot share memory with an
   operand of the op that makes it (kernels do not write into their inputs).

`MemoryPlan.arena_bytes` is the plan's peak; `largest_live_set` the lower
bound any plan has (the most bytes live at one op). `report()` gives both
and their ratio; `format()` is the text the benchmark prints.

`memory_report(module, symbols)` is the plan as the compile driver stores it
in the artifact header (``reports.memory``): the totals, the symbol bindings
it used (unbound dims as 1, listed under ``assumed``), the op where the live
set peaks, and the `REPORT_BUFFERS` largest buffers with their offsets and
live ranges (not all of them: the header stays small whatever the model).
`format_memory_report` and `memory_summary_lines` render it for `wsc inspect`.

Hook for the executor (not wired yet): with `offsets` from the plan, an
executor that lets kernels write into ``arena[offset:offset + size]`` views
(``out=``) runs in `arena_bytes` of activation memory; the executor today
frees each value after its last use, which keeps its peak near
`largest_live_set` plus the kernels' temporaries (`measure_peak` measures it).
"""
from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, field
from math import prod
from typing import Any, Callable

from .ir.core import Module, Value
from .ir.printer import assign_names
from .ops.shapes import dim_factors
from .summary import format_bytes, format_table

REPORT_BUFFERS = 20   # buffers listed (largest first) in the artifact's memory report

# op -> whether its result is a view of operand 0 (given that operand's contiguity)
VIEW_OPS = {"tensor.reshape", "tensor.flatten", "tensor.squeeze", "tensor.unsqueeze",
            "tensor.transpose", "tensor.expand", "tensor.slice"}
_KEEPS_CONTIGUITY = {"tensor.reshape", "tensor.flatten", "tensor.squeeze", "tensor.unsqueeze"}


def value_bytes(v: Value, symbols: dict[str, int], default_dim: int = 1) -> int:
    """Dense bytes of `v` with symbolic (and product) dims bound."""
    n = 1
    for d in v.type.shape:
        coef, syms = dim_factors(d)
        n *= coef * prod(symbols.get(s, default_dim) for s in syms)
    return n * v.type.itemsize


@dataclass
class Buffer:
    """One planned allocation: the value that owns it and the ops it is live over."""

    value: str
    size: int
    start: int                  # index of the op that writes it
    end: int                    # index of the last op that reads it or a view of it
    offset: int = -1
    views: list[str] = field(default_factory=list)


@dataclass
class MemoryPlan:
    buffers: list[Buffer]
    arena_bytes: int
    largest_live_set: int
    live_at: list[int]          # bytes live at each op

    @property
    def offsets(self) -> dict[str, int]:
        """Value name -> arena offset (views share their base's offset)."""
        out = {}
        for b in self.buffers:
            out[b.value] = b.offset
            for v in b.views:
                out[v] = b.offset
        return out

    @property
    def ratio(self) -> float:
        return self.arena_bytes / self.largest_live_set if self.largest_live_set else 1.0

    def report(self) -> dict[str, Any]:
        """JSON data: the arena size, the lower bound, their ratio, the buffer count."""
        return {"arena_bytes": self.arena_bytes, "largest_live_set": self.largest_live_set,
                "ratio": round(self.ratio, 4), "buffers": len(self.buffers),
                "views": sum(len(b.views) for b in self.buffers),
                "sum_of_buffers": sum(b.size for b in self.buffers)}

    def format(self) -> str:
        r = self.report()
        mib = 1 << 20
        return (f"arena {r['arena_bytes'] / mib:.2f} MiB, largest live set "
                f"{r['largest_live_set'] / mib:.2f} MiB (ratio {r['ratio']:.3f}), "
                f"{r['buffers']} buffers + {r['views']} views, "
                f"{r['sum_of_buffers'] / mib:.2f} MiB without reuse")


def lifetimes(module: Module, symbols: dict[str, int] | None = None, default_dim: int = 1
              ) -> list[Buffer]:
    """The buffers of the module's intermediate values with their lifetimes (unplaced)."""
    symbols = symbols or {}
    names = assign_names(module)
    end_of_program = len(module.ops)
    outputs = module.output_values()
    owner: dict[Value, Buffer] = {}
    contiguous: dict[Value, bool] = {}
    buffers: list[Buffer] = []

    def touch(v: Value, index: int) -> None:
        b = owner.get(v)
        if b is not None:
            b.end = max(b.end, index)

    for index, op in enumerate(module.ops):
        for v in op.operands:
            touch(v, index)
        for r in op.results:
            base = op.operands[0] if op.operands else None
            if op.name in VIEW_OPS and base in owner and (
                    contiguous.get(base, True) or op.name not in ("tensor.reshape",
                                                                  "tensor.flatten")):
                b = owner[base]
                owner[r] = b
                b.views.append(names[r])
                b.end = max(b.end, index)
                contiguous[r] = contiguous.get(base, True) and op.name in _KEEPS_CONTIGUITY
            else:
                b = Buffer(names[r], value_bytes(r, symbols, default_dim), index, index)
                owner[r] = b
                buffers.append(b)
                contiguous[r] = True
            if r in outputs:
                b.end = end_of_program
    return buffers


def _live_bytes(buffers: list[Buffer], steps: int) -> list[int]:
    live = [0] * max(1, steps + 1)
    for b in buffers:
        for t in range(b.start, b.end + 1):
            live[t] += b.size
    return live


def place(buffers: list[Buffer]) -> int:
    """Give every buffer an offset (greedy by size); returns the arena size."""
    placed: list[Buffer] = []
    arena = 0
    for b in sorted(buffers, key=lambda b: (-b.size, b.start)):
        busy = sorted((p.offset, p.offset + p.size) for p in placed
                      if p.start <= b.end and b.start <= p.end)
        offset = 0
        for lo, hi in busy:
            if offset + b.size <= lo:
                break
            offset = max(offset, hi)
        b.offset = offset
        placed.append(b)
        arena = max(arena, offset + b.size)
    return arena


def plan_memory(module: Module, symbols: dict[str, int] | None = None,
                default_dim: int = 1) -> MemoryPlan:
    """Plan every intermediate value of `module` into one arena (see the module doc)."""
    buffers = lifetimes(module, symbols, default_dim)
    arena = place(buffers)
    live = _live_bytes(buffers, len(module.ops))
    return MemoryPlan(buffers, arena, max(live, default=0), live)


def activation_symbols(module: Module) -> set[str]:
    """The symbols in the shapes of the module's op results (the planned values)."""
    return {s for op in module.ops for r in op.results for d in r.type.shape
            for s in dim_factors(d)[1]}


def memory_report(module: Module, symbols: dict[str, int] | None = None, *,
                  top: int = REPORT_BUFFERS) -> dict[str, Any]:
    """The memory plan of `module` as plain JSON data (the header's ``reports.memory``).

    Symbolic dims not bound by `symbols` count as 1 and are listed under
    ``assumed``; ``symbols`` is every binding used. ``largest`` lists the
    `top` largest buffers (ties: earliest first) with their arena offset and
    live range in op indices: ``first`` writes it, ``last`` is the last op
    reading it or a view of it, ``len(module.ops)`` for a model output.
    """
    given = dict(symbols or {})
    assumed = {s: 1 for s in sorted(activation_symbols(module) - set(given))}
    plan = plan_memory(module, given, default_dim=1)
    n_ops = len(module.ops)
    names = assign_names(module)

    def op_at(i: int) -> str:
        return module.ops[i].name if i < n_ops else "(outputs)"

    peak = max(range(len(plan.live_at)), key=lambda i: (plan.live_at[i], -i)) \
        if plan.buffers else 0
    largest = sorted(plan.buffers, key=lambda b: (-b.size, b.start))[:max(0, top)]
    return {
        **plan.report(),
        "ops": n_ops,
        "symbols": dict(sorted({**given, **assumed}.items())),
        "assumed": assumed,
        "peak": {"op": peak, "name": op_at(peak),
                 "values": [names[r] for r in module.ops[peak].results] if peak < n_ops else []},
        "largest": [{"value": b.value, "bytes": b.size, "offset": b.offset,
                     "first": b.start, "last": b.end, "made_by": op_at(b.start),
                     "last_read_by": op_at(b.end) if b.end > b.start else None,
                     "views": len(b.views)} for b in largest],
    }


def memory_summary_lines(report: dict[str, Any] | None) -> list[str]:
    """The short memory section of `wsc inspect` (no section title)."""
    if report is None:
        return ["no memory report (compiled by an older wsc)"]
    r = report
    syms = _symbols_text(r)
    return [f"planned arena {format_bytes(r['arena_bytes'])} = {r['ratio']:.3f}x the largest "
            f"live set ({format_bytes(r['largest_live_set'])}){syms}",
            f"without reuse {format_bytes(r['sum_of_buffers'])} in "
            f"{_plural(r['buffers'], 'buffer')} (+ {_plural(r['views'], 'view')}); "
            f"--memory for the largest buffers"]


def format_memory_report(report: dict[str, Any]) -> str:
    """`wsc inspect --memory`: totals, where the live set peaks, the largest buffers."""
    r = report
    n_ops = r["ops"]
    peak = r["peak"]
    at = ", ".join(f"%{v}" for v in peak["values"])
    where = f"op #{peak['op']} ({at + ' = ' if at else ''}{peak['name']})" \
        if peak["op"] < n_ops else "the end (model outputs)"
    lines = [f"memory plan of the activations ({n_ops} ops{_symbols_text(r, ', ')})"]
    rows = [("largest live set", format_bytes(r["largest_live_set"]), f"at {where}"),
            ("planned arena", format_bytes(r["arena_bytes"]),
             f"{r['ratio']:.3f}x the largest live set"),
            ("without reuse", format_bytes(r["sum_of_buffers"]),
             f"{_plural(r['buffers'], 'buffer')} (+ {_plural(r['views'], 'view')} "
             f"sharing them)")]
    lines += ["  " + line for line in format_table(rows, right_align={1}, header=False)]
    largest = r.get("largest") or []
    if largest:
        lines.append("")
        lines.append(f"largest buffers ({len(largest)} of {r['buffers']}), live from the op "
                     f"that writes them to the last that reads them:")
        table = [("value", "size", "offset", "live ops", "written by", "last read by")]
        for b in largest:
            last = "end" if b["last"] >= n_ops else f"#{b['last']}"
            views = f" (+{_plural(b['views'], 'view')})" if b["views"] else ""
            read = "model output" if b["last"] >= n_ops else b["last_read_by"] or "(not read)"
            table.append((f"%{b['value']}{views}", format_bytes(b["bytes"]),
                          str(b["offset"]), f"#{b['first']}..{last}", b["made_by"], read))
        lines += ["  " + line for line in format_table(table, right_align={1, 2})]
    if r.get("assumed"):
        syms = ", ".join(f"{s}={n}" for s, n in r["assumed"].items())
        lines.append(f"note: {syms} assumed for buffer sizes (fix with --input-shape)")
    lines.append("note: the CPU runtime frees each value after its last use; it does not "
                 "allocate from this arena (yet)")
    return "\n".join(lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _symbols_text(report: dict[str, Any], sep: str = "; ") -> str:
    syms = report.get("symbols") or {}
    if not syms:
        return ""
    assumed = report.get("assumed") or {}
    return sep + ", ".join(f"{s}={n}{' assumed' if s in assumed else ''}"
                           for s, n in syms.items())


def measure_peak(run: Callable[[], Any]) -> int:
    """Peak bytes allocated (numpy arrays included) while `run()` executes, above what was
    allocated before it: the activation memory of one executor run."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    return peak - base
