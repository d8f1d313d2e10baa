"""Differential tests: small models built here run in wsc and in onnxruntime, outputs compared.

Each model is written with `onnx.helper` the way exporters write it, with
seeded random weights: an MLP (Gemm/Relu), a CNN with BatchNormalization, a
transformer encoder layer in the form PyTorch's exporter emits (Erf-GELU
decomposed, a masked Softmax whose mask comes from Equal/Expand/Where,
LayerNormalization, MatMul+Add, the head split's Reshape target computed from
Shape/Gather/Concat on symbolic batch and sequence dims), and an LSTM. Each is
imported with its symbolic dims kept, compiled once with `compiler.compile`
(default pipeline), and run by the runtime at two batch sizes; onnxruntime is
the reference (rtol = atol = 1e-4).

The sample models (`samples/make_onnx_samples.py`) are checked the same way,
compiled from their files, and the script is checked to write exactly the
committed bytes.
"""
from __future__ import annotations

import importlib.util
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, value_info
from runtime.executor import Executable

I64 = TensorProto.INT64
TOL = dict(rtol=1e-4, atol=1e-4)


class Weights:
    """Seeded initializers: `w.add(name, shape)` makes a random float32 tensor."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.tensors: list = []

    def add(self, name: str, shape, scale: float = 0.3, offset: float = 0.0) -> str:
        data = (offset + scale * self.rng.standard_normal(shape)).astype(np.float32)
        self.tensors.append(numpy_helper.from_array(data, name))
        return name

    def const(self, name: str, values, dtype=np.float32) -> str:
        self.tensors.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name


_model = partial(make_model, opset=17, ir_version=8)


def _node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def _compile(model):
    """Import with symbolic dims kept, compile with the default pipeline; an Executable."""
    module = import_onnx(model)
    return module, Executable(compiler.compile(module).program)


def _compare(model, feeds_per_batch, symbolic_inputs) -> None:
    module, exe = _compile(model)
    for name, dim in symbolic_inputs:  # the dims really stayed symbolic
        assert isinstance(module.inputs[[v.name for v in module.inputs].index(name)]
                          .type.shape[dim], str)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    for feeds in feeds_per_batch:
        want = session.run(None, feeds)
        got = list(exe.run(feeds).values())
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            assert np.isfinite(w).all() and np.std(w) > 1e-3  # a real, non-constant reference
            np.testing.assert_allclose(g, w, **TOL)


def _rand(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


# -- MLP ----------------------------------------------------------------------------------

def mlp_model(seed: int = 0):
    w = Weights(seed)
    nodes = [
        _node("Gemm", ["x", w.add("fc1.weight", [32, 20]), w.add("fc1.bias", [32])], ["h1"],
              transB=1),
        _node("Relu", ["h1"], ["a1"]),
        _node("Gemm", ["a1", w.add("fc2.weight", [32, 16]), w.add("fc2.bias", [16])], ["h2"]),
        _node("Relu", ["h2"], ["a2"]),
        _node("Gemm", ["a2", w.add("fc3.weight", [10, 16]), w.add("fc3.bias", [10])], ["y"],
              transB=1, alpha=0.5, beta=2.0),
    ]
    return _model(nodes, [value_info("x", ["N", 20])], [value_info("y", ["N", 10])], w.tensors)


def test_mlp_matches_onnxruntime() -> None:
    rng = np.random.default_rng(1)
    _compare(mlp_model(), [{"x": _rand(rng, [n, 20])} for n in (1, 7)], [("x", 0)])


# -- CNN with BatchNormalization --------------------------------------------------------------

def cnn_model(seed: int = 0):
    w = Weights(seed)

    def bn(name, c):
        return [w.add(f"{name}.scale", [c], 0.2, 1.0), w.add(f"{name}.bias", [c], 0.1),
                w.add(f"{name}.mean", [c], 0.1), w.add(f"{name}.var", [c], 0.1, 1.0)]

    nodes = [
        _node("Conv", ["x", w.add("conv1.weight", [8, 3, 3, 3]), w.add("conv1.bias", [8])],
              ["c1"], pads=[1, 1, 1, 1]),
        _node("BatchNormalization", ["c1", *bn("bn1", 8)], ["b1"], epsilon=1e-5),
        _node("Relu", ["b1"], ["r1"]),
        _node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        _node("Conv", ["p1", w.add("conv2.weight", [16, 8, 3, 3])], ["c2"],
              strides=[2, 2], pads=[1, 1, 1, 1]),
        _node("BatchNormalization", ["c2", *bn("bn2", 16)], ["b2"], epsilon=1e-3),
        _node("Relu", ["b2"], ["r2"]),
        _node("GlobalAveragePool", ["r2"], ["g"]),
        _node("Flatten", ["g"], ["f"], axis=1),
        _node("Gemm", ["f", w.add("fc.weight", [10, 16]), w.add("fc.bias", [10])], ["y"],
              transB=1),
    ]
    return _model(nodes, [value_info("x", ["N", 3, 16, 16])], [value_info("y", ["N", 10])],
                  w.tensors)


def test_cnn_with_batchnorm_matches_onnxruntime() -> None:
    rng = np.random.default_rng(2)
    _compare(cnn_model(), [{"x": _rand(rng, [n, 3, 16, 16])} for n in (1, 3)], [("x", 0)])


# -- Transformer encoder layer, as PyTorch's exporter writes it ---------------------------------

D, HEADS, FF = 16, 2, 32
DH = D // HEADS


def transformer_model(seed: int = 0):
    """x[N, S, D] and a key mask[N, S] (1 = attend, 0 = padding) -> y[N, S, D]."""
    w = Weights(seed)
    i64 = lambda name, v: w.const(name, v, np.int64)  # noqa: E731
    f32 = lambda name, v: w.const(name, v)  # noqa: E731
    i64("zero", 0), i64("one", 1), i64("axes0", [0]), i64("axes12", [1, 2])
    i64("heads_dh", [HEADS, DH]), i64("heads_1d", [HEADS]), i64("d_1d", [D])
    f32("scale", np.sqrt(DH)), f32("neg_inf", -np.inf), f32("sqrt2", np.sqrt(2.0))
    f32("one_f", 1.0), f32("half", 0.5)

    def linear(name, x, n_in, n_out):
        return [_node("MatMul", [x, w.add(f"{name}.weight", [n_in, n_out])], [f"{name}.mm"]),
                _node("Add", [f"{name}.mm", w.add(f"{name}.bias", [n_out], 0.1)], [name])]

    def layer_norm(name, x):
        return _node("LayerNormalization",
                     [x, w.add(f"{name}.weight", [D], 0.1, 1.0), w.add(f"{name}.bias", [D], 0.1)],
                     [name], axis=-1, epsilon=1e-5)

    def split_heads(name):  # [N, S, D] -> [N, H, S, DH]
        return [_node("Reshape", [name, "split_shape"], [f"{name}.split"]),
                _node("Transpose", [f"{name}.split"], [f"{name}.heads"], perm=[0, 2, 1, 3])]

    nodes = [
        # batch and sequence sizes, as 1-D tensors, from Shape/Gather/Unsqueeze
        _node("Shape", ["x"], ["x.shape"]),
        _node("Gather", ["x.shape", "zero"], ["n"], axis=0),
        _node("Gather", ["x.shape", "one"], ["s"], axis=0),
        _node("Unsqueeze", ["n", "axes0"], ["n_1d"]),
        _node("Unsqueeze", ["s", "axes0"], ["s_1d"]),
        _node("Concat", ["n_1d", "s_1d", "heads_dh"], ["split_shape"], axis=0),
        _node("Concat", ["n_1d", "s_1d", "d_1d"], ["merge_shape"], axis=0),
        _node("Concat", ["n_1d", "heads_1d", "s_1d", "s_1d"], ["scores_shape"], axis=0),
        # attention
        *linear("q", "x", D, D), *linear("k", "x", D, D), *linear("v", "x", D, D),
        *split_heads("q"), *split_heads("k"), *split_heads("v"),
        _node("Transpose", ["k.heads"], ["k.t"], perm=[0, 1, 3, 2]),
        _node("MatMul", ["q.heads", "k.t"], ["qk"]),
        _node("Div", ["qk", "scale"], ["scores"]),
        # masked_fill(mask == 0, -inf): Equal -> Unsqueeze -> Expand -> Where
        _node("Equal", ["mask", "zero"], ["pad"]),
        _node("Unsqueeze", ["pad", "axes12"], ["pad4"]),
        _node("Expand", ["pad4", "scores_shape"], ["pad_full"]),
        _node("Where", ["pad_full", "neg_inf", "scores"], ["masked"]),
        _node("Softmax", ["masked"], ["attn"], axis=-1),
        _node("MatMul", ["attn", "v.heads"], ["ctx.heads"]),
        _node("Transpose", ["ctx.heads"], ["ctx.t"], perm=[0, 2, 1, 3]),
        _node("Reshape", ["ctx.t", "merge_shape"], ["ctx"]),
        *linear("out", "ctx", D, D),
        _node("Add", ["x", "out"], ["res1"]),
        layer_norm("ln1", "res1"),
        # feed-forward with GELU(x) = x * 0.5 * (1 + erf(x / sqrt(2)))
        *linear("ff1", "ln1", D, FF),
        _node("Div", ["ff1", "sqrt2"], ["g.div"]),
        _node("Erf", ["g.div"], ["g.erf"]),
        _node("Add", ["g.erf", "one_f"], ["g.add"]),
        _node("Mul", ["ff1", "g.add"], ["g.mul"]),
        _node("Mul", ["g.mul", "half"], ["gelu"]),
        *linear("ff2", "gelu", FF, D),
        _node("Add", ["ln1", "ff2"], ["res2"]),
        layer_norm("y", "res2"),
    ]
    return _model(nodes, [value_info("x", ["N", "S", D]), value_info("mask", ["N", "S"], I64)],
                  [value_info("y", ["N", "S", D])], w.tensors)


def _mask(rng, n, s):
    mask = (rng.random((n, s)) < 0.7).astype(np.int64)
    mask[:, 0] = 1  # every row attends to something (a fully masked row is NaN everywhere)
    return mask


def test_transformer_encoder_layer_matches_onnxruntime() -> None:
    rng = np.random.default_rng(3)
    feeds = [{"x": _rand(rng, [n, s, D]), "mask": _mask(rng, n, s)} for n, s in ((1, 5), (3, 7))]
    _compare(transformer_model(), feeds, [("x", 0), ("x", 1), ("mask", 0)])


# -- LSTM ----------------------------------------------------------------------------------

def lstm_model(direction: str = "forward", seed: int = 0):
    w = Weights(seed)
    dirs, hidden, n_in = (2 if direction == "bidirectional" else 1), 6, 4
    nodes = [_node("LSTM", ["x", w.add("W", [dirs, 4 * hidden, n_in]),
                            w.add("R", [dirs, 4 * hidden, hidden]),
                            w.add("B", [dirs, 8 * hidden], 0.1)],
                   ["y", "y_h", "y_c"], hidden_size=hidden, direction=direction)]
    return _model(nodes, [value_info("x", [5, "N", n_in])],
                  [value_info("y", [5, dirs, "N", hidden]), value_info("y_h", [dirs, "N", hidden]),
                   value_info("y_c", [dirs, "N", hidden])], w.tensors)


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_lstm_matches_onnxruntime(direction) -> None:
    rng = np.random.default_rng(4)
    _compare(lstm_model(direction), [{"x": _rand(rng, [5, n, 4])} for n in (1, 4)], [("x", 1)])


# -- the sample models ---------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _samples_script():
    spec = importlib.util.spec_from_file_location("make_onnx_samples",
                                                  SAMPLES / "make_onnx_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_script_writes_the_committed_files(tmp_path) -> None:
    written = _samples_script().write_samples(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in SAMPLES.glob("*.onnx"))
    for p in written:
        assert p.read_bytes() == (SAMPLES / p.name).read_bytes(), \
            f"{p.name} differs: run `python samples/make_onnx_samples.py` and commit"
    assert sum(p.stat().st_size for p in written) < 300_000


@pytest.mark.parametrize("name", ["mlp.onnx", "cnn_bn.onnx", "transformer_block.onnx"])
def test_sample_matches_onnxruntime(name) -> None:
    path = SAMPLES / name
    exe = Executable(compiler.compile(path).program)
    model = onnx.load(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    (vi,) = model.graph.input
    for batch, seq in ((1, 3), (4, 6)):
        dims = [d.dim_value or {"N": batch, "S": seq}[d.dim_param]
                for d in vi.type.tensor_type.shape.dim]
        feeds = {vi.name: _rand(rng, dims)}
        (want,) = session.run(None, feeds)
        (got,) = exe.run(feeds).values()
        assert got.shape == want.shape and np.std(want) > 1e-3
        np.testing.assert_allclose(got, want, **TOL)
