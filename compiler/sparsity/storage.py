"""A sparse weight's stored parts, as the sparse-kernel contract lays them out.

A weight chosen for a sparse kernel is written as three program constants
(never as the dense array):

- ``NAME.indptr``: int32 (int64 when nnz >= 2**31), one entry per row + 1;
- ``NAME.indices``: column index of each nonzero, uint16 when the row length
  is at most 65536, else uint32;
- ``NAME.data``: the nonzero values, in the weight's dtype.

The rows are the weight's row view (`weights.WeightUse.rows`): for ``#csc``
on a matmul W[K, N], CSR of W^T (a row per output feature n, columns k); for
``#csr`` on a conv W[O, C/groups, k...], CSR of the [O, C/groups*k...]
reshape; for ``#csr`` on a recurrent W[D, G*H, I] or R[D, G*H, H] (kind
``rnn``), CSR of the [D*G*H, I or H] reshape. The builders are the runtime's
(`runtime/sparse_format.py`), so the compiler writes exactly what the sparse
kernels read.
"""
from __future__ import annotations

import numpy as np

from runtime.sparse_format import (conv_weight_parts, index_dtype, indptr_dtype,
                                   matmul_weight_parts, to_csr)

PART_SUFFIXES = ("indptr", "indices", "data")


def weight_parts(w: np.ndarray, fmt: str, kind: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, data) of weight `w` stored as `fmt` ("csc": matmul, "csr": conv,
    or rnn when `kind` is "rnn": the weight use's kind fixes the row view)."""
    if fmt == "csc":
        return matmul_weight_parts(w)
    if fmt == "csr" and kind == "rnn":
        if w.ndim != 3:
            raise ValueError(f"a recurrent weight has shape [D, G*H, In], got {w.shape}")
        return to_csr(w.reshape(-1, w.shape[-1]))
    if fmt == "csr":
        return conv_weight_parts(w)
    raise ValueError(f"no storage for sparse format {fmt!r}")


def stored_nbytes(rows: int, cols: int, nnz: int, itemsize: int) -> int:
    """Bytes of the three parts of a rows x cols matrix with `nnz` nonzeros."""
    return ((rows + 1) * indptr_dtype(nnz).itemsize
            + nnz * (index_dtype(cols).itemsize + itemsize))
