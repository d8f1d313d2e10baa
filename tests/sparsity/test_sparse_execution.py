"""Sparse kernels chosen by the compiler compute what dense kernels compute on the same
pruned weights: every pruned model is compiled twice (select-kernels forced dense, then
forced sparse) and both artifacts are run by the runtime on the same inputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import compiler
import runtime
from compiler.cli import main
from compiler.ir.builder import Builder
from compiler.ir.core import Module
from compiler.ir.types import TensorType

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PIPE = "infer-shapes,fold-constants,cse,dce,analyze-sparsity,select-kernels{force=%s}"
SPECS = ["magnitude:0.8,first=0.8,last=0.8", "global-magnitude:0.7,first=0.5",
         "nm:2:4,first=2:4,last=2:4", "wanda:0.6,first=0.6,last=0.6",
         "sparsegpt:0.5,first=0.5,last=0.5"]


def run_both(source, spec, shapes, n_inputs=(1, 3), **kw):
    progs = {}
    for force in ("dense", "sparse"):
        r = compiler.compile(source, pipeline=PIPE % force, prune=spec, **kw)
        progs[force] = r
    kernels = [i.kernel for i in progs["sparse"].program.instrs]
    assert any(k.startswith("sparse.") for k in kernels), kernels
    assert not any(k.startswith("sparse.") for k in
                   (i.kernel for i in progs["dense"].program.instrs))
    rng = np.random.default_rng(0)
    for n in n_inputs:
        inputs = {name: rng.standard_normal([n if d == "N" else d for d in shape])
                  .astype(np.float32) for name, shape in shapes.items()}
        want = runtime.Executable(progs["dense"].program).run(inputs)
        got = runtime.Executable(progs["sparse"].program).run(inputs)
        for name in want:
            scale = float(np.max(np.abs(want[name]))) or 1.0
            np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4 * scale,
                                       err_msg=f"{source} {spec} output {name} N={n}")
    return progs


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("sample, shapes", [
    ("mlp", {"x": ["N", 784]}),
    ("cnn", {"x": ["N", 1, 28, 28]}),
    ("transformer_block", {"x": ["N", 16, 64]}),
])
def test_pruned_samples_sparse_equals_dense(sample, shapes, spec):
    progs = run_both(SAMPLES / f"{sample}.wsl", spec, shapes)
    for layer in progs["sparse"].program.header["reports"]["sparsity"]["layers"]:
        if layer["op"] in ("nn.matmul", "nn.conv2d"):
            assert layer["kernel"].startswith("sparse."), layer


def test_convolutions_with_groups_strides_dilations_and_bias():
    rng = np.random.default_rng(1)
    m = Module("convs")
    x = m.add_input("x", TensorType(("N", 4, 9, 9), "f32"))
    b = Builder(m)
    h = b.value("nn.conv2d", [x, m.add_constant("c1", rng.standard_normal((6, 2, 3, 3))
                                                  .astype(np.float32)),
                              m.add_constant("b1", rng.standard_normal(6).astype(np.float32))],
                {"groups": 2, "strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2]})
    h = b.value("nn.relu", [h])
    h = b.value("nn.conv2d", [h, m.add_constant("c2", rng.standard_normal((6, 1, 3, 3))
                                                  .astype(np.float32))],
                {"groups": 6, "pads": [1, 1, 1, 1]})
    m.outputs = {"y": h}
    run_both(m, "magnitude:0.6,first=0.6,last=0.6", {"x": ["N", 4, 9, 9]})


def test_chosen_kernels_compute_the_same_as_dense_at_O2():
    """The default pipeline with the packaged cost model (whatever it picks)."""
    for sample, shape in (("mlp", [4, 784]), ("cnn", [2, 1, 28, 28])):
        dense = compiler.compile(SAMPLES / f"{sample}.wsl", prune="magnitude:0.95",
                                 pipeline=PIPE % "dense")
        auto = compiler.compile(SAMPLES / f"{sample}.wsl", prune="magnitude:0.95")
        x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
        want = runtime.Executable(dense.program).run({"x": x})
        got = runtime.Executable(auto.program).run({"x": x})
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-4,
                                       atol=1e-4 * float(np.abs(want[k]).max()))


def test_profile_shows_sparse_kernels_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = compiler.compile(SAMPLES / "mlp.wsl", prune="magnitude:0.9,first=0.9",
                         pipeline=PIPE % "sparse")
    r.save(tmp_path / "m.wafer")
    out = CliRunner().invoke(main, ["run", "m.wafer", "--random-inputs", "--profile"])
    assert out.exit_code == 0, out.output
    assert "sparse.matmul_csc" in out.stdout


def test_calibrate_writes_a_cost_file_the_compiler_reads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["calibrate", "--quick", "--only", "matmul/m=1/k=256/n=256",
                                  "--sweeps", "1", "-o", "c.json"])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "c.json").read_text())
    entry = doc["points"]["matmul/m=1/k=256/n=256"]
    assert entry["dims"] == {"m": 1, "k": 256, "n": 256} and entry["class"] == "matmul/m=1/kn<=64K"
    assert len(entry["densities"]) == len(entry["sparse_seconds"]) >= 1
    assert 0.0 <= entry["crossover"] <= 1.0
    assert doc["measured"]["command"].startswith("wsc calibrate -o c.json --quick")
    res = compiler.compile(SAMPLES / "mlp.wsl", cost_model=tmp_path / "c.json")
    assert res.program.header["reports"]["sparsity"]["cost_model"]["source"] == "c.json"
    (tmp_path / "other.json").write_text("{}")
    r = CliRunner().invoke(main, ["calibrate", "--quick", "--only", "m=1/k=256/n=256",
                                  "-o", "other.json"])
    assert r.exit_code == 1 and "not a cost file" in r.stderr
    r = CliRunner().invoke(main, ["calibrate", "--only", "nothing", "-o", "c.json"])
    assert r.exit_code == 2 and "no measured shape contains 'nothing'" in r.stderr


def test_fused_layers_run_on_sparse_kernels_with_their_epilogue():
    rng = np.random.default_rng(3)
    m = Module("fused")
    x = m.add_input("x", TensorType(("N", 3, 8, 8), "f32"))
    b = Builder(m)
    h = b.value("fused.conv2d_epilogue",
                [x, m.add_constant("c", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
                 m.add_constant("cb", rng.standard_normal(4).astype(np.float32))],
                {"pads": [1, 1, 1, 1], "has_bias": True, "activation": "relu"})
    h = b.value("tensor.flatten", [h], {"axis": 1})
    h = b.value("fused.matmul_epilogue",
                [h, m.add_constant("w", rng.standard_normal((256, 16)).astype(np.float32)),
                 m.add_constant("wb", rng.standard_normal(16).astype(np.float32))],
                {"has_bias": True, "activation": "relu"})
    residual = b.value("fused.matmul_epilogue",
                       [h, m.add_constant("w2", rng.standard_normal((16, 16)).astype(np.float32)),
                        h], {"residual": True, "activation": "gelu"})
    pooled = b.value("fused.conv2d_epilogue",
                     [x, m.add_constant("c2", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))],
                     {"pads": [1, 1, 1, 1], "activation": "relu", "pool_kernel": [2, 2],
                      "pool_strides": [2, 2], "pool_pads": [0, 0, 0, 0]})
    m.outputs = {"y": residual, "p": pooled}
    progs = run_both(m, "magnitude:0.7,first=0.7,last=0.7", {"x": ["N", 3, 8, 8]})
    instrs = progs["sparse"].program.instrs
    assert [i.kernel for i in instrs] == ["sparse.conv2d_csr", "tensor.flatten",
                                          "sparse.matmul_csc", "sparse.matmul_csc",
                                          "fused.conv2d_epilogue"]
    assert instrs[0].attrs["activation"] == "relu" and instrs[0].inputs[-1] == "cb"
    assert instrs[2].attrs["activation"] == "relu" and instrs[2].inputs[-1] == "wb"
    # the residual layer: no bias, the residual operand last, gelu applied after it
    assert instrs[3].attrs["residual"] and instrs[3].attrs["activation"] == "gelu"
    assert instrs[3].inputs[-1] == instrs[2].outputs[0] and len(instrs[3].inputs) == 5
    layers = {l["weight"]: l for l in progs["sparse"].program.header["reports"]["sparsity"]["layers"]}
    assert "max pool" in layers["c2"]["reason"]
    assert (progs["sparse"].module.constants["w2"].data == 0).sum() == int(0.7 * 256 + 0.5)
