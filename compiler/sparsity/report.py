"""The artifact's sparsity report: per layer density, kernel and why, savings; and its text.

`build_report(module, symbols, details)` runs after the pipeline on the final
module (so it is there whatever the pipeline was: the analysis is always on)
and merges what the passes recorded in `PassContext.details`: the kernel
decisions of the last select-kernels run and the prune report. The result
is JSON data stored under ``reports.sparsity`` in the `.wafer` header;
`format_report` renders it for ``wsc inspect --sparsity``.

Per layer: weight, op, shape, density, nnz, kernel (the runtime kernel the
instruction uses) and the reason, MACs and MACs skipped (MACs on zero
weights: what a zero-skipping kernel, or the wafer, does not do), dense and
stored bytes (a sparse weight is stored as its CSR parts) and the bytes
saved; pruning (requested and achieved sparsity, method) when a prune ran.
"""
from __future__ import annotations

from typing import Any

from ..ir.core import Module
from ..summary import format_bytes, format_count, format_table
from .analysis import analyze, unbound_symbols
from .costmodel import RNN_SPARSE_KERNELS, SPARSE_KERNELS
from .storage import stored_nbytes
from .weights import find_weight_uses

_KERNEL_OF_FORMAT = {("nn.matmul", "csc"): SPARSE_KERNELS["matmul"],
                     ("fused.matmul_epilogue", "csc"): SPARSE_KERNELS["matmul"],
                     ("nn.conv2d", "csr"): SPARSE_KERNELS["conv2d"],
                     ("fused.conv2d_epilogue", "csr"): SPARSE_KERNELS["conv2d"],
                     **{(op, "csr"): k for op, k in RNN_SPARSE_KERNELS.items()}}


def build_report(module: Module, symbols: dict[str, int],
                 details: dict[str, dict[str, Any]], assume_dim: int = 1) -> dict[str, Any]:
    """The sparsity report of the final `module` (see the module docstring)."""
    decisions, cost_model, prune = {}, None, None
    for key, d in details.items():  # in pipeline order: the last run of a pass wins
        name = key.split("#")[0]
        if name == "select-kernels":
            decisions = d.get("decisions", {})
            cost_model = d.get("cost_model")
        elif name == "prune":
            prune = d
    pruned = {row["weight"]: row for row in (prune or {}).get("layers", [])}
    uses = {(u.index, u.weight.name): u for u in find_weight_uses(module)}
    layers = []
    for row in analyze(module, symbols, assume_dim):
        use = uses[(row["op_index"], row["weight"])]
        enc = use.weight.type.encoding
        itemsize = use.weight.type.itemsize
        dense_bytes = row["numel"] * itemsize
        if enc is not None:
            kernel = _KERNEL_OF_FORMAT.get((row["op"], enc.format), "?")
            r, c = use.row_shape
            stored = stored_nbytes(r, c, enc.nnz, itemsize)
        else:
            kernel, stored = row["op"], dense_bytes
        decision = decisions.get(row["weight"])
        if decision is not None:
            reason = decision["reason"]
        elif enc is not None:
            reason = f"encoded {enc} before the pipeline ended"
        else:
            reason = "dense: select-kernels did not run"
        layer = {
            "weight": row["weight"], "op": row["op"], "loc": row["loc"],
            "shape": row["shape"], "dtype": row["dtype"], "numel": row["numel"],
            "nnz": row["nnz"], "density": row["density"],
            "kernel": kernel, "format": enc.format if enc is not None else None,
            "reason": reason,
            "modelled_speedup": decision.get("modelled_speedup") if decision else None,
            "macs": row["macs"], "macs_skipped": row["macs_skipped"],
            "dense_bytes": dense_bytes, "stored_bytes": stored,
            "bytes_saved": dense_bytes - stored,
        }
        if row["weight"] in pruned:
            p = pruned[row["weight"]]
            layer["pruning"] = {k: p[k] for k in ("requested", "achieved_sparsity", "method",
                                                  "source") if k in p}
        layers.append(layer)

    return {
        "layers": layers,
        "totals": _totals(layers),
        "assumed": {s: assume_dim for s in unbound_symbols(module, symbols)},
        "cost_model": cost_model,
        "pruning": None if prune is None else {
            k: prune.get(k) for k in ("spec", "semantics", "calibration", "deviation")},
    }


