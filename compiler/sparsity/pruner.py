"""Pruning a module: resolve the spec per weight, apply the methods, measure the damage.

`prune_module(module, spec, calibration)` edits the module's constants (new
arrays: constant data may be shared with other modules and is never written
in place) and returns a report:

1. The layer weights (`weights.find_weight_uses`) get their level and method
   from the spec (`spec.resolve_levels`): overrides, first/last, DSL
   annotations.
2. The dense model runs on the calibration inputs (`calibration.Interpreter`)
   to record its outputs.
3. Methods that need no activations (magnitude, global-magnitude, N:M) are
   applied to every weight at once.
4. The model runs again on the same inputs. Before each layer op, weights
   planned for Wanda or SparseGPT are pruned from the activations reaching
   that op in this run, so each layer sees its input as produced by the
   already-pruned layers before it (sequential pruning). The outputs of this
   run are the pruned model's outputs.
5. The report lists, per weight: requested level, method, why, nonzeros
   before and after, achieved sparsity; and per output the deviation from the
   dense model (max abs, relative L2).

Recurrent weights have no per-layer activations here for R (the hidden
state), so Wanda and SparseGPT fall back to magnitude for them (and
SparseGPT for W too); the report notes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import PassError
from ..ir.core import Constant, Module, Op, Value
from . import masks
from .calibration import CalibrationSet, Interpreter, output_deviation
from .sparsegpt import hessians, sparsegpt_prune
from .spec import LayerPlan, PruneSpec, resolve_levels
from .wanda import input_sq_norms, wanda_mask
from .weights import WeightUse, find_weight_uses, weights_by_name

SEMANTICS_NOTE = ("pruning changes the model's semantics: its outputs deviate from the dense "
                  "model's (see 'deviation')")


@dataclass
class PruneReport:
    """What `prune_module` did; `as_dict()` is the JSON stored in the artifact."""

    spec: str
    calibration: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    deviation: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        pruned = [row for row in self.layers if row["method"] != "none"]
        if pruned:
            semantics = SEMANTICS_NOTE
        elif not self.layers:
            semantics = "nothing pruned: the model has no layer weights"
        else:
            semantics = ("nothing pruned: no weight got a level (the first and last layer stay "
                         "dense unless first=/last= are given)")
        return {
            "spec": self.spec,
            "semantics": semantics,
            "calibration": self.calibration,
            "layers": self.layers,
            "deviation": self.deviation,
            "weights_pruned": len(pruned),
            "params_zeroed": sum(row["nnz_before"] - row["nnz_after"] for row in self.layers),
        }


def prune_module(module: Module, spec: PruneSpec, calibration: CalibrationSet) -> PruneReport:
    """Prune `module`'s weights as `spec` says; see the module docstring."""
    uses = find_weight_uses(module)
    by_name = weights_by_name(uses)
    for name, group in by_name.items():
        if group[0].weight.data is None:
            raise PassError(f"cannot prune @{name}: its data is elided (dense<elided>)",
                            group[0].op.loc, hint="compile a file that holds the weights "
                                                  "(wsc compile --emit-ir writes one)")
    names = list(by_name)
    first = {u.weight.name for u in uses if uses and u.op is uses[0].op}
    last = {u.weight.name for u in uses if uses and u.op is uses[-1].op}
    annotations = {n: g[0].weight.sparsity for n, g in by_name.items()}
    plans = resolve_levels(spec, names, annotations, first, last)
    before = {n: int(np.count_nonzero(g[0].weight.data)) for n, g in by_name.items()}
    notes: dict[str, str] = {}

    if all(plans[n].method == "none" for n in names):
        report = PruneReport(spec.text, calibration.source)
        report.layers = [_row(by_name[n][0], plans[n], before[n], before[n],
                              int(by_name[n][0].weight.data.size), None) for n in names]
        report.deviation = {k: {"max_abs": 0.0, "rel_l2": 0.0} for k in module.outputs}
        return report

    interp = Interpreter(module)
    dense_out = interp.run(calibration.batches)

    # Methods that need only the weights.
    global_pool = [n for n in names if plans[n].method == "global-magnitude"]
    if global_pool:
        level = spec.level.sparsity if spec.level else 0.0
        scores = [np.abs(by_name[n][0].rows(by_name[n][0].weight.data)) for n in global_pool]
        total = sum(s.size for s in scores)
        for n, mask in zip(global_pool, masks.global_smallest(scores, masks.prune_count(level, total))):
            _apply_mask(by_name[n][0], mask)
    for n in names:
        plan, use = plans[n], by_name[n][0]
        method = plan.method
        if method in ("wanda", "sparsegpt") and (use.kind == "rnn" and
                                                  (method == "sparsegpt" or use.role == "R")):
            notes[n] = (f"{method} needs the layer's input; the recurrent "
                        f"{'hidden state' if use.role == 'R' else 'layer'} is pruned by magnitude")
            method = "magnitude"
        if method == "magnitude":
            rows = np.abs(use.rows(use.weight.data))
            _apply_mask(use, masks.smallest(rows, masks.prune_count(plan.level.sparsity, rows.size)))
        elif method == "nm":
            rows = np.abs(use.rows(use.weight.data))
            _apply_mask(use, masks.n_of_m(rows, plan.level.n, plan.level.m))

    # Calibration-based methods, sequentially, during the run of the pruned model.
    pending = {n for n in names if plans[n].method in ("wanda", "sparsegpt") and n not in notes}

    def before_op(index: int, op: Op, envs: list[dict[Value, np.ndarray]]) -> None:
        for use in uses:
            n = use.weight.name
            if use.op is not op or n not in pending:
                continue
            pending.discard(n)
            acts = [Interpreter.value(env, use.activation) for env in envs]
            plan = plans[n]
            if plan.method == "wanda":
                mask = wanda_mask(use, use.weight.data, input_sq_norms(use, acts),
                                  plan.level.sparsity)
                _apply_mask(use, mask)
            else:
                _set_data(use.weight, sparsegpt_prune(use, use.weight.data, hessians(use, acts),
                                                      plan.level.sparsity))

    pruned_out = interp.run(calibration.batches, before_op if pending else None)

    report = PruneReport(spec.text, calibration.source)
    for n in names:
        use, plan = by_name[n][0], plans[n]
        c = use.weight
        nnz = int(np.count_nonzero(c.data))
        numel = int(c.data.size)
        if c.type.encoding is not None:  # pruned after select-kernels: keep the type honest
            c.type = c.type.with_encoding(type(c.type.encoding)(c.type.encoding.format, nnz))
        report.layers.append(_row(use, plan, before[n], nnz, numel, notes.get(n)))
    report.deviation = output_deviation(dense_out, pruned_out)
    return report


def _row(use: WeightUse, plan: LayerPlan, nnz_before: int, nnz_after: int, numel: int,
         note: str | None) -> dict[str, Any]:
    row = {
        "weight": plan.weight,
        "op": use.op.name,
        "shape": list(use.shape),
        "requested": str(plan.level),
        "requested_sparsity": plan.level.fraction,
        "method": plan.method if not note else "magnitude",
        "source": plan.source,
        "nnz_before": nnz_before,
        "nnz_after": nnz_after,
        "achieved_sparsity": 1.0 - nnz_after / numel if numel else 0.0,
    }
    if note:
        row["note"] = note
    return row


def _apply_mask(use: WeightUse, mask_rows: np.ndarray) -> None:
    """Zero the weight where the row-view mask says so (into a new array)."""
    data = np.array(use.weight.data, copy=True)
    use.rows(data)[mask_rows] = 0
    _set_data(use.weight, data)


def _set_data(c: Constant, data: np.ndarray) -> None:
    c.data = np.ascontiguousarray(data, dtype=c.type.np_dtype)
