"""The performance model: a placed (and routed) model in cycles, samples per second and why.

`evaluate(report)` reads the wafer report the place and route passes write
(plain JSON, so `wsc inspect` needs nothing else) and returns its
``performance`` section; `format_performance(report)` renders it.

Per kernel, cycles per sample:

- **compute**: its MACs and operations on the busiest core (the kernel model's
  time, `compiler/place/model_kernels.py`);
- **SRAM**: that core's SRAM traffic at `Target.sram_bytes_per_cycle`;
- **port**: what that core receives or sends through its router port;
- **links**: the most loaded boundary its flows cross (routing), bytes per
  link over `link_bytes_per_cycle` — over capacity, it is slower than the
  pipeline's compute pace.

A kernel's stage time is the largest of the four. In pipelined mode every
kernel works on its own sample at once, so the **throughput** is the clock
over the slowest stage (or over the wafer's I/O time per sample, if that is
slower: inputs and outputs cross the wafer's edge at `io_bytes_per_s`). The
**latency** of one sample is the longest path through the kernels (each
kernel's stage time plus the hops of the flow into it, one cycle per hop).
**Active cores** are the cores inside kernel rectangles; **FLOP utilization**
is the useful FLOPs done per second over the wafer's peak; the **placement
efficiency** is the ideal stage time (all the kernels' work spread over every
core) over the slowest kernel's time. The **bottleneck** is the kernel with
the longest stage time, and the term that sets it says why.
"""
from __future__ import annotations

from typing import Any

from ..summary import format_count, format_table

TERMS = ("compute", "sram", "port", "link")
WHY = {
    "compute": "compute-bound: MACs and operations on its busiest core",
    "sram": "SRAM-bound: its busiest core's SRAM traffic",
    "port": "port-bound: data in and out of its cores through their router ports",
    "link": "link-bound: its flows cross a boundary beyond the links' capacity",
    "io": "I/O-bound: the model's inputs and outputs cross the wafer's edge",
}


def evaluate(report: dict[str, Any]) -> dict[str, Any]:
    """The ``performance`` section of a pipelined wafer report (see the module docstring)."""
    t = report["target"]
    kernels = report["kernels"]
    routes = report.get("routes")
    link_load = _kernel_link_cycles(report) if routes else {}
    hops_in = _hops_into(routes) if routes else {}
    rows = []
    for k in kernels:
        terms = {"compute": k["compute"], "sram": k["sram"], "port": k["port"],
                 "link": link_load.get(k["name"], {}).get("cycles", 0.0)}
        stage = max(max(terms.values()), 1)
        bound = max(TERMS, key=lambda n: (terms[n], -TERMS.index(n)))
        cores = k["cores"]
        peak = cores * t["flops_per_cycle"] * stage
        rows.append({
            "kernel": k["name"], "op": k["op"], "cores": cores,
            "compute": k["compute"], "sram": k["sram"], "port": k["port"],
            "link": _r(terms["link"]), "stage": _r(stage), "bound": bound,
            "sram_bytes": k.get("sram_bytes", 0),
            "hops_in": _r(hops_in.get(k["name"], 0.0)),
            "most_loaded": link_load.get(k["name"], {}).get("bundle"),
            "flops": k["flops"],
            "flop_utilization": _r(k["flops"] / peak) if peak else 0.0,
            "nnz_max": k.get("nnz", {}).get("max", 0),
            "nnz_mean": k.get("nnz", {}).get("mean", 0.0),
        })
    io_bytes = report["io"]["in_bytes"] + report["io"]["out_bytes"]
    io_cycles = io_bytes / t["io_bytes_per_s"] * t["clock_hz"]
    slowest = max(rows, key=lambda r: r["stage"]) if rows else None     # the first of ties
    stage = max(slowest["stage"] if slowest else 1.0, io_cycles, 1.0)
    clock = t["clock_hz"]
    throughput = clock / stage
    flops = sum(k["flops"] for k in kernels)
    mesh_cores = t["width"] * t["height"]
    cores = sum(k["cores"] for k in kernels)
    ideal = sum(k["ideal"] for k in kernels) / mesh_cores
    max_time = max((k["time"] for k in kernels), default=1)
    latency = _latency(report, {r["kernel"]: r["stage"] for r in rows}, hops_in)
    if slowest is not None and slowest["stage"] >= io_cycles:
        bottleneck = {"kernel": slowest["kernel"], "op": slowest["op"],
                      "bound": slowest["bound"], "cycles": slowest["stage"],
                      "why": _why(slowest)}
    else:
        bottleneck = {"kernel": "(wafer I/O)", "op": "", "bound": "io", "cycles": _r(io_cycles),
                      "why": f"{WHY['io']}: {io_bytes} bytes per sample at "
                             f"{t['io_bytes_per_s'] / 1e9:.4g} GB/s"}
    return {
        "mode": "pipelined",
        "stage_cycles": _r(stage),
        "compute_stage_cycles": max_time,
        "io_cycles": _r(io_cycles),
        "throughput": _r(throughput),
        "latency_cycles": _r(latency),
        "latency_s": _r(latency / clock),
        "active_cores": _r(cores / mesh_cores),
        "flops_per_sample": flops,
        "flop_utilization": _r(flops * throughput / (mesh_cores * t["flops_per_cycle"] * clock)),
        "ideal_stage_cycles": _r(ideal),
        "efficiency": _r(ideal / max_time) if max_time else 0.0,
        "bottleneck": bottleneck,
        "kernels": rows,
    }


