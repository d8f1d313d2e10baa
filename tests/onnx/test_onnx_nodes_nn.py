"""ONNX neural-network ops: converter tests beyond the node suite.

ONNX conv, pooling, normalization, Gemm/MatMul, softmax, reduction and recurrent ops.

The other tests build small models for what the suite does not reach (1-D
and 3-D windows, MaxPool indices in 1-D, auto_pad variants, old opsets whose
semantics differ, symbolic batch sizes, the noop reductions) and the errors a
user gets; onnxruntime or a numpy formula written here is the reference.

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
from compiler.testing.onnx_builders import make_model, run_onnxruntime, tensor, value_info
from compiler.testing.onnx_node_cases import execute_module

# -- small models ----------------------------------------------------------------------

F = TensorProto.FLOAT
_rng = np.random.default_rng(7)


def _randn(*shape) -> np.ndarray:
    return _rng.standard_normal(shape).astype(np.float32)


# IR 8: what onnxruntime reads for every opset used here
_model = partial(make_model, opset=17, ir_version=8)


def _run(model, feeds, **kw):
    module = import_onnx(model, **kw)
    return module, execute_module(module, feeds)


def _ops(module) -> list[str]:
    return [op.name for op in module.ops]


def _single_node(op_type, x_shape, out_types=(F,), weights=(), opset=17, **attrs):
    """A model of one node over input x and constant `weights` (name, array) pairs."""
    outs = [f"y{i}" for i in range(len(out_types))]
    node = helper.make_node(op_type, ["x"] + [n for n, _ in weights], outs, **attrs)
    return _model([node], [value_info("x", x_shape)],
                  [value_info(o, None, t) for o, t in zip(outs, out_types)],
                  [tensor(n, a) for n, a in weights], opset=opset)


def _check_against_ort(model, feeds, rtol=1e-5, atol=1e-5):
    module, got = _run(model, feeds)
    want = run_onnxruntime(model, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return module


@pytest.mark.parametrize("attrs", [
    dict(strides=[2], pads=[1, 2], dilations=[2]),
    dict(auto_pad="SAME_LOWER", strides=[2]),
    dict(auto_pad="SAME_UPPER", group=2),
    dict(auto_pad="VALID", dilations=[3]),
])
def test_conv_1d_maps_onto_conv2d(attrs) -> None:
    groups = attrs.get("group", 1)
    w, b = _randn(4, 4 // groups, 3), _randn(4)
    model = _single_node("Conv", [2, 4, 11], weights=[("w", w), ("b", b)], **attrs)
    module = _check_against_ort(model, {"x": _randn(2, 4, 11)})
    assert "nn.conv2d" in _ops(module)


def test_conv_3d_with_pads_strides_and_bias() -> None:
    w, b = _randn(3, 2, 2, 3, 2), _randn(3)
    model = _single_node("Conv", [1, 2, 5, 6, 4], weights=[("w", w), ("b", b)],
                         strides=[2, 1, 2], pads=[1, 0, 1, 0, 2, 1], dilations=[1, 2, 1])
    module = _check_against_ort(model, {"x": _randn(1, 2, 5, 6, 4)})
    assert _ops(module) == ["nn.conv3d"]


def test_conv_symbolic_batch_binds_at_run_time() -> None:
    w = _randn(5, 3, 3, 3)
    model = _single_node("Conv", ["N", 3, 8, 8], weights=[("w", w)], pads=[1, 1, 1, 1],
                         strides=[2, 2])
    module = import_onnx(model)
    assert module.inputs[0].type.shape[0] == "N"
    for n in (1, 3):
        x = _randn(n, 3, 8, 8)
        (got,) = execute_module(module, {"x": x})
        np.testing.assert_allclose(got, run_onnxruntime(model, {"x": x})[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs,x_shape", [
    (dict(strides=[3], output_padding=[2], pads=[1, 0]), [1, 2, 4]),
    (dict(output_shape=[10, 9], strides=[3, 2], auto_pad="SAME_LOWER"), [1, 2, 3, 4]),
    (dict(auto_pad="SAME_UPPER", strides=[2, 2], group=2, dilations=[1, 2]), [2, 4, 3, 3]),
    (dict(strides=[2, 1, 2], pads=[1, 0, 0, 0, 1, 1]), [1, 2, 3, 2, 3]),
])
def test_conv_transpose_variants(attrs, x_shape) -> None:
    nd = len(x_shape) - 2
    groups = attrs.get("group", 1)
    w = _randn(x_shape[1], 3, *([2] * (nd - 1) + [3]))
    model = _single_node("ConvTranspose", x_shape, weights=[("w", w), ("b", _randn(3 * groups))],
                         **attrs)
    _check_against_ort(model, {"x": _randn(*x_shape)})


@pytest.mark.parametrize("op_type,attrs", [
    ("MaxPool", dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    ("MaxPool", dict(kernel_shape=[3], auto_pad="SAME_UPPER", strides=[2])),
    ("AveragePool", dict(kernel_shape=[3], strides=[2], pads=[1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3], strides=[2], ceil_mode=1)),
    ("LpPool", dict(kernel_shape=[2], strides=[2], p=3)),
])
def test_pool_1d(op_type, attrs) -> None:
    model = _single_node(op_type, [2, 3, 9], **attrs)
    module = _check_against_ort(model, {"x": _randn(2, 3, 9)})
    assert module.ops[0].name == "tensor.reshape"


@pytest.mark.parametrize("auto_pad,pads", [("SAME_UPPER", [1, 2]), ("SAME_LOWER", [2, 1])])
def test_same_padding_counts_the_dilated_window(auto_pad, pads) -> None:
    """As the ONNX spec says, SAME pads for the dilated extent (here 5, stride 2: total
    padding 3, the odd one at the end for SAME_UPPER, at the beginning for SAME_LOWER) and
    the output size is ceil(size / stride). onnxruntime pads for the undilated kernel
    instead, so it is run on the explicit pads."""
    model = _single_node("MaxPool", [2, 3, 10], kernel_shape=[3], auto_pad=auto_pad,
                         dilations=[2], strides=[2])
    explicit = _single_node("MaxPool", [2, 3, 10], kernel_shape=[3], pads=pads,
                            dilations=[2], strides=[2])
    x = _randn(2, 3, 10)
    _, (got,) = _run(model, {"x": x})
    (want,) = run_onnxruntime(explicit, {"x": x})
    assert got.shape == (2, 3, 5)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("x_shape,attrs", [
    ([2, 3, 9], dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    ([1, 2, 6, 5], dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1],
                        storage_order=1)),
    ([1, 2, 4, 5, 4], dict(kernel_shape=[2, 2, 2], strides=[2, 1, 2])),
])
def test_maxpool_indices(x_shape, attrs) -> None:
    model = _single_node("MaxPool", x_shape, out_types=(F, TensorProto.INT64), **attrs)
    module = _check_against_ort(model, {"x": _randn(*x_shape)})
    assert any(name.endswith("_indices") for name in _ops(module))


@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_softmax_family_before_opset13_coerces_to_2d(op_type, axis) -> None:
    model = _single_node(op_type, [2, 3, 4], opset=11, axis=axis)
    x = _randn(2, 3, 4)
    x[0, 0, :2] = 5.0  # a tie for Hardmax: the first one wins
    _check_against_ort(model, {"x": x})


def test_softmax_opset11_default_axis_with_symbolic_batch() -> None:
    model = _single_node("Softmax", ["N", 3, 4], opset=11)
    module = import_onnx(model)
    x = _randn(5, 3, 4)
    (got,) = execute_module(module, {"x": x})
    rows = x.reshape(5, 12).astype(np.float64)
    want = np.exp(rows) / np.exp(rows).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, want.reshape(5, 3, 4), rtol=1e-5)


def test_softmax_opset11_over_two_symbolic_sizes() -> None:
    # axis 2 of [B, S, 4, 3]: rows of [B*S, 12], reshaped back with B and S read from x
    model = _single_node("Softmax", ["B", "S", 4, 3], opset=11, axis=2)
    module = import_onnx(model)
    assert module.outputs[next(iter(module.outputs))].type.shape == ("B", "S", 4, 3)
    for b, s in ((2, 3), (1, 5)):
        x = _randn(b, s, 4, 3)
        (got,) = execute_module(module, {"x": x})
        rows = x.reshape(b * s, 12).astype(np.float64)
        want = np.exp(rows) / np.exp(rows).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(got, want.reshape(b, s, 4, 3), rtol=1e-5)


def test_reduce_axes_attribute_before_opset18() -> None:
    model = _model([helper.make_node("ReduceSum", ["x"], ["s"], axes=[0, 2], keepdims=0),
                    helper.make_node("ReduceL2", ["x"], ["l"], axes=[-1]),
                    helper.make_node("ReduceMax", ["x"], ["m"])],
                   [value_info("x", [2, 3, 4])],
                   [value_info("s", None), value_info("l", None), value_info("m", None)], opset=11)
    x = _randn(2, 3, 4)
    _, (s, l2, m) = _run(model, {"x": x})
    xd = x.astype(np.float64)
    np.testing.assert_allclose(s, xd.sum(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(l2, np.sqrt((xd ** 2).sum(axis=-1, keepdims=True)), rtol=1e-5)
    np.testing.assert_array_equal(m, x.max().reshape(1, 1, 1))


@pytest.mark.parametrize("op_type,elementwise", [
    ("ReduceL1", np.abs), ("ReduceL2", np.abs), ("ReduceSumSquare", np.square),
    ("ReduceLogSum", np.log), ("ReduceLogSumExp", lambda v: v), ("ReduceProd", lambda v: v),
])
def test_noop_with_empty_axes_applies_the_function_per_element(op_type, elementwise) -> None:
    model = _model([helper.make_node(op_type, ["x"], ["y"], noop_with_empty_axes=1)],
                   [value_info("x", ["N", 3])], [value_info("y", None)], opset=18)
    x = np.abs(_randn(4, 3)) + 0.1
    if op_type != "ReduceLogSum":
        x[0] *= -1
    module, (y,) = _run(model, {"x": x})
    np.testing.assert_allclose(y, elementwise(x.astype(np.float64)), rtol=1e-6)
    assert y.shape == (4, 3)


def test_reduce_sum_opset13_axes_input_from_an_initializer() -> None:
    model = _model([helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)],
                   [value_info("x", [2, 3, 4])], [value_info("y", None)],
                   [tensor("axes", np.array([1], np.int64))], opset=13)
    x = _randn(2, 3, 4)
    module, (y,) = _run(model, {"x": x})
    assert _ops(module) == ["math.reduce_sum"]
    np.testing.assert_allclose(y, x.astype(np.float64).sum(axis=1), rtol=1e-5)


def test_gemm_transposes_alpha_beta_and_vector_bias() -> None:
    a, b, c = _randn(4, 3), _randn(5, 4), _randn(5)
    model = _model([helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=1, transB=1,
                                     alpha=0.5, beta=-2.0)],
                   [value_info("a", [4, 3])], [value_info("y", None)],
                   [tensor("b", b), tensor("c", c)], opset=11)
    _, (y,) = _run(model, {"a": a})
    want = 0.5 * a.T.astype(np.float64) @ b.T.astype(np.float64) - 2.0 * c
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


def test_gemm_integer_inputs() -> None:
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    model = _model([helper.make_node("Gemm", ["a", "b"], ["y"], alpha=2.0)],
                   [value_info("a", [2, 3], TensorProto.INT32),
                    value_info("b", [3, 4], TensorProto.INT32)],
                   [value_info("y", None, TensorProto.INT32)], opset=13)
    _, (y,) = _run(model, {"a": a, "b": b})
    assert y.dtype == np.int32
    assert y.tolist() == (2 * a.astype(np.int64) @ b).tolist()


def test_batchnorm_old_opset_per_activation_statistics() -> None:
    """Opset 7 with spatial=0 gives statistics per (channel, position)."""
    stats = [_randn(3, 4), _randn(3, 4), _randn(3, 4), np.abs(_randn(3, 4)) + 0.5]
    names = ["s", "b", "m", "v"]
    model = _model([helper.make_node("BatchNormalization", ["x"] + names, ["y"], spatial=0,
                                     epsilon=1e-3)],
                   [value_info("x", [2, 3, 4])], [value_info("y", None)],
                   [tensor(n, a) for n, a in zip(names, stats)], opset=7)
    x = _randn(2, 3, 4)
    _, (y,) = _run(model, {"x": x})
    s, b, m, v = (a.astype(np.float64) for a in stats)
    np.testing.assert_allclose(y, (x - m) / np.sqrt(v + 1e-3) * s + b, rtol=1e-5, atol=1e-6)


def test_instance_normalization_against_onnxruntime() -> None:
    model = _single_node("InstanceNormalization", [2, 3, 4, 5],
                         weights=[("s", _randn(3)), ("b", _randn(3))], epsilon=1e-3)
    _check_against_ort(model, {"x": _randn(2, 3, 4, 5)})


def test_group_normalization_opset18_scales_per_group() -> None:
    scale, bias = _randn(2), _randn(2)
    model = _single_node("GroupNormalization", [2, 6, 3],
                         weights=[("s", scale), ("b", bias)], opset=18, num_groups=2)
    x = _randn(2, 6, 3)
    module, (y,) = _run(model, {"x": x})
    assert _ops(module) == ["nn.groupnorm"]  # the per-channel scale and bias folded
    g = x.astype(np.float64).reshape(2, 2, 9)
    norm = (g - g.mean(axis=2, keepdims=True)) / np.sqrt(g.var(axis=2, keepdims=True) + 1e-5)
    want = norm * scale[None, :, None] + bias[None, :, None]
    np.testing.assert_allclose(y, want.reshape(2, 6, 3), rtol=1e-5, atol=1e-5)


def test_layer_normalization_f16_statistics_are_f32() -> None:
    model = _model([helper.make_node("LayerNormalization", ["x", "s"], ["y", "mean", "inv"],
                                     axis=1)],
                   [value_info("x", [3, 4], TensorProto.FLOAT16)],
                   [value_info("y", None, TensorProto.FLOAT16), value_info("mean", None),
                    value_info("inv", None)],
                   [tensor("s", np.ones(4, np.float16))])
    x = _randn(3, 4).astype(np.float16)
    _, (y, mean, inv) = _run(model, {"x": x})
    assert y.dtype == np.float16 and mean.dtype == np.float32 and inv.dtype == np.float32
    xd = x.astype(np.float64)
    np.testing.assert_allclose(mean, xd.mean(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(inv, 1 / np.sqrt(xd.var(axis=1, keepdims=True) + 1e-5),
                               rtol=1e-4)


def test_lrn_and_global_pools_against_onnxruntime() -> None:
    x = _randn(2, 7, 3, 3)
    _check_against_ort(_single_node("LRN", [2, 7, 3, 3], size=5, alpha=0.02, beta=0.6,
                                    bias=1.5), {"x": x})
    _check_against_ort(_single_node("GlobalMaxPool", [2, 7, 3, 3]), {"x": x})
    _check_against_ort(_single_node("GlobalAveragePool", [2, 7, 3, 3]), {"x": x})


# -- errors --------------------------------------------------------------------------

def test_batchnorm_training_mode_is_a_clear_error() -> None:
    names = ["s", "b", "m", "v"]
    model = _model([helper.make_node("BatchNormalization", ["x"] + names, ["y", "rm", "rv"],
                                     training_mode=1)],
                   [value_info("x", [2, 3])], [value_info("y", None)],
                   [tensor(n, np.ones(3, np.float32)) for n in names], opset=15)
    with pytest.raises(CompileError, match="training mode") as err:
        import_onnx(model)
    assert "eval" in (err.value.hint or "")


def test_bad_auto_pad_is_a_clear_error() -> None:
    model = _single_node("MaxPool", [1, 1, 4, 4], kernel_shape=[2, 2], auto_pad="SAME_MIDDLE")
    with pytest.raises(CompileError, match="auto_pad='SAME_MIDDLE'"):
        import_onnx(model)


def test_same_padding_over_symbolic_sizes_asks_for_input_shape() -> None:
    w = _randn(2, 1, 3, 3)
    model = _single_node("Conv", [1, 1, "H", "W"], weights=[("w", w)], auto_pad="SAME_UPPER")
    with pytest.raises(CompileError, match="known at compile time") as err:
        import_onnx(model)
    assert "--input-shape" in (err.value.hint or "")
    module = import_onnx(model, input_shapes={"x": [1, 1, 5, 6]})
    assert module.ops[0].results[0].type.shape == (1, 2, 5, 6)
