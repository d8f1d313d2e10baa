"""Sparse weights in the IR and the artifact: #csc/#csr constants, CSR parts, sizes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.errors import CompileError, VerifyError
from compiler.ir.builder import Builder
from compiler.ir.core import Module
from compiler.ir.parser import parse_module
from compiler.ir.printer import print_module
from compiler.ir.types import SparseEncoding, TensorType
from compiler.ir.verifier import verify
from compiler.lower import lower
from runtime.program import read_wafer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def reference_csr(rows: np.ndarray):
    """CSR of a 2-D array, written out loop by loop."""
    indptr, indices, data = [0], [], []
    for r in rows:
        for j, v in enumerate(r):
            if v != 0:
                indices.append(j)
                data.append(v)
        indptr.append(len(indices))
    return np.array(indptr), np.array(indices), np.array(data, dtype=rows.dtype)


def sparse_linear_and_conv():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 5)).astype(np.float32)
    w[rng.random(w.shape) < 0.7] = 0
    k = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    k[rng.random(k.shape) < 0.6] = 0
    bias = rng.standard_normal(4).astype(np.float32)
    m = Module("two")
    x = m.add_input("x", TensorType(("N", 3, 4, 4), "f32"))
    b = Builder(m)
    cw = m.add_constant("k", k, type=TensorType(k.shape, "f32",
                                                  SparseEncoding("csr", int(np.count_nonzero(k)))))
    y = b.value("nn.conv2d", [x, cw, m.add_constant("bias", bias)], {"strides": [2, 2]})
    flat = b.value("tensor.flatten", [y], {"axis": 1})
    lw = m.add_constant("w", w, type=TensorType(w.shape, "f32",
                                                  SparseEncoding("csc", int(np.count_nonzero(w)))))
    m.outputs = {"y": b.value("nn.matmul", [flat, lw])}
    return m, w, k


def test_lowering_writes_only_the_csr_parts_in_the_contract_dtypes():
    m, w, k = sparse_linear_and_conv()
    verify(m)
    p = lower(m)
    assert "w" not in p.constants and "k" not in p.constants
    for name, rows in (("w", w.T), ("k", k.reshape(4, -1))):
        indptr, indices, data = (p.constants[f"{name}.{s}"] for s in ("indptr", "indices", "data"))
        assert indptr.dtype == np.int32 and indices.dtype == np.uint16
        assert data.dtype == np.float32
        want = reference_csr(rows)
        np.testing.assert_array_equal(indptr, want[0])
        np.testing.assert_array_equal(indices, want[1])
        np.testing.assert_array_equal(data, want[2])
    conv, _, mm = p.instrs
    assert conv.kernel == "sparse.conv2d_csr"
    assert conv.inputs == ["x", "k.indptr", "k.indices", "k.data", "bias"]
    assert conv.attrs == {"out_channels": 4, "kernel_shape": [2, 2], "strides": [2, 2],
                          "pads": [0, 0, 0, 0], "dilations": [1, 1], "groups": 1,
                          "activation": "none"}
    assert (mm.kernel, mm.inputs[1:]) == ("sparse.matmul_csc", ["w.indptr", "w.indices", "w.data"])
    assert mm.attrs == {"k": 16, "n": 5, "activation": "none"} and mm.op == "nn.matmul"


def test_part_names_never_collide_with_other_values():
    m, w, _ = sparse_linear_and_conv()
    m.add_constant("w.indptr", np.zeros(5, np.float32))
    extra = Builder(m).value("math.add", [m.outputs["y"], m.constants["w.indptr"]])
    m.outputs["z"] = extra
    p = lower(m)
    assert "w_.indptr" in p.constants and p.constants["w.indptr"].dtype == np.float32


def test_an_encoded_weight_used_by_an_op_without_sparse_kernel_cannot_be_lowered():
    m, _, _ = sparse_linear_and_conv()
    Builder(m).value("math.add", [m.constants["w"], m.constants["w"]])
    with pytest.raises(CompileError, match=r"math.add: its operand 0 @w is stored sparsely"):
        lower(m)


def test_constant_encodings_print_parse_and_verify():
    m, w, _ = sparse_linear_and_conv()
    text = print_module(m, constants="full")
    assert f"const @w : f32[16, 5] #csc(nnz={np.count_nonzero(w)}) = dense_resource<w>" in text
    m2 = parse_module(text)
    verify(m2)
    assert print_module(m2, constants="full") == text
    np.testing.assert_array_equal(m2.constants["w"].data, w)

    bad = text.replace(f"#csc(nnz={np.count_nonzero(w)})", f"#csc(nnz={np.count_nonzero(w) + 1})")
    with pytest.raises(VerifyError, match="its type says nnz=.* but its data has"):
        verify(parse_module(bad))
    with pytest.raises(VerifyError, match="unknown sparse format #bsr"):
        verify(parse_module(text.replace("#csc(", "#bsr(")))
    elided = print_module(m)  # data elided: only nnz <= numel is checked
    verify(parse_module(elided))
    with pytest.raises(VerifyError, match="more than its 80 elements"):
        verify(parse_module(elided.replace(f"#csc(nnz={np.count_nonzero(w)})", "#csc(nnz=81)")))


def compile_forced(path, force, spec="magnitude:0.9,first=0.9"):
    return compiler.compile(path, prune=spec,
                            pipeline=f"infer-shapes,fold-constants,dce,select-kernels{{force={force}}}")


def test_sparse_artifact_round_trip(tmp_path):
    s = compile_forced(SAMPLES / "mlp.wsl", "sparse")
    d = compile_forced(SAMPLES / "mlp.wsl", "dense")
    s.save(tmp_path / "s.wafer")
    d.save(tmp_path / "d.wafer")
    w = s.module.constants["fc1.weight"].data
    assert (w == 0).sum() == int(0.9 * w.size + 0.5)
    raw_s, raw_d = (tmp_path / "s.wafer").read_bytes(), (tmp_path / "d.wafer").read_bytes()
    assert w.tobytes() in raw_d and w.tobytes() not in raw_s          # never densified
    prog = read_wafer(tmp_path / "s.wafer")
    assert "fc1.weight" not in prog.constants
    parts = [prog.constants[f"fc1.weight.{p}"] for p in ("indptr", "indices", "data")]
    stored = sum(a.nbytes for a in parts)
    assert stored == 257 * 4 + 20070 * (2 + 4)
    dense_prog = read_wafer(tmp_path / "d.wafer")
    tensor_bytes = lambda p: sum(a.nbytes for a in p.constants.values())  # noqa: E731
    w2 = s.module.constants["fc2.weight"].data          # forced sparse too, though dense
    stored2 = 11 * 4 + w2.size * (2 + 4)
    assert tensor_bytes(prog) == tensor_bytes(dense_prog) - w.nbytes + stored - w2.nbytes + stored2
    assert len(raw_s) < len(raw_d) - 0.95 * (w.nbytes - stored)
    rows = np.zeros((256, 784), np.float32)
    for r in range(256):
        lo, hi = parts[0][r], parts[0][r + 1]
        rows[r, parts[1][lo:hi]] = parts[2][lo:hi]
    np.testing.assert_array_equal(rows.T, w)
    report = prog.header["reports"]["sparsity"]
    layer = {l["weight"]: l for l in report["layers"]}["fc1.weight"]
    assert layer["stored_bytes"] == stored and layer["dense_bytes"] == w.nbytes
    assert layer["bytes_saved"] == w.nbytes - stored
    assert "#csc(nnz=20070)" in prog.header["ir"]


def test_artifacts_with_pruning_are_deterministic(tmp_path):
    for method in ("magnitude:0.8", "wanda:0.5", "sparsegpt:0.5", "nm:2:4", "global-magnitude:0.7"):
        a = compile_forced(SAMPLES / "cnn.wsl", "sparse", method)
        b = compile_forced(SAMPLES / "cnn.wsl", "sparse", method)
        a.save(tmp_path / "a.wafer")
        b.save(tmp_path / "b.wafer")
        assert (tmp_path / "a.wafer").read_bytes() == (tmp_path / "b.wafer").read_bytes(), method
