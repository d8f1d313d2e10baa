"""Loss kernels (numpy): nn.nll_loss (semantics in `compiler/ops/loss.py`).

The loss is accumulated in float64 (float32 inputs sum many small terms) and
rounded to the input's dtype once.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("nn.nll_loss")
def nll_loss(log_probs, target, weight=None, *, reduction="mean", ignore_index=()):
    classes = log_probs.shape[1]
    t = np.asarray(target).astype(np.int64)
    counts = np.ones(t.shape, dtype=bool)
    if len(ignore_index):
        counts = t != int(ignore_index[0])
    bad = counts & ((t < 0) | (t >= classes))
    if bad.any():
        raise IndexError(f"target class {t[bad][0]} is out of range for {classes} classes")
    safe = np.where(counts, t, 0)
    picked = np.take_along_axis(log_probs, np.expand_dims(safe, 1), axis=1)[:, 0]
    w = counts.astype(np.float64)
    if weight is not None:
        w = w * np.asarray(weight, dtype=np.float64)[safe]
    loss = np.where(counts, -picked.astype(np.float64) * w, 0.0)
    if reduction == "sum":
        loss = loss.sum()
    elif reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = loss.sum() / w.sum()
    return np.asarray(loss, dtype=log_probs.dtype)
