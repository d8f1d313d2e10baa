"""Compressed sparse weights: building CSR/CSC parts from dense arrays, and checking them.

A sparse weight travels as three arrays, its *parts* (see `docs/sparse-kernels.md`):

- ``indptr``  -- int32 (int64 when nnz >= 2**31), one entry per compressed row plus one;
  row ``r`` owns the nonzeros ``indptr[r]:indptr[r + 1]``;
- ``indices`` -- the column of each nonzero, ascending within a row; uint16 when the
  matrix has at most 65536 columns, else uint32;
- ``data``    -- the nonzero values, in the weight's dtype.

Which matrix is compressed depends on the kernel:

- ``sparse.matmul_csc`` takes W[K, N] of ``x @ W`` as *CSC*: the CSR of W^T, one
  compressed row per output feature n, column indices = k (`matmul_weight_parts`);
- ``sparse.conv2d_csr`` takes W[O, C/groups, kh, kw] as the CSR of its
  [O, C/groups*kh*kw] view, column index = (c*kh + i)*kw + j (`conv_weight_parts`).

The compiler's lowering calls the builders; the runtime kernels call `check_parts`
before they trust an artifact's arrays (the numba kernels do not bounds-check).
This module imports nothing from the compiler.
"""
from __future__ import annotations

import numpy as np

from .errors import ExecutionError

Parts = tuple[np.ndarray, np.ndarray, np.ndarray]

UINT16_COLUMNS = 1 << 16          # a uint16 column index covers this many columns
INT32_NNZ = 1 << 31               # an int32 indptr covers fewer nonzeros than this


def index_dtype(ncols: int) -> np.dtype:
    """The narrowest column-index dtype for a matrix with `ncols` columns."""
    return np.dtype(np.uint16 if ncols <= UINT16_COLUMNS else np.uint32)


def indptr_dtype(nnz: int) -> np.dtype:
    """The row-pointer dtype for `nnz` nonzeros."""
    return np.dtype(np.int32 if nnz < INT32_NNZ else np.int64)


def to_csr(dense: np.ndarray) -> Parts:
    """CSR parts (indptr, indices, data) of a 2-D array, with narrow index dtypes.

    Exact zeros are dropped (a -0.0 too); NaNs and infinities are kept as nonzeros.
    """
    dense = np.asarray(dense)
    if dense.ndim != 2:
        raise ValueError(f"to_csr needs a 2-D array, got shape {dense.shape}")
    rows, cols = np.nonzero(dense)                 # row-major order: columns ascend per row
    counts = np.bincount(rows, minlength=dense.shape[0])
    indptr = np.zeros(dense.shape[0] + 1, dtype=indptr_dtype(rows.size))
    np.cumsum(counts, out=indptr[1:])
    indices = cols.astype(index_dtype(dense.shape[1]))
    data = np.ascontiguousarray(dense[rows, cols])
    return indptr, indices, data


def to_csc(dense: np.ndarray) -> Parts:
    """CSC parts of a 2-D array: the CSR parts of its transpose (one row per column)."""
    dense = np.asarray(dense)
    if dense.ndim != 2:
        raise ValueError(f"to_csc needs a 2-D array, got shape {dense.shape}")
    return to_csr(dense.T)


def matmul_weight_parts(w: np.ndarray) -> Parts:
    """Parts of the right operand W[K, N] of ``x @ W`` for ``sparse.matmul_csc``."""
    return to_csc(w)


def conv_weight_parts(w: np.ndarray) -> Parts:
    """Parts of a conv weight W[O, C/groups, *kernel] for ``sparse.conv2d_csr``."""
    w = np.asarray(w)
    if w.ndim < 3:
        raise ValueError(f"a conv weight has shape [O, C/groups, *kernel], got {w.shape}")
    return to_csr(w.reshape(w.shape[0], -1))


def from_csr(indptr, indices, data, shape: tuple[int, int]) -> np.ndarray:
    """The dense [rows, cols] array that CSR parts describe (duplicates are summed)."""
    indptr = np.asarray(indptr)
    out = np.zeros(shape, dtype=np.asarray(data).dtype)
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    np.add.at(out, (rows, np.asarray(indices, dtype=np.int64)), data)
    return out


def check_parts(indptr, indices, data, rows: int, cols: int, *, what: str = "sparse weight") -> None:
    """Raise `ExecutionError` unless the parts describe a valid [rows, cols] CSR matrix.

    Checks dtypes, lengths, that indptr starts at 0, never decreases and ends at nnz,
    and that every column index is below `cols`. Costs one pass over the arrays.
    """
    hint = "the sparse weight's parts are damaged or do not belong to this instruction; " \
           "recompile the model"

    def bad(message: str) -> ExecutionError:
        return ExecutionError(f"{what}: {message}", hint=hint)

    for name, arr in (("indptr", indptr), ("indices", indices), ("data", data)):
        if not isinstance(arr, np.ndarray) or arr.ndim != 1:
            raise bad(f"{name} must be a 1-D array, got {_describe(arr)}")
    if indptr.dtype not in (np.int32, np.int64):
        raise bad(f"indptr must be int32 or int64, got {indptr.dtype}")
    if indices.dtype not in (np.uint16, np.uint32):
        raise bad(f"indices must be uint16 or uint32, got {indices.dtype}")
    if indices.dtype == np.uint16 and cols > UINT16_COLUMNS:
        raise bad(f"uint16 indices cannot address {cols} columns")
    if indptr.size != rows + 1:
        raise bad(f"indptr has {indptr.size} entries, expected rows + 1 = {rows + 1}")
    nnz = indices.size
    if data.size != nnz:
        raise bad(f"data has {data.size} values but indices has {nnz}")
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise bad(f"indptr must run from 0 to nnz = {nnz}, got {indptr[0]} .. {indptr[-1]}")
    if rows and np.any(indptr[1:] < indptr[:-1]):
        raise bad("indptr decreases")
    if nnz and int(indices.max()) >= cols:
        raise bad(f"a column index is {int(indices.max())}, but the matrix has {cols} columns")


def _describe(arr) -> str:
    if isinstance(arr, np.ndarray):
        return f"a {arr.ndim}-D {arr.dtype} array"
    return type(arr).__name__