def _why(row: dict) -> str:
    terms = ", ".join(f"{n} {row[n]:.0f}" for n in TERMS)
    text = f"{WHY[row['bound']]} ({terms} cycles)"
    if row["bound"] == "link" and row.get("most_loaded"):
        b = row["most_loaded"]
        text += (f"; {b['from']} -> {b['to']}: {b['links']} links at "
                 f"{b['utilization']:.2f}x capacity")
    return text


def _kernel_link_cycles(report: dict) -> dict[str, dict]:
    """Per kernel: the cycles per sample its most loaded bundle needs, and that bundle."""
    t = report["target"]
    routes = report["routes"]
    bundles = {(b["from"], b["to"]): b for b in routes.get("bundles", [])}
    out: dict[str, dict] = {}
    for f in routes.get("routes", []):
        for p in f["paths"]:
            hops = [f["src"]] + p["via"] + [f["dst"]]
            for a, b in zip(hops, hops[1:]):
                bd = bundles.get((a, b))
                if bd is None:
                    continue
                cycles = bd["load_per_link"] / t["link_bytes_per_cycle"]
                for k in (f["src"], f["dst"]):
                    if cycles > out.get(k, {}).get("cycles", -1.0):
                        out[k] = {"cycles": cycles, "bundle": bd}
    return out


def _hops_into(routes: dict) -> dict[str, float]:
    """Per kernel: the data-weighted hops of the flows into it (the longest one counts for
    latency below; this is the mean for the table)."""
    num: dict[str, float] = {}
    den: dict[str, float] = {}
    for f in routes.get("routes", []):
        num[f["dst"]] = num.get(f["dst"], 0.0) + f["bytes"] * f["hops"]
        den[f["dst"]] = den.get(f["dst"], 0.0) + f["bytes"]
    return {k: num[k] / den[k] if den[k] else 0.0 for k in num}


def _latency(report: dict, stage: dict[str, float], hops_in: dict[str, float]) -> float:
    """The longest path through the kernel graph: stage times plus hops on the edges."""
    names = [k["name"] for k in report["kernels"]]
    preds: dict[str, list[tuple[str, float]]] = {n: [] for n in names}
    hops = {}
    for f in (report.get("routes") or {}).get("routes", []):
        hops[(f["src"], f["dst"])] = f["hops"]
    for e in report.get("edges", []):
        if e["src"] in preds and e["dst"] in preds:
            preds[e["dst"]].append((e["src"], hops.get((e["src"], e["dst"]), 1.0)))
    done: dict[str, float] = {}
    for n in names:             # kernels are listed in module (topological) order
        start = max((done.get(p, 0.0) + h for p, h in preds[n]), default=0.0)
        done[n] = start + stage.get(n, 0.0)
    return max(done.values(), default=0.0)


