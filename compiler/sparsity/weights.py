"""Layer weights: which constants the sparsity passes look at, and how to see them as rows.

A *weight use* is one op operand that is a constant weight of a layer:

- ``nn.matmul(x, @W)`` with W[K, N] of rank 2 and x not a constant
  (a Gemm after import is nn.matmul + math.add), and its fused form
  ``fused.matmul_epilogue``; kind ``matmul``;
- ``nn.conv2d`` / ``nn.conv3d`` / ``fused.conv2d_epilogue`` with a constant
  weight W[O, C/groups, k...]; kind ``conv``;
- the ``w`` and ``r`` operands of ``rnn.rnn``, ``rnn.gru``, ``rnn.lstm``
  (W[D, G*H, I], R[D, G*H, H]); kind ``rnn``, role ``W`` or ``R``.

Every pruning method works on the *row view* of a weight: a 2-D array
[outputs, reduction] with one row per output feature and the reduction
(contracted) dim along the row. For matmul that is W^T (row n holds W[:, n]);
for conv the [O, C/groups * k...] reshape (column index (c*kh + i)*kw + j,
the order of the sparse-kernel contract); for rnn the [D*G*H, I or H]
reshape. `rows` and `from_rows` convert between the two.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from ..ir.core import Constant, Module, Op, Value

RNN_OPS = ("rnn.rnn", "rnn.gru", "rnn.lstm")
MATMUL_OPS = ("nn.matmul", "fused.matmul_epilogue")
CONV_OPS = ("nn.conv2d", "nn.conv3d", "fused.conv2d_epilogue")
FLOAT_DTYPES = ("f16", "f32", "f64")


@dataclass(frozen=True, eq=False)
class WeightUse:
    """One weight operand of one layer op."""

    op: Op
    index: int          # position of the op in module.ops
    operand: int        # operand index of the weight
    kind: str           # "matmul" | "conv" | "rnn"
    role: str = ""      # "W" or "R" for rnn weights

    @property
    def weight(self) -> Constant:
        return self.op.operands[self.operand]  # type: ignore[return-value]

    @property
    def activation(self) -> Value:
        """The value the weight multiplies (the layer's input)."""
        return self.op.operands[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weight.type.shape)  # type: ignore[arg-type]

    @property
    def groups(self) -> int:
        return int(self.op.attrs.get("groups", 1)) if self.kind == "conv" else 1

    def rows(self, data: np.ndarray) -> np.ndarray:
        """The [outputs, reduction] view of `data` (a view where numpy allows)."""
        if self.kind == "matmul":
            return data.T
        return data.reshape(self.row_shape)

    def from_rows(self, rows: np.ndarray) -> np.ndarray:
        """Inverse of `rows`: an array of the weight's shape."""
        if self.kind == "matmul":
            return np.ascontiguousarray(rows.T)
        return np.ascontiguousarray(rows).reshape(self.shape)

    @property
    def row_shape(self) -> tuple[int, int]:
        s = self.shape
        if self.kind == "matmul":
            return s[1], s[0]
        if self.kind == "rnn":
            return s[0] * s[1], s[2]
        return s[0], prod(s[1:])

    def macs(self, symbols: dict[str, int], default_dim: int = 1) -> int:
        """Dense multiply-accumulates of this weight per run (symbolic dims bound or defaulted)."""
        numel = prod(self.shape)
        if self.kind == "matmul":
            lead = self.activation.type.shape[:-1]
            return _bound_prod(lead, symbols, default_dim) * numel
        if self.kind == "conv":
            out = self.op.results[0].type.shape
            return _bound_prod((out[0],) + tuple(out[2:]), symbols, default_dim) * numel
        t, b = self.activation.type.shape[0], self.activation.type.shape[1]
        return _bound_prod((t, b), symbols, default_dim) * numel


def _bound_prod(dims, symbols: dict[str, int], default_dim: int) -> int:
    n = 1
    for d in dims:
        n *= symbols.get(d, default_dim) if isinstance(d, str) else int(d)
    return n


def find_weight_uses(module: Module) -> list[WeightUse]:
    """Every weight use of the module, in op order (rnn: W before R)."""
    uses: list[WeightUse] = []
    for index, op in enumerate(module.ops):
        for operand, kind, role in _weight_operands(op):
            uses.append(WeightUse(op, index, operand, kind, role))
    return uses


def _weight_operands(op: Op) -> list[tuple[int, str, str]]:
    def is_weight(v: Value, rank: int) -> bool:
        return (isinstance(v, Constant) and v.type.rank == rank and v.type.is_static
                and v.type.dtype in FLOAT_DTYPES)

    if op.name in MATMUL_OPS and len(op.operands) >= 2:
        x, w = op.operands[:2]
        if is_weight(w, 2) and not x.is_constant:
            return [(1, "matmul", "")]
    elif op.name in CONV_OPS and len(op.operands) >= 2:
        x, w = op.operands[:2]
        if is_weight(w, x.type.rank) and not x.is_constant:
            return [(1, "conv", "")]
    elif op.name in RNN_OPS:
        out = []
        for operand, role in ((1, "W"), (2, "R")):
            if is_weight(op.operands[operand], 3):
                out.append((operand, "rnn", role))
        return out
    return []


def weights_by_name(uses: list[WeightUse]) -> dict[str, list[WeightUse]]:
    """Uses grouped by constant name, in order of first use."""
    out: dict[str, list[WeightUse]] = {}
    for u in uses:
        out.setdefault(u.weight.name, []).append(u)
    return out


def count_nonzero(c: Constant) -> int | None:
    """Nonzeros of a constant's data (None when the data is elided)."""
    return None if c.data is None else int(np.count_nonzero(c.data))
