"""Whole models through canonicalization, folding and fusion, against onnxruntime.

The ONNX samples (always) and the PyTorch exports (with the `torch` marker)
are compiled at -O2, where every fusion pass runs; the compiled program must
match onnxruntime on the same file within 1e-4, have fewer ops than the
imported graph, and contain the fused ops each architecture is about (BN
folded away, conv/matmul epilogues, nn.attention, nn.gelu, nn.layernorm from
its decomposed form). The fused ops keep the source ops' names in their
locations (`wsc inspect` shows them).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner

import compiler
from compiler.cli import main
from compiler.frontend.onnx import import_onnx
from runtime.executor import Executable

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
TOL = dict(rtol=1e-4, atol=1e-4)


def compile_and_compare(source: Path, feeds: dict, **kw) -> tuple[Counter, int]:
    """Compile at -O2, compare with onnxruntime; returns (op histogram, imported op count)."""
    data = Path(source).read_bytes()
    before = len(import_onnx(data).ops)
    result = compiler.compile(source, **kw)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    exe = Executable(result.program)
    got = exe.run(feeds)
    for spec, w in zip(exe.outputs, want):
        np.testing.assert_allclose(got[spec.name], w, **TOL, err_msg=spec.name)
    return Counter(op.name for op in result.module.ops), before


def test_samples_fuse_and_match_onnxruntime():
    rng = np.random.default_rng(0)
    ops, before = compile_and_compare(SAMPLES / "cnn_bn.onnx", {
        "x": rng.standard_normal((2, 1, 28, 28)).astype(np.float32)})
    assert ops["fused.conv2d_epilogue"] == 2 and "nn.batchnorm" not in ops
    assert sum(ops.values()) < before
    ops, _ = compile_and_compare(SAMPLES / "mlp.onnx", {
        "x": rng.standard_normal((3, 784)).astype(np.float32)})
    assert ops["fused.matmul_epilogue"] == 2
    ops, before = compile_and_compare(SAMPLES / "transformer_block.onnx", {
        "x": rng.standard_normal((2, 5, 32)).astype(np.float32)})
    assert ops["nn.attention"] == 1 and ops["fused.matmul_epilogue"] >= 4
    assert sum(ops.values()) <= 0.6 * before


def test_inspect_shows_fused_ops_with_their_source_ops(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(main, ["compile", str(SAMPLES / "cnn_bn.onnx"), "-o", "m.wafer"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["inspect", "m.wafer", "--ir"])
    assert r.exit_code == 0, r.output
    line = next(l for l in r.stdout.splitlines() if "fused.conv2d_epilogue" in l)
    assert 'loc(fused["conv1", "bn1", "relu1", "pool1"])' in line


# -- the PyTorch exports --------------------------------------------------------------------

torch_only = pytest.mark.torch


def _export(tmp_path, name, **kw):
    """The export and the path of its saved .onnx file."""
    pytest.importorskip("torch")
    from compiler.testing import torch_models as tm
    exp = tm.export_model(name, **kw)
    return exp, exp.save(tmp_path / f"{name}.onnx")


@torch_only
@pytest.mark.parametrize("name,expect", [
    ("resnet", {"fused.conv2d_epilogue": 16}),
    ("mobilenet_v2", {"fused.conv2d_epilogue": 40}),
    ("bert", {"nn.attention": 2, "nn.layernorm": 5, "fused.matmul_epilogue": 12}),
    ("gpt2", {"nn.attention": 2, "fused.matmul_epilogue": 8}),
    ("vit", {"nn.attention": 2, "fused.matmul_epilogue": 4}),
])
def test_torch_exports_fuse_and_match_onnxruntime(tmp_path, name, expect):
    exp, path = _export(tmp_path, name)
    ops, before = compile_and_compare(path, exp.feeds())
    for op, count in expect.items():
        assert ops[op] >= count, (op, ops)
    assert sum(ops.values()) < before


@torch_only
def test_batchnorm_kept_by_the_exporter_is_folded(tmp_path):
    exp, path = _export(tmp_path, "resnet", keep_batchnorm=True)
    ops, before = compile_and_compare(path, exp.feeds())
    assert "nn.batchnorm" not in ops and ops["fused.conv2d_epilogue"] >= 16
    assert sum(ops.values()) <= 0.4 * before


@torch_only
def test_opset13_decomposed_layernorm_and_gelu_become_single_ops(tmp_path):
    exp, path = _export(tmp_path, "bert", opset=13)
    ops, before = compile_and_compare(path, exp.feeds())
    assert ops["nn.layernorm"] == 5 and "math.reduce_mean" not in ops
    assert "math.erf" not in ops and ops["nn.attention"] == 2
    assert sum(ops.values()) <= 0.4 * before


@torch_only
def test_static_shapes_fold_the_shape_arithmetic(tmp_path):
    exp, path = _export(tmp_path, "gpt2")
    feeds = exp.feeds(batch=2, seq=8)
    ops, before = compile_and_compare(path, feeds, input_shapes={"input_ids": [2, 8]})
    assert "tensor.shape" not in ops and sum(ops.values()) <= 0.25 * before