def _r(v: float) -> float:
    return float(f"{float(v):.6g}")


# --- text ------------------------------------------------------------------------------

def format_performance(report: dict[str, Any], max_rows: int | None = None) -> str:
    """`wsc inspect --report`: the totals, the bottleneck, then one row per kernel."""
    t = report["target"]
    mesh = f"{t['width']}x{t['height']}"
    name = mesh if t["name"] == mesh else f"{t['name']} {mesh}"
    lines = [f"wafer: {name} "
             f"({format_count(t['width'] * t['height'])} cores, "
             f"{t['clock_hz'] / 1e9:.3g} GHz), mode {report['mode']}"]
    if report.get("mode_reason"):
        lines.append(f"  {report['mode_reason']}")
    if report["mode"] == "streaming":
        from .streaming import format_streaming
        return "\n".join(lines) + "\n" + format_streaming(report["streaming"], max_rows)
    perf = report.get("performance") or {}
    pl = report.get("placement") or {}
    rt = report.get("routes")
    b = perf.get("bottleneck", {})
    rows = [
        ("throughput", f"{perf['throughput']:.6g} samples/s (a sample every "
                       f"{perf['stage_cycles']:.6g} cycles)"),
        ("latency", f"{perf['latency_s'] * 1e6:.4g} us ({perf['latency_cycles']:.6g} cycles)"),
        ("kernels", f"{len(report['kernels'])} on {perf['active_cores']:.1%} of the cores"),
        ("FLOP utilization", f"{perf['flop_utilization']:.1%} of peak "
                             f"({format_count(perf['flops_per_sample'])} FLOPs per sample)"),
        ("placement", f"efficiency {pl.get('efficiency', 0):.3f} (ideal stage "
                      f"{perf['ideal_stage_cycles']:.6g} cycles / slowest kernel "
                      f"{perf['compute_stage_cycles']} cycles), lower bound "
                      f"{pl.get('lower_bound', 0)} cycles"),
    ]
    if rt:
        over = rt["over_capacity"]
        rows.append(("routing", f"{rt['flows']} flows on {rt['paths']} paths, mean "
                                f"{rt['mean_hops']:.3g} hops (data-weighted), max "
                                f"{rt['max_hops']:.4g}; busiest bundle at "
                                f"{rt['max_utilization']:.2f}x capacity, "
                                f"{rt['max_channels_per_link']} channels per link; "
                                f"{over} bundle{'s' if over != 1 else ''} over capacity"))
    else:
        rows.append(("routing", "not routed (add the route pass)"))
    rows.append(("bottleneck", f"{b.get('kernel')} — {b.get('why', '')}"))
    lines += ["  " + l for l in format_table(rows, header=False)]
    lines.append("")
    table = [("kernel", "op", "cores", "compute", "SRAM", "port", "links", "stage", "bound",
              "hops in", "nnz max/mean", "FLOP util")]
    krows = perf.get("kernels", [])
    shown = krows if max_rows is None or len(krows) <= max_rows else \
        sorted(krows, key=lambda r: -r["stage"])[:max_rows]
    for r in shown:
        nnz = f"{r['nnz_max']}/{r['nnz_mean']:.1f}" if r["nnz_max"] else "-"
        table.append((r["kernel"], r["op"], str(r["cores"]), str(r["compute"]), str(r["sram"]),
                      str(r["port"]), f"{r['link']:.0f}", f"{r['stage']:.0f}", r["bound"],
                      f"{r['hops_in']:.3g}", nnz, f"{r['flop_utilization']:.1%}"))
    lines += format_table(table, right_align={2, 3, 4, 5, 6, 7, 9, 10, 11})
    if len(shown) < len(krows):
        lines.append(f"... {len(krows) - len(shown)} more kernels (the {len(shown)} slowest "
                     f"shown)")
    return "\n".join(lines) + "\n"
