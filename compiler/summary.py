"""A model at a glance: op histogram, per-op cost table and totals.

`summarize(module)` returns plain JSON-able data (it is stored in the
`.wafer` header's reports and printed by `wsc inspect --json`);
`format_summary(summary)` renders it as aligned text for people.

Costs come from the op registry (`OpDef.flops`, `OpDef.cost_bytes`), which
needs static shapes: every symbolic dim is bound from `symbols`, and the ones
not given are taken as 1. The summary lists those under `assumed` so that a
reader knows the numbers are per unit of that dim.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from .ir.core import Module
from .ir.printer import assign_names  # the printer owns value naming
from .ir.types import TensorType
from .ops import registry
from .ops.shapes import dim_factors


def summarize(module: Module, symbols: dict[str, int] | None = None) -> dict[str, Any]:
    """Histogram, per-op table and totals of `module` (see the module docstring)."""
    symbols = dict(symbols or {})
    assumed = sorted(_symbols_of(module) - set(symbols))
    bound = {**symbols, **{s: 1 for s in assumed}}
    names = assign_names(module)

    rows = []
    for op in module.ops:
        ins = [_bind(v.type, bound) for v in op.operands]
        outs = [_bind(r.type, bound) for r in op.results]
        flops, nbytes = _op_cost(op.name, ins, outs, op.attrs)
        rows.append({
            "name": ", ".join(names.get(r, "?") for r in op.results),
            "op": op.name,
            "type": ", ".join(str(r.type) for r in op.results),
            "flops": flops,
            "bytes": nbytes,
            "loc": str(op.loc) if op.loc.is_known else "",
        })

    params = sum(_numel(c.type, bound) for c in module.constants.values())
    param_bytes = sum(_numel(c.type, bound) * c.type.itemsize for c in module.constants.values())
    nonzeros = _param_nonzeros(module)
    histogram = Counter(op.name for op in module.ops)
    return {
        "module": module.name,
        "inputs": [{"name": v.name, "type": str(v.type)} for v in module.inputs],
        "outputs": [{"name": k, "type": str(v.type)} for k, v in module.outputs.items()],
        "symbols": {k: bound[k] for k in sorted(bound)},
        "assumed": assumed,
        "histogram": dict(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
        "ops": rows,
        "totals": {
            "ops": len(module.ops),
            "params": params,
            "param_bytes": param_bytes,
            "param_nonzeros": nonzeros,
            "flops": sum(r["flops"] for r in rows if r["flops"] is not None),
            "bytes": sum(r["bytes"] for r in rows if r["bytes"] is not None),
        },
    }


def format_summary(summary: dict[str, Any], *, max_rows: int | None = None) -> str:
    """An aligned text rendering: signature, per-op table, histogram, totals."""
    lines = []
    sig_in = ", ".join(f"{d['name']}: {d['type']}" for d in summary["inputs"])
    sig_out = ", ".join(f"{d['name']}: {d['type']}" for d in summary["outputs"])
    lines.append(f"module @{summary['module']}({sig_in}) -> ({sig_out})")
    lines.append("")

    rows = summary["ops"]
    shown = rows if max_rows is None or len(rows) <= max_rows else rows[:max_rows]
    table = [("#", "value", "op", "type", "FLOPs", "bytes", "loc")]
    for i, r in enumerate(shown):
        table.append((str(i), r["name"], r["op"], r["type"], _opt_num(r["flops"]),
                      _opt_num(r["bytes"]), r["loc"]))
    lines += format_table(table, right_align={0, 4, 5})
    if len(shown) < len(rows):
        lines.append(f"... {len(rows) - len(shown)} more ops")
    lines.append("")

    if summary["histogram"]:
        hist = [(name, str(n)) for name, n in summary["histogram"].items()]
        lines.append("ops by kind:")
        lines += ["  " + l for l in format_table(hist, right_align={1}, header=False)]
        lines.append("")

    t = summary["totals"]
    params = f"{format_count(t['params'])} ({format_bytes(t['param_bytes'])})"
    if t.get("param_nonzeros") is not None and t["params"]:
        density = t["param_nonzeros"] / t["params"]
        params += f", {format_count(t['param_nonzeros'])} nonzero ({density:.1%})"
    totals = [("ops", str(t["ops"])), ("params", params),
              ("FLOPs", format_count(t["flops"])), ("bytes moved", format_bytes(t["bytes"]))]
    lines += format_table(totals, header=False)
    if summary["assumed"]:
        syms = ", ".join(f"{s}=1" for s in summary["assumed"])
        lines.append(f"note: symbolic dims taken as {syms} for FLOPs and bytes "
                     f"(fix them with --input-shape)")
    return "\n".join(lines)


# -- formatting helpers shared with the CLI ---------------------------------------

def format_table(rows: list[tuple[str, ...]], *, right_align: set[int] = frozenset(),
                 header: bool = True) -> list[str]:
    """Rows of cells as aligned lines; the first row is a header (underlined) if `header`."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        cells = [c.rjust(w) if i in right_align else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
        if header and k == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def format_count(n: int | float) -> str:
    """1234 -> '1.23K', 5_000_000 -> '5.00M'; small numbers as they are."""
    for div, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(int(n)) if float(n).is_integer() else f"{n:.2f}"


def format_bytes(n: int) -> str:
    """Byte counts in binary units: '512 B', '3.1 KiB', '1.20 MiB'."""
    for div, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} B"


# -- internals ------------------------------------------------------------------

def _symbols_of(module: Module) -> set[str]:
    types = [v.type for v in module.inputs] + [c.type for c in module.constants.values()]
    types += [r.type for op in module.ops for r in op.results]
    # a product dim ("batch*seq") is its factors' symbols, not one of its own
    return {s for t in types for d in t.shape for s in dim_factors(d)[1]}


def _bind(t: TensorType, symbols: dict[str, int]) -> TensorType:
    if t.is_static:
        return t
    return t.with_shape([_bind_dim(d, symbols) for d in t.shape])


def _bind_dim(d, symbols: dict[str, int]) -> int:
    coef, names = dim_factors(d)
    return coef * int(np.prod([symbols[s] for s in names], dtype=np.int64))


def _numel(t: TensorType, symbols: dict[str, int]) -> int:
    return int(np.prod(_bind(t, symbols).shape, dtype=np.int64))


def _op_cost(name: str, ins: list[TensorType], outs: list[TensorType],
             attrs: dict) -> tuple[int | None, int | None]:
    """(FLOPs, bytes) from the registry; None where the op is unknown to it."""
    try:
        opdef = registry.get_op(name)
    except KeyError:
        return None, None
    return int(opdef.flops(ins, outs, attrs)), int(opdef.cost_bytes(ins, outs, attrs))


def _param_nonzeros(module: Module) -> int | None:
    """Nonzero weights, when every constant's data (or sparse nnz) is known."""
    total = 0
    for c in module.constants.values():
        if c.type.encoding is not None:
            total += c.type.encoding.nnz
        elif c.data is not None:
            total += int(np.count_nonzero(c.data))
        else:
            return None
    return total


def _opt_num(n: int | None) -> str:
    return "?" if n is None else format_count(n)
