"""The memory report: `wsc compile` stores the activations' memory plan in the header
(``reports.memory``), `wsc inspect` shows it (short section, --memory, --json).

The reference live sets are computed here from the compiled IR's static shapes with a
plain loop (bytes = prod(shape) * 4, a flatten shares its operand's buffer), not by
`compiler.memory_plan`; the header is also compared with `plan_memory` run on the
IR the artifact stores.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.ir.parser import parse_module
from compiler.memory_plan import REPORT_BUFFERS, plan_memory
from runtime.program import read_wafer, write_wafer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CNN = SAMPLES / "cnn.wsl"
# Unfused, so that every conv, relu and pool result is its own buffer (hand-checkable).
UNFUSED = "infer-shapes,fold-constants,cse,dce"


def wsc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def compiled(tmp_path_factory, name: str, *flags) -> Path:
    out = tmp_path_factory.mktemp("memory") / name
    r = wsc("compile", CNN, "-o", out, *flags)
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def cnn_o2(tmp_path_factory) -> Path:
    return compiled(tmp_path_factory, "cnn.wafer", "--input-shape", "x=4,1,28,28")


@pytest.fixture(scope="module")
def cnn_unfused(tmp_path_factory) -> Path:
    return compiled(tmp_path_factory, "cnn_unfused.wafer", "--input-shape", "x=4,1,28,28",
                    "-p", UNFUSED)


def memory_of(path: Path) -> dict:
    return read_wafer(path).header["reports"]["memory"]


def reference_live_sets(module) -> tuple[list[int], int]:
    """Bytes live at each op (results from their op to their last reader; outputs to the
    end) and the sum of all buffers, with flatten results sharing their operand's buffer."""
    kinds = {op.name for op in module.ops}
    # the reference knows one view op; a model with others would need more rules here
    assert not kinds & {"tensor.reshape", "tensor.transpose", "tensor.slice",
                        "tensor.expand", "tensor.squeeze", "tensor.unsqueeze"}, kinds
    base, size, first, last = {}, {}, {}, {}
    for i, op in enumerate(module.ops):
        for v in op.operands:
            if v in base:
                last[base[v]] = i
        (r,) = op.results
        if op.name == "tensor.flatten" and op.operands[0] in base:
            base[r] = base[op.operands[0]]
            last[base[r]] = i
        else:
            base[r] = r
            assert all(isinstance(d, int) for d in r.type.shape), r.type
            size[r] = int(np.prod(r.type.shape)) * 4
            first[r] = last[r] = i
    for v in module.outputs.values():
        last[base[v]] = len(module.ops)
    live = [sum(size[b] for b in size if first[b] <= t <= last[b])
            for t in range(len(module.ops) + 1)]
    return live, sum(size.values())


def test_header_report_matches_hand_computed_live_sets(cnn_unfused):
    rep = memory_of(cnn_unfused)
    module = parse_module(read_wafer(cnn_unfused).header["ir"], "header.wir")
    assert [op.name for op in module.ops] == [
        "nn.conv2d", "nn.relu", "nn.maxpool2d", "nn.conv2d", "nn.relu", "nn.maxpool2d",
        "tensor.flatten", "nn.matmul", "math.add"]
    live, total = reference_live_sets(module)
    # the peak: conv1's output and its relu, both f32[4, 8, 28, 28]
    assert max(live) == 2 * 4 * 8 * 28 * 28 * 4 == rep["largest_live_set"]
    assert rep["peak"] == {"op": 1, "name": "nn.relu", "values": ["c1"]}
    assert total == rep["sum_of_buffers"]
    assert rep["buffers"] == 8 and rep["views"] == 1 and rep["ops"] == 9
    assert rep["largest_live_set"] <= rep["arena_bytes"] < total
    assert rep["ratio"] == round(rep["arena_bytes"] / rep["largest_live_set"], 4)
    assert rep["symbols"] == {"N": 4} and rep["assumed"] == {}


def test_header_report_equals_the_plan_of_the_stored_ir(cnn_o2):
    header = read_wafer(cnn_o2).header
    rep = header["reports"]["memory"]
    module = parse_module(header["ir"], "header.wir")
    plan = plan_memory(module, {"N": 4})
    assert rep["arena_bytes"] == plan.arena_bytes
    assert rep["largest_live_set"] == plan.largest_live_set
    assert rep["sum_of_buffers"] == sum(b.size for b in plan.buffers)
    assert rep["buffers"] == len(plan.buffers) <= REPORT_BUFFERS
    live, total = reference_live_sets(module)
    assert rep["largest_live_set"] == max(live) and rep["sum_of_buffers"] == total
    assert rep["arena_bytes"] >= rep["largest_live_set"]


