"""Run the ONNX backend model suites (shipped in the `onnx` package) through wsc.

The suites live in `onnx/backend/test/data/`:

- `light`: nine model-zoo architectures (AlexNet, DenseNet-121, Inception v1/v2,
  ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512) whose weights are made
  by ConstantOfShape nodes, with one expected output each. Their inputs are not
  stored: onnx's runner makes them (`Runner.generate_dummy_data`) and so does
  `dummy_input` here, the same way. Tolerances come from `real/<case>/data.json`
  (the same models' full-size entries, which point at the light files).
- `simple`, `pytorch-converted`, `pytorch-operator`: one folder per case with
  `model.onnx` and `test_data_set_*/{input,output}_*.pb`.

`model_cases(suites)` lists the cases; `run_model_case(case)` compiles and runs
one as `run_case` does for node cases (import, default pipeline, lowering,
runtime executor) and compares with the suite's tolerances: onnx's runner
defaults rtol=1e-3, atol=1e-7, overridden per case by a `data.json`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .onnx_node_cases import CaseResult, graph_input_names, run_model

SUITES = ("light", "simple", "pytorch-converted", "pytorch-operator")
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-7


def data_dir() -> Path:
    """`onnx/backend/test/data` of the installed onnx package."""
    import onnx
    return Path(onnx.__file__).parent / "backend" / "test" / "data"


@dataclass(frozen=True)
class ModelCase:
    """One model of a suite: where its model is and how to compare its outputs."""

    suite: str
    name: str                      # the case's name in onnx's runner, e.g. "test_resnet50"
    model_path: Path
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    data_dirs: tuple[Path, ...] = ()   # test_data_set_* folders (none for `light`)
    expected_path: Path | None = None  # light: the one stored expected output

    @property
    def id(self) -> str:
        """The name used in the expected-failures list and in test ids."""
        return f"{self.suite}/{self.name}"


def _tolerances(folder: Path) -> tuple[float, float]:
    f = folder / "data.json"
    if not f.exists():
        return DEFAULT_RTOL, DEFAULT_ATOL
    data = json.loads(f.read_text())
    return data.get("rtol", DEFAULT_RTOL), data.get("atol", DEFAULT_ATOL)


def _light_cases(root: Path) -> list[ModelCase]:
    cases = []
    for folder in sorted((root / "real").iterdir()):
        f = folder / "data.json"
        if not f.exists():
            continue
        url = json.loads(f.read_text()).get("url", "")
        if not url.startswith("onnx/backend/test/data/light/"):
            continue
        model = root / "light" / Path(url).name
        rtol, atol = _tolerances(folder)
        cases.append(ModelCase("light", folder.name, model, rtol, atol,
                               expected_path=model.with_name(model.stem + "_output_0.pb")))
    return cases


def _folder_cases(root: Path, suite: str) -> list[ModelCase]:
    cases = []
    for folder in sorted((root / suite).iterdir()):
        if not (folder / "model.onnx").exists():
            continue
        rtol, atol = _tolerances(folder)
        data = tuple(sorted(folder.glob("test_data_set_*")))
        cases.append(ModelCase(suite, folder.name, folder / "model.onnx", rtol, atol, data))
    return cases


def model_cases(suites=None) -> list[ModelCase]:
    """The cases of `suites` (default: all of `SUITES`), in a stable order."""
    root = data_dir()
    out = []
    for suite in suites or SUITES:
        if suite not in SUITES:
            raise ValueError(f"unknown model suite {suite!r}; suites: {', '.join(SUITES)}")
        out += _light_cases(root) if suite == "light" else _folder_cases(root, suite)
    return out


# ---------------------------------------------------------------------------
# Inputs and expected outputs


def dummy_input(value_info) -> np.ndarray:
    """The input onnx's runner feeds a `light` model: arange(n) / n in the input's shape.

    Unknown dims count as 1; only float32 inputs are made (as in onnx's runner)."""
    tt = value_info.type.tensor_type
    if tt.elem_type != 1:  # TensorProto.FLOAT
        raise ValueError(f"input {value_info.name!r}: only float32 dummy inputs are made")
    shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim)
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def _read_value(path: Path, type_proto):
    """A stored input/output: a tensor as an array; a sequence as a list, an optional as-is."""
    import onnx
    from onnx import numpy_helper
    data = path.read_bytes()
    if type_proto is not None and type_proto.HasField("sequence_type"):
        seq = onnx.SequenceProto()
        seq.ParseFromString(data)
        return numpy_helper.to_list(seq)
    if type_proto is not None and type_proto.HasField("optional_type"):
        opt = onnx.OptionalProto()
        opt.ParseFromString(data)
        return numpy_helper.to_optional(opt)
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return numpy_helper.to_array(t)


def data_sets(case: ModelCase, model) -> list[tuple[list, list]]:
    """The (inputs, expected outputs) pairs of `case`, inputs in graph-input order."""
    inputs_vi = {vi.name: vi for vi in model.graph.input}
    names = graph_input_names(model)
    outs_t = [vi.type for vi in model.graph.output]
    if case.suite == "light":
        inputs = [dummy_input(inputs_vi[n]) for n in names]
        return [(inputs, [_read_value(case.expected_path, outs_t[0])])]
    sets = []
    for d in case.data_dirs:
        n_in = len(list(d.glob("input_*.pb")))
        n_out = len(list(d.glob("output_*.pb")))
        inputs = [_read_value(d / f"input_{i}.pb",
                              inputs_vi[names[i]].type if i < len(names) else None)
                  for i in range(n_in)]
        outputs = [_read_value(d / f"output_{i}.pb", outs_t[i] if i < len(outs_t) else None)
                   for i in range(n_out)]
        sets.append((inputs, outputs))
    return sets


def run_model_case(case: ModelCase) -> CaseResult:
    """Compile and run `case` through wsc; compare with its expected outputs."""
    from ..frontend.onnx import load_model
    from runtime.errors import WscError
    try:
        model = load_model(str(case.model_path))
        sets = data_sets(case, model)
    except (WscError, ValueError, OSError) as e:
        return CaseResult(case.id, "error", str(e).splitlines()[0])
    return run_model(case.id, model, sets, case.rtol, case.atol)


def case_op_types(case: ModelCase) -> set[str]:
    """The op types `case`'s model uses (for per-op tables)."""
    import onnx

    from .onnx_node_cases import model_op_types
    return model_op_types(onnx.load(os.fspath(case.model_path), load_external_data=False))
