"""ONNX loss ops (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss): converter tests beyond
the node suite: a symbolic batch against onnxruntime, the IR emitted, and errors."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, run_onnxruntime, value_info
from compiler.testing.onnx_node_cases import execute_module

I64 = TensorProto.INT64
_rng = np.random.default_rng(5)


_model = partial(make_model, opset=13, ir_version=8)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_softmax_cross_entropy_with_symbolic_batch_matches_onnxruntime(reduction) -> None:
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t", "w"], ["loss", "logp"],
                            reduction=reduction, ignore_index=2)
    model = _model([node],
                   [value_info("x", ["N", 4, 3]), value_info("t", ["N", 3], I64),
                    value_info("w", [4])],
                   [value_info("loss", None), value_info("logp", None)])
    module = import_onnx(model)
    assert [op.name for op in module.ops] == ["nn.log_softmax", "nn.nll_loss"]
    for n in (2, 5):
        feeds = {"x": _rng.standard_normal((n, 4, 3)).astype(np.float32),
                 "t": _rng.integers(0, 4, (n, 3)).astype(np.int64),
                 "w": _rng.random(4).astype(np.float32) + 0.5}
        for got, want in zip(execute_module(module, feeds), run_onnxruntime(model, feeds)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_nll_loss_rejects_unknown_reduction_and_rank_1_scores() -> None:
    bad = helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"], reduction="max")
    with pytest.raises(CompileError, match="reduction='max'"):
        import_onnx(_model([bad], [value_info("x", [3, 4]), value_info("t", [3], I64)],
                           [value_info("y", None)]))
    flat = helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"])
    with pytest.raises(CompileError, match=r"\[N, C, \.\.\.\]"):
        import_onnx(_model([flat], [value_info("x", [4]), value_info("t", [], I64)],
                           [value_info("y", None)]))


def test_nll_loss_out_of_range_target_is_a_runtime_error() -> None:
    from runtime.errors import WscError
    node = helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"])
    module = import_onnx(_model([node], [value_info("x", [2, 3]), value_info("t", [2], I64)],
                                [value_info("y", None)]))
    with pytest.raises(WscError, match="out of range"):
        execute_module(module, {"x": np.zeros((2, 3), np.float32),
                                "t": np.array([0, 3], np.int64)})
