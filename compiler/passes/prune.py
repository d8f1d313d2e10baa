"""prune: remove weights as a prune spec asks (this pass CHANGES the model's outputs).

    prune{spec="magnitude:0.9,fc3*=0"}
    prune{spec="wanda:0.5",calibration=calib.npz}
    prune{spec="nm:2:4",samples=32,seed=1}

The spec (`compiler/sparsity/spec.py`) names a method — magnitude (per
tensor), global-magnitude (one threshold across layers), nm (N:M along the
reduction dim), wanda, sparsegpt — and per-weight levels; DSL ``sparsity``
annotations are honoured. Each weight ends with exactly the requested number
of zeros (ties broken by position). The model runs on calibration inputs
(`calibration`, an .npz keyed by input name, else `samples` seeded random
samples) before and after, and the report gives each output's deviation from
the dense model; Wanda and SparseGPT also take their activations from these
runs. Run it after folding (BatchNorm folded into a conv is pruned as one
weight) and before select-kernels. ``wsc compile --prune SPEC`` inserts it.

Statistics: ``weights-pruned``, ``params-zeroed``, ``semantics-changed``
(always 1: the outputs are no longer the source model's); details:
``spec``, ``layers`` (per weight: requested and achieved sparsity, method,
why), ``deviation`` (per output: max_abs, rel_l2), ``calibration``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.core import Module
from ..sparsity.calibration import load_calibration, random_calibration
from ..sparsity.pruner import prune_module
from ..sparsity.spec import parse_prune_spec
from .base import Pass, PassContext, option


@dataclass(frozen=True)
class Prune(Pass):
    name = "prune"
    summary = "Prune weights to a spec's sparsity (changes the outputs; reports the deviation)."

    spec: str = option("magnitude", "what to prune: METHOD[:LEVEL][,GLOB=LEVEL...], e.g. "
                                    "magnitude:0.9 or nm:2:4 (see docs/sparsity.md)")
    calibration: str = option("", "calibration inputs: an .npz keyed by input name "
                                  "(empty: seeded random inputs)")
    samples: int = option(16, "number of random calibration samples")
    seed: int = option(0, "seed of the random calibration samples")

    def __post_init__(self) -> None:
        parse_prune_spec(self.spec)  # a bad spec is a pipeline error, before any work

    def run(self, module: Module, ctx: PassContext) -> None:
        spec = parse_prune_spec(self.spec)
        if self.calibration:
            calib = load_calibration(self.calibration, module)
        else:
            calib = random_calibration(module, ctx.symbols, self.samples, self.seed)
        report = prune_module(module, spec, calib).as_dict()
        ctx.stat("weights-pruned", report["weights_pruned"])
        ctx.stat("params-zeroed", report["params_zeroed"])
        ctx.stat("semantics-changed", 1)
        for key in ("spec", "semantics", "calibration", "layers", "deviation"):
            ctx.detail(key, report[key])
