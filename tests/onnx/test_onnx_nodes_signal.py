"""ONNX signal ops (DFT, STFT, window functions, MelWeightMatrix): converter tests beyond the
node suite. The windows are constants (compared with their formulas written here); DFT and
STFT are checked against numpy's FFT and onnx's reference evaluator."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.testing.onnx_builders import make_model, tensor, value_info
from compiler.testing.onnx_node_cases import execute_module

I64 = TensorProto.INT64
_rng = np.random.default_rng(8)


_model = partial(make_model, opset=20, ir_version=9)


@pytest.mark.parametrize("op,periodic,formula", [
    ("HannWindow", 1, lambda k, n: np.sin(np.pi * k / n) ** 2),
    ("HammingWindow", 0, lambda k, n: 0.54347826 - 0.45652174 * np.cos(2 * np.pi * k / n)),
    ("BlackmanWindow", 1, lambda k, n: 0.42 - 0.5 * np.cos(2 * np.pi * k / n)
     + 0.08 * np.cos(4 * np.pi * k / n)),
])
def test_windows_are_constants_of_their_formula(op, periodic, formula) -> None:
    node = helper.make_node(op, ["size"], ["w"], periodic=periodic,
                            output_datatype=TensorProto.DOUBLE)
    module = import_onnx(_model([node], [], [value_info("w", None, TensorProto.DOUBLE)],
                                [tensor("size", 9, np.int64)], opset=17))
    assert not module.ops
    (w,) = module.outputs.values()
    k = np.arange(9)
    np.testing.assert_allclose(w.data, formula(k, 9 if periodic else 8), rtol=1e-7, atol=1e-8)


def test_dft_length_input_and_axis_input_match_numpy() -> None:
    node = helper.make_node("DFT", ["x", "n", "axis"], ["y"], onesided=1)
    model = _model([node], [value_info("x", [2, 6, 3, 1])], [value_info("y", None)],
                   [tensor("n", 8, np.int64), tensor("axis", 1, np.int64)])
    x = _rng.standard_normal((2, 6, 3, 1)).astype(np.float32)
    got = execute_module(import_onnx(model), {"x": x})[0]
    want = np.fft.rfft(x[..., 0].astype(np.float64), n=8, axis=1)
    np.testing.assert_allclose(got, np.stack([want.real, want.imag], -1), rtol=1e-4, atol=1e-4)


def test_stft_takes_its_frame_length_from_the_window() -> None:
    from onnx.reference import ReferenceEvaluator
    node = helper.make_node("STFT", ["x", "step", "win"], ["y"])
    model = _model([node], [value_info("x", [1, 40, 1]), value_info("win", [10])],
                   [value_info("y", None)], [tensor("step", 6, np.int64)], opset=17)
    feeds = {"x": _rng.standard_normal((1, 40, 1)).astype(np.float32),
             "win": np.hanning(10).astype(np.float32)}
    got = execute_module(import_onnx(model), feeds)[0]
    assert got.shape == (1, 6, 6, 2)
    np.testing.assert_allclose(got, ReferenceEvaluator(model).run(None, feeds)[0], rtol=1e-4,
                               atol=1e-4)


def test_a_run_time_dft_length_is_a_clear_error() -> None:
    node = helper.make_node("DFT", ["x", "n"], ["y"])
    model = _model([node], [value_info("x", [4, 1]), value_info("n", [], I64)],
                   [value_info("y", None)])
    with pytest.raises(CompileError, match=r"dft_length \(input 1\) must be known"):
        import_onnx(model)
