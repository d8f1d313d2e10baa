"""ONNX conformance of wsc: the ONNX backend test suites, counted per suite and per op type.

    python benchmarks/conformance.py                   # every suite, tables
    python benchmarks/conformance.py --suite node --op Conv --failures
    python benchmarks/conformance.py --json > conformance.json
    python benchmarks/conformance.py --markdown   # the table in docs/onnx.md

Runs the node suite (every case of `onnx.backend.test.case.node`) and the model
suites (`light`, `simple`, `pytorch-converted`, `pytorch-operator`) through
wsc as the tests do (`compiler/testing/`), then prints:

- per suite: cases, pass / fail (wrong numbers) / error (did not compile or
  run), how many of the non-passing cases are expected failures (listed in
  `tests/onnx/expected_failures.txt`), how many passes were *specialized*
  (graph inputs the model uses as compile-time operands were frozen as
  constants) and the pass rate;
- the pass rate of the node suite and of its cases for the ONNX ops wsc
  targets (`TARGET_OPS`, the op list of issue 3);
- per ONNX op type (node suite; a case counts for the op it tests, the
  `_expanded` variants for the op whose function body they inline).

`--failures` lists every non-passing case with its detail; `--markdown`
prints the per-suite table for docs/onnx.md;
`--suggest-expected-failures` prints the current failures in the
expected-failures file's format, with a reason guessed from the error, for a
person to review (failures of target ops are left out: they are bugs to fix).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compiler.testing.expected_failures import (  # noqa: E402
    format_expected_failures, load_expected_failures)
from compiler.testing.onnx_model_suites import (  # noqa: E402
    SUITES, case_op_types, model_cases, run_model_case)
from compiler.testing.onnx_node_cases import (  # noqa: E402
    node_case_ops, node_cases, run_case)

EXPECTED_FAILURES_FILE = ROOT / "tests" / "onnx" / "expected_failures.txt"
ALL_SUITES = ("node",) + SUITES

# The ONNX ops wsc must support (issue 3).
TARGET_OPS = tuple("""
Abs Add And ArgMax ArgMin AveragePool BatchNormalization Cast CastLike Ceil Clip Concat
Constant ConstantOfShape Conv ConvTranspose Cos CumSum DepthToSpace Div Dropout Einsum Elu
Equal Erf Exp Expand Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool
GlobalMaxPool Greater GreaterOrEqual GroupNormalization GRU HardSigmoid HardSwish Identity
InstanceNormalization LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax LRN LSTM
MatMul Max MaxPool Mean Min Mish Mod Mul Neg Not OneHot Or Pad Pow PRelu Range Reciprocal
ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd
ReduceSum ReduceSumSquare Relu Reshape Resize RMSNormalization RNN Round ScatterElements
ScatterND Selu Shape Sigmoid Sign Sin Size Slice Softmax Softplus Softsign SpaceToDepth Split
Sqrt Squeeze Sub Sum Swish Tan Tanh Tile TopK Transpose Trilu Unsqueeze Where Xor
""".split())


@dataclass
class Row:
    """One case's outcome."""

    suite: str
    name: str              # node: onnx's case name; model suites: "suite/name"
    op: str                # node: the op type the case tests; models: their op types
    status: str            # pass | fail | error
    detail: str
    specialized: bool
    expected: str | None   # the reason, if the case is on the expected-failures list
    seconds: float


def run(suites, ops=None, expected=None) -> list[Row]:
    """Run the cases of `suites` (only those of `ops`, if given); one Row per case."""
    expected = expected or {}
    wanted = set(ops) if ops else None
    rows = []
    if "node" in suites:
        op_of = node_case_ops()
        for case in node_cases():
            op = op_of[case.name]
            if wanted and op not in wanted:
                continue
            start = time.perf_counter()
            r = run_case(case)
            rows.append(Row("node", case.name, op, r.status, r.detail, r.specialized,
                            expected.get(case.name), time.perf_counter() - start))
    for suite in SUITES:
        if suite not in suites:
            continue
        for case in model_cases([suite]):
            op_types = case_op_types(case)
            if wanted and not op_types & wanted:
                continue
            start = time.perf_counter()
            r = run_model_case(case)
            rows.append(Row(suite, case.id, ",".join(sorted(op_types)), r.status, r.detail,
                            r.specialized, expected.get(case.id), time.perf_counter() - start))
    return rows


