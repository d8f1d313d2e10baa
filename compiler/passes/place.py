"""place: size and place every kernel on the wafer mesh, or plan weight streaming.

    place{mesh=wse2}                     pipelined when the weights fit, else streaming
    place{mesh=64x64,mode=pipelined}     an error if they do not fit
    place{mesh=wse3,mode=streaming}

The pass reads the module (it changes nothing in it), builds the kernel graph
(`compiler/place/kernel_graph.py`: one kernel per compute op, an attention
chain as one, data movement folded into the edges), and then:

- **pipelined** (all weights resident): sizes and places the kernels with the
  strip placer (`compiler/place/placer.py`), deterministically (no time
  limit), and evaluates the performance model without routes;
- **streaming** (the weights do not fit, or ``mode=streaming``): one layer at a
  time on the whole wafer (`compiler/place/streaming.py`).

The result is the wafer report (`wafer_report`), recorded as the pass's
``wafer`` detail; the route pass adds the routes and the final performance
model, and the driver stores the last one in the artifact under
``reports.wafer``. Statistics: ``kernels``, ``edges``, ``cores`` (used),
``pipelined`` (1 or 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CompileError, PassError, PlacementError
from ..ir.core import Module
from ..place.kernel_graph import (KernelGraph, KernelInfo, build_kernel_graph, nnz_by_rows,
                                  SPARSE_THRESHOLD)
from ..place.model_kernels import (ContractionModel, RecurrentModel, ceil_sizes)
from ..place.perf_model import evaluate
from ..place.placer import place, wire_length
from ..place import streaming
from ..target.mesh import Target, get_target
from .base import Pass, PassContext, option

MODES = ("auto", "pipelined", "streaming")


@dataclass(frozen=True)
class Place(Pass):
    name = "place"
    summary = "Place every kernel on the wafer mesh (pipelined) or plan weight streaming."

    mesh: str = option("wse2", "wafer target: wse2, wse3, ispd2020 or a mesh size WxH")
    mode: str = option("auto", "auto (pipelined when the weights fit), pipelined or streaming")
    sparse_threshold: float = option(SPARSE_THRESHOLD, "a weight with at most this fraction "
                                     "nonzero is stored and computed sparse on the wafer")

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PassError(f"place: mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        try:
            get_target(self.mesh)
        except CompileError as e:
            raise PassError(f"place: {e.message}", hint=e.hint) from None
        if not 0.0 <= self.sparse_threshold <= 1.0:
            raise PassError(f"place: sparse-threshold must be in [0, 1], got "
                            f"{self.sparse_threshold}")

    def run(self, module: Module, ctx: PassContext) -> None:
        target = get_target(self.mesh)
        report = wafer_report(module, target, ctx.symbols, self.mode, self.sparse_threshold)
        ctx.detail("wafer", report)
        ctx.stat("kernels", len(report["kernels"]))
        ctx.stat("edges", len(report["edges"]))
        ctx.stat("cores", sum(k.get("cores", 0) for k in report["kernels"]
                              if report["mode"] == "pipelined"))
        ctx.stat("pipelined", int(report["mode"] == "pipelined"))


def wafer_report(module: Module, target: Target, symbols: dict[str, int] | None = None,
                 mode: str = "auto", sparse_threshold: float = SPARSE_THRESHOLD
                 ) -> dict[str, Any]:
    """The wafer report of `module` on `target` (JSON data; see the module docstring)."""
    graph = build_kernel_graph(module, target, symbols, sparse_threshold)
    report: dict[str, Any] = {
        "model": module.name,
        "target": target_json(target),
        "symbols": dict(sorted(graph.symbols.items())),
        "io": {"in_bytes": int(graph.io_in_bytes), "out_bytes": int(graph.io_out_bytes)},
        "edges": [{"src": e.src, "dst": e.dst, "bytes": int(e.weight)} for e in graph.edges],
    }
    weights = sum(k.model.weight_words() for k in graph.kernels) * target.word_bytes
    if mode != "streaming" and graph.kernels:
        try:
            report.update(pipelined(graph))
            report["mode"] = "pipelined"
            report["mode_reason"] = (f"pipelined: all weights ({_mb(weights)}) stay in the "
                                     f"cores' SRAM")
            report["performance"] = evaluate(report)
            return report
        except PlacementError as e:
            if mode == "pipelined":
                raise PlacementError(
                    f"the model does not fit the {target.name} mesh ({target.width}x"
                    f"{target.height}) in pipelined mode: {e.message}", e.loc,
                    hint="use --mode streaming (or auto) to stream the weights layer by layer, "
                         "or a larger mesh") from None
            reason = (f"streaming: the weights ({_mb(weights)}) do not fit pipelined "
                      f"({e.message})")
    else:
        reason = "streaming: asked for (mode=streaming)" if graph.kernels else \
            "no kernels to place"
    report["mode"] = "streaming"
    report["mode_reason"] = reason
    report["kernels"] = [kernel_json(k, None, target) for k in graph.kernels]
    report["streaming"] = streaming.plan(graph)
    return report


def pipelined(graph: KernelGraph) -> dict[str, Any]:
    """Place the kernels; the report's ``kernels`` and ``placement`` sections."""
    target = graph.target
    problem = graph.problem()
    # the strips' width is set for the ideal stage time (a little below the placement's)
    ideal_cycles = max(1, int(sum(k.model.ideal() for k in graph.kernels) / target.cores))
    min_strip = strip_width(graph, ideal_cycles)
    placement = place(problem, time_limit=None, min_strip=min_strip)   # PlacementError: no fit
    lower = placement.lower_bound
    kernels = [kernel_json(k, placement.kernels[k.name], target) for k in graph.kernels]
    ideal = sum(k["ideal"] for k in kernels) / target.cores
    max_time = int(placement.max_time)
    return {
        "kernels": kernels,
        "placement": {
            "max_time": max_time,
            "lower_bound": _num(lower),
            "budget": _num(placement.stats.get("budget", placement.max_time)),
            "ideal_stage": _r(ideal),
            "efficiency": _r(ideal / max_time) if max_time else 0.0,
            "strips": int(placement.stats.get("strips", 0)),
            "strip_direction": "rows" if placement.stats.get("rows") else "columns",
            "min_strip": min_strip,
            "wire": _r(float(wire_length(problem, placement.kernels))),
            "cores": int(sum(k["cores"] for k in kernels)),
        },
    }


