"""compiler.compile, lower and summarize: the Python API under the CLI.

Expected numbers (FLOPs, parameter counts, hashes, outputs) are computed here
with numpy and hashlib from the sample's own data, never by the code under test.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

import compiler
import runtime
from compiler.errors import CompileError
from compiler.frontend.dsl import load_dsl, parse_dsl
from compiler.ir.parser import parse_module
from compiler.ir.printer import print_module
from compiler.lower import lower
from compiler.passes import PIPELINES
from compiler.summary import format_summary, summarize
from runtime.program import read_wafer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MLP = SAMPLES / "mlp.wsl"
# A fixed pipeline without fusion, for the tests of lowering and of one pass's statistics,
# so that they do not change whenever an -O level gains a pass.
UNFUSED = "infer-shapes,fold-constants,cse,dce,analyze-sparsity,select-kernels"


def mlp_reference(module, x: np.ndarray) -> np.ndarray:
    """relu(x @ W1 + b1) @ W2 + b2 with the sample's weights."""
    w = {n: c.data for n, c in module.constants.items()}
    h = np.maximum(x @ w["fc1.weight"] + w["fc1.bias"], 0)
    return h @ w["fc2.weight"] + w["fc2.bias"]


@pytest.fixture(scope="module")
def mlp_result():
    return compiler.compile(MLP)


@pytest.fixture(scope="module")
def mlp_unfused():
    return compiler.compile(MLP, pipeline=UNFUSED)


