"""Small ONNX models built by hand for tests, and onnxruntime as their reference.

The converter tests under `tests/onnx/` write one- or few-node models with
`onnx.helper`; these are the pieces they share:

- `value_info(name, shape, elem_type)`: a graph input or output (a float32
  tensor unless told; `shape=None` for an unknown rank, strings for symbolic
  dims); `sequence_value_info` for a sequence of tensors.
- `tensor(name, values, dtype)`: an initializer holding a numpy array.
- `make_model(nodes, inputs, outputs, initializers, opset=..., ir_version=...)`:
  the graph wrapped in a ModelProto. Files pin their own opset and IR version
  (onnxruntime reads only some IR versions at some opsets), typically as
  ``_model = functools.partial(make_model, opset=17, ir_version=8)``.
- `run_onnxruntime(model, feeds)`: the model's outputs from onnxruntime's CPU
  provider, the usual reference.

    from compiler.testing.onnx_builders import make_model, value_info
    node = helper.make_node("Relu", ["x"], ["y"])
    model = make_model([node], [value_info("x", ["N", 4])], [value_info("y", None)])

The real-architecture models (ResNet, BERT) are in `onnx_models.py`; running
a model through wsc is `onnx_node_cases.execute_module`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from onnx import ModelProto, NodeProto, TensorProto, ValueInfoProto, helper

DEFAULT_OPSET = 17
FLOAT = TensorProto.FLOAT


def value_info(name: str, shape: Sequence[int | str] | None,
               elem_type: int = FLOAT) -> ValueInfoProto:
    """A tensor graph input/output: `elem_type` is a `TensorProto` enum (FLOAT, INT64, ...)."""
    return helper.make_tensor_value_info(name, elem_type, shape)


def sequence_value_info(name: str, shape: Sequence[int | str] | None,
                        elem_type: int = FLOAT) -> ValueInfoProto:
    """A graph input/output that is a sequence of tensors of `shape` and `elem_type`."""
    return helper.make_tensor_sequence_value_info(name, elem_type, shape)


def tensor(name: str, values, dtype=None) -> TensorProto:
    """An initializer holding `values` (an array, or a scalar or list made one with `dtype`),
    stored in the typed fields (`float_data`, `int64_data`, ...), not as raw bytes."""
    array = np.asarray(values, dtype)
    return helper.make_tensor(name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape,
                              array.ravel().tolist())


def make_model(nodes: Iterable[NodeProto], inputs: Sequence[ValueInfoProto],
               outputs: Sequence[ValueInfoProto], initializers: Iterable[TensorProto] = (), *,
               opset: int = DEFAULT_OPSET, ir_version: int | None = None,
               extra_opsets: Iterable = (), name: str = "g") -> ModelProto:
    """A model of one graph importing the default domain at `opset` (plus `extra_opsets`,
    `OperatorSetIdProto`s of other domains). `ir_version=None` keeps the installed onnx
    package's current version, which an older onnxruntime may refuse to load."""
    graph = helper.make_graph(list(nodes), name, inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    *extra_opsets])
    if ir_version is not None:
        model.ir_version = ir_version
    return model


def run_onnxruntime(model: ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model's outputs, in order, from onnxruntime's CPU execution provider."""
    import onnxruntime as ort
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, feeds)
