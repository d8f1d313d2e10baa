"""ONNX attention ops (Attention, RotaryEmbedding, LinearAttention, CausalConvWithState,
FlexAttention): converter tests beyond the node suite.

The node suite (run by `test_onnx_node_suite.py`) covers the attributes case
by case; here: symbolic batch and sequence sizes against onnxruntime, the IR
the converters emit (one `nn.attention`, the cache as a concat), GQA with
FlexAttention modifiers against onnx's reference evaluator, and the errors a
user gets for models wsc cannot import.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, run_onnxruntime, value_info
from compiler.testing.onnx_node_cases import execute_module

F = TensorProto.FLOAT
_rng = np.random.default_rng(11)


def _randn(*shape) -> np.ndarray:
    return _rng.standard_normal(shape).astype(np.float32)


_model = partial(make_model, opset=23, ir_version=10)


def _reference(model, feeds):
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(model).run(None, feeds)


def test_attention_with_symbolic_batch_and_sequence_matches_onnxruntime() -> None:
    node = helper.make_node("Attention", ["q", "k", "v", "mask"], ["y"], is_causal=1)
    model = _model([node], [value_info("q", ["B", 4, "S", 8]), value_info("k", ["B", 2, "S", 8]),
                            value_info("v", ["B", 2, "S", 6]),
                            value_info("mask", ["S", "S"], TensorProto.BOOL)],
                   [value_info("y", None)])
    module = import_onnx(model)
    assert [op.name for op in module.ops] == ["nn.attention"]
    assert module.ops[0].results[0].type.shape == ("B", 4, "S", 6)
    for b, s in ((1, 3), (2, 5)):
        feeds = {"q": _randn(b, 4, s, 8), "k": _randn(b, 2, s, 8), "v": _randn(b, 2, s, 6),
                 "mask": _rng.random((s, s)) > 0.3}
        np.testing.assert_allclose(execute_module(module, feeds)[0],
                                   run_onnxruntime(model, feeds)[0], rtol=1e-5, atol=1e-6)


def test_attention_3d_with_cache_is_a_concat_and_one_attention() -> None:
    node = helper.make_node("Attention", ["q", "k", "v", "", "pk", "pv"], ["y", "ck", "cv"],
                            q_num_heads=2, kv_num_heads=2, is_causal=1)
    model = _model([node],
                   [value_info("q", [1, 3, 16]), value_info("k", [1, 3, 16]),
                    value_info("v", [1, 3, 16]), value_info("pk", [1, 2, 4, 8]),
                    value_info("pv", [1, 2, 4, 8])],
                   [value_info("y", None), value_info("ck", None), value_info("cv", None)])
    module = import_onnx(model)
    names = [op.name for op in module.ops]
    assert names.count("nn.attention") == 1 and names.count("tensor.concat") == 2
    attn = next(op for op in module.ops if op.name == "nn.attention")
    assert attn.attrs["q_offset"] == 4 and attn.attrs["causal"]
    feeds = {"q": _randn(1, 3, 16), "k": _randn(1, 3, 16), "v": _randn(1, 3, 16),
             "pk": _randn(1, 2, 4, 8), "pv": _randn(1, 2, 4, 8)}
    for got, want in zip(execute_module(module, feeds), run_onnxruntime(model, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("inputs,attrs,match", [
    (["q3", "k3", "v3"], {}, "q_num_heads and kv_num_heads"),
    (["q", "k", "v", "", "pk"], {}, "given together"),
    (["q", "k", "v", "", "pk", "pv", "lens"], {}, "cannot be combined"),
    (["q", "k", "v", "long_mask"], {}, "covers 9 keys"),
    (["q", "k", "v"], {"qk_matmul_output_mode": 7}, "qk_matmul_output_mode=7"),
])
def test_attention_errors_name_the_problem(inputs, attrs, match) -> None:
    outs = ["y", "", "", "qk"] if "qk_matmul_output_mode" in attrs else ["y"]
    node = helper.make_node("Attention", inputs, outs, **attrs)
    vis = {"q": [1, 2, 3, 8], "k": [1, 2, 5, 8], "v": [1, 2, 5, 8], "pk": [1, 2, 2, 8],
           "pv": [1, 2, 2, 8], "q3": [1, 3, 16], "k3": [1, 5, 16], "v3": [1, 5, 16],
           "long_mask": [3, 9]}
    graph_inputs = [value_info(x, vis[x]) for x in inputs if x and x != "lens"]
    if "lens" in inputs:
        graph_inputs.append(value_info("lens", [1], TensorProto.INT64))
    model = _model([node], graph_inputs, [value_info(o, None) for o in outs if o], opset=24)
    with pytest.raises(CompileError, match=match):
        import_onnx(model)


def test_rotary_embedding_3d_with_positions_matches_onnxruntime() -> None:
    node = helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"], num_heads=2,
                            interleaved=1)
    model = _model([node], [value_info("x", [2, 5, 16]), value_info("cos", [10, 4]),
                            value_info("sin", [10, 4]),
                            value_info("pos", [2, 5], TensorProto.INT64)],
                   [value_info("y", None)])
    angles = _rng.random((10, 4))
    feeds = {"x": _randn(2, 5, 16), "cos": np.cos(angles).astype(np.float32),
             "sin": np.sin(angles).astype(np.float32),
             "pos": _rng.integers(0, 10, (2, 5)).astype(np.int64)}
    got = execute_module(import_onnx(model), feeds)[0]
    np.testing.assert_allclose(got, run_onnxruntime(model, feeds)[0], rtol=1e-5, atol=1e-6)


def test_linear_attention_and_causal_conv_match_the_reference_evaluator() -> None:
    la = helper.make_node("LinearAttention", ["q", "k", "v", "", "g", "b"], ["y", "s"],
                          q_num_heads=4, kv_num_heads=2)
    conv = helper.make_node("CausalConvWithState", ["x", "w", "", "past"], ["cy", "cs"],
                            activation="silu")
    model = _model([la, conv],
                   [value_info("q", [1, 3, 8]), value_info("k", [1, 3, 4]),
                    value_info("v", [1, 3, 6]), value_info("g", [1, 3, 2]),
                    value_info("b", [1, 3, 1]), value_info("x", [2, 3, 5]),
                    value_info("w", [3, 1, 4]), value_info("past", [2, 3, 3])],
                   [value_info(o, None) for o in ("y", "s", "cy", "cs")], opset=27)
    feeds = {"q": _randn(1, 3, 8), "k": _randn(1, 3, 4), "v": _randn(1, 3, 6),
             "g": -np.abs(_randn(1, 3, 2)), "b": np.abs(_randn(1, 3, 1)),
             "x": _randn(2, 3, 5), "w": _randn(3, 1, 4), "past": _randn(2, 3, 3)}
    got = execute_module(import_onnx(model), feeds)
    for g, w in zip(got, _reference(model, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_linear_attention_rule_and_inputs_must_agree() -> None:
    node = helper.make_node("LinearAttention", ["q", "k", "v"], ["y", "s"], q_num_heads=1,
                            kv_num_heads=1, update_rule="gated")
    model = _model([node], [value_info(x, [1, 2, 4]) for x in "qkv"],
                   [value_info("y", None), value_info("s", None)], opset=27)
    with pytest.raises(CompileError, match="needs a decay input and no beta input"):
        import_onnx(model)


def test_flex_attention_gqa_with_modifiers_matches_the_reference_evaluator() -> None:
    def body(name, op):
        return helper.make_graph([helper.make_node(op, ["s", "c"], ["o"])], name,
                                 [value_info("s", None)], [value_info("o", None)],
                                 [helper.make_tensor("c", F, [], [0.5])])

    node = helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain="ai.onnx.preview",
                            score_mod=body("score", "Add"), prob_mod=body("prob", "Mul"),
                            scale=0.3)
    model = _model([node], [value_info("q", [2, 4, 3, 8]), value_info("k", [2, 2, 5, 8]),
                            value_info("v", [2, 2, 5, 6])], [value_info("y", None)],
                   extra_opsets=[helper.make_opsetid("ai.onnx.preview", 1)])
    feeds = {"q": _randn(2, 4, 3, 8), "k": _randn(2, 2, 5, 8), "v": _randn(2, 2, 5, 6)}
    got = execute_module(import_onnx(model), feeds)[0]
    np.testing.assert_allclose(got, _reference(model, feeds)[0], rtol=1e-5, atol=1e-6)
