"""ONNX tensor, indexing and data-movement ops: converter tests beyond the node suite.

ONNX tensor, indexing and data-movement ops: the node suite and converters.

The other tests build small models for what the suite does not reach: old
opsets, Constant's attribute forms, symbolic dims, onnxruntime agreement for
Resize-10, and the errors a user gets.

The node suite itself runs in `test_onnx_node_suite.py`; its expected
failures are listed in `expected_failures.txt`.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, run_onnxruntime, value_info
from compiler.testing.onnx_node_cases import execute_module

# -- small models ----------------------------------------------------------------------

F, I64 = TensorProto.FLOAT, TensorProto.INT64


# IR 8: readable by the installed onnxruntime
_model = partial(make_model, opset=17, ir_version=8)


def _run(model, feeds, **kw):
    module = import_onnx(model, **kw)
    return module, execute_module(module, feeds)


def _import_error(model, **kw) -> CompileError:
    with pytest.raises(CompileError) as e:
        import_onnx(model, **kw)
    return e.value


def test_constant_attribute_forms() -> None:
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("v", F, [2], [5.0, 7.0]),
        helper.make_tensor("i", I64, [2], [1, 5]), [2, 3])
    nodes = [helper.make_node("Constant", [], ["a"], value_float=1.5),
             helper.make_node("Constant", [], ["b"], value_ints=[3, -1]),
             helper.make_node("Constant", [], ["c"], value_int=4),
             helper.make_node("Constant", [], ["d"], sparse_value=sparse)]
    model = _model(nodes, [], [value_info("a", []), value_info("b", [2], I64),
                               value_info("c", [], I64), value_info("d", [2, 3])])
    module = import_onnx(model)
    a, b, c, d = module.outputs.values()
    assert a.type.shape == () and a.data.dtype == np.float32 and a.data == 1.5
    assert b.data.tolist() == [3, -1] and c.data.shape == () and c.data == 4
    assert d.data.tolist() == [[0, 5, 0], [0, 0, 7]]


def test_old_opsets_take_attributes() -> None:
    nodes = [helper.make_node("Slice", ["x"], ["s"], starts=[1], ends=[3], axes=[1]),
             helper.make_node("Pad", ["x"], ["p"], pads=[0, 1, 0, 1], value=9.0),
             helper.make_node("Split", ["x"], ["a", "b"], axis=1, split=[1, 3]),
             helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0]),
             helper.make_node("Squeeze", ["u"], ["q"], axes=[0]),
             helper.make_node("TopK", ["x"], ["tv", "ti"], k=2)]
    outs = [value_info(n, None) for n in ("s", "p", "a", "b", "u", "q", "tv")]
    outs.append(value_info("ti", None, I64))
    model = _model(nodes, [value_info("x", [2, 4])], outs, opset=9)
    x = np.array([[4, 1, 3, 2], [0, 5, 5, 1]], np.float32)
    _, (s, p, a, b, u, q, tv, ti) = _run(model, {"x": x})
    np.testing.assert_array_equal(s, x[:, 1:3])
    np.testing.assert_array_equal(p, [[9, 4, 1, 3, 2, 9], [9, 0, 5, 5, 1, 9]])
    np.testing.assert_array_equal(a, x[:, :1])
    np.testing.assert_array_equal(b, x[:, 1:])
    assert u.shape == (1, 2, 4) and q.shape == (2, 4)
    assert tv.tolist() == [[4, 3], [5, 5]] and ti.tolist() == [[0, 2], [1, 2]]


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [[1, 1, 2, 3], [1, 1, 0.6, 0.5], [1, 1, 0.6, 1.7]])
def test_resize_opset10_matches_onnxruntime(mode, scales) -> None:
    model = _model([helper.make_node("Resize", ["x", "s"], ["y"], mode=mode)],
                   [value_info("x", [1, 2, 5, 7])], [value_info("y", None)],
                   [numpy_helper.from_array(np.array(scales, np.float32), "s")], opset=10)
    x = np.random.default_rng(3).standard_normal((1, 2, 5, 7)).astype(np.float32)
    _, (y,) = _run(model, {"x": x})
    (want,) = run_onnxruntime(model, {"x": x})
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_resize_keeps_a_symbolic_batch() -> None:
    model = _model([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="linear")],
                   [value_info("x", ["N", 3, 4, 4])], [value_info("y", ["N", 3, 8, 6])],
                   [numpy_helper.from_array(np.array([1, 1, 2, 1.5], np.float32), "s")])
    module = import_onnx(model)
    assert module.outputs["y"].type.shape == ("N", 3, 8, 6)
    x = np.random.default_rng(4).standard_normal((2, 3, 4, 4)).astype(np.float32)
    (y,) = execute_module(module, {"x": x})
    (want,) = run_onnxruntime(model, {"x": x})
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_symbolic_dims_through_gather_split_and_topk() -> None:
    nodes = [helper.make_node("Gather", ["x", "idx"], ["g"], axis=1),
             helper.make_node("Split", ["g"], ["a", "b"], axis=1),
             helper.make_node("TopK", ["b", "k"], ["v", "i"], axis=1),
             helper.make_node("ArgMax", ["a"], ["m"], axis=1, keepdims=0)]
    model = _model(nodes, [value_info("x", ["N", 5])],
                   [value_info("v", ["N", 1]), value_info("i", ["N", 1], I64),
                    value_info("m", ["N"], I64)],
                   [numpy_helper.from_array(np.array([4, 0, 2, 1], np.int64), "idx"),
                    numpy_helper.from_array(np.array([1], np.int64), "k")])
    module = import_onnx(model)
    assert [v.type.shape for v in module.outputs.values()] == [("N", 1), ("N", 1), ("N",)]
    x = np.array([[0, 1, 2, 3, 4], [9, 8, 7, 6, 5], [1, 1, 1, 1, 1]], np.float32)
    v, i, m = execute_module(module, {"x": x})
    g = x[:, [4, 0, 2, 1]]
    assert v.ravel().tolist() == g[:, 2:].max(axis=1).tolist()
    assert i.ravel().tolist() == [0, 1, 0]
    assert m.tolist() == [0, 1, 0]


def test_eye_like_and_reverse_sequence() -> None:
    nodes = [helper.make_node("EyeLike", ["x"], ["e"], k=-1, dtype=TensorProto.INT32),
             helper.make_node("ReverseSequence", ["x", "lens"], ["r"], batch_axis=0,
                              time_axis=1)]
    model = _model(nodes, [value_info("x", [2, 3]), value_info("lens", [2], I64)],
                   [value_info("e", [2, 3], TensorProto.INT32), value_info("r", [2, 3])], opset=10)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    _, (e, r) = _run(model, {"x": x, "lens": np.array([2, 3], np.int64)})
    assert e.dtype == np.int32 and e.tolist() == [[0, 0, 0], [1, 0, 0]]
    assert r.tolist() == [[1, 0, 2], [5, 4, 3]]


def test_errors_name_the_node_and_the_problem() -> None:
    pad = _model([helper.make_node("Pad", ["x", "p"], ["y"], mode="mirror", name="pad1")],
                 [value_info("x", [3])], [value_info("y", [5])],
                 [numpy_helper.from_array(np.array([1, 1], np.int64), "p")], opset=13)
    assert "pad1: Pad: mode 'mirror' is not supported" in str(_import_error(pad))

    shape = _model([helper.make_node("Reshape", ["x", "s"], ["y"])],
                   [value_info("x", [4]), value_info("s", [2], I64)], [value_info("y", [2, 2])])
    err = _import_error(shape)
    assert "the target shape (input 1) must be known at compile time" in str(err)

    split = _model([helper.make_node("Split", ["x"], ["a", "b"])],
                   [value_info("x", [5])], [value_info("a", None), value_info("b", None)], opset=13)
    assert "does not split into 2 equal parts" in str(_import_error(split))

    squeeze = _model([helper.make_node("Squeeze", ["x"], ["y"])],
                     [value_info("x", ["N", 1])], [value_info("y", None)], opset=13)
    err = _import_error(squeeze)
    assert "cannot tell whether a symbolic dim is 1" in str(err) and "--input-shape" in err.hint

    gather = _model([helper.make_node("Gather", ["x", "i"], ["y"])],
                    [value_info("x", [3]), value_info("i", [2])], [value_info("y", [2])])
    assert "indices must be an integer tensor" in str(_import_error(gather))