@pytest.mark.parametrize("which", ["cnn_o2", "cnn_unfused"])
def test_listed_buffers_never_overlap_while_both_live(which, request):
    rep = memory_of(request.getfixturevalue(which))
    bufs = rep["largest"]
    assert len(bufs) == rep["buffers"]                 # small model: every buffer listed
    assert [b["bytes"] for b in bufs] == sorted((b["bytes"] for b in bufs), reverse=True)
    for p in bufs:
        assert p["offset"] + p["bytes"] <= rep["arena_bytes"]
        for q in bufs:
            if p is q or p["last"] < q["first"] or q["last"] < p["first"]:
                continue
            assert p["offset"] + p["bytes"] <= q["offset"] or \
                q["offset"] + q["bytes"] <= p["offset"], (p, q)


def test_unbound_symbols_count_as_one_and_say_so(tmp_path_factory):
    path = compiled(tmp_path_factory, "cnn_n1.wafer", "-p", UNFUSED)
    rep = memory_of(path)
    assert rep["assumed"] == {"N": 1} and rep["symbols"] == {"N": 1}
    assert rep["largest_live_set"] == 2 * 8 * 28 * 28 * 4
    out = wsc("inspect", path, "--memory").stdout
    assert "N=1 assumed" in out and "fix with --input-shape" in out


def test_compile_prints_one_memory_line(tmp_path):
    r = wsc("compile", CNN, "-o", tmp_path / "c.wafer", "--input-shape", "x=4,1,28,28",
            "-p", UNFUSED)
    assert r.exit_code == 0, r.output
    lines = [l for l in r.stdout.splitlines() if l.strip().startswith("memory")]
    assert lines == ["  memory    activations planned 196.00 KiB (1.000x the largest live set), "
                     "331.06 KiB without reuse (wsc inspect --memory)"]
    assert 331.06 == round(339008 / 1024, 2)


def test_inspect_memory_text(cnn_unfused):
    r = wsc("inspect", cnn_unfused, "--memory")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("memory plan of the activations (9 ops, N=4)\n")
    assert "largest live set  196.00 KiB  at op #1 (%c1 = nn.relu)" in out
    assert "without reuse     331.06 KiB  8 buffers (+ 1 view sharing them)" in out
    assert "largest buffers (8 of 8)" in out
    # p2 is written by the second pool (#5), read through its flatten view by the matmul (#7)
    row = next(l for l in out.splitlines() if l.strip().startswith("%p2"))
    assert row.split() == ["%p2", "(+1", "view)", "12.25", "KiB",
                           str(next(b["offset"] for b in memory_of(cnn_unfused)["largest"]
                                    if b["value"] == "p2")),
                           "#5..#7", "nn.maxpool2d", "nn.matmul"]
    assert "#8..end" in out and "model output" in out
    assert "func @main" not in out and "signature" not in out


def test_inspect_memory_json_and_default_views(cnn_o2):
    rep = memory_of(cnn_o2)
    r = wsc("inspect", cnn_o2, "--memory", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"file": str(cnn_o2), **rep}
    info = json.loads(wsc("inspect", cnn_o2, "--json", "--no-ir").stdout)
    assert info["memory"] == rep
    text = wsc("inspect", cnn_o2, "--no-ir").stdout
    section = text.split("memory (activations):\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert 2 <= len(section) <= 4
    assert section[0].startswith(f"  planned arena {rep['arena_bytes'] / 1024:.2f} KiB = "
                                 f"{rep['ratio']:.3f}x the largest live set")


def test_older_artifact_without_memory_report(cnn_o2, tmp_path):
    program = read_wafer(cnn_o2)
    del program.header["reports"]["memory"]
    old = tmp_path / "old.wafer"
    write_wafer(program, old)
    r = wsc("inspect", old, "--no-ir")
    assert r.exit_code == 0, r.output
    assert "memory (activations):\n  no memory report (compiled by an older wsc)\n" in r.stdout
    assert json.loads(wsc("inspect", old, "--json").stdout)["memory"] is None
    r = wsc("inspect", old, "--memory")
    assert r.exit_code == 1 and not isinstance(r.exception, (KeyError, TypeError))
    assert "no memory report (compiled by an older wsc)" in r.output
    assert "Traceback" not in r.output


def test_memory_flag_on_a_source_is_a_usage_error():
    r = wsc("inspect", CNN, "--memory")
    assert r.exit_code == 2 and "--memory applies to .wafer files only" in r.output


def test_artifact_with_memory_report_is_still_byte_identical(tmp_path):
    a, b = tmp_path / "a.wafer", tmp_path / "b.wafer"
    for out in (a, b):
        assert wsc("compile", CNN, "-o", out, "--input-shape", "x=4,1,28,28").exit_code == 0
    assert a.read_bytes() == b.read_bytes()