# ---------------------------------------------------------------------------
# Counting


def _counts(rows) -> dict:
    c = Counter(r.status for r in rows)
    n = len(rows)
    return {
        "cases": n, "pass": c["pass"], "fail": c["fail"], "error": c["error"],
        "expected": sum(1 for r in rows if r.status != "pass" and r.expected),
        "unexpected": sum(1 for r in rows if r.status != "pass" and not r.expected),
        "specialized": sum(1 for r in rows if r.status == "pass" and r.specialized),
        "pass_rate": round(c["pass"] / n, 4) if n else None,
    }


def summarize(rows) -> dict:
    """Counts per suite, per op type (node suite) and for the target op list."""
    suites = {s: _counts([r for r in rows if r.suite == s])
              for s in ALL_SUITES if any(r.suite == s for r in rows)}
    node = [r for r in rows if r.suite == "node"]
    ops = {op: _counts([r for r in node if r.op == op]) for op in sorted({r.op for r in node})}
    target = [r for r in node if r.op in TARGET_OPS]
    out = {"suites": suites, "ops": ops}
    if target:
        out["target_ops"] = _counts(target)
        out["target_ops"]["ops"] = len({r.op for r in target})
        out["target_ops"]["ops_all_pass"] = sum(
            1 for op in {r.op for r in target} if ops[op]["pass"] == ops[op]["cases"])
    return out


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


COLUMNS = ("cases", "pass", "fail", "error", "expected", "unexpected", "specialized")


def _table(title: str, first: str, table: dict) -> list[str]:
    width = max([len(first)] + [len(k) for k in table]) + 2
    lines = [title, f"{first:<{width}}" + "".join(f"{c:>12}" for c in COLUMNS)
             + f"{'pass rate':>12}"]
    for key, c in table.items():
        lines.append(f"{key:<{width}}" + "".join(f"{c[col]:>12}" for col in COLUMNS)
                     + f"{_pct(c['pass_rate']):>12}")
    return lines


def markdown(summary: dict) -> str:
    """The per-suite counts and the target-op line as markdown (for docs/onnx.md)."""
    import onnx
    lines = [f"onnx {onnx.__version__}, `python benchmarks/conformance.py --markdown`:", "",
             "| suite | cases | pass | fail | error | expected failures | specialized "
             "| pass rate |", "|---|---|---|---|---|---|---|---|"]
    for suite, c in summary["suites"].items():
        lines.append(f"| {suite} | {c['cases']} | {c['pass']} | {c['fail']} | {c['error']} | "
                     f"{c['expected']} | {c['specialized']} | {_pct(c['pass_rate'])} |")
    t = summary.get("target_ops")
    if t:
        listed = t["cases"] - t["expected"]
        lines += ["", f"Node-suite cases of the {t['ops']} target ops: {t['pass']}/{t['cases']} "
                      f"pass ({_pct(t['pass_rate'])}); of those not on the expected-failures "
                      f"list, {t['pass']}/{listed} ({_pct(t['pass'] / listed if listed else None)})."]
    return "\n".join(lines)


def report(summary: dict, rows, show_ops: bool = True) -> str:
    import onnx
    lines = [f"ONNX conformance of wsc (onnx {onnx.__version__} backend test suites)",
             "fail = wrong numbers; error = did not compile or run; expected = listed in "
             "tests/onnx/expected_failures.txt;",
             "specialized = passes with graph inputs frozen as compile-time constants", ""]
    lines += _table("Per suite", "suite", summary["suites"])
    node = summary["suites"].get("node")
    if node:
        lines += ["", f"Node suite: {node['pass']}/{node['cases']} pass "
                      f"({_pct(node['pass_rate'])}); {node['specialized']} of the passes "
                      "specialized"]
    t = summary.get("target_ops")
    if t:
        lines.append(f"Target op list (issue 3: {len(TARGET_OPS)} ops, {t['ops']} with node "
                     f"cases): {t['pass']}/{t['cases']} cases pass ({_pct(t['pass_rate'])}), "
                     f"{t['expected']} expected failures, {t['unexpected']} unexpected; "
                     f"{t['ops_all_pass']}/{t['ops']} ops pass every case")
    if show_ops and summary["ops"]:
        lines += [""] + _table("Node suite per ONNX op type (* = target op)", "op type",
                               {(f"*{k}" if k in TARGET_OPS else k): v
                                for k, v in summary["ops"].items()})
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Reasons for the expected-failures list