def test_compile_mlp_runs_like_numpy(mlp_result, tmp_path):
    path = tmp_path / "mlp.wafer"
    mlp_result.save(path)
    x = np.random.default_rng(0).standard_normal((3, 784)).astype(np.float32)
    got = runtime.load(path).run({"x": x})["logits"]
    want = mlp_reference(load_dsl(MLP), x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_lowering_is_one_instr_per_op_with_printer_names(mlp_unfused):
    program, module = mlp_unfused.program, mlp_unfused.module
    assert [i.op for i in program.instrs] == [op.name for op in module.ops]
    assert [i.op for i in program.instrs] == \
        ["nn.matmul", "math.add", "nn.relu", "nn.matmul", "math.add"]
    assert [i.kernel for i in program.instrs] == [op.name for op in module.ops]
    assert [s.name for s in program.inputs] == ["x"]
    assert program.inputs[0].shape == ["N", 784]
    assert program.outputs[0].name == "logits" and program.outputs[0].shape == ["N", 10]
    # the relu result keeps its DSL name, as in the printed IR
    relu = next(i for i in program.instrs if i.op == "nn.relu")
    assert relu.outputs == ["hidden"]
    assert "%hidden = nn.relu" in program.header["ir"]
    assert relu.loc == "mlp.wsl:13:16"  # base name only (portable artifact)
    assert set(program.constants) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    np.testing.assert_array_equal(program.constants["fc1.weight"],
                                  load_dsl(MLP).constants["fc1.weight"].data)


def test_header_records_source_pipeline_and_reports(mlp_result):
    h = mlp_result.program.header
    assert h["producer"] == f"wsc {compiler.__version__}"
    assert h["source"] == "mlp.wsl"
    assert h["source_hash"] == "sha256:" + hashlib.sha256(MLP.read_bytes()).hexdigest()
    # -O2 is the default, and the pipeline that ran is recorded
    assert h["pipeline"] == mlp_result.pipeline == PIPELINES[2]
    assert set(h["reports"]["passes"]) == set(PIPELINES[2].split(","))
    assert h["reports"]["summary"]["totals"]["ops"] == len(mlp_result.module.ops)
    # the stored IR is the final module, constants elided, and parses back
    assert "dense<elided>" in h["ir"]
    final = [op.name for op in mlp_result.module.ops]
    assert final and [op.name for op in parse_module(h["ir"], "header.wir").ops] == final


def test_same_source_gives_identical_bytes_from_anywhere(tmp_path, monkeypatch):
    a, b, c = tmp_path / "a.wafer", tmp_path / "b.wafer", tmp_path / "c.wafer"
    compiler.compile(MLP).save(a)
    compiler.compile(MLP).save(b)
    monkeypatch.chdir(SAMPLES)
    compiler.compile("mlp.wsl").save(c)  # relative path, other working directory
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()
    d = tmp_path / "d.wafer"
    compiler.compile(MLP, opt_level=0).save(d)
    assert d.read_bytes() != a.read_bytes()  # the pipeline is part of the artifact


def test_input_shapes_fix_symbolic_dims(tmp_path):
    r = compiler.compile(MLP, input_shapes={"x": [4, 784]})
    assert r.program.inputs[0].shape == [4, 784]
    assert r.program.outputs[0].shape == [4, 10]
    assert r.program.header["input_shapes"] == {"x": [4, 784]}
    # FLOPs of the two matmuls and two adds and the relu at batch 4, computed here
    want = 2 * 4 * 784 * 256 + 4 * 256 + 4 * 256 + 2 * 4 * 256 * 10 + 4 * 10
    assert r.summary["totals"]["flops"] == want
    assert r.summary["assumed"] == []
    exe = runtime.load(_saved(r, tmp_path))
    with pytest.raises(runtime.errors.InputError):
        exe.run({"x": np.zeros((3, 784), np.float32)})


def test_input_shapes_work_without_infer_shapes_in_the_pipeline():
    r = compiler.compile(MLP, pipeline="dce", input_shapes={"x": [2, 784]})
    assert r.pipeline == "infer-shapes,dce"
    assert r.program.inputs[0].shape == [2, 784]


@pytest.mark.parametrize("shapes, words", [
    ({"x": [4]}, "rank 1"),
    ({"x": [4, 785]}, "fixed size 784"),
    ({"y": [4, 784]}, "no input 'y'"),
    ({"x": [-1, 784]}, "non-negative"),
])
def test_bad_input_shapes_are_compile_errors(shapes, words):
    with pytest.raises(CompileError) as e:
        compiler.compile(MLP, input_shapes=shapes)
    assert words in e.value.format()


def test_conflicting_symbol_bindings_are_refused():
    src = """model two(a: f32[N, 2], b: f32[N, 2]) -> (y: f32[N, 2]) {
      return y = a + b
    }"""
    module = parse_dsl(src, "two.wsl")
    with pytest.raises(CompileError, match="'N' is 3 in 'a' but 5 in 'b'"):
        compiler.compile(module, input_shapes={"a": [3, 2], "b": [5, 2]})


def test_module_source_is_copied_not_edited():
    module = load_dsl(MLP)
    before = print_module(module)
    r = compiler.compile(module, input_shapes={"x": [2, 784]})
    assert print_module(module) == before
    assert r.program.inputs[0].shape == [2, 784]
    assert r.program.header["source"] == "mlp"


def test_wir_source_and_emitted_full_ir_compile_to_same_outputs(tmp_path):
    wir = tmp_path / "mlp.wir"
    wir.write_text(print_module(load_dsl(MLP), constants="full"))
    x = np.random.default_rng(1).standard_normal((2, 784)).astype(np.float32)
    got = runtime.load(_saved(compiler.compile(wir), tmp_path)).run({"x": x})["logits"]
    np.testing.assert_allclose(got, mlp_reference(load_dsl(MLP), x), rtol=1e-5, atol=1e-5)


def test_lowering_refuses_elided_constants(tmp_path):
    wir = tmp_path / "elided.wir"
    wir.write_text(print_module(load_dsl(MLP), constants="elide"))
    with pytest.raises(CompileError) as e:
        compiler.compile(wir)
    assert "no data" in e.value.message and "@fc1.weight" in e.value.message
    assert "full" in e.value.hint


def test_load_source_reports_kind_and_missing_files(tmp_path):
    module, data = compiler.load_source(MLP)
    assert data == MLP.read_bytes() and module.name == "mlp"
    with pytest.raises(CompileError, match="unknown source kind '.wafer'") as e:
        compiler.load_source(tmp_path / "m.wafer")
    assert "wsc run" in e.value.hint
    with pytest.raises(CompileError, match="no such file"):
        compiler.load_source(tmp_path / "missing.wsl")


def test_fold_constants_shrinks_the_op_count(tmp_path):
    src = tmp_path / "scaled.wsl"
    src.write_text("""model scaled(x: f32[N, 3]) -> (y: f32[N, 2]) {
      param w: f32[3, 2] = normal(0, 1, seed=5)
      let w2 = w * 2.0
      return y = x @ w2
    }""")
    r = compiler.compile(src, pipeline=UNFUSED)
    assert r.source_summary["totals"]["ops"] == 2
    assert r.summary["totals"]["ops"] == 1
    assert r.stats["fold-constants"]["folded"] == 1
    w = load_dsl(src).constants["w"].data
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = runtime.load(_saved(r, tmp_path)).run({"x": x})["y"]
    np.testing.assert_allclose(got, x @ (w * 2), rtol=1e-6)


def test_lower_takes_the_header_as_given():
    module = load_dsl(MLP)
    program = lower(module, {"producer": "me"})
    assert program.header == {"producer": "me"}
    assert len(program.instrs) == len(module.ops)


# -- summary ----------------------------------------------------------------------

def test_summary_counts_params_flops_and_histogram():
    module = load_dsl(MLP)
    s = summarize(module, {"N": 8})
    consts = {n: c.data for n, c in module.constants.items()}
    assert s["totals"]["params"] == sum(a.size for a in consts.values())
    assert s["totals"]["param_bytes"] == sum(a.nbytes for a in consts.values())
    assert s["totals"]["param_nonzeros"] == sum(int(np.count_nonzero(a)) for a in consts.values())
    matmuls = [r for r in s["ops"] if r["op"] == "nn.matmul"]
    assert [r["flops"] for r in matmuls] == [2 * 8 * 784 * 256, 2 * 8 * 256 * 10]
    assert s["histogram"] == {"math.add": 2, "nn.matmul": 2, "nn.relu": 1}
    assert s["symbols"] == {"N": 8} and s["assumed"] == []


def test_summary_binds_unknown_symbols_to_one_and_says_so():
    s = summarize(load_dsl(MLP))
    assert s["assumed"] == ["N"] and s["symbols"] == {"N": 1}
    assert s["ops"][0]["flops"] == 2 * 784 * 256
    text = format_summary(s)
    assert "N=1" in text and "--input-shape" in text


def test_summary_binds_product_dims_through_their_symbols():
    # [B, S, 64] flattened to ["B*S", 64] for a matmul (as PyTorch's exports do)
    module = parse_module(
        'module @flat {\n'
        '  const @w : f32[2, 10] = dense<[[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],'
        ' [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]>\n'
        '  func @main(%x: f32[B, S, 2]) -> (y: f32["B*S", 10]) {\n'
        '    %f = tensor.reshape(%x) {shape = [-1, 2]} : f32["B*S", 2]\n'
        '    %y = nn.matmul(%f, @w) : f32["B*S", 10]\n'
        '    return y: %y\n'
        '  }\n'
        '}\n')
    s = summarize(module, {"B": 2, "S": 3})
    assert s["assumed"] == [] and s["symbols"] == {"B": 2, "S": 3}
    assert s["ops"][1]["flops"] == 2 * (2 * 3) * 2 * 10
    assert summarize(module)["assumed"] == ["B", "S"]


def test_format_summary_is_an_aligned_table():
    text = format_summary(summarize(load_dsl(MLP)))
    lines = text.splitlines()
    header = next(l for l in lines if l.startswith("#"))
    rule = lines[lines.index(header) + 1]
    assert set(rule.replace(" ", "")) == {"-"}
    rows = [l for l in lines[lines.index(header) + 2:] if l[:1].isdigit()]
    assert len(rows) == 5
    col = header.index("op")   # every row's op name starts in the header's column
    assert all(r[col:].startswith(("nn.", "math.")) for r in rows)
    for word in ("ops", "params", "FLOPs", "bytes moved"):
        assert any(l.startswith(word) for l in lines)


def _saved(result, tmp_path: Path) -> Path:
    path = tmp_path / f"r{len(os.listdir(tmp_path))}.wafer"
    result.save(path)
    assert read_wafer(path).header == result.program.header
    return path
