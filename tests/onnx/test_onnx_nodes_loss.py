"""ONNX loss ops (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss): converter tests beyond
the node suite: a symbolic batch against onnxruntime, the IR emitted, and errors."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_node_cases import execute_module

F, I64 = TensorProto.FLOAT, TensorProto.INT64
_rng = np.random.default_rng(5)


def _model(node, inputs, outputs, opset=13):
    graph = helper.make_graph([node], "g", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _vi(name, shape, elem_type=F):
    return helper.make_tensor_value_info(name, elem_type, shape)


def _ort(model, feeds):
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_cross_entropy_with_symbolic_batch_matches_onnxruntime(reduction) -> None:
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t", "w"], ["loss", "logp"],
                            reduction=reduction, ignore_index=2)
    model = _model(node, [_vi("x", ["N", 4, 3]), _vi("t", ["N", 3], I64), _vi("w", [4])],
                   [_vi("loss", None), _vi("logp", None)])
    module = import_onnx(model)
    assert [op.name for op in module.ops] == ["nn.log_softmax", "nn.nll_loss"]
    for n in (2, 5):
        feeds = {"x": _rng.standard_normal((n, 4, 3)).astype(np.float32),
                 "t": _rng.integers(0, 4, (n, 3)).astype(np.int64),
                 "w": _rng.random(4).astype(np.float32) + 0.5}
        for got, want in zip(execute_module(module, feeds), _ort(model, feeds)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_nll_loss_rejects_unknown_reduction_and_rank_1_scores() -> None:
    bad = helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"], reduction="max")
    with pytest.raises(CompileError, match="reduction='max'"):
        import_onnx(_model(bad, [_vi("x", [3, 4]), _vi("t", [3], I64)], [_vi("y", None)]))
    flat = helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"])
    with pytest.raises(CompileError, match=r"\[N, C, \.\.\.\]"):
        import_onnx(_model(flat, [_vi("x", [4]), _vi("t", [], I64)], [_vi("y", None)]))


def test_nll_loss_out_of_range_target_is_a_runtime_error() -> None:
    from runtime.errors import WscError
    node = helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"])
    module = import_onnx(_model(node, [_vi("x", [2, 3]), _vi("t", [2], I64)], [_vi("y", None)]))
    with pytest.raises(WscError, match="out of range"):
        execute_module(module, {"x": np.zeros((2, 3), np.float32),
                                "t": np.array([0, 3], np.int64)})
