"""Wanda: prune by |weight| x the L2 norm of the input feature it multiplies.

From "A Simple and Effective Pruning Approach for Large Language Models"
(Sun et al., 2023). The score of weight W[out, in] is |W[out, in]| *
||X[:, in]||_2, the norm taken over every calibration token (every row of
the layer's input, every spatial position of a conv input); the weights are
compared within each output row (per output feature), and the lowest scores
are removed. A weight that meets large activations survives even when it is
small, which is what magnitude pruning gets wrong on layers whose input
channels have very different scales.

For a convolution the input feature of column (c, i, j) of the row view is
input channel c of the output's group (the norm per input channel, as the
brief of the method says); for an rnn's W it is the input feature of x.

`input_sq_norms` accumulates the statistic over calibration batches;
`wanda_mask` turns it into an exact row-balanced prune mask (see masks.py).
"""
from __future__ import annotations

import numpy as np

from .masks import prune_count, row_balanced
from .weights import WeightUse


def input_sq_norms(use: WeightUse, activations: list[np.ndarray]) -> np.ndarray:
    """Sum of squares of every input feature (channel) over all `activations` (float64)."""
    total = None
    for x in activations:
        x = np.asarray(x, dtype=np.float64)
        if use.kind == "matmul":
            s = np.square(x).reshape(-1, x.shape[-1]).sum(axis=0)
        elif use.kind == "conv":
            s = np.square(x).sum(axis=tuple(i for i in range(x.ndim) if i != 1))
        else:  # rnn W: x [T, B, I]
            s = np.square(x).reshape(-1, x.shape[-1]).sum(axis=0)
        total = s if total is None else total + s
    return total


def column_norms(use: WeightUse, sq_norms: np.ndarray) -> np.ndarray:
    """The input-feature norm under every entry of the weight's row view [outputs, reduction]."""
    norms = np.sqrt(sq_norms)
    rows, cols = use.row_shape
    if use.kind == "conv":
        groups = use.groups
        per_group = use.shape[1]
        taps = cols // per_group
        g = np.repeat(norms.reshape(groups, per_group), taps, axis=1)   # [groups, cols]
        return np.repeat(g, rows // groups, axis=0)                    # [rows, cols]
    return np.broadcast_to(norms[None, :], (rows, cols))


def wanda_mask(use: WeightUse, data: np.ndarray, sq_norms: np.ndarray,
               sparsity: float) -> np.ndarray:
    """Prune mask over the row view removing exactly `prune_count(sparsity, numel)` weights."""
    w = np.abs(np.asarray(use.rows(data), dtype=np.float64))
    scores = w * column_norms(use, sq_norms)
    return row_balanced(scores, prune_count(sparsity, w.size))
