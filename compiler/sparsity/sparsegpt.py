"""SparseGPT: prune with an OBS-style reconstruction of the remaining weights.

From "SparseGPT: Massive Language Models Can Be Accurately Pruned in
One-Shot" (Frantar and Alistarh, 2023). For a layer whose rows compute
``y = W_rows @ x`` over the reduction features, the calibration Hessian is
H = X^T X (X: every calibration token's reduction features, im2col patches
for a convolution). The reduction columns are visited in blocks of
`blocksize`; in each block the weights with the smallest w^2 / [H^-1]_jj^2
are chosen for removal (jointly over all rows of the block: an exact count,
spread over the blocks by cumulative rounding so the tensor total is
`prune_count(sparsity, numel)`), and column by column the error of zeroing
them is pushed into the columns not yet visited through the upper Cholesky
factor of H^-1 (the optimal brain surgeon update). `percdamp` times the mean
diagonal is added to H for stability; features that were never active get a
unit diagonal.

Convolutions with groups use one Hessian per group (the rows of a group see
only its input channels).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .masks import prune_count, smallest
from .weights import WeightUse


def hessians(use: WeightUse, activations: list[np.ndarray]) -> list[np.ndarray]:
    """X^T X per group of the layer over all calibration `activations` (float64)."""
    groups = use.groups
    cols = use.row_shape[1]
    hs = [np.zeros((cols, cols)) for _ in range(groups)]
    for x in activations:
        x = np.asarray(x, dtype=np.float64)
        if use.kind == "matmul":
            feats = [x.reshape(-1, x.shape[-1])]
        else:
            feats = list(_patches(x, use))
        for g, f in enumerate(feats):
            hs[g] += f.T @ f
    return hs


def _patches(x: np.ndarray, use: WeightUse):
    """Per group, the [positions, C/groups * taps] im2col matrix of conv input `x`."""
    attrs = use.op.attrs
    ks = use.shape[2:]
    nd = len(ks)
    pads = attrs["pads"]
    x = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[nd + i]) for i in range(nd)])
    extents = tuple(d * (k - 1) + 1 for k, d in zip(ks, attrs["dilations"]))
    win = sliding_window_view(x, extents, axis=tuple(range(2, 2 + nd)))
    win = win[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in attrs["strides"])
              + tuple(slice(None, None, d) for d in attrs["dilations"])]
    n, c = x.shape[:2]
    outs = win.shape[2:2 + nd]
    cg = c // use.groups
    # win axes: (n, c, *outs, *ks) -> per group (n, *outs) x (cg, *ks)
    for g in range(use.groups):
        part = win[:, g * cg:(g + 1) * cg]
        order = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
        yield part.transpose(order).reshape(n * int(np.prod(outs)), -1)


def sparsegpt_rows(rows: np.ndarray, h: np.ndarray, k: int, blocksize: int = 128,
                   percdamp: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(updated rows, prune mask): `k` weights of `rows` [R, C] removed, the rest adjusted."""
    w = np.array(rows, dtype=np.float64)
    r, c = w.shape
    h = np.array(h, dtype=np.float64)
    diag = np.arange(c)
    dead = h[diag, diag] == 0
    h[dead, dead] = 1.0
    mean_diag = float(np.mean(h[diag, diag])) if c else 1.0
    h[diag, diag] += percdamp * mean_diag
    hinv = _upper_cholesky_of_inverse(h)
    mask = np.zeros((r, c), dtype=bool)
    for i1 in range(0, c, blocksize):
        i2 = min(i1 + blocksize, c)
        w1 = w[:, i1:i2].copy()
        q1 = np.zeros_like(w1)
        err1 = np.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        kb = _share(k, c, i2) - _share(k, c, i1)
        scores = np.square(w1) / np.square(np.diag(hinv1))[None, :]
        mask1 = smallest(scores, kb)
        for i in range(i2 - i1):
            col = w1[:, i]
            q = np.where(mask1[:, i], 0.0, col)
            q1[:, i] = q
            e = (col - q) / hinv1[i, i]
            w1[:, i:] -= np.outer(e, hinv1[i, i:])
            err1[:, i] = e
        w[:, i1:i2] = q1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
        mask[:, i1:i2] = mask1
    w[mask] = 0.0
    return w, mask


def _share(k: int, total: int, upto: int) -> int:
    """Cumulative share of `k` over the first `upto` of `total` columns (round half up)."""
    return (2 * k * upto + total) // (2 * total) if total else 0


def _upper_cholesky_of_inverse(h: np.ndarray) -> np.ndarray:
    """U upper triangular with H^-1 = U^T U (more damping if H is not positive definite)."""
    eye = np.eye(h.shape[0])
    damp = 0.0
    for _ in range(8):
        try:
            inv = np.linalg.inv(h + damp * eye)
            return np.linalg.cholesky((inv + inv.T) / 2).T
        except np.linalg.LinAlgError:
            damp = max(damp * 10, 1e-6 * float(np.mean(np.diag(h))) or 1e-6)
    raise np.linalg.LinAlgError("the calibration Hessian is not positive definite")


def sparsegpt_prune(use: WeightUse, data: np.ndarray, hs: list[np.ndarray],
                    sparsity: float, blocksize: int = 128) -> np.ndarray:
    """The weight (its own shape and dtype) with exactly prune_count(sparsity, numel) zeros."""
    rows = np.asarray(use.rows(data), dtype=np.float64)
    total = prune_count(sparsity, rows.size)
    groups = len(hs)
    per = rows.shape[0] // groups
    out = np.empty_like(rows)
    size = per * rows.shape[1]
    for g in range(groups):
        k = _share(total, groups * size, (g + 1) * size) - _share(total, groups * size, g * size)
        out[g * per:(g + 1) * per], _ = sparsegpt_rows(rows[g * per:(g + 1) * per], hs[g], k,
                                                       blocksize)
    return use.from_rows(out).astype(data.dtype)
