"""Weight-streaming mode: one layer at a time on the whole wafer, its weights streamed in.

When the weights do not fit in the wafer's SRAM, the compiler runs the model
layer by layer: each kernel in turn gets the whole mesh, its weights arrive
through the wafer's external I/O (`Target.io_bytes_per_s`) while it computes,
and activations stay on the wafer between layers. Per layer (kernel), per run
of the model (one sample, or the batch `--input-shape` binds):

- **compute**: the kernel's fastest time on the whole mesh (its model's
  smallest time over every rectangle that fits, `Sizer`'s shape table; the
  weights pass through the cores, so their memory is no limit);
- **weights**: bytes streamed in (a dense weight: every element, a sparse one:
  value and index per nonzero) and the cycles that takes;
- the layer takes the larger of the two (streaming overlaps computing): it is
  **compute-bound** or **I/O-bound**. `batch_to_compute` is the batch at which
  an I/O-bound layer would become compute-bound (weights are streamed once per
  batch; the compute grows with it).

The run takes the sum of its layers; the throughput is runs per second.
"""
from __future__ import annotations

import math
from typing import Any

from ..summary import format_bytes, format_count, format_table
from ..target.mesh import Target
from .kernel_graph import KernelGraph
from .sizing import ShapeTable

STREAMED_MEMORY = 1 << 62


def plan(graph: KernelGraph) -> dict[str, Any]:
    """The ``streaming`` section of the wafer report (see the module docstring)."""
    t: Target = graph.target
    rows = []
    total = 0.0
    for k in graph.kernels:
        # the weights stream through the cores instead of staying: memory is no limit here
        table = ShapeTable(k.model, STREAMED_MEMORY, t.width, t.height, 1)
        fastest = table.fastest()
        if fastest is None:        # no rectangle fits the mesh at all
            fastest = math.ceil(k.model.ideal() / t.cores)
        weight_bytes = k.model.weight_words() * t.word_bytes
        io = weight_bytes / t.io_bytes_per_s * t.clock_hz
        cycles = max(fastest, io)
        bound = "I/O" if io > fastest else "compute"
        rows.append({
            "kernel": k.name, "op": k.op, "compute_cycles": int(fastest),
            "weight_bytes": int(weight_bytes), "io_cycles": _r(io), "cycles": _r(cycles),
            "bound": bound,
            "batch_to_compute": _r(io / fastest) if bound == "I/O" and fastest else 1.0,
            "flops": k.flops,
        })
        total += cycles
    io_bytes = graph.io_in_bytes + graph.io_out_bytes
    io_cycles = io_bytes / t.io_bytes_per_s * t.clock_hz
    total = max(total, io_cycles, 1.0)
    flops = sum(k.flops for k in graph.kernels)
    throughput = t.clock_hz / total
    return {
        "cycles": _r(total),
        "throughput": _r(throughput),
        "latency_s": _r(total / t.clock_hz),
        "weight_bytes": sum(r["weight_bytes"] for r in rows),
        "io_bound_layers": sum(1 for r in rows if r["bound"] == "I/O"),
        "flops_per_sample": flops,
        "flop_utilization": _r(flops * throughput / t.peak_flops),
        "layers": rows,
    }


def _r(v: float) -> float:
    return float(f"{float(v):.6g}")


def format_streaming(s: dict[str, Any], max_rows: int | None = None) -> str:
    lines = []
    rows = [("throughput", f"{s['throughput']:.6g} runs/s ({s['cycles']:.6g} cycles per run)"),
            ("weights", f"{format_bytes(s['weight_bytes'])} streamed per run; "
                        f"{s['io_bound_layers']} of {len(s['layers'])} layers I/O-bound"),
            ("FLOP utilization", f"{s['flop_utilization']:.2%} of peak "
                                 f"({format_count(s['flops_per_sample'])} FLOPs per run)")]
    lines += ["  " + l for l in format_table(rows, header=False)]
    lines.append("")
    table = [("layer", "op", "compute", "weights", "I/O cycles", "cycles", "bound",
              "batch to compute-bound")]
    layers = s["layers"]
    shown = layers if max_rows is None or len(layers) <= max_rows else \
        sorted(layers, key=lambda r: -r["cycles"])[:max_rows]
    for r in shown:
        table.append((r["kernel"], r["op"], str(r["compute_cycles"]),
                      format_bytes(r["weight_bytes"]), f"{r['io_cycles']:.0f}",
                      f"{r['cycles']:.0f}", r["bound"],
                      f"{r['batch_to_compute']:.3g}" if r["bound"] == "I/O" else "-"))
    lines += format_table(table, right_align={2, 3, 4, 5, 7})
    if len(shown) < len(layers):
        lines.append(f"... {len(layers) - len(shown)} more layers")
    return "\n".join(lines) + "\n"
