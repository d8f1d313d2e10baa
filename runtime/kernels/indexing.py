"""Indexing kernels (numpy): gather, scatter, one-hot, arg-max/min, top-k, triangles.

Indices may be negative (counting from the end of their dim); an index outside
[-size, size) raises IndexError, which the executor reports with the op's
location. Scatters return a new array; no kernel writes into its inputs.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _wrap(indices: np.ndarray, size: int) -> np.ndarray:
    """Indices with negatives counted from the end, checked against [-size, size)."""
    idx = np.asarray(indices).astype(np.int64, copy=False)
    if idx.size and (idx.min() < -size or idx.max() >= size):
        bad = idx[(idx < -size) | (idx >= size)].ravel()[0]
        raise IndexError(f"index {bad} is out of range for a dim of size {size}")
    return np.where(idx < 0, idx + size, idx)


# -- gather ----------------------------------------------------------------------------

@kernel("tensor.gather")
def gather(x, indices, *, axis):
    axis %= x.ndim
    return np.take(x, _wrap(indices, x.shape[axis]), axis=axis)


@kernel("tensor.gather_elements")
def gather_elements(x, indices, *, axis):
    axis %= x.ndim
    return np.take_along_axis(x, _wrap(indices, x.shape[axis]), axis=axis)


def _nd_rows(x: np.ndarray, indices: np.ndarray, batch_dims: int):
    """Flatten the batch dims; returns (x [B, ...], per-dim index arrays [B, M], k)."""
    k = indices.shape[-1]
    batch = int(np.prod(x.shape[:batch_dims], dtype=np.int64))
    xb = x.reshape((batch,) + x.shape[batch_dims:])
    rows = indices.reshape(batch, -1, k)
    per_dim = [_wrap(rows[..., j], xb.shape[1 + j]) for j in range(k)]
    return xb, per_dim, k


@kernel("tensor.gather_nd")
def gather_nd(x, indices, *, batch_dims):
    xb, per_dim, k = _nd_rows(x, indices, batch_dims)
    b = np.arange(xb.shape[0])[:, None]
    picked = xb[(b, *per_dim)]                        # [B, M, rest...]
    return picked.reshape(indices.shape[:-1] + x.shape[batch_dims + k:])


# -- scatter ---------------------------------------------------------------------------

# numpy ufuncs whose .at applies duplicate indices one after another.
_COMBINE = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _scatter(out: np.ndarray, index: tuple, updates: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        out[index] = updates
    else:
        _COMBINE[reduction].at(out, index, updates)
    return out


@kernel("tensor.scatter_elements")
def scatter_elements(x, indices, updates, *, axis, reduction):
    axis %= x.ndim
    index = list(np.indices(indices.shape, sparse=True))
    index[axis] = _wrap(indices, x.shape[axis])
    return _scatter(x.copy(), tuple(index), updates, reduction)


@kernel("tensor.scatter_nd")
def scatter_nd(x, indices, updates, *, reduction):
    k = indices.shape[-1]
    rows = indices.reshape(-1, k)
    index = tuple(_wrap(rows[:, j], x.shape[j]) for j in range(k))
    flat_updates = updates.reshape((rows.shape[0],) + x.shape[k:])
    return _scatter(x.copy(), index, flat_updates, reduction)


# -- one_hot ----------------------------------------------------------------------------

@kernel("tensor.one_hot")
def one_hot(indices, values, *, depth, axis):
    idx = np.asarray(indices).astype(np.int64)  # ONNX truncates float indices
    idx = np.where(idx < 0, idx + depth, idx)   # outside [0, depth) now matches no position
    axis %= idx.ndim + 1
    positions = np.arange(depth).reshape((depth,) + (1,) * (idx.ndim - axis))
    hot = np.expand_dims(idx, axis) == positions
    return np.where(hot, values[1], values[0]).astype(values.dtype, copy=False)


# -- argmax / argmin --------------------------------------------------------------------

def _arg(fn, x, axis, keepdims, select_last_index):
    axis %= x.ndim
    if select_last_index:
        # The first hit in the reversed array is the last one in x.
        out = x.shape[axis] - 1 - fn(np.flip(x, axis), axis=axis)
    else:
        out = fn(x, axis=axis)
    out = out.astype(np.int64, copy=False)
    return np.expand_dims(out, axis) if keepdims else out


@kernel("tensor.argmax")
def argmax(x, *, axis, keepdims, select_last_index):
    return _arg(np.argmax, x, axis, keepdims, select_last_index)


@kernel("tensor.argmin")
def argmin(x, *, axis, keepdims, select_last_index):
    return _arg(np.argmin, x, axis, keepdims, select_last_index)


# -- topk -------------------------------------------------------------------------------

@kernel("tensor.topk")
def topk(x, *, k, axis, largest, sorted):
    axis %= x.ndim
    if largest:
        # A stable ascending sort of the reversed array, read backwards, is descending
        # with equal values in increasing index order (no negation: unsigned-safe).
        n = x.shape[axis]
        order = n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    order = np.take(order, np.arange(k), axis=axis).astype(np.int64, copy=False)
    return np.take_along_axis(x, order, axis=axis), order


# -- trilu ------------------------------------------------------------------------------

@kernel("tensor.trilu")
def trilu(x, k=None, *, upper):
    diag = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    return np.triu(x, diag) if upper else np.tril(x, diag)
