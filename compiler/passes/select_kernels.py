"""select-kernels: dense or sparse kernel for every layer weight, by the measured cost model.

    select-kernels                       the packaged cost model (measured on this machine)
    select-kernels{cost-model=costs.json,min-speedup=1.5}
    select-kernels{force=sparse}         every weight that has a sparse kernel (tests, studies)

A weight chosen for a sparse kernel gets a sparse encoding on its constant's
type: ``#csc(nnz=..)`` on the right operand of nn.matmul, ``#csr(nnz=..)``
on the weight of nn.conv2d and on the W / R of rnn.rnn, rnn.gru, rnn.lstm
(the sparse-kernel contract, docs/sparsity.md); lowering then stores only
its CSR parts and emits ``sparse.matmul_csc`` / ``sparse.conv2d_csr`` /
``sparse.rnn|gru|lstm``. Everything else keeps (or gets back) the dense
type. W and R of a recurrent op are decided independently: W as the hoisted
input projection (a matmul of T*B tokens), R as the per-step product (B
tokens).

The decision (`compiler/sparsity/costmodel.py`) uses the weight's measured
density, so zeros a model already has are used without pruning. A weight is
sparse only if every op using it is a layer with a sparse kernel and the
model predicts at least `min-speedup` for each; it never goes sparse where
the model says dense is faster. ``force=dense`` / ``force=sparse`` override
the model (sparse only where a sparse kernel exists).

Statistics: ``sparse``, ``dense``, ``params-sparse`` (elements of the sparse
weights); details: ``decisions`` (per weight: kernel, format, reason,
modelled speedup, crossover, class) and ``cost_model`` (its source and how
it was measured).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PassError
from ..ir.core import Module
from ..ir.types import SparseEncoding
from ..sparsity.costmodel import (FORMATS, RNN_SPARSE_KERNELS, SPARSE_KERNELS, CostModel,
                                  Decision, sparse_kernel)
from ..sparsity.weights import WeightUse, find_weight_uses, weights_by_name
from .base import Pass, PassContext, option

FORCE_CHOICES = ("auto", "dense", "sparse")


@dataclass(frozen=True)
class SelectKernels(Pass):
    name = "select-kernels"
    summary = "Choose a dense or sparse kernel per weight with the measured cost model."

    force: str = option("auto", "auto (cost model), dense, or sparse (wherever a sparse "
                                "kernel exists)")
    cost_model: str = option("", "cost file from `wsc calibrate` (empty: the packaged one)")
    min_speedup: float = option(1.2, "smallest modelled speedup for which a sparse kernel is "
                                     "chosen (>= 1)")
    assume_dim: int = option(1, "size of symbolic dims (batch) not bound by --input-shape")

    def __post_init__(self) -> None:
        if self.force not in FORCE_CHOICES:
            raise PassError(f"select-kernels: force must be one of {', '.join(FORCE_CHOICES)}, "
                            f"got {self.force!r}")
        if not self.min_speedup >= 1.0:
            raise PassError(f"select-kernels: min-speedup must be >= 1 (a sparse kernel is "
                            f"never chosen where dense is faster), got {self.min_speedup}")
        if self.assume_dim < 1:
            raise PassError(f"select-kernels: assume-dim must be >= 1, got {self.assume_dim}")

    def run(self, module: Module, ctx: PassContext) -> None:
        model = CostModel.load(self.cost_model or None) if self.force == "auto" else None
        users = module.users()
        outputs = module.output_values()
        decisions = {}
        n_sparse = n_dense = params_sparse = 0
        for name, group in weights_by_name(find_weight_uses(module)).items():
            c = group[0].weight
            numel = int(np.prod(c.type.shape))
            nnz = _nnz(c)
            density = nnz / numel if numel else 1.0
            decision = self._decide(group, users.get(c, []), c in outputs, density, nnz,
                                    model, ctx.symbols)
            if decision.sparse:
                c.type = c.type.with_encoding(SparseEncoding(decision.format, nnz))
                n_sparse += 1
                params_sparse += numel
            else:
                c.type = c.type.with_encoding(None)
                n_dense += 1
            decisions[name] = {"density": density, "nnz": nnz, **decision.as_dict()}
        ctx.stat("sparse", n_sparse)
        ctx.stat("dense", n_dense)
        ctx.stat("params-sparse", params_sparse)
        ctx.detail("decisions", decisions)
        if model is not None:
            ctx.detail("cost_model", {"source": model.source, "measured": model.measured})
        else:
            ctx.detail("cost_model", {"source": f"not used (force={self.force})"})

    def _decide(self, group: list[WeightUse], users, is_output: bool, density: float,
                nnz: int, model: CostModel | None, symbols: dict[str, int]) -> Decision:
        first = group[0]
        kinds = {_sparse_kind(u)[0] for u in group}
        dense_kernel = first.op.name
        if None in kinds or len(kinds) != 1:
            whys = sorted({_sparse_kind(u)[1] for u in group if _sparse_kind(u)[0] is None})
            return Decision(False, dense_kernel, None, "; ".join(whys) or
                            "uses of different kinds (matmul, conv, rnn)")
        other = [op for op in users if op not in {u.op for u in group}]
        if other or is_output or len(users) != len(group):
            what = (f"also used by {other[0].name}" if other else
                    "also a model output" if is_output else "used twice by one op")
            return Decision(False, dense_kernel, None, f"{what}: kept dense")
        if first.weight.data is None and first.weight.type.encoding is None:
            return Decision(False, dense_kernel, None, "data elided: density unknown")
        kind = kinds.pop()
        if self.force == "dense":
            return Decision(False, dense_kernel, None, "forced dense (select-kernels{force=dense})")
        if self.force == "sparse":
            return Decision(True, sparse_kernel(kind, first.op.name), FORMATS[kind],
                            f"forced sparse (select-kernels{{force=sparse}}), density "
                            f"{density:.2f}")
        chosen = [model.decide(u, density, symbols, self.assume_dim, self.min_speedup)
                  for u in group]
        dense = [d for d in chosen if not d.sparse]
        return dense[0] if dense else chosen[0]


def _sparse_kind(use: WeightUse) -> tuple[str | None, str]:
    """("matmul" / "conv2d" / "rnn", "") when a sparse kernel can run this use, else
    (None, why).

    A fused op can run on a sparse kernel when its epilogue is one the kernel
    has: an optional bias ([N] for matmul, [O] for conv), a residual and any
    activation; a fused projection shortcut or max pool needs the dense kernel.
    """
    op = use.op
    if op.name in RNN_SPARSE_KERNELS and use.kind == "rnn":
        return "rnn", ""
    kind = {"nn.matmul": "matmul", "fused.matmul_epilogue": "matmul",
            "nn.conv2d": "conv2d", "fused.conv2d_epilogue": "conv2d"}.get(op.name)
    if kind is None or use.kind not in ("matmul", "conv"):
        return None, f"no sparse kernel for {op.name}"
    if op.name.startswith("fused."):
        if op.attrs.get("shortcut"):
            return None, (f"{op.name} computes a projection shortcut, which "
                          f"{SPARSE_KERNELS[kind]} cannot")
        if op.attrs.get("pool_kernel"):
            return None, f"{op.name} ends in a max pool, which {SPARSE_KERNELS[kind]} cannot"
        if op.attrs.get("has_bias") and kind == "matmul":
            bias = op.operands[2].type
            if bias.shape != (use.shape[1],):
                return None, f"{op.name} adds a bias of shape {list(bias.shape)}, not [N]"
    return kind, ""


def _nnz(c) -> int:
    if c.data is not None:
        return int(np.count_nonzero(c.data))
    if c.type.encoding is not None:
        return c.type.encoding.nnz
    return int(np.prod(c.type.shape))
