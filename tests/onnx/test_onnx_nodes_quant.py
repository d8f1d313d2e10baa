"""ONNX quantization ops (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear): converter
tests beyond the node suite: old opsets, the int32 bias path, a quantize-dequantize chain
against onnxruntime, the all-zero dynamic range, and the element-type errors."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, run_onnxruntime, tensor, value_info
from compiler.testing.onnx_node_cases import execute_module

_rng = np.random.default_rng(3)


_model = partial(make_model, opset=13, ir_version=8)


@pytest.mark.parametrize("opset", [10, 13])
def test_quantize_dequantize_chain_matches_onnxruntime(opset) -> None:
    per_axis = opset >= 13
    scale = np.array([0.02, 0.05, 0.1], np.float32) if per_axis else np.array(0.03, np.float32)
    zp = np.array([0, -5, 7], np.int8) if per_axis else np.array(3, np.int8)
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **({"axis": 1} if per_axis
                                                                      else {}))
    d = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], **({"axis": 1} if per_axis
                                                                        else {}))
    model = _model([q, d], [value_info("x", ["N", 3, 4])],
                   [value_info("q", None, TensorProto.INT8), value_info("y", None)],
                   [tensor("s", scale), tensor("z", zp)], opset=opset)
    feeds = {"x": (_rng.standard_normal((2, 3, 4)) * 4).astype(np.float32)}
    got = execute_module(import_onnx(model), feeds)
    want = run_onnxruntime(model, feeds)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_dequantize_int32_bias_has_no_zero_point() -> None:
    node = helper.make_node("DequantizeLinear", ["b", "s"], ["y"])
    model = _model([node], [value_info("b", [4], TensorProto.INT32)], [value_info("y", None)],
                   [tensor("s", np.array(1e-4, np.float32))])
    b = np.array([-2**30, -3, 0, 2**30], np.int32)
    got = execute_module(import_onnx(model), {"b": b})[0]
    np.testing.assert_allclose(got, b.astype(np.float64) * np.float32(1e-4), rtol=1e-6)


def test_dynamic_quantize_of_all_zeros_uses_a_unit_range() -> None:
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    u8 = TensorProto.UINT8
    model = _model([node], [value_info("x", [5])],
                   [value_info("y", None, u8), value_info("s", None), value_info("z", None, u8)],
                   opset=11)
    feeds = {"x": np.zeros(5, np.float32)}
    got = execute_module(import_onnx(model), feeds)
    for g, w in zip(got, run_onnxruntime(model, feeds)):
        np.testing.assert_array_equal(g, w)


def test_float8_quantization_is_an_element_type_error() -> None:
    node = helper.make_node("QuantizeLinear", ["x", "s"], ["y"],
                            output_dtype=TensorProto.FLOAT8E4M3FN)
    model = _model([node], [value_info("x", [4])],
                   [value_info("y", None, TensorProto.FLOAT8E4M3FN)],
                   [tensor("s", np.array(1.0, np.float32))], opset=21)
    with pytest.raises(CompileError, match="FLOAT8E4M3FN is not supported"):
        import_onnx(model)
