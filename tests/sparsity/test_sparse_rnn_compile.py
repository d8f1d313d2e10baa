"""Recurrent layers on sparse kernels, end to end: ONNX LSTM / GRU / RNN models pruned to
90%, compiled with select-kernels forced dense and forced sparse, run by the runtime, and
compared with each other and with onnxruntime on the same pruned weights."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import compiler
import runtime
from compiler.cli import main

F = TensorProto.FLOAT
PIPE = "infer-shapes,fold-constants,cse,dce,analyze-sparsity,select-kernels{%s}"
PRUNE = "magnitude:0.9,first=0.9,last=0.9"
T, I, H = 6, 8, 10


def _init(rng, name, shape):
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.5).astype(np.float32), name)


def _shape(name, dims):
    return numpy_helper.from_array(np.array(dims, np.int64), name)


def lstm_gru_model(path):
    """X -> bidirectional LSTM with peepholes -> [T, N, 2H] -> GRU (linear_before_reset)."""
    rng = np.random.default_rng(0)
    inits = [_init(rng, "lstm_W", (2, 4 * H, I)), _init(rng, "lstm_R", (2, 4 * H, H)),
             _init(rng, "lstm_B", (2, 8 * H)), _init(rng, "lstm_P", (2, 3 * H)),
             _init(rng, "gru_W", (1, 3 * H, 2 * H)), _init(rng, "gru_R", (1, 3 * H, H)),
             _init(rng, "gru_B", (1, 6 * H)), _shape("to_seq", [T, -1, 2 * H])]
    nodes = [
        helper.make_node("LSTM", ["X", "lstm_W", "lstm_R", "lstm_B", "", "", "", "lstm_P"],
                         ["Y1", "", "Y1_c"], hidden_size=H, direction="bidirectional"),
        helper.make_node("Transpose", ["Y1"], ["Y1t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["Y1t", "to_seq"], ["X2"]),
        helper.make_node("GRU", ["X2", "gru_W", "gru_R", "gru_B"], ["Y", "Y_h"],
                         hidden_size=H, linear_before_reset=1)]
    inputs = {"X": [T, "N", I]}
    outputs = ["Y", "Y_h", "Y1_c"]
    return _save(path, nodes, inits, inputs, outputs), inputs


def gru_rnn_model(path):
    """X, lengths, h0 -> reverse GRU (reset before the product) -> [T, N, H] -> RNN."""
    rng = np.random.default_rng(1)
    inits = [_init(rng, "gru_W", (1, 3 * H, I)), _init(rng, "gru_R", (1, 3 * H, H)),
             _init(rng, "gru_B", (1, 6 * H)), _init(rng, "rnn_W", (2, H, H)),
             _init(rng, "rnn_R", (2, H, H)), _init(rng, "rnn_B", (2, 2 * H)),
             _shape("to_seq", [T, -1, H])]
    nodes = [
        helper.make_node("GRU", ["X", "gru_W", "gru_R", "gru_B", "lens", "h0"], ["Y1", "Y1_h"],
                         hidden_size=H, direction="reverse"),
        helper.make_node("Reshape", ["Y1", "to_seq"], ["X2"]),
        helper.make_node("RNN", ["X2", "rnn_W", "rnn_R", "rnn_B"], ["Y", "Y_h"], hidden_size=H,
                         direction="bidirectional")]
    inputs = {"X": [T, "N", I], "lens": ["N"], "h0": [1, "N", H]}
    return _save(path, nodes, inits, inputs, ["Y", "Y_h", "Y1_h"]), inputs


def _save(path, nodes, inits, inputs, outputs):
    infos = [helper.make_tensor_value_info(n, TensorProto.INT32 if n == "lens" else F, s)
             for n, s in inputs.items()]
    graph = helper.make_graph(nodes, path.stem, infos,
                              [helper.make_tensor_value_info(o, F, None) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _feeds(inputs, n, rng):
    out = {}
    for name, shape in inputs.items():
        dims = [n if d == "N" else d for d in shape]
        out[name] = (rng.integers(1, T + 1, dims).astype(np.int32) if name == "lens"
                     else rng.standard_normal(dims).astype(np.float32))
    return out


def _ort(path, weights, feeds):
    import onnxruntime as ort
    model = onnx.load(path)
    for init in model.graph.initializer:
        if init.name in weights:
            init.CopyFrom(numpy_helper.from_array(weights[init.name], init.name))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def _close(got, want, what):
    for name in want:
        scale = float(np.max(np.abs(want[name]))) or 1.0
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4 * scale,
                                   err_msg=f"{what}: output {name}")


@pytest.mark.parametrize("build, kernels", [
    (lstm_gru_model, ["sparse.lstm", "sparse.gru"]),
    (gru_rnn_model, ["sparse.gru", "sparse.rnn"]),
])
def test_pruned_recurrent_models_sparse_equal_dense_and_onnxruntime(tmp_path, build, kernels):
    path, inputs = build(tmp_path / "m.onnx")
    progs = {force: compiler.compile(path, pipeline=PIPE % f"force={force}", prune=PRUNE)
             for force in ("dense", "sparse")}
    instrs = progs["sparse"].program.instrs
    assert [i.kernel for i in instrs if i.kernel.startswith("sparse.")] == kernels
    assert all(i.attrs["w_sparse"] and i.attrs["r_sparse"] for i in instrs
               if i.kernel.startswith("sparse."))
    assert not any(i.kernel.startswith("sparse.") for i in progs["dense"].program.instrs)
    weights = {n: c.data for n, c in progs["sparse"].module.constants.items()
               if n.endswith(("_W", "_R"))}
    assert len(weights) == 4
    for n, w in weights.items():
        assert np.count_nonzero(w) == w.size - int(0.9 * w.size + 0.5), n
        # stored as parts only, the row view [D*G*H, In]
        parts = progs["sparse"].program.constants
        assert n not in parts and parts[f"{n}.indptr"].size == w.shape[0] * w.shape[1] + 1
        assert parts[f"{n}.data"].size == np.count_nonzero(w)
    layers = progs["sparse"].program.header["reports"]["sparsity"]["layers"]
    assert sorted(l["kernel"] for l in layers) == sorted(kernels * 2)

    rng = np.random.default_rng(2)
    for n in (1, 3):
        feeds = _feeds(inputs, n, rng)
        want = runtime.Executable(progs["dense"].program).run(feeds)
        got = runtime.Executable(progs["sparse"].program).run(feeds)
        _close(got, want, f"sparse vs dense, N={n}")
        _close(got, _ort(path, weights, feeds), f"sparse vs onnxruntime, N={n}")


def _cost_file(path):
    """Sparse pays off on many tokens, never on one (made-up times, shapes near the model's)."""
    def point(m, sparse):
        return {"dims": {"m": m, "k": 16, "n": 64}, "dense_seconds": 1e-5,
                "densities": [0.05, 0.5, 1.0], "sparse_seconds": [s * 1e-5 for s in sparse]}
    doc = {"format": "wsc-kernel-costs/1", "points": {
        "matmul/m=1/k=16/n=64": point(1, [2.0, 4.0, 8.0]),
        "matmul/m=8/k=16/n=64": point(8, [0.2, 0.8, 1.6])}}
    path.write_text(json.dumps(doc))
    return path


def test_cost_model_decides_w_and_r_independently(tmp_path):
    """W is the projection over T*N tokens, R the per-step product over N: with a batch of 1
    the model makes W sparse and keeps R dense; the kernel takes one of each."""
    path, inputs = lstm_gru_model(tmp_path / "m.onnx")
    costs = _cost_file(tmp_path / "c.json")
    res = compiler.compile(path, pipeline=PIPE % f"cost-model={costs}", prune=PRUNE)
    decisions = res.program.header["reports"]["sparsity"]["layers"]
    by = {l["weight"]: l for l in decisions}
    assert by["lstm_W"]["kernel"] == "sparse.lstm" and by["lstm_R"]["kernel"] == "rnn.lstm"
    assert "m=T*B=6" in by["lstm_W"]["reason"] and "(N=1 assumed)" in by["lstm_W"]["reason"]
    assert "m=B=1" in by["lstm_R"]["reason"] and by["lstm_R"]["reason"].endswith("dense")
    lstm = next(i for i in res.program.instrs if i.op == "rnn.lstm")
    assert lstm.kernel == "sparse.lstm" and lstm.attrs["w_sparse"] and not lstm.attrs["r_sparse"]
    assert lstm.inputs[:5] == ["X", "lstm_W.indptr", "lstm_W.indices", "lstm_W.data", "lstm_R"]
    dense = compiler.compile(path, pipeline=PIPE % "force=dense", prune=PRUNE)
    feeds = _feeds(inputs, 1, np.random.default_rng(3))
    _close(runtime.Executable(res.program).run(feeds),
           runtime.Executable(dense.program).run(feeds), "W sparse, R dense")

    # With the batch bound to 64 the per-step product has 64 tokens too: R goes sparse.
    res = compiler.compile(path, pipeline=PIPE % f"cost-model={costs}", prune=PRUNE,
                           input_shapes={"X": [T, 64, I]})
    by = {l["weight"]: l for l in res.program.header["reports"]["sparsity"]["layers"]}
    assert by["lstm_R"]["kernel"] == "sparse.lstm" and "m=B=64" in by["lstm_R"]["reason"]


def test_inspect_sparsity_shows_recurrent_kernels(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lstm_gru_model(tmp_path / "m.onnx")
    out = CliRunner().invoke(main, ["compile", "m.onnx", "--prune", PRUNE, "--pipeline",
                                    PIPE % "force=sparse", "-o", "m.wafer"])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(main, ["inspect", "m.wafer", "--sparsity"])
    assert out.exit_code == 0, out.output
    text = out.stdout
    for w, k in (("lstm_W", "sparse.lstm"), ("lstm_R", "sparse.lstm"), ("gru_W", "sparse.gru"),
                 ("gru_R", "sparse.gru")):
        assert any(line.split()[:1] == [w] and k in line for line in text.splitlines()), text
        assert f"{w}: {k}: forced sparse" in text
