"""The ONNX backend model suites through wsc: light, simple, pytorch-converted, pytorch-operator.

Each case's model is imported, compiled with the default pipeline, lowered and
executed by the runtime; its outputs are compared with the suite's stored
outputs at the suite's tolerances (onnx's runner defaults, rtol=1e-3 and
atol=1e-7, and per-model `data.json` overrides). `light` models get the inputs
onnx's runner makes for them. Cases listed in `expected_failures.txt` (as
`suite/name`) are strict xfails. VGG-19 runs under the `slow` marker: its
~140M weights take half a gigabyte when the runtime materializes them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from compiler.testing.expected_failures import load_expected_failures
from compiler.testing.onnx_model_suites import (
    SUITES, data_dir, data_sets, dummy_input, model_cases, run_model_case)

EXPECTED = load_expected_failures(Path(__file__).with_name("expected_failures.txt"))
SLOW = {"light/test_vgg19"}


def _params():
    params = []
    for case in model_cases():
        marks = [pytest.mark.slow] if case.id in SLOW else []
        if case.id in EXPECTED:
            marks.append(pytest.mark.xfail(reason=EXPECTED[case.id], strict=True))
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
def test_model_case(case) -> None:
    result = run_model_case(case)
    assert result.status == "pass", f"{result.status}: {result.detail}"


def test_every_suite_is_found_with_its_cases() -> None:
    counts = {s: len(model_cases([s])) for s in SUITES}
    assert counts["light"] == 9
    assert all(n >= 20 for s, n in counts.items() if s != "light"), counts


def test_light_tolerances_come_from_the_real_suite_entries() -> None:
    cases = {c.name: c for c in model_cases(["light"])}
    assert cases["test_densenet121"].rtol == 2e-3  # data.json override
    assert cases["test_resnet50"].rtol == 1e-3 and cases["test_resnet50"].atol == 1e-7
    assert cases["test_resnet50"].model_path.name == "light_resnet50.onnx"


def test_dummy_input_is_what_onnx_runner_feeds() -> None:
    vi = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, "N", 3])
    x = dummy_input(vi)
    want = np.array([[[0, 1, 2]], [[3, 4, 5]]], np.float64) / 6  # unknown dims count as 1
    assert x.dtype == np.float32 and x.shape == (2, 1, 3)
    np.testing.assert_array_equal(x, want.astype(np.float32))
    with pytest.raises(ValueError, match="float32"):
        dummy_input(onnx.helper.make_tensor_value_info("i", onnx.TensorProto.INT64, [2]))


def test_data_sets_read_inputs_in_graph_input_order() -> None:
    case = next(c for c in model_cases(["pytorch-operator"])
                if c.name == "test_operator_add_broadcast")
    model = onnx.load(str(case.model_path))
    (inputs, outputs), = data_sets(case, model)
    folder = data_dir() / "pytorch-operator" / "test_operator_add_broadcast" / "test_data_set_0"
    stored = [onnx.numpy_helper.to_array(onnx.load_tensor(str(folder / f"input_{i}.pb")))
              for i in range(2)]
    assert [a.shape for a in inputs] == [a.shape for a in stored]
    np.testing.assert_array_equal(outputs[0], inputs[0] + inputs[1])


def test_dummy_inputs_equal_onnx_runner_helper_for_every_light_model() -> None:
    from onnx.backend.test.runner import Runner

    from compiler.testing.onnx_node_cases import graph_input_names
    for case in model_cases(["light"]):
        model = onnx.load(str(case.model_path))
        by_name = {vi.name: vi for vi in model.graph.input}
        for name in graph_input_names(model):
            ours = dummy_input(by_name[name])
            theirs = Runner.generate_dummy_data(by_name[name], seed=0, name=case.name)
            assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), case.id