_ELEM = re.compile(r"(?:element type|casting to) ([A-Z0-9]+) is not supported")


def suggested_reason(row: Row, model) -> str:
    """A reason for the expected-failures list, guessed from the error (review it!)."""
    from compiler.frontend.onnx import find_unsupported
    if "unsupported ONNX op" in row.detail:
        ops = sorted({op for op, _, _ in find_unsupported(model)})
        return "unsupported op " + ", ".join(ops)
    m = _ELEM.search(row.detail)
    if m:
        if m.group(1) == "STRING":
            return "string tensors are not supported"
        return f"element type {m.group(1)} is not supported"
    if "sequence or optional" in row.detail:
        return "sequence and optional values are not supported"
    if "training" in row.detail:
        return "training mode is out of scope: wsc compiles inference graphs"
    return row.detail


def suggest_expected_failures(rows) -> tuple[str, list[Row]]:
    """(the file's text for today's failures outside the target ops, target-op failures)."""
    models = {c.name: c.model for c in node_cases()}
    reasons, target_failures = {}, []
    for r in rows:
        if r.status == "pass":
            continue
        if r.expected:
            reasons[r.name] = r.expected
            continue
        if r.suite == "node":
            model = models[r.name]
        else:
            import onnx
            case = next(c for c in model_cases([r.suite]) if c.id == r.name)
            model = onnx.load(str(case.model_path), load_external_data=False)
        reason = suggested_reason(r, model)
        missing = set(reason.removeprefix("unsupported op ").split(", ")) \
            if reason.startswith("unsupported op ") else set()
        if missing & set(TARGET_OPS) or (r.op in TARGET_OPS and reason == r.detail):
            target_failures.append(r)
            continue
        reasons[r.name] = reason
    return format_expected_failures(reasons), target_failures


# ---------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", action="append", choices=ALL_SUITES,
                   help="run only this suite (repeatable; default: all)")
    p.add_argument("--op", action="append", metavar="OP",
                   help="only cases of this ONNX op type (repeatable; model suites: models "
                        "that use it)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--markdown", action="store_true",
                   help="print the per-suite counts as a markdown table (docs/onnx.md)")
    p.add_argument("--failures", action="store_true",
                   help="list every failing case with its detail")
    p.add_argument("--suggest-expected-failures", action="store_true",
                   help="print today's failures in the expected-failures file's format")
    args = p.parse_args(argv)

    suites = tuple(args.suite or ALL_SUITES)
    expected = load_expected_failures(EXPECTED_FAILURES_FILE) \
        if EXPECTED_FAILURES_FILE.exists() else {}
    start = time.perf_counter()
    rows = run(suites, args.op, expected)
    seconds = time.perf_counter() - start
    if not rows:
        print("no cases match the --suite/--op given", file=sys.stderr)
        return 1
    summary = summarize(rows)

    if args.json:
        import onnx
        json.dump({"onnx_version": onnx.__version__, "seconds": round(seconds, 1),
                   "target_ops": list(TARGET_OPS), **summary,
                   "cases": [asdict(r) | {"seconds": round(r.seconds, 4)} for r in rows]},
                  sys.stdout, indent=1)
        print()
        return 0
    if args.markdown:
        print(markdown(summary))
        return 0
    if args.suggest_expected_failures:
        text, target_failures = suggest_expected_failures(rows)
        print(text, end="")
        for r in target_failures:
            print(f"# NOT LISTED (target op {r.op}): {r.name}: {r.status}: {r.detail}",
                  file=sys.stderr)
        return 0
    print(report(summary, rows, show_ops="node" in suites))
    if args.failures:
        print("\nFailing cases")
        for r in rows:
            if r.status != "pass":
                tag = "expected" if r.expected else "UNEXPECTED"
                print(f"  {r.name} [{r.op}] {r.status} ({tag}): {r.detail}")
    print(f"\n{len(rows)} cases in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
