"""ONNX ops imported as compositions of registry ops (Celu, SwiGLU, LpNormalization,
MeanVarianceNormalization, CenterCropPad, Upsample, AffineGrid, MaxUnpool), plus GridSample,
Col2Im, RoiAlign, DeformConv, CumProd and Det: converter tests beyond the node suite, against
onnxruntime (or onnx's reference evaluator, or formulas written here), and their errors."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, run_onnxruntime, tensor, value_info
from compiler.testing.onnx_node_cases import execute_module

F, I64 = TensorProto.FLOAT, TensorProto.INT64
_rng = np.random.default_rng(9)


def _randn(*shape) -> np.ndarray:
    return _rng.standard_normal(shape).astype(np.float32)


_model = partial(make_model, opset=20, ir_version=9)


def _check(model, feeds, rtol=1e-5, atol=1e-6):
    module = import_onnx(model)
    for got, want in zip(execute_module(module, feeds), run_onnxruntime(model, feeds)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return module


@pytest.mark.parametrize("node,shape,opset", [
    (helper.make_node("Celu", ["x"], ["y"], alpha=0.7), [2, 5], 13),
    (helper.make_node("LpNormalization", ["x"], ["y"], axis=0, p=1), [3, 4], 13),
    (helper.make_node("MeanVarianceNormalization", ["x"], ["y"], axes=[0, 1]), [3, 4, 2], 13),
    (helper.make_node("Upsample", ["x", "scales"], ["y"]), [1, 2, 2, 3], 9),
])
def test_compositions_match_onnxruntime(node, shape, opset) -> None:
    inits = [helper.make_tensor("scales", F, [4], [1, 1, 2, 3])] if node.op_type == "Upsample" \
        else []
    model = _model([node], [value_info("x", shape)], [value_info("y", None)], inits, opset=opset)
    x = _randn(*shape)
    if node.op_type == "LpNormalization":
        x[:, 1] = 0  # a zero column: its norm is 0 and its result 0
    _check(model, {"x": x})


def test_center_crop_pad_on_chosen_axes() -> None:
    node = helper.make_node("CenterCropPad", ["x", "shape"], ["y"], axes=[0, -1])
    model = _model([node], [value_info("x", [5, 3, 4])], [value_info("y", None)],
                   [tensor("shape", [2, 7], np.int64)], opset=18)
    module = _check(model, {"x": _randn(5, 3, 4)})
    assert [op.name for op in module.ops] == ["tensor.slice", "tensor.pad"]


def test_affine_grid_feeds_grid_sample() -> None:
    nodes = [helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=0),
             helper.make_node("GridSample", ["x", "grid"], ["y"], mode="cubic",
                              padding_mode="reflection")]
    model = _model(nodes, [value_info("theta", [2, 2, 3]), value_info("x", [2, 3, 5, 6])],
                   [value_info("grid", None), value_info("y", None)],
                   [tensor("size", [2, 3, 4, 7], np.int64)])
    theta = np.array([[[0.9, -0.2, 0.1], [0.3, 1.1, -0.2]], [[1.2, 0.1, 0.0], [0.0, 0.8, 0.3]]],
                     np.float32)
    _check(model, {"theta": theta, "x": _randn(2, 3, 5, 6)}, rtol=1e-4, atol=1e-5)


def test_max_unpool_places_the_maxima_maxpool_found() -> None:
    pool = helper.make_node("MaxPool", ["x"], ["p", "idx"], kernel_shape=[2, 2], strides=[2, 2])
    unpool = helper.make_node("MaxUnpool", ["p", "idx"], ["y"], kernel_shape=[2, 2],
                              strides=[2, 2])
    model = _model([pool, unpool], [value_info("x", [1, 2, 4, 6])], [value_info("y", None)],
                   opset=11)
    _check(model, {"x": _randn(1, 2, 4, 6)})


def test_max_unpool_output_shape_pads_at_the_end_as_onnx_reference_does() -> None:
    """With output_shape, onnx's reference (and the node suite) reads the indices in the
    unpooled size the attributes give and pads the result at the end; onnxruntime reads them
    in output_shape's size instead. wsc follows the suite."""
    from onnx.reference import ReferenceEvaluator
    node = helper.make_node("MaxUnpool", ["p", "idx", "out_shape"], ["y"], kernel_shape=[2, 2],
                            strides=[2, 2])
    model = _model([node], [value_info("p", [1, 1, 2, 2]), value_info("idx", [1, 1, 2, 2], I64)],
                   [value_info("y", None)], [tensor("out_shape", [1, 1, 5, 6], np.int64)], opset=11)
    feeds = {"p": _randn(1, 1, 2, 2), "idx": np.array([[[[0, 3], [9, 15]]]], np.int64)}
    got = execute_module(import_onnx(model), feeds)[0]
    np.testing.assert_array_equal(got, ReferenceEvaluator(model).run(None, feeds)[0])


