"""analyze-sparsity: measure the density of every layer weight (reports only; no rewrite).

For every weight of nn.matmul, nn.conv2d/3d and rnn.* (W and R): shape,
nonzeros, density, dense MACs and the MACs a zero-skipping kernel skips (see
`compiler/sparsity/analysis.py`). The statistics go to the pass report
(``weights``, ``params``, ``nonzeros``, ``macs``, ``macs-skipped``) and the
per-layer table to ``ctx.details`` (``layers``, ``totals``, ``assumed``);
select-kernels uses the same measurements, so zeros a model already has are
exploited without pruning.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.core import Module
from ..sparsity.analysis import analyze, totals, unbound_symbols
from .base import Pass, PassContext, option


@dataclass(frozen=True)
class AnalyzeSparsity(Pass):
    name = "analyze-sparsity"
    summary = "Measure density, nonzeros and skippable MACs of every layer weight."

    assume_dim: int = option(1, "size of symbolic dims not bound by --input-shape, for MACs")

    def run(self, module: Module, ctx: PassContext) -> None:
        rows = analyze(module, ctx.symbols, self.assume_dim)
        t = totals(rows)
        ctx.stat("weights", t["weights"])
        ctx.stat("params", t["params"])
        ctx.stat("nonzeros", t["nnz"])
        ctx.stat("macs", t["macs"])
        ctx.stat("macs-skipped", t["macs_skipped"])
        ctx.detail("layers", rows)
        ctx.detail("totals", t)
        ctx.detail("assumed", {s: self.assume_dim for s in unbound_symbols(module, ctx.symbols)})