def strip_width(graph: KernelGraph, cycles: int) -> int:
    """The narrowest strip the placer may use: wide enough for the heaviest kernel's flows
    to cross one boundary at `cycles` per sample, when two such strips fit across the mesh
    (else no minimum: the flows spread over several boundaries)."""
    t = graph.target
    need = max((k.model.boundary_links(cycles) for k in graph.kernels), default=1)
    across = max(t.width, t.height)
    return need if 2 * need <= across else 1


def kernel_json(k: KernelInfo, placed, target: Target) -> dict[str, Any]:
    """One kernel of the report: what it is, where it is, what it costs."""
    m = k.model
    out: dict[str, Any] = {
        "name": k.name, "op": k.op, "kind": m.kind, "ops": [o.name for o in k.ops],
        "loc": str(k.loc) if k.loc.is_known else "",
        "flops": int(k.flops), "ideal": _r(m.ideal()),
        "sram_bytes": int(m.sram_traffic()),
        "weights": list(k.weights), "weight_numel": int(k.weight_numel),
        "weight_nnz": int(k.weight_nnz), "sparse": bool(k.sparse),
        "weight_bytes": int(m.weight_words() * target.word_bytes),
    }
    if placed is None:
        return out
    ev = m.evaluate(placed.params)
    fw, fh = placed.footprint
    out.update({
        "params": {n: int(v) for n, v in zip(m.param_names, placed.params)},
        "x": int(placed.x), "y": int(placed.y), "w": int(fw), "h": int(fh),
        "rotated": bool(placed.rotated),
        "cores": ev["cores"], "time": ev["time"], "compute": ev["compute"],
        "sram": ev["sram"], "port": ev["port"], "memory_words": ev["memory"],
    })
    grid = m.nnz_grid(placed.params)
    if grid is not None and grid.size:
        nnz = {"max": int(grid.max()), "mean": _r(float(grid.mean())),
               "max_over_mean": _r(float(grid.max() / grid.mean())) if grid.mean() else 0.0}
        if k.sparse and isinstance(m, ContractionModel):
            w = _weight_data(k)
            if w is not None:
                _, kk, n = placed.params
                by_rows = nnz_by_rows(w, kk, n, rows_axis_last=(m.kind != "conv"))
                nnz["max_by_rows"] = by_rows
        out["nnz"] = nnz
        out["layout"] = _layout(m, placed.params)
    return out


def _layout(m, params) -> dict[str, Any]:
    """How the weight's nonzeros sit on the rectangle (for the map's heat layer)."""
    if isinstance(m, ContractionModel):
        rep, k, n = (int(v) for v in params)
        if m.sparse is not None:
            nz, _ = m.sparse.groups(n)
            return {"grid": "chunks", "k": k, "cols": [int(v) for v in nz], "replicas": rep}
        return {"grid": "outer", "rows": ceil_sizes(m.K, k).tolist(),
                "cols": ceil_sizes(m.N, n).tolist(), "replicas": rep}
    if isinstance(m, RecurrentModel):
        k, n = (int(v) for v in params)
        return {"grid": "outer", "rows": ceil_sizes(m.K, k).tolist(),
                "cols": ceil_sizes(m.N, n).tolist(), "replicas": 1}
    return {}


def _weight_data(k: KernelInfo) -> np.ndarray | None:
    from ..ir.core import Constant
    op = k.ops[-1]
    if len(op.operands) > 1 and isinstance(op.operands[1], Constant):
        return op.operands[1].data
    return None


def target_json(t: Target) -> dict[str, Any]:
    return {"name": t.name, "width": t.width, "height": t.height, "cores": t.cores,
            "sram_bytes": t.sram_bytes, "flops_per_cycle": t.flops_per_cycle,
            "clock_hz": t.clock_hz, "link_bytes_per_cycle": t.link_bytes_per_cycle,
            "channels_per_link": t.channels_per_link, "io_bytes_per_s": t.io_bytes_per_s,
            "word_bytes": t.word_bytes, "sram_bytes_per_cycle": t.sram_bytes_per_cycle}


def _mb(n: float) -> str:
    from ..summary import format_bytes
    return format_bytes(int(n))


def _num(v) -> float:
    f = float(v)
    return int(f) if f.is_integer() else _r(f)


def _r(v: float) -> float:
    return float(f"{float(v):.6g}")
