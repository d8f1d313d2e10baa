"""Exact, deterministic pruning masks over scores.

Every function returns a boolean *prune* mask (True = set the weight to zero)
and removes exactly the number of entries asked for: `prune_count(s, n)`
entries (``floor(s * n + 0.5)``) for a sparsity `s`, or M - N of every group
of M for an N:M pattern. Ties between equal scores are broken by position:
the entry that comes first in C order goes first. Scores here are always
"smaller = less important" (|w| for magnitude, |w| * ||x|| for Wanda).

- `smallest`: the k smallest of one array (a per-tensor threshold);
- `row_balanced`: the same total, spread evenly over the rows (per output
  feature, as Wanda does); the few rows that take one extra entry are those
  whose next candidate has the smallest score;
- `global_smallest`: one threshold across several arrays;
- `n_of_m`: keep the N largest of every M consecutive entries of each row.
"""
from __future__ import annotations

import math

import numpy as np


def prune_count(fraction: float, n: int) -> int:
    """How many of `n` entries a sparsity `fraction` removes (round half up)."""
    return min(n, int(math.floor(fraction * n + 0.5)))


def smallest(scores: np.ndarray, k: int) -> np.ndarray:
    """Mask of the `k` smallest entries of `scores` (ties: lower flat index first)."""
    flat = np.ascontiguousarray(scores).reshape(-1)
    mask = np.zeros(flat.shape, dtype=bool)
    if k >= flat.size:
        mask[:] = True
    elif k > 0:
        threshold = np.partition(flat, k - 1)[k - 1]
        mask = flat < threshold
        need = k - int(mask.sum())
        if need > 0:
            mask[np.flatnonzero(flat == threshold)[:need]] = True
    return mask.reshape(scores.shape)


def row_balanced(scores: np.ndarray, k: int) -> np.ndarray:
    """Mask of `k` entries of the 2-D `scores`, as evenly spread over its rows as possible."""
    rows, cols = scores.shape
    mask = np.zeros(scores.shape, dtype=bool)
    if rows == 0 or cols == 0 or k <= 0:
        return mask
    per_row, extra = divmod(min(k, rows * cols), rows)
    order = np.argsort(scores, axis=1, kind="stable")
    if per_row:
        np.put_along_axis(mask, order[:, :per_row], True, axis=1)
    if extra:
        nxt = order[:, per_row]
        nxt_scores = np.take_along_axis(scores, nxt[:, None], axis=1)[:, 0]
        chosen = np.flatnonzero(smallest(nxt_scores, extra))
        mask[chosen, nxt[chosen]] = True
    return mask


def global_smallest(scores: list[np.ndarray], k: int) -> list[np.ndarray]:
    """Masks of the `k` smallest entries over all `scores` together (ties: earlier array first)."""
    if not scores:
        return []
    flat = np.concatenate([np.ascontiguousarray(s).reshape(-1) for s in scores])
    mask = smallest(flat, k)
    out, start = [], 0
    for s in scores:
        out.append(mask[start:start + s.size].reshape(s.shape))
        start += s.size
    return out


def n_of_m(scores: np.ndarray, n: int, m: int) -> np.ndarray:
    """Mask pruning all but the `n` largest of every `m` consecutive entries of each row.

    A last group of t < m entries (row length not a multiple of m) keeps min(n, t).
    """
    rows, cols = scores.shape
    mask = np.zeros(scores.shape, dtype=bool)
    full = cols // m * m
    if full:
        groups = scores[:, :full].reshape(rows, cols // m, m)
        order = np.argsort(groups, axis=2, kind="stable")
        gmask = np.zeros(groups.shape, dtype=bool)
        np.put_along_axis(gmask, order[:, :, :m - n], True, axis=2)
        mask[:, :full] = gmask.reshape(rows, full)
    tail = cols - full
    if tail > n:
        order = np.argsort(scores[:, full:], axis=1, kind="stable")
        tmask = np.zeros((rows, tail), dtype=bool)
        np.put_along_axis(tmask, order[:, :tail - n], True, axis=1)
        mask[:, full:] = tmask
    return mask
