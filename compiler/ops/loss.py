"""Loss ops: the negative log-likelihood of class scores (ONNX NegativeLogLikelihoodLoss,
and SoftmaxCrossEntropyLoss as a log_softmax followed by it).

Shapes: log_probs [N, C] or [N, C, d1, ..., dk] (C classes along dim 1),
target [N] or [N, d1, ..., dk] of class indices, weight [C]:

    loss[n, d...] = -log_probs[n, target[n, d...], d...] * weight[target[n, d...]]

(weight 1 without a weight operand). Entries whose target is one of
`ignore_index` contribute 0 and do not count towards a mean. Reductions:
'none' keeps the target's shape; 'sum' adds everything; 'mean' divides the sum
by the sum of the weights of the entries that count (their number, without a
weight operand). A target outside [0, C) that is not ignored is an error at
run time.
"""
from __future__ import annotations

from math import prod

from ..ir.types import INT_DTYPES, TensorType
from .registry import Attr, ShapeError, define
from .shapes import fmt_shape, require_float


def _nll_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, target = ins[:2]
    weight = ins[2] if len(ins) > 2 else None
    require_float(x, "nll_loss: log_probs")
    if x.rank < 2:
        raise ShapeError(f"nll_loss: log_probs must be [N, C, ...] of rank >= 2, got {x}")
    if target.dtype not in INT_DTYPES:
        raise ShapeError(f"nll_loss: target must hold integer class indices, got {target.dtype}")
    want = (x.shape[0],) + x.shape[2:]
    if target.shape != want:
        raise ShapeError(f"nll_loss: target {fmt_shape(target.shape)} must be {fmt_shape(want)} "
                         f"(log_probs {fmt_shape(x.shape)} without its class dim 1)")
    if weight is not None:
        if weight.dtype != x.dtype or weight.shape != (x.shape[1],):
            raise ShapeError(f"nll_loss: weight must be {x.dtype}[{x.shape[1]}] (one per class), "
                             f"got {weight}")
    if len(attrs["ignore_index"]) > 1:
        raise ShapeError(f"nll_loss: ignore_index lists at most one class, got "
                         f"{attrs['ignore_index']}")
    shape = target.shape if attrs["reduction"] == "none" else ()
    return [TensorType(shape, x.dtype)]


define("nn.nll_loss", ["log_probs", "target", "weight?"], _nll_infer,
       lambda ins, outs, attrs: 3 * prod(ins[1].shape), "opaque",
       "Negative log-likelihood of the target classes: -log_probs[n, target[n, ...], ...] "
       "times the target's class weight, reduced by `reduction` (see compiler/ops/loss.py). "
       "log_probs [N, C, d...], target [N, d...] integer classes, weight [C].",
       [Attr("reduction", "str", "mean",
             "'none': per-entry losses in the target's shape; 'sum'; 'mean': the sum divided "
             "by the total weight of the entries that count", choices=("none", "sum", "mean")),
        Attr("ignore_index", "ints", [],
             "a target value (at most one) whose entries contribute 0 and do not count "
             "towards the mean; empty: every entry counts")])
