"""Small LSTM, GRU and RNN models built with `onnx.helper`, compared against onnxruntime.

Each model goes through wsc's ONNX import, the default pipeline, lowering and
the runtime; onnxruntime runs the same model; every output must agree within
1e-4. The cases cover both directions, initial states, sequence lengths,
peepholes, clipping, GRU's linear_before_reset, the batch-major layout and
symbolic time and batch sizes.
"""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.frontend.onnx import import_onnx
from compiler.passes import PIPELINES, PassManager, parse_pipeline
from compiler.testing.onnx_builders import make_model, run_onnxruntime, tensor, value_info
from compiler.testing.onnx_node_cases import execute_module

F = TensorProto.FLOAT
TOL = dict(rtol=1e-4, atol=1e-4)
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _weights(op_type, d, h, i, rng):
    g = _GATES[op_type]
    return {"W": (rng.standard_normal((d, g * h, i)) * 0.4).astype(np.float32),
            "R": (rng.standard_normal((d, g * h, h)) * 0.4).astype(np.float32),
            "B": (rng.standard_normal((d, 2 * g * h)) * 0.4).astype(np.float32)}


def _build(op_type, *, t, b, i, h, direction="forward", layout=0, lens=False, states=False,
           peepholes=False, seed=0, dims=None, **attrs):
    """(model, feeds): X, and optionally sequence_lens and initial states, are graph inputs;
    the weights are initializers."""
    rng = np.random.default_rng(seed)
    d = 2 if direction == "bidirectional" else 1
    consts = _weights(op_type, d, h, i, rng)
    if peepholes:
        consts["P"] = (rng.standard_normal((d, 3 * h)) * 0.4).astype(np.float32)
    x_shape = [b, t, i] if layout else [t, b, i]
    feeds = {"X": rng.standard_normal(x_shape).astype(np.float32)}
    state_shape = [b, d, h] if layout else [d, b, h]
    if lens:
        feeds["sequence_lens"] = rng.integers(1, t + 1, b).astype(np.int32)
    if states:
        feeds["initial_h"] = rng.standard_normal(state_shape).astype(np.float32)
        if op_type == "LSTM":
            feeds["initial_c"] = rng.standard_normal(state_shape).astype(np.float32)
    names = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
    present = set(feeds) | set(consts)
    inputs = [n if n in present else "" for n in names]
    if op_type != "LSTM":
        inputs = inputs[:6]
    while not inputs[-1]:
        inputs.pop()
    outputs = ["Y", "Y_h"] + (["Y_c"] if op_type == "LSTM" else [])
    node = helper.make_node(op_type, inputs, outputs, hidden_size=h, direction=direction,
                            **({"layout": layout} if layout else {}), **attrs)
    dims = dims or {}
    value_infos = []
    for name, arr in feeds.items():
        shape = [dims.get((name, k), s) for k, s in enumerate(arr.shape)]
        elem = TensorProto.INT32 if arr.dtype == np.int32 else F
        value_infos.append(value_info(name, shape, elem))
    model = make_model([node], value_infos, [value_info(o, None) for o in outputs],
                       [tensor(n, a) for n, a in consts.items()], opset=14, ir_version=8,
                       name="rnn")
    return model, feeds


def _wsc(model, feeds, **kw):
    module = import_onnx(model, **kw)
    module = PassManager(parse_pipeline(PIPELINES[2])).run(module)
    return execute_module(module, feeds)


def _compare(model, feeds, **kw):
    got = _wsc(model, feeds, **kw)
    want = run_onnxruntime(model, feeds)
    assert len(got) == len(want)
    for name, g, w in zip(["Y", "Y_h", "Y_c"], got, want):
        assert g.shape == w.shape, f"{name}: {g.shape} vs onnxruntime's {w.shape}"
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, err_msg=name, **TOL)


@pytest.mark.parametrize("op_type", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_with_states_and_lengths(op_type, direction) -> None:
    model, feeds = _build(op_type, t=5, b=3, i=4, h=6, direction=direction, lens=True,
                          states=True, seed=len(direction))
    _compare(model, feeds)


def test_lstm_peepholes_and_clip() -> None:
    model, feeds = _build("LSTM", t=6, b=2, i=3, h=5, direction="bidirectional",
                          peepholes=True, states=True, clip=0.6)
    _compare(model, feeds)


def test_lstm_input_forget() -> None:
    model, feeds = _build("LSTM", t=4, b=2, i=3, h=4, input_forget=1, seed=3)
    _compare(model, feeds)


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset(lbr) -> None:
    model, feeds = _build("GRU", t=5, b=3, i=2, h=4, direction="bidirectional",
                          linear_before_reset=lbr, states=True, seed=10 + lbr)
    _compare(model, feeds)


def test_lstm_non_default_activations() -> None:
    model, feeds = _build("LSTM", t=4, b=2, i=3, h=3,
                          activations=["HardSigmoid", "Tanh", "Softsign"],
                          activation_alpha=[0.3], activation_beta=[0.4], seed=5)
    _compare(model, feeds)


@pytest.mark.parametrize("op_type", ["LSTM", "GRU"])
def test_batch_major_layout(op_type) -> None:
    model, feeds = _build(op_type, t=4, b=3, i=2, h=5, layout=1, states=True, seed=7)
    got = _wsc(model, feeds)
    # onnxruntime's CPU kernels take only layout 0: compare with the time-major model.
    tm_model, _ = _build(op_type, t=4, b=3, i=2, h=5, states=True, seed=7)
    tm_feeds = {k: v.transpose(1, 0, 2) for k, v in feeds.items()}
    want = run_onnxruntime(tm_model, tm_feeds)
    np.testing.assert_allclose(got[0], want[0].transpose(2, 0, 1, 3), **TOL)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, w.transpose(1, 0, 2), **TOL)


def test_symbolic_time_and_batch_sizes() -> None:
    model, _ = _build("LSTM", t=5, b=3, i=4, h=6, direction="bidirectional",
                      dims={("X", 0): "T", ("X", 1): "N"})
    module = import_onnx(model)
    assert module.inputs[0].type.shape == ("T", "N", 4)
    module = PassManager(parse_pipeline(PIPELINES[2])).run(module)
    rng = np.random.default_rng(1)
    for t, n in ((5, 3), (2, 7)):
        feeds = {"X": rng.standard_normal((t, n, 4)).astype(np.float32)}
        got = execute_module(module, feeds)
        for g, w in zip(got, run_onnxruntime(model, feeds)):
            np.testing.assert_allclose(g, w, **TOL)
