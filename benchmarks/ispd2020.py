"""wsc's sizer and placer on the 20 ISPD 2020 contest benchmarks (A-T).

    python benchmarks/ispd2020.py                    # all 20: table, solutions written
    python benchmarks/ispd2020.py --only A,K,M       # some of them
    python benchmarks/ispd2020.py --check OUT/A.paint [--kgraph A.kgraph]

For each benchmark: read the `.kgraph`, size and place it under the contest's
rules (time weight wdeltat, wire weight wlength; the adapter cost is not public
and is not modelled), write the solution in the contest's format
(`compiler.place.ispd` documents it), re-read that file and check it from
scratch (bounds, overlaps, memory, formal parameters), and print:

- the max kernel time and its lower bound (the smallest time at which the sum
  of every kernel's minimum area meeting that time fits the grid, found
  exactly), and their ratio;
- the wire length (L1 between the centres of connected kernels);
- the score wdeltat * max time + wlength * wire, for the benchmarks whose
  adapter weight is 0 (A-D, I-N), where the score is fully known;
- the wall time of the whole benchmark (read, bound, place, write, check).

`--check FILE` verifies a solution file independently of the placer: the kgraph
is `--kgraph`, or the benchmark named like the file (A.paint -> A.kgraph).

The data are looked for in `--data`, then $WSC_ISPD2020_DIR, then
`<repo>/../shared/ispd2020` (the layout of a checkout next to shared/).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.place.ispd import (  # noqa: E402
    KGraph, check_solution, format_solution, placement_score, read_kgraph)
from compiler.place.placer import check_placement, place  # noqa: E402
from runtime.errors import WscError  # noqa: E402

TARGET_RATIO = 1.10


def data_dir(explicit: str | None) -> Path | None:
    for cand in (explicit, os.environ.get("WSC_ISPD2020_DIR"),
                 str(ROOT.parent / "shared" / "ispd2020")):
        if cand and (Path(cand) / "benchmarks").is_dir():
            return Path(cand)
    return None


def run_one(path: Path, out_dir: Path) -> dict:
    start = time.perf_counter()
    graph = read_kgraph(path)
    problem = graph.to_problem()
    placement = place(problem, time_weight=graph.wdeltat, wire_weight=graph.wlength)
    internal = check_placement(problem, placement)
    text = format_solution(graph, placement.kernels)
    out = out_dir / f"{path.stem}.paint"
    out.write_text(text)
    report = check_solution(graph, out.read_text(), str(out))
    seconds = time.perf_counter() - start
    lb = placement.lower_bound
    mt = placement.max_time
    wire = placement.wire_length()
    agree = (report.legal and report.max_time == mt and report.wire_length == wire)
    return {
        "name": path.stem, "test": graph.name, "kernels": len(problem.kernels),
        "lb": lb, "max_time": mt, "ratio": mt / lb if lb else None, "wire": wire,
        "score": placement_score(graph, mt, wire), "legal": report.legal and not internal,
        "violations": report.violations + internal, "agree": agree, "seconds": seconds,
        "wadapter": graph.wadapter, "file": out,
    }


def print_table(rows: list[dict]) -> None:
    head = (f"{'':2} {'test':34} {'kern':>4} {'lower bound':>12} {'max time':>12} "
            f"{'ratio':>6} {'wire':>9} {'score':>12} {'legal':>5} {'time':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        score = f"{float(r['score']):12.1f}" if r["score"] is not None else f"{'-':>12}"
        legal = "yes" if r["legal"] and r["agree"] else "NO"
        print(f"{r['name']:2} {r['test'][:34]:34} {r['kernels']:4d} {float(r['lb']):12.2f} "
              f"{float(r['max_time']):12.2f} {float(r['ratio']):6.3f} {float(r['wire']):9.1f} "
              f"{score} {legal:>5} {r['seconds']:5.2f}s")
        for v in r["violations"][:5]:
            print(f"     ! {v}")
    scored = [r for r in rows if r["wadapter"] == 0]
    print()
    print("score = wdeltat * max time + wlength * wire, shown where wadapter = 0 "
          "(the adapter cost is not public).")
    if scored:
        worst = max(scored, key=lambda r: r["ratio"])
        ok = all(r["ratio"] <= TARGET_RATIO for r in scored)
        print(f"max time / lower bound on the scored benchmarks: worst {float(worst['ratio']):.3f}"
              f" ({worst['name']}); target <= {TARGET_RATIO}: {'met' if ok else 'NOT met'}")
    print(f"all legal: {'yes' if all(r['legal'] and r['agree'] for r in rows) else 'NO'}; "
          f"slowest benchmark {max(r['seconds'] for r in rows):.2f}s")


def check_file(sol: Path, kgraph: Path | None, data: Path | None) -> int:
    if kgraph is None:
        if data is None:
            print("error: give --kgraph (the ISPD 2020 data were not found)", file=sys.stderr)
            return 2
        kgraph = data / "benchmarks" / f"{sol.stem}.kgraph"
    graph: KGraph = read_kgraph(kgraph)
    try:
        text = sol.read_text()
    except OSError as e:
        print(f"error: cannot read {sol}: {e.strerror}", file=sys.stderr)
        return 2
    report = check_solution(graph, text, str(sol))
    print(f"{sol}: {report.kernels} kernels, checked against {kgraph}")
    if report.legal:
        print("legal: yes")
        print(f"max time: {float(report.max_time):.2f}")
        print(f"wire length: {float(report.wire_length):.1f}")
        if report.score is not None:
            print(f"score: {float(report.score):.1f}")
        return 0
    print(f"legal: NO ({len(report.violations)} problems)")
    for v in report.violations:
        print(f"  {v}")
    return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="the ispd2020 folder (with benchmarks/)")
    ap.add_argument("--out", help="where to write the solutions (default: a temp folder)")
    ap.add_argument("--only", help="comma-separated benchmark names, e.g. A,K,M")
    ap.add_argument("--check", metavar="FILE", help="verify one solution file and exit")
    ap.add_argument("--kgraph", help="with --check: the kgraph the solution is for")
    args = ap.parse_args(argv)
    data = data_dir(args.data)
    try:
        if args.check:
            return check_file(Path(args.check), Path(args.kgraph) if args.kgraph else None,
                              data)
        if data is None:
            print("error: the ISPD 2020 data were not found; pass --data DIR",
                  file=sys.stderr)
            return 2
        out_dir = Path(args.out) if args.out else Path(tempfile.gettempdir()) / "wsc-ispd2020"
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = sorted((data / "benchmarks").glob("*.kgraph"))
        if args.only:
            wanted = {s.strip().upper() for s in args.only.split(",")}
            paths = [p for p in paths if p.stem.upper() in wanted]
        rows = [run_one(p, out_dir) for p in paths]
    except WscError as e:
        print(f"error: {e.format()}", file=sys.stderr)
        return 1
    print_table(rows)
    print(f"solutions written to {out_dir}/")
    return 0 if all(r["legal"] and r["agree"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