def _totals(layers: list[dict[str, Any]]) -> dict[str, Any]:
    once: dict[str, dict[str, Any]] = {}
    for row in layers:
        once.setdefault(row["weight"], row)
    params = sum(r["numel"] for r in once.values())
    nnz = sum(r["nnz"] for r in once.values())
    return {
        "weights": len(once),
        "params": params,
        "nnz": nnz,
        "density": nnz / params if params else 1.0,
        "sparse_weights": sum(1 for r in once.values() if r["format"] is not None),
        "macs": sum(r["macs"] for r in layers),
        "macs_skipped": sum(r["macs_skipped"] for r in layers),
        "dense_bytes": sum(r["dense_bytes"] for r in once.values()),
        "stored_bytes": sum(r["stored_bytes"] for r in once.values()),
        "bytes_saved": sum(r["bytes_saved"] for r in once.values()),
    }


def format_report(report: dict[str, Any], file_size: int | None = None) -> str:
    """Text for ``wsc inspect --sparsity``: the per-layer table, reasons, pruning, totals."""
    lines = []
    layers = report.get("layers", [])
    if not layers:
        return "sparsity: the model has no layer weights (matmul, conv, rnn)"
    table = [("weight", "op", "shape", "density", "nnz", "kernel", "MACs skipped",
              "bytes saved")]
    for r in layers:
        table.append((r["weight"], r["op"], "x".join(map(str, r["shape"])),
                      f"{r['density']:.1%}", format_count(r["nnz"]), r["kernel"],
                      f"{format_count(r['macs_skipped'])} of {format_count(r['macs'])}",
                      format_bytes(r["bytes_saved"]) if r["bytes_saved"] else "-"))
    t = report["totals"]
    table.append(("total", "", f"{format_count(t['params'])} params", f"{t['density']:.1%}",
                  format_count(t["nnz"]), f"{t['sparse_weights']} sparse",
                  f"{format_count(t['macs_skipped'])} of {format_count(t['macs'])}",
                  format_bytes(t["bytes_saved"]) if t["bytes_saved"] else "-"))
    lines.append("sparsity per layer:")
    lines += ["  " + line for line in format_table(table, right_align={3, 4, 6, 7})]
    lines.append("")
    lines.append("kernel choices:")
    for r in layers:
        lines.append(f"  {r['weight']}: {r['kernel']}: {r['reason']}")
    cm = report.get("cost_model")
    if cm:
        measured = cm.get("measured") or {}
        when = f", measured {measured['date']}" if measured.get("date") else ""
        lines.append(f"  (cost model: {cm.get('source')}{when})")
    prune = report.get("pruning")
    if prune:
        lines.append("")
        lines.append(f"pruning: {prune['spec']} ({prune['semantics']})")
        lines.append(f"  calibration: {prune['calibration']}")
        for r in layers:
            p = r.get("pruning")
            if p and p.get("method") != "none":
                lines.append(f"  {r['weight']}: requested {p['requested']}, achieved "
                             f"{p['achieved_sparsity']:.4f} ({p['method']}; {p['source']})")
        for name, d in (prune.get("deviation") or {}).items():
            lines.append(f"  output {name}: max abs deviation {d['max_abs']:.4g}, relative L2 "
                         f"{d['rel_l2']:.4g}")
    lines.append("")
    weights = (f"weights: {format_bytes(t['stored_bytes'])} stored, "
               f"{format_bytes(t['dense_bytes'])} dense")
    if file_size is not None:
        dense_file = file_size - t["stored_bytes"] + t["dense_bytes"]
        weights += f"; file {format_bytes(file_size)}, {format_bytes(dense_file)} with dense weights"
    lines.append(weights)
    if report.get("assumed"):
        syms = ", ".join(f"{s}={n}" for s, n in report["assumed"].items())
        lines.append(f"note: {syms} assumed for MACs and kernel choice (fix with --input-shape)")
    return "\n".join(lines)
