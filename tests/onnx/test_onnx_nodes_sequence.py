"""ONNX sequence ops, statically unrolled: converter tests beyond the node suite.

A sequence is a Python list of IR values while importing (see
`compiler/frontend/onnx.py`): these tests check that no sequence survives
into the IR (only slices and concats), that sequence graph inputs and outputs
become one input/output per tensor, that positions must be compile-time
values (with the error naming the input), and the results against
onnxruntime.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import (make_model, run_onnxruntime, sequence_value_info,
                                            tensor, value_info)
from compiler.testing.onnx_node_cases import execute_module

F, I64 = TensorProto.FLOAT, TensorProto.INT64
_rng = np.random.default_rng(2)


def _randn(*shape) -> np.ndarray:
    return _rng.standard_normal(shape).astype(np.float32)


_model = partial(make_model, opset=17, ir_version=8)


def test_sequence_edits_unroll_to_tensor_ops_and_match_onnxruntime() -> None:
    nodes = [
        helper.make_node("SplitToSequence", ["x"], ["parts"], axis=1, keepdims=0),
        helper.make_node("SequenceErase", ["parts", "minus_one"], ["fewer"]),
        helper.make_node("SequenceInsert", ["fewer", "y", "zero"], ["more"]),
        helper.make_node("SequenceLength", ["more"], ["n"]),
        helper.make_node("SequenceAt", ["more", "minus_one"], ["last"]),
        helper.make_node("ConcatFromSequence", ["more"], ["stacked"], axis=0, new_axis=1),
    ]
    model = _model(nodes, [value_info("x", [2, 4, 3]), value_info("y", [2, 3])],
                   [value_info("n", None, I64), value_info("last", None),
                    value_info("stacked", None)],
                   [tensor("minus_one", -1, np.int64), tensor("zero", 0, np.int64)])
    module = import_onnx(model)
    assert {op.name for op in module.ops} <= {"tensor.slice", "tensor.squeeze",
                                              "tensor.unsqueeze", "tensor.concat"}
    feeds = {"x": _randn(2, 4, 3), "y": _randn(2, 3)}
    got = execute_module(module, feeds)
    for g, w in zip(got, run_onnxruntime(model, feeds)):
        np.testing.assert_array_equal(g, w)


def test_split_to_sequence_with_a_scalar_split_keeps_a_short_last_chunk() -> None:
    node = helper.make_node("SplitToSequence", ["x", "three"], ["parts"], axis=0)
    cat = helper.make_node("ConcatFromSequence", ["parts"], ["y"], axis=1)
    model = _model([node, cat], [value_info("x", [7, 2])], [value_info("y", None)],
                   [tensor("three", 3, np.int64)])
    # chunks of 3, 3, 1 rows cannot concat along axis 1: the shapes tell
    with pytest.raises(CompileError, match="concat"):
        import_onnx(model)
    ok = _model([node, helper.make_node("SequenceAt", ["parts", "two"], ["y"])],
                [value_info("x", [7, 2])], [value_info("y", None)],
                [tensor("three", 3, np.int64), tensor("two", 2, np.int64)])
    x = _randn(7, 2)
    np.testing.assert_array_equal(execute_module(import_onnx(ok), {"x": x})[0], x[6:7])


def test_sequence_graph_inputs_and_outputs_are_one_per_tensor() -> None:
    node = helper.make_node("SequenceInsert", ["s", "t"], ["out"])
    model = _model([node], [sequence_value_info("s", None), value_info("t", [2])],
                   [sequence_value_info("out", None)])
    module = import_onnx(model, input_shapes={"s": [[2], [3]]})
    assert [v.name for v in module.inputs] == ["s_0", "s_1", "t"]
    assert list(module.outputs) == ["out_0", "out_1", "out_2"]
    a, b, t = _randn(2), _randn(3), _randn(2)
    got = execute_module(module, {"s_0": a, "s_1": b, "t": t})
    for g, w in zip(got, [a, b, t]):
        np.testing.assert_array_equal(g, w)


def test_a_sequence_input_needs_its_element_shapes() -> None:
    node = helper.make_node("SequenceLength", ["s"], ["n"])
    model = _model([node], [sequence_value_info("s", None)], [value_info("n", None, I64)])
    with pytest.raises(CompileError, match="length and element shapes") as e:
        import_onnx(model)
    assert "input_shapes" in (e.value.hint or "")


def test_a_run_time_position_is_a_clear_error() -> None:
    nodes = [helper.make_node("SequenceConstruct", ["a", "b"], ["s"]),
             helper.make_node("SequenceAt", ["s", "pos"], ["y"])]
    model = _model(nodes, [value_info("a", [2]), value_info("b", [2]), value_info("pos", [], I64)],
                   [value_info("y", None)])
    with pytest.raises(CompileError, match=r"position \(input 1\) must be known at compile time"):
        import_onnx(model)
    a, b = _randn(2), _randn(2)
    frozen = import_onnx(model, constant_inputs={"pos": np.array(-1, np.int64)})
    np.testing.assert_array_equal(execute_module(frozen, {"a": a, "b": b})[0], b)


@pytest.mark.parametrize("nodes,match", [
    ([helper.make_node("SequenceConstruct", ["a", "i"], ["s"])], "one element type"),
    ([helper.make_node("SequenceConstruct", ["a"], ["s"]),
      helper.make_node("SequenceErase", ["s", "five"], ["y"])], "out of range"),
    ([helper.make_node("SequenceEmpty", [], ["s"]),
      helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=0)], "empty sequence"),
    ([helper.make_node("Relu", ["s"], ["y"])], "is a sequence"),
])
def test_sequence_errors(nodes, match) -> None:
    if nodes[0].op_type == "Relu":
        nodes = [helper.make_node("SequenceConstruct", ["a"], ["s"])] + nodes
    model = _model(nodes, [value_info("a", [2]), value_info("i", [2], I64)],
                   [value_info("y", None)], [tensor("five", 5, np.int64)])
    with pytest.raises(CompileError, match=match):
        import_onnx(model)


def test_optionals_are_decided_at_compile_time() -> None:
    seq = helper.make_tensor_sequence_value_info("s", F, None)
    opt_in = helper.make_value_info("o", helper.make_optional_type_proto(seq.type))
    nodes = [helper.make_node("OptionalHasElement", ["o"], ["has"]),
             helper.make_node("OptionalHasElement", [""], ["none"]),
             helper.make_node("OptionalGetElement", ["o"], ["got"]),
             helper.make_node("ConcatFromSequence", ["got"], ["y"], axis=0)]
    model = _model(nodes, [opt_in], [value_info("has", None, TensorProto.BOOL),
                                     value_info("none", None, TensorProto.BOOL),
                                     value_info("y", None)],
                   opset=18)
    module = import_onnx(model, input_shapes={"o": [[2], [1]]})
    assert [op.name for op in module.ops] == ["tensor.concat"]
    a, b = _randn(2), _randn(1)
    has, none, y = execute_module(module, {"o_0": a, "o_1": b})
    assert has and not none
    np.testing.assert_array_equal(y, np.concatenate([a, b]))


def test_an_empty_optional_cannot_be_read_or_returned() -> None:
    empty = helper.make_node("Optional", [], ["e"], type=helper.make_tensor_type_proto(F, [2]))
    get = helper.make_node("OptionalGetElement", ["e"], ["y"])
    with pytest.raises(CompileError, match=r"optional \(input 0\) is empty"):
        import_onnx(_model([empty, get], [], [value_info("y", None)], opset=18))
    out = helper.make_value_info("e", helper.make_optional_type_proto(
        helper.make_tensor_type_proto(F, [2])))
    with pytest.raises(CompileError, match="empty optional"):
        import_onnx(_model([empty], [], [out], opset=18))
