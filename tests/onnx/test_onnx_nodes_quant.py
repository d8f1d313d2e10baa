"""ONNX quantization ops (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear): converter
tests beyond the node suite: old opsets, the int32 bias path, a quantize-dequantize chain
against onnxruntime, the all-zero dynamic range, and the element-type errors."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_node_cases import execute_module

F = TensorProto.FLOAT
_rng = np.random.default_rng(3)


def _model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _vi(name, shape, elem_type=F):
    return helper.make_tensor_value_info(name, elem_type, shape)


def _init(name, array):
    return helper.make_tensor(name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape,
                              array.ravel().tolist())


def _ort(model, feeds):
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


@pytest.mark.parametrize("opset", [10, 13])
def test_quantize_dequantize_chain_matches_onnxruntime(opset) -> None:
    per_axis = opset >= 13
    scale = np.array([0.02, 0.05, 0.1], np.float32) if per_axis else np.array(0.03, np.float32)
    zp = np.array([0, -5, 7], np.int8) if per_axis else np.array(3, np.int8)
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **({"axis": 1} if per_axis
                                                                      else {}))
    d = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **({"axis": 1} if per_axis
                                                                        else {}))
    model = _model([q, d], [_vi("x", ["N", 3, 4])],
                   [_vi("q", None, TensorProto.INT8), _vi("y", None)],
                   [_init("s", scale), _init("z", zp)], opset)
    feeds = {"x": (_rng.standard_normal((2, 3, 4)) * 4).astype(np.float32)}
    got = execute_module(import_onnx(model), feeds)
    want = _ort(model, feeds)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_dequantize_int32_bias_has_no_zero_point() -> None:
    node = helper.make_node("DequantizeLinear", ["b", "s"], ["y"])
    model = _model([node], [_vi("b", [4], TensorProto.INT32)], [_vi("y", None)],
                   [_init("s", np.array(1e-4, np.float32))])
    b = np.array([-2**30, -3, 0, 2**30], np.int32)
    got = execute_module(import_onnx(model), {"b": b})[0]
    np.testing.assert_allclose(got, b.astype(np.float64) * np.float32(1e-4), rtol=1e-6)


def test_dynamic_quantize_of_all_zeros_uses_a_unit_range() -> None:
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    u8 = TensorProto.UINT8
    model = _model([node], [_vi("x", [5])], [_vi("y", None, u8), _vi("s", None),
                                              _vi("z", None, u8)], opset=11)
    feeds = {"x": np.zeros(5, np.float32)}
    got = execute_module(import_onnx(model), feeds)
    for g, w in zip(got, _ort(model, feeds)):
        np.testing.assert_array_equal(g, w)


def test_float8_quantization_is_an_element_type_error() -> None:
    node = helper.make_node("QuantizeLinear", ["x", "s"], ["y"],
                            output_dtype=TensorProto.FLOAT8E4M3FN)
    model = _model([node], [_vi("x", [4])], [_vi("y", None, TensorProto.FLOAT8E4M3FN)],
                   [_init("s", np.array(1.0, np.float32))], opset=21)
    with pytest.raises(CompileError, match="FLOAT8E4M3FN is not supported"):
        import_onnx(model)
