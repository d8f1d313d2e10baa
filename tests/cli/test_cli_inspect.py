"""`wsc inspect` on artifacts and sources, text and JSON, and its error paths."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.frontend.dsl import load_dsl
from compiler.ir.printer import print_module

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MLP = SAMPLES / "mlp.wsl"
# The artifact is compiled with a fixed pipeline (no fusion), so the instruction and
# kernel counts below stay those of the source and do not change with the -O levels.
PIPELINE = "infer-shapes,fold-constants,cse,dce,analyze-sparsity,select-kernels"


def wsc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def mlp_wafer(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inspect") / "mlp.wafer"
    r = wsc("compile", MLP, "-o", out, "-p", PIPELINE)
    assert r.exit_code == 0, r.output
    return out


def test_inspect_wafer_text(mlp_wafer):
    r = wsc("inspect", mlp_wafer)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "producer  wsc " in out
    assert "mlp.wsl" in out and hashlib.sha256(MLP.read_bytes()).hexdigest() in out
    assert f"pipeline  {PIPELINE}\n" in out
    assert "in   x       f32[N, 784]" in out and "out  logits  f32[N, 10]" in out
    assert "func @main(" in out and "dense<elided>" in out       # the stored IR
    assert "nn.matmul  2" in out                                 # the op histogram
    params = sum(c.data.size for c in load_dsl(MLP).constants.values())
    assert "4 constants" in out and params == 203530 and "203.53K" in out


def test_inspect_wafer_no_ir(mlp_wafer):
    r = wsc("inspect", mlp_wafer, "--no-ir")
    assert r.exit_code == 0 and "func @main" not in r.stdout and "FLOPs" in r.stdout


def test_inspect_wafer_json_is_one_object(mlp_wafer):
    r = wsc("inspect", mlp_wafer, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["kind"] == "wafer"
    assert info["signature"]["inputs"] == [{"name": "x", "dtype": "f32", "shape": ["N", 784]}]
    assert info["summary"]["totals"]["params"] == 203530
    assert info["instrs"] == 5 and info["kernels"]["nn.matmul"] == 2
    assert info["constants"]["bytes"] == 4 * 203530
    assert "func @main" in info["ir"]
    assert "header" not in info
    with_header = json.loads(wsc("inspect", mlp_wafer, "--json", "--header", "--no-ir").stdout)
    assert with_header["header"]["source"] == "mlp.wsl" and "ir" not in with_header


def test_inspect_wafer_header(mlp_wafer):
    r = wsc("inspect", mlp_wafer, "--header", "--no-ir")
    assert r.exit_code == 0
    assert '"source_hash": "sha256:' in r.stdout and '"reports": {' in r.stdout


@pytest.mark.parametrize("sample", ["mlp", "cnn", "transformer_block"])
def test_inspect_sources_without_compiling(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = wsc("inspect", SAMPLES / f"{sample}.wsl")
    assert r.exit_code == 0, r.output
    assert "not compiled" in r.stdout and f"module @{sample}" in r.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written
    info = json.loads(wsc("inspect", SAMPLES / f"{sample}.wsl", "--json").stdout)
    assert info["kind"] == "wsl"
    assert info["summary"]["totals"]["ops"] == len(load_dsl(SAMPLES / f"{sample}.wsl").ops)


def test_inspect_wir_source(tmp_path):
    wir = tmp_path / "m.wir"
    wir.write_text(print_module(load_dsl(MLP), constants="full"))
    r = wsc("inspect", wir, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["kind"] == "wir" and info["summary"]["histogram"]["nn.relu"] == 1
    assert "resources" not in info["ir"]  # printed for display: constants elided


def test_header_flag_is_for_artifacts_only():
    r = wsc("inspect", MLP, "--header")
    assert r.exit_code == 2 and "--header" in r.stderr


def test_truncated_wafer_is_a_clear_error(mlp_wafer, tmp_path):
    cut = tmp_path / "cut.wafer"
    cut.write_bytes(mlp_wafer.read_bytes()[:3000])
    r = wsc("inspect", cut)
    assert r.exit_code == 1
    assert r.stderr.startswith("error: ") and "truncated" in r.stderr
    assert "Traceback" not in r.output


def test_corrupted_and_foreign_files(mlp_wafer, tmp_path):
    data = bytearray(mlp_wafer.read_bytes())
    data[-100] ^= 0xFF
    bad = tmp_path / "flipped.wafer"
    bad.write_bytes(bytes(data))
    r = wsc("inspect", bad)
    assert r.exit_code == 1 and r.stderr.startswith("error: ")
    foreign = tmp_path / "foreign.wafer"
    np.save(tmp_path / "a.npy", np.zeros(3))
    foreign.write_bytes((tmp_path / "a.npy").read_bytes())
    r = wsc("inspect", foreign)
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.output


def test_missing_files():
    for name in ("missing.wafer", "missing.wsl", "missing.wir"):
        r = wsc("inspect", name)
        assert r.exit_code == 1, name
        assert r.stderr.startswith("error: ") and "missing" in r.stderr


def test_typo_in_source_is_located(tmp_path):
    bad = tmp_path / "bad.wsl"
    bad.write_text("model m(x: f32[2]) -> (y: f32[2]) {\n  return y = reluu(x)\n}\n")
    r = wsc("inspect", bad)
    assert r.exit_code == 1 and "bad.wsl:2:" in r.stderr and "^" in r.stderr


def _onnx_with_custom_op(path: Path) -> None:
    """Relu followed by an op of a made-up domain, which no version of wsc supports."""
    import onnx
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu_0"),
             helper.make_node("Frobnicate", ["r"], ["y"], name="frob_1", domain="com.example")]
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    onnx.save(model, path)


def test_inspect_onnx_lists_unsupported_ops(tmp_path):
    model = tmp_path / "custom.onnx"
    _onnx_with_custom_op(model)
    r = wsc("inspect", model)
    assert r.exit_code == 0, r.output
    assert "in   x  f32[n, 4]" in r.stdout
    assert "cannot be compiled" in r.stdout and "frob_1" in r.stdout
    info = json.loads(wsc("inspect", model, "--json").stdout)
    assert info["kind"] == "onnx" and info["summary"] is None
    assert [u["node"] for u in info["onnx"]["unsupported"]] == ["frob_1"]
    r = wsc("compile", model, "-o", tmp_path / "custom.wafer")
    assert r.exit_code == 1 and r.stderr.startswith("error: ") and "frob_1" in r.stderr
