"""ResNet-50 and a BERT-base encoder placed, routed and modelled on a wafer, end to end.

    python benchmarks/wafer_models.py                      # both models on wse2
    python benchmarks/wafer_models.py --models resnet50 --mesh wse3
    python benchmarks/wafer_models.py --prune magnitude:0.9   # sparse weights
    python benchmarks/wafer_models.py --map docs/           # also draw each wafer map (SVG)

Each model is built with `compiler.testing.onnx_models` (real layouts and
shapes, seeded random weights), written to a temporary .onnx file and compiled
to a .wafer file with ``--mesh`` (the default -O2 pipeline, then place and
route); the wall time covers the whole compile, ONNX to .wafer on disk. The
numbers come from the artifact's wafer report:

- **efficiency**: ideal stage time (every kernel's work spread over all the
  cores) over the slowest kernel's time — target >= 0.85;
- **hops**: data-weighted mean hops per flow as routed (links crossed: 1 = adjacent
  kernels, plus the way across every region in between) — target <= 2;
- **gap**: the same mean of 1 + the L1 gap between the facing edges of the two
  kernels' rectangles: what any route must cross at least (the placement's part of
  the hops; routes are longer where a boundary is too short for its flow);
- **over**: bundles of links over capacity after routing — target 0;
- **compile**: seconds from the .onnx file to the .wafer file — target < 30;
- the throughput the performance model predicts, and its bottleneck.

These are ratios to read, not assertions (the tests check the machinery on
small meshes).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import compiler  # noqa: E402
from compiler.place.wafer_map import scene_from_report, write_map  # noqa: E402
from compiler.testing import onnx_models  # noqa: E402
from runtime.errors import WscError  # noqa: E402

MODELS = {"resnet50": onnx_models.resnet50, "bert-base": onnx_models.bert_base}
TARGETS = {"efficiency": 0.85, "hops": 2.0, "over": 0, "seconds": 30.0}


def run(name: str, mesh: str, mode: str, prune: str | None, work: Path,
        map_dir: Path | None) -> dict:
    src = onnx_models.save(MODELS[name](), work / f"{name}.onnx")
    out = work / f"{name}.wafer"
    start = time.perf_counter()
    result = compiler.compile(src, mesh=mesh, mode=mode, prune=prune)
    result.save(out)
    seconds = time.perf_counter() - start
    report = result.program.header["reports"]["wafer"]
    row = {"model": name, "mode": report["mode"], "kernels": len(report["kernels"]),
           "seconds": seconds, "size": out.stat().st_size}
    if report["mode"] == "pipelined":
        perf, routes, pl = report["performance"], report["routes"], report["placement"]
        sparse = [k for k in report["kernels"] if k.get("sparse")]
        row.update({
            "efficiency": pl["efficiency"], "bound_ratio": pl["max_time"] / pl["lower_bound"],
            "cores": perf["active_cores"], "hops": routes["mean_hops"],
            "gap": gap_hops(report),
            "max_hops": routes["max_hops"], "over": routes["over_capacity"],
            "max_util": routes["max_utilization"], "channels": routes["max_channels_per_link"],
            "throughput": perf["throughput"], "flop_util": perf["flop_utilization"],
            "bottleneck": perf["bottleneck"]["kernel"], "why": perf["bottleneck"]["bound"],
            "sparse": len(sparse),
            "nnz_ratio": max((k["nnz"]["max_over_mean"] for k in sparse if "nnz" in k),
                             default=None),
        })
        if map_dir is not None:
            map_dir.mkdir(parents=True, exist_ok=True)
            row["map"] = write_map(scene_from_report(report),
                                   map_dir / f"{name.replace('-', '_')}_{mesh}.svg")
    else:
        s = report["streaming"]
        row.update({"throughput": s["throughput"], "io_bound": s["io_bound_layers"]})
    return row


def gap_hops(report: dict) -> float:
    """Data-weighted mean over the flows of 1 + the L1 gap between the facing edges of
    producer and consumer rectangles (1 = they touch)."""
    rect = {k["name"]: (k["x"], k["y"], k["w"], k["h"]) for k in report["kernels"]}
    num = den = 0.0
    for e in report["edges"]:
        (ax, ay, aw, ah), (bx, by, bw, bh) = rect[e["src"]], rect[e["dst"]]
        gx = max(0, bx - (ax + aw), ax - (bx + bw))
        gy = max(0, by - (ay + ah), ay - (by + bh))
        num += e["bytes"] * (1 + gx + gy)
        den += e["bytes"]
    return num / den if den else 0.0


def mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--mesh", default="wse2", help="wafer target (default wse2)")
    ap.add_argument("--mode", default="auto", choices=("auto", "pipelined", "streaming"))
    ap.add_argument("--prune", metavar="SPEC", help="prune first, e.g. magnitude:0.9")
    ap.add_argument("--map", type=Path, metavar="DIR", help="write each wafer map (SVG) here")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; models: {', '.join(MODELS)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                rows.append(run(name, args.mesh, args.mode, args.prune, Path(tmp), args.map))
            except WscError as e:
                print(f"{name}: {e.format()}", file=sys.stderr)
                return 1
    head = (f"{'model':<10} {'mode':<9} {'kern':>4} {'cores':>6} {'effic.':>7} {'t/lb':>5} "
            f"{'hops':>6} {'gap':>6} {'max':>6} {'over':>4} {'util':>5} {'chan':>4} "
            f"{'samples/s':>10} {'FLOP%':>6} {'compile':>8}  bottleneck")
    print(f"wafer: {args.mesh}" + (f", pruned {args.prune}" if args.prune else ""))
    print(head)
    print("-" * len(head))
    for r in rows:
        if r["mode"] != "pipelined":
            print(f"{r['model']:<10} {r['mode']:<9} {r['kernels']:>4} {'':>6} {'':>7} {'':>5} "
                  f"{'':>6} {'':>6} {'':>6} {'':>4} {'':>5} {'':>4} "
                  f"{r['throughput']:>10.4g} {'':>6} "
                  f"{r['seconds']:>7.1f}s  {r['io_bound']} layers I/O-bound")
            continue
        print(f"{r['model']:<10} {r['mode']:<9} {r['kernels']:>4} {r['cores']:>6.1%} "
              f"{r['efficiency']:>7.3f} {r['bound_ratio']:>5.2f} {r['hops']:>6.2f} "
              f"{r['gap']:>6.2f} "
              f"{r['max_hops']:>6.0f} {r['over']:>4} {r['max_util']:>5.2f} {r['channels']:>4} "
              f"{r['throughput']:>10.4g} {r['flop_util']:>6.1%} {r['seconds']:>7.1f}s  "
              f"{r['bottleneck']} ({r['why']})")
    print()
    print(f"targets: efficiency >= {TARGETS['efficiency']}, mean hops <= {TARGETS['hops']}, "
          f"no link over capacity, compile < {TARGETS['seconds']:.0f} s")
    for r in rows:
        if r["mode"] != "pipelined":
            continue
        checks = [f"efficiency {mark(r['efficiency'] >= TARGETS['efficiency'])}",
                  f"hops {mark(r['hops'] <= TARGETS['hops'])}",
                  f"capacity {mark(r['over'] == TARGETS['over'])}",
                  f"compile {mark(r['seconds'] < TARGETS['seconds'])}"]
        extra = ""
        if r["sparse"]:
            extra = f"; {r['sparse']} sparse kernels, worst max/mean nnz per core " \
                    f"{r['nnz_ratio']:.3f}"
        print(f"  {r['model']:<10} " + ", ".join(checks) + extra)
        if "map" in r:
            print(f"  {'':<10} map: {r['map']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
