"""The IR's data: a Module is one SSA graph of Ops over typed Values.

- `Value`: an SSA value with a `TensorType`. It is a model input (`producer is
  None`), a `Constant` (a weight in the module's constant table), or the result
  of an `Op`.
- `Constant`: a named weight; printed by reference (``@fc1.weight``), its data
  a numpy array. `sparsity` is the DSL's per-parameter annotation, a request
  that later pruning passes read.
- `Op`: a dotted op name from the registry (``nn.matmul``), operands,
  attributes (plain JSON-able data: ints, floats, bools, strings and lists of
  them), results and a `Location`.
- `Module`: named inputs, named outputs, the constant table and the ops in a
  topological order (one block: dataflow graphs need no control flow yet).

The structures are plain and mutable; passes edit them through the few helpers
below. Build ops with `compiler.ir.builder.Builder`, which runs the registry's
shape inference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from .location import Location
from .types import TensorType


@dataclass(eq=False)
class Value:
    """An SSA value. Identity is object identity; `name` is only a hint for printing."""

    type: TensorType
    name: str | None = None
    producer: "Op | None" = field(default=None, repr=False)

    @property
    def is_constant(self) -> bool:
        return False

    @property
    def is_input(self) -> bool:
        return self.producer is None and not self.is_constant

    def __repr__(self) -> str:
        return f"Value({self.name or '?'}: {self.type})"


@dataclass(eq=False, repr=False)
class Constant(Value):
    """A weight held in the module's constant table."""

    data: np.ndarray | None = None
    sparsity: float | None = None  # requested sparsity (DSL annotation), None = not annotated

    def __post_init__(self) -> None:
        if self.name is None:
            raise ValueError("constants must be named")

    @property
    def is_constant(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"Constant(@{self.name}: {self.type})"


@dataclass(eq=False)
class Op:
    """One operation. `name` must be registered in `compiler.ops`."""

    name: str
    operands: list[Value]
    attrs: dict[str, Any]
    results: list[Value]
    loc: Location = field(default_factory=Location)

    @property
    def result(self) -> Value:
        """The single result (most ops have exactly one)."""
        if len(self.results) != 1:
            raise ValueError(f"{self.name} has {len(self.results)} results")
        return self.results[0]

    def __repr__(self) -> str:
        ins = ", ".join(v.name or "?" for v in self.operands)
        return f"Op({self.name}({ins}) at {self.loc})"


@dataclass(eq=False)
class Module:
    """A whole model: signature, weights and the op graph."""

    name: str = "main"
    inputs: list[Value] = field(default_factory=list)
    outputs: dict[str, Value] = field(default_factory=dict)  # output name -> value, ordered
    constants: dict[str, Constant] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)

    # -- construction -------------------------------------------------------
    def add_input(self, name: str, type: TensorType) -> Value:
        if any(v.name == name for v in self.inputs):
            raise ValueError(f"duplicate input {name!r}")
        v = Value(type, name)
        self.inputs.append(v)
        return v

    def add_constant(self, name: str, data: np.ndarray, *, sparsity: float | None = None,
                     type: TensorType | None = None) -> Constant:
        """Add a weight; `name` must be new. `type` defaults to the array's own type."""
        if name in self.constants:
            raise ValueError(f"duplicate constant {name!r}")
        data = np.asarray(data) if data is not None else None
        c = Constant(type or TensorType.of_array(data), name, None, data=data, sparsity=sparsity)
        self.constants[name] = c
        return c

    def fresh_constant_name(self, base: str) -> str:
        """A constant name based on `base` that is not yet taken."""
        if base not in self.constants:
            return base
        i = 1
        while f"{base}.{i}" in self.constants:
            i += 1
        return f"{base}.{i}"

    # -- queries -------------------------------------------------------------
    def users(self) -> dict[Value, list[Op]]:
        """Map every value to the ops that use it (in op order). Recomputed per call."""
        uses: dict[Value, list[Op]] = {}
        for op in self.ops:
            for v in op.operands:
                uses.setdefault(v, []).append(op)
        return uses

    def output_values(self) -> set[Value]:
        return set(self.outputs.values())

    def walk(self) -> Iterator[Op]:
        return iter(list(self.ops))

    # -- mutation helpers for passes ----------------------------------------
    def replace_all_uses(self, old: Value, new: Value) -> None:
        """Make every op operand and module output that refers to `old` refer to `new`."""
        for op in self.ops:
            op.operands = [new if v is old else v for v in op.operands]
        for k, v in self.outputs.items():
            if v is old:
                self.outputs[k] = new

    def remove_unused_constants(self) -> list[str]:
        """Drop constants nothing refers to; return their names."""
        used = {v for op in self.ops for v in op.operands} | self.output_values()
        dead = [n for n, c in self.constants.items() if c not in used]
        for n in dead:
            del self.constants[n]
        return dead

    def copy(self) -> "Module":
        """A structural copy (new Values and Ops; constant arrays shared, not copied)."""
        mapping: dict[Value, Value] = {}
        m = Module(self.name)
        for v in self.inputs:
            mapping[v] = m.add_input(v.name, v.type)
        for n, c in self.constants.items():
            mapping[c] = m.add_constant(n, c.data, sparsity=c.sparsity, type=c.type)
        for op in self.ops:
            new_op = Op(op.name, [mapping[v] for v in op.operands], dict(op.attrs), [], op.loc)
            for r in op.results:
                nr = Value(r.type, r.name, new_op)
                mapping[r] = nr
                new_op.results.append(nr)
            m.ops.append(new_op)
        m.outputs = {k: mapping[v] for k, v in self.outputs.items()}
        return m
