"""Measured sparsity of every layer weight: density, nonzeros, MACs and MACs skipped.

`analyze(module, symbols)` returns one row per weight use (see `weights.py`)
as plain JSON data, in op order. MACs are the dense multiply-accumulates of
that weight per run; symbolic dims take their value from `symbols`
(``--input-shape``) or `default_dim` (1), listed under ``assumed`` by
`totals`. "MACs skipped" is what a zero-skipping kernel saves:
MACs x (1 - density), since every weight takes part in the same number of
products (M tokens for matmul, output positions for conv, T x B for rnn).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ir.core import Module
from .weights import WeightUse, find_weight_uses


def analyze(module: Module, symbols: dict[str, int] | None = None,
            default_dim: int = 1) -> list[dict[str, Any]]:
    """One row per weight use; see the module docstring."""
    symbols = dict(symbols or {})
    return [layer_row(u, symbols, default_dim) for u in find_weight_uses(module)]


def layer_row(use: WeightUse, symbols: dict[str, int], default_dim: int = 1) -> dict[str, Any]:
    c = use.weight
    numel = int(np.prod(use.shape))
    if c.data is not None:
        nnz = int(np.count_nonzero(c.data))
    elif c.type.encoding is not None:
        nnz = c.type.encoding.nnz
    else:
        nnz = numel  # elided and dense: nothing known, assume dense
    density = nnz / numel if numel else 1.0
    macs = use.macs(symbols, default_dim)
    return {
        "weight": c.name,
        "op": use.op.name,
        "op_index": use.index,
        "role": use.role or use.kind,
        "loc": str(use.op.loc) if use.op.loc.is_known else "",
        "shape": list(use.shape),
        "dtype": c.type.dtype,
        "numel": numel,
        "nnz": nnz,
        "density": density,
        "macs": macs,
        "macs_skipped": int(round(macs * (1.0 - density))),
    }


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the rows (each weight counted once for params and nonzeros)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r["weight"], r)
    params = sum(r["numel"] for r in seen.values())
    nnz = sum(r["nnz"] for r in seen.values())
    macs = sum(r["macs"] for r in rows)
    skipped = sum(r["macs_skipped"] for r in rows)
    return {
        "weights": len(seen),
        "params": params,
        "nnz": nnz,
        "density": nnz / params if params else 1.0,
        "macs": macs,
        "macs_skipped": skipped,
    }


def unbound_symbols(module: Module, symbols: dict[str, int]) -> list[str]:
    """Symbolic dims of the weights' activations that `symbols` does not bind."""
    out: set[str] = set()
    for u in find_weight_uses(module):
        types = [u.activation.type] + [r.type for r in u.op.results]
        out |= {d for t in types for d in t.shape if isinstance(d, str) and d not in symbols}
    return sorted(out)
