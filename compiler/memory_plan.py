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
