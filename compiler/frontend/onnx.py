"""ONNX frontend: an ONNX ModelProto (or file) -> a verified wsc IR Module.

The importer walks the graph in order and hands each node to its converter
(`compiler/frontend/onnx_ops/`), which emits registry ops through a
`NodeContext`. Along the way:

- initializers (also the old style where they are listed as graph inputs too)
  become constants; external-data tensors are loaded relative to the model file;
- ops whose operands are all constants are evaluated at once with the
  runtime's kernels, so `Constant` nodes and shape-computation subgraphs fold
  while importing and converters can read their values (a Reshape's target,
  a Slice's starts...);
- `Shape` of a tensor with symbolic dims records a *shape value* (a list of
  ints and symbol names) that Gather/Concat/Unsqueeze/... propagate, so the
  shape arithmetic that exporters emit for dynamic batch and sequence sizes
  still resolves at compile time;
- every node is checked for a converter first: all unsupported ops are
  reported at once, with node names and the opset, before anything is built;
- a *sequence* value (SequenceConstruct, SplitToSequence...) is a Python list
  of IR values while the importer runs: the IR has no sequence type, so the
  sequence ops (`onnx_ops/sequence.py`) are evaluated at compile time and need
  compile-time positions. A sequence graph input of n tensors is n inputs
  `<name>_0` .. `<name>_<n-1>` (its element shapes, hence n, are given in
  `input_shapes` as a list of shapes); a sequence graph output of n tensors is n
  outputs named the same way;
- an *optional* value is its tensor or sequence when present and
  `EMPTY_OPTIONAL` when empty, decided at compile time in the same way (an
  optional graph input is its element, given like any input).
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CompileError, ParseError, UnsupportedOpError
from ..ir.builder import Builder
from ..ir.core import Constant, Module, Value
from ..ir.location import Location
from ..ir.types import Dim, TensorType, dtype_from_numpy
from ..ops import get_op
from .onnx_ops import CONVERTERS, find_converter  # registers every converter

_REQUIRED = object()
# Folding a constant subgraph while importing is skipped past this many elements
# (an Expand of a constant to a huge activation-sized tensor stays an op).
MAX_FOLD_ELEMENTS = 1 << 24


class _EmptyOptional:
    """The value of an empty ONNX optional while importing (a present one is its tensor or
    sequence itself); like a sequence, it never reaches the IR."""

    def __repr__(self) -> str:
        return "EMPTY_OPTIONAL"


EMPTY_OPTIONAL = _EmptyOptional()


def _onnx():
    import onnx  # imported lazily: the DSL path does not need it

    return onnx


# ---------------------------------------------------------------------------
# Loading


def load_model(source) -> "Any":
    """A ModelProto from a path, bytes or a ModelProto, with clear errors for bad files."""
    onnx = _onnx()
    if isinstance(source, onnx.ModelProto):
        return source
    where = "<bytes>"
    try:
        if isinstance(source, (bytes, bytearray)):
            model = onnx.load_model_from_string(bytes(source))
        else:
            where = str(source)
            if not os.path.isfile(where):
                raise CompileError(f"no such file: {where}")
            model = onnx.load(where, load_external_data=False)
            base = os.path.dirname(os.path.abspath(where))
            try:
                from onnx.external_data_helper import load_external_data_for_model
                load_external_data_for_model(model, base)
            except (OSError, ValueError) as e:
                raise CompileError(f"cannot load external data of {where}: {e}",
                                   hint="external tensor files must sit where the model "
                                        "says, relative to the .onnx file") from None
    except CompileError:
        raise
    except Exception as e:  # protobuf's DecodeError and friends
        raise ParseError(f"{where} is not a valid ONNX model ({type(e).__name__}: {e})",
                         hint="is the file complete? an ONNX model is a protobuf ModelProto "
                              "(.onnx); `python -c \"import onnx; onnx.checker.check_model"
                              "('FILE')\"` tells more") from None
    if not model.HasField("graph") or not model.graph.output:
        raise ParseError(f"{where} is not a valid ONNX model (no graph or no outputs)")
    return model


def default_opset(model) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1 if not model.opset_import else 21


def _opsets(model) -> dict[str, int]:
    out = {("" if i.domain == "ai.onnx" else i.domain): i.version for i in model.opset_import}
    out.setdefault("", default_opset(model))
    return out


def node_label(node, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def find_unsupported(model) -> list[tuple[str, str, str]]:
    """Every node without a converter, as (op type, node name, 'domain opset N'), including
    the nodes of the subgraphs (Loop bodies, If branches) of supported nodes."""
    opsets = _opsets(model)
    onnx = _onnx()
    bad = []

    def walk(graph, prefix: str) -> None:
        for i, node in enumerate(graph.node):
            domain = "" if node.domain == "ai.onnx" else node.domain
            opset = opsets.get(domain, 1)
            label = prefix + node_label(node, i)
            if find_converter(domain, node.op_type, opset) is None:
                dom = f"{domain}::" if domain else ""
                bad.append((dom + node.op_type, label, f"opset {opset}"))
                continue
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g, f"{label}/")
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for sub in a.graphs:
                        walk(sub, f"{label}/")

    walk(model.graph, "")
    return bad


def unsupported_error(bad: list[tuple[str, str, str]], where: str) -> UnsupportedOpError:
    by_type: dict[str, list[str]] = {}
    for op_type, name, opset in bad:
        by_type.setdefault(f"{op_type} ({opset})", []).append(name)
    lines = []
    for t, names in sorted(by_type.items()):
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} nodes)" if len(names) > 8 else "")
        lines.append(f"  {t}: {shown}")
    msg = (f"{where}: {len(by_type)} unsupported ONNX op type(s) in {len(bad)} node(s):\n"
           + "\n".join(lines))
    return UnsupportedOpError(msg, bad,
                              hint="`wsc inspect MODEL.onnx` lists the ops; "
                                   "supported ONNX ops: docs/onnx.md")


# ---------------------------------------------------------------------------
# Names and types

_NAME_BAD = re.compile(r"[^A-Za-z0-9_.]")


def sanitize(name: str, fallback: str = "v") -> str:
    s = _NAME_BAD.sub("_", name).strip(".")
    if not s:
        s = fallback
    if s[0].isdigit():
        s = "_" + s
    return s


def onnx_dtype(elem_type: int, where: str) -> str:
    onnx = _onnx()
    try:
        return dtype_from_numpy(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in \
            onnx.TensorProto.DataType.values() else str(elem_type)
        raise CompileError(f"{where}: element type {name} is not supported",
                           hint="wsc handles float16/32/64, int8..int64, uint8..uint64 "
                                "and bool tensors") from None


def _value_info_type(vi, shapes: dict[str, list[int]] | None) -> TensorType:
    where = f"input {vi.name!r}"
    if not vi.type.HasField("tensor_type"):
        raise CompileError(f"{where} is not a tensor (maps are not supported; a sequence "
                           "input needs its element shapes, see `sequence_input_types`)")
    tt = vi.type.tensor_type
    dtype = onnx_dtype(tt.elem_type, where)
    if shapes and vi.name in shapes:
        dims: list[Dim] = list(shapes[vi.name])
        if tt.HasField("shape") and len(tt.shape.dim) != len(dims):
            raise CompileError(f"--input-shape for {vi.name!r} has rank {len(dims)}, "
                               f"the model says rank {len(tt.shape.dim)}")
        if tt.HasField("shape"):
            for i, (d, given) in enumerate(zip(tt.shape.dim, dims)):
                if d.HasField("dim_value") and d.dim_value != given:
                    raise CompileError(f"--input-shape for {vi.name!r}: dim {i} is "
                                       f"{d.dim_value} in the model, {given} was given")
        return TensorType(tuple(dims), dtype)
    if not tt.HasField("shape"):
        raise CompileError(f"{where} has no shape in the model",
                           hint=f"give it with --input-shape {vi.name}=DxDx...")
    dims = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(sanitize(d.dim_param, f"{sanitize(vi.name)}_d{i}"))
        else:
            dims.append(f"{sanitize(vi.name)}_d{i}")
    return TensorType(tuple(dims), dtype)


def sequence_input_types(vi, shapes: dict | None) -> list[TensorType]:
    """The element types of a sequence-typed graph input, from `shapes[name]` (one shape per
    element: its length is fixed at compile time like any other size)."""
    seq = vi.type.sequence_type.elem_type
    if not seq.HasField("tensor_type"):
        raise CompileError(f"input {vi.name!r} is a sequence of non-tensors (not supported)")
    given = (shapes or {}).get(vi.name)
    if given is None or not all(isinstance(s, (list, tuple)) for s in given):
        raise CompileError(f"input {vi.name!r} is a sequence: its length and element shapes must "
                           f"be known at compile time",
                           hint=f"give one shape per element, e.g. input_shapes={{{vi.name!r}: "
                                f"[[2, 3], [4, 3]]}}; the elements become the inputs "
                                f"{sanitize(vi.name)}_0, {sanitize(vi.name)}_1, ...")
    dtype = onnx_dtype(seq.tensor_type.elem_type, f"input {vi.name!r}")
    rank = len(seq.tensor_type.shape.dim) if seq.tensor_type.HasField("shape") else None
    for i, dims in enumerate(given):
        if rank is not None and len(dims) != rank:
            raise CompileError(f"input {vi.name!r}: element {i} was given rank {len(dims)}, the "
                               f"model says rank {rank}")
    return [TensorType(tuple(dims), dtype) for dims in given]


# ---------------------------------------------------------------------------
# The per-node interface converters use


class NodeContext:
    """What a converter sees of one ONNX node: its inputs, attributes and an op builder."""

    def __init__(self, importer: "_Importer", node, opset: int, loc: Location) -> None:
        self.importer = importer
        self.node = node
        self.opset = opset
        self.loc = loc
        self._attrs = {a.name: a for a in node.attribute}

    # -- inputs -------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        """Number of inputs, not counting trailing empty (omitted) ones."""
        n = len(self.node.input)
        while n and not self.node.input[n - 1]:
            n -= 1
        return n

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and bool(self.node.input[i])

    def input(self, i: int) -> Value:
        if not self.has_input(i):
            self.fail(f"input {i} is required")
        v = self.importer.lookup(self.node.input[i], self.loc)
        if isinstance(v, list):
            self.fail(f"input {i} ({self.node.input[i]!r}) is a sequence, this op takes a tensor")
        if v is EMPTY_OPTIONAL:
            self.fail(f"input {i} ({self.node.input[i]!r}) is an empty optional")
        return v

    def any_input(self, i: int):
        """Input `i` as whatever it is: a Value, a sequence (a list) or EMPTY_OPTIONAL; None
        when the node leaves it out."""
        if not self.has_input(i):
            return None
        return self.importer.lookup(self.node.input[i], self.loc)

    def is_sequence(self, i: int) -> bool:
        """Whether input `i` is a sequence (a list of tensors while importing)."""
        return self.has_input(i) and isinstance(
            self.importer.lookup(self.node.input[i], self.loc), list)

    def sequence(self, i: int) -> list[Value]:
        """Input `i` as a sequence: the list of its tensors (a new list, safe to change)."""
        if not self.has_input(i):
            self.fail(f"input {i} is required")
        v = self.importer.lookup(self.node.input[i], self.loc)
        if not isinstance(v, list):
            self.fail(f"input {i} ({self.node.input[i]!r}) must be a sequence, got a tensor")
        return list(v)

    def optional_input(self, i: int) -> Value | None:
        return self.input(i) if self.has_input(i) else None

    def inputs(self) -> list[Value]:
        return [self.input(i) for i in range(self.num_inputs)]

    def const(self, i: int) -> np.ndarray | None:
        """The value of input `i` if it is known at compile time, else None."""
        if not self.has_input(i):
            return None
        v = self.input(i)
        if isinstance(v, Constant) and v.data is not None:
            return v.data
        return None

    def shape_value(self, i: int) -> list[Dim] | None:
        """Input `i` as a list of dims (ints or symbols) if known at compile time.

        Known = a constant int tensor, or a shape value built from `Shape` of a
        tensor with symbolic dims (see module docstring)."""
        if not self.has_input(i):
            return None
        data = self.const(i)
        if data is not None:
            if data.dtype.kind not in "iu" or data.ndim > 1:
                return None
            return [int(x) for x in np.atleast_1d(data)]
        return self.importer.shape_values.get(self.input(i))

    def require_ints(self, i: int, what: str) -> list[int]:
        """Input `i` as a list of ints; a clear error if it is not a compile-time constant."""
        vals = self.shape_value(i)
        if vals is None or not all(isinstance(d, int) for d in vals):
            self.fail(f"the {what} (input {i}) must be known at compile time",
                      hint="wsc compiles static shapes: make it an initializer, or fix the "
                           "symbolic input dims with --input-shape")
        return vals  # type: ignore[return-value]

    # -- attributes ---------------------------------------------------------
    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def attr(self, name: str, default: Any = _REQUIRED) -> Any:
        a = self._attrs.get(name)
        if a is None:
            if default is _REQUIRED:
                self.fail(f"attribute {name!r} is required")
            return default
        onnx = _onnx()
        if a.type == onnx.AttributeProto.TENSOR:
            return onnx.numpy_helper.to_array(a.t)
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            self.fail(f"attribute {name!r} holds a subgraph (converters read it with "
                      f"`subgraph`)")
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            return v.decode("utf-8")
        if isinstance(v, list):
            return [x.decode("utf-8") if isinstance(x, bytes) else x for x in v]
        return v

    def subgraph(self, name: str):
        """The GraphProto of a graph attribute (a Loop body, an If branch...)."""
        a = self._attrs.get(name)
        if a is None or a.type != _onnx().AttributeProto.GRAPH:
            self.fail(f"attribute {name!r} (a subgraph) is required")
        return a.g

    def inline(self, graph, args: list, tag: str = "") -> list:
        """Import `graph` with its inputs bound to `args` (see `_Importer.inline`)."""
        return self.importer.inline(graph, args, f"{self.loc.name}/{graph.name or 'body'}{tag}")

    # -- building -----------------------------------------------------------
    def op(self, name: str, operands: list[Value], attrs: dict | None = None) -> Value:
        """Emit a single-result registry op (folded at once if all operands are constants)."""
        return self.op_multi(name, operands, attrs)[0]

    def op_multi(self, name: str, operands: list[Value], attrs: dict | None = None) -> list[Value]:
        return self.importer.emit(name, operands, attrs, self.loc, self.node)

    def constant(self, array, hint: str | None = None) -> Constant:
        """A new constant (for values a converter makes up: a reshape's shape, a zero...)."""
        return self.importer.new_constant(np.asarray(array), hint or self.out_name(0))

    def out_name(self, i: int) -> str:
        outs = self.node.output
        return sanitize(outs[i]) if i < len(outs) and outs[i] else sanitize(self.node.op_type)

    def set_shape_value(self, v: Value, dims: list[Dim]) -> None:
        self.importer.shape_values[v] = list(dims)

    def fail(self, message: str, hint: str | None = None):
        raise CompileError(f"{self.node.op_type}: {message}", self.loc, hint=hint)


# ---------------------------------------------------------------------------
# The importer


class _Importer:
    def __init__(self, model, input_shapes, name: str, source: str,
                 constant_inputs: dict[str, np.ndarray] | None = None) -> None:
        self.model = model
        self.input_shapes = input_shapes or {}
        self.constant_inputs = constant_inputs or {}
        self.source = source
        self.module = Module(sanitize(name, "main"))
        self.builder = Builder(self.module)
        # ONNX name -> value; a sequence is a list of values, an empty optional EMPTY_OPTIONAL
        self.values: dict[str, Value | list[Value] | _EmptyOptional] = {}
        self.shape_values: dict[Value, list[Dim]] = {}
        self.opsets = _opsets(model)

    def lookup(self, name: str, loc: Location) -> Value | list[Value] | _EmptyOptional:
        try:
            return self.values[name]
        except KeyError:
            raise CompileError(f"tensor {name!r} is used before it is defined "
                               "(the graph is not in topological order, or the name is wrong)",
                               loc) from None

    def new_constant(self, data: np.ndarray, hint: str) -> Constant:
        data = np.ascontiguousarray(data).reshape(np.shape(data))  # keeps 0-d scalars 0-d
        try:
            dtype_from_numpy(data.dtype)
        except KeyError:
            raise CompileError(f"constant {hint!r} has unsupported dtype {data.dtype}") from None
        return self.module.add_constant(self.module.fresh_constant_name(sanitize(hint, "const")),
                                        data)

    def emit(self, name: str, operands: list[Value], attrs, loc: Location, node) -> list[Value]:
        opdef = get_op(name)
        if opdef.pure and operands and all(isinstance(v, Constant) and v.data is not None
                                          for v in operands):
            folded = self._fold(opdef.name, operands, attrs, loc, node)
            if folded is not None:
                return folded
        # Results stay unnamed here; the walk names the node's outputs once the
        # converter returns them (a node may emit several ops).
        return self.builder.create(name, operands, attrs, loc).results

    def _fold(self, name, operands, attrs, loc, node) -> list[Value] | None:
        from runtime.kernels import get_kernel

        from ..ir.builder import infer_types

        _, attrs_n, types = infer_types(name, [v.type for v in operands], attrs, loc)
        if any(t.numel is None or t.numel > MAX_FOLD_ELEMENTS for t in types):
            return None
        try:
            out = get_kernel(name)(*[v.data for v in operands], **attrs_n)
        except Exception as e:  # a kernel rejecting these values is a model error
            raise CompileError(f"evaluating constant {name} failed: {e}", loc) from None
        outs = list(out) if isinstance(out, tuple) else [out]
        result = []
        for i, (arr, t) in enumerate(zip(outs, types)):
            arr = np.asarray(arr).astype(t.np_dtype, copy=False).reshape(
                [int(d) for d in t.shape])
            hint = node.output[i] if node is not None and i < len(node.output) else name
            weights = [v for v in operands if v.data is not None and v.data.size > 1]
            if len(weights) == 1 and len(outs) == 1:
                # A weight rearranged while importing (Gemm's transpose of B): name it
                # after the weight, not after the node's output.
                hint = f"{weights[0].name}.{name.split('.', 1)[1]}"
            result.append(self.new_constant(arr, hint))
        return result

    # -- the walk -------------------------------------------------------------
    def convert(self, node, label: str) -> None:
        """Convert one node; its outputs enter the value table."""
        domain = "" if node.domain == "ai.onnx" else node.domain
        opset = self.opsets.get(domain, 1)
        conv = find_converter(domain, node.op_type, opset)
        loc = Location(name=label)
        ctx = NodeContext(self, node, opset, loc)
        first_new_op = len(self.module.ops)
        outs = conv.fn(ctx)
        created = {r for op in self.module.ops[first_new_op:] for r in op.results}
        if isinstance(outs, Value) or outs is EMPTY_OPTIONAL:
            outs = [outs]
        outs = list(outs)
        for j, name in enumerate(node.output):
            if not name:
                continue
            if j >= len(outs) or outs[j] is None:
                ctx.fail(f"output {j} ({name!r}) is not supported by wsc's converter")
            if isinstance(outs[j], list):  # a sequence: its tensors keep their names
                self.values[name] = list(outs[j])
                continue
            if outs[j] is EMPTY_OPTIONAL:
                self.values[name] = outs[j]
                continue
            if outs[j] in created and outs[j].name is None:
                outs[j].name = sanitize(name)
            self.values[name] = outs[j]

    def inline(self, graph, args: list, label: str) -> list:
        """Import a subgraph (a Loop/Scan body, an If branch...) in place: its inputs bound
        to `args` (values or sequences), the enclosing graph's names visible, its own names
        forgotten afterwards. Returns its outputs. Control flow is unrolled this way, one
        `inline` per iteration, while trip counts and conditions are compile-time values."""
        if len(args) != len(graph.input):
            raise CompileError(f"the subgraph {graph.name!r} takes {len(graph.input)} inputs, "
                               f"{len(args)} were given", Location(name=label))
        outer = self.values
        self.values = dict(outer)
        try:
            for vi, arg in zip(graph.input, args):
                self.values[vi.name] = arg
            for t in graph.initializer:
                self.values[t.name] = self.new_constant(_onnx().numpy_helper.to_array(t), t.name)
            for i, node in enumerate(graph.node):
                self.convert(node, f"{label}/{node_label(node, i)}")
            return [self.lookup(vi.name, Location(name=label)) for vi in graph.output]
        finally:
            self.values = outer

    def run(self) -> Module:
        onnx = _onnx()
        g = self.model.graph
        bad = find_unsupported(self.model)
        if bad:
            raise unsupported_error(bad, self.source)
        names = {vi.name for vi in g.input}
        for what, given in (("--input-shape", self.input_shapes),
                            ("--freeze-input", self.constant_inputs)):
            unknown = set(given) - names
            if unknown:
                raise CompileError(f"{what} names unknown input(s): {', '.join(sorted(unknown))}; "
                                   f"the model's inputs: {', '.join(vi.name for vi in g.input)}")

        init_names = set()
        for t in g.initializer:
            arr = onnx.numpy_helper.to_array(t)
            self.values[t.name] = self.new_constant(arr, t.name)
            init_names.add(t.name)
        for t in g.sparse_initializer:
            dense = onnx.numpy_helper.to_array(t.values)
            idx = onnx.numpy_helper.to_array(t.indices)
            arr = np.zeros(tuple(t.dims), dense.dtype)
            if idx.ndim == 1:
                arr.reshape(-1)[idx] = dense
            else:
                arr[tuple(idx.T)] = dense
            self.values[t.values.name] = self.new_constant(arr, t.values.name)
            init_names.add(t.values.name)
        for vi in g.input:
            if vi.name in init_names:  # old style: initializers also listed as inputs
                continue
            if vi.type.HasField("optional_type"):  # given, so present: its element
                vi = onnx.helper.make_value_info(vi.name, vi.type.optional_type.elem_type)
            if vi.name in self.constant_inputs:  # specialized: the input becomes a constant
                arr = np.asarray(self.constant_inputs[vi.name])
                expect = _value_info_type(vi, None)
                if expect.dtype != dtype_from_numpy(arr.dtype) or len(expect.shape) != arr.ndim:
                    raise CompileError(f"--freeze-input {vi.name}: got {arr.dtype}{list(arr.shape)}, "
                                       f"the model declares {expect}")
                self.values[vi.name] = self.new_constant(arr, vi.name)
                continue
            if vi.type.HasField("sequence_type"):
                self.values[vi.name] = [
                    self.module.add_input(f"{sanitize(vi.name, 'input')}_{j}", t)
                    for j, t in enumerate(sequence_input_types(vi, self.input_shapes))]
                continue
            v = self.module.add_input(sanitize(vi.name, "input"),
                                      _value_info_type(vi, self.input_shapes))
            self.values[vi.name] = v

        for i, node in enumerate(g.node):
            self.convert(node, node_label(node, i))

        for vi in g.output:
            if vi.name not in self.values:
                raise CompileError(f"graph output {vi.name!r} is not produced by any node")
            value = self.values[vi.name]
            if value is EMPTY_OPTIONAL:
                raise CompileError(f"graph output {vi.name!r} is an empty optional; wsc's "
                                   "programs return tensors")
            if isinstance(value, list):  # a sequence: one output per tensor
                for j, v in enumerate(value):
                    self._add_output(f"{sanitize(vi.name, 'output')}_{j}", v)
                continue
            self._add_output(sanitize(vi.name, "output"), value)
        return self.module

    def _add_output(self, out_name: str, value: Value) -> None:
        if out_name in self.module.outputs:
            out_name = f"{out_name}_{len(self.module.outputs)}"
        self.module.outputs[out_name] = value


def import_onnx(source, *, input_shapes: dict[str, list] | None = None,
                constant_inputs: dict[str, np.ndarray] | None = None,
                name: str | None = None) -> Module:
    """Import an ONNX model (path, bytes or ModelProto) as a verified Module.

    `input_shapes` fixes symbolic input dims (for a sequence input: a list of
    shapes, one per element); `constant_inputs` specializes the model for given
    values of some inputs (they become constants, e.g. a shape tensor that a
    Reshape reads)."""
    model = load_model(source)
    where = str(source) if isinstance(source, (str, Path)) else (model.graph.name or "model")
    if name is None:
        name = Path(str(source)).stem if isinstance(source, (str, Path)) else \
            (model.graph.name or "main")
    module = _Importer(model, input_shapes, name, where, constant_inputs).run()
    from ..ir.verifier import verify
    verify(module)
    return module


def summarize_onnx(source) -> dict[str, Any]:
    """What `wsc inspect model.onnx` shows without compiling: ops, params, opsets, unsupported."""
    onnx = _onnx()
    model = load_model(source)
    g = model.graph
    hist = Counter(("" if n.domain in ("", "ai.onnx") else n.domain + "::") + n.op_type
                   for n in g.node)
    params = 0
    param_bytes = 0
    for t in g.initializer:
        n = int(np.prod(t.dims)) if len(t.dims) else 1
        params += n
        try:
            param_bytes += n * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        except (KeyError, TypeError, ValueError):
            pass
    init = {t.name for t in g.initializer}

    def sig(vi):
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in tt.shape.dim]
        try:
            dt = onnx_dtype(tt.elem_type, vi.name)
        except CompileError:
            dt = str(tt.elem_type)
        return {"name": vi.name, "dtype": dt, "shape": dims}

    return {
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opsets": {k or "ai.onnx": v for k, v in _opsets(model).items()},
        "ir_version": model.ir_version,
        "inputs": [sig(vi) for vi in g.input if vi.name not in init],
        "outputs": [sig(vi) for vi in g.output],
        "nodes": len(g.node),
        "op_histogram": dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
        "params": params,
        "param_bytes": param_bytes,
        "unsupported": [{"op": t, "node": n, "opset": o} for t, n, o in find_unsupported(model)],
        "supported_op_types": len(CONVERTERS),
    }
