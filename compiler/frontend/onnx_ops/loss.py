"""Converters for ONNX loss ops: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss.

Both become `nn.nll_loss` (`compiler/ops/loss.py`); SoftmaxCrossEntropyLoss
first takes `nn.log_softmax` over the class dim 1, which is also its optional
second output (`log_prob`).
"""
from __future__ import annotations

from .registry import converter


def _loss_attrs(n) -> dict:
    reduction = n.attr("reduction", "mean")
    if reduction not in ("none", "sum", "mean"):
        n.fail(f"reduction={reduction!r} is not one of 'none', 'sum', 'mean'")
    ignore = [int(n.attr("ignore_index"))] if n.has_attr("ignore_index") else []
    return {"reduction": reduction, "ignore_index": ignore}


def _check_scores(n, x):
    if x.type.rank < 2:
        n.fail(f"the scores must be [N, C, ...] (classes along dim 1), got {x.type}")


@converter("NegativeLogLikelihoodLoss", since=12)
def negative_log_likelihood_loss(n):
    x, target, weight = n.input(0), n.input(1), n.optional_input(2)
    _check_scores(n, x)
    operands = [x, target] + ([weight] if weight is not None else [])
    return n.op("nn.nll_loss", operands, _loss_attrs(n))


@converter("SoftmaxCrossEntropyLoss", since=12)
def softmax_cross_entropy_loss(n):
    x, target, weight = n.input(0), n.input(1), n.optional_input(2)
    _check_scores(n, x)
    log_prob = n.op("nn.log_softmax", [x], {"axis": 1})
    operands = [log_prob, target] + ([weight] if weight is not None else [])
    return [n.op("nn.nll_loss", operands, _loss_attrs(n)), log_prob]