def test_col2im_matches_onnxruntime() -> None:
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], strides=[1, 2],
                            pads=[1, 0, 0, 1], dilations=[2, 1])
    model = _model([node], [value_info("x", [1, 6, 8])], [value_info("y", None)],
                   [tensor("image", [5, 7], np.int64), tensor("block", [3, 2], np.int64)], opset=18)
    _check(model, {"x": _randn(1, 6, 8)})


def test_cumprod_axis_must_be_known_and_det_matches_numpy() -> None:
    node = helper.make_node("CumProd", ["x", "axis"], ["y"])
    model = _model([node], [value_info("x", [3]), value_info("axis", [], I64)],
                   [value_info("y", None)], opset=26)
    with pytest.raises(CompileError, match=r"axis \(input 1\) must be known"):
        import_onnx(model)
    det = _model([helper.make_node("Det", ["x"], ["y"])], [value_info("x", [4, 3, 3])],
                 [value_info("y", None)])
    x = _randn(4, 3, 3)
    np.testing.assert_allclose(execute_module(import_onnx(det), {"x": x})[0],
                               np.linalg.det(x.astype(np.float64)), rtol=1e-4, atol=1e-5)


def test_swiglu_needs_equal_shapes() -> None:
    node = helper.make_node("SwiGLU", ["a", "b"], ["y"])
    model = _model([node], [value_info("a", [2, 3]), value_info("b", [1, 3])],
                   [value_info("y", None)], opset=28)
    with pytest.raises(CompileError, match="same shape"):
        import_onnx(model)


def test_roi_align_matches_onnxruntime() -> None:
    node = helper.make_node("RoiAlign", ["x", "rois", "idx"], ["y"], output_height=3,
                            output_width=2, spatial_scale=0.5, mode="avg")
    model = _model([node], [value_info("x", [2, 3, 8, 9]), value_info("rois", [3, 4]),
                            value_info("idx", [3], I64)], [value_info("y", None)], opset=16)
    feeds = {"x": _randn(2, 3, 8, 9),
             "rois": np.array([[1, 2, 10, 12], [0, 0, 17, 15], [4, 4, 6, 5]], np.float32),
             "idx": np.array([0, 1, 1], np.int64)}
    _check(model, feeds)


def test_deform_conv_with_mask_and_no_bias_matches_the_reference_evaluator() -> None:
    from onnx.reference import ReferenceEvaluator
    node = helper.make_node("DeformConv", ["x", "w", "off", "", "mask"], ["y"], pads=[1, 1, 1, 1])
    model = _model([node], [value_info("x", [1, 2, 4, 4]), value_info("w", [3, 2, 3, 3]),
                            value_info("off", [1, 18, 4, 4]), value_info("mask", [1, 9, 4, 4])],
                   [value_info("y", None)], opset=19)
    feeds = {"x": _randn(1, 2, 4, 4), "w": _randn(3, 2, 3, 3), "off": _randn(1, 18, 4, 4),
             "mask": _rng.random((1, 9, 4, 4)).astype(np.float32)}
    got = execute_module(import_onnx(model), feeds)[0]
    np.testing.assert_allclose(got, ReferenceEvaluator(model).run(None, feeds)[0], rtol=1e-4,
                               atol=1e-5)
