"""ONNX elementwise ops: converter tests beyond the node suite.

ONNX elementwise, activation, comparison, logic and cast ops: the node suite and converters.

The other tests build small models for what the suite does not reach: old
opsets, runtime Clip bounds, mixed-dtype Pow, variadic ops over three inputs,
symbolic dims, and the errors a user gets for unsupported attribute values.

The node suite itself runs in `test_onnx_node_suite.py`; its expected
failures are listed in `expected_failures.txt`.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, value_info
from compiler.testing.onnx_node_cases import execute_module

# -- small models ----------------------------------------------------------------------

# the installed onnx's IR version
_model = partial(make_model, opset=17, ir_version=None)


def _run(model, feeds, **kw):
    module = import_onnx(model, **kw)
    return module, execute_module(module, feeds)


def _ops(module) -> list[str]:
    return [op.name for op in module.ops]


F = TensorProto.FLOAT


def test_clip_runtime_min_and_constant_max() -> None:
    model = _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                   [value_info("x", [5]), value_info("lo", [])], [value_info("y", [5])],
                   [helper.make_tensor("hi", F, [], [1.5])])
    x = np.array([-3, -1, 0, 1, 3], np.float32)
    module, (y,) = _run(model, {"x": x, "lo": np.array(-0.5, np.float32)})
    assert _ops(module) == ["math.max", "math.clip"]
    np.testing.assert_array_equal(y, [-0.5, -0.5, 0, 1, 1.5])


def test_clip_constant_min_and_runtime_max_keeps_max_winning() -> None:
    model = _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                   [value_info("x", [3]), value_info("hi", [])], [value_info("y", [3])],
                   [helper.make_tensor("lo", F, [], [2.0])])
    module, (y,) = _run(model, {"x": np.array([-1, 5, 9], np.float32),
                                "hi": np.array(1.0, np.float32)})
    assert _ops(module) == ["math.clip", "math.min"]
    np.testing.assert_array_equal(y, [1, 1, 1])  # min > max: everything becomes max


def test_clip_int64_bound_that_a_float_cannot_hold_stays_exact() -> None:
    big = 2**62 + 1
    model = _model([helper.make_node("Clip", ["x", "", "hi"], ["y"])],
                   [value_info("x", [3], TensorProto.INT64)],
                   [value_info("y", [3], TensorProto.INT64)],
                   [helper.make_tensor("hi", TensorProto.INT64, [], [big])])
    x = np.array([2**62 + 5, big, -7], np.int64)
    module, (y,) = _run(model, {"x": x})
    assert _ops(module) == ["math.min"]
    assert y.tolist() == [big, big, -7]


def test_clip_opset6_attributes_and_float32_range_defaults() -> None:
    model = _model([helper.make_node("Clip", ["x"], ["y"], min=-1.0),
                    helper.make_node("Clip", ["x"], ["z"])],
                   [value_info("x", [3])], [value_info("y", [3]), value_info("z", [3])], opset=6)
    x = np.array([-np.inf, 0.5, np.inf], np.float32)
    _, (y, z) = _run(model, {"x": x})
    fmax = np.finfo(np.float32).max
    np.testing.assert_array_equal(y, [-1, 0.5, fmax])
    np.testing.assert_array_equal(z, [-fmax, 0.5, fmax])


def test_pow_integer_base_float_exponent_keeps_the_base_dtype() -> None:
    model = _model([helper.make_node("Pow", ["x", "e"], ["y"])],
                   [value_info("x", [4], TensorProto.INT32), value_info("e", [4])],
                   [value_info("y", [4], TensorProto.INT32)])
    _, (y,) = _run(model, {"x": np.array([4, 9, 2, 3], np.int32),
                           "e": np.array([0.5, 0.5, 3, 1.5], np.float32)})
    assert y.dtype == np.int32
    assert y.tolist() == [2, 3, 8, 5]  # 3 ** 1.5 = 5.196... truncates


@pytest.mark.parametrize("op,want", [
    ("Max", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
    ("Min", lambda a, b, c: np.minimum(np.minimum(a, b), c)),
    ("Sum", lambda a, b, c: a + b + c),
    ("Mean", lambda a, b, c: (a + b + c) / 3),
])
def test_variadic_ops_broadcast_three_inputs(op, want) -> None:
    model = _model([helper.make_node(op, ["a", "b", "c"], ["y"])],
                   [value_info("a", [2, 1, 3]), value_info("b", [4, 1]), value_info("c", [3])],
                   [value_info("y", [2, 4, 3])])
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ([2, 1, 3], [4, 1], [3]))
    _, (y,) = _run(model, {"a": a, "b": b, "c": c})
    assert y.shape == (2, 4, 3)
    np.testing.assert_allclose(y, want(a.astype(np.float64), b, c), rtol=1e-6)


def test_sum_of_one_input_is_that_input() -> None:
    model = _model([helper.make_node("Sum", ["a"], ["y"])], [value_info("a", [2])],
                   [value_info("y", [2])])
    module, (y,) = _run(model, {"a": np.array([1, 2], np.float32)})
    assert _ops(module) == []
    np.testing.assert_array_equal(y, [1, 2])


def test_cast_opset1_names_the_type() -> None:
    model = _model([helper.make_node("Cast", ["x"], ["y"], to="INT32")],
                   [value_info("x", [3])], [value_info("y", [3], TensorProto.INT32)], opset=1)
    _, (y,) = _run(model, {"x": np.array([-1.7, 0.2, 2.9], np.float32)})
    assert y.dtype == np.int32 and y.tolist() == [-1, 0, 2]


def test_cast_to_bool_and_castlike_to_uint8() -> None:
    model = _model([helper.make_node("Cast", ["x"], ["b"], to=TensorProto.BOOL),
                    helper.make_node("CastLike", ["x", "like"], ["u"])],
                   [value_info("x", [3]), value_info("like", [1], TensorProto.UINT8)],
                   [value_info("b", [3], TensorProto.BOOL),
                    value_info("u", [3], TensorProto.UINT8)])
    _, (b, u) = _run(model, {"x": np.array([0, -0.0, 7.9], np.float32),
                             "like": np.zeros(1, np.uint8)})
    assert b.tolist() == [False, False, True]
    assert u.dtype == np.uint8 and u.tolist() == [0, 0, 7]


def test_symbolic_batch_broadcasts_through() -> None:
    model = _model([helper.make_node("Add", ["x", "b"], ["s"]),
                    helper.make_node("Greater", ["s", "b"], ["y"])],
                   [value_info("x", ["N", 3]), value_info("b", [3])],
                   [value_info("y", ["N", 3], TensorProto.BOOL)])
    module = import_onnx(model)
    assert module.outputs["y"].type.shape == ("N", 3)
    x = np.array([[1, -1, 0], [0, 0, 2], [-5, 5, 0]], np.float32)
    (y,) = execute_module(module, {"x": x, "b": np.ones(3, np.float32)})
    assert y.tolist() == (x > 0).tolist()


def test_dropout_opset7_mask_has_the_input_dtype() -> None:
    model = _model([helper.make_node("Dropout", ["x"], ["y", "m"], ratio=0.3)],
                   [value_info("x", [2, 2])], [value_info("y", [2, 2]), value_info("m", [2, 2])],
                   opset=7)
    x = np.array([[1, 2], [3, 4]], np.float32)
    _, (y, m) = _run(model, {"x": x})
    np.testing.assert_array_equal(y, x)
    assert m.dtype == np.float32 and m.tolist() == [[1, 1], [1, 1]]


def test_dropout_constant_training_mode_false_is_identity() -> None:
    model = _model([helper.make_node("Dropout", ["x", "r", "t"], ["y", "m"])],
                   [value_info("x", [3])],
                   [value_info("y", [3]), value_info("m", [3], TensorProto.BOOL)],
                   [helper.make_tensor("r", F, [], [0.5]),
                    helper.make_tensor("t", TensorProto.BOOL, [], [False])], opset=13)
    _, (y, m) = _run(model, {"x": np.array([1, 2, 3], np.float32)})
    assert y.tolist() == [1, 2, 3] and m.tolist() == [True, True, True]


def _import_error(model, **kw) -> str:
    with pytest.raises(CompileError) as e:
        import_onnx(model, **kw)
    return str(e.value)


def test_errors_name_the_node_and_the_problem() -> None:
    training = _model([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop1")],
                      [value_info("x", [3])], [value_info("y", [3])],
                      [helper.make_tensor("r", F, [], [0.5]),
                       helper.make_tensor("t", TensorProto.BOOL, [], [True])], opset=13)
    assert "drop1: Dropout: training-mode dropout" in _import_error(training)

    bf16 = _model([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.BFLOAT16)],
                  [value_info("x", [3])], [value_info("y", [3], TensorProto.BFLOAT16)])
    assert "casting to BFLOAT16 is not supported" in _import_error(bf16)

    gelu = _model([helper.make_node("Gelu", ["x"], ["y"], approximate="sigmoid")],
                  [value_info("x", [3])], [value_info("y", [3])], opset=20)
    assert "'approximate' must be 'none' or 'tanh'" in _import_error(gelu)

    legacy = _model([helper.make_node("Add", ["a", "b"], ["y"], broadcast=1, axis=1)],
                    [value_info("a", [2, 3, 4]), value_info("b", [3, 4, 5])],
                    [value_info("y", [2, 3, 4])], opset=6)
    assert "legacy broadcast: b of rank 3 does not fit at axis 1" in _import_error(legacy)

    mask = _model([helper.make_node("Dropout", ["x"], ["y", "m"])],
                  [value_info("x", ["N", 3])],
                  [value_info("y", ["N", 3]), value_info("m", ["N", 3], TensorProto.BOOL)],
                  opset=13)
    assert "the mask output needs a static input shape" in _import_error(mask)

    bad_types = _model([helper.make_node("BitwiseAnd", ["a", "b"], ["y"])],
                       [value_info("a", [2]), value_info("b", [2])], [value_info("y", [2])],
                       opset=18)
    assert "expects an integer tensor" in _import_error(bad_types)


def test_cast_keeps_the_shape_value_of_a_symbolic_shape() -> None:
    # Shape -> Cast -> Cast -> Reshape, as exporters write it: the target stays [N, 3].
    model = _model([helper.make_node("Shape", ["x"], ["s"]),
                    helper.make_node("Cast", ["s"], ["s32"], to=TensorProto.INT32),
                    helper.make_node("Cast", ["s32"], ["s64"], to=TensorProto.INT64),
                    helper.make_node("Reshape", ["x", "s64"], ["y"])],
                   [value_info("x", ["N", 3])], [value_info("y", ["N", 3])])
    module = import_onnx(model)
    assert module.outputs["y"].type.shape == ("N", 3)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (y,) = execute_module(module, {"x": x})
    np.testing.assert_array_equal(y, x)


def test_legacy_axis_broadcast_and_per_channel_prelu_before_opset_7() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    add = _model([helper.make_node("Add", ["a", "b"], ["y"], broadcast=1, axis=1)],
                 [value_info("a", [2, 3, 4]), value_info("b", [3])], [value_info("y", [2, 3, 4])],
                 opset=6)
    (y,) = execute_module(import_onnx(add), {"a": a, "b": b})
    np.testing.assert_allclose(y, a + b[None, :, None], rtol=1e-6)

    prelu = _model([helper.make_node("PRelu", ["x", "s"], ["y"])],
                   [value_info("x", [2, 3, 4]), value_info("s", [3])], [value_info("y", [2, 3, 4])],
                   opset=6)
    (y,) = execute_module(import_onnx(prelu), {"x": a, "s": b})
    np.testing.assert_allclose(y, np.where(a > 0, a, a * b[None, :, None]), rtol=1e-6)
