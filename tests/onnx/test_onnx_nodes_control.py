"""ONNX control flow, statically unrolled (If, Loop, Scan, SequenceMap): converter tests beyond
the node suite.

Checked against onnxruntime: a Loop with loop-carried values, scan outputs and
a body that reads an outer-scope tensor; a bidirectional Scan; an If on a
constant condition; a SequenceMap. And the errors: a run-time condition or
trip count names its input, an unsupported op inside a body is reported up
front with its path, and a loop that never ends stops at the unroll limit.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError, UnsupportedOpError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, run_onnxruntime, value_info
from compiler.testing.onnx_node_cases import execute_module

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
_rng = np.random.default_rng(4)


def _randn(*shape) -> np.ndarray:
    return _rng.standard_normal(shape).astype(np.float32)


_model = partial(make_model, opset=17, ir_version=8)


def _check(model, feeds, **kw):
    module = import_onnx(model, **kw)
    for got, want in zip(execute_module(module, feeds), run_onnxruntime(model, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    return module


def _loop_body():
    """acc <- acc * 0.5 + w * i (w from the outer scope); scan output: acc."""
    nodes = [helper.make_node("Cast", ["i"], ["fi"], to=F),
             helper.make_node("Mul", ["w", "fi"], ["wi"]),
             helper.make_node("Mul", ["acc", "half"], ["h"]),
             helper.make_node("Add", ["h", "wi"], ["acc_out"]),
             helper.make_node("Identity", ["acc_out"], ["scan"]),
             helper.make_node("Identity", ["cond"], ["cond_out"])]
    return helper.make_graph(nodes, "body", [value_info("i", [], I64), value_info("cond", [], B),
                                             value_info("acc", [3])],
                             [value_info("cond_out", [], B), value_info("acc_out", [3]),
                              value_info("scan", [3])],
                             [helper.make_tensor("half", F, [], [0.5])])


def test_loop_with_outer_scope_and_scan_outputs_matches_onnxruntime() -> None:
    node = helper.make_node("Loop", ["trips", "", "acc0"], ["acc", "history"], body=_loop_body())
    model = _model([node], [value_info("acc0", [3]), value_info("w", [3])],
                   [value_info("acc", None), value_info("history", None)],
                   [helper.make_tensor("trips", I64, [], [4])])
    module = _check(model, {"acc0": _randn(3), "w": _randn(3)})
    assert "Loop" not in {op.name for op in module.ops}


def test_loop_with_a_run_time_trip_count_names_the_input() -> None:
    node = helper.make_node("Loop", ["trips", "", "acc0"], ["acc", "history"], body=_loop_body())
    model = _model([node],
                   [value_info("trips", [], I64), value_info("acc0", [3]), value_info("w", [3])],
                   [value_info("acc", None), value_info("history", None)])
    with pytest.raises(CompileError, match=r"trip count \(input 0\) must be known"):
        import_onnx(model)


def test_a_loop_without_an_exit_stops_at_the_unroll_limit(monkeypatch) -> None:
    from compiler.frontend.onnx_ops import control
    monkeypatch.setattr(control, "MAX_UNROLL", 50)
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"])], "body",
                             [value_info("i", [], I64), value_info("c", [], B)],
                             [value_info("c_out", [], B)])
    node = helper.make_node("Loop", ["", "true"], [], body=body)
    model = _model([node, helper.make_node("Identity", ["x"], ["y"])], [value_info("x", [1])],
                   [value_info("y", None)], [helper.make_tensor("true", B, [], [True])])
    with pytest.raises(CompileError, match="more than 50 iterations"):
        import_onnx(model)


def test_scan_in_both_directions_matches_onnxruntime() -> None:
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "a"], ["s_out"]),
         helper.make_node("Mul", ["s_out", "b"], ["y"])], "body",
        [value_info("s", [2]), value_info("a", [2]), value_info("b", [2])],
        [value_info("s_out", [2]), value_info("y", [2])])
    node = helper.make_node("Scan", ["s0", "xa", "xb"], ["s", "ys"], body=body,
                            num_scan_inputs=2, scan_input_axes=[0, 1],
                            scan_input_directions=[0, 1], scan_output_axes=[1],
                            scan_output_directions=[1])
    model = _model([node],
                   [value_info("s0", [2]), value_info("xa", [4, 2]), value_info("xb", [2, 4])],
                   [value_info("s", None), value_info("ys", None)])
    _check(model, {"s0": _randn(2), "xa": _randn(4, 2), "xb": _randn(2, 4)})


def test_if_imports_the_branch_a_constant_condition_takes() -> None:
    def branch(name, op):
        return helper.make_graph([helper.make_node(op, ["x"], ["y"])], name, [],
                                 [value_info("y", [3])])

    node = helper.make_node("If", ["c"], ["y"], then_branch=branch("then", "Relu"),
                            else_branch=branch("else", "Neg"))
    model = _model([node], [value_info("c", [], B), value_info("x", [3])], [value_info("y", None)])
    with pytest.raises(CompileError, match=r"condition \(input 0\) must be known"):
        import_onnx(model)
    x = _randn(3)
    for cond in (True, False):
        module = import_onnx(model, constant_inputs={"c": np.array(cond)})
        assert [op.name for op in module.ops] == ["nn.relu" if cond else "math.neg"]
        np.testing.assert_array_equal(execute_module(module, {"x": x})[0],
                                      np.maximum(x, 0) if cond else -x)


def test_sequence_map_applies_its_body_per_element() -> None:
    body = helper.make_graph([helper.make_node("Add", ["e", "t"], ["o"]),
                              helper.make_node("Shape", ["e"], ["shp"])], "body",
                             [value_info("e", ["N"]), value_info("t", [1])],
                             [value_info("o", ["N"]), value_info("shp", [1], I64)])
    nodes = [helper.make_node("SequenceConstruct", ["a", "b"], ["s"]),
             helper.make_node("SequenceMap", ["s", "t"], ["os", "shapes"], body=body),
             helper.make_node("ConcatFromSequence", ["os"], ["y"], axis=0),
             helper.make_node("ConcatFromSequence", ["shapes"], ["n"], axis=0)]
    model = _model(nodes, [value_info("a", [2]), value_info("b", [3]), value_info("t", [1])],
                   [value_info("y", None), value_info("n", None, I64)])
    _check(model, {"a": _randn(2), "b": _randn(3), "t": _randn(1)})


def test_unsupported_ops_inside_a_body_are_reported_up_front() -> None:
    body = helper.make_graph([helper.make_node("Unique", ["x"], ["y"])], "body", [],
                             [value_info("y", None)])
    node = helper.make_node("If", ["c"], ["y"], name="branchy", then_branch=body,
                            else_branch=body)
    model = _model([node], [value_info("c", [], B), value_info("x", [3])], [value_info("y", None)])
    with pytest.raises(UnsupportedOpError, match="Unique.*branchy/Unique_0"):
        import_onnx(model)
